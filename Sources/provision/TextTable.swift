/// A table for a terminal: every cell escaped (`terminalEscaped`), each column as wide as
/// its widest cell up to the column's cap. A cell longer than its cap is cut there and
/// ends in `…` (CONTRACT §14), so that one long value never widens every row; a column
/// without a cap holds values that are bounded already (a slug, an instant, an id) or
/// whose whole text matters (a check's message).
struct TextTable {
    let header: [String]
    /// The most characters a cell of each column shows (nil: the whole value).
    let caps: [Int?]
    var rows: [[String]] = []

    init(header: [String], caps: [Int?] = []) {
        self.header = header
        self.caps = header.indices.map { $0 < caps.count ? caps[$0] : nil }
    }

    var text: String {
        let cells = rows.map { row in row.indices.map { Self.cell(row[$0], cap: $0 < caps.count ? caps[$0] : nil) } }
        let widths = header.indices.map { column in
            ([header[column]] + cells.map { $0[column] }).map(\.count).max() ?? 0
        }
        return ([Self.line(header, widths: widths)] + cells.map { Self.line($0, widths: widths) }).joined(separator: "\n")
    }

    /// Where a cut value ends.
    static let cutMarker = "…"

    /// Names, emails, actors and actions: the most characters a cell of theirs shows.
    static let nameCap = 40
    static let emailCap = 64

    /// A data value as a cell shows it: escaped, and when longer than `cap` characters,
    /// its first `cap - 1` and the marker. Only the value's start is looked at: a value of
    /// a mebibyte costs what a short one does.
    static func cell(_ value: String, cap: Int?) -> String {
        guard let cap else { return value.terminalEscaped }
        if value.utf8.count <= cap {
            let escaped = value.terminalEscaped
            if escaped.count <= cap { return escaped }
        }
        // Escaping never shortens, so the first cap + 1 characters tell whether the value
        // is cut; a character that piles up combining marks counts as at most four scalars.
        let scalars = value.unicodeScalars
        let end = scalars.index(scalars.startIndex, offsetBy: 4 * (cap + 1), limitedBy: scalars.endIndex) ?? scalars.endIndex
        let head = String(String.UnicodeScalarView(scalars[..<end]))
        let escaped = String(head.prefix(cap + 1)).terminalEscaped
        guard escaped.count > cap || end < scalars.endIndex else { return escaped }
        return String(escaped.prefix(max(0, cap - 1))) + cutMarker
    }

    /// One row: each cell but the last padded to its column's width, two spaces apart. A
    /// cell wider than its column (a table laid out before its rows were read) shifts the
    /// rest of its own line only.
    static func line(_ cells: [String], widths: [Int]) -> String {
        var line = ""
        for (offset, cell) in cells.enumerated() {
            if offset > 0 { line += "  " }
            line += offset == cells.count - 1 || offset >= widths.count ? cell : cell.padding(widths[offset])
        }
        return line
    }
}
