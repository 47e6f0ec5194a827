import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// Issue 27: libpq is loaded when a command first needs the database, so a command that
// needs none starts without it and its twenty libraries; when it cannot be loaded, a
// command that needs it says so and names the package, and nothing else breaks.

@Suite("libpq is loaded only when the database is needed") struct LibPQLoadingTests {
    /// A folder whose `libpq.so.5` is `contents`: first on LD_LIBRARY_PATH, it is the one
    /// the binary finds.
    func brokenLibPQ(_ contents: String) throws -> (folder: URL, environment: [String: String]) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("libpq-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        switch contents {
        case "empty":
            try Data().write(to: folder.appendingPathComponent("libpq.so.5"))
        default:
            // A real shared library without libpq's functions: an old or wrong libpq.
            let other = try #require(["/usr/lib/x86_64-linux-gnu/libcsv.so.3", "/usr/lib/aarch64-linux-gnu/libcsv.so.3"]
                .first { FileManager.default.fileExists(atPath: $0) })
            try Data(contentsOf: URL(fileURLWithPath: other).resolvingSymlinksInPath()).write(to: folder.appendingPathComponent("libpq.so.5"))
        }
        return (folder, ["LD_LIBRARY_PATH": folder.path])
    }

    @Test func aCommandWithoutADatabaseNeverLoadsIt() throws {
        let (folder, environment) = try brokenLibPQ("empty")
        defer { try? FileManager.default.removeItem(at: folder) }
        let dry = try ProvisionBinary.run(["tenant", "--tenantSlug", "pilot", "--tenantName", "Pilot", "--ownerEmail", "owner@pilot.example.com",
                                           "--dryRun", "--json"], databaseURL: nil, environment: environment)
        #expect(dry.status == 0, "\(dry)")
        #expect(try ProvisionBinary.run(["--help"], databaseURL: nil, environment: environment).status == 0)
    }

    @Test(arguments: ["empty", "without its functions"])
    func aDatabaseCommandSaysLibPQCannotBeLoaded(contents: String) throws {
        let db = try TestDatabase.create()
        let (folder, environment) = try brokenLibPQ(contents)
        defer { try? FileManager.default.removeItem(at: folder) }
        let before = try db.rowCounts()
        let text = try ProvisionBinary.run(Runbook.staging, databaseURL: db.url, environment: environment)
        #expect(text.status == 4, "\(text)")
        let expected = contents == "empty" ? "cannot load libpq, PostgreSQL's client library" : "the libpq this system has is too old: it has no PQconnectdbParams"
        #expect(text.stderr.contains(expected) && text.stderr.contains("apt-get install libpq5"), "\(text)")
        let json = try ProvisionBinary.run(["list", "--json"], databaseURL: db.url, environment: environment)
        #expect(json.status == 4 && json.errorCode == "database_unavailable", "\(json)")
        #expect(try db.rowCounts() == before)
    }
}
