import CLibCSV
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore

/// A CSV file read through libcsv (RFC 4180, strict): header, rows (as many fields as
/// the header), and the line each row starts on, for `FILE:LINE` messages. A UTF-8 BOM
/// and CRLF line ends are accepted; quoted fields may hold commas, quotes and newlines;
/// blank lines are skipped; fields are kept as written (spaces included).
struct CSVTable {
    let header: [String]
    let rows: [[String]]
    let lines: [Int]

    /// `maxBytes`: what the memory limit leaves; a larger file is refused before it is read.
    static func read(path: String, maxBytes: Int? = nil) throws(ProvisionError) -> CSVTable {
        var bytes = try RegularFile.read(path, field: "path", maxBytes: maxBytes)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            let line = Self.lineOfFirstInvalidByte(bytes)
            throw ProvisionError(.invalidInput, "\(path):\(line): the file is not valid UTF-8 (save it as UTF-8 CSV)", field: "path")
        }
        if bytes.contains(0) {
            throw ProvisionError(.invalidInput, "\(path): the file contains a NUL byte; it is not a CSV text file", field: "path")
        }
        let records: CSVRecords
        do {
            records = try CSVRecords.parse(bytes)
        } catch {
            var failure = ProvisionError(.invalidInput, "\(path):\(error.line): \(error.message)", field: "path")
            failure.problems = [Problem(file: path, line: error.line, field: "file", message: error.message)]
            throw failure
        }
        let header = records.fields.first?.map { $0.trimmed(.spaces) } ?? []
        guard !header.isEmpty, header != [""] else {
            throw ProvisionError(.invalidInput, "\(path):\(records.lines.first ?? 1): the file has no header row", field: "path")
        }
        var seen: Set<String> = []
        for name in header where !seen.insert(name).inserted {
            throw ProvisionError(.invalidInput, "\(path):\(records.lines[0]): \(name): the header names this column twice", field: name)
        }
        var rows: [[String]] = []
        var lines: [Int] = []
        var problems: [Problem] = []
        for (row, line) in zip(records.fields.dropFirst(), records.lines.dropFirst()) {
            if row.count != header.count {
                problems.append(Problem(file: path, line: line, field: "row",
                                        message: "the row has \(row.count) field\(row.count == 1 ? "" : "s"), the header has \(header.count)"))
                continue
            }
            rows.append(row)
            lines.append(line)
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
        return CSVTable(header: header, rows: rows, lines: lines)
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

/// Why a file is not CSV, and the line.
struct CSVSyntaxError: Error {
    let line: Int
    let message: String
}

/// The records of a CSV text as libcsv reads it in strict mode, each with the line it
/// starts on. The text is fed to the parser a line at a time, so each record's line is
/// known however many quoted newlines come before it; blank lines are no records.
final class CSVRecords {
    private(set) var fields: [[String]] = []
    private(set) var lines: [Int] = []
    private var record: [String] = []
    /// The line of the record being read, once it has begun.
    private var start: Int?
    /// The line being fed to the parser.
    private var line = 1

    private init() {}

    static func parse(_ bytes: [UInt8]) throws(CSVSyntaxError) -> CSVRecords {
        let records = CSVRecords()
        var parser = csv_parser()
        // Strict: a quote inside an unquoted field, text after a closing quote, and a
        // quoted field still open at the end are errors, not guesses.
        guard csv_init(&parser, UInt8(CSV_STRICT | CSV_STRICT_FINI)) == 0 else {
            throw CSVSyntaxError(line: 1, message: "out of memory reading the file")
        }
        defer { csv_free(&parser) }
        // Spaces and tabs are data: libcsv would trim them from unquoted fields.
        csv_set_space_func(&parser) { _ in 0 }
        let context = Unmanaged.passUnretained(records).toOpaque()
        let field: @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeMutableRawPointer?) -> Void = { text, length, context in
            let records = Unmanaged<CSVRecords>.fromOpaque(context!).takeUnretainedValue()
            if records.start == nil { records.start = records.line }
            let bytes = UnsafeRawBufferPointer(start: text, count: text == nil ? 0 : length)
            records.record.append(String(decoding: bytes, as: UTF8.self))
        }
        let end: @convention(c) (Int32, UnsafeMutableRawPointer?) -> Void = { _, context in
            let records = Unmanaged<CSVRecords>.fromOpaque(context!).takeUnretainedValue()
            records.fields.append(records.record)
            records.lines.append(records.start ?? records.line)
            records.record = []
            records.start = nil
        }
        try bytes.withUnsafeBufferPointer { (all: UnsafeBufferPointer<UInt8>) throws(CSVSyntaxError) in
            var from = 0
            while from < all.count {
                let to = all[from...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? all.count
                let piece = UnsafeBufferPointer(rebasing: all[from..<to])
                // A record begins on the first line that is not blank.
                if records.start == nil, piece.contains(where: { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }) {
                    records.start = records.line
                }
                let read = csv_parse(&parser, piece.baseAddress, piece.count, field, end, context)
                guard read == piece.count else { throw Self.failure(parser: &parser, line: records.line) }
                from = to
                if all[to - 1] == UInt8(ascii: "\n") { records.line += 1 }
            }
        }
        let openLine = records.start ?? records.line
        guard csv_fini(&parser, field, end, context) == 0 else {
            if csv_error(&parser) == CSV_EPARSE {
                throw CSVSyntaxError(line: openLine, message: "a quoted field is never closed: a quote is missing before the end of the file")
            }
            throw Self.failure(parser: &parser, line: records.line)
        }
        return records
    }

    private static func failure(parser: inout csv_parser, line: Int) -> CSVSyntaxError {
        switch csv_error(&parser) {
        case CSV_EPARSE:
            CSVSyntaxError(line: line, message: #"a quote inside a field that is not quoted, or text after a field's closing quote: quote the whole field and double each quote in it ("Owner ""Q""")"#)
        case CSV_ENOMEM, CSV_ETOOBIG:
            CSVSyntaxError(line: line, message: "out of memory reading the file")
        default:
            CSVSyntaxError(line: line, message: String(cString: csv_strerror(csv_error(&parser))))
        }
    }
}

/// CSV records written as RFC 4180 has them: a field is quoted (its quotes doubled, by
/// libcsv) when it holds a comma, a quote or a line break, and written as it is otherwise.
public enum CSVText {
    public static func record(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\n"
    }

    static func field(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") })
        else { return text }
        let source = Array(text.utf8)
        let capacity = source.count * 2 + 2
        let quoted = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            count = source.withUnsafeBytes { csv_write2(buffer.baseAddress, capacity, $0.baseAddress, $0.count, UInt8(CSV_QUOTE)) }
        }
        return String(decoding: quoted, as: UTF8.self)
    }
}
