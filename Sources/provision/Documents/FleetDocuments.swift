#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore

/// A member's password as `list` and `show` report it.
struct PasswordRecord: Encodable, Sendable {
    /// `one-time pending`, `one-time expired` or `changed`.
    let state: String
    /// When the one-time password expires (pending) or expired (expired); null once changed.
    let expiresAt: UTCTimestamp?

    let text: String

    init(_ state: PasswordState) {
        switch state {
        case .oneTimePending(let date): self.init(state.kind, at: UTCTimestamp(date))
        case .oneTimeExpired(let date): self.init(state.kind, at: UTCTimestamp(date))
        case .changed: self.init(.changed, at: nil)
        }
    }

    /// A state and its instant (none once changed).
    init(_ kind: PasswordState.Kind, at instant: UTCTimestamp?) {
        state = kind.rawValue
        switch (kind, instant) {
        case (.oneTimePending, let instant?):
            expiresAt = instant
            text = "one-time pending, expires \(instant)"
        case (.oneTimeExpired, let instant?):
            expiresAt = instant
            text = "one-time expired \(instant)"
        default:
            expiresAt = nil
            text = kind.rawValue
        }
    }

    enum CodingKeys: String, CodingKey { case state, expiresAt }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try encode(into: &container)
    }

    /// Into a container its parent opened (`MemberRecord`).
    func encode(into container: inout KeyedEncodingContainer<CodingKeys>) throws {
        try container.encode(state, forKey: .state)
        try container.encodeNullable(expiresAt?.description, forKey: .expiresAt)
    }
}

/// A member of a tenant: who, their role, their password.
struct MemberRecord: Encodable, Sendable {
    let id: String?
    let email: String
    let name: String?
    let role: String
    let password: PasswordRecord

    enum CodingKeys: String, CodingKey { case id, email, name, role, password }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try encode(into: &container)
    }

    /// Every key, `null` where there is no value (as `@Nullable`), into a container its
    /// parent opened: a hundred thousand of them (`list`) take a tenth less of the
    /// encoder's time than nested `Encodable` values, each of which takes a generic step.
    func encode(into container: inout KeyedEncodingContainer<CodingKeys>) throws {
        try container.encodeNullable(id, forKey: .id)
        try container.encode(email, forKey: .email)
        try container.encodeNullable(name, forKey: .name)
        try container.encode(role, forKey: .role)
        var password = container.nestedContainer(keyedBy: PasswordRecord.CodingKeys.self, forKey: .password)
        try self.password.encode(into: &password)
    }

    init(_ member: MemberState) {
        id = member.user.id?.description
        email = member.user.email
        name = member.user.name
        role = member.role.rawValue
        password = PasswordRecord(member.passwordState)
    }

    /// An Owner as `list` reads them.
    init(owner: TenantListing.Owner) {
        id = owner.user.id?.description
        email = owner.user.email
        name = owner.user.name
        role = Role.owner.rawValue
        password = PasswordRecord(owner.password, at: owner.passwordExpiresAt.map(UTCTimestamp.init(formatted:)))
    }
}

/// `provision list --json`: every tenant with its Owners, written a tenant at a time as
/// the database hands them over (`Output.Stream`), so that the one document of a fleet of
/// any size takes flat memory: `{"command": "list", "tenants": [Entry, …], "count": N}`.
/// Keys are sorted, as in every document, but for `count`: it comes last, when it is
/// known. Laid out as `JSONDocument.encoded` lays out a whole document.
struct ListDocument {
    struct Entry: Encodable, Sendable {
        let tenant: TenantRecord
        let createdAt: UTCTimestamp
        let owners: [MemberRecord]

        init(_ listing: TenantListing) {
            tenant = TenantRecord(listing.tenant)
            createdAt = UTCTimestamp(formatted: listing.createdAt)
            owners = listing.owners.map(MemberRecord.init(owner:))
        }

        enum CodingKeys: String, CodingKey { case tenant, createdAt, owners }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            var tenant = container.nestedContainer(keyedBy: TenantRecord.CodingKeys.self, forKey: .tenant)
            try self.tenant.encode(into: &tenant)
            try container.encode(createdAt.description, forKey: .createdAt)
            var owners = container.nestedUnkeyedContainer(forKey: .owners)
            for owner in self.owners {
                var member = owners.nestedContainer(keyedBy: MemberRecord.CodingKeys.self)
                try owner.encode(into: &member)
            }
        }
    }

    private let stream: Output.Stream
    private let encoder: JSONEncoder
    private(set) var count = 0

    /// Begins the document.
    init(on stream: Output.Stream) {
        self.stream = stream
        encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        stream.write("{\n  \"command\" : \"list\",\n  \"tenants\" : [")
    }

    /// Adds one tenant. False once stdout failed.
    mutating func add(_ listing: TenantListing) throws(ProvisionError) -> Bool {
        let entry: Data
        do {
            entry = try encoder.encode(Entry(listing))
        } catch {
            // Only strings and arrays of records are encoded: unreachable, as for
            // `JSONDocument.encoded`.
            throw ProvisionError(.playbookError, "could not encode the result as JSON")
        }
        // Two levels down, in `tenants` in the document.
        var text = (count == 0 ? "\n" : ",\n") + JSONText.indented(entry, by: 4)
        if listing.owners.isEmpty { text = JSONText.foldingEmptyArrays(text) }
        count += 1
        stream.write(text)
        return stream.itemDone()
    }

    /// Ends the document with the count.
    func end() {
        stream.write((count == 0 ? "]" : "\n  ]") + ",\n  \"count\" : \(count)\n}\n")
    }
}

/// `provision show --tenantSlug S --json`: one tenant, its members, its platform rows
/// and its latest audit events.
struct ShowDocument: JSONDocument {
    struct EventRecord: Encodable, Sendable {
        let at: UTCTimestamp
        let actor: String
        let action: String
        @Nullable var runId: String?
        @Nullable var userEmail: String?
    }

    let command = "show"
    let tenant: TenantRecord
    let createdAt: UTCTimestamp
    let members: [MemberRecord]
    /// Rows of each platform table (`centers`, `levels`, …) that belong to the tenant.
    let platformRows: [String: Int]
    let recentEvents: [EventRecord]

    init(_ detail: TenantDetail) {
        tenant = TenantRecord(detail.tenant)
        createdAt = UTCTimestamp(detail.createdAt)
        members = detail.members.map(MemberRecord.init)
        platformRows = Dictionary(uniqueKeysWithValues: detail.platformRows.map { ($0.table, $0.count) })
        recentEvents = detail.recentEvents.map {
            EventRecord(at: UTCTimestamp($0.at), actor: $0.actor, action: $0.action, runId: $0.runId, userEmail: $0.userEmail)
        }
    }
}
