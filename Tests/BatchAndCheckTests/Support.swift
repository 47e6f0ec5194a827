import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// Shared vocabulary of the batch and check suites: CSV files in a folder of their own,
// the batch report's results, passwords as they are printed, and look-ups of what landed.

/// A temporary folder of one test; the test removes it (`defer { scratch.remove() }`).
struct Scratch {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("batch-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `text` as UTF-8 bytes, exactly as given (no line-end conversion).
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, bytes: Array(text.utf8))
    }

    @discardableResult
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let path = self.path(name)
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A CSV file from lines joined with "\n" (and a final "\n").
    @discardableResult
    func csv(_ lines: [String], name: String = "batch.csv") throws -> String {
        try write(name, lines.joined(separator: "\n") + "\n")
    }
}

/// The usual header, every column of CONTRACT §2.
let fullHeader = "tenantSlug,tenantName,ownerEmail,ownerName,timeZone,supportEmail,supportPhone,allowExistingUser"
/// Only the three required columns.
let requiredHeader = "tenantSlug,tenantName,ownerEmail"

extension ProvisionBinary {
    /// `provision batch FILE EXTRA...`.
    static func batch(_ file: String, _ extra: [String] = [], in db: TestDatabase?,
                      environment: [String: String] = [:]) throws -> Result {
        try run(["batch", file] + extra, databaseURL: db?.url, environment: environment)
    }

    /// `provision tenant` with the three required flags (and `extra`), which must succeed.
    @discardableResult
    static func tenant(_ slug: String, owner email: String, _ extra: [String] = [], in db: TestDatabase,
                       sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let result = try run(["tenant", "--tenantSlug", slug, "--tenantName", "Tenant \(slug)", "--ownerEmail", email] + extra,
                             databaseURL: db.url)
        try #require(result.status == 0, "setting up tenant \(slug): \(result)", sourceLocation: sourceLocation)
        return result
    }
}

extension ProvisionBinary.Result {
    var errorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }

    /// The JSON `results` array of the envelope (CONTRACT §2).
    var results: [[String: Any]] { json?["results"] as? [[String: Any]] ?? [] }

    /// Each result's tenant slug, in order (nil for a failure that named no tenant).
    var resultSlugs: [String?] { results.map { ($0["tenant"] as? [String: Any])?["slug"] as? String } }

    /// The result for one slug.
    func result(_ slug: String) -> [String: Any]? {
        results.first { ($0["tenant"] as? [String: Any])?["slug"] as? String == slug }
    }

    func status(of slug: String) -> String? { result(slug)?["status"] as? String }

    func errorCode(of slug: String) -> String? {
        (result(slug)?["error"] as? [String: Any])?["code"] as? String
    }

    /// The result's OWNER among its `users`.
    func owner(of slug: String) -> [String: Any]? {
        (result(slug)?["users"] as? [[String: Any]])?.first { $0["role"] as? String == "OWNER" }
    }

    /// The envelope's `credentials`.
    var credentials: [[String: Any]] { json?["credentials"] as? [[String: Any]] ?? [] }

    /// The one-time password `credentials` holds for `email` (ignoring case), if any.
    func password(of email: String) -> String? {
        credentials.first { ($0["email"] as? String)?.lowercased() == email.lowercased() }?["oneTimePassword"] as? String
    }

    var stderrLines: [String] {
        stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}

/// One-time passwords as the core makes them: 4 dash-separated groups of 5 symbols.
enum Passwords {
    static let alphabet = Set("23456789abcdefghjkmnpqrstuvwxyz")

    static func isShaped(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.count == 4 && groups.allSatisfy { $0.count == 5 && $0.allSatisfy(alphabet.contains) }
    }

    /// Every password-shaped word in `text`, in order (with repeats).
    static func occurrences(in text: String) -> [String] {
        text.matches(of: /[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{5}/).map { String($0.output) }.filter(isShaped)
    }
}

/// A SQL string literal.
func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

extension TestDatabase {
    func count(_ query: String) throws -> Int {
        Int(try scalar("SELECT count(*) FROM (\(query)) r") ?? "") ?? -1
    }

    /// Slugs of every tenant, sorted.
    func slugs() throws -> [String] {
        try column("SELECT slug FROM tenants ORDER BY slug").compactMap { $0 }
    }

    /// The email of the tenant's OWNER (nil if none).
    func ownerEmail(of slug: String) throws -> String? {
        try scalar("""
            SELECT u.email FROM tenants t JOIN memberships m ON m.tenant_id = t.id AND m.role = 'OWNER'
            JOIN users u ON u.id = m.user_id WHERE t.slug = \(literal(slug))
            """)
    }

    /// users.password_hash of the user with this email (case-insensitive).
    func passwordHash(of email: String) throws -> String? {
        try scalar("SELECT password_hash FROM users WHERE lower(email) = lower(\(literal(email)))")
    }

    func userExists(_ email: String) throws -> Bool {
        try count("SELECT 1 FROM users WHERE lower(email) = lower(\(literal(email)))") == 1
    }

    /// New sessions on this database wait at most 200 ms for a lock, so a row whose slug
    /// the test holds uncommitted fails at the database instead of waiting.
    func giveUpOnLocksQuickly() throws {
        try connect().run(fixture: "ALTER DATABASE \(name) SET lock_timeout = '200ms'")
    }

    /// A session of the test's own that inserted a tenant with `slug` and has not
    /// committed: a run's insert of that slug waits on it (or, after
    /// `giveUpOnLocksQuickly`, fails at the database). Roll it back to let go.
    func holdSlugUncommitted(_ slug: String) throws -> Connection {
        let blocker = try connect()
        try blocker.begin()
        try blocker.run(fixture: "INSERT INTO tenants (slug, name) VALUES (\(literal(slug)), 'held by the test')")
        return blocker
    }

    /// Makes every COMMIT that ran `event` (INSERT or DELETE) on tenants wait for advisory
    /// lock `lock` (a deferred constraint trigger runs inside COMMIT), which the returned
    /// session holds until it unlocks or closes.
    func holdCommits(after event: String, lock: Int) throws -> Connection {
        try connect().run(fixture: """
            CREATE FUNCTION test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_xact_lock(\(lock)); RETURN NULL; END $$;
            CREATE CONSTRAINT TRIGGER test_hold_commit AFTER \(event) ON tenants
              DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_hold_commit();
            """)
        let holder = try connect()
        try holder.run(fixture: "SELECT pg_advisory_lock(\(lock))")
        return holder
    }

    func tenantExists(_ slug: String) throws -> Bool {
        try count("SELECT 1 FROM tenants WHERE slug = \(literal(slug))") == 1
    }
}

/// The file's rows as the CSV library reads them back (header first), for the
/// credentials file.
func parseCSV(_ text: String) -> [[String]] {
    // The credentials file holds no quotes, commas or newlines inside fields (slugs,
    // emails, passwords and timestamps), so splitting is exact here.
    text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
}
