import Testing
@testable import ProvisionCore
import ProvisionTestSupport

@Suite("Provisioning primitives") struct ProvisioningRunTests {
    func specs(_ slug: String, _ email: String, allowExisting: Bool = false) throws -> (TenantSpec, OwnerSpec) {
        (try TenantSpec(slug: slug, name: slug.capitalized, supportEmail: "help@\(slug).example.com"),
         try OwnerSpec(email: email, name: "Owner", allowExistingUser: allowExisting))
    }

    @Test func writesTenantOwnerAndMembershipInOneTransaction() throws {
        let database = try TestDatabase.create()
        let run = ProvisioningRun(connection: try database.connect(), dryRun: false, audit: AuditContext(actor: "unit"))
        let (tenantSpec, ownerSpec) = try specs("pilot", "owner@pilot.example.com")
        let tenant = try run.createTenant(tenantSpec)
        let owner = try run.createOwner(ownerSpec)
        _ = try run.linkMembership(tenant: tenant, user: owner, role: .owner)
        #expect(try database.scalar("SELECT count(*) FROM tenants") == "0", "nothing visible before commit")
        let credentials = try run.commit()
        #expect(credentials.count == 1)
        let hash = try #require(try database.scalar("SELECT password_hash FROM users"))
        #expect(PasswordHash.verify(credentials[0].password.reveal(), against: hash))
        #expect(try database.column("SELECT action FROM audit_events WHERE action <> 'schema.migrate' ORDER BY action") == ["membership.create", "tenant.create", "user.create"])
        #expect(try database.scalar("SELECT count(DISTINCT run_id) FROM audit_events WHERE action <> 'schema.migrate'") == "1")
        #expect(try database.scalar("SELECT DISTINCT actor FROM audit_events WHERE action <> 'schema.migrate'") == "unit")
    }

    @Test func rollbackLeavesNothingAndRevealsNothing() throws {
        let database = try TestDatabase.create()
        let run = ProvisioningRun(connection: try database.connect(), dryRun: false)
        let (tenantSpec, ownerSpec) = try specs("pilot", "owner@pilot.example.com")
        _ = try run.createTenant(tenantSpec)
        _ = try run.createOwner(ownerSpec)
        run.rollback()
        #expect(try run.commit().isEmpty)
        #expect(try database.rowCounts().filter { $0.key != "schema_migrations" && $0.key != "audit_events" }.values.allSatisfy { $0 == 0 })
    }

    @Test func dryRunFindsConflictsInsideTheRun() throws {
        let database = try TestDatabase.create()
        let run = ProvisioningRun(connection: try database.connect(), dryRun: true)
        let (first, owner) = try specs("pilot", "owner@pilot.example.com")
        _ = try run.createTenant(first)
        let slug = #expect(throws: ProvisionError.self) { try run.createTenant(first) }
        #expect(slug?.code == .slugExists)
        _ = try run.createOwner(owner)
        let email = #expect(throws: ProvisionError.self) { try run.createOwner(try OwnerSpec(email: "OWNER@pilot.example.com")) }
        #expect(email?.code == .emailExists)
        let shared = try run.createOwner(try OwnerSpec(email: "OWNER@pilot.example.com", allowExistingUser: true))
        #expect(shared.created == false)
        #expect(try run.commit().isEmpty)
    }

    @Test func withoutADatabaseADryRunSaysConflictChecksWereSkipped() throws {
        let run = ProvisioningRun(connection: nil, dryRun: true)
        let (tenantSpec, ownerSpec) = try specs("pilot", "owner@pilot.example.com")
        let tenant = try run.createTenant(tenantSpec)
        let owner = try run.createOwner(ownerSpec)
        let membership = try run.linkMembership(tenant: tenant, user: owner, role: .owner)
        #expect(tenant.planned && owner.planned && membership.planned)
        #expect(run.warnings.contains { $0.contains("conflict checks") })
        #expect(run.actions.count == 3)
    }

    @Test func aConflictIsDataForEachFrontEndToWord() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        try connection.run("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        try connection.run("INSERT INTO users (email) VALUES ('owner@pilot.example.com')")
        let run = ProvisioningRun(connection: connection, dryRun: false)
        let slug = #expect(throws: ProvisionError.self) { try run.createTenant(try TenantSpec(slug: "pilot", name: "Pilot")) }
        #expect(slug?.code == .slugExists)
        #expect(slug?.subject == .tenantSlug)
        #expect(slug?.remedy == .chooseAnotherSlug)
        #expect(slug?.facts.slug == "pilot")
        let email = #expect(throws: ProvisionError.self) { try run.createOwner(try OwnerSpec(email: "Owner@Pilot.example.com")) }
        #expect(email?.code == .emailExists)
        #expect(email?.subject == .ownerEmail)
        #expect(email?.remedy == .allowExistingUser)
        #expect(email?.facts.email == "owner@pilot.example.com")
        #expect(email?.template != nil, "the field's name and the remedy are left to the front end")
        run.rollback()
    }

    @Test func aTimeZoneUnknownToPostgreSQLIsRefused() throws {
        // Every canonical zone Foundation knows must be known to PostgreSQL too, or the
        // platform could not use it; this checks both lists agree on this machine.
        let database = try TestDatabase.create()
        let known = Set(try database.column("SELECT name FROM pg_timezone_names").compactMap { $0 })
        let missing = TimeZones.canonical.subtracting(known)
        #expect(missing.count < TimeZones.canonical.count / 10, "PostgreSQL lacks \(missing.sorted().prefix(10))")
    }
}
