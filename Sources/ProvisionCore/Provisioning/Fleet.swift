import Foundation

/// The tenants as they are after go-live (`provision list`, `provision show`): read in
/// one read-only transaction, password states judged by the database's clock.
public struct Fleet {
    let connection: Connection

    public init(connection: Connection) { self.connection = connection }

    /// Every tenant by slug, with its Owners and their password states.
    public func tenants() throws(ProvisionError) -> [TenantListing] {
        try readOnly { () throws(ProvisionError) in
            let rows = try connection.run("""
                SELECT t.id AS tenant_id, t.slug, t.name AS tenant_name, t.time_zone, t.support_email, t.support_phone,
                       t.created_at, u.id, u.email, u.name, m.role,
                       u.must_change_password AS pending, u.password_expires_at AS expires,
                       u.password_expires_at <= now() AS expired
                FROM tenants t
                LEFT JOIN memberships m ON m.tenant_id = t.id AND m.role = 'OWNER'
                LEFT JOIN users u ON u.id = m.user_id
                ORDER BY t.slug, u.email
                """)
            var listings: [TenantListing] = []
            var current: (tenant: Tenant, created: Date, owners: [MemberState])?
            for row in rows {
                let slug = try row.decode(String.self, "slug")
                if current?.tenant.slug != slug {
                    if let done = current { listings.append(TenantListing(tenant: done.tenant, createdAt: done.created, owners: done.owners)) }
                    let tenant = Tenant(stored: .stored(try row.decode(Tenant.ID.self, "tenant_id")), slug: slug,
                                        name: try row.decode(String.self, "tenant_name"), timeZone: try row.decode(String?.self, "time_zone"),
                                        supportEmail: try row.decode(String?.self, "support_email"),
                                        supportPhone: try row.decode(String?.self, "support_phone"))
                    current = (tenant, try row.decode(Date.self, "created_at"), [])
                }
                if try row.decode(UUID?.self, "id") != nil {
                    current?.owners.append(try Store.memberState(of: row))
                }
            }
            if let done = current { listings.append(TenantListing(tenant: done.tenant, createdAt: done.created, owners: done.owners)) }
            return listings
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
