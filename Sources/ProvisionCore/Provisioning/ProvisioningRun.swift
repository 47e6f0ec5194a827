import Foundation

/// One run of provisioning: one connection, one transaction, and the primitives that
/// write (or, in a dry run, plan) through it. The parts have homes of their own: the SQL
/// in `Store`, what the run did in its `Journal`, passwords in `PasswordSupply`, queries
/// from scripts in `ReadOnlyQuery`, conflicts in `Conflicts.swift`. This class decides
/// the order: look, plan or write, record.
///
/// A dry run without a database (`connection == nil`) validates and plans, and says that
/// conflict checks were skipped.
public final class ProvisioningRun {
    public let dryRun: Bool
    public let audit: AuditContext
    public let passwordLifetimeHours: Int
    /// How warnings name what the operator can do (the front end's terms).
    public var wording: any Wording = PlainWording()

    /// What this run created or planned so far (rolled-back units removed).
    private(set) var journal = Journal()
    public var actions: [String] { journal.actions }
    public var warnings: [String] { journal.warnings }
    public var tenants: [Tenant] { journal.tenants }
    public var users: [User] { journal.users }
    public var memberships: [Membership] { journal.memberships }
    /// Units (savepoints) that failed and were rolled back alone.
    public var failures: [UnitFailure] { journal.failures }
    /// Every tenant's outcome in the order it happened (a batch: the file's order).
    public var outcomes: [TenantOutcome] { journal.outcomes }

    /// True while primitives plan instead of writing: the whole run is a dry run, or a
    /// planning unit is open (a dry run inside the run).
    public var isPlanning: Bool { dryRun || planningDepth > 0 }
    private var planningDepth = 0

    let connection: Connection?
    private let store: Store?
    private let trail: AuditTrail?
    private let passwords = PasswordSupply()
    private var state: State = .notStarted
    /// Zones PostgreSQL was found to know, asked once each.
    private var knownTimeZones: Set<String> = []
    /// Whom read-only queries run as, found at the first one.
    private var queryIdentity: ReadOnlyQuery.Identity?

    private enum State { case notStarted, open, committed, rolledBack }
    private let nested: Bool
    /// A nested run's own savepoint in the caller's transaction.
    private var enclosing: Savepoint?

    /// With `nested`, the run lives inside a transaction the caller already opened (a
    /// test's, which is always rolled back): it begins as a savepoint, "commits" by
    /// releasing it and rolls back to it, so it can never end the caller's transaction.
    public init(connection: Connection?, dryRun: Bool, audit: AuditContext = AuditContext(), passwordLifetimeHours: Int = 72,
                nested: Bool = false) {
        precondition(connection != nil || dryRun, "only a dry run may go without a database")
        self.nested = nested
        self.connection = connection
        self.store = connection.map(Store.init)
        self.trail = connection.map { AuditTrail(connection: $0, context: audit) }
        self.dryRun = dryRun
        self.audit = audit
        self.passwordLifetimeHours = passwordLifetimeHours
        if connection == nil {
            warn("DATABASE_URL is not set: inputs were validated, but conflict checks against the database were skipped")
        }
    }

    // MARK: The transaction

    /// Opens the run's transaction: READ ONLY for a dry run, so the database itself
    /// refuses any write.
    public func begin() throws(ProvisionError) {
        guard state == .notStarted else { return }
        if nested {
            enclosing = try connection?.savepoint()
        } else {
            try connection?.begin(readOnly: dryRun)
        }
        state = .open
    }

    /// Commits (a dry run rolls back instead) and hands over the one-time passwords,
    /// which exist outside this object from this point on only.
    public func commit() throws(ProvisionError) -> [IssuedCredential] {
        guard state == .open else { return [] }
        if dryRun {
            rollback()
            return []
        }
        do {
            if nested {
                if let enclosing { try connection?.release(enclosing) }
            } else {
                try connection?.commit()
            }
        } catch {
            state = .rolledBack
            if error.code == .databaseUnavailable {
                // The server may have committed before the connection went: nobody can say.
                commitOutcomeUnknown = true
                emailsOfUnknownOutcome = journal.issued.map(\.email)
            }
            journal.issued = []
            throw error
        }
        state = .committed
        passwords.stop()
        defer { journal.issued = [] }
        return journal.issued
    }

    /// COMMIT was sent but no answer came (the connection was lost): the run may or may
    /// not have committed, and must never be reported as rolled back.
    public private(set) var commitOutcomeUnknown = false
    /// The users of the one-time passwords issued and not shown (yet): before the commit,
    /// those the run holds; after a COMMIT without an answer, those it held then, to
    /// reset if the run did commit.
    public var unshownPasswordEmails: [String] { commitOutcomeUnknown ? emailsOfUnknownOutcome : journal.issued.map(\.email) }
    /// The passwords themselves are dropped with the journal's; their users are kept.
    private var emailsOfUnknownOutcome: [String] = []

    public func rollback() {
        passwords.stop()
        if state == .open {
            if nested {
                if let enclosing { _ = try? connection?.rollback(to: enclosing) }
            } else {
                connection?.rollback()
            }
        }
        state = .rolledBack
        journal.issued = []
    }

    public func warn(_ message: String) { journal.warnings.append(message) }

    /// How many one-time passwords the run has issued so far (none are shown before the
    /// commit): a credentials file is made only when there is something to put in it.
    public var issuedPasswordCount: Int { journal.issued.count }


    /// Starts hashing `count` one-time passwords on every core, for the Owners a batch
    /// is about to create; `createOwner` takes them as it needs them. Dry runs create
    /// no passwords, so they hash nothing.
    func prepareOneTimePasswords(_ count: Int) {
        guard !isPlanning, count > 0 else { return }
        passwords.prepare(count)
    }

    /// For a re-run (skipping what exists): when the tenant already exists with this Owner,
    /// records it as `unchanged` (its fields match the input) or `differs` (each differing
    /// field named), changes nothing, and returns the differences (empty: unchanged); nil
    /// when it is not provisioned that way (the caller then creates it, and meets any
    /// conflict). Without a database there is nothing to compare with: nil.
    public func keepExisting(_ tenant: TenantSpec, owner: OwnerSpec) throws(ProvisionError) -> [ExistingProvision.Difference]? {
        guard let store else { return nil }
        try requireOpen()
        guard try store.isOwner(slug: tenant.slug, email: owner.email),
              let existing = try store.tenant(slug: tenant.slug), let user = try store.user(email: owner.email) else { return nil }
        observe(tenant: existing, slug: tenant.slug)
        observe(user: user, email: owner.email)
        typealias Difference = ExistingProvision.Difference
        var differences: [Difference] = [
            Difference(field: .tenantName, database: existing.name, input: tenant.name),
            Difference(field: .timeZone, database: existing.timeZone, input: tenant.timeZone),
            Difference(field: .supportEmail, database: existing.supportEmail, input: tenant.supportEmail),
            Difference(field: .supportPhone, database: existing.supportPhone, input: tenant.supportPhone),
        ]
        // The Owner's name only when the input gives one: a shared Owner keeps theirs.
        if let name = owner.name { differences.append(Difference(field: .ownerName, database: user.name, input: name)) }
        differences.removeAll { $0.database == $0.input }
        if differences.isEmpty {
            journal.outcomes.append(.unchanged(tenantSlug: tenant.slug, ownerEmail: user.email))
            journal.actions.append("keep tenant \(tenant.slug) (already provisioned with owner \(user.email))")
        } else {
            journal.outcomes.append(.differs(ExistingProvision(tenant: existing, ownerEmail: user.email, differences: differences)))
            journal.actions.append("keep tenant \(tenant.slug) (already provisioned with owner \(user.email), but \(differences.count) field\(differences.count == 1 ? " differs" : "s differ") from the input; nothing was changed)")
        }
        return differences
    }

    /// How many of these emails (lowercased) belong to users already; 0 without a database.
    func existingUserCount(emails: [String]) throws(ProvisionError) -> Int {
        guard let store, !emails.isEmpty else { return 0 }
        try requireOpen()
        return try store.existingUserCount(emails: emails)
    }


    // MARK: Units

    /// A savepoint unit: it commits with the run, or fails alone (`rollback(unit)`),
    /// taking with it everything it did: rows, planned conflicts, actions, passwords.
    public struct Unit {
        fileprivate let savepoint: Savepoint?
        /// Where the journal was when the unit began.
        fileprivate let mark: Journal.Mark
        fileprivate let planning: Bool
    }

    /// Opens a unit; with `planning`, primitives inside it plan instead of writing (a dry
    /// run inside the run, whose plan `rollback(_:error:)` returns).
    ///
    /// With `savepoint: false` the unit takes no subtransaction (PostgreSQL caches only 64
    /// per transaction before every other session's snapshots slow down): its primitives
    /// never abort the transaction (conflicts are found before writing, and a lost race by
    /// `ON CONFLICT DO NOTHING`), and rolling it back removes the rows it inserted
    /// (`compensate`). Only creating primitives belong in such a unit (a batch's rows, and
    /// each primitive a script calls on its own).
    public func beginUnit(planning: Bool = false, savepoint: Bool = true) throws(ProvisionError) -> Unit {
        try requireOpen()
        let point = savepoint ? try connection?.savepoint() : nil
        if planning { planningDepth += 1 }
        return Unit(savepoint: point, mark: journal.mark, planning: planning)
    }

    /// Keeps what the unit did.
    public func release(_ unit: Unit) throws(ProvisionError) {
        if unit.planning { planningDepth -= 1 }
        if let savepoint = unit.savepoint, state == .open { try connection?.release(savepoint) }
    }

    /// Undoes what the unit did. With `error`, the failure is recorded for the report
    /// under the first slug the unit tried to create. Returns the unit's actions and
    /// warnings (the plan of a planning unit).
    @discardableResult
    public func rollback(_ unit: Unit, error: ProvisionError? = nil) throws(ProvisionError) -> (actions: [String], warnings: [String]) {
        if unit.planning { planningDepth -= 1 }
        if let savepoint = unit.savepoint, state == .open {
            try connection?.rollback(to: savepoint)
        } else if state == .open, !isPlanning {
            try compensate(since: unit.mark)
        }
        let undone = (Array(journal.actions(since: unit.mark)), Array(journal.warnings(since: unit.mark)))
        journal.rollBack(to: unit.mark, failing: error)
        return undone
    }

    /// Removes what was inserted since `snapshot` (a savepoint-free unit that failed):
    /// its memberships, users and tenants, newest first, and their audit rows.
    private func compensate(since mark: Journal.Mark) throws(ProvisionError) {
        // After a database error the transaction is aborted: nothing to remove, nothing
        // more to write (`requireOpen` says so to whatever comes next).
        guard let store, connection?.transactionAborted != true else { return }
        let memberships = journal.memberships(since: mark).filter { !$0.planned }
        let users = journal.users(since: mark).filter { $0.created && !$0.planned }
        let tenants = journal.outcomes(since: mark).compactMap { outcome -> Tenant? in
            if case .tenant(let tenant) = outcome, !tenant.planned { tenant } else { nil }
        }
        for membership in memberships.reversed() {
            if let tenantId = membership.tenantId.flatMap(UUID.init(uuidString:)), let userId = membership.userId.flatMap(UUID.init(uuidString:)) {
                try store.deleteMembership(tenantId: tenantId, userId: userId, runId: audit.runId)
            }
        }
        for user in users.reversed() {
            if let id = user.id.flatMap(UUID.init(uuidString:)) { try store.deleteUser(id: id, runId: audit.runId) }
        }
        for tenant in tenants.reversed() {
            if let id = tenant.id.flatMap(UUID.init(uuidString:)) { try store.deleteTenant(id: id, runId: audit.runId) }
        }
    }

    // MARK: Look-ups

    public func findTenant(slug: String) throws(ProvisionError) -> Tenant? {
        let tenant = try store?.tenant(slug: slug)
        observe(tenant: tenant, slug: slug)
        return tenant
    }

    /// Case-insensitive, as the schema's unique index is.
    public func findUser(email: String) throws(ProvisionError) -> User? {
        let user = try store?.user(email: email)
        observe(user: user, email: email)
        return user
    }

    /// Where the run's database is, without the password (nil without one).
    public var databaseTarget: String? { connection?.safeTarget }

    /// What planning saw in the database, for a plan: each look-up's answer.
    public var preconditions: [Precondition] { journal.preconditions }

    private func observe(tenant: Tenant?, slug: String) {
        guard isPlanning, store != nil else { return }
        journal.observe(tenant?.id.map { .tenantExists(slug: slug, id: $0) } ?? .tenantAbsent(slug: slug))
    }

    private func observe(user: User?, email: String) {
        guard isPlanning, store != nil else { return }
        let key = email.lowercased()
        journal.observe(user?.id.map { .userExists(email: key, id: $0) } ?? .userAbsent(email: key))
    }

    /// Each precondition of a plan that no longer holds, worded for the operator: who
    /// created the tenant or user that is now in the way, when, and in which run.
    public func stalePreconditions(_ preconditions: [Precondition]) throws(ProvisionError) -> [String] {
        guard let store else { return [] }
        try requireOpen()
        var stale: [String] = []
        for precondition in preconditions {
            switch precondition {
            case .tenantAbsent(let slug):
                if try store.tenant(slug: slug) != nil {
                    stale.append("tenant slug \(slug) now exists\(try store.creation(action: "tenant.create", key: "slug", value: slug))")
                }
            case .tenantExists(let slug, let id):
                if let tenant = try store.tenant(slug: slug) {
                    if tenant.id != id { stale.append("tenant \(slug) is another tenant now (id \(tenant.id ?? ""), planned against \(id))") }
                } else {
                    stale.append("tenant \(slug) no longer exists")
                }
            case .userAbsent(let email):
                if try store.user(email: email) != nil {
                    stale.append("user \(email) now exists\(try store.creation(action: "user.create", key: "email", value: email))")
                }
            case .userExists(let email, let id):
                if let user = try store.user(email: email) {
                    if user.id != id { stale.append("user \(email) is another user now (id \(user.id ?? ""), planned against \(id))") }
                } else {
                    stale.append("user \(email) no longer exists")
                }
            }
        }
        return stale
    }

    /// The SHA-256 of `bytes` in hex, computed by the database (PostgreSQL's `sha256`).
    public func sha256(_ bytes: [UInt8]) throws(ProvisionError) -> String {
        guard let connection else {
            throw ProvisionError(.databaseUnavailable, "a digest needs the database (DATABASE_URL is not set)")
        }
        let rows = try connection.run("SELECT encode(sha256(\(Bind.bytea(bytes))), 'hex') AS digest")
        return try Store.only(rows).decode(String.self, "digest")
    }

    /// A tenant by slug: one this run created or planned, else the database's.
    public func lookUpTenant(slug: String) throws(ProvisionError) -> Tenant? {
        // Newest first, without building the list of every tenant (a loop of look-ups in a
        // large run stays linear).
        for outcome in journal.outcomes.reversed() {
            if case .tenant(let tenant) = outcome, tenant.slug == slug { return tenant }
        }
        return try findTenant(slug: slug)
    }

    /// A user by email (case-insensitive): one this run created or planned, else the database's.
    public func lookUpUser(email: String) throws(ProvisionError) -> User? {
        if let user = journal.users.last(where: { $0.email.lowercased() == email.lowercased() }) { return user }
        return try findUser(email: email)
    }

    /// A read-only query in the run's transaction, for playbooks and checks
    /// (`ReadOnlyQuery` has the fences): its rows never take more than `maxBytes`
    /// (`limit_exceeded` past it).
    public func readOnlyQuery(_ text: String, parameters: [Bind], maxBytes: Int? = nil) throws(ProvisionError) -> Rows {
        guard let connection else {
            throw ProvisionError(.databaseUnavailable, "this dry run has no database (DATABASE_URL is not set), so it cannot query")
        }
        let query = try ReadOnlyQuery(text, parameters: parameters, maxBytes: maxBytes)
        try requireOpen()
        let identity: ReadOnlyQuery.Identity
        if let known = queryIdentity {
            identity = known
        } else {
            identity = try ReadOnlyQuery.identity(on: connection)
            queryIdentity = identity
        }
        return try query.run(on: connection, as: identity)
    }

    /// Bounds every statement until the current unit ends (a go-live check's own limit):
    /// on the server a second later than `deadline`, which cancels first and says why.
    public func limitStatements(toMilliseconds milliseconds: Int) throws(ProvisionError) {
        guard let connection else { return }
        try connection.run("SELECT set_config('statement_timeout', \(String(max(1, milliseconds) + 1000)), true)")
    }

    /// The wall-clock deadline over the run's statements (a playbook's time limit, a
    /// check's limit; nil for none): a statement still running then is cancelled on the
    /// server. Returns the one it replaces.
    @discardableResult
    public func setDeadline(_ deadline: Connection.Deadline?) -> Connection.Deadline? {
        let previous = connection?.deadline
        connection?.deadline = deadline
        return previous
    }

    // MARK: Primitives

    public func createTenant(_ spec: TenantSpec) throws(ProvisionError) -> Tenant {
        try requireOpen()
        journal.attempt(slug: spec.slug)
        if let zone = spec.timeZone { try requireDatabaseKnows(timeZone: zone) }
        if journal.plannedSlugs.contains(spec.slug) { throw ProvisionError.slugExists(spec.slug, inThisRun: true) }
        // Writing, the insert itself finds a taken slug (one round trip instead of two).
        if isPlanning || store == nil, try findTenant(slug: spec.slug) != nil { throw ProvisionError.slugExists(spec.slug) }
        if spec.supportEmail == nil && spec.supportPhone == nil {
            warn("tenant \(spec.slug) has no support email or phone: the portal will show a generic “contact your center” message")
        }
        journal.actions.append("create tenant \(spec.slug)")
        guard let store, !isPlanning else {
            journal.plan(slug: spec.slug)
            return record(Tenant(id: nil, slug: spec.slug, name: spec.name, timeZone: spec.timeZone,
                                 supportEmail: spec.supportEmail, supportPhone: spec.supportPhone, planned: true))
        }
        // A taken slug (by this run, by a run that committed before, or meanwhile) is found by
        // the insert (ON CONFLICT DO NOTHING), which never aborts the transaction.
        guard let id = try store.insertTenant(spec, audit: audit) else { throw ProvisionError.slugExists(spec.slug) }
        return record(Tenant(id: id.sqlText, slug: spec.slug, name: spec.name, timeZone: spec.timeZone,
                             supportEmail: spec.supportEmail, supportPhone: spec.supportPhone, planned: false))
    }

    /// Creates the Owner's user with a one-time password, or (with `allowExistingUser`)
    /// reuses an existing user, who keeps their password. `forTenant` labels the
    /// credential for the operator.
    public func createOwner(_ spec: OwnerSpec, forTenant tenantSlug: String? = nil) throws(ProvisionError) -> User {
        try requireOpen()
        let key = spec.email.lowercased()
        let existing: User?
        if let planned = journal.plannedUsers[key] {
            existing = planned
        } else if isPlanning || store == nil || spec.allowExistingUser {
            existing = try findUser(email: spec.email)
        } else {
            existing = nil  // writing a new user: the insert itself finds a taken email
        }
        if let existing {
            guard spec.allowExistingUser else { throw ProvisionError.emailExists(existing.email, inThisRun: existing.planned) }
            journal.actions.append("use existing user \(existing.email)")
            return record(User(id: existing.id, email: existing.email, name: existing.name, created: false,
                               planned: existing.planned || isPlanning))
        }
        journal.actions.append("create user \(spec.email) with a one-time password")
        guard let store, !isPlanning else {
            let user = User(id: nil, email: spec.email, name: spec.name, created: true, planned: true)
            journal.plan(user: user, key: key)
            return record(user)
        }
        let password = try passwords.next()
        let inserted = try store.insertUser(spec, passwordHash: password.hash, lifetimeHours: passwordLifetimeHours, audit: audit)
        guard let inserted else {
            // The email is taken (by this run, before it, or meanwhile).
            guard spec.allowExistingUser else {
                throw ProvisionError.emailExists(try store.user(email: spec.email)?.email ?? spec.email)
            }
            // allowExistingUser lost a race: the user now exists, so link them instead.
            guard let existing = try store.user(email: spec.email) else {
                throw ProvisionError(.databaseError, "user \(spec.email) could neither be created nor found")
            }
            journal.actions[journal.actions.count - 1] = "use existing user \(existing.email)"
            return record(existing)
        }
        journal.issued.append(IssuedCredential(userId: inserted.id.sqlText, email: spec.email, tenantSlug: tenantSlug,
                                               password: password.password, expiresAt: inserted.passwordExpiresAt))
        return record(User(id: inserted.id.sqlText, email: spec.email, name: spec.name, created: true, planned: false))
    }

    public func linkMembership(tenant: Tenant, user: User, role: Role) throws(ProvisionError) -> Membership {
        try requireOpen()
        journal.actions.append("add \(user.email) to \(tenant.slug) as \(role.rawValue)")
        let key = Journal.membershipKey(slug: tenant.slug, email: user.email)
        let conflict = ProvisionError.membershipExists(email: user.email, slug: tenant.slug)
        if journal.plannedMemberships.contains(key) { throw conflict }
        let ids = try (tenant.id.map(Store.id), user.id.map(Store.id))
        if let store, let userId = ids.1, !user.created,
           case .oneTimeExpired(let expiredAt) = try store.passwordState(userId: userId) {
            // Linked, they still could not log in: say so now, not at the go-live check.
            warn("\(user.email) never replaced their one-time password, which expired unused on \(IssuedCredential.iso8601(expiredAt)): they cannot log in until it is reset (\(wording.resetPassword(of: user.email)))")
        }
        guard let store, !isPlanning, let tenantId = ids.0, let userId = ids.1 else {
            if let store, let tenantId = ids.0, let userId = ids.1,
               try store.membershipExists(tenantId: tenantId, userId: userId) {
                throw conflict
            }
            journal.plan(membership: key)
            return record(Membership(tenantId: tenant.id, tenantSlug: tenant.slug, role: role, planned: true, user: user))
        }
        guard try store.insertMembership(tenantId: tenantId, userId: userId, role: role, audit: audit,
                                         detail: ["slug": tenant.slug, "email": user.email, "role": role.rawValue]) else { throw conflict }
        if role == .owner, let index = journal.issued.lastIndex(where: { $0.userId == user.id && $0.tenantSlug == nil }) {
            journal.issued[index].tenantSlug = tenant.slug
        }
        return record(Membership(tenantId: tenant.id, tenantSlug: tenant.slug, role: role, planned: false, user: user))
    }

    /// A new one-time password for an existing user (lost, expired, never delivered): the
    /// same generator, hash and lifetime as a new user's, to be changed at first login,
    /// revealed after the commit like any other. Planning, it only says it would.
    public func resetPassword(email: String) throws(ProvisionError) -> PasswordReset {
        try requireOpen()
        let key = email.lowercased()
        if journal.plannedUsers[key] != nil || journal.users.contains(where: { $0.created && $0.email.lowercased() == key }) {
            throw ProvisionError(.invalidInput, "\(.field) '\(email)': this run creates that user, and their one-time password is shown after the commit; there is nothing to reset",
                                 subject: .email, facts: .init(email: email))
        }
        guard let store else {
            // A dry run without a database cannot know the user: plan it, and say so.
            journal.actions.append("reset the password of \(email): a new one-time password, to be changed at first login")
            let user = User(id: nil, email: email, name: nil, created: false, planned: true)
            let reset = PasswordReset(user: user, memberships: [], previousState: nil, planned: true)
            journal.outcomes.append(.reset(reset))
            return reset
        }
        let user = try store.user(email: email)
        observe(user: user, email: email)
        guard let found = user, let idText = found.id else {
            throw ProvisionError(.notFound, "\(.field) '\(email)': no user has this email",
                                 subject: .email, facts: .init(email: email))
        }
        let id = try Store.id(idText)
        let previous = try store.passwordState(userId: id)
        let memberships = try store.memberships(userId: id)
        journal.actions.append("reset the password of \(found.email): a new one-time password, to be changed at first login")
        if previous == .changed {
            warn("\(found.email) had set their own password: the reset replaces it, and they must log in with the new one-time password")
        }
        if memberships.isEmpty {
            warn("\(found.email) belongs to no tenant: the new password opens no portal until they are added to one")
        }
        guard !isPlanning else {
            let reset = PasswordReset(user: User(id: found.id, email: found.email, name: found.name, created: false, planned: true),
                                      memberships: memberships, previousState: previous, planned: true)
            journal.outcomes.append(.reset(reset))
            return reset
        }
        let password = try passwords.next()
        let expiresAt = try store.resetPassword(userId: id, passwordHash: password.hash, lifetimeHours: passwordLifetimeHours)
        let reset = PasswordReset(user: found, memberships: memberships, previousState: previous, planned: false)
        journal.issued.append(IssuedCredential(userId: idText, email: found.email, tenantSlug: reset.onlyMembership?.slug,
                                               password: password.password, expiresAt: expiresAt))
        try trail?.record(action: "user.reset_password", userId: id, detail: [
            "email": found.email, "previousState": previous.label, "mustChangePassword": "true",
            "passwordExpiresInHours": String(passwordLifetimeHours),
        ])
        journal.outcomes.append(.reset(reset))
        return reset
    }

    /// The safe delete of a tenant provisioned by mistake (CONTRACT §8): its memberships,
    /// the tenant, and each member who belongs to no other tenant and never replaced the
    /// one-time password. Refused (`tenant_in_use`) when any platform row belongs to the
    /// tenant or a member has logged in. The tenant's row is locked first and everything
    /// re-checked under the lock, so a row the platform inserts meanwhile either is seen
    /// (and refuses the delete) or fails after it. Planning, it says what would go.
    public func deleteTenant(slug: String) throws(ProvisionError) -> TenantDeletion {
        try requireOpen()
        guard let store else {
            throw ProvisionError(.databaseUnavailable, "deleting a tenant needs the database (DATABASE_URL is not set): there is nothing to plan without it")
        }
        if journal.tenants.contains(where: { $0.slug == slug }) {
            throw ProvisionError(.invalidInput, "\(.field) '\(slug)': this run creates that tenant; it cannot also delete it",
                                 subject: .tenantSlug, facts: .init(slug: slug))
        }
        if !dryRun { try store.lockTenant(slug: slug) }
        let found = try store.tenant(slug: slug)
        observe(tenant: found, slug: slug)
        guard let tenant = found, let idText = tenant.id else {
            throw ProvisionError(.notFound, "\(.field) '\(slug)': no tenant has this slug", subject: .tenantSlug, facts: .init(slug: slug))
        }
        let id = try Store.id(idText)
        var members = try store.members(tenantId: id)
        if !dryRun {
            try store.lockUsers(members.compactMap { $0.member.user.id.flatMap(UUID.init(uuidString:)) })
            members = try store.members(tenantId: id)
        }
        let inUse = try store.platformRowCounts(tenantId: id).filter { $0.count > 0 }
        let loggedIn = members.filter { $0.member.passwordState == .changed }
        guard inUse.isEmpty && loggedIn.isEmpty else {
            var reasons = inUse.map { "\($0.count) \($0.count == 1 ? String($0.table.dropLast()) : $0.table)" }
            if !loggedIn.isEmpty {
                let emails = loggedIn.map(\.member.user.email).joined(separator: ", ")
                reasons.append("\(loggedIn.count) member\(loggedIn.count == 1 ? " has" : "s have") logged in (\(emails))")
            }
            throw ProvisionError(.tenantInUse, "tenant '\(slug)' is in use and cannot be deleted: \(reasons.joined(separator: ", ")). Only a tenant with no platform rows whose members never logged in can be deleted",
                                 subject: nil, facts: .init(slug: slug))
        }
        let removed = members.map { entry in
            TenantDeletion.Member(user: entry.member.user, role: entry.member.role, removed: entry.otherTenants == 0)
        }
        for member in removed {
            journal.actions.append(member.removed
                ? "delete user \(member.user.email) (\(member.role.rawValue); never logged in, no other tenant)"
                : "keep user \(member.user.email) (a member of another tenant too); remove them from \(slug)")
        }
        journal.actions.append("delete tenant \(slug)")
        let deletion = TenantDeletion(tenant: tenant, members: removed, planned: isPlanning)
        guard !isPlanning else {
            journal.outcomes.append(.deleted(deletion))
            return deletion
        }
        let users = removed.filter(\.removed).compactMap { $0.user.id.flatMap(UUID.init(uuidString:)) }
        try store.deleteTenant(id: id, users: users)
        try trail?.record(action: "tenant.delete", tenantId: id, detail: [
            "slug": tenant.slug, "name": tenant.name,
            "deletedUsers": removed.filter(\.removed).map(\.user.email).joined(separator: ", "),
            "keptUsers": removed.filter { !$0.removed }.map(\.user.email).joined(separator: ", "),
            "memberships": String(removed.count),
        ])
        journal.outcomes.append(.deleted(deletion))
        return deletion
    }

    /// After the commit, when the one-time passwords could not be shown (stdout closed or
    /// full, a credentials file that could not be written): makes each unusable at once,
    /// in a transaction of its own on the run's connection, with a `user.revoke_password`
    /// audit row. Returns the credentials it revoked (one the user already replaced, or
    /// that was reset meanwhile, is left alone).
    public func revoke(_ credentials: [IssuedCredential], reason: String) throws(ProvisionError) -> [IssuedCredential] {
        guard let connection, state == .committed else { return [] }
        return try Self.revoke(credentials, on: connection, audit: audit, reason: reason)
    }

    /// `revoke` on another connection (the run's was lost), in the run's audit context.
    public static func revoke(_ credentials: [IssuedCredential], on connection: Connection, audit: AuditContext,
                              reason: String) throws(ProvisionError) -> [IssuedCredential] {
        guard !credentials.isEmpty else { return [] }
        let store = Store(connection: connection)
        let trail = AuditTrail(connection: connection, context: audit)
        try connection.begin()
        do throws(ProvisionError) {
            var revoked: [IssuedCredential] = []
            for credential in credentials {
                let id = try Store.id(credential.userId)
                guard try store.revokeOneTimePassword(userId: id, expiresAt: credential.expiresAtInstant,
                                                      unusableHash: PasswordHash.unusable()) else { continue }
                try trail.record(action: "user.revoke_password", userId: id, detail: ["email": credential.email, "reason": reason])
                revoked.append(credential)
            }
            try connection.commit()
            return revoked
        } catch {
            connection.rollback()
            throw error
        }
    }

    // MARK: Private

    private func record(_ tenant: Tenant) -> Tenant {
        journal.outcomes.append(.tenant(tenant))
        return tenant
    }

    private func record(_ user: User) -> User {
        journal.users.append(user)
        return user
    }

    private func record(_ membership: Membership) -> Membership {
        journal.memberships.append(membership)
        return membership
    }

    /// True once a database error aborted the run's transaction: it can only roll back.
    public var transactionAborted: Bool { connection?.transactionAborted == true }

    private func requireOpen() throws(ProvisionError) {
        if state == .notStarted { try begin() }
        guard state == .open else {
            throw ProvisionError(.playbookError, "this run has already ended; no more changes can be made in it")
        }
        if transactionAborted {
            throw ProvisionError(.databaseError, "an earlier database error aborted this run's transaction: nothing more can be done in it, and nothing of it will be written")
        }
    }

    /// The tz database Foundation reads and PostgreSQL's may differ in age: both must
    /// know the zone, or the platform could not use it.
    private func requireDatabaseKnows(timeZone: String) throws(ProvisionError) {
        guard let store, !knownTimeZones.contains(timeZone) else { return }
        guard try store.knowsTimeZone(timeZone) else {
            throw ProvisionError(.invalidInput, "\(.field) '\(timeZone)' is not known to the database's time-zone data; choose another IANA zone or update PostgreSQL's tzdata",
                                 subject: .timeZone)
        }
        knownTimeZones.insert(timeZone)
    }
}
