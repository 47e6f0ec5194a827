import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// CONTRACT §4: "of two runs racing for one slug or one new email, one wins and the other
/// gets the same clean conflict error (3), never a crash or a raw SQL error."
///
/// The runs are made to overlap for certain, not by luck of timing: the test holds an
/// exclusive lock on the contested table, starts all twenty runs, waits until every one
/// of them is blocked on that lock, and only then lets them go at once.
@Suite("Concurrent runs")
struct ConcurrencyTests {
    @Test("Twenty runs for one slug: one exits 0, nineteen exit 3 slug_exists")
    func twentyRunsForOneSlug() throws {
        let db = try TestDatabase.create()
        let emails = (1...20).map { "owner\($0)@pilot.example.com" }
        let results = try race(emails.map { Runbook.tenant("pilot", owner: $0, "--json") }, throughLockOn: "tenants", in: db)

        let winners = results.indices.filter { results[$0].status == 0 }
        try #require(winners.count == 1, "exactly one run wins: \(results.map(\.status))")
        let losers = results.indices.filter { $0 != winners[0] }
        for index in losers {
            expectCleanConflict(results[index], code: "slug_exists")
        }

        #expect(try db.count("SELECT 1 FROM tenants") == 1)
        #expect(try tenantsWithoutOwner(in: db) == 0, "every tenant has an OWNER membership")
        #expect(try db.column("SELECT email FROM users") == [emails[winners[0]]], "only the winner's Owner exists")
        #expect(try db.count("SELECT 1 FROM memberships") == 1)
        let expected = ExpectedTenant(slug: "pilot", name: "Tenant pilot", ownerEmail: emails[winners[0]])
        try expectProvisioned(expected, password: results[winners[0]].oneTimePassword(.json), in: db)
    }

    @Test("Twenty runs for one new owner email: one exits 0, nineteen exit 3 email_exists")
    func twentyRunsForOneEmail() throws {
        let db = try TestDatabase.create()
        let slugs = (1...20).map { "pilot-\($0)" }
        let results = try race(slugs.map { Runbook.tenant($0, owner: "owner@pilot.example.com", "--json") },
                               throughLockOn: "users", in: db)

        let winners = results.indices.filter { results[$0].status == 0 }
        try #require(winners.count == 1, "exactly one run wins: \(results.map(\.status))")
        for index in results.indices where index != winners[0] {
            expectCleanConflict(results[index], code: "email_exists")
        }

        #expect(try db.count("SELECT 1 FROM users WHERE lower(email) = 'owner@pilot.example.com'") == 1)
        #expect(try db.count("SELECT 1 FROM users") == 1)
        #expect(try db.column("SELECT slug FROM tenants") == [slugs[winners[0]]], "the losers' tenants were rolled back")
        #expect(try tenantsWithoutOwner(in: db) == 0, "every tenant has an OWNER membership")
        let expected = ExpectedTenant(slug: slugs[winners[0]], name: "Tenant \(slugs[winners[0]])",
                                      ownerEmail: "owner@pilot.example.com")
        try expectProvisioned(expected, password: results[winners[0]].oneTimePassword(.json), in: db)
    }

    @Test("Twenty runs with --allowExistingUser for one new email: all succeed, one user, one password")
    func twentyRunsShareOneNewOwner() throws {
        let db = try TestDatabase.create()
        let slugs = (1...20).map { "pilot-\($0)" }
        let results = try race(slugs.map { Runbook.tenant($0, owner: "owner@pilot.example.com", "--allowExistingUser", "--json") },
                               throughLockOn: "users", in: db)

        for result in results {
            #expect(result.status == 0, "\(result)")
        }
        let creators = results.indices.filter { results[$0].jsonOwner?["created"] as? Bool == true }
        try #require(creators.count == 1, "exactly one run created the user: \(results)")
        let passwords = results.flatMap { OneTimePasswordShape.occurrences(in: $0.stdout + $0.stderr) }
        #expect(passwords.count == 1, "one password, shown by the run that created the user")
        #expect(try db.count("SELECT 1 FROM users") == 1)
        #expect(try db.count("SELECT 1 FROM tenants") == 20)
        #expect(try db.count("SELECT 1 FROM memberships WHERE role = 'OWNER'") == 20)
        #expect(try tenantsWithoutOwner(in: db) == 0, "every tenant has an OWNER membership")
        let expected = ExpectedTenant(slug: slugs[creators[0]], name: "Tenant \(slugs[creators[0]])",
                                      ownerEmail: "owner@pilot.example.com")
        try expectProvisioned(expected, password: results[creators[0]].oneTimePassword(.json), in: db)
    }

    /// Exit 3 with the contract's code, one JSON document, no SQL leaking through, no password.
    private func expectCleanConflict(_ result: ProvisionBinary.Result, code: String,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 3, "\(result)", sourceLocation: sourceLocation)
        #expect(result.errorCode == code, "\(result)", sourceLocation: sourceLocation)
        let message = result.errorMessage ?? ""
        for raw in ["SQLSTATE", "duplicate key", "violates", "23505"] {
            #expect(!message.contains(raw) && !result.stderr.contains(raw), "no raw SQL error: \(result)",
                    sourceLocation: sourceLocation)
        }
        #expect(OneTimePasswordShape.occurrences(in: result.stdout + result.stderr).isEmpty,
                "a run that lost prints no password: \(result)", sourceLocation: sourceLocation)
    }

    /// Races the runs through `LOCK TABLE table IN ACCESS EXCLUSIVE MODE` (`Race`).
    private func race(_ runs: [[String]], throughLockOn table: String, in db: TestDatabase) throws -> [ProvisionBinary.Result] {
        try Race.run(runs, gate: "LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE", in: db)
    }
}
