import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore

/// An option given twice with different values is an error naming it (exit 2), where
/// ArgumentParser would silently keep the last one: `--tenantSlug a … --tenant-slug b`
/// is a typo or a pasted line, never a choice. Options that repeat by design (`--var`,
/// `--checks`, `--recipient`) and flags are left alone; the same value twice is harmless.
enum RepeatedOptions {
    static func check(_ arguments: [String]) throws(ProvisionError) {
        let given = arguments.prefix { $0 != "--" }
        // Only when two long options could be one (spelled alike once dashes and case
        // are set aside) is ArgumentParser's description of the command consulted.
        let keys = given.filter { $0.hasPrefix("--") }.map(looseKey)
        guard Set(keys).count < keys.count else { return }
        guard let options = options(of: Array(given)) else { return }

        var values: [String: [String]] = [:]
        var order: [String] = []
        var index = given.startIndex
        while index < given.endIndex {
            let token = given[index]
            index += 1
            guard token.hasPrefix("--"), token.count > 2 else { continue }
            let name = String(token.dropFirst(2).prefix { $0 != "=" })
            guard let option = options[name] else { continue }
            let value: String
            if let equals = token.firstIndex(of: "=") {
                value = String(token[token.index(after: equals)...])
            } else if index < given.endIndex {
                value = given[index]
                index += 1
            } else {
                continue
            }
            if values[option] == nil { order.append(option) }
            values[option, default: []].append(value)
        }
        for option in order where Set(values[option] ?? []).count > 1 {
            throw ProvisionError(.invalidInput, "--\(option) is given more than once, with different values; give it once", field: option)
        }
    }

    private static func looseKey(_ token: String) -> String {
        String(token.dropFirst(2).prefix { $0 != "=" }).lowercased().filter { $0 != "-" }
    }

    /// Every long name of the command's single-valued options → the option's first long
    /// name, from ArgumentParser's own description of the command (nil if unreadable).
    private static func options(of arguments: [String]) -> [String: String]? {
        guard var command = dumpedHelp()?.command else { return nil }
        for word in arguments where !word.hasPrefix("-") {
            guard let next = (command.subcommands ?? []).first(where: { $0.commandName == word }) else { break }
            command = next
        }
        var options: [String: String] = [:]
        for argument in command.arguments ?? [] {
            guard argument.kind == "option", argument.isRepeating != true else { continue }
            let longNames = (argument.names ?? []).filter { $0.kind == "long" }.map(\.name)
            guard let first = longNames.first else { continue }
            for name in longNames { options[name] = first }
        }
        return options
    }

    /// The parts of ArgumentParser's `--experimental-dump-help` document read here.
    private struct DumpedHelp: Decodable {
        struct Command: Decodable {
            struct Argument: Decodable {
                struct Name: Decodable {
                    let kind: String
                    let name: String
                }
                let kind: String
                let isRepeating: Bool?
                let names: [Name]?
            }
            let commandName: String
            let subcommands: [Command]?
            let arguments: [Argument]?
        }
        let command: Command
    }

    private static func dumpedHelp() -> DumpedHelp? {
        do {
            _ = try Provision.parseAsRoot(["--experimental-dump-help"])
            return nil
        } catch {
            let text = Provision.fullMessage(for: error)
            return try? JSONDecoder().decode(DumpedHelp.self, from: Data(text.utf8))
        }
    }
}
