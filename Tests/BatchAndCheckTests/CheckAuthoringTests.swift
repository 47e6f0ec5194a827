import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §14, authoring (issue 26): checks get what playbooks have. A field, column or
// function that does not exist is an error with the closest name and file:line, never a
// pass built on a nil; `provision test` shows a check's own error; a module that does not
// load is reported where it is asked for; tests find the checks beside them.

/// A check as its author means it: every center of the tenant has a group.
enum CenterGroups {
    static let source = """
        return {
          id = "center-groups",
          title = "Every center has a group",
          run = function(ctx)
            local total = ctx.count("centers")
            local row = ctx.query([[
              SELECT count(*) AS without_group FROM centers c
              WHERE c.tenant_id = $1
                AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.tenant_id = c.tenant_id AND g.center_id = c.id)]], ctx.tenant.id)[1]
            if row.without_group == 0 then
              return ctx.pass(("all %d centers have a group"):format(total))
            end
            ctx.fail(("%d of %d centers have no group"):format(row.without_group, total))
          end,
        }
        """

    /// A tenant with one center and no group: the check must fail for it.
    static func lonelyTenant(in db: TestDatabase) throws {
        try ProvisionBinary.tenant("lonely", owner: "owner@lonely.example", in: db)
        try db.connect().run(fixture: "INSERT INTO centers (tenant_id, name) SELECT id, 'Lonely center' FROM tenants WHERE slug = 'lonely'")
    }

    /// The 1-based line of `source` that holds `text`.
    static func line(of text: String, in source: String) -> Int? {
        source.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(text) }.map { $0 + 1 }
    }
}

@Suite("Helpful errors for check authors")
struct CheckAuthoringTests {
    /// A typo in a check, and what its error must say.
    enum Typo: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case tenantField = "ctx.tenant.idd", function = "ctx.cont(...)", column = "row.without_groups", table = "ctx.count(\"center\")"
        var testDescription: String { rawValue }

        /// The correct text, and the typo that replaces it.
        var edit: (String, String) {
            switch self {
            case .tenantField: return ("ctx.tenant.id)[1]", "ctx.tenant.idd)[1]")
            case .function: return ("ctx.count(\"centers\")", "ctx.cont(\"centers\")")
            case .column: return ("if row.without_group == 0", "if (row.without_groups or 0) == 0")
            case .table: return ("ctx.count(\"centers\")", "ctx.count(\"center\")")
            }
        }

        var source: String { CenterGroups.source.replacingOccurrences(of: edit.0, with: edit.1) }

        /// What the message must hold beyond the file:line.
        var expected: [String] {
            switch self {
            case .tenantField: return ["ctx.tenant has no field 'idd'; did you mean 'id'?"]
            case .function: return ["ctx has no field 'cont'; did you mean 'count'?"]
            case .column: return ["has no column 'without_groups'; did you mean 'without_group'?"]
            case .table: return ["'center'", "did you mean 'centers'?", "student_parents"]
            }
        }
    }

    @Test("the check as meant fails for a center without a group (the control)")
    func control() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try CenterGroups.lonelyTenant(in: db)
        try scratch.write("checks/center-groups.lua", CenterGroups.source)

        let result = try ProvisionBinary.check("lonely", ["--checks", scratch.path("checks"), "--only", "center-groups"], in: db)

        #expect(result.status == 1, "\(result)")
        #expect(result.checkStatus("center-groups") == "fail", "\(result)")
        #expect(result.checkMessage("center-groups") == "1 of 1 centers have no group")
    }

    @Test("a missing field, function, column or table is an error with the closest name and file:line, never a pass; nothing written",
          arguments: Typo.allCases)
    func typo(_ typo: Typo) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try CenterGroups.lonelyTenant(in: db)
        let file = try scratch.write("checks/center-groups.lua", typo.source)
        let line = try #require(CenterGroups.line(of: typo.edit.1, in: typo.source))
        let before = try db.rowCounts()

        let result = try ProvisionBinary.check("lonely", ["--checks", scratch.path("checks"), "--only", "center-groups"], in: db)

        #expect(result.status == 1, "\(result)")
        #expect(result.checkStatus("center-groups") == "error", "never a pass built on a nil: \(result)")
        let message = result.checkMessage("center-groups")
        #expect(message.contains("\(file):\(line):"), "file:line of the typo: \(message)")
        for text in typo.expected {
            #expect(message.contains(text), "\(text): \(message)")
        }
        try ContractSchema.validate(result.stdout, as: .check)
        #expect(try db.rowCounts() == before)
    }

    @Test("in text, the check's line is shown with a caret under the misspelt name")
    func caret() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try CenterGroups.lonelyTenant(in: db)
        let source = Typo.tenantField.source
        try scratch.write("checks/center-groups.lua", source)
        let line = try #require(CenterGroups.line(of: "ctx.tenant.idd", in: source))

        let result = try ProvisionBinary.run(["check", "--tenantSlug", "lonely", "--checks", scratch.path("checks"), "--only", "center-groups"],
                                             databaseURL: db.url)

        #expect(result.status == 1, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let excerpt = try #require(lines.firstIndex { $0.contains(" \(line) | ") && $0.contains("ctx.tenant.idd") }, "the source line: \(result.stdout)")
        let caret = lines[excerpt + 1]
        let column = try #require(lines[excerpt].range(of: "idd")).lowerBound
        #expect(caret.contains("^^^") && caret.firstIndex(of: "^").map { caret.distance(from: caret.startIndex, to: $0) }
                == lines[excerpt].distance(from: lines[excerpt].startIndex, to: column), "the caret under idd: \(result.stdout)")
    }

    @Test("a known field or column that holds nothing is nil, as before: a tenant without a time zone, a NULL column")
    func knownButNil() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("bare", owner: "owner@bare.example", in: db)
        try scratch.write("checks/nils.lua", CheckModule.source(id: "nils", run: """
                local row = ctx.query("SELECT NULL::text AS nothing, 1 AS one")[1]
                assert(ctx.tenant.timeZone == nil and ctx.tenant.supportPhone == nil and row.nothing == nil and row.one == 1)
                assert(row[1] == nil and rawget(ctx, "cont") == nil)
                ctx.pass("nil where nothing is stored")
            """))

        let result = try ProvisionBinary.check("bare", ["--checks", scratch.path("checks"), "--only", "nils"], in: db)

        #expect(result.status == 0, "\(result)")
        #expect(result.checkStatus("nils") == "pass", "\(result)")
    }

    // MARK: - provision test

    @Test("provision test shows the check's own error under the failing assertion")
    func testShowsCheckError() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let check = try scratch.write("checks/center-groups.lua", Typo.tenantField.source)
        let line = try #require(CenterGroups.line(of: "ctx.tenant.idd", in: Typo.tenantField.source))
        let test = try scratch.write("suite/center_groups_test.lua", """
            return {
              ["a center without a group fails"] = function(t)
                local tenant = t.tenant{ slug = "lonely" }
                t.center{ tenant = tenant }
                t.eq(t.check("center-groups", "lonely"), "fail")
              end,
            }
            """)
        let before = try db.rowCounts()

        let result = try TestCommandTests.runTests([test, "--checks", scratch.path("checks")], in: db)

        #expect(result.status == 1, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let assertion = try #require(lines.firstIndex { $0.contains("center_groups_test.lua:5: expected \"fail\", got \"error\"") }, "\(result.stdout)")
        let own = lines.dropFirst(assertion + 1).first { $0.contains("ctx.tenant has no field 'idd'; did you mean 'id'?") }
        #expect(own?.contains("\(check):\(line):") == true, "the check's error, with its file:line, under the assertion: \(result.stdout)")

        let json = try TestCommandTests.runTests([test, "--checks", scratch.path("checks"), "--json"], in: db)
        try ContractSchema.validate(json.stdout, as: .test)
        let message = (((json.json?["files"] as? [[String: Any]])?.first?["tests"] as? [[String: Any]])?.first?["message"] as? String) ?? ""
        #expect(message.contains("got \"error\"") && message.contains("did you mean 'id'?"), "\(json.stdout)")
        #expect(try db.rowCounts() == before)
    }

    // MARK: - Modules that do not load

    static let misspeltTitle = """
        return {
          id = "typo",
          titel = "A check with a typo",
          run = function(ctx) ctx.pass("never") end,
        }
        """

    static let syntaxError = """
        return {
          id = "broken-syntax",
          title = "A check that does not parse"
          run = function(ctx) ctx.pass("never") end,
        }
        """

    @Test("--only ID of a module that does not load reports its file, line and message (exit 1), never an unknown id; nothing written")
    func onlyBrokenModule() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("pilot", owner: "owner@pilot.example", in: db)
        let typo = try scratch.write("checks/typo.lua", Self.misspeltTitle)
        let before = try db.rowCounts()

        let result = try ProvisionBinary.check("pilot", ["--checks", scratch.path("checks"), "--only", "typo"], in: db)

        #expect(result.status == 1, "\(result)")
        #expect(!result.stdout.contains("no check has the id"), "\(result)")
        #expect(result.checkStatus("typo") == "error", "\(result)")
        let message = result.checkMessage("typo")
        #expect(message.contains("\(typo):3:") && message.contains("'titel'") && message.contains("'title'"), "\(message)")
        try ContractSchema.validate(result.stdout, as: .check)
        #expect(try db.rowCounts() == before)
    }

    @Test("--only another check: it runs, and the module that did not load is reported with it (exit 1)")
    func onlyAnotherCheck() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("pilot", owner: "owner@pilot.example", in: db)
        try scratch.write("checks/a-good.lua", CheckModule.passing)
        let broken = try scratch.write("checks/b-syntax.lua", Self.syntaxError)

        let result = try ProvisionBinary.check("pilot", ["--checks", scratch.path("checks"), "--only", "custom-pass"], in: db)

        #expect(result.status == 1, "a module that did not load is an error: \(result)")
        #expect(result.checkStatus("custom-pass") == "pass", "the check asked for still ran: \(result)")
        let failed = result.checks.first { $0["file"] as? String == broken }
        #expect(failed?["status"] as? String == "error", "\(result)")
        #expect((failed?["message"] as? String)?.contains("\(broken):4:") == true, "\(result)")
        #expect(result.checkIDs.count == 2, "no other check ran: \(result.checkIDs)")
    }

    @Test("--only an id no module has while one does not load: exit 2 naming the module's file:line and message; nothing written")
    func onlyUnknownWhileBroken() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("pilot", owner: "owner@pilot.example", in: db)
        let broken = try scratch.write("checks/b-syntax.lua", Self.syntaxError)
        let before = try db.rowCounts()

        for arguments in [["--tenantSlug", "pilot"], ["--all"]] {
            let result = try ProvisionBinary.run(["check"] + arguments + ["--checks", scratch.path("checks"), "--only", "broken-syntax", "--json"],
                                                 databaseURL: db.url)
            #expect(result.status == 2 && result.errorField == "only", "\(result)")
            let message = result.errorMessage ?? ""
            #expect(message.contains("\(broken):4:") && message.contains("did not load"), "\(message)")
            try ContractSchema.validate(result.stdout, as: .error)
        }
        #expect(try db.rowCounts() == before)
    }

    @Test("check --all reports a module that does not load by its id, file, line and message for each tenant")
    func allBrokenModule() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("pilot", owner: "owner@pilot.example", in: db)
        let typo = try scratch.write("checks/typo.lua", Self.misspeltTitle)

        let result = try ProvisionBinary.run(["check", "--all", "--checks", scratch.path("checks"), "--json"], databaseURL: db.url)

        #expect(result.status == 1, "\(result)")
        try ContractSchema.validate(result.stdout, as: .fleetCheck)
        let checks = ((result.json?["tenants"] as? [[String: Any]])?.first?["checks"] as? [[String: Any]]) ?? []
        let failed = checks.first { $0["id"] as? String == "typo" }
        #expect(failed?["status"] as? String == "error" && failed?["file"] as? String == typo, "\(result)")
        #expect((failed?["message"] as? String)?.contains("\(typo):3:") == true, "\(result)")
    }

    @Test("t.check of a module that does not load shows its file, line and message, never an unknown id")
    func testBrokenModule() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let typo = try scratch.write("checks/typo.lua", Self.misspeltTitle)
        let broken = try scratch.write("checks/b-syntax.lua", Self.syntaxError)
        let test = try scratch.write("suite/typo_test.lua", """
            return {
              ["a the misspelt check passes"] = function(t)
                t.tenant{ slug = "pilot" }
                t.eq(t.check("typo", "pilot"), "pass")
              end,
              ["b the check that does not parse passes"] = function(t)
                t.tenant{ slug = "pilot" }
                t.eq(t.check("broken-syntax", "pilot"), "pass")
              end,
            }
            """)

        let result = try TestCommandTests.runTests([test, "--checks", scratch.path("checks")], in: db)

        #expect(result.status == 1, "\(result)")
        #expect(!result.stdout.contains("no check has the id"), "\(result.stdout)")
        #expect(result.stdout.contains("\(typo):3:") && result.stdout.contains("'titel'"), "\(result.stdout)")
        #expect(result.stdout.contains("\(broken):4:"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("0 passed, 2 failed\n"), "\(result.stdout)")
    }

    // MARK: - Where tests find checks

    /// proj/checks/center-groups.lua and proj/tests/center_groups_test.lua; returns proj.
    static func conventionalProject(in scratch: Scratch) throws -> String {
        try scratch.write("proj/checks/center-groups.lua", CenterGroups.source)
        try scratch.write("proj/tests/center_groups_test.lua", Self.centerGroupsTests)
        return scratch.path("proj")
    }

    static let centerGroupsTests = """
        return {
          ["a center without a group fails"] = function(t)
            local tenant = t.tenant{ slug = "lonely" }
            t.center{ tenant = tenant }
            t.eq(t.check("center-groups", "lonely"), "fail")
          end,
          ["a center with a group passes"] = function(t)
            local tenant = t.tenant{ slug = "grouped" }
            local center = t.center{ tenant = tenant }
            t.group{ tenant = tenant, center = center }
            local status, message = t.check("center-groups", "grouped")
            t.eq(status, "pass")
            t.eq(message, "all 1 centers have a group")
          end,
        }
        """

    @Test("tests/x_test.lua finds checks/ beside tests/, from any folder, without --checks")
    func conventionalLayout() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let project = try Self.conventionalProject(in: scratch)
        let before = try db.rowCounts()

        let fromChecks = try TestCommandTests.runTests(["../tests/center_groups_test.lua"], in: db, workingDirectory: project + "/checks")
        #expect(fromChecks.status == 0 && fromChecks.stdout.hasSuffix("2 passed, 0 failed\n"), "\(fromChecks)")
        let fromProject = try TestCommandTests.runTests([], in: db, workingDirectory: project)
        #expect(fromProject.status == 0 && fromProject.stdout.hasSuffix("2 passed, 0 failed\n"), "\(fromProject)")
        #expect(try db.rowCounts() == before)
    }

    @Test("a test file beside its check finds it without --checks, and with --checks naming that folder too")
    func besideItsCheck() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("ours/center-groups.lua", CenterGroups.source)
        try scratch.write("ours/center_groups_test.lua", Self.centerGroupsTests)

        let alone = try TestCommandTests.runTests([scratch.path("ours")], in: db)
        #expect(alone.status == 0 && alone.stdout.hasSuffix("2 passed, 0 failed\n"), "\(alone)")
        let named = try TestCommandTests.runTests([scratch.path("ours"), "--checks", scratch.path("ours")], in: db)
        #expect(named.status == 0 && named.stdout.hasSuffix("2 passed, 0 failed\n"), "\(named)")
    }

    @Test("--checks takes one check module, for test and for check")
    func checksFile() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let module = try scratch.write("lib/center-groups.lua", CenterGroups.source)
        try scratch.write("lib/other.lua", "error('not a check, and never loaded')")
        let test = try scratch.write("elsewhere/center_groups_test.lua", Self.centerGroupsTests)

        let tested = try TestCommandTests.runTests([test, "--checks", module], in: db)
        #expect(tested.status == 0 && tested.stdout.hasSuffix("2 passed, 0 failed\n"), "\(tested)")

        try CenterGroups.lonelyTenant(in: db)
        let checked = try ProvisionBinary.check("lonely", ["--checks", module], in: db)
        #expect(checked.status == 1, "\(checked)")
        #expect(checked.checkStatus("center-groups") == "fail", "\(checked)")
        #expect(checked.checkIDs == builtInChecks + ["center-groups"], "only the module named: \(checked.checkIDs)")
    }

    @Test("--checks naming nothing, or a file that is no Lua module, is refused (2) naming it; nothing written",
          arguments: ["check", "test"])
    func checksMissing(_ command: String) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("pilot", owner: "owner@pilot.example", in: db)
        let test = try scratch.write("suite/x_test.lua", #"return { ["x"] = function(t) t.check("catalog", "pilot") end }"#)
        let notes = try scratch.write("notes.txt", "not a check")
        let before = try db.rowCounts()

        for path in [scratch.path("nowhere/center-groups.lua"), notes] {
            let arguments = command == "check" ? ["check", "--tenantSlug", "pilot"] : ["test", test]
            let result = try ProvisionBinary.run(arguments + ["--checks", path, "--json"], databaseURL: db.url)
            #expect(result.status == 2 && result.errorField == "checks", "\(result)")
            #expect(result.errorMessage?.contains(path) == true, "\(result)")
            try ContractSchema.validate(result.stdout, as: .error)
        }
        #expect(try db.rowCounts() == before)
    }

    // MARK: - --only

    @Test("--only with a misspelt id suggests the closest (2); nothing written", arguments: [["--all"], ["--tenantSlug", "pilot"]])
    func onlySuggestion(_ target: [String]) throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("pilot", owner: "owner@pilot.example", in: db)
        let before = try db.rowCounts()

        let result = try ProvisionBinary.run(["check"] + target + ["--only", "owner-pasword", "--json"], databaseURL: db.url)

        #expect(result.status == 2 && result.errorField == "only", "\(result)")
        #expect(result.errorMessage?.contains("did you mean 'owner-password'?") == true, "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try db.rowCounts() == before)

        let text = try ProvisionBinary.run(["check"] + target + ["--only", "owner-pasword"], databaseURL: db.url)
        #expect(text.status == 2 && text.stderr.contains("did you mean 'owner-password'?"), "\(text)")
    }
}

/// `ctx.count(table)` runs the binary's own statement (no cursor, no fetch): it must still
/// see only the tenant's rows, as the reader, after whatever a query before it set.
@Suite("ctx.count: the tenant's rows, whatever the queries before it set")
struct ContextCountTests {
    static let source = """
        return {
          id = "counts",
          title = "Counts",
          run = function(ctx)
            -- What a query may set for the rest of its transaction: undone before the count.
            ctx.query("SELECT set_config('search_path', 'pg_catalog', true) AS path, set_config('statement_timeout', '0', true) AS limit_off, pg_advisory_lock(7707) AS locked")
            local centers, levels = ctx.count("centers"), ctx.count("levels")
            local ok, e = pcall(ctx.count, "centers", nil, "stray")
            ctx.pass(("%d %d %s %s"):format(centers, levels, tostring(ok), tostring(e)))
          end,
        }
        """

    @Test func countsAreTheTenantsOwnAfterWhatAQueryBeforeThemSet() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try CenterGroups.lonelyTenant(in: db)
        try ProvisionBinary.tenant("busy", owner: "owner@busy.example", in: db)
        try db.connect().run(fixture: "INSERT INTO centers (tenant_id, name) SELECT id, 'Center ' || g FROM tenants, generate_series(1, 3) g WHERE slug = 'busy'")
        try scratch.write("checks/counts.lua", Self.source)

        for (slug, centers) in [("lonely", 1), ("busy", 3)] {
            let result = try ProvisionBinary.check(slug, ["--checks", scratch.path("checks"), "--only", "counts"], in: db)
            #expect(result.checkStatus("counts") == "pass", "\(result)")
            let message = result.checkMessage("counts")
            #expect(message.hasPrefix("\(centers) 0 false "), "\(slug): \(message)")
            #expect(message.contains("give the condition as the second argument"), "\(message)")
        }
        #expect(try db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7707") == "0")
    }
}
