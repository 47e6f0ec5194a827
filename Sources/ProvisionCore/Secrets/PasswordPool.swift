import Foundation

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

    private let condition = NSCondition()
    private var remaining: Int
    private var ready: [Hashed] = []
    private var failure: ProvisionError?
    private var stopped = false

    /// Starts `workers` threads (default: one per core) hashing `count` passwords.
    public init(count: Int, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        remaining = max(0, count)
        for _ in 0..<max(1, min(workers, count)) {
            let thread = Thread { [weak self] in self?.work() }
            thread.stackSize = 1 << 20
            thread.start()
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
}
