import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §5: playbooks run with base, string, table, math, utf8 and coroutine, plus
// os.time/clock/date/getenv and io for reading files; no os.exit, os.execute, io.popen,
// package.loadlib, C modules, binary chunks or debug. `require` finds the playbook's
// folder and stdlib/. Each refusal is an error the playbook can catch, never a crash.

@Suite("Sandbox") struct SandboxTests {
    /// A facility that acts on the system: calling it raises `forbidden`, and the run
    /// carries on.
    @Test(arguments: [
        "os.exit(3)",
        "os.exit(true)",
        "os.execute('touch DIR/escape')",
        "os.execute()",
        "os.remove('DIR/target')",
        "os.rename('DIR/target', 'DIR/moved')",
        "os.tmpname()",
        "io.popen('id')",
        "io.open('DIR/escape', 'w')",
        "io.open('DIR/escape', 'a')",
        "io.open('DIR/target', 'r+')",
        "io.open('DIR/escape', 'wb')",
        "io.write('to stdout')",
        "io.output('DIR/escape')",
        "io.input('/etc/hostname')",
        "io.read('l')",
        "io.lines()",
        "io.tmpfile()",
        "package.loadlib('libc.so.6', 'system')",
        "package.loadlib('libc.so.6', '*')",
        "dofile('DIR/target')",
        "loadfile('DIR/target')",
    ])
    func aFacilityThatActsIsForbidden(call: String) throws {
        // DIR: a folder of this test's own, holding `target` (a Lua file).
        let folder = try temporaryFolder(["target": "return 1\n"])
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(function() return \(call.replacingOccurrences(of: "DIR", with: folder.path)) end)
            print(ok, type(e) == "table" and e.code or tostring(e))
            print("still running")
            """)
        #expect(log == ["false\tforbidden", "still running"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["target"],
                "nothing was created, removed or renamed")
        #expect(try String(contentsOf: folder.appendingPathComponent("target"), encoding: .utf8) == "return 1\n")
    }

    @Test func debugAndStringDumpAreAbsent() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(debug, string.dump, package.loaded.debug, ("").dump, rawget(_G, "debug"))
            """)
        #expect(log == ["nil\tnil\tnil\tnil\tnil"])
    }

    @Test func loadRefusesABinaryChunkWhateverModeIsAsked() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute(#"""
            local bytecode = "\27Lua\84\0\25\147\r\n\26\n\4\8\8"
            for _, mode in ipairs{"b", "bt", "t"} do
              local f, message = load(bytecode, "=compiled", mode)
              print(mode, f, message:find("binary") ~= nil)
            end
            local f = load(function() local s = bytecode; bytecode = nil; return s end, "=reader", "b")
            print(f)
            print(load("return 1 + 1")())
            """#)
        #expect(log == ["b\tnil\ttrue", "bt\tnil\ttrue", "t\tnil\ttrue", "nil", "2"])
    }

    @Test func aCModuleCannotBeRequiredEvenWithCPathRestored() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            package.cpath = "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;/usr/local/lib/lua/5.4/?.so;./?.so"
            for _, name in ipairs{"lfs", "socket.core", "lpeg", "cjson"} do
              local ok, e = pcall(require, name)
              print(name, ok, tostring(e):find("not found") ~= nil)
            end
            """)
        #expect(log == ["lfs\tfalse\ttrue", "socket.core\tfalse\ttrue", "lpeg\tfalse\ttrue", "cjson\tfalse\ttrue"])
    }

    @Test(arguments: ["../secret", "..secret", "/tmp/secret", "..", "play/../../secret", ".secret", "secret/", "sec ret"])
    func requireCannotEscapeThePlaybooksFolder(name: String) throws {
        let parent = try temporaryFolder([
            "secret.lua": "print('secret was loaded') return 'secret'",
            "play/mod.lua": "return 'mod'",
        ])
        let folder = parent.appendingPathComponent("play")
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(require, "\(name)")
            print(ok, type(e))
            """, folder: folder)
        #expect(log == ["false\tstring"])
    }

    @Test func requireLoadsAModuleFromThePlaybooksFolderOnce() throws {
        let folder = try temporaryFolder([
            "pilots.lua": """
                local M = {loads = 0}
                _G.pilotsLoads = (_G.pilotsLoads or 0) + 1
                function M.slug(name) return name:lower():gsub("%s+", "-") end
                return M
                """,
            "helpers/init.lua": "return {name = 'helpers'}",
            "helpers/format.lua": "return {name = 'helpers.format', provisionIsGlobal = provision ~= nil}",
        ])
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local pilots = require "pilots"
            local again = require "pilots"
            print(pilots.slug("North Pilot"), rawequal(pilots, again), pilotsLoads)
            print(require("helpers").name, require("helpers.format").name, require("helpers.format").provisionIsGlobal)
            """, folder: folder)
        #expect(log == ["north-pilot\ttrue\t1", "helpers\thelpers.format\ttrue"])
    }

    @Test func aBinaryModuleInThePlaybooksFolderIsRefused() throws {
        let folder = try temporaryFolder()
        try Data([0x1B, 0x4C, 0x75, 0x61, 0x54, 0x00, 0x19, 0x93, 0x0D, 0x0A, 0x1A, 0x0A, 0x04, 0x08, 0x08])
            .write(to: folder.appendingPathComponent("compiled.lua"))
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(require, "compiled")
            print(ok, tostring(e):find("binary") ~= nil)
            """, folder: folder)
        #expect(log == ["false\ttrue"])
    }

    @Test func aModuleWithASyntaxErrorFailsTheRequireCleanly() throws {
        let folder = try temporaryFolder(["broken.lua": "return {"])
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(require, "broken")
            print(ok, tostring(e):find("broken.lua") ~= nil)
            """, folder: folder)
        #expect(log == ["false\ttrue"])
    }

    @Test func readingFilesWorks() throws {
        let folder = try temporaryFolder(["centers.txt": "Edmonton\nCalgary\n"])
        let path = folder.appendingPathComponent("centers.txt").path
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local f = assert(io.open("\(path)", "r"))
            print(f:read("l"), f:read("l"))
            f:close()
            local g = assert(io.open("\(path)"))
            print(#g:read("a"))
            print(g:write("x") == nil)
            g:close()
            local names = {}
            for line in io.lines("\(path)") do names[#names + 1] = line end
            print(table.concat(names, ","))
            print(io.open("/nonexistent/file"))
            """, folder: folder)
        #expect(log.prefix(4) == ["Edmonton\tCalgary", "17", "true", "Edmonton,Calgary"])
        #expect(log.last?.hasPrefix("nil\t/nonexistent/file: ") == true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "Edmonton\nCalgary\n")
    }

    @Test func theAllowedLibrariesAreThere() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(type(string.format), type(table.concat), type(math.floor), type(utf8.char), type(coroutine.wrap))
            print(type(os.time()), type(os.clock()), type(os.date("%Y")), type(os.getenv("PATH")), os.getenv("PROVISION_NO_SUCH_VAR"))
            print(collectgarbage("count") > 0, collectgarbage(), type(collectgarbage("step")), type(collectgarbage("count")))
            print(utf8.char(233), ("%05.1f"):format(math.pi), select("#", table.unpack({1, 2, 3})))
            """)
        #expect(log == [
            "function\tfunction\tfunction\tfunction\tfunction",
            "number\tnumber\tstring\tstring\tnil",
            "true\t0\tboolean\tnumber",
            "é\t003.1\t3",
        ])
    }

    /// Host calls stop the collector while host code runs and restart it after; they must
    /// leave it as the script set it (the host tracks collectgarbage instead of asking).
    @Test func hostCallsLeaveTheCollectorAsTheScriptSetIt() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local p = require "provision"
            print(collectgarbage("isrunning"))
            collectgarbage("stop"); p.dryRun(); print(collectgarbage("isrunning"))
            p.findTenant("nobody"); print(collectgarbage("isrunning"))
            collectgarbage("restart"); p.dryRun(); print(collectgarbage("isrunning"))
            collectgarbage("stop"); collectgarbage("step"); p.dryRun(); print(collectgarbage("isrunning"))
            collectgarbage("restart")
            setmetatable({}, { __gc = function() p.dryRun() end })
            collectgarbage(); collectgarbage(); p.dryRun(); print(collectgarbage("isrunning"))
            print(pcall(collectgarbage, "nonsense"))
            print(collectgarbage("isrunning"), select("#", collectgarbage("count")))
            """)
        #expect(log.count == 8)
        #expect(Array(log.prefix(6)) == ["true", "false", "false", "true", "false", "true"])
        #expect(log[6].hasPrefix("false\t") && log[6].contains("nonsense"))
        #expect(log[7] == "true\t1")
    }

    @Test func theOriginalFacilitiesCannotBeRecoveredFromPackageLoaded() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(rawequal(package.loaded.os, os), rawequal(package.loaded.io, io))
            print(pcall(package.loaded.os.execute, "true"))
            print(package.loaded.debug, package.searchpath)
            """)
        #expect(log.count == 3)
        #expect(log[0] == "true\ttrue")
        #expect(log[1].hasPrefix("false\tforbidden: "))
        #expect(log[2] == "nil\tnil")
    }
}
