/// The one transaction of a run (CONTRACT §4): opened on first use (READ ONLY for a dry
/// run, so the database itself refuses any write), its savepoints, and how it ended. A
/// nested transaction lives inside one the caller already opened (a test's, always
/// rolled back): it begins as a savepoint, "commits" by releasing it and rolls back to
/// it, so it can never end the caller's transaction.
final class RunTransaction {
    enum State { case notStarted, open, committed, rolledBack }

    let connection: Connection?
    let readOnly: Bool
    private let nested: Bool
    private(set) var state: State = .notStarted
    /// A nested transaction's own savepoint in the caller's.
    private var enclosing: Savepoint?
    /// COMMIT was sent but no answer came (the connection was lost): the run may or may
    /// not have committed, and must never be reported as rolled back.
    private(set) var commitOutcomeUnknown = false

    init(connection: Connection?, readOnly: Bool, nested: Bool) {
        self.connection = connection
        self.readOnly = readOnly
        self.nested = nested
    }

    func begin() throws(ProvisionError) {
        guard state == .notStarted else { return }
        if nested {
            enclosing = try connection?.savepoint()
        } else {
            try connection?.begin(readOnly: readOnly)
        }
        state = .open
    }

    /// Commits; false when there was nothing open to commit.
    func commit() throws(ProvisionError) -> Bool {
        guard state == .open else { return false }
        do {
            if nested {
                if let enclosing { try connection?.release(enclosing) }
            } else {
                try connection?.commit()
            }
        } catch {
            state = .rolledBack
            // The server may have committed before the connection went: nobody can say.
            if error.code == .databaseUnavailable { commitOutcomeUnknown = true }
            throw error
        }
        state = .committed
        return true
    }

    func rollback() {
        if state == .open {
            if nested {
                if let enclosing { _ = try? connection?.rollback(to: enclosing) }
            } else {
                connection?.rollback()
            }
        }
        state = .rolledBack
    }

    /// True once a database error aborted the transaction: it can only roll back.
    var aborted: Bool { connection?.transactionAborted == true }

    /// Opens the transaction if need be; refuses once it ended or was aborted.
    func requireOpen() throws(ProvisionError) {
        if state == .notStarted { try begin() }
        guard state == .open else {
            throw ProvisionError(.playbookError, "this run has already ended; no more changes can be made in it")
        }
        if aborted {
            throw ProvisionError(.databaseError, "an earlier database error aborted this run's transaction: nothing more can be done in it, and nothing of it will be written")
        }
    }

    func savepoint() throws(ProvisionError) -> Savepoint? { try connection?.savepoint() }

    func release(_ savepoint: Savepoint) throws(ProvisionError) {
        if state == .open { try connection?.release(savepoint) }
    }

    func rollback(to savepoint: Savepoint) throws(ProvisionError) {
        if state == .open { try connection?.rollback(to: savepoint) }
    }
}
