import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §10, "Least privilege, exactly": a role per group of commands with exactly the
// grants the README lists (Grants.required), running that group's commands; a missing
// privilege is forbidden, naming it, its table and the GRANT, with nothing written.

@Suite("Exact grants per group of commands")
struct GrantTests {
    /// A login role with exactly `group`'s grants in `db` (and `provision_reader` where the
    /// group runs queries: checks, tests, an auditor's checks).
    static func role(for group: GrantGroup, in db: TestDatabase, leaving out: Grant? = nil) throws -> TemporaryRole {
        let role = try TemporaryRole("LOGIN")
        var statements = Grants.required(for: group).filter { $0 != out }.map { $0.sql(to: role.name) }
        if [.reads, .auditor, .test].contains(group) { statements.append("GRANT provision_reader TO \(role.name);") }
        try db.connect().run(fixture: statements.joined(separator: "\n"))
        return role
    }

    static func scratchFile(_ name: String, _ text: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("grants-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("each group's commands work with exactly its grants", arguments: GrantGroup.allCases)
    func exactlyTheListedGrants(_ group: GrantGroup) throws {
        let db = try TestDatabase.create()
        #expect(try ProvisionBinary.run(Runbook.staging, databaseURL: db.url).status == 0)
        let role = try Self.role(for: group, in: db)
        defer { role.drop() }
        let url = role.url(database: db.name)
        var commands: [([String], Int32)] = []
        switch group {
        case .provisioning:
            let csv = try Self.scratchFile("wave.csv", "tenantSlug,tenantName,ownerEmail\nwave-a,Wave A,a@wave.example\nwave-b,Wave B,b@wave.example\n")
            let plan = FileManager.default.temporaryDirectory.appendingPathComponent("grants-\(UUID().uuidString).plan").path
            commands = [(Runbook.production, 0), (["batch", csv], 0), (Runbook.tenant("planned", owner: "o@planned.example", "--dryRun", "--planFile", plan), 0),
                        (["apply", plan], 0)]
        case .reads, .auditor:
            commands = [(["list"], 0), (["show", "--tenantSlug", "pilot-staging"], 0), (["check", "--tenantSlug", "pilot-staging"], 1),
                        (["check", "--all"], 1), (["migrate", "--status"], 0), (Runbook.dryRun, 0)]
        case .resetPassword:
            commands = [(["reset-password", "--email", "owner@pilot-staging.example.com"], 0)]
        case .changes:
            let member = ["--tenantSlug", "pilot-staging", "--email", "admin@pilot-staging.example.com"]
            let plan = FileManager.default.temporaryDirectory.appendingPathComponent("grants-\(UUID().uuidString).plan").path
            commands = [(["update", "--tenantSlug", "pilot-staging", "--supportPhone", "+1 555 000 1111"], 0),
                        (["member", "add"] + member + ["--role", "ADMIN", "--name", "Admin"], 0),
                        (["member", "set-role"] + member + ["--role", "STAFF"], 0),
                        (["member", "remove"] + member + ["--dryRun", "--planFile", plan], 0), (["apply", plan], 0),
                        (Runbook.staging + ["--update"], 0), (Runbook.production, 0)]
        case .delete:
            commands = [(["delete", "--tenantSlug", "pilot-staging", "--dryRun"], 0), (["delete", "--tenantSlug", "pilot-staging"], 0)]
        case .test:
            let test = try Self.scratchFile("grants_test.lua", """
                return {
                  ["fixtures, a check and a playbook"] = function(t)
                    local tenant = t.tenant{ slug = "fixture" }
                    t.member{ tenant = tenant, user = t.user{ email = "o@fixture.example" }, role = "OWNER" }
                    local center = t.center{ tenant = tenant }
                    t.group{ tenant = tenant, center = center, program = t.program{ tenant = tenant } }
                    t.level{ tenant = tenant }
                    t.link{ student = t.student{ tenant = tenant, center = center },
                            parent = t.parent{ tenant = tenant, user = t.user{ email = "p@fixture.example" } } }
                    t.eq(t.check("owner-membership", "fixture"), "pass")
                  end,
                }
                """)
            commands = [(["test", test], 0)]
        }
        for (arguments, expected) in commands {
            let result = try ProvisionBinary.run(arguments, databaseURL: url)
            #expect(result.status == expected, "\(group.rawValue): \(arguments): \(result)")
            #expect(!result.stderr.contains("permission denied") && !result.stdout.contains("permission denied"), "\(arguments): \(result)")
            #expect(!result.stdout.contains("✗ E") && !result.stdout.contains(" E "), "no check erred for want of a privilege: \(result)")
        }
        if group == .auditor {
            let before = try db.rowCounts()
            let write = try ProvisionBinary.run(Runbook.production + ["--json"], databaseURL: url)
            #expect(write.status == 1 && write.errorCode == "forbidden", "\(write)")
            #expect(try db.rowCounts() == before)
        }
    }

    @Test("a missing privilege is forbidden, naming the privilege, the table and the GRANT; nothing is written")
    func aMissingPrivilegeIsNamed() throws {
        let db = try TestDatabase.create()
        let missing = Grant(privilege: "INSERT", table: "audit_events", columns: nil)
        #expect(Grants.required(for: .provisioning).contains(missing))
        let role = try Self.role(for: .provisioning, in: db, leaving: missing)
        defer { role.drop() }
        let before = try db.rowCounts()
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(Runbook.production), databaseURL: role.url(database: db.name))
            #expect(result.status == 1, "\(result)")
            let text = mode == .json ? result.stdout : result.stderr
            #expect(text.contains("lacks INSERT on audit_events") && text.contains("GRANT INSERT ON audit_events TO \(role.name);"), "\(result)")
            if mode == .json {
                #expect(result.errorCode == "forbidden")
                try ContractSchema.validate(result.stdout, as: .error)
            }
        }
        #expect(try db.rowCounts() == before)
    }

    @Test("the README lists exactly these grants")
    func theReadmeListsThem() throws {
        let readme = try String(contentsOfFile: Repository.path("README.md"), encoding: .utf8)
        for group in GrantGroup.allCases {
            let block = Grants.required(for: group).map { "    " + $0.sql(to: "OPERATOR") }.joined(separator: "\n")
            #expect(readme.contains(block), "README lacks the grants of \(group.rawValue):\n\(block)")
        }
    }
}
