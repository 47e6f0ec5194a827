import Foundation

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
    enum Identity: Equatable {
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
        self.statement = try Self.statement(text)
        self.parameters = parameters
        self.maxBytes = maxBytes
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
    /// Three statements besides the cursor's own (a fleet's checks send thousands): the
    /// savepoint with the fences, and the rollback with the advisory unlock, each one
    /// round trip.
    func run(on connection: Connection, as identity: Identity) throws(ProvisionError) -> Rows {
        let (savepoint, settings) = try connection.savepoint(then: fences(for: identity))
        do throws(ProvisionError) {
            let rows = try fetch(on: connection, settings: settings, as: identity)
            try connection.rollbackQuery(to: savepoint)
            return rows
        } catch {
            try? connection.rollbackQuery(to: savepoint)
            throw error
        }
    }

    /// The limits in force when the query starts, which it may not change: its own rows
    /// can call `set_config` (a row of `SELECT set_config('statement_timeout', '0', true)`),
    /// so they are set again before every chunk after the first.
    static let guardedSettings = ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "search_path"]

    /// What runs in the query's savepoint before its cursor: read-only, the check's
    /// statement limit, the role, and the limits in force read back (to guard them).
    private func fences(for identity: Identity) -> StaticScript {
        // An integer of the tool's own options, never input.
        let limit = statementTimeoutMilliseconds.map { "SET LOCAL statement_timeout = \(max(1, $0));\n" } ?? ""
        let current = """
            SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout, current_setting('idle_in_transaction_session_timeout') AS idle_in_transaction_session_timeout, current_setting('search_path') AS search_path;
            """
        switch identity {
        case .reader:
            // Names resolve as the connecting role sees them: under the reader, "$user"
            // in search_path would name another schema.
            return StaticScript(text: """
                SET LOCAL transaction_read_only = on;
                \(limit)SELECT set_config('search_path', concat_ws(', ', (SELECT string_agg(quote_ident(name), ', ' ORDER BY position)
                                                                  FROM unnest(current_schemas(false)) WITH ORDINALITY AS path (name, position)), 'pg_temp'), true);
                SET LOCAL ROLE provision_reader;
                \(current)
                """)
        case .connectingRole, .tester:
            return StaticScript(text: "SET LOCAL transaction_read_only = on;\n\(limit)\(current)")
        }
    }

    private func fetch(on connection: Connection, settings: Rows, as identity: Identity) throws(ProvisionError) -> Rows {
        // current_setting, not pg_settings: the view builds every setting on each read, a
        // millisecond per query that a fleet's checks pay thousands of times.
        guard let row = settings.first else { throw ProvisionError(.databaseError, "the database did not report its limits") }
        var limits: [String] = []
        for name in Self.guardedSettings { limits.append(try row.decode(String.self, name)) }
        do {
            return try fetchRows(on: connection, limits: limits, forTests: identity == .tester)
        } catch {
            throw failure(error)
        }
    }

    private enum Stop { case tooLarge, malformed }

    private func fetchRows(on connection: Connection, limits: [String], forTests: Bool) throws(DatabaseFailure) -> Rows {
        try connection.execute(SQL(declaring: Self.cursor, over: statement, binds: parameters))
        let columns = try connection.describeCursor(Self.cursor)
        let overhead = Self.rowOverhead(columns: columns.count)
        var values: [[String?]] = []
        var used = 0
        var first = true
        while true {
            if !first {
                // What the rows so far may have changed, set back (in current_setting's
                // own form, units included, which set_config reads).
                try connection.execute("""
                    SELECT set_config('statement_timeout', \(limits[0]), true), set_config('lock_timeout', \(limits[1]), true),
                           set_config('idle_in_transaction_session_timeout', \(limits[2]), true), set_config('search_path', \(limits[3]), true)
                    """)
            }
            first = false
            var received = 0
            var stop: Stop?
            let remaining = maxBytes.map { Int64(max(0, $0 - used)) }
            let (cursor, limit, bytes, perRow) = (Bind.cursor(Self.cursor), Int32(Self.rowsPerChunk), remaining, Int32(clamping: overhead))
            let fetch: SQL = forTests
                ? "SELECT row_text FROM provision_query.fetch_rows_for_tests(\(cursor), \(limit), \(bytes), \(perRow)) AS row_text"
                : "SELECT row_text FROM provision_query.fetch_rows(\(cursor), \(limit), \(bytes), \(perRow)) AS row_text"
            try connection.forEachRow(fetch) { row in
                received += 1
                guard let text = row.first ?? nil else { stop = .malformed; return false }
                used += text.utf8.count + overhead
                if let maxBytes, used > maxBytes { stop = .tooLarge; return false }
                guard let fields = RecordText.fields(of: text, count: columns.count) else { stop = .malformed; return false }
                values.append(fields)
                return true
            }
            switch stop {
            case .tooLarge?: throw DatabaseFailure(sqlState: .queryRowsTooLarge, constraint: nil, message: "the rows exceed the limit", hint: nil)
            case .malformed?: throw DatabaseFailure(sqlState: nil, constraint: nil, message: "a row of the query's result could not be read", hint: nil)
            case nil: break
            }
            if received < Self.rowsPerChunk { break }
        }
        return Rows(columns: columns, values: values, affected: values.count)
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
            } else if query.hasPrefix("/*"), let end = query.range(of: "*/") {
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
        return value >= 10 || value == value.rounded() ? "\(Int(value)) MiB" : String(format: "%.1f MiB", value)
    }
}
