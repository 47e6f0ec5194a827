import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// CONTRACT §2 and §8 (credentials): every one-time password a run issues is shown once,
/// whatever created it and whatever role the user got, in text and in `--json`'s
/// `credentials[]`; each verifies against its stored argon2id hash; and `runId` is the
/// `run_id` of the run's audit rows.
@Suite("Credentials for users of every role")
struct EveryRoleTests {
    static let roles = ["OWNER", "ADMIN", "STAFF", "PARENT"]

    static func email(_ role: String) -> String { "\(role.lowercased())@every-role.example.com" }

    /// One tenant, and one new user per role, each with a one-time password.
    static let playbook = """
        local p = require "provision"
        local t = p.createTenant{slug = "every-role", name = "Every Role", supportEmail = "help@every-role.example.com"}
        for _, role in ipairs{"OWNER", "ADMIN", "STAFF", "PARENT"} do
          local u = p.createOwner{email = role:lower() .. "@every-role.example.com", name = "The " .. role}
          p.linkMembership{tenant = t, user = u, role = role}
        end
        """

    func runPlaybook(_ mode: OutputMode, in db: TestDatabase) throws -> ProvisionBinary.Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("every-role-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("every-role.lua")
        try Data(Self.playbook.utf8).write(to: file)
        return try ProvisionBinary.run(mode.apply(["run", file.path]), databaseURL: db.url)
    }

    /// The password printed for `email` verifies against users.password_hash, and the
    /// user must change it.
    func expectVerifies(_ password: String?, for email: String, in db: TestDatabase,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        let password = try #require(password, "a one-time password for \(email)", sourceLocation: sourceLocation)
        #expect(OneTimePasswordShape.matches(password), "\(password)", sourceLocation: sourceLocation)
        let hash = try #require(try db.scalar("SELECT password_hash FROM users WHERE email = \(literal(email))"), sourceLocation: sourceLocation)
        #expect(PHCString(hash)?.algorithm == "argon2id", sourceLocation: sourceLocation)
        #expect(PasswordHash.verify(password, against: hash), "\(email)'s password verifies against its hash", sourceLocation: sourceLocation)
        #expect(try db.scalar("SELECT must_change_password::text FROM users WHERE email = \(literal(email))") == "true",
                sourceLocation: sourceLocation)
    }

    @Test("--json: the result lists a user of each role, credentials[] holds each one's password, and each verifies")
    func json() throws {
        let db = try TestDatabase.create()
        let result = try runPlaybook(.json, in: db)
        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let json = try #require(result.json, "\(result)")

        let results = result.jsonResults
        try #require(results.count == 1, "\(result)")
        #expect(results[0]["status"] as? String == "created")
        let users = try #require(results[0]["users"] as? [[String: Any]])
        #expect(users.map { $0["role"] as? String } == Self.roles)
        #expect(users.map { $0["email"] as? String } == Self.roles.map(Self.email))
        #expect(users.allSatisfy { $0["created"] as? Bool == true })

        let credentials = result.jsonCredentials
        #expect(credentials.map { $0["email"] as? String } == Self.roles.map(Self.email), "every password issued, in order")
        for (user, credential) in zip(users, credentials) {
            #expect(credential["userId"] as? String == user["id"] as? String)
            #expect(credential["tenantSlug"] as? String == "every-role")
            #expect(user["id"] as? String == (try db.scalar("SELECT id FROM users WHERE email = \(literal(user["email"] as? String ?? ""))")))
        }
        for role in Self.roles {
            let password = result.jsonCredential(for: Self.email(role))?["oneTimePassword"] as? String
            try expectVerifies(password, for: Self.email(role), in: db)
            #expect(password.map { result.stdout.components(separatedBy: $0).count == 2 } == true, "each shown once")
        }
        #expect(Set(credentials.compactMap { $0["oneTimePassword"] as? String }).count == 4, "four different passwords")
        #expect(OneTimePasswordShape.occurrences(in: result.stderr).isEmpty, "no password on stderr")

        // The database's own rows (the migrations') have a run id of their own.
        let runIds = try db.column("SELECT DISTINCT run_id::text FROM audit_events WHERE action <> 'schema.migrate'")
        #expect(try db.count("SELECT 1 FROM audit_events WHERE action <> 'schema.migrate'") == 9, "1 tenant, 4 users, 4 memberships")
        #expect(runIds == [json["runId"] as? String], "runId is the run's audit_events.run_id: \(runIds)")
    }

    @Test("text: every user's one-time password is shown once, on stdout, and each verifies")
    func text() throws {
        let db = try TestDatabase.create()
        let result = try runPlaybook(.human, in: db)
        #expect(result.status == 0, "\(result)")
        let shown = OneTimePasswordShape.occurrences(in: result.stdout)
        #expect(shown.count == 4 && Set(shown).count == 4, "four passwords, each once:\n\(result.stdout)")
        for role in Self.roles {
            let line = result.stdout.split(separator: "\n").first { $0.contains(Self.email(role)) && !OneTimePasswordShape.occurrences(in: String($0)).isEmpty }
            #expect(line?.contains("every-role") == true, "the line names the tenant: \(line ?? "")")
            try expectVerifies(line.flatMap { OneTimePasswordShape.occurrences(in: String($0)).first }, for: Self.email(role), in: db)
        }
        #expect(OneTimePasswordShape.occurrences(in: result.stderr).isEmpty, "no password on stderr")
    }

    /// The issue's reproduction: an ADMIN added to an existing tenant by
    /// scripts/playbooks/add-admin.lua lost its password in --json.
    @Test("add-admin.lua: the new ADMIN's password is in --json's credentials[] and in text, and verifies", arguments: OutputMode.allCases)
    func addAdmin(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.production, databaseURL: db.url).status == 0)
        let email = "admin@pilot.example.com"
        let result = try ProvisionBinary.run(mode.apply(["run", Repository.path("scripts/playbooks/add-admin.lua")]) + ["--var", "slug=pilot", "--var", "email=\(email)", "--var", "name=Pilot Admin"],
                                             databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        #expect(try db.scalar("""
            SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id
            WHERE t.slug = 'pilot' AND u.email = \(literal(email))
            """) == "ADMIN")
        switch mode {
        case .json:
            try ContractSchema.validate(result.stdout, as: .run)
            let credential = try #require(result.jsonCredential(for: email), "\(result)")
            #expect(credential["tenantSlug"] as? String == "pilot")
            #expect(result.jsonCredentials.count == 1)
            try expectVerifies(credential["oneTimePassword"] as? String, for: email, in: db)
            let runId = result.json?["runId"] as? String
            #expect(try db.column("SELECT DISTINCT run_id::text FROM audit_events WHERE detail->>'email' = \(literal(email))") == [runId])
        case .human:
            let shown = OneTimePasswordShape.occurrences(in: result.stdout)
            #expect(shown.count == 1, "\(result)")
            try expectVerifies(shown.first, for: email, in: db)
        }
        #expect(OneTimePasswordShape.occurrences(in: result.stderr).isEmpty)
    }
}
