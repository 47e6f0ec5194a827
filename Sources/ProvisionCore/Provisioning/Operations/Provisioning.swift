/// Provisioning (CONTRACT §4): a tenant, its Owner, the membership that links them, and a
/// re-run's look at a tenant that is already there.
extension ProvisioningRun {
    public func createTenant(_ spec: TenantSpec) throws(ProvisionError) -> Tenant {
        try requireOpen()
        journal.append(.attempt(slug: spec.slug))
        if let zone = spec.timeZone { try requireDatabaseKnows(timeZone: zone) }
        if journal.plannedSlugs.contains(spec.slug) { throw ProvisionError.slugExists(spec.slug, inThisRun: true) }
        // Writing, the insert itself finds a taken slug (one round trip instead of two).
        if isPlanning || store == nil, try findTenant(slug: spec.slug) != nil { throw ProvisionError.slugExists(spec.slug) }
        if spec.supportEmail == nil && spec.supportPhone == nil {
            warn("tenant \(spec.slug) has no support email or phone: the portal will show a generic “contact your center” message")
        }
        journal.act(.createTenant(slug: spec.slug, name: spec.name, timeZone: spec.timeZone, supportEmail: spec.supportEmail,
                                  supportPhone: spec.supportPhone))
        guard let store, !isPlanning else {
            journal.plan(slug: spec.slug)
            return record(Tenant(stored: .planned, slug: spec.slug, name: spec.name, timeZone: spec.timeZone,
                                 supportEmail: spec.supportEmail, supportPhone: spec.supportPhone))
        }
        // A taken slug (by this run, by a run that committed before, or meanwhile) is found by
        // the insert (ON CONFLICT DO NOTHING), which never aborts the transaction.
        guard let id = try store.insertTenant(spec, audit: audit) else { throw ProvisionError.slugExists(spec.slug) }
        return record(Tenant(stored: .stored(id), slug: spec.slug, name: spec.name, timeZone: spec.timeZone,
                             supportEmail: spec.supportEmail, supportPhone: spec.supportPhone))
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
            guard spec.allowExistingUser else { throw ProvisionError.emailExists(existing.email, inThisRun: existing.planned, field: spec.fields.email) }
            journal.act(.useExistingUser(email: existing.email))
            return record(User(stored: existing.stored, email: existing.email, name: existing.name, created: false))
        }
        guard let store, !isPlanning else {
            journal.act(.createUser(email: spec.email, name: spec.name))
            let user = User(stored: .planned, email: spec.email, name: spec.name, created: true)
            journal.plan(user: user, key: key)
            return record(user)
        }
        let password = try passwords.next()
        let inserted = try store.insertUser(spec, passwordHash: password.hash, lifetimeHours: passwordLifetimeHours, audit: audit)
        guard let inserted else {
            // The email is taken (by this run, before it, or meanwhile).
            guard spec.allowExistingUser else {
                throw ProvisionError.emailExists(try store.user(email: spec.email)?.email ?? spec.email, field: spec.fields.email)
            }
            // allowExistingUser lost a race: the user now exists, so link them instead.
            guard let existing = try store.user(email: spec.email) else {
                throw ProvisionError(.databaseError, "user \(spec.email) could neither be created nor found")
            }
            journal.act(.useExistingUser(email: existing.email))
            return record(existing)
        }
        journal.act(.createUser(email: spec.email, name: spec.name))
        journal.append(.issued(IssuedCredential(userId: inserted.id, email: spec.email, tenantSlug: tenantSlug,
                                                password: password.password, expiresAt: inserted.passwordExpiresAt)))
        return record(User(stored: .stored(inserted.id), email: spec.email, name: spec.name, created: true))
    }

    public func linkMembership(tenant: Tenant, user: User, role: Role) throws(ProvisionError) -> Membership {
        try requireOpen()
        journal.act(.linkMembership(tenant: tenant.slug, email: user.email, role: role))
        let key = Journal.membershipKey(slug: tenant.slug, email: user.email)
        let conflict = ProvisionError.membershipExists(email: user.email, slug: tenant.slug)
        if journal.plannedMemberships.contains(key) { throw conflict }
        if let store, let userId = user.id, !user.created,
           case .oneTimeExpired(let expiredAt) = try store.passwordState(userId: userId) {
            // Linked, they still could not log in: say so now, not at the go-live check.
            warn("\(user.email) never replaced their one-time password, which expired unused on \(IssuedCredential.iso8601(expiredAt)): they cannot log in until it is reset (\(wording.resetPassword(of: user.email)))")
        }
        guard let store, !isPlanning, let tenantId = tenant.id, let userId = user.id else {
            if let store, let tenantId = tenant.id, let userId = user.id,
               try store.membershipExists(tenantId: tenantId, userId: userId) {
                throw conflict
            }
            journal.plan(membership: key)
            journal.plan(role: .member(role), key: key)
            return record(Membership(tenant: tenant, user: user, role: role, planned: true), userCreated: user.created)
        }
        guard try store.insertMembership(tenantId: tenantId, userId: userId, role: role, audit: audit,
                                         detail: ["slug": tenant.slug, "email": user.email, "role": role.rawValue]) else { throw conflict }
        // A new user's one-time password is for the first tenant they join, whatever the role.
        if user.created { journal.label(credentialOf: userId, tenant: tenant.slug) }
        return record(Membership(tenant: tenant, user: user, role: role, planned: false), userCreated: user.created)
    }

    /// For a re-run (skipping what exists): when the tenant already exists with this Owner,
    /// records it as `unchanged` (its fields match the input) or `differs` (each differing
    /// field named), changes nothing, and returns it; nil when it is not provisioned that
    /// way (the caller then creates it, and meets any conflict). Without a database there
    /// is nothing to compare with: nil.
    ///
    /// With `converge` (CONTRACT §12), a tenant with this Owner is changed to the input
    /// instead (`updated` with each change, or `unchanged`; a setting the input leaves
    /// out is cleared, as `differs` would name it), and one with another Owner is
    /// `differs` on its Owner: ownership never changes implicitly. The Owner's name is
    /// the user's own, across tenants: it is never changed, only warned about.
    public func keepExisting(_ tenant: TenantSpec, owner: OwnerSpec, converge: Bool = false) throws(ProvisionError) -> TenantOutcome? {
        guard let store else { return nil }
        try requireOpen()
        guard let existing = try store.tenant(slug: tenant.slug), let tenantId = existing.id else { return nil }
        typealias Difference = ExistingProvision.Difference
        guard try store.isOwner(tenantId: tenantId, email: owner.email), let user = try store.user(email: owner.email) else {
            guard converge else { return nil }
            observe(tenant: existing, slug: tenant.slug)
            let owners = try store.members(tenantId: tenantId).filter { $0.role == .owner }.map(\.user)
            let shown = owners.isEmpty ? nil : owners.map(\.email).joined(separator: ", ")
            let kept = ExistingProvision(tenant: existing, owner: owners.first ?? User(stored: .planned, email: owner.email, name: owner.name, created: false),
                                         differences: [Difference(field: .ownerEmail, database: shown, input: owner.email)])
            return keep(kept)
        }
        observe(tenant: existing, slug: tenant.slug)
        observe(user: user, email: owner.email)
        var differences: [Difference] = [
            Difference(field: .tenantName, database: existing.name, input: tenant.name),
            Difference(field: .timeZone, database: existing.timeZone, input: tenant.timeZone),
            Difference(field: .supportEmail, database: existing.supportEmail, input: tenant.supportEmail),
            Difference(field: .supportPhone, database: existing.supportPhone, input: tenant.supportPhone),
        ]
        // The Owner's name only when the input gives one: a shared Owner keeps theirs.
        if let name = owner.name { differences.append(Difference(field: .ownerName, database: user.name, input: name)) }
        differences.removeAll { $0.database == $0.input }
        guard converge else { return keep(ExistingProvision(tenant: existing, owner: user, differences: differences)) }
        if let name = differences.first(where: { $0.field == .ownerName }) {
            warn("\(user.email) is named '\(name.database ?? "")', not '\(name.input ?? "")' as the input says: a user's name is their own, across tenants, and is not changed by a re-run")
            differences.removeAll { $0.field == .ownerName }
        }
        guard !differences.isEmpty else { return keep(ExistingProvision(tenant: existing, owner: user, differences: [])) }
        let fields = Set(differences.map(\.field))
        func given(_ field: Field, _ value: String?) -> String? { fields.contains(field) ? value : nil }
        let settings = try TenantSettings(
            slug: tenant.slug, name: given(.tenantName, tenant.name), timeZone: given(.timeZone, tenant.timeZone),
            supportEmail: given(.supportEmail, tenant.supportEmail), supportPhone: given(.supportPhone, tenant.supportPhone),
            clearing: differences.filter { $0.input == nil }.map(\.field))
        return .updated(try updateTenant(settings, owner: user))
    }

    private func keep(_ kept: ExistingProvision) -> TenantOutcome {
        journal.append(.outcome(.kept(kept)))
        journal.act(.keepTenant(tenant: kept.tenant.slug, ownerEmail: kept.owner.email, differing: kept.differences.map(\.field)))
        return .kept(kept)
    }
}
