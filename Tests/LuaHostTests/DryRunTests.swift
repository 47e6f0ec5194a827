import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §4: `--dryRun` runs the same playbook in a READ ONLY transaction: it
// validates, checks conflicts against the database and within the run, and says what
// it would do; the database itself refuses any write.

@Suite("Dry run of a playbook") struct PlaybookDryRunTests {
    @Test func theTransactionIsReadOnly() throws {
        let playbook = try Playbook.fresh(dryRun: true)
        let log = try playbook.execute("""
            print(provision.query("SELECT current_setting('transaction_read_only') AS ro")[1].ro)
            """)
        #expect(log == ["on"])
    }

    @Test func primitivesPlanWithoutIdsAndNothingIsWritten() throws {
        let playbook = try Playbook.fresh(dryRun: true)
        let before = try playbook.db.rowCounts()
        let log = try playbook.execute("""
            local t = provision.createTenant{slug = "pilot", name = "Pilot", timeZone = "America/Edmonton"}
            local u = provision.createOwner{email = "owner@pilot.example.com", name = "Owner"}
            local m = provision.linkMembership{tenant = t, user = u, role = "OWNER"}
            print(t.planned, t.id, t.slug, t.timeZone)
            print(u.planned, u.id, u.created, u.email)
            print(m.planned, m.tenantId, m.userId, m.role)
            print(provision.transaction(function() return provision.createTenant{slug = "second", name = "Second"}.planned end))
            """)
        #expect(log == [
            "true\tnil\tpilot\tAmerica/Edmonton",
            "true\tnil\ttrue\towner@pilot.example.com",
            "true\tnil\tnil\tOWNER",
            "true\ttrue",
        ])
        #expect(playbook.session.run.actions.map(\.text) == [
            "create tenant pilot", "create user owner@pilot.example.com with a one-time password",
            "add owner@pilot.example.com to pilot as OWNER", "create tenant second",
        ])
        #expect(try playbook.commit().isEmpty, "a dry run issues no password")
        #expect(try playbook.db.rowCounts() == before)
    }

    @Test func aWriteThroughQueryIsRefusedByTheDatabase() throws {
        let playbook = try Playbook.fresh(dryRun: true)
        try playbook.db.connect().execute("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        let log = try playbook.execute(#"print(select(2, pcall(provision.query, "DELETE FROM tenants")).code)"#)
        #expect(log == ["forbidden"])
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["pilot"])
    }

    @Test func theSameSlugTwiceInOneRunIsSlugExists() throws {
        let playbook = try Playbook.fresh(dryRun: true)
        let log = try playbook.execute("""
            provision.createTenant{slug = "pilot", name = "Pilot"}
            local ok, e = pcall(provision.createTenant, {slug = "pilot", name = "Pilot again"})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tslug_exists\tslug"])
    }

    @Test func theSameEmailTwiceInOneRunIsEmailExistsUnlessAllowed() throws {
        let playbook = try Playbook.fresh(dryRun: true)
        let log = try playbook.execute("""
            provision.createOwner{email = "owner@pilot.example.com"}
            local ok, e = pcall(provision.createOwner, {email = "OWNER@pilot.example.com"})
            print(ok, e.code, e.field)
            local shared = provision.createOwner{email = "owner@pilot.example.com", allowExistingUser = true}
            print(shared.created, shared.planned)
            """)
        #expect(log == ["false\temail_exists\temail", "false\ttrue"])
    }

    @Test func theSameMembershipTwiceInOneRunIsMembershipExists() throws {
        let playbook = try Playbook.fresh(dryRun: true)
        let log = try playbook.execute("""
            local t = provision.createTenant{slug = "pilot", name = "Pilot"}
            local u = provision.createOwner{email = "owner@pilot.example.com"}
            provision.linkMembership{tenant = t, user = u, role = "OWNER"}
            print(select(2, pcall(provision.linkMembership, {tenant = "pilot", user = "owner@pilot.example.com", role = "ADMIN"})).code)
            """)
        #expect(log == ["membership_exists"])
    }

    @Test func conflictsWithTheDatabaseAreFound() throws {
        let playbook = try Playbook.fresh(dryRun: true)
        let connection = try playbook.db.connect()
        try connection.execute("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        try connection.execute("INSERT INTO users (email) VALUES ('owner@pilot.example.com')")
        let log = try playbook.execute("""
            print(select(2, pcall(provision.createTenant, {slug = "pilot", name = "Pilot"})).code)
            print(select(2, pcall(provision.createOwner, {email = "Owner@Pilot.example.com"})).code)
            local u = provision.createOwner{email = "owner@pilot.example.com", allowExistingUser = true}
            print(u.created, type(u.id))
            """)
        #expect(log == ["slug_exists", "email_exists", "false\tstring"])
    }

    @Test func aFailedUnitInADryRunFreesItsPlannedSlug() throws {
        let playbook = try Playbook.fresh(dryRun: true)
        let log = try playbook.execute("""
            print(provision.transaction(function() provision.createTenant{slug = "pilot", name = "Pilot"} error("no", 0) end))
            print(provision.createTenant{slug = "pilot", name = "Pilot"}.planned)
            """)
        #expect(log == ["false\tno", "true"])
    }

    @Test func withoutADatabaseADryRunStillValidatesAndSaysChecksWereSkipped() throws {
        let playbook = try Playbook(database: nil, dryRun: true)
        let log = try playbook.execute("""
            print(provision.createTenant{slug = "pilot", name = "Pilot"}.planned)
            print(select(2, pcall(provision.createTenant, {slug = "Pilot", name = "Pilot"})).code)
            print(provision.findTenant("pilot") ~= nil, provision.findUser("owner@pilot.example.com"))
            print(select(2, pcall(provision.query, "SELECT 1")).code)
            """)
        #expect(log == ["true", "invalid_input", "true\tnil", "database_unavailable"])
        #expect(playbook.session.run.warnings.contains { $0.contains("conflict checks") })
        #expect(try playbook.commit().isEmpty)
    }
}
