import Foundation
import ProvisionCore

/// DATABASE_URL, as the runbook's preconditions name it.
enum DatabaseURL {
    static var fromEnvironment: String? {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"],
              !url.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return url
    }

    static let unsetError = ProvisionError(.databaseUnavailable, "DATABASE_URL is not set: export it as a libpq URI (postgresql://user@host:5432/db) or key=value conninfo, then run again")

    /// Connects, or fails with exit 4 and a message without the password.
    /// With `runTimeout` (a playbook's --timeout), no single statement may outlast the run.
    static func connect(runTimeout: Double? = nil) throws(ProvisionError) -> Connection {
        guard let url = fromEnvironment else { throw unsetError }
        var limit = statementTimeoutMilliseconds
        if let runTimeout { limit = min(limit, max(1, Int(runTimeout * 1000))) }
        return try Connection(url: url, statementTimeoutMilliseconds: limit)
    }

    /// A connection whose schema is fully migrated (exit 4 naming `provision migrate` if not).
    static func connectMigrated(runTimeout: Double? = nil) throws(ProvisionError) -> Connection {
        let connection = try connect(runTimeout: runTimeout)
        try Migrator(connection: connection).requireMigrated()
        return connection
    }

    /// `PROVISION_STATEMENT_TIMEOUT_MS`, default 30 s: one stuck statement never hangs a run.
    static var statementTimeoutMilliseconds: Int {
        ProcessInfo.processInfo.environment["PROVISION_STATEMENT_TIMEOUT_MS"].flatMap(Int.init) ?? 30_000
    }
}
