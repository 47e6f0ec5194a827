import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

/// `--planFile PATH` on the dry runs of `tenant`, `run`, `batch`, `update` and `member`.
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
            guard session.run.record.failureStatus == nil else {
                Output.standardError("note: the dry run found failures, so no plan was written to \(path)")
                return
            }
            let plan = try Plan.make(command: command, inputs: inputs(), extraSources: try extraSources(), session: session)
            try plan.write(to: path)
            Output.standardError("Plan written to \(path): have it reviewed (`provision show-plan \(path)`; a reviewer signs it with `ssh-keygen -Y sign -n \(PlanSignature.namespace) -f KEY \(path)`), then apply exactly it with `provision apply \(path)`.")
        }
        return hooks
    }
}

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply a plan written by a dry run's --planFile exactly, or refuse it.",
        usage: "provision apply <PLAN> [--allowedSigners <FILE>] [--maxPlanAge <hours>]\n  [--json] [--credentialsFile <PATH> [--recipient <R> ...]]",
        discussion: HelpText.paragraphs("""
            Inside one transaction: re-checks everything the plan was made against (the
            playbook and its modules, the schema version, the database, each look-up), runs
            the same playbook with the same inputs, and commits only if it took exactly the
            planned actions with the planned values. Otherwise nothing is written and the
            command exits 4 (plan_stale), naming each difference. An edited plan is refused
            (2). With --allowedSigners, only a plan signed by an allowed signer applies
            (ssh-keygen -Y sign -n provision-plan writes PLAN.sig); else 4 (plan_untrusted).
            One-time passwords are made now, never planned.

            Example:
              provision tenant ... --dryRun --planFile pilot.plan
              provision show-plan pilot.plan
              ssh-keygen -Y sign -n provision-plan -f ~/.ssh/id_ed25519 pilot.plan
              provision apply pilot.plan --allowedSigners reviewers
            """)
    )

    @Argument(help: ArgumentHelp("The plan file.", valueName: "PLAN"), completion: Completions.plan)
    var planFile: String

    @Option(name: [.customLong("allowedSigners"), .customLong("allowed-signers")],
            help: ArgumentHelp("Apply only a plan whose PLAN.sig verifies for a signer in this OpenSSH allowed-signers file.", valueName: "FILE"),
            completion: .file())
    var allowedSigners: String?

    @Option(name: [.customLong("maxPlanAge"), .customLong("max-plan-age")],
            help: ArgumentHelp("Refuse a plan older than this many hours, from 0.001 to 8760.", valueName: "hours"))
    var maxPlanAge: Double = 24

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @OptionGroup var credentialOptions: CredentialOptions

    func run() throws {
        let output = Output(json: json)
        guard (0.001...8760).contains(maxPlanAge) else {
            throw ProvisionError(.invalidInput, "--maxPlanAge must be a number of hours from 0.001 to 8760, got \(maxPlanAge)", field: "maxPlanAge")
        }
        let (plan, bytes) = try Plan.read(planFile)
        if let allowedSigners {
            let signer = try PlanSignature.requireTrusted(plan: planFile, bytes: bytes, allowedSigners: allowedSigners)
            Output.standardError("\(planFile.terminalEscaped) is signed by \(signer.terminalEscaped) (an allowed signer in \(allowedSigners.terminalEscaped))")
        }
        let target = try credentialOptions.target()
        let replay = try PlanReplay(plan: plan, bytes: bytes, file: planFile)
        var differences = try replay.staticDifferences(maxAgeHours: maxPlanAge)
        var failure: Int32?
        var hooks = PlaybookRunner.Hooks()
        hooks.before = { (session: PlaybookSession) throws(ProvisionError) in
            differences += try session.run.stalePreconditions(plan.preconditions)
            if !differences.isEmpty { throw PlanReplay.stale(differences, planFile: planFile) }
        }
        hooks.after = { (session: PlaybookSession) throws(ProvisionError) in
            let found = try replay.ranDifferences(session) + Action.differences(planned: plan.actions, taken: session.run.record.actions)
            if !found.isEmpty { throw PlanReplay.stale(found, planFile: planFile) }
        }
        do {
            try PlaybookRunner.run(playbook: replay.playbook, options: replay.options, output: output, credentials: target, hooks: hooks,
                                   grantsFor: replay.grants) { session, delivery in
                let report = RunReport(command: .apply, delivery: delivery)
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
            What was planned, by whom, when and against what: the database (its identity
            and target), the inputs, the playbook and modules with their SHA-256, what the
            database looked like, each action with every value it writes, and who signed
            it (PLAN.sig). With DATABASE_URL set, the plan's own hash is verified too; a
            plan whose hash does not match exits 2.

            Example:
              provision show-plan pilot.plan --allowedSigners reviewers
            """)
    )

    @Argument(help: ArgumentHelp("The plan file.", valueName: "PLAN"), completion: Completions.plan)
    var planFile: String

    @Option(name: [.customLong("allowedSigners"), .customLong("allowed-signers")],
            help: ArgumentHelp("Name the signer as listed in this OpenSSH allowed-signers file.", valueName: "FILE"),
            completion: .file())
    var allowedSigners: String?

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        let output = Output(json: json)
        let (plan, bytes) = try Plan.read(planFile)
        if let allowedSigners { _ = try RegularFile.read(allowedSigners, field: "allowedSigners", maxBytes: 1 << 20) }
        let signature = try PlanSignature.check(plan: planFile, bytes: bytes, allowedSigners: allowedSigners)
        var verified: Bool?
        if DatabaseURL.fromEnvironment != nil {
            let connection = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connect() }
            let run = ProvisioningRun(connection: connection, dryRun: true)
            defer { run.rollback() }
            verified = try run.sha256(Plan.canonical(bytes)) == plan.hash
        }
        if json {
            output.document(PlanDocument(plan: plan, verified: verified, signature: SignatureRecord(signature)))
            if verified == false { throw ExitCode(2) }
            return
        }
        var lines = ["Plan for `provision \(plan.command)`, made \(UTCTimestamp(plan.createdAt)) by \(plan.createdBy.terminalEscaped)"]
        lines.append("  against \(plan.database.target.terminalEscaped) (database identity \(plan.database.identity.terminalEscaped)), schema version \(plan.schemaVersion), provision \(plan.provisionVersion.terminalEscaped)")
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
        if plan.actions.isEmpty { lines.append("  (no changes)") }
        for action in plan.actions {
            lines.append("  + \(action.text.terminalEscaped)")
            let values = action.values.filter { $0.value != nil }
            if !values.isEmpty {
                lines.append("      " + values.map { "\($0.name)=\(($0.value ?? "").terminalEscaped)" }.joined(separator: "  "))
            }
        }
        if !plan.warnings.isEmpty {
            lines.append("")
            lines.append("Warnings:")
            lines += plan.warnings.map { "  ! \($0.terminalEscaped)" }
        }
        lines.append("")
        switch signature {
        case .unsigned: lines.append("Not signed (no \(PlanSignature.path(of: planFile).terminalEscaped)).")
        case .signed(let key, let signer?): lines.append("Signed by \(signer.terminalEscaped) with \(key.terminalEscaped), an allowed signer.")
        case .signed(let key, nil):
            lines.append("Signed with \(key.terminalEscaped)\(allowedSigners == nil ? " (pass --allowedSigners to name the signer)" : ", which no principal in the allowed-signers file may sign plans with").")
        case .invalid(let why): lines.append("\(PlanSignature.path(of: planFile).terminalEscaped) does NOT verify for this plan (\(why.terminalEscaped)).")
        }
        switch verified {
        case true?: lines.append("The plan's hash matches its content (SHA-256 \(plan.hash.prefix(16))…).")
        case false?: lines.append("The plan's hash does NOT match its content: it was edited, and apply will refuse it. Do not apply it: make a new plan with --dryRun --planFile.")
        case nil: lines.append("The plan's hash was not verified (set DATABASE_URL to verify it).")
        }
        if verified != false {
            lines.append("After review, apply it with: provision apply \(planFile.terminalEscaped)\(allowedSigners.map { " --allowedSigners \($0.terminalEscaped)" } ?? "")")
        }
        output.result(lines.joined(separator: "\n"))
        if verified == false { throw ExitCode(2) }
    }
}

/// `provision show-plan --json`: the plan as its file holds it, whether its hash was
/// verified (null without a database to verify it with), and its signature.
struct PlanDocument: JSONDocument {
    let command = "show-plan"
    let plan: Plan
    @Nullable var verified: Bool?
    let signature: SignatureRecord
}

/// `{"status": "unsigned" | "signed" | "invalid", "key"?, "signer"?, "problem"?}`.
struct SignatureRecord: Encodable {
    let status: String
    var key: String?
    var signer: String?
    var problem: String?

    init(_ signature: PlanSignature.Status) {
        switch signature {
        case .unsigned: status = "unsigned"
        case .signed(let key, let signer):
            status = "signed"
            self.key = key
            self.signer = signer
        case .invalid(let why):
            status = "invalid"
            problem = why
        }
    }
}
