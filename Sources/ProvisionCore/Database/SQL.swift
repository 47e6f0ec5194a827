#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A statement whose interpolated values become bound parameters (`$1`, `$2`, …), each
/// sent with its PostgreSQL type, so the text needs no casts. There is no way to splice a
/// value into the text: `"… WHERE slug = \(slug)"` binds it, and the only text that
/// interpolation adds besides placeholders is an `Identifier` the tool chose itself.
public struct SQL: Sendable, ExpressibleByStringInterpolation {
    public private(set) var text: String
    public private(set) var binds: [Bind]

    /// The values in their text form, as they travel (nil: SQL NULL).
    public var parameters: [String?] { binds.map(\.text) }

    public init(stringLiteral value: String) {
        text = value
        binds = []
    }

    public init(stringInterpolation: Interpolation) {
        text = stringInterpolation.text
        binds = stringInterpolation.binds
    }

    /// A read-only query's statement inside the cursor it is read through; the only
    /// statement whose text comes from elsewhere (a script), and only once `ReadOnlyQuery`
    /// fenced it.
    init(declaring cursor: Identifier, over query: ReadOnlyQuery.Statement, binds: [Bind]) {
        text = "DECLARE \(cursor.quoted) NO SCROLL CURSOR FOR SELECT * FROM (\n\(query.text)\n) AS provision_query"
        self.binds = binds
    }

    public struct Interpolation: StringInterpolationProtocol {
        var text = ""
        var binds: [Bind] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) { text += literal }

        public mutating func appendInterpolation(_ value: some SQLBindable) {
            appendInterpolation(value.bind)
        }

        public mutating func appendInterpolation<Value: SQLBindable>(_ value: Value?) {
            appendInterpolation(value.map(\.bind) ?? Bind(type: Value.postgresType, text: nil))
        }

        /// A value whose type is given explicitly (`.jsonb(…)`, `.inferred(…)`).
        public mutating func appendInterpolation(_ bind: Bind) {
            binds.append(bind)
            text += "$\(binds.count)"
        }

        /// A name the tool chose (a savepoint, a cursor, a database in tests), quoted.
        public mutating func appendInterpolation(_ identifier: Identifier) {
            text += identifier.quoted
        }
    }
}

/// A PostgreSQL type by the OID the server knows it by.
public struct PostgresType: Sendable, Hashable {
    public let oid: UInt32
    public init(oid: UInt32) { self.oid = oid }

    public static let bool = PostgresType(oid: 16)
    public static let int8 = PostgresType(oid: 20)
    public static let int2 = PostgresType(oid: 21)
    public static let int4 = PostgresType(oid: 23)
    public static let text = PostgresType(oid: 25)
    public static let float4 = PostgresType(oid: 700)
    public static let float8 = PostgresType(oid: 701)
    public static let textArray = PostgresType(oid: 1009)
    public static let timestamptz = PostgresType(oid: 1184)
    public static let refcursor = PostgresType(oid: 1790)
    public static let numeric = PostgresType(oid: 1700)
    public static let uuid = PostgresType(oid: 2950)
    public static let uuidArray = PostgresType(oid: 2951)
    public static let bytea = PostgresType(oid: 17)
    public static let jsonb = PostgresType(oid: 3802)
    /// Left to the server to infer from where the placeholder stands: for values a script
    /// binds to its own query, whose types only the query knows.
    public static let unknown = PostgresType(oid: 0)
}

/// One bound value: its type and its text form (nil: SQL NULL).
public struct Bind: Sendable, Equatable, CustomStringConvertible {
    public let type: PostgresType
    public let text: String?

    public init(type: PostgresType, text: String?) {
        self.type = type
        self.text = text
    }

    public static func text(_ value: String?) -> Bind { Bind(type: .text, text: value) }
    public static func uuid(_ value: UUID?) -> Bind { Bind(type: .uuid, text: value?.sqlText) }
    public static func int(_ value: Int?) -> Bind { Bind(type: .int8, text: value?.sqlText) }
    public static func int32(_ value: Int32?) -> Bind { Bind(type: .int4, text: value?.sqlText) }
    public static func bool(_ value: Bool?) -> Bind { Bind(type: .bool, text: value?.sqlText) }
    public static func timestamp(_ value: Date?) -> Bind { Bind(type: .timestamptz, text: value?.sqlText) }
    /// A text array (`{"a","b"}`), every element quoted.
    public static func textArray(_ values: [String]) -> Bind {
        let elements = values.map { "\"" + $0.replacingEvery("\\", with: "\\\\").replacingEvery("\"", with: "\\\"") + "\"" }
        return Bind(type: .textArray, text: "{" + elements.joined(separator: ",") + "}")
    }
    /// A uuid array (`{…,…}`): uuids need no quoting.
    public static func uuidArray(_ values: [UUID]) -> Bind {
        Bind(type: .uuidArray, text: "{" + values.map(\.sqlText).joined(separator: ",") + "}")
    }
    /// Bytes, in bytea's hex form (`\\x…`).
    public static func bytea(_ bytes: [UInt8]) -> Bind {
        let hex = "0123456789abcdef".utf8.map { $0 }
        var text = [UInt8]("\\x".utf8)
        text.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return Bind(type: .bytea, text: String(decoding: text, as: UTF8.self))
    }
    /// A JSON object of strings, as `jsonb`.
    public static func jsonb(_ object: [String: String]) -> Bind {
        jsonb(document: object.mapValues(JSONValue.string))
    }
    /// A JSON document with nested objects, keys sorted.
    public static func jsonb(document: [String: JSONValue]) -> Bind {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(document)) ?? Data("{}".utf8)
        return Bind(type: .jsonb, text: String(decoding: data, as: UTF8.self))
    }
    /// An open cursor, by name (the argument of a function that fetches from it).
    public static func cursor(_ cursor: Identifier) -> Bind { Bind(type: .refcursor, text: cursor.name) }
    /// Text whose type the server infers (a script's own parameters).
    public static func inferred(_ value: String?) -> Bind { Bind(type: .unknown, text: value) }

    /// Redacted, as postgres-nio prints binds: the value may be a secret.
    public var description: String { text == nil ? "NULL" : "****" }
}

/// A value that binds as a parameter of one PostgreSQL type.
public protocol SQLBindable: Sendable {
    static var postgresType: PostgresType { get }
    /// The value in PostgreSQL's text input form for that type.
    var sqlText: String { get }
}

extension SQLBindable {
    public var bind: Bind { Bind(type: Self.postgresType, text: sqlText) }
}

extension String: SQLBindable {
    public static var postgresType: PostgresType { .text }
    public var sqlText: String { self }
}
extension Substring: SQLBindable {
    public static var postgresType: PostgresType { .text }
    public var sqlText: String { String(self) }
}
extension Int: SQLBindable {
    public static var postgresType: PostgresType { .int8 }
    public var sqlText: String { String(self) }
}
extension Int64: SQLBindable {
    public static var postgresType: PostgresType { .int8 }
    public var sqlText: String { String(self) }
}
extension Int32: SQLBindable {
    public static var postgresType: PostgresType { .int4 }
    public var sqlText: String { String(self) }
}
extension Bool: SQLBindable {
    public static var postgresType: PostgresType { .bool }
    public var sqlText: String { self ? "true" : "false" }
}
extension Double: SQLBindable {
    public static var postgresType: PostgresType { .float8 }
    public var sqlText: String { String(self) }
}
extension UUID: SQLBindable {
    public static var postgresType: PostgresType { .uuid }
    public var sqlText: String { lowercaseText }
}
extension Date: SQLBindable {
    public static var postgresType: PostgresType { .timestamptz }
    /// `2026-12-01 06:55:50.123456+00`: microseconds, as PostgreSQL keeps them.
    public var sqlText: String { PostgresTimestamp.text(for: self) }
}

/// A name the tool itself chose: a savepoint, a cursor (or, in tests, a database). Only
/// lowercase letters, digits and underscores, so it can never carry anything else.
public struct Identifier: Sendable, Hashable, CustomStringConvertible {
    public let name: String

    public init?(_ name: String) {
        // `[a-z_][a-z0-9_]{0,62}`, read byte by byte: a savepoint is named for every query
        // a fleet's checks send, and a regex literal is compiled again on each use.
        let bytes = name.utf8
        guard let first = bytes.first, bytes.count <= 63, first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
              bytes.allSatisfy({ $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        self.name = name
    }

    /// A name the database's catalog gave (a table of the platform's, a column): any
    /// name PostgreSQL allows, quoted with its double quotes doubled.
    init?(catalogName name: String) {
        guard !name.isEmpty, name.utf8.count <= 63, !name.contains("\u{0}") else { return nil }
        self.name = name
    }

    /// `prefix_number`, for names numbered by the tool (savepoints).
    init(_ prefix: StaticString, number: Int) {
        self.init("\(prefix)_\(max(0, number))")!
    }

    var quoted: String {
        name.utf8.contains(UInt8(ascii: "\"")) ? "\"\(name.replacingEvery("\"", with: "\"\""))\"" : "\"\(name)\""
    }
    public var description: String { name }
}
