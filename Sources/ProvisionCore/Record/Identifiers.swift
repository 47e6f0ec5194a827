#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The id of a stored row of one kind (a tenant's, a user's): a UUID that cannot be
/// mistaken for another kind's. Bound and decoded as `uuid`; text (lowercase) only at the
/// edges, where front ends show it.
public protocol RecordID: Hashable, Sendable, Codable, SQLDecodable, SQLBindable, CustomStringConvertible {
    var uuid: UUID { get }
    init(_ uuid: UUID)
}

extension RecordID {
    public init?(sqlText: String) {
        guard let uuid = UUID(uuidString: sqlText) else { return nil }
        self.init(uuid)
    }

    /// Parsed from text a script or a plan gave (nil when it is not a UUID).
    public init?(text: String) { self.init(sqlText: text) }

    public var description: String { uuid.lowercaseText }
    public static var postgresType: PostgresType { .uuid }
    public var sqlText: String { description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let uuid = UUID(uuidString: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a UUID"))
        }
        self.init(uuid)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Tenant {
    public struct ID: RecordID {
        public let uuid: UUID
        public init(_ uuid: UUID) { self.uuid = uuid }
    }
}

extension User {
    public struct ID: RecordID {
        public let uuid: UUID
        public init(_ uuid: UUID) { self.uuid = uuid }
    }
}

/// A record this run only planned (a dry run, a planning unit), or one stored in the
/// database with its id: one fact, where a flag and an optional id could disagree.
public enum Stored<ID: RecordID>: Hashable, Sendable, Codable {
    case planned
    case stored(ID)

    public var id: ID? {
        if case .stored(let id) = self { id } else { nil }
    }

    public var isPlanned: Bool { self == .planned }
}
