import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §8 "Plans": a dry run's --planFile, provision show-plan and provision apply.

extension TestDatabase {
    /// A DATABASE_URL for this database that carries a password (the test server trusts
    /// local connections and ignores it): what a plan must never contain.
    var urlWithPassword: String {
        var components = URLComponents(string: url)!
        components.password = "plan-s3cret-Pa55"
        return components.string!
    }
}

/// Rewrites a plan the way someone editing it by hand and recomputing its hash would (the
/// canonical JSON's SHA-256, as provision computes it): for staleness reasons that cannot
/// be produced any other way in a test (an older schema, another binary, an old plan).
func resign(_ path: String, in db: TestDatabase, _ change: (inout [String: Any]) -> Void) throws {
    var plan = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    change(&plan)
    plan["hash"] = ""
    let canonical = try JSONSerialization.data(withJSONObject: plan, options: [.sortedKeys, .withoutEscapingSlashes])
    let hex = canonical.map { String(format: "%02x", $0) }.joined()
    plan["hash"] = try db.scalar("SELECT encode(sha256('\\x\(hex)'::bytea), 'hex')") ?? ""
    try JSONSerialization.data(withJSONObject: plan, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        .write(to: URL(fileURLWithPath: path))
}

@Suite("Plans: --planFile, show-plan, apply")
struct PlanTests {
    static func tenantPlan(_ slug: String, in db: TestDatabase, scratch: Scratch, url: String? = nil) throws -> String {
        let path = scratch.path("\(slug).plan")
        let result = try ProvisionBinary.run(["tenant", "--tenantSlug", slug, "--tenantName", "Plan \(slug)", "--ownerEmail", "owner@\(slug).example",
                                              "--supportEmail", "help@\(slug).example", "--dryRun", "--planFile", path], databaseURL: url ?? db.url)
        try #require(result.status == 0, "\(result)")
        #expect(result.stderr.contains("Plan written to \(path)"), "\(result)")
        return path
    }

    static func stale(_ result: ProvisionBinary.Result) -> [String] {
        ((result.json?["error"] as? [String: Any])?["problems"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
    }

    @Test("a tenant's plan: 0600, readable, no secret; apply creates exactly it with a fresh password; a second apply is stale, naming who took the slug")
    func tenant() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let before = try db.rowCounts()
        let plan = try Self.tenantPlan("planned", in: db, scratch: scratch, url: db.urlWithPassword)

        #expect(try db.rowCounts() == before, "the dry run wrote nothing")
        let attributes = try FileManager.default.attributesOfItem(atPath: plan)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let text = try String(contentsOfFile: plan, encoding: .utf8)
        #expect(!text.contains("plan-s3cret-Pa55") && !text.contains("s3cret"), "no part of the DATABASE_URL password")
        #expect(!text.contains("argon2") && Passwords.occurrences(in: text).isEmpty, "no password or hash")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let actions = try #require(json["actions"] as? [[String: Any]])
        #expect(actions.map { $0["kind"] as? String } == ["create_tenant", "create_user", "link_membership"])
        #expect(actions.map { $0["text"] as? String } == ["create tenant planned", "create user owner@planned.example with a one-time password",
                                                          "add owner@planned.example to planned as OWNER"])
        #expect((actions[0]["values"] as? [String: Any])?["supportEmail"] as? String == "help@planned.example", "every value to be written")
        #expect(((json["database"] as? [String: Any])?["identity"] as? String) == (try db.scalar("SELECT provision_database_identity()::text")))
        #expect((json["preconditions"] as? [[String: Any]])?.count == 2, "slug and email absent: \(json)")
        #expect(json["schemaVersion"] as? Int == 4 && json["command"] as? String == "tenant")

        let shown = try ProvisionBinary.run(["show-plan", plan], databaseURL: db.url)
        #expect(shown.status == 0 && shown.stdout.contains("  + create tenant planned") && shown.stdout.contains("no tenant has the slug planned")
                && shown.stdout.contains("hash matches"), "\(shown)")
        let shownJSON = try ProvisionBinary.run(["show-plan", plan, "--json"], databaseURL: nil)
        #expect(shownJSON.status == 0 && shownJSON.json?["verified"] is NSNull, "\(shownJSON)")
        try ContractSchema.validate(shownJSON.stdout, as: .plan)

        let applied = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.urlWithPassword)
        #expect(applied.status == 0, "\(applied)")
        try ContractSchema.validate(applied.stdout, as: .run)
        #expect((applied.json?["actions"] as? [[String: Any]])?.map { $0["kind"] as? String } == actions.map { $0["kind"] as? String },
                "exactly the planned actions")
        let password = try #require(applied.password(of: "owner@planned.example"), "a password made at apply: \(applied)")
        #expect(PasswordHash.verify(password, against: try #require(try db.passwordHash(of: "owner@planned.example"))))
        #expect(try db.tenantExists("planned"))
        let runId = try #require(applied.json?["runId"] as? String)

        let again = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(again.status == 4 && again.errorCode == "plan_stale", "\(again)")
        try ContractSchema.validate(again.stdout, as: .error)
        let reasons = Self.stale(again)
        #expect(reasons.contains { $0.hasPrefix("tenant slug planned now exists (created ") && $0.contains("by e2e-test, run \(runId))") }, "\(reasons)")
        #expect(reasons.contains { $0.hasPrefix("user owner@planned.example now exists") }, "\(reasons)")
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug = 'planned'") == 1)
    }

    @Test("a playbook's plan: apply refuses when the playbook or a module it required changed, or when it would act differently; nothing written")
    func playbook() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("names.lua", "return { suffix = ' Pilot' }")
        try scratch.write("pilots.csv", "slug\nwave-one\n")
        let playbook = try scratch.write("wave.lua", """
            local p = require "provision"
            local names = require "names"
            for _, row in ipairs(p.readCSV(p.vars.csv)) do
              local t = p.createTenant{ slug = row.slug, name = row.slug .. names.suffix, supportEmail = "help@wave.example" }
              local u = p.createOwner{ email = "owner@" .. row.slug .. ".example" }
              p.linkMembership{ tenant = t, user = u, role = "OWNER" }
            end
            """)
        let plan = scratch.path("wave.plan")
        let dry = try ProvisionBinary.run(["run", playbook, "--var", "csv=\(scratch.path("pilots.csv"))", "--dryRun", "--planFile", plan], databaseURL: db.url)
        try #require(dry.status == 0, "\(dry)")
        let before = try db.rowCounts()

        // One more row in the data: an action the plan does not have.
        try scratch.write("pilots.csv", "slug\nwave-one\nwave-two\n")
        let extra = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(extra.status == 4 && extra.errorCode == "plan_stale", "\(extra)")
        #expect(Self.stale(extra).contains("not planned, but the playbook would do it now: create tenant wave-two"), "\(Self.stale(extra))")
        #expect(try db.rowCounts() == before)
        try scratch.write("pilots.csv", "slug\nwave-one\n")

        try scratch.write("names.lua", "return { suffix = ' School' }")
        let module = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(module.status == 4 && Self.stale(module).contains { $0.hasPrefix("module names.lua changed since the plan (sha256 ") }, "\(module)")
        try scratch.write("names.lua", "return { suffix = ' Pilot' }")

        let original = try String(contentsOfFile: playbook, encoding: .utf8)
        try scratch.write("wave.lua", original + "\n-- edited\n")
        let edited = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(edited.status == 4 && Self.stale(edited).contains { $0.hasPrefix("playbook wave.lua changed since the plan") }, "\(edited)")
        #expect(try db.rowCounts() == before, "nothing written by any refused apply")

        // Back as planned: it applies, with the planned tenant, Owner and a fresh password.
        try scratch.write("wave.lua", original)
        let applied = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(applied.status == 0, "\(applied)")
        #expect(try db.slugs() == ["wave-one"] && db.ownerEmail(of: "wave-one") == "owner@wave-one.example")
        let password = try #require(applied.password(of: "owner@wave-one.example"), "\(applied)")
        #expect(PasswordHash.verify(password, against: try #require(try db.passwordHash(of: "owner@wave-one.example"))))
    }

    @Test("a batch's plan applies as planned; an edited CSV is named")
    func batch() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "batch-a,A,a@batch.example", "batch-b,B,b@batch.example"])
        let plan = scratch.path("batch.plan")
        #expect(try ProvisionBinary.batch(file, ["--dryRun", "--planFile", plan], in: db).status == 0)

        let applied = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url, workingDirectory: "/")
        #expect(applied.status == 0, "applied from another folder: \(applied)")
        let slugs = try db.slugs()
        #expect(applied.credentials.count == 2 && slugs == ["batch-a", "batch-b"], "\(applied)")

        let second = scratch.path("second.plan")
        let more = try scratch.csv([requiredHeader, "batch-c,C,c@batch.example"], name: "more.csv")
        #expect(try ProvisionBinary.batch(more, ["--dryRun", "--planFile", second], in: db).status == 0)
        try scratch.csv([requiredHeader, "batch-c,C Changed,c@batch.example"], name: "more.csv")
        let changed = try ProvisionBinary.run(["apply", second, "--json"], databaseURL: db.url)
        #expect(changed.status == 4 && Self.stale(changed).contains { $0.hasPrefix("file more.csv changed since the plan") }, "\(changed)")
    }

    @Test("an edited plan is invalid (2); another schema version, another binary and an old plan are stale (4), each named")
    func tamperedAndStale() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let plan = try Self.tenantPlan("stale-one", in: db, scratch: scratch)
        let before = try db.rowCounts()

        let original = try String(contentsOfFile: plan, encoding: .utf8)
        try original.replacingOccurrences(of: "Plan stale-one", with: "Plan Stale Two").write(toFile: plan, atomically: true, encoding: .utf8)
        let edited = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(edited.status == 2 && edited.errorCode == "invalid_input" && edited.errorField == "plan", "\(edited)")
        #expect(edited.errorMessage?.contains("was edited after it was written") == true, "\(edited)")
        let shown = try ProvisionBinary.run(["show-plan", plan], databaseURL: db.url)
        #expect(shown.status == 2 && shown.stdout.contains("does NOT match"), "\(shown)")

        try original.write(toFile: plan, atomically: true, encoding: .utf8)
        try resign(plan, in: db) { plan in
            plan["schemaVersion"] = 2
            plan["provisionVersion"] = "0.1.0"
            plan["createdAt"] = "2026-01-01T00:00:00Z"
        }
        let stale = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(stale.status == 4 && stale.errorCode == "plan_stale", "\(stale)")
        let reasons = Self.stale(stale)
        #expect(reasons.contains("schema version 4, plan made at 2"), "\(reasons)")
        #expect(reasons.contains { $0.hasPrefix("plan made by provision 0.1.0, this is provision ") }, "\(reasons)")
        #expect(reasons.contains { $0.hasPrefix("plan is ") && $0.contains("hours old (made 2026-01-01T00:00:00Z; at most 24 hours") }, "\(reasons)")
        #expect(try db.rowCounts() == before)

        let garbage = try scratch.write("garbage.plan", "{\"format\": \"something\"}")
        let notAPlan = try ProvisionBinary.run(["apply", garbage, "--json"], databaseURL: db.url)
        #expect(notAPlan.status == 2 && notAPlan.errorField == "plan", "\(notAPlan)")
    }

    @Test("--planFile is only for a dry run with a database, at a new path")
    func refused() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let base = ["tenant", "--tenantSlug", "refused-plan", "--tenantName", "R", "--ownerEmail", "o@refused-plan.example", "--json", "--planFile"]
        let notDry = try ProvisionBinary.run(base + [scratch.path("a.plan")], databaseURL: db.url)
        #expect(notDry.status == 2 && notDry.errorField == "planFile", "\(notDry)")
        let noDatabase = try ProvisionBinary.run(base + [scratch.path("a.plan"), "--dryRun"], databaseURL: nil)
        #expect(noDatabase.status == 4 && noDatabase.errorField == "planFile", "\(noDatabase)")
        let exists = try scratch.write("exists.plan", "keep\n")
        let taken = try ProvisionBinary.run(base + [exists, "--dryRun"], databaseURL: db.url)
        let kept = try String(contentsOfFile: exists, encoding: .utf8)
        #expect(taken.status == 2 && kept == "keep\n", "\(taken)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("a.plan")))
        #expect(try !db.tenantExists("refused-plan"))
    }

    @Test("an old plan is refused after --maxPlanAge")
    func expired() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let plan = try Self.tenantPlan("aging", in: db, scratch: scratch)
        Thread.sleep(forTimeInterval: 4)
        let result = try ProvisionBinary.run(["apply", plan, "--maxPlanAge", "0.001", "--json"], databaseURL: db.url)
        #expect(result.status == 4 && Self.stale(result).contains { $0.hasPrefix("plan is ") && $0.contains("seconds old") }, "\(result)")
        #expect(try !db.tenantExists("aging"))
    }
}
