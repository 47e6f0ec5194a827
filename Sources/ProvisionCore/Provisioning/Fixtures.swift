#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Rows for tests of checks and playbooks (`provision test`), inserted through the real
/// schema with typed binds, inside the test's transaction, which is always rolled back.
/// Values are validated as the primitives validate them, so a fixture is a row the
/// platform could hold.
public struct Fixtures {
    let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// Fixture rows are audited like any (and rolled back with the test).
    static let audit = AuditContext(actor: "provision test")

    /// How a fixture user's password stands (CONTRACT §8's states).
    public enum Password: String, Sendable, CaseIterable {
        case pending, expired, changed
    }

    public func tenant(_ spec: TenantSpec) throws(ProvisionError) -> Tenant {
        guard let id = try Store(connection: connection).insertTenant(spec, audit: Self.audit) else { throw ProvisionError.slugExists(spec.slug) }
        return Tenant(stored: .stored(id), slug: spec.slug, name: spec.name, timeZone: spec.timeZone,
                      supportEmail: spec.supportEmail, supportPhone: spec.supportPhone)
    }

    /// A user whose password is `password`: a one-time password pending (72 hours left) or
    /// expired, or one they set. No password is known for any of them.
    public func user(email: String, name: String?, password: Password) throws(ProvisionError) -> User {
        let email = try Validate.email(email, .email)
        let name = try name.map { value throws(ProvisionError) in try Validate.displayName(value, .ownerName) }
        let pending = password != .changed
        let hours: Int32 = password == .expired ? -1 : 72
        let rows: Rows
        do {
            rows = try connection.run("""
                INSERT INTO users (email, name, password_hash, must_change_password, password_expires_at)
                VALUES (\(email), \(name), \(PasswordHash.unusable()), \(pending),
                        CASE WHEN \(pending) THEN now() + make_interval(hours => \(hours)) END)
                RETURNING id
                """)
        } catch where error.code == .emailExists {
            throw ProvisionError.emailExists(email)
        }
        return User(stored: .stored(try Store.only(rows).decode(User.ID.self, "id")), email: email, name: name, created: true)
    }

    public func membership(tenantId: Tenant.ID, userId: User.ID, role: Role) throws(ProvisionError) {
        guard try Store(connection: connection).insertMembership(tenantId: tenantId, userId: userId, role: role, audit: Self.audit,
                                                                 detail: ["role": role.rawValue]) else {
            throw ProvisionError.membershipExists(email: nil, slug: nil)
        }
    }

    /// A row of a platform table (`centers`, `levels`, `programs`, `groups`, `students`,
    /// `parents`) with its own columns; returns its id.
    public func platformRow(_ table: PlatformTable, tenantId: Tenant.ID, name: String, timeZone: String? = nil,
                            centerId: UUID? = nil, programId: UUID? = nil, userId: User.ID? = nil,
                            email: String? = nil) throws(ProvisionError) -> UUID {
        let name = try Validate.displayName(name, .tenantName)
        let rows: Rows
        switch table {
        case .centers:
            let zone = try timeZone.map { value throws(ProvisionError) in try TimeZones.validate(value, .timeZone) }
            rows = try connection.run("INSERT INTO centers (tenant_id, name, time_zone) VALUES (\(tenantId), \(name), \(zone)) RETURNING id")
        case .levels:
            rows = try connection.run("INSERT INTO levels (tenant_id, name) VALUES (\(tenantId), \(name)) RETURNING id")
        case .programs:
            rows = try connection.run("INSERT INTO programs (tenant_id, name) VALUES (\(tenantId), \(name)) RETURNING id")
        case .groups:
            rows = try connection.run("""
                INSERT INTO "groups" (tenant_id, name, center_id, program_id)
                VALUES (\(tenantId), \(name), \(centerId), \(programId)) RETURNING id
                """)
        case .students:
            rows = try connection.run("INSERT INTO students (tenant_id, full_name, center_id) VALUES (\(tenantId), \(name), \(centerId)) RETURNING id")
        case .parents:
            let email = try email.map { value throws(ProvisionError) in try Validate.email(value, .email) }
            rows = try connection.run("""
                INSERT INTO parents (tenant_id, full_name, user_id, email) VALUES (\(tenantId), \(name), \(userId), \(email)) RETURNING id
                """)
        }
        return try Store.only(rows).decode(UUID.self, "id")
    }

    /// Links a student to a parent (`student_parents`).
    public func link(tenantId: Tenant.ID, studentId: UUID, parentId: UUID) throws(ProvisionError) {
        try connection.run("""
            INSERT INTO student_parents (tenant_id, student_id, parent_id) VALUES (\(tenantId), \(studentId), \(parentId))
            """)
    }

    public enum PlatformTable: String, Sendable, CaseIterable {
        case centers, levels, programs, groups, students, parents
    }
}
