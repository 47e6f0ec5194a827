import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// CONTRACT §8, the fleet after go-live: list, show, check --all/--only, the safe delete,
// and drift-aware re-runs, through the binary against a real PostgreSQL.

extension TestDatabase {
    /// Rows a platform would insert for a tenant: one of each kind, a parent with a portal
    /// login linked to a student.
    func addPlatformRows(to slug: String, parentLogin email: String) throws {
        try connect().run(fixture: """
            WITH t AS (SELECT id FROM tenants WHERE slug = \(literal(slug))),
            c AS (INSERT INTO centers (tenant_id, name, time_zone) SELECT id, 'Main', 'America/Edmonton' FROM t RETURNING tenant_id, id),
            l AS (INSERT INTO levels (tenant_id, name) SELECT id, 'Level 1' FROM t RETURNING id),
            p AS (INSERT INTO programs (tenant_id, name) SELECT id, 'Program' FROM t RETURNING tenant_id, id),
            g AS (INSERT INTO "groups" (tenant_id, name, center_id, program_id) SELECT c.tenant_id, 'Group', c.id, p.id FROM c, p RETURNING id),
            u AS (INSERT INTO users (email, must_change_password) VALUES (\(literal(email)), false) RETURNING id),
            pa AS (INSERT INTO parents (tenant_id, full_name, user_id, email) SELECT t.id, 'Parent', u.id, \(literal(email)) FROM t, u RETURNING tenant_id, id),
            s AS (INSERT INTO students (tenant_id, full_name, center_id) SELECT c.tenant_id, 'Student', c.id FROM c RETURNING tenant_id, id)
            INSERT INTO student_parents (tenant_id, student_id, parent_id) SELECT s.tenant_id, s.id, pa.id FROM s, pa
            """)
    }

    /// The user replaced the one-time password (as the platform does at first login).
    func markLoggedIn(_ email: String) throws {
        try connect().run(fixture: "UPDATE users SET must_change_password = false, password_expires_at = NULL WHERE lower(email) = lower(\(literal(email)))")
    }

    func expireOneTimePassword(of email: String) throws {
        try connect().run(fixture: "UPDATE users SET password_expires_at = now() - interval '1 hour' WHERE lower(email) = lower(\(literal(email)))")
    }
}

@Suite("provision list and provision show")
struct ListShowTests {
    @Test("on an empty database: list says so (JSON: no tenants); show of any slug is 4 not_found")
    func empty() throws {
        let db = try TestDatabase.create()

        let text = try ProvisionBinary.run(["list"], databaseURL: db.url)
        #expect(text.status == 0 && text.stdout.contains("No tenants yet"), "\(text)")
        let json = try ProvisionBinary.run(["list", "--json"], databaseURL: db.url)
        #expect(json.status == 0, "\(json)")
        try ContractSchema.validate(json.stdout, as: .list)
        #expect(json.json?["count"] as? Int == 0 && (json.json?["tenants"] as? [Any])?.isEmpty == true)

        let show = try ProvisionBinary.run(["show", "--tenantSlug", "nowhere", "--json"], databaseURL: db.url)
        #expect(show.status == 4 && show.errorCode == "not_found" && show.errorField == "tenantSlug", "\(show)")
        let missing = try ProvisionBinary.run(["show"], databaseURL: db.url)
        #expect(missing.status == 2 && missing.stderr.contains("--tenantSlug"), "\(missing)")
    }

    @Test("list: every tenant by slug with each Owner's password state (pending with expiry, expired, changed)")
    func populatedList() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("b-pending", owner: "pending@fleet.example", in: db)
        try ProvisionBinary.tenant("a-expired", owner: "expired@fleet.example", in: db)
        try ProvisionBinary.tenant("c-changed", owner: "changed@fleet.example", in: db)
        try db.expireOneTimePassword(of: "expired@fleet.example")
        try db.markLoggedIn("changed@fleet.example")

        let json = try ProvisionBinary.run(["list", "--json"], databaseURL: db.url)
        #expect(json.status == 0, "\(json)")
        try ContractSchema.validate(json.stdout, as: .list)
        let tenants = json.json?["tenants"] as? [[String: Any]] ?? []
        #expect(tenants.map { ($0["tenant"] as? [String: Any])?["slug"] as? String } == ["a-expired", "b-pending", "c-changed"])
        let states = tenants.map { (($0["owners"] as? [[String: Any]])?.first?["password"] as? [String: Any])?["state"] as? String }
        #expect(states == ["one-time expired", "one-time pending", "changed"], "\(tenants)")
        let pending = (tenants[1]["owners"] as? [[String: Any]])?.first?["password"] as? [String: Any]
        #expect(pending?["expiresAt"] is String, "a pending password's expiry: \(String(describing: pending))")

        let text = try ProvisionBinary.run(["list"], databaseURL: db.url)
        #expect(text.status == 0, "\(text)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("SLUG") == true, "\(text.stdout)")
        #expect(lines.contains { $0.hasPrefix("a-expired ") && $0.contains("expired@fleet.example") && $0.contains("one-time expired") }, "\(text.stdout)")
        #expect(lines.contains { $0.hasPrefix("b-pending ") && $0.contains("one-time pending, expires ") }, "\(text.stdout)")
        #expect(lines.contains { $0.hasPrefix("c-changed ") && $0.hasSuffix("changed") }, "\(text.stdout)")
        #expect(text.stdout.contains("3 tenants"))
    }

    @Test("show: fields, members with roles and password states, platform row counts, latest audit events with run ids")
    func populatedShow() throws {
        let db = try TestDatabase.create()
        let created = try ProvisionBinary.tenant("shown", owner: "owner@shown.example", ["--supportEmail", "help@shown.example",
                                                                                          "--timeZone", "America/Edmonton", "--json"], in: db)
        let runId = try #require(created.json?["runId"] as? String)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let admin = try scratch.write("admin.lua", """
            local p = require "provision"
            local u = p.createOwner{ email = "admin@shown.example", name = "Ada Admin" }
            p.linkMembership{ tenant = "shown", user = u, role = "ADMIN" }
            """)
        #expect(try ProvisionBinary.run(["run", admin], databaseURL: db.url).status == 0)
        try db.addPlatformRows(to: "shown", parentLogin: "parent@shown.example")

        let json = try ProvisionBinary.run(["show", "--tenantSlug", "shown", "--json"], databaseURL: db.url)

        #expect(json.status == 0, "\(json)")
        try ContractSchema.validate(json.stdout, as: .show)
        let document = try #require(json.json)
        #expect((document["tenant"] as? [String: Any])?["supportEmail"] as? String == "help@shown.example")
        let members = document["members"] as? [[String: Any]] ?? []
        #expect(members.map { $0["role"] as? String } == ["OWNER", "ADMIN"], "\(members)")
        #expect(members.map { $0["email"] as? String } == ["owner@shown.example", "admin@shown.example"])
        let rows = document["platformRows"] as? [String: Int] ?? [:]
        #expect(rows == ["centers": 1, "levels": 1, "programs": 1, "groups": 1, "students": 1, "parents": 1], "\(rows)")
        let events = document["recentEvents"] as? [[String: Any]] ?? []
        #expect(events.first?["action"] as? String == "membership.create", "newest first: \(events)")
        #expect(events.contains { $0["action"] as? String == "tenant.create" && $0["runId"] as? String == runId && $0["actor"] as? String == "e2e-test" })
        #expect(events.contains { $0["action"] as? String == "user.create" && $0["userEmail"] as? String == "admin@shown.example" })

        let text = try ProvisionBinary.run(["show", "--tenantSlug", "shown"], databaseURL: db.url)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("support     help@shown.example"), "\(text.stdout)")
        #expect(text.stdout.contains("Platform rows: 1 centers, 1 levels, 1 programs, 1 groups, 1 students, 1 parents"), "\(text.stdout)")
        #expect(text.stdout.split(separator: "\n").contains { $0.contains("ADMIN") && $0.contains("admin@shown.example") && $0.contains("Ada Admin") && $0.contains("one-time pending") })
        #expect(text.stdout.contains(runId), "the run id of the audit events")
        #expect(Passwords.occurrences(in: json.stdout + text.stdout).isEmpty, "no password, ever")
        #expect(!(json.stdout + text.stdout).contains("argon2"), "no hash, ever")
    }
}

@Suite("provision check --all and --only")
struct CheckAllTests {
    /// A tenant every built-in check passes: set up as the runbook's post-provision steps say.
    static func readyTenant(_ slug: String, in db: TestDatabase) throws {
        try ProvisionBinary.tenant(slug, owner: "owner@\(slug).example", ["--supportEmail", "help@\(slug).example", "--timeZone", "UTC"], in: db)
        try db.markLoggedIn("owner@\(slug).example")
        try db.addPlatformRows(to: slug, parentLogin: "parent@\(slug).example")
    }

    static func brokenChecks(in scratch: Scratch) throws -> String {
        try scratch.write("checks/broken.lua", """
            return {
              id = "broken-for-c",
              title = "Raises for one tenant",
              run = function(ctx)
                if ctx.tenant.slug == "c-broken" then error("boom for " .. ctx.tenant.slug) end
                ctx.pass("fine")
              end,
            }
            """)
        return scratch.path("checks")
    }

    @Test("a passing, a failing and a broken-check tenant: one line each, then the failures with their tenant; exit 1")
    func mixed() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try Self.readyTenant("a-ready", in: db)
        try ProvisionBinary.tenant("b-fresh", owner: "owner@b-fresh.example", in: db)
        try Self.readyTenant("c-broken", in: db)
        let checks = try Self.brokenChecks(in: scratch)

        let text = try ProvisionBinary.run(["check", "--all", "--checks", checks], databaseURL: db.url)

        #expect(text.status == 1, "\(text)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("  ✓ a-ready ") && $0.contains("7 passed") }, "\(text.stdout)")
        #expect(lines.contains { $0.hasPrefix("  ✗ b-fresh ") }, "\(text.stdout)")
        #expect(lines.contains { $0.hasPrefix("  E c-broken ") && $0.contains("6 passed") && $0.contains("1 error") }, "the other checks of c still ran: \(text.stdout)")
        #expect(lines.contains { $0.contains("b-fresh") && $0.contains("catalog") }, "failing checks named with their tenant and id: \(text.stdout)")
        #expect(lines.contains { $0.contains("c-broken") && $0.contains("broken-for-c") && $0.contains("boom for c-broken") }, "\(text.stdout)")
        #expect(!lines.contains { $0.contains("a-ready") && $0.contains("✗") })
        #expect(text.stdout.contains("1 of 3 tenants ready, 2 with failing checks"), "\(text.stdout)")

        let json = try ProvisionBinary.run(["check", "--all", "--checks", checks, "--json"], databaseURL: db.url)
        #expect(json.status == 1, "\(json)")
        try ContractSchema.validate(json.stdout, as: .fleetCheck)
        let tenants = json.json?["tenants"] as? [[String: Any]] ?? []
        #expect(tenants.map { ($0["tenant"] as? [String: Any])?["slug"] as? String } == ["a-ready", "b-fresh", "c-broken"])
        #expect((tenants.first?["summary"] as? [String: Any])?["fail"] as? Int == 0)
        let summary = json.json?["summary"] as? [String: Any]
        #expect(summary?["tenants"] as? Int == 3 && summary?["failing"] as? Int == 2, "\(String(describing: summary))")
    }

    @Test("--only runs the named checks, for one tenant or all; ids are shown in text; unknown ids are 2")
    func only() throws {
        let db = try TestDatabase.create()
        try Self.readyTenant("only-ready", in: db)
        try ProvisionBinary.tenant("only-fresh", owner: "owner@only-fresh.example", ["--supportEmail", "help@only.example"], in: db)

        let one = try ProvisionBinary.run(["check", "--tenantSlug", "only-fresh", "--only", "support-contact", "--json"], databaseURL: db.url)
        #expect(one.status == 0, "support contact passes for the fresh tenant: \(one)")
        try ContractSchema.validate(one.stdout, as: .check)
        #expect((one.json?["checks"] as? [[String: Any]])?.map { $0["id"] as? String } == ["support-contact"])

        let two = try ProvisionBinary.run(["check", "--all", "--only", "owner-membership,catalog"], databaseURL: db.url)
        #expect(two.status == 1, "the fresh tenant has no catalog: \(two)")
        #expect(two.stdout.contains("only-ready") && two.stdout.contains("2 passed"), "\(two.stdout)")

        let text = try ProvisionBinary.run(["check", "--tenantSlug", "only-ready"], databaseURL: db.url)
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.split(separator: "\n").contains { $0.hasPrefix("  ✓ owner-password ") }, "check ids in text output: \(text.stdout)")

        let unknown = try ProvisionBinary.run(["check", "--all", "--only", "catalgo", "--json"], databaseURL: db.url)
        #expect(unknown.status == 2 && unknown.errorField == "only", "\(unknown)")
        #expect(unknown.errorMessage?.contains("'catalgo'") == true && unknown.errorMessage?.contains("catalog") == true, "\(unknown)")

        let notFound = try ProvisionBinary.run(["check", "--tenantSlug", "only-missing"], databaseURL: db.url)
        #expect(notFound.status == 4, "\(notFound)")
        let both = try ProvisionBinary.run(["check", "--all", "--tenantSlug", "only-ready", "--json"], databaseURL: db.url)
        #expect(both.status == 2 && both.errorField == "all", "\(both)")
    }
}

@Suite("provision delete: the safe delete")
struct DeleteTests {
    @Test("a fresh tenant: its never-logged-in Owner goes, a shared Owner stays; audited; the dry run lists exactly that and writes nothing")
    func fresh() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("del-home", owner: "shared@del.example", in: db)
        try ProvisionBinary.tenant("del-typo", owner: "typo@del.example", in: db)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let share = try scratch.write("share.lua", """
            local p = require "provision"
            p.linkMembership{ tenant = "del-typo", user = "shared@del.example", role = "ADMIN" }
            """)
        #expect(try ProvisionBinary.run(["run", share], databaseURL: db.url).status == 0)
        let before = try db.rowCounts()

        let dry = try ProvisionBinary.run(["delete", "--tenantSlug", "del-typo", "--dryRun", "--json"], databaseURL: db.url)
        #expect(dry.status == 0, "\(dry)")
        try ContractSchema.validate(dry.stdout, as: .run)
        #expect(try db.rowCounts() == before, "the dry run wrote nothing")
        let plan = (dry.json?["actions"] as? [[String: Any]] ?? []).map { "\($0["kind"] ?? ""): \($0["text"] ?? "")" }
        #expect(plan == ["delete_user: delete user typo@del.example (OWNER; never logged in, no other tenant)",
                         "remove_membership: keep user shared@del.example (a member of 1 other tenant); remove them from del-typo",
                         "delete_tenant: delete tenant del-typo"], "\(plan)")
        #expect(dry.results.first?["status"] as? String == "planned")

        let result = try ProvisionBinary.run(["delete", "--tenantSlug", "del-typo", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect((result.json?["actions"] as? [[String: Any]] ?? []).map { "\($0["kind"] ?? ""): \($0["text"] ?? "")" } == plan,
                "exactly what the dry run listed")
        #expect(result.results.first?["status"] as? String == "deleted")
        #expect((result.json?["summary"] as? [String: Any])?["deleted"] as? Int == 1)
        #expect(try !db.tenantExists("del-typo"))
        #expect(try !db.userExists("typo@del.example"), "the never-logged-in Owner of no other tenant went")
        #expect(try db.userExists("shared@del.example") && db.tenantExists("del-home"), "the shared user and their tenant stay")
        #expect(try db.count("SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'shared@del.example'") == 1)
        let audit = try db.connect().run(fixture: "SELECT detail::text AS d FROM audit_events WHERE action = 'tenant.delete'")
        let detail = try #require(audit.first?["d"] ?? nil)
        #expect(detail.contains("\"deletedUsers\": \"typo@del.example\"") && detail.contains("\"keptUsers\": \"shared@del.example\""), "\(detail)")
        #expect(try db.count("SELECT 1 FROM audit_events WHERE detail->>'slug' = 'del-typo' AND action = 'tenant.create'") == 1, "audit rows stay")

        let again = try ProvisionBinary.run(["delete", "--tenantSlug", "del-typo", "--json"], databaseURL: db.url)
        #expect(again.status == 4 && again.errorCode == "not_found" && again.errorField == "tenantSlug", "\(again)")
    }

    enum InUse: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case center, level, program, group, student, parent, loggedInMember
        var testDescription: String { rawValue }

        func make(_ slug: String, in db: TestDatabase) throws {
            let tenant = "(SELECT id FROM tenants WHERE slug = \(literal(slug)))"
            let sql: String
            switch self {
            case .center: sql = "INSERT INTO centers (tenant_id, name) SELECT \(tenant), 'C1'"
            case .level: sql = "INSERT INTO levels (tenant_id, name) SELECT \(tenant), 'L1'"
            case .program: sql = "INSERT INTO programs (tenant_id, name) SELECT \(tenant), 'P1'"
            case .group: sql = "INSERT INTO \"groups\" (tenant_id, name) SELECT \(tenant), 'G1'"
            case .student: sql = "INSERT INTO students (tenant_id, full_name) SELECT \(tenant), 'S1'"
            case .parent: sql = "INSERT INTO parents (tenant_id, full_name) SELECT \(tenant), 'P1'"
            case .loggedInMember: try db.markLoggedIn("owner@\(slug).example"); return
            }
            try db.connect().run(fixture: sql)
        }

        var reason: String {
            switch self {
            case .loggedInMember: return "1 member has logged in"
            default: return "1 \(rawValue)"
            }
        }
    }

    @Test("refused with 4 tenant_in_use naming the reason; nothing changed", arguments: InUse.allCases)
    func refused(_ inUse: InUse) throws {
        let db = try TestDatabase.create()
        let slug = "in-use-\(inUse.rawValue.lowercased())"
        try ProvisionBinary.tenant(slug, owner: "owner@\(slug).example", in: db)
        try inUse.make(slug, in: db)
        let before = try db.rowCounts()

        for dry in [true, false] {
            let result = try ProvisionBinary.run(["delete", "--tenantSlug", slug, "--json"] + (dry ? ["--dryRun"] : []), databaseURL: db.url)
            #expect(result.status == 4 && result.errorCode == "tenant_in_use", "\(result)")
            #expect(result.errorMessage?.contains(inUse.reason) == true, "\(result)")
            try ContractSchema.validate(result.stdout, as: .error)
        }
        #expect(try db.rowCounts() == before, "nothing deleted")
    }

    @Test("a delete racing an insert into centers: exactly one wins, nothing half-done", arguments: [false, true])
    func race(insertFirst: Bool) throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("racing", owner: "owner@racing.example", in: db)
        let tenant = "(SELECT id FROM tenants WHERE slug = 'racing')"
        if insertFirst {
            // The platform's insert is in flight (uncommitted) when the delete starts.
            let platform = try db.connect()
            try platform.begin()
            try platform.run(fixture: "INSERT INTO centers (tenant_id, name) SELECT \(tenant), 'Late'")
            let child = try Spawned(["delete", "--tenantSlug", "racing", "--json"], databaseURL: db.url)
            try CommitInterruptTests.waitFor("Lock", in: db)
            try platform.commit()
            let (ended, stdout, stderr) = child.finish()
            #expect(ended == .exited(4), "the delete waited, saw the center and refused: \(ended)\n\(stdout)\n\(stderr)")
            #expect(stdout.contains("tenant_in_use") && stdout.contains("1 center"), "\(stdout)")
            #expect(try db.tenantExists("racing") && db.count("SELECT 1 FROM centers") == 1)
        } else {
            // The delete holds the tenant's row; the platform's insert waits for it, then fails.
            let holder = try db.holdCommits(after: "DELETE", lock: 4343)
            let child = try Spawned(["delete", "--tenantSlug", "racing", "--json"], databaseURL: db.url)
            try CommitInterruptTests.waitForCommit(in: db)
            let tenantId = try #require(try db.scalar("SELECT id FROM tenants WHERE slug = 'racing'"))
            let url = db.url
            let insert = ReadInBackground.run {
                do {
                    try Connection(url: url).run(fixture: "INSERT INTO centers (tenant_id, name) VALUES (\(literal(tenantId)), 'Late')")
                    return "inserted"
                } catch {
                    return "\(error)"
                }
            }
            try CommitInterruptTests.waitFor("Lock", in: db, count: 2)
            try holder.run(fixture: "SELECT pg_advisory_unlock(4343)")
            let (ended, stdout, _) = child.finish()
            let outcome = insert.wait()
            #expect(ended == .exited(0), "the delete won: \(ended)\n\(stdout)")
            #expect(outcome != "inserted", "the insert lost: \(outcome)")
            #expect(try !db.tenantExists("racing") && db.count("SELECT 1 FROM centers") == 0, "nothing half-done")
        }
    }
}

@Suite("--skipExisting: unchanged or differs, field by field")
struct DriftTests {
    static let base = ["tenant", "--tenantSlug", "drift", "--tenantName", "Pilot", "--ownerEmail", "owner@drift.example",
                       "--ownerName", "Olive Owner", "--timeZone", "America/Edmonton", "--supportEmail", "help@drift.example",
                       "--supportPhone", "+1 555 123 4567"]

    static func with(_ flag: String, _ value: String?) -> [String] {
        var arguments = base
        guard let index = arguments.firstIndex(of: flag) else { return arguments }
        if let value { arguments[index + 1] = value } else { arguments.removeSubrange(index...(index + 1)) }
        return arguments
    }

    @Test("the same input is unchanged (exit 0); nothing changes")
    func unchanged() throws {
        let db = try TestDatabase.create()
        #expect(try ProvisionBinary.run(Self.base, databaseURL: db.url).status == 0)
        let before = try db.rowCounts()

        let result = try ProvisionBinary.run(Self.base + ["--skipExisting", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.results.first?["status"] as? String == "unchanged")
        #expect(result.credentials.isEmpty)
        #expect(try db.rowCounts() == before)
    }

    @Test("each differing field is named with both values; differs exits 3 and changes nothing",
          arguments: [("tenantName", "Pilot Again"), ("timeZone", "UTC"), ("supportEmail", "other@drift.example"),
                      ("supportPhone", nil), ("ownerName", "Other Owner")] as [(String, String?)])
    func differs(field: String, value: String?) throws {
        let db = try TestDatabase.create()
        #expect(try ProvisionBinary.run(Self.base, databaseURL: db.url).status == 0)
        let before = try db.rowCounts()
        let tenantBefore = try db.column("SELECT concat_ws('|', name, time_zone, support_email, support_phone) FROM tenants")

        let result = try ProvisionBinary.run(Self.with("--\(field)", value) + ["--skipExisting", "--json"], databaseURL: db.url)

        #expect(result.status == 3, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let entry = try #require(result.results.first)
        #expect(entry["status"] as? String == "differs")
        let differences = entry["differences"] as? [[String: Any]] ?? []
        #expect(differences.count == 1 && differences.first?["field"] as? String == field, "\(differences)")
        if let value { #expect(differences.first?["input"] as? String == value) } else { #expect(differences.first?["input"] is NSNull) }
        #expect(try db.rowCounts() == before && db.column("SELECT concat_ws('|', name, time_zone, support_email, support_phone) FROM tenants") == tenantBefore)

        let text = try ProvisionBinary.run(Self.with("--\(field)", value) + ["--skipExisting"], databaseURL: db.url)
        #expect(text.status == 3, "\(text)")
        #expect(text.stdout.contains("differs") && text.stdout.contains("\(field): "), "\(text.stdout)")
        if field == "tenantName" {
            #expect(text.stdout.contains("tenantName: 'Pilot' in the database, 'Pilot Again' in the input"), "\(text.stdout)")
        }
    }

    @Test("a batch re-run reports unchanged and differs rows, exits 3, and changes nothing")
    func batch() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let first = try scratch.csv([fullHeader, "drift-a,A,a@drift.example,,,,,", "drift-b,B,b@drift.example,,,,,"], name: "first.csv")
        #expect(try ProvisionBinary.batch(first, in: db).status == 0)
        let again = try scratch.csv([fullHeader, "drift-a,A,a@drift.example,,,,,", "drift-b,B Renamed,b@drift.example,,,,,",
                                     "drift-c,C,c@drift.example,,,,,"], name: "again.csv")

        let result = try ProvisionBinary.batch(again, ["--skipExisting", "--json"], in: db)

        #expect(result.status == 3, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.results.map { $0["status"] as? String } == ["unchanged", "differs", "created"], "\(result.results)")
        let difference = (result.result("drift-b")?["differences"] as? [[String: Any]])?.first
        #expect(difference?["field"] as? String == "tenantName" && difference?["database"] as? String == "B" && difference?["input"] as? String == "B Renamed")
        #expect(try db.column("SELECT name FROM tenants WHERE slug = 'drift-b'") == ["B"], "nothing changed")
        #expect(try db.tenantExists("drift-c"), "the new row was created")
    }
}

extension CommitInterruptTests {
    /// Waits until `count` sessions of this database wait for a lock of `type` (`Lock`).
    static func waitFor(_ type: String, in db: TestDatabase, count: Int = 1) throws {
        for _ in 0..<600 {
            if try db.count("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = \(literal(type))") >= count { return }
            usleep(50_000)
        }
        Issue.record("no session of this database waited for a \(type)")
    }
}

extension ReadInBackground {
    /// Runs `body` on a thread of its own; `wait()` returns its result.
    static func run(_ body: @escaping @Sendable () -> String) -> BackgroundResult {
        BackgroundResult(body)
    }
}

final class BackgroundResult: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var value = ""

    init(_ body: @escaping @Sendable () -> String) {
        Thread { [self] in
            value = body()
            done.signal()
        }.start()
    }

    func wait() -> String {
        done.wait()
        return value
    }
}
