import Foundation
import ProvisionCore

/// A member's password as `list` and `show` report it.
struct PasswordRecord: Encodable, Sendable {
    /// `one-time pending`, `one-time expired` or `changed`.
    let state: String
    /// When the one-time password expires (pending) or expired (expired); null once changed.
    @Nullable var expiresAt: UTCTimestamp?

    let text: String

    init(_ state: PasswordState) {
        self.state = state.label
        switch state {
        case .oneTimePending(let date):
            expiresAt = UTCTimestamp(date)
            text = "one-time pending, expires \(UTCTimestamp(date))"
        case .oneTimeExpired(let date):
            expiresAt = UTCTimestamp(date)
            text = "one-time expired \(UTCTimestamp(date))"
        case .changed:
            expiresAt = nil
            text = state.label
        }
    }

    enum CodingKeys: String, CodingKey { case state, expiresAt }
}

/// A member of a tenant: who, their role, their password.
struct MemberRecord: Encodable, Sendable {
    @Nullable var id: String?
    let email: String
    @Nullable var name: String?
    let role: String
    let password: PasswordRecord

    init(_ member: MemberState) {
        id = member.user.id?.description
        email = member.user.email
        name = member.user.name
        role = member.role.rawValue
        password = PasswordRecord(member.passwordState)
    }
}

/// `provision list --json`: every tenant with its Owners.
struct ListDocument: JSONDocument {
    struct Entry: Encodable, Sendable {
        let tenant: TenantRecord
        let createdAt: UTCTimestamp
        let owners: [MemberRecord]
    }

    let command = "list"
    let tenants: [Entry]
    let count: Int

    init(_ listings: [TenantListing]) {
        tenants = listings.map { Entry(tenant: TenantRecord($0.tenant), createdAt: UTCTimestamp($0.createdAt), owners: $0.owners.map(MemberRecord.init)) }
        count = listings.count
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
