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
    static func emailExists(_ email: String?, inThisRun: Bool = false, field: Field = .ownerEmail) -> ProvisionError {
        let place = inThisRun ? "is already planned earlier in this run" : "already belongs to a user"
        let named = field == .ownerEmail ? "owner email" : "email"
        let message: Template = if let email {
            "\(named) '\(email)' \(place): \(.remedy) if this user should intentionally belong to several tenants (membership), otherwise use another email"
        } else {
            "\(named) already exists: \(.remedy) if this user should intentionally belong to several tenants"
        }
        return ProvisionError(.emailExists, message, subject: field, remedy: .allowExistingUser, facts: Facts(email: email))
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

    /// A change that would leave `slug` without an OWNER (CONTRACT §12): `change` says
    /// which (`removing them`, `making them ADMIN`).
    static func lastOwner(email: String, slug: String, change: String) -> ProvisionError {
        ProvisionError(.lastOwner, "\(email) is the last OWNER of tenant \(slug), and \(change) would leave it without one: \(.remedy)",
                       subject: nil, remedy: .addAnotherOwnerFirst, facts: Facts(slug: slug, email: email))
    }
}
