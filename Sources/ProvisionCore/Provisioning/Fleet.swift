#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The tenants as they are after go-live (`provision list`, `provision show`): read in
/// one read-only transaction, password states judged by the database's clock.
public struct Fleet {
    let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// Every tenant by slug with its Owners and their password states, each tenant handed
    /// to `body` as soon as its last Owner is read (its rows are consecutive), so that a
    /// fleet of any size is listed in flat memory. Read in one read-only transaction
    /// through a cursor, a chunk of rows per FETCH, each row arriving on its own (libpq's
    /// single-row mode): neither libpq nor this process holds more than one row at a time,
    /// however long a value is. Each FETCH is a statement of its own: the first joins and
    /// sorts the fleet (0.4 s for 100,000 tenants), the others hand over rows already
    /// sorted, so a reader slow to take the output never meets the statement limit.
    /// `body` returns false to stop. Instants are formatted by the database
    /// (`TenantListing`).
    public func forEachTenant(_ body: (TenantListing) -> Bool) throws(ProvisionError) {
        try readOnly { () throws(ProvisionError) in
            // Every row is read, so the plan is for all of them: for a cursor PostgreSQL
            // otherwise plans for the first tenth, with an index look-up per tenant that
            // took 1.0 s over 100,000 tenants where hash joins and one sort take 0.4 s.
            try connection.run("SELECT set_config('cursor_tuple_fraction', '1', true)")
            try connection.run("""
                DECLARE \(Self.listingCursor) NO SCROLL CURSOR FOR
                SELECT t.slug, t.id, t.name, t.time_zone, t.support_email, t.support_phone,
                       to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
                       u.id AS user_id, u.email, u.name AS user_name,
                       u.must_change_password AS pending, u.password_expires_at <= now() AS expired,
                       to_char(u.password_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS expires
                FROM tenants t
                LEFT JOIN memberships m ON m.tenant_id = t.id AND m.role = 'OWNER'
                LEFT JOIN users u ON u.id = m.user_id
                ORDER BY t.slug, u.email
                """)
            var current: (tenant: Tenant, createdAt: String, owners: [TenantListing.Owner])?
            var failure: ProvisionError?
            var wanted = true
            func handOver() {
                guard wanted, let done = current else { return }
                current = nil
                wanted = body(TenantListing(tenant: done.tenant, createdAt: done.createdAt, owners: done.owners))
            }
            func take(_ values: [String?]) throws(ProvisionError) {
                let row = Row(columns: Self.listingColumns, values: values)
                let slug = try row.decode(String.self, at: 0)
                if let open = current, open.tenant.slug != slug { handOver() }
                if current == nil {
                    let tenant = Tenant(stored: .stored(try row.decode(Tenant.ID.self, at: 1)), slug: slug,
                                        name: try row.decode(String.self, at: 2), timeZone: try row.decode(String?.self, at: 3),
                                        supportEmail: try row.decode(String?.self, at: 4), supportPhone: try row.decode(String?.self, at: 5))
                    current = (tenant, try row.decode(String.self, at: 6), [])
                }
                guard let id = try row.decode(User.ID?.self, at: 7) else { return }
                let user = User(stored: .stored(id), email: try row.decode(String.self, at: 8),
                                name: try row.decode(String?.self, at: 9), created: false)
                // As `Store.passwordState` judges it, on the database's clock.
                let expires = try row.decode(String?.self, at: 12)
                let state: PasswordState.Kind = try row.decode(Bool.self, at: 10) && expires != nil
                    ? (try row.decode(Bool.self, at: 11) ? .oneTimeExpired : .oneTimePending) : .changed
                current?.owners.append(TenantListing.Owner(user: user, password: state, passwordExpiresAt: state == .changed ? nil : expires))
            }
            while wanted {
                var received = 0
                do throws(DatabaseFailure) {
                    // 200 rows (about 60 KB) fit in the socket's buffers, so each FETCH ends
                    // on the server even while a reader that paused (a pager) holds this
                    // process: a FETCH still sending would be cancelled at the statement
                    // limit. A hundred thousand tenants take 500 FETCHes: 0.2 s more than 100 would.
                    try connection.forEachRow("FETCH FORWARD 200 FROM \(Self.listingCursor)") { values in
                        received += 1
                        do throws(ProvisionError) {
                            try take(values)
                        } catch {
                            failure = error
                        }
                        return wanted && failure == nil
                    }
                } catch {
                    throw ProvisionError(error)
                }
                if let failure { throw failure }
                if received == 0 { break }
            }
            handOver()
        }
    }

    private static let listingCursor = Identifier("provision_listing")!
    /// The listing's columns, by position.
    private static let listingColumns: [Rows.Column] = [
        "slug", "id", "name", "time_zone", "support_email", "support_phone", "created_at",
        "user_id", "email", "user_name", "pending", "expired", "expires",
    ].map { Rows.Column(name: $0, typeOID: 0) }

    /// The most characters (PostgreSQL's `length`) of a slug, a tenant name and an Owner's
    /// email that `forEachTenant` would hand over now, for a table laid out before its rows
    /// are read. Read on its own: a tenant created meanwhile may have longer ones.
    public func longestListedValues() throws(ProvisionError) -> TenantListing.Longest {
        try readOnly { () throws(ProvisionError) -> TenantListing.Longest in
            let row = try Store.only(try connection.run("""
                SELECT coalesce(max(length(t.slug)), 0) AS slug, coalesce(max(length(t.name)), 0) AS name,
                       coalesce(max(length(u.email)), 0) AS owner_email
                FROM tenants t
                LEFT JOIN memberships m ON m.tenant_id = t.id AND m.role = 'OWNER'
                LEFT JOIN users u ON u.id = m.user_id
                """))
            return TenantListing.Longest(slug: try row.decode(Int.self, "slug"), name: try row.decode(Int.self, "name"),
                                         ownerEmail: try row.decode(Int.self, "owner_email"))
        }
    }

    /// One tenant: its fields, every member, its platform rows and its latest audit
    /// events (those about the tenant and those about its members), newest first; nil
    /// when no tenant has the slug.
    public func tenant(slug: String, events limit: Int = 10) throws(ProvisionError) -> TenantDetail? {
        try readOnly { () throws(ProvisionError) -> TenantDetail? in
            let store = Store(connection: connection)
            let rows = try connection.run("""
                SELECT id, slug, name, time_zone, support_email, support_phone, created_at FROM tenants WHERE slug = \(slug)
                """)
            guard let row = rows.first else { return nil }
            let tenant = try Store.tenant(of: row)
            guard let id = tenant.id else { return nil }
            let members = try store.members(tenantId: id)
            let userIds = members.compactMap { $0.user.id?.uuid }
            let events = try connection.run("""
                SELECT a.at, a.actor, a.action, a.run_id, u.email
                FROM audit_events a LEFT JOIN users u ON u.id = a.user_id
                WHERE a.tenant_id = \(id) OR a.user_id = ANY (\(Bind.uuidArray(userIds)))
                ORDER BY a.at DESC, a.id DESC
                LIMIT \(Int32(clamping: limit))
                """)
            var recent: [AuditEvent] = []
            for event in events {
                recent.append(AuditEvent(at: try event.decode(Date.self, "at"), actor: try event.decode(String.self, "actor"),
                                         action: try event.decode(String.self, "action"),
                                         runId: try event.decode(UUID?.self, "run_id")?.sqlText,
                                         userEmail: try event.decode(String?.self, "email")))
            }
            return TenantDetail(tenant: tenant, createdAt: try row.decode(Date.self, "created_at"), members: members,
                                platformRows: try store.platformRowCounts(tenantId: id), recentEvents: recent)
        }
    }

    /// The slugs that start with `prefix`, in order (at most `limit`): what a shell
    /// completes for a tenant slug.
    public func slugs(startingWith prefix: String, limit: Int = 200) throws(ProvisionError) -> [String] {
        try readOnly { () throws(ProvisionError) -> [String] in
            try connection.run("""
                SELECT slug FROM tenants WHERE starts_with(slug, \(prefix)) ORDER BY slug LIMIT \(Int32(clamping: limit))
                """).map { row throws(ProvisionError) in try row.decode(String.self, "slug") }
        }
    }

    /// Users' emails that start with `prefix` in any letter case (emails are unique
    /// case-insensitively), read-only, at most `limit` of them: what a shell offers to
    /// complete an email.
    public func emails(startingWith prefix: String, limit: Int = 200) throws(ProvisionError) -> [String] {
        try readOnly { () throws(ProvisionError) -> [String] in
            try connection.run("""
                SELECT email FROM users WHERE starts_with(lower(email), lower(\(prefix)))
                ORDER BY lower(email) LIMIT \(Int32(clamping: limit))
                """).map { row throws(ProvisionError) in try row.decode(String.self, "email") }
        }
    }

    /// Every tenant, by slug, read in the caller's open transaction (to check them all).
    public func tenantsInTransaction() throws(ProvisionError) -> [Tenant] {
        try connection.run("SELECT id, slug, name, time_zone, support_email, support_phone FROM tenants ORDER BY slug")
            .map { row throws(ProvisionError) in try Store.tenant(of: row) }
    }

    private func readOnly<T>(_ body: () throws(ProvisionError) -> T) throws(ProvisionError) -> T {
        try connection.begin(readOnly: true)
        defer { connection.rollback() }
        return try body()
    }
}
