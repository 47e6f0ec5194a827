import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §5: memory and run time are bounded (`--maxMemoryMB`, `--timeout`) with
// `limit_exceeded` errors, not hangs or crashes; whatever a playbook raises, the run
// fails cleanly. After each, the host is still sound: another session in this process
// provisions and commits.

@Suite("Limits and hostile playbooks") struct LimitTests {
    /// Runs `lua` under `limits`, expects it to fail with `code`, nothing of it in the
    /// database, and a sound host afterwards; returns the error.
    @discardableResult
    func expectFailure(_ lua: String, limits: LuaLimits = LuaLimits(), code: ErrorCode,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> ProvisionError? {
        let playbook = try Playbook.fresh(limits: limits)
        let error = #expect(throws: ProvisionError.self, sourceLocation: sourceLocation) {
            try playbook.execute("""
                provision.createTenant{slug = "before-limit", name = "Before", supportEmail = "help@before.example.com"}
                \(lua)
                """)
        }
        #expect(error?.code == code, "\(error.map { "\($0.code): \($0.message)" } ?? "no error")", sourceLocation: sourceLocation)
        #expect(try playbook.commit().isEmpty, sourceLocation: sourceLocation)
        #expect(try playbook.db.slugs() == [], "the run was rolled back", sourceLocation: sourceLocation)
        try expectHostStillSound(sourceLocation: sourceLocation)
        return error
    }

    @Test func anInfiniteLoopThatSwallowsErrorsStillHitsTheTimeout() throws {
        try expectFailure("while true do pcall(function() while true do end end) end",
                          limits: LuaLimits(timeoutSeconds: 1), code: .limitExceeded)
    }

    @Test func anInfiniteLoopInsideAUnitCannotBeCaughtByTheUnit() throws {
        try expectFailure("""
            while true do provision.transaction(function() while true do end end) end
            """, limits: LuaLimits(timeoutSeconds: 1), code: .limitExceeded)
    }

    @Test func anInfiniteLoopInACoroutineHitsTheTimeout() throws {
        try expectFailure("""
            while true do pcall(coroutine.wrap(function() while true do pcall(function() while true do end end) end end)) end
            """, limits: LuaLimits(timeoutSeconds: 1), code: .limitExceeded)
    }

    @Test func aMemoryBombHitsTheMemoryLimit() throws {
        let error = try expectFailure("""
            local t = {}
            for i = 1, math.maxinteger do t[i] = ("x"):rep(1024) .. i end
            """, limits: LuaLimits(maxMemoryMB: 32), code: .limitExceeded)
        #expect(error?.message.contains("memory") == true)
    }

    @Test func aMemoryBombInsidePcallStillFailsTheRun() throws {
        try expectFailure("""
            for round = 1, 100 do
              pcall(function() local t = {} for i = 1, math.maxinteger do t[i] = ("x"):rep(1024) .. i end end)
            end
            """, limits: LuaLimits(maxMemoryMB: 32), code: .limitExceeded)
    }

    /// A single request over the limit (string.rep, table.concat) is refused once, without
    /// the retry that marks the limit as hit; caught, it must still fail the run.
    @Test func oneHugeAllocationInsidePcallStillFailsTheRun() throws {
        try expectFailure("""
            local ok = pcall(string.rep, "x", 64 * 1024 * 1024)
            print("swallowed", ok)
            """, limits: LuaLimits(maxMemoryMB: 32), code: .limitExceeded)
    }

    @Test func oneHugeAllocationUncaughtIsLimitExceeded() throws {
        try expectFailure(#"local s = ("x"):rep(64 * 1024 * 1024)"#, limits: LuaLimits(maxMemoryMB: 32), code: .limitExceeded)
    }

    /// Lua that a host function runs for the playbook (a `__tostring` that print, log or
    /// an error message formats) is the playbook's code too: the limit holds there.
    @Test(arguments: [
        "print(bomb)",
        "provision.log('value:', bomb)",
        "provision.warn(bomb)",
        "provision.transaction(function() error({code = 'mine', message = bomb}) end)",
    ])
    func aMemoryBombInAMetamethodTheHostCallsHitsTheMemoryLimit(call: String) throws {
        let playbook = try Playbook.fresh(limits: LuaLimits(maxMemoryMB: 32))
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute("""
                local bomb = setmetatable({}, {__tostring = function()
                  local t = {}
                  for i = 1, 64 do t[i] = ("x"):rep(1024 * 1024) .. i end
                  return "held " .. collectgarbage("count") // 1024 .. " MB"
                end})
                \(call)
                """)
        }
        #expect(error?.code == .limitExceeded, "\(playbook.log) \(playbook.session.run.warnings)")
        #expect(playbook.session.peakMemory < 40 * 1024 * 1024, "peak \(playbook.session.peakMemory / 1_048_576) MB with a 32 MB limit")
        try expectHostStillSound()
    }

    @Test func aMemoryBombInsideAUnitStillFailsTheRun() throws {
        try expectFailure("""
            provision.transaction(function() local t = {} for i = 1, math.maxinteger do t[i] = {i} end end)
            """, limits: LuaLimits(maxMemoryMB: 32), code: .limitExceeded)
    }

    @Test func theMemoryLimitCountsWhatThePlaybookHolds() throws {
        let playbook = try Playbook.fresh(limits: LuaLimits(maxMemoryMB: 64))
        try playbook.execute(#"local big = ("x"):rep(8 * 1024 * 1024) print(#big)"#)
        #expect(playbook.session.peakMemory >= 8 * 1024 * 1024)
        #expect(playbook.session.peakMemory < 64 * 1024 * 1024)
    }

    @Test func deepRecursionIsACleanStackOverflow() throws {
        let error = try expectFailure("local function f(n) return 1 + f(n + 1) end f(1)", code: .playbookError)
        #expect(error?.message.contains("stack overflow") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("test.lua:2") == true)
    }

    @Test func recursionThroughHostCallsIsACleanError() throws {
        // Each level is a Lua → Swift → Lua round trip (a unit inside a unit ...).
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local depth = 0
            local function dive() depth = depth + 1 return provision.transaction(dive) end
            local ok, e = pcall(dive)
            print(depth > 10, ok)
            provision.createTenant{slug = "after-dive", name = "After"}
            """)
        #expect(log == ["true\ttrue"])
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["after-dive"])
        try expectHostStillSound()
    }

    @Test func anErrorValueWhoseTostringRaisesIsACleanPlaybookError() throws {
        let error = try expectFailure("""
            error(setmetatable({}, {__tostring = function() error("tostring exploded") end}))
            """, code: .playbookError)
        #expect(error?.message.contains("test.lua:2") == true, "\(error?.message ?? "")")
    }

    @Test func anErrorTableWhoseMessageTostringRaisesIsACleanPlaybookError() throws {
        try expectFailure("""
            error({code = "mine", message = setmetatable({}, {__tostring = function() error("again") end})})
            """, code: .playbookError)
    }

    @Test func anErrorValueWhoseTostringNeverEndsHitsTheTimeout() throws {
        try expectFailure("""
            error(setmetatable({}, {__tostring = function() while true do end end}))
            """, limits: LuaLimits(timeoutSeconds: 1), code: .limitExceeded)
    }

    @Test func errorNilIsACleanPlaybookError() throws {
        let error = try expectFailure("error(nil)", code: .playbookError)
        #expect(error?.message.contains("test.lua:2") == true, "\(error?.message ?? "")")
    }

    @Test func yieldingAcrossAHostCallIsACleanError() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, a, b = pcall(coroutine.wrap(function()
              return provision.transaction(function() coroutine.yield("escaped") end)
            end))
            print(ok, a, type(b))
            local co = coroutine.create(function() provision.dryRun(function() coroutine.yield() end) end)
            print(coroutine.resume(co))
            print(coroutine.status(co))
            provision.createTenant{slug = "after-yield", name = "After"}
            """)
        #expect(log.count == 3)
        #expect(log[0] == "true\tfalse\tstring", "the unit fails with the yield error and the coroutine returns")
        #expect(log[1].hasPrefix("false\t"))
        #expect(log[2] == "dead")
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["after-yield"])
        try expectHostStillSound()
    }

    @Test func yieldingAcrossAHostCallUncaughtFailsTheRunCleanly() throws {
        try expectFailure("""
            coroutine.wrap(function() provision.dryRun(function() coroutine.yield() end) end)()
            """, code: .playbookError)
    }

    @Test func primitivesKeptInACoroutineWorkFromIt() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local co = coroutine.wrap(function(slug)
              local t = provision.createTenant{slug = slug, name = "From a coroutine"}
              slug = coroutine.yield(t.slug)
              return provision.createTenant{slug = slug, name = "Resumed"}.slug
            end)
            print(co("first-co"), co("second-co"))
            """)
        #expect(log == ["first-co\tsecond-co"])
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["first-co", "second-co"])
    }
}
