import Foundation
// For `StaticScript`: fixtures are text the test binary carries, which the core's own
// API never accepts (every statement it sends is compiled in, values bound).
@testable import ProvisionCore

/// A database of its own for one test, on the server `scripts/test` started
/// (`PROVISION_TEST_DATABASE_URL`). Tests never share rows, so they run in parallel.
public struct TestDatabase: Sendable {
    public let name: String
    /// DATABASE_URL for this database.
    public let url: String

    /// The admin URL; a test run without it fails loudly rather than skipping.
    public static var adminURL: String {
        guard let url = ProcessInfo.processInfo.environment["PROVISION_TEST_DATABASE_URL"], !url.isEmpty else {
            fatalError("PROVISION_TEST_DATABASE_URL is not set: run the tests with ./scripts/test, which starts PostgreSQL")
        }
        return url
    }

    /// A fresh database with every bundled migration applied (copied from a template
    /// migrated once per test process), or an empty one with `migrated: false`.
    public static func create(migrated: Bool = true) throws -> TestDatabase {
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        let admin = try Connection(url: adminURL)
        let template = migrated ? try MigratedTemplate.shared.name : nil
        try admin.run(fixture: "CREATE DATABASE \(name)\(template.map { " TEMPLATE \($0)" } ?? "")")
        return TestDatabase(name: String(name), url: Self.url(forDatabase: String(name)))
    }

    /// The admin URL with its database name replaced.
    public static func url(forDatabase database: String) -> String {
        guard var components = URLComponents(string: adminURL) else { fatalError("PROVISION_TEST_DATABASE_URL is not a URI") }
        components.path = "/" + database
        return components.string!
    }

    public func connect() throws -> Connection { try Connection(url: url) }

    /// Runs a query and returns the first column of every row.
    public func column(_ sql: String) throws -> [String?] {
        let rows = try connect().run(fixture: sql)
        return rows.values.map { $0.first ?? nil }
    }

    /// A single scalar.
    public func scalar(_ sql: String) throws -> String? { try column(sql).first ?? nil }

    /// Rows of every table the tool writes, for "nothing was written" assertions.
    public func rowCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in Self.countedTables {
            counts[table] = Int(try scalar("SELECT count(*) FROM \"\(table)\"") ?? "0") ?? -1
        }
        return counts
    }

    public static let countedTables = [
        "tenants", "users", "memberships", "audit_events", "schema_migrations",
        "centers", "levels", "programs", "groups", "students", "parents", "student_parents",
    ]
}

/// One migrated database per test process, copied by `CREATE DATABASE … TEMPLATE`.
final class MigratedTemplate: @unchecked Sendable {
    static let shared = MigratedTemplate()
    private let lock = NSLock()
    private var created: String?

    var name: String {
        get throws {
            lock.lock()
            defer { lock.unlock() }
            if let created { return created }
            let name = "tpl_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
            let admin = try Connection(url: TestDatabase.adminURL)
            try admin.run(fixture: "CREATE DATABASE \(name)")
            do {
                let connection = try Connection(url: TestDatabase.url(forDatabase: String(name)))
                _ = try Migrator(connection: connection).migrate(audit: AuditContext(actor: "test-setup"))
            }
            created = String(name)
            return String(name)
        }
    }
}

extension Connection {
    /// Runs SQL a test wrote (roles, databases, rows to set a scene), with the
    /// simple-query protocol and no parameters; returns the last statement's rows.
    @discardableResult
    public func run(fixture sql: String) throws -> Rows {
        try executeScript(StaticScript(text: sql))
    }
}

/// The servers operators put between provision and PostgreSQL, which scripts/test starts
/// beside the test server: PgBouncer in transaction pooling (one server connection per
/// database and user) and a hot standby that follows the test server.
public enum TestServers {
    public static var pgbouncer: String? { ProcessInfo.processInfo.environment["PROVISION_TEST_PGBOUNCER_URL"].flatMap { $0.isEmpty ? nil : $0 } }
    public static var standby: String? { ProcessInfo.processInfo.environment["PROVISION_TEST_STANDBY_URL"].flatMap { $0.isEmpty ? nil : $0 } }
    /// A Citus cluster's coordinator (`provision` database), where scripts/test started one.
    public static var citus: String? { ProcessInfo.processInfo.environment["PROVISION_TEST_CITUS_URL"].flatMap { $0.isEmpty ? nil : $0 } }
    /// Its workers' `provision` databases.
    public static var citusWorkers: [String] {
        (ProcessInfo.processInfo.environment["PROVISION_TEST_CITUS_WORKERS"] ?? "").split(separator: " ").map(String.init)
    }

    /// `base` (a URI) naming `database` instead.
    public static func url(_ base: String, database: String) -> String {
        var components = URLComponents(string: base)!
        components.path = "/" + database
        return components.string!
    }
}
