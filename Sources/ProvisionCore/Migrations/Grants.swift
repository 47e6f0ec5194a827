/// What a role needs to run each group of commands (CONTRACT §10, "Least privilege,
/// exactly"), besides CONNECT on the database and USAGE on provision's schema: the README
/// lists exactly this, a test gives a role exactly this and runs the group, and each
/// command checks it before it starts, naming every missing privilege and its GRANT.
public enum GrantGroup: String, Sendable, CaseIterable {
    /// `tenant`, `batch`, and `apply` of their plans (dry runs need only `reads`; a
    /// plan records the database's identity, `provision_database`).
    case provisioning
    /// `list`, `show`, `check`, the migration status, and every dry run.
    case reads
    case resetPassword = "reset-password"
    case delete
    /// The changes after go-live: `update`, `member add | set-role | remove`, `tenant`
    /// and `batch` with their update flag, and `apply` of their plans: provisioning's,
    /// and changing a tenant's settings and a member's role.
    case changes
    /// `provision test`: fixtures in every table, rolled back.
    case test
    /// A read-only auditor: what `reads` needs, and nothing that writes.
    case auditor
}

/// One privilege on one table (on `columns` only, when given).
public struct Grant: Sendable, Equatable, Hashable {
    public let privilege: String
    public let table: String
    public let columns: [String]?

    public init(privilege: String, table: String, columns: [String]?) {
        self.privilege = privilege
        self.table = table
        self.columns = columns
    }

    /// `GRANT SELECT (id, email) ON users TO role;`
    public func sql(to role: String) -> String {
        "GRANT \(privilege)\(columns.map { " (\($0.joined(separator: ", ")))" } ?? "") ON \(table) TO \(role);"
    }
}

public enum Grants {
    static let platformTables = ["centers", "levels", "programs", "\"groups\"", "students", "parents", "student_parents"]
    /// Every column of `users` but the password hash.
    static let userColumns = ["id", "email", "name", "must_change_password", "password_expires_at", "created_at"]

    private static func grants(_ privilege: String, _ tables: [String]) -> [Grant] {
        tables.map { Grant(privilege: privilege, table: $0, columns: nil) }
    }

    /// The table privileges of `group`, in the order the README lists them. Membership in
    /// `provision_reader` (queries from checks and playbooks) comes on top, where migrate
    /// set the role up.
    public static func required(for group: GrantGroup) -> [Grant] {
        let readUsers = Grant(privilege: "SELECT", table: "users", columns: userColumns)
        let reads = grants("SELECT", ["schema_migrations", "provision_database", "tenants", "memberships", "audit_events"]) + [readUsers]
            + grants("SELECT", platformTables)
        switch group {
        case .reads, .auditor:
            return reads
        case .provisioning:
            // DELETE: a row of a batch that fails without a savepoint is undone by deleting
            // what it inserted; UPDATE on users: a password that could not be delivered is
            // revoked.
            return grants("SELECT", ["schema_migrations", "provision_database", "tenants", "memberships", "audit_events"]) + [readUsers]
                + grants("INSERT", ["tenants", "users", "memberships", "audit_events"])
                + grants("DELETE", ["tenants", "users", "memberships", "audit_events"])
                + [Grant(privilege: "UPDATE", table: "users", columns: ["password_hash", "password_expires_at"])]
        case .changes:
            // UPDATE on tenants: also the lock (SELECT … FOR UPDATE) that makes changes to
            // one tenant take turns.
            return required(for: .provisioning)
                + [Grant(privilege: "UPDATE", table: "tenants", columns: ["name", "time_zone", "support_email", "support_phone"]),
                   Grant(privilege: "UPDATE", table: "memberships", columns: ["role"])]
        case .resetPassword:
            return grants("SELECT", ["schema_migrations", "tenants", "memberships"]) + [readUsers]
                + [Grant(privilege: "UPDATE", table: "users", columns: ["password_hash", "must_change_password", "password_expires_at"])]
                + grants("INSERT", ["audit_events"])
        case .delete:
            // UPDATE: the tenant and its users are locked (SELECT … FOR UPDATE) while the
            // delete decides what is in use.
            return reads + grants("UPDATE", ["tenants"]) + [Grant(privilege: "UPDATE", table: "users", columns: ["password_expires_at"])]
                + grants("DELETE", ["tenants", "users", "memberships"]) + grants("INSERT", ["audit_events"])
        case .test:
            let all = ["tenants", "users", "memberships", "audit_events"] + platformTables
            return grants("SELECT", ["schema_migrations"]) + grants("SELECT", all) + grants("INSERT", all)
                + grants("UPDATE", ["users"]) + grants("DELETE", ["tenants", "users", "memberships", "audit_events"])
        }
    }

    /// Stops (forbidden) before a command of `group` runs when the connecting role lacks
    /// any privilege the group needs, naming each and the GRANT that gives it. Runs in
    /// the caller's (pinned) transaction; a table that is not there yet is for
    /// `requireMigrated` to report.
    public static func requireGranted(_ group: GrantGroup, on connection: Connection) throws(ProvisionError) {
        let needed = required(for: group)
        let row = try connection.run("""
            SELECT quote_ident(current_user) AS role, array_to_string(ARRAY(
                SELECT g.n::text
                FROM unnest(\(Bind.textArray(needed.map { $0.table.replacingEvery("\"", with: "") })),
                            \(Bind.textArray(needed.map(\.privilege))),
                            \(Bind.textArray(needed.map { $0.columns?.joined(separator: ",") ?? "" }))) WITH ORDINALITY AS g (tab, priv, cols, n)
                CROSS JOIN LATERAL (SELECT CASE WHEN g.tab = 'schema_migrations'
                                                THEN coalesce(to_regclass('provision_schema_migrations'), to_regclass('schema_migrations'))
                                                ELSE to_regclass(g.tab) END AS rel) r
                WHERE r.rel IS NOT NULL
                  AND NOT CASE WHEN g.cols = '' THEN has_table_privilege(r.rel, g.priv)
                               ELSE (SELECT bool_and(has_column_privilege(r.rel, c, g.priv)) FROM unnest(string_to_array(g.cols, ',')) AS c) END
                ORDER BY g.n), ',') AS missing
            """).first
        guard let row else { return }
        let role = try row.decode(String.self, "role")
        let missing = try row.decode(String.self, "missing").split(separator: ",").compactMap { Int($0) }.map { needed[$0 - 1] }
        guard !missing.isEmpty else { return }
        let what = missing.map { "\($0.privilege)\($0.columns.map { " (\($0.joined(separator: ", ")))" } ?? "") on \($0.table)" }
        throw ProvisionError(.forbidden, "the role \(role) lacks \(what.joined(separator: ", ")), which \(group.rawValue) needs; nothing was done. Have the tables' owner run: \(missing.map { $0.sql(to: role) }.joined(separator: " "))")
    }
}
