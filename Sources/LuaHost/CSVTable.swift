import CSV
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore

/// A CSV file read through CSV.swift: header, rows (as many fields as the header), and
/// the line each row starts on, for `FILE:LINE` messages. A UTF-8 BOM and CRLF line ends
/// are accepted; quoted fields may hold commas, quotes and newlines.
struct CSVTable {
    let header: [String]
    let rows: [[String]]
    let lines: [Int]

    /// `maxBytes`: what the memory limit leaves; a larger file is refused before it is read.
    static func read(path: String, maxBytes: Int? = nil) throws(ProvisionError) -> CSVTable {
        var bytes = try RegularFile.read(path, field: "path", maxBytes: maxBytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let line = Self.lineOfFirstInvalidByte(bytes)
            throw ProvisionError(.invalidInput, "\(path):\(line): the file is not valid UTF-8 (save it as UTF-8 CSV)", field: "path")
        }
        if text.utf8.contains(0) {
            throw ProvisionError(.invalidInput, "\(path): the file contains a NUL byte; it is not a CSV text file", field: "path")
        }
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true)
        } catch {
            throw ProvisionError(.invalidInput, "\(path):1: cannot read the CSV header: \(error)", field: "path")
        }
        guard let header = reader.headerRow, !(header.count == 1 && header[0].isEmpty) else {
            throw ProvisionError(.invalidInput, "\(path):1: the file has no header row", field: "path")
        }
        var seen: Set<String> = []
        for name in header.map({ $0.trimmed(.spaces) }) where !seen.insert(name).inserted {
            throw ProvisionError(.invalidInput, "\(path):1: \(name): the header names this column twice", field: name)
        }
        var line = 2 + Self.newlines(in: header)
        var rows: [[String]] = []
        var lines: [Int] = []
        var problems: [Problem] = []
        while let row = reader.next() {
            defer { line += 1 + Self.newlines(in: row) }
            if row.count == 1 && row[0].isEmpty { continue }  // a blank line
            if row.count != header.count {
                problems.append(Problem(file: path, line: line, field: "row",
                                        message: "the row has \(row.count) field\(row.count == 1 ? "" : "s"), the header has \(header.count)"))
                continue
            }
            rows.append(row)
            lines.append(line)
        }
        if let error = reader.error {
            problems.append(Problem(file: path, line: line, field: "file", message: "\(error)"))
        }
        guard problems.isEmpty else {
            // Every problem as data (each shown on stderr as FILE:LINE: field: message).
            let message = problems.count == 1
                ? "\(path):\(problems[0].line ?? 0): \(problems[0].message)"
                : "\(path): \(problems.count) problems in the file; nothing was written"
            var error = ProvisionError(.invalidInput, message, field: "path")
            error.problems = problems
            throw error
        }
        return CSVTable(header: header.map { $0.trimmed(.spaces) }, rows: rows, lines: lines)
    }

    private static func newlines(in fields: [String]) -> Int {
        fields.reduce(0) { $0 + $1.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } }
    }

    private static func lineOfFirstInvalidByte(_ bytes: [UInt8]) -> Int {
        var line = 1
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            if String(validating: bytes[start..<index], as: UTF8.self) == nil { return line }
            line += 1
            start = index + 1
        }
        return line
    }
}
