import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

struct ResetPasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset-password",
        abstract: "Issue a new one-time password for an existing user (lost, expired or never delivered).",
        usage: "provision reset-password --email <email> [--dryRun] [--json]\n  [--credentialsFile <PATH> [--recipient <R> ...]]",
        discussion: HelpText.paragraphs("""
            The new password is made, hashed and shown exactly as a new Owner's: once, after
            the commit, to be changed at first login, expiring after 72 hours. The old
            password stops working. Exit 4 (not_found) when no user has the email.

            Example:
              provision reset-password --email owner@pilot.example.com
              provision reset-password --email owner@pilot.example.com \\
                --credentialsFile owner.csv.age --recipient age1...
            """)
    )

    @Option(name: .customLong("email"),
            help: ArgumentHelp("(required) The user's login email (any letter case).", valueName: "email"), completion: Completions.email)
    var email: String?

    @Flag(name: [.customLong("dryRun"), .customLong("dry-run")],
          help: "Print what would happen, without writing.")
    var dryRun = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @OptionGroup var credentialOptions: CredentialOptions

    func run() throws {
        let output = Output(json: json)
        let given = self.email
        let address = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) -> String in
            guard let given else {
                throw ProvisionError(.invalidInput, "missing required flag --email", field: "email")
            }
            return try Validate.email(given, .email)
        }
        let target = try credentialOptions.target()
        let options = PlaybookOptions(stdlib: try Stdlib.located(), dryRun: dryRun, vars: ["email": address],
                                      wording: ErrorWording.flags, showsLocation: false)
        try PlaybookRunner.run(playbook: options.stdlib.playbook("reset-password").path, options: options, output: output,
                               credentials: target, grantsFor: .resetPassword) { session, delivery in
            ResetReport(report: RunReport(command: .resetPassword, delivery: delivery)).print(to: output)
        }
    }
}

/// What `provision reset-password` shows: whose password, then the new one-time password
/// (or where it went). With `--json`, the envelope every provisioning command prints.
struct ResetReport {
    let report: RunReport

    func print(to output: Output) {
        if output.json {
            output.document(report.document)
            return
        }
        let record = report.record
        output.warnings(record.notices)
        var lines: [String] = []
        lines.append(record.dryRun ? "Dry run: nothing was written. provision would:" : "Reset:")
        lines += RunReport.actionLines(record.actions)
        for case .reset(let reset) in record.outcomes {
            let user = reset.user
            let tenants = reset.memberships.map { "\($0.role.rawValue) of \($0.tenant.slug.terminalEscaped)" }.joined(separator: ", ")
            lines.append("")
            lines.append("User    \(user.email.terminalEscaped)\(user.name.map { "  \"\($0.terminalEscaped)\"" } ?? "")\(user.id.map { "  id \($0)" } ?? "")")
            lines.append("        \(tenants.isEmpty ? "no tenant" : tenants)\(reset.previousState.map { "; password was \($0.label)" } ?? "")")
        }
        if record.dryRun {
            lines.append("")
            lines.append("Run again without --dryRun to issue the new password.")
        }
        lines += report.oneTimePasswordLines(report.shown)
        output.result(lines.joined(separator: "\n"))
    }
}
