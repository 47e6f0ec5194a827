#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore

/// The source line an error points at, as compilers show it:
///
///       3 |   p.createUser{ email = "a@b.example" }
///         |     ^^^^^^^^^^
///
/// The caret marks the name or token Lua's message quotes (`field 'createUser'`, `near
/// '='`) when the line holds it; Lua gives no column, so without one there is no caret.
enum SourceExcerpt {
    /// The excerpt for `location` (`file:line`), reading the file (or `source`, the
    /// chunk's text already in memory, when the file is `chunk`); nil when the line cannot
    /// be read.
    static func make(location: String, message: String, chunk: String? = nil, source: [UInt8]? = nil) -> String? {
        let parts = location.split(separator: ":")
        guard parts.count >= 2, let number = Int(parts[parts.count - 1]), number > 0 else { return nil }
        let file = parts.dropLast().joined(separator: ":")
        let bytes: [UInt8]
        // Lua shortens a long chunk name to "...end/of/the/path".
        if let chunk, file == chunk || (file.hasPrefix("...") && chunk.hasSuffix(file.dropFirst(3))), let source {
            bytes = source
        } else {
            guard let read = try? RegularFile.read(file, field: "playbook", maxBytes: 16 << 20) else { return nil }
            bytes = read
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard number <= lines.count else { return nil }
        let line = String(lines[number - 1]).replacingEvery("\t", with: "    ").replacingEvery("\r", with: "")
        let gutter = String(number)
        var excerpt = " \(gutter) | \(line)"
        // A syntax error's token is the last of its kind on the line more often than the first.
        let nearToken = message.contains("near '")
        if let token = quotedToken(in: message), let range = nearToken ? line.ranges(of: token).last : line.firstRange(of: token) {
            let column = line.distance(from: line.startIndex, to: range.lowerBound)
            excerpt += "\n \(String(repeating: " ", count: gutter.count)) | \(String(repeating: " ", count: column))\(String(repeating: "^", count: max(1, token.count)))"
        }
        return excerpt
    }

    /// The first line of `source` that gives `name` a value (`name = …`, not `name ==`),
    /// for an error about a table's field that Lua cannot place: a module's returned table.
    static func line(assigning name: String, in source: [UInt8]) -> Int? {
        let lines = String(decoding: source, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for (offset, line) in lines.enumerated() {
            var rest = line[...]
            while let range = rest.firstRange(of: name) {
                let before = range.lowerBound == line.startIndex ? nil : line[line.index(before: range.lowerBound)]
                let after = line[range.upperBound...].drop { $0 == " " || $0 == "\t" }
                if !(before.map { $0.isLetter || $0.isNumber || $0 == "_" } ?? false), after.hasPrefix("="), !after.hasPrefix("==") {
                    return offset + 1
                }
                rest = line[range.upperBound...]
            }
        }
        return nil
    }

    /// The name or token a Lua message quotes: `(field 'x')`, `(global 'x')`, `(method 'x')`,
    /// `near 'x'`, or a name an error of the host names (`unknown field 'x'`, `ctx has no
    /// field 'x'`, `cannot count 'x'`), or the table PostgreSQL did not find.
    static func quotedToken(in message: String) -> String? {
        let patterns: [Regex<(Substring, Substring)>] = [
            /\((?:field|global|local|method|upvalue|constant) '([^']+)'\)/,
            /near '([^']+)'/,
            /unknown field '([^']+)'/,
            /has no (?:function|field|column) '([^']+)'/,
            /cannot count '([^']+)'/,
            /relation "([^"]+)" does not exist/,
        ]
        for pattern in patterns {
            if let match = message.firstMatch(of: pattern) { return String(match.1) }
        }
        return nil
    }
}
