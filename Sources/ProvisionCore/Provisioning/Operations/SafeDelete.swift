/// The safe delete of a tenant provisioned by mistake (CONTRACT §8, §12).
extension ProvisioningRun {
    /// Its memberships, the tenant, and each member who belongs to no other tenant and
    /// never replaced the one-time password. Refused (`tenant_in_use`) when any platform
    /// row belongs to the tenant or a member has logged in. The tenant's row is locked
    /// first and everything re-checked under the lock, so a row the platform inserts
    /// meanwhile either is seen (and refuses the delete) or fails after it. Planning, it
    /// says what would go.
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
        guard let tenant = found, let id = tenant.id else {
            throw ProvisionError(.notFound, "\(.field) '\(slug)': no tenant has this slug", subject: .tenantSlug, facts: .init(slug: slug))
        }
        var members = try store.members(tenantId: id)
        if !dryRun {
            try store.lockUsers(members.compactMap(\.user.id))
            members = try store.members(tenantId: id)
        }
        let inUse = try store.platformRowCounts(tenantId: id).filter { $0.count > 0 }
        let loggedIn = members.filter { $0.passwordState == .changed }
        guard inUse.isEmpty && loggedIn.isEmpty else {
            var reasons = inUse.map { "\($0.count) \($0.count == 1 ? String($0.table.dropLast()) : $0.table)" }
            if !loggedIn.isEmpty {
                let emails = loggedIn.map(\.user.email).joined(separator: ", ")
                reasons.append("\(loggedIn.count) member\(loggedIn.count == 1 ? " has" : "s have") logged in (\(emails))")
            }
            throw ProvisionError(.tenantInUse, "tenant '\(slug)' is in use and cannot be deleted: \(reasons.joined(separator: ", ")). Only a tenant with no platform rows whose members never logged in can be deleted",
                                 subject: nil, facts: .init(slug: slug))
        }
        // Under the users' locks: a row of another tenant that refers to one of them waits
        // for this transaction (its foreign key check), so it is either seen here or fails.
        let references = try store.references(to: members.compactMap(\.user.id), besides: id)
        let removed = members.map { member in
            let reasons = member.user.id.flatMap { references[$0] } ?? []
            return TenantDeletion.Member(user: member.user, role: member.role, removed: reasons.isEmpty,
                                         keptBecause: reasons.isEmpty ? nil : reasons.joined(separator: "; "))
        }
        for member in removed {
            journal.act(member.removed
                ? .deleteUser(tenant: slug, email: member.user.email, role: member.role)
                : .removeMembership(tenant: slug, email: member.user.email, role: member.role, keptBecause: member.keptBecause))
        }
        journal.act(.deleteTenant(tenant: slug, name: tenant.name))
        let deletion = TenantDeletion(tenant: tenant, members: removed, planned: isPlanning)
        guard !isPlanning else {
            journal.append(.outcome(.deleted(deletion)))
            return deletion
        }
        let users = removed.filter(\.removed).compactMap(\.user.id)
        try store.deleteTenant(id: id, users: users)
        try trail?.record(action: "tenant.delete", tenantId: id.uuid, detail: [
            "slug": tenant.slug, "name": tenant.name,
            "deletedUsers": removed.filter(\.removed).map(\.user.email).joined(separator: ", "),
            "keptUsers": removed.filter { !$0.removed }.map(\.user.email).joined(separator: ", "),
            "memberships": String(removed.count),
        ])
        journal.append(.outcome(.deleted(deletion)))
        return deletion
    }
}
