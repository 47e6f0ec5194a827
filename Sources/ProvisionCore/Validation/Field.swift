/// The inputs the contract validates. Each front end names them its own way: the CLI and
/// batch CSV after the runbook's flags, Lua after its table keys (CONTRACT §3).
public enum Field: String, Sendable, CaseIterable {
    case tenantSlug, tenantName, ownerEmail, ownerName, timeZone, supportEmail, supportPhone, allowExistingUser, role

    public func name(in style: FieldStyle) -> String {
        switch style {
        case .flags: return rawValue
        case .lua:
            switch self {
            case .tenantSlug: return "slug"
            case .tenantName, .ownerName: return "name"
            case .ownerEmail: return "email"
            default: return rawValue
            }
        }
    }
}

public enum FieldStyle: Sendable {
    /// `tenantSlug`, as the runbook's flags and the batch CSV's columns spell it.
    case flags
    /// `slug`, as a Lua playbook's table keys spell it.
    case lua
}
