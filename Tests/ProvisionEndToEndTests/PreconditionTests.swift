import Foundation
import ProvisionTestSupport
import Testing

/// The runbook's preconditions (`DATABASE_URL` set and reachable, migrations applied):
/// each unmet one exits 4 with a clear error (CONTRACT §2), and the password part of
/// `DATABASE_URL` is never printed (§4).
@Suite("Preconditions")
struct PreconditionTests {
    @Test("Unmigrated database: exit 4, not_migrated, names `provision migrate`", arguments: OutputMode.allCases)
    func unmigratedDatabase(mode: OutputMode) throws {
        let db = try TestDatabase.create(migrated: false)
        let result = try ProvisionBinary.run(mode.apply(Runbook.production), databaseURL: db.url)
        #expect(result.status == 4, "\(result)")
        switch mode {
        case .json:
            #expect(result.errorCode == "not_migrated", "\(result)")
            #expect(result.errorMessage?.contains("provision migrate") == true, "\(result)")
        case .human:
            #expect(result.stderr.contains("provision migrate"), "\(result)")
        }
        #expect(try db.publicTables() == [], "nothing was created")
    }

    @Test("A pending migration counts as not migrated")
    func pendingMigration() throws {
        let db = try TestDatabase.create()
        let version = try #require(try db.scalar("SELECT max(version) FROM schema_migrations"))
        _ = try db.scalar("DELETE FROM schema_migrations WHERE version = \(version) RETURNING version")
        let before = try db.rowCounts()
        let result = try ProvisionBinary.run(Runbook.production + ["--json"], databaseURL: db.url)
        #expect(result.status == 4, "\(result)")
        #expect(result.errorCode == "not_migrated", "\(result)")
        #expect(result.errorMessage?.contains("provision migrate") == true, "\(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("DATABASE_URL unset: exit 4, database_unavailable", arguments: OutputMode.allCases, [nil, "", "   "] as [String?])
    func databaseURLUnset(mode: OutputMode, value: String?) throws {
        let environment = value.map { ["DATABASE_URL": $0] } ?? [:]
        let result = try ProvisionBinary.run(mode.apply(Runbook.production), databaseURL: nil, environment: environment)
        #expect(result.status == 4, "\(result)")
        switch mode {
        case .json: #expect(result.errorCode == "database_unavailable", "\(result)")
        case .human: #expect(result.stderr.contains("DATABASE_URL"), "the error names DATABASE_URL: \(result)")
        }
        #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty)
    }

    @Test("`provision migrate` without DATABASE_URL: exit 4, database_unavailable")
    func migrateWithoutDatabaseURL() throws {
        for arguments in [["migrate", "--json"], ["migrate", "--status", "--json"]] {
            let result = try ProvisionBinary.run(arguments, databaseURL: nil)
            #expect(result.status == 4, "\(result)")
            #expect(result.errorCode == "database_unavailable", "\(result)")
        }
    }

    static let secret = "SuperSecretPw123"

    static let unreachableURLs = [
        "postgresql://u:\(secret)@127.0.0.1:1/x",
        "postgres://u:\(secret)@localhost:1/x?connect_timeout=5",
        "host=127.0.0.1 port=1 user=u password=\(secret) dbname=x",
        "postgresql://u@127.0.0.1:1/x?password=\(secret)",
    ]

    static let commands: [[String]] = [
        Runbook.production, Runbook.dryRun, ["migrate"], ["migrate", "--status"],
    ]

    @Test("Unreachable server: exit 4 and the password is printed nowhere",
          arguments: unreachableURLs, commands)
    func unreachableServer(url: String, command: [String]) throws {
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(command), databaseURL: url)
            #expect(result.status == 4, "\(result)")
            if mode == .json {
                #expect(result.errorCode == "database_unavailable", "\(result)")
            }
            #expect(!result.stdout.contains(Self.secret), "stdout shows the password: \(result)")
            #expect(!result.stderr.contains(Self.secret), "stderr shows the password: \(result)")
        }
    }

    @Test("A percent-encoded password is printed in neither form", arguments: commands)
    func percentEncodedPassword(command: [String]) throws {
        // The password is "p@ss w/rd:SuperSecretPw123".
        let url = "postgresql://u:p%40ss%20w%2Frd%3A\(Self.secret)@127.0.0.1:1/x"
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(command), databaseURL: url)
            #expect(result.status == 4, "\(result)")
            for output in [result.stdout, result.stderr] {
                #expect(!output.contains(Self.secret), "\(result)")
                #expect(!output.contains("p%40ss%20w%2Frd"), "\(result)")
                #expect(!output.contains("p@ss w/rd"), "\(result)")
            }
        }
    }

    /// libpq quotes the whole URI in some parse errors; the password must not come along.
    @Test("A malformed DATABASE_URL: exit 4 and the password is printed nowhere", arguments: [
        "postgresql://u:\(secret)@[::1/x",
        "postgresql://u:\(secret)@[]/x",
        "postgresql://u:\(secret)@127.0.0.1:notaport/x",
        "postgresql://u:\(secret)@127.0.0.1:1/x?sslmode=bogus",
        "postgresql://u:\(secret)@127.0.0.1:1/x%zz",
        "host=127.0.0.1 port=1 password='\(secret)",
        "host=127.0.0.1 port=1 password=\(secret) bogus",
    ], commands)
    func malformedDatabaseURL(url: String, command: [String]) throws {
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(command), databaseURL: url)
            #expect(result.status == 4, "\(result)")
            #expect(!result.stdout.contains(Self.secret), "stdout shows the password: \(result)")
            #expect(!result.stderr.contains(Self.secret), "stderr shows the password: \(result)")
        }
    }
}
