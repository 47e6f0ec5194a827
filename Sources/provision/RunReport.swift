import Foundation
import ProvisionCore

/// The per-tenant results of a playbook or batch run, as the contract's JSON and as a
/// Terraform-style plan with an Ansible-style recap for people.
struct RunReport {
    enum Status: String { case created, planned, failed, unchanged }

    struct Result {
        let tenantSlug: String?
        let status: Status
        let owner: User?
        let credential: IssuedCredential?
        let error: ProvisionError?
    }

    let run: ProvisioningRun
    let credentials: [IssuedCredential]
    /// Where the passwords went instead of stdout and the JSON (`--credentialsFile`).
    var credentialsFile: String?

    init(run: ProvisioningRun, credentials: [IssuedCredential], credentialsFile: String? = nil) {
        self.run = run
        self.credentials = credentials
        self.credentialsFile = credentialsFile
    }

    var results: [Result] {
        var results: [Result] = run.tenants.map { tenant in
            let owner = run.memberships.last { $0.tenantSlug == tenant.slug && $0.role == .owner }?.user
            let credential = owner.flatMap { owner in owner.created ? credentials.first { $0.userId == owner.id } : nil }
            return Result(tenantSlug: tenant.slug, status: tenant.planned ? .planned : .created, owner: owner,
                          credential: credential, error: nil)
        }
        results += run.unchanged.map { Result(tenantSlug: $0.tenantSlug, status: .unchanged, owner: nil, credential: nil, error: nil) }
        results += run.failures.map { Result(tenantSlug: $0.tenantSlug, status: .failed, owner: nil, credential: nil, error: $0.error) }
        // In the order the run met the tenants (a batch: the file's order).
        let order = Dictionary(run.slugOrder.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return results.enumerated().sorted { a, b in
            let (ka, kb) = (a.element.tenantSlug.flatMap { order[$0] } ?? Int.max, b.element.tenantSlug.flatMap { order[$0] } ?? Int.max)
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
    }

    var firstFailure: ProvisionError? { run.failures.first?.error }

    func print(to output: Output, title: String) {
        let results = self.results
        if output.json {
            var document: [String: Any] = [
                "dryRun": run.dryRun,
                "results": results.map(jsonObject),
                "actions": run.actions,
                "warnings": run.warnings,
            ]
            if let credentialsFile { document["credentialsFile"] = credentialsFile }
            output.document(document)
            return
        }
        output.warnings(run.warnings)
        var lines: [String] = []
        lines.append(run.dryRun ? "Dry run: nothing was written. \(title.terminalEscaped) would:" : "\(title.terminalEscaped) committed:")
        lines += run.actions.isEmpty ? ["  (no changes)"] : run.actions.map { "  + \($0.terminalEscaped)" }
        if !results.isEmpty {
            lines.append("")
            let slugs = results.map { ($0.tenantSlug ?? "-").terminalEscaped }
            let width = max(9, slugs.map(\.count).max() ?? 0)
            for (result, slug) in zip(results, slugs) {
                let slug = slug.padding(width)
                let detail: String
                if let error = result.error {
                    detail = "\(error.code.rawValue): \(error.message.terminalEscaped)"
                } else if let owner = result.owner {
                    detail = "owner \(owner.email.terminalEscaped)\(owner.created ? " (new user)" : " (existing user)")"
                } else {
                    detail = ""
                }
                lines.append("  \(result.status.rawValue.padding(9)) \(slug)  \(detail)")
            }
        }
        lines.append("")
        lines.append(recap(results))
        // In result order first, then any not tied to a tenant (an ADMIN added, say).
        var shown: [IssuedCredential] = []
        for credential in results.compactMap(\.credential) + credentials where !shown.contains(where: { $0.userId == credential.userId }) {
            shown.append(credential)
        }
        if let credentialsFile {
            lines.append("")
            lines.append("One-time passwords for \(shown.count) new owner\(shown.count == 1 ? "" : "s") were written to \(credentialsFile.terminalEscaped) (mode 0600); hand them over and delete the file.")
        } else if !shown.isEmpty {
            lines.append("")
            lines.append("One-time passwords (shown once; each must be changed at first login and expires after \(run.passwordLifetimeHours) hours):")
            for credential in shown {
                lines.append("  \((credential.tenantSlug ?? "").terminalEscaped.padding(12)) \(credential.email.terminalEscaped.padding(36)) \(credential.password.reveal())")
            }
        }
        output.result(lines.joined(separator: "\n"))
    }

    func recap(_ results: [Result]) -> String {
        let order: [Status] = [.created, .planned, .unchanged, .failed]
        let parts = order.compactMap { status -> String? in
            let count = results.filter { $0.status == status }.count
            return count > 0 || status == .failed ? "\(count) \(status.rawValue)" : nil
        }
        return parts.joined(separator: ", ")
    }

    private func jsonObject(_ result: Result) -> [String: Any] {
        var object: [String: Any] = ["tenantSlug": result.tenantSlug.orNull, "status": result.status.rawValue]
        if let error = result.error {
            object["error"] = (Output.errorObject(error)["error"] as? [String: Any]) ?? [:]
        }
        if let owner = result.owner {
            object["owner"] = Output.ownerObject(owner, credential: credentialsFile == nil ? result.credential : nil)
        }
        return object
    }
}
