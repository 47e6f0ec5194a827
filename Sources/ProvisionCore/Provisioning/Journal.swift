/// What a run has created or planned so far, in order: the records its report shows, the
/// one-time passwords it issued, and what a dry run tracks in place of rows it does not
/// write. A value: a unit's snapshot is a copy taken when the unit began, and rolling the
/// unit back is going back to that copy (`rolledBack(to:failing:)`), so a field added
/// here is undone with the unit without anyone listing it.
struct Journal {
    var actions: [String] = []
    var warnings: [String] = []
    var users: [User] = []
    var memberships: [Membership] = []
    /// Passwords for users this run created; revealed only after the commit.
    var issued: [IssuedCredential] = []
    /// Every tenant's outcome in the order it happened; failures outlive a rollback.
    var outcomes: [TenantOutcome] = []
    /// What the database looked like where a planning run looked (a plan's
    /// preconditions), in the order it looked, each once.
    var preconditions: [Precondition] = []

    mutating func observe(_ precondition: Precondition) {
        if !preconditions.contains(precondition) { preconditions.append(precondition) }
    }

    // Dry runs write nothing, so conflicts inside the run are found here.
    var plannedSlugs: Set<String> = []
    /// By lowercased email, as the schema's unique index compares them.
    var plannedUsers: [String: User] = [:]
    /// `slug NUL lowercased email`.
    var plannedMemberships: Set<String> = []

    /// The tenants created or planned, in order.
    var tenants: [Tenant] {
        outcomes.compactMap { if case .tenant(let tenant) = $0 { tenant } else { nil } }
    }

    /// Units that failed and were rolled back alone, in order.
    var failures: [UnitFailure] {
        outcomes.compactMap { if case .failed(let failure) = $0 { failure } else { nil } }
    }

    /// Slugs `createTenant` was called with, so a failed unit can name its tenant; they
    /// outlive the rollback of a unit that did not fail.
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
        // Failures of inner units stay, in their place; what the unit created goes.
        restored.outcomes += outcomes[snapshot.outcomes.count...].filter {
            if case .failed = $0 { true } else { false }
        }
        if let error {
            let tried = snapshot.attemptedSlugs.count
            let slug = attemptedSlugs.count > tried ? attemptedSlugs[tried] : nil
            restored.outcomes.append(.failed(UnitFailure(tenantSlug: slug, error: error)))
        } else {
            restored.attemptedSlugs = attemptedSlugs
        }
        return restored
    }
}
