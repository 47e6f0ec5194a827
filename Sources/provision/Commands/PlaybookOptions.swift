import ArgumentParser
import Foundation
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
/// DATABASE_URL, go without), execute in one transaction, then commit with interrupts
/// held back and hand the one-time passwords to `report`, which shows them once.
enum PlaybookRunner {
    static func run(playbook path: String, options: PlaybookOptions, output: Output,
                    report: (PlaybookSession, [IssuedCredential]) -> Void) throws(ProvisionError) {
        try run(playbook: path, options: options, output: output, beforeCommit: { () throws(ProvisionError) in () }) { session, credentials, _ in
            report(session, credentials)
        }
    }

    /// With `beforeCommit`: something to prepare once the playbook succeeded but before
    /// the commit (a credentials file to create), handed to `report` afterwards.
    static func run<Prepared>(playbook path: String, options: PlaybookOptions, output: Output,
                              beforeCommit: () throws(ProvisionError) -> Prepared,
                              report: (PlaybookSession, [IssuedCredential], Prepared) -> Void) throws(ProvisionError) {
        let connection: Connection? = options.dryRun && DatabaseURL.fromEnvironment == nil
            ? nil : try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connectMigrated(runTimeout: options.limits.timeoutSeconds) }
        let session = try PlaybookSession(connection: connection, options: options)
        // A playbook's log lines and progress labels are data too: one line each, escaped.
        session.logSink = { Output.standardError(TerminalText.escaped($0, keeping: .tabs)) }
        let showProgress = session.progressSink
        session.progressSink = { line, final in showProgress(TerminalText.escaped(line, keeping: .tabs), final) }
        do throws(ProvisionError) {
            try session.execute(path: path)
            try Interrupts.whileCommitting { () throws(ProvisionError) in
                let prepared = try beforeCommit()
                let credentials: [IssuedCredential]
                do throws(ProvisionError) {
                    credentials = try session.commit()
                } catch {
                    (prepared as? CredentialsFile)?.discard()
                    throw error
                }
                report(session, credentials, prepared)
            }
        } catch {
            session.rollback()
            if !output.json { output.warnings(session.run.warnings) }
            throw error
        }
    }
}
