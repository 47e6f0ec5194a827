import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

/// `--timeout` and `--maxMemoryMB`, shared by every command that runs a playbook.
struct LimitOptions: ParsableArguments {
    /// From a millisecond (statements are limited in whole milliseconds) to a week: longer
    /// than any provisioning run, and far from where seconds stop fitting the millisecond
    /// and nanosecond counts the limits are kept in.
    static let timeoutRange: ClosedRange<Double> = 0.001...604_800
    static let memoryRangeMB = 1...65_536

    @Option(help: ArgumentHelp("Stop the playbook after this many seconds, from 0.001 to 604800 (7 days) (default: no limit).",
                               valueName: "seconds"))
    var timeout: Double?

    @Option(name: [.customLong("maxMemoryMB"), .customLong("max-memory-mb")],
            help: ArgumentHelp("Memory the Lua state may use, in MiB, 1 to 65536.", valueName: "MiB"))
    var maxMemoryMB: Int = 256

    /// The limits, or the error naming the flag out of range; every command calls this
    /// before it touches the database or a file.
    func limits() throws(ProvisionError) -> LuaLimits {
        // nan, -0, inf and 1e300 are all outside the range.
        if let timeout, !Self.timeoutRange.contains(timeout) {
            throw ProvisionError(.invalidInput, "--timeout must be a number of seconds from 0.001 to 604800 (7 days), got \(timeout)", field: "timeout")
        }
        guard Self.memoryRangeMB.contains(maxMemoryMB) else {
            throw ProvisionError(.invalidInput, "--maxMemoryMB must be between 1 and 65536 (MiB), got \(maxMemoryMB)", field: "maxMemoryMB")
        }
        return LuaLimits(maxMemoryMB: maxMemoryMB, timeoutSeconds: timeout)
    }
}

/// Runs a playbook the way every command does: connect (or, for a dry run without
/// DATABASE_URL, go without), execute in one transaction, commit, and hand the one-time
/// passwords to `report`, which shows them once (or says where they went). Interrupts
/// are told truthfully at every step (`Interrupts.committing`), and passwords that could
/// not be delivered are revoked and named (`CredentialDelivery`).
enum PlaybookRunner {
    /// Returns normally when the run committed (or, dry, was planned) and its passwords were
    /// delivered; throws `ExitCode(1)` when they could not be (revoked, named on stderr).
    /// What a command adds around the playbook: `before` runs in the run's open
    /// transaction before the playbook (apply re-checks a plan's preconditions there);
    /// `after` once the playbook succeeded, before the commit (a plan is written, or
    /// checked against what the playbook did).
    struct Hooks {
        var before: (PlaybookSession) throws(ProvisionError) -> Void = { _ in }
        var after: (PlaybookSession) throws(ProvisionError) -> Void = { _ in }
    }

    /// `grantsFor`: the group of commands whose privileges a run that writes needs.
    static func run(playbook path: String, options: PlaybookOptions, output: Output,
                    credentials target: CredentialsTarget? = nil, hooks: Hooks = Hooks(), grantsFor group: GrantGroup? = nil,
                    report: (PlaybookSession, CredentialDelivery) -> Void) throws {
        let connection: Connection? = options.dryRun && DatabaseURL.fromEnvironment == nil
            ? nil : try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in
                try DatabaseURL.connectMigrated(runTimeout: options.limits.timeoutSeconds, grantsFor: options.dryRun ? nil : group)
            }
        let session = try PlaybookSession(connection: connection, options: options)
        // A playbook's log lines and progress labels are data too: one line each, escaped.
        session.logSink = { Output.standardError(TerminalText.escaped($0, keeping: .tabs)) }
        let showProgress = session.progressSink
        session.progressSink = { line, final in showProgress(TerminalText.escaped(line, keeping: .tabs), final) }
        let delivery: CredentialDelivery
        let lateSignal: Int32?
        do throws(ProvisionError) {
            try session.run.begin()
            try hooks.before(session)
            try session.execute(path: path)
            try hooks.after(session)
            let file = try credentialsFile(for: session, target: target)
            Interrupts.removeOnInterrupt(file?.path)
            let commit = { () throws(ProvisionError) -> [IssuedCredential] in
                do throws(ProvisionError) {
                    return try session.commit()
                } catch {
                    Interrupts.removeOnInterrupt(nil)
                    file?.discard()
                    guard session.run.commitOutcomeUnknown else { throw error }
                    throw ProvisionError(error.code, unknownOutcome(of: session, error.message))
                }
            }
            let deliver = { (credentials: [IssuedCredential]) throws(ProvisionError) -> CredentialDelivery in
                Interrupts.removeOnInterrupt(nil)
                let delivery = CredentialDelivery(run: session.run, credentials: credentials, file: file)
                delivery.writeFile()
                report(session, delivery)
                delivery.checkStandardOutput()
                if let warning = delivery.standardOutputWarning { output.warnings([warning]) }
                return delivery
            }
            (delivery, lateSignal) = try Interrupts.committing(
                unknown: unknownOutcome(of: session, "interrupted while COMMIT was in flight"), writes: !session.run.dryRun,
                commit, afterCommit: deliver)
        } catch {
            session.rollback()
            if !output.json { output.warnings(session.run.record.notices) }
            throw error
        }
        if let lateSignal {
            Output.standardError("note: \(Interrupts.name(of: lateSignal)) arrived after COMMIT was sent, too late to stop the run: nothing was rolled back, and what is reported above was committed")
        }
        if delivery.reportFailure() { throw ExitCode(1) }
    }

    /// The credentials file, created just before the commit (while a path that cannot be
    /// written to can still fail the run), and only when the run issued a password: else
    /// no file at all, and a warning that says so.
    private static func credentialsFile(for session: PlaybookSession, target: CredentialsTarget?) throws(ProvisionError) -> CredentialsFile? {
        guard let target else { return nil }
        guard session.run.issuedPasswordCount > 0 else {
            session.run.warn(session.run.dryRun
                ? "a dry run issues no one-time password, so --credentialsFile \(target.path) was not created"
                : "the run issued no one-time password, so --credentialsFile \(target.path) was not created")
            return nil
        }
        return try CredentialsFile(creating: target.path, encryption: target.encryption)
    }

    /// What to say when COMMIT got no answer: the outcome is unknown, how to find it out,
    /// and which passwords, never shown, to reissue if it did commit.
    static func unknownOutcome(of session: PlaybookSession, _ what: String) -> String {
        let run = session.run
        var text = "\(what): whether run \(run.audit.runId.lowercaseText) committed is unknown; it was not reported as rolled back because it may not have been."
        let slugs = run.record.outcomes.compactMap { if case .tenant(let tenant) = $0 { tenant.slug } else { nil } }
        if !slugs.isEmpty {
            text += " Check whether its tenants exist (\(slugs.map { "provision show --tenantSlug \($0)" }.joined(separator: "; ")): exit 4 not_found means that tenant was not committed)."
        }
        let emails = run.unshownPasswordEmails
        if !emails.isEmpty {
            text += " If it did commit, these one-time passwords were never shown; issue new ones with: "
                + emails.map(CredentialDelivery.resetCommand(for:)).joined(separator: "; ")
        }
        return text
    }
}
