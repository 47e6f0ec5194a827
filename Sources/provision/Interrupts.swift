#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C (SIGINT) and SIGTERM end the process at once with 130/143. Nothing has been
/// committed at that point (the server rolls back an open transaction when its client
/// goes away), and no credential has been shown: passwords are revealed only inside
/// `whileCommitting`, during which both signals are held back until the reveal is done.
enum Interrupts {
    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            // Only async-signal-safe calls here: write(2) of a static string, _exit(2).
            let message: StaticString = "\ninterrupted: the run was rolled back; nothing was written and no credential was shown\n"
            _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
            _exit(signal == SIGTERM ? 143 : 130)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        // A parent may have left them blocked (a supervisor's worker thread did here):
        // Ctrl-C and SIGTERM must stop a run whatever started it.
        var both = sigset_t()
        sigemptyset(&both)
        sigaddset(&both, SIGINT)
        sigaddset(&both, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &both, nil)
    }

    /// Runs `body` (commit, then reveal) with SIGINT and SIGTERM held back, so an
    /// interrupt lands either before the commit or after the one-time passwords were shown.
    static func whileCommitting<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        var blocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGINT)
        sigaddset(&blocked, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }
}
