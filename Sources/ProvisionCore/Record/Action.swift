#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One change a run makes (or, planning, would make), with every value it writes: the
/// run's record of what it did, the JSON's `actions[]`, a plan's actions, and what
/// `apply` compares, field by field. `text` is for people and is never compared
/// (CONTRACT §13).
public enum Action: Sendable, Equatable {
    case createTenant(slug: String, name: String, timeZone: String?, supportEmail: String?, supportPhone: String?)
    /// A new user, with a one-time password made when it is written (never planned).
    case createUser(email: String, name: String?)
    /// An existing user linked instead of created (`allowExistingUser`): writes nothing.
    case useExistingUser(email: String)
    case linkMembership(tenant: String, email: String, role: Role)
    /// A tenant already provisioned with this Owner, kept as it is (a re-run): the
    /// fields where the input differs, none when it matches.
    case keepTenant(tenant: String, ownerEmail: String, differing: [Field])
    /// An existing tenant's settings changed: each field, from what to what (CONTRACT §12).
    case updateTenant(tenant: String, changes: [TenantUpdate.Change])
    /// A member's role changed from `previous` to `role`.
    case setRole(tenant: String, email: String, role: Role, previous: Role)
    case resetPassword(email: String)
    case revokePassword(email: String)
    case deleteTenant(tenant: String, name: String)
    /// A member deleted with their tenant (never logged in, no other tenant).
    case deleteUser(tenant: String, email: String, role: Role)
    /// A membership removed while its user is kept: a member removed from a tenant, or
    /// a user another tenant references, kept by a delete (`keptBecause`).
    case removeMembership(tenant: String, email: String, role: Role, keptBecause: String?)

    /// The `kind` of the JSON and of plans.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case createTenant = "create_tenant"
        case createUser = "create_user"
        case useExistingUser = "use_existing_user"
        case linkMembership = "link_membership"
        case keepTenant = "keep_tenant"
        case updateTenant = "update_tenant"
        case setRole = "set_role"
        case resetPassword = "reset_password"
        case revokePassword = "revoke_password"
        case deleteTenant = "delete_tenant"
        case deleteUser = "delete_user"
        case removeMembership = "remove_membership"
    }

    public var kind: Kind {
        switch self {
        case .createTenant: .createTenant
        case .createUser: .createUser
        case .useExistingUser: .useExistingUser
        case .linkMembership: .linkMembership
        case .keepTenant: .keepTenant
        case .updateTenant: .updateTenant
        case .setRole: .setRole
        case .resetPassword: .resetPassword
        case .revokePassword: .revokePassword
        case .deleteTenant: .deleteTenant
        case .deleteUser: .deleteUser
        case .removeMembership: .removeMembership
        }
    }

    /// The tenant's slug it is about, if any.
    public var tenant: String? {
        switch self {
        case .createTenant(let slug, _, _, _, _): slug
        case .linkMembership(let tenant, _, _), .keepTenant(let tenant, _, _), .deleteTenant(let tenant, _),
             .updateTenant(let tenant, _), .setRole(let tenant, _, _, _),
             .deleteUser(let tenant, _, _), .removeMembership(let tenant, _, _, _): tenant
        case .createUser, .useExistingUser, .resetPassword, .revokePassword: nil
        }
    }

    /// The user's email it is about, if any.
    public var email: String? {
        switch self {
        case .createUser(let email, _), .useExistingUser(let email), .linkMembership(_, let email, _),
             .keepTenant(_, let email, _), .resetPassword(let email), .revokePassword(let email),
             .deleteUser(_, let email, _), .removeMembership(_, let email, _, _), .setRole(_, let email, _, _): email
        case .createTenant, .deleteTenant, .updateTenant: nil
        }
    }

    public var role: Role? {
        switch self {
        case .linkMembership(_, _, let role), .deleteUser(_, _, let role), .removeMembership(_, _, let role, _),
             .setRole(_, _, let role, _): role
        default: nil
        }
    }

    /// Every value the action writes (or, for a kept tenant, what it was kept with),
    /// by name, in a fixed order: what `apply` compares beyond kind, tenant, email, role.
    public var values: [(name: String, value: String?)] {
        switch self {
        case .createTenant(let slug, let name, let timeZone, let supportEmail, let supportPhone):
            [("slug", slug), ("name", name), ("timeZone", timeZone), ("supportEmail", supportEmail), ("supportPhone", supportPhone)]
        case .createUser(let email, let name): [("email", email), ("name", name)]
        case .keepTenant(_, _, let differing): [("differing", differing.isEmpty ? nil : differing.map(\.rawValue).joined(separator: ","))]
        case .deleteTenant(_, let name): [("name", name)]
        case .removeMembership(_, _, _, let reason): [("keptBecause", reason)]
        case .updateTenant(_, let changes): changes.flatMap { [($0.field, $0.to), ("\($0.field) before", $0.from)] }
        case .setRole(_, _, _, let previous): [("previousRole", previous.rawValue)]
        case .useExistingUser, .linkMembership, .resetPassword, .revokePassword, .deleteUser: []
        }
    }

    /// For people: `create tenant pilot`. Never compared.
    public var text: String {
        switch self {
        case .createTenant(let slug, _, _, _, _): "create tenant \(slug)"
        case .createUser(let email, _): "create user \(email) with a one-time password"
        case .useExistingUser(let email): "use existing user \(email)"
        case .linkMembership(let tenant, let email, let role): "add \(email) to \(tenant) as \(role.rawValue)"
        case .keepTenant(let tenant, let owner, let differing) where differing.isEmpty:
            "keep tenant \(tenant) (already provisioned with owner \(owner))"
        case .keepTenant(let tenant, let owner, let differing):
            "keep tenant \(tenant) (already provisioned with owner \(owner), but \(differing.count) field\(differing.count == 1 ? " differs" : "s differ") from the input; nothing was changed)"
        case .resetPassword(let email): "reset the password of \(email): a new one-time password, to be changed at first login"
        case .revokePassword(let email): "revoke the one-time password of \(email)"
        case .updateTenant(let tenant, let changes):
            "update tenant \(tenant): " + changes.map { "\($0.field) \(Self.shown($0.from)) → \(Self.shown($0.to))" }.joined(separator: ", ")
        case .setRole(let tenant, let email, let role, let previous):
            "change the role of \(email) in \(tenant) from \(previous.rawValue) to \(role.rawValue)"
        case .deleteTenant(let tenant, _): "delete tenant \(tenant)"
        case .deleteUser(_, let email, let role): "delete user \(email) (\(role.rawValue); never logged in, no other tenant)"
        case .removeMembership(let tenant, let email, let role, nil):
            "remove \(email) (\(role.rawValue)) from \(tenant); the user is kept"
        case .removeMembership(let tenant, let email, _, let reason?):
            "keep user \(email) (\(reason)); remove them from \(tenant)"
        }
    }

    /// `'Pilot'`, or `none` for no value.
    static func shown(_ value: String?) -> String { value.map { "'\($0)'" } ?? "none" }

    /// What identifies the action among a run's: two actions with one identity are the
    /// same change, whose values can then be compared.
    public var identity: String {
        [kind.rawValue, tenant ?? "", email?.lowercased() ?? ""].joined(separator: "\u{0}")
    }

    /// `create_tenant pilot`, `link_membership owner@x to pilot`: an action named by
    /// what identifies it.
    public var label: String {
        var parts = [kind.rawValue]
        if let email { parts.append(email) }
        if let tenant { parts.append(email == nil ? tenant : "in \(tenant)") }
        return parts.joined(separator: " ")
    }

    /// Each field in which `other` (the same change, taken now) differs from this one
    /// (planned): `name: 'Wave One Pilot' planned, 'Wave One School' now`.
    public func differences(from other: Action) -> [String] {
        let shown = Self.shown
        var differences: [String] = []
        if role != other.role { differences.append("role: \(shown(role?.rawValue)) planned, \(shown(other.role?.rawValue)) now") }
        let planned = Dictionary(values.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        let now = Dictionary(other.values.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        for (name, value) in values where now[name] != value {
            differences.append("\(name): \(shown(value)) planned, \(now[name].map { shown($0) } ?? "not written") now")
        }
        // A value written now that the plan did not write at all (another field updated).
        for (name, value) in other.values where planned[name] == nil {
            differences.append("\(name): not written planned, \(shown(value)) now")
        }
        if email != other.email { differences.append("email: \(shown(email)) planned, \(shown(other.email)) now") }
        if differences.isEmpty && self != other { differences.append("planned as '\(text)', now '\(other.text)'") }
        return differences
    }
}

// MARK: JSON: {"kind", "tenant"?, "email"?, "role"?, "values"?, "text"}

extension Action: Codable {
    private enum Key: String, CodingKey { case kind, tenant, email, role, values, changes, text }
    private enum ChangeKey: String, CodingKey { case field, from, to }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(kind, forKey: .kind)
        try container.encodeIfPresent(tenant, forKey: .tenant)
        try container.encodeIfPresent(email, forKey: .email)
        try container.encodeIfPresent(role?.rawValue, forKey: .role)
        if case .updateTenant(_, let changes) = self {
            // `changes`: each field, from and to (null for none), as results show them.
            var list = container.nestedUnkeyedContainer(forKey: .changes)
            for change in changes {
                var item = list.nestedContainer(keyedBy: ChangeKey.self)
                try item.encode(change.field, forKey: .field)
                try item.encode(change.from, forKey: .from)
                try item.encode(change.to, forKey: .to)
            }
        } else if case let values = self.values, !values.isEmpty {
            var nested = container.nestedContainer(keyedBy: ValueKey.self, forKey: .values)
            for (name, value) in values { try nested.encode(value, forKey: ValueKey(name)) }
        }
        try container.encode(text, forKey: .text)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        let kind = try container.decode(Kind.self, forKey: .kind)
        var values: [String: String?] = [:]
        if container.contains(.values) {
            let nested = try container.nestedContainer(keyedBy: ValueKey.self, forKey: .values)
            for key in nested.allKeys { values[key.stringValue] = try nested.decodeIfPresent(String.self, forKey: key) }
        }
        func required(_ key: Key) throws -> String {
            guard let value = try container.decodeIfPresent(String.self, forKey: key) else {
                throw DecodingError.keyNotFound(key, .init(codingPath: container.codingPath, debugDescription: "a \(kind.rawValue) action has no \(key.stringValue)"))
            }
            return value
        }
        func value(_ name: String) -> String? { values[name] ?? nil }
        func role() throws -> Role {
            let text = try required(.role)
            guard let role = Role(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: .role, in: container, debugDescription: "'\(text)' is not a role")
            }
            return role
        }
        switch kind {
        case .createTenant:
            guard let name = value("name") else {
                throw DecodingError.dataCorruptedError(forKey: .values, in: container, debugDescription: "a create_tenant action has no name")
            }
            self = .createTenant(slug: try required(.tenant), name: name, timeZone: value("timeZone"),
                                 supportEmail: value("supportEmail"), supportPhone: value("supportPhone"))
        case .createUser: self = .createUser(email: try required(.email), name: value("name"))
        case .useExistingUser: self = .useExistingUser(email: try required(.email))
        case .linkMembership: self = .linkMembership(tenant: try required(.tenant), email: try required(.email), role: try role())
        case .keepTenant:
            let differing = value("differing")?.split(separator: ",").compactMap { Field(rawValue: String($0)) } ?? []
            self = .keepTenant(tenant: try required(.tenant), ownerEmail: try required(.email), differing: differing)
        case .updateTenant:
            var list = try container.nestedUnkeyedContainer(forKey: .changes)
            var changes: [TenantUpdate.Change] = []
            while !list.isAtEnd {
                let item = try list.nestedContainer(keyedBy: ChangeKey.self)
                changes.append(TenantUpdate.Change(field: try item.decode(String.self, forKey: .field),
                                                   from: try item.decodeIfPresent(String.self, forKey: .from),
                                                   to: try item.decodeIfPresent(String.self, forKey: .to)))
            }
            self = .updateTenant(tenant: try required(.tenant), changes: changes)
        case .setRole:
            guard let previous = value("previousRole").flatMap(Role.init(rawValue:)) else {
                throw DecodingError.dataCorruptedError(forKey: .values, in: container, debugDescription: "a set_role action has no previousRole")
            }
            self = .setRole(tenant: try required(.tenant), email: try required(.email), role: try role(), previous: previous)
        case .resetPassword: self = .resetPassword(email: try required(.email))
        case .revokePassword: self = .revokePassword(email: try required(.email))
        case .deleteTenant: self = .deleteTenant(tenant: try required(.tenant), name: value("name") ?? "")
        case .deleteUser: self = .deleteUser(tenant: try required(.tenant), email: try required(.email), role: try role())
        case .removeMembership:
            self = .removeMembership(tenant: try required(.tenant), email: try required(.email), role: try role(),
                                     keptBecause: value("keptBecause"))
        }
    }

    private struct ValueKey: CodingKey {
        let stringValue: String
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}

extension Action {
    /// Each action planned but not taken now, each taken now but not planned, and each
    /// taken with other values than planned (named field by field), in order; an action
    /// planned twice must be taken twice.
    public static func differences(planned: [Action], taken: [Action]) -> [String] {
        var remaining = taken
        var differences: [String] = []
        for action in planned {
            if let index = remaining.firstIndex(of: action) {
                remaining.remove(at: index)
            } else if let index = remaining.firstIndex(where: { $0.identity == action.identity }) {
                differences += action.differences(from: remaining[index]).map { "\(action.label): \($0)" }
                remaining.remove(at: index)
            } else {
                differences.append("planned, but the playbook would not do it now: \(action.text)")
            }
        }
        differences += remaining.map { "not planned, but the playbook would do it now: \($0.text)" }
        return differences
    }
}
