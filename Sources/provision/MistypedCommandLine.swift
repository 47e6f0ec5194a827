import ProvisionCore

/// What ArgumentParser says of a word it does not know ("Unexpected argument 'lst'",
/// "Unknown option '--tenantSlug'"), said the way an operator can act on: the command
/// closest to a mistyped one, the commands that take a flag given to another one, the
/// flag closest to a mistyped one (CONTRACT §14). Read from ArgumentParser's own
/// description of the commands (`CommandTree`), so it never lists a flag of its own.
enum MistypedCommandLine {
    /// The error to report instead of ArgumentParser's `message`, when there is more to
    /// say than it did; nil otherwise.
    static func error(for arguments: [String], parserMessage message: String) -> ProvisionError? {
        guard message.hasPrefix("Unexpected argument") || message.hasPrefix("Unknown option"),
              let root = CommandTree.root else { return nil }
        let given = Array(arguments.prefix { $0 != "--" })
        let (command, path) = root.command(in: given)
        let name = (["provision"] + path).joined(separator: " ")
        let flags = given.filter { $0.hasPrefix("--") && $0.count > 2 }.map { String($0.dropFirst(2).prefix { $0 != "=" }) }
        let known = Set(command.longNames)
        let foreign = flags.first { !known.contains($0) }
        let commands = root.runnableCommands
        /// The commands that take `--flag`, in the order the help lists them.
        func takers(_ flag: String) -> [String] {
            commands.filter { $0.command.longNames.contains(flag) }.map { $0.path.joined(separator: " ") }
        }

        // A word where a command was expected (`provision lst`, `provision member ad`).
        if let subcommands = command.subcommands, !subcommands.isEmpty, path.count < given.count,
           !given[path.count].hasPrefix("-") {
            let word = given[path.count]
            let names = subcommands.map(\.commandName)
            var text = "unknown command '\((path + [word]).joined(separator: " "))'; "
            if let closest = Suggestion.closest(to: word, among: names) {
                text += "did you mean '\((path + [closest]).joined(separator: " "))'?"
            } else {
                text += "the commands of \(name) are: \(names.joined(separator: ", "))"
            }
            // The flags given say which command was meant when each rules out most of
            // them (`--tenantSlug`, not `--json`).
            let telling = Set(flags).sorted().filter { takers($0).count * 2 <= commands.count }
            var meant = telling.first.map(takers) ?? []
            for flag in telling.dropFirst() {
                let these = takers(flag)
                meant = meant.filter(these.contains)
            }
            if !meant.isEmpty {
                text += " (the commands that take \(telling.map { "--\($0)" }.joined(separator: " and ")): \(meant.joined(separator: ", ")))"
            }
            return ProvisionError(.invalidInput, text)
        }

        // A flag of other commands (`provision list --tenantSlug x`).
        guard let foreign else { return nil }
        let others = takers(foreign)
        if !others.isEmpty {
            return ProvisionError(.invalidInput, "\(name) does not take --\(foreign); these commands do: \(others.joined(separator: ", "))",
                                  field: foreign)
        }
        // A flag no command has: the closest of this command's, if one is close.
        let shown = (command.arguments ?? []).filter { $0.shouldDisplay != false }.flatMap(\.longNames)
        guard let closest = Suggestion.closest(to: foreign, among: shown) else { return nil }
        return ProvisionError(.invalidInput, "\(name) has no option --\(foreign); did you mean --\(closest)?", field: foreign)
    }
}
