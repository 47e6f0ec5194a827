import Foundation
import LuaHost
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

    /// How fields are named: as Lua keys for an operator's playbook, else as flags and
    /// CSV columns (which carry the flags' names).
    var wording: any Wording { command == "run" ? LuaWording() : ErrorWording.flags }

    var document: RunDocument {
        RunDocument(command: command, run: run, credentials: credentials, credentialsFile: credentialsFile, revoked: revoked,
                    wording: wording)
    }

    /// The exit status of the first result that was not a success, in the order they
    /// happened: a failed unit's error's, or 3 for a tenant that `differs` (CONTRACT §8);
    /// nil when there is none.
    var failureStatus: Int32? { Self.failureStatus(of: run) }

    static func failureStatus(of run: ProvisioningRun) -> Int32? {
        for outcome in run.outcomes {
            switch outcome {
            case .failed(let failure): return failure.error.exitStatus
            case .differs: return 3
            default: continue
            }
        }
        return nil
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
                } else if let differences = result.differences {
                    detail = differences.map(Self.describe).joined(separator: "; ")
                } else if command == "delete" {
                    detail = result.users.isEmpty ? "no members"
                        : "members: " + result.users.map { "\($0.email.terminalEscaped) (\($0.role ?? ""))" }.joined(separator: ", ")
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
        let shown = document.credentials
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

    /// How `tenant` and `reset-password` end: each password in `shown` under the user it
    /// is for, shown once, or where the credentials file took them.
    func oneTimePasswordLines(_ shown: [IssuedCredential]) -> [String] {
        var lines: [String] = []
        for credential in shown {
            lines.append("")
            lines.append("One-time password for \(credential.email.terminalEscaped) (shown once; it must be changed at first login and expires \(UTCTimestamp(credential.expiresAt))):")
            lines.append("")
            lines.append("    \(credential.password.reveal())")
        }
        if let credentialsFile {
            lines.append("")
            lines.append("The one-time password\(filedCount == 1 ? " was" : "s were") written to \(credentialsFile.terminalEscaped) (mode 0600): hand \(filedCount == 1 ? "it" : "them") over, then delete the file.")
        }
        return lines
    }

    /// `name: 'Pilot' in the database, 'Pilot Again' in the input`.
    static func describe(_ difference: RunDocument.DifferenceRecord) -> String {
        func shown(_ value: String?) -> String { value.map { "'\($0.terminalEscaped)'" } ?? "none" }
        return "\(difference.field): \(shown(difference.database)) in the database, \(shown(difference.input)) in the input"
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
