/// How text from data reaches a terminal (CONTRACT §9). A tenant name, a check message or
/// a CSV cell is data: it may hold an escape sequence that retitles the window, clears
/// the screen or moves the cursor up to overwrite a line with a forged "✓ passed", a
/// newline that starts a line of its own, or a bidi override that makes text read
/// backwards. Human-readable output shows such characters escaped, in Swift's notation
/// (`\n`, `\r`, `\t`, and `\u{1B}` for the others), so what an operator reads is what
/// the data holds. JSON keeps the exact data: `jsonEscaped` only writes what JSON
/// serialisation leaves raw as `\uXXXX` escapes.
enum TerminalText {
    /// Layout characters a caller writes on purpose and keeps raw.
    struct Layout: OptionSet, Sendable {
        let rawValue: Int
        /// TAB: `provision.log` separates its arguments with tabs.
        static let tabs = Layout(rawValue: 1)
        /// LF: the line breaks of a report the tool laid out itself.
        static let lineBreaks = Layout(rawValue: 2)
    }

    /// `text` with every C0 and C1 control, DEL, line and paragraph separator and Unicode
    /// format character (bidi overrides and isolates, zero-width characters, BOM, …)
    /// escaped, except the `kept` layout characters. A data value takes the default: it
    /// stays on one line, whatever it holds. Escaping is idempotent (the result holds
    /// nothing left to escape), so a value escaped twice reads the same.
    static func escaped(_ text: String, keeping kept: Layout = []) -> String {
        // Printable ASCII (most data, and most lines of a report) is read byte by byte.
        let lineBreaks = kept.contains(.lineBreaks), tabs = kept.contains(.tabs)
        let plain = text.utf8.withContiguousStorageIfAvailable { bytes in
            !bytes.contains { !((0x20..<0x7F).contains($0) || ($0 == 0x0A && lineBreaks) || ($0 == 0x09 && tabs)) }
        }
        if plain == true { return text }
        guard text.unicodeScalars.contains(where: { needsEscape($0, keeping: kept) }) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar, keeping: kept) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u{" + (hex.count < 2 ? "0" + hex : hex) + "}"
            }
        }
        return result
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, keeping kept: Layout) -> Bool {
        if scalar.isASCII {
            switch scalar.value {
            case 0x0A: return !kept.contains(.lineBreaks)
            case 0x09: return !kept.contains(.tabs)
            case 0x00..<0x20, 0x7F: return true
            default: return false
            }
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}

extension TerminalText {
    /// An error message for stderr, on one line. A message that lists problems one per
    /// line, each as `FILE:LINE: …` (a CSV file's malformed rows), keeps one line per
    /// problem, and libpq's lines (`keepingLines`) stay lines; any other line break in a
    /// message came from data and is escaped.
    static func message(_ text: String, keepingLines: Bool = false) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if keepingLines {
            // libpq's own lines (a connection failure's): shown as lines, indented under
            // the first, each escaped.
            return lines.map { escaped(String($0), keeping: .tabs) }.joined(separator: "\n  ")
        }
        guard lines.count > 1, let file = problemFile(lines[0]),
              lines.dropFirst().allSatisfy({ problemFile($0) == file })
        else { return escaped(text, keeping: .tabs) }
        return lines.map { escaped(String($0), keeping: .tabs) }.joined(separator: "\n")
    }

    /// The FILE of a `FILE:LINE: message` line, or nil.
    private static func problemFile(_ line: Substring) -> Substring? {
        line.firstMatch(of: /^(.+?):[0-9]+:[ ]/).map(\.output.1)
    }
}

extension TerminalText {
    /// A serialised JSON document with DEL and every C1 control, line or paragraph
    /// separator and format character written as a `\uXXXX` escape. JSON encoders escape
    /// only C0 controls; the others would reach a terminal raw (a bidi override reorders
    /// what an operator reads). Outside strings JSON holds none of them, so each stands in
    /// a string, and the escape decodes to the very same data.
    static func jsonEscaped(_ document: String) -> String {
        // C0 controls other than DEL are escaped by the encoder already (and the layout's
        // own line breaks must stay).
        func escapes(_ scalar: Unicode.Scalar) -> Bool { (scalar == "\u{7F}" || !scalar.isASCII) && needsEscape(scalar, keeping: []) }
        // ASCII but DEL (most documents, and most tenants `list --json` writes) is read
        // byte by byte.
        if document.utf8.withContiguousStorageIfAvailable({ bytes in !bytes.contains { $0 >= 0x7F } }) == true { return document }
        guard document.unicodeScalars.contains(where: escapes) else { return document }
        var result = ""
        result.reserveCapacity(document.utf8.count + 16)
        for scalar in document.unicodeScalars {
            guard escapes(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            for unit in String(scalar).utf16 {
                let hex = String(unit, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return result
    }
}

extension String {
    /// This data value as a report shows it: on one line, every control and format
    /// character escaped (`TerminalText.escaped`).
    var terminalEscaped: String { TerminalText.escaped(self) }
}
