/// What a run has created or planned so far, in order: the records its report shows, the
/// one-time passwords it issued, and what a dry run tracks in place of rows it does not
/// write. Everything in it only grows, so a unit remembers where each part ended when it
/// began (a `Mark`: counts, never a copy, so a batch of N rows does O(N) work, not
/// O(N²)), and rolling the unit back cuts each part back there (`rollBack(to:failing:)`).
/// A field added here must be added to the mark too.
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
    private(set) var plannedSlugs: Set<String> = []
    /// By lowercased email, as the schema's unique index compares them.
    private(set) var plannedUsers: [String: User] = [:]
    /// `slug NUL lowercased email`.
    private(set) var plannedMemberships: Set<String> = []
    /// The keys above in the order they were added, to take them out again.
    private var plannedLog: [PlannedKey] = []

    private enum PlannedKey {
        case slug(String), user(String), membership(String)
    }

    mutating func plan(slug: String) {
        if plannedSlugs.insert(slug).inserted { plannedLog.append(.slug(slug)) }
    }

    mutating func plan(user: User, key: String) {
        if plannedUsers.updateValue(user, forKey: key) == nil { plannedLog.append(.user(key)) }
    }

    mutating func plan(membership key: String) {
        if plannedMemberships.insert(key).inserted { plannedLog.append(.membership(key)) }
    }

    /// Where each part of the journal ended when a unit began.
    struct Mark {
        fileprivate let actions, warnings, users, memberships, issued, outcomes, preconditions, attemptedSlugs, plannedLog: Int
    }

    var mark: Mark {
        Mark(actions: actions.count, warnings: warnings.count, users: users.count, memberships: memberships.count,
             issued: issued.count, outcomes: outcomes.count, preconditions: preconditions.count,
             attemptedSlugs: attemptedSlugs.count, plannedLog: plannedLog.count)
    }

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

    /// Back to where it was at `mark`, but for what outlives a rollback: the failures
    /// recorded, which keep their place among the outcomes. With `error`, the unit's
    /// failure is recorded under the first slug it tried; the slugs tried inside a unit
    /// that rolls back without failing are kept, so the outermost failing unit can still
    /// name the tenant it was about.
    mutating func rollBack(to mark: Mark, failing error: ProvisionError?) {
        // Failures of inner units stay, in their place; what the unit created goes.
        let innerFailures = outcomes[mark.outcomes...].filter { if case .failed = $0 { true } else { false } }
        let tried = error.map { _ in attemptedSlugs.count > mark.attemptedSlugs ? attemptedSlugs[mark.attemptedSlugs] : nil } ?? nil
        actions.removeSubrange(mark.actions...)
        warnings.removeSubrange(mark.warnings...)
        users.removeSubrange(mark.users...)
        memberships.removeSubrange(mark.memberships...)
        issued.removeSubrange(mark.issued...)
        outcomes.removeSubrange(mark.outcomes...)
        preconditions.removeSubrange(mark.preconditions...)
        for key in plannedLog[mark.plannedLog...] {
            switch key {
            case .slug(let slug): plannedSlugs.remove(slug)
            case .user(let email): plannedUsers.removeValue(forKey: email)
            case .membership(let membership): plannedMemberships.remove(membership)
            }
        }
        plannedLog.removeSubrange(mark.plannedLog...)
        outcomes += innerFailures
        if let error {
            attemptedSlugs.removeSubrange(mark.attemptedSlugs...)
            outcomes.append(.failed(UnitFailure(tenantSlug: tried, error: error)))
        }
    }

    /// What was added since `mark`, newest last.
    func actions(since mark: Mark) -> ArraySlice<String> { actions[mark.actions...] }
    func warnings(since mark: Mark) -> ArraySlice<String> { warnings[mark.warnings...] }
    func memberships(since mark: Mark) -> ArraySlice<Membership> { memberships[mark.memberships...] }
    func users(since mark: Mark) -> ArraySlice<User> { users[mark.users...] }
    func outcomes(since mark: Mark) -> ArraySlice<TenantOutcome> { outcomes[mark.outcomes...] }
}
