import Foundation
import Testing
@testable import ProvisionCore
import ProvisionTestSupport

// CONTRACT §13: one typed record of a run, which every front end renders; actions carry
// every value they write and are compared by kind and values, never by their text.
@Suite("The typed record of a run") struct RunRecordTests {
    @Test("a run's record holds typed actions with every value, each outcome once with its status, and survives JSON both ways")
    func recordOfARun() throws {
        let database = try TestDatabase.create()
        let run = ProvisioningRun(connection: try database.connect(), dryRun: false, audit: AuditContext(actor: "unit"))
        let spec = try TenantSpec(slug: "record", name: "Record", timeZone: "America/Edmonton", supportEmail: "help@record.example")
        let tenant = try run.createTenant(spec)
        let owner = try run.createOwner(try OwnerSpec(email: "owner@record.example", name: "Olive"))
        _ = try run.linkMembership(tenant: tenant, user: owner, role: .owner)
        _ = try run.commit()

        let record = run.record
        #expect(record.actions == [
            .createTenant(slug: "record", name: "Record", timeZone: "America/Edmonton", supportEmail: "help@record.example", supportPhone: nil),
            .createUser(email: "owner@record.example", name: "Olive"),
            .linkMembership(tenant: "record", email: "owner@record.example", role: .owner),
        ])
        #expect(record.outcomes.map(\.status) == [.created])
        let stored = try #require(record.outcomes.first?.tenant?.id)
        #expect(try database.scalar("SELECT id::text FROM tenants WHERE slug = 'record'") == stored.description)
        #expect(record.counts[.created] == 1 && record.failureStatus == nil)

        let decoded = try JSONDecoder().decode(RunRecord.self, from: try JSONEncoder().encode(record))
        #expect(decoded.actions == record.actions)
        #expect(decoded.outcomes.map(\.status) == record.outcomes.map(\.status))
        #expect(decoded.outcomes.first?.tenant == record.outcomes.first?.tenant)
        #expect(decoded.memberships == record.memberships)
    }

    @Test("a member linked to a tenant that existed before the run makes it updated, its changes merged into one outcome")
    func updatedTenant() throws {
        let database = try TestDatabase.create()
        try database.connect().run("INSERT INTO tenants (slug, name) VALUES ('older', 'Older')")
        let run = ProvisioningRun(connection: try database.connect(), dryRun: false)
        let tenant = try #require(try run.lookUpTenant(slug: "older"))
        for email in ["a@older.example", "b@older.example"] {
            let user = try run.createOwner(try OwnerSpec(email: email))
            _ = try run.linkMembership(tenant: tenant, user: user, role: .admin)
        }
        let outcomes = run.record.outcomes
        #expect(outcomes.map(\.status) == [.updated])
        guard case .updated(let update)? = outcomes.first else { return }
        #expect(update.changes.map(\.field) == ["member a@older.example", "member b@older.example"])
        #expect(update.changes.allSatisfy { $0.from == nil && $0.to == "ADMIN (new user)" })
        run.rollback()
    }

    @Test("a plan's actions are compared by kind and values: another wording is the same action, another value is named")
    func comparison() {
        let planned: [Action] = [.createTenant(slug: "p", name: "Pilot", timeZone: nil, supportEmail: nil, supportPhone: nil),
                                 .linkMembership(tenant: "p", email: "o@p.example", role: .owner)]
        #expect(Action.differences(planned: planned, taken: planned).isEmpty)
        let renamed: [Action] = [.createTenant(slug: "p", name: "Pilot School", timeZone: nil, supportEmail: nil, supportPhone: nil),
                                 .linkMembership(tenant: "p", email: "O@P.example", role: .admin)]
        #expect(Action.differences(planned: planned, taken: renamed) == [
            "create_tenant p: name: 'Pilot' planned, 'Pilot School' now",
            "link_membership o@p.example in p: role: 'OWNER' planned, 'ADMIN' now",
            "link_membership o@p.example in p: email: 'o@p.example' planned, 'O@P.example' now",
        ])
        let more = planned + [.createTenant(slug: "q", name: "Q", timeZone: nil, supportEmail: nil, supportPhone: nil)]
        #expect(Action.differences(planned: planned, taken: more) == ["not planned, but the playbook would do it now: create tenant q"])
        #expect(Action.differences(planned: more, taken: planned) == ["planned, but the playbook would not do it now: create tenant q"])
    }

    @Test("an action's JSON keeps its kind and values and decodes without its text")
    func actionJSON() throws {
        let action = Action.createTenant(slug: "p", name: "Pilot", timeZone: "UTC", supportEmail: nil, supportPhone: "+1 555 0100")
        let object = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(action)) as? [String: Any])
        #expect(object["kind"] as? String == "create_tenant" && object["tenant"] as? String == "p" && object["text"] as? String == "create tenant p")
        let values = try #require(object["values"] as? [String: Any])
        #expect(values["name"] as? String == "Pilot" && values["supportEmail"] is NSNull && values["supportPhone"] as? String == "+1 555 0100")
        let reworded = #"{"kind": "create_tenant", "tenant": "p", "text": "anything at all", "values": {"slug": "p", "name": "Pilot", "timeZone": "UTC", "supportEmail": null, "supportPhone": "+1 555 0100"}}"#
        #expect(try JSONDecoder().decode(Action.self, from: Data(reworded.utf8)) == action)
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Repository.path("schema/provision.schema.json")))) as? [String: Any])
        let definitions = try #require(schema["$defs"] as? [String: Any])
        let kinds = ((((definitions["Action"] as? [String: Any])?["properties"] as? [String: Any])?["kind"] as? [String: Any])?["enum"] as? [String]) ?? []
        #expect(kinds == Action.Kind.allCases.map(\.rawValue), "the schema names exactly the kinds there are")
    }
}
