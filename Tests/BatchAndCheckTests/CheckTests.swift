import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// `provision check --tenantSlug SLUG [--checks DIR]... [--json]` (CONTRACT §6): go-live
// checks in Lua, each ending in pass, warn, fail or error; one broken check never stops
// the others; exit 0 with no fail or error, 1 otherwise.

/// The built-in checks of stdlib/checks, in the order they run.
let builtInChecks = ["owner-membership", "owner-password", "catalog", "portal-access", "support-contact", "time-zone"]

extension ProvisionBinary {
    static func check(_ slug: String, _ extra: [String] = [], in db: TestDatabase,
                      environment: [String: String] = [:]) throws -> Result {
        try run(["check", "--tenantSlug", slug, "--json"] + extra, databaseURL: db.url, environment: environment)
    }
}

extension ProvisionBinary.Result {
    var checks: [[String: Any]] { json?["checks"] as? [[String: Any]] ?? [] }
    var checkIDs: [String] { checks.compactMap { $0["id"] as? String } }
    func check(_ id: String) -> [String: Any]? { checks.first { $0["id"] as? String == id } }
    func checkStatus(_ id: String) -> String? { check(id)?["status"] as? String }
    func checkMessage(_ id: String) -> String { check(id)?["message"] as? String ?? "" }
}

/// Check modules written for one test.
enum CheckModule {
    static func source(id: String, run body: String) -> String {
        """
        return {
          id = "\(id)",
          title = "Custom check \(id)",
          run = function(ctx)
        \(body)
          end,
        }
        """
    }

    static let passing = source(id: "custom-pass", run: #"    ctx.pass("all good for " .. ctx.tenant.slug)"#)
}

@Suite("provision check")
struct CheckTests {
    // MARK: - Built-in checks

    @Test("a fresh tenant: owner pass, password warn, catalog and portal fail, contact and zone by flags; exit 1",
          arguments: [false, true])
    func freshTenant(withContactAndTimeZone: Bool) throws {
        let db = try TestDatabase.create()
        let extra = withContactAndTimeZone
            ? ["--timeZone", "America/Edmonton", "--supportEmail", "help@fresh.example.com", "--supportPhone", "+1 555 123 4567"] : []
        try ProvisionBinary.tenant("fresh", owner: "owner@fresh.example.com", extra, in: db)

        let result = try ProvisionBinary.check("fresh", in: db)

        #expect(result.status == 1, "\(result)")
        #expect(result.checkIDs == builtInChecks, "\(result)")
        #expect(result.checkStatus("owner-membership") == "pass")
        #expect(result.checkMessage("owner-membership").contains("owner@fresh.example.com"))
        #expect(result.checkStatus("owner-password") == "warn")
        #expect(result.checkStatus("catalog") == "fail")
        for kind in ["centers", "levels", "programs", "groups"] {
            #expect(result.checkMessage("catalog").contains(kind), "the catalog message names \(kind): \(result.checkMessage("catalog"))")
        }
        #expect(result.checkStatus("portal-access") == "fail")
        if withContactAndTimeZone {
            #expect(result.checkStatus("support-contact") == "pass")
            #expect(result.checkStatus("time-zone") == "pass")
        } else {
            #expect(result.checkStatus("support-contact") == "warn")
            #expect(result.checkMessage("support-contact").contains("contact your center"), "\(result.checkMessage("support-contact"))")
            #expect(result.checkStatus("time-zone") == "warn")
        }
    }

    @Test("--json is {command, tenant, checks:[{id,title,status,message,file}], summary:{pass,warn,fail,error}} and the summary counts the checks")
    func jsonShape() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("shape", owner: "owner@shape.example.com", in: db)

        let result = try ProvisionBinary.check("shape", in: db)

        try ContractSchema.validate(result.stdout, as: .check)
        let json = try #require(result.json, "stdout is one JSON document: \(result)")
        #expect(Set(json.keys) == ["command", "tenant", "checks", "summary"])
        #expect(json["command"] as? String == "check")
        let tenant = try #require(json["tenant"] as? [String: Any])
        #expect(tenant["slug"] as? String == "shape")
        #expect(tenant["id"] as? String == (try db.scalar("SELECT id FROM tenants WHERE slug = 'shape'")))
        #expect(Set(tenant.keys) == ["id", "slug", "name", "timeZone", "supportEmail", "supportPhone"])
        let checks = try #require(json["checks"] as? [[String: Any]])
        #expect(!checks.isEmpty)
        for check in checks {
            #expect(Set(check.keys) == ["id", "title", "status", "message", "file"], "\(check)")
            for key in ["id", "title", "status", "message", "file"] { #expect(check[key] is String, "\(key) in \(check)") }
            #expect(["pass", "warn", "fail", "error"].contains(check["status"] as? String ?? ""))
        }
        let summary = try #require(json["summary"] as? [String: Int])
        #expect(Set(summary.keys) == ["pass", "warn", "fail", "error"])
        for status in ["pass", "warn", "fail", "error"] {
            #expect(summary[status] == checks.filter { $0["status"] as? String == status }.count, "summary.\(status)")
        }
    }

    @Test("human output shows one line per check and exits 1 when a check fails")
    func humanOutput() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("people", owner: "owner@people.example.com", in: db)

        let result = try ProvisionBinary.run(["check", "--tenantSlug", "people"], databaseURL: db.url)

        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.contains("At least one center, level, program and group"), "\(result)")
        #expect(result.stdout.contains("An OWNER membership exists"), "\(result)")
    }

    @Test("a tenant with the platform's rows and an Owner who changed the password passes every built-in check, exit 0")
    func everythingInPlace() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("ready", owner: "owner@ready.example.com", ["--supportEmail", "help@ready.example.com"], in: db)
        let connection = try db.connect()
        let tenant = "(SELECT id FROM tenants WHERE slug = 'ready')"
        for statement in [
            "INSERT INTO centers (tenant_id, name, time_zone) SELECT \(tenant), 'Main center', 'America/Edmonton'",
            "INSERT INTO levels (tenant_id, name) SELECT \(tenant), 'Level 1'",
            "INSERT INTO programs (tenant_id, name) SELECT \(tenant), 'Swimming'",
            """
            INSERT INTO "groups" (tenant_id, name, center_id, program_id)
            SELECT c.tenant_id, 'Group A', c.id, p.id FROM centers c JOIN programs p ON p.tenant_id = c.tenant_id
            WHERE c.tenant_id = \(tenant)
            """,
            "INSERT INTO students (tenant_id, full_name, center_id) SELECT tenant_id, 'Sam Student', id FROM centers WHERE tenant_id = \(tenant)",
            "INSERT INTO users (email, name) VALUES ('parent@ready.example.com', 'Pat Parent')",
            """
            INSERT INTO parents (tenant_id, full_name, user_id, email)
            SELECT \(tenant), 'Pat Parent', id, email FROM users WHERE email = 'parent@ready.example.com'
            """,
            """
            INSERT INTO student_parents (tenant_id, student_id, parent_id)
            SELECT s.tenant_id, s.id, p.id FROM students s JOIN parents p ON p.tenant_id = s.tenant_id WHERE s.tenant_id = \(tenant)
            """,
            "UPDATE users SET must_change_password = false WHERE email = 'owner@ready.example.com'",
        ] {
            try connection.run(fixture: statement)
        }

        let result = try ProvisionBinary.check("ready", in: db)

        #expect(result.status == 0, "\(result)")
        #expect(result.checkIDs == builtInChecks)
        for id in builtInChecks {
            #expect(result.checkStatus(id) == "pass", "\(id): \(result.checkMessage(id))")
        }
        #expect((result.json?["summary"] as? [String: Int])?["pass"] == builtInChecks.count)
    }

    @Test("an Owner's one-time password that expired unused fails owner-password")
    func expiredPassword() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("late", owner: "owner@late.example.com", in: db)
        try db.connect().run(fixture: "UPDATE users SET password_expires_at = now() - interval '1 day'")

        let result = try ProvisionBinary.check("late", in: db)

        #expect(result.status == 1)
        #expect(result.checkStatus("owner-password") == "fail", "\(result.checkMessage("owner-password"))")
        #expect(result.checkMessage("owner-password").contains("owner@late.example.com"))
    }

    @Test("an unknown tenant exits 4 with not_found, not 1 as a failing check does")
    func unknownTenant() throws {
        let db = try TestDatabase.create()

        let result = try ProvisionBinary.check("nobody-here", in: db)

        #expect(result.status == 4, "\(result)")
        #expect(result.errorCode == "not_found", "\(result)")
        #expect(result.errorField == "tenantSlug", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
    }

    // MARK: - Custom checks

    /// How a folder of checks reaches `provision check`.
    enum Source: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case flag = "--checks DIR", environment = "PROVISION_CHECKS_PATH"
        var testDescription: String { rawValue }

        func arguments(_ folders: [String]) -> [String] {
            self == .flag ? folders.flatMap { ["--checks", $0] } : []
        }

        func environment(_ folders: [String]) -> [String: String] {
            self == .environment ? ["PROVISION_CHECKS_PATH": folders.joined(separator: ":")] : [:]
        }
    }

    /// A check that misbehaves, and what its message must say.
    enum BrokenCheck: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case raises, loopsInsidePcall, outlivesItsQuery, outlivesItsQueryQuietly, usesTooMuchMemory, neverDecides
        case deletesRows, deletesRowsQuietly, opensFile, readsEnvironment
        var testDescription: String { rawValue }

        var body: String {
            switch self {
            case .raises:
                return #"    error("the check broke on purpose")"#
            case .loopsInsidePcall:
                // Swallows every error, the time limit's included, and loops again.
                return """
                    while true do
                      pcall(function() while true do end end)
                    end
                """
            case .outlivesItsQuery:
                return """
                    ctx.query("SELECT pg_sleep(60)")
                    ctx.pass("slept")
                """
            case .outlivesItsQueryQuietly:
                // The statement ran out of time; catching that does not make the check pass.
                return """
                    pcall(ctx.query, "SELECT pg_sleep(60)")
                    ctx.pass("slept")
                """
            case .usesTooMuchMemory:
                return """
                    local hoard = {}
                    while true do hoard[#hoard + 1] = string.rep("x", 1000000) .. #hoard end
                """
            case .neverDecides:
                return "    local nothing = ctx.tenant.slug"
            case .deletesRows:
                return """
                    ctx.query("DELETE FROM memberships WHERE tenant_id = $1", ctx.tenant.id)
                    ctx.pass("deleted the memberships")
                """
            case .deletesRowsQuietly:
                // Catches the refusal and claims success: still an error.
                return """
                    pcall(ctx.query, "DELETE FROM tenants WHERE id = $1", ctx.tenant.id)
                    pcall(ctx.query, "WITH gone AS (DELETE FROM users RETURNING 1) SELECT count(*) AS n FROM gone")
                    ctx.pass("nothing to see")
                """
            case .opensFile:
                return """
                    local f = io.open("/etc/hostname")
                    ctx.pass("opened a file: " .. tostring(f))
                """
            case .readsEnvironment:
                return """
                    ctx.pass("HOME is " .. tostring(os.getenv("HOME")))
                """
            }
        }
    }

    @Test("a broken custom check ends as error, writes nothing, and the other checks still run",
          arguments: BrokenCheck.allCases, Source.allCases)
    func brokenCustomCheck(broken: BrokenCheck, source: Source) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("custom", owner: "owner@custom.example.com", ["--supportEmail", "help@custom.example.com"], in: db)
        // "a-" runs before "z-": the passing check comes after the broken one.
        try scratch.write("checks/a-broken.lua", CheckModule.source(id: "custom-broken", run: broken.body))
        try scratch.write("checks/z-pass.lua", CheckModule.passing)
        let folders = [scratch.path("checks")]
        let before = try db.rowCounts()

        let result = try ProvisionBinary.check("custom", source.arguments(folders) + ["--checkTimeout", "1"], in: db,
                                               environment: source.environment(folders))

        #expect(result.status == 1, "an error exits 1: \(result)")
        #expect(result.checkStatus("custom-broken") == "error", "\(result.checkMessage("custom-broken"))")
        #expect(!result.checkMessage("custom-broken").isEmpty)
        #expect(result.checkStatus("custom-pass") == "pass", "the check after the broken one still ran: \(result)")
        #expect(result.checkMessage("custom-pass") == "all good for custom")
        #expect(Array(result.checkIDs.prefix(builtInChecks.count)) == builtInChecks, "built-in checks ran too")
        #expect(result.checkStatus("owner-membership") == "pass")
        #expect(try db.rowCounts() == before, "rows untouched")
    }

    @Test("custom checks from every folder run, --checks and PROVISION_CHECKS_PATH (colon-separated) together")
    func customFolders() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("many", owner: "owner@many.example.com", in: db)
        try scratch.write("flag/check.lua", CheckModule.source(id: "from-flag", run: #"    ctx.pass("flag")"#))
        try scratch.write("env-a/check.lua", CheckModule.source(id: "from-env-a", run: #"    ctx.warn("env a")"#))
        try scratch.write("env-b/check.lua", CheckModule.source(id: "from-env-b", run: #"    ctx.pass("env b")"#))

        let result = try ProvisionBinary.check("many", ["--checks", scratch.path("flag")], in: db,
                                               environment: ["PROVISION_CHECKS_PATH": scratch.path("env-a") + ":" + scratch.path("env-b")])

        #expect(result.checkStatus("from-flag") == "pass", "\(result)")
        #expect(result.checkStatus("from-env-a") == "warn", "\(result)")
        #expect(result.checkStatus("from-env-b") == "pass", "\(result)")
        #expect(result.checks.count == builtInChecks.count + 3)
    }

    @Test("a check with a fail and a pass ends as fail: the worst verdict wins")
    func worstVerdictWins() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("mixed", owner: "owner@mixed.example.com", in: db)
        try scratch.write("checks/mixed.lua", CheckModule.source(id: "custom-mixed", run: """
                ctx.pass("first fine")
                ctx.fail("then broken")
            """))

        let result = try ProvisionBinary.check("mixed", ["--checks", scratch.path("checks")], in: db)

        #expect(result.checkStatus("custom-mixed") == "fail", "\(result)")
        #expect(result.checkMessage("custom-mixed").contains("then broken"))
    }

    @Test("two checks with one id in two folders are refused, naming both files", arguments: Source.allCases)
    func duplicateIDs(source: Source) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("twice", owner: "owner@twice.example.com", in: db)
        let first = try scratch.write("one/same.lua", CheckModule.source(id: "same-id", run: #"    ctx.pass("one")"#))
        let second = try scratch.write("two/also-same.lua", CheckModule.source(id: "same-id", run: #"    ctx.pass("two")"#))
        let folders = [scratch.path("one"), scratch.path("two")]

        let result = try ProvisionBinary.check("twice", source.arguments(folders), in: db, environment: source.environment(folders))

        #expect(result.status == 2, "refused as invalid input: \(result)")
        #expect(result.errorCode == "invalid_input", "\(result)")
        let message = result.errorMessage ?? ""
        #expect(message.contains(first) && message.contains(second), "names both files: \(message)")
        #expect(result.checks.isEmpty, "no check ran")
    }

    @Test("a custom check reusing a built-in id is refused, naming both files")
    func duplicateOfBuiltIn() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("clash", owner: "owner@clash.example.com", in: db)
        let mine = try scratch.write("checks/catalog.lua", CheckModule.source(id: "catalog", run: #"    ctx.pass("mine")"#))

        let result = try ProvisionBinary.check("clash", ["--checks", scratch.path("checks")], in: db)

        #expect(result.status == 2, "\(result)")
        #expect(result.errorMessage?.contains(mine) == true, "\(result)")
        #expect(result.errorMessage?.contains("3-catalog.lua") == true, "names the built-in file too: \(result)")
    }

    // MARK: - provision.runChecks from a playbook

    /// A playbook that creates `slug` with an Owner, runs the checks inside its own
    /// transaction, and logs each result on stderr as `check<TAB>id<TAB>status<TAB>title<TAB>message`.
    static func checkingPlaybook(slug: String, owner: String, after: String = "") -> String {
        """
        local p = require "provision"
        local t = p.createTenant{ slug = "\(slug)", name = "Checked", supportEmail = "help@checked.example.com" }
        local u = p.createOwner{ email = "\(owner)" }
        p.linkMembership{ tenant = t, user = u, role = "OWNER" }
        local results, summary = p.runChecks("\(slug)")
        for _, r in ipairs(results) do
          p.log("check", r.id, r.status, r.title, r.message)
        end
        p.log("summary", summary.pass, summary.warn, summary.fail, summary.error)
        \(after)
        """
    }

    struct LoggedCheck { let id, status, title, message: String }

    static func loggedChecks(_ stderr: String) -> [LoggedCheck] {
        stderr.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5, fields[0] == "check" else { return nil }
            return LoggedCheck(id: fields[1], status: fields[2], title: fields[3], message: fields[4])
        }
    }

    @Test("provision.runChecks in a playbook sees the run's uncommitted writes and returns id/title/status/message")
    func runChecksFromPlaybook() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let playbook = try scratch.write("go-live.lua", Self.checkingPlaybook(slug: "checked", owner: "owner@checked.example.com"))

        let result = try ProvisionBinary.run(["run", playbook], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        let checks = Self.loggedChecks(result.stderr)
        #expect(checks.map(\.id) == builtInChecks, "\(result.stderr)")
        for check in checks {
            #expect(!check.title.isEmpty && !check.message.isEmpty, "\(check)")
            #expect(["pass", "warn", "fail", "error"].contains(check.status), "\(check)")
        }
        let owner = try #require(checks.first { $0.id == "owner-membership" })
        #expect(owner.status == "pass", "the check sees the OWNER membership the run has not committed yet: \(owner)")
        #expect(owner.message.contains("owner@checked.example.com"))
        #expect(checks.first { $0.id == "support-contact" }?.message.contains("help@checked.example.com") == true)
        let passes = checks.filter { $0.status == "pass" }.count
        #expect(result.stderr.contains("summary\t\(passes)\t"), "the summary counts the results:\n\(result.stderr)")
        #expect(try db.ownerEmail(of: "checked") == "owner@checked.example.com", "the checks left the run's writes in place")
    }

    @Test("provision.runChecks: a check cannot delete the run's uncommitted rows")
    func runChecksCannotDelete() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("checks/deleter.lua", CheckModule.source(id: "custom-deleter", run: """
                pcall(ctx.query, "DELETE FROM memberships WHERE tenant_id = $1", ctx.tenant.id)
                ctx.pass("deleted")
            """))
        let playbook = try scratch.write("go-live.lua", Self.checkingPlaybook(slug: "guarded", owner: "owner@guarded.example.com"))

        let result = try ProvisionBinary.run(["run", playbook], databaseURL: db.url,
                                             environment: ["PROVISION_CHECKS_PATH": scratch.path("checks")])

        #expect(result.status == 0, "\(result)")
        #expect(Self.loggedChecks(result.stderr).first { $0.id == "custom-deleter" }?.status == "error", "\(result.stderr)")
        #expect(try db.ownerEmail(of: "guarded") == "owner@guarded.example.com", "the membership survived and committed")
    }

    @Test("provision.runChecks: a check cannot commit the run early (a run that then fails lands nothing)")
    func runChecksCannotCommit() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("checks/committer.lua", CheckModule.source(id: "custom-committer", run: """
                pcall(ctx.query, "COMMIT")
                ctx.pass("committed")
            """))
        let playbook = try scratch.write("go-live.lua", Self.checkingPlaybook(
            slug: "half-done", owner: "owner@half-done.example.com",
            after: #"error("the playbook fails after the checks: the run rolls back")"#))
        let before = try db.rowCounts()

        let result = try ProvisionBinary.run(["run", playbook], databaseURL: db.url,
                                             environment: ["PROVISION_CHECKS_PATH": scratch.path("checks")])

        #expect(result.status == 1, "\(result)")
        #expect(try !db.tenantExists("half-done"), "one run is one transaction: the failed run landed nothing")
        #expect(try !db.userExists("owner@half-done.example.com"), "no owner whose password nobody was shown")
        #expect(try db.rowCounts() == before)
    }

    @Test("provision.runChecks: a check cannot roll back the run's writes behind its back (what is reported is what landed)")
    func runChecksCannotRollBack() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("checks/rollbacker.lua", CheckModule.source(id: "custom-rollbacker", run: """
                pcall(ctx.query, "ROLLBACK")
                ctx.pass("rolled back")
            """))
        let playbook = try scratch.write("go-live.lua", Self.checkingPlaybook(slug: "vanished", owner: "owner@vanished.example.com"))

        let result = try ProvisionBinary.run(["run", playbook, "--json"], databaseURL: db.url,
                                             environment: ["PROVISION_CHECKS_PATH": scratch.path("checks")])

        if result.status == 0 {
            #expect(try db.ownerEmail(of: "vanished") == "owner@vanished.example.com",
                    "the run reported success, so its tenant and OWNER must have landed: \(result)")
            let password = result.password(of: "owner@vanished.example.com")
            let hash = try db.passwordHash(of: "owner@vanished.example.com")
            #expect(password != nil && hash != nil && PasswordHash.verify(password!, against: hash!),
                    "the password shown belongs to a user that exists")
        } else {
            #expect(try !db.tenantExists("vanished"))
            #expect(Passwords.occurrences(in: result.stdout + result.stderr).isEmpty, "a failed run shows no password")
        }
    }
}
