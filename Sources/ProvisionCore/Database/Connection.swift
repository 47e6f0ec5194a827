import CLibPQ
import Foundation

/// One synchronous libpq connection. Every value goes to the server as a bound parameter
/// with its type (`PQsendQueryParams`); every failure comes back as a redacted
/// `DatabaseFailure`.
public final class Connection {
    private let handle: OpaquePointer
    private let redactor: Redactor
    private var savepointCounter = 0
    public private(set) var inTransaction = false

    /// The open transaction failed (an error that PostgreSQL does not survive without a
    /// savepoint): only a rollback is possible now.
    public var transactionAborted: Bool { PQtransactionStatus(handle) == PQTRANS_INERROR }

    /// Opens `url` (a libpq URI or key=value conninfo). Throws `database_unavailable`
    /// with the password scrubbed from libpq's message.
    public init(url: String, statementTimeoutMilliseconds: Int = 30_000, connectTimeoutSeconds: Int = 10,
                applicationName: String = "provision") throws(ProvisionError) {
        let redactor = Redactor(connectionString: url)
        if let parseError = redactor.parseError {
            throw ProvisionError(.databaseUnavailable, "DATABASE_URL is not a valid libpq URI or key=value conninfo: \(parseError)")
        }
        // Earlier entries are defaults: the expanded DATABASE_URL overrides them.
        let keywords = ["connect_timeout", "application_name", "dbname"]
        let values = [String(connectTimeoutSeconds), applicationName, url]
        let connection: OpaquePointer? = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw ProvisionError(.databaseUnavailable, "cannot connect to the database: out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let raw = String(cString: PQerrorMessage(connection))
            PQfinish(connection)
            let reason = redactor.redact(raw).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ProvisionError(.databaseUnavailable, "cannot connect to the database named by DATABASE_URL (\(redactor.safeTarget)): \(reason)")
        }
        self.handle = connection
        self.redactor = redactor
        do {
            try execute("SELECT set_config('statement_timeout', \(String(statementTimeoutMilliseconds)), false)")
            try execute("SET client_min_messages = warning")
        } catch {
            throw ProvisionError(error)
        }
    }

    deinit { PQfinish(handle) }

    /// Where the connection points, without the password: for messages.
    public var safeTarget: String { redactor.safeTarget }

    @discardableResult
    public func execute(_ sql: SQL) throws(DatabaseFailure) -> Rows {
        try send(sql)
        // The statement's result is the last one, as PQexecParams keeps it.
        var last: OpaquePointer?
        while let result = PQgetResult(handle) {
            if let last { PQclear(last) }
            last = result
            let status = PQresultStatus(result)
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH || PQstatus(handle) == CONNECTION_BAD { break }
        }
        guard let last else { throw failure(nil, parameters: sql.parameters) }
        defer { PQclear(last) }
        switch PQresultStatus(last) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return rows(of: last)
        default:
            throw failure(last, parameters: sql.parameters)
        }
    }

    /// Runs a statement whose rows arrive one at a time (libpq's single-row mode), so
    /// neither libpq nor this process ever holds more than the row in hand. `row` sees each
    /// row's values and returns false to stop taking them: the rest are read and dropped
    /// one by one.
    public func forEachRow(_ sql: SQL, _ row: ([String?]) -> Bool) throws(DatabaseFailure) {
        try send(sql)
        var failed: DatabaseFailure?
        var wanted = PQsetSingleRowMode(handle) == 1
        if !wanted { failed = failure(nil, parameters: sql.parameters) }
        while let result = PQgetResult(handle) {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_SINGLE_TUPLE:
                if wanted, failed == nil { wanted = row(rows(of: result).values.first ?? []) }
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                break
            default:
                failed = failed ?? failure(result, parameters: sql.parameters)
            }
            if PQstatus(handle) == CONNECTION_BAD { break }
        }
        if let failed { throw failed }
    }

    /// The columns (names and types) of an open cursor, without fetching a row.
    func describeCursor(_ cursor: Identifier) throws(DatabaseFailure) -> [Rows.Column] {
        guard let result = PQdescribePortal(handle, cursor.name) else { throw failure(nil, parameters: []) }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw failure(result, parameters: []) }
        return rows(of: result).columns
    }

    /// The simple-query protocol: several statements, no parameters; the rows of the last.
    fileprivate func executeSimple(_ text: String) throws(DatabaseFailure) -> Rows {
        guard let result = PQexec(handle, text) else { throw failure(nil, parameters: []) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY: return rows(of: result)
        default: throw failure(result, parameters: [])
        }
    }

    /// Like `execute`, but failures arrive as contract errors.
    @discardableResult
    public func run(_ sql: SQL) throws(ProvisionError) -> Rows {
        do { return try execute(sql) } catch { throw ProvisionError(error) }
    }

    // MARK: Transactions

    public func begin(readOnly: Bool = false) throws(ProvisionError) {
        try run(readOnly ? "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY" : "BEGIN ISOLATION LEVEL READ COMMITTED")
        inTransaction = true
        savepointCounter = 0
    }

    public func commit() throws(ProvisionError) {
        inTransaction = false
        try run("COMMIT")
    }

    /// Rolls back whatever is open. Never throws: a rollback that fails (the connection is
    /// gone) leaves the server to abort the transaction when the session ends.
    public func rollback() {
        inTransaction = false
        _ = try? execute("ROLLBACK")
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

    public func rollback(to savepoint: Savepoint) throws(ProvisionError) {
        try run("ROLLBACK TO SAVEPOINT \(savepoint.identifier)")
        try run("RELEASE SAVEPOINT \(savepoint.identifier)")
    }

    // MARK: Private

    /// The one place that sends a statement with bound values: the caller then reads its
    /// results with PQgetResult.
    private func send(_ sql: SQL) throws(DatabaseFailure) {
        let parameters = sql.parameters
        let types: [Oid] = sql.binds.map { Oid($0.type.oid) }
        let sent = withOptionalCStringArray(parameters) { valuePointers in
            PQsendQueryParams(handle, sql.text, Int32(parameters.count), types, valuePointers, nil, nil, 0)
        }
        guard sent == 1 else { throw failure(nil, parameters: parameters) }
    }

    private func rows(of result: OpaquePointer) -> Rows {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [Rows.Column] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(.init(name: String(cString: PQfname(result, Int32(column))), typeOID: PQftype(result, Int32(column))))
        }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var line: [String?] = []
            line.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    line.append(nil)
                } else {
                    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                    let bytes = PQgetvalue(result, Int32(row), Int32(column))!
                    line.append(bytes.withMemoryRebound(to: UInt8.self, capacity: length) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                    })
                }
            }
            values.append(line)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return Rows(columns: columns, values: values, affected: affected)
    }

    private func failure(_ result: OpaquePointer?, parameters: [String?]) -> DatabaseFailure {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let sqlState = field(provision_pg_diag_sqlstate).map(SQLState.init)
        let primary = field(provision_pg_diag_message_primary)
            ?? String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
        let redact = { (text: String) in self.redactor.redact(text, boundValues: parameters) }
        return DatabaseFailure(
            sqlState: sqlState,
            constraint: field(provision_pg_diag_constraint_name),
            message: redact(primary.isEmpty ? "no response from the server" : primary),
            hint: field(provision_pg_diag_message_hint).map(redact)
        )
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

/// Hands libpq a C array of strings (NULL for SQL NULL) that lives for the call.
private func withOptionalCStringArray<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    var owned: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
    defer { for pointer in owned { free(pointer) } }
    return owned.withUnsafeMutableBufferPointer { buffer in
        body(buffer.map { $0.map { UnsafePointer($0) } })
    }
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
