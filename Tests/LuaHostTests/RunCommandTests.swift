import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §2 `provision run PLAYBOOK.lua [--dryRun] [--json] [--var KEY=VALUE]... [-- ARGS...]`,
// through the built binary: exit codes, where output goes, and the JSON document.

@Suite("provision run") struct RunCommandTests {
    /// Writes `lua` as `name` in a folder of its own; runs are started in that folder, so
    /// the playbook is named as an operator would name it (`x.lua`).
    func playbook(_ lua: String, named name: String = "x.lua") throws -> URL {
        try temporaryFolder([name: lua])
    }

    func run(_ folder: URL, _ arguments: [String], database: TestDatabase?) throws -> ProvisionBinary.Result {
        try ProvisionBinary.run(["run"] + arguments, databaseURL: database?.url, workingDirectory: folder.path)
    }

    static let pilot = """
        local p = require "provision"
        local slug = p.vars.slug or "pilot"
        local t = p.createTenant{slug = slug, name = "Pilot", supportEmail = "help@pilot.example.com"}
        local u = p.createOwner{email = "owner@" .. slug .. ".example.com", name = "Owner"}
        p.linkMembership{tenant = t, user = u, role = "OWNER"}
        """

    @Test func aPlaybookRunsAndCommits() throws {
        let database = try TestDatabase.create()
        let folder = try playbook(Self.pilot)
        let result = try run(folder, ["x.lua"], database: database)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("pilot"))
        #expect(try database.memberships() == ["pilot owner@pilot.example.com OWNER"])
    }

    /// --timeout bounds the run, and so every statement in it: a query cannot sleep past it.
    @Test func aStatementCannotOutlastTheRunsTimeout() throws {
        let database = try TestDatabase.create()
        let folder = try playbook("""
            local p = require "provision"
            p.createTenant{slug = "slow", name = "Slow"}
            p.query("SELECT pg_sleep(5)")
            """)
        // A generous per-statement limit of its own, so only --timeout can cut the sleep.
        let result = try ProvisionBinary.run(["run", "x.lua", "--timeout", "1", "--json"], databaseURL: database.url,
                                             environment: ["PROVISION_STATEMENT_TIMEOUT_MS": "600000"],
                                             workingDirectory: folder.path)
        #expect(result.status == 1, "\(result)")
        #expect(result.errorCode == "limit_exceeded", "\(result)")
        // The statement itself was cancelled, not merely noticed as late once it returned.
        #expect(result.stdout.contains("was still running when --timeout (1 s) passed: it was cancelled on the server"), "\(result)")
        #expect(try database.scalar("SELECT count(*) FROM tenants") == "0")
    }

    @Test func varsAndTrailingArgumentsReachThePlaybook() throws {
        let database = try TestDatabase.create()
        let folder = try playbook("""
            local p = require "provision"
            local first, second = ...
            p.createTenant{slug = p.vars.slug, name = p.vars.name, supportEmail = arg[1]}
            p.warn(("args: %d %s %s"):format(#arg, first, second))
            """)
        let result = try run(folder, ["x.lua", "--var", "slug=from-var", "--var", "name=Name = with equals", "--json",
                                      "--", "help@var.example.com", "--not-a-flag"], database: database)
        #expect(result.status == 0, "\(result)")
        #expect(try database.scalar("SELECT name || ' ' || support_email FROM tenants WHERE slug = 'from-var'")
                == "Name = with equals help@var.example.com")
        let warnings = try #require(result.json?["warnings"] as? [String])
        #expect(warnings.contains("args: 2 help@var.example.com --not-a-flag"))
    }

    @Test func aVarWithoutEqualsIsInvalidInput() throws {
        let folder = try playbook("return")
        let result = try run(folder, ["x.lua", "--var", "novalue", "--json"], database: try TestDatabase.create())
        #expect(result.status == 2, "\(result)")
        #expect(result.errorCode == "invalid_input")
    }

    @Test func jsonReportsResultsActionsAndWarningsWithThePasswordOnce() throws {
        let database = try TestDatabase.create()
        let folder = try playbook(Self.pilot + """

            p.createTenant{slug = "no-contact", name = "No Contact"}
            """)
        let result = try run(folder, ["x.lua", "--json"], database: database)
        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let json = try #require(result.json, "stdout is one JSON document: \(result.stdout)")
        #expect(Set(json.keys) == ["command", "runId", "dryRun", "results", "credentials", "summary", "actions", "warnings", "credentialsFile", "revokedCredentials"])
        #expect(json["command"] as? String == "run")
        #expect(json["dryRun"] as? Bool == false)
        let results = try #require(json["results"] as? [[String: Any]])
        #expect(results.map { ($0["tenant"] as? [String: Any])?["slug"] as? String } == ["pilot", "no-contact"])
        #expect(results.map { $0["status"] as? String } == ["created", "created"])
        let users = try #require(results[0]["users"] as? [[String: Any]])
        #expect(users.map { $0["email"] as? String } == ["owner@pilot.example.com"])
        #expect(users.first?["created"] as? Bool == true)
        #expect(users.first?["role"] as? String == "OWNER")
        #expect((results[1]["users"] as? [Any])?.isEmpty == true, "a tenant without members lists none")
        let credentials = try #require(json["credentials"] as? [[String: Any]])
        #expect(credentials.map { $0["email"] as? String } == ["owner@pilot.example.com"])
        let password = try #require(credentials.first?["oneTimePassword"] as? String)
        #expect(password.count >= 20)
        #expect(result.stdout.components(separatedBy: password).count == 2, "the password is in the document once")
        #expect((json["summary"] as? [String: Any])?["created"] as? Int == 2)
        #expect((json["actions"] as? [[String: Any]])?.contains { $0["kind"] as? String == "create_tenant" && $0["text"] as? String == "create tenant pilot" } == true)
        #expect((json["warnings"] as? [String])?.contains { $0.contains("no-contact") } == true)
        #expect(!result.stderr.contains(password), "the password is shown once, on stdout")
        let hash = try #require(try database.scalar("SELECT password_hash FROM users"))
        #expect(hash.hasPrefix("$argon2id$"))
        #expect(PasswordHash.verify(password, against: hash))
    }

    @Test func aDryRunReportsPlannedResultsWithoutAPassword() throws {
        let database = try TestDatabase.create()
        let before = try database.rowCounts()
        let folder = try playbook(Self.pilot)
        let result = try run(folder, ["x.lua", "--dryRun", "--json"], database: database)
        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let json = try #require(result.json, "\(result.stdout)")
        #expect(json["dryRun"] as? Bool == true)
        let results = try #require(json["results"] as? [[String: Any]])
        #expect(results.map { $0["status"] as? String } == ["planned"])
        let owner = try #require((results.first?["users"] as? [[String: Any]])?.first)
        #expect(owner["id"] is NSNull)
        #expect((json["credentials"] as? [Any])?.isEmpty == true)
        #expect(try database.rowCounts() == before)
    }

    @Test func aDryRunWithoutADatabaseValidatesAndSaysSo() throws {
        let folder = try playbook(Self.pilot)
        let result = try run(folder, ["x.lua", "--dryRun", "--json"], database: nil)
        #expect(result.status == 0, "\(result)")
        #expect((result.json?["warnings"] as? [String])?.contains { $0.contains("conflict checks") } == true)
    }

    @Test func printAndLogGoToStderrNeverToStdout() throws {
        let database = try TestDatabase.create()
        let folder = try playbook("""
            print("printed line")
            provision.log("logged line")
            """)
        let human = try run(folder, ["x.lua"], database: database)
        #expect(human.status == 0, "\(human)")
        #expect(human.stderr.contains("printed line") && human.stderr.contains("logged line"))
        #expect(!human.stdout.contains("printed line") && !human.stdout.contains("logged line"))
        let json = try run(folder, ["x.lua", "--json"], database: database)
        #expect(json.json != nil, "stdout holds exactly one JSON document: \(json.stdout)")
    }

    @Test func anUncaughtErrorExitsOneWithFileLineAndATraceback() throws {
        let database = try TestDatabase.create()
        let folder = try playbook(Self.pilot + """

            local function check() error("no center yet") end
            check()
            """)
        let result = try run(folder, ["x.lua"], database: database)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("x.lua:6: no center yet"), "\(result.stderr)")
        #expect(result.stderr.contains("stack traceback"))
        #expect(result.stderr.contains("x.lua:7"), "the traceback names the caller's line too")
        #expect(result.stdout.isEmpty, "no password or result for a failed run: \(result.stdout)")
        #expect(try database.slugs() == [])
    }

    @Test func anUncaughtErrorWithJSONIsOneErrorDocument() throws {
        let database = try TestDatabase.create()
        let folder = try playbook(Self.pilot + """

            error({code = "no_centers", message = "add a center first", field = "centers"})
            """)
        let result = try run(folder, ["x.lua", "--json"], database: database)
        #expect(result.status == 1, "\(result)")
        #expect(result.errorCode == "no_centers", "the playbook's own code survives (CONTRACT §13)")
        #expect(result.errorField == "centers")
        let message = try #require(result.jsonErrorMessage)
        #expect(message.contains("x.lua:6") && message.contains("no_centers") && message.contains("add a center first"), "\(message)")
        #expect(result.stderr.contains("stack traceback"))
        #expect(!result.stdout.contains("oneTimePassword") && !result.stderr.contains("oneTimePassword"),
                "a run that did not commit shows no password")
        #expect(try database.slugs() == [])
    }

    @Test(arguments: [
        (#"error({code = "slug_exists", message = "taken"})"#, Int32(3), "slug_exists"),
        (#"error({code = "email_exists", message = "taken"})"#, Int32(3), "email_exists"),
        (#"error({code = "invalid_input", message = "usage: x.lua SLUG", field = "slug"})"#, Int32(2), "invalid_input"),
        (#"error({code = "not_found", message = "no such tenant"})"#, Int32(4), "not_found"),
        (#"provision.createTenant{slug = "Upper", name = "Upper"}"#, Int32(2), "invalid_input"),
        (#"error("plain")"#, Int32(1), "playbook_error"),
        (#"error({code = "whatever", message = "mine"})"#, Int32(1), "whatever"),
    ])
    func anUncaughtErrorExitsWithItsCodesStatus(lua: String, status: Int32, code: String) throws {
        let database = try TestDatabase.create()
        let folder = try playbook(lua)
        let result = try run(folder, ["x.lua", "--json"], database: database)
        #expect(result.status == status, "\(result)")
        #expect(result.errorCode == code)
        let message = result.jsonErrorMessage
        #expect(message?.contains("x.lua:1") == true, "\(message ?? "")")
    }

    @Test func aConflictFromThePrimitiveExitsThree() throws {
        let database = try TestDatabase.create()
        let folder = try playbook(Self.pilot)
        #expect(try run(folder, ["x.lua"], database: database).status == 0)
        let second = try run(folder, ["x.lua", "--json"], database: database)
        #expect(second.status == 3, "\(second)")
        #expect(second.errorCode == "slug_exists")
        #expect(second.errorField == "slug")
    }

    @Test func aSyntaxErrorExitsTwo() throws {
        let database = try TestDatabase.create()
        let folder = try playbook("provision.createTenant{slug = \"pilot\", name = \"Pilot\"}\nlocal = 1\n")
        let result = try run(folder, ["x.lua", "--json"], database: database)
        #expect(result.status == 2, "\(result)")
        #expect(result.errorCode == "invalid_input")
        #expect(result.jsonErrorMessage?.contains("x.lua:2") == true, "\(result)")
        #expect(try database.slugs() == [])
    }

    @Test func aMissingPlaybookExitsTwo() throws {
        let folder = try temporaryFolder()
        let result = try run(folder, ["missing.lua", "--json"], database: try TestDatabase.create())
        #expect(result.status == 2, "\(result)")
        #expect(result.errorCode == "invalid_input")
    }

    @Test func aLimitExitsOneWithLimitExceeded() throws {
        let database = try TestDatabase.create()
        let folder = try playbook("while true do pcall(function() while true do end end) end")
        let result = try run(folder, ["x.lua", "--json", "--timeout", "1"], database: database)
        #expect(result.status == 1, "\(result)")
        #expect(result.errorCode == "limit_exceeded")
        let memory = try playbook("local t = {} for i = 1, math.maxinteger do t[i] = ('x'):rep(1000) .. i end")
        let bomb = try run(memory, ["x.lua", "--json", "--maxMemoryMB", "32"], database: database)
        #expect(bomb.status == 1, "\(bomb)")
        #expect(bomb.errorCode == "limit_exceeded")
    }

    @Test func aFailedUnitIsReportedAndTheRestCommits() throws {
        let database = try TestDatabase.create()
        let folder = try playbook("""
            local p = require "provision"
            for _, slug in ipairs{"alpha", "Beta", "gamma"} do
              p.transaction(function()
                local t = p.createTenant{slug = slug, name = slug, supportEmail = "help@x.example.com"}
                local u = p.createOwner{email = "owner@" .. slug .. ".example.com"}
                p.linkMembership{tenant = t, user = u, role = "OWNER"}
              end)
            end
            """)
        let result = try run(folder, ["x.lua", "--json"], database: database)
        try ContractSchema.validate(result.stdout, as: .run)
        let json = try #require(result.json, "\(result)")
        let results = try #require(json["results"] as? [[String: Any]])
        // In the order they happened: the failure stands where the playbook met it.
        #expect(results.map { $0["status"] as? String } == ["created", "failed", "created"])
        #expect(((results[1]["error"]) as? [String: Any])?["code"] as? String == "invalid_input")
        #expect(results[1]["tenant"] is NSNull, "the unit failed before it named a tenant: \(result)")
        #expect((json["summary"] as? [String: Any])?["failed"] as? Int == 1)
        #expect(try database.slugs() == ["alpha", "gamma"])
        #expect(result.status == 2, "a run whose units failed exits with its first failure's code: \(result)")
    }
}
