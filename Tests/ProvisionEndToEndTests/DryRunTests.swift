import Foundation
import ProvisionTestSupport
import Testing

/// `--dryRun` (runbook: "validates inputs and prints actions without writing"; CONTRACT §4).
@Suite("Dry run")
struct DryRunTests {
    @Test("A dry run writes nothing to any table, audit included", arguments: OutputMode.allCases)
    func writesNothing(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        // Something already there, so an accidental write could also be an update.
        try #require(try ProvisionBinary.run(Runbook.tenant("existing", owner: "owner@existing.example.com"), databaseURL: db.url).status == 0)
        let before = try db.rowCounts()
        let hashesBefore = try db.column("SELECT password_hash FROM users ORDER BY id")

        for arguments in [Runbook.dryRun, Runbook.staging + ["--dryRun"],
                          Runbook.tenant("linked", owner: "owner@existing.example.com", "--allowExistingUser", "--dryRun")] {
            let result = try ProvisionBinary.run(mode.apply(arguments), databaseURL: db.url)
            #expect(result.status == 0, "\(result)")
            #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty, "no password: \(result)")
            if mode == .human {
                #expect(!result.stdout.contains("One-time password"), "\(result)")
            }
        }
        #expect(try db.rowCounts() == before)
        #expect(try db.column("SELECT password_hash FROM users ORDER BY id") == hashesBefore)
    }

    @Test("Dry run JSON: the envelope with dryRun true, status planned, ids null, no credentials")
    func jsonShape() throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(Runbook.staging + ["--dryRun", "--json"], databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let json = try #require(result.json, "one JSON document: \(result)")
        #expect(json["command"] as? String == "tenant")
        #expect(json["dryRun"] as? Bool == true)
        #expect(result.jsonResults.map { $0["status"] as? String } == ["planned"])
        let tenant = try #require(result.jsonTenant)
        let owner = try #require(result.jsonOwner)
        #expect(tenant["id"] is NSNull, "tenant.id is null: \(result)")
        #expect(owner["id"] is NSNull, "owner.id is null: \(result)")
        #expect(result.jsonCredentials.isEmpty, "a dry run issues no password: \(result)")
        #expect(tenant["slug"] as? String == "pilot-staging")
        #expect(tenant["timeZone"] as? String == "America/Edmonton")
        #expect(tenant["supportPhone"] as? String == "+1 555 123 4567")
        #expect(owner["email"] as? String == "owner@pilot-staging.example.com")
        #expect(owner["created"] as? Bool == true, "the plan creates the user")
        #expect(owner["role"] as? String == "OWNER")
        #expect((json["summary"] as? [String: Any])?["planned"] as? Int == 1)
        let actions = try #require(json["actions"] as? [[String: Any]]).compactMap { $0["text"] as? String }
        #expect(actions.contains { $0.contains("pilot-staging") }, "the actions name the tenant: \(actions)")
        #expect(!actions.isEmpty)
        #expect(try db.count("SELECT 1 FROM audit_events WHERE run_id::text = \(literal(json["runId"] as? String ?? ""))") == 0,
                "a dry run writes no audit row under its run id")
    }

    @Test("Dry run detects a slug that exists in the database", arguments: OutputMode.allCases)
    func detectsSlugConflict(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.production, databaseURL: db.url).status == 0)
        let before = try db.rowCounts()
        let result = try ProvisionBinary.run(mode.apply(Runbook.tenant("pilot", owner: "new-owner@pilot.example.com", "--dryRun")),
                                             databaseURL: db.url)
        #expect(result.status == 3, "\(result)")
        if mode == .json {
            #expect(result.errorCode == "slug_exists", "\(result)")
            #expect(result.errorField == "tenantSlug")
        } else {
            #expect(result.stderr.contains("choose a new slug"), "\(result)")
        }
        #expect(try db.rowCounts() == before)
    }

    @Test("Dry run detects an owner email that exists in the database", arguments: OutputMode.allCases)
    func detectsEmailConflict(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.production, databaseURL: db.url).status == 0)
        let before = try db.rowCounts()
        let result = try ProvisionBinary.run(mode.apply(Runbook.tenant("pilot-two", owner: "Owner@Pilot.Example.com", "--dryRun")),
                                             databaseURL: db.url)
        #expect(result.status == 3, "\(result)")
        if mode == .json {
            #expect(result.errorCode == "email_exists", "\(result)")
            #expect(result.errorField == "ownerEmail")
        } else {
            #expect(result.stderr.contains("--allowExistingUser"), "\(result)")
        }
        #expect(try db.rowCounts() == before)
    }

    @Test("Dry run with --allowExistingUser plans to link the existing user")
    func plansLinkingExistingUser() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.production, databaseURL: db.url).status == 0)
        let before = try db.rowCounts()
        let result = try ProvisionBinary.run(
            Runbook.tenant("pilot-two", owner: "owner@pilot.example.com", "--allowExistingUser", "--dryRun", "--json"),
            databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        let owner = try #require(result.jsonOwner, "\(result)")
        #expect(owner["created"] as? Bool == false)
        #expect(owner["id"] as? String == (try db.scalar("SELECT id FROM users")), "the existing user's id")
        #expect(result.jsonCredentials.isEmpty)
        #expect(try db.rowCounts() == before)
    }

    @Test("Without DATABASE_URL a valid plan passes (exit 0) and says conflict checks were skipped",
          arguments: OutputMode.allCases)
    func withoutDatabaseValidPlan(mode: OutputMode) throws {
        for arguments in [Runbook.dryRun, Runbook.staging + ["--dryRun"]] {
            let result = try ProvisionBinary.run(mode.apply(arguments), databaseURL: nil)
            #expect(result.status == 0, "\(result)")
            switch mode {
            case .human:
                #expect(result.stderr.contains("skipped"), "stderr says conflict checks were skipped: \(result)")
                #expect(!result.stdout.contains("skipped"), "warnings go to stderr: \(result)")
            case .json:
                #expect(result.json?["dryRun"] as? Bool == true, "\(result)")
                #expect(result.jsonWarnings.contains { $0.contains("skipped") }, "warnings say conflict checks were skipped: \(result)")
            }
            #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty)
        }
    }

    @Test("Without DATABASE_URL bad input still fails (exit 2)", arguments: [
        BadInput("tenantSlug", "Pilot", hint: "pilot"), BadInput("tenantSlug", "admin"), BadInput("ownerEmail", "owner@"),
        BadInput("timeZone", "MST"), BadInput("supportPhone", "+1 555 CALL NOW"), BadInput("tenantName", " "),
    ])
    func withoutDatabaseBadInput(_ input: BadInput) throws {
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(input.arguments + ["--dryRun"]), databaseURL: nil)
            try expectInvalidInput(result, field: input.field, hint: input.messageHint, mode: mode)
        }
    }
}
