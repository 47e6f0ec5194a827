/// The error codes of the contract (CONTRACT §2). Each maps to one exit status.
public enum ErrorCode: String, Sendable, CaseIterable, Codable {
    case invalidInput = "invalid_input"
    case slugExists = "slug_exists"
    case emailExists = "email_exists"
    case membershipExists = "membership_exists"
    case duplicateInBatch = "duplicate_in_batch"
    case notFound = "not_found"
    case notMigrated = "not_migrated"
    case databaseUnavailable = "database_unavailable"
    case databaseError = "database_error"
    case playbookError = "playbook_error"
    case checkFailed = "check_failed"
    case limitExceeded = "limit_exceeded"
    case forbidden = "forbidden"
    case interrupted = "interrupted"

    /// The process exit status for a run that ends with this error.
    public var exitStatus: Int32 {
        switch self {
        case .invalidInput: return 2
        case .slugExists, .emailExists, .membershipExists, .duplicateInBatch: return 3
        case .notMigrated, .databaseUnavailable: return 4
        case .interrupted: return 130
        case .notFound, .databaseError, .playbookError, .checkFailed, .limitExceeded, .forbidden:
            return 1
        }
    }
}

/// The one error type that crosses the core's boundary. Its message is written for an
/// operator and never carries a secret: no password, no hash, no DATABASE_URL password.
public struct ProvisionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    /// The field as the caller names it (`tenantSlug` on the CLI, `slug` in Lua).
    public var field: String?
    /// More for a human on stderr (a playbook's traceback); never in JSON.
    public var detail: String?
    /// For `limit_exceeded`: which limit, so a host can hold the script to it.
    public var exceeded: Limit?
    /// Every problem when there are several (a batch's bad rows), each with its place.
    public var problems: [Problem] = []

    public enum Limit: Sendable, Equatable {
        case time, memory
    }

    public init(_ code: ErrorCode, _ message: String, field: String? = nil, detail: String? = nil, exceeded: Limit? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.detail = detail
        self.exceeded = exceeded
    }

    public var exitStatus: Int32 { code.exitStatus }
    public var description: String { message }
}

/// One of several problems an input had (CONTRACT §2: `problems[]`): where it is (a
/// file and line, for a CSV row) and which field.
public struct Problem: Sendable, Equatable, Codable {
    public var file: String?
    public var line: Int?
    public var field: String
    public var message: String

    public init(file: String? = nil, line: Int? = nil, field: String, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }
}
