import ProvisionCore

/// Errors in a playbook's terms: fields by the table keys the `provision` module takes
/// (`slug`, `name`, `email`), remedies as what to pass (CONTRACT §3).
public struct LuaWording: Wording {
    public init() {}

    public func name(of field: Field) -> String {
        switch field {
        case .tenantSlug: return "slug"
        case .tenantName, .ownerName, .name: return "name"
        case .ownerEmail, .email: return "email"
        case .timeZone, .supportEmail, .supportPhone, .allowExistingUser, .role, .sql: return field.rawValue
        }
    }

    public func resetPassword(of email: String) -> String {
        "provision.resetPassword{email = \"\(email.replacingEvery("\\", with: "\\\\").replacingEvery("\"", with: "\\\""))\"}"
    }

    public func words(for remedy: Remedy) -> String {
        switch remedy {
        case .allowExistingUser: return "pass allowExistingUser = true"
        case .runMigrate: return "run `provision migrate`"
        case .showMigrationStatus: return "see `provision migrate --status`"
        case .chooseAnotherSlug: return PlainWording().words(for: remedy)
        case .addAnotherOwnerFirst: return "link another OWNER first (provision.linkMembership{…, role = \"OWNER\"}), then try again"
        }
    }
}
