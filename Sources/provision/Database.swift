#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore

/// DATABASE_URL, as the runbook's preconditions name it.
enum DatabaseURL {
    static var fromEnvironment: String? {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"],
              !url.trimmed(.spaces).isEmpty else { return nil }
        return url
    }

    static let unsetError = ProvisionError(.databaseUnavailable, "DATABASE_URL is not set: export it as a libpq URI (postgresql://user@host:5432/db) or key=value conninfo, then run again")

    /// Connects, or fails with exit 4 and a message without the password.
    /// With `runTimeout` (a playbook's --timeout), no single statement may outlast the run.
    static func connect(runTimeout: Double? = nil) throws(ProvisionError) -> Connection {
        guard let url = fromEnvironment else { throw unsetError }
        var limit = try statementTimeoutMilliseconds()
        // `--timeout` is at most a week (LimitOptions), so its milliseconds fit an Int.
        if let runTimeout { limit = min(limit, max(1, Int((runTimeout * 1000).rounded(.up)))) }
        return try Connection(url: url, statementTimeoutMilliseconds: limit)
    }

    /// A connection whose schema is fully migrated (exit 4 naming `provision migrate` if not).
    /// With `group`, the connecting role must hold every privilege that group of
    /// commands needs (forbidden, naming each GRANT, before anything runs).
    static func connectMigrated(runTimeout: Double? = nil, grantsFor group: GrantGroup? = nil) throws(ProvisionError) -> Connection {
        let connection = try connect(runTimeout: runTimeout)
        try Migrator(connection: connection).requireMigrated(grantsFor: group)
        return connection
    }

    static let statementTimeoutVariable = "PROVISION_STATEMENT_TIMEOUT_MS"
    /// A week, as for `--timeout`.
    static let statementTimeoutRange = 1...604_800_000

    /// `PROVISION_STATEMENT_TIMEOUT_MS`, default 30 s: one stuck statement never hangs a
    /// run. A value that is not a whole number of milliseconds in range is invalid input
    /// (exit 2), checked before the connection is made, never ignored.
    static func statementTimeoutMilliseconds(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ProvisionError) -> Int {
        // Set but empty counts as unset, as for DATABASE_URL.
        guard let text = environment[statementTimeoutVariable], !text.trimmed(.spaces).isEmpty else { return 30_000 }
        guard let value = Int(text.trimmed(.spaces)), statementTimeoutRange.contains(value) else {
            throw ProvisionError(.invalidInput, "\(statementTimeoutVariable) must be a whole number of milliseconds from 1 to 604800000 (7 days), got '\(text)'",
                                 field: statementTimeoutVariable)
        }
        return value
    }
}
