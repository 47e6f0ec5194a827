#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C (SIGINT) and SIGTERM, told truthfully whatever moment they arrive at
/// (CONTRACT §2, §8). The handler consults where the run is, in atomics every thread
/// sees (a signal may land on any thread, a password-hashing worker's included):
///
/// - **Before COMMIT was sent**: the process ends with 130/143. Nothing is committed, and
///   no credential was shown; a credentials file made for the run is removed. A statement
///   the server is running is cancelled there first (PQcancel), and the process ends once
///   the server confirmed and the transaction rolled back; with none running it ends at
///   once (the server rolls back an open transaction when its client goes away).
/// - **While COMMIT is in flight**: the database alone knows the outcome, so the first
///   signal only says the process is waiting for its answer; a second one ends the
///   process with a message saying the outcome is unknown and how to find it out.
/// - **After COMMIT returned** (the passwords being shown, or revoked) and while a JSON
///   document is written: the signal waits until that is done. After a commit the run
///   then ends as it would have, with a note that the signal came too late to stop it.
///
/// With `--json`, stdout holds one document whatever happens: an interrupt before any
/// document was printed prints the `interrupted` error document; once a document is out
/// (`documentPrinted`), or has begun to go out in pieces (`list`, `outputStreamed`), an
/// interrupt only says so on stderr.
enum Interrupts {
    /// Where the run is; read by the handler.
    private static let state = SignalState.shared

    static func install(json: Bool) {
        state.json.store(json, ordering: .releasing)
        if json { state.prepareInterrupted(json: ErrorDocument(ProvisionError(.interrupted, rolledBack)).encoded + "\n") }
        // A signal that lands while the server runs a statement cancels it there; the
        // waiting thread ends the run here once the server confirmed, and not before.
        StatementCancellation.install { signal in Interrupts.end(signal) }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        // Reads and waits the handler interrupts carry on (libpq waits for COMMIT's answer).
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        // A reader that went away is an EPIPE the writer acts on, not the end of the
        // process (a password on its way out must be revoked, not silently lost); a file
        // size limit is an EFBIG the same way.
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
        // A parent may have left them blocked (a supervisor's worker thread did here):
        // Ctrl-C and SIGTERM must stop a run whatever started it.
        var both = signals
        pthread_sigmask(SIG_UNBLOCK, &both, nil)
    }

    /// A document being written a part at a time: what an interrupt closes it with (the
    /// parts so far stay valid JSON), prepared with both signals blocked.
    static func streaming(closing: String) {
        var all = sigset_t()
        sigfillset(&all)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &all, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        state.prepareInterrupted(json: closing)
    }

    /// The one JSON document is out: from now on an interrupt must not add a second one.
    static func documentPrinted() {
        state.documentOut.store(true, ordering: .releasing)
    }

    /// Output has begun to reach stdout in pieces (`Output.Stream`): an interrupt from now
    /// on adds no document of its own, and says that what was printed is incomplete.
    static func outputStreamed() {
        state.streamed.store(true, ordering: .releasing)
        documentPrinted()
    }

    /// A file the run created that an interrupt before the commit removes (an empty
    /// credentials file); nil to forget it.
    static func removeOnInterrupt(_ path: String?) {
        state.setPath(path)
    }

    /// Runs `body` (writing a document, showing passwords) with interrupts held until it
    /// is done; one that arrived meanwhile then ends the process as it would have.
    static func deferring<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        state.deferDepth.add(1, ordering: .acquiringAndReleasing)
        defer {
            if state.deferDepth.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                let pending = state.pending.exchange(0, ordering: .acquiringAndReleasing)
                if pending != 0 { Interrupts.end(pending) }
            }
        }
        return try body()
    }

    /// Sends COMMIT with the handler in its "in flight" mode: `unknown` is what a second
    /// interrupt says (prepared now: the handler may not allocate). Then runs `afterCommit`
    /// (showing or revoking the passwords) with interrupts held, when `commit` returned.
    /// Returns `afterCommit`'s value and the signal that arrived after COMMIT was sent, if
    /// any, for the caller to report.
    ///
    /// A dry run (`writes` false) commits nothing: its "commit" is a rollback, and an
    /// interrupt meanwhile waits for it and then ends the run as before any commit.
    static func committing<Committed, T, E: Error>(
        unknown: String, writes: Bool = true,
        _ commit: () throws(E) -> Committed,
        afterCommit: (Committed) throws(E) -> T
    ) throws(E) -> (T, lateSignal: Int32?) {
        guard writes else {
            return (try deferring { () throws(E) -> T in try afterCommit(try commit()) }, nil)
        }
        state.prepareUnknown(text: "\n" + unknown + "\n",
                             json: ErrorDocument(ProvisionError(.interrupted, unknown)).encoded + "\n")
        state.deferDepth.add(1, ordering: .acquiringAndReleasing)
        state.committing.store(true, ordering: .releasing)
        // Whatever happens below, the caller reports it (committed, rolled back or unknown)
        // and the process ends then: a signal that arrived meanwhile is that report's to
        // mention, never a "rolled back" of its own.
        defer {
            state.committing.store(false, ordering: .releasing)
            state.pending.store(0, ordering: .releasing)
            state.deferDepth.subtract(1, ordering: .acquiringAndReleasing)
        }
        let committed: Committed
        do {
            committed = try commit()
        } catch {
            state.committing.store(false, ordering: .releasing)
            state.pending.store(0, ordering: .releasing)
            throw error
        }
        state.committed.store(true, ordering: .releasing)
        state.committing.store(false, ordering: .releasing)
        let value = try afterCommit(committed)
        let pending = state.pending.exchange(0, ordering: .acquiringAndReleasing)
        return (value, pending == 0 ? nil : pending)
    }

    /// What an interrupt before the commit did (the error document's message).
    static let rolledBack = "interrupted: the run was rolled back; nothing was written and no credential was shown"

    static func name(of signal: Int32) -> String { signal == SIGTERM ? "SIGTERM" : "SIGINT (Ctrl-C)" }

    // MARK: The handler

    /// Only async-signal-safe calls here and below: atomics, write(2) of buffers prepared
    /// in advance, unlink(2) and _exit(2); nothing that allocates, locks or initialises a
    /// global (`state` is initialised by `install`).
    private static let handler: @convention(c) (Int32) -> Void = { signal in
        let state = SignalState.shared
        if state.committing.load(ordering: .acquiring) {
            if state.pending.compareExchange(expected: 0, desired: signal, ordering: .acquiringAndReleasing).exchanged {
                let waiting: StaticString = "\ninterrupt received while COMMIT is in flight: waiting for the database's answer, so that the run is reported as it is (interrupt again to stop waiting; the outcome is then unknown)\n"
                _ = write(2, waiting.utf8Start, waiting.utf8CodeUnitCount)
                return
            }
            state.writeUnknown()
            state.removeFile()
            _exit(signal == SIGTERM ? 143 : 130)
        }
        if state.deferDepth.load(ordering: .acquiring) > 0 {
            _ = state.pending.compareExchange(expected: 0, desired: signal, ordering: .acquiringAndReleasing)
            return
        }
        if StatementCancellation.cancelFromSignalHandler(signal) {
            let cancelling: StaticString = "\ninterrupt received: cancelling the running statement on the server…\n"
            _ = write(2, cancelling.utf8Start, cancelling.utf8CodeUnitCount)
            return
        }
        Interrupts.end(signal)
    }

    static func end(_ signal: Int32) -> Never {
        let state = SignalState.shared
        if state.committed.load(ordering: .acquiring) {
            let message: StaticString = "\ninterrupted after the run committed: nothing was rolled back; what is reported above was committed\n"
            _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
            _exit(signal == SIGTERM ? 143 : 130)
        }
        if state.streamed.load(ordering: .acquiring) {
            // A read that was printing as it went (`list`): nothing to roll back.
            state.removeFile()
            let message: StaticString = "\ninterrupted: the output on stdout is incomplete; nothing was changed\n"
            _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
            _exit(signal == SIGTERM ? 143 : 130)
        }
        if state.json.load(ordering: .acquiring) && !state.documentOut.load(ordering: .acquiring) {
            state.writeInterrupted()
        }
        state.removeFile()
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
}

/// What the signal handler reads: atomics, and buffers filled before the handler can
/// need them (it must not allocate). Buffers are written only while no signal can read
/// them: before `committing` is set, and, for the path, with both signals blocked.
private final class SignalState: @unchecked Sendable {
    static let shared = SignalState()

    let json = Atomic<Bool>(false)
    let documentOut = Atomic<Bool>(false)
    /// Output is on its way to stdout in pieces (`Output.Stream`).
    let streamed = Atomic<Bool>(false)
    let committing = Atomic<Bool>(false)
    /// COMMIT returned: nothing can be rolled back any more.
    let committed = Atomic<Bool>(false)
    let deferDepth = Atomic<Int>(0)
    let pending = Atomic<Int32>(0)

    private static let capacity = 16_384
    private let unknownText = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    private let unknownJSON = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    private let interruptedJSON = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    private let interruptedJSONLength = Atomic<Int>(0)
    private let path = UnsafeMutablePointer<CChar>.allocate(capacity: Int(PATH_MAX) + 1)
    private let unknownTextLength = Atomic<Int>(0)
    private let unknownJSONLength = Atomic<Int>(0)
    private let hasPath = Atomic<Bool>(false)

    private init() { path[0] = 0 }

    func prepareUnknown(text: String, json: String) {
        unknownTextLength.store(Self.copy(text, into: unknownText), ordering: .releasing)
        unknownJSONLength.store(Self.copy(json, into: unknownJSON), ordering: .releasing)
    }

    /// The error document of an interrupt before the commit, naming the command.
    func prepareInterrupted(json: String) {
        interruptedJSONLength.store(Self.copy(json, into: interruptedJSON), ordering: .releasing)
    }

    func writeInterrupted() {
        _ = write(1, interruptedJSON, interruptedJSONLength.load(ordering: .acquiring))
    }

    func setPath(_ newPath: String?) {
        var all = sigset_t()
        sigfillset(&all)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &all, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        hasPath.store(false, ordering: .releasing)
        guard let newPath, newPath.utf8.count <= Int(PATH_MAX) else { return }
        _ = newPath.withCString { strcpy(path, $0) }
        hasPath.store(true, ordering: .releasing)
    }

    func writeUnknown() {
        if json.load(ordering: .acquiring) && !documentOut.load(ordering: .acquiring) {
            _ = write(1, unknownJSON, unknownJSONLength.load(ordering: .acquiring))
        }
        _ = write(2, unknownText, unknownTextLength.load(ordering: .acquiring))
    }

    func removeFile() {
        if hasPath.load(ordering: .acquiring) { unlink(path) }
    }

    /// Copies at most `capacity` bytes of `text`; returns how many.
    private static func copy(_ text: String, into buffer: UnsafeMutablePointer<UInt8>) -> Int {
        let bytes = Array(text.utf8.prefix(capacity))
        for (offset, byte) in bytes.enumerated() { buffer[offset] = byte }
        return bytes.count
    }
}
