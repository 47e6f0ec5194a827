import CLibPQ
import Synchronization

/// Ctrl-C and SIGTERM while the server works for provision (CONTRACT §10, "Connected"):
/// the statement in flight is cancelled on the server (PQcancel, which libpq allows from
/// a signal handler), the connection waits for the server to confirm and rolls back, and
/// only then does the front end say "rolled back" and end the process. No backend goes
/// on working, or holding locks, for a run that ended.
public enum StatementCancellation {
    /// The PGcancel of the connection whose statement is in flight (its address), 0 when
    /// none. Set and cleared by `Connection` around each wait for the server.
    private static let inFlight = Atomic<Int>(0)
    /// The signal that asked for the cancel, 0 when none.
    private static let signal = Atomic<Int32>(0)
    /// PQcancel's error buffer, allocated before any handler can need it.
    nonisolated(unsafe) private static var errorBuffer: UnsafeMutablePointer<CChar>?
    private static let errorBufferSize: Int32 = 256
    /// libpq's PQcancel, set when libpq is loaded (before any statement can be in flight).
    nonisolated(unsafe) static var cancelFunction: (@convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int32) -> Int32)?
    /// What the front end does once the server confirmed the rollback: report and end the
    /// process. Without it (in-process tests), the statement fails with `interrupted`.
    nonisolated(unsafe) private static var interrupted: ((Int32) -> Never)?

    /// Called once at start-up, before signal handlers are installed.
    public static func install(onInterrupt: @escaping (Int32) -> Never) {
        errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(errorBufferSize))
        interrupted = onInterrupt
        _ = inFlight.load(ordering: .relaxed)
        _ = signal.load(ordering: .relaxed)
    }

    /// From a signal handler (async-signal-safe: atomics and PQcancel only). True when a
    /// statement was in flight: it is being cancelled, and the thread waiting for it ends
    /// the run once the server confirmed. False: nothing runs on the server for us.
    public static func cancelFromSignalHandler(_ received: Int32) -> Bool {
        let address = inFlight.load(ordering: .acquiring)
        guard address != 0, let buffer = errorBuffer, let cancel = cancelFunction else { return false }
        _ = signal.compareExchange(expected: 0, desired: received, ordering: .acquiringAndReleasing)
        _ = cancel(OpaquePointer(bitPattern: address), buffer, errorBufferSize)
        return true
    }

    static func begin(_ cancel: OpaquePointer?) {
        inFlight.store(cancel.map { Int(bitPattern: UnsafeRawPointer($0)) } ?? 0, ordering: .releasing)
    }

    static func end() {
        inFlight.store(0, ordering: .releasing)
    }

    /// The signal that arrived while a statement was in flight, if any.
    static var pendingSignal: Int32? {
        let value = signal.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }

    /// Ends the process through the front end once the server has confirmed; returns only
    /// when no front end is installed.
    static func finish(_ received: Int32) {
        interrupted?(received)
    }
}
