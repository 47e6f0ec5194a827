import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// CONTRACT §9, through the built binary: go-live checks (and playbooks) query as the
/// least-privilege role provision_reader that `provision migrate` sets up, even when
/// DATABASE_URL names a superuser (as the test server's admin URL does); a database owner
/// without CREATEROLE migrates all the same and is told what an administrator runs.
@Suite("Least privilege for queries from checks") struct LeastPrivilegeCheckTests {
    /// Check modules that reach outside the database, each in a file of its own.
    static func hostileChecks(largeObject: String, exportPath: String, otherBackend: String) -> [String: String] {
        [
            "lo-export": "ctx.query(\"SELECT lo_export(\(largeObject)::oid, '\(exportPath)') AS written\")",
            "read-file": "ctx.query(\"SELECT pg_read_file('/etc/passwd') AS f\")",
            "terminate": "ctx.query(\"SELECT pg_terminate_backend(\(otherBackend)) AS done\")",
            "reload-conf": "ctx.query(\"SELECT pg_reload_conf() AS done\")",
            "stat-reset": "ctx.query(\"SELECT pg_stat_reset() AS done\")",
            "password-hash": "ctx.query(\"SELECT password_hash FROM users\")",
            "role-escape": """
                ctx.query([[SELECT set_config('role', 'none', true) AS r,
                                   query_to_xml('select pg_read_file(''/etc/passwd'')', false, false, '') AS x]])
                """,
            "session-escape": """
                ctx.query([[SELECT set_config('session_authorization', session_user, true) AS r,
                                   query_to_xml('select pg_read_file(''/etc/passwd'')', false, false, '') AS x]])
                """,
            "ts-stat-escape": "ctx.query([[SELECT * FROM ts_stat('select pg_read_file(''/etc/passwd'')::tsvector')]])",
        ]
    }

    @Test("A check connected as a superuser cannot read or write server files, signal a backend, reload or reset, read a hash, or reset its role")
    func hostileChecksAreRefused() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("pilot", owner: "owner@pilot.example.com"), databaseURL: db.url).status == 0)
        try Self.hostileChecksAreRefused(url: db.url, slug: "pilot") { try db.connect() }
    }

    /// The hostile checks against the tenant `slug` of the database at `url` (one node, or
    /// a Citus cluster's coordinator), `connect` giving a superuser's connection to it.
    static func hostileChecksAreRefused(url: String, slug: String, connect: () throws -> Connection) throws {
        let admin = try connect()
        let largeObject = try #require(try admin.run("SELECT lo_from_bytea(0, 'exported secret')::text AS oid").first?["oid"] ?? nil)
        let other = try connect()
        let otherBackend = try #require(try other.run("SELECT pg_backend_pid()::text AS pid").first?["pid"] ?? nil)
        let exportPath = NSTemporaryDirectory() + "provision-lo-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: exportPath) }
        let checks = Self.hostileChecks(largeObject: largeObject, exportPath: exportPath, otherBackend: otherBackend)
        let folder = try CheckFolder(checks.mapValues { body in "\(body)\nctx.pass(\"the query ran\")" })
        defer { folder.remove() }

        let result = try ProvisionBinary.run(["check", "--tenantSlug", slug, "--checks", folder.path, "--json"], databaseURL: url)
        #expect(result.status == 1, "\(result)")
        let statuses = try CheckOutcome.all(in: result)
        for id in checks.keys.sorted() {
            let outcome = try #require(statuses[id], "check \(id) ran: \(result)")
            #expect(outcome.status == "error", "\(id): \(outcome.message)")
            // PostgreSQL 15 says "must be a superuser to terminate superuser process".
            #expect(["permission denied", "cannot set parameter", "must be a"].contains { outcome.message.contains($0) },
                    "\(id) was refused by the database: \(outcome.message)")
            #expect(!outcome.message.contains("root:"), "nothing of /etc/passwd in \(id)'s message")
        }
        #expect(!FileManager.default.fileExists(atPath: exportPath), "the server wrote no file")
        #expect(try other.run("SELECT 1 AS alive").first?["alive"] == "1", "the other backend is still alive")

        // The control: the same export as the superuser itself does write the file.
        _ = try admin.run("SELECT lo_export(\(Bind.inferred(largeObject)), \(exportPath))")
        #expect(FileManager.default.fileExists(atPath: exportPath), "the server can write where the check tried to")
    }

    @Test("A check's queries run as provision_reader and see what checks need (but no hash)")
    func checksQueryAsTheReader() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("pilot", owner: "owner@pilot.example.com"), databaseURL: db.url).status == 0)
        let folder = try CheckFolder(["who": Self.whoCheck])
        defer { folder.remove() }
        let result = try ProvisionBinary.run(["check", "--tenantSlug", "pilot", "--checks", folder.path, "--json"], databaseURL: db.url)
        let outcomes = try CheckOutcome.all(in: result)
        #expect(outcomes["who"]?.message == "provision_reader owner@pilot.example.com", "\(result)")
        // The built-in checks still work without the hash.
        #expect(outcomes["owner-password"]?.status == "warn", "\(result)")
        #expect(outcomes["owner-membership"]?.status == "pass", "\(result)")
    }

    static let whoCheck = """
        local r = ctx.query([[SELECT current_user AS who, u.email FROM memberships m JOIN users u ON u.id = m.user_id
                              WHERE m.tenant_id = $1]], ctx.tenant.id)[1]
        ctx.pass(r.who .. " " .. r.email)
        """

    @Test("A database owner without CREATEROLE migrates, is told the SQL an administrator runs, and its checks run as itself until then", arguments: OutputMode.allCases)
    func ownerWithoutCreateRole(mode: OutputMode) throws {
        let role = try TemporaryRole("LOGIN NOCREATEROLE")
        defer { role.drop() }
        let database = try role.createDatabase()
        defer { role.dropDatabase(database) }
        let url = role.url(database: database)
        let superuserURL = TestDatabase.url(forDatabase: database)

        let migrated = try ProvisionBinary.run(mode.apply(["migrate"]), databaseURL: url)
        #expect(migrated.status == 0, "\(migrated)")
        // provision_reader exists on the test server (the template made it), so granting it is what is missing.
        let sql = "GRANT provision_reader TO \(role.name);"
        #expect(migrated.stderr.contains(sql), "stderr shows the administrator's SQL: \(migrated)")
        if mode == .json {
            let reader = try #require(migrated.json?["readerRole"] as? [String: Any], "\(migrated)")
            #expect(reader["state"] as? String == "needs_administrator")
            #expect(reader["administratorSQL"] as? String == sql)
            #expect(reader["name"] as? String == "provision_reader")
        }

        try #require(try ProvisionBinary.run(Runbook.tenant("pilot", owner: "owner@pilot.example.com"), databaseURL: url).status == 0)
        let folder = try CheckFolder(["who": Self.whoCheck])
        defer { folder.remove() }
        let check = ["check", "--tenantSlug", "pilot", "--checks", folder.path, "--json"]

        let asOwner = try ProvisionBinary.run(check, databaseURL: url)
        #expect(try CheckOutcome.all(in: asOwner)["who"]?.message == "\(role.name) owner@pilot.example.com", "\(asOwner)")

        let asSuperuser = try ProvisionBinary.run(check, databaseURL: superuserURL)
        let refused = try #require(try CheckOutcome.all(in: asSuperuser)["who"], "\(asSuperuser)")
        #expect(refused.status == "error")
        #expect(refused.message.contains("superuser") && refused.message.contains("provision migrate"), "names the fix: \(refused.message)")

        // The administrator runs the SQL once; migrate again finishes the set-up.
        _ = try Connection(url: TestDatabase.adminURL).run(fixture: sql)
        let again = try ProvisionBinary.run(["migrate", "--json"], databaseURL: url)
        #expect(again.status == 0, "\(again)")
        #expect((again.json?["readerRole"] as? [String: Any])?["state"] as? String == "ready", "\(again)")
        #expect(!again.stderr.contains("GRANT"), "\(again)")
        for connection in [url, superuserURL] {
            let result = try ProvisionBinary.run(check, databaseURL: connection)
            #expect(try CheckOutcome.all(in: result)["who"]?.message == "provision_reader owner@pilot.example.com", "\(result)")
        }
    }
}

/// A folder of check modules, one `<id>.lua` per entry, each `run` holding the body.
struct CheckFolder {
    let path: String

    init(_ bodies: [String: String]) throws {
        path = NSTemporaryDirectory() + "provision-checks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (id, body) in bodies {
            let module = """
                return {
                  id = "\(id)",
                  title = "\(id)",
                  run = function(ctx)
                \(body)
                  end,
                }
                """
            try module.write(toFile: path + "/\(id).lua", atomically: true, encoding: .utf8)
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// One check's status and message in `provision check --json`.
struct CheckOutcome {
    let status: String
    let message: String

    static func all(in result: ProvisionBinary.Result) throws -> [String: CheckOutcome] {
        try all(stdout: result.stdout, describing: result.description)
    }

    static func all(stdout: String, describing run: String) throws -> [String: CheckOutcome] {
        let document = (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
        let checks = try #require(document?["checks"] as? [[String: Any]], "a JSON check report: \(run)")
        var outcomes: [String: CheckOutcome] = [:]
        for check in checks {
            guard let id = check["id"] as? String else { continue }
            outcomes[id] = CheckOutcome(status: check["status"] as? String ?? "", message: check["message"] as? String ?? "")
        }
        return outcomes
    }
}
