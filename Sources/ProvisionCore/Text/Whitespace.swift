/// Trimming as Foundation's `trimmingCharacters(in:)` did with `.whitespaces` and
/// `.whitespacesAndNewlines`, without Foundation's CharacterSet (which lives in full
/// Foundation and brings ICU's tables into the binary). Both sets are a Unicode property
/// the standard library already knows: `.whitespacesAndNewlines` is White_Space;
/// `.whitespaces` is White_Space less the line and paragraph breaks (U+000A–U+000D,
/// U+0085, U+2028, U+2029), i.e. the space separators (Zs) and tab; and both hold the
/// zero-width space (U+200B), as Foundation's did. Like Foundation, it works on Unicode
/// scalars, not on characters: a space before a combining mark goes.
public enum Whitespace: Sendable {
    /// Spaces and tabs (Foundation's `.whitespaces`).
    case spaces
    /// Spaces, tabs and line breaks (Foundation's `.whitespacesAndNewlines`).
    case spacesAndNewlines

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.properties.isWhitespace || scalar.value == 0x200B else { return false }
        switch self {
        case .spacesAndNewlines: return true
        case .spaces: return !Self.breaks.contains(scalar.value)
        }
    }

    private static let breaks: Set<UInt32> = [0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029]
}

extension StringProtocol {
    /// The text without leading and trailing `whitespace` (spaces, tabs and, unless told
    /// otherwise, line breaks).
    public func trimmed(_ whitespace: Whitespace = .spacesAndNewlines) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !whitespace.contains($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !whitespace.contains($0) })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
