#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Rows a statement returned, in PostgreSQL's text format, with column names and types.
public struct Rows: Sendable, RandomAccessCollection {
    public struct Column: Sendable {
        public let name: String
        public let typeOID: UInt32
    }
    public let columns: [Column]
    public let values: [[String?]]
    /// How many rows an INSERT/UPDATE/DELETE touched.
    public let affected: Int

    public init(columns: [Column], values: [[String?]], affected: Int) {
        self.columns = columns
        self.values = values
        self.affected = affected
    }

    public var startIndex: Int { values.startIndex }
    public var endIndex: Int { values.endIndex }
    public subscript(position: Int) -> Row { Row(columns: columns, values: values[position]) }
}

/// One row: its values by column name, decoded into the type the caller expects.
public struct Row: Sendable {
    let columns: [Rows.Column]
    let values: [String?]

    /// The column's text: nil when there is no such column, `.some(nil)` for NULL.
    public subscript(column: String) -> String?? {
        guard let index = columns.firstIndex(where: { $0.name == column }) else { return nil }
        return .some(values[index])
    }

    /// The column's value as `type`; NULL or a value that is not a `type` is an error.
    public func decode<Value: SQLDecodable>(_ type: Value.Type, _ column: String) throws(ProvisionError) -> Value {
        guard let value = try decode(Value?.self, column) else {
            throw ProvisionError(.databaseError, "the database returned NULL in column \(column), where a value was expected")
        }
        return value
    }

    /// The column's value as `type`, nil for NULL.
    public func decode<Value: SQLDecodable>(_ type: Value?.Type, _ column: String) throws(ProvisionError) -> Value? {
        guard let index = columns.firstIndex(where: { $0.name == column }) else {
            throw ProvisionError(.databaseError, "the database returned no column \(column)")
        }
        return try decode(type, at: index)
    }

    /// The value of the column at `index` as `type`; NULL is an error. For rows read by
    /// position, many thousands at a time (`Connection.forEachRow` hands over values only).
    func decode<Value: SQLDecodable>(_ type: Value.Type, at index: Int) throws(ProvisionError) -> Value {
        guard let value = try decode(Value?.self, at: index) else {
            throw ProvisionError(.databaseError, "the database returned NULL in column \(columns[index].name), where a value was expected")
        }
        return value
    }

    /// The value of the column at `index` as `type`, nil for NULL.
    func decode<Value: SQLDecodable>(_ type: Value?.Type, at index: Int) throws(ProvisionError) -> Value? {
        guard index < columns.count, index < values.count else {
            throw ProvisionError(.databaseError, "the database returned no column \(index < columns.count ? columns[index].name : "number \(index + 1)")")
        }
        guard let text = values[index] else { return nil }
        // The value itself stays out of the message: it may be a secret.
        guard let value = Value(sqlText: text) else {
            throw ProvisionError(.databaseError, "the database returned a value in column \(columns[index].name) that is not a \(Value.self)")
        }
        return value
    }
}

/// A value read from PostgreSQL's text output of a column.
public protocol SQLDecodable: Sendable {
    init?(sqlText: String)
}

extension String: SQLDecodable {
    public init?(sqlText: String) { self = sqlText }
}
extension Int: SQLDecodable {
    public init?(sqlText: String) { self.init(sqlText) }
}
extension Int64: SQLDecodable {
    public init?(sqlText: String) { self.init(sqlText) }
}
extension Int32: SQLDecodable {
    public init?(sqlText: String) { self.init(sqlText) }
}
extension Double: SQLDecodable {
    public init?(sqlText: String) { self.init(sqlText) }
}
extension Bool: SQLDecodable {
    public init?(sqlText: String) {
        switch sqlText {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }
}
extension UUID: SQLDecodable {
    public init?(sqlText: String) { self.init(uuidString: sqlText) }
}
extension Date: SQLDecodable {
    public init?(sqlText: String) {
        guard let date = PostgresTimestamp.date(from: sqlText) else { return nil }
        self = date
    }
}

/// `timestamptz` in PostgreSQL's ISO text form (`DateStyle` ISO, the default):
/// `2026-12-01 06:55:50.123456+00`, with an offset of hours, minutes or seconds.
enum PostgresTimestamp {
    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        return calendar
    }()

    static func text(for date: Date) -> String {
        let microseconds = (date.timeIntervalSince1970 * 1_000_000).rounded()
        let seconds = (microseconds / 1_000_000).rounded(.down)
        let fraction = Int(microseconds - seconds * 1_000_000)
        let parts = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: seconds))
        return String(cFormat: "%04ld-%02ld-%02ld %02ld:%02ld:%02ld.%06ld+00", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                      parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, fraction)
    }

    static func date(from text: String) -> Date? {
        guard let match = text.wholeMatch(of: /(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?|Z)?/) else {
            return nil
        }
        var parts = DateComponents()
        parts.year = Int(match.1)
        parts.month = Int(match.2)
        parts.day = Int(match.3)
        parts.hour = Int(match.4)
        parts.minute = Int(match.5)
        parts.second = Int(match.6)
        guard let base = utc.date(from: parts) else { return nil }
        let digits = match.7.map(String.init) ?? ""
        let fraction = (Double(digits + String(repeating: "0", count: max(0, 6 - digits.count))) ?? 0) / 1_000_000
        var offset = 0
        if let sign = match.8, let hours = match.9.flatMap({ Int($0) }) {
            offset = hours * 3600 + (match.10.flatMap { Int($0) } ?? 0) * 60 + (match.11.flatMap { Int($0) } ?? 0)
            if sign == "-" { offset = -offset }
        }
        return base.addingTimeInterval(fraction - Double(offset))
    }
}
