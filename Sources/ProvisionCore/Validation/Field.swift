/// The inputs the core validates, by their domain names (the runbook's). Each front end
/// names them its own way (a `Wording`), in the error's `field` and in its message
/// (CONTRACT §3).
public enum Field: String, Sendable, CaseIterable, Codable {
    case tenantSlug, tenantName, ownerEmail, ownerName, timeZone, supportEmail, supportPhone, allowExistingUser, role
    /// A user's email outside provisioning an Owner (a password reset, a member).
    case email
    /// A member's display name.
    case name
    /// The statement of a read-only query.
    case sql
}
