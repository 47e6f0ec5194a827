import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §5: what a playbook finds around it: `provision.vars`, `arg` and `...`,
// `log`/`warn`/`print`, `dryRun()` and `dryRun(fn)`, and `require "provision"`.

@Suite("Playbook environment") struct PlaybookEnvironmentTests {
    @Test func varsHoldTheOperatorsKeyValuePairs() throws {
        let playbook = try Playbook.fresh(vars: ["slug": "pilot", "owner.email": "owner@pilot.example.com", "empty": ""])
        let log = try playbook.execute("""
            local v = provision.vars
            print(v.slug, v["owner.email"], v.empty == "", v.missing)
            """)
        #expect(log == ["pilot\towner@pilot.example.com\ttrue\tnil"])
    }

    @Test func argumentsArriveInArgAndAsTheChunksVarargs() throws {
        let playbook = try Playbook.fresh(arguments: ["wave-3.csv", "two words", ""])
        let log = try playbook.execute("""
            print(#arg, arg[1], arg[2], arg[3] == "")
            print(select("#", ...), ...)
            """)
        #expect(log == ["3\twave-3.csv\ttwo words\ttrue", "3\twave-3.csv\ttwo words\t"])
    }

    @Test func withoutArgumentsArgIsAnEmptyTable() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute(##"print(type(arg), #arg, select("#", ...))"##)
        #expect(log == ["table\t0\t0"])
    }

    @Test func printAndLogGoToTheLogSinkTabSeparated() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print("a", 1, nil, true, 2.5)
            provision.log("logged", 42)
            print()
            print(setmetatable({}, {__tostring = function() return "custom" end}))
            """)
        #expect(log == ["a\t1\tnil\ttrue\t2.5", "logged\t42", "", "custom"])
    }

    @Test func printSurvivesAValueWhoseTostringFails() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print("before", setmetatable({}, {__tostring = function() error("no") end}), "after")
            """)
        #expect(log.count == 1)
        #expect(log.first?.hasPrefix("before\t") == true)
        #expect(log.first?.hasSuffix("\tafter") == true)
    }

    @Test func warnAddsToTheRunsWarnings() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute(#"provision.warn("center", "Edmonton", "has no time zone")"#)
        #expect(log.isEmpty)
        #expect(playbook.session.run.warnings == ["center\tEdmonton\thas no time zone"])
    }

    @Test func requireProvisionIsTheGlobalModule() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local p = require "provision"
            print(rawequal(p, provision), rawequal(package.loaded.provision, provision), type(p.createTenant))
            """)
        #expect(log == ["true\ttrue\tfunction"])
    }

    @Test func theModuleHasEveryFunctionOfTheContract() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            for _, name in ipairs{"createTenant", "createOwner", "linkMembership", "dryRun", "transaction",
                                  "findTenant", "findUser", "query", "readCSV", "log", "warn"} do
              if type(provision[name]) ~= "function" then print("missing " .. name) end
            end
            print(type(provision.vars))
            """)
        #expect(log == ["table"])
    }

    // MARK: dryRun

    @Test func dryRunIsFalseInARealRunAndTrueInADryRun() throws {
        let real = try Playbook.fresh()
        #expect(try real.execute("print(provision.dryRun(), type(provision.dryRun()))") == ["false\tboolean"])
        let dry = try Playbook.fresh(dryRun: true)
        #expect(try dry.execute("print(provision.dryRun())") == ["true"])
    }

    @Test func dryRunOfAFunctionPlansItWritesNothingAndReturnsThePlan() throws {
        let playbook = try Playbook.fresh()
        let before = try playbook.db.rowCounts()
        let log = try playbook.execute("""
            local plan, planned, id, inside = provision.dryRun(function(slug)
              local t = provision.createTenant{slug = slug, name = "Planned", supportEmail = "help@planned.example.com"}
              local u = provision.createOwner{email = "owner@planned.example.com"}
              provision.linkMembership{tenant = t, user = u, role = "OWNER"}
              return t.planned, t.id, provision.dryRun()
            end, "planned")
            print(planned, id, inside, type(plan.actions), #plan.actions, type(plan.warnings))
            for _, action in ipairs(plan.actions) do print(action.text) end
            print(provision.dryRun(), provision.findTenant("planned"))
            """)
        #expect(log == [
            "true\tnil\ttrue\ttable\t3\ttable",
            "create tenant planned",
            "create user owner@planned.example.com with a one-time password",
            "add owner@planned.example.com to planned as OWNER",
            "false\tnil",
        ])
        #expect(playbook.session.run.actions.isEmpty, "the plan is handed to the playbook, not added to the run")
        #expect(try playbook.commit().isEmpty, "a plan issues no password")
        #expect(try playbook.db.rowCounts() == before)
    }

    @Test func aRunThatPlansFirstThenWritesCommitsOnlyTheWrites() throws {
        let playbook = try Playbook.fresh()
        try playbook.execute("""
            local plan = provision.dryRun(function() provision.createTenant{slug = "pilot", name = "Pilot"} end)
            if #plan.actions == 1 then provision.createTenant{slug = "pilot", name = "Pilot"} end
            """)
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["pilot"])
    }

    @Test func anErrorInsideDryRunPropagatesUnchanged() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local mine = {code = "mine"}
            local ok, e = pcall(provision.dryRun, function() provision.createTenant{slug = "x1x", name = "X"} error(mine) end)
            print(ok, rawequal(e, mine), provision.dryRun())
            """)
        #expect(log == ["false\ttrue\tfalse"])
        _ = try playbook.commit()
        #expect(try playbook.db.count("tenants") == 0)
    }

    @Test func dryRunOfSomethingOtherThanAFunctionIsInvalidInput() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute(#"print(select(2, pcall(provision.dryRun, "now")).code)"#)
        #expect(log == ["invalid_input"])
    }
}
