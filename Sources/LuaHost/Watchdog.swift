import Synchronization
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaShims
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

/// The backstop behind the Lua limits (CONTRACT §9). Hooks stop a script at its deadline
/// almost everywhere; where they cannot run (a finalizer or message handler, where Lua
/// turns hooks off, or a long C call such as pattern matching), the C watchdog thread
/// calls back here a second past the deadline. Nothing can unwind the stuck thread, so
/// the process reports `limit_exceeded` and exits; the server rolls back the open
/// transaction when the connection goes away, and no credential was shown (passwords
/// are revealed only after the commit, once no script code runs any more).
public enum Watchdog {
    private final class Settings: @unchecked Sendable {
        let lock = Mutex<Void>(())
        var report: (@Sendable (ProvisionError) -> Void)?
        var activity = "the script"
    }

    private static let settings = Settings()

    /// How the front end reports a run the watchdog ended (the CLI: JSON or text, like
    /// any error). The process exits with `limit_exceeded`'s status right after.
    public static func setReporter(_ report: @escaping @Sendable (ProvisionError) -> Void) {
        settings.lock.withLock { _ in settings.report = report }
        // The thread itself starts with the first Lua state: a command that runs no
        // script (a dry run of `migrate --status`, `--help`) never pays for it.
    }

    /// What is running now, for the message ("the check 'support-contact'").
    static func setActivity(_ activity: String) {
        settings.lock.withLock { _ in settings.activity = activity }
    }

    static func start() {
        provision_watchdog_start(fatalHandler)
    }

    fileprivate static func fatal(reason: Int32, message: String) -> Never {
        let (report, activity) = settings.lock.withLock { _ in (settings.report, settings.activity) }
        let error: ProvisionError
        if reason == Int32(PROVISION_FATAL_STUCK) {
            error = ProvisionError(.limitExceeded, "\(activity) did not stop at its time limit: it was stuck where the limit cannot interrupt it (a finalizer, an error handler, a long pattern match or a blocking read); the run was rolled back and nothing was written")
        } else {
            error = ProvisionError(.limitExceeded, "\(activity) failed: \(message); the run was rolled back and nothing was written")
        }
        if let report {
            report(error)
        } else {
            StandardStream.write("error: \(error.message)\n", to: 2)
        }
        _exit(error.exitStatus)
    }
}

private let fatalHandler: @convention(c) (Int32, UnsafePointer<CChar>?) -> Void = { reason, message in
    Watchdog.fatal(reason: reason, message: message.map { String(cString: $0) } ?? "")
}
