import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// CONTRACT §9: a query's rows are fetched in bounded chunks and checked before they are
/// buffered, so a script cannot make the process exceed its memory limit by more than a
/// few MiB. Six rows of 200 MB against a check's 64 MiB once took the process to 2.5 GB.
@Suite("Query results within the memory limit") struct QueryMemoryLimitTests {
    static let hugeQuery = "SELECT repeat('x', 200000000) AS big FROM generate_series(1, 6)"
    /// Far below the 1.2 GB the rows hold, far above what the process needs itself.
    static let peakLimitKiB = 200 * 1024

    @Test("A check querying 6 × 200 MB under its 64 MiB limit ends in error, and the process stays small")
    func aHugeResultInACheck() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("pilot", owner: "owner@pilot.example.com"), databaseURL: db.url).status == 0)
        let folder = try CheckFolder(["huge": "local rows = ctx.query(\"\(Self.hugeQuery)\")\nctx.pass(#rows .. ' rows')"])
        defer { folder.remove() }
        // Time enough for the server to build a 200 MB row on a busy machine: the limit
        // under test is memory.
        let result = try ProvisionBinary.run(["check", "--tenantSlug", "pilot", "--checks", folder.path, "--checkTimeout", "120", "--json"],
                                             databaseURL: db.url, measurePeakMemory: true)
        #expect(result.status == 1, "\(result)")
        let huge = try #require(try CheckOutcome.all(stdout: result.stdout, describing: result.description)["huge"], "\(result)")
        #expect(huge.status == "error", "\(huge.message)")
        #expect(huge.message.contains("larger than the memory left"), "\(huge.message)")
        #expect(try #require(result.peakRSSKiB) < Self.peakLimitKiB, "peak RSS \((result.peakRSSKiB ?? 0) / 1024) MiB")
    }

    @Test("A playbook querying 6 × 200 MB under --maxMemoryMB 64 fails with limit_exceeded, and the process stays small")
    func aHugeResultInAPlaybook() throws {
        let db = try TestDatabase.create()
        let file = NSTemporaryDirectory() + "provision-huge-\(UUID().uuidString).lua"
        try "local rows = provision.query(\"\(Self.hugeQuery)\")\nprint(#rows)\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try ProvisionBinary.run(["run", file, "--maxMemoryMB", "64", "--json"], databaseURL: db.url, measurePeakMemory: true)
        #expect(result.status == 1, "\(result)")
        #expect(result.errorCode == "limit_exceeded", "\(result)")
        #expect(try #require(result.peakRSSKiB) < Self.peakLimitKiB, "peak RSS \((result.peakRSSKiB ?? 0) / 1024) MiB")
    }

    /// The control: the measurement sees memory the process really holds.
    @Test("The peak RSS measurement sees a result the process holds")
    func theMeasurementSeesHeldRows() throws {
        let db = try TestDatabase.create()
        let file = NSTemporaryDirectory() + "provision-held-\(UUID().uuidString).lua"
        try """
            local rows = provision.query("SELECT repeat('x', 50000000) AS big FROM generate_series(1, 4)")
            print(#rows)
            """.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try ProvisionBinary.run(["run", file, "--maxMemoryMB", "1024"], databaseURL: db.url, measurePeakMemory: true)
        #expect(result.status == 0, "\(result)")
        #expect(try #require(result.peakRSSKiB) > Self.peakLimitKiB, "4 × 50 MB held: peak RSS \((result.peakRSSKiB ?? 0) / 1024) MiB")
    }
}
