#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore

/// The one envelope of every command that provisions or changes something (`tenant`,
/// `run`, `batch`, `reset-password`, `delete`, `apply`): CONTRACT §2, §13. It renders the
/// run's typed record (`RunRecord`), and the credentials the commit handed over.
struct RunDocument: JSONDocument {
    typealias Status = OutcomeStatus

    struct Result: Encodable, Sendable {
        /// `null` only for a failure that came before the unit named a tenant, and for a
        /// reset user who belongs to no tenant or to several.
        @Nullable var tenant: TenantRecord?
        let status: Status
        /// Its members this run linked (or would link), every role; the Owner kept; the
        /// user reset; the members a delete removed or kept.
        let users: [UserRecord]
        /// Only for `failed`.
        let error: ErrorRecord?
        /// Only for `differs`: each field whose value in the database is not the input's.
        var differences: [DifferenceRecord]? = nil
        /// Only for `updated` (and its plan): each change, `from` and `to`.
        var changes: [ChangeRecord]? = nil
    }

    struct DifferenceRecord: Encodable, Sendable {
        /// Named as the input names it (a flag, a CSV column, a Lua key).
        let field: String
        @Nullable var database: String?
        @Nullable var input: String?
    }

    struct ChangeRecord: Encodable, Sendable {
        let field: String
        @Nullable var from: String?
        @Nullable var to: String?
    }

    struct UserRecord: Encodable, Sendable, Equatable {
        @Nullable var id: String?
        let email: String
        @Nullable var name: String?
        /// Their role in the result's tenant; null for a reset user who belongs to no
        /// tenant or to several (the result's tenant is null then too).
        @Nullable var role: String?
        /// The run created the user (in a dry run: would create); false when it linked an
        /// existing one.
        let created: Bool
        /// Only in a delete's result: whether the user was deleted with the tenant, and
        /// if not, why they were kept.
        var deleted: Bool? = nil
        var keptBecause: String? = nil

        init(_ user: User, role: Role?, created: Bool? = nil) {
            id = user.id?.description
            email = user.email
            name = user.name
            self.role = role?.rawValue
            self.created = created ?? user.created
        }
    }

    /// A one-time password the run issued: the only place a password is in a document.
    struct CredentialRecord: Encodable, Sendable {
        let credential: IssuedCredential
        /// The tenant the user was added to in this run (as Owner or any other role).
        let tenantSlug: String?

        enum CodingKeys: String, CodingKey { case userId, email, tenantSlug, oneTimePassword, expiresAt }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(credential.userId.description, forKey: .userId)
            try container.encode(credential.email, forKey: .email)
            try container.encode(tenantSlug, forKey: .tenantSlug)
            // Revealed here, while the document is written, and nowhere else.
            try container.encode(credential.password.reveal(), forKey: .oneTimePassword)
            try container.encode(UTCTimestamp(credential.expiresAt), forKey: .expiresAt)
        }
    }

    /// How many results have each status; every status is counted, zeros included.
    struct Summary: Encodable, Sendable, Equatable {
        let counts: [Status: Int]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: StatusKey.self)
            for status in Status.allCases { try container.encode(counts[status] ?? 0, forKey: StatusKey(status)) }
        }

        private struct StatusKey: CodingKey {
            let stringValue: String
            init(_ status: Status) { stringValue = status.rawValue }
            init?(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }
    }

    let command: String
    /// `audit_events.run_id` of the rows this run wrote (a dry run writes none).
    let runId: String
    let dryRun: Bool
    let results: [Result]
    let credentials: [CredentialRecord]
    let summary: Summary
    let actions: [Action]
    let warnings: [String]
    /// Where `--credentialsFile` put the passwords (then `credentials` is empty).
    @Nullable var credentialsFile: String?
    /// One-time passwords the run issued that could not be delivered (a credentials file
    /// that could not be written) and were revoked at once: who, and how to reissue.
    let revokedCredentials: [RevokedRecord]

    struct RevokedRecord: Encodable, Sendable {
        let userId: String
        let email: String
        @Nullable var tenantSlug: String?
        let resetCommand: String
    }
}

extension RunDocument {
    /// The document of a finished run. `credentials` are those `commit()` handed over;
    /// with `credentialsFile` they went there instead, and the document holds none. The
    /// passwords revoked after the commit are actions of their own.
    init(command: Command, record: RunRecord, credentials: [CredentialRecord], credentialsFile: String? = nil,
         revoked: [CredentialRecord] = [], wording: any Wording = ErrorWording.flags) {
        self.init(command: command.rawValue, runId: record.runId.lowercaseText, dryRun: record.dryRun,
                  results: Self.results(of: record, wording: wording),
                  credentials: credentialsFile == nil ? credentials : [],
                  summary: Summary(counts: record.counts),
                  actions: record.actions + revoked.map { .revokePassword(email: $0.credential.email) },
                  warnings: record.notices, credentialsFile: credentialsFile,
                  revokedCredentials: revoked.map { revoked in
                      RevokedRecord(userId: revoked.credential.userId.description, email: revoked.credential.email,
                                    tenantSlug: revoked.tenantSlug, resetCommand: CredentialDelivery.resetCommand(for: revoked.credential.email))
                  })
    }

    /// One result per outcome, in the order the run met them (a batch: the file's order).
    static func results(of record: RunRecord, wording: any Wording = ErrorWording.flags) -> [Result] {
        let bySlug = record.membershipsBySlug
        return record.outcomes.map { outcome in
            let tenant = outcome.tenant.map(TenantRecord.init)
            switch outcome {
            case .tenant(let created):
                return Result(tenant: tenant, status: outcome.status,
                              users: (bySlug[created.slug] ?? []).map { UserRecord($0.user, role: $0.role) }, error: nil)
            case .kept(let existing):
                var result = Result(tenant: tenant, status: outcome.status,
                                    users: [UserRecord(existing.owner, role: .owner, created: false)], error: nil)
                if !existing.differences.isEmpty {
                    result.differences = existing.differences.map { difference in
                        DifferenceRecord(field: wording.name(of: difference.field), database: difference.database, input: difference.input)
                    }
                }
                return result
            case .updated(let update):
                var result = Result(tenant: tenant, status: outcome.status,
                                    users: update.memberships.map { UserRecord($0.user, role: $0.role) }, error: nil)
                if !update.changes.isEmpty {
                    result.changes = update.changes.map { ChangeRecord(field: $0.field, from: $0.from, to: $0.to) }
                }
                return result
            case .failed(let failure):
                return Result(tenant: failure.tenantSlug.map(TenantRecord.init(slug:)), status: outcome.status, users: [],
                              error: ErrorRecord(failure.error))
            case .deleted(let deletion):
                return Result(tenant: tenant, status: outcome.status,
                              users: deletion.members.map { member in
                                  var user = UserRecord(member.user, role: member.role, created: false)
                                  user.deleted = member.removed
                                  user.keptBecause = member.keptBecause
                                  return user
                              },
                              error: nil)
            case .reset(let reset):
                return Result(tenant: tenant, status: outcome.status,
                              users: [UserRecord(reset.user, role: reset.onlyMembership?.role, created: false)], error: nil)
            }
        }
    }

    /// Every credential, each once: those of the results' users in result order first,
    /// then any other (a user created without a membership). Each names the tenant its
    /// user joined in this run, whatever the role.
    static func credentials(_ credentials: [IssuedCredential], of record: RunRecord) -> [CredentialRecord] {
        // Each user's first place among the results, and first tenant joined: looked up by
        // key, so ordering N credentials is O(N log N), not a scan per comparison.
        var position: [User.ID: Int] = [:]
        var offset = 0
        for result in results(of: record) {
            for user in result.users {
                if let id = user.id.flatMap({ User.ID(text: $0) }), position[id] == nil { position[id] = offset }
                offset += 1
            }
        }
        var firstTenant: [User.ID: String] = [:]
        for membership in record.memberships {
            if let id = membership.user.id, firstTenant[id] == nil { firstTenant[id] = membership.tenant.slug }
        }
        let ordered = credentials.enumerated().sorted { a, b in
            let (ka, kb) = (position[a.element.userId] ?? Int.max, position[b.element.userId] ?? Int.max)
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
        return ordered.map { credential in
            CredentialRecord(credential: credential, tenantSlug: credential.tenantSlug ?? firstTenant[credential.userId])
        }
    }
}

/// The commands whose envelope is a `RunDocument`, as the CLI names them.
enum Command: String, Sendable {
    case tenant, run, batch, resetPassword = "reset-password", delete, apply
    case update, memberAdd = "member add", memberSetRole = "member set-role", memberRemove = "member remove"
}
