import ArgumentParser
import Foundation
import LuaHost
import ProvisionCore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the go-live checks for one tenant (the runbook's post-provision steps).",
        discussion: """
            Checks come from stdlib/checks/, every --checks DIR and $PROVISION_CHECKS_PATH
            (colon-separated). Each runs read-only with a time limit of its own and ends in
            pass (✓), warn (!), fail (✗) or error (E); one broken check never stops the
            others. Exit 0 when nothing failed or errored, 1 otherwise; 4 (not_found) when
            the tenant does not exist.

            Example:
              provision check --tenantSlug pilot-staging
              provision check --tenantSlug pilot --checks ./our-checks --json
            """
    )

    @Option(name: [.customLong("tenantSlug"), .customLong("tenant-slug")], help: ArgumentHelp("The tenant to check.", valueName: "slug"))
    var tenantSlug: String?

    @Option(name: .customLong("checks"), help: ArgumentHelp("A folder of check modules (repeatable).", valueName: "DIR"))
    var checkFolders: [String] = []

    @Option(name: [.customLong("checkTimeout"), .customLong("check-timeout")],
            help: ArgumentHelp("Seconds each check may run, from 0.001 to 3600.", valueName: "seconds"))
    var checkTimeout: Double = 5

    /// At least a millisecond: a check's statements are limited in whole milliseconds.
    static let checkTimeoutRange: ClosedRange<Double> = 0.001...3600

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        let output = Output(json: json)
        // nan, -0, inf and 1e300 are all outside the range.
        guard Self.checkTimeoutRange.contains(checkTimeout) else {
            throw ProvisionError(.invalidInput, "--checkTimeout must be a number of seconds from 0.001 to 3600, got \(checkTimeout)", field: "checkTimeout")
        }
        guard let tenantSlug else {
            throw ProvisionError(.invalidInput, "missing required flag --tenantSlug", field: "tenantSlug")
        }
        let slug = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try Validate.tenantSlug(tenantSlug) }
        let checks = try GoLiveChecks(options: .init(folders: GoLiveChecks.Options.folders(extra: checkFolders), timeoutSeconds: checkTimeout))
        let run = ProvisioningRun(connection: try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connectMigrated() }, dryRun: true)
        defer { run.rollback() }
        try run.begin()
        guard let tenant = try run.findTenant(slug: slug) else {
            throw ProvisionError(.notFound, "tenant '\(slug)' does not exist", field: "tenantSlug")
        }
        let results = try checks.run(for: tenant, in: run)
        CheckReport(tenant: tenant, results: results).print(to: output)
        if results.contains(where: { $0.status == .fail || $0.status == .error }) { throw ExitCode(1) }
    }
}

/// One line per check with ✓ / ! / ✗ / E, then a recap.
struct CheckReport {
    let tenant: Tenant
    let results: [CheckResult]

    static func symbol(_ status: CheckResult.Status) -> String {
        switch status {
        case .pass: return "✓"
        case .warn: return "!"
        case .fail: return "✗"
        case .error: return "E"
        }
    }

    func count(_ status: CheckResult.Status) -> Int { results.filter { $0.status == status }.count }

    func print(to output: Output) {
        if output.json {
            output.document(CheckDocument(tenant: tenant, results: results))
            return
        }
        // A check's title and message can carry data from the platform's tables (a group
        // name, say): each stays on its own line, escaped.
        var lines = ["Go-live checks for \(tenant.slug.terminalEscaped) (\(tenant.name.terminalEscaped)):"]
        let titles = results.map(\.title.terminalEscaped)
        let width = titles.map(\.count).max() ?? 0
        for (result, title) in zip(results, titles) {
            lines.append("  \(Self.symbol(result.status)) \(title.padding(width))  \(result.message.terminalEscaped)")
        }
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        lines.append("")
        lines.append("\(count(.pass)) passed, \(plural(count(.warn), "warning")), \(count(.fail)) failed, \(plural(count(.error), "error"))")
        output.result(lines.joined(separator: "\n"))
    }
}
