import Foundation
import ProvisionCore

/// A login role of the test server's for one test (roles are server-wide: a unique name,
/// dropped at the end).
public struct TemporaryRole {
    public let name: String

    public init(_ attributes: String) throws {
        name = "t_role_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try Connection(url: TestDatabase.adminURL).run(fixture: "CREATE ROLE \(name) \(attributes)")
    }

    /// DATABASE_URL for `database`, connecting as this role.
    public func url(database: String) -> String {
        var components = URLComponents(string: TestDatabase.url(forDatabase: database))!
        components.user = name
        return components.string!
    }

    /// An empty database this role owns.
    public func createDatabase() throws -> String {
        let database = "t_owned_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try Connection(url: TestDatabase.adminURL).run(fixture: "CREATE DATABASE \(database) OWNER \(name)")
        return database
    }

    public func dropDatabase(_ database: String) {
        _ = try? Connection(url: TestDatabase.adminURL).run(fixture: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
    }

    /// Best effort: privileges it holds in other test databases keep it alive.
    public func drop() {
        _ = try? Connection(url: TestDatabase.adminURL).run(fixture: "DROP ROLE IF EXISTS \(name)")
    }
}
