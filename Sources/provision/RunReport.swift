#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

/// The per-tenant results of a playbook or batch run, as the contract's JSON envelope
/// (`RunDocument`) and, from the same results, as a Terraform-style plan with an
/// Ansible-style recap for people.
struct RunReport {
    let command: Command
    /// What the run did, as its typed record.
    let record: RunRecord
    /// Every password the run issued, in the order the results show them.
    let credentials: [RunDocument.CredentialRecord]
    /// The passwords shown on stdout (none when a file took them, or they could not be
    /// delivered).
    let shown: [IssuedCredential]
    /// Where the passwords went instead of stdout and the JSON (`--credentialsFile`).
    var credentialsFile: String?
    /// Passwords that could not be delivered and were revoked.
    var revoked: [RunDocument.CredentialRecord]
    /// How many passwords `credentialsFile` holds.
    var filedCount = 0
    /// The plan a dry run wrote (`--planFile`), to point at review and `apply`.
    var planFile: String?

    /// The report of a finished run, showing its passwords where `delivery` put them.
    init(command: Command, delivery: CredentialDelivery) {
        self.command = command
        record = delivery.record
        shown = delivery.onStandardOutput
        credentials = shown.isEmpty ? [] : delivery.records
        credentialsFile = delivery.writtenFile
        revoked = delivery.revoked
        filedCount = delivery.writtenFile == nil ? 0 : delivery.records.count
    }

    /// How fields are named: as Lua keys for an operator's playbook, else as flags and
    /// CSV columns (which carry the flags' names).
    var wording: any Wording { command == .run ? LuaWording() : ErrorWording.flags }

    var document: RunDocument {
        RunDocument(command: command, record: record, credentials: credentials, credentialsFile: credentialsFile, revoked: revoked,
                    wording: wording)
    }

    /// The exit status of the first result that was not a success (`RunRecord`).
    var failureStatus: Int32? { record.failureStatus }

    /// How a dry run ends: where its plan is and what to do with it, or that it was valid.
    var dryRunEnding: String {
        guard let planFile else { return "The plan is valid. Run again without --dryRun to apply it." }
        let path = planFile.terminalEscaped
        return "The plan was written to \(path): have it reviewed (provision show-plan \(path)), then apply exactly it with provision apply \(path)."
    }

    func print(to output: Output, title: String) {
        let document = self.document
        if output.json {
            output.document(document)
            return
        }
        output.warnings(record.notices)
        let results = document.results
        var lines: [String] = []
        lines.append(record.dryRun ? "Dry run: nothing was written. \(title.terminalEscaped) would:" : "\(title.terminalEscaped) committed:")
        lines += Self.actionLines(document.actions)
        if !results.isEmpty {
            lines.append("")
            let slugs = results.map { ($0.tenant?.slug ?? "-").terminalEscaped }
            let width = max(9, slugs.map(\.count).max() ?? 0)
            for (result, slug) in zip(results, slugs) {
                let slug = slug.padding(width)
                let detail: String
                if let error = result.error {
                    // A playbook's own code is in its message already (`wave_closed: …`).
                    detail = (error.message.hasPrefix(error.code + ": ") ? "" : "\(error.code): ") + error.message.terminalEscaped
                } else if let differences = result.differences {
                    detail = differences.map(Self.describe).joined(separator: "; ")
                } else if let changes = result.changes {
                    detail = changes.map(Self.describe).joined(separator: "; ")
                } else if command == .delete {
                    detail = result.users.isEmpty ? "no members"
                        : "members: " + result.users.map { user in
                            "\(user.email.terminalEscaped) (\(user.role ?? "")\(user.deleted == true ? ", deleted" : user.keptBecause.map { ", kept: \($0.terminalEscaped)" } ?? ""))"
                        }.joined(separator: ", ")
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
        if record.dryRun && record.failureStatus == nil {
            lines.append("")
            lines.append(dryRunEnding)
        }
        if let credentialsFile {
            let count = filedCount
            lines.append("")
            lines.append("\(count) one-time password\(count == 1 ? " was" : "s were") written to \(credentialsFile.terminalEscaped) (mode 0600): hand \(count == 1 ? "it" : "them") over, then delete the file.")
        } else if !shown.isEmpty {
            lines.append("")
            lines.append("One-time passwords (shown once; each must be changed at first login and expires after \(record.passwordLifetimeHours) hours):")
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

    /// `  + create tenant pilot` for each action, or `  (no changes)`.
    static func actionLines(_ actions: [Action]) -> [String] {
        actions.isEmpty ? ["  (no changes)"] : actions.map { "  + \($0.text.terminalEscaped)" }
    }

    /// `member admin@x.example: none → ADMIN`.
    static func describe(_ change: RunDocument.ChangeRecord) -> String {
        func shown(_ value: String?) -> String { value.map { "'\($0.terminalEscaped)'" } ?? "none" }
        return "\(change.field.terminalEscaped): \(shown(change.from)) → \(shown(change.to))"
    }

    /// `name: 'Pilot' in the database, 'Pilot Again' in the input`.
    static func describe(_ difference: RunDocument.DifferenceRecord) -> String {
        func shown(_ value: String?) -> String { value.map { "'\($0.terminalEscaped)'" } ?? "none" }
        return "\(difference.field): \(shown(difference.database)) in the database, \(shown(difference.input)) in the input"
    }

    /// `2 created, 1 unchanged, 0 failed`: the statuses that occurred, and always failed.
    static func recap(_ summary: RunDocument.Summary) -> String {
        let parts = RunDocument.Status.allCases.compactMap { status -> String? in
            let count = summary.counts[status] ?? 0
            return count > 0 || status == .failed ? "\(count) \(status.rawValue)" : nil
        }
        return parts.joined(separator: ", ")
    }
}
