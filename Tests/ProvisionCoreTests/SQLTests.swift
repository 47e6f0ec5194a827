import Testing
@testable import ProvisionCore

@Suite("Statements bind every value") struct SQLTests {
    @Test func interpolationBecomesParameters() {
        let slug = "pilot'; DROP TABLE tenants; --"
        let limit = 3
        let name: String? = nil
        let sql: SQL = "SELECT * FROM tenants WHERE slug = \(slug) AND name = \(name) LIMIT \(limit)"
        #expect(sql.text == "SELECT * FROM tenants WHERE slug = $1 AND name = $2 LIMIT $3")
        #expect(sql.parameters == [slug, nil, "3"])
    }
}
