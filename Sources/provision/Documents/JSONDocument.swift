#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A document `--json` prints: the one thing on stdout (CONTRACT §2). Every command's
/// document is a typed value encoded here, one way, so key order, escaping and dates
/// never differ between commands; `schema/provision.schema.json` describes each one.
protocol JSONDocument: Encodable {}

extension JSONDocument {
    /// Sorted keys, pretty-printed, slashes left alone; what a terminal would act on is
    /// written as a JSON escape (`TerminalText.jsonEscaped`), so the data stays exact.
    var encoded: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return TerminalText.jsonEscaped(JSONText.foldingEmptyArrays(String(decoding: try encoder.encode(self), as: UTF8.self)))
        } catch {
            // Only strings, numbers and booleans are ever encoded; this is unreachable, but
            // stdout must hold a document whatever happens.
            return #"{"error": {"code": "playbook_error", "message": "could not encode the result as JSON"}}"#
        }
    }
}

/// A value that is always in its document: `null` when there is none. A record keeps
/// every key whether or not it has a value (a planned tenant's `id` is `null`); only the
/// optional parts of an error are left out when empty (`field`, `problems`).
@propertyWrapper
struct Nullable<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension Nullable: Sendable where Value: Sendable {}
extension Nullable: Equatable where Value: Equatable {}

extension KeyedEncodingContainer {
    /// What `@Nullable` writes (`null` when there is no value), for the records `list`
    /// writes a hundred thousand at a time: a string goes through the encoder's own path
    /// for strings, where a wrapper takes the generic one (a third of the encoding time).
    mutating func encodeNullable(_ value: String?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { try encodeNil(forKey: key) }
    }
}

/// Pretty-printed JSON as every document and file of provision lays it out.
enum JSONText {
    /// Foundation pretty-prints an empty array over three lines (`[`, blank, `]`): a line
    /// break outside a string is only ever layout, so it folds to `[]`.
    static func foldingEmptyArrays(_ text: String) -> String {
        text.replacing(/\[\n\s*\n\s*\]/, with: "[]")
    }

    /// A pretty-printed value nested in a document written a part at a time
    /// (`ListDocument`): `spaces` more at the start of each of its lines. A line break
    /// inside a string is written `\n`, so every raw one is layout.
    static func indented(_ encoded: Data, by spaces: Int) -> String {
        let indent = [UInt8](repeating: UInt8(ascii: " "), count: spaces)
        var bytes = indent
        bytes.reserveCapacity(encoded.count + encoded.count / 4 + spaces)
        encoded.withUnsafeBytes { raw in
            for byte in raw {
                bytes.append(byte)
                if byte == UInt8(ascii: "\n") { bytes += indent }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
