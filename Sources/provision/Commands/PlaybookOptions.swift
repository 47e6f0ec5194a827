import ArgumentParser
import Foundation
import LuaHost
import ProvisionCore

/// `--timeout` and `--maxMemoryMB`, shared by every command that runs a playbook.
struct LimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Stop the playbook after this many seconds (default: no limit).", valueName: "seconds"))
    var timeout: Double?

    @Option(name: [.customLong("maxMemoryMB"), .customLong("max-memory-mb")],
            help: ArgumentHelp("Memory the Lua state may use, in MiB.", valueName: "MiB"))
    var maxMemoryMB: Int = 256

    func limits() throws(ProvisionError) -> LuaLimits {
        if let timeout, !(timeout > 0) {
            throw ProvisionError(.invalidInput, "--timeout must be a positive number of seconds", field: "timeout")
        }
        guard (1...65_536).contains(maxMemoryMB) else {
            throw ProvisionError(.invalidInput, "--maxMemoryMB must be between 1 and 65536", field: "maxMemoryMB")
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
            ? nil : try DatabaseURL.connectMigrated(runTimeout: options.limits.timeoutSeconds)
        let session = try PlaybookSession(connection: connection, options: options)
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
