/// The error codes of the contract (CONTRACT §2). Each maps to one exit status.
public enum ErrorCode: String, Sendable, CaseIterable, Codable {
    case invalidInput = "invalid_input"
    case slugExists = "slug_exists"
    case emailExists = "email_exists"
    case membershipExists = "membership_exists"
    case duplicateInBatch = "duplicate_in_batch"
    /// A change that would leave a tenant without an OWNER.
    case lastOwner = "last_owner"
    case notFound = "not_found"
    case tenantInUse = "tenant_in_use"
    case planStale = "plan_stale"
    case planUntrusted = "plan_untrusted"
    case notMigrated = "not_migrated"
    case readOnlyDatabase = "read_only_database"
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
        case .slugExists, .emailExists, .membershipExists, .duplicateInBatch, .lastOwner: return 3
        case .notMigrated, .readOnlyDatabase, .databaseUnavailable, .notFound, .tenantInUse, .planStale, .planUntrusted: return 4
        case .interrupted: return 130
        case .databaseError, .playbookError, .checkFailed, .limitExceeded, .forbidden:
            return 1
        }
    }
}

/// The one error type that crosses the core's boundary. Its message is written for an
/// operator and never carries a secret: no password, no hash, no DATABASE_URL password.
///
/// The core says what went wrong as data: the code, the domain field it is about
/// (`subject`), what the operator can do (`remedy`) and the facts (slug, email). Its
/// sentences leave the field's name and the remedy open (`template`); each front end
/// fills them in its own terms (`worded(by:)`): an option of a command line, a CSV
/// column of a batch, a table key of a script. Until then `message` and `field` hold the
/// domain's own names (`PlainWording`).
public struct ProvisionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String {
        didSet { template = nil }
    }
    /// The field as the front end names it (an option, a CSV column, a table key).
    public var field: String? {
        didSet { template = nil }
    }
    /// More for a human on stderr (a playbook's traceback); never in JSON.
    public var detail: String?
    /// The message's line breaks are libpq's (a connection failure's lines): a front end
    /// shows them as lines. Any other line break in a message came from data.
    public var keepsLines = false
    /// A code of a script's own (`wave_closed`): what front ends show as the code, while
    /// `code` (`playbook_error`) gives the exit status.
    public var ownCode: String?
    /// The code as front ends show it: the script's own, else the contract's.
    public var shownCode: String { ownCode ?? code.rawValue }
    /// For `limit_exceeded`: which limit, so a host can hold the script to it.
    public var exceeded: Limit?
    /// Every problem when there are several (a batch's bad rows), each with its place.
    public var problems: [Problem] = []
    /// The domain field the error is about, for a front end to name; nil when it is about
    /// none, or about an argument the front end named itself (`field` then says which).
    public private(set) var subject: Field?
    /// What the operator can do about it, for a front end to word.
    public private(set) var remedy: Remedy?
    /// The values the error is about.
    public private(set) var facts: Facts = Facts()
    /// The sentence with the field's name and the remedy left open, until a front end
    /// words it; nil once worded, or when the error was worded where it was raised.
    public private(set) var template: Template?

    public enum Limit: Sendable, Equatable {
        case time, memory
    }

    /// The slug and email an error is about, for a front end that words it.
    public struct Facts: Sendable, Equatable {
        public var slug: String?
        public var email: String?

        public init(slug: String? = nil, email: String? = nil) {
            self.slug = slug
            self.email = email
        }
    }

    /// An error worded where it is raised (a front end's own, or one without a field or
    /// remedy to name).
    public init(_ code: ErrorCode, _ message: String, field: String? = nil, detail: String? = nil, exceeded: Limit? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.detail = detail
        self.exceeded = exceeded
    }

    /// An error as data: `template` names the field (`\(.field)`) and the remedy
    /// (`\(.remedy)`) only as slots. `subject` is the domain field; without one, `field`
    /// is the name the caller gave its argument.
    public init(_ code: ErrorCode, _ template: Template, subject: Field?, field: String? = nil, remedy: Remedy? = nil,
                facts: Facts = Facts(), exceeded: Limit? = nil) {
        self.code = code
        self.subject = subject
        self.remedy = remedy
        self.facts = facts
        self.exceeded = exceeded
        let wording = PlainWording()
        let name = subject.map(wording.name(of:)) ?? field
        self.message = template.rendered(field: name ?? "", remedy: remedy.map(wording.words(for:)) ?? "")
        self.field = name
        self.template = template
    }

    /// This error in `wording`'s terms: its field named, its remedy worded. An error
    /// that is already worded is returned as it is.
    public func worded(by wording: some Wording) -> ProvisionError {
        guard let template else { return self }
        var worded = self
        let name = subject.map(wording.name(of:)) ?? field
        worded.message = template.rendered(field: name ?? "", remedy: remedy.map(wording.words(for:)) ?? "")
        worded.field = name
        return worded
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

/// An error in a run's record (a failed unit's): its code, the script's own code, the
/// words as worded, and its problems. The template and remedy are the front end's to word
/// before the error is recorded, so they are not kept.
extension ProvisionError: Codable {
    private enum Key: String, CodingKey { case code, ownCode, message, field, problems }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(code, forKey: .code)
        try container.encodeIfPresent(ownCode, forKey: .ownCode)
        try container.encode(message, forKey: .message)
        try container.encodeIfPresent(field, forKey: .field)
        if !problems.isEmpty { try container.encode(problems, forKey: .problems) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        self.init(try container.decode(ErrorCode.self, forKey: .code), try container.decode(String.self, forKey: .message),
                  field: try container.decodeIfPresent(String.self, forKey: .field))
        ownCode = try container.decodeIfPresent(String.self, forKey: .ownCode)
        problems = try container.decodeIfPresent([Problem].self, forKey: .problems) ?? []
    }
}
