import Foundation
import ProvisionTestSupport
import Testing

/// CONTRACT §2: the runbook's flags, plus kebab-case aliases such as `--tenant-slug`.
@Suite("Kebab-case flag aliases")
struct FlagAliasTests {
    static let stagingKebab = [
        "tenant",
        "--tenant-slug", "pilot-staging",
        "--tenant-name", "Pilot Staging",
        "--owner-email", "owner@pilot-staging.example.com",
        "--owner-name", "Pilot Owner",
        "--time-zone", "America/Edmonton",
        "--support-email", "support@pilot-staging.example.com",
        "--support-phone", "+1 555 123 4567",
    ]

    @Test("The staging example with kebab-case flags provisions the same tenant", arguments: OutputMode.allCases)
    func stagingWithKebabCase(mode: OutputMode) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(mode.apply(Self.stagingKebab), databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        try expectProvisioned(.staging, password: result.oneTimePassword(mode), in: db)
    }

    @Test("--dry-run is --dryRun: nothing written")
    func dryRunAlias() throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        let result = try ProvisionBinary.run(Self.stagingKebab + ["--dry-run", "--json"], databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        #expect(result.json?["dryRun"] as? Bool == true, "\(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("--allow-existing-user is --allowExistingUser: the existing user is linked")
    func allowExistingUserAlias() throws {
        let db = try TestDatabase.create()
        try #require(try ProvisionBinary.run(Runbook.staging, databaseURL: db.url).status == 0)
        let result = try ProvisionBinary.run([
            "tenant", "--tenant-slug", "pilot-two", "--tenant-name", "Pilot Two",
            "--owner-email", "owner@pilot-staging.example.com", "--allow-existing-user", "--json",
        ], databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        #expect(result.jsonOwner?["created"] as? Bool == false, "\(result)")
        #expect(try db.count("SELECT 1 FROM users") == 1)
        #expect(try db.count("SELECT 1 FROM memberships WHERE role = 'OWNER'") == 2)
    }

    @Test("A bad value under a kebab-case flag is reported with the runbook's field name")
    func badValueUnderAlias() throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        let arguments = Self.stagingKebab.map { $0 == "pilot-staging" ? "Pilot-Staging" : $0 }
        let result = try ProvisionBinary.run(arguments + ["--json"], databaseURL: db.url)
        try expectInvalidInput(result, field: "tenantSlug", hint: "pilot-staging", mode: .json)
        #expect(try db.rowCounts() == before)
    }
}
