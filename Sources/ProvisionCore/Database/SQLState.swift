/// A PostgreSQL SQLSTATE. Open, not a closed enum: the server has hundreds, and the
/// core only needs names for the few it treats specially.
public struct SQLState: Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public init(_ code: String) { self.code = code }
    public var description: String { code }
    public var errorClass: String { String(code.prefix(2)) }
    /// Class 08: the connection broke.
    public static let connectionExceptionClass = "08"

    public static let uniqueViolation = SQLState("23505")
    public static let foreignKeyViolation = SQLState("23503")
    public static let checkViolation = SQLState("23514")
    public static let notNullViolation = SQLState("23502")
    public static let readOnlySQLTransaction = SQLState("25006")
    public static let queryCanceled = SQLState("57014")
    public static let undefinedTable = SQLState("42P01")
    public static let undefinedColumn = SQLState("42703")
    public static let insufficientPrivilege = SQLState("42501")
    public static let serializationFailure = SQLState("40001")
    public static let deadlockDetected = SQLState("40P01")
    public static let adminShutdown = SQLState("57P01")
    public static let invalidParameterValue = SQLState("22023")
    public static let syntaxError = SQLState("42601")
    public static let undefinedFunction = SQLState("42883")
    public static let featureNotSupported = SQLState("0A000")
    public static let duplicateObject = SQLState("42710")
    public static let invalidGrantOperation = SQLState("0LP01")
    public static let activeSQLTransaction = SQLState("25001")
    /// Ours, raised by `provision_query.fetch_rows` (bundled migration 3) when a chunk of a
    /// read-only query's rows would exceed the bytes the caller has room for. Class `PV`
    /// is unused by PostgreSQL and the SQL standard.
    public static let queryRowsTooLarge = SQLState("PV001")
}

/// What the server said about a failed statement, already redacted: bound values and
/// the connection password never appear in `message`. The server's DETAIL (which
/// repeats row values) is not kept at all.
public struct DatabaseFailure: Error, Sendable, CustomStringConvertible {
    public let sqlState: SQLState?
    public let constraint: String?
    public let message: String
    public let hint: String?
    /// Why provision itself cancelled the statement (a `queryCanceled` of its own making).
    public let cancellation: Cancellation?
    /// A write refused in a transaction provision opened to write: the server is
    /// read-only, not the transaction (a dry run's or a check's).
    public var serverReadOnly = false

    public enum Cancellation: Sendable, Equatable {
        /// The run's or check's wall-clock deadline passed; `blocker` names who held the
        /// lock the statement waited for, if it waited for one.
        case deadline(limit: String, blocker: String?)
        /// The statement outlasted the statement limit in force.
        case statementLimit(milliseconds: Int, blocker: String?)
        /// Ctrl-C or SIGTERM.
        case interrupt
    }

    public init(sqlState: SQLState?, constraint: String?, message: String, hint: String?, cancellation: Cancellation? = nil) {
        self.sqlState = sqlState
        self.constraint = constraint
        self.message = message
        self.hint = hint
        self.cancellation = cancellation
    }

    public var description: String {
        if let sqlState { return "\(message) (SQLSTATE \(sqlState))" }
        return message
    }
}
