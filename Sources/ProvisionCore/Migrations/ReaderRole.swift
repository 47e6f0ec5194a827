/// The least-privilege database role that read-only queries from playbooks and checks run
/// as (CONTRACT §9): NOLOGIN (on Citus, LOGIN without a password: the nodes connect as
/// it), SELECT on the contract's tables only (on `users`, every
/// column but `password_hash`), granted to the role that runs `provision migrate`. Under
/// it, server-side file access, large objects, signalling backends and superuser
/// functions are refused even when DATABASE_URL connects as a superuser.
///
/// Roles belong to the whole server, grants and ownership to each database: `provision
/// migrate` creates the role once (when it may) and sets it up in the database it
/// migrates. A database owner without CREATEROLE keeps working: migrate says so and
/// prints the SQL an administrator runs once.
public enum ReaderRole {
    public static let name = "provision_reader"
    /// The role a `provision test` runs as, where it is set up: its fixtures, the
    /// playbooks it runs and the queries of its checks, all in the test's transaction,
    /// which is always rolled back. It reads what `provision_reader` reads (never a
    /// password hash, no server files, no other sessions) and may write the contract's
    /// tables, as fixtures must. One role for writes and reads, so that on Citus the
    /// queries see the fixtures: Citus reads a shard a transaction wrote only over the
    /// connection of the role that wrote it.
    public static let testerName = "provision_tester"

    /// The tables the role reads (`users` without its password hash): what queries from
    /// scripts may name.
    public static let readableTables = ["tenants", "users", "memberships", "audit_events", "centers", "levels", "programs",
                                        "groups", "students", "parents", "student_parents"]
    /// Those of them that carry `tenant_id`: what a check counts for its tenant.
    public static let tenantScopedTables = readableTables.filter { !["tenants", "users"].contains($0) }


    /// Where the role stands in one database once `provision migrate` has run.
    public enum Setup: Sendable, Equatable {
        /// Queries run as the role here.
        case ready
        /// The migrating role may not create the role or grant it to itself (`reason`
        /// says which): an administrator runs `sql` once, then `provision migrate` runs
        /// again. Until then queries run as the connecting role, unless it is privileged.
        case needsAdministrator(sql: String, reason: String)
    }

    /// The SQL an administrator runs once, for `migrator` (already quoted as an identifier).
    public static func administratorSQL(roleExists: Bool, migrator: String) -> String {
        ((roleExists ? [] : ["CREATE ROLE \(name) NOLOGIN;"]) + ["GRANT \(name) TO \(migrator);"])
            .joined(separator: "\n")
    }

    /// Creates the role if it is missing and the migrating role may, grants it to the
    /// migrating role, and gives it what it may read here. Runs inside `provision
    /// migrate`'s transaction, under its advisory lock; safe to repeat, and to run while
    /// another database on the same server is being migrated.
    static func prepare(on connection: Connection) throws(ProvisionError) -> Setup {
        let facts = try connection.run("""
            SELECT to_regrole(\(name)) IS NOT NULL AS present,
                   me.rolsuper OR me.rolcreaterole AS may_create,
                   quote_ident(current_user) AS migrator
            FROM pg_roles me WHERE me.rolname = current_user
            """)
        guard let me = facts.first else {
            throw ProvisionError(.databaseError, "the database did not say which role this session runs as")
        }
        let migrator = try me.decode(String.self, "migrator")
        if !(try me.decode(Bool.self, "present")) {
            guard try me.decode(Bool?.self, "may_create") == true else {
                return .needsAdministrator(sql: administratorSQL(roleExists: false, migrator: migrator),
                                           reason: "the role \(migrator) may not create roles (it is neither a superuser nor has CREATEROLE)")
            }
            // Another database on this server may be creating it at this moment.
            try attempt(on: connection, "CREATE ROLE provision_reader NOLOGIN", tolerating: [.duplicateObject, .uniqueViolation])
        }
        // USAGE, not mere membership: the migrating role must act as the role's owner
        // (to hand it the fetch function) and may SET ROLE to it.
        if !(try isUsable(by: connection)) {
            try attempt(on: connection, "GRANT provision_reader TO CURRENT_USER",
                        tolerating: [.insufficientPrivilege, .uniqueViolation, .invalidGrantOperation])
            guard try isUsable(by: connection) else {
                return .needsAdministrator(sql: administratorSQL(roleExists: true, migrator: migrator),
                                           reason: "the role \(migrator) may not grant \(name) to itself")
            }
        }
        // On Citus, a query's statements on the workers run over connections the coordinator
        // opens as the role itself: it must be able to log in (it has no password; the
        // cluster's own authentication between nodes applies, pg_dist_authinfo or trust).
        let login = try connection.run("""
            SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')
                   AND NOT (SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = \(name)) AS needed
            """)
        if try login.first?.decode(Bool.self, "needed") == true {
            try attempt(on: connection, "ALTER ROLE provision_reader LOGIN", tolerating: [.insufficientPrivilege])
            if try connection.run("SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = \(name)").first?.decode(Bool.self, "rolcanlogin") != true {
                return .needsAdministrator(sql: "ALTER ROLE \(name) LOGIN;",
                                           reason: "on Citus the nodes run queries as \(name), which must be able to log in, and the role \(migrator) may not change roles")
            }
        }
        let fetcher = try connection.run("SELECT to_regprocedure('provision_query.fetch_rows(refcursor,integer,bigint,integer)') IS NOT NULL AS present")
        if try fetcher.first?.decode(Bool.self, "present") == true {
            try connection.executeScript(StaticScript(text: """
                -- The function that fetches a query's rows runs as the role and may not
                -- change role; only the role (and so its members) may call it.
                ALTER FUNCTION provision_query.fetch_rows(refcursor, integer, bigint, integer) SECURITY DEFINER;
                ALTER SCHEMA provision_query OWNER TO provision_reader;
                ALTER FUNCTION provision_query.fetch_rows(refcursor, integer, bigint, integer) OWNER TO provision_reader;
                REVOKE ALL ON FUNCTION provision_query.fetch_rows(refcursor, integer, bigint, integer) FROM PUBLIC;
                """))
        }
        try prepareTester(on: connection)
        try connection.executeScript(StaticScript(text: """
            -- A table-wide grant on users made by hand is taken back.
            REVOKE ALL ON TABLE users FROM provision_reader;
            """ + reads(for: name)))
        return .ready
    }

    /// Sets up `provision_tester` beside the reader, when the migrating role may (else
    /// `provision test` runs as before: fixtures as the connecting role, queries as the
    /// reader, which one node allows and Citus does not).
    private static func prepareTester(on connection: Connection) throws(ProvisionError) {
        let facts = try connection.run("""
            SELECT to_regrole(\(testerName)) IS NOT NULL AS present, me.rolsuper OR me.rolcreaterole AS may_create,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') AS citus
            FROM pg_roles me WHERE me.rolname = current_user
            """)
        guard let me = facts.first else { return }
        if !(try me.decode(Bool.self, "present")) {
            guard try me.decode(Bool?.self, "may_create") == true else { return }
            try attempt(on: connection, "CREATE ROLE provision_tester NOLOGIN", tolerating: [.duplicateObject, .uniqueViolation])
        }
        if try me.decode(Bool.self, "citus") {
            try attempt(on: connection, "ALTER ROLE provision_tester LOGIN", tolerating: [.insufficientPrivilege])
        }
        if try connection.run("SELECT pg_has_role(current_user, \(testerName), 'USAGE') AS usable").first?.decode(Bool.self, "usable") != true {
            try attempt(on: connection, "GRANT provision_tester TO CURRENT_USER",
                        tolerating: [.insufficientPrivilege, .uniqueViolation, .invalidGrantOperation])
            guard try connection.run("SELECT pg_has_role(current_user, \(testerName), 'USAGE') AS usable").first?.decode(Bool.self, "usable") == true else { return }
        }
        try connection.executeScript(StaticScript(text: """
            -- Its own copy of the fetch function (the same body), run as itself: what a
            -- test's query executes runs as the tester and cannot change role.
            DO $$
            BEGIN
                EXECUTE format('CREATE OR REPLACE FUNCTION provision_query.fetch_rows_for_tests(cursor_name refcursor, row_limit integer, byte_limit bigint, row_overhead integer) RETURNS SETOF text LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS %L',
                               (SELECT prosrc FROM pg_proc WHERE oid = 'provision_query.fetch_rows(refcursor,integer,bigint,integer)'::regprocedure));
            END
            $$;
            ALTER FUNCTION provision_query.fetch_rows_for_tests(refcursor, integer, bigint, integer) OWNER TO provision_tester;
            REVOKE ALL ON FUNCTION provision_query.fetch_rows_for_tests(refcursor, integer, bigint, integer) FROM PUBLIC;
            GRANT EXECUTE ON FUNCTION provision_query.fetch_rows_for_tests(refcursor, integer, bigint, integer) TO provision_tester;
            GRANT USAGE ON SCHEMA provision_query TO provision_tester;
            -- What fixtures and the playbooks a test runs write, and what checks read.
            REVOKE ALL ON TABLE users FROM provision_tester;
            GRANT INSERT ON TABLE "tenants", "users", "memberships", "audit_events", "centers", "levels", "programs",
                                  "groups", "students", "parents", "student_parents" TO provision_tester;
            GRANT UPDATE ON TABLE "tenants" TO provision_tester;
            GRANT UPDATE (role) ON TABLE memberships TO provision_tester;
            GRANT UPDATE (name, password_hash, must_change_password, password_expires_at) ON TABLE users TO provision_tester;
            GRANT DELETE ON TABLE "tenants", "users", "memberships", "audit_events" TO provision_tester;
            """ + reads(for: testerName)))
    }

    /// What `role` may read: every contract table whole, `users` without
    /// `password_hash` (every other column, including columns added later: re-run on
    /// every migrate), and the tables' schema. `role` is one of this file's names.
    private static func reads(for role: String) -> String {
        """
        GRANT SELECT ON TABLE \(readableTables.filter { $0 != "users" }.map { "\"\($0)\"" }.joined(separator: ", ")) TO \(role);
        DO $$
        BEGIN
            EXECUTE (
                SELECT format('GRANT SELECT (%s) ON TABLE users TO \(role)',
                              string_agg(quote_ident(attname), ', ' ORDER BY attnum))
                FROM pg_attribute
                WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped
                  AND attname <> 'password_hash');
        END
        $$;
        -- The tables' schema (public, usually open to everyone already).
        DO $$
        DECLARE
            tables_schema name := (SELECT relnamespace::regnamespace::name FROM pg_class WHERE oid = 'tenants'::regclass);
        BEGIN
            IF NOT has_schema_privilege('\(role)', tables_schema, 'USAGE') THEN
                EXECUTE format('GRANT USAGE ON SCHEMA %I TO \(role)', tables_schema);
            END IF;
        END
        $$;
        """
    }

    private static func isUsable(by connection: Connection) throws(ProvisionError) -> Bool {
        try connection.run("SELECT pg_has_role(current_user, \(name), 'USAGE') AS usable").first?.decode(Bool.self, "usable") == true
    }

    /// Runs `statement` in a savepoint of its own; one of the `tolerated` failures leaves
    /// the transaction as it was and is not an error.
    private static func attempt(on connection: Connection, _ statement: SQL, tolerating tolerated: Set<SQLState>) throws(ProvisionError) {
        let savepoint = try connection.savepoint()
        do throws(DatabaseFailure) {
            try connection.execute(statement)
        } catch {
            try connection.rollback(to: savepoint)
            guard let state = error.sqlState, tolerated.contains(state) else { throw ProvisionError(error) }
            return
        }
        try connection.release(savepoint)
    }
}
