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
            Checks come from stdlib/checks/, every --checks folder or module, and
            $PROVISION_CHECKS_PATH (colon-separated). Each runs read-only with a time
            limit of its own and ends in pass (✓), warn (!), fail (✗) or error (E); one
            broken check never stops the others. A module that does not load is an error
            with its file and line, whatever --only names. With --all, every tenant is
            checked in one read-only transaction and reported as soon as it is: one line
            per tenant, each failing check under it. Exit 0 when nothing failed or
            errored, 1 otherwise; 4 (not_found) when the tenant does not exist.

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

    @Option(name: .customLong("checks"), help: ArgumentHelp("A folder of check modules, or one module (repeatable).", valueName: "path"),
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
        let selected = try selection(among: checks)
        let connection = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connectMigrated(grantsFor: .reads) }
        // One read-only transaction, rolled back whatever the checks do; each query of a
        // check runs in a savepoint of its own, so one that fails at the database stops
        // no other.
        let run = ProvisioningRun(connection: connection, dryRun: true)
        defer { run.rollback() }
        try run.begin()
        guard let slug else {
            // The fleet: each tenant reported as soon as its checks ran, and then let go.
            let fleet = Fleet(connection: connection)
            let stream = FleetCheckStream(json: output.json, total: try fleet.tenantCount())
            checks.onCheck = { id, file in stream.checking(id: id, file: file) }
            // A check stuck where no limit can stop it ends the process (the watchdog):
            // what was done is out already, and the report says where it stopped.
            Watchdog.setReporter { error in stream.stop(error) }
            stream.begin()
            do {
                try fleet.forEachTenant { tenant throws(ProvisionError) in
                    stream.checking(tenant: tenant)
                    stream.write(tenant: tenant, results: try checks.run(for: tenant, in: run, only: selected))
                }
            } catch {
                // The report is open: it is closed with what was done, and says why it ended.
                stream.fail(error)
                throw ExitCode(error.exitStatus)
            }
            if stream.finish() { throw ExitCode(1) }
            return
        }
        guard let tenant = try run.findTenant(slug: slug) else {
            throw ProvisionError(.notFound, "tenant '\(slug)' does not exist (see provision list)", field: "tenantSlug")
        }
        let results = try checks.run(for: tenant, in: run, only: selected)
        CheckReport(tenant: tenant, results: results).print(to: output)
        if results.contains(where: { $0.status == .fail || $0.status == .error }) { throw ExitCode(1) }
    }

    /// `--only`'s ids, each one a check that exists (exit 2 naming the unknown ones, the
    /// closest id to each and the ids there are), and every module that did not load: it
    /// is reported whatever was asked for, and makes the run exit 1 like any error. An
    /// unknown id while a module did not load is 2 naming that module's file, line and
    /// message: the id may be its. Nil without `--only`.
    func selection(among checks: GoLiveChecks) throws(ProvisionError) -> Set<String>? {
        guard let only else { return nil }
        let ids = checks.ids + checks.brokenIds
        let wanted = only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !wanted.isEmpty else {
            throw ProvisionError(.invalidInput, "--only needs at least one check id; the checks are: \(ids.joined(separator: ", "))", field: "only")
        }
        let unknown = wanted.filter { !ids.contains($0) }
        guard unknown.isEmpty else {
            let named = unknown.map { "'\($0)'" }.joined(separator: ", ")
            let hints = unknown.compactMap { id in Suggestion.closest(to: id, among: ids).map { "did you mean '\($0)'?" } }
            let failures = checks.loadErrors
            let one = failures.count == 1
            let modules = "\(one ? "a check module" : "\(failures.count) check modules") did not load: \(failures.joined(separator: "; "))"
            // Without a close id, the one asked for may be in a module that did not load.
            guard hints.count == unknown.count || failures.isEmpty else {
                throw ProvisionError(.invalidInput, "--only: \(named) is not among the checks that loaded, and \(modules). Fix \(one ? "it" : "them"), then run again (the checks that loaded: \(checks.ids.joined(separator: ", ")))",
                                     field: "only")
            }
            throw ProvisionError(.invalidInput, "--only: no check has the id \(named)\(hints.isEmpty ? "" : "; " + hints.joined(separator: " ")) (the checks are: \(ids.joined(separator: ", ")))\(failures.isEmpty ? "" : "; also, \(modules)")",
                                 field: "only")
        }
        return Set(wanted + checks.brokenIds)
    }
}

/// `check --all`, streamed (CONTRACT §14): one line per tenant as soon as its checks ran,
/// each failing check under it, then the recap; with `--json`, `FleetCheckDocument`
/// written a tenant at a time. Only the counts outlive a tenant. Interrupted, or stopped
/// by a check stuck past every limit (the watchdog, on its own thread), the document is
/// still closed: the tenants done, and `stopped` saying where and why.
final class FleetCheckStream: @unchecked Sendable {
    private let lock = NSLock()
    private let json: Bool
    /// How many tenants there are to check.
    private let total: Int
    private var done = 0
    private var failing = 0
    private var counts: [CheckResult.Status: Int] = [:]
    private var current: (tenant: Tenant, check: String, file: String)?
    private var stopped = false

    /// The longest message a text line shows whole (JSON has every message whole).
    static let messageWidth = 200

    init(json: Bool, total: Int) {
        self.json = json
        self.total = total
    }

    func begin() {
        lock.withLock {
            if json {
                Output.streamStart(#"{\#n  "command" : "check",\#n  "tenants" : ["#, closing: closing(stop: interruption))
            } else {
                Output.standardOutput(total == 0 ? "No tenants to check." : "Go-live checks for \(total) tenant\(total == 1 ? "" : "s"):")
            }
        }
    }

    func checking(tenant: Tenant) { lock.withLock { current = (tenant, "", "") } }

    func checking(id: String, file: String) { lock.withLock { current?.check = id; current?.file = file } }

    func write(tenant: Tenant, results: [CheckResult]) {
        lock.withLock {
            guard !stopped else { return }
            count(results)
            if json {
                Output.streamElement(Self.element(tenant: tenant, results: results), first: done == 1, closing: closing(stop: interruption))
            } else {
                Output.standardOutput(Self.lines(tenant: tenant, results: results).joined(separator: "\n"))
            }
            current = nil
        }
    }

    /// Ends the report; true when a check failed or erred.
    @discardableResult
    func finish() -> Bool {
        lock.withLock {
            if json {
                Output.streamEnd(closing(stop: nil))
            } else if total > 0 {
                Output.standardOutput("\n" + recap)
            }
            stopped = true
            return failing > 0
        }
    }

    /// The run failed between checks (the database went away): the report is closed
    /// with the tenants done, and says why.
    func fail(_ error: ProvisionError) {
        lock.withLock {
            guard !stopped else { return }
            close(error, stop: Stop(reason: "error", tenant: current?.tenant.slug, check: nil, message: error.message,
                                    unchecked: max(0, total - done)), where: "stopped")
        }
    }

    /// The watchdog ended a check stuck past every limit: that tenant's check is an
    /// error, the report is closed with the tenants done, and the process exits.
    func stop(_ error: ProvisionError) {
        lock.withLock {
            guard !stopped else { return }
            if let current {
                let result = CheckResult(id: current.check.isEmpty ? "checks" : current.check, title: current.check, status: .error,
                                         message: error.message, file: current.file)
                count([result])
                if json {
                    Output.streamElement(Self.element(tenant: current.tenant, results: [result]), first: done == 1, closing: "")
                } else {
                    Output.standardOutput(Self.lines(tenant: current.tenant, results: [result]).joined(separator: "\n"))
                }
            }
            close(error, stop: Stop(reason: "stuck", tenant: current?.tenant.slug, check: current?.check, message: error.message,
                                    unchecked: max(0, total - done)),
                  where: "stopped at \(current?.tenant.slug ?? "a tenant")")
        }
    }

    /// Ends a report that stopped early: the error on stderr, then the document closed
    /// with `stop`, or the text's recap saying where it stopped. Called holding the lock.
    private func close(_ error: ProvisionError, stop: Stop, where place: String) {
        stopped = true
        Output.standardError("error: \(error.message)")
        if json {
            Output.streamEnd(closing(stop: stop))
        } else {
            Output.standardOutput("\n\(place): \(recap); \(stop.unchecked) not checked")
        }
    }

    /// `2 of 3 tenants ready, 1 with failing checks`.
    private var recap: String {
        "\(done - failing) of \(done) tenant\(done == 1 ? "" : "s") ready, \(failing) with failing checks"
    }

    // MARK: Layout

    private func count(_ results: [CheckResult]) {
        done += 1
        if results.contains(where: { $0.status == .fail || $0.status == .error }) { failing += 1 }
        for result in results { counts[result.status, default: 0] += 1 }
    }

    /// `stopped` of the document.
    struct Stop: Encodable {
        let reason: String
        @Nullable var tenant: String?
        @Nullable var check: String?
        let message: String
        let unchecked: Int
    }

    private var interruption: Stop {
        Stop(reason: "interrupted", tenant: nil, check: nil, message: "interrupted: the remaining tenants were not checked; nothing was written",
             unchecked: max(0, total - done))
    }

    /// What closes the document: the tenants' end, the summary so far, and where it
    /// stopped, if it did.
    private func closing(stop: Stop?) -> String {
        let summary = FleetCheckDocument.Summary(tenants: done, failing: failing, pass: counts[.pass] ?? 0, warn: counts[.warn] ?? 0,
                                                 fail: counts[.fail] ?? 0, error: counts[.error] ?? 0)
        var text = done == 0 ? "]" : "\n  ]"
        if let stop { text += ",\n  \"stopped\" : " + Self.property(stop) }
        text += ",\n  \"summary\" : " + Self.property(summary) + "\n}\n"
        return text
    }

    /// One tenant's document, as an element of `tenants`: two levels down.
    static func element(tenant: Tenant, results: [CheckResult]) -> String {
        JSONText.indented(Data(CheckDocument(tenant: tenant, results: results).encoded.utf8), by: 4)
    }

    /// A value of the document's own: one level down, after its key on the same line.
    static func property(_ value: some Encodable) -> String {
        String(JSONText.indented(Data(JSONFragment(value).encoded.utf8), by: 2).dropFirst(2))
    }

    /// A tenant's line, and each failing check under it (its message cut at
    /// `messageWidth` characters, with a marker: `--json` has it whole).
    static func lines(tenant: Tenant, results: [CheckResult]) -> [String] {
        let report = CheckReport(tenant: tenant, results: results)
        let worst = results.map(\.status).max() ?? .pass
        var lines = ["  \(CheckReport.symbol(worst)) \(tenant.slug.terminalEscaped)  \(report.recap)"]
        for result in results where result.status == .fail || result.status == .error {
            lines.append("      \(CheckReport.symbol(result.status)) \(tenant.slug.terminalEscaped)  \(result.id.terminalEscaped)  \(TextCap.cut(result.message.terminalEscaped, to: messageWidth))")
        }
        return lines
    }
}

/// Any encodable value, encoded as documents are.
struct JSONFragment<Value: Encodable>: JSONDocument {
    let value: Value
    init(_ value: Value) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// Long values cut for a terminal, with a marker saying so.
enum TextCap {
    static func cut(_ text: String, to width: Int) -> String {
        guard text.count > width else { return text }
        return String(text.prefix(width)) + "… (\(text.count - width) more characters; --json has it whole)"
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
            // An error in the check's code: its line, with a caret under the name it quotes.
            for line in result.excerpt?.split(separator: "\n") ?? [] { lines.append("      " + String(line).terminalEscaped) }
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
