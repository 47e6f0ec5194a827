import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// Shared vocabulary of the end-to-end suites: the runbook's commands, the two output
// forms, and look-ups of what landed in the database.

/// Human output (the runbook's) or `--json`.
enum OutputMode: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case human, json
    var testDescription: String { rawValue }

    func apply(_ arguments: [String]) -> [String] {
        self == .json ? arguments + ["--json"] : arguments
    }
}

/// The runbook's command examples, exactly as written, with `provision tenant` in place
/// of `pnpm provision:tenant`.
enum Runbook {
    static let staging = [
        "tenant",
        "--tenantSlug", "pilot-staging",
        "--tenantName", "Pilot Staging",
        "--ownerEmail", "owner@pilot-staging.example.com",
        "--ownerName", "Pilot Owner",
        "--timeZone", "America/Edmonton",
        "--supportEmail", "support@pilot-staging.example.com",
        "--supportPhone", "+1 555 123 4567",
    ]

    static let production = [
        "tenant",
        "--tenantSlug", "pilot",
        "--tenantName", "Pilot",
        "--ownerEmail", "owner@pilot.example.com",
        "--ownerName", "Pilot Owner",
        "--timeZone", "America/Edmonton",
        "--supportEmail", "support@pilot.example.com",
        "--supportPhone", "+1 555 123 4567",
    ]

    static let dryRun = [
        "tenant", "--tenantSlug", "pilot", "--tenantName", "Pilot", "--ownerEmail", "owner@pilot.example.com", "--dryRun",
    ]

    /// The minimal command for one tenant (no optional flags).
    static func tenant(_ slug: String, owner email: String, _ extra: String...) -> [String] {
        ["tenant", "--tenantSlug", slug, "--tenantName", "Tenant \(slug)", "--ownerEmail", email] + extra
    }
}

/// What a tenant run should have stored.
struct ExpectedTenant {
    var slug: String
    var name: String
    var timeZone: String?
    var supportEmail: String?
    var supportPhone: String?
    var ownerEmail: String
    var ownerName: String?

    static let staging = ExpectedTenant(
        slug: "pilot-staging", name: "Pilot Staging", timeZone: "America/Edmonton",
        supportEmail: "support@pilot-staging.example.com", supportPhone: "+1 555 123 4567",
        ownerEmail: "owner@pilot-staging.example.com", ownerName: "Pilot Owner")

    static let production = ExpectedTenant(
        slug: "pilot", name: "Pilot", timeZone: "America/Edmonton",
        supportEmail: "support@pilot.example.com", supportPhone: "+1 555 123 4567",
        ownerEmail: "owner@pilot.example.com", ownerName: "Pilot Owner")
}

// MARK: - Output

extension ProvisionBinary.Result {
    var errorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }

    /// The one-time password of human output: on its own indented line after the line
    /// starting "One-time password for".
    var humanOneTimePassword: String? {
        let lines = stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("One-time password for") }),
              let line = lines[(header + 1)...].first(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }),
              line.first == " " || line.first == "\t"
        else { return nil }
        return line.trimmingCharacters(in: .whitespaces)
    }

    /// The one-time password of either output form: in JSON, the Owner's entry in
    /// `credentials`.
    func oneTimePassword(_ mode: OutputMode) -> String? {
        switch mode {
        case .human: return humanOneTimePassword
        case .json: return (jsonOwner?["email"] as? String).flatMap { jsonCredential(for: $0) }?["oneTimePassword"] as? String
        }
    }

    /// The envelope's `results` (CONTRACT §2).
    var jsonResults: [[String: Any]] { json?["results"] as? [[String: Any]] ?? [] }

    /// The first result's tenant (`provision tenant` has one result).
    var jsonTenant: [String: Any]? { jsonResults.first?["tenant"] as? [String: Any] }

    /// The first result's OWNER among its `users`.
    var jsonOwner: [String: Any]? {
        (jsonResults.first?["users"] as? [[String: Any]])?.first { $0["role"] as? String == "OWNER" }
    }

    /// The envelope's `credentials`.
    var jsonCredentials: [[String: Any]] { json?["credentials"] as? [[String: Any]] ?? [] }

    /// The credential issued to `email` (compared ignoring case), if any.
    func jsonCredential(for email: String) -> [String: Any]? {
        jsonCredentials.first { ($0["email"] as? String)?.lowercased() == email.lowercased() }
    }

    /// The JSON `warnings` array (empty if absent).
    var jsonWarnings: [String] { json?["warnings"] as? [String] ?? [] }
}

enum OneTimePasswordShape {
    static let alphabet = Set("23456789abcdefghjkmnpqrstuvwxyz")

    /// 4 dash-separated groups of 5 from the unambiguous alphabet.
    static func matches(_ password: String) -> Bool {
        let groups = password.split(separator: "-", omittingEmptySubsequences: false)
        return groups.count == 4 && groups.allSatisfy { $0.count == 5 && $0.allSatisfy(alphabet.contains) }
    }

    /// Every password-shaped word in `text` (to prove that none was printed).
    static func occurrences(in text: String) -> [String] {
        text.matches(of: /[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{5}/).map { String($0.output) }.filter(matches)
    }
}

/// An argon2 PHC string: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
struct PHCString {
    let algorithm: String
    let memoryKiB: Int
    let iterations: Int
    let parallelism: Int
    let salt: String
    let hash: String

    init?(_ text: String) {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0].isEmpty, parts[2] == "v=19" else { return nil }
        var parameters: [String: Int] = [:]
        for pair in parts[3].split(separator: ",") {
            let keyValue = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard keyValue.count == 2, let value = Int(keyValue[1]) else { return nil }
            parameters[keyValue[0]] = value
        }
        guard let m = parameters["m"], let t = parameters["t"], let p = parameters["p"] else { return nil }
        algorithm = parts[1]
        memoryKiB = m
        iterations = t
        parallelism = p
        salt = parts[4]
        hash = parts[5]
    }

    /// Bytes of an unpadded base64 field.
    static func decodedLength(_ field: String) -> Int? {
        var padded = field
        while padded.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded)?.count
    }
}

// MARK: - Database

/// A SQL string literal.
func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

extension TestDatabase {
    /// Rows of `query` as JSON objects (column name → value; timestamps as strings).
    func rows(_ query: String) throws -> [[String: Any]] {
        try column("SELECT row_to_json(r)::text FROM (\(query)) r").map { text in
            guard let text, let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw TestFailure("row_to_json returned no object")
            }
            return object
        }
    }

    func count(_ query: String) throws -> Int {
        Int(try scalar("SELECT count(*) FROM (\(query)) r") ?? "") ?? -1
    }

    /// Tables in the public schema (for databases that must stay empty).
    func publicTables() throws -> [String] {
        try column("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").compactMap { $0 }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - What landed

/// Checks every column a committed run wrote for `expected`, and that `password` (the
/// one printed) verifies against the stored hash.
func expectProvisioned(_ expected: ExpectedTenant, password: String?, in db: TestDatabase,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
    let tenants = try db.rows("SELECT id, slug, name, time_zone, support_email, support_phone, created_at FROM tenants WHERE slug = \(literal(expected.slug))")
    try #require(tenants.count == 1, "exactly one tenant \(expected.slug)", sourceLocation: sourceLocation)
    let tenant = tenants[0]
    #expect(tenant["name"] as? String == expected.name, sourceLocation: sourceLocation)
    #expect(tenant["time_zone"] as? String == expected.timeZone, sourceLocation: sourceLocation)
    #expect(tenant["support_email"] as? String == expected.supportEmail, sourceLocation: sourceLocation)
    #expect(tenant["support_phone"] as? String == expected.supportPhone, sourceLocation: sourceLocation)
    #expect(tenant["created_at"] is String, "tenants.created_at is set", sourceLocation: sourceLocation)

    let users = try db.rows("""
        SELECT id, email, name, password_hash, must_change_password::text AS must_change_password,
               (extract(epoch FROM password_expires_at - now()) / 3600)::text AS expires_in_hours,
               (extract(epoch FROM password_expires_at - created_at) / 3600)::text AS lifetime_hours
        FROM users WHERE lower(email) = lower(\(literal(expected.ownerEmail)))
        """)
    try #require(users.count == 1, "exactly one user \(expected.ownerEmail)", sourceLocation: sourceLocation)
    let user = users[0]
    #expect(user["email"] as? String == expected.ownerEmail, sourceLocation: sourceLocation)
    #expect(user["name"] as? String == expected.ownerName, sourceLocation: sourceLocation)
    #expect(user["must_change_password"] as? String == "true", sourceLocation: sourceLocation)
    let expiresIn = try #require((user["expires_in_hours"] as? String).flatMap(Double.init), "password_expires_at is set", sourceLocation: sourceLocation)
    #expect(expiresIn > 71 && expiresIn <= 72, "password expires about 72 h from now, not \(expiresIn) h", sourceLocation: sourceLocation)
    let lifetime = try #require((user["lifetime_hours"] as? String).flatMap(Double.init), sourceLocation: sourceLocation)
    #expect(abs(lifetime - 72) < 0.02, "password_expires_at is 72 h after created_at, not \(lifetime) h", sourceLocation: sourceLocation)

    let hash = try #require(user["password_hash"] as? String, "password_hash is set", sourceLocation: sourceLocation)
    let phc = try #require(PHCString(hash), "password_hash is a PHC string: \(hash)", sourceLocation: sourceLocation)
    #expect(phc.algorithm == "argon2id", sourceLocation: sourceLocation)
    #expect(phc.memoryKiB >= 19_456, sourceLocation: sourceLocation)
    #expect(phc.iterations >= 2, sourceLocation: sourceLocation)
    #expect(phc.parallelism == 1, sourceLocation: sourceLocation)
    #expect(PHCString.decodedLength(phc.salt) == 16, "a 16-byte salt", sourceLocation: sourceLocation)

    let password = try #require(password, "a one-time password was printed", sourceLocation: sourceLocation)
    #expect(OneTimePasswordShape.matches(password), "password shape: \(password)", sourceLocation: sourceLocation)
    #expect(PasswordHash.verify(password, against: hash), "the printed password verifies against users.password_hash",
            sourceLocation: sourceLocation)

    let memberships = try db.rows("""
        SELECT m.role FROM memberships m
        WHERE m.tenant_id = \(literal(tenant["id"] as? String ?? ""))::uuid AND m.user_id = \(literal(user["id"] as? String ?? ""))::uuid
        """)
    #expect(memberships.map { $0["role"] as? String } == ["OWNER"], "one OWNER membership", sourceLocation: sourceLocation)
}

/// Tenants that have no OWNER membership (must always be none).
func tenantsWithoutOwner(in db: TestDatabase) throws -> Int {
    try db.count("""
        SELECT 1 FROM tenants t
        WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = t.id AND m.role = 'OWNER')
        """)
}

/// Runs that really race: each started while another session holds a lock (`gate`, a
/// statement run in its open transaction), released only once every run waits for a
/// lock, so all of them reach the contended point together.
enum Race {
    /// Starts every run while `gate` holds, waits until all of them wait for a lock (or
    /// one has ended without reaching it: its result then shows why), releases the gate,
    /// and returns the results in the order of `runs`; it is an issue when the runs did
    /// not all meet.
    static func run(_ runs: [[String]], gate: String, in db: TestDatabase,
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> [ProvisionBinary.Result] {
        let holder = try db.connect()
        try holder.begin()
        try holder.run(fixture: gate)
        let monitor = try db.connect()
        var started: [(Process, Pipe, Pipe)] = []
        var waiting = 0
        do {
            for arguments in runs {
                started.append(try ProvisionBinary.start(arguments, databaseURL: db.url))
            }
            // Not a timeout: ends when every run waits, or one has ended early.
            while true {
                let rows = try monitor.run("""
                    SELECT count(DISTINCT pid)::text FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                    """)
                waiting = Int((rows.values.first?.first ?? nil) ?? "") ?? 0
                if waiting >= runs.count || started.contains(where: { !$0.0.isRunning }) { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
        } catch {
            holder.rollback()
            for (process, _, _) in started where process.isRunning { process.terminate() }
            throw error
        }
        holder.rollback()
        let results = started.map(ProvisionBinary.finish)
        #expect(waiting == runs.count, "all \(runs.count) runs met at the gate, so they really raced: \(results)",
                sourceLocation: sourceLocation)
        return results
    }
}
