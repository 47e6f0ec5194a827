import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// CONTRACT §4: the one-time password is shown exactly once (stdout or JSON), never in
/// stderr or audit rows; the hash is never shown; every write is audited with its actor
/// and run id.
@Suite("Secrets and the audit trail")
struct SecretTests {
    @Test("The one-time password appears exactly once on stdout and never on stderr", arguments: OutputMode.allCases)
    func passwordShownOnce(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(mode.apply(Runbook.staging), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        let password = try #require(result.oneTimePassword(mode), "\(result)")
        #expect(result.stdout.components(separatedBy: password).count - 1 == 1, "exactly once on stdout: \(result)")
        #expect(!result.stderr.contains(password), "never on stderr: \(result)")
        #expect(OneTimePasswordShape.occurrences(in: result.stdout) == [password], "no other password-shaped text")
    }

    @Test("The password hash appears in no output", arguments: OutputMode.allCases)
    func hashNeverShown(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(mode.apply(Runbook.staging), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        let hash = try #require(try db.scalar("SELECT password_hash FROM users"))
        let phc = try #require(PHCString(hash))
        for (name, output) in [("stdout", result.stdout), ("stderr", result.stderr)] {
            #expect(!output.contains(hash), "\(name) shows the hash")
            #expect(!output.contains(phc.hash), "\(name) shows the hash value")
            #expect(!output.contains(phc.salt), "\(name) shows the salt")
            #expect(!output.contains("$argon2"), "\(name) shows a PHC string")
        }
    }

    @Test("Neither password nor hash lands in audit_events")
    func auditRowsHoldNoSecret() throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(Runbook.staging + ["--json"], databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        let password = try #require(result.oneTimePassword(.json), "\(result)")
        let hash = try #require(try db.scalar("SELECT password_hash FROM users"))
        let phc = try #require(PHCString(hash))

        // Every column, detail included, as text.
        let rows = try db.column("SELECT row_to_json(a)::text FROM audit_events a").compactMap { $0 }
        #expect(rows.count >= 3)
        for row in rows {
            #expect(!row.contains(password), "audit row holds the password: \(row)")
            #expect(!row.contains(phc.hash) && !row.contains(phc.salt) && !row.contains("argon2"), "audit row holds the hash: \(row)")
        }
        // And no audit column of any text-like type, by name, holds it either.
        let textColumns = try db.column("""
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name = 'audit_events'
              AND data_type IN ('text', 'character varying', 'jsonb', 'json')
            """).compactMap { $0 }
        #expect(textColumns.contains("detail") && textColumns.contains("actor"))
        for column in textColumns {
            let leaks = try db.count("SELECT 1 FROM audit_events WHERE strpos(\(column)::text, \(literal(password))) > 0")
            #expect(leaks == 0, "audit_events.\(column) holds the password")
        }
    }

    @Test("One audit row per write, with the actor from PROVISION_ACTOR and one run id")
    func auditRowPerWrite() throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(Runbook.staging + ["--json"], databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        let tenantId = try #require(try db.scalar("SELECT id FROM tenants WHERE slug = 'pilot-staging'"))
        let userId = try #require(try db.scalar("SELECT id FROM users"))

        let rows = try db.rows("""
            SELECT actor, action, run_id, tenant_id, user_id, at FROM audit_events
            WHERE action <> 'schema.migrate' ORDER BY at, action
            """)
        #expect(rows.compactMap { $0["action"] as? String }.sorted() == ["membership.create", "tenant.create", "user.create"],
                "\(rows)")
        #expect(rows.allSatisfy { $0["actor"] as? String == "e2e-test" }, "\(rows)")
        #expect(Set(rows.compactMap { $0["run_id"] as? String }).count == 1, "one run id: \(rows)")
        #expect(rows.allSatisfy { $0["at"] is String })
        let byAction = Dictionary(rows.map { ($0["action"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byAction["tenant.create"]?["tenant_id"] as? String == tenantId)
        #expect(byAction["user.create"]?["user_id"] as? String == userId)
        #expect(byAction["membership.create"]?["tenant_id"] as? String == tenantId)
        #expect(byAction["membership.create"]?["user_id"] as? String == userId)
    }

    @Test("Each run has its own run id and the actor it was given")
    func runIdsAndActors() throws {
        let db = try TestDatabase.create()
        let first = try ProvisionBinary.run(Runbook.staging, databaseURL: db.url, environment: ["PROVISION_ACTOR": "ops-alice"])
        #expect(first.status == 0, "\(first)")
        // An existing user linked: two writes (tenant, membership), no user.create.
        let second = try ProvisionBinary.run(
            Runbook.tenant("pilot-two", owner: "owner@pilot-staging.example.com", "--allowExistingUser"),
            databaseURL: db.url, environment: ["PROVISION_ACTOR": "ops-bob"])
        #expect(second.status == 0, "\(second)")

        let alice = try db.rows("SELECT action, run_id FROM audit_events WHERE actor = 'ops-alice'")
        let bob = try db.rows("SELECT action, run_id FROM audit_events WHERE actor = 'ops-bob'")
        #expect(alice.count == 3, "\(alice)")
        #expect(bob.compactMap { $0["action"] as? String }.sorted() == ["membership.create", "tenant.create"], "\(bob)")
        let aliceRuns = Set(alice.compactMap { $0["run_id"] as? String })
        let bobRuns = Set(bob.compactMap { $0["run_id"] as? String })
        #expect(aliceRuns.count == 1 && bobRuns.count == 1)
        #expect(aliceRuns.isDisjoint(with: bobRuns), "two runs, two run ids")
        #expect(try db.count("SELECT 1 FROM audit_events WHERE actor = 'e2e-test'") == 0)
    }

    @Test("Failed and dry runs leave no audit rows", arguments: [
        (Runbook.tenant("pilot-staging", owner: "other@pilot.example.com"), 3),
        (Runbook.tenant("pilot-two", owner: "owner@pilot-staging.example.com"), 3),
        (Runbook.tenant("pilot-two", owner: "other@pilot.example.com", "--dryRun"), 0),
        (Runbook.tenant("Pilot-Two", owner: "other@pilot.example.com"), 2),
    ] as [([String], Int32)])
    func noAuditWithoutWrites(arguments: [String], status: Int32) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.staging, databaseURL: db.url).status == 0)
        let before = try db.count("SELECT 1 FROM audit_events")
        let result = try ProvisionBinary.run(arguments, databaseURL: db.url)
        #expect(result.status == status, "\(result)")
        #expect(try db.count("SELECT 1 FROM audit_events") == before)
    }

    @Test("The password of a working DATABASE_URL is printed by no command", arguments: OutputMode.allCases)
    func databasePasswordNeverPrinted(mode: OutputMode) throws {
        // The test server trusts local connections, so the password is accepted and unused.
        let secret = "SuperSecretPw123"
        let db = try TestDatabase.create(migrated: false)
        var components = try #require(URLComponents(string: db.url))
        components.password = secret
        let url = try #require(components.string)
        try #require(url.contains(secret))

        let commands: [[String]] = [
            ["migrate", "--status"], ["migrate"], ["migrate"], ["migrate", "--status"],
            Runbook.staging, Runbook.staging, Runbook.tenant("pilot-two", owner: "owner@pilot-staging.example.com"),
            Runbook.dryRun, Runbook.tenant("Pilot", owner: "owner@pilot.example.com"),
        ]
        var statuses: [Int32] = []
        for command in commands {
            let result = try ProvisionBinary.run(mode.apply(command), databaseURL: url)
            statuses.append(result.status)
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret), "the password was printed: \(result)")
        }
        // `migrate --status` before `migrate` finds every migration pending: exit 4.
        #expect(statuses == [4, 0, 0, 0, 0, 3, 3, 0, 2], "the commands ran as expected")
    }

    // MARK: One-time passwords on a stdout that is not a terminal (CONTRACT §14)

    static let pipeWarning = "printed to stdout, which is not a terminal"

    @Test("A one-time password printed to a pipe comes with a warning on stderr naming --credentialsFile and --recipient",
          arguments: OutputMode.allCases)
    func aPasswordOnAPipeIsWarnedAbout(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        // ProvisionBinary's stdout is a pipe, as `provision tenant … | cat` and a CI log are.
        let result = try ProvisionBinary.run(mode.apply(Runbook.staging), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        let password = try #require(result.oneTimePassword(mode), "\(result)")
        let warning = try #require(result.stderr.split(separator: "\n").first { $0.contains(Self.pipeWarning) }, "\(result)")
        #expect(warning.hasPrefix("warning: 1 one-time password was printed to stdout"), "\(warning)")
        #expect(warning.contains("--credentialsFile") && warning.contains("--recipient"), "\(warning)")
        #expect(!result.stderr.contains(password), "never the password on stderr: \(result)")
        #expect(OneTimePasswordShape.occurrences(in: result.stderr).isEmpty)

        // A batch of two: one warning, counting both.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pipe-\(UUID().uuidString).csv")
        defer { try? FileManager.default.removeItem(at: file) }
        try "tenantSlug,tenantName,ownerEmail\nwave-a,Wave A,owner@wave-a.example.com\nwave-b,Wave B,owner@wave-b.example.com\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let batch = try ProvisionBinary.run(mode.apply(["batch", file.path]), databaseURL: db.url)
        #expect(batch.status == 0, "\(batch)")
        #expect(batch.stderr.components(separatedBy: "warning: 2 one-time passwords were printed to stdout").count == 2, "\(batch)")
    }

    @Test("No warning when no password is printed: linked user, dry run, credentials file", arguments: OutputMode.allCases)
    func noWarningWithoutAPasswordOnStdout(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("first", owner: "owner@pilot.example.com"), databaseURL: db.url).status == 0)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("credentials-\(UUID().uuidString).csv").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        for arguments in [Runbook.tenant("linked", owner: "owner@pilot.example.com", "--allowExistingUser"),
                          Runbook.tenant("planned", owner: "owner@planned.example.com", "--dryRun"),
                          Runbook.tenant("filed", owner: "owner@filed.example.com", "--credentialsFile", file)] {
            let result = try ProvisionBinary.run(mode.apply(arguments), databaseURL: db.url)
            #expect(result.status == 0, "\(result)")
            #expect(!result.stderr.contains(Self.pipeWarning), "\(arguments): \(result)")
        }
    }

    @Test("No warning when stdout is a terminal: the password is shown, and nothing else is said", arguments: OutputMode.allCases)
    func noWarningOnATerminal(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let result = try Self.runOnATerminal(mode.apply(Runbook.staging), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        #expect(OneTimePasswordShape.occurrences(in: result.stdout).count == 1, "the password is on the terminal: \(result)")
        #expect(!result.stderr.contains(Self.pipeWarning), "\(result)")
        #expect(OneTimePasswordShape.occurrences(in: result.stderr).isEmpty)
    }

    /// `provision ARGUMENTS` with stdout on a terminal and stderr on a file: util-linux's
    /// `script` (Debian's bsdutils, essential) runs it on a pseudo-terminal and copies
    /// what it shows there.
    static func runOnATerminal(_ arguments: [String], databaseURL: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("terminal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: errorFile) }
        func quoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }
        let command = ([ProvisionBinary.path] + arguments).map(quoted).joined(separator: " ") + " 2>" + quoted(errorFile.path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["--quiet", "--return", "--command", command, "/dev/null"]
        process.environment = ProvisionBinary.childEnvironment(databaseURL: databaseURL, [:])
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        return (process.terminationStatus, stdout, stderr)
    }
}
