#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C (SIGINT) and SIGTERM end the process at once with 130/143. Nothing has been
/// committed at that point (the server rolls back an open transaction when its client
/// goes away), and no credential has been shown: passwords are revealed only inside
/// `whileCommitting`, during which both signals are held back until the reveal is done.
///
/// With `--json`, stdout holds one document whatever happens (CONTRACT §2): an interrupt
/// before any document was printed prints the `interrupted` error document, and once a
/// document is out (`documentPrinted`) an interrupt only says so on stderr.
enum Interrupts {
    static func install(json: Bool) {
        handle(with: json ? { Interrupts.end($0, document: true) } : { Interrupts.end($0, document: false) })
        // A parent may have left them blocked (a supervisor's worker thread did here):
        // Ctrl-C and SIGTERM must stop a run whatever started it.
        var both = signals
        pthread_sigmask(SIG_UNBLOCK, &both, nil)
    }

    /// The one JSON document is out: from now on an interrupt must not add a second one.
    /// Called with both signals held back (`holdingBack`), so none lands in between.
    static func documentPrinted() {
        handle(with: { Interrupts.end($0, document: false) })
    }

    private static func handle(with handler: @convention(c) (Int32) -> Void) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
    }

    /// The handlers' body. Only async-signal-safe calls here: write(2) of static strings
    /// and _exit(2); nothing that allocates, locks or initialises a global.
    private static func end(_ signal: Int32, document: Bool) -> Never {
        if document {
            let json: StaticString = #"{"error": {"code": "interrupted", "message": "interrupted: the run was rolled back; nothing was written and no credential was shown"}}\#n"#
            _ = write(1, json.utf8Start, json.utf8CodeUnitCount)
        }
        let message: StaticString = "\ninterrupted: the run was rolled back; nothing was written and no credential was shown\n"
        _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
        _exit(signal == SIGTERM ? 143 : 130)
    }

    private static var signals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        return set
    }

    /// Runs `body` (commit, then reveal) with SIGINT and SIGTERM held back, so an
    /// interrupt lands either before the commit or after the one-time passwords were shown.
    static func whileCommitting<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        try holdingBack(body)
    }

    /// Runs `body` with SIGINT and SIGTERM held back; one that arrives meanwhile is
    /// handled when `body` returns.
    static func holdingBack<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        var blocked = signals
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }
}
