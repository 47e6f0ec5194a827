import ProvisionCore

/// The one envelope of every command that provisions or changes something (`tenant`,
/// `run`, `batch`, `reset-password`, and later `delete`, `apply`): CONTRACT §2.
struct RunDocument: JSONDocument {
    /// What happened to one tenant.
    enum Status: String, Encodable, Sendable, CaseIterable {
        case created, planned, unchanged, differs, failed, deleted, reset
    }

    struct Result: Encodable, Sendable {
        /// `null` only for a failure that came before the unit named a tenant.
        @Nullable var tenant: TenantRecord?
        let status: Status
        /// Its members this run linked (or would link), every role.
        let users: [UserRecord]
        /// Only for `failed`.
        let error: ErrorRecord?
        /// Only for `differs`: each field whose value in the database is not the input's.
        var differences: [DifferenceRecord]? = nil
    }

    struct DifferenceRecord: Encodable, Sendable {
        /// Named as the input names it (a flag, a CSV column, a Lua key).
        let field: String
        @Nullable var database: String?
        @Nullable var input: String?
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
    }

    /// A one-time password the run issued: the only place a password is in a document.
    struct CredentialRecord: Encodable, Sendable {
        let credential: IssuedCredential
        /// The tenant the user was added to in this run (as Owner or any other role).
        let tenantSlug: String?

        enum CodingKeys: String, CodingKey { case userId, email, tenantSlug, oneTimePassword, expiresAt }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(credential.userId, forKey: .userId)
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

        init(_ results: [Result]) {
            counts = Dictionary(uniqueKeysWithValues: Status.allCases.map { status in
                (status, results.filter { $0.status == status }.count)
            })
        }

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
    let actions: [String]
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
    /// with `credentialsFile` they went there instead, and the document holds none.
    init(command: String, run: ProvisioningRun, credentials: [IssuedCredential], credentialsFile: String? = nil,
         revoked: [CredentialRecord] = [], wording: any Wording = ErrorWording.flags) {
        let results = Self.results(of: run, wording: wording)
        self.init(command: command, runId: run.audit.runId.uuidString.lowercased(), dryRun: run.dryRun, results: results,
                  credentials: credentialsFile == nil ? Self.credentials(credentials, of: run, in: results) : [],
                  summary: Summary(results), actions: run.actions, warnings: run.warnings, credentialsFile: credentialsFile,
                  revokedCredentials: revoked.map { record in
                      RevokedRecord(userId: record.credential.userId, email: record.credential.email, tenantSlug: record.tenantSlug,
                                    resetCommand: CredentialDelivery.resetCommand(for: record.credential.email))
                  })
    }

    /// One result per tenant the run created, planned, found unchanged or failed on, in
    /// the order the run met them (a batch: the file's order). Members added to a tenant
    /// that already existed show in `actions` and, when new, in `credentials`.
    static func results(of run: ProvisioningRun, wording: any Wording = ErrorWording.flags) -> [Result] {
        // Grouped once: a batch of N rows is O(N), not a scan of every membership per tenant.
        let bySlug = Dictionary(grouping: run.memberships, by: \.tenantSlug)
        func users(of slug: String) -> [UserRecord] {
            (bySlug[slug] ?? []).map { membership in
                UserRecord(id: membership.user.id, email: membership.user.email, name: membership.user.name,
                           role: membership.role.rawValue, created: membership.user.created)
            }
        }
        return run.outcomes.map { outcome in
            switch outcome {
            case .tenant(let tenant):
                return Result(tenant: TenantRecord(tenant), status: tenant.planned ? .planned : .created,
                              users: users(of: tenant.slug), error: nil)
            case .unchanged(let slug, let ownerEmail):
                return Result(tenant: TenantRecord(slug: slug), status: .unchanged,
                              users: [UserRecord(id: nil, email: ownerEmail, name: nil, role: Role.owner.rawValue, created: false)],
                              error: nil)
            case .failed(let failure):
                return Result(tenant: failure.tenantSlug.map(TenantRecord.init(slug:)), status: .failed, users: [],
                              error: ErrorRecord(failure.error))
            case .differs(let existing):
                var result = Result(tenant: TenantRecord(existing.tenant), status: .differs,
                                    users: [UserRecord(id: nil, email: existing.ownerEmail, name: nil, role: Role.owner.rawValue, created: false)],
                                    error: nil)
                result.differences = existing.differences.map { difference in
                    DifferenceRecord(field: wording.name(of: difference.field), database: difference.database, input: difference.input)
                }
                return result
            case .deleted(let deletion):
                return Result(tenant: TenantRecord(deletion.tenant), status: deletion.planned ? .planned : .deleted,
                              users: deletion.members.map { member in
                                  UserRecord(id: member.user.id, email: member.user.email, name: member.user.name,
                                             role: member.role.rawValue, created: false)
                              },
                              error: nil)
            case .reset(let reset):
                // About a user: the tenant is theirs when they belong to exactly one.
                let only = reset.onlyMembership
                return Result(tenant: only.map { TenantRecord(slug: $0.slug) }, status: reset.planned ? .planned : .reset,
                              users: [UserRecord(id: reset.user.id, email: reset.user.email, name: reset.user.name,
                                                 role: only?.role.rawValue, created: false)],
                              error: nil)
            }
        }
    }

    /// Every credential, each once: those of the results' users in result order first,
    /// then any other (a user created without a membership). Each names the tenant its
    /// user joined in this run, whatever the role.
    static func credentials(_ credentials: [IssuedCredential], of run: ProvisioningRun, in results: [Result]) -> [CredentialRecord] {
        // Each user's first place among the results, and first tenant joined: looked up by
        // key, so ordering N credentials is O(N log N), not a scan per comparison.
        var position: [String: Int] = [:]
        for (offset, id) in results.flatMap({ $0.users.compactMap(\.id) }).enumerated() where position[id] == nil {
            position[id] = offset
        }
        var firstTenant: [String: String] = [:]
        for membership in run.memberships {
            if let id = membership.user.id, firstTenant[id] == nil { firstTenant[id] = membership.tenantSlug }
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
