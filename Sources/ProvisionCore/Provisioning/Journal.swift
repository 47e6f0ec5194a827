/// What a run has done or planned so far: one log of entries in the order they happened
/// (actions, notices, the users and memberships it linked, the one-time passwords it
/// issued, each tenant's outcome, what planning looked at). A unit remembers where the
/// log ended when it began (a `Mark`, one number), and rolling it back cuts the log back
/// there, keeping only what outlives a rollback: the failures recorded.
///
/// Dry runs write nothing, so the keys they plan (slugs, emails, memberships) are kept in
/// sets beside the log, to find conflicts inside the run; each is also an entry, so a
/// rollback takes it out again.
struct Journal {
    /// The large payloads are boxed (`indirect`): an entry is as large as its largest
    /// inline case, and a batch keeps about nine entries a row.
    enum Entry {
        indirect case action(Action)
        case warning(String)
        indirect case user(User)
        indirect case membership(Membership)
        /// A password for a user this run created or reset; revealed only after the commit.
        indirect case issued(IssuedCredential)
        /// A tenant's outcome; failures outlive a rollback.
        indirect case outcome(TenantOutcome)
        /// What the database looked like where a planning run looked (a plan's precondition).
        case precondition(Precondition)
        /// A slug `createTenant` was called with, so a failed unit can name its tenant.
        case attempt(slug: String)
        case planned(PlannedKey)
    }

    enum PlannedKey {
        case slug(String), user(String), membership(String)
        /// A member's role planned (`membershipKey`), and what was planned before, if anything.
        case role(String, previous: PlannedRole?)
    }

    /// A membership as planned: with a role, or removed.
    enum PlannedRole: Equatable {
        case member(Role), removed
    }

    private(set) var entries: [Entry] = []

    /// Where the log ended when a unit began.
    struct Mark {
        fileprivate let count: Int
    }

    var mark: Mark { Mark(count: entries.count) }

    // Dry runs write nothing, so conflicts inside the run are found here.
    private(set) var plannedSlugs: Set<String> = []
    /// By lowercased email, as the schema's unique index compares them.
    private(set) var plannedUsers: [String: User] = [:]
    /// `slug NUL lowercased email`.
    private(set) var plannedMemberships: Set<String> = []
    /// Memberships whose role a dry run planned (linked, changed or removed), by
    /// `membershipKey`: what the database would hold after the plan.
    private(set) var plannedRoles: [String: PlannedRole] = [:]
    private var preconditionsSeen: Set<Precondition> = []

    mutating func append(_ entry: Entry) { entries.append(entry) }
    mutating func act(_ action: Action) { entries.append(.action(action)) }
    mutating func warn(_ message: String) { entries.append(.warning(message)) }

    mutating func observe(_ precondition: Precondition) {
        if preconditionsSeen.insert(precondition).inserted { entries.append(.precondition(precondition)) }
    }

    mutating func plan(slug: String) {
        if plannedSlugs.insert(slug).inserted { entries.append(.planned(.slug(slug))) }
    }

    mutating func plan(user: User, key: String) {
        if plannedUsers.updateValue(user, forKey: key) == nil { entries.append(.planned(.user(key))) }
    }

    mutating func plan(membership key: String) {
        if plannedMemberships.insert(key).inserted { entries.append(.planned(.membership(key))) }
    }

    mutating func plan(role: PlannedRole, key: String) {
        entries.append(.planned(.role(key, previous: plannedRoles.updateValue(role, forKey: key))))
    }

    static func membershipKey(slug: String, email: String) -> String {
        "\(slug)\u{0}\(email.lowercased())"
    }

    // MARK: Views, in order

    var actions: [Action] { entries.compactMap { if case .action(let action) = $0 { action } else { nil } } }
    var warnings: [String] { entries.compactMap { if case .warning(let message) = $0 { message } else { nil } } }
    var users: [User] { entries.compactMap { if case .user(let user) = $0 { user } else { nil } } }
    var memberships: [Membership] { entries.compactMap { if case .membership(let membership) = $0 { membership } else { nil } } }
    /// The one-time passwords issued, in order; a user's password reset again later in
    /// the run keeps only the last one, the only one that works (CONTRACT §12).
    var issued: [IssuedCredential] {
        let all = entries.compactMap { if case .issued(let credential) = $0 { credential } else { nil } }
        var last: [User.ID: Int] = [:]
        for (offset, credential) in all.enumerated() { last[credential.userId] = offset }
        guard last.count < all.count else { return all }
        return all.enumerated().filter { last[$0.element.userId] == $0.offset }.map(\.element)
    }
    var outcomes: [TenantOutcome] { entries.compactMap { if case .outcome(let outcome) = $0 { outcome } else { nil } } }
    var preconditions: [Precondition] { entries.compactMap { if case .precondition(let precondition) = $0 { precondition } else { nil } } }

    /// Newest first, stopping at the first match: look-ups in a large run stay cheap.
    func last<T>(_ match: (Entry) -> T?) -> T? {
        for entry in entries.reversed() {
            if let found = match(entry) { return found }
        }
        return nil
    }

    /// The tenants created or planned, in order.
    var tenants: [Tenant] {
        outcomes.compactMap { if case .tenant(let tenant) = $0 { tenant } else { nil } }
    }

    /// Units that failed and were rolled back alone, in order.
    var failures: [UnitFailure] {
        outcomes.compactMap { if case .failed(let failure) = $0 { failure } else { nil } }
    }

    /// Gives the one-time password issued to `userId` (for no tenant yet) its tenant.
    mutating func label(credentialOf userId: User.ID, tenant slug: String) {
        for index in entries.indices.reversed() {
            if case .issued(var credential) = entries[index], credential.userId == userId, credential.tenantSlug == nil {
                credential.tenantSlug = slug
                entries[index] = .issued(credential)
                return
            }
        }
    }

    /// Drops every password (after the commit hands them over, or with a rollback).
    mutating func dropPasswords() {
        entries.removeAll { if case .issued = $0 { true } else { false } }
    }

    /// Back to where it was at `mark`, but for what outlives a rollback: the failures
    /// recorded, which keep their place among the outcomes. With `error`, the unit's
    /// failure is recorded under the first slug it tried; the slugs tried inside a unit
    /// that rolls back without failing are kept, so the outermost failing unit can still
    /// name the tenant it was about.
    mutating func rollBack(to mark: Mark, failing error: ProvisionError?) {
        let undone = entries[mark.count...]
        var kept: [Entry] = []
        var tried: String?
        for entry in undone {
            switch entry {
            case .outcome(.failed): kept.append(entry)
            case .attempt(let slug):
                if error == nil { kept.append(entry) } else if tried == nil { tried = slug }
            case .planned(.slug(let slug)): plannedSlugs.remove(slug)
            case .planned(.user(let email)): plannedUsers.removeValue(forKey: email)
            case .planned(.membership(let key)): plannedMemberships.remove(key)
            case .precondition(let precondition): preconditionsSeen.remove(precondition)
            default: break
            }
        }
        // Newest first, so a role planned twice is back to what it was before both.
        for case .planned(.role(let key, let previous)) in undone.reversed() { plannedRoles[key] = previous }
        entries.removeSubrange(mark.count...)
        entries += kept
        if let error {
            entries.append(.outcome(.failed(UnitFailure(tenantSlug: tried, error: error))))
        }
    }

    /// What was added since `mark`, in order.
    func entries(since mark: Mark) -> ArraySlice<Entry> { entries[mark.count...] }
}
