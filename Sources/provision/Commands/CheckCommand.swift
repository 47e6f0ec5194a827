import ArgumentParser
import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

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

    @Option(help: ArgumentHelp("Run only the checks with these ids (comma-separated).", valueName: "id,..."),
            completion: Completions.checkIds)
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
            // A check stuck where no limit can stop it ends the process (the watchdog):
            // the stream carries on in a process of its own from the next tenant (the
            // same process id, stdout and arguments: `FleetCheckStream.Resumption`).
            let resumption = FleetCheckStream.Resumption.taken()
            let stream = try resumption.map { state throws(ProvisionError) in try FleetCheckStream(json: output.json, resuming: state) }
                ?? FleetCheckStream(json: output.json, total: try fleet.tenantCount())
            checks.onCheck = { id, file in stream.checking(id: id, file: file) }
            Watchdog.setReporter { error in stream.stop(error) }
            stream.begin()
            do {
                try fleet.forEachTenant(after: resumption?.after) { tenant throws(ProvisionError) in
                    stream.checking(tenant: tenant)
                    stream.write(tenant: tenant, results: try checks.run(for: tenant, in: run, only: selected))
                    // No one reads the report any more (`| head`, stdout closed): checking
                    // on would only load the database.
                    return Output.standardOutputFailure == nil
                }
            } catch {
                // The report is open: it is closed with what was done, and says why it ended.
                stream.fail(error)
                throw ExitCode(error.exitStatus)
            }
            if let code = Output.standardOutputFailure {
                let done = stream.tenantsDone
                Output.standardError("error: could not write to stdout (\(StandardStream.describe(code))): the report stopped after at most \(done) tenant\(done == 1 ? "" : "s")")
                throw ExitCode.failure
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
        let wanted = only.split(separator: ",").map { $0.trimmed(.spaces) }.filter { !$0.isEmpty }
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
    private let lock = Mutex<Void>(())
    private let json: Bool
    /// How many tenants there are to check.
    private let total: Int
    private var done = 0
    private var failing = 0
    private var counts: [CheckResult.Status: Int] = [:]
    private var current: (tenant: Tenant, check: String, file: String)?
    private var stopped = false
    /// The checks stuck so far in this run, counting those of the processes before.
    private var stuckSoFar = 0
    /// Whether the report's start is out already (a resumed run).
    private let resumed: Bool

    /// The longest message a text line shows whole (JSON has every message whole).
    static let messageWidth = 200

    init(json: Bool, total: Int) {
        self.json = json
        self.total = total
        self.resumed = false
    }

    /// The stream a process before this one began, from where it left off.
    init(json: Bool, resuming state: Resumption) throws(ProvisionError) {
        guard state.json == json else {
            throw ProvisionError(.invalidInput, "the check run to resume wrote \(state.json ? "JSON" : "text"), not \(json ? "JSON" : "text")")
        }
        self.json = json
        self.total = state.total
        self.done = state.done
        self.failing = state.failing
        self.counts = [.pass: state.pass, .warn: state.warn, .fail: state.fail, .error: state.error]
        self.stuckSoFar = state.stuck
        self.resumed = true
    }

    func begin() {
        lock.withLock { _ in
            if resumed {
                if json { Interrupts.streaming(closing: closing(stop: interruption)) }
            } else if json {
                Output.streamStart(#"{\#n  "command" : "check",\#n  "tenants" : ["#, closing: closing(stop: interruption))
            } else {
                Output.standardOutput(total == 0 ? "No tenants to check." : "Go-live checks for \(total) tenant\(total == 1 ? "" : "s"):")
            }
        }
    }

    func checking(tenant: Tenant) { lock.withLock { _ in current = (tenant, "", "") } }

    /// How many tenants were reported (or written to a stdout that failed).
    var tenantsDone: Int { lock.withLock { _ in done } }

    func checking(id: String, file: String) { lock.withLock { _ in current?.check = id; current?.file = file } }

    func write(tenant: Tenant, results: [CheckResult]) {
        lock.withLock { _ in
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
        lock.withLock { _ in
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
        lock.withLock { _ in
            guard !stopped else { return }
            close(error, stop: Stop(reason: "error", tenant: current?.tenant.slug, check: nil, message: error.message,
                                    unchecked: max(0, total - done)), where: "stopped")
        }
    }

    /// The watchdog found a check stuck past every limit (called on its thread; the
    /// stuck one never returns): that tenant's check is an error, and a new process
    /// image checks the tenants after it, carrying on the report; after too many, the
    /// report is closed with the tenants done, and the process exits.
    func stop(_ error: ProvisionError) {
        lock.withLock { _ in
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
            stuckSoFar += 1
            // The rest of the fleet is checked by a process of its own, unless checks got
            // stuck so often that going on would mostly wait for the watchdog.
            if let current, stuckSoFar <= Self.stuckChecksBeforeGivingUp {
                let state = Resumption(after: current.tenant.slug, json: json, total: total, done: done, failing: failing,
                                       pass: counts[.pass] ?? 0, warn: counts[.warn] ?? 0, fail: counts[.fail] ?? 0,
                                       error: counts[.error] ?? 0, stuck: stuckSoFar)
                state.continueInNewProcess()
            }
            let given = stuckSoFar > Self.stuckChecksBeforeGivingUp ? "; \(stuckSoFar) checks got stuck, so the rest were not checked" : ""
            close(ProvisionError(error.code, "\(error.message)\(given)"),
                  stop: Stop(reason: "stuck", tenant: current?.tenant.slug, check: current?.check, message: error.message + given,
                             unchecked: max(0, total - done)),
                  where: "stopped at \(current?.tenant.slug ?? "a tenant")")
        }
    }

    /// How many stuck checks a fleet's run carries on after (each costs the check's time
    /// limit and a second): past it the report is closed where it stopped.
    static let stuckChecksBeforeGivingUp = 10

    /// Where a fleet's check run stopped when a check got stuck, handed to the process
    /// that carries on (`PROVISION_FLEET_RESUME`, read and removed at its start): the
    /// report's counts so far, so that it goes on as one report with one summary.
    struct Resumption: Codable {
        static let variable = "PROVISION_FLEET_RESUME"

        let after: String
        let json: Bool
        let total: Int
        let done: Int
        let failing: Int
        let pass: Int
        let warn: Int
        let fail: Int
        let error: Int
        let stuck: Int

        /// The state a process before this one left, if any; the variable is removed.
        static func taken() -> Resumption? {
            guard let value = getenv(variable) else { return nil }
            let text = String(cString: value)
            unsetenv(variable)
            return try? JSONDecoder().decode(Resumption.self, from: Data(text.utf8))
        }

        /// Replaces this process (`execve` of its own executable, with its arguments,
        /// environment and descriptors) with one that checks the tenants after `after`.
        /// Called from the watchdog's thread while the stuck one stays stuck: nothing is
        /// unwound; the database's connection closes with the old image (libpq marks its
        /// socket close-on-exec), and the server rolls back its read-only transaction.
        /// Returns only when the new process could not be started.
        func continueInNewProcess() {
            guard let encoded = try? JSONEncoder().encode(self) else { return }
            let assignment = "\(Self.variable)=\(String(decoding: encoded, as: UTF8.self))"
            var environment = ProcessInfo.processInfo.environment.filter { $0.key != Self.variable }.map { "\($0.key)=\($0.value)" }
            environment.append(assignment)
            let arguments = CommandLine.arguments
            let argv = arguments.map { strdup($0) } + [nil]
            let envp = environment.map { strdup($0) } + [nil]
            // The signal mask outlives exec: this thread's (signals blocked while the
            // report is written) would leave the new process deaf to Ctrl-C.
            var none = sigset_t()
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &none, nil)
            execve("/proc/self/exe", argv, envp)
            for pointer in argv + envp { free(pointer) }
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
