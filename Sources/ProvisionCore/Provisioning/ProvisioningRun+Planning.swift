#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What planning saw in the database (a plan's preconditions), and what of it no longer
/// holds when the plan is applied.
extension ProvisioningRun {
    /// Each look-up's answer, in the order planning looked, each once.
    public var preconditions: [Precondition] { journal.preconditions }

    func observe(tenant: Tenant?, slug: String) {
        guard isPlanning, store != nil else { return }
        journal.observe(tenant?.id.map { .tenantExists(slug: slug, id: $0) } ?? .tenantAbsent(slug: slug))
    }

    func observe(user: User?, email: String) {
        guard isPlanning, store != nil else { return }
        let key = email.lowercased()
        journal.observe(user?.id.map { .userExists(email: key, id: $0) } ?? .userAbsent(email: key))
    }

    /// Each precondition of a plan that no longer holds, worded for the operator: who
    /// created the tenant or user that is now in the way, when, and in which run.
    public func stalePreconditions(_ preconditions: [Precondition]) throws(ProvisionError) -> [String] {
        guard let store else { return [] }
        try requireOpen()
        var stale: [String] = []
        for precondition in preconditions {
            switch precondition {
            case .tenantAbsent(let slug):
                if try store.tenant(slug: slug) != nil {
                    stale.append("tenant slug \(slug) now exists\(try store.creation(action: "tenant.create", key: "slug", value: slug))")
                }
            case .tenantExists(let slug, let id):
                if let tenant = try store.tenant(slug: slug) {
                    if tenant.id != id { stale.append("tenant \(slug) is another tenant now (id \(tenant.id?.description ?? ""), planned against \(id))") }
                } else {
                    stale.append("tenant \(slug) no longer exists")
                }
            case .userAbsent(let email):
                if try store.user(email: email) != nil {
                    stale.append("user \(email) now exists\(try store.creation(action: "user.create", key: "email", value: email))")
                }
            case .userExists(let email, let id):
                if let user = try store.user(email: email) {
                    if user.id != id { stale.append("user \(email) is another user now (id \(user.id?.description ?? ""), planned against \(id))") }
                } else {
                    stale.append("user \(email) no longer exists")
                }
            }
        }
        return stale
    }
}

extension ProvisioningRun {
    /// The identity `provision migrate` stored in this database (CONTRACT §13): the same
    /// whichever connection string reaches it (a pooler, a standby of it). In a copy of a
    /// database (a restored dump, a template's clone) the row is the original's: its
    /// identity is then derived from the original's and the copy's own place, so it
    /// differs from the original's until `migrate` gives the copy one of its own.
    public func databaseIdentity() throws(ProvisionError) -> UUID {
        guard let connection else {
            throw ProvisionError(.databaseUnavailable, "the database's identity needs the database (DATABASE_URL is not set)")
        }
        try requireOpen()
        let row = try Store.only(try connection.run("SELECT provision_database_identity() AS identity"))
        guard let identity = try row.decode(UUID?.self, "identity") else {
            throw ProvisionError(.notMigrated, "the database has no identity (its provision_database row is gone): run provision migrate, which makes a new one")
        }
        return identity
    }
}
