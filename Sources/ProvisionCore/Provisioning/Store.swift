import Foundation

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
        return Tenant(id: try row.decode(UUID.self, "id").sqlText, slug: try row.decode(String.self, "slug"),
                      name: try row.decode(String.self, "name"), timeZone: try row.decode(String?.self, "time_zone"),
                      supportEmail: try row.decode(String?.self, "support_email"),
                      supportPhone: try row.decode(String?.self, "support_phone"), planned: false)
    }

    func insertTenant(_ spec: TenantSpec) throws(ProvisionError) -> UUID {
        let rows = try connection.run("""
            INSERT INTO tenants (slug, name, time_zone, support_email, support_phone)
            VALUES (\(spec.slug), \(spec.name), \(spec.timeZone), \(spec.supportEmail), \(spec.supportPhone))
            RETURNING id
            """)
        return try Self.only(rows).decode(UUID.self, "id")
    }

    /// Whether PostgreSQL's own tz data knows the zone (it may be older or newer than the
    /// system's, which `TimeZones` reads).
    func knowsTimeZone(_ name: String) throws(ProvisionError) -> Bool {
        let rows = try connection.run("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = \(name)) AS known")
        return try Self.only(rows).decode(Bool.self, "known")
    }

    // MARK: Users

    /// Case-insensitive, as the schema's unique index is.
    func user(email: String) throws(ProvisionError) -> User? {
        let rows = try connection.run("SELECT id, email, name FROM users WHERE lower(email) = lower(\(email))")
        guard let row = rows.first else { return nil }
        return User(id: try row.decode(UUID.self, "id").sqlText, email: try row.decode(String.self, "email"),
                    name: try row.decode(String?.self, "name"), created: false, planned: false)
    }

    /// How many of `emails` (lowercased) belong to users already, as the unique index
    /// compares them.
    func existingUserCount(emails: [String]) throws(ProvisionError) -> Int {
        let rows = try connection.run("SELECT count(*) AS n FROM users WHERE lower(email) = ANY (\(Bind.textArray(emails)))")
        return Int(try Self.only(rows).decode(Int64.self, "n"))
    }

    struct InsertedUser {
        let id: UUID
        let passwordExpiresAt: Date
    }

    /// A user who must change `passwordHash`'s password within `lifetimeHours`. With
    /// `linkingExisting`, an email that exists by now is no error: nil says so.
    func insertUser(_ spec: OwnerSpec, passwordHash: String, lifetimeHours: Int,
                    linkingExisting: Bool) throws(ProvisionError) -> InsertedUser? {
        let hours = Int32(clamping: lifetimeHours)
        let rows = try linkingExisting
            ? connection.run("""
                INSERT INTO users (email, name, password_hash, must_change_password, password_expires_at)
                VALUES (\(spec.email), \(spec.name), \(passwordHash), true, now() + make_interval(hours => \(hours)))
                ON CONFLICT ((lower(email))) DO NOTHING
                RETURNING id, password_expires_at
                """)
            : connection.run("""
                INSERT INTO users (email, name, password_hash, must_change_password, password_expires_at)
                VALUES (\(spec.email), \(spec.name), \(passwordHash), true, now() + make_interval(hours => \(hours)))
                RETURNING id, password_expires_at
                """)
        guard let row = rows.first else { return nil }
        return InsertedUser(id: try row.decode(UUID.self, "id"), passwordExpiresAt: try row.decode(Date.self, "password_expires_at"))
    }

    /// The state of a user's password, as of the transaction's clock (`now()`).
    func passwordState(userId: UUID) throws(ProvisionError) -> PasswordState {
        let rows = try connection.run("""
            SELECT must_change_password AS pending, password_expires_at AS expires,
                   password_expires_at <= now() AS expired
            FROM users WHERE id = \(userId)
            """)
        let row = try Self.only(rows)
        guard try row.decode(Bool.self, "pending"), let expires = try row.decode(Date?.self, "expires") else { return .changed }
        return try row.decode(Bool.self, "expired") ? .oneTimeExpired(expiredAt: expires) : .oneTimePending(expiresAt: expires)
    }

    /// A new one-time password for an existing user: a fresh hash and expiry, to be
    /// changed at first login. Returns the new expiry.
    func resetPassword(userId: UUID, passwordHash: String, lifetimeHours: Int) throws(ProvisionError) -> Date {
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
    func revokeOneTimePassword(userId: UUID, expiresAt: Date, unusableHash: String) throws(ProvisionError) -> Bool {
        let second = Date(timeIntervalSince1970: expiresAt.timeIntervalSince1970.rounded(.down))
        let rows = try connection.run("""
            UPDATE users SET password_hash = \(unusableHash), password_expires_at = now()
            WHERE id = \(userId) AND must_change_password
              AND date_trunc('second', password_expires_at) = \(Bind.timestamp(second))
            RETURNING id
            """)
        return !rows.isEmpty
    }

    // MARK: Memberships

    /// The tenants a user belongs to, with the role in each, by slug.
    func memberships(userId: UUID) throws(ProvisionError) -> [(slug: String, role: Role)] {
        let rows = try connection.run("""
            SELECT t.slug, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
            WHERE m.user_id = \(userId) ORDER BY t.slug
            """)
        var memberships: [(slug: String, role: Role)] = []
        for row in rows {
            let text = try row.decode(String.self, "role")
            guard let role = Role(rawValue: text) else {
                throw ProvisionError(.databaseError, "membership role '\(text)' is not one of the contract's roles")
            }
            memberships.append((try row.decode(String.self, "slug"), role))
        }
        return memberships
    }

    func membershipExists(tenantId: UUID, userId: UUID) throws(ProvisionError) -> Bool {
        !(try connection.run("SELECT 1 FROM memberships WHERE tenant_id = \(tenantId) AND user_id = \(userId)").isEmpty)
    }

    /// Whether the tenant exists with this user (case-insensitive email) as an OWNER.
    func isOwner(slug: String, email: String) throws(ProvisionError) -> Bool {
        !(try connection.run("""
            SELECT 1 FROM tenants t
            JOIN memberships m ON m.tenant_id = t.id AND m.role = \(Role.owner.rawValue)
            JOIN users u ON u.id = m.user_id
            WHERE t.slug = \(slug) AND lower(u.email) = lower(\(email))
            """).isEmpty)
    }

    func insertMembership(tenantId: UUID, userId: UUID, role: Role) throws(ProvisionError) {
        try connection.run("""
            INSERT INTO memberships (tenant_id, user_id, role)
            VALUES (\(tenantId), \(userId), \(role.rawValue))
            """)
    }

    // MARK: Decoding

    /// The id of a record as the models carry it (`Tenant.id`, `User.id`).
    static func id(_ text: String) throws(ProvisionError) -> UUID {
        guard let id = UUID(uuidString: text) else {
            throw ProvisionError(.databaseError, "'\(text)' is not a record id")
        }
        return id
    }

    private static func only(_ rows: Rows) throws(ProvisionError) -> Row {
        guard let row = rows.first else {
            throw ProvisionError(.databaseError, "the database returned no row where one was expected")
        }
        return row
    }
}
