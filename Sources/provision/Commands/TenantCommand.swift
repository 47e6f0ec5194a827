import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Create a tenant and its first Owner user.",
        usage: "provision tenant --tenantSlug <slug> --tenantName <name>\n  --ownerEmail <email> [--ownerName <name>] [--timeZone <zone>]\n  [--supportEmail <email>] [--supportPhone <phone>] [--allowExistingUser]\n  [--skipExisting | --update] [--dryRun] [--json] [<options>]",
        discussion: HelpText.paragraphs("""
            The runbook's `pnpm provision:tenant`, flag for flag. Does not create a default
            center or seed catalog data. Fails (exit 3) if the slug
            exists, or if the owner email exists without --allowExistingUser. A new Owner gets
            a one-time password, printed once after the transaction committed.

            Example (staging):
              provision tenant \\
                --tenantSlug pilot-staging \\
                --tenantName "Pilot Staging" \\
                --ownerEmail owner@pilot-staging.example.com \\
                --ownerName "Pilot Owner" \\
                --timeZone America/Edmonton \\
                --supportEmail support@pilot-staging.example.com \\
                --supportPhone "+1 555 123 4567"

            Dry run:
              provision tenant --tenantSlug pilot --tenantName "Pilot" \\
                --ownerEmail owner@pilot.example.com --dryRun
            """)
    )

    @Option(name: [.customLong("tenantSlug"), .customLong("tenant-slug")],
            help: ArgumentHelp("(required) Lowercase slug used for routing (subdomain or /t/:slug).", valueName: "slug"))
    var tenantSlug: String?

    @Option(name: [.customLong("tenantName"), .customLong("tenant-name")],
            help: ArgumentHelp("(required) Display name for the tenant.", valueName: "name"))
    var tenantName: String?

    @Option(name: [.customLong("ownerEmail"), .customLong("owner-email")],
            help: ArgumentHelp("(required) Login email for the initial Owner.", valueName: "email"))
    var ownerEmail: String?

    @Option(name: [.customLong("ownerName"), .customLong("owner-name")],
            help: ArgumentHelp("Display name for the Owner.", valueName: "name"))
    var ownerName: String?

    @Option(name: [.customLong("timeZone"), .customLong("time-zone")],
            help: ArgumentHelp("The tenant's IANA time zone, e.g. America/Edmonton.", valueName: "zone"),
            completion: Completions.timeZone)
    var timeZone: String?

    @Option(name: [.customLong("supportEmail"), .customLong("support-email")],
            help: ArgumentHelp("Support email shown in portal help/account.", valueName: "email"))
    var supportEmail: String?

    @Option(name: [.customLong("supportPhone"), .customLong("support-phone")],
            help: ArgumentHelp("Support phone shown in portal help/account.", valueName: "phone"))
    var supportPhone: String?

    @Flag(name: [.customLong("allowExistingUser"), .customLong("allow-existing-user")],
          help: "Link an existing user to this tenant via membership (no new password).")
    var allowExistingUser = false

    @Flag(name: [.customLong("dryRun"), .customLong("dry-run")],
          help: "Validate inputs, check conflicts and print the actions without writing.")
    var dryRun = false

    @Flag(name: [.customLong("skipExisting"), .customLong("skip-existing")],
          help: "A tenant already provisioned with this owner is reported unchanged, or differs (exit 3) field by field; nothing is changed.")
    var skipExisting = false

    @Flag(help: "A tenant already provisioned with this owner is changed to these flags: updated, or unchanged. Another owner differs (exit 3).")
    var update = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    /// Every field through the core's validators, named as the runbook's flags.
    func specs() throws(ProvisionError) -> (tenant: TenantSpec, owner: OwnerSpec) {
        func required(_ value: String?, _ field: Field) throws(ProvisionError) -> String {
            guard let value else {
                throw ProvisionError(.invalidInput, "missing required flag --\(field.rawValue)", field: field.rawValue)
            }
            return value
        }
        let tenant = try TenantSpec(slug: required(tenantSlug, .tenantSlug), name: required(tenantName, .tenantName),
                                    timeZone: timeZone, supportEmail: supportEmail, supportPhone: supportPhone)
        let owner = try OwnerSpec(email: required(ownerEmail, .ownerEmail), name: ownerName,
                                  allowExistingUser: allowExistingUser)
        return (tenant, owner)
    }

    @OptionGroup var credentialOptions: CredentialOptions

    @OptionGroup var planOptions: PlanOptions

    @OptionGroup var limits: LimitOptions

    func run() throws {
        let output = Output(json: json)
        let (tenantSpec, ownerSpec) = try ErrorWording.flags.wordingErrors(of: specs)
        let target = try credentialOptions.target()
        let planPath = try planOptions.path(dryRun: dryRun)
        // The stdlib playbook gets values the core has already accepted.
        var vars: [String: String] = [
            "tenantSlug": tenantSpec.slug, "tenantName": tenantSpec.name, "ownerEmail": ownerSpec.email,
            "allowExistingUser": allowExistingUser ? "true" : "false", "skipExisting": skipExisting ? "true" : "false",
        ]
        if update { vars["update"] = "true" }
        vars["ownerName"] = ownerSpec.name
        vars["timeZone"] = tenantSpec.timeZone
        vars["supportEmail"] = tenantSpec.supportEmail
        vars["supportPhone"] = tenantSpec.supportPhone
        let options = PlaybookOptions(stdlib: try Stdlib.located(), dryRun: dryRun, vars: vars, limits: try limits.limits(),
                                      wording: ErrorWording.flags, showsLocation: false)
        var incomplete = false
        var keptStatus: Int32?
        let plannedVars = vars
        let hooks = PlanOptions.writer(to: planPath, command: "tenant", inputs: { Plan.Inputs(vars: plannedVars, arguments: []) })
        try PlaybookRunner.run(playbook: options.stdlib.playbook("tenant").path, options: options, output: output,
                               credentials: target, hooks: hooks, grantsFor: update ? .changes : .provisioning) { session, delivery in
            var report = RunReport(command: .tenant, delivery: delivery)
            report.planFile = planPath
            let record = report.record
            switch record.outcomes.first {
            case .kept?, .updated?:
                // Already provisioned (--skipExisting, --update): unchanged, updated, or
                // differs (exit 3).
                report.print(to: output, title: "provision tenant")
                keptStatus = report.failureStatus
                return
            default: break
            }
            guard case .tenant(let tenant)? = record.outcomes.first, let owner = record.memberships.first?.user else {
                // Committed all the same (a stdlib replaced through PROVISION_STDLIB, say):
                // report what it did, so no password it issued is lost, then fail.
                report.print(to: output, title: "provision tenant")
                incomplete = true
                return
            }
            TenantReport(report: report, tenant: tenant, owner: owner).print(to: output)
        }
        if let keptStatus { throw ExitCode(keptStatus) }
        if incomplete {
            Output.standardError("error: the tenant playbook finished without a tenant, owner and membership")
            throw ExitCode(ErrorCode.playbookError.exitStatus)
        }
    }
}

/// What `provision tenant` shows: the plan or the result, then the one-time password.
/// With `--json`, the envelope every provisioning command prints (`RunDocument`).
struct TenantReport {
    /// The run and where its passwords went.
    let report: RunReport
    let tenant: Tenant
    let owner: User

    var record: RunRecord { report.record }
    var credentials: [IssuedCredential] { report.shown }

    func print(to output: Output) {
        if output.json {
            output.document(report.document)
            return
        }
        output.warnings(record.notices)
        var lines: [String] = []
        if record.dryRun {
            lines.append("Dry run: nothing was written. provision would:")
        } else {
            lines.append("Provisioned tenant \(tenant.slug.terminalEscaped):")
        }
        lines += RunReport.actionLines(record.actions)
        lines.append("")
        lines.append("Tenant  \(tenant.slug.terminalEscaped)  \"\(tenant.name.terminalEscaped)\"\(tenant.id.map { "  id \($0)" } ?? "")")
        let support = [tenant.supportEmail, tenant.supportPhone].compactMap { $0?.terminalEscaped }.joined(separator: ", ").ifEmpty("(none)")
        lines.append("        time zone: \(tenant.timeZone?.terminalEscaped ?? "(none)")  support: \(support)")
        let ownerState = owner.created ? "new user" : (record.dryRun ? "existing user, would be linked" : "existing user, linked")
        lines.append("Owner   \(owner.email.terminalEscaped)\(owner.name.map { "  \"\($0.terminalEscaped)\"" } ?? "")\(owner.id.map { "  id \($0)" } ?? "")  (\(ownerState))")
        if record.dryRun {
            lines.append("")
            lines.append(report.dryRunEnding)
        }
        // The Owner's first, then any other the run issued: every password is shown once.
        let ordered = credentials.filter { $0.userId == owner.id } + credentials.filter { $0.userId != owner.id }
        lines += report.oneTimePasswordLines(ordered)
        if !ordered.isEmpty || report.credentialsFile != nil {
            lines.append("")
            lines.append("Next: log in as the Owner with it, then create centers, levels, programs and groups in the Admin UI.")
        } else if !record.dryRun && !owner.created {
            lines.append("")
            lines.append("No password was created: \(owner.email.terminalEscaped) already had an account and keeps its password.")
        }
        output.result(lines.joined(separator: "\n"))
    }
}

extension String {
    func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
