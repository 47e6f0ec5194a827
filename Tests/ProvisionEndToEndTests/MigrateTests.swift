import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// `provision migrate [--status]`: the runbook's `prisma migrate deploy` (CONTRACT §2, §7).
@Suite("provision migrate")
struct MigrateTests {
    static let versions = BundledMigrations.all.map { String($0.version) }

    @Test("A fresh database is migrated; a second run finds it up to date", arguments: OutputMode.allCases)
    func freshThenUpToDate(mode: OutputMode) throws {
        let db = try TestDatabase.create(migrated: false)

        let first = try ProvisionBinary.run(mode.apply(["migrate"]), databaseURL: db.url)
        #expect(first.status == 0, "\(first)")
        #expect(try db.column("SELECT version::text FROM schema_migrations ORDER BY version") == Self.versions.map(Optional.some))
        let tables = try db.publicTables()
        for table in TestDatabase.countedTables {
            #expect(tables.contains(table), "table \(table) exists")
        }
        let recorded = try db.column("SELECT checksum FROM schema_migrations ORDER BY version")

        let second = try ProvisionBinary.run(mode.apply(["migrate"]), databaseURL: db.url)
        #expect(second.status == 0, "\(second)")
        #expect(try db.column("SELECT checksum FROM schema_migrations ORDER BY version") == recorded, "nothing re-applied")
        switch mode {
        case .human:
            for migration in BundledMigrations.all {
                #expect(first.stdout.contains(migration.name), "the first run lists \(migration.name): \(first)")
            }
            #expect(second.stdout.lowercased().contains("up to date"), "\(second)")
        case .json:
            try ContractSchema.validate(first.stdout, as: .migrate)
            try ContractSchema.validate(second.stdout, as: .migrate)
            #expect((first.json?["readerRole"] as? [String: Any])?["state"] as? String == "ready", "\(first)")
            let applied = try #require(first.json?["applied"] as? [[String: Any]], "\(first)")
            #expect(applied.compactMap { $0["version"] as? Int }.map(String.init) == Self.versions)
            #expect((second.json?["applied"] as? [Any])?.isEmpty == true, "\(second)")
        }

        // The migrated database serves the runbook.
        let provisioned = try ProvisionBinary.run(Runbook.staging, databaseURL: db.url)
        #expect(provisioned.status == 0, "\(provisioned)")
    }

    @Test("Five concurrent migrations on one empty database all succeed; each version is recorded once")
    func fiveConcurrentMigrations() throws {
        let db = try TestDatabase.create(migrated: false)
        let started = try (1...5).map { _ in try ProvisionBinary.start(["migrate", "--json"], databaseURL: db.url) }
        let results = started.map(ProvisionBinary.finish)
        for result in results {
            #expect(result.status == 0, "\(result)")
        }
        #expect(try db.column("SELECT version::text FROM schema_migrations ORDER BY version") == Self.versions.map(Optional.some))
        #expect(try db.count("SELECT version FROM schema_migrations GROUP BY version HAVING count(*) > 1") == 0)
        // Between them, the five runs applied each migration exactly once.
        let applied = results.flatMap { ($0.json?["applied"] as? [[String: Any]] ?? []).compactMap { $0["version"] as? Int } }
        #expect(applied.sorted().map(String.init) == Self.versions, "\(results)")
    }

    @Test("--status on an empty database lists every migration as pending, exits 4 and creates nothing",
          arguments: OutputMode.allCases)
    func statusOnEmptyDatabase(mode: OutputMode) throws {
        let db = try TestDatabase.create(migrated: false)
        let result = try ProvisionBinary.run(mode.apply(["migrate", "--status"]), databaseURL: db.url)
        #expect(result.status == 4, "pending migrations are an unmet precondition, and the list is still printed: \(result)")
        if mode == .json {
            #expect(result.json?["pending"] as? Int == BundledMigrations.all.count, "\(result)")
            #expect(result.json?["upToDate"] as? Bool == false, "\(result)")
        }
        try expectStatus(result, mode: mode, [String](repeating: "pending", count: BundledMigrations.all.count))
        #expect(try db.publicTables() == [], "--status applies nothing")
    }

    @Test("--status after migrating lists every migration as applied, with when in ISO 8601 UTC, and exits 0",
          arguments: OutputMode.allCases)
    func statusAfterMigrating(mode: OutputMode) throws {
        let db = try TestDatabase.create(migrated: false)
        try #require(try ProvisionBinary.run(["migrate"], databaseURL: db.url).status == 0)
        let result = try ProvisionBinary.run(mode.apply(["migrate", "--status"]), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        try expectStatus(result, mode: mode, [String](repeating: "applied", count: BundledMigrations.all.count))
        if mode == .json {
            let stored = try db.column("""
                SELECT to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM schema_migrations ORDER BY version
                """)
            let listed = (result.json?["migrations"] as? [[String: Any]] ?? []).map { $0["appliedAt"] as? String }
            #expect(listed == stored, "appliedAt is schema_migrations.applied_at: \(result)")
            #expect(result.json?["upToDate"] as? Bool == true)
        }
    }

    @Test("An applied migration that was edited is refused: exit 4, nothing applied", arguments: OutputMode.allCases)
    func editedMigrationRefused(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try editFirstMigration(in: db)
        let before = try db.rowCounts()
        let result = try ProvisionBinary.run(mode.apply(["migrate"]), databaseURL: db.url)
        #expect(result.status == 4, "\(result)")
        if mode == .json {
            #expect(result.errorCode == "not_migrated", "\(result)")
        }
        #expect(try db.scalar("SELECT checksum FROM schema_migrations WHERE version = 1") == "x", "the record is left alone")
        #expect(try db.rowCounts() == before)
    }

    @Test("--status marks an edited applied migration as modified", arguments: OutputMode.allCases)
    func statusShowsModified(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try editFirstMigration(in: db)
        let result = try ProvisionBinary.run(mode.apply(["migrate", "--status"]), databaseURL: db.url)
        var states = [String](repeating: "applied", count: BundledMigrations.all.count)
        states[0] = "modified"
        #expect(result.status == 4, "\(result)")
        try expectStatus(result, mode: mode, states)
        if mode == .human {
            #expect(!result.stdout.contains("Up to date"), "a schema with an edited migration is not reported up to date: \(result)")
        }
    }

    // MARK: helpers

    private func editFirstMigration(in db: TestDatabase) throws {
        _ = try db.scalar("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1 RETURNING version")
    }

    /// The status report lists each bundled migration (version and name) with `states[i]`.
    private func expectStatus(_ result: ProvisionBinary.Result, mode: OutputMode, _ states: [String],
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        switch mode {
        case .human:
            let lines = result.stdout.split(separator: "\n").map(String.init)
            for (migration, state) in zip(BundledMigrations.all, states) {
                let line = lines.first { $0.contains(migration.name) }
                let words = line?.split(separator: " ").map(String.init) ?? []
                #expect(words.contains(String(migration.version)) && words.contains(state),
                        "migration \(migration.version) \(migration.name) is listed as \(state): \(result)",
                        sourceLocation: sourceLocation)
            }
        case .json:
            try ContractSchema.validate(result.stdout, as: .migrationStatus)
            let json = try #require(result.json, "one JSON document on stdout: \(result)", sourceLocation: sourceLocation)
            let listed = try #require(json["migrations"] as? [[String: Any]], "\(result)", sourceLocation: sourceLocation)
            #expect(listed.compactMap { $0["version"] as? Int }.map(String.init) == Self.versions, sourceLocation: sourceLocation)
            #expect(listed.compactMap { $0["name"] as? String } == BundledMigrations.all.map(\.name), sourceLocation: sourceLocation)
            #expect(listed.compactMap { $0["state"] as? String } == states, "\(result)", sourceLocation: sourceLocation)
        }
    }
}
