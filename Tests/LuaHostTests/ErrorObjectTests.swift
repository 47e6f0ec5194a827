import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §5: errors raised into Lua are tables `{code=, message=, field=?}` with a
// `__tostring`; a playbook may catch them with pcall and go on.

@Suite("Errors raised into Lua") struct ErrorObjectTests {
    @Test func anErrorIsATableWithCodeMessageAndField() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.createTenant, {slug = "Pilot", name = "Pilot"})
            print(ok, type(e), e.code, e.field, type(e.message))
            print(tostring(e) == e.code .. ": " .. e.message)
            print(e.message)
            """)
        #expect(log.count == 3)
        #expect(log[0] == "false\ttable\tinvalid_input\tslug\tstring")
        #expect(log[1] == "true")
        #expect(log[2].contains("'pilot'"), "an uppercase slug suggests the lowercase form: \(log[2])")
    }

    @Test func anErrorWithoutAFieldHasNoFieldKey() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            provision.createTenant{slug = "pilot", name = "Pilot"}
            provision.createOwner{email = "owner@pilot.example.com"}
            provision.linkMembership{tenant = "pilot", user = "owner@pilot.example.com", role = "OWNER"}
            local ok, e = pcall(provision.linkMembership, {tenant = "pilot", user = "owner@pilot.example.com", role = "OWNER"})
            print(e.code, rawget(e, "field"))
            """)
        #expect(log == ["membership_exists\tnil"])
    }

    @Test func errorsOfThePrimitivesShareOneMetatable() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local _, a = pcall(provision.createTenant, {})
            local _, b = pcall(provision.findUser, 42)
            print(getmetatable(a) ~= nil, rawequal(getmetatable(a), getmetatable(b)))
            """)
        #expect(log == ["true\ttrue"])
    }

    @Test func aCaughtErrorLeavesTheRunUsableAndTheRestCommits() throws {
        let playbook = try Playbook.fresh()
        try playbook.db.connect().execute("INSERT INTO tenants (slug, name) VALUES ('taken', 'Taken')")
        let log = try playbook.execute("""
            print(pcall(provision.createTenant, {slug = "taken", name = "Taken again"}))
            print(pcall(provision.query, "DELETE FROM tenants"))
            print(pcall(provision.query, "SELECT * FROM no_such_table"))
            local t = provision.createTenant{slug = "pilot", name = "Pilot", supportEmail = "help@pilot.example.com"}
            local u = provision.createOwner{email = "owner@pilot.example.com"}
            provision.linkMembership{tenant = t, user = u, role = "OWNER"}
            """)
        #expect(log.count == 3)
        #expect(log.allSatisfy { $0.hasPrefix("false\t") })
        #expect(log[0].hasPrefix("false\tslug_exists: "))
        #expect(log[1].hasPrefix("false\tforbidden: "))
        let credentials = try playbook.commit()
        #expect(credentials.count == 1)
        #expect(try playbook.db.slugs() == ["pilot", "taken"])
        #expect(try playbook.db.memberships() == ["pilot owner@pilot.example.com OWNER"])
    }
}
