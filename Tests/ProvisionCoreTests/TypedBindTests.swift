import Foundation
import Testing
@testable import ProvisionCore
import ProvisionTestSupport

@Suite("Binds carry their type; rows decode into typed values") struct TypedBindTests {
    static let id = UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!
    /// Microseconds, as PostgreSQL keeps timestamps.
    static let at = Date(timeIntervalSince1970: 1_796_108_150.123456)

    @Test func interpolationTypesEveryValue() {
        let missing: UUID? = nil
        let sql: SQL = "SELECT \(Self.id), \(42), \(true), \(Self.at), \("text"), \(Int32(7)), \(missing), \(Bind.jsonb(["a": "b"]))"
        #expect(sql.text == "SELECT $1, $2, $3, $4, $5, $6, $7, $8")
        #expect(sql.binds.map(\.type) == [.uuid, .int8, .bool, .timestamptz, .text, .int4, .uuid, .jsonb])
        #expect(sql.parameters == ["6f9619ff-8b86-d011-b42d-00c04fc964ff", "42", "true", "2026-12-01 06:55:50.123456+00", "text", "7", nil, #"{"a":"b"}"#])
    }

    @Test func theServerReceivesEachValueWithItsType() throws {
        let connection = try TestDatabase.create().connect()
        let row = try #require(try connection.run("""
            SELECT pg_typeof(\(Self.id))::text AS uuid, pg_typeof(\(42))::text AS int, pg_typeof(\(true))::text AS bool,
                   pg_typeof(\(Self.at))::text AS timestamp, pg_typeof(\(Int32(7)))::text AS int4,
                   pg_typeof(\(Bind.jsonb([:])))::text AS json, pg_typeof(\(Bind.textArray(["a"])))::text AS array
            """).first)
        #expect(try row.decode(String.self, "uuid") == "uuid")
        #expect(try row.decode(String.self, "int") == "bigint")
        #expect(try row.decode(String.self, "bool") == "boolean")
        #expect(try row.decode(String.self, "timestamp") == "timestamp with time zone")
        #expect(try row.decode(String.self, "int4") == "integer")
        #expect(try row.decode(String.self, "json") == "jsonb")
        #expect(try row.decode(String.self, "array") == "text[]")
    }

    @Test(arguments: ["UTC", "America/Edmonton", "Asia/Kolkata", "America/St_Johns"])
    func valuesRoundTrip(sessionZone: String) throws {
        let connection = try TestDatabase.create().connect()
        // The server prints a timestamp in the session's zone; decoding reads the offset.
        try connection.run("SELECT set_config('TimeZone', \(sessionZone), false)")
        let missing: Int? = nil
        let row = try #require(try connection.run("""
            SELECT \(Self.id) AS id, \(9_000_000_000) AS big, \(false) AS no, \(Self.at) AS at,
                   \(missing) AS nothing, \(Bind.textArray(["a,b", "say \"hi\"", "back\\slash"])) AS words
            """).first)
        #expect(try row.decode(UUID.self, "id") == Self.id)
        #expect(try row.decode(Int.self, "big") == 9_000_000_000)
        #expect(try row.decode(Bool.self, "no") == false)
        let at = try row.decode(Date.self, "at")
        #expect(abs(at.timeIntervalSince1970 - Self.at.timeIntervalSince1970) < 0.000_001, "\(at) in \(sessionZone)")
        #expect(try row.decode(Int?.self, "nothing") == nil)
        #expect(try row.decode(String.self, "words") == #"{"a,b","say \"hi\"","back\\slash"}"#)
    }

    @Test func aValueOfTheWrongTypeIsAnErrorThatDoesNotShowIt() throws {
        let connection = try TestDatabase.create().connect()
        let row = try #require(try connection.run("SELECT \("secret-value") AS value, NULL::text AS empty").first)
        let wrong = #expect(throws: ProvisionError.self) { try row.decode(Int.self, "value") }
        #expect(wrong?.code == .databaseError)
        #expect(wrong?.message.contains("secret-value") == false)
        #expect(throws: ProvisionError.self) { try row.decode(String.self, "empty") }
        #expect(throws: ProvisionError.self) { try row.decode(String?.self, "no_such_column") }
    }

    @Test func savepointsAreNamedByTheToolOnly() {
        #expect(Identifier("provision_sp_1") != nil)
        #expect(Identifier("x\"; DROP TABLE tenants; --") == nil)
        #expect(Identifier("Upper") == nil)
        let sql: SQL = "SAVEPOINT \(Identifier("provision_sp", number: 3))"
        #expect(sql.text == #"SAVEPOINT "provision_sp_3""#)
        #expect(sql.binds.isEmpty)
    }
}
