import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// Issue 14: look-ups stay flat however many tenants exist, because each one is an index
/// look-up. Verified by the planner's own word (EXPLAIN), not by timing, with 100,000
/// tenants, users and memberships.
@Suite("Look-ups use indexes")
struct IndexUseTests {
    /// The look-ups provisioning makes (Store), as the planner sees them once the tables
    /// are large and analysed.
    static let lookUps: [(String, String)] = [
        ("tenant by slug", "SELECT id, slug, name FROM tenants WHERE slug = 'pilot-77777'"),
        ("user by email, any case", "SELECT id, email, name FROM users WHERE lower(email) = lower('Owner77777@Scale.Example')"),
        ("membership of a tenant and a user", """
            SELECT 1 FROM memberships WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'pilot-77777')
              AND user_id = (SELECT id FROM users WHERE lower(email) = 'owner77777@scale.example')
            """),
        ("a tenant's OWNER by email", """
            SELECT 1 FROM tenants t JOIN memberships m ON m.tenant_id = t.id AND m.role = 'OWNER'
            JOIN users u ON u.id = m.user_id WHERE t.slug = 'pilot-77777' AND lower(u.email) = lower('owner77777@scale.example')
            """),
        ("a user's tenants", """
            SELECT t.slug, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id
            WHERE m.user_id = (SELECT id FROM users WHERE lower(email) = 'owner77777@scale.example')
            """),
        ("a tenant's members", """
            SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.tenant_id = (SELECT id FROM tenants WHERE slug = 'pilot-77777')
            """),
    ]

    @Test("with 100,000 tenants every look-up is an index scan, never a sequential scan")
    func indexes() throws {
        let db = try TestDatabase.create()
        let connection = try db.connect()
        try connection.run(fixture: """
            INSERT INTO tenants (slug, name) SELECT 'pilot-' || n, 'Pilot ' || n FROM generate_series(1, 100000) n;
            INSERT INTO users (email) SELECT 'owner' || n || '@scale.example' FROM generate_series(1, 100000) n;
            INSERT INTO memberships (tenant_id, user_id, role)
              SELECT t.id, u.id, 'OWNER' FROM tenants t JOIN users u ON u.email = 'owner' || substr(t.slug, 7) || '@scale.example';
            ANALYZE tenants; ANALYZE users; ANALYZE memberships;
            """)
        for (name, query) in Self.lookUps {
            let rows = try connection.run(fixture: "EXPLAIN (FORMAT TEXT) " + query)
            let plan = rows.compactMap { $0["QUERY PLAN"] ?? nil }.joined(separator: "\n")
            #expect(!plan.contains("Seq Scan"), "\(name) scans a whole table:\n\(plan)")
            #expect(plan.contains("Index"), "\(name) uses no index:\n\(plan)")
        }
    }
}
