import Foundation

/// One run of provisioning: one connection, one transaction, the primitives that write
/// (or, in a dry run, plan), the actions and warnings an operator sees, and the one-time
/// passwords that are revealed only once the transaction committed.
///
/// A dry run without a database (`connection == nil`) validates and plans, and says that
/// conflict checks were skipped.
public final class ProvisioningRun {
    public let dryRun: Bool
    public let audit: AuditContext
    public let style: FieldStyle
    public let passwordLifetimeHours: Int
    public private(set) var actions: [String] = []
    public private(set) var warnings: [String] = []
    /// What this run created or planned, in order (rolled-back units removed).
    public private(set) var tenants: [Tenant] = []
    public private(set) var users: [User] = []
    public private(set) var memberships: [Membership] = []
    /// Units (savepoints) that failed and were rolled back alone.
    public private(set) var failures: [UnitFailure] = []

    /// True while primitives plan instead of writing: the whole run is a dry run, or a
    /// playbook called `provision.dryRun(fn)`.
    public var isPlanning: Bool { dryRun || planningDepth > 0 }
    private var planningDepth = 0
    private var attemptedSlugs: [String] = []
    /// Every slug in the order the run first met it, for reports in input order.
    public private(set) var slugOrder: [String] = []

    let connection: Connection?
    private var trail: AuditTrail? { connection.map { AuditTrail(connection: $0, context: audit) } }
    private var issued: [IssuedCredential] = []
    private var state: State = .notStarted
    // Dry runs write nothing, so conflicts inside the run are tracked here.
    private var plannedSlugs: Set<String> = []
    private var plannedUsers: [String: User] = [:]
    private var plannedMemberships: Set<String> = []
    private var knownTimeZones: Set<String> = []
    /// Whom read-only queries run as, found at the first one.
    private var queryIdentity: ReadOnlyQuery.Identity?
    /// Passwords hashed ahead on every core, when a batch announced how many it needs.
    private var passwordPool: PasswordPool?
    /// Rows a batch found already provisioned (`--skipExisting`).
    public private(set) var unchanged: [(tenantSlug: String, ownerEmail: String)] = []

    private enum State { case notStarted, open, committed, rolledBack }

    public init(connection: Connection?, dryRun: Bool, audit: AuditContext = AuditContext(),
                style: FieldStyle = .flags, passwordLifetimeHours: Int = 72) {
        precondition(connection != nil || dryRun, "only a dry run may go without a database")
        self.connection = connection
        self.dryRun = dryRun
        self.audit = audit
        self.style = style
        self.passwordLifetimeHours = passwordLifetimeHours
        if connection == nil {
            warn("DATABASE_URL is not set: inputs were validated, but conflict checks against the database were skipped")
        }
    }

    /// Opens the run's transaction: READ ONLY for a dry run, so the database itself
    /// refuses any write.
    public func begin() throws(ProvisionError) {
        guard state == .notStarted else { return }
        try connection?.begin(readOnly: dryRun)
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
            try connection?.commit()
        } catch {
            state = .rolledBack
            issued = []
            throw error
        }
        state = .committed
        passwordPool?.stop()
        defer { issued = [] }
        return issued
    }

    public func rollback() {
        passwordPool?.stop()
        if state == .open { connection?.rollback() }
        state = .rolledBack
        issued = []
    }

    public func warn(_ message: String) { warnings.append(message) }

    /// Starts hashing `count` one-time passwords on every core, for the Owners a batch
    /// is about to create; `createOwner` takes them as it needs them. Dry runs create
    /// no passwords, so they hash nothing.
    public func prepareOneTimePasswords(_ count: Int) {
        guard !isPlanning, count > 0 else { return }
        passwordPool?.stop()
        passwordPool = PasswordPool(count: count)
    }

    /// Records that a tenant already exists with this Owner, so a re-run reports it as
    /// `unchanged` instead of a conflict.
    public func markUnchanged(tenantSlug: String, ownerEmail: String) {
        unchanged.append((tenantSlug, ownerEmail))
        if !slugOrder.contains(tenantSlug) { slugOrder.append(tenantSlug) }
        actions.append("keep tenant \(tenantSlug) (already provisioned with owner \(ownerEmail))")
    }

    // MARK: Units

    /// A savepoint unit: it commits with the run, or fails alone (`rollback(unit)`),
    /// taking with it everything it did: rows, planned conflicts, actions, passwords.
    public struct Unit {
        fileprivate let savepoint: Savepoint?
        fileprivate let snapshot: Snapshot
        fileprivate let planning: Bool
    }

    fileprivate struct Snapshot {
        let plannedSlugs: Set<String>
        let plannedUsers: [String: User]
        let plannedMemberships: Set<String>
        let actions: Int
        let warnings: Int
        let issued: Int
        let tenants: Int
        let users: Int
        let memberships: Int
        let attemptedSlugs: Int
        let unchanged: Int
    }

    /// Opens a unit; with `planning`, primitives inside it plan instead of writing
    /// (`provision.dryRun(fn)`).
    public func beginUnit(planning: Bool = false) throws(ProvisionError) -> Unit {
        try requireOpen()
        let savepoint = try connection?.savepoint()
        if planning { planningDepth += 1 }
        return Unit(savepoint: savepoint, snapshot: Snapshot(
            plannedSlugs: plannedSlugs, plannedUsers: plannedUsers, plannedMemberships: plannedMemberships,
            actions: actions.count, warnings: warnings.count, issued: issued.count, tenants: tenants.count, users: users.count,
            memberships: memberships.count, attemptedSlugs: attemptedSlugs.count, unchanged: unchanged.count), planning: planning)
    }

    /// Keeps what the unit did.
    public func release(_ unit: Unit) throws(ProvisionError) {
        if unit.planning { planningDepth -= 1 }
        if let savepoint = unit.savepoint, state == .open { try connection?.release(savepoint) }
    }

    /// Undoes what the unit did. With `error`, the failure is recorded for the report
    /// under the first slug the unit tried to create. Returns the unit's actions and
    /// warnings (a plan, for `provision.dryRun(fn)`).
    @discardableResult
    public func rollback(_ unit: Unit, error: ProvisionError? = nil) throws(ProvisionError) -> (actions: [String], warnings: [String]) {
        if unit.planning { planningDepth -= 1 }
        if let savepoint = unit.savepoint, state == .open { try connection?.rollback(to: savepoint) }
        let snapshot = unit.snapshot
        let undone = (Array(actions[snapshot.actions...]), Array(warnings[snapshot.warnings...]))
        if let error {
            // Slugs tried inside are kept when an inner unit rolls back, so the
            // outermost failing unit can still name the tenant it was about.
            let slug = attemptedSlugs.count > snapshot.attemptedSlugs ? attemptedSlugs[snapshot.attemptedSlugs] : nil
            failures.append(UnitFailure(tenantSlug: slug, error: error))
            attemptedSlugs.removeSubrange(snapshot.attemptedSlugs...)
        }
        plannedSlugs = snapshot.plannedSlugs
        plannedUsers = snapshot.plannedUsers
        plannedMemberships = snapshot.plannedMemberships
        actions.removeSubrange(snapshot.actions...)
        warnings.removeSubrange(snapshot.warnings...)
        issued.removeSubrange(min(snapshot.issued, issued.count)...)
        tenants.removeSubrange(snapshot.tenants...)
        users.removeSubrange(snapshot.users...)
        memberships.removeSubrange(snapshot.memberships...)
        unchanged.removeSubrange(snapshot.unchanged...)
        return undone
    }

    // MARK: Look-ups

    public func findTenant(slug: String) throws(ProvisionError) -> Tenant? {
        guard let connection else { return nil }
        let rows = try connection.run("""
            SELECT id, slug, name, time_zone, support_email, support_phone
            FROM tenants WHERE slug = \(slug)
            """)
        guard let row = rows.first else { return nil }
        return Tenant(id: row["id"] ?? nil, slug: (row["slug"] ?? nil) ?? slug, name: (row["name"] ?? nil) ?? "",
                      timeZone: row["time_zone"] ?? nil, supportEmail: row["support_email"] ?? nil,
                      supportPhone: row["support_phone"] ?? nil, planned: false)
    }

    /// Case-insensitive, as the schema's unique index is.
    public func findUser(email: String) throws(ProvisionError) -> User? {
        guard let connection else { return nil }
        let rows = try connection.run("SELECT id, email, name FROM users WHERE lower(email) = lower(\(email))")
        guard let row = rows.first else { return nil }
        return User(id: row["id"] ?? nil, email: (row["email"] ?? nil) ?? email, name: row["name"] ?? nil,
                    created: false, planned: false)
    }

    /// A tenant by slug: one this run created or planned, else the database's.
    public func lookUpTenant(slug: String) throws(ProvisionError) -> Tenant? {
        if let tenant = tenants.last(where: { $0.slug == slug }) { return tenant }
        return try findTenant(slug: slug)
    }

    /// A user by email (case-insensitive): one this run created or planned, else the database's.
    public func lookUpUser(email: String) throws(ProvisionError) -> User? {
        if let user = users.last(where: { $0.email.lowercased() == email.lowercased() }) { return user }
        return try findUser(email: email)
    }

    public func resolveTenant(slug: String, field: String) throws(ProvisionError) -> Tenant {
        guard let tenant = try lookUpTenant(slug: slug) else {
            throw ProvisionError(.notFound, "tenant '\(slug)' does not exist", field: field)
        }
        return tenant
    }

    public func resolveUser(email: String, field: String) throws(ProvisionError) -> User {
        guard let user = try lookUpUser(email: email) else {
            throw ProvisionError(.notFound, "user '\(email)' does not exist", field: field)
        }
        return user
    }

    /// A read-only query in the run's transaction, for playbooks and checks (`ReadOnlyQuery`
    /// has the fences): read-only, as the least-privilege role, in a savepoint rolled back
    /// afterwards, its rows fetched in chunks that never take more than `maxBytes`
    /// (`limit_exceeded` past it). Session-level advisory locks a query took are released
    /// with it.
    public func readOnlyQuery(_ text: String, parameters: [String?], maxBytes: Int? = nil) throws(ProvisionError) -> Rows {
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
        let savepoint = try connection.savepoint()
        do throws(ProvisionError) {
            let rows = try query.run(on: connection, as: identity)
            try connection.rollback(to: savepoint)
            try connection.run("SELECT pg_advisory_unlock_all()")
            return rows
        } catch {
            try? connection.rollback(to: savepoint)
            _ = try? connection.run("SELECT pg_advisory_unlock_all()")
            throw error
        }
    }

    /// Bounds every statement until the current unit ends (a go-live check's own limit).
    public func limitStatements(toMilliseconds milliseconds: Int) throws(ProvisionError) {
        guard let connection else { return }
        try connection.run("SELECT set_config('statement_timeout', \(String(max(1, milliseconds))), true)")
    }

    // MARK: Primitives

    public func createTenant(_ spec: TenantSpec) throws(ProvisionError) -> Tenant {
        try requireOpen()
        attemptedSlugs.append(spec.slug)
        if !slugOrder.contains(spec.slug) { slugOrder.append(spec.slug) }
        if let zone = spec.timeZone { try requireDatabaseKnows(timeZone: zone) }
        if plannedSlugs.contains(spec.slug) { throw slugExists(spec.slug, inThisRun: true) }
        if try findTenant(slug: spec.slug) != nil { throw slugExists(spec.slug) }
        if spec.supportEmail == nil && spec.supportPhone == nil {
            warn("tenant \(spec.slug) has no support email or phone: the portal will show a generic “contact your center” message")
        }
        actions.append("create tenant \(spec.slug)")
        guard let connection, !isPlanning else {
            plannedSlugs.insert(spec.slug)
            let tenant = Tenant(id: nil, slug: spec.slug, name: spec.name, timeZone: spec.timeZone,
                                supportEmail: spec.supportEmail, supportPhone: spec.supportPhone, planned: true)
            tenants.append(tenant)
            return tenant
        }
        let rows: Rows
        do {
            rows = try connection.run("""
                INSERT INTO tenants (slug, name, time_zone, support_email, support_phone)
                VALUES (\(spec.slug), \(spec.name), \(spec.timeZone), \(spec.supportEmail), \(spec.supportPhone))
                RETURNING id
                """)
        } catch where error.code == .slugExists {
            // Another run created the slug between our look-up and our insert.
            throw slugExists(spec.slug)
        }
        let id = rows.first?["id"] ?? nil
        try trail?.record(action: "tenant.create", tenantId: id, detail: [
            "slug": spec.slug, "name": spec.name, "timeZone": spec.timeZone ?? "",
            "supportEmail": spec.supportEmail ?? "", "supportPhone": spec.supportPhone ?? "",
        ])
        let tenant = Tenant(id: id, slug: spec.slug, name: spec.name, timeZone: spec.timeZone,
                            supportEmail: spec.supportEmail, supportPhone: spec.supportPhone, planned: false)
        tenants.append(tenant)
        return tenant
    }

    /// Creates the Owner's user with a one-time password, or (with `allowExistingUser`)
    /// reuses an existing user, who keeps their password. `forTenant` labels the
    /// credential for the operator.
    public func createOwner(_ spec: OwnerSpec, forTenant tenantSlug: String? = nil) throws(ProvisionError) -> User {
        try requireOpen()
        let key = spec.email.lowercased()
        let existing: User?
        if let planned = plannedUsers[key] { existing = planned } else { existing = try findUser(email: spec.email) }
        if let existing {
            guard spec.allowExistingUser else { throw emailExists(existing.email, inThisRun: existing.planned) }
            actions.append("use existing user \(existing.email)")
            let user = User(id: existing.id, email: existing.email, name: existing.name, created: false, planned: existing.planned || isPlanning)
            users.append(user)
            return user
        }
        actions.append("create user \(spec.email) with a one-time password")
        guard let connection, !isPlanning else {
            let user = User(id: nil, email: spec.email, name: spec.name, created: true, planned: true)
            plannedUsers[key] = user
            users.append(user)
            return user
        }
        let password: OneTimePassword
        let hash: String
        if let hashed = try passwordPool?.take() {
            (password, hash) = (hashed.password, hashed.hash)
        } else {
            password = OneTimePassword.generate()
            hash = try PasswordHash.argon2id(password)
        }
        let conflictClause = spec.allowExistingUser ? "ON CONFLICT ((lower(email))) DO NOTHING" : ""
        let insert = SQL(unsafeText: """
            INSERT INTO users (email, name, password_hash, must_change_password, password_expires_at)
            VALUES ($1, $2, $3, true, now() + make_interval(hours => $4::int))
            \(conflictClause)
            RETURNING id, to_char(password_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS expires_at
            """, parameters: [spec.email, spec.name, hash, String(passwordLifetimeHours)])
        let rows: Rows
        do {
            rows = try connection.run(insert)
        } catch where error.code == .emailExists {
            throw emailExists(spec.email)
        }
        guard let row = rows.first, let id = row["id"] ?? nil else {
            // allowExistingUser lost a race: the user now exists, so link them instead.
            guard let existing = try findUser(email: spec.email) else {
                throw ProvisionError(.databaseError, "user \(spec.email) could neither be created nor found")
            }
            actions[actions.count - 1] = "use existing user \(existing.email)"
            users.append(existing)
            return existing
        }
        issued.append(IssuedCredential(userId: id, email: spec.email, tenantSlug: tenantSlug, password: password,
                                       expiresAt: (row["expires_at"] ?? nil) ?? ""))
        try trail?.record(action: "user.create", userId: id, detail: [
            "email": spec.email, "name": spec.name ?? "", "mustChangePassword": "true",
            "passwordExpiresInHours": String(passwordLifetimeHours),
        ])
        let user = User(id: id, email: spec.email, name: spec.name, created: true, planned: false)
        users.append(user)
        return user
    }

    public func linkMembership(tenant: Tenant, user: User, role: Role) throws(ProvisionError) -> Membership {
        try requireOpen()
        actions.append("add \(user.email) to \(tenant.slug) as \(role.rawValue)")
        let key = "\(tenant.slug)\u{0}\(user.email.lowercased())"
        if plannedMemberships.contains(key) { throw membershipExists(user.email, tenant.slug) }
        guard let connection, !isPlanning, let tenantId = tenant.id, let userId = user.id else {
            if let connection, let tenantId = tenant.id, let userId = user.id {
                let rows = try connection.run("SELECT 1 FROM memberships WHERE tenant_id = \(tenantId)::uuid AND user_id = \(userId)::uuid")
                if !rows.isEmpty { throw membershipExists(user.email, tenant.slug) }
            }
            plannedMemberships.insert(key)
            let membership = Membership(tenantId: tenant.id, tenantSlug: tenant.slug, role: role, planned: true, user: user)
            memberships.append(membership)
            return membership
        }
        do {
            try connection.run("""
                INSERT INTO memberships (tenant_id, user_id, role)
                VALUES (\(tenantId)::uuid, \(userId)::uuid, \(role.rawValue))
                """)
        } catch where error.code == .membershipExists {
            throw membershipExists(user.email, tenant.slug)
        }
        try trail?.record(action: "membership.create", tenantId: tenantId, userId: userId, detail: [
            "slug": tenant.slug, "email": user.email, "role": role.rawValue,
        ])
        let membership = Membership(tenantId: tenantId, tenantSlug: tenant.slug, role: role, planned: false, user: user)
        memberships.append(membership)
        if role == .owner, let index = issued.firstIndex(where: { $0.userId == userId && $0.tenantSlug == nil }) {
            issued[index].tenantSlug = tenant.slug
        }
        return membership
    }

    // MARK: Private

    private func requireOpen() throws(ProvisionError) {
        if state == .notStarted { try begin() }
        guard state == .open else {
            throw ProvisionError(.playbookError, "this run has already ended; no more changes can be made in it")
        }
    }

    /// The tz database Foundation reads and PostgreSQL's may differ in age: both must
    /// know the zone, or the platform could not use it.
    private func requireDatabaseKnows(timeZone: String) throws(ProvisionError) {
        guard let connection, !knownTimeZones.contains(timeZone) else { return }
        let rows = try connection.run("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = \(timeZone)) AS known")
        guard rows.first?["known"] == "t" else {
            let field = Field.timeZone.name(in: style)
            throw ProvisionError(.invalidInput, "\(field) '\(timeZone)' is not known to the database's time-zone data; choose another IANA zone or update PostgreSQL's tzdata", field: field)
        }
        knownTimeZones.insert(timeZone)
    }

    private func slugExists(_ slug: String, inThisRun: Bool = false) -> ProvisionError {
        let field = Field.tenantSlug.name(in: style)
        let place = inThisRun ? "is already planned earlier in this run" : "already exists"
        return ProvisionError(.slugExists, "tenant slug '\(slug)' \(place): choose a new slug or delete the existing tenant (if safe)", field: field)
    }

    private func emailExists(_ email: String, inThisRun: Bool = false) -> ProvisionError {
        let field = Field.ownerEmail.name(in: style)
        let place = inThisRun ? "is already planned earlier in this run" : "already belongs to a user"
        let remedy = style == .lua ? "pass allowExistingUser = true" : "re-run with --allowExistingUser"
        return ProvisionError(.emailExists, "owner email '\(email)' \(place): \(remedy) if this user should intentionally belong to several tenants (membership), otherwise use another email", field: field)
    }

    private func membershipExists(_ email: String, _ slug: String) -> ProvisionError {
        ProvisionError(.membershipExists, "\(email) is already a member of tenant \(slug)")
    }
}
