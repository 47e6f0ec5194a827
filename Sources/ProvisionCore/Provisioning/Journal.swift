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
    /// Every tenant's outcome in the order it happened; failures outlive a rollback.
    var outcomes: [TenantOutcome] = []

    // Dry runs write nothing, so conflicts inside the run are found here.
    var plannedSlugs: Set<String> = []
    /// By lowercased email, as the schema's unique index compares them.
    var plannedUsers: [String: User] = [:]
    /// `slug NUL lowercased email`.
    var plannedMemberships: Set<String> = []

    // These outlive a unit's rollback.
    /// Units that failed and were rolled back alone.
    var failures: [UnitFailure] = []
    /// Slugs `createTenant` was called with, so a failed unit can name its tenant.
    var attemptedSlugs: [String] = []

    mutating func attempt(slug: String) {
        attemptedSlugs.append(slug)
    }

    static func membershipKey(slug: String, email: String) -> String {
        "\(slug)\u{0}\(email.lowercased())"
    }

    /// The journal as it was at `snapshot`, but for what outlives a rollback: the
    /// failures recorded, which keep their place among the outcomes. With `error`, the unit's failure
    /// is recorded under the first slug it tried; the slugs tried inside a unit that
    /// rolls back without failing are kept, so the outermost failing unit can still name
    /// the tenant it was about.
    func rolledBack(to snapshot: Journal, failing error: ProvisionError?) -> Journal {
        var restored = snapshot
        restored.failures = failures
        // Failures of inner units stay, in their place; what the unit created goes.
        restored.outcomes += outcomes[snapshot.outcomes.count...].filter {
            if case .failed = $0 { true } else { false }
        }
        if let error {
            let tried = snapshot.attemptedSlugs.count
            let slug = attemptedSlugs.count > tried ? attemptedSlugs[tried] : nil
            let failure = UnitFailure(tenantSlug: slug, error: error)
            restored.failures.append(failure)
            restored.outcomes.append(.failed(failure))
        } else {
            restored.attemptedSlugs = attemptedSlugs
        }
        return restored
    }
}
