#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One-time passwords after provisioning (CONTRACT §8): a reset for an existing user, and
/// the revoke of passwords that could not be shown after the commit.
extension ProvisioningRun {
    /// A new one-time password for an existing user (lost, expired, never delivered): the
    /// same generator, hash and lifetime as a new user's, to be changed at first login,
    /// revealed after the commit like any other. Planning, it only says it would.
    public func resetPassword(email: String) throws(ProvisionError) -> PasswordReset {
        try requireOpen()
        let key = email.lowercased()
        let createdHere = journal.plannedUsers[key] != nil || journal.last { entry -> Bool? in
            if case .user(let user) = entry, user.created, user.email.lowercased() == key { true } else { nil }
        } == true
        if createdHere {
            throw ProvisionError(.invalidInput, "\(.field) '\(email)': this run creates that user, and their one-time password is shown after the commit; there is nothing to reset",
                                 subject: .email, facts: .init(email: email))
        }
        guard let store else {
            // A dry run without a database cannot know the user: plan it, and say so.
            journal.act(.resetPassword(email: email))
            let user = User(stored: .planned, email: email, name: nil, created: false)
            let reset = PasswordReset(user: user, memberships: [], previousState: nil, planned: true)
            journal.append(.outcome(.reset(reset)))
            return reset
        }
        let user = try store.user(email: email)
        observe(user: user, email: email)
        guard let found = user, let id = found.id else {
            throw ProvisionError(.notFound, "\(.field) '\(email)': no user has this email",
                                 subject: .email, facts: .init(email: email))
        }
        let previous = try store.passwordState(userId: id)
        let memberships = try store.memberships(userId: id)
        journal.act(.resetPassword(email: found.email))
        if previous == .changed {
            warn("\(found.email) had set their own password: the reset replaces it, and they must log in with the new one-time password")
        }
        if memberships.isEmpty {
            warn("\(found.email) belongs to no tenant: the new password opens no portal until they are added to one")
        }
        guard !isPlanning else {
            let reset = PasswordReset(user: found, memberships: memberships, previousState: previous, planned: true)
            journal.append(.outcome(.reset(reset)))
            return reset
        }
        if journal.issued.contains(where: { $0.userId == id }) {
            warn("\(found.email)'s password was already reset in this run: the new one-time password replaces that one, and only the new one is shown")
        }
        let password = try passwords.next()
        let expiresAt = try store.resetPassword(userId: id, passwordHash: password.hash, lifetimeHours: passwordLifetimeHours)
        let reset = PasswordReset(user: found, memberships: memberships, previousState: previous, planned: false)
        journal.append(.issued(IssuedCredential(userId: id, email: found.email, tenantSlug: reset.onlyMembership?.tenant.slug,
                                                password: password.password, expiresAt: expiresAt)))
        try trail?.record(action: "user.reset_password", userId: id.uuid, detail: [
            "email": found.email, "previousState": previous.label, "mustChangePassword": "true",
            "passwordExpiresInHours": String(passwordLifetimeHours),
        ])
        journal.append(.outcome(.reset(reset)))
        return reset
    }

    /// After the commit, when the one-time passwords could not be shown (stdout closed or
    /// full, a credentials file that could not be written): makes each unusable at once,
    /// in a transaction of its own on the run's connection, with a `user.revoke_password`
    /// audit row. Returns the credentials it revoked (one the user already replaced, or
    /// that was reset meanwhile, is left alone).
    public func revoke(_ credentials: [IssuedCredential], reason: String) throws(ProvisionError) -> [IssuedCredential] {
        guard let connection, transaction.state == .committed else { return [] }
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
                guard try store.revokeOneTimePassword(userId: credential.userId, expiresAt: credential.expiresAtInstant,
                                                      unusableHash: PasswordHash.unusable()) else { continue }
                try trail.record(action: "user.revoke_password", userId: credential.userId.uuid,
                                 detail: ["email": credential.email, "reason": reason])
                revoked.append(credential)
            }
            try connection.commit()
            return revoked
        } catch {
            connection.rollback()
            throw error
        }
    }
}
