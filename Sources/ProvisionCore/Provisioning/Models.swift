#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public enum Role: String, Sendable, CaseIterable, Codable {
    case owner = "OWNER"
    case admin = "ADMIN"
    case staff = "STAFF"
    case parent = "PARENT"
}

/// A tenant to create, every field already validated.
public struct TenantSpec: Sendable, Equatable {
    public let slug: String
    public let name: String
    public let timeZone: String?
    public let supportEmail: String?
    public let supportPhone: String?

    /// Validates raw values (nil: not given); an error names its `Field`.
    public init(slug: String, name: String, timeZone: String? = nil, supportEmail: String? = nil,
                supportPhone: String? = nil) throws(ProvisionError) {
        self.slug = try Validate.tenantSlug(slug)
        self.name = try Validate.displayName(name, .tenantName)
        self.timeZone = try timeZone.map { value throws(ProvisionError) in try TimeZones.validate(value, .timeZone) }
        self.supportEmail = try supportEmail.map { value throws(ProvisionError) in try Validate.email(value, .supportEmail) }
        self.supportPhone = try supportPhone.map { value throws(ProvisionError) in try Validate.phone(value, .supportPhone) }
    }

    /// Every problem with these values, not just the first: a batch reports them all.
    public static func problems(slug: String?, name: String?, timeZone: String?, supportEmail: String?,
                                supportPhone: String?) -> [ProvisionError] {
        Validate.collect([
            { _ = try Validate.tenantSlug(Validate.present(slug, .tenantSlug)) },
            { _ = try Validate.displayName(Validate.present(name, .tenantName), .tenantName) },
            { if let timeZone { _ = try TimeZones.validate(timeZone, .timeZone) } },
            { if let supportEmail { _ = try Validate.email(supportEmail, .supportEmail) } },
            { if let supportPhone { _ = try Validate.phone(supportPhone, .supportPhone) } },
        ])
    }
}

/// New settings for an existing tenant (CONTRACT §12): each kept, set to a validated
/// value, or cleared.
public struct TenantSettings: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case keep, set(String), clear

        func applied(to current: String?) -> String? {
            switch self {
            case .keep: current
            case .set(let value): value
            case .clear: nil
            }
        }
    }

    public let slug: String
    public let name: Value
    public let timeZone: Value
    public let supportEmail: Value
    public let supportPhone: Value

    /// The settings a tenant can be without: not its name.
    public static let clearable: [Field] = [.timeZone, .supportEmail, .supportPhone]

    /// Validates the values given (nil: keep) and the fields to clear; an error names
    /// its `Field`. Asking for no change at all is an error too.
    public init(slug: String, name: String? = nil, timeZone: String? = nil, supportEmail: String? = nil,
                supportPhone: String? = nil, clearing: [Field] = []) throws(ProvisionError) {
        self.slug = try Validate.tenantSlug(slug)
        for field in clearing {
            guard Self.clearable.contains(field) else {
                throw ProvisionError(.invalidInput, "\(.field) cannot be cleared: a tenant always has one (only \(Self.clearable.map(\.rawValue).joined(separator: ", ")) can be)",
                                     subject: field)
            }
        }
        func value(_ given: String?, _ field: Field, _ validate: (String) throws(ProvisionError) -> String) throws(ProvisionError) -> Value {
            if let given {
                guard !clearing.contains(field) else {
                    throw ProvisionError(.invalidInput, "\(.field) is both given a value and cleared: give one or the other", subject: field)
                }
                return .set(try validate(given))
            }
            return clearing.contains(field) ? .clear : .keep
        }
        self.name = try value(name, .tenantName) { value throws(ProvisionError) in try Validate.displayName(value, .tenantName) }
        self.timeZone = try value(timeZone, .timeZone) { value throws(ProvisionError) in try TimeZones.validate(value, .timeZone) }
        self.supportEmail = try value(supportEmail, .supportEmail) { value throws(ProvisionError) in try Validate.email(value, .supportEmail) }
        self.supportPhone = try value(supportPhone, .supportPhone) { value throws(ProvisionError) in try Validate.phone(value, .supportPhone) }
        guard [self.name, self.timeZone, self.supportEmail, self.supportPhone].contains(where: { $0 != .keep }) else {
            throw ProvisionError(.invalidInput, "nothing to change for tenant \(slug): give a new \(Self.settings.map(\.rawValue).joined(separator: ", ")), or clear one",
                                 subject: nil)
        }
    }

    /// The settings, in the order changes list them.
    static let settings: [Field] = [.tenantName, .timeZone, .supportEmail, .supportPhone]

    /// The settings that `names` ask to clear, each named as `wording` names fields (a
    /// flag, a table key); a name that is no setting is refused with the closest one. A
    /// setting that cannot be cleared is left for `init` to refuse, naming it.
    public static func fields(clearing names: [String], wording: some Wording) throws(ProvisionError) -> [Field] {
        let named = settings.map { (name: wording.name(of: $0), field: $0) }
        return try names.map { name throws(ProvisionError) -> Field in
            guard let field = named.first(where: { $0.name == name })?.field else {
                let hint = Suggestion.closest(to: name, among: named.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
                throw ProvisionError(.invalidInput, "clear: '\(name)' is not a setting that can be cleared\(hint) (\(clearable.map { wording.name(of: $0) }.joined(separator: ", ")) can be)",
                                     field: "clear")
            }
            return field
        }
    }

    /// The tenant with these settings.
    func applied(to tenant: Tenant) -> Tenant {
        Tenant(stored: tenant.stored, slug: tenant.slug, name: name.applied(to: tenant.name) ?? tenant.name,
               timeZone: timeZone.applied(to: tenant.timeZone), supportEmail: supportEmail.applied(to: tenant.supportEmail),
               supportPhone: supportPhone.applied(to: tenant.supportPhone))
    }

    /// Each setting whose value these settings change, from the tenant's, in order.
    func changes(from tenant: Tenant) -> [TenantUpdate.Change] {
        let after = applied(to: tenant)
        let pairs: [(Field, String?, String?)] = [
            (.tenantName, tenant.name, after.name), (.timeZone, tenant.timeZone, after.timeZone),
            (.supportEmail, tenant.supportEmail, after.supportEmail), (.supportPhone, tenant.supportPhone, after.supportPhone),
        ]
        return pairs.filter { $0.1 != $0.2 }.map { TenantUpdate.Change(field: $0.0.rawValue, from: $0.1, to: $0.2) }
    }
}

/// A user to create (an Owner, a member) or, with `allowExistingUser`, to reuse.
public struct OwnerSpec: Sendable, Equatable {
    /// The fields an input names the user's email and name with: an Owner's
    /// (`ownerEmail`, `ownerName`), or a member's (`email`, `name`).
    public struct Fields: Sendable, Equatable {
        public let email: Field
        public let name: Field

        public static let owner = Fields(email: .ownerEmail, name: .ownerName)
        public static let member = Fields(email: .email, name: .name)
    }

    public let email: String
    public let name: String?
    public let allowExistingUser: Bool
    public let fields: Fields

    public init(email: String, name: String? = nil, allowExistingUser: Bool = false, fields: Fields = .owner) throws(ProvisionError) {
        self.email = try Validate.email(email, fields.email)
        self.name = try name.map { value throws(ProvisionError) in try Validate.displayName(value, fields.name) }
        self.allowExistingUser = allowExistingUser
        self.fields = fields
    }

    public static func problems(email: String?, name: String?) -> [ProvisionError] {
        Validate.collect([
            { _ = try Validate.email(Validate.present(email, .ownerEmail), .ownerEmail) },
            { if let name { _ = try Validate.displayName(name, .ownerName) } },
        ])
    }
}

public struct Tenant: Sendable, Equatable, Codable {
    /// Stored with its id, or only planned (a dry run).
    public let stored: Stored<ID>
    public let slug: String
    public let name: String
    public let timeZone: String?
    public let supportEmail: String?
    public let supportPhone: String?

    public init(stored: Stored<ID>, slug: String, name: String, timeZone: String?, supportEmail: String?, supportPhone: String?) {
        self.stored = stored
        self.slug = slug
        self.name = name
        self.timeZone = timeZone
        self.supportEmail = supportEmail
        self.supportPhone = supportPhone
    }

    public var id: ID? { stored.id }
    public var planned: Bool { stored.isPlanned }
}

public struct User: Sendable, Equatable, Codable {
    public let stored: Stored<ID>
    public let email: String
    public let name: String?
    /// Whether this run created the user (in a dry run: would create).
    public let created: Bool

    public init(stored: Stored<ID>, email: String, name: String?, created: Bool) {
        self.stored = stored
        self.email = email
        self.name = name
        self.created = created
    }

    public var id: ID? { stored.id }
    public var planned: Bool { stored.isPlanned }
}

public struct Membership: Sendable, Equatable, Codable {
    /// The tenant and the user as this run knew them when linking (created by this run or not).
    public let tenant: Tenant
    public let user: User
    public let role: Role
    /// Planned, not written (a dry run, a planning unit).
    public let planned: Bool
}

/// A one-time password issued in this run, revealed only after commit.
public struct IssuedCredential: Sendable {
    public let userId: User.ID
    public let email: String
    /// The tenant the user was made Owner of in this run, for the operator's table.
    public internal(set) var tenantSlug: String?
    public let password: OneTimePassword
    /// ISO 8601, UTC, to the second (`2026-12-01T06:55:50Z`).
    public let expiresAt: String
    /// As the database stored it, to find this password again (`revoke`).
    let expiresAtInstant: Date

    init(userId: User.ID, email: String, tenantSlug: String?, password: OneTimePassword, expiresAt: Date) {
        self.userId = userId
        self.email = email
        self.tenantSlug = tenantSlug
        self.password = password
        self.expiresAt = Self.iso8601(expiresAt)
        self.expiresAtInstant = expiresAt
    }

    public static func iso8601(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let seconds = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: seconds)
        return String(cFormat: "%04ld-%02ld-%02ldT%02ld:%02ld:%02ldZ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                      parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
    }
}

/// What happened to one tenant in a run, in the order it happened: the report's results
/// come from these as they are, never re-sorted.
public enum TenantOutcome: Sendable, Codable {
    /// Created, or planned (`tenant.planned`).
    case tenant(Tenant)
    /// Already provisioned with this Owner, kept as it is: `unchanged` when its fields
    /// are the input's, `differs` (with each difference) when they are not.
    case kept(ExistingProvision)
    /// A tenant that existed before the run, changed by it (its settings, a member added,
    /// a role changed, a member removed); `unchanged` when the change asked for was
    /// already so.
    case updated(TenantUpdate)
    /// Removed (or, planning, would be) by the safe delete.
    case deleted(TenantDeletion)
    /// A unit that failed and was rolled back alone.
    case failed(UnitFailure)
    /// A user's password was reset (or, planning, would be): about the user, whatever
    /// tenants they belong to.
    case reset(PasswordReset)

    /// What happened, as every front end names it (CONTRACT §2): the one mapping.
    public var status: OutcomeStatus {
        switch self {
        case .tenant(let tenant): tenant.planned ? .planned : .created
        case .kept(let existing): existing.differences.isEmpty ? .unchanged : .differs
        case .updated(let update): update.changes.isEmpty ? .unchanged : update.planned ? .planned : .updated
        case .deleted(let deletion): deletion.planned ? .planned : .deleted
        case .failed: .failed
        case .reset(let reset): reset.planned ? .planned : .reset
        }
    }

    /// The tenant it is about: nil for a failure before its unit named one, and for a
    /// reset user who belongs to no tenant or to several.
    public var tenant: Tenant? {
        switch self {
        case .tenant(let tenant): tenant
        case .kept(let existing): existing.tenant
        case .updated(let update): update.tenant
        case .deleted(let deletion): deletion.tenant
        case .failed: nil
        case .reset(let reset): reset.onlyMembership?.tenant
        }
    }

    /// The slug it is about (a failure's too), if any.
    public var slug: String? {
        if case .failed(let failure) = self { return failure.tenantSlug }
        return tenant?.slug
    }
}

/// The status of one result (CONTRACT §2 `status`), in the order a recap lists them.
public enum OutcomeStatus: String, Sendable, CaseIterable, Codable {
    case created, planned, unchanged, differs, updated, deleted, reset, failed
}

/// Where a user's password stands, as the platform judges it: a one-time password that
/// is pending (with its expiry) or expired unused, or a password the user set.
public enum PasswordState: Sendable, Equatable, Codable {
    case oneTimePending(expiresAt: Date)
    case oneTimeExpired(expiredAt: Date)
    /// The user replaced the one-time password (or never had one).
    case changed

    /// Which of the three states, without its instant.
    public enum Kind: String, Sendable {
        case oneTimePending = "one-time pending"
        case oneTimeExpired = "one-time expired"
        case changed
    }

    public var kind: Kind {
        switch self {
        case .oneTimePending: .oneTimePending
        case .oneTimeExpired: .oneTimeExpired
        case .changed: .changed
        }
    }

    /// `one-time pending`, `one-time expired`, `changed` (CONTRACT §8).
    public var label: String { kind.rawValue }
}

/// A password reset: the user, the tenants they belong to (with their role in each), and
/// the state their password was in before (nil: a dry run without a database, which
/// could not look).
public struct PasswordReset: Sendable, Codable {
    /// A tenant the user belongs to, and their role in it.
    public struct Membership: Sendable, Codable {
        public let tenant: Tenant
        public let role: Role
    }

    public let user: User
    public let memberships: [Membership]
    public let previousState: PasswordState?
    public let planned: Bool

    /// The tenant and role when the user belongs to exactly one tenant (a pilot's Owner);
    /// nil when to none or several.
    public var onlyMembership: Membership? {
        memberships.count == 1 ? memberships[0] : nil
    }
}

public struct UnitFailure: Sendable, Codable {
    /// The first tenant slug the unit tried to create, if any.
    public let tenantSlug: String?
    public let error: ProvisionError
}

/// A tenant that already exists with the input's Owner (a re-run): what the database
/// holds, and each field where it differs from the input.
public struct ExistingProvision: Sendable, Codable {
    public struct Difference: Sendable, Equatable, Codable {
        public let field: Field
        public let database: String?
        public let input: String?
    }

    public let tenant: Tenant
    public let owner: User
    public let differences: [Difference]
}

/// A tenant that existed before the run and that the run changed (or, planning, would):
/// each change, in order.
public struct TenantUpdate: Sendable, Codable {
    public struct Change: Sendable, Equatable, Codable {
        /// `member owner@x.example`, a setting's name.
        public let field: String
        public let from: String?
        public let to: String?

        public init(field: String, from: String?, to: String?) {
            self.field = field
            self.from = from
            self.to = to
        }
    }

    /// As the run left it.
    public internal(set) var tenant: Tenant
    /// The members it gained (and their users), in order.
    public internal(set) var memberships: [Membership]
    public internal(set) var changes: [Change]
    public let planned: Bool
}

/// What the safe delete of a tenant removes (or would): the tenant, its memberships, and
/// the users who belonged to no other tenant and never replaced their one-time password;
/// the members it keeps, and why.
public struct TenantDeletion: Sendable, Codable {
    public struct Member: Sendable, Codable {
        public let user: User
        public let role: Role
        /// Removed with the tenant (else kept: `keptBecause` says why).
        public let removed: Bool
        /// Why the user stays: `a member of another tenant too`.
        public let keptBecause: String?
    }

    public let tenant: Tenant
    public let members: [Member]
    public let planned: Bool
}

/// Where a tenant's member stands: their role and their password's state.
public struct MemberState: Sendable {
    public let user: User
    public let role: Role
    public let passwordState: PasswordState
}

/// One tenant as `provision list` shows it. Its instants are ISO 8601 in UTC to the
/// second (`2026-12-01T06:55:50Z`), as the database formatted them: a fleet of 100,000
/// tenants is listed without a date parsed or formatted here.
public struct TenantListing: Sendable {
    /// An OWNER of the tenant and where their password stands.
    public struct Owner: Sendable {
        public let user: User
        public let password: PasswordState.Kind
        /// When the one-time password expires (pending) or expired (expired); nil once changed.
        public let passwordExpiresAt: String?
    }

    /// The most characters a listed value of each kind has, for laying out a table whose
    /// every row is not known yet (0 when there is none).
    public struct Longest: Sendable {
        public let slug: Int
        public let name: Int
        public let ownerEmail: Int
    }

    public let tenant: Tenant
    public let createdAt: String
    /// Its OWNER members, by email.
    public let owners: [Owner]
}

/// One tenant as `provision show` shows it.
public struct TenantDetail: Sendable {
    public let tenant: Tenant
    public let createdAt: Date
    /// Every member, by role then email.
    public let members: [MemberState]
    /// Rows of each platform table that belong to the tenant, in the schema's order.
    public let platformRows: [(table: String, count: Int)]
    /// The latest audit events about the tenant or its members, newest first.
    public let recentEvents: [AuditEvent]
}

/// An `audit_events` row.
public struct AuditEvent: Sendable {
    public let at: Date
    public let actor: String
    public let action: String
    public let runId: String?
    /// The user the event is about, when it is about one.
    public let userEmail: String?
}

/// What a planned action was planned against (a plan's preconditions): `apply` checks each
/// again inside its transaction, and names each one that no longer holds.
public enum Precondition: Codable, Hashable, Sendable {
    case tenantAbsent(slug: String)
    case tenantExists(slug: String, id: Tenant.ID)
    case userAbsent(email: String)
    case userExists(email: String, id: User.ID)

    /// `slug pilot absent`, for people.
    public var description: String {
        switch self {
        case .tenantAbsent(let slug): return "no tenant has the slug \(slug)"
        case .tenantExists(let slug, let id): return "tenant \(slug) exists (id \(id))"
        case .userAbsent(let email): return "no user has the email \(email)"
        case .userExists(let email, let id): return "user \(email) exists (id \(id))"
        }
    }
}
