import ArgumentParser
import Foundation
import LuaHost
import ProvisionCore

/// `--planFile PATH` on the dry runs of `tenant`, `run` and `batch`.
struct PlanOptions: ParsableArguments {
    @Option(name: [.customLong("planFile"), .customLong("plan-file")],
            help: ArgumentHelp("With --dryRun: write the plan to this new file (0600), for review and `provision apply`.", valueName: "PATH"),
            completion: .file())
    var planFile: String?

    /// The path, checked before anything runs: only for a dry run, with a database to
    /// plan against, at a path a new file can be created at.
    func path(dryRun: Bool) throws(ProvisionError) -> String? {
        guard let planFile else { return nil }
        guard dryRun else {
            throw ProvisionError(.invalidInput, "--planFile writes the plan of a dry run: add --dryRun (then apply it with provision apply)", field: "planFile")
        }
        guard DatabaseURL.fromEnvironment != nil else {
            throw ProvisionError(.databaseUnavailable, "--planFile records what the database looked like when the plan was made: set DATABASE_URL", field: "planFile")
        }
        try NewFile.validate(planFile, flag: "planFile")
        return planFile
    }

    /// The hook that writes the plan once the dry run succeeded: only when every unit
    /// planned cleanly (a plan of a batch with failed rows would be refused anyway).
    static func writer(to path: String?, command: String, inputs: @escaping () -> Plan.Inputs,
                       extraSources: @escaping () throws(ProvisionError) -> [(path: String, bytes: [UInt8])] = { [] }) -> PlaybookRunner.Hooks {
        var hooks = PlaybookRunner.Hooks()
        guard let path else { return hooks }
        hooks.after = { (session: PlaybookSession) throws(ProvisionError) in
            let run = session.run
            guard RunReport.failureStatus(of: run) == nil else {
                Output.standardError("note: the dry run found failures, so no plan was written to \(path)")
                return
            }
            let plan = try Plan.make(command: command, inputs: inputs(), extraSources: try extraSources(), session: session,
                                     database: run.databaseTarget ?? "")
            try plan.write(to: path)
            Output.standardError("Plan written to \(path): review it with `provision show-plan \(path)`, apply it with `provision apply \(path)`.")
        }
        return hooks
    }
}

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply a plan written by a dry run's --planFile exactly, or refuse it.",
        usage: "provision apply <PLAN> [--maxPlanAge <hours>] [--json]\n  [--credentialsFile <PATH> [--recipient <R> ...]]",
        discussion: HelpText.paragraphs("""
            Inside one transaction: re-checks everything the plan was made against (the
            playbook and its modules, the schema version, the database, each look-up), runs
            the same playbook with the same inputs, and commits only if it took exactly the
            planned actions. Otherwise nothing is written and the command exits 4
            (plan_stale), naming each difference. An edited plan is refused (2). One-time
            passwords are made now, never planned.

            Example:
              provision tenant ... --dryRun --planFile pilot.plan
              provision show-plan pilot.plan
              provision apply pilot.plan
            """)
    )

    @Argument(help: ArgumentHelp("The plan file.", valueName: "PLAN"), completion: Completions.plan)
    var planFile: String

    @Option(name: [.customLong("maxPlanAge"), .customLong("max-plan-age")],
            help: ArgumentHelp("Refuse a plan older than this many hours, from 0.001 to 8760 (default 24).", valueName: "hours"))
    var maxPlanAge: Double = 24

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @OptionGroup var credentialOptions: CredentialOptions

    func run() throws {
        let output = Output(json: json)
        guard (0.001...8760).contains(maxPlanAge) else {
            throw ProvisionError(.invalidInput, "--maxPlanAge must be a number of hours from 0.001 to 8760, got \(maxPlanAge)", field: "maxPlanAge")
        }
        let plan = try Plan.read(planFile)
        let target = try credentialOptions.target()
        let replay = try PlanReplay(plan: plan, file: planFile)
        var differences = try replay.staticDifferences(maxAgeHours: maxPlanAge)
        var failure: Int32?
        var hooks = PlaybookRunner.Hooks()
        hooks.before = { (session: PlaybookSession) throws(ProvisionError) in
            differences += try session.run.stalePreconditions(plan.preconditions)
            if !differences.isEmpty { throw PlanReplay.stale(differences, planFile: planFile) }
        }
        hooks.after = { (session: PlaybookSession) throws(ProvisionError) in
            let found = try replay.ranDifferences(session) + PlanReplay.actionDifferences(planned: plan.actions, taken: session.run.actions)
            if !found.isEmpty { throw PlanReplay.stale(found, planFile: planFile) }
        }
        do {
            try PlaybookRunner.run(playbook: replay.playbook, options: replay.options, output: output, credentials: target, hooks: hooks,
                                   grantsFor: plan.command == "run" ? nil : .provisioning) { session, delivery in
                let report = RunReport(command: "apply", delivery: delivery)
                report.print(to: output, title: "provision apply \(planFile)")
                failure = report.failureStatus
            }
        } catch let error as ProvisionError where PlanReplay.meansStale(error) {
            throw PlanReplay.stale(["the playbook now fails: \(error.message)"], planFile: planFile)
        }
        if let failure { throw ExitCode(failure) }
    }
}

struct ShowPlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show-plan",
        abstract: "Print a plan for review, as a dry run prints it.",
        discussion: HelpText.paragraphs("""
            What was planned, by whom, when and against what: the inputs, the playbook and
            modules with their SHA-256, what the database looked like, and the actions. With
            DATABASE_URL set, the plan's own hash is verified too.

            Example:
              provision show-plan pilot.plan
            """)
    )

    @Argument(help: ArgumentHelp("The plan file.", valueName: "PLAN"), completion: Completions.plan)
    var planFile: String

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        let output = Output(json: json)
        let plan = try Plan.read(planFile)
        var verified: Bool?
        if DatabaseURL.fromEnvironment != nil {
            let connection = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connect() }
            let run = ProvisioningRun(connection: connection, dryRun: true)
            defer { run.rollback() }
            verified = try run.sha256(plan.canonical) == plan.hash
        }
        if json {
            output.document(PlanDocument(plan: plan, verified: verified))
            return
        }
        var lines = ["Plan for `provision \(plan.command)`, made \(plan.createdAt) by \(plan.createdBy.terminalEscaped)"]
        lines.append("  against \(plan.database.terminalEscaped), schema version \(plan.schemaVersion), provision \(plan.provisionVersion.terminalEscaped)")
        let inputs = plan.inputs.vars.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            + (plan.inputs.playbook.map { ["playbook \($0)"] } ?? []) + (plan.inputs.file.map { ["file \($0)"] } ?? [])
            + (plan.inputs.arguments.isEmpty ? [] : ["arguments: \(plan.inputs.arguments.joined(separator: " "))"])
        lines.append("")
        lines.append("Inputs:")
        lines += inputs.map { "  \($0.terminalEscaped)" }
        lines.append("")
        lines.append("Sources (SHA-256):")
        lines += plan.sources.map { "  \($0.sha256.prefix(16))…  \($0.path.terminalEscaped)" }
        lines.append("")
        lines.append("Planned against:")
        lines += plan.preconditions.isEmpty ? ["  (no look-ups)"] : plan.preconditions.map { "  \($0.description.terminalEscaped)" }
        lines.append("")
        lines.append("provision would:")
        lines += plan.actions.isEmpty ? ["  (no changes)"] : plan.actions.map { "  + \($0.terminalEscaped)" }
        if !plan.warnings.isEmpty {
            lines.append("")
            lines.append("Warnings:")
            lines += plan.warnings.map { "  ! \($0.terminalEscaped)" }
        }
        lines.append("")
        switch verified {
        case true?: lines.append("The plan's hash matches its content (SHA-256 \(plan.hash.prefix(16))…).")
        case false?: lines.append("The plan's hash does NOT match its content: it was edited, and apply will refuse it.")
        case nil: lines.append("The plan's hash was not verified (set DATABASE_URL to verify it).")
        }
        lines.append("Apply it with: provision apply \(planFile.terminalEscaped)")
        output.result(lines.joined(separator: "\n"))
        if verified == false { throw ExitCode(2) }
    }
}

/// `provision show-plan --json`: the plan as its file holds it, and whether its hash was
/// verified (null without a database to verify it with).
struct PlanDocument: JSONDocument {
    let command = "show-plan"
    let plan: Plan
    @Nullable var verified: Bool?
}
