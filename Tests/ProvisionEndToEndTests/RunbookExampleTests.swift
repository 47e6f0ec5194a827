import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// The runbook's "Command Examples", exactly as written (`provision tenant` in place of
/// `pnpm provision:tenant`), against a real PostgreSQL.
@Suite("Runbook: command examples")
struct RunbookExampleTests {
    @Test("Staging example provisions tenant and Owner", arguments: OutputMode.allCases)
    func staging(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(mode.apply(Runbook.staging), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        try expectProvisioned(.staging, password: result.oneTimePassword(mode), in: db)
        #expect(!result.stderr.contains("contact your center"), "support contact was given: no warning")
        if mode == .json {
            try expectJSONReport(result, for: .staging, in: db)
        }
    }

    @Test("Production example provisions tenant and Owner", arguments: OutputMode.allCases)
    func production(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(mode.apply(Runbook.production), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        try expectProvisioned(.production, password: result.oneTimePassword(mode), in: db)
        if mode == .json {
            try expectJSONReport(result, for: .production, in: db)
        }
    }

    @Test("Dry run example validates and writes nothing", arguments: OutputMode.allCases)
    func dryRun(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        let result = try ProvisionBinary.run(mode.apply(Runbook.dryRun), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        #expect(try db.rowCounts() == before)
        #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty)
        switch mode {
        case .human:
            #expect(result.stdout.contains("create tenant pilot"), "the plan names the tenant: \(result)")
            #expect(!result.stdout.contains("One-time password for"))
        case .json:
            let json = try #require(result.json, "one JSON document: \(result)")
            #expect(json["dryRun"] as? Bool == true)
            let tenant = try #require(result.jsonTenant)
            #expect(tenant["slug"] as? String == "pilot")
            #expect(tenant["name"] as? String == "Pilot")
        }
    }

    /// The JSON report of a committed run (CONTRACT §2) matches what landed.
    private func expectJSONReport(_ result: ProvisionBinary.Result, for expected: ExpectedTenant, in db: TestDatabase) throws {
        try ContractSchema.validate(result.stdout, as: .run)
        let json = try #require(result.json, "one JSON document: \(result)")
        #expect(json["command"] as? String == "tenant")
        #expect(json["dryRun"] as? Bool == false)
        #expect(result.jsonResults.map { $0["status"] as? String } == ["created"])
        let tenant = try #require(result.jsonTenant)
        let owner = try #require(result.jsonOwner)
        let tenantId = try db.scalar("SELECT id FROM tenants WHERE slug = \(literal(expected.slug))")
        let ownerId = try db.scalar("SELECT id FROM users WHERE email = \(literal(expected.ownerEmail))")
        #expect(tenant["id"] as? String == tenantId)
        #expect(owner["id"] as? String == ownerId)
        #expect(tenant["slug"] as? String == expected.slug)
        #expect(tenant["name"] as? String == expected.name)
        #expect(tenant["timeZone"] as? String == expected.timeZone)
        #expect(tenant["supportEmail"] as? String == expected.supportEmail)
        #expect(tenant["supportPhone"] as? String == expected.supportPhone)
        #expect(owner["email"] as? String == expected.ownerEmail)
        #expect(owner["name"] as? String == expected.ownerName)
        #expect(owner["created"] as? Bool == true)
        #expect(owner["role"] as? String == "OWNER")
        let credential = try #require(result.jsonCredential(for: expected.ownerEmail), "\(result)")
        #expect(credential["userId"] as? String == ownerId)
        #expect(credential["tenantSlug"] as? String == expected.slug)
        let expiresAt = try db.scalar("""
            SELECT to_char(password_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM users WHERE id = \(literal(ownerId ?? ""))::uuid
            """)
        #expect(credential["expiresAt"] as? String == expiresAt, "expiresAt is users.password_expires_at in ISO 8601 UTC")
        #expect(result.jsonCredentials.count == 1)
        #expect((json["summary"] as? [String: Any])?["created"] as? Int == 1)
        #expect((json["actions"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["create_tenant", "create_user", "link_membership"])
        let runIds = try db.column("SELECT DISTINCT run_id::text FROM audit_events WHERE action <> 'schema.migrate'")
        #expect(runIds == [json["runId"] as? String], "runId is the audit rows' run_id: \(runIds)")
    }
}

/// The runbook's "Behavior Notes" and "Troubleshooting", one test each.
@Suite("Runbook: behaviour notes and troubleshooting")
struct RunbookBehaviourTests {
    @Test("Slug already exists: exit 3, slug_exists, 'choose a new slug', nothing written", arguments: OutputMode.allCases)
    func slugAlreadyExists(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.production, databaseURL: db.url).status == 0)
        let before = try db.rowCounts()

        let result = try ProvisionBinary.run(mode.apply(Runbook.tenant("pilot", owner: "someone-else@pilot.example.com")),
                                             databaseURL: db.url)
        #expect(result.status == 3, "\(result)")
        #expect(try db.rowCounts() == before)
        switch mode {
        case .json:
            #expect(result.errorCode == "slug_exists", "\(result)")
            #expect(result.errorField == "tenantSlug")
            #expect(result.errorMessage?.contains("choose a new slug") == true, "\(result)")
        case .human:
            #expect(result.stderr.contains("choose a new slug"), "\(result)")
            #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty)
        }
    }

    @Test("Owner email already exists: exit 3, email_exists, names --allowExistingUser, nothing written",
          arguments: OutputMode.allCases)
    func ownerEmailAlreadyExists(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.production, databaseURL: db.url).status == 0)
        let before = try db.rowCounts()

        let result = try ProvisionBinary.run(mode.apply(Runbook.tenant("pilot-two", owner: "owner@pilot.example.com")),
                                             databaseURL: db.url)
        #expect(result.status == 3, "\(result)")
        #expect(try db.rowCounts() == before)
        switch mode {
        case .json:
            #expect(result.errorCode == "email_exists", "\(result)")
            #expect(result.errorField == "ownerEmail")
            #expect(result.errorMessage?.contains("--allowExistingUser") == true, "\(result)")
        case .human:
            #expect(result.stderr.contains("--allowExistingUser"), "\(result)")
            #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty)
        }
    }

    @Test("--allowExistingUser links an existing user as OWNER, with no new password", arguments: OutputMode.allCases)
    func allowExistingUserLinksExistingUser(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.production, databaseURL: db.url).status == 0)
        let userBefore = try db.rows("SELECT id, password_hash, must_change_password, password_expires_at FROM users")

        let result = try ProvisionBinary.run(
            mode.apply(Runbook.tenant("pilot-two", owner: "owner@pilot.example.com", "--allowExistingUser")),
            databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        let userAfter = try db.rows("SELECT id, password_hash, must_change_password, password_expires_at FROM users")
        #expect(userAfter.count == 1, "no second user")
        #expect(NSDictionary(dictionary: userAfter.first ?? [:]) == NSDictionary(dictionary: userBefore.first ?? [:]),
                "the existing user, password hash included, is unchanged")
        let roles = try db.column("""
            SELECT m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id JOIN users u ON u.id = m.user_id
            WHERE t.slug = 'pilot-two' AND u.email = 'owner@pilot.example.com'
            """)
        #expect(roles == ["OWNER"])
        #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty, "no password printed: \(result)")
        switch mode {
        case .json:
            let owner = try #require(result.jsonOwner, "\(result)")
            #expect(owner["created"] as? Bool == false)
            #expect(result.jsonCredentials.isEmpty, "\(result)")
            #expect(owner["id"] as? String == userBefore.first?["id"] as? String)
        case .human:
            #expect(!result.stdout.contains("One-time password"), "\(result)")
        }
    }

    @Test("--allowExistingUser with a new email creates the user and a one-time password", arguments: OutputMode.allCases)
    func allowExistingUserWithNewEmailCreatesUser(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(mode.apply(Runbook.production + ["--allowExistingUser"]), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        try expectProvisioned(.production, password: result.oneTimePassword(mode), in: db)
        if mode == .json {
            #expect(result.jsonOwner?["created"] as? Bool == true)
        }
    }

    @Test("Owner emails are unique ignoring case", arguments: [
        ("Owner@X.com", "owner@x.com"),
        ("owner@x.com", "Owner@X.com"),
        ("owner@pilot.example.com", "OWNER@PILOT.EXAMPLE.COM"),
    ])
    func emailUniquenessIgnoresCase(first: String, second: String) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("first-tenant", owner: first), databaseURL: db.url).status == 0)
        let before = try db.rowCounts()

        let refused = try ProvisionBinary.run(Runbook.tenant("second-tenant", owner: second, "--json"), databaseURL: db.url)
        #expect(refused.status == 3, "\(refused)")
        #expect(refused.errorCode == "email_exists")
        #expect(try db.rowCounts() == before)

        let linked = try ProvisionBinary.run(Runbook.tenant("second-tenant", owner: second, "--allowExistingUser", "--json"),
                                             databaseURL: db.url)
        #expect(linked.status == 0, "\(linked)")
        #expect(try db.column("SELECT email FROM users") == [first], "one user, stored as first given")
        #expect(try db.count("SELECT 1 FROM memberships WHERE role = 'OWNER'") == 2)
        #expect(linked.jsonOwner?["created"] as? Bool == false)
    }

    @Test("Support contact missing: a warning about “contact your center”, not an error", arguments: OutputMode.allCases)
    func supportContactMissingWarns(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(mode.apply([
            "tenant", "--tenantSlug", "pilot", "--tenantName", "Pilot", "--ownerEmail", "owner@pilot.example.com",
            "--ownerName", "Pilot Owner", "--timeZone", "America/Edmonton",
        ]), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        var expected = ExpectedTenant.production
        expected.supportEmail = nil
        expected.supportPhone = nil
        try expectProvisioned(expected, password: result.oneTimePassword(mode), in: db)
        switch mode {
        case .human:
            #expect(result.stderr.contains("contact your center"), "\(result)")
            #expect(!result.stdout.contains("contact your center"), "warnings go to stderr")
        case .json:
            #expect(result.jsonWarnings.contains { $0.contains("contact your center") }, "\(result)")
        }
    }
}
