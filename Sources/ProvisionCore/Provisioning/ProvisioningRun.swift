#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One run of provisioning: one transaction (`RunTransaction`), the log of what it did
/// (`Journal`), and the operations that write (or, in a dry run, plan) through them:
/// provisioning (`Operations/Provisioning.swift`), password resets and revokes
/// (`Operations/PasswordReset.swift`), the safe delete (`Operations/SafeDelete.swift`);
/// what planning looked at is in `ProvisioningRun+Planning.swift`. The SQL is in `Store`,
/// passwords in `PasswordSupply`, queries from scripts in `ReadOnlyQuery`. What the run
/// did reaches the front ends as one typed `RunRecord`.
///
/// A dry run without a database (`connection == nil`) validates and plans, and says that
/// conflict checks were skipped.
public final class ProvisioningRun {
    public let dryRun: Bool
    public let audit: AuditContext
    public let passwordLifetimeHours: Int
    /// How warnings name what the operator can do (the front end's terms).
    public var wording: any Wording = PlainWording()

    /// What this run did or planned so far (rolled-back units removed).
    var journal = Journal()

    /// True while primitives plan instead of writing: the whole run is a dry run, or a
    /// planning unit is open (a dry run inside the run).
    public var isPlanning: Bool { dryRun || planningDepth > 0 }
    private var planningDepth = 0

    let transaction: RunTransaction
    var connection: Connection? { transaction.connection }
    let store: Store?
    let trail: AuditTrail?
    let passwords = PasswordSupply()
    /// Zones PostgreSQL was found to know, asked once each.
    var knownTimeZones: Set<String> = []
    /// Whom read-only queries run as, found at the first one.
    private var queryIdentity: ReadOnlyQuery.Identity?

    /// With `nested`, the run lives inside a transaction the caller already opened (a
    /// test's, which is always rolled back): see `RunTransaction`.
    public init(connection: Connection?, dryRun: Bool, audit: AuditContext = AuditContext(), passwordLifetimeHours: Int = 72,
                nested: Bool = false) {
        precondition(connection != nil || dryRun, "only a dry run may go without a database")
        self.transaction = RunTransaction(connection: connection, readOnly: dryRun, nested: nested)
        self.store = connection.map(Store.init)
        self.trail = connection.map { AuditTrail(connection: $0, context: audit) }
        self.dryRun = dryRun
        self.audit = audit
        self.passwordLifetimeHours = passwordLifetimeHours
        if connection == nil {
            warn("DATABASE_URL is not set: inputs were validated, but conflict checks against the database were skipped")
        }
    }

    // MARK: The record

    /// What the run did or planned so far, as every front end shows it.
    public var record: RunRecord {
        RunRecord(runId: audit.runId, dryRun: dryRun, actions: journal.actions, outcomes: outcomes,
                  memberships: journal.memberships, notices: journal.warnings, passwordLifetimeHours: passwordLifetimeHours)
    }

    public var actions: [Action] { journal.actions }
    public var warnings: [String] { journal.warnings }
    public var tenants: [Tenant] { journal.tenants }
    public var users: [User] { journal.users }
    public var memberships: [Membership] { journal.memberships }
    /// Units (savepoints) that failed and were rolled back alone.
    public var failures: [UnitFailure] { journal.failures }

    /// Every tenant's outcome in the order it happened (a batch: the file's order); the
    /// changes to one existing tenant are one `updated` outcome, where it first changed.
    public var outcomes: [TenantOutcome] {
        var outcomes: [TenantOutcome] = []
        var updatedAt: [String: Int] = [:]
        for outcome in journal.outcomes {
            guard case .updated(let update) = outcome else {
                outcomes.append(outcome)
                continue
            }
            if let index = updatedAt[update.tenant.slug], case .updated(var merged) = outcomes[index] {
                merged.tenant = update.tenant
                merged.memberships += update.memberships
                merged.changes += update.changes
                outcomes[index] = .updated(merged)
            } else {
                updatedAt[update.tenant.slug] = outcomes.count
                outcomes.append(outcome)
            }
        }
        return outcomes
    }

    public func warn(_ message: String) { journal.warn(message) }

    // MARK: The transaction

    /// Opens the run's transaction: READ ONLY for a dry run.
    public func begin() throws(ProvisionError) { try transaction.begin() }

    /// Commits (a dry run rolls back instead) and hands over the one-time passwords,
    /// which exist outside this object from this point on only.
    public func commit() throws(ProvisionError) -> [IssuedCredential] {
        guard transaction.state == .open else { return [] }
        if dryRun {
            rollback()
            return []
        }
        let issued = journal.issued
        journal.dropPasswords()
        do {
            guard try transaction.commit() else { return [] }
        } catch {
            if transaction.commitOutcomeUnknown { emailsOfUnknownOutcome = issued.map(\.email) }
            throw error
        }
        passwords.stop()
        return issued
    }

    /// COMMIT was sent but no answer came (the connection was lost): the run may or may
    /// not have committed, and must never be reported as rolled back.
    public var commitOutcomeUnknown: Bool { transaction.commitOutcomeUnknown }
    /// The users of the one-time passwords issued and not shown (yet): before the commit,
    /// those the run holds; after a COMMIT without an answer, those it held then, to
    /// reset if the run did commit.
    public var unshownPasswordEmails: [String] { commitOutcomeUnknown ? emailsOfUnknownOutcome : journal.issued.map(\.email) }
    /// The passwords themselves are dropped with the journal's; their users are kept.
    private var emailsOfUnknownOutcome: [String] = []

    public func rollback() {
        passwords.stop()
        transaction.rollback()
        journal.dropPasswords()
    }

    /// How many one-time passwords the run has issued so far (none are shown before the
    /// commit): a credentials file is made only when there is something to put in it.
    public var issuedPasswordCount: Int { journal.issued.count }

    /// True once a database error aborted the run's transaction: it can only roll back.
    public var transactionAborted: Bool { transaction.aborted }

    func requireOpen() throws(ProvisionError) { try transaction.requireOpen() }

    /// Starts hashing `count` one-time passwords on every core, for the Owners a batch
    /// is about to create; `createOwner` takes them as it needs them. Dry runs create
    /// no passwords, so they hash nothing.
    func prepareOneTimePasswords(_ count: Int) {
        guard !isPlanning, count > 0 else { return }
        passwords.prepare(count)
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
        let point = savepoint ? try transaction.savepoint() : nil
        if planning { planningDepth += 1 }
        return Unit(savepoint: point, mark: journal.mark, planning: planning)
    }

    /// Keeps what the unit did.
    public func release(_ unit: Unit) throws(ProvisionError) {
        if unit.planning { planningDepth -= 1 }
        if let savepoint = unit.savepoint { try transaction.release(savepoint) }
    }

    /// Undoes what the unit did. With `error`, the failure is recorded for the report
    /// under the first slug the unit tried to create. Returns the unit's actions and
    /// warnings (the plan of a planning unit).
    @discardableResult
    public func rollback(_ unit: Unit, error: ProvisionError? = nil) throws(ProvisionError) -> (actions: [Action], warnings: [String]) {
        if unit.planning { planningDepth -= 1 }
        if let savepoint = unit.savepoint {
            try transaction.rollback(to: savepoint)
        } else if transaction.state == .open, !isPlanning {
            try compensate(since: unit.mark)
        }
        var undone: (actions: [Action], warnings: [String]) = ([], [])
        for entry in journal.entries(since: unit.mark) {
            switch entry {
            case .action(let action): undone.actions.append(action)
            case .warning(let warning): undone.warnings.append(warning)
            default: continue
            }
        }
        journal.rollBack(to: unit.mark, failing: error)
        return undone
    }

    /// Removes what was inserted since `mark` (a savepoint-free unit that failed): its
    /// memberships, users and tenants, newest first, and their audit rows.
    private func compensate(since mark: Journal.Mark) throws(ProvisionError) {
        // After a database error the transaction is aborted: nothing to remove, nothing
        // more to write (`requireOpen` says so to whatever comes next).
        guard let store, !transaction.aborted else { return }
        for entry in journal.entries(since: mark).reversed() {
            switch entry {
            case .membership(let membership) where !membership.planned:
                if let tenantId = membership.tenant.id, let userId = membership.user.id {
                    try store.deleteMembership(tenantId: tenantId, userId: userId, runId: audit.runId)
                }
            case .user(let user) where user.created:
                if let id = user.id { try store.deleteUser(id: id, runId: audit.runId) }
            case .outcome(.tenant(let tenant)):
                if let id = tenant.id { try store.deleteTenant(id: id, runId: audit.runId) }
            default: continue
            }
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

    /// A tenant by slug: one this run created or planned, else the database's.
    public func lookUpTenant(slug: String) throws(ProvisionError) -> Tenant? {
        let own = journal.last { entry -> Tenant? in
            if case .outcome(.tenant(let tenant)) = entry, tenant.slug == slug { tenant } else { nil }
        }
        if let own { return own }
        return try findTenant(slug: slug)
    }

    /// A user by email (case-insensitive): one this run created or planned, else the database's.
    public func lookUpUser(email: String) throws(ProvisionError) -> User? {
        let key = email.lowercased()
        let own = journal.last { entry -> User? in
            if case .user(let user) = entry, user.email.lowercased() == key { user } else { nil }
        }
        if let own { return own }
        return try findUser(email: email)
    }

    /// How many of these emails (lowercased) belong to users already; 0 without a database.
    func existingUserCount(emails: [String]) throws(ProvisionError) -> Int {
        guard let store, !emails.isEmpty else { return 0 }
        try requireOpen()
        return try store.existingUserCount(emails: emails)
    }

    /// Where the run's database is, without the password (nil without one).
    public var databaseTarget: String? { connection?.safeTarget }

    /// The SHA-256 of `bytes` in hex, computed by the database (PostgreSQL's `sha256`).
    public func sha256(_ bytes: [UInt8]) throws(ProvisionError) -> String {
        guard let connection else {
            throw ProvisionError(.databaseUnavailable, "a digest needs the database (DATABASE_URL is not set)")
        }
        let rows = try connection.run("SELECT encode(sha256(\(Bind.bytea(bytes))), 'hex') AS digest")
        return try Store.only(rows).decode(String.self, "digest")
    }

    // MARK: Queries and limits

    /// A read-only query in the run's transaction, for playbooks and checks
    /// (`ReadOnlyQuery` has the fences): its rows never take more than `maxBytes`
    /// (`limit_exceeded` past it).
    public func readOnlyQuery(_ text: String, parameters: [Bind], maxBytes: Int? = nil) throws(ProvisionError) -> Rows {
        let connection = try queryConnection()
        let statement: ReadOnlyQuery.Statement
        if let fenced = fencedStatements[text] {
            statement = fenced
        } else {
            statement = try ReadOnlyQuery.statement(text)
            // A check sends the same few texts for every tenant of a fleet.
            if fencedStatements.count >= 256 { fencedStatements.removeAll(keepingCapacity: true) }
            fencedStatements[text] = statement
        }
        return try run(ReadOnlyQuery(statement, parameters: parameters, maxBytes: maxBytes), on: connection)
    }

    /// How many rows of `table`, one of the tenant-scoped tables, belong to `tenant`
    /// (`ctx.count`), read like any query of a script: as `provision_reader`, read-only,
    /// under the check's limit.
    public func countTenantRows(of table: String, tenant: UUID?) throws(ProvisionError) -> Int64 {
        let connection = try queryConnection()
        guard let query = ReadOnlyQuery.tenantCount(of: table, tenant: tenant) else {
            throw ProvisionError(.invalidInput, "'\(table)' is not a table whose rows belong to a tenant", field: "table")
        }
        return try run(query, on: connection).first?.decode(Int64.self, "n") ?? 0
    }

    private func queryConnection() throws(ProvisionError) -> Connection {
        guard let connection else {
            throw ProvisionError(.databaseUnavailable, "this dry run has no database (DATABASE_URL is not set), so it cannot query")
        }
        return connection
    }

    private func run(_ query: ReadOnlyQuery, on connection: Connection) throws(ProvisionError) -> Rows {
        var query = query
        query.statementTimeoutMilliseconds = queryStatementTimeoutMilliseconds
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

    /// Query texts that passed the fence (`ReadOnlyQuery.statement`), by text.
    private var fencedStatements: [String: ReadOnlyQuery.Statement] = [:]

    /// The statement timeout every read-only query runs under while it is set (a
    /// go-live check's own limit, a second later than its deadline, which cancels first
    /// and says why): set in each query's own savepoint, so nothing else is bounded by it.
    public var queryStatementTimeoutMilliseconds: Int?

    /// The wall-clock deadline over the run's statements (a playbook's time limit, a
    /// check's limit; nil for none): a statement still running then is cancelled on the
    /// server. Returns the one it replaces.
    @discardableResult
    public func setDeadline(_ deadline: Connection.Deadline?) -> Connection.Deadline? {
        let previous = connection?.deadline
        connection?.deadline = deadline
        return previous
    }

    // MARK: Recording

    func record(_ tenant: Tenant) -> Tenant {
        journal.append(.outcome(.tenant(tenant)))
        return tenant
    }

    func record(_ user: User) -> User {
        journal.append(.user(user))
        return user
    }

    /// The membership, and, when its tenant existed before the run, that tenant's update.
    func record(_ membership: Membership, userCreated: Bool) -> Membership {
        journal.append(.membership(membership))
        let createdHere = journal.last { entry -> Bool? in
            if case .outcome(.tenant(let tenant)) = entry, tenant.slug == membership.tenant.slug { true } else { nil }
        } ?? false
        if !createdHere {
            let change = TenantUpdate.Change(field: "member \(membership.user.email)", from: nil,
                                             to: membership.role.rawValue + (userCreated ? " (new user)" : ""))
            journal.append(.outcome(.updated(TenantUpdate(tenant: membership.tenant, memberships: [membership], changes: [change],
                                                          planned: membership.planned))))
        }
        return membership
    }

    /// The tz database Foundation reads and PostgreSQL's may differ in age: both must
    /// know the zone, or the platform could not use it.
    func requireDatabaseKnows(timeZone: String) throws(ProvisionError) {
        guard let store, !knownTimeZones.contains(timeZone) else { return }
        guard try store.knowsTimeZone(timeZone) else {
            throw ProvisionError(.invalidInput, "\(.field) '\(timeZone)' is not known to the database's time-zone data; choose another IANA zone or update PostgreSQL's tzdata",
                                 subject: .timeZone)
        }
        knownTimeZones.insert(timeZone)
    }
}
