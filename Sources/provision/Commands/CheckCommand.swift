import ArgumentParser
import Foundation
import LuaHost
import ProvisionCore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the go-live checks for one tenant or all of them.",
        usage: "provision check --tenantSlug <slug> [--only <id,...>] [<options>]\nprovision check --all [--only <id,...>] [<options>]",
        discussion: HelpText.paragraphs("""
            Checks come from stdlib/checks/, every --checks DIR and $PROVISION_CHECKS_PATH
            (colon-separated). Each runs read-only with a time limit of its own and ends in
            pass (✓), warn (!), fail (✗) or error (E); one broken check never stops the
            others. With --all, every tenant is checked in one read-only transaction, each
            check a unit of its own: one line per tenant, then each failing check with its
            tenant. Exit 0 when nothing failed or errored, 1 otherwise; 4 (not_found) when
            the tenant does not exist.

            Example:
              provision check --tenantSlug pilot-staging
              provision check --all --only owner-password,support-contact
              provision check --tenantSlug pilot --checks ./our-checks --json
            """)
    )

    @Option(name: [.customLong("tenantSlug"), .customLong("tenant-slug")], help: ArgumentHelp("The tenant to check.", valueName: "slug"),
            completion: Completions.tenantSlug)
    var tenantSlug: String?

    @Flag(help: "Check every tenant.")
    var all = false

    @Option(help: ArgumentHelp("Run only the checks with these ids (comma-separated).", valueName: "id,..."))
    var only: String?

    @Option(name: .customLong("checks"), help: ArgumentHelp("A folder of check modules (repeatable).", valueName: "DIR"),
            completion: Completions.folder)
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
        if all && tenantSlug != nil {
            throw ProvisionError(.invalidInput, "give either --tenantSlug SLUG or --all, not both", field: "all")
        }
        let slug: String? = all ? nil : try requiredSlug(tenantSlug)
        let stdlib = try Stdlib.located()
        let checks = try GoLiveChecks(options: .init(folders: GoLiveChecks.Options.folders(stdlib: stdlib, extra: checkFolders), timeoutSeconds: checkTimeout),
                                      stdlib: stdlib)
        let selected = try selection(among: checks.ids + checks.brokenIds)
        let connection = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connectMigrated(grantsFor: .reads) }
        var checked: [(tenant: Tenant, results: [CheckResult])] = []
        // One read-only transaction, rolled back whatever the checks do; each check runs
        // in a unit of its own in it, so one that fails at the database stops no other.
        let run = ProvisioningRun(connection: connection, dryRun: true)
        defer { run.rollback() }
        try run.begin()
        if let slug {
            guard let tenant = try run.findTenant(slug: slug) else {
                throw ProvisionError(.notFound, "tenant '\(slug)' does not exist (see provision list)", field: "tenantSlug")
            }
            checked.append((tenant, try checks.run(for: tenant, in: run, only: selected)))
        } else {
            for tenant in try Fleet(connection: connection).tenantsInTransaction() {
                checked.append((tenant, try checks.run(for: tenant, in: run, only: selected)))
            }
        }
        if all {
            FleetCheckReport(tenants: checked).print(to: output)
        } else if let only = checked.first {
            CheckReport(tenant: only.tenant, results: only.results).print(to: output)
        }
        if checked.contains(where: { $0.results.contains { $0.status == .fail || $0.status == .error } }) { throw ExitCode(1) }
    }

    /// `--only`'s ids, each one a check that exists (exit 2 naming the unknown ones and
    /// the ids there are); nil without `--only`.
    func selection(among ids: [String]) throws(ProvisionError) -> Set<String>? {
        guard let only else { return nil }
        let wanted = only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !wanted.isEmpty else {
            throw ProvisionError(.invalidInput, "--only needs at least one check id; the checks are: \(ids.joined(separator: ", "))", field: "only")
        }
        let unknown = wanted.filter { !ids.contains($0) }
        guard unknown.isEmpty else {
            throw ProvisionError(.invalidInput, "--only: no check has the id \(unknown.map { "'\($0)'" }.joined(separator: ", ")); the checks are: \(ids.joined(separator: ", "))",
                                 field: "only")
        }
        return Set(wanted)
    }
}

/// `check --all`: one line per tenant, then each failing check with its tenant.
struct FleetCheckReport {
    let tenants: [(tenant: Tenant, results: [CheckResult])]

    func print(to output: Output) {
        if output.json {
            output.document(FleetCheckDocument(tenants.map { CheckDocument(tenant: $0.tenant, results: $0.results) }))
            return
        }
        guard !tenants.isEmpty else {
            output.result("No tenants to check.")
            return
        }
        var lines = ["Go-live checks for \(tenants.count) tenant\(tenants.count == 1 ? "" : "s"):"]
        let width = tenants.map(\.tenant.slug.terminalEscaped.count).max() ?? 0
        var failures: [(slug: String, result: CheckResult)] = []
        for (tenant, results) in tenants {
            let report = CheckReport(tenant: tenant, results: results)
            let worst = results.map(\.status).max() ?? .pass
            lines.append("  \(CheckReport.symbol(worst)) \(tenant.slug.terminalEscaped.padding(width))  \(report.recap)")
            failures += results.filter { $0.status == .fail || $0.status == .error }.map { (tenant.slug, $0) }
        }
        if !failures.isEmpty {
            lines.append("")
            lines.append("Failing checks:")
            var table = TextTable(header: ["", "TENANT", "CHECK", "MESSAGE"])
            table.rows = failures.map { [CheckReport.symbol($0.result.status), $0.slug, $0.result.id, $0.result.message] }
            lines += table.text.split(separator: "\n").dropFirst().map { "  " + $0 }
        }
        let failing = tenants.filter { $0.results.contains { $0.status == .fail || $0.status == .error } }.count
        lines.append("")
        lines.append("\(tenants.count - failing) of \(tenants.count) tenant\(tenants.count == 1 ? "" : "s") ready, \(failing) with failing checks")
        output.result(lines.joined(separator: "\n"))
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
        let ids = results.map(\.id.terminalEscaped)
        let titles = results.map(\.title.terminalEscaped)
        let idWidth = ids.map(\.count).max() ?? 0
        let width = titles.map(\.count).max() ?? 0
        for (result, (id, title)) in zip(results, zip(ids, titles)) {
            lines.append("  \(Self.symbol(result.status)) \(id.padding(idWidth))  \(title.padding(width))  \(result.message.terminalEscaped)")
        }
        lines.append("")
        lines.append(recap)
        output.result(lines.joined(separator: "\n"))
    }

    /// `5 passed, 1 warning, 0 failed, 0 errors`.
    var recap: String {
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        return "\(count(.pass)) passed, \(plural(count(.warn), "warning")), \(count(.fail)) failed, \(plural(count(.error), "error"))"
    }
}
