import ArgumentParser
import ProvisionCore

/// `provision --generate-completion-script SHELL`: ArgumentParser's script, changed to
/// offer one spelling of each flag, the camelCase one the runbook uses (CONTRACT §14).
/// Every flag also parses under its kebab-case alias (`--time-zone`), and ArgumentParser's
/// script offers both, so `--time<Tab>` stops at `--time`. The aliases are those
/// ArgumentParser describes (`CommandTree`), never a list of our own.
enum CompletionScript {
    /// The script for `shell`, from ArgumentParser's `generated` one.
    static func script(for shell: CompletionShell, generated: String) -> String {
        let aliases = CommandTree.root?.aliases ?? [:]
        guard !aliases.isEmpty else { return generated }
        switch shell {
        case .bash: return bash(generated, aliases: aliases)
        case .zsh: return zsh(generated, aliases: aliases)
        case .fish: return fish(generated, aliases: aliases)
        default: return generated
        }
    }

    /// The shell asked for on the command line, when it asks for a completion script.
    static func requestedShell(_ arguments: [String]) -> CompletionShell? {
        guard let word = arguments.first else { return nil }
        if word == "--generate-completion-script", arguments.count > 1 { return CompletionShell(rawValue: arguments[1]) }
        guard word.hasPrefix("--generate-completion-script=") else { return nil }
        return CompletionShell(rawValue: String(word.dropFirst("--generate-completion-script=".count)))
    }

    /// bash: the generated function still knows both spellings (a value after
    /// `--time-zone` completes as one after `--timeZone`); what it offers goes through a
    /// filter that drops an alias when its camelCase flag is offered too. `--time-<Tab>`
    /// still completes to `--time-zone`.
    static func bash(_ generated: String, aliases: [String: String]) -> String {
        let registration = "complete -o filenames -F _provision provision"
        guard generated.contains(registration) else { return generated }
        let cases = aliases.keys.sorted().map { alias in
            "        --\(alias)) [[ \" ${COMPREPLY[*]} \" == *\" --\(aliases[alias]!) \"* ]] && continue ;;"
        }
        let filter = """
            # One spelling of each flag offered: a kebab-case alias only when its camelCase
            # flag does not match what was typed. Both parse.
            _provision_one_spelling() {
                _provision "$@"
                local -a kept=()
                local reply
                for reply in "${COMPREPLY[@]}"; do
                    case "${reply}" in
            \(cases.joined(separator: "\n"))
                    esac
                    kept+=("${reply}")
                done
                COMPREPLY=("${kept[@]}")
            }

            complete -o filenames -F _provision_one_spelling provision
            """
        return generated.replacingEvery(registration, with: filter)
    }

    /// zsh: each flag's spec lists its names in braces (`{--timeZone,--time-zone}`), one
    /// spec each; only the first stays. Its exclusion list keeps both, so neither is
    /// offered again once one was given.
    static func zsh(_ generated: String, aliases: [String: String]) -> String {
        var script = generated
        for (alias, name) in aliases {
            script = script.replacingEvery("{--\(name),--\(alias)}", with: "--\(name)")
        }
        return script
    }

    /// fish: each flag's `complete` line names it with one `-l` per spelling; the alias's
    /// is dropped.
    static func fish(_ generated: String, aliases: [String: String]) -> String {
        var script = generated
        for (alias, name) in aliases {
            script = script.replacingEvery("-l '\(name)' -l '\(alias)'", with: "-l '\(name)'")
        }
        return script
    }
}

extension CommandTree {
    /// Every flag's other long names (`time-zone`) → its first (`timeZone`), the one the
    /// help shows first, across all commands.
    var aliases: [String: String] {
        var aliases: [String: String] = [:]
        for argument in arguments ?? [] {
            guard let name = argument.longNames.first else { continue }
            for alias in argument.longNames.dropFirst() where alias != name { aliases[alias] = name }
        }
        for subcommand in subcommands ?? [] {
            aliases.merge(subcommand.aliases) { first, _ in first }
        }
        return aliases
    }
}
