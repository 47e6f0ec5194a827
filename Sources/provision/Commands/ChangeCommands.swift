import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

/// The day-2 commands (CONTRACT §12): a tenant's settings (`update`) and its members
/// (`member add | set-role | remove`). Each validates its flags in the core, runs its
/// stdlib playbook in one transaction, and reports the run's record like every command
/// that changes something.
struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Change an existing tenant's name, time zone or support contact.",
        usage: "provision update --tenantSlug <slug> [--tenantName <name>]\n  [--timeZone <zone>] [--supportEmail <email>] [--supportPhone <phone>]\n  [--clear <field> ...] [--dryRun] [--json] [--planFile <PATH>]",
        discussion: HelpText.paragraphs("""
            Only the settings given change; --clear empties timeZone, supportEmail or
            supportPhone (a tenant always keeps its name). The result is updated, with
            each change from and to, or unchanged when the tenant already has these
            values. Audited as tenant.update with the values before and after. Exit 4
            (not_found) when no tenant has the slug, 2 for an invalid value.

            Example:
              provision update --tenantSlug pilot --timeZone America/Edmonton
              provision update --tenantSlug pilot --clear supportPhone \\
                --supportEmail help@pilot.example.com
            """)
    )

    @Option(name: [.customLong("tenantSlug"), .customLong("tenant-slug")],
            help: ArgumentHelp("(required) The tenant to change.", valueName: "slug"), completion: Completions.tenantSlug)
    var tenantSlug: String?

    @Option(name: [.customLong("tenantName"), .customLong("tenant-name")],
            help: ArgumentHelp("A new display name.", valueName: "name"))
    var tenantName: String?

    @Option(name: [.customLong("timeZone"), .customLong("time-zone")],
            help: ArgumentHelp("A new IANA time zone, e.g. America/Edmonton.", valueName: "zone"), completion: Completions.timeZone)
    var timeZone: String?

    @Option(name: [.customLong("supportEmail"), .customLong("support-email")],
            help: ArgumentHelp("A new support email shown in the portal.", valueName: "email"))
    var supportEmail: String?

    @Option(name: [.customLong("supportPhone"), .customLong("support-phone")],
            help: ArgumentHelp("A new support phone shown in the portal.", valueName: "phone"))
    var supportPhone: String?

    @Option(name: .customLong("clear"),
            help: ArgumentHelp("Empty this setting: timeZone, supportEmail or supportPhone (repeatable).", valueName: "field"),
            completion: .list(TenantSettings.clearable.map(\.rawValue)))
    var clear: [String] = []

    @Flag(name: [.customLong("dryRun"), .customLong("dry-run")], help: "Print the changes without writing.")
    var dryRun = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @OptionGroup var planOptions: PlanOptions

    func run() throws {
        let output = Output(json: json)
        let slug = try requiredSlug(tenantSlug)
        let clearing = try TenantSettings.fields(clearing: clear, wording: ErrorWording.flags)
        if tenantName == nil && timeZone == nil && supportEmail == nil && supportPhone == nil && clearing.isEmpty {
            throw ProvisionError(.invalidInput, "nothing to change: give --tenantName, --timeZone, --supportEmail or --supportPhone, or --clear a setting")
        }
        let settings = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in
            try TenantSettings(slug: slug, name: tenantName, timeZone: timeZone, supportEmail: supportEmail, supportPhone: supportPhone,
                               clearing: clearing)
        }
        var vars = ["tenantSlug": slug]
        if case .set(let value) = settings.name { vars["tenantName"] = value }
        if case .set(let value) = settings.timeZone { vars["timeZone"] = value }
        if case .set(let value) = settings.supportEmail { vars["supportEmail"] = value }
        if case .set(let value) = settings.supportPhone { vars["supportPhone"] = value }
        if !clearing.isEmpty { vars["clear"] = clearing.map(\.rawValue).joined(separator: ",") }
        try ChangeRun(command: .update, playbook: "update", vars: vars, dryRun: dryRun, planFile: planOptions).run(output: output)
    }
}

struct MemberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member",
        abstract: "Add a member to a tenant, change a member's role, or remove one.",
        discussion: HelpText.paragraphs("""
            A tenant never loses its last OWNER: set-role or remove that would leave none
            is refused (exit 3, last_owner). To transfer ownership, add the new OWNER
            first, then remove the old one or change their role.

            Example:
              provision member add --tenantSlug pilot \\
                --email admin@pilot.example.com --role ADMIN --name "Pilot Admin"
              provision member set-role --tenantSlug pilot \\
                --email admin@pilot.example.com --role STAFF
              provision member remove --tenantSlug pilot \\
                --email admin@pilot.example.com
            """),
        subcommands: [MemberAddCommand.self, MemberSetRoleCommand.self, MemberRemoveCommand.self]
    )
}

/// `--tenantSlug`, `--email`, `--dryRun`, `--json`, `--planFile`: what every member
/// command takes.
struct MemberOptions: ParsableArguments {
    @Option(name: [.customLong("tenantSlug"), .customLong("tenant-slug")],
            help: ArgumentHelp("(required) The tenant.", valueName: "slug"), completion: Completions.tenantSlug)
    var tenantSlug: String?

    @Option(name: .customLong("email"), help: ArgumentHelp("(required) The member's login email (any letter case).", valueName: "email"),
            completion: Completions.email)
    var email: String?

    @Flag(name: [.customLong("dryRun"), .customLong("dry-run")], help: "Print the change without writing.")
    var dryRun = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @OptionGroup var planOptions: PlanOptions

    /// The slug and the email, valid (exit 2 naming the flag otherwise).
    func validated() throws(ProvisionError) -> (slug: String, email: String) {
        let slug = try requiredSlug(tenantSlug)
        guard let email else { throw ProvisionError(.invalidInput, "missing required flag --email", field: "email") }
        return (slug, try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try Validate.email(email, .email) })
    }
}

/// `--role`, required and one of the contract's roles.
func requiredRole(_ value: String?) throws(ProvisionError) -> Role {
    guard let value else {
        throw ProvisionError(.invalidInput, "missing required flag --role (one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")))", field: "role")
    }
    return try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try Validate.role(value) }
}

struct MemberAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a member to an existing tenant.",
        usage: "provision member add --tenantSlug <slug> --email <email> --role <role>\n  [--name <name>] [--allowExistingUser] [--dryRun] [--json]\n  [--planFile <PATH>] [--credentialsFile <PATH> [--recipient <R> ...]]",
        discussion: HelpText.paragraphs("""
            A new user gets a one-time password, shown once after the commit exactly as a
            new Owner's (or written to --credentialsFile). An existing user is linked only
            with --allowExistingUser (else exit 3, email_exists) and keeps their password.
            Audited as user.create and membership.create.

            Example:
              provision member add --tenantSlug pilot \\
                --email owner2@pilot.example.com --role OWNER --name "Second Owner"
            """)
    )

    @OptionGroup var member: MemberOptions

    @Option(help: ArgumentHelp("(required) OWNER, ADMIN, STAFF or PARENT.", valueName: "role"),
            completion: .list(Role.allCases.map(\.rawValue)))
    var role: String?

    @Option(help: ArgumentHelp("Display name for a new user.", valueName: "name"))
    var name: String?

    @Flag(name: [.customLong("allowExistingUser"), .customLong("allow-existing-user")],
          help: "Link a user who already exists (no new password).")
    var allowExistingUser = false

    @OptionGroup var credentialOptions: CredentialOptions

    func run() throws {
        let output = Output(json: member.json)
        let (slug, email) = try member.validated()
        let role = try requiredRole(role)
        let spec = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in
            try OwnerSpec(email: email, name: name, allowExistingUser: allowExistingUser, fields: .member)
        }
        var vars = ["tenantSlug": slug, "email": spec.email, "role": role.rawValue, "allowExistingUser": String(allowExistingUser)]
        vars["name"] = spec.name
        try ChangeRun(command: .memberAdd, playbook: "member-add", vars: vars, dryRun: member.dryRun, planFile: member.planOptions,
                      credentials: try credentialOptions.target()).run(output: output)
    }
}

struct MemberSetRoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-role",
        abstract: "Change a member's role.",
        usage: "provision member set-role --tenantSlug <slug> --email <email>\n  --role <role> [--dryRun] [--json] [--planFile <PATH>]",
        discussion: HelpText.paragraphs("""
            Unchanged when the member already has the role. Exit 4 (not_found) when the
            user is not a member of the tenant, 3 (last_owner) when it would leave the
            tenant without an OWNER. Audited as membership.update.
            """)
    )

    @OptionGroup var member: MemberOptions

    @Option(help: ArgumentHelp("(required) OWNER, ADMIN, STAFF or PARENT.", valueName: "role"),
            completion: .list(Role.allCases.map(\.rawValue)))
    var role: String?

    func run() throws {
        let output = Output(json: member.json)
        let (slug, email) = try member.validated()
        let role = try requiredRole(role)
        try ChangeRun(command: .memberSetRole, playbook: "member-set-role", vars: ["tenantSlug": slug, "email": email, "role": role.rawValue],
                      dryRun: member.dryRun, planFile: member.planOptions).run(output: output)
    }
}

struct MemberRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a member from a tenant (the user stays).",
        usage: "provision member remove --tenantSlug <slug> --email <email>\n  [--dryRun] [--json] [--planFile <PATH>]",
        discussion: HelpText.paragraphs("""
            Only the membership goes: the user keeps their account (and any other
            tenant). Exit 4 (not_found) when the user is not a member of the tenant, 3
            (last_owner) for the tenant's last OWNER. Audited as membership.delete.
            """)
    )

    @OptionGroup var member: MemberOptions

    func run() throws {
        let output = Output(json: member.json)
        let (slug, email) = try member.validated()
        try ChangeRun(command: .memberRemove, playbook: "member-remove", vars: ["tenantSlug": slug, "email": email],
                      dryRun: member.dryRun, planFile: member.planOptions).run(output: output)
    }
}

/// One day-2 change: its stdlib playbook, run with validated vars, planned with
/// `--planFile`, reported like every command that changes something.
struct ChangeRun {
    let command: Command
    let playbook: String
    let vars: [String: String]
    let dryRun: Bool
    let planFile: PlanOptions
    var credentials: CredentialsTarget? = nil

    func run(output: Output) throws {
        let planPath = try planFile.path(dryRun: dryRun)
        if dryRun && DatabaseURL.fromEnvironment == nil { throw DatabaseURL.unsetError }
        let options = PlaybookOptions(stdlib: try Stdlib.located(), dryRun: dryRun, vars: vars, wording: ErrorWording.flags,
                                      showsLocation: false)
        let vars = self.vars
        let hooks = PlanOptions.writer(to: planPath, command: command.rawValue, inputs: { Plan.Inputs(vars: vars, arguments: []) })
        var failure: Int32?
        try PlaybookRunner.run(playbook: options.stdlib.playbook(playbook).path, options: options, output: output,
                               credentials: credentials, hooks: hooks, grantsFor: .changes) { session, delivery in
            var report = RunReport(command: command, delivery: delivery)
            report.planFile = planPath
            report.print(to: output, title: "provision \(command.rawValue)")
            failure = report.failureStatus
        }
        if let failure { throw ExitCode(failure) }
    }
}
