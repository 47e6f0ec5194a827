import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The commands and their flags as ArgumentParser describes them: the document it prints
/// for `--experimental-dump-help`, which its manual generator reads too. What a command
/// line is checked against beyond parsing (a flag given twice, a mistyped command, a flag
/// given to the wrong command) and which spellings completion offers, so that none of
/// them keeps a list of flags of its own.
struct CommandTree: Decodable, Sendable {
    struct Argument: Decodable, Sendable {
        struct Name: Decodable, Sendable {
            let kind: String
            let name: String
        }

        let kind: String
        let names: [Name]?
        let preferredName: Name?
        let isRepeating: Bool?
        let shouldDisplay: Bool?

        /// `tenantSlug`, `tenant-slug`: the first is the spelling the help shows.
        var longNames: [String] { (names ?? []).filter { $0.kind == "long" }.map(\.name) }

        /// An option that takes one value (not a flag, not repeatable).
        var isSingleValued: Bool { kind == "option" && isRepeating != true }
    }

    let commandName: String
    let shouldDisplay: Bool?
    let subcommands: [CommandTree]?
    let arguments: [Argument]?

    /// The whole tree, from `provision` down; nil if ArgumentParser's description could
    /// not be read (nothing then relies on it).
    static let root: CommandTree? = {
        struct Tool: Decodable { let command: CommandTree }
        let text: String
        do {
            _ = try Provision.parseAsRoot(["--experimental-dump-help"])
            return nil
        } catch {
            text = Provision.fullMessage(for: error)
        }
        return try? JSONDecoder().decode(Tool.self, from: Data(text.utf8)).command
    }()

    func subcommand(named name: String) -> CommandTree? {
        subcommands?.first { $0.commandName == name }
    }

    /// The command the leading words of `arguments` name (`member add`), with how many
    /// words that took: the tree itself when the first word names no command.
    func command(in arguments: some Collection<String>) -> (command: CommandTree, path: [String]) {
        var command = self
        var path: [String] = []
        for word in arguments {
            guard let next = command.subcommand(named: word) else { break }
            command = next
            path.append(word)
        }
        return (command, path)
    }

    /// Every long name of this command's flags and options.
    var longNames: [String] { (arguments ?? []).flatMap(\.longNames) }

    /// The commands below this one that run something (`tenant`, `member add`), each with
    /// its words, in the order the help lists them.
    var runnableCommands: [(path: [String], command: CommandTree)] {
        (subcommands ?? []).flatMap { subcommand -> [(path: [String], command: CommandTree)] in
            let below = subcommand.runnableCommands.map { ([subcommand.commandName] + $0.path, $0.command) }
            return (subcommand.subcommands ?? []).isEmpty ? [([subcommand.commandName], subcommand)] : below
        }
    }
}
