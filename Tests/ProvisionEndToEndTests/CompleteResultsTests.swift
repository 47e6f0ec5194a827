import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §13, "Every result is complete": every result names its tenant and users with
// their stored ids (unchanged, differs, reset, updated, deleted ones included), a change
// to an existing tenant is a result of its own with its changes, a delete says which
// users it kept and why, and every error document names its command and keeps its code
// and where it came from. Every --json document is checked against the schema.

/// A folder of one test holding `files` (name → text); the test removes it.
private struct ResultsFolder {
    let url: URL

    init(_ files: [String: String] = [:]) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("complete-results-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files {
            try Data(text.utf8).write(to: url.appendingPathComponent(name))
        }
    }

    var path: String { url.path }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The keys of a `changes` entry, as one comparable line (`nil` for JSON null).
private func changeLine(_ change: [String: Any]) -> String {
    [change["field"], change["from"], change["to"]]
        .map { value in (value as? String).map { "'\($0)'" } ?? (value is NSNull ? "null" : "missing") }
        .joined(separator: " | ")
}

@Suite("Every result is complete")
struct CompleteResultsTests {
    /// Flags of a tenant with every field the re-run compares set.
    static let pilot = [
        "tenant", "--tenantSlug", "same-pilot", "--tenantName", "Same Pilot", "--ownerEmail", "owner@same-pilot.example",
        "--ownerName", "Same Owner", "--timeZone", "America/Edmonton", "--supportEmail", "support@same-pilot.example",
    ]

    /// §13: `--skipExisting` on a tenant provisioned with that Owner reports the stored
    /// tenant (id and fields) and the Owner (id, role, created false), whether it is
    /// `unchanged` or `differs` (exit 3, with its differences).
    @Test("--skipExisting: unchanged and differs results carry the stored tenant and Owner with their ids")
    func skipExistingCarriesStoredIds() throws {
        let db = try TestDatabase.create()
        let created = try ProvisionBinary.run(Self.pilot, databaseURL: db.url)
        try #require(created.status == 0, "\(created)")
        let tenantId = try #require(try db.scalar("SELECT id FROM tenants WHERE slug = 'same-pilot'"))
        let ownerId = try #require(try db.scalar("SELECT id FROM users WHERE email = 'owner@same-pilot.example'"))

        let same = try ProvisionBinary.run(Self.pilot + ["--skipExisting", "--json"], databaseURL: db.url)

        #expect(same.status == 0, "\(same)")
        try ContractSchema.validate(same.stdout, as: .run)
        #expect(same.jsonResults.map { $0["status"] as? String } == ["unchanged"], "\(same)")
        let tenant = try #require(same.jsonTenant, "\(same)")
        let id = try #require(tenant["id"] as? String, "tenant.id is the stored id, not null: \(tenant)")
        #expect(UUID(uuidString: id) != nil && id == tenantId, "tenant.id \(id), tenants.id \(tenantId)")
        #expect(tenant["slug"] as? String == "same-pilot")
        #expect(tenant["name"] as? String == "Same Pilot", "\(tenant)")
        #expect(tenant["timeZone"] as? String == "America/Edmonton", "\(tenant)")
        #expect(tenant["supportEmail"] as? String == "support@same-pilot.example", "\(tenant)")
        let users = try #require(same.jsonResults.first?["users"] as? [[String: Any]])
        let owner = try #require(users.first, "the Owner is users[0]: \(same)")
        #expect(owner["email"] as? String == "owner@same-pilot.example", "\(owner)")
        #expect(owner["id"] as? String == ownerId, "users[0].id is users.id \(ownerId): \(owner)")
        #expect(owner["role"] as? String == "OWNER", "\(owner)")
        #expect(owner["created"] as? Bool == false, "\(owner)")

        var renamed = Self.pilot
        renamed[renamed.firstIndex(of: "Same Pilot")!] = "Another Name"
        let differs = try ProvisionBinary.run(renamed + ["--skipExisting", "--json"], databaseURL: db.url)

        #expect(differs.status == 3, "\(differs)")
        try ContractSchema.validate(differs.stdout, as: .run)
        let result = try #require(differs.jsonResults.first, "\(differs)")
        #expect(result["status"] as? String == "differs", "\(result)")
        #expect(differs.jsonTenant?["id"] as? String == tenantId, "a differs result carries the stored id: \(result)")
        #expect((result["differences"] as? [[String: Any]])?.isEmpty == false, "\(result)")
    }

    /// §13: a password reset is a result about the user, with the one tenant they belong
    /// to (its stored id and name) and the user's stored id.
    @Test("reset-password: the result names the user's tenant and the user with their stored ids")
    func resetPasswordCarriesIds() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("reset-pilot", owner: "owner@reset-pilot.example"), databaseURL: db.url).status == 0)
        let tenantId = try #require(try db.scalar("SELECT id FROM tenants WHERE slug = 'reset-pilot'"))
        let userId = try #require(try db.scalar("SELECT id FROM users WHERE email = 'owner@reset-pilot.example'"))

        let result = try ProvisionBinary.run(["reset-password", "--email", "owner@reset-pilot.example", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.jsonResults.map { $0["status"] as? String } == ["reset"], "\(result)")
        let tenant = try #require(result.jsonTenant, "tenant is the one tenant the user belongs to, not null: \(result)")
        #expect(tenant["id"] as? String == tenantId, "tenant.id is tenants.id \(tenantId): \(tenant)")
        #expect(tenant["name"] as? String == "Tenant reset-pilot", "\(tenant)")
        let user = try #require((result.jsonResults.first?["users"] as? [[String: Any]])?.first, "\(result)")
        #expect(user["id"] as? String == userId, "users[0].id is users.id \(userId): \(user)")
        #expect(user["email"] as? String == "owner@reset-pilot.example")
    }

    static let addAdmin = """
        local p = require "provision"
        local u = p.createOwner{email = "admin@x.example"}
        p.linkMembership{tenant = "admin-pilot", user = u, role = "ADMIN"}
        """

    /// §13: a playbook that adds a member to an existing tenant reports that tenant as
    /// `updated` (`planned` in a dry run), with the new member and its `changes`; the
    /// member's one-time password is in `credentials`.
    @Test("run: an ADMIN added to an existing tenant makes an updated result with its changes (planned in a dry run)")
    func addedMemberIsAnUpdatedResult() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("admin-pilot", owner: "owner@admin-pilot.example"), databaseURL: db.url).status == 0)
        let tenantId = try #require(try db.scalar("SELECT id FROM tenants WHERE slug = 'admin-pilot'"))
        let folder = try ResultsFolder(["add-admin.lua": Self.addAdmin])
        defer { folder.remove() }

        let dry = try ProvisionBinary.run(["run", "add-admin.lua", "--dryRun", "--json"], databaseURL: db.url, workingDirectory: folder.path)

        #expect(dry.status == 0, "\(dry)")
        try ContractSchema.validate(dry.stdout, as: .run)
        #expect(dry.jsonResults.map { $0["status"] as? String } == ["planned"], "\(dry)")
        let plannedChanges = (dry.jsonResults.first?["changes"] as? [[String: Any]] ?? []).map(changeLine)

        let result = try ProvisionBinary.run(["run", "add-admin.lua", "--json"], databaseURL: db.url, workingDirectory: folder.path)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        try #require(result.jsonResults.count == 1, "exactly one result: \(result)")
        let entry = result.jsonResults[0]
        #expect(entry["status"] as? String == "updated", "\(entry)")
        #expect(result.jsonTenant?["slug"] as? String == "admin-pilot", "\(entry)")
        #expect(result.jsonTenant?["id"] as? String == tenantId, "the stored id \(tenantId): \(entry)")
        let users = entry["users"] as? [[String: Any]] ?? []
        let admin = try #require(users.first { $0["email"] as? String == "admin@x.example" }, "the new member is in users: \(entry)")
        #expect(admin["role"] as? String == "ADMIN", "\(admin)")
        #expect(admin["created"] as? Bool == true, "\(admin)")
        let changes = entry["changes"] as? [[String: Any]] ?? []
        let first = try #require(changes.first, "changes is a non-empty array: \(entry)")
        #expect(first["field"] as? String == "member admin@x.example", "\(first)")
        #expect(first["from"] is NSNull, "from is null: \(first)")
        #expect((first["to"] as? String)?.contains("ADMIN") == true, "to names the role: \(first)")
        #expect(plannedChanges == changes.map(changeLine), "the dry run planned the same changes")

        let password = try #require(result.jsonCredential(for: "admin@x.example")?["oneTimePassword"] as? String,
                                    "credentials holds the ADMIN's one-time password: \(result)")
        #expect(OneTimePasswordShape.matches(password), "\(password)")
        let hash = try #require(try db.scalar("SELECT password_hash FROM users WHERE email = 'admin@x.example'"))
        #expect(PasswordHash.verify(password, against: hash), "the password in credentials is the stored one")
    }

    /// §13: a delete's result lists every member of the tenant: the one who goes
    /// (`deleted: true`) and the one who stays because they belong to another tenant
    /// (`deleted: false`, `keptBecause`); its actions are typed.
    @Test("delete: the result lists the deleted member and the kept one with why; actions are typed")
    func deleteListsDeletedAndKeptUsers() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("keep-home", owner: "shared@del.example"), databaseURL: db.url).status == 0)
        try #require(try ProvisionBinary.run(Runbook.tenant("del-me", owner: "shared@del.example", "--allowExistingUser"),
                                             databaseURL: db.url).status == 0)
        let folder = try ResultsFolder(["solo.lua": """
            local p = require "provision"
            local u = p.createOwner{email = "solo@del.example"}
            p.linkMembership{tenant = "del-me", user = u, role = "ADMIN"}
            """])
        defer { folder.remove() }
        let solo = try ProvisionBinary.run(["run", "solo.lua"], databaseURL: db.url, workingDirectory: folder.path)
        try #require(solo.status == 0, "\(solo)")

        let result = try ProvisionBinary.run(["delete", "--tenantSlug", "del-me", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.jsonResults.map { $0["status"] as? String } == ["deleted"], "\(result)")
        let users = result.jsonResults.first?["users"] as? [[String: Any]] ?? []
        #expect(Set(users.compactMap { $0["email"] as? String }) == ["solo@del.example", "shared@del.example"],
                "both members are listed: \(users)")
        let gone = try #require(users.first { $0["email"] as? String == "solo@del.example" }, "\(users)")
        #expect(gone["deleted"] as? Bool == true, "\(gone)")
        let kept = try #require(users.first { $0["email"] as? String == "shared@del.example" }, "\(users)")
        #expect(kept["deleted"] as? Bool == false, "\(kept)")
        #expect((kept["keptBecause"] as? String)?.contains("other tenant") == true, "keptBecause says why: \(kept)")
        let kinds = (result.json?["actions"] as? [[String: Any]] ?? []).map { $0["kind"] as? String }
        #expect(!kinds.isEmpty && kinds.allSatisfy { ["delete_user", "remove_membership", "delete_tenant"].contains($0) },
                "every action is typed: \(kinds)")
        #expect(Set(kinds) == ["delete_user", "remove_membership", "delete_tenant"], "\(kinds)")
        #expect(try db.count("SELECT 1 FROM users WHERE email = 'solo@del.example'") == 0, "the solo member went")
        #expect(try db.count("SELECT 1 FROM users WHERE email = 'shared@del.example'") == 1, "the shared member stays")
    }

    /// §13: every error document names the command that failed, parse errors included.
    @Test("error documents carry the command: show, tenant, and a parse error of list")
    func errorDocumentsNameTheirCommand() throws {
        let db = try TestDatabase.create()

        let show = try ProvisionBinary.run(["show", "--tenantSlug", "nope", "--json"], databaseURL: db.url)
        #expect(show.status == 4 && show.errorCode == "not_found", "\(show)")
        #expect(show.json?["command"] as? String == "show", "\(show)")
        try ContractSchema.validate(show.stdout, as: .error)

        let tenant = try ProvisionBinary.run(Runbook.tenant("BAD", owner: "owner@bad.example", "--json"), databaseURL: db.url)
        #expect(tenant.status == 2 && tenant.errorCode == "invalid_input", "\(tenant)")
        #expect(tenant.json?["command"] as? String == "tenant", "\(tenant)")
        try ContractSchema.validate(tenant.stdout, as: .error)

        let list = try ProvisionBinary.run(["list", "--bogus", "--json"], databaseURL: db.url)
        #expect(list.status == 2 && list.errorCode == "invalid_input", "\(list)")
        #expect(list.json?["command"] as? String == "list", "\(list)")
        try ContractSchema.validate(list.stdout, as: .error)
    }

    /// §13: a playbook's own error code survives `provision.transaction` (the error object
    /// comes back unchanged), and raised again it is the run's error code (exit 1).
    @Test("a playbook's own error code survives provision.transaction, and raised again is the run's code")
    func ownCodeSurvivesTransaction() throws {
        let db = try TestDatabase.create()
        let folder = try ResultsFolder([
            "caught.lua": """
                local provision = require "provision"
                local ok, err = provision.transaction(function() error({code = "mine", message = "m"}) end)
                print(err.code)
                """,
            "rethrown.lua": """
                local provision = require "provision"
                local ok, err = provision.transaction(function() error({code = "mine", message = "m"}) end)
                error(err)
                """,
        ])
        defer { folder.remove() }

        let caught = try ProvisionBinary.run(["run", "caught.lua"], databaseURL: db.url, workingDirectory: folder.path)
        #expect(caught.stderr.split(separator: "\n").contains { $0.hasSuffix("mine") }, "print(err.code) prints mine: \(caught)")

        let rethrown = try ProvisionBinary.run(["run", "rethrown.lua", "--json"], databaseURL: db.url, workingDirectory: folder.path)
        #expect(rethrown.status == 1 && rethrown.errorCode == "mine", "\(rethrown)")
        #expect(rethrown.json?["command"] as? String == "run", "\(rethrown)")
        try ContractSchema.validate(rethrown.stdout, as: .error)
    }

    /// §13: a batch row that fails at the database says where it came from: the file as
    /// given, the row's line and the field at fault, in its error's `problems`.
    @Test("batch: a row failing at the database names the file as given, its line and field")
    func failedRowNamesFileLineAndField() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.tenant("taken-row", owner: "owner@taken-row.example"), databaseURL: db.url).status == 0)
        let folder = try ResultsFolder(["wave-3.csv": """
            tenantSlug,tenantName,ownerEmail
            fresh-row,Fresh,owner@fresh-row.example
            taken-row,Taken Again,someone@taken-row.example

            """])
        defer { folder.remove() }

        let result = try ProvisionBinary.run(["batch", "wave-3.csv", "--json"], databaseURL: db.url, workingDirectory: folder.path)

        #expect(result.status == 3, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.jsonResults.map { $0["status"] as? String } == ["created", "failed"], "\(result)")
        let failed = try #require(result.jsonResults.first { $0["status"] as? String == "failed" }, "\(result)")
        let error = try #require(failed["error"] as? [String: Any], "\(failed)")
        #expect(error["code"] as? String == "slug_exists", "\(error)")
        let problem = try #require((error["problems"] as? [[String: Any]])?.first, "error.problems[0]: \(error)")
        #expect(problem["file"] as? String == "wave-3.csv", "the file as given: \(problem)")
        #expect(problem["line"] as? Int == 3, "the second data row is line 3: \(problem)")
        #expect(problem["field"] as? String == "tenantSlug", "\(problem)")
    }
}
