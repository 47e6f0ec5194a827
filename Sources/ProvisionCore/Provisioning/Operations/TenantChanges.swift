/// Changes after go-live (CONTRACT §12): a tenant's settings, a member's role, a member
/// removed. Each locks the tenant's row when it writes, so changes to one tenant take
/// turns; a tenant never loses its last OWNER. Planning, each sees what the run planned
/// before it (a dry run writes nothing for it to read back).
extension ProvisioningRun {
    /// Sets, keeps or clears each of the tenant's settings: `updated` with each change,
    /// or `unchanged` when the tenant already has these values (nothing is written).
    /// `owner`: the Owner a converging re-run matched, shown with the result.
    @discardableResult
    public func updateTenant(_ settings: TenantSettings, owner: User? = nil) throws(ProvisionError) -> TenantUpdate {
        try requireOpen()
        let tenant = try tenantToChange(slug: settings.slug)
        func members(_ tenant: Tenant) -> [Membership] {
            owner.map { [Membership(tenant: tenant, user: $0, role: .owner, planned: isPlanning)] } ?? []
        }
        if case .set(let zone) = settings.timeZone { try requireDatabaseKnows(timeZone: zone) }
        let changes = settings.changes(from: tenant)
        let after = settings.applied(to: tenant)
        guard !changes.isEmpty else { return note(TenantUpdate(tenant: tenant, memberships: members(tenant), changes: [], planned: isPlanning)) }
        if after.timeZone == nil && tenant.timeZone != nil {
            warn("tenant \(after.slug) has no time zone now: its go-live time-zone check fails until one is set")
        }
        if after.supportEmail == nil && after.supportPhone == nil && (tenant.supportEmail != nil || tenant.supportPhone != nil) {
            warn("tenant \(after.slug) has no support email or phone now: the portal will show a generic “contact your center” message")
        }
        journal.act(.updateTenant(tenant: tenant.slug, changes: changes))
        if !isPlanning, let store { try store.updateTenant(from: tenant, to: after, audit: audit) }
        return note(TenantUpdate(tenant: after, memberships: members(after), changes: changes, planned: isPlanning))
    }

    /// Changes a member's role: `unchanged` when it already is `role`; refused with
    /// `last_owner` when it would leave the tenant without an OWNER, and with
    /// `not_found` when the user is not a member.
    @discardableResult
    public func setRole(tenant slug: String, email: String, role: Role) throws(ProvisionError) -> TenantUpdate {
        try requireOpen()
        let member = try self.member(slug: slug, email: email)
        let membership = Membership(tenant: member.tenant, user: member.user, role: role, planned: isPlanning)
        guard member.role != role else {
            return note(TenantUpdate(tenant: member.tenant, memberships: [membership], changes: [], planned: isPlanning))
        }
        if member.role == .owner { try requireAnotherOwner(besides: member, change: "making them \(role.rawValue)") }
        journal.act(.setRole(tenant: slug, email: member.user.email, role: role, previous: member.role))
        if let store, !isPlanning, let tenantId = member.tenant.id, let userId = member.user.id {
            try store.updateRole(tenantId: tenantId, userId: userId, to: role, audit: audit,
                                 detail: ["slug": slug, "email": member.user.email, "from": member.role.rawValue, "to": role.rawValue])
        } else {
            journal.plan(role: .member(role), key: member.key)
        }
        let change = TenantUpdate.Change(field: "member \(member.user.email)", from: member.role.rawValue, to: role.rawValue)
        return note(TenantUpdate(tenant: member.tenant, memberships: [membership], changes: [change], planned: isPlanning))
    }

    /// Removes a membership; the user is never deleted (they may belong to other tenants,
    /// and their account is theirs). Refused with `last_owner` for the last OWNER, and
    /// with `not_found` when the user is not a member.
    @discardableResult
    public func removeMember(tenant slug: String, email: String) throws(ProvisionError) -> TenantUpdate {
        try requireOpen()
        let member = try self.member(slug: slug, email: email)
        if member.role == .owner { try requireAnotherOwner(besides: member, change: "removing them") }
        journal.act(.removeMembership(tenant: slug, email: member.user.email, role: member.role, keptBecause: nil))
        if let store, !isPlanning, let tenantId = member.tenant.id, let userId = member.user.id {
            try store.removeMembership(tenantId: tenantId, userId: userId, audit: audit,
                                       detail: ["slug": slug, "email": member.user.email, "role": member.role.rawValue])
        } else {
            journal.plan(role: .removed, key: member.key)
        }
        let change = TenantUpdate.Change(field: "member \(member.user.email)", from: member.role.rawValue, to: nil)
        let membership = Membership(tenant: member.tenant, user: member.user, role: member.role, planned: isPlanning)
        return note(TenantUpdate(tenant: member.tenant, memberships: [membership], changes: [change], planned: isPlanning))
    }

    // MARK: Helpers

    /// An existing tenant to change, as this run last left it. Writing, its row is locked
    /// first and read under the lock; planning, what this run planned for it counts.
    func tenantToChange(slug: String) throws(ProvisionError) -> Tenant {
        guard let store else {
            throw ProvisionError(.databaseUnavailable, "changing a tenant needs the database (DATABASE_URL is not set): there is nothing to compare with without it")
        }
        if !isPlanning { try store.lockTenant(slug: slug) }
        let planned = isPlanning ? journal.last { entry -> Tenant? in
            switch entry {
            case .outcome(.tenant(let tenant)) where tenant.slug == slug: tenant
            case .outcome(.updated(let update)) where update.tenant.slug == slug: update.tenant
            default: nil
            }
        } : nil
        if let planned { return planned }
        if let found = try findTenant(slug: slug) { return found }
        throw ProvisionError(.notFound, "\(.field) '\(slug)': no tenant has this slug", subject: .tenantSlug, facts: .init(slug: slug))
    }

    /// A tenant's member, with their role as this run last left it.
    struct Member {
        let tenant: Tenant
        let user: User
        let role: Role
        var key: String { Journal.membershipKey(slug: tenant.slug, email: user.email) }
    }

    func member(slug: String, email: String) throws(ProvisionError) -> Member {
        let tenant = try tenantToChange(slug: slug)
        guard let user = try lookUpUser(email: email) else {
            throw ProvisionError(.notFound, "\(.field) '\(email)': no user has this email", subject: .email, facts: .init(slug: slug, email: email))
        }
        let key = Journal.membershipKey(slug: slug, email: user.email)
        let role: Role?
        switch journal.plannedRoles[key] {
        case .member(let planned)?: role = planned
        case .removed?: role = nil
        case nil:
            if let store, let tenantId = tenant.id, let userId = user.id {
                role = try store.role(tenantId: tenantId, userId: userId)
            } else {
                role = nil
            }
        }
        guard let role else {
            throw ProvisionError(.notFound, "\(.field) '\(user.email)' is not a member of tenant \(slug)", subject: .email,
                                 facts: .init(slug: slug, email: user.email))
        }
        return Member(tenant: tenant, user: user, role: role)
    }

    /// Refuses (`last_owner`) a change that would leave the member's tenant without an
    /// OWNER: counted in the database under the tenant's lock, with what this run
    /// planned applied on top.
    func requireAnotherOwner(besides member: Member, change: String) throws(ProvisionError) {
        var owners: Set<String> = []
        if let store, let tenantId = member.tenant.id { owners = try store.ownerEmails(tenantId: tenantId) }
        let prefix = Journal.membershipKey(slug: member.tenant.slug, email: "")
        for (key, planned) in journal.plannedRoles where key.hasPrefix(prefix) {
            let email = String(key.dropFirst(prefix.count))
            if planned == .member(.owner) { owners.insert(email) } else { owners.remove(email) }
        }
        owners.remove(member.user.email.lowercased())
        if owners.isEmpty { throw ProvisionError.lastOwner(email: member.user.email, slug: member.tenant.slug, change: change) }
    }

    /// Records the change as the tenant's outcome.
    private func note(_ update: TenantUpdate) -> TenantUpdate {
        journal.append(.outcome(.updated(update)))
        return update
    }
}
