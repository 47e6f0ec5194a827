/// The inputs the core validates, by their domain names (the runbook's). Each front end
/// names them its own way (a `Wording`), in the error's `field` and in its message
/// (CONTRACT §3).
public enum Field: String, Sendable, CaseIterable, Codable {
    case tenantSlug, tenantName, ownerEmail, ownerName, timeZone, supportEmail, supportPhone, allowExistingUser, role
    /// An existing user's email (a password reset).
    case email
    /// The statement of a read-only query.
    case sql
}
