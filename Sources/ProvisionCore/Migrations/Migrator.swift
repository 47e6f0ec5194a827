/// Applies the bundled migrations the way Flyway and `prisma migrate deploy` do: in one
/// transaction, under an advisory lock (so five concurrent runs apply each migration
/// once), recording version and checksum, and refusing an applied migration whose text
/// has since changed.
public struct Migrator {
    public enum State: Sendable, Equatable {
        case applied(at: String)
        case pending
        /// Applied, but its recorded checksum differs from the bundled text.
        case modified(at: String)
        /// Recorded in the database but unknown to this binary (a newer `provision`).
        case unknown(at: String)
    }

    public struct Entry: Sendable {
        public let version: Int
        public let name: String
        public let state: State
    }

    /// Arbitrary but fixed: every `provision migrate` takes the same lock.
    static let advisoryLockKey: Int64 = 0x7072_6F76_6973_696F

    let connection: Connection
    let migrations: [Migration]

    public init(connection: Connection, migrations: [Migration] = BundledMigrations.all) {
        self.connection = connection
        self.migrations = migrations
    }

    public func status() throws(ProvisionError) -> [Entry] {
        let applied = try appliedMigrations()
        return try entries(applied: applied)
    }

    /// What `provision migrate` did: the migrations it applied (none when up to date) and
    /// where the least-privilege query role stands in this database.
    public struct Outcome: Sendable {
        public let applied: [Migration]
        public let readerRole: ReaderRole.Setup
    }

    /// Applies what is pending; returns the migrations it applied (none when up to date).
    @discardableResult
    public func migrate(audit: AuditContext) throws(ProvisionError) -> [Migration] {
        try apply(audit: audit).applied
    }

    /// Applies what is pending, then sets up the query role (`ReaderRole`) in the same
    /// transaction, under the same lock.
    public func apply(audit: AuditContext) throws(ProvisionError) -> Outcome {
        try connection.begin()
        do throws(ProvisionError) {
            try takeMigrationLock()
            try connection.executeScript(StaticScript(text: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version    integer     PRIMARY KEY,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """))
            let entries = try entries(applied: try appliedMigrations())
            if let modified = entries.first(where: { if case .modified = $0.state { true } else { false } }) {
                throw ProvisionError(.notMigrated, "migration \(modified.version) (\(modified.name)) was edited after it was applied: its checksum no longer matches the database's record. Applied migrations must never change; restore it and add a new migration instead")
            }
            var applied: [Migration] = []
            for migration in migrations where entries.contains(where: { $0.version == migration.version && $0.state == .pending }) {
                try connection.executeScript(StaticScript(text: migration.sql))
                try connection.run("""
                    INSERT INTO schema_migrations (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(try checksum(of: migration)))
                    """)
                applied.append(migration)
            }
            let readerRole = try ReaderRole.prepare(on: connection)
            let trail = AuditTrail(connection: connection, context: audit)
            for migration in applied {
                try trail.record(action: "schema.migrate", detail: ["version": String(migration.version), "name": migration.name])
            }
            try connection.commit()
            return Outcome(applied: applied, readerRole: readerRole)
        } catch {
            connection.rollback()
            throw error
        }
    }

    /// What every command but `migrate` calls first: exit 4 with the remedy of applying
    /// the migrations, unless every bundled migration is applied.
    public func requireMigrated() throws(ProvisionError) {
        guard let applied = try recordedMigrations() else {
            throw ProvisionError(.notMigrated, "the database at \(connection.safeTarget) has no provision schema: \(.remedy) first",
                                 subject: nil, remedy: .runMigrate)
        }
        let entries = try entries(applied: applied)
        let pending = entries.filter { $0.state == .pending }
        guard pending.isEmpty else {
            let list = pending.map { "\($0.version) \($0.name)" }.joined(separator: ", ")
            throw ProvisionError(.notMigrated, "the database schema is not up to date (\(pending.count) pending: \(list)): \(.remedy) first",
                                 subject: nil, remedy: .runMigrate)
        }
        // Like Flyway's validate: a binary whose migration text differs from what was
        // applied may expect another schema than the database has.
        if let modified = entries.first(where: { if case .modified = $0.state { true } else { false } }) {
            throw ProvisionError(.notMigrated, "migration \(modified.version) (\(modified.name)) in this provision binary differs from the one applied to the database: \(.remedy)",
                                 subject: nil, remedy: .showMigrationStatus)
        }
    }

    // MARK: Private

    /// The migration lock: at once when it is free; else it waits (another migrate is
    /// applying the same migrations, which this one then finds applied), and a wait past
    /// the statement limit names the migrate that holds it.
    private func takeMigrationLock() throws(ProvisionError) {
        let key = Self.advisoryLockKey
        if try connection.run("SELECT pg_try_advisory_xact_lock(\(key)) AS taken").first?.decode(Bool.self, "taken") == true { return }
        let holder = try connection.run("""
            SELECT l.pid, coalesce(a.application_name, '') AS application
            FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid::bigint = (\(key) >> 32) AND l.objid::bigint = (\(key) & 4294967295)
            """).first
        do {
            try connection.run("SELECT pg_advisory_xact_lock(\(key))")
        } catch where error.exceeded == .time {
            let pid = (try? holder?.decode(Int.self, "pid")).map { " (backend \($0))" } ?? ""
            throw ProvisionError(.limitExceeded, "another provision migrate\(pid) holds the migration lock and did not finish in time: \(error.message); run provision migrate again once it is done",
                                 exceeded: .time)
        }
    }

    private struct AppliedMigration {
        let version: Int
        let name: String
        let checksum: String
        let appliedAt: String
    }

    private func appliedMigrations() throws(ProvisionError) -> [AppliedMigration] {
        try recordedMigrations() ?? []
    }

    /// nil when there is no schema_migrations table at all.
    private func recordedMigrations() throws(ProvisionError) -> [AppliedMigration]? {
        let exists = try connection.run("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard try exists.first?.decode(Bool.self, "present") == true else { return nil }
        let rows = try connection.run("""
            SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') AS applied_at
            FROM schema_migrations ORDER BY version
            """)
        var applied: [AppliedMigration] = []
        for row in rows {
            applied.append(AppliedMigration(version: try row.decode(Int.self, "version"), name: try row.decode(String.self, "name"),
                                            checksum: try row.decode(String.self, "checksum"),
                                            appliedAt: try row.decode(String.self, "applied_at")))
        }
        return applied
    }

    private func entries(applied: [AppliedMigration]) throws(ProvisionError) -> [Entry] {
        var result: [Entry] = []
        for migration in migrations {
            if let record = applied.first(where: { $0.version == migration.version }) {
                let matches = try checksum(of: migration) == record.checksum
                result.append(Entry(version: migration.version, name: migration.name,
                                    state: matches ? .applied(at: record.appliedAt) : .modified(at: record.appliedAt)))
            } else {
                result.append(Entry(version: migration.version, name: migration.name, state: .pending))
            }
        }
        for record in applied where !migrations.contains(where: { $0.version == record.version }) {
            result.append(Entry(version: record.version, name: record.name, state: .unknown(at: record.appliedAt)))
        }
        return result.sorted { $0.version < $1.version }
    }

    /// SHA-256 of the migration text, computed by PostgreSQL itself (no hashing code here).
    private func checksum(of migration: Migration) throws(ProvisionError) -> String {
        let rows = try connection.run("SELECT encode(sha256(convert_to(\(migration.sql), 'UTF8')), 'hex') AS checksum")
        return try rows.first?.decode(String.self, "checksum") ?? ""
    }
}
