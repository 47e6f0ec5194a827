/// The schema laid out on a distributed PostgreSQL (CONTRACT §11): where the database has
/// the `citus` extension, `tenants` and `users` are reference tables (a copy on every
/// node), and every tenant-scoped table is hash-distributed by `tenant_id`, co-located
/// with `memberships`, so that one tenant's rows of every table live on one node and a
/// per-tenant statement runs on one shard. Foreign keys are kept. `audit_events` (rows of
/// no tenant too: migrations, password resets) is a reference table, queryable by run
/// and by tenant on every node; provision's own bookkeeping stays on the coordinator.
public enum CitusLayout {
    /// Laid out as copies on every node.
    static let referenceTables = ["tenants", "users", "audit_events"]
    /// Distributed by `tenant_id`, co-located with the first.
    static let distributedTables = ["memberships", "centers", "levels", "programs", "groups", "students", "parents", "student_parents"]

    public static var referenceTableNames: [String] { referenceTables }
    public static var distributedTableNames: [String] { distributedTables }

    /// Where a database stands.
    public enum State: Sendable, Equatable {
        /// No `citus` extension: one node, nothing to lay out.
        case singleNode
        case distributed
        /// Citus is there, but these tables are not laid out yet (`provision migrate` does it).
        case pending([String])
    }

    /// Whether the database has Citus, and what of the schema is laid out.
    public static func state(on connection: Connection) throws(ProvisionError) -> State {
        let row = try connection.run("""
            SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') AS citus
            """).first
        guard try row?.decode(Bool.self, "citus") == true else { return .singleNode }
        let tables = referenceTables + distributedTables
        let pending = try connection.run("""
            SELECT array_to_string(ARRAY(
                SELECT t FROM unnest(\(Bind.textArray(tables))) WITH ORDINALITY AS l (t, n)
                WHERE to_regclass(quote_ident(t)) IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = to_regclass(quote_ident(t)))
                ORDER BY n), ',') AS pending
            """).first
        let names = try pending?.decode(String.self, "pending").split(separator: ",").map(String.init) ?? []
        return names.isEmpty ? .distributed : .pending(names)
    }

    /// Lays out every table not laid out yet, in the caller's transaction (migrate's, under
    /// its lock): the foreign keys that touch the contract's tables are taken off, the
    /// reference tables made, the tenant-scoped tables distributed (their rows, if any, go
    /// to their shards), and every foreign key put back as it was. Returns the tables it
    /// laid out (none when the database is distributed already or has no Citus).
    static func distribute(on connection: Connection) throws(ProvisionError) -> [String] {
        guard case .pending(let tables) = try state(on: connection) else { return [] }
        let list = { (names: [String]) in "ARRAY[" + names.map { "'\($0)'" }.joined(separator: ", ") + "]" }
        // The names are this file's constants, never input.
        try connection.executeScript(StaticScript(text: """
            DO $layout$
            DECLARE
                reference text[] := \(list(referenceTables));
                distributed text[] := \(list(distributedTables));
                tables regclass[];
                fk record;
                saved text[] := '{}';
                statement text;
                t text;
            BEGIN
                SELECT array_agg(to_regclass(quote_ident(n))) INTO tables FROM unnest(reference || distributed) AS n;
                -- Citus lays out a table only when no foreign key ties it to a table that is
                -- not laid out the same way: take them off, put them back at the end.
                FOR fk IN
                    SELECT c.conrelid::regclass AS tab, c.conname, pg_catalog.pg_get_constraintdef(c.oid) AS definition
                    FROM pg_catalog.pg_constraint c
                    WHERE c.contype = 'f' AND (c.conrelid = ANY (tables) OR c.confrelid = ANY (tables))
                    ORDER BY c.conrelid::regclass::text, c.conname
                LOOP
                    saved := saved || format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tab, fk.conname, fk.definition);
                    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tab, fk.conname);
                END LOOP;
                FOREACH t IN ARRAY reference LOOP
                    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass(quote_ident(t))) THEN
                        PERFORM create_reference_table(quote_ident(t));
                    END IF;
                END LOOP;
                FOREACH t IN ARRAY distributed LOOP
                    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass(quote_ident(t))) THEN
                        PERFORM create_distributed_table(quote_ident(t), 'tenant_id',
                                                         colocate_with => CASE WHEN t = distributed[1] THEN 'default' ELSE distributed[1] END);
                    END IF;
                END LOOP;
                FOREACH statement IN ARRAY saved LOOP
                    EXECUTE statement;
                END LOOP;
            END
            $layout$;
            """))
        return tables
    }
}
