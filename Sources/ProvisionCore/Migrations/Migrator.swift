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
        try pinned { () throws(ProvisionError) in try entries(applied: try appliedMigrations()) }
    }

    /// Whether the schema is laid out distributed (on a database with Citus).
    public func layout() throws(ProvisionError) -> CitusLayout.State {
        try pinned { () throws(ProvisionError) in try CitusLayout.state(on: connection) }
    }

    /// In a read-only transaction of its own unless one is open: names resolve in
    /// provision's schema only (`Connection.begin` pins the search path).
    private func pinned<T>(_ body: () throws(ProvisionError) -> T) throws(ProvisionError) -> T {
        guard !connection.inTransaction else { return try body() }
        try connection.begin(readOnly: true)
        defer { connection.rollback() }
        return try body()
    }

    /// What `provision migrate` did: the migrations it applied (none when up to date) and
    /// where the least-privilege query role stands in this database.
    public struct Outcome: Sendable {
        public let applied: [Migration]
        public let readerRole: ReaderRole.Setup
        /// The tables this run laid out distributed (Citus), in order; usually none.
        public let laidOut: [String]
        public let layout: CitusLayout.State
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
            // Tables are created in provision's schema: first on the pinned search path
            // for this transaction (pg_catalog, first everywhere else, cannot take them).
            try connection.run("""
                SELECT set_config('search_path', concat_ws(', ', (SELECT string_agg(quote_ident(name), ', ' ORDER BY position)
                                                                  FROM unnest(current_schemas(false)) WITH ORDINALITY AS path (name, position)
                                                                  WHERE name <> 'pg_catalog'), 'pg_catalog', 'pg_temp'), true)
                """)
            // provision's own bookkeeping: schema_migrations (CONTRACT §7), unless another
            // tool (Rails, golang-migrate) has a schema_migrations of its own here, which
            // is left alone: then provision_schema_migrations.
            try connection.executeScript(StaticScript(text: """
                DO $bookkeeping$
                BEGIN
                    IF to_regclass('provision_schema_migrations') IS NULL
                       AND (to_regclass('schema_migrations') IS NULL
                            OR NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('schema_migrations')
                                                                        AND attname = 'checksum' AND NOT attisdropped)) THEN
                        EXECUTE format('CREATE TABLE %I (
                            version    integer     PRIMARY KEY,
                            name       text        NOT NULL,
                            checksum   text        NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now())',
                            CASE WHEN to_regclass('schema_migrations') IS NULL THEN 'schema_migrations' ELSE 'provision_schema_migrations' END);
                    END IF;
                END
                $bookkeeping$
                """))
            let recorded = try appliedMigrations()
            try refuseForeignTables(applied: recorded)
            let entries = try entries(applied: recorded)
            if let modified = entries.first(where: { if case .modified = $0.state { true } else { false } }) {
                throw ProvisionError(.notMigrated, "migration \(modified.version) (\(modified.name)) was edited after it was applied: its checksum no longer matches the database's record. Applied migrations must never change; restore it and add a new migration instead")
            }
            var applied: [Migration] = []
            for migration in migrations where entries.contains(where: { $0.version == migration.version && $0.state == .pending }) {
                try connection.executeScript(StaticScript(text: migration.sql))
                try connection.run("""
                    INSERT INTO \(try bookkeeping()) (version, name, checksum)
                    VALUES (\(migration.version), \(migration.name), \(try checksum(of: migration)))
                    """)
                applied.append(migration)
            }
            // The database's identity (CONTRACT §13): made once. A copy of another
            // database (its row made elsewhere) gets one of its own, and so does a database
            // whose row was deleted: no plan made against another database applies here.
            if Self.includes(4, recorded: recorded, applied: applied) {
                try connection.executeScript(StaticScript(text: """
                    DELETE FROM provision_database d USING provision_database_place() p
                    WHERE d.database_oid <> p.database_oid OR d.system_identifier IS DISTINCT FROM p.system_identifier;
                    INSERT INTO provision_database (database_oid, system_identifier)
                    SELECT database_oid, system_identifier FROM provision_database_place()
                    WHERE NOT EXISTS (SELECT 1 FROM provision_database);
                    """))
            }
            // On Citus, the tables laid out distributed (CONTRACT §11): a database migrated
            // before Citus was added is laid out now.
            let laidOut = try CitusLayout.distribute(on: connection)
            let layout = try CitusLayout.state(on: connection)
            let readerRole = try ReaderRole.prepare(on: connection)
            let trail = AuditTrail(connection: connection, context: audit)
            for migration in applied {
                try trail.record(action: "schema.migrate", detail: ["version": String(migration.version), "name": migration.name])
            }
            try connection.commit()
            return Outcome(applied: applied, readerRole: readerRole, laidOut: laidOut, layout: layout)
        } catch {
            connection.rollback()
            throw error
        }
    }

    /// Whether migration `version` was applied before or just now.
    private static func includes(_ version: Int, recorded: [AppliedMigration], applied: [Migration]) -> Bool {
        recorded.contains { $0.version == version } || applied.contains { $0.version == version }
    }

    /// What every command but `migrate` calls first: exit 4 with the remedy of applying
    /// the migrations, unless every bundled migration is applied.
    public func requireMigrated(grantsFor group: GrantGroup? = nil) throws(ProvisionError) {
        try pinned { () throws(ProvisionError) in
            if let group { try Grants.requireGranted(group, on: connection) }
            try checkMigrated()
        }
    }

    private func checkMigrated() throws(ProvisionError) {
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
            SELECT pid FROM pg_locks
            WHERE locktype = 'advisory' AND granted AND objsubid = 1
              AND classid::bigint = (\(key) >> 32) AND objid::bigint = (\(key) & 4294967295)
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

    /// The table provision records its migrations in, in the schema its tables are in:
    /// `schema_migrations`, or `provision_schema_migrations` where another tool has a
    /// `schema_migrations` of its own. nil when there is neither.
    private func bookkeepingTable() throws(ProvisionError) -> String? {
        let row = try connection.run("""
            SELECT CASE WHEN to_regclass('provision_schema_migrations') IS NOT NULL THEN 'provision_schema_migrations'
                        WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('schema_migrations')
                                                                AND attname = 'checksum' AND NOT attisdropped) THEN 'schema_migrations'
                   END AS bookkeeping
            """).first
        return try row?.decode(String?.self, "bookkeeping")
    }

    private func bookkeeping() throws(ProvisionError) -> Identifier {
        guard let name = try bookkeepingTable(), let identifier = Identifier(name) else {
            throw ProvisionError(.notMigrated, "provision's migration records are missing")
        }
        return identifier
    }

    /// The tables each migration creates: a table of that name that is already there, and
    /// not provision's (its migration is not recorded), belongs to someone else.
    static let createdTables: [Int: [String]] = [
        1: ["tenants", "users", "memberships", "audit_events"],
        2: ["centers", "levels", "programs", "groups", "students", "parents", "student_parents"],
        4: ["provision_database"],
    ]

    /// Stops (4 not_migrated) before creating a table whose name another tool's table
    /// already has in the schema provision installs into, naming it and how to coexist.
    private func refuseForeignTables(applied: [AppliedMigration]) throws(ProvisionError) {
        let pending = Self.createdTables.filter { version, _ in !applied.contains { $0.version == version } }.values.flatMap { $0 }
        guard !pending.isEmpty else { return }
        let row = try connection.run("""
            SELECT current_schema() AS schema,
                   array_to_string(ARRAY(SELECT c.relname FROM pg_class c
                                         WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY (\(Bind.textArray(pending)))
                                         ORDER BY c.relname), ', ') AS taken
            """).first
        let taken = try row?.decode(String.self, "taken") ?? ""
        guard !taken.isEmpty else { return }
        let schema = try row?.decode(String.self, "schema") ?? "public"
        throw ProvisionError(.notMigrated, "provision cannot install its tables into schema \(schema): \(taken) already \(taken.contains(",") ? "exist" : "exists") there and \(taken.contains(",") ? "were" : "was") not created by provision. Install provision's tables into a schema of their own: CREATE SCHEMA provision; then put it first on the search path, e.g. add options=-csearch_path%3Dprovision to DATABASE_URL (or ALTER ROLE … SET search_path = provision), and run provision migrate again; nothing was changed")
    }

    /// nil when provision has no migration records here at all.
    private func recordedMigrations() throws(ProvisionError) -> [AppliedMigration]? {
        guard let table = try bookkeepingTable(), let identifier = Identifier(table) else { return nil }
        let rows = try connection.run("""
            SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"') AS applied_at
            FROM \(identifier) ORDER BY version
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
