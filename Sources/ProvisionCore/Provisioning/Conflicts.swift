/// The conflicts of CONTRACT §4 (exit 3), built in one place whether the run found them
/// by looking (a row exists, or is planned earlier in this run) or the database refused
/// an insert (`ErrorMapping`). Each names its field and remedy as data.
extension ProvisionError {
    /// `slug` nil: the database refused the insert without saying which slug.
    static func slugExists(_ slug: String?, inThisRun: Bool = false) -> ProvisionError {
        let place = inThisRun ? "is already planned earlier in this run" : "already exists"
        let message: Template = if let slug {
            "tenant slug '\(slug)' \(place): \(.remedy)"
        } else {
            "tenant slug \(place): \(.remedy)"
        }
        return ProvisionError(.slugExists, message, subject: .tenantSlug, remedy: .chooseAnotherSlug, facts: Facts(slug: slug))
    }

    /// `email` nil: the database refused the insert without saying which email.
    static func emailExists(_ email: String?, inThisRun: Bool = false) -> ProvisionError {
        let place = inThisRun ? "is already planned earlier in this run" : "already belongs to a user"
        let message: Template = if let email {
            "owner email '\(email)' \(place): \(.remedy) if this user should intentionally belong to several tenants (membership), otherwise use another email"
        } else {
            "owner email already exists: \(.remedy) if this user should intentionally belong to several tenants"
        }
        return ProvisionError(.emailExists, message, subject: .ownerEmail, remedy: .allowExistingUser, facts: Facts(email: email))
    }

    /// `email` and `slug` nil: the database refused the insert without saying which.
    static func membershipExists(email: String?, slug: String?) -> ProvisionError {
        let message: Template = if let email, let slug {
            "\(email) is already a member of tenant \(slug)"
        } else {
            "the user is already a member of this tenant"
        }
        return ProvisionError(.membershipExists, message, subject: nil, facts: Facts(slug: slug, email: email))
    }
}
