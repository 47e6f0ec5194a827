import Foundation
import Testing
@testable import ProvisionCore
import ProvisionTestSupport

@Suite("The libpq layer against a real PostgreSQL") struct DatabaseTests {
    @Test func valuesTravelAsParametersNotText() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        let hostile = "x'); DELETE FROM tenants; --"
        let rows = try connection.execute("SELECT \(hostile)::text AS value, length(\(hostile)) AS n")
        #expect(rows.first?["value"] == hostile)
        #expect(rows.first?["n"] == String(hostile.count))
    }

    @Test func uniqueViolationsAreMappedByConstraint() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        try connection.run("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        let slug = #expect(throws: ProvisionError.self) { try connection.run("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Again')") }
        #expect(slug?.code == .slugExists)
        try connection.run("INSERT INTO users (email) VALUES ('Owner@Example.com')")
        let email = #expect(throws: ProvisionError.self) { try connection.run("INSERT INTO users (email) VALUES ('owner@example.COM')") }
        #expect(email?.code == .emailExists)
    }

    @Test func otherUniqueViolationsAreNotConflicts() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        try connection.run("CREATE TABLE other (k text CONSTRAINT other_k_key UNIQUE)")
        try connection.run("INSERT INTO other VALUES ('a')")
        let error = #expect(throws: ProvisionError.self) { try connection.run("INSERT INTO other VALUES ('a')") }
        #expect(error?.code == .databaseError)
    }

    @Test func errorMessagesRedactBoundValues() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        let secret = "not-a-uuid-secret-value"
        let error = #expect(throws: ProvisionError.self) { try connection.run("SELECT \(secret)::uuid") }
        #expect(error?.code == .databaseError)
        #expect(error?.message.contains(secret) == false)
        #expect(error?.message.contains("****") == true)
    }

    @Test func readOnlyTransactionsRefuseWrites() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        try connection.begin(readOnly: true)
        let error = #expect(throws: ProvisionError.self) { try connection.run("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')") }
        #expect(error?.code == .forbidden)
        connection.rollback()
        #expect(try database.scalar("SELECT count(*) FROM tenants") == "0")
    }

    @Test func savepointsFailAloneAndNest() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        try connection.begin()
        try connection.run("INSERT INTO tenants (slug, name) VALUES ('one', 'One')")
        let outer = try connection.savepoint()
        try connection.run("INSERT INTO tenants (slug, name) VALUES ('two', 'Two')")
        let inner = try connection.savepoint()
        #expect(inner.name != outer.name)
        #expect(throws: ProvisionError.self) { try connection.run("INSERT INTO tenants (slug, name) VALUES ('one', 'Dup')") }
        try connection.rollback(to: inner)
        try connection.release(outer)
        try connection.commit()
        #expect(try database.column("SELECT slug FROM tenants ORDER BY slug") == ["one", "two"])
    }

    @Test func statementTimeoutIsALimitNotAHang() throws {
        let database = try TestDatabase.create()
        let connection = try Connection(url: database.url, statementTimeoutMilliseconds: 200)
        let error = #expect(throws: ProvisionError.self) { try connection.run("SELECT pg_sleep(5)") }
        #expect(error?.code == .limitExceeded)
    }

    @Test func unreachableServerHidesThePassword() {
        let error = #expect(throws: ProvisionError.self) {
            try Connection(url: "postgresql://operator:Sup3r-Secret@127.0.0.1:1/platform")
        }
        #expect(error?.code == .databaseUnavailable)
        #expect(error?.message.contains("Sup3r-Secret") == false)
        #expect(error?.message.contains("127.0.0.1") == true)
    }

    @Test func keyValueConninfoPasswordIsHiddenToo() {
        let error = #expect(throws: ProvisionError.self) {
            try Connection(url: "host=127.0.0.1 port=1 user=operator password=Kv-Secret-99 dbname=platform")
        }
        #expect(error?.message.contains("Kv-Secret-99") == false)
    }
}

@Suite("Migrations") struct MigratorTests {
    @Test func appliesOnceAndRecordsChecksums() throws {
        let database = try TestDatabase.create(migrated: false)
        let connection = try database.connect()
        #expect(throws: ProvisionError.self) { try Migrator(connection: connection).requireMigrated() }
        let first = try Migrator(connection: connection).migrate(audit: AuditContext(actor: "test"))
        #expect(first.map(\.version) == BundledMigrations.all.map(\.version))
        let second = try Migrator(connection: connection).migrate(audit: AuditContext(actor: "test"))
        #expect(second.isEmpty)
        try Migrator(connection: connection).requireMigrated()
        let checksums = try database.column("SELECT checksum FROM schema_migrations ORDER BY version")
        #expect(checksums.allSatisfy { $0?.count == 64 })
        #expect(try database.scalar("SELECT count(*) FROM audit_events WHERE action = 'schema.migrate'") == String(BundledMigrations.all.count))
    }

    @Test func refusesAnEditedMigration() throws {
        let database = try TestDatabase.create(migrated: false)
        let connection = try database.connect()
        _ = try Migrator(connection: connection).migrate(audit: AuditContext(actor: "test"))
        var edited = BundledMigrations.all
        edited[0] = Migration(version: 1, name: edited[0].name, sql: edited[0].sql + "\n-- edited")
        edited.append(Migration(version: 99, name: "later", sql: "CREATE TABLE later (id int)"))
        let error = #expect(throws: ProvisionError.self) { try Migrator(connection: connection, migrations: edited).migrate(audit: AuditContext(actor: "test")) }
        #expect(error?.code == .notMigrated)
        #expect(try database.scalar("SELECT to_regclass('later')::text") == nil, "nothing after the refusal was applied")
        let status = try Migrator(connection: connection, migrations: edited).status()
        #expect(status.first?.state == .modified(at: status.first.map { if case .modified(let at) = $0.state { at } else { "" } } ?? ""))
    }

    @Test func anEditedAppliedMigrationStopsEveryCommand() throws {
        let database = try TestDatabase.create()
        try database.connect().run("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        let error = #expect(throws: ProvisionError.self) { try Migrator(connection: try database.connect()).requireMigrated() }
        #expect(error?.code == .notMigrated)
        #expect(error?.remedy == .showMigrationStatus)
    }

    @Test func pendingMigrationsNameTheCommand() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        let later = BundledMigrations.all + [Migration(version: 99, name: "later", sql: "SELECT 1")]
        let error = #expect(throws: ProvisionError.self) { try Migrator(connection: connection, migrations: later).requireMigrated() }
        #expect(error?.code == .notMigrated)
        #expect(error?.remedy == .runMigrate)
    }
}
