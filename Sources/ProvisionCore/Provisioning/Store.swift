#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The SQL of the contract's tables (CONTRACT §7) that provisioning reads and writes:
/// tenants, users, memberships. Values are bound with their types and rows decode into
/// the models; a unique violation arrives as the conflict it stands for (`ErrorMapping`).
struct Store {
    let connection: Connection

    // MARK: Tenants

    func tenant(slug: String) throws(ProvisionError) -> Tenant? {
        let rows = try connection.run("""
            SELECT id, slug, name, time_zone, support_email, support_phone
            FROM tenants WHERE slug = \(slug)
            """)
        guard let row = rows.first else { return nil }
        return try Self.tenant(of: row)
    }

    /// A tenant from the columns `id`, `slug`, `name`, `time_zone`, `support_email`,
    /// `support_phone`.
    static func tenant(of row: Row) throws(ProvisionError) -> Tenant {
        Tenant(stored: .stored(try row.decode(Tenant.ID.self, "id")), slug: try row.decode(String.self, "slug"),
               name: try row.decode(String.self, "name"), timeZone: try row.decode(String?.self, "time_zone"),
               supportEmail: try row.decode(String?.self, "support_email"),
               supportPhone: try row.decode(String?.self, "support_phone"))
    }

    /// The new tenant's id; nil when the slug is taken (by a run that committed meanwhile):
    /// a conflict that never aborts the transaction.
    /// With its `tenant.create` audit row, in the same statement (one round trip).
    func insertTenant(_ spec: TenantSpec, audit: AuditContext) throws(ProvisionError) -> Tenant.ID? {
        let detail = Bind.jsonb(["slug": spec.slug, "name": spec.name, "timeZone": spec.timeZone ?? "",
                                 "supportEmail": spec.supportEmail ?? "", "supportPhone": spec.supportPhone ?? ""])
        let rows = try connection.run("""
            WITH inserted AS (
                INSERT INTO tenants (slug, name, time_zone, support_email, support_phone)
                VALUES (\(spec.slug), \(spec.name), \(spec.timeZone), \(spec.supportEmail), \(spec.supportPhone))
                ON CONFLICT (slug) DO NOTHING
                RETURNING id
            ), logged AS (
                INSERT INTO audit_events (at, actor, action, run_id, tenant_id, detail)
                SELECT clock_timestamp(), \(audit.actor), 'tenant.create', \(audit.runId), id, \(detail) FROM inserted
            )
            SELECT id FROM inserted
            """)
        return try rows.first?.decode(Tenant.ID.self, "id")
    }

    /// Whether PostgreSQL's own tz data knows the zone (it may be older or newer than the
    /// system's, which `TimeZones` reads).
    func knowsTimeZone(_ name: String) throws(ProvisionError) -> Bool {
        let rows = try connection.run("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = \(name)) AS known")
        return try Self.only(rows).decode(Bool.self, "known")
    }

    /// ` (created 2026-11-28T09:12:00Z by alice, run 3f2…)`: the latest audit event
    /// `action` whose detail has `key` = `value` (case-insensitive); empty without one.
    func creation(action: String, key: String, value: String) throws(ProvisionError) -> String {
        let rows = try connection.run("""
            SELECT at, actor, run_id FROM audit_events
            WHERE action = \(action) AND lower(detail ->> \(key)) = lower(\(value))
            ORDER BY at DESC LIMIT 1
            """)
        guard let row = rows.first else { return "" }
        let at = IssuedCredential.iso8601(try row.decode(Date.self, "at"))
        return " (created \(at) by \(try row.decode(String.self, "actor")), run \(try row.decode(UUID.self, "run_id").sqlText))"
    }

    // MARK: Users

    /// Case-insensitive, as the schema's unique index is.
    func user(email: String) throws(ProvisionError) -> User? {
        let rows = try connection.run("SELECT id, email, name FROM users WHERE lower(email) = lower(\(email))")
        guard let row = rows.first else { return nil }
        return try Self.user(of: row)
    }

    /// How many of `emails` (lowercased) belong to users already, as the unique index
    /// compares them.
    func existingUserCount(emails: [String]) throws(ProvisionError) -> Int {
        let rows = try connection.run("SELECT count(*) AS n FROM users WHERE lower(email) = ANY (\(Bind.textArray(emails)))")
        return Int(try Self.only(rows).decode(Int64.self, "n"))
    }

    struct InsertedUser {
        let id: User.ID
        let passwordExpiresAt: Date
    }

    /// A user who must change `passwordHash`'s password within `lifetimeHours`; nil when
    /// the email exists by now (a conflict that never aborts the transaction).
    /// With its `user.create` audit row (never the password or its hash), in the same
    /// statement.
    func insertUser(_ spec: OwnerSpec, passwordHash: String, lifetimeHours: Int, audit: AuditContext) throws(ProvisionError) -> InsertedUser? {
        let hours = Int32(clamping: lifetimeHours)
        let detail = Bind.jsonb(["email": spec.email, "name": spec.name ?? "", "mustChangePassword": "true",
                                 "passwordExpiresInHours": String(lifetimeHours)])
        let rows = try connection.run("""
            WITH inserted AS (
                INSERT INTO users (email, name, password_hash, must_change_password, password_expires_at)
                VALUES (\(spec.email), \(spec.name), \(passwordHash), true, now() + make_interval(hours => \(hours)))
                ON CONFLICT ((lower(email))) DO NOTHING
                RETURNING id, password_expires_at
            ), logged AS (
                INSERT INTO audit_events (at, actor, action, run_id, user_id, detail)
                SELECT clock_timestamp(), \(audit.actor), 'user.create', \(audit.runId), id, \(detail) FROM inserted
            )
            SELECT id, password_expires_at FROM inserted
            """)
        guard let row = rows.first else { return nil }
        return InsertedUser(id: try row.decode(User.ID.self, "id"), passwordExpiresAt: try row.decode(Date.self, "password_expires_at"))
    }

    // MARK: Undoing a unit without a savepoint

    func deleteMembership(tenantId: Tenant.ID, userId: User.ID, runId: UUID) throws(ProvisionError) {
        try connection.run("DELETE FROM memberships WHERE tenant_id = \(tenantId) AND user_id = \(userId)")
        try connection.run("DELETE FROM audit_events WHERE run_id = \(runId) AND action = 'membership.create' AND tenant_id = \(tenantId) AND user_id = \(userId)")
    }

    func deleteUser(id: User.ID, runId: UUID) throws(ProvisionError) {
        try connection.run("DELETE FROM users WHERE id = \(id)")
        try connection.run("DELETE FROM audit_events WHERE run_id = \(runId) AND user_id = \(id)")
    }

    func deleteTenant(id: Tenant.ID, runId: UUID) throws(ProvisionError) {
        try connection.run("DELETE FROM tenants WHERE id = \(id)")
        try connection.run("DELETE FROM audit_events WHERE run_id = \(runId) AND tenant_id = \(id)")
    }

    /// The state of a user's password, as of the transaction's clock (`now()`).
    func passwordState(userId: User.ID) throws(ProvisionError) -> PasswordState {
        let rows = try connection.run("""
            SELECT u.must_change_password AS pending, u.password_expires_at AS expires,
                   u.password_expires_at <= now() AS expired
            FROM users u WHERE u.id = \(userId)
            """)
        return try Self.passwordState(of: Self.only(rows))
    }

    /// A password's state from the columns `pending`, `expires` and `expired`, which every
    /// query that reads one selects as `passwordState(userId:)` does.
    static func passwordState(of row: Row) throws(ProvisionError) -> PasswordState {
        guard try row.decode(Bool.self, "pending"), let expires = try row.decode(Date?.self, "expires") else { return .changed }
        return try row.decode(Bool.self, "expired") ? .oneTimeExpired(expiredAt: expires) : .oneTimePending(expiresAt: expires)
    }

    /// A new one-time password for an existing user: a fresh hash and expiry, to be
    /// changed at first login. Returns the new expiry.
    func resetPassword(userId: User.ID, passwordHash: String, lifetimeHours: Int) throws(ProvisionError) -> Date {
        let hours = Int32(clamping: lifetimeHours)
        let rows = try connection.run("""
            UPDATE users SET password_hash = \(passwordHash), must_change_password = true,
                             password_expires_at = now() + make_interval(hours => \(hours))
            WHERE id = \(userId)
            RETURNING password_expires_at
            """)
        return try Self.only(rows).decode(Date.self, "password_expires_at")
    }

    /// Makes a one-time password that was never shown unusable: expired now, and its hash
    /// replaced by one no password matches. Only while it is still the one the run
    /// issued (pending, with that expiry to the second); false when it is not.
    func revokeOneTimePassword(userId: User.ID, expiresAt: Date, unusableHash: String) throws(ProvisionError) -> Bool {
        let second = Date(timeIntervalSince1970: expiresAt.timeIntervalSince1970.rounded(.down))
        let rows = try connection.run("""
            UPDATE users SET password_hash = \(unusableHash), password_expires_at = now()
            WHERE id = \(userId) AND must_change_password
              AND date_trunc('second', password_expires_at) = \(Bind.timestamp(second))
            RETURNING id
            """)
        return !rows.isEmpty
    }

    // MARK: The safe delete

    /// Locks the tenant's row against concurrent change (`FOR UPDATE`): a row the platform
    /// inserts for the tenant meanwhile (its foreign key takes a share lock on it) waits
    /// for this transaction, whose delete then makes that insert fail. Not in a dry run's
    /// read-only transaction, which refuses locks.
    func lockTenant(slug: String) throws(ProvisionError) {
        try connection.run("SELECT 1 FROM tenants WHERE slug = \(slug) FOR UPDATE")
    }

    /// Locks users' rows (`FOR UPDATE`), so none logs in (replaces the one-time password)
    /// while the delete decides about them.
    func lockUsers(_ ids: [User.ID]) throws(ProvisionError) {
        guard !ids.isEmpty else { return }
        try connection.run("SELECT 1 FROM users WHERE id = ANY (\(Bind.uuidArray(ids.map(\.uuid)))) FOR UPDATE")
    }

    /// The platform's tenant-scoped tables a delete refuses to empty (CONTRACT §8), in the
    /// schema's order.
    static let platformTables = ["centers", "levels", "programs", "groups", "students", "parents"]

    /// How many rows of each platform table belong to the tenant.
    func platformRowCounts(tenantId: Tenant.ID) throws(ProvisionError) -> [(table: String, count: Int)] {
        let rows = try connection.run("""
            SELECT (SELECT count(*) FROM centers WHERE tenant_id = \(tenantId)) AS centers,
                   (SELECT count(*) FROM levels WHERE tenant_id = \(tenantId)) AS levels,
                   (SELECT count(*) FROM programs WHERE tenant_id = \(tenantId)) AS programs,
                   (SELECT count(*) FROM "groups" WHERE tenant_id = \(tenantId)) AS groups,
                   (SELECT count(*) FROM students WHERE tenant_id = \(tenantId)) AS students,
                   (SELECT count(*) FROM parents WHERE tenant_id = \(tenantId)) AS parents
            """)
        let row = try Self.only(rows)
        var counts: [(table: String, count: Int)] = []
        for table in Self.platformTables {
            counts.append((table, Int(try row.decode(Int64.self, table))))
        }
        return counts
    }

    /// The tenant's members with their role and password state, Owners first, by email:
    /// one tenant's rows (one shard, on a distributed database).
    func members(tenantId: Tenant.ID) throws(ProvisionError) -> [MemberState] {
        let rows = try connection.run("""
            SELECT u.id, u.email, u.name, m.role,
                   u.must_change_password AS pending, u.password_expires_at AS expires,
                   u.password_expires_at <= now() AS expired
            FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.tenant_id = \(tenantId)
            ORDER BY m.role = 'OWNER' DESC, u.email
            """)
        var members: [MemberState] = []
        for row in rows {
            members.append(try Self.memberState(of: row))
        }
        return members
    }

    /// For each of `users`, how many tenants besides `tenantId` they belong to: a look
    /// across tenants, on its own (a distributed database runs it on every shard).
    func otherTenantCounts(of users: [User.ID], besides tenantId: Tenant.ID) throws(ProvisionError) -> [User.ID: Int] {
        guard !users.isEmpty else { return [:] }
        let rows = try connection.run("""
            SELECT user_id, count(*) AS others FROM memberships
            WHERE user_id = ANY (\(Bind.uuidArray(users.map(\.uuid)))) AND tenant_id <> \(tenantId)
            GROUP BY user_id
            """)
        var counts: [User.ID: Int] = [:]
        for row in rows {
            counts[try row.decode(User.ID.self, "user_id")] = Int(try row.decode(Int64.self, "others"))
        }
        return counts
    }

    /// For each of `users`, why something outside tenant `tenantId` still needs them,
    /// found through every foreign key the database has to `users` (the contract's and
    /// any the platform added): a membership of another tenant, the portal login of a
    /// parent in another tenant, any other row of another tenant, or a row of a table
    /// that belongs to no tenant. Users no one else needs are absent.
    func references(to users: [User.ID], besides tenantId: Tenant.ID) throws(ProvisionError) -> [User.ID: [String]] {
        guard !users.isEmpty else { return [:] }
        let ids = Bind.uuidArray(users.map(\.uuid))
        var reasons: [User.ID: [String]] = [:]
        for (user, others) in try otherTenantCounts(of: users, besides: tenantId) {
            reasons[user, default: []].append("a member of \(others) other tenant\(others == 1 ? "" : "s")")
        }
        let keys = try connection.run("""
            SELECT n.nspname AS schema_name, r.relname AS table_name, a.attname AS column_name,
                   EXISTS (SELECT 1 FROM pg_attribute t
                           WHERE t.attrelid = c.conrelid AND t.attname = 'tenant_id' AND NOT t.attisdropped) AS scoped
            FROM pg_constraint c
            JOIN pg_class r ON r.oid = c.conrelid
            JOIN pg_namespace n ON n.oid = r.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass AND cardinality(c.conkey) = 1
              AND c.conparentid = 0 AND c.conrelid <> 'memberships'::regclass
            ORDER BY r.relname, a.attname
            """)
        for key in keys {
            let table = try key.decode(String.self, "table_name")
            guard let schema = Identifier(catalogName: try key.decode(String.self, "schema_name")),
                  let relation = Identifier(catalogName: table),
                  let column = Identifier(catalogName: try key.decode(String.self, "column_name")) else { continue }
            let scoped = try key.decode(Bool.self, "scoped")
            let rows = scoped
                ? try connection.run("""
                    SELECT \(column) AS user_id, count(*) AS row_count, count(DISTINCT tenant_id) AS tenant_count
                    FROM \(schema).\(relation)
                    WHERE \(column) = ANY (\(ids)) AND tenant_id IS DISTINCT FROM \(tenantId)
                    GROUP BY \(column)
                    """)
                : try connection.run("""
                    SELECT \(column) AS user_id, count(*) AS row_count, 0::bigint AS tenant_count
                    FROM \(schema).\(relation) WHERE \(column) = ANY (\(ids)) GROUP BY \(column)
                    """)
            for row in rows {
                let user = try row.decode(User.ID.self, "user_id")
                let count = Int(try row.decode(Int64.self, "row_count"))
                let tenants = Int(try row.decode(Int64.self, "tenant_count"))
                let reason = switch (table, scoped) {
                case ("parents", true):
                    "the portal login of \(count == 1 ? "a parent" : "\(count) parents") in \(tenants) other tenant\(tenants == 1 ? "" : "s")"
                case (_, true): "\(count) \(table) row\(count == 1 ? "" : "s") of \(tenants) other tenant\(tenants == 1 ? "" : "s") refer\(count == 1 ? "s" : "") to them"
                case (_, false): "\(count) \(table) row\(count == 1 ? "" : "s") refer\(count == 1 ? "s" : "") to them"
                }
                reasons[user, default: []].append(reason)
            }
        }
        return reasons
    }

    /// The column `role`, one of the contract's roles.
    static func role(of row: Row) throws(ProvisionError) -> Role {
        let text = try row.decode(String.self, "role")
        guard let role = Role(rawValue: text) else {
            throw ProvisionError(.databaseError, "membership role '\(text)' is not one of the contract's roles")
        }
        return role
    }

    /// A member from the columns `id`, `email`, `name`, `role` and a password state's.
    static func memberState(of row: Row) throws(ProvisionError) -> MemberState {
        let role = try role(of: row)
        let user = try Self.user(of: row)
        return MemberState(user: user, role: role, passwordState: try passwordState(of: row))
    }

    /// Removes the tenant (its memberships go with it) and then the users given, who
    /// belonged to it alone.
    func deleteTenant(id: Tenant.ID, users: [User.ID]) throws(ProvisionError) {
        try connection.run("DELETE FROM memberships WHERE tenant_id = \(id)")
        try connection.run("DELETE FROM tenants WHERE id = \(id)")
        for user in users {
            try connection.run("DELETE FROM users WHERE id = \(user)")
        }
    }

    // MARK: Memberships

    /// The tenants a user belongs to, with the role in each, by slug.
    func memberships(userId: User.ID) throws(ProvisionError) -> [PasswordReset.Membership] {
        let rows = try connection.run("""
            SELECT t.id, t.slug, t.name, t.time_zone, t.support_email, t.support_phone, m.role
            FROM memberships m JOIN tenants t ON t.id = m.tenant_id
            WHERE m.user_id = \(userId) ORDER BY t.slug
            """)
        var memberships: [PasswordReset.Membership] = []
        for row in rows {
            memberships.append(PasswordReset.Membership(tenant: try Self.tenant(of: row), role: try Self.role(of: row)))
        }
        return memberships
    }

    func membershipExists(tenantId: Tenant.ID, userId: User.ID) throws(ProvisionError) -> Bool {
        !(try connection.run("SELECT 1 FROM memberships WHERE tenant_id = \(tenantId) AND user_id = \(userId)").isEmpty)
    }

    /// Whether `tenant` has this user (case-insensitive email) as an OWNER: one tenant's
    /// rows.
    func isOwner(tenantId: Tenant.ID, email: String) throws(ProvisionError) -> Bool {
        !(try connection.run("""
            SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.tenant_id = \(tenantId) AND m.role = \(Role.owner.rawValue) AND lower(u.email) = lower(\(email))
            """).isEmpty)
    }

    /// False when the user already belongs to the tenant (never aborts the transaction).
    @discardableResult
    /// With its `membership.create` audit row (`detail`: slug, email, role), in the same
    /// statement.
    func insertMembership(tenantId: Tenant.ID, userId: User.ID, role: Role, audit: AuditContext, detail: [String: String]) throws(ProvisionError) -> Bool {
        !(try connection.run("""
            WITH inserted AS (
                INSERT INTO memberships (tenant_id, user_id, role)
                VALUES (\(tenantId), \(userId), \(role.rawValue))
                ON CONFLICT (tenant_id, user_id) DO NOTHING
                RETURNING tenant_id, user_id
            ), logged AS (
                INSERT INTO audit_events (at, actor, action, run_id, tenant_id, user_id, detail)
                SELECT clock_timestamp(), \(audit.actor), 'membership.create', \(audit.runId), tenant_id, user_id, \(Bind.jsonb(detail))
                FROM inserted
            )
            SELECT 1 FROM inserted
            """).isEmpty)
    }

    // MARK: Changes after go-live

    /// Locks the tenant's row (`FOR UPDATE`): changes to one tenant's settings and members
    /// take turns, so two that each leave another OWNER cannot together leave none.
    func lockTenant(id: Tenant.ID) throws(ProvisionError) {
        try connection.run("SELECT 1 FROM tenants WHERE id = \(id) FOR UPDATE")
    }

    /// Writes the tenant's settings, with a `tenant.update` audit row holding the values
    /// before and after, in one statement.
    func updateTenant(from before: Tenant, to after: Tenant, audit: AuditContext) throws(ProvisionError) {
        guard let id = before.id else { return }
        func settings(_ tenant: Tenant) -> JSONValue {
            .object(["name": .string(tenant.name), "timeZone": JSONValue(tenant.timeZone), "supportEmail": JSONValue(tenant.supportEmail),
                     "supportPhone": JSONValue(tenant.supportPhone)])
        }
        let detail = Bind.jsonb(document: ["slug": .string(before.slug), "before": settings(before), "after": settings(after)])
        try connection.run("""
            WITH updated AS (
                UPDATE tenants SET name = \(after.name), time_zone = \(after.timeZone), support_email = \(after.supportEmail),
                                   support_phone = \(after.supportPhone)
                WHERE id = \(id)
                RETURNING id
            )
            INSERT INTO audit_events (at, actor, action, run_id, tenant_id, detail)
            SELECT clock_timestamp(), \(audit.actor), 'tenant.update', \(audit.runId), id, \(detail) FROM updated
            """)
    }

    /// The user's role in the tenant; nil when they are not a member.
    func role(tenantId: Tenant.ID, userId: User.ID) throws(ProvisionError) -> Role? {
        let rows = try connection.run("SELECT role FROM memberships WHERE tenant_id = \(tenantId) AND user_id = \(userId)")
        guard let row = rows.first else { return nil }
        return try Self.role(of: row)
    }

    /// The emails (lowercased) of the tenant's OWNERs: one tenant's rows.
    func ownerEmails(tenantId: Tenant.ID) throws(ProvisionError) -> Set<String> {
        let rows = try connection.run("""
            SELECT lower(u.email) AS email FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.tenant_id = \(tenantId) AND m.role = \(Role.owner.rawValue)
            """)
        var emails: Set<String> = []
        for row in rows { emails.insert(try row.decode(String.self, "email")) }
        return emails
    }

    /// Changes a member's role, with its `membership.update` audit row (`detail`: slug,
    /// email, from, to), in one statement.
    func updateRole(tenantId: Tenant.ID, userId: User.ID, to role: Role, audit: AuditContext, detail: [String: String]) throws(ProvisionError) {
        try connection.run("""
            WITH updated AS (
                UPDATE memberships SET role = \(role.rawValue)
                WHERE tenant_id = \(tenantId) AND user_id = \(userId)
                RETURNING tenant_id, user_id
            )
            INSERT INTO audit_events (at, actor, action, run_id, tenant_id, user_id, detail)
            SELECT clock_timestamp(), \(audit.actor), 'membership.update', \(audit.runId), tenant_id, user_id, \(Bind.jsonb(detail))
            FROM updated
            """)
    }

    /// Removes a membership (never its user), with its `membership.delete` audit row
    /// (`detail`: slug, email, role), in one statement.
    func removeMembership(tenantId: Tenant.ID, userId: User.ID, audit: AuditContext, detail: [String: String]) throws(ProvisionError) {
        try connection.run("""
            WITH removed AS (
                DELETE FROM memberships WHERE tenant_id = \(tenantId) AND user_id = \(userId)
                RETURNING tenant_id, user_id
            )
            INSERT INTO audit_events (at, actor, action, run_id, tenant_id, user_id, detail)
            SELECT clock_timestamp(), \(audit.actor), 'membership.delete', \(audit.runId), tenant_id, user_id, \(Bind.jsonb(detail))
            FROM removed
            """)
    }

    // MARK: Decoding

    /// A stored user from the columns `id`, `email`, `name`.
    static func user(of row: Row) throws(ProvisionError) -> User {
        User(stored: .stored(try row.decode(User.ID.self, "id")), email: try row.decode(String.self, "email"),
             name: try row.decode(String?.self, "name"), created: false)
    }

    static func only(_ rows: Rows) throws(ProvisionError) -> Row {
        guard let row = rows.first else {
            throw ProvisionError(.databaseError, "the database returned no row where one was expected")
        }
        return row
    }
}
