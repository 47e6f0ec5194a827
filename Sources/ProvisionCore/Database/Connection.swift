import CLibPQ
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One libpq connection. Every value goes to the server as a bound parameter with its
/// type (`PQsendQueryParams`); every failure comes back as a redacted `DatabaseFailure`.
/// Each wait for the server watches the limits (CONTRACT §10): a statement that outlasts
/// the statement limit or the run's deadline, or one running when Ctrl-C arrives, is
/// cancelled on the server, never left running.
public final class Connection {
    /// libpq's functions, loaded by the first connection (`LibPQ`).
    private let pq: LibPQ.Functions
    private let handle: OpaquePointer
    private let redactor: Redactor
    /// Kept only to open a short side connection that asks who holds a lock this
    /// connection waits for; never shown.
    private let connectionString: String
    /// What a signal handler (and a deadline) uses to cancel the statement in flight.
    private let cancelHandle: OpaquePointer?
    private var savepointCounter = 0
    /// The scope the queries of scripts run in, left open between them and closed ahead
    /// of any other statement (`QueryScope`).
    private var queryScope: QueryScope?
    public private(set) var inTransaction = false
    /// Statements the open transaction sends again and again (`PipelineStep`'s `reused`):
    /// prepared on first use under a name of this connection's, sent by name after that,
    /// and deallocated before the transaction ends, so that behind a transaction pooler
    /// none outlives it on a server connection another client gets next. Keyed by text and
    /// parameter types.
    private var preparedStatements: [PreparedKey: Identifier] = [:]
    private var preparedCounter = 0
    /// Names no other session takes (a pooled server connection is shared): a random part
    /// of this connection's, and a number never used twice.
    private let preparedPrefix = "provision_ps_" + String(UInt32.random(in: .min ... .max), radix: 16)
    /// At most this many named statements at a time; a query text past them goes unnamed.
    static let preparedLimit = 64
    /// The open transaction was begun READ ONLY (a dry run, a check).
    private var transactionReadOnly = false

    /// provision's own limit on one statement, in milliseconds (CONTRACT §10): the server
    /// runs each transaction under the smaller of it and the database's or role's own
    /// `statement_timeout`, and this side cancels a statement that outlasts it.
    public let statementLimitMilliseconds: Int
    /// The limit in force in the open transaction (the smaller one), for this side's watch.
    private var statementLimitInForce: Int
    /// The server process of the open transaction (`pg_backend_pid()`: behind a pooler,
    /// the one that really runs it), for asking who blocks it.
    private var serverProcess: Int32?
    /// A wall-clock deadline over every statement (a run's time limit, a check's limit):
    /// a statement still running then is cancelled on the server.
    public var deadline: Deadline?

    /// When a statement must end, and the limit's name for the message.
    public struct Deadline: Sendable {
        public let instant: ContinuousClock.Instant
        /// The limit's name as the front end words it ("its 5 s limit").
        public let limit: String
        public init(seconds: Double, limit: String) {
            instant = .now + .milliseconds(Int64((min(seconds, 604_800) * 1000).rounded(.up)))
            self.limit = limit
        }
    }

    /// Why this side cancelled the statement in flight, and when.
    private var cancellation: DatabaseFailure.Cancellation?
    private var cancelledAt: ContinuousClock.Instant?

    /// The open transaction failed (an error that PostgreSQL does not survive without a
    /// savepoint): only a rollback is possible now.
    public var transactionAborted: Bool { pq.PQtransactionStatus(handle) == PQTRANS_INERROR }

    /// Opens `url` (a libpq URI or key=value conninfo). Throws `database_unavailable`
    /// with the password scrubbed from libpq's message. Sets nothing on the session: what
    /// provision needs is set inside each transaction (`begin`), so that through a pooler
    /// nothing leaks into other clients' server connections.
    public init(url: String, statementTimeoutMilliseconds: Int = 30_000, connectTimeoutSeconds: Int = 10,
                applicationName: String = "provision") throws(ProvisionError) {
        let pq = try LibPQ.load()
        let redactor = Redactor(connectionString: url, libpq: pq)
        if let parseError = redactor.parseError {
            throw ProvisionError(.databaseUnavailable, "DATABASE_URL is not a valid libpq URI or key=value conninfo: \(parseError)")
        }
        // Earlier entries are defaults: the expanded DATABASE_URL overrides them.
        let keywords = ["connect_timeout", "application_name", "dbname"]
        let values = [String(connectTimeoutSeconds), applicationName, url]
        let connection: OpaquePointer? = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                pq.PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw ProvisionError(.databaseUnavailable, "cannot connect to the database: out of memory")
        }
        guard pq.PQstatus(connection) == CONNECTION_OK else {
            let raw = String(libpq: pq.PQerrorMessage(connection))
            pq.PQfinish(connection)
            var error = ProvisionError(.databaseUnavailable, "cannot connect to the database named by DATABASE_URL (\(redactor.safeTarget)): \(Self.lines(of: redactor.redact(raw)))")
            error.keepsLines = true
            throw error
        }
        self.pq = pq
        self.handle = connection
        self.redactor = redactor
        self.connectionString = url
        self.cancelHandle = pq.PQgetCancel(connection)
        self.statementLimitMilliseconds = statementTimeoutMilliseconds
        self.statementLimitInForce = statementTimeoutMilliseconds
        // NOTICEs (a migration's "already exists, skipping") are not for the operator.
        _ = pq.PQsetNoticeReceiver(connection, { _, _ in }, nil)
    }

    deinit {
        if let cancelHandle { pq.PQfreeCancel(cancelHandle) }
        pq.PQfinish(handle)
    }

    /// Where the connection points, as libpq reports it after connecting (host or socket
    /// folder, port, database, user; also for `service=` and `PG*` variables), without the
    /// password: for messages and plans.
    public var safeTarget: String {
        let user = pq.PQuser(handle).map { String(cString: $0) } ?? ""
        let host = pq.PQhost(handle).map { String(cString: $0) } ?? ""
        let port = pq.PQport(handle).map { String(cString: $0) } ?? ""
        let database = pq.PQdb(handle).map { String(cString: $0) } ?? ""
        return redactor.redact("\(user.isEmpty ? "" : user + "@")\(host)\(port.isEmpty ? "" : ":" + port)/\(database)")
    }

    /// libpq's multi-line messages, trimmed, one line each (a front end shows them as lines).
    static func lines(of message: String) -> String {
        message.split(separator: "\n").map { $0.trimmed(.spaces) }.filter { !$0.isEmpty }.joined(separator: "\n")
    }

    @discardableResult
    public func execute(_ sql: SQL) throws(DatabaseFailure) -> Rows {
        try send(sql)
        return try lastResult(parameters: sql.parameters)
    }

    /// Runs a statement whose rows arrive one at a time (libpq's single-row mode), so
    /// neither libpq nor this process ever holds more than the row in hand. `row` sees each
    /// row's values and returns false to stop taking them: the rest are read and dropped
    /// one by one.
    public func forEachRow(_ sql: SQL, _ row: ([String?]) -> Bool) throws(DatabaseFailure) {
        try send(sql)
        defer { StatementCancellation.end() }
        var failed: DatabaseFailure?
        var wanted = pq.PQsetSingleRowMode(handle) == 1
        if !wanted { failed = failure(nil, parameters: sql.parameters) }
        while let result = nextResult() {
            defer { pq.PQclear(result) }
            switch pq.PQresultStatus(result) {
            case PGRES_SINGLE_TUPLE:
                if wanted, failed == nil { wanted = row(rows(of: result).values.first ?? []) }
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                break
            default:
                failed = failed ?? failure(result, parameters: sql.parameters)
            }
            if pq.PQstatus(handle) == CONNECTION_BAD { break }
        }
        try endStatement()
        if let failed { throw failed }
    }

    /// The simple-query protocol: several statements, no parameters; the rows of the last.
    fileprivate func executeSimple(_ text: String) throws(DatabaseFailure) -> Rows {
        try closeOpenQueryScope()
        try refuseIfPastDeadline()
        startStatement()
        guard pq.PQsendQuery(handle, text) == 1 else {
            StatementCancellation.end()
            throw failure(nil, parameters: [])
        }
        return try lastResult(parameters: [])
    }

    /// Like `execute`, but failures arrive as contract errors.
    @discardableResult
    public func run(_ sql: SQL) throws(ProvisionError) -> Rows {
        do { return try execute(sql) } catch { throw ProvisionError(error) }
    }

    // MARK: Transactions

    /// Opens a transaction with provision's settings in it, and only in it (`SET LOCAL`):
    /// the statement limit (the smaller of provision's and the session's own
    /// `statement_timeout`, which is the database's or role's, provision never setting
    /// one on the session; the server's is a second later than this side's, so that this
    /// side can tell a lock wait from a slow statement), and `search_path` pinned to the
    /// schema of provision's tables. A transaction that may write
    /// refuses a read-only server (a hot standby, `default_transaction_read_only`) with
    /// `read_only_database` before anything runs.
    public func begin(readOnly: Bool = false) throws(ProvisionError) {
        nextIsBegin = true
        try run(readOnly ? "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY" : "BEGIN ISOLATION LEVEL READ COMMITTED")
        inTransaction = true
        transactionReadOnly = readOnly
        savepointCounter = 0
        preparedStatements = [:]
        let ours = Int64(statementLimitMilliseconds)
        do throws(ProvisionError) {
            let row = try Self.only(try run("""
                WITH ceiling AS (SELECT (extract(epoch FROM current_setting('statement_timeout')::interval) * 1000)::bigint AS ms)
                SELECT set_config('statement_timeout', (CASE WHEN ms > 0 AND ms <= \(ours) THEN ms ELSE \(ours) + 1000 END)::text, true) AS server_limit,
                       CASE WHEN ms > 0 AND ms < \(ours) THEN ms ELSE \(ours) END AS limit_in_force,
                       -- Names resolve in provision's schema only (the first on the search
                       -- path that holds its tables and records, else where migrate creates
                       -- them), with pg_catalog first and pg_temp last: a DBA's or role's
                       -- search_path cannot redirect a read or write to another schema's table.
                       set_config('search_path', 'pg_catalog, ' || coalesce(
                           (SELECT quote_ident(path.name) FROM unnest(current_schemas(false)) WITH ORDINALITY AS path (name, position)
                            WHERE to_regclass(quote_ident(path.name) || '.tenants') IS NOT NULL
                              AND (to_regclass(quote_ident(path.name) || '.schema_migrations') IS NOT NULL
                                   OR to_regclass(quote_ident(path.name) || '.provision_schema_migrations') IS NOT NULL)
                            ORDER BY path.position LIMIT 1),
                           quote_ident(current_schema()), 'public') || ', pg_temp', true) AS search_path,
                       pg_backend_pid() AS server_process,
                       -- PostgreSQL 14+: a statement whose client went away (kill -9) ends.
                       CASE WHEN current_setting('server_version_num')::int >= 140000
                            THEN set_config('client_connection_check_interval', '1000', true) END AS client_check,
                       -- Citus: a writing transaction runs its multi-shard statements over
                       -- one connection per node, so that it may then write a reference
                       -- table (users, tenants): a parallel read would forbid that.
                       CASE WHEN \(!readOnly) AND current_setting('citus.multi_shard_modify_mode', true) IS NOT NULL
                            THEN set_config('citus.multi_shard_modify_mode', 'sequential', true) END AS citus_mode,
                       pg_is_in_recovery() AS standby,
                       current_setting('transaction_read_only') = 'on' AS read_only
                FROM ceiling
                """))
            statementLimitInForce = try row.decode(Int.self, "limit_in_force")
            serverProcess = Int32(try row.decode(Int.self, "server_process"))
            if !readOnly {
                if try row.decode(Bool.self, "standby") {
                    throw ProvisionError(.readOnlyDatabase, "the database at \(safeTarget) is a hot standby (read-only, in recovery) and cannot take writes: connect to the primary, e.g. list every host in DATABASE_URL and add target_session_attrs=read-write")
                }
                if try row.decode(Bool.self, "read_only") {
                    throw ProvisionError(.readOnlyDatabase, "the database at \(safeTarget) starts every transaction read-only (default_transaction_read_only is on for the database or role): connect to the primary with a role that may write, e.g. add target_session_attrs=read-write to DATABASE_URL, or have an administrator turn the setting off")
                }
            }
        } catch {
            rollback()
            throw error
        }
    }

    private static func only(_ rows: Rows) throws(ProvisionError) -> Row {
        guard let row = rows.first else { throw ProvisionError(.databaseError, "the database did not answer the transaction's settings") }
        return row
    }

    public func commit() throws(ProvisionError) {
        deallocatePreparedStatements()
        inTransaction = false
        statementLimitInForce = statementLimitMilliseconds
        try run("COMMIT")
    }

    /// Rolls back whatever is open. Never throws: a rollback that fails (the connection is
    /// gone) leaves the server to abort the transaction when the session ends.
    public func rollback() {
        deallocatePreparedStatements()
        inTransaction = false
        statementLimitInForce = statementLimitMilliseconds
        _ = try? withoutDeadline { () throws(ProvisionError) in try run("ROLLBACK") }
        deallocateStatementsLeftBehind()
    }

    private struct PreparedKey: Hashable {
        let text: String
        let types: [Oid]
    }

    /// The transaction's prepared statements, deallocated while it is still open (behind
    /// a transaction pooler its server connection is then another client's): in a
    /// savepoint, since a pooler that prepares statements itself (PgBouncer 1.21+) knows
    /// them by other names, and a DEALLOCATE that fails must not abort the transaction.
    /// A transaction that already failed cannot run them: they are deallocated after it.
    private func deallocatePreparedStatements() {
        guard !preparedStatements.isEmpty, pq.PQtransactionStatus(handle) == PQTRANS_INTRANS else { return }
        let names = preparedStatements.values.sorted { $0.name < $1.name }
        preparedStatements = [:]
        let savepoint = nextSavepoint()
        let saved = deadline
        deadline = nil
        defer { deadline = saved }
        do {
            _ = try pipeline([.statement("SAVEPOINT \(savepoint.identifier)")] + names.map { .statement("DEALLOCATE \($0)") }
                             + [.statement("RELEASE SAVEPOINT \(savepoint.identifier)")])
        } catch {
            // The connection is gone, or the savepoint is undone: what ends the
            // transaction says so if it cannot.
            _ = try? pipeline([.statement("ROLLBACK TO SAVEPOINT \(savepoint.identifier)"), .statement("RELEASE SAVEPOINT \(savepoint.identifier)")])
        }
    }

    /// After a failed transaction: its statements, each on its own (one that a pooler
    /// sent elsewhere is not there to deallocate, and is left to its server connection,
    /// under a name no one else uses).
    private func deallocateStatementsLeftBehind() {
        let names = preparedStatements.values
        preparedStatements = [:]
        for name in names {
            _ = try? withoutDeadline { () throws(ProvisionError) in try run("DEALLOCATE \(name)") }
        }
    }

    /// The name `sql` is sent by in this transaction, and whether it must be prepared
    /// first; nil: sent unnamed (outside a transaction, or past the limit).
    private func preparedName(for sql: SQL, types: [Oid]) -> (Identifier, prepare: Bool)? {
        guard inTransaction else { return nil }
        let key = PreparedKey(text: sql.text, types: types)
        if let name = preparedStatements[key] { return (name, false) }
        guard preparedStatements.count < Self.preparedLimit else { return nil }
        preparedCounter += 1
        let name = Identifier("\(preparedPrefix)_\(preparedCounter)")!
        preparedStatements[key] = name
        return (name, true)
    }

    private func forgetPrepared(_ name: Identifier) {
        if let key = preparedStatements.first(where: { $0.value == name })?.key { preparedStatements[key] = nil }
    }

    /// A savepoint named by the tool (`provision_sp_<n>`), never by input.
    public func savepoint() throws(ProvisionError) -> Savepoint {
        savepointCounter += 1
        let savepoint = Savepoint(identifier: Identifier("provision_sp", number: savepointCounter))
        try run("SAVEPOINT \(savepoint.identifier)")
        return savepoint
    }

    public func release(_ savepoint: Savepoint) throws(ProvisionError) {
        try run("RELEASE SAVEPOINT \(savepoint.identifier)")
    }

    /// Where the queries of scripts run (`ReadOnlyQuery`): a savepoint (`outer`) holding
    /// their fences, and in it one (`inner`) each query runs in and the next rolls back
    /// to. A fleet's checks send thousands of queries, one after the other: the fences
    /// are set once for them all, and each query's rollback rides in the next one's round
    /// trip. The scope is closed (rolled back, released, session advisory locks let go)
    /// ahead of any other statement, and when a query asks for other fences, so nothing
    /// else ever runs in it.
    struct QueryScope {
        let outer: Savepoint
        let inner: Savepoint
        /// What names the fences (`enterQueryScope`).
        let key: [String?]
        /// What the fences answered (the limits in force, which the queries guard).
        let settings: Row
    }

    /// A query's way into a scope: `steps` open the pipeline. `fences` is the index of
    /// the fences' step when they run (a new scope), nil when the open scope's hold
    /// (`settings` then has their answer). `scope` is kept with `keepQueryScope` once the
    /// query succeeded, or closed with `closeQueryScope` when it did not.
    struct QueryScopeEntry {
        let steps: [PipelineStep]
        let fences: Int?
        let settings: Row?
        let outer: Savepoint
        let inner: Savepoint
        let key: [String?]
    }

    /// The steps that put the next query in a scope fenced by `fences`: the open one's
    /// inner savepoint rolled back to (undoing the query before) when it has the same
    /// fences, else a new scope (after closing the open one). The fences are named by
    /// `key` (equal keys: equal fences) and made only when a new scope needs them: a
    /// fleet's checks enter the open scope thousands of times.
    func enterQueryScope(key: [String?], fences makeFences: () -> SQL) -> QueryScopeEntry {
        if let scope = queryScope, scope.key == key {
            queryScope = nil
            return QueryScopeEntry(steps: [.statement("ROLLBACK TO SAVEPOINT \(scope.inner.identifier)", reused: true)], fences: nil,
                                   settings: scope.settings, outer: scope.outer, inner: scope.inner, key: key)
        }
        let fences = makeFences()
        if let scope = queryScope {
            queryScope = nil
            let closing = Self.closingSteps(scope)
            let (outer, inner) = (nextSavepoint(), nextSavepoint())
            return QueryScopeEntry(steps: closing + Self.openingSteps(outer: outer, fences: fences, inner: inner), fences: closing.count + 1,
                                   settings: nil, outer: outer, inner: inner, key: key)
        }
        let (outer, inner) = (nextSavepoint(), nextSavepoint())
        return QueryScopeEntry(steps: Self.openingSteps(outer: outer, fences: fences, inner: inner), fences: 1, settings: nil,
                               outer: outer, inner: inner, key: key)
    }

    /// The query in `entry` succeeded: its scope stays open for the next query.
    func keepQueryScope(_ entry: QueryScopeEntry, settings: Row) {
        queryScope = QueryScope(outer: entry.outer, inner: entry.inner, key: entry.key, settings: settings)
    }

    /// The query in `entry` failed: its scope is closed now (rolled back, released, its
    /// session advisory locks let go), undoing works past a deadline.
    func closeQueryScope(_ entry: QueryScopeEntry) throws(ProvisionError) {
        queryScope = QueryScope(outer: entry.outer, inner: entry.inner, key: entry.key, settings: Row(columns: [], values: []))
        do { try closeOpenQueryScope() } catch { throw ProvisionError(error) }
    }

    private func nextSavepoint() -> Savepoint {
        savepointCounter += 1
        return Savepoint(identifier: Identifier("provision_sp", number: savepointCounter))
    }

    private static func openingSteps(outer: Savepoint, fences: SQL, inner: Savepoint) -> [PipelineStep] {
        [.statement("SAVEPOINT \(outer.identifier)"), .statement(fences), .statement("SAVEPOINT \(inner.identifier)")]
    }

    private static func closingSteps(_ scope: QueryScope) -> [PipelineStep] {
        [.statement("ROLLBACK TO SAVEPOINT \(scope.outer.identifier)"), .statement("RELEASE SAVEPOINT \(scope.outer.identifier)"),
         .statement("SELECT pg_advisory_unlock_all()")]
    }

    /// Closes the open query scope, if any, on its own (undoing works past a deadline).
    private func closeOpenQueryScope() throws(DatabaseFailure) {
        guard let scope = queryScope else { return }
        queryScope = nil
        let saved = deadline
        deadline = nil
        defer { deadline = saved }
        _ = try pipeline(Self.closingSteps(scope))
    }

    // MARK: Pipelines

    /// One statement of a pipeline.
    enum PipelineStep {
        /// Its rows are returned. `reused`: a text the transaction sends again and again
        /// (with other values), prepared once and sent by name after that; the server
        /// then parses and analyses it once.
        case statement(SQL, reused: Bool = false)
        /// An open cursor's columns (the rows returned hold none).
        case describePortal(Identifier)
        /// Its rows go one at a time (single-row mode) to the pipeline's `eachRow`, with
        /// the columns of the portal described last before it; `eachRow` returns false
        /// to take no more (the rest are read and dropped).
        case eachRow(SQL, reused: Bool = false)

        var parameters: [String?] {
            switch self {
            case .statement(let sql, _), .eachRow(let sql, _): sql.parameters
            case .describePortal: []
            }
        }
    }

    /// Sends `steps` in one flush (libpq's pipeline mode), after closing the query scope
    /// left open if there is one, and reads their results in order: one round trip for
    /// what would take one a statement. Returns each step's rows. A step that fails
    /// makes the server skip the rest; its failure is thrown once every result is in.
    /// The steps are one statement to the limits: the statement limit, the deadline and
    /// an interrupt cancel whichever one is running.
    func pipeline(_ steps: [PipelineStep], eachRow: ([String?], [Rows.Column]) -> Bool = { _, _ in true }) throws(DatabaseFailure) -> [Rows] {
        do {
            try refuseIfPastDeadline()
        } catch {
            // Undoing works past a deadline; what would follow it does not start.
            try closeOpenQueryScope()
            throw error
        }
        var all = steps
        var pending = 0
        if let scope = queryScope {
            queryScope = nil
            all = Self.closingSteps(scope) + steps
            pending = all.count - steps.count
        }
        startStatement()
        guard pq.PQenterPipelineMode(handle) == 1 else {
            StatementCancellation.end()
            throw failure(nil, parameters: [])
        }
        var failed: DatabaseFailure?
        var sent = 0
        // The steps sent after a statement of their own that prepares them: its result
        // comes first.
        var preparing: [Int: Identifier] = [:]
        for (index, step) in all.enumerated() {
            var ok: Int32
            switch step {
            case .statement(let sql, let reused), .eachRow(let sql, let reused):
                let types: [Oid] = sql.binds.map { Oid($0.type.oid) }
                if reused, let (name, prepare) = preparedName(for: sql, types: types) {
                    ok = 1
                    if prepare {
                        ok = pq.PQsendPrepare(handle, name.name, sql.text, Int32(types.count), types)
                        if ok == 1 { preparing[index] = name } else { forgetPrepared(name) }
                    }
                    if ok == 1 {
                        ok = withOptionalCStringArray(sql.parameters) { values in
                            pq.PQsendQueryPrepared(handle, name.name, Int32(types.count), values, nil, nil, 0)
                        }
                    }
                } else {
                    ok = withOptionalCStringArray(sql.parameters) { values in
                        pq.PQsendQueryParams(handle, sql.text, Int32(types.count), types, values, nil, nil, 0)
                    }
                }
            case .describePortal(let portal):
                ok = pq.PQsendDescribePortal(handle, portal.name)
            }
            guard ok == 1 else {
                failed = failure(nil, parameters: [])
                if let name = preparing.removeValue(forKey: index) { forgetPrepared(name) }
                break
            }
            sent += 1
        }
        // The sync is sent (and the buffer flushed) even after a step could not be queued,
        // so that what was queued is answered and the connection leaves pipeline mode.
        if pq.PQpipelineSync(handle) != 1, failed == nil { failed = failure(nil, parameters: []) }
        var results: [Rows] = []
        results.reserveCapacity(steps.count)
        var wanted = true
        var described: [Rows.Column] = []
        for (index, step) in all.prefix(sent).enumerated() {
            var rows = Rows(columns: [], values: [], affected: 0)
            if let name = preparing[index] {
                // The statement that prepares it: kept by name only once the server has it.
                var prepared = false
                while let result = nextResult() {
                    defer { pq.PQclear(result) }
                    switch pq.PQresultStatus(result) {
                    case PGRES_COMMAND_OK: prepared = true
                    case PGRES_PIPELINE_ABORTED: break
                    default: failed = failed ?? failure(result, parameters: step.parameters)
                    }
                    if pq.PQstatus(handle) == CONNECTION_BAD { break }
                }
                if !prepared { forgetPrepared(name) }
                if pq.PQstatus(handle) == CONNECTION_BAD { break }
            }
            if case .eachRow = step { _ = pq.PQsetSingleRowMode(handle) }
            while let result = nextResult() {
                defer { pq.PQclear(result) }
                switch pq.PQresultStatus(result) {
                case PGRES_SINGLE_TUPLE:
                    if wanted, failed == nil { wanted = eachRow(self.rows(of: result).values.first ?? [], described) }
                case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                    if case .eachRow = step { break }
                    rows = self.rows(of: result)
                    if case .describePortal = step { described = rows.columns }
                case PGRES_PIPELINE_ABORTED:
                    break
                default:
                    failed = failed ?? failure(result, parameters: step.parameters)
                }
                if pq.PQstatus(handle) == CONNECTION_BAD { break }
            }
            if index >= pending { results.append(rows) }
            if pq.PQstatus(handle) == CONNECTION_BAD { break }
        }
        // The sync's own result, after which the connection may leave pipeline mode.
        while pq.PQstatus(handle) != CONNECTION_BAD, let result = nextResult() {
            let status = pq.PQresultStatus(result)
            pq.PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        _ = pq.PQexitPipelineMode(handle)
        try endStatement()
        if let failed { throw failed }
        if pq.PQstatus(handle) == CONNECTION_BAD || results.count < steps.count { throw failure(nil, parameters: []) }
        return results
    }

    public func rollback(to savepoint: Savepoint) throws(ProvisionError) {
        try withoutDeadline { () throws(ProvisionError) in
            try run("ROLLBACK TO SAVEPOINT \(savepoint.identifier)")
            try run("RELEASE SAVEPOINT \(savepoint.identifier)")
        }
    }

    // MARK: Private

    /// The one place that sends a statement with bound values: the caller then reads its
    /// results with `nextResult`.
    private func send(_ sql: SQL) throws(DatabaseFailure) {
        try closeOpenQueryScope()
        let parameters = sql.parameters
        let types: [Oid] = sql.binds.map { Oid($0.type.oid) }
        try refuseIfPastDeadline()
        // In flight from before it is sent: a signal that lands in between still cancels it.
        startStatement()
        let sent = withOptionalCStringArray(parameters) { valuePointers in
            pq.PQsendQueryParams(handle, sql.text, Int32(parameters.count), types, valuePointers, nil, nil, 0)
        }
        guard sent == 1 else {
            StatementCancellation.end()
            throw failure(nil, parameters: parameters)
        }
    }

    private var statementStarted = ContinuousClock.now
    /// Whether this side holds the statement in flight to the statement limit: every one
    /// but BEGIN, which behind a pooler may wait for a free server connection, time no
    /// server spends on it (the run's deadline still holds).
    private var statementLimited = true
    private var nextIsBegin = false

    /// A statement that would start after the run's deadline is not sent at all.
    private func refuseIfPastDeadline() throws(DatabaseFailure) {
        guard let deadline, ContinuousClock.now >= deadline.instant else { return }
        throw DatabaseFailure(sqlState: .queryCanceled, constraint: nil, message: "canceling statement: the deadline passed", hint: nil,
                              cancellation: .deadline(limit: deadline.limit, blocker: nil))
    }

    /// Runs `body` without the deadline: undoing (ROLLBACK, ROLLBACK TO SAVEPOINT) must
    /// work after a deadline passed, or the run could not end cleanly.
    private func withoutDeadline<T>(_ body: () throws(ProvisionError) -> T) throws(ProvisionError) -> T {
        let saved = deadline
        deadline = nil
        defer { deadline = saved }
        return try body()
    }

    private func startStatement() {
        statementStarted = .now
        statementLimited = !nextIsBegin
        nextIsBegin = false
        cancellation = nil
        cancelledAt = nil
        StatementCancellation.begin(cancelHandle)
    }

    /// The statement's results are all in: an interrupt that arrived meanwhile ends the
    /// run now that the server has confirmed (its transaction rolled back first).
    private func endStatement() throws(DatabaseFailure) {
        StatementCancellation.end()
        guard let signal = StatementCancellation.pendingSignal else { return }
        if inTransaction {
            inTransaction = false
            preparedStatements = [:]
            if let result = pq.PQexec(handle, "ROLLBACK") { pq.PQclear(result) }
        }
        StatementCancellation.finish(signal)
        throw DatabaseFailure(sqlState: .queryCanceled, constraint: nil, message: "canceling statement due to user request", hint: nil,
                              cancellation: .interrupt)
    }

    /// Reads every result of the statement sent last; the last one is its answer, as
    /// PQexecParams keeps it.
    private func lastResult(parameters: [String?]) throws(DatabaseFailure) -> Rows {
        var last: OpaquePointer?
        while let result = nextResult() {
            if let last { pq.PQclear(last) }
            last = result
            let status = pq.PQresultStatus(result)
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH || pq.PQstatus(handle) == CONNECTION_BAD { break }
        }
        do throws(DatabaseFailure) {
            try endStatement()
        } catch {
            if let last { pq.PQclear(last) }
            throw error
        }
        guard let last else { throw failure(nil, parameters: parameters) }
        defer { pq.PQclear(last) }
        switch pq.PQresultStatus(last) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return rows(of: last)
        default:
            throw failure(last, parameters: parameters)
        }
    }

    /// The next result of the statement in flight, waiting for it with an eye on the
    /// limits: when the run's deadline or the statement limit passes, this side asks who
    /// blocks the statement (a lock wait is reported as such) and cancels it on the
    /// server, then waits for the server to confirm. A signal's cancel was sent by the
    /// handler already.
    private func nextResult() -> OpaquePointer? {
        let socket = pq.PQsocket(handle)
        while pq.PQisBusy(handle) == 1 {
            let now = ContinuousClock.now
            let statementEnd = statementStarted + .milliseconds(Int64(statementLimitInForce))
            if cancellation == nil {
                if StatementCancellation.pendingSignal != nil {
                    cancellation = .interrupt
                } else if let deadline, now >= deadline.instant {
                    // A statement that had hardly begun is not waiting for anyone's lock.
                    cancellation = .deadline(limit: deadline.limit, blocker: now - statementStarted > .milliseconds(200) ? blocker() : nil)
                } else if statementLimited, now >= statementEnd {
                    cancellation = .statementLimit(milliseconds: statementLimitInForce, blocker: blocker())
                }
                if cancellation != nil {
                    sendCancel()
                    cancelledAt = .now
                }
            } else if let cancelledAt, ContinuousClock.now - cancelledAt > .seconds(10) {
                // The server does not answer its cancel: give the connection up.
                return nil
            }
            var next = cancellation == nil ? min(statementEnd, deadline?.instant ?? statementEnd) - now : .milliseconds(100)
            next = min(max(next, .milliseconds(1)), .milliseconds(100))
            let milliseconds = Int32(next.components.seconds * 1000 + next.components.attoseconds / 1_000_000_000_000_000)
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, max(1, milliseconds)) < 0 && errno != EINTR { return pq.PQgetResult(handle) }
            if pq.PQconsumeInput(handle) == 0 { break }
        }
        return pq.PQgetResult(handle)
    }

    private func sendCancel() {
        guard let cancelHandle else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = pq.PQcancel(cancelHandle, &buffer, 256)
    }

    /// Who holds the lock the open transaction's statement waits for, asked on a side
    /// connection within `budget` all told (connecting included; behind a pooler with no
    /// free server connection it gives up): "backend 4711 (postgres, psql) running
    /// `ALTER TABLE tenants …`" (or "…, idle in transaction, whose last statement was
    /// `LOCK …`"), or nil when it waits for no one or nothing answered.
    private func blocker(budget: Duration = .milliseconds(400)) -> String? {
        guard let serverProcess else { return nil }
        let started = ContinuousClock.now
        func wait(_ side: OpaquePointer, forWriting: Bool) -> Bool {
            let left = budget - (ContinuousClock.now - started)
            guard left > .zero else { return false }
            var descriptor = pollfd(fd: pq.PQsocket(side), events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
            let milliseconds = Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            return poll(&descriptor, 1, max(1, milliseconds)) > 0
        }
        let keywords = ["application_name", "dbname"]
        let values = ["provision-lock-probe", connectionString]
        guard let side = withCStringArray(keywords, { k in withCStringArray(values) { v in pq.PQconnectStartParams(k, v, 1) } }) else { return nil }
        defer { pq.PQfinish(side) }
        var state = PGRES_POLLING_WRITING
        while state != PGRES_POLLING_OK {
            guard state != PGRES_POLLING_FAILED, pq.PQstatus(side) != CONNECTION_BAD,
                  wait(side, forWriting: state == PGRES_POLLING_WRITING) else { return nil }
            state = pq.PQconnectPoll(side)
        }
        let query = """
            SELECT a.pid::text || ' (' || coalesce(a.usename, '?') || coalesce(', ' || nullif(a.application_name, ''), '') || ')'
                   || CASE WHEN a.state = 'active' THEN ' running `' ELSE ', ' || coalesce(a.state, 'idle') || ', whose last statement was `' END
                   || left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 200) || '`'
            FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1::int)) ORDER BY a.pid
            """
        let sent = String(serverProcess).withCString { pointer -> Int32 in
            var values: [UnsafePointer<CChar>?] = [pointer]
            return pq.PQsendQueryParams(side, query, 1, nil, &values, nil, nil, 0)
        }
        guard sent == 1 else { return nil }
        while pq.PQisBusy(side) == 1 {
            guard wait(side, forWriting: false), pq.PQconsumeInput(side) == 1 else {
                if let cancel = pq.PQgetCancel(side) {
                    var buffer = [CChar](repeating: 0, count: 256)
                    _ = pq.PQcancel(cancel, &buffer, 256)
                    pq.PQfreeCancel(cancel)
                }
                return nil
            }
        }
        var found: [String] = []
        while let result = pq.PQgetResult(side) {
            if pq.PQresultStatus(result) == PGRES_TUPLES_OK {
                for row in 0..<pq.PQntuples(result) { found.append(String(libpq: pq.PQgetvalue(result, row, 0))) }
            }
            pq.PQclear(result)
        }
        return found.isEmpty ? nil : redactor.redact("backend " + found.joined(separator: "; backend "))
    }

    private func rows(of result: OpaquePointer) -> Rows {
        let columnCount = Int(pq.PQnfields(result))
        let rowCount = Int(pq.PQntuples(result))
        var columns: [Rows.Column] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(.init(name: String(libpq: pq.PQfname(result, Int32(column))), typeOID: pq.PQftype(result, Int32(column))))
        }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var line: [String?] = []
            line.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if pq.PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    line.append(nil)
                } else {
                    let length = Int(pq.PQgetlength(result, Int32(row), Int32(column)))
                    let bytes = pq.PQgetvalue(result, Int32(row), Int32(column))!
                    line.append(bytes.withMemoryRebound(to: UInt8.self, capacity: length) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                    })
                }
            }
            values.append(line)
        }
        let affected = Int(String(libpq: pq.PQcmdTuples(result))) ?? 0
        return Rows(columns: columns, values: values, affected: affected)
    }

    private func failure(_ result: OpaquePointer?, parameters: [String?]) -> DatabaseFailure {
        func field(_ code: Int32) -> String? {
            guard let result, let value = pq.PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let sqlState = field(provision_pg_diag_sqlstate).map(SQLState.init)
        let primary = field(provision_pg_diag_message_primary)
            ?? String(libpq: pq.PQerrorMessage(handle)).trimmed()
        let redact = { (text: String) in self.redactor.redact(text, boundValues: parameters) }
        var failure = DatabaseFailure(
            sqlState: sqlState,
            constraint: field(provision_pg_diag_constraint_name),
            message: redact(Self.lines(of: primary.isEmpty ? "no response from the server" : primary)),
            hint: field(provision_pg_diag_message_hint).map(redact),
            cancellation: sqlState == .queryCanceled ? cancellation : nil
        )
        failure.serverReadOnly = sqlState == .readOnlySQLTransaction && inTransaction && !transactionReadOnly
        return failure
    }
}

public struct Savepoint: Sendable, Equatable {
    let identifier: Identifier
    public var name: String { identifier.name }
}

private func withCStringArray<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    withOptionalCStringArray(strings.map { Optional($0) }) { pointers in
        body(pointers + [nil])
    }
}

/// Hands libpq a C array of strings (NULL for SQL NULL) that lives for the call: one
/// buffer for all of them (every query of a fleet's checks binds several).
private func withOptionalCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let size = strings.reduce(0) { $0 + ($1.map { $0.utf8.count + 1 } ?? 0) }
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, size))
    defer { buffer.deallocate() }
    var pointers: [UnsafePointer<CChar>?] = []
    pointers.reserveCapacity(strings.count)
    var at = 0
    for string in strings {
        guard let string else { pointers.append(nil); continue }
        let start = buffer + at
        for byte in string.utf8 {
            buffer[at] = CChar(bitPattern: byte)
            at += 1
        }
        buffer[at] = 0
        at += 1
        pointers.append(UnsafePointer(start))
    }
    return body(pointers)
}

extension Connection {
    /// Runs a multi-statement script with the simple-query protocol. Only for text the
    /// binary carries (bundled migrations): it takes no parameters, so nothing is spliced.
    @discardableResult
    func executeScript(_ script: StaticScript) throws(ProvisionError) -> Rows {
        do { return try executeSimple(script.text) } catch { throw ProvisionError(error) }
    }
}

/// Text compiled into the binary, never built from input.
struct StaticScript {
    let text: String
}
