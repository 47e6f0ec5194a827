import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §12 (issue 24), "After go-live: changing what was provisioned": `provision
// update`, `provision member add | set-role | remove`, `--update` on `tenant` and `batch`,
// a delete that keeps users another tenant references, and a playbook that resets one
// user twice. Every test has a database of its own; every --json document is checked
// against the schema.

// MARK: - Helpers of this file

/// A folder of one test (playbooks, CSV files, plans); the test removes it.
private struct DayTwoFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("day-two-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let path = self.path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Every row the tool could write (tenants, users, memberships, parents as their full
/// text; audit events by id) and the row count of every table: equal before and after
/// means nothing was written, updates included.
private struct DatabaseContents: Equatable {
    let rows: [String]
    let counts: [String: Int]

    init(_ db: TestDatabase) throws {
        var rows: [String] = []
        for query in [
            "SELECT row_to_json(t)::text FROM tenants t ORDER BY t.id",
            "SELECT row_to_json(u)::text FROM users u ORDER BY u.id",
            "SELECT row_to_json(m)::text FROM memberships m ORDER BY m.tenant_id, m.id",
            "SELECT row_to_json(p)::text FROM parents p ORDER BY p.tenant_id, p.id",
            "SELECT a.id::text FROM audit_events a ORDER BY a.id",
        ] {
            rows += try db.column(query).map { $0 ?? "NULL" }
        }
        self.rows = rows
        counts = try db.rowCounts()
    }
}

/// `provision tenant` with the three required flags (name "Tenant SLUG") and `extra`,
/// with --json; it must succeed.
@discardableResult
private func seedTenant(_ slug: String, owner email: String, _ extra: [String] = [], in db: TestDatabase,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> ProvisionBinary.Result {
    let result = try ProvisionBinary.run(["tenant", "--tenantSlug", slug, "--tenantName", "Tenant \(slug)", "--ownerEmail", email]
                                         + extra + ["--json"], databaseURL: db.url)
    try #require(result.status == 0, "setting up tenant \(slug): \(result)", sourceLocation: sourceLocation)
    return result
}

/// Makes `email` (a new user, or the existing one) a member of `slug` with `role`, through
/// a playbook of the existing primitives (not through the commands under test).
private func linkMember(_ email: String, to slug: String, as role: String, in db: TestDatabase,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
    let folder = try DayTwoFolder()
    defer { folder.remove() }
    let playbook = try folder.write("link.lua", """
        local p = require "provision"
        local u = p.createOwner{email = "\(email)", allowExistingUser = true}
        p.linkMembership{tenant = "\(slug)", user = u, role = "\(role)"}
        """)
    let result = try ProvisionBinary.run(["run", playbook], databaseURL: db.url)
    try #require(result.status == 0, "linking \(email) to \(slug) as \(role): \(result)", sourceLocation: sourceLocation)
}

/// `email`'s role in `slug`, or nil when they are not a member.
private func role(of email: String, in slug: String, db: TestDatabase) throws -> String? {
    try db.scalar("""
        SELECT m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id JOIN users u ON u.id = m.user_id
        WHERE t.slug = \(literal(slug)) AND lower(u.email) = lower(\(literal(email)))
        """)
}

/// The emails of `slug`'s OWNERs, sorted.
private func owners(of slug: String, db: TestDatabase) throws -> [String] {
    try db.column("""
        SELECT u.email FROM memberships m JOIN tenants t ON t.id = m.tenant_id JOIN users u ON u.id = m.user_id
        WHERE t.slug = \(literal(slug)) AND m.role = 'OWNER' ORDER BY u.email
        """).compactMap { $0 }
}

/// One column of the tenant `slug`.
private func tenantValue(_ column: String, of slug: String, db: TestDatabase) throws -> String? {
    try db.scalar("SELECT \(column) FROM tenants WHERE slug = \(literal(slug))")
}

/// The audit actions written under `runId`, sorted.
private func auditActions(ofRun runId: String?, db: TestDatabase) throws -> [String] {
    guard let runId else { return [] }
    return try db.column("SELECT action FROM audit_events WHERE run_id::text = \(literal(runId)) ORDER BY action").compactMap { $0 }
}

/// A `changes` entry as one comparable line (`null` for JSON null, `missing` for no key).
private func changeText(_ change: [String: Any]) -> String {
    [change["field"], change["from"], change["to"]]
        .map { value in (value as? String).map { "'\($0)'" } ?? (value is NSNull ? "null" : "missing") }
        .joined(separator: " | ")
}

/// The line `changeText` makes of the change `field`: `from` → `to` (nil for null).
private func expectedChange(_ field: String, _ from: String?, _ to: String?) -> String {
    [field, from, to].map { value in value.map { "'\($0)'" } ?? "null" }.joined(separator: " | ")
}

private extension ProvisionBinary.Result {
    /// The first result's status.
    var statusOfFirstResult: String? { jsonResults.first?["status"] as? String }

    /// The first result's `changes`, as `changeText` lines (empty when absent).
    var changesOfFirstResult: [String] {
        (jsonResults.first?["changes"] as? [[String: Any]] ?? []).map(changeText)
    }

    /// The first result's `users`.
    var usersOfFirstResult: [[String: Any]] { jsonResults.first?["users"] as? [[String: Any]] ?? [] }

    /// The first result's user with `email` (ignoring case).
    func resultUser(_ email: String) -> [String: Any]? {
        usersOfFirstResult.first { ($0["email"] as? String)?.lowercased() == email.lowercased() }
    }

    /// The envelope's typed `actions`.
    var typedActions: [[String: Any]] { json?["actions"] as? [[String: Any]] ?? [] }

    /// Every credential issued to `email` (ignoring case).
    func credentials(for email: String) -> [[String: Any]] {
        jsonCredentials.filter { ($0["email"] as? String)?.lowercased() == email.lowercased() }
    }
}

// MARK: - Tests

@Suite("Day two: update, member add / set-role / remove, --update, safe delete, double reset")
struct DayTwoTests {
    static let phone = "+1 555 123 4567"
    static let newPhone = "+1 555 765 4321"

    /// The settings every `update` test starts from.
    static func settings(_ slug: String) -> [String] {
        ["--timeZone", "America/Edmonton", "--supportEmail", "help@\(slug).example", "--supportPhone", phone]
    }

    // MARK: provision update

    /// §12: `update` changes the given settings (a cleared one becomes null), reports the
    /// stored tenant with its new values and each change from → to, types its action
    /// `update_tenant`, and writes one `tenant.update` audit row with before and after.
    @Test("update: changes name, phone and clears the support email; result, action and audit say from and to")
    func updateChangesSettings() throws {
        let db = try TestDatabase.create()
        let slug = "upd-main"
        try seedTenant(slug, owner: "owner@upd-main.example", Self.settings(slug), in: db)
        let tenantId = try #require(try tenantValue("id", of: slug, db: db))

        let result = try ProvisionBinary.run(["update", "--tenantSlug", slug, "--tenantName", "Renamed Pilot",
                                              "--supportPhone", Self.newPhone, "--clear", "supportEmail", "--json"],
                                             databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.json?["command"] as? String == "update", "\(result)")
        #expect(result.json?["dryRun"] as? Bool == false, "\(result)")
        try #require(result.jsonResults.count == 1, "one result: \(result)")
        #expect(result.statusOfFirstResult == "updated", "\(result)")

        let tenant = try #require(result.jsonTenant, "\(result)")
        #expect(tenant["id"] as? String == tenantId, "the stored id: \(tenant)")
        #expect(tenant["slug"] as? String == slug, "\(tenant)")
        #expect(tenant["name"] as? String == "Renamed Pilot", "the new name: \(tenant)")
        #expect(tenant["timeZone"] as? String == "America/Edmonton", "untouched: \(tenant)")
        #expect(tenant["supportEmail"] is NSNull, "cleared: \(tenant)")
        #expect(tenant["supportPhone"] as? String == Self.newPhone, "the new phone: \(tenant)")

        let expected: Set = [
            expectedChange("tenantName", "Tenant \(slug)", "Renamed Pilot"),
            expectedChange("supportPhone", Self.phone, Self.newPhone),
            expectedChange("supportEmail", "help@\(slug).example", nil),
        ]
        #expect(Set(result.changesOfFirstResult) == expected, "\(result.changesOfFirstResult)")
        #expect(result.changesOfFirstResult.count == 3, "only what changed (not timeZone): \(result.changesOfFirstResult)")

        let action = try #require(result.typedActions.first { $0["kind"] as? String == "update_tenant" }, "\(result.typedActions)")
        #expect(action["tenant"] as? String == slug, "\(action)")
        #expect(Set((action["changes"] as? [[String: Any]] ?? []).map(changeText)) == expected, "\(action)")
        #expect((action["text"] as? String)?.isEmpty == false, "\(action)")

        #expect(try tenantValue("name", of: slug, db: db) == "Renamed Pilot")
        #expect(try tenantValue("support_phone", of: slug, db: db) == Self.newPhone)
        #expect(try tenantValue("support_email", of: slug, db: db) == nil)
        #expect(try tenantValue("time_zone", of: slug, db: db) == "America/Edmonton")

        let audit = try db.rows("SELECT tenant_id, run_id, detail::text AS detail FROM audit_events WHERE action = 'tenant.update'")
        try #require(audit.count == 1, "one tenant.update row: \(audit)")
        #expect(audit[0]["tenant_id"] as? String == tenantId, "\(audit)")
        #expect(audit[0]["run_id"] as? String == result.json?["runId"] as? String, "\(audit)")
        let detail = audit[0]["detail"] as? String ?? ""
        #expect(detail.contains(Self.phone) && detail.contains(Self.newPhone), "detail holds before and after: \(detail)")
    }

    /// §12: `--clear` sets optional settings to null, and the change says `to: null`.
    @Test("update --clear timeZone --clear supportPhone: both become null")
    func updateClears() throws {
        let db = try TestDatabase.create()
        let slug = "upd-clear"
        try seedTenant(slug, owner: "owner@upd-clear.example", Self.settings(slug), in: db)

        let result = try ProvisionBinary.run(["update", "--tenantSlug", slug, "--clear", "timeZone", "--clear", "supportPhone", "--json"],
                                             databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.statusOfFirstResult == "updated", "\(result)")
        #expect(Set(result.changesOfFirstResult) == [expectedChange("timeZone", "America/Edmonton", nil),
                                                      expectedChange("supportPhone", Self.phone, nil)], "\(result)")
        #expect(result.jsonTenant?["timeZone"] is NSNull && result.jsonTenant?["supportPhone"] is NSNull, "\(result)")
        #expect(try tenantValue("time_zone", of: slug, db: db) == nil)
        #expect(try tenantValue("support_phone", of: slug, db: db) == nil)
        #expect(try tenantValue("support_email", of: slug, db: db) == "help@\(slug).example", "not cleared")
    }

    /// §4, §12: an update's dry run plans the same changes (status `planned`) and writes
    /// nothing, audit included.
    @Test("update --dryRun: planned with its changes, nothing written")
    func updateDryRun() throws {
        let db = try TestDatabase.create()
        let slug = "upd-dry"
        try seedTenant(slug, owner: "owner@upd-dry.example", Self.settings(slug), in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["update", "--tenantSlug", slug, "--supportPhone", Self.newPhone, "--dryRun", "--json"],
                                             databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.json?["dryRun"] as? Bool == true, "\(result)")
        #expect(result.statusOfFirstResult == "planned", "\(result)")
        #expect(result.changesOfFirstResult == [expectedChange("supportPhone", Self.phone, Self.newPhone)], "\(result)")
        #expect(result.typedActions.contains { $0["kind"] as? String == "update_tenant" }, "\(result.typedActions)")
        #expect(try DatabaseContents(db) == before, "a dry run writes nothing")
        #expect(try tenantValue("support_phone", of: slug, db: db) == Self.phone)
    }

    /// §12: the values the tenant already has are `unchanged` (exit 0): no changes,
    /// nothing written, no audit row.
    @Test("update with the values the tenant has: unchanged, nothing written")
    func updateSameValuesIsUnchanged() throws {
        let db = try TestDatabase.create()
        let slug = "upd-same"
        try seedTenant(slug, owner: "owner@upd-same.example", Self.settings(slug), in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["update", "--tenantSlug", slug, "--supportPhone", Self.phone,
                                              "--timeZone", "America/Edmonton", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.statusOfFirstResult == "unchanged", "\(result)")
        #expect(result.changesOfFirstResult.isEmpty, "no changes: \(result)")
        #expect(result.jsonTenant?["supportPhone"] as? String == Self.phone, "the stored tenant: \(result)")
        #expect(try DatabaseContents(db) == before, "nothing written, no audit row")
    }

    /// One refused `update`: extra flags after `--tenantSlug`, and the field the error names.
    struct UpdateRefusal: Sendable, CustomTestStringConvertible {
        let flags: [String]
        let field: String?
        init(_ flags: [String], field: String? = nil) {
            self.flags = flags
            self.field = field
        }
        var testDescription: String { flags.isEmpty ? "(no change flag)" : flags.joined(separator: " ") }
    }

    /// §3, §12: bad values name their flag; `--clear tenantName`, an unknown `--clear`,
    /// a field both cleared and set, and no change at all are refused. Exit 2, nothing written.
    @Test("update refuses bad input: exit 2, invalid_input, nothing written", arguments: [
        UpdateRefusal(["--supportEmail", "not-an-email"], field: "supportEmail"),
        UpdateRefusal(["--timeZone", "Mars/Olympus"], field: "timeZone"),
        UpdateRefusal(["--supportPhone", "+1 555 CALL NOW"], field: "supportPhone"),
        UpdateRefusal(["--tenantName", " "], field: "tenantName"),
        UpdateRefusal(["--clear", "tenantName"]),
        UpdateRefusal(["--clear", "foo"]),
        UpdateRefusal(["--clear", "supportPhone", "--supportPhone", "+1 555 000 1111"]),
        UpdateRefusal([]),
    ])
    func updateRefusesBadInput(_ refusal: UpdateRefusal) throws {
        let db = try TestDatabase.create()
        let slug = "upd-bad"
        try seedTenant(slug, owner: "owner@upd-bad.example", Self.settings(slug), in: db)
        let before = try DatabaseContents(db)

        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(["update", "--tenantSlug", slug] + refusal.flags), databaseURL: db.url)
            if let field = refusal.field {
                try expectInvalidInput(result, field: field, hint: nil, mode: mode)
            } else {
                #expect(result.status == 2, "\(result)")
                if mode == .json {
                    #expect(result.errorCode == "invalid_input", "\(result)")
                } else {
                    #expect(result.stdout.isEmpty, "errors go to stderr: \(result)")
                }
            }
            if mode == .json {
                #expect(result.json?["command"] as? String == "update", "\(result)")
                try ContractSchema.validate(result.stdout, as: .error)
            }
        }
        #expect(try DatabaseContents(db) == before, "nothing written")
    }

    /// §12: an unknown slug is 4 `not_found`, naming tenantSlug; nothing written.
    @Test("update of an unknown slug: exit 4 not_found naming tenantSlug")
    func updateUnknownSlug() throws {
        let db = try TestDatabase.create()
        try seedTenant("upd-known", owner: "owner@upd-known.example", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["update", "--tenantSlug", "upd-unknown", "--supportPhone", Self.newPhone, "--json"],
                                             databaseURL: db.url)

        #expect(result.status == 4, "\(result)")
        #expect(result.errorCode == "not_found", "\(result)")
        #expect(result.errorField == "tenantSlug", "\(result)")
        #expect(result.json?["command"] as? String == "update", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try DatabaseContents(db) == before)
    }

    /// §8, §12: an update's dry run with --planFile writes a plan that `apply` carries out.
    @Test("update --dryRun --planFile, then apply: the planned phone is stored")
    func updatePlanApplies() throws {
        let db = try TestDatabase.create()
        let folder = try DayTwoFolder()
        defer { folder.remove() }
        let slug = "upd-plan"
        try seedTenant(slug, owner: "owner@upd-plan.example", Self.settings(slug), in: db)
        let before = try DatabaseContents(db)
        let plan = folder.path("update.plan")

        let dry = try ProvisionBinary.run(["update", "--tenantSlug", slug, "--supportPhone", Self.newPhone, "--dryRun", "--planFile", plan],
                                          databaseURL: db.url)
        try #require(dry.status == 0, "\(dry)")
        #expect(FileManager.default.fileExists(atPath: plan), "the plan was written: \(dry)")
        #expect(try DatabaseContents(db) == before, "planning wrote nothing")

        let applied = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)

        #expect(applied.status == 0, "\(applied)")
        try ContractSchema.validate(applied.stdout, as: .run)
        #expect(applied.statusOfFirstResult == "updated", "\(applied)")
        #expect(applied.changesOfFirstResult == [expectedChange("supportPhone", Self.phone, Self.newPhone)], "\(applied)")
        #expect(try tenantValue("support_phone", of: slug, db: db) == Self.newPhone)
        #expect(try db.count("SELECT 1 FROM audit_events WHERE action = 'tenant.update'") == 1)
    }

    /// §8: a plan made against one phone is stale once the phone changed: 4 `plan_stale`,
    /// nothing written.
    @Test("update plan applied after the phone changed: exit 4 plan_stale, nothing written")
    func updatePlanGoesStale() throws {
        let db = try TestDatabase.create()
        let folder = try DayTwoFolder()
        defer { folder.remove() }
        let slug = "upd-stale"
        try seedTenant(slug, owner: "owner@upd-stale.example", Self.settings(slug), in: db)
        let plan = folder.path("update.plan")
        let dry = try ProvisionBinary.run(["update", "--tenantSlug", slug, "--supportPhone", Self.newPhone, "--dryRun", "--planFile", plan],
                                          databaseURL: db.url)
        try #require(dry.status == 0, "\(dry)")

        let meanwhile = "+1 555 000 9999"
        try db.connect().run(fixture: "UPDATE tenants SET support_phone = \(literal(meanwhile)) WHERE slug = \(literal(slug))")
        let before = try DatabaseContents(db)

        let applied = try ProvisionBinary.run(["apply", plan, "--json"], databaseURL: db.url)

        #expect(applied.status == 4, "\(applied)")
        #expect(applied.errorCode == "plan_stale", "\(applied)")
        try ContractSchema.validate(applied.stdout, as: .error)
        #expect(try DatabaseContents(db) == before, "nothing written")
        #expect(try tenantValue("support_phone", of: slug, db: db) == meanwhile)
    }

    // MARK: provision member add

    /// §12, §8: a new member gets a one-time password (in `credentials`, with the tenant's
    /// slug) that verifies against the stored hash; the result is `updated` with the
    /// member's change; audit `user.create` and `membership.create`, neither holding the
    /// password.
    @Test("member add of a new user: updated, one credential that works, audited without the password")
    func memberAddNewUser() throws {
        let db = try TestDatabase.create()
        let slug = "mem-add"
        let email = "ada@mem-add.example"
        try seedTenant(slug, owner: "owner@mem-add.example", in: db)

        let result = try ProvisionBinary.run(["member", "add", "--tenantSlug", slug, "--email", email, "--role", "ADMIN",
                                              "--name", "Ada Admin", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.json?["command"] as? String == "member add", "\(result)")
        try #require(result.jsonResults.count == 1, "one result: \(result)")
        #expect(result.statusOfFirstResult == "updated", "\(result)")
        #expect(result.jsonTenant?["slug"] as? String == slug, "\(result)")
        #expect(result.changesOfFirstResult == [expectedChange("member \(email)", nil, "ADMIN (new user)")], "\(result)")
        let user = try #require(result.resultUser(email), "the new member is in users: \(result)")
        #expect(user["role"] as? String == "ADMIN", "\(user)")
        #expect(user["created"] as? Bool == true, "\(user)")

        let credentials = result.credentials(for: email)
        try #require(credentials.count == 1 && result.jsonCredentials.count == 1, "exactly one credential: \(result)")
        #expect(credentials[0]["tenantSlug"] as? String == slug, "\(credentials)")
        let password = try #require(credentials[0]["oneTimePassword"] as? String)
        #expect(OneTimePasswordShape.matches(password), "\(password)")
        let hash = try #require(try db.scalar("SELECT password_hash FROM users WHERE lower(email) = \(literal(email))"))
        #expect(PasswordHash.verify(password, against: hash), "the password shown is the stored one")
        #expect(try db.scalar("SELECT name FROM users WHERE lower(email) = \(literal(email))") == "Ada Admin")
        #expect(try db.scalar("SELECT must_change_password::text FROM users WHERE lower(email) = \(literal(email))") == "true")
        #expect(try role(of: email, in: slug, db: db) == "ADMIN")

        #expect(try auditActions(ofRun: result.json?["runId"] as? String, db: db) == ["membership.create", "user.create"])
        let leaks = try db.count("SELECT 1 FROM audit_events WHERE strpos(row_to_json(audit_events)::text, \(literal(password))) > 0")
        #expect(leaks == 0, "no audit row holds the password")
    }

    /// §4, §8: in text output the new member's password is shown once, on stdout only.
    @Test("member add (text): the one-time password is shown exactly once, on stdout")
    func memberAddTextShowsPasswordOnce() throws {
        let db = try TestDatabase.create()
        let slug = "mem-text"
        let email = "staff@mem-text.example"
        try seedTenant(slug, owner: "owner@mem-text.example", in: db)

        let result = try ProvisionBinary.run(["member", "add", "--tenantSlug", slug, "--email", email, "--role", "STAFF"],
                                             databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        let shown = OneTimePasswordShape.occurrences(in: result.stdout)
        try #require(shown.count == 1, "one password on stdout: \(result)")
        #expect(result.stdout.components(separatedBy: shown[0]).count - 1 == 1, "shown once: \(result)")
        #expect(OneTimePasswordShape.occurrences(in: result.stderr).isEmpty, "none on stderr: \(result)")
        let hash = try #require(try db.scalar("SELECT password_hash FROM users WHERE lower(email) = \(literal(email))"))
        #expect(PasswordHash.verify(shown[0], against: hash), "the password shown is the stored one")
        #expect(try role(of: email, in: slug, db: db) == "STAFF")
    }

    /// §4, §12: an existing user is not linked silently: 3 `email_exists` naming email,
    /// nothing written.
    @Test("member add of an existing user without --allowExistingUser: exit 3 email_exists, nothing written")
    func memberAddExistingUserRefused() throws {
        let db = try TestDatabase.create()
        try seedTenant("mem-home", owner: "owner@mem-home.example", in: db)
        try seedTenant("mem-other", owner: "known@mem-other.example", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["member", "add", "--tenantSlug", "mem-home", "--email", "known@mem-other.example",
                                              "--role", "STAFF", "--json"], databaseURL: db.url)

        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "email_exists", "\(result)")
        #expect(result.errorField == "email", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty, "\(result)")
        #expect(try DatabaseContents(db) == before, "nothing written")
    }

    /// §12: with --allowExistingUser the existing user is linked: no password, and the
    /// change names the role without "(new user)".
    @Test("member add --allowExistingUser: linked, no credentials, change to the plain role")
    func memberAddLinksExistingUser() throws {
        let db = try TestDatabase.create()
        let email = "known@mem-link-other.example"
        try seedTenant("mem-link", owner: "owner@mem-link.example", in: db)
        try seedTenant("mem-link-other", owner: email, in: db)
        let hashBefore = try db.scalar("SELECT password_hash FROM users WHERE lower(email) = \(literal(email))")

        let result = try ProvisionBinary.run(["member", "add", "--tenantSlug", "mem-link", "--email", email, "--role", "STAFF",
                                              "--allowExistingUser", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.statusOfFirstResult == "updated", "\(result)")
        #expect(result.changesOfFirstResult == [expectedChange("member \(email)", nil, "STAFF")], "\(result)")
        #expect(result.resultUser(email)?["created"] as? Bool == false, "\(result)")
        #expect(result.jsonCredentials.isEmpty, "no password for an existing user: \(result)")
        #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty, "\(result)")
        #expect(try role(of: email, in: "mem-link", db: db) == "STAFF")
        #expect(try db.scalar("SELECT password_hash FROM users WHERE lower(email) = \(literal(email))") == hashBefore,
                "the user's password is untouched")
        #expect(try auditActions(ofRun: result.json?["runId"] as? String, db: db) == ["membership.create"])
    }

    /// §2: adding someone who is already a member is 3 `membership_exists`.
    @Test("member add of someone already a member: exit 3 membership_exists, nothing written")
    func memberAddAlreadyMember() throws {
        let db = try TestDatabase.create()
        let slug = "mem-twice"
        try seedTenant(slug, owner: "owner@mem-twice.example", in: db)
        try linkMember("admin@mem-twice.example", to: slug, as: "ADMIN", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["member", "add", "--tenantSlug", slug, "--email", "admin@mem-twice.example",
                                              "--role", "STAFF", "--allowExistingUser", "--json"], databaseURL: db.url)

        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "membership_exists", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try DatabaseContents(db) == before, "nothing written")
        #expect(try role(of: "admin@mem-twice.example", in: slug, db: db) == "ADMIN")
    }

    /// §12: a member of a tenant that does not exist: 4 `not_found` naming tenantSlug, and
    /// no user is created.
    @Test("member add to an unknown tenant: exit 4 not_found, no user created")
    func memberAddUnknownTenant() throws {
        let db = try TestDatabase.create()
        try seedTenant("mem-real", owner: "owner@mem-real.example", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["member", "add", "--tenantSlug", "mem-ghost", "--email", "new@mem-ghost.example",
                                              "--role", "ADMIN", "--json"], databaseURL: db.url)

        #expect(result.status == 4, "\(result)")
        #expect(result.errorCode == "not_found", "\(result)")
        #expect(result.errorField == "tenantSlug", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try db.count("SELECT 1 FROM users WHERE lower(email) = 'new@mem-ghost.example'") == 0, "no user created")
        #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty, "\(result)")
        #expect(try DatabaseContents(db) == before)
    }

    /// One refused `member add`: the flags after `--tenantSlug`, and the field at fault.
    struct MemberAddRefusal: Sendable, CustomTestStringConvertible {
        let flags: [String]
        let field: String
        /// The field is named only in the message (a missing flag).
        let fieldInMessageOnly: Bool
        init(_ flags: [String], field: String, fieldInMessageOnly: Bool = false) {
            self.flags = flags
            self.field = field
            self.fieldInMessageOnly = fieldInMessageOnly
        }
        var testDescription: String { flags.joined(separator: " ") }
    }

    /// §3: a bad role or email names its flag; a missing --role is refused. Exit 2, nothing
    /// written.
    @Test("member add refuses bad input: exit 2, invalid_input, nothing written", arguments: [
        MemberAddRefusal(["--email", "new@mem-bad.example", "--role", "KING"], field: "role"),
        MemberAddRefusal(["--email", "not-an-email", "--role", "ADMIN"], field: "email"),
        MemberAddRefusal(["--email", "new@mem-bad.example"], field: "role", fieldInMessageOnly: true),
    ])
    func memberAddRefusesBadInput(_ refusal: MemberAddRefusal) throws {
        let db = try TestDatabase.create()
        try seedTenant("mem-bad", owner: "owner@mem-bad.example", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["member", "add", "--tenantSlug", "mem-bad"] + refusal.flags + ["--json"],
                                             databaseURL: db.url)

        if refusal.fieldInMessageOnly {
            #expect(result.status == 2, "\(result)")
            #expect(result.errorCode == "invalid_input", "\(result)")
            #expect(result.errorMessage?.contains(refusal.field) == true, "the message names \(refusal.field): \(result)")
        } else {
            try expectInvalidInput(result, field: refusal.field, hint: nil, mode: .json)
        }
        #expect(result.json?["command"] as? String == "member add", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try DatabaseContents(db) == before, "nothing written")
    }

    // MARK: provision member set-role

    /// §12: set-role changes a member's role: `updated` with the change, a typed
    /// `set_role` action, audit `membership.update`.
    @Test("member set-role ADMIN → STAFF: updated, set_role action, audited")
    func setRoleChangesRole() throws {
        let db = try TestDatabase.create()
        let slug = "role-main"
        let email = "admin@role-main.example"
        try seedTenant(slug, owner: "owner@role-main.example", in: db)
        try linkMember(email, to: slug, as: "ADMIN", in: db)

        let result = try ProvisionBinary.run(["member", "set-role", "--tenantSlug", slug, "--email", email, "--role", "STAFF", "--json"],
                                             databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.json?["command"] as? String == "member set-role", "\(result)")
        #expect(result.statusOfFirstResult == "updated", "\(result)")
        #expect(result.changesOfFirstResult == [expectedChange("member \(email)", "ADMIN", "STAFF")], "\(result)")
        let action = try #require(result.typedActions.first { $0["kind"] as? String == "set_role" }, "\(result.typedActions)")
        #expect(action["tenant"] as? String == slug, "\(action)")
        #expect(action["email"] as? String == email, "\(action)")
        #expect(action["role"] as? String == "STAFF", "\(action)")
        #expect(try role(of: email, in: slug, db: db) == "STAFF")
        #expect(try auditActions(ofRun: result.json?["runId"] as? String, db: db) == ["membership.update"])
        #expect(result.jsonCredentials.isEmpty)
    }

    /// §12: the role the member already has is `unchanged`; nothing written.
    @Test("member set-role to the current role: unchanged, nothing written")
    func setRoleSameRoleUnchanged() throws {
        let db = try TestDatabase.create()
        let slug = "role-same"
        try seedTenant(slug, owner: "owner@role-same.example", in: db)
        try linkMember("admin@role-same.example", to: slug, as: "ADMIN", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["member", "set-role", "--tenantSlug", slug, "--email", "admin@role-same.example",
                                              "--role", "ADMIN", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.statusOfFirstResult == "unchanged", "\(result)")
        #expect(result.changesOfFirstResult.isEmpty, "\(result)")
        #expect(try DatabaseContents(db) == before, "nothing written")
    }

    /// §12: someone who is not a member (a user of another tenant, or no user at all) is
    /// 4 `not_found`; nothing written.
    @Test("member set-role of a non-member or an unknown email: exit 4 not_found")
    func setRoleNotAMember() throws {
        let db = try TestDatabase.create()
        try seedTenant("role-here", owner: "owner@role-here.example", in: db)
        try seedTenant("role-there", owner: "owner@role-there.example", in: db)
        let before = try DatabaseContents(db)

        for email in ["owner@role-there.example", "nobody@role-here.example"] {
            let result = try ProvisionBinary.run(["member", "set-role", "--tenantSlug", "role-here", "--email", email,
                                                  "--role", "STAFF", "--json"], databaseURL: db.url)
            #expect(result.status == 4, "\(email): \(result)")
            #expect(result.errorCode == "not_found", "\(email): \(result)")
            try ContractSchema.validate(result.stdout, as: .error)
        }
        #expect(try DatabaseContents(db) == before, "nothing written")
    }

    /// §12: demoting the only OWNER would leave the tenant without one: 3 `last_owner`.
    @Test("member set-role of the only OWNER: exit 3 last_owner, nothing written")
    func setRoleRefusesLastOwner() throws {
        let db = try TestDatabase.create()
        let slug = "role-last"
        try seedTenant(slug, owner: "owner@role-last.example", in: db)
        try linkMember("admin@role-last.example", to: slug, as: "ADMIN", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["member", "set-role", "--tenantSlug", slug, "--email", "owner@role-last.example",
                                              "--role", "ADMIN", "--json"], databaseURL: db.url)

        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "last_owner", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try DatabaseContents(db) == before, "nothing written")
        #expect(try owners(of: slug, db: db) == ["owner@role-last.example"])
    }

    /// §12: with a second OWNER, demoting one of them is allowed.
    @Test("member set-role with two OWNERs: one can be demoted")
    func setRoleDemotesOneOfTwoOwners() throws {
        let db = try TestDatabase.create()
        let slug = "role-two"
        try seedTenant(slug, owner: "first@role-two.example", in: db)
        try linkMember("second@role-two.example", to: slug, as: "OWNER", in: db)

        let result = try ProvisionBinary.run(["member", "set-role", "--tenantSlug", slug, "--email", "first@role-two.example",
                                              "--role", "ADMIN", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        #expect(result.statusOfFirstResult == "updated", "\(result)")
        #expect(result.changesOfFirstResult == [expectedChange("member first@role-two.example", "OWNER", "ADMIN")], "\(result)")
        #expect(try owners(of: slug, db: db) == ["second@role-two.example"])
        #expect(try role(of: "first@role-two.example", in: slug, db: db) == "ADMIN")
        #expect(try tenantsWithoutOwner(in: db) == 0)
    }

    // MARK: provision member remove

    /// §12: remove takes the membership away, never the user: `updated` with the change
    /// to null, a `remove_membership` action, audit `membership.delete`.
    @Test("member remove: membership gone, user kept, audited")
    func removeMember() throws {
        let db = try TestDatabase.create()
        let slug = "rm-main"
        let email = "admin@rm-main.example"
        try seedTenant(slug, owner: "owner@rm-main.example", in: db)
        try linkMember(email, to: slug, as: "ADMIN", in: db)
        let userId = try #require(try db.scalar("SELECT id FROM users WHERE lower(email) = \(literal(email))"))

        let result = try ProvisionBinary.run(["member", "remove", "--tenantSlug", slug, "--email", email, "--json"],
                                             databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.json?["command"] as? String == "member remove", "\(result)")
        #expect(result.statusOfFirstResult == "updated", "\(result)")
        #expect(result.changesOfFirstResult == [expectedChange("member \(email)", "ADMIN", nil)], "\(result)")
        let action = try #require(result.typedActions.first { $0["kind"] as? String == "remove_membership" }, "\(result.typedActions)")
        #expect(action["tenant"] as? String == slug && action["email"] as? String == email, "\(action)")
        #expect(try role(of: email, in: slug, db: db) == nil, "the membership is gone")
        #expect(try db.scalar("SELECT id FROM users WHERE lower(email) = \(literal(email))") == userId, "the user is never deleted")
        #expect(try auditActions(ofRun: result.json?["runId"] as? String, db: db) == ["membership.delete"])
    }

    /// §12: removing the only OWNER is 3 `last_owner` (another member does not count).
    @Test("member remove of the only OWNER: exit 3 last_owner, nothing written")
    func removeRefusesLastOwner() throws {
        let db = try TestDatabase.create()
        let slug = "rm-last"
        try seedTenant(slug, owner: "owner@rm-last.example", in: db)
        try linkMember("admin@rm-last.example", to: slug, as: "ADMIN", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["member", "remove", "--tenantSlug", slug, "--email", "owner@rm-last.example", "--json"],
                                             databaseURL: db.url)

        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "last_owner", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try DatabaseContents(db) == before, "nothing written")
    }

    /// §12: ownership is transferred by adding the new OWNER first, then removing the old.
    @Test("transfer of ownership: member add a second OWNER, then member remove the first")
    func transferOwnership() throws {
        let db = try TestDatabase.create()
        let slug = "rm-transfer"
        try seedTenant(slug, owner: "old@rm-transfer.example", in: db)

        let added = try ProvisionBinary.run(["member", "add", "--tenantSlug", slug, "--email", "new@rm-transfer.example",
                                             "--role", "OWNER", "--json"], databaseURL: db.url)
        #expect(added.status == 0, "\(added)")
        #expect(added.credentials(for: "new@rm-transfer.example").count == 1, "the new OWNER's password: \(added)")

        let removed = try ProvisionBinary.run(["member", "remove", "--tenantSlug", slug, "--email", "old@rm-transfer.example", "--json"],
                                              databaseURL: db.url)
        #expect(removed.status == 0, "\(removed)")
        #expect(removed.changesOfFirstResult == [expectedChange("member old@rm-transfer.example", "OWNER", nil)], "\(removed)")

        #expect(try owners(of: slug, db: db) == ["new@rm-transfer.example"])
        #expect(try db.count("SELECT 1 FROM users WHERE lower(email) = 'old@rm-transfer.example'") == 1, "the old Owner's user stays")
        #expect(try tenantsWithoutOwner(in: db) == 0)
    }

    /// §12: two removals racing for a tenant's two OWNERs: the runs are held at a lock on
    /// the tenant's row until both wait, then let go together; one wins, the other is
    /// refused with `last_owner`, and the tenant keeps exactly one OWNER.
    @Test("two concurrent removals of a tenant's two OWNERs: one exits 0, the other 3 last_owner; one OWNER left")
    func concurrentRemovalsKeepAnOwner() throws {
        let db = try TestDatabase.create()
        let slug = "rm-race"
        let first = "first@rm-race.example", second = "second@rm-race.example"
        try seedTenant(slug, owner: first, in: db)
        try linkMember(second, to: slug, as: "OWNER", in: db)
        try #require(try owners(of: slug, db: db) == [first, second])

        // The gate lets both runs read (the OWNERs they would leave) but not write, so both
        // reach the point of removing at once; only a lock taken before reading (the
        // tenant's row) makes the second read again after the first committed.
        let results = try Race.run([first, second].map { ["member", "remove", "--tenantSlug", slug, "--email", $0, "--json"] },
                                   gate: "LOCK TABLE memberships IN EXCLUSIVE MODE", in: db)

        #expect(results.map(\.status).sorted() == [0, 3], "one wins, one is refused: \(results)")
        let loser = try #require(results.first { $0.status != 0 }, "\(results)")
        #expect(loser.errorCode == "last_owner", "\(loser)")
        #expect(try owners(of: slug, db: db).count == 1, "exactly one OWNER left")
        #expect(try tenantsWithoutOwner(in: db) == 0)
        #expect(try db.count("SELECT 1 FROM audit_events WHERE action = 'membership.delete'") == 1)
    }

    // MARK: --update on tenant and batch

    /// §12: `tenant --update` converges an existing tenant with that Owner: `updated` with
    /// its changes, then `unchanged`; without --update, --skipExisting still says
    /// `differs` (exit 3) and changes nothing.
    @Test("tenant --update: updated with its changes, then unchanged; --skipExisting still differs")
    func tenantUpdateConverges() throws {
        let db = try TestDatabase.create()
        let slug = "conv-one"
        let owner = "owner@conv-one.example"
        let first = "+1 555 100 0001", second = "+1 555 100 0002", third = "+1 555 100 0003"
        try seedTenant(slug, owner: owner, ["--supportPhone", first], in: db)
        let base = ["tenant", "--tenantSlug", slug, "--tenantName", "Tenant \(slug)", "--ownerEmail", owner]

        let updated = try ProvisionBinary.run(base + ["--supportPhone", second, "--update", "--json"], databaseURL: db.url)
        #expect(updated.status == 0, "\(updated)")
        try ContractSchema.validate(updated.stdout, as: .run)
        #expect(updated.statusOfFirstResult == "updated", "\(updated)")
        #expect(updated.changesOfFirstResult.contains(expectedChange("supportPhone", first, second)), "\(updated)")
        #expect(updated.jsonCredentials.isEmpty, "the Owner exists: no password: \(updated)")
        #expect(try tenantValue("support_phone", of: slug, db: db) == second)

        let before = try DatabaseContents(db)
        let again = try ProvisionBinary.run(base + ["--supportPhone", second, "--update", "--json"], databaseURL: db.url)
        #expect(again.status == 0, "\(again)")
        try ContractSchema.validate(again.stdout, as: .run)
        #expect(again.statusOfFirstResult == "unchanged", "\(again)")
        #expect(try DatabaseContents(db) == before, "an unchanged re-run writes nothing")

        let differs = try ProvisionBinary.run(base + ["--supportPhone", third, "--skipExisting", "--json"], databaseURL: db.url)
        #expect(differs.status == 3, "\(differs)")
        #expect(differs.statusOfFirstResult == "differs", "\(differs)")
        #expect(try DatabaseContents(db) == before, "differs changes nothing")
        #expect(try tenantValue("support_phone", of: slug, db: db) == second)
    }

    /// §12: ownership never changes implicitly: `--update` with another Owner email is
    /// `differs` (exit 3), and nothing changes (no user, no phone).
    @Test("tenant --update with a different Owner: differs, exit 3, nothing changed")
    func tenantUpdateOtherOwnerDiffers() throws {
        let db = try TestDatabase.create()
        let slug = "conv-owner"
        try seedTenant(slug, owner: "owner@conv-owner.example", ["--supportPhone", Self.phone], in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(["tenant", "--tenantSlug", slug, "--tenantName", "Tenant \(slug)",
                                              "--ownerEmail", "usurper@conv-owner.example", "--supportPhone", Self.newPhone,
                                              "--update", "--json"], databaseURL: db.url)

        #expect(result.status == 3, "\(result)")
        #expect(result.statusOfFirstResult == "differs", "\(result)")
        #expect(try DatabaseContents(db) == before, "nothing changed")
        #expect(try owners(of: slug, db: db) == ["owner@conv-owner.example"])
        #expect(try db.count("SELECT 1 FROM users WHERE lower(email) = 'usurper@conv-owner.example'") == 0)
        #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty, "\(result)")
    }

    /// §12: `batch --update`: a changed existing row is `updated`, an identical one
    /// `unchanged`, a new one `created`, in file order; exit 0.
    @Test("batch --update: updated, unchanged and created rows in file order, exit 0")
    func batchUpdate() throws {
        let db = try TestDatabase.create()
        let folder = try DayTwoFolder()
        defer { folder.remove() }
        try seedTenant("wave-changed", owner: "owner@wave-changed.example", ["--supportPhone", "+1 555 200 0001"], in: db)
        try seedTenant("wave-same", owner: "owner@wave-same.example", ["--supportPhone", "+1 555 300 0001"], in: db)
        let file = try folder.write("wave.csv", """
            tenantSlug,tenantName,ownerEmail,supportPhone
            wave-changed,Tenant wave-changed,owner@wave-changed.example,+1 555 200 0002
            wave-same,Tenant wave-same,owner@wave-same.example,+1 555 300 0001
            wave-new,Tenant wave-new,owner@wave-new.example,+1 555 400 0001

            """)

        let result = try ProvisionBinary.run(["batch", file, "--update", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.jsonResults.map { $0["status"] as? String } == ["updated", "unchanged", "created"], "\(result)")
        #expect(result.jsonResults.map { ($0["tenant"] as? [String: Any])?["slug"] as? String } == ["wave-changed", "wave-same", "wave-new"])
        let changes = (result.jsonResults.first?["changes"] as? [[String: Any]] ?? []).map(changeText)
        #expect(changes == [expectedChange("supportPhone", "+1 555 200 0001", "+1 555 200 0002")], "\(changes)")
        #expect(try tenantValue("support_phone", of: "wave-changed", db: db) == "+1 555 200 0002")
        #expect(try tenantValue("support_phone", of: "wave-same", db: db) == "+1 555 300 0001")
        #expect(result.jsonCredentials.map { $0["email"] as? String } == ["owner@wave-new.example"], "only the new Owner: \(result)")
    }

    // MARK: delete keeps users another tenant references

    /// §12: a member of the deleted tenant who is a parent's portal login in another
    /// tenant is kept (user and parent row untouched), and the result says why; the dry
    /// run says the same and writes nothing.
    @Test("delete keeps a user who is a parent's portal login in another tenant, and says why")
    func deleteKeepsParentLogin() throws {
        let db = try TestDatabase.create()
        let shared = "shared@del-parent.example"
        try seedTenant("del-parent", owner: shared, in: db)
        try seedTenant("del-family", owner: "owner@del-family.example", in: db)
        let userId = try #require(try db.scalar("SELECT id FROM users WHERE lower(email) = \(literal(shared))"))
        let parentId = try #require(try db.scalar("""
            INSERT INTO parents (tenant_id, full_name, user_id, email)
            SELECT t.id, 'Pat Parent', u.id, u.email FROM tenants t, users u
            WHERE t.slug = 'del-family' AND u.id = \(literal(userId))::uuid
            RETURNING id::text
            """))
        let before = try DatabaseContents(db)

        let dry = try ProvisionBinary.run(["delete", "--tenantSlug", "del-parent", "--dryRun", "--json"], databaseURL: db.url)
        #expect(dry.status == 0, "\(dry)")
        try ContractSchema.validate(dry.stdout, as: .run)
        #expect(dry.statusOfFirstResult == "planned", "\(dry)")
        let planned = try #require(dry.resultUser(shared), "\(dry)")
        #expect(planned["deleted"] as? Bool == false, "\(planned)")
        let plannedWhy = (planned["keptBecause"] as? String ?? "").lowercased()
        #expect(plannedWhy.contains("parent") || plannedWhy.contains("portal"), "keptBecause says why: \(planned)")
        #expect(try DatabaseContents(db) == before, "a dry run writes nothing")

        let result = try ProvisionBinary.run(["delete", "--tenantSlug", "del-parent", "--json"], databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.statusOfFirstResult == "deleted", "\(result)")
        let kept = try #require(result.resultUser(shared), "\(result)")
        #expect(kept["deleted"] as? Bool == false, "\(kept)")
        let why = (kept["keptBecause"] as? String ?? "").lowercased()
        #expect(why.contains("parent") || why.contains("portal"), "keptBecause says why: \(kept)")

        #expect(try db.count("SELECT 1 FROM tenants WHERE slug = 'del-parent'") == 0, "the tenant went")
        #expect(try db.count("SELECT 1 FROM users WHERE id = \(literal(userId))::uuid") == 1, "the user stays")
        #expect(try db.scalar("SELECT user_id::text FROM parents WHERE id = \(literal(parentId))::uuid") == userId,
                "the other tenant's parent still logs in as the user")
    }

    /// §12: a member of the deleted tenant who belongs to another tenant is kept, and the
    /// result says it is because of another tenant; the dry run says the same.
    @Test("delete keeps a user who is a member of another tenant, and says why")
    func deleteKeepsMemberOfAnotherTenant() throws {
        let db = try TestDatabase.create()
        let shared = "shared@del-member.example"
        try seedTenant("del-member", owner: shared, in: db)
        try seedTenant("del-member-home", owner: "owner@del-member-home.example", in: db)
        try linkMember(shared, to: "del-member-home", as: "STAFF", in: db)
        let before = try DatabaseContents(db)

        let dry = try ProvisionBinary.run(["delete", "--tenantSlug", "del-member", "--dryRun", "--json"], databaseURL: db.url)
        #expect(dry.status == 0, "\(dry)")
        try ContractSchema.validate(dry.stdout, as: .run)
        #expect(dry.resultUser(shared)?["deleted"] as? Bool == false, "\(dry)")
        #expect((dry.resultUser(shared)?["keptBecause"] as? String)?.contains("tenant") == true, "\(dry)")
        #expect(try DatabaseContents(db) == before, "a dry run writes nothing")

        let result = try ProvisionBinary.run(["delete", "--tenantSlug", "del-member", "--json"], databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let kept = try #require(result.resultUser(shared), "\(result)")
        #expect(kept["deleted"] as? Bool == false, "\(kept)")
        #expect((kept["keptBecause"] as? String)?.contains("tenant") == true, "keptBecause names another tenant: \(kept)")
        #expect(try db.count("SELECT 1 FROM users WHERE lower(email) = \(literal(shared))") == 1, "the user stays")
        #expect(try role(of: shared, in: "del-member-home", db: db) == "STAFF", "the other tenant's membership stays")
    }

    // MARK: resetting one user twice in one run

    static func doubleReset(_ email: String) -> String {
        """
        local p = require "provision"
        p.resetPassword{email = "\(email)"}
        p.resetPassword{email = "\(email)"}
        """
    }

    /// §12: a playbook that resets one user twice shows one password (JSON), and it is
    /// the one that works; the password it replaced no longer does.
    @Test("run resetting one user twice (--json): one credential, and it is the password that works")
    func doubleResetShowsOneWorkingPassword() throws {
        let db = try TestDatabase.create()
        let folder = try DayTwoFolder()
        defer { folder.remove() }
        let email = "owner@twice-reset.example"
        let created = try seedTenant("twice-reset", owner: email, in: db)
        let original = try #require(created.oneTimePassword(.json), "\(created)")
        let playbook = try folder.write("reset-twice.lua", Self.doubleReset(email))

        let result = try ProvisionBinary.run(["run", playbook, "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let credentials = result.credentials(for: email)
        try #require(credentials.count == 1, "exactly one credential for \(email): \(result.jsonCredentials)")
        let password = try #require(credentials[0]["oneTimePassword"] as? String)
        let hash = try #require(try db.scalar("SELECT password_hash FROM users WHERE lower(email) = \(literal(email))"))
        #expect(PasswordHash.verify(password, against: hash), "the password shown is the one that works")
        #expect(!PasswordHash.verify(original, against: hash), "the provisioning password was replaced")
        #expect(OneTimePasswordShape.occurrences(in: result.stdout) == [password], "no other password anywhere: \(result)")
        #expect(OneTimePasswordShape.occurrences(in: result.stderr).isEmpty, "\(result)")
    }

    /// §12: the same in text output: exactly one password is printed, and it works.
    @Test("run resetting one user twice (text): exactly one password printed, and it works")
    func doubleResetTextShowsOnePassword() throws {
        let db = try TestDatabase.create()
        let folder = try DayTwoFolder()
        defer { folder.remove() }
        let email = "owner@twice-text.example"
        try seedTenant("twice-text", owner: email, in: db)
        let playbook = try folder.write("reset-twice.lua", Self.doubleReset(email))

        let result = try ProvisionBinary.run(["run", playbook], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        let shown = OneTimePasswordShape.occurrences(in: result.stdout + result.stderr)
        try #require(shown.count == 1, "exactly one password printed: \(result)")
        #expect(result.stdout.contains(shown[0]), "on stdout: \(result)")
        let hash = try #require(try db.scalar("SELECT password_hash FROM users WHERE lower(email) = \(literal(email))"))
        #expect(PasswordHash.verify(shown[0], against: hash), "the password shown is the one that works")
    }

    // MARK: JSON documents of the new commands

    /// One new command, for real or as a dry run.
    enum NewCommand: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case update, updateDryRun, memberAdd, memberAddDryRun, setRole, setRoleDryRun, remove, removeDryRun

        var testDescription: String { rawValue }

        var dryRun: Bool { rawValue.hasSuffix("DryRun") }

        /// The envelope's `command`.
        var command: String {
            switch self {
            case .update, .updateDryRun: return "update"
            case .memberAdd, .memberAddDryRun: return "member add"
            case .setRole, .setRoleDryRun: return "member set-role"
            case .remove, .removeDryRun: return "member remove"
            }
        }

        func arguments(_ slug: String) -> [String] {
            let base: [String]
            switch self {
            case .update, .updateDryRun:
                base = ["update", "--tenantSlug", slug, "--supportPhone", DayTwoTests.newPhone, "--clear", "timeZone"]
            case .memberAdd, .memberAddDryRun:
                base = ["member", "add", "--tenantSlug", slug, "--email", "new@\(slug).example", "--role", "STAFF"]
            case .setRole, .setRoleDryRun:
                base = ["member", "set-role", "--tenantSlug", slug, "--email", "admin@\(slug).example", "--role", "STAFF"]
            case .remove, .removeDryRun:
                base = ["member", "remove", "--tenantSlug", slug, "--email", "admin@\(slug).example"]
            }
            return base + (dryRun ? ["--dryRun"] : []) + ["--json"]
        }
    }

    /// §2, §12: every new command's --json output (and its dry run's) is one run envelope
    /// the schema accepts, naming its command; a dry run is `planned` and writes nothing.
    @Test("the new commands' --json documents match the schema", arguments: NewCommand.allCases)
    func newCommandsMatchSchema(_ example: NewCommand) throws {
        let db = try TestDatabase.create()
        let slug = "schema-two"
        try seedTenant(slug, owner: "owner@\(slug).example", Self.settings(slug), in: db)
        try linkMember("admin@\(slug).example", to: slug, as: "ADMIN", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(example.arguments(slug), databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        #expect(result.json != nil, "stdout is one JSON document: \(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        try ContractSchema.validate(result.stdout)
        #expect(result.json?["command"] as? String == example.command, "\(result)")
        #expect(result.json?["dryRun"] as? Bool == example.dryRun, "\(result)")
        #expect(result.statusOfFirstResult == (example.dryRun ? "planned" : "updated"), "\(result)")
        #expect(!result.changesOfFirstResult.isEmpty, "the result carries its changes: \(result)")
        if example.dryRun {
            #expect(result.jsonCredentials.isEmpty, "a dry run issues no password: \(result)")
            #expect(try DatabaseContents(db) == before, "a dry run writes nothing")
        }
    }

    /// One failing new command, with the command its error document must name.
    enum FailingCommand: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case updateUnknownSlug, memberAddBadRole, setRoleUnknownUser, removeLastOwner

        var testDescription: String { rawValue }

        var expected: (command: String, status: Int32, code: String) {
            switch self {
            case .updateUnknownSlug: return ("update", 4, "not_found")
            case .memberAddBadRole: return ("member add", 2, "invalid_input")
            case .setRoleUnknownUser: return ("member set-role", 4, "not_found")
            case .removeLastOwner: return ("member remove", 3, "last_owner")
            }
        }

        func arguments(_ slug: String) -> [String] {
            switch self {
            case .updateUnknownSlug:
                return ["update", "--tenantSlug", "no-such-tenant", "--supportPhone", DayTwoTests.newPhone, "--json"]
            case .memberAddBadRole:
                return ["member", "add", "--tenantSlug", slug, "--email", "new@\(slug).example", "--role", "KING", "--json"]
            case .setRoleUnknownUser:
                return ["member", "set-role", "--tenantSlug", slug, "--email", "ghost@\(slug).example", "--role", "STAFF", "--json"]
            case .removeLastOwner:
                return ["member", "remove", "--tenantSlug", slug, "--email", "owner@\(slug).example", "--json"]
            }
        }
    }

    /// §13: the new commands' error documents name their command, match the schema, and
    /// keep the contract's exit status.
    @Test("the new commands' error documents carry their command", arguments: FailingCommand.allCases)
    func errorDocumentsNameTheirCommand(_ example: FailingCommand) throws {
        let db = try TestDatabase.create()
        let slug = "errors-two"
        try seedTenant(slug, owner: "owner@\(slug).example", in: db)
        let before = try DatabaseContents(db)

        let result = try ProvisionBinary.run(example.arguments(slug), databaseURL: db.url)

        let expected = example.expected
        #expect(result.status == expected.status, "\(result)")
        #expect(result.errorCode == expected.code, "\(result)")
        #expect(result.json?["command"] as? String == expected.command, "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        try ContractSchema.validate(result.stdout)
        #expect(try DatabaseContents(db) == before, "nothing written")
    }
}

extension DayTwoTests {
    /// §12 "any platform row": tables the platform added that refer to `users` through a
    /// foreign key keep the user too — one scoped to a tenant (rows of another tenant
    /// count, rows of the deleted one do not), and one that belongs to no tenant (any
    /// row counts). A user referenced only from the deleted tenant's own rows goes.
    @Test("delete keeps a user that a table the platform added refers to, in another tenant or in no tenant")
    func deleteKeepsUsersOfPlatformTables() throws {
        let db = try TestDatabase.create()
        let invoiced = "billing@del-tables.example", noted = "noted@del-tables.example", alone = "owner@del-tables.example"
        try seedTenant("del-tables", owner: alone, in: db)
        try linkMember(invoiced, to: "del-tables", as: "ADMIN", in: db)
        try linkMember(noted, to: "del-tables", as: "STAFF", in: db)
        try seedTenant("del-other", owner: "owner@del-other.example", in: db)
        let connection = try db.connect()
        try connection.run(fixture: """
            CREATE TABLE "Invoices" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                     tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
                                     "issued By" uuid REFERENCES users (id) ON DELETE SET NULL);
            CREATE TABLE staff_notes (id serial PRIMARY KEY, author uuid REFERENCES users (id) ON DELETE CASCADE, body text);
            INSERT INTO "Invoices" (tenant_id, "issued By")
              SELECT t.id, u.id FROM tenants t, users u WHERE t.slug = 'del-other' AND u.email = '\(invoiced)';
            INSERT INTO staff_notes (author, body) SELECT id, 'call back' FROM users WHERE email = '\(noted)';
            """)

        let result = try ProvisionBinary.run(["delete", "--tenantSlug", "del-tables", "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let invoicedUser = try #require(result.resultUser(invoiced), "\(result)")
        #expect(invoicedUser["deleted"] as? Bool == false)
        #expect((invoicedUser["keptBecause"] as? String)?.contains("1 Invoices row of 1 other tenant refers to them") == true, "\(invoicedUser)")
        let notedUser = try #require(result.resultUser(noted), "\(result)")
        #expect(notedUser["deleted"] as? Bool == false)
        #expect((notedUser["keptBecause"] as? String)?.contains("staff_notes row") == true, "\(notedUser)")
        #expect(result.resultUser(alone)?["deleted"] as? Bool == true, "no one else refers to the Owner: \(result)")
        #expect(try db.count("SELECT 1 FROM users WHERE email IN ('\(invoiced)', '\(noted)')") == 2)
        #expect(try db.count(#"SELECT 1 FROM "Invoices" WHERE "issued By" IS NOT NULL"#) == 1, "the other tenant's row is untouched")
        #expect(try db.count("SELECT 1 FROM staff_notes") == 1)
    }

    /// §12: the built-in checks' remedies name the command that fixes them.
    @Test("the time-zone and support-contact checks name provision update, and update makes them pass")
    func checksNameTheCommandThatFixesThem() throws {
        let db = try TestDatabase.create()
        try seedTenant("remedy", owner: "owner@remedy.example", in: db)

        let before = try ProvisionBinary.run(["check", "--tenantSlug", "remedy", "--json"], databaseURL: db.url)
        let checks = (before.json?["checks"] as? [[String: Any]]) ?? []
        func message(_ id: String, in checks: [[String: Any]]) -> String {
            checks.first { $0["id"] as? String == id }?["message"] as? String ?? ""
        }
        #expect(message("time-zone", in: checks).contains("provision update --tenantSlug remedy --timeZone"), "\(checks)")
        #expect(message("support-contact", in: checks).contains("provision update --tenantSlug remedy --supportEmail"), "\(checks)")

        let update = try ProvisionBinary.run(["update", "--tenantSlug", "remedy", "--timeZone", "America/Edmonton",
                                              "--supportEmail", "help@remedy.example"], databaseURL: db.url)
        #expect(update.status == 0, "\(update)")
        let after = try ProvisionBinary.run(["check", "--tenantSlug", "remedy", "--json"], databaseURL: db.url)
        let statuses = Dictionary(uniqueKeysWithValues: ((after.json?["checks"] as? [[String: Any]]) ?? []).compactMap { check in
            (check["id"] as? String).map { ($0, check["status"] as? String ?? "") }
        })
        #expect(statuses["time-zone"] == "pass" && statuses["support-contact"] == "pass", "\(after)")
    }
}
