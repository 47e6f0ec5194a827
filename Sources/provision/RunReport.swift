import Foundation
import ProvisionCore

/// The per-tenant results of a playbook or batch run, as the contract's JSON envelope
/// (`RunDocument`) and, from the same results, as a Terraform-style plan with an
/// Ansible-style recap for people.
struct RunReport {
    let command: String
    let run: ProvisioningRun
    let credentials: [IssuedCredential]
    /// Where the passwords went instead of stdout and the JSON (`--credentialsFile`).
    var credentialsFile: String?
    /// Passwords that could not be delivered and were revoked.
    var revoked: [RunDocument.CredentialRecord]
    /// How many passwords `credentialsFile` holds.
    var filedCount = 0

    init(command: String, run: ProvisioningRun, credentials: [IssuedCredential], credentialsFile: String? = nil,
         revoked: [RunDocument.CredentialRecord] = []) {
        self.command = command
        self.run = run
        self.credentials = credentials
        self.credentialsFile = credentialsFile
        self.revoked = revoked
    }

    /// The report of a committed run, showing its passwords where `delivery` put them.
    init(command: String, delivery: CredentialDelivery) {
        self.init(command: command, run: delivery.run, credentials: delivery.onStandardOutput,
                  credentialsFile: delivery.writtenFile, revoked: delivery.revoked)
        filedCount = delivery.writtenFile == nil ? 0 : delivery.records.count
    }

    var document: RunDocument {
        RunDocument(command: command, run: run, credentials: credentials, credentialsFile: credentialsFile, revoked: revoked)
    }

    var firstFailure: ProvisionError? { run.failures.first?.error }

    /// Every credential the run issued, each with the tenant its user joined, in the
    /// order of the results: as the JSON lists them, the text shows them and a
    /// credentials file holds them.
    var shownCredentials: [RunDocument.CredentialRecord] {
        RunDocument.credentials(credentials, of: run, in: RunDocument.results(of: run))
    }

    func print(to output: Output, title: String) {
        let document = self.document
        if output.json {
            output.document(document)
            return
        }
        output.warnings(run.warnings)
        let results = document.results
        var lines: [String] = []
        lines.append(run.dryRun ? "Dry run: nothing was written. \(title.terminalEscaped) would:" : "\(title.terminalEscaped) committed:")
        lines += run.actions.isEmpty ? ["  (no changes)"] : run.actions.map { "  + \($0.terminalEscaped)" }
        if !results.isEmpty {
            lines.append("")
            let slugs = results.map { ($0.tenant?.slug ?? "-").terminalEscaped }
            let width = max(9, slugs.map(\.count).max() ?? 0)
            for (result, slug) in zip(results, slugs) {
                let slug = slug.padding(width)
                let detail: String
                if let error = result.error {
                    detail = "\(error.code): \(error.message.terminalEscaped)"
                } else if result.status != .unchanged, let owner = result.users.first(where: { $0.role == Role.owner.rawValue }) {
                    detail = "owner \(owner.email.terminalEscaped)\(owner.created ? " (new user)" : " (existing user)")"
                } else {
                    detail = ""
                }
                lines.append("  \(result.status.rawValue.padding(9)) \(slug)  \(detail)")
            }
        }
        lines.append("")
        lines.append(Self.recap(document.summary))
        // The same credentials and order as the JSON's, whoever they were issued to.
        let shown = RunDocument.credentials(credentials, of: run, in: results)
        if let credentialsFile {
            let count = filedCount
            lines.append("")
            lines.append("\(count) one-time password\(count == 1 ? " was" : "s were") written to \(credentialsFile.terminalEscaped) (mode 0600): hand \(count == 1 ? "it" : "them") over, then delete the file.")
        } else if !shown.isEmpty {
            lines.append("")
            lines.append("One-time passwords (shown once; each must be changed at first login and expires after \(run.passwordLifetimeHours) hours):")
            for shown in shown {
                let credential = shown.credential
                lines.append("  \((shown.tenantSlug ?? "").terminalEscaped.padding(12)) \(credential.email.terminalEscaped.padding(36)) \(credential.password.reveal())")
            }
        }
        output.result(lines.joined(separator: "\n"))
    }

    /// `2 created, 1 unchanged, 0 failed`: the statuses that occurred, and always failed.
    static func recap(_ summary: RunDocument.Summary) -> String {
        let order: [RunDocument.Status] = [.created, .planned, .unchanged, .differs, .deleted, .reset, .failed]
        let parts = order.compactMap { status -> String? in
            let count = summary.counts[status] ?? 0
            return count > 0 || status == .failed ? "\(count) \(status.rawValue)" : nil
        }
        return parts.joined(separator: ", ")
    }
}
