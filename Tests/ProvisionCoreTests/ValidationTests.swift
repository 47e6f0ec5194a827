import Testing
@testable import ProvisionCore

@Suite struct SlugValidationTests {
    @Test func acceptsDNSLabels() throws {
        #expect(try Validate.tenantSlug("pilot-staging", field: "tenantSlug") == "pilot-staging")
        #expect(try Validate.tenantSlug("abc", field: "tenantSlug") == "abc")
    }
}
