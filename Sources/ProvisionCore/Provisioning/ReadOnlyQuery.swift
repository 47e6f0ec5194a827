#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A read-only query from a script (a playbook or a check; CONTRACT §5, §9), and the
/// fences around it.
///
/// - The text must be a query (SELECT, WITH, VALUES, TABLE) and runs as a subquery, so
///   transaction control, COPY, SET or a data-modifying WITH cannot ride along.
/// - It runs in a savepoint with `transaction_read_only` on, rolled back afterwards, so
///   the database refuses any write.
/// - It runs as the least-privilege role `provision_reader` (`ReaderRole`): the cursor is
///   declared under `SET LOCAL ROLE`, so every permission is checked as that role, and its
///   rows are fetched by a SECURITY DEFINER function the role owns, so whatever the query
///   executes runs as the role and cannot change role (`set_config('role', 'none', …)`
///   inside a security-definer function is refused). Until the role is set up in the
///   database, a query runs as the connecting role, unless that role is privileged.
/// - Its rows come in chunks, each bounded in bytes by the server before it is sent and
///   received a row at a time, so the result never takes more than `maxBytes` here.
struct ReadOnlyQuery {
    /// Whom a query runs as.
    /// (Its raw value names the query scope's fences, entered for every query.)
    enum Identity: String, Equatable {
        /// `provision_reader`, set up in this database.
        case reader
        /// The connecting role, which is neither a superuser nor holds a server-side power.
        case connectingRole
        /// `provision_tester`, which a `provision test` runs as (its transaction, always
        /// rolled back, already switched to it): fixtures and queries as one role.
        case tester
    }

    /// Query text that passed the fence (`statement(_:)`): the only text from outside the
    /// binary that is ever sent, and only inside the cursor that reads it.
    struct Statement {
        let text: String
        fileprivate init(_ text: String) { self.text = text }
    }

    let statement: Statement
    let parameters: [Bind]
    let maxBytes: Int?
    /// A query of the binary's own text (`tenantCount`), which calls nothing a script
    /// wrote: it runs as a plain statement in the scope, under the same fences, without
    /// the cursor and the security-definer fetch that a script's text needs.
    private var own: SQL?
    /// The statement timeout the query runs under (a go-live check's own limit), set in
    /// its savepoint and guarded like the others; nil: the one in force.
    var statementTimeoutMilliseconds: Int?

    /// Chosen here, never derived from input; the savepoint around the query drops it.
    static let cursor = Identifier("provision_query_rows")!
    static let rowsPerChunk = 100
    /// Predefined roles that reach outside the database (files, programs, other sessions).
    /// A login that may become one of them, or a superuser role, is privileged: a query
    /// running as that login could `set_config('role', …)` its way to it.
    static let powerfulRoles = ["pg_execute_server_program", "pg_read_server_files", "pg_signal_backend", "pg_write_server_files"]

    /// Roughly what a row costs the caller besides its text: the arrays and strings that
    /// hold it here, and the table it becomes for a script.
    static func rowOverhead(columns: Int) -> Int { 64 + 48 * columns }

    init(_ text: String, parameters: [Bind], maxBytes: Int?) throws(ProvisionError) {
        self.init(try Self.statement(text), parameters: parameters, maxBytes: maxBytes)
    }

    init(_ statement: Statement, parameters: [Bind], maxBytes: Int?) {
        self.statement = statement
        self.parameters = parameters
        self.maxBytes = maxBytes
    }

    /// How many rows of `table` (one of the tenant-scoped tables) belong to `tenant`, as
    /// `n`: `ctx.count(table)`. Nil for any other table. Five of a fleet's eight queries a
    /// tenant are these: one statement each instead of a cursor, its description and a
    /// fetch.
    static func tenantCount(of table: String, tenant: UUID?) -> ReadOnlyQuery? {
        guard ReaderRole.tenantScopedTables.contains(table), let name = Identifier(catalogName: table) else { return nil }
        let sql: SQL = "SELECT count(*) AS n FROM \(name) WHERE tenant_id = \(Bind.uuid(tenant))"
        var query = ReadOnlyQuery(Statement(sql.text), parameters: sql.binds, maxBytes: nil)
        query.own = sql
        return query
    }

    // MARK: Identity

    /// Whom queries on `connection` run as, or `forbidden` naming the fix when the role is
    /// not set up and the connecting role may not run them itself.
    static func identity(on connection: Connection) throws(ProvisionError) -> Identity {
        let facts = try connection.run("""
            SELECT current_user = \(ReaderRole.testerName)
                   AND coalesce((SELECT prosecdef AND proowner = current_user::regrole
                                 FROM pg_proc WHERE oid = to_regprocedure('provision_query.fetch_rows_for_tests(refcursor,integer,bigint,integer)')), false) AS tester,
                   coalesce(fetcher.prosecdef AND fetcher.proowner = reader.oid, false) AS reader_ready,
                   reader.oid IS NOT NULL AS reader_exists,
                   coalesce(pg_has_role(session_user, reader.oid, 'MEMBER'), false) AS may_become_reader,
                   login.rolsuper AS superuser,
                   array_to_string(ARRAY(
                       SELECT power.rolname || CASE WHEN power.rolsuper THEN ' (a superuser)' ELSE '' END
                       FROM pg_roles power
                       WHERE (power.rolsuper OR power.rolname = ANY (\(Bind.textArray(powerfulRoles))))
                         AND power.rolname <> session_user AND pg_has_role(session_user, power.oid, 'MEMBER')
                       ORDER BY power.rolname), ', ') AS powers,
                   session_user AS login
            FROM pg_roles login
            LEFT JOIN pg_roles reader ON reader.rolname = \(ReaderRole.name)
            LEFT JOIN pg_proc fetcher ON fetcher.oid = to_regprocedure('provision_query.fetch_rows(refcursor,integer,bigint,integer)')
            WHERE login.rolname = session_user
            """)
        guard let row = facts.first else {
            throw ProvisionError(.databaseError, "the database did not say which role this session runs as")
        }
        if try row.decode(Bool.self, "tester") { return .tester }
        let login = try row.decode(String.self, "login")
        let role = ReaderRole.name
        if try row.decode(Bool.self, "reader_ready") {
            guard try row.decode(Bool.self, "may_become_reader") else {
                throw ProvisionError(.forbidden, "read-only queries run as the database role \(role), which \(login) is not a member of: have an administrator run `GRANT \(role) TO \(login);`")
            }
            return .reader
        }
        let powers = try row.decode(String.self, "powers")
        let privilege = try row.decode(Bool.self, "superuser") ? "a superuser" : powers.isEmpty ? nil : "a member of \(powers)"
        guard let privilege else { return .connectingRole }
        let refusal = "read-only queries run as the least-privilege database role \(role), which is not set up in this database, and \(login) is \(privilege), so they may not run as \(login)"
        let message: ProvisionError.Template = if try row.decode(Bool.self, "reader_exists") {
            "\(refusal): \(.remedy) to set up \(role) in this database (it exists on the server, but this database does not use it yet)"
        } else {
            "\(refusal): \(.remedy), which creates the role when it may; if it says it may not, have an administrator run the SQL it prints, then \(.remedy) again"
        }
        throw ProvisionError(.forbidden, message, subject: nil, remedy: .runMigrate)
    }

    // MARK: Running

    /// Runs the query in a savepoint of its own, rolled back afterwards with any
    /// session-level advisory lock the query took, and returns its rows.
    ///
    /// One round trip for most queries (a fleet's checks send thousands): the savepoint,
    /// the cursor, its columns and its first chunk of rows go in one pipeline, and the
    /// rollback rides ahead of the next statement (`Connection.QueryScope`: the fences
    /// are set once for a run of queries with the same ones). A result of more than one
    /// chunk takes a round trip per further chunk.
    func run(on connection: Connection, as identity: Identity) throws(ProvisionError) -> Rows {
        // The fences are a function of whom the query runs as and its statement limit.
        let key = [identity.rawValue, statementTimeoutMilliseconds.map { String($0) }]
        let entry = connection.enterQueryScope(key: key) { fences(for: identity) }
        do throws(ProvisionError) {
            let (rows, settings) = try fetch(on: connection, entering: entry, as: identity)
            connection.keepQueryScope(entry, settings: settings)
            return rows
        } catch {
            try? connection.closeQueryScope(entry)
            throw error
        }
    }

    /// The limits in force when the query starts, which it may not change: its own rows
    /// can call `set_config` (a row of `SELECT set_config('statement_timeout', '0', true)`),
    /// so they are set again before every chunk after the first.
    static let guardedSettings = ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "search_path"]

    /// What runs in the query scope's savepoint before its queries, as one statement:
    /// read-only, the check's statement limit, the role, and the limits in force read
    /// back (to guard them). The transaction pinned `search_path` to provision's schema
    /// when it began (`Connection.begin`), a list of names without `"$user"`, so names
    /// resolve alike under the reader.
    private func fences(for identity: Identity) -> SQL {
        // An integer of the tool's own options; NULL keeps the limit in force.
        let timeout = statementTimeoutMilliseconds.map { String(max(1, $0)) }
        return """
            SELECT set_config('transaction_read_only', 'on', true) AS read_only,
                   CASE WHEN \(timeout) IS NULL THEN current_setting('statement_timeout')
                        ELSE set_config('statement_timeout', \(timeout), true) END AS statement_timeout,
                   current_setting('lock_timeout') AS lock_timeout,
                   current_setting('idle_in_transaction_session_timeout') AS idle_in_transaction_session_timeout,
                   current_setting('search_path') AS search_path,
                   CASE WHEN \(identity == .reader) THEN set_config('role', 'provision_reader', true) END AS role
            """
    }

    private enum Stop { case tooLarge, malformed }

    private func fetch(on connection: Connection, entering entry: Connection.QueryScopeEntry, as identity: Identity) throws(ProvisionError) -> (Rows, Row) {
        do {
            if let own { return try runOwn(own, on: connection, entering: entry) }
            return try fetchRows(on: connection, entering: entry, forTests: identity == .tester)
        } catch {
            throw failure(error)
        }
    }

    /// The binary's own query, in the scope after the rollback to its savepoint (which
    /// undoes what a script's query before it set), as one statement.
    private func runOwn(_ sql: SQL, on connection: Connection, entering entry: Connection.QueryScopeEntry) throws(DatabaseFailure) -> (Rows, Row) {
        let results = try connection.pipeline(entry.steps + [.statement(sql, reused: true)])
        guard let settings = entry.settings ?? entry.fences.flatMap({ results[$0].first }) else {
            throw DatabaseFailure(sqlState: nil, constraint: nil, message: "the database did not report its limits", hint: nil)
        }
        return (results[entry.steps.count], settings)
    }

    /// The next chunk of the cursor's rows, bounded by the server to `bytes` (nil: no
    /// bound) counting `perRow` bytes a row besides its text. Session-level advisory
    /// locks the query took outlive a rollback: the same statement releases them once the
    /// chunk is read (the second branch of the UNION runs after the first).
    private func chunk(bytes: Int?, perRow: Int, forTests: Bool) -> SQL {
        let (cursor, limit, bytes, perRow) = (Bind.cursor(Self.cursor), Int32(Self.rowsPerChunk), bytes.map { Int64($0) }, Int32(clamping: perRow))
        return forTests
            ? "SELECT row_text FROM provision_query.fetch_rows_for_tests(\(cursor), \(limit), \(bytes), \(perRow)) AS row_text UNION ALL SELECT NULL WHERE pg_advisory_unlock_all() IS NULL"
            : "SELECT row_text FROM provision_query.fetch_rows(\(cursor), \(limit), \(bytes), \(perRow)) AS row_text UNION ALL SELECT NULL WHERE pg_advisory_unlock_all() IS NULL"
    }

    private func fetchRows(on connection: Connection, entering entry: Connection.QueryScopeEntry, forTests: Bool) throws(DatabaseFailure) -> (Rows, Row) {
        var columns: [Rows.Column] = []
        var values: [[String?]] = []
        var used = 0
        var received = 0
        var stop: Stop?
        func take(_ row: [String?]) -> Bool {
            received += 1
            guard let text = row.first ?? nil else { stop = .malformed; return false }
            used += text.utf8.count + Self.rowOverhead(columns: columns.count)
            if let maxBytes, used > maxBytes { stop = .tooLarge; return false }
            guard let fields = RecordText.fields(of: text, count: columns.count) else { stop = .malformed; return false }
            values.append(fields)
            return true
        }
        func endOfChunk() throws(DatabaseFailure) -> Bool {
            switch stop {
            case .tooLarge?: throw DatabaseFailure(sqlState: .queryRowsTooLarge, constraint: nil, message: "the rows exceed the limit", hint: nil)
            case .malformed?: throw DatabaseFailure(sqlState: nil, constraint: nil, message: "a row of the query's result could not be read", hint: nil)
            case nil: break
            }
            defer { received = 0 }
            return received == Self.rowsPerChunk
        }
        // The first chunk is asked for before its columns are known: the server bounds it
        // by the least a row costs besides its text (one column's worth), and `take`
        // counts what each row really costs here, so the rows never take more than
        // `maxBytes`. The scope's steps open the pipeline.
        let results = try connection.pipeline(entry.steps + [
            // A check's queries are the same texts for every tenant: each is parsed once
            // a transaction (`reused`), like the statements that read its rows.
            .statement(SQL(declaring: Self.cursor, over: statement, binds: parameters), reused: true),
            .describePortal(Self.cursor),
            .eachRow(chunk(bytes: maxBytes, perRow: Self.rowOverhead(columns: 1), forTests: forTests), reused: true),
        ]) { row, described in
            columns = described
            return take(row)
        }
        columns = results[entry.steps.count + 1].columns
        guard let settings = entry.settings ?? entry.fences.flatMap({ results[$0].first }) else {
            throw DatabaseFailure(sqlState: nil, constraint: nil, message: "the database did not report its limits", hint: nil)
        }
        var more = try endOfChunk()
        guard more else { return (Rows(columns: columns, values: values, affected: values.count), settings) }
        // What the rows so far may have changed, set back before each further chunk (in
        // current_setting's own form, units included, which set_config reads).
        var limits: [String] = []
        for name in Self.guardedSettings {
            guard let value = settings[name] ?? nil else {
                throw DatabaseFailure(sqlState: nil, constraint: nil, message: "the database did not report \(name)", hint: nil)
            }
            limits.append(value)
        }
        while more {
            try connection.execute("""
                SELECT set_config('statement_timeout', \(limits[0]), true), set_config('lock_timeout', \(limits[1]), true),
                       set_config('idle_in_transaction_session_timeout', \(limits[2]), true), set_config('search_path', \(limits[3]), true)
                """)
            let perRow = Self.rowOverhead(columns: columns.count)
            try connection.forEachRow(chunk(bytes: maxBytes.map { max(0, $0 - used) }, perRow: perRow, forTests: forTests), take)
            more = try endOfChunk()
        }
        return (Rows(columns: columns, values: values, affected: values.count), settings)
    }

    // MARK: Fences and errors

    /// The query without leading comments and trailing semicolons, if it is one.
    static func statement(_ text: String) throws(ProvisionError) -> Statement {
        var query = Substring(text)
        // Leading blanks and comments, trailing blanks and semicolons.
        while true {
            query = query.drop { $0.isWhitespace }
            if query.hasPrefix("--") {
                query = query.drop { $0 != "\n" }
            } else if query.hasPrefix("/*"), let end = query.firstRange(of: "*/") {
                query = query[end.upperBound...]
            } else {
                break
            }
        }
        while let last = query.last, last.isWhitespace || last == ";" { query = query.dropLast() }
        let keyword = query.prefix { $0.isLetter }.uppercased()
        guard ["SELECT", "WITH", "VALUES", "TABLE"].contains(keyword) || query.hasPrefix("(") else {
            let shown = keyword.isEmpty ? String(query.prefix(20)) : keyword
            throw ProvisionError(.forbidden, "\(.field) must be a read-only query: SELECT, WITH, VALUES or TABLE, not \(shown)", subject: .sql)
        }
        return Statement(String(query))
    }

    /// A query's failure, told as what the query did wrong (a missing table there is a
    /// typo, not an unmigrated database).
    func failure(_ failure: DatabaseFailure) -> ProvisionError {
        switch failure.sqlState {
        case .undefinedTable?:
            // PostgreSQL names the relation only in its message.
            let named = failure.message.firstMatch(of: /relation "([^"]+)" does not exist/).map { String($0.1) }
            let hint = named.flatMap { Suggestion.closest(to: $0, among: ReaderRole.readableTables) }.map { "; did you mean '\($0)'?" } ?? ""
            return ProvisionError(.databaseError, "query failed: \(failure.message)\(hint) (queries may read \(ReaderRole.readableTables.joined(separator: ", ")))",
                                  subject: .sql)
        case .undefinedColumn?, .syntaxError?, .undefinedFunction?:
            return ProvisionError(.databaseError, "query failed: \(failure.message)", subject: .sql)
        case .readOnlySQLTransaction?:
            return ProvisionError(.forbidden, "\(.field) must be a read-only query: \(failure.message)", subject: .sql)
        case .featureNotSupported? where failure.message.contains("data-modifying"):
            return ProvisionError(.forbidden, "\(.field) must be a read-only query: \(failure.message)", subject: .sql)
        case .activeSQLTransaction? where failure.message.contains("by a different user"):
            // Citus reads the shards over connections of the query's role, which cannot
            // see what the run's own connections wrote and have not committed.
            return ProvisionError(.databaseError, "\(.field) cannot read rows this run wrote in the same transaction on a Citus cluster: queries from checks and playbooks run as provision_reader over connections of their own, which do not see them until the run commits. Query before writing, or in a run of its own (Citus: \(failure.message))",
                                  subject: .sql)
        case .queryRowsTooLarge?:
            return ProvisionError(.limitExceeded, "the query's result is larger than the memory left for it (\(Self.mebibytes(maxBytes ?? 0)))",
                                  exceeded: .memory)
        default:
            return ProvisionError(failure)
        }
    }

    static func mebibytes(_ bytes: Int) -> String {
        let value = Double(bytes) / 1_048_576
        return value >= 10 || value == value.rounded() ? "\(Int(value)) MiB" : String(cFormat: "%.1f MiB", value)
    }
}
