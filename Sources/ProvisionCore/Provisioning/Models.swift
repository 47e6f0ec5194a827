public enum Role: String, Sendable, CaseIterable {
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

    /// Validates raw values (nil: not given) with the field names of `style`.
    public init(slug: String, name: String, timeZone: String? = nil, supportEmail: String? = nil,
                supportPhone: String? = nil, style: FieldStyle) throws(ProvisionError) {
        self.slug = try Validate.tenantSlug(slug, field: Field.tenantSlug.name(in: style))
        self.name = try Validate.displayName(name, field: Field.tenantName.name(in: style))
        self.timeZone = try timeZone.map { value throws(ProvisionError) in try TimeZones.validate(value, field: Field.timeZone.name(in: style)) }
        self.supportEmail = try supportEmail.map { value throws(ProvisionError) in try Validate.email(value, field: Field.supportEmail.name(in: style)) }
        self.supportPhone = try supportPhone.map { value throws(ProvisionError) in try Validate.phone(value, field: Field.supportPhone.name(in: style)) }
    }
}

extension TenantSpec {
    /// Every problem with these values, not just the first: a batch reports them all.
    public static func problems(slug: String?, name: String?, timeZone: String?, supportEmail: String?,
                                supportPhone: String?, style: FieldStyle) -> [ProvisionError] {
        Validate.collect([
            { _ = try Validate.tenantSlug(Validate.present(slug, .tenantSlug, style), field: Field.tenantSlug.name(in: style)) },
            { _ = try Validate.displayName(Validate.present(name, .tenantName, style), field: Field.tenantName.name(in: style)) },
            { if let timeZone { _ = try TimeZones.validate(timeZone, field: Field.timeZone.name(in: style)) } },
            { if let supportEmail { _ = try Validate.email(supportEmail, field: Field.supportEmail.name(in: style)) } },
            { if let supportPhone { _ = try Validate.phone(supportPhone, field: Field.supportPhone.name(in: style)) } },
        ])
    }
}

extension OwnerSpec {
    public static func problems(email: String?, name: String?, style: FieldStyle) -> [ProvisionError] {
        Validate.collect([
            { _ = try Validate.email(Validate.present(email, .ownerEmail, style), field: Field.ownerEmail.name(in: style)) },
            { if let name { _ = try Validate.displayName(name, field: Field.ownerName.name(in: style)) } },
        ])
    }
}

/// An Owner to create or, with `allowExistingUser`, to reuse.
public struct OwnerSpec: Sendable, Equatable {
    public let email: String
    public let name: String?
    public let allowExistingUser: Bool

    public init(email: String, name: String? = nil, allowExistingUser: Bool = false, style: FieldStyle) throws(ProvisionError) {
        self.email = try Validate.email(email, field: Field.ownerEmail.name(in: style))
        self.name = try name.map { value throws(ProvisionError) in try Validate.displayName(value, field: Field.ownerName.name(in: style)) }
        self.allowExistingUser = allowExistingUser
    }
}

public struct Tenant: Sendable, Equatable {
    /// nil while planned (dry run).
    public let id: String?
    public let slug: String
    public let name: String
    public let timeZone: String?
    public let supportEmail: String?
    public let supportPhone: String?
    public let planned: Bool
}

public struct User: Sendable, Equatable {
    public let id: String?
    public let email: String
    public let name: String?
    /// Whether this run created the user (in a dry run: would create).
    public let created: Bool
    public let planned: Bool
}

public struct Membership: Sendable, Equatable {
    public let tenantId: String?
    public let tenantSlug: String
    public let role: Role
    public let planned: Bool
    /// The user as this run knew them when linking (created by this run or not).
    public let user: User

    public var userId: String? { user.id }
    public var userEmail: String { user.email }
}

/// A one-time password issued in this run, revealed only after commit.
public struct IssuedCredential: Sendable {
    public let userId: String
    public let email: String
    /// The tenant the user was made Owner of in this run, for the operator's table.
    public internal(set) var tenantSlug: String?
    public let password: OneTimePassword
    /// ISO 8601, UTC.
    public let expiresAt: String
}

/// A unit that failed and was rolled back alone.
public struct UnitFailure: Sendable {
    /// The first tenant slug the unit tried to create, if any.
    public let tenantSlug: String?
    public let error: ProvisionError
}
