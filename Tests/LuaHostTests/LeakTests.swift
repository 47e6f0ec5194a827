import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// Host calls leave nothing behind in the Lua state: after many calls and a full
// collection, the state holds what it held before (measured by the host's counting
// allocator at the moment the playbook logs "before" and "after"). And a finished
// session lets go of its Lua state and its database connection.

@Suite("No leaks across host calls") struct LeakTests {
    /// Slack for what a collection cannot give back at once (string cache, table slack).
    static let slack = 64 * 1024

    /// Runs `loop` between two fully collected measurements; returns (before, after).
    func measure(_ loop: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (before: Int, after: Int) {
        let playbook = try Playbook.fresh()
        try playbook.execute("""
            local function settle() collectgarbage() collectgarbage() end
            \(loop)
            settle()
            provision.log("before")
            \(loop)
            settle()
            provision.log("after")
            """)
        #expect(playbook.log.suffix(2) == ["before", "after"], sourceLocation: sourceLocation)
        let memory = playbook.memoryAtLog.suffix(2)
        try #require(memory.count == 2, sourceLocation: sourceLocation)
        playbook.rollback()
        return (memory[memory.startIndex], memory[memory.startIndex + 1])
    }

    @Test func aHundredThousandDryRunCallsLeaveMemoryFlat() throws {
        let (before, after) = try measure("for i = 1, 100000 do provision.dryRun() end")
        #expect(after - before < Self.slack, "grew by \(after - before) bytes (from \(before))")
    }

    @Test func tenThousandLookUpsOfAMissingTenantLeaveMemoryFlat() throws {
        let (before, after) = try measure(#"for i = 1, 10000 do assert(provision.findTenant("nowhere") == nil) end"#)
        #expect(after - before < Self.slack, "grew by \(after - before) bytes (from \(before))")
    }

    @Test func tenThousandFailingCallsLeaveMemoryFlat() throws {
        // Each raises an error table through the trampoline and is caught.
        let (before, after) = try measure(#"for i = 1, 10000 do assert(not pcall(provision.createTenant, {slug = "Bad"})) end"#)
        #expect(after - before < Self.slack, "grew by \(after - before) bytes (from \(before))")
    }

    @Test func tenThousandUnitsLeaveMemoryFlat() throws {
        let (before, after) = try measure("""
            for i = 1, 5000 do
              assert(provision.transaction(function(x) return x end, i))
              assert(not provision.transaction(function() error({code = "no"}) end))
            end
            """)
        #expect(after - before < Self.slack, "grew by \(after - before) bytes (from \(before))")
    }

    @Test func tenThousandQueriesLeaveMemoryFlat() throws {
        let (before, after) = try measure(#"for i = 1, 10000 do assert(provision.query("SELECT $1::int AS n", i)[1].n == i) end"#)
        #expect(after - before < Self.slack, "grew by \(after - before) bytes (from \(before))")
    }

    @Test func theMeasurementSeesWhatThePlaybookKeeps() throws {
        // The same measurement finds a real leak: it can fail.
        let (before, after) = try measure("kept = kept or {} for i = 1, 10000 do kept[#kept + 1] = {i} end")
        #expect(after - before > Self.slack)
    }

    @Test func aFinishedSessionReleasesItsLuaStateAndItsConnection() throws {
        // A host that runs many playbooks in one process (tests, a future server) must
        // not keep every session's Lua state and database connection alive.
        let database = try TestDatabase.create()
        weak var releasedSession: PlaybookSession?
        weak var releasedConnection: Connection?
        do {
            let connection = try database.connect()
            let session = try PlaybookSession(connection: connection, options: PlaybookOptions(stdlib: .checkout))
            session.logSink = { _ in }
            try session.execute(source: Array(#"provision.createTenant{slug = "pilot", name = "Pilot"}"#.utf8),
                                chunkName: "test.lua", folder: FileManager.default.temporaryDirectory)
            _ = try session.commit()
            releasedSession = session
            releasedConnection = connection
        }
        #expect(releasedSession == nil, "the session (and its Lua state) outlived its last reference")
        #expect(releasedConnection == nil, "the session's database connection outlived it")
        #expect(try database.slugs() == ["pilot"])
    }
}
