import Foundation
import Testing
@testable import ProvisionCore
import ProvisionTestSupport

/// CONTRACT §9: a query's rows are fetched in bounded chunks, checked before they are
/// buffered, so no script can make the process exceed its limit by more than a few MiB.
/// (ProvisionEndToEndTests measure the process's peak memory; these pin the behaviour.)
@Suite("Read-only queries within a byte budget") struct QueryMemoryTests {
    func openRun() throws -> ProvisioningRun {
        let run = ProvisioningRun(connection: try TestDatabase.create().connect(), dryRun: true)
        try run.begin()
        return run
    }

    @Test func aResultLargerThanTheBudgetIsALimitAndTheRunGoesOn() throws {
        let run = try openRun()
        let error = #expect(throws: ProvisionError.self) {
            try run.readOnlyQuery("SELECT repeat('x', 200000000) AS big FROM generate_series(1, 6)", parameters: [],
                                  maxBytes: 64 << 20)
        }
        #expect(error?.code == .limitExceeded)
        #expect(error?.message == "the query's result is larger than the memory left for it (64 MiB)")
        #expect(try run.readOnlyQuery("SELECT 1 AS one", parameters: [], maxBytes: 64 << 20).values == [["1"]])
    }

    @Test func manySmallRowsCountTowardsTheBudgetToo() throws {
        let run = try openRun()
        let error = #expect(throws: ProvisionError.self) {
            try run.readOnlyQuery("SELECT g FROM generate_series(1, 10000000) AS g", parameters: [], maxBytes: 1 << 20)
        }
        #expect(error?.code == .limitExceeded)
        #expect(error?.message.contains("(1 MiB)") == true)
    }

    @Test func aResultWithinTheBudgetArrivesWholeAcrossChunks() throws {
        let run = try openRun()
        let count = ReadOnlyQuery.rowsPerChunk * 3 + 7
        let rows = try run.readOnlyQuery("SELECT g AS n, 'row ' || g AS label, NULL::text AS nothing FROM generate_series(1, $1) AS g",
                                         parameters: [.inferred(String(count))], maxBytes: 8 << 20)
        #expect(rows.count == count)
        #expect(rows.columns.map(\.name) == ["n", "label", "nothing"])
        #expect(rows.columns.map(\.typeOID) == [23, 25, 25])
        #expect(rows.values.first == ["1", "row 1", nil])
        #expect(rows.values.last == [String(count), "row \(count)", nil])
        #expect(rows.values.map { $0[0] } == (1...count).map { String($0) })
    }

    @Test func theBudgetIsExactToTheRow() throws {
        let run = try openRun()
        // Each row: its text "(xxxxxxxxxx)" (12 bytes) plus the per-row overhead.
        let perRow = 12 + ReadOnlyQuery.rowOverhead(columns: 1)
        let query = "SELECT repeat('x', 10) AS v FROM generate_series(1, 5)"
        #expect(try run.readOnlyQuery(query, parameters: [], maxBytes: perRow * 5).count == 5)
        let error = #expect(throws: ProvisionError.self) { try run.readOnlyQuery(query, parameters: [], maxBytes: perRow * 5 - 1) }
        #expect(error?.code == .limitExceeded)
    }

    @Test func withoutABudgetEveryRowArrives() throws {
        let run = try openRun()
        let rows = try run.readOnlyQuery("SELECT repeat('y', 1000000) AS v FROM generate_series(1, 3)", parameters: [])
        #expect(rows.values.map { $0[0]?.utf8.count } == [1_000_000, 1_000_000, 1_000_000])
    }

    @Test func columnsAndParameterTypesAreTheQuerysOwn() throws {
        let run = try openRun()
        let rows = try run.readOnlyQuery("""
            SELECT $1 + 1 AS inferred, $2::int8 AS big, true AS yes, 1.5::float8 AS f, '{1,2}'::int[] AS list,
                   ROW(1, 'a b') AS pair, '' AS empty, 'x,"y\\z' AS awkward
            """, parameters: [.inferred("41"), .inferred("9000000000")])
        #expect(rows.columns.map(\.name) == ["inferred", "big", "yes", "f", "list", "pair", "empty", "awkward"])
        #expect(rows.columns.map(\.typeOID) == [23, 20, 16, 701, 1007, 2249, 25, 25])
        #expect(rows.values == [["42", "9000000000", "t", "1.5", "{1,2}", "(1,\"a b\")", "", "x,\"y\\z"]])
    }

    @Test func aQueryWithoutColumnsOrRowsIsFine() throws {
        let run = try openRun()
        let none = try run.readOnlyQuery("SELECT 1 AS one WHERE false", parameters: [])
        #expect(none.isEmpty && none.columns.map(\.name) == ["one"])
        let noColumns = try run.readOnlyQuery("SELECT FROM generate_series(1, 3)", parameters: [])
        #expect(noColumns.count == 3 && noColumns.columns.isEmpty)
    }

    @Test func queryErrorsKeepTheirMeaning() throws {
        let run = try openRun()
        let typo = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT nme FROM tenants", parameters: []) }
        #expect(typo?.code == .databaseError)
        #expect(typo?.field == "sql")
        let missing = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT * FROM tenant", parameters: []) }
        #expect(missing?.code == .databaseError)
        #expect(missing?.field == "sql")
        let write = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT nextval('seq')", parameters: []) }
        #expect(write?.code == .databaseError || write?.code == .forbidden)
        let modifying = #expect(throws: ProvisionError.self) {
            try run.readOnlyQuery("WITH gone AS (DELETE FROM tenants RETURNING 1) SELECT * FROM gone", parameters: [])
        }
        #expect(modifying?.code == .forbidden)
        #expect(try run.readOnlyQuery("SELECT 2 AS two", parameters: []).values == [["2"]], "the run goes on")
    }

    @Test func advisoryLocksTakenByAQueryAreReleased() throws {
        let database = try TestDatabase.create()
        let run = ProvisioningRun(connection: try database.connect(), dryRun: true)
        try run.begin()
        _ = try run.readOnlyQuery("SELECT pg_advisory_lock(4242) AS locked", parameters: [])
        #expect(try database.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242") == "0")
    }

    /// A fleet's checks send the same query texts for every tenant: the server parses
    /// each once a transaction (a statement prepared by name), and none outlives the
    /// transaction (behind a pooler the server connection is then another client's).
    @Test(arguments: [false, true]) func aTransactionPreparesEachTextOnceAndLeavesNoneBehind(commits: Bool) throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        let run = ProvisioningRun(connection: connection, dryRun: !commits)
        try run.begin()
        for slug in ["a-1", "b-2", "c-3"] {
            #expect(try run.readOnlyQuery("SELECT slug FROM tenants WHERE slug = $1", parameters: [.inferred(slug)]).count == 0)
        }
        // A text the server refuses is never kept by name: sent again, it is refused again.
        for _ in 0..<2 {
            #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT slug FROM tenantz WHERE slug = $1", parameters: [.inferred("x")]) }
        }
        let prepared = try run.readOnlyQuery("SELECT name, statement FROM pg_prepared_statements ORDER BY name", parameters: []).values
        let names = prepared.compactMap { $0[0] }
        #expect(names.allSatisfy { $0.hasPrefix("provision_ps_") }, "\(names)")
        #expect(prepared.filter { $0[1]?.contains("WHERE slug = $1") == true }.count == 1, "\(prepared)")
        #expect(!prepared.contains { $0[1]?.contains("tenantz") == true }, "\(prepared)")
        #expect(prepared.filter { $0[1]?.contains("provision_query.fetch_rows") == true }.count == 1, "\(prepared)")
        if commits {
            _ = try run.commit()
        } else {
            run.rollback()
        }
        #expect(try connection.run(fixture: "SELECT count(*) FROM pg_prepared_statements").values == [["0"]])
        // The next transaction on the connection prepares anew, under names of its own.
        let next = ProvisioningRun(connection: connection, dryRun: true)
        try next.begin()
        #expect(try next.readOnlyQuery("SELECT slug FROM tenants WHERE slug = $1", parameters: [.inferred("d-4")]).count == 0)
        let again = try next.readOnlyQuery("SELECT name FROM pg_prepared_statements", parameters: []).values.compactMap { $0[0] }
        #expect(!again.isEmpty && Set(again).isDisjoint(with: names), "\(again) after \(names)")
        next.rollback()
        #expect(try connection.run(fixture: "SELECT count(*) FROM pg_prepared_statements").values == [["0"]])
    }

    /// A transaction that failed cannot deallocate: its statements go after the rollback.
    @Test func aFailedTransactionsStatementsGoAfterItsRollback() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        let run = ProvisioningRun(connection: connection, dryRun: true)
        try run.begin()
        _ = try run.readOnlyQuery("SELECT slug FROM tenants", parameters: [])
        #expect(throws: (any Error).self) { try connection.run(fixture: "SELECT 1/0") }
        #expect(connection.transactionAborted)
        run.rollback()
        #expect(try connection.run(fixture: "SELECT count(*) FROM pg_prepared_statements").values == [["0"]])
    }
}
