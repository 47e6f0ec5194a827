import Foundation
import ProvisionTestSupport
import Testing

// CONTRACT §13: a plan binds what was reviewed: every value to be written, the database
// (by the identity migrate stored in it), the code, and, with --allowedSigners, who
// reviewed it. Each case here is one way a reviewed plan used to apply something else.

/// A key pair made with ssh-keygen, and an allowed-signers file naming its principal.
private struct Signer {
    let key: String
    let principal: String

    init(_ name: String, in scratch: Scratch) throws {
        key = scratch.path(name)
        principal = "\(name)@reviewers.example"
        try Self.sshKeygen(["-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", key])
    }

    /// `ssh-keygen -Y sign -n NAMESPACE -f KEY PLAN`, which writes PLAN.sig.
    func sign(_ plan: String, namespace: String = "provision-plan") throws {
        try? FileManager.default.removeItem(atPath: plan + ".sig")
        try Self.sshKeygen(["-q", "-Y", "sign", "-n", namespace, "-f", key, plan])
    }

    /// An allowed-signers line: this principal may sign plans with this key.
    var allowedLine: String {
        get throws {
            let publicKey = try String(contentsOfFile: key + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            return "\(principal) namespaces=\"provision-plan\" \(publicKey)"
        }
    }

    static func sshKeygen(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "ssh-keygen \(arguments.joined(separator: " "))")
    }
}

/// Rewrites a plan's JSON the way someone editing it would, recomputing its hash
/// (`resign`), for the cases only an edit can produce.
private func edit(_ plan: String, in db: TestDatabase, _ change: (inout [String: Any]) -> Void) throws {
    try resign(plan, in: db, change)
}

@Suite("Plans bind what was reviewed (format 2)")
struct PlanBindingTests {
    static func stale(_ result: ProvisionBinary.Result) -> [String] { PlanTests.stale(result) }

    /// A playbook whose values come from a data file and the environment.
    static func wave(in scratch: Scratch) throws -> String {
        try scratch.write("pilots.csv", "slug,name\nwave-one,Wave One\n")
        return try scratch.write("wave.lua", """
            local p = require "provision"
            for _, row in ipairs(p.readCSV(p.vars.csv)) do
              local t = p.createTenant{ slug = row.slug, name = row.name, timeZone = os.getenv("PILOT_TZ"),
                                        supportEmail = "help@" .. row.slug .. ".example" }
              local u = p.createOwner{ email = "owner@" .. row.slug .. ".example", name = os.getenv("PILOT_OWNER") }
              p.linkMembership{ tenant = t, user = u, role = "OWNER" }
            end
            """)
    }

    @Test("a data file or an environment value that changes a value to be written makes the plan stale, naming the field; nothing is written")
    func valuesAreBound() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let playbook = try Self.wave(in: scratch)
        let plan = scratch.path("wave.plan")
        let environment = ["PILOT_TZ": "America/Edmonton", "PILOT_OWNER": "Olive Owner"]
        let dry = try ProvisionBinary.run(["run", playbook, "--var", "csv=\(scratch.path("pilots.csv"))", "--dryRun", "--planFile", plan],
                                          databaseURL: db.url, environment: environment)
        try #require(dry.status == 0, "\(dry)")
        let before = try db.rowCounts()

        // The same slugs (the same actions), another name: once only a sentence was compared.
        try scratch.write("pilots.csv", "slug,name\nwave-one,Wave Uno\n")
        let renamed = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url, environment: environment)
        #expect(renamed.status == 4 && renamed.errorCode == "plan_stale", "\(renamed)")
        try ContractSchema.validate(renamed.stdout, as: .error)
        #expect(Self.stale(renamed).contains("create_tenant wave-one: name: 'Wave One' planned, 'Wave Uno' now"), "\(Self.stale(renamed))")
        try scratch.write("pilots.csv", "slug,name\nwave-one,Wave One\n")

        let otherZone = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url,
                                                environment: ["PILOT_TZ": "America/Toronto", "PILOT_OWNER": "Olive Owner"])
        #expect(otherZone.status == 4 && Self.stale(otherZone).contains("create_tenant wave-one: timeZone: 'America/Edmonton' planned, 'America/Toronto' now"),
                "\(otherZone)")
        let otherOwner = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url, environment: ["PILOT_TZ": "America/Edmonton"])
        #expect(otherOwner.status == 4 && Self.stale(otherOwner).contains("create_user owner@wave-one.example: name: 'Olive Owner' planned, none now"),
                "\(otherOwner)")
        #expect(try db.rowCounts() == before, "no refused apply wrote anything")

        let applied = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url, environment: environment)
        #expect(applied.status == 0, "\(applied)")
        #expect(try db.scalar("SELECT name || ' ' || time_zone FROM tenants WHERE slug = 'wave-one'") == "Wave One America/Edmonton")
    }

    @Test("another database behind the same connection string is stale, naming both; the same database reached another way applies")
    func theDatabaseIsBound() throws {
        let staging = try TestDatabase.create()
        let production = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        // One service name, two service files: what `service=staging` and
        // `service=production` with one text (or a changed pg_service.conf) amount to.
        func serviceFile(_ name: String, for db: TestDatabase) throws -> String {
            let components = try #require(URLComponents(string: db.url))
            let query = Dictionary(uniqueKeysWithValues: (components.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            var lines = ["[pilot]", "dbname=\(db.name)"]
            if let host = query["host"] ?? components.host, !host.isEmpty { lines.append("host=\(host)") }
            if let port = query["port"] ?? components.port.map(String.init) { lines.append("port=\(port)") }
            if let user = components.user { lines.append("user=\(user)") }
            return try scratch.write(name, lines.joined(separator: "\n") + "\n")
        }
        let stagingFile = try serviceFile("staging.conf", for: staging)
        let productionFile = try serviceFile("production.conf", for: production)
        let plan = scratch.path("pilot.plan")
        let dry = try ProvisionBinary.run(["tenant", "--tenantSlug", "bound-db", "--tenantName", "Bound", "--ownerEmail", "o@bound.example",
                                           "--supportEmail", "help@bound.example", "--dryRun", "--planFile", plan],
                                          databaseURL: "service=pilot", environment: ["PGSERVICEFILE": stagingFile])
        try #require(dry.status == 0, "\(dry)")
        let stagingIdentity = try #require(try staging.scalar("SELECT provision_database_identity()::text"))
        let productionIdentity = try #require(try production.scalar("SELECT provision_database_identity()::text"))
        #expect(stagingIdentity != productionIdentity, "each database has an identity of its own")

        let elsewhere = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: "service=pilot", environment: ["PGSERVICEFILE": productionFile])
        #expect(elsewhere.status == 4 && elsewhere.errorCode == "plan_stale", "\(elsewhere)")
        let reason = Self.stale(elsewhere).first { $0.hasPrefix("plan made against another database") } ?? ""
        #expect(reason.contains(stagingIdentity) && reason.contains(productionIdentity) && reason.contains(staging.name) && reason.contains(production.name),
                "both targets named: \(Self.stale(elsewhere))")
        #expect(try !production.tenantExists("bound-db"))

        // The same database by another connection string: a URI instead of a service.
        let url = TestServers.pgbouncer.map { TestServers.url($0, database: staging.name) } ?? staging.url
        let applied = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: url)
        #expect(applied.status == 0, "\(applied)")
        #expect(try staging.tenantExists("bound-db"))
    }

    @Test("--allowedSigners: a plan signed by an allowed signer applies; unsigned, forged after signing, signed by another key or for another purpose is plan_untrusted (4)")
    func signedPlans() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let alice = try Signer("alice", in: scratch)
        let mallory = try Signer("mallory", in: scratch)
        let allowed = try scratch.write("allowed_signers", try alice.allowedLine + "\n")
        let plan = try PlanTests.tenantPlan("signed", in: db, scratch: scratch)
        let before = try db.rowCounts()
        func apply() throws -> ProvisionBinary.Result {
            let result = try ProvisionBinary.run(["apply", plan, "--allowedSigners", allowed, "--json"], databaseURL: db.url)
            try ContractSchema.validate(result.stdout, as: result.status == 0 ? .run : .error)
            return result
        }

        let unsigned = try apply()
        #expect(unsigned.status == 4 && unsigned.errorCode == "plan_untrusted" && unsigned.errorMessage?.contains("is not signed") == true, "\(unsigned)")

        try mallory.sign(plan)
        let stranger = try apply()
        #expect(stranger.status == 4 && stranger.errorCode == "plan_untrusted" && stranger.errorMessage?.contains("no principal in") == true, "\(stranger)")

        try alice.sign(plan, namespace: "file")
        let otherPurpose = try apply()
        #expect(otherPurpose.status == 4 && otherPurpose.errorCode == "plan_untrusted", "\(otherPurpose)")

        // Signed, then forged: a reviewer's name put in and the checksum recomputed.
        try alice.sign(plan)
        let shown = try ProvisionBinary.run(["show-plan", plan, "--allowedSigners", allowed, "--json"], databaseURL: db.url)
        #expect(shown.status == 0, "\(shown)")
        try ContractSchema.validate(shown.stdout, as: .plan)
        let signature = shown.json?["signature"] as? [String: Any]
        #expect(signature?["status"] as? String == "signed" && signature?["signer"] as? String == alice.principal, "\(shown)")
        let text = try ProvisionBinary.run(["show-plan", plan, "--allowedSigners", allowed], databaseURL: db.url)
        #expect(text.stdout.contains("Signed by \(alice.principal)"), "\(text)")
        let original = try Data(contentsOf: URL(fileURLWithPath: plan))
        try edit(plan, in: db) { $0["createdBy"] = "alice (reviewer)" }
        let forged = try apply()
        #expect(forged.status == 4 && forged.errorCode == "plan_untrusted" && forged.errorMessage?.contains("does not verify") == true, "\(forged)")
        #expect(try db.rowCounts() == before, "no untrusted plan wrote anything")

        try original.write(to: URL(fileURLWithPath: plan))
        let applied = try apply()
        #expect(applied.status == 0 && applied.stderr.contains("signed by \(alice.principal)"), "\(applied)")
        #expect(try db.tenantExists("signed"))

        let missing = try ProvisionBinary.run(["apply", plan, "--allowedSigners", scratch.path("nope"), "--json"], databaseURL: db.url)
        #expect(missing.status == 2 && missing.errorField == "allowedSigners", "\(missing)")
    }

    @Test("a plan dated in the future is refused; a format-1 plan is refused with the remedy of planning again")
    func futureAndOldFormat() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let plan = try PlanTests.tenantPlan("future", in: db, scratch: scratch)
        try edit(plan, in: db) { $0["createdAt"] = "2099-01-01T00:00:00Z" }
        let future = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(future.status == 4 && Self.stale(future).contains { $0.hasPrefix("plan is dated in the future (made 2099-01-01T00:00:00Z") }, "\(future)")
        #expect(try !db.tenantExists("future"))

        try edit(plan, in: db) { $0["format"] = "provision-plan/1" }
        let old = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(old.status == 2 && old.errorField == "plan" && old.errorMessage?.contains("make a new plan with --dryRun --planFile") == true, "\(old)")
    }

    @Test("rewording an action's text leaves a plan valid: only kinds and values are compared")
    func textIsNotCompared() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let plan = try PlanTests.tenantPlan("reworded", in: db, scratch: scratch)
        try edit(plan, in: db) { plan in
            plan["actions"] = (plan["actions"] as? [[String: Any]] ?? []).map { action in
                var action = action
                action["text"] = "an older wording of \(action["kind"] ?? "")"
                return action
            }
        }
        let applied = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)
        #expect(applied.status == 0, "\(applied)")
        #expect(try db.tenantExists("reworded"))
    }

    @Test("show-plan of a plan whose hash does not match exits 2 in text and JSON and never says to apply it; a dry run's plan points at review and apply")
    func reviewWording() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.path("words.plan")
        let dry = try ProvisionBinary.run(["tenant", "--tenantSlug", "words", "--tenantName", "Words", "--ownerEmail", "o@words.example",
                                           "--dryRun", "--planFile", path], databaseURL: db.url)
        #expect(dry.status == 0 && !dry.stdout.contains("without --dryRun") && dry.stdout.contains("provision apply \(path)"), "\(dry)")
        #expect(dry.stdout.contains("provision show-plan \(path)"), "\(dry)")

        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"Words\"", with: "\"Wordz\"").write(toFile: path, atomically: true, encoding: .utf8)
        let shown = try ProvisionBinary.run(["show-plan", path], databaseURL: db.url)
        #expect(shown.status == 2 && shown.stdout.contains("does NOT match") && !shown.stdout.contains("apply it with"), "\(shown)")
        let json = try ProvisionBinary.run(["show-plan", path, "--json"], databaseURL: db.url)
        #expect(json.status == 2 && json.json?["verified"] as? Bool == false, "\(json)")
        try ContractSchema.validate(json.stdout, as: .plan)
    }
}
