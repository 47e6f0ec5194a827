import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §4/§5: one run is one transaction; `provision.transaction(fn, ...)` is a
// savepoint unit: `true, results…` on return, `false, err` (the original error object,
// unchanged) on error, rolled back alone.

@Suite("provision.transaction") struct TransactionUnitTests {
    @Test func aUnitThatReturnsGivesTrueAndItsResultsAndCommitsWithTheRun() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(provision.transaction(function(a, b)
              local t = provision.createTenant{slug = "pilot", name = "Pilot", supportEmail = "help@pilot.example.com"}
              return a + b, t.slug, nil, "last"
            end, 1, 2))
            """)
        #expect(log == ["true\t3\tpilot\tnil\tlast"])
        #expect(try playbook.db.slugs() == [], "a unit commits with the run, not before")
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["pilot"])
    }

    @Test func aUnitThatRaisesGivesFalseAndTheOriginalErrorObject() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local mt = {__tostring = function() return "mine" end}
            local mine = setmetatable({code = "my_code", detail = {1, 2, 3}}, mt)
            local ok, e = provision.transaction(function() error(mine) end)
            print(ok, rawequal(e, mine), rawequal(getmetatable(e), mt), #e.detail, e.code, rawget(e, "message"))
            local ok2, e2 = provision.transaction(function() error("plain text", 0) end)
            print(ok2, e2)
            local ok3, e3 = provision.transaction(function() error(42) end)
            print(ok3, math.type(e3), e3)
            local ok4, e4 = provision.transaction(function() error() end)
            print(ok4, e4)
            """)
        #expect(log == [
            "false\ttrue\ttrue\t3\tmy_code\tnil",
            "false\tplain text",
            "false\tinteger\t42",
            "false\tnil",
        ])
    }

    @Test func aPrimitivesErrorInsideAUnitComesBackAsItsErrorTable() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = provision.transaction(function()
              provision.createTenant{slug = "pilot", name = "Pilot"}
              provision.createTenant{slug = "pilot", name = "Pilot twice"}
            end)
            print(ok, e.code, e.field, tostring(e):match("^slug_exists: ") ~= nil)
            """)
        #expect(log == ["false\tslug_exists\tslug\ttrue"])
    }

    @Test func aFailedUnitsRowsAreGoneWhileTheOthersCommit() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            for _, slug in ipairs{"alpha", "beta", "gamma"} do
              local ok, e = provision.transaction(function()
                local t = provision.createTenant{slug = slug, name = slug, supportEmail = "help@" .. slug .. ".example.com"}
                local u = provision.createOwner{email = "owner@" .. slug .. ".example.com"}
                provision.linkMembership{tenant = t, user = u, role = "OWNER"}
                if slug == "beta" then error({code = "beta_refused", message = "no beta"}) end
              end)
              print(slug, ok)
            end
            """)
        #expect(log == ["alpha\ttrue", "beta\tfalse", "gamma\ttrue"])
        let run = playbook.session.run
        #expect(run.tenants.map(\.slug) == ["alpha", "gamma"])
        #expect(run.failures.map(\.tenantSlug) == ["beta"])
        #expect(!run.actions.contains { $0.text.contains("beta") }, "a failed unit's actions are undone: \(run.actions)")
        let credentials = try playbook.commit()
        #expect(credentials.map(\.email).sorted() == ["owner@alpha.example.com", "owner@gamma.example.com"],
                "no password for a user whose unit was rolled back")
        #expect(try playbook.db.slugs() == ["alpha", "gamma"])
        #expect(try playbook.db.emails() == ["owner@alpha.example.com", "owner@gamma.example.com"])
        #expect(try playbook.db.count("audit_events WHERE detail::text LIKE '%beta%'") == 0)
    }

    @Test func aFailedUnitFreesItsSlugForALaterUnit() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(provision.transaction(function()
              provision.createTenant{slug = "pilot", name = "First try"}
              error("changed my mind", 0)
            end))
            print(provision.transaction(function()
              return provision.createTenant{slug = "pilot", name = "Second try"}.name
            end))
            """)
        #expect(log == ["false\tchanged my mind", "true\tSecond try"])
        _ = try playbook.commit()
        #expect(try playbook.db.scalar("SELECT name FROM tenants") == "Second try")
    }

    @Test func nestedUnitsFailAloneInsideTheirParent() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(provision.transaction(function()
              provision.createTenant{slug = "outer", name = "Outer"}
              local ok, e = provision.transaction(function()
                provision.createTenant{slug = "inner", name = "Inner"}
                error("inner fails", 0)
              end)
              provision.createTenant{slug = "after", name = "After"}
              return ok, e
            end))
            """)
        #expect(log == ["true\tfalse\tinner fails"])
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["after", "outer"])
    }

    @Test func aFailingParentTakesItsSuccessfulChildrenWithIt() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(provision.transaction(function()
              print(provision.transaction(function() provision.createTenant{slug = "child", name = "Child"} end))
              error("parent fails", 0)
            end))
            provision.createTenant{slug = "kept", name = "Kept"}
            """)
        #expect(log == ["true", "false\tparent fails"])
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["kept"])
    }

    @Test func aLateUncaughtErrorRollsBackTheWholeRunUnitsIncluded() throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute("""
                assert(provision.transaction(function() provision.createTenant{slug = "alpha", name = "Alpha"} end))
                assert(provision.transaction(function() provision.createOwner{email = "owner@alpha.example.com"} end))
                provision.createTenant{slug = "beta", name = "Beta"}
                error("late")
                """)
        }
        #expect(error?.code == .playbookError)
        #expect(try playbook.commit().isEmpty, "a failed run reveals no password")
        #expect(try playbook.db.rowCounts().filter { $0.key != "schema_migrations" && $0.key != "audit_events" }.values.allSatisfy { $0 == 0 })
        #expect(try playbook.db.count("audit_events WHERE action <> 'schema.migrate'") == 0)
    }

    @Test func somethingOtherThanAFunctionIsInvalidInput() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute(#"print(select(2, pcall(provision.transaction, "later")).code)"#)
        #expect(log == ["invalid_input"])
    }
}

@Suite("One run, one transaction") struct RunTransactionTests {
    @Test func nothingIsVisibleToAnotherConnectionBeforeCommit() throws {
        let playbook = try Playbook.fresh()
        try playbook.execute("""
            local t = provision.createTenant{slug = "pilot", name = "Pilot", supportEmail = "help@pilot.example.com"}
            local u = provision.createOwner{email = "owner@pilot.example.com"}
            provision.linkMembership{tenant = t, user = u, role = "OWNER"}
            """)
        #expect(try playbook.db.slugs() == [])
        #expect(try playbook.db.emails() == [])
        #expect(try playbook.db.count("audit_events WHERE action <> 'schema.migrate'") == 0)
        let credentials = try playbook.commit()
        #expect(credentials.count == 1)
        #expect(try playbook.db.memberships() == ["pilot owner@pilot.example.com OWNER"])
        #expect(try playbook.db.count("audit_events WHERE action <> 'schema.migrate'") == 3)
    }

    @Test func anUncaughtErrorRollsBackAndIsAPlaybookErrorWithFileAndLine() throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute("""
                provision.createTenant{slug = "pilot", name = "Pilot"}

                error("the center list is empty")
                """)
        }
        #expect(error?.code == .playbookError)
        #expect(error?.exitStatus == 1)
        #expect(error?.message.hasPrefix("test.lua:3: ") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("the center list is empty") == true)
        #expect(error?.detail?.contains("stack traceback") == true, "a traceback for stderr: \(error?.detail ?? "nil")")
        #expect(try playbook.db.slugs() == [])
    }

    @Test func anUncaughtContractCodeKeepsItsCodeAndExitStatus() throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute("""
                provision.createTenant{slug = "pilot", name = "Pilot"}
                error({code = "slug_exists", message = "pilot is taken", field = "slug"})
                """)
        }
        #expect(error?.code == .slugExists)
        #expect(error?.exitStatus == 3)
        #expect(error?.field == "slug")
        #expect(error?.message.contains("test.lua:2") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("pilot is taken") == true)
        #expect(try playbook.db.slugs() == [])
    }

    @Test func anUncaughtErrorOfAPrimitiveKeepsItsCodeAndNamesTheCallersLine() throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute("""
                provision.createTenant{slug = "pilot", name = "Pilot"}
                provision.createTenant{slug = "Second", name = "Second"}
                """)
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.exitStatus == 2)
        #expect(error?.field == "slug")
        #expect(error?.message.hasPrefix("test.lua:2: ") == true, "\(error?.message ?? "")")
        #expect(try playbook.db.slugs() == [])
    }

    @Test func anUncaughtErrorInsideDryRunNamesTheLineThatRaisedIt() throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute("""
                provision.dryRun(function()
                  provision.createTenant{slug = "pilot", name = "Pilot"}
                  error({code = "no_centers", message = "add a center first"})
                end)
                """)
        }
        #expect(error?.code == .playbookError)
        #expect(error?.message.hasPrefix("test.lua:3: ") == true, "\(error?.message ?? "")")
        #expect(error?.detail?.contains("test.lua:3") == true, "the traceback shows the raising line: \(error?.detail ?? "nil")")
    }

    @Test func aCodeOfThePlaybooksOwnIsAPlaybookErrorThatKeepsTheCode() throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute(#"error({code = "no_centers", message = "add a center first"})"#)
        }
        #expect(error?.code == .playbookError)
        #expect(error?.exitStatus == 1)
        #expect(error?.message.contains("no_centers") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("add a center first") == true)
        #expect(error?.message.contains("test.lua:1") == true)
    }

    @Test(arguments: [
        ("error(42)", "42"),
        ("error(true)", "true"),
        ("error({message = \"only a message\"})", "only a message"),
        ("error({})", "table"),
        ("error(nil)", "without a message"),
        ("error()", "without a message"),
        ("local t = nil; t.field = 1", "attempt to index"),
        ("error(setmetatable({}, {__index = function() error(\"trap\") end}))", "table"),
    ])
    func whateverValueIsRaisedTheRunFailsAsAPlaybookErrorWithFileAndLine(lua: String, expected: String) throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) { try playbook.execute(lua) }
        #expect(error?.code == .playbookError)
        #expect(error?.message.contains("test.lua:1") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
        #expect(try playbook.commit().isEmpty)
    }

    @Test func aSyntaxErrorIsInvalidInputAndNothingRuns() throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute("""
                provision.createTenant{slug = "pilot", name = "Pilot"}
                local = 1
                """)
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.exitStatus == 2)
        #expect(error?.message.contains("test.lua:2") == true, "\(error?.message ?? "")")
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == [])
    }

    @Test func aBinaryChunkIsRefusedAsAPlaybook() throws {
        let playbook = try Playbook.fresh()
        let bytecode: [UInt8] = [0x1B, 0x4C, 0x75, 0x61, 0x54, 0x00, 0x19, 0x93, 0x0D, 0x0A, 0x1A, 0x0A, 0x04, 0x08, 0x08]
        let error = #expect(throws: ProvisionError.self) {
            try playbook.session.execute(source: bytecode, chunkName: "compiled.luac", folder: FileManager.default.temporaryDirectory)
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("binary") == true, "\(error?.message ?? "")")
    }
}
