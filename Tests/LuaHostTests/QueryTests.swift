import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §5: `p.query(sql, ...)` --> array of row tables; parameters bound, read-only.

@Suite("provision.query") struct QueryTests {
    @Test func rowsAreTablesKeyedByColumnWithLuaTypes() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local rows = provision.query([[
              SELECT 42::int4 AS i4, 9000000000::int8 AS i8, 7::int2 AS i2, true AS yes, false AS no,
                     'text' AS t, 1.5::float8 AS f, NULL::text AS missing
              UNION ALL
              SELECT 1, 2, 3, false, true, 'two', 2.5, 'here'
            ]])
            print(#rows)
            local r = rows[1]
            print(math.type(r.i4), r.i4, math.type(r.i8), r.i8, math.type(r.i2), r.i2)
            print(type(r.yes), r.yes, type(r.no), r.no, type(r.t), r.t, type(r.f), r.f)
            print(r.missing == nil, rawget(r, "missing"), rows[2].missing)
            """)
        #expect(log == [
            "2",
            "integer\t42\tinteger\t9000000000\tinteger\t7",
            "boolean\ttrue\tboolean\tfalse\tstring\ttext\tnumber\t1.5",
            "true\tnil\there",
        ])
    }

    @Test func aNullColumnIsAbsentFromTheRowTable() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local r = provision.query("SELECT 1 AS a, NULL AS b, 'c' AS c")[1]
            print(show(r))
            """)
        #expect(log == ["a=1 c=c"])
    }

    @Test func parametersAreBoundNeverSpliced() throws {
        let playbook = try Playbook.fresh()
        try playbook.db.connect().execute("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        let log = try playbook.execute("""
            local hostile = "pilot'; DELETE FROM tenants; --"
            print(#provision.query("SELECT slug FROM tenants WHERE slug = $1", hostile))
            local r = provision.query("SELECT $1::text AS s, $2::int AS n, $3::bool AS b, $4::text IS NULL AS isnull, $5::float8 AS f",
              hostile, 12, true, nil, 0.25)[1]
            print(r.s, r.n, r.b, r.isnull, r.f)
            print(provision.query("SELECT slug FROM tenants WHERE slug = $1", "pilot")[1].slug)
            """)
        #expect(log == ["0", "pilot'; DELETE FROM tenants; --\t12\ttrue\ttrue\t0.25", "pilot"])
        #expect(try playbook.db.slugs() == ["pilot"])
    }

    @Test func seesTheRunsOwnUncommittedWrites() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            provision.createTenant{slug = "pilot", name = "Pilot"}
            print(provision.query("SELECT count(*)::int AS n FROM tenants")[1].n)
            """)
        #expect(log == ["1"])
    }

    @Test(arguments: [
        "DELETE FROM tenants",
        "INSERT INTO tenants (slug, name) VALUES ('sneaky', 'Sneaky')",
        "UPDATE tenants SET name = 'Renamed'",
        "WITH gone AS (DELETE FROM tenants RETURNING slug) SELECT slug FROM gone",
        "CREATE TABLE sneaky (id int)",
        "TRUNCATE tenants",
    ])
    func aWriteIsRefusedAsForbiddenAndChangesNothing(sql: String) throws {
        let playbook = try Playbook.fresh()
        try playbook.db.connect().execute("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        let log = try playbook.execute("""
            local ok, e = pcall(provision.query, [[\(sql)]])
            print(ok, e.code)
            -- the run's transaction is not left aborted: it goes on and commits
            provision.createTenant{slug = "after", name = "After"}
            """)
        #expect(log == ["false\tforbidden"])
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["after", "pilot"])
        #expect(try playbook.db.scalar("SELECT name FROM tenants WHERE slug = 'pilot'") == "Pilot")
        #expect(try playbook.db.scalar("SELECT to_regclass('sneaky') IS NULL") == "t")
    }

    /// Read-only means no side effects at all: COPY TO a server file or program is not a
    /// write PostgreSQL's read-only transaction refuses, so the host must.
    @Test(arguments: ["COPY (SELECT 1) TO PROGRAM 'touch FILE'", "COPY (SELECT 'x') TO 'FILE'"])
    func aQueryCannotWriteOutsideTheDatabase(sql: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("provision-query-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let playbook = try Playbook.fresh(dryRun: true)
        let log = try playbook.execute("""
            local ok, e = pcall(provision.query, "\(sql.replacingOccurrences(of: "FILE", with: file))")
            print(ok, type(e) == "table" and e.code or type(e))
            """)
        #expect(log == ["false\tforbidden"])
        #expect(!FileManager.default.fileExists(atPath: file), "the database server wrote \(file)")
    }

    @Test func multipleStatementsAreRefusedAndChangeNothing() throws {
        let playbook = try Playbook.fresh()
        try playbook.db.connect().execute("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        let log = try playbook.execute("""
            local ok, e = pcall(provision.query, "SELECT 1; DELETE FROM tenants")
            print(ok, type(e), e.code ~= nil)
            provision.createTenant{slug = "after", name = "After"}
            """)
        #expect(log == ["false\ttable\ttrue"])
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["after", "pilot"])
    }

    /// Transaction control is not a read: `COMMIT` from a query must not end the run's
    /// transaction, or a later error could no longer roll back what came before
    /// (CONTRACT §4: one run is one transaction).
    @Test(arguments: ["COMMIT", "COMMIT AND CHAIN", "END"])
    func transactionControlCannotCommitTheRunEarly(sql: String) throws {
        let playbook = try Playbook.fresh()
        let error = #expect(throws: ProvisionError.self) {
            try playbook.execute("""
                provision.createTenant{slug = "early", name = "Early", supportEmail = "help@early.example.com"}
                pcall(provision.query, "\(sql)")
                error("a late failure rolls back the whole run")
                """)
        }
        #expect(error?.code == .playbookError)
        #expect(try playbook.db.slugs() == [], "nothing of a failed run is in the database")
    }

    @Test func rollbackFromAQueryCannotDiscardTheRunBehindItsBack() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            provision.createTenant{slug = "kept", name = "Kept", supportEmail = "help@kept.example.com"}
            local ok = pcall(provision.query, "ROLLBACK")
            print(ok)
            """)
        #expect(log == ["false"])
        _ = try playbook.commit()
        #expect(try playbook.db.slugs() == ["kept"], "what the run reported as created is what was committed")
    }

    @Test func aNonScalarParameterIsInvalidInput() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.query, "SELECT $1::text AS v", {})
            print(ok, e.code)
            """)
        #expect(log == ["false\tinvalid_input"])
    }
}
