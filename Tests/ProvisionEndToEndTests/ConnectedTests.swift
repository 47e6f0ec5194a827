import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// CONTRACT §10, "Connected": provision as operators connect it, through PgBouncer in
// transaction pooling, to a hot standby, under a DBA's limits, with Ctrl-C, and beside
// other sessions' locks. Every server here is a real one that scripts/test started.

/// The server's own defaults, which no command may leave behind on a pooled connection.
private let serverDefaults = ["statement_timeout": "0", "client_min_messages": "notice", "search_path": "\"$user\", public",
                              "lock_timeout": "0", "idle_in_transaction_session_timeout": "0"]

/// What a connection through `url` sees for each setting (through PgBouncer with one
/// server connection per database: the very server connection provision used).
private func settings(through url: String) throws -> [String: String] {
    let connection = try Connection(url: url)
    var found: [String: String] = [:]
    for name in serverDefaults.keys.sorted() {
        found[name] = try connection.run(fixture: "SHOW \(name)").values.first?.first ?? nil
    }
    return found
}

/// The statements prepared on the server connection `url` reaches (through PgBouncer
/// with one server connection: the one provision used): provision prepares a query's
/// statements for its transaction and must leave none behind.
private func preparedStatements(through url: String) throws -> [String] {
    let connection = try Connection(url: url)
    return try connection.run(fixture: "SELECT name || ': ' || statement FROM pg_prepared_statements ORDER BY name").values.compactMap { $0.first ?? nil }
}

/// Writes a playbook into a scratch file.
private func playbook(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("connected-\(UUID().uuidString).lua").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The backends of `db` still running a statement, besides the one asking.
private func activeBackends(in db: TestDatabase) throws -> [String] {
    try db.column("SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'")
        .compactMap { $0 }
}

/// Waits (at most 10 s) until no backend of `db` but the asker is left at all.
private func backendsGone(in db: TestDatabase) throws -> [String] {
    for _ in 0..<100 {
        let left = try db.column("SELECT coalesce(application_name, '') || ': ' || state || ': ' || query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'").compactMap { $0 }
        if left.isEmpty { return [] }
        usleep(100_000)
    }
    return try db.column("SELECT coalesce(application_name, '') || ': ' || state || ': ' || query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'").compactMap { $0 }
}

@Suite("Through PgBouncer in transaction pooling (one server connection): every command works, no setting leaks, each run keeps its own limit",
       .enabled(if: TestServers.pgbouncer != nil, "scripts/test starts PgBouncer (PROVISION_TEST_PGBOUNCER_URL)"))
struct PgBouncerTests {
    @Test func everyCommandLeavesTheServerDefaultsBehind() throws {
        let db = try TestDatabase.create(migrated: false)
        let url = TestServers.url(try #require(TestServers.pgbouncer), database: db.name)
        let csv = FileManager.default.temporaryDirectory.appendingPathComponent("pooled-\(UUID().uuidString).csv").path
        try "tenantSlug,tenantName,ownerEmail\npooled-b,Pooled B,owner@pooled-b.example\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let query = try playbook(#"local p = require "provision"; p.log(#p.query("SELECT slug FROM tenants"))"#)
        // Queries that fail (twice the same text, which the server then never prepared),
        // then succeed; and a run that fails after its queries (rolled back).
        let retried = try playbook("""
            local p = require "provision"
            for _ = 1, 2 do assert(not pcall(p.query, "SELECT slug FROM tenantz")) end
            assert(not pcall(p.query, "SELECT slug FROM tenants WHERE slug = $1 AND pg_sleep(-1) IS NULL AND 1/0 = 1", "x"))
            p.log(#p.query("SELECT slug FROM tenants WHERE slug = $1", "pilot-staging"))
            p.log(#p.query("SELECT slug FROM tenants WHERE slug = $1", "pooled-b"))
            """)
        let failing = try playbook(#"local p = require "provision"; p.query("SELECT slug FROM tenants"); error("after its queries")"#)
        let commands: [([String], Int32)] = [
            (["migrate"], 0), (["migrate", "--status"], 0),
            (Runbook.staging, 0), (Runbook.dryRun, 0), (["batch", csv], 0), (["run", query], 0),
            (["run", retried], 0), (["run", failing], 1),
            (["check", "--tenantSlug", "pilot-staging"], 1), (["check", "--all"], 1), (["list"], 0),
            (["show", "--tenantSlug", "pilot-staging"], 0), (["reset-password", "--email", "owner@pooled-b.example"], 0),
            (["delete", "--tenantSlug", "pooled-b", "--dryRun"], 0), (["delete", "--tenantSlug", "pooled-b"], 0),
            (["---completion", "show", "--", "--tenantSlug", "3", "0", "provision", "show", "--tenantSlug", "p"], 0),
        ]
        for (arguments, expected) in commands {
            let result = try ProvisionBinary.run(arguments, databaseURL: url, timeout: 120)
            #expect(result.status == expected, "\(arguments): \(result)")
            #expect(try settings(through: url) == serverDefaults, "after \(arguments)")
            #expect(try preparedStatements(through: url) == [], "after \(arguments)")
        }
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug = 'pilot-staging'") == 1)
    }

    @Test("concurrent runs through one pooled server connection each keep their own statement limit")
    func concurrentRunsKeepTheirOwnLimits() throws {
        let db = try TestDatabase.create()
        let url = TestServers.url(try #require(TestServers.pgbouncer), database: db.name)
        let sleeper = try playbook(#"local p = require "provision"; p.query("SELECT pg_sleep(3)"); p.log("slept")"#)
        let limits = [800, 6000, 800, 6000, 800, 6000]
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: limits.count) { index in
            let result = try? ProvisionBinary.run(["run", sleeper, "--json"], databaseURL: url,
                                                  environment: ["PROVISION_STATEMENT_TIMEOUT_MS": String(limits[index])], timeout: 120)
            results.set(index, result)
        }
        for (index, limit) in limits.enumerated() {
            let result = try #require(results.get(index))
            if limit < 3000 {
                #expect(result.status == 1 && result.errorCode == "limit_exceeded", "limit \(limit): \(result)")
            } else {
                #expect(result.status == 0, "limit \(limit): \(result)")
            }
        }
        #expect(try settings(through: url) == serverDefaults)
    }
}

private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int: ProvisionBinary.Result] = [:]
    func set(_ index: Int, _ value: ProvisionBinary.Result?) { lock.withLock { values[index] = value } }
    func get(_ index: Int) -> ProvisionBinary.Result? { lock.withLock { values[index] } }
}

@Suite("A read-only server: writes are 4 read_only_database; reads and dry runs work; target_session_attrs finds the primary",
       .enabled(if: TestServers.standby != nil, "scripts/test starts a hot standby (PROVISION_TEST_STANDBY_URL)"))
struct ReadOnlyServerTests {
    @Test func aHotStandby() throws {
        let db = try TestDatabase.create()
        #expect(try ProvisionBinary.run(Runbook.staging, databaseURL: db.url).status == 0)
        let standby = TestServers.url(try #require(TestServers.standby), database: db.name)
        // The standby replays the primary's WAL: wait (at most 30 s) for the tenant.
        var replayed = false
        for _ in 0..<300 {
            if let connection = try? Connection(url: standby),
               (try? connection.run(fixture: "SELECT 1 FROM tenants WHERE slug = 'pilot-staging'").values.count) == 1 {
                replayed = true
                break
            }
            usleep(100_000)
        }
        #expect(replayed, "the standby never showed the tenant")

        for mode in OutputMode.allCases {
            let write = try ProvisionBinary.run(mode.apply(Runbook.production), databaseURL: standby)
            #expect(write.status == 4, "\(write)")
            let message = mode == .json ? ((write.json?["error"] as? [String: Any])?["message"] as? String ?? "") : write.stderr
            #expect(message.contains("hot standby") && message.contains("target_session_attrs=read-write"), "\(write)")
            if mode == .json {
                #expect(write.errorCode == "read_only_database")
                try ContractSchema.validate(write.stdout, as: .error)
            }
        }
        for (arguments, expected) in [(["list"], 0), (["show", "--tenantSlug", "pilot-staging"], 0), (["check", "--tenantSlug", "pilot-staging"], 1),
                                      (Runbook.dryRun, 0), (["migrate", "--status"], 0)] as [([String], Int32)] {
            let read = try ProvisionBinary.run(arguments, databaseURL: standby)
            #expect(read.status == expected, "\(arguments): \(read)")
        }
        #expect(try ProvisionBinary.run(["migrate"], databaseURL: standby).status == 4)

        // Both servers listed, the standby first: libpq skips it for the primary.
        let both = try #require(URLComponents(string: standby)), primary = try #require(URLComponents(string: db.url))
        func item(_ components: URLComponents, _ name: String) -> String {
            components.queryItems?.first { $0.name == name }?.value ?? ""
        }
        var multi = URLComponents()
        multi.scheme = "postgresql"
        multi.user = both.user
        multi.host = ""
        multi.path = "/" + db.name
        multi.queryItems = [URLQueryItem(name: "host", value: item(both, "host") + "," + item(primary, "host")),
                            URLQueryItem(name: "port", value: item(both, "port") + "," + item(primary, "port")),
                            URLQueryItem(name: "target_session_attrs", value: "read-write")]
        let written = try ProvisionBinary.run(Runbook.production, databaseURL: multi.string!)
        #expect(written.status == 0, "\(written)")
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug = 'pilot'") == 1)
    }

    @Test func defaultTransactionReadOnly() throws {
        let db = try TestDatabase.create()
        try db.connect().run(fixture: "ALTER DATABASE \(db.name) SET default_transaction_read_only = on")
        let before = try db.rowCounts()
        let write = try ProvisionBinary.run(Runbook.production + ["--json"], databaseURL: db.url)
        #expect(write.status == 4 && write.errorCode == "read_only_database", "\(write)")
        #expect(write.stdout.contains("default_transaction_read_only"), "\(write)")
        #expect(try ProvisionBinary.run(Runbook.dryRun, databaseURL: db.url).status == 0)
        #expect(try ProvisionBinary.run(["list"], databaseURL: db.url).status == 0)
        #expect(try db.rowCounts() == before)
    }
}

@Suite("Time limits include the database: statements are cancelled on the server at the limit; Ctrl-C cancels them too")
struct DatabaseLimitTests {
    @Test("a query that turns off its own statement limit, one whose chunks each stay under it, and a check that does either, all end at their limit, cancelled on the server",
          arguments: ["statement limit off", "chunks under the limit", "check"])
    func limitsHold(_ kind: String) throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.run(Runbook.tenant("limited", owner: "owner@limited.example"), databaseURL: db.url)
        let result: ProvisionBinary.Result
        switch kind {
        case "statement limit off":
            let path = try playbook("""
                local p = require "provision"
                p.query("SELECT set_config('statement_timeout', '0', true), set_config('lock_timeout', '0', false), pg_sleep(CASE WHEN g > 1 THEN 30 ELSE 0 END) FROM generate_series(1, 300) g")
                """)
            result = try ProvisionBinary.run(["run", path, "--timeout", "2", "--json"], databaseURL: db.url, timeout: 60)
        case "chunks under the limit":
            let path = try playbook("""
                local p = require "provision"
                p.query("SELECT pg_sleep(CASE WHEN g % 100 = 0 THEN 0.8 ELSE 0 END) FROM generate_series(1, 5000) g")
                """)
            result = try ProvisionBinary.run(["run", path, "--timeout", "2", "--json"], databaseURL: db.url,
                                             environment: ["PROVISION_STATEMENT_TIMEOUT_MS": "1000"], timeout: 60)
        default:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slow-checks-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try """
                return { id = "slow", title = "Slow", run = function(ctx)
                  ctx.query("SELECT set_config('statement_timeout', '0', true), pg_sleep(CASE WHEN g > 1 THEN 30 ELSE 0 END) FROM generate_series(1, 300) g")
                  ctx.pass("done")
                end }
                """.write(to: folder.appendingPathComponent("slow.lua"), atomically: true, encoding: .utf8)
            result = try ProvisionBinary.run(["check", "--all", "--only", "slow", "--checks", folder.path, "--checkTimeout", "1", "--json"],
                                             databaseURL: db.url, timeout: 60)
            let statuses = ((result.json?["tenants"] as? [[String: Any]]) ?? []).flatMap { ($0["checks"] as? [[String: Any]]) ?? [] }
                .compactMap { $0["status"] as? String }
            #expect(statuses == ["error"], "\(result)")
        }
        #expect(!result.timedOut, "\(kind): the run outlasted its limit by a minute: \(result)")
        #expect(result.status == 1, "\(kind): \(result)")
        if kind != "check" { #expect(result.errorCode == "limit_exceeded", "\(result)") }
        #expect(result.seconds < 10, "\(kind): ended \(result.seconds) s after it started, its limit was 1-2 s")
        #expect(try backendsGone(in: db).isEmpty, "\(kind): a backend of the run is still there")
    }

    @Test("a database's own statement_timeout is a ceiling provision does not raise")
    func theDatabaseLimitIsACeiling() throws {
        let db = try TestDatabase.create()
        try db.connect().run(fixture: "ALTER DATABASE \(db.name) SET statement_timeout = '700ms'")
        let path = try playbook(#"local p = require "provision"; p.log(p.query("SELECT current_setting('statement_timeout') AS statement_timeout")[1].statement_timeout); p.query("SELECT pg_sleep(2)")"#)
        let result = try ProvisionBinary.run(["run", path, "--json"], databaseURL: db.url, timeout: 60)
        #expect(result.status == 1 && result.errorCode == "limit_exceeded", "\(result)")
        #expect(result.stderr.contains("700ms"), "the run's statements ran under the database's 700 ms: \(result)")
    }

    @Test("a lock held by another session is reported as a lock wait naming its backend; for migrate, the other migrate")
    func lockWaitsNameTheBlocker() throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        let holder = try db.connect()
        let pid = try #require(try holder.run(fixture: "SELECT pg_backend_pid()").values.first?.first ?? nil)
        try holder.run(fixture: "BEGIN; LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE")
        let blocked = try ProvisionBinary.run(Runbook.production + ["--json"], databaseURL: db.url,
                                              environment: ["PROVISION_STATEMENT_TIMEOUT_MS": "1500"], timeout: 60)
        #expect(blocked.status == 1 && blocked.errorCode == "limit_exceeded", "\(blocked)")
        #expect(blocked.stdout.contains("waited for a lock held by backend \(pid)") && blocked.stdout.contains("idle in transaction, whose last statement was `BEGIN; LOCK TABLE tenants"), "\(blocked)")
        try holder.run(fixture: "ROLLBACK")
        #expect(try db.rowCounts() == before)

        // Another migrate holding the migration lock.
        try holder.run(fixture: "SELECT pg_advisory_lock(\(0x7072_6F76_6973_696F as Int64))")
        let migrate = try ProvisionBinary.run(["migrate", "--json"], databaseURL: db.url,
                                              environment: ["PROVISION_STATEMENT_TIMEOUT_MS": "1500"], timeout: 60)
        #expect(migrate.status == 1 && migrate.stdout.contains("another provision migrate (backend \(pid)) holds the migration lock"), "\(migrate)")
        try holder.run(fixture: "SELECT pg_advisory_unlock_all()")
        #expect(try ProvisionBinary.run(["migrate"], databaseURL: db.url).status == 0)
    }

    @Test("SIGINT or SIGTERM while the server works (a long query, a wait for another session's lock): the statement is cancelled, then rolled back, then the process ends; no backend is left",
          arguments: [SIGINT, SIGTERM], ["query", "lock"])
    func interruptsCancelTheStatement(_ signal: Int32, _ work: String) throws {
        let db = try TestDatabase.create()
        var holder: Connection? = try db.connect()
        if work == "lock" { try holder?.run(fixture: "BEGIN; LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE") }
        let path = try playbook(work == "lock"
            ? #"local p = require "provision"; p.createTenant{slug = "interrupted", name = "I"}"#
            : #"local p = require "provision"; p.createTenant{slug = "interrupted", name = "I"}; p.query("SELECT pg_sleep(3600)")"#)
        let child = try ProvisionBinary.start(["run", path, "--json"], databaseURL: db.url)
        var running = false
        for _ in 0..<200 {
            if try activeBackends(in: db).contains(where: { $0.contains("pg_sleep(3600)") || $0.contains("fetch_rows") || $0.contains("INSERT INTO tenants") }) {
                running = true
                break
            }
            usleep(50_000)
        }
        #expect(running, "the statement never started")
        kill(child.0.processIdentifier, signal)
        let result = ProvisionBinary.finish(child)
        #expect(result.status == (signal == SIGINT ? 130 : 143), "\(result)")
        #expect(result.errorCode == "interrupted", "\(result)")
        #expect(result.stderr.contains("cancelling the running statement"), "\(result)")
        _ = try holder?.run(fixture: "ROLLBACK")
        holder = nil
        #expect(try backendsGone(in: db).isEmpty, "a backend of the interrupted run is still there")
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug = 'interrupted'") == 0)
    }
}

@Suite("What libpq reports: the target after connecting (service=, PG* variables), its messages as lines")
struct ConnectionReportTests {
    @Test func aServiceIsShownAsTheServerItReached() throws {
        let db = try TestDatabase.create()
        let components = try #require(URLComponents(string: db.url))
        let host = components.queryItems?.first { $0.name == "host" }?.value ?? ""
        let port = components.queryItems?.first { $0.name == "port" }?.value ?? ""
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pg_service-\(UUID().uuidString).conf")
        try "[platform]\nhost=\(host)\nport=\(port)\ndbname=\(db.name)\nuser=postgres\n".write(to: file, atomically: true, encoding: .utf8)
        let status = try ProvisionBinary.run(["migrate", "--status"], databaseURL: "service=platform",
                                             environment: ["PGSERVICEFILE": file.path])
        #expect(status.status == 0, "\(status)")
        #expect(status.stdout.contains("postgres@\(host):\(port)/\(db.name)"), "\(status)")
        #expect(!status.stdout.contains("local socket"), "\(status)")
    }

    @Test func libpqMessagesKeepTheirLines() throws {
        let result = try ProvisionBinary.run(["list"], databaseURL: "postgresql://nobody@/none?host=/nonexistent&port=1&connect_timeout=2")
        #expect(result.status == 4, "\(result)")
        #expect(!result.stderr.contains("\\n"), "a literal \\n: \(result)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count >= 2 && lines[1].hasPrefix("  ") && lines[1].contains("Is the server running"), "\(result)")
    }
}
