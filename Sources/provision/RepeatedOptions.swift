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
        guard let root = CommandTree.root else { return nil }
        let command = root.command(in: arguments.filter { !$0.hasPrefix("-") }).command
        var options: [String: String] = [:]
        for argument in command.arguments ?? [] where argument.isSingleValued {
            guard let first = argument.longNames.first else { continue }
            for name in argument.longNames { options[name] = first }
        }
        return options
    }
}
