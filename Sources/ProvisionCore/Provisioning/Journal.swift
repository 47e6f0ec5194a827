/// What a run has created or planned so far, in order: the records its report shows, the
/// one-time passwords it issued, and what a dry run tracks in place of rows it does not
/// write. A value: a unit's snapshot is a copy taken when the unit began, and rolling the
/// unit back is going back to that copy (`rolledBack(to:failing:)`), so a field added
/// here is undone with the unit without anyone listing it.
struct Journal {
    var actions: [String] = []
    var warnings: [String] = []
    var tenants: [Tenant] = []
    var users: [User] = []
    var memberships: [Membership] = []
    /// Passwords for users this run created; revealed only after the commit.
    var issued: [IssuedCredential] = []
    /// Rows a batch found already provisioned, reported as unchanged.
    var unchanged: [(tenantSlug: String, ownerEmail: String)] = []

    // Dry runs write nothing, so conflicts inside the run are found here.
    var plannedSlugs: Set<String> = []
    /// By lowercased email, as the schema's unique index compares them.
    var plannedUsers: [String: User] = [:]
    /// `slug NUL lowercased email`.
    var plannedMemberships: Set<String> = []

    // These outlive a unit's rollback.
    /// Units that failed and were rolled back alone.
    var failures: [UnitFailure] = []
    /// Every slug in the order the run first met it, for reports in input order.
    var slugOrder: [String] = []
    /// Slugs `createTenant` was called with, so a failed unit can name its tenant.
    var attemptedSlugs: [String] = []

    mutating func attempt(slug: String) {
        attemptedSlugs.append(slug)
        meet(slug: slug)
    }

    mutating func meet(slug: String) {
        if !slugOrder.contains(slug) { slugOrder.append(slug) }
    }

    static func membershipKey(slug: String, email: String) -> String {
        "\(slug)\u{0}\(email.lowercased())"
    }

    /// The journal as it was at `snapshot`, but for what outlives a rollback: the
    /// failures recorded and the order slugs were met in. With `error`, the unit's failure
    /// is recorded under the first slug it tried; the slugs tried inside a unit that
    /// rolls back without failing are kept, so the outermost failing unit can still name
    /// the tenant it was about.
    func rolledBack(to snapshot: Journal, failing error: ProvisionError?) -> Journal {
        var restored = snapshot
        restored.failures = failures
        restored.slugOrder = slugOrder
        if let error {
            let tried = snapshot.attemptedSlugs.count
            let slug = attemptedSlugs.count > tried ? attemptedSlugs[tried] : nil
            restored.failures.append(UnitFailure(tenantSlug: slug, error: error))
        } else {
            restored.attemptedSlugs = attemptedSlugs
        }
        return restored
    }
}
