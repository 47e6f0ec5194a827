import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Provision pilots from a CSV file, one row each.",
        usage: "provision batch <FILE.csv> [--dryRun] [--json] [--stopOnError]\n  [--skipExisting | --update]\n  [--credentialsFile <PATH> [--recipient <R> ...]] [--planFile <PATH>]\n  [--timeout <seconds>] [--maxMemoryMB <MiB>]",
        discussion: HelpText.paragraphs("""
            Columns are named after the tenant flags: tenantSlug, tenantName, ownerEmail
            (required), ownerName, timeZone, supportEmail, supportPhone, allowExistingUser
            (true/false/yes/no/1/0). Every row is checked before the database is touched and
            every problem is reported as FILE:LINE: field: message. Rows then run in one
            transaction, each as a unit of its own: failed rows are reported and rolled back,
            the others commit. One-time passwords are shown only after the commit.

            Example:
              provision batch wave-3.csv --dryRun
              provision batch wave-3.csv --skipExisting \\
                --credentialsFile wave-3-passwords.csv
            """)
    )

    @Argument(help: ArgumentHelp("The CSV file.", valueName: "FILE.csv"), completion: Completions.batchFile)
    var file: String

    @Flag(name: [.customLong("dryRun"), .customLong("dry-run")], help: "Plan the whole file in a READ ONLY transaction: nothing is written.")
    var dryRun = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    @Flag(name: [.customLong("stopOnError"), .customLong("stop-on-error")], help: "Roll back the whole batch at the first failed row.")
    var stopOnError = false

    @Flag(name: [.customLong("skipExisting"), .customLong("skip-existing")],
          help: "Report a row whose tenant already exists with that owner as OWNER as unchanged (re-runs).")
    var skipExisting = false

    @Flag(help: "Change a row's tenant that already exists with that owner as OWNER to the row (updated or unchanged); another owner differs.")
    var update = false

    @OptionGroup var credentialOptions: CredentialOptions

    @OptionGroup var planOptions: PlanOptions

    @OptionGroup var limits: LimitOptions

    func run() throws {
        let output = Output(json: json)
        let target = try credentialOptions.target()
        let planPath = try planOptions.path(dryRun: dryRun)
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw ProvisionError(.invalidInput, "cannot read \(file): no such file", field: "file")
        }
        var vars = ["file": file, "stopOnError": String(stopOnError), "skipExisting": String(skipExisting)]
        if update { vars["update"] = "true" }
        let options = PlaybookOptions(stdlib: try Stdlib.located(), dryRun: dryRun, vars: vars, limits: try limits.limits(),
                                      wording: ErrorWording.csvColumns, showsLocation: false)
        let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
        let csv = file
        let hooks = PlanOptions.writer(to: planPath, command: "batch", inputs: { Plan.Inputs(vars: vars, arguments: [], file: absolute) },
                                       extraSources: { () throws(ProvisionError) in [(absolute, try RegularFile.read(csv, field: "file", maxBytes: 256 << 20))] })
        var failure: Int32?
        try PlaybookRunner.run(playbook: options.stdlib.playbook("batch").path, options: options, output: output,
                               credentials: target, hooks: hooks, grantsFor: update ? .changes : .provisioning) { session, delivery in
            var report = RunReport(command: .batch, delivery: delivery)
            report.planFile = planPath
            report.print(to: output, title: "Batch \(self.file)")
            failure = report.failureStatus
        }
        if let failure { throw ExitCode(failure) }
    }
}
