import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an operator's Lua playbook in one transaction.",
        usage: "provision run <PLAYBOOK.lua> [--dryRun] [--json] [--var <KEY=VALUE> ...]\n  [--credentialsFile <PATH> [--recipient <R> ...]] [--planFile <PATH>]\n  [--timeout <seconds>] [--maxMemoryMB <MiB>] [-- <ARGS> ...]",
        discussion: HelpText.paragraphs("""
            The playbook calls the `provision` module (createTenant, createOwner,
            linkMembership, transaction, dryRun, query, readCSV, …). It commits only if it
            returns normally; an uncaught error rolls everything back. With --dryRun it runs
            in a READ ONLY transaction where every primitive plans instead of writing.

            Example:
              provision run scripts/playbooks/go-live.lua --var slug=pilot --dryRun
              provision run wave.lua --json -- wave-3.csv
            """)
    )

    @Argument(help: ArgumentHelp("The playbook to run.", valueName: "PLAYBOOK.lua"), completion: Completions.playbook)
    var playbook: String

    @Flag(name: [.customLong("dryRun"), .customLong("dry-run")], help: "Plan without writing (READ ONLY transaction).")
    var dryRun = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @Option(name: .customLong("var"), help: ArgumentHelp("A value for provision.vars (repeatable).", valueName: "KEY=VALUE"))
    var vars: [String] = []

    @OptionGroup var credentialOptions: CredentialOptions

    @OptionGroup var planOptions: PlanOptions

    @OptionGroup var limits: LimitOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("Arguments after --: the playbook's `arg` and `...`.", valueName: "ARGS"))
    var arguments: [String] = []

    /// `provision run PLAYBOOK.lua --help`: the command's help, then the parameters the
    /// playbook declares (nil when the arguments ask for no such help).
    static func playbookHelp(_ arguments: [String]) -> (text: String, error: ProvisionError?)? {
        let options = arguments.prefix { $0 != "--" }
        guard options.first == "run", options.contains("--help") || options.contains("-h"),
              let playbook = options.dropFirst().first(where: { $0.hasSuffix(".lua") }) else { return nil }
        let usage = Provision.helpMessage(for: RunCommand.self)
        do {
            let options = PlaybookOptions(stdlib: try Stdlib.located(), limits: LuaLimits(timeoutSeconds: 5))
            let declared = try PlaybookSession.declaredParameters(path: playbook, options: options)
            let parameters = declared?.helpText ?? "\(playbook) declares no parameters: it reads provision.vars (--var KEY=VALUE) and arg as it likes."
            return (usage + "\n" + parameters, nil)
        } catch {
            return (usage, ProvisionError(error.code, "could not read the parameters of \(playbook): \(error.message)", field: "playbook"))
        }
    }

    func parsedVars() throws(ProvisionError) -> [String: String] {
        var result: [String: String] = [:]
        for entry in vars {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ProvisionError(.invalidInput, "--var takes KEY=VALUE, got '\(entry)'", field: "var")
            }
            let key = String(entry[..<equals])
            guard key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }) else {
                throw ProvisionError(.invalidInput, "--var key '\(key)' may use letters, digits, _, - and . only", field: "var")
            }
            let value = String(entry[entry.index(after: equals)...])
            try Validate.general(value, named: key)
            result[key] = value
        }
        return result
    }

    func run() throws {
        let output = Output(json: json)
        let options = PlaybookOptions(stdlib: try Stdlib.located(), dryRun: dryRun, vars: try parsedVars(), arguments: arguments,
                                      limits: try limits.limits())
        guard FileManager.default.isReadableFile(atPath: playbook) else {
            throw ProvisionError(.invalidInput, "cannot read playbook \(playbook): no such file", field: "playbook")
        }
        let target = try credentialOptions.target()
        let planPath = try planOptions.path(dryRun: dryRun)
        let absolute = URL(fileURLWithPath: playbook).standardizedFileURL.path
        let hooks = PlanOptions.writer(to: planPath, command: "run", inputs: { [options] in
            Plan.Inputs(vars: options.vars, arguments: options.arguments, playbook: absolute)
        })
        var failure: Int32?
        try PlaybookRunner.run(playbook: playbook, options: options, output: output, credentials: target, hooks: hooks) { session, delivery in
            var report = RunReport(command: .run, delivery: delivery)
            report.planFile = planPath
            report.print(to: output, title: "Playbook \(playbook)")
            failure = report.failureStatus
        }
        if let failure { throw ExitCode(failure) }
    }
}
