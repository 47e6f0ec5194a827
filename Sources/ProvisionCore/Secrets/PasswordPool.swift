#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Hashes one-time passwords ahead of need on every core. argon2id is slow on purpose
/// (~19 MiB and tens of milliseconds a hash), so a batch that hashed on the main thread
/// would spend almost all its time there; with the pool, hashing runs on all cores
/// while the main thread does the database work, and `take()` rarely waits.
///
/// It hashes exactly as many as it was asked for, so no work is thrown away, and each
/// worker keeps one argon2 block for all its hashes, so memory stays at one block per
/// worker however long the batch.
public final class PasswordPool: @unchecked Sendable {
    public struct Hashed: Sendable {
        public let password: OneTimePassword
        public let hash: String
    }

    private let condition = Condition()
    private var remaining: Int
    private var ready: [Hashed] = []
    private var failure: ProvisionError?
    private var stopped = false

    /// Starts `workers` threads (default: one per core) hashing `count` passwords.
    public init(count: Int, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        remaining = max(0, count)
        for _ in 0..<max(1, min(workers, count)) {
            guard Self.startThread({ [weak self] in self?.work() }) else {
                condition.lock()
                failure = ProvisionError(.limitExceeded, "could not start a thread to hash one-time passwords: \(String(cString: strerror(errno)))")
                condition.broadcast()
                condition.unlock()
                break
            }
        }
    }

    deinit { stop() }

    /// The next hashed password, waiting for one if the workers are behind; nil when
    /// the pool has handed out all it was asked for.
    public func take() throws(ProvisionError) -> Hashed? {
        condition.lock()
        defer { condition.unlock() }
        while ready.isEmpty {
            if let failure { throw failure }
            if remaining == 0 && activeWorkers == 0 { return nil }
            condition.wait()
        }
        return ready.removeFirst()
    }

    /// Stops hashing; what is not yet handed out is dropped.
    public func stop() {
        condition.lock()
        stopped = true
        remaining = 0
        ready.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    private var activeWorkers = 0

    private func work() {
        // One argon2 block for all this worker's hashes (see Argon2Block).
        Argon2Block.keep()
        defer { Argon2Block.release() }
        condition.lock()
        activeWorkers += 1
        while !stopped && remaining > 0 {
            remaining -= 1
            condition.unlock()
            let password = OneTimePassword.generate()
            let result = Result { () throws(ProvisionError) in try PasswordHash.argon2id(password) }
            condition.lock()
            switch result {
            case .success(let hash): if !stopped { ready.append(Hashed(password: password, hash: hash)) }
            case .failure(let error): failure = error
            }
            condition.broadcast()
        }
        activeWorkers -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// A detached thread with a 1 MiB stack (argon2's memory is on the heap) running `body`.
    private static func startThread(_ body: @escaping @Sendable () -> Void) -> Bool {
        final class Work { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 1 << 20)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(Work(body)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, &attributes, { context in
            Unmanaged<Work>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        if status != 0 {
            Unmanaged<Work>.fromOpaque(context).release()
            errno = status
        }
        return status == 0
    }
}

/// A mutex and its condition variable, the C library's (what Foundation's NSCondition
/// wraps), at fixed addresses as pthreads require.
final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let variable = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(variable, nil)
    }

    deinit {
        pthread_cond_destroy(variable)
        pthread_mutex_destroy(mutex)
        variable.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Waits for a broadcast, the mutex released meanwhile (held again on return).
    func wait() { pthread_cond_wait(variable, mutex) }
    func broadcast() { pthread_cond_broadcast(variable) }
}
