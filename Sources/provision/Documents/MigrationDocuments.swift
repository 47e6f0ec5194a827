import ProvisionCore

/// `provision migrate --json`: what this run applied, and the state of the least-privilege
/// role read-only queries run as.
struct MigrateDocument: JSONDocument {
    struct AppliedMigration: Encodable, Sendable {
        let version: Int
        let name: String
    }

    struct ReaderRoleRecord: Encodable, Sendable {
        let name: String
        /// `ready`, or `needs_administrator` with the reason and the SQL to run once.
        let state: String
        @Nullable var reason: String?
        @Nullable var administratorSQL: String?

        init(_ setup: ReaderRole.Setup) {
            name = ReaderRole.name
            switch setup {
            case .ready:
                state = "ready"
            case .needsAdministrator(let sql, let reason):
                state = "needs_administrator"
                self.reason = reason
                administratorSQL = sql
            }
        }
    }

    let command = "migrate"
    let applied: [AppliedMigration]
    /// Always true: a schema that cannot be brought up to date is an error document.
    let upToDate = true
    let readerRole: ReaderRoleRecord
    let layout: LayoutRecord
    /// The tables this run laid out distributed (on Citus), in order.
    let laidOut: [String]

    init(_ outcome: Migrator.Outcome) {
        applied = outcome.applied.map { AppliedMigration(version: $0.version, name: $0.name) }
        readerRole = ReaderRoleRecord(outcome.readerRole)
        layout = LayoutRecord(outcome.layout)
        laidOut = outcome.laidOut
    }
}

/// How the schema is laid out: `single-node` (no Citus), `distributed`, or `pending`
/// with the tables `provision migrate` would lay out.
struct LayoutRecord: Encodable, Sendable {
    let state: String
    let pending: [String]

    init(_ layout: CitusLayout.State) {
        switch layout {
        case .singleNode: (state, pending) = ("single-node", [])
        case .distributed: (state, pending) = ("distributed", [])
        case .pending(let tables): (state, pending) = ("pending", tables)
        }
    }

    /// For people: `distributed (Citus): tenants, users, audit_events as reference tables; …`.
    var text: String {
        switch state {
        case "distributed":
            return "distributed (Citus): \(CitusLayout.referenceTableNames.joined(separator: ", ")) as reference tables; \(CitusLayout.distributedTableNames.joined(separator: ", ")) by tenant_id, co-located"
        case "pending": return "not distributed yet (Citus is installed): \(pending.joined(separator: ", ")); run `provision migrate` to lay them out"
        default: return "one node (no Citus)"
        }
    }
}

/// `provision migrate --status --json`: every migration, bundled or recorded, with its
/// state and when it was applied.
struct MigrationStatusDocument: JSONDocument {
    struct MigrationRecord: Encodable, Sendable {
        let version: Int
        let name: String
        /// applied, pending, modified (edited after it was applied) or unknown (recorded
        /// in the database but not bundled with this binary).
        let state: String
        @Nullable var appliedAt: UTCTimestamp?
    }

    let command = "migrate --status"
    let migrations: [MigrationRecord]
    let pending: Int
    let modified: Int
    /// Nothing pending, nothing edited and nothing to lay out: `migrate --status` exits 0
    /// only then.
    let upToDate: Bool
    let layout: LayoutRecord

    init(_ entries: [Migrator.Entry], layout: CitusLayout.State = .singleNode) {
        self.layout = LayoutRecord(layout)
        migrations = entries.map { entry in
            let (state, at) = Self.describe(entry.state)
            return MigrationRecord(version: entry.version, name: entry.name, state: state, appliedAt: at.map(UTCTimestamp.init(_:)))
        }
        pending = entries.filter { $0.state == .pending }.count
        modified = entries.filter { if case .modified = $0.state { true } else { false } }.count
        let laidOut = if case .pending = layout { false } else { true }
        upToDate = pending == 0 && modified == 0 && laidOut
    }

    /// The state's name and, if it was applied, when.
    static func describe(_ state: Migrator.State) -> (String, String?) {
        switch state {
        case .applied(let at): return ("applied", at)
        case .pending: return ("pending", nil)
        case .modified(let at): return ("modified", at)
        case .unknown(let at): return ("unknown", at)
        }
    }
}
