import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// Shared vocabulary of the Lua host suites: a playbook session on a database of its own,
// what the playbook printed, and look-ups of what landed in the database.

extension Stdlib {
    /// The repository's stdlib/: what the in-process suites run (the binary finds its own).
    static let checkout: Stdlib = {
        do { return try Stdlib(root: URL(fileURLWithPath: Repository.path("stdlib"))) } catch { fatalError("\(error)") }
    }()
}

/// One in-process playbook run (CONTRACT §5): a `PlaybookSession` whose `print` and
/// `provision.log` lines are kept in `log` instead of going to stderr.
final class Playbook {
    let database: TestDatabase?
    let session: PlaybookSession
    /// Every line `print` / `provision.log` wrote, in order.
    private(set) var log: [String] = []
    /// `session.memoryInUse` at the moment each line was logged (for leak checks).
    private(set) var memoryAtLog: [Int] = []

    /// The server process of the session's connection.
    private let backend: String?

    /// A session on `database` (nil: a dry run without DATABASE_URL).
    init(database: TestDatabase?, dryRun: Bool = false, vars: [String: String] = [:], arguments: [String] = [],
         limits: LuaLimits = LuaLimits()) throws {
        self.database = database
        let connection = try database?.connect()
        backend = try connection?.execute("SELECT pg_backend_pid()").values.first?.first ?? nil
        let options = PlaybookOptions(stdlib: .checkout, dryRun: dryRun, vars: vars, arguments: arguments, limits: limits)
        session = try PlaybookSession(connection: connection, options: options)
        session.logSink = { [unowned self] line in
            self.log.append(line)
            self.memoryAtLog.append(self.session.memoryInUse)
        }
    }

    deinit {
        // A PlaybookSession is never released (LeakTests.aFinishedSessionReleases… shows
        // it), so its connection would stay open until the test process ends and the
        // suite would run the server out of connections. End it from the server side.
        guard let backend, let admin = try? Connection(url: TestDatabase.adminURL) else { return }
        _ = try? admin.execute("SELECT pg_terminate_backend(\(Bind.inferred(backend)))")
    }

    /// A session on a fresh migrated database.
    static func fresh(dryRun: Bool = false, vars: [String: String] = [:], arguments: [String] = [],
                      limits: LuaLimits = LuaLimits()) throws -> Playbook {
        try Playbook(database: try TestDatabase.create(), dryRun: dryRun, vars: vars, arguments: arguments, limits: limits)
    }

    /// Runs `lua` as `test.lua` in `folder`, leaving the transaction open; returns the
    /// lines it logged. `Lua.helpers` is prepended on the same line, so line numbers in
    /// messages are those of `lua` as written.
    @discardableResult
    func execute(_ lua: String, folder: URL = FileManager.default.temporaryDirectory) throws(ProvisionError) -> [String] {
        let before = log.count
        try session.execute(source: Array((Lua.helpers + lua).utf8), chunkName: "test.lua", folder: folder)
        return Array(log[before...])
    }

    /// Commits; returns the one-time passwords (none for a dry run).
    func commit() throws -> [IssuedCredential] { try session.commit() }
    func rollback() { session.rollback() }

    /// The test's database (every test here has one unless it says otherwise).
    var db: TestDatabase {
        get throws { try #require(database) }
    }
}

enum Lua {
    /// Defined on the first line of every test playbook (no newline, so line numbers stay
    /// as written). `show(t)` is a table as sorted `key=value` pairs, for one-line checks.
    static let helpers = #"local function show(t) local keys = {} for k in pairs(t) do keys[#keys + 1] = tostring(k) end table.sort(keys) local parts = {} for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(t[k]) end return table.concat(parts, " ") end "#
}

extension TestDatabase {
    /// Slugs of the tenants another connection can see, sorted.
    func slugs() throws -> [String] {
        try column("SELECT slug FROM tenants ORDER BY slug").compactMap { $0 }
    }

    /// Emails of the users another connection can see, sorted.
    func emails() throws -> [String] {
        try column("SELECT email FROM users ORDER BY email").compactMap { $0 }
    }

    /// `slug email role` for every membership, sorted.
    func memberships() throws -> [String] {
        try column("""
            SELECT t.slug || ' ' || u.email || ' ' || m.role FROM memberships m
            JOIN tenants t ON t.id = m.tenant_id JOIN users u ON u.id = m.user_id ORDER BY 1
            """).compactMap { $0 }
    }

    func count(_ table: String) throws -> Int {
        Int(try scalar("SELECT count(*) FROM \(table)") ?? "") ?? -1
    }
}

extension ProvisionBinary.Result {
    /// `error.message` of a `--json` failure document.
    var jsonErrorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }
}

/// A folder of its own with `files` (relative path → text), under a parent folder of
/// this test process; the parents of finished processes are removed on first use, so
/// runs do not pile folders up in the temporary directory.
func temporaryFolder(_ files: [String: String] = [:]) throws -> URL {
    let folder = TestFolders.root.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (path, text) in files {
        let file = folder.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
    }
    return folder
}

private enum TestFolders {
    static let root: URL = {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("provision-luahost-tests")
        let own = ProcessInfo.processInfo.processIdentifier
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? [] {
            guard let pid = Int32(name), pid != own, kill(pid, 0) != 0 else { continue }
            try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
        }
        return parent.appendingPathComponent(String(own))
    }()
}

/// After a limit or a crash-prone playbook: a new session in this process still provisions
/// and commits (the host's C state, dispatch and allocator are sound).
func expectHostStillSound(sourceLocation: SourceLocation = #_sourceLocation) throws {
    let playbook = try Playbook.fresh()
    let log = try playbook.execute("""
        local t = provision.createTenant{slug = "still-sound", name = "Still Sound", supportEmail = "help@sound.example.com"}
        print(t.slug, collectgarbage("count") > 0)
        """)
    #expect(log == ["still-sound\ttrue"], sourceLocation: sourceLocation)
    _ = try playbook.commit()
    #expect(try playbook.db.slugs() == ["still-sound"], sourceLocation: sourceLocation)
}
