import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §5: createTenant, createOwner, linkMembership, findTenant and findUser as a
// playbook calls them: what they return, and each error they raise into Lua.

@Suite("provision.createTenant") struct CreateTenantTests {
    @Test func returnsTheTenantItCreatedWithItsId() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local t = provision.createTenant{slug = "pilot", name = "Pilot", timeZone = "America/Edmonton",
              supportEmail = "support@pilot.example.com", supportPhone = "+1 555 123 4567"}
            print(t.slug, t.name, t.timeZone, t.supportEmail, t.supportPhone, t.planned, type(t.id))
            print(t.id)
            """)
        #expect(log.first == "pilot\tPilot\tAmerica/Edmonton\tsupport@pilot.example.com\t+1 555 123 4567\tfalse\tstring")
        _ = try playbook.commit()
        #expect(log.count == 2)
        #expect(try playbook.db.scalar("SELECT id FROM tenants WHERE slug = 'pilot'") == log.last)
        #expect(try playbook.db.scalar("SELECT time_zone || ' ' || support_email || ' ' || support_phone FROM tenants")
                == "America/Edmonton support@pilot.example.com +1 555 123 4567")
    }

    @Test func optionalFieldsMayBeLeftOutAndTheMissingContactIsAWarning() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local t = provision.createTenant{slug = "pilot", name = "Pilot"}
            print(show(t):gsub("id=%S+", "id=ID"))
            """)
        #expect(log == ["id=ID name=Pilot planned=false slug=pilot\t1"])
        #expect(playbook.session.run.warnings.contains { $0.contains("pilot") && $0.contains("contact your center") })
    }

    /// Each bad value is an `invalid_input` error naming the Lua table key, and nothing is
    /// written.
    @Test(arguments: [
        (#"slug = "Pilot", name = "Pilot""#, "slug"),
        (#"slug = "pi", name = "Pilot""#, "slug"),
        (#"slug = "admin", name = "Admin""#, "slug"),
        (#"slug = "pilot_1", name = "Pilot""#, "slug"),
        (#"slug = 42, name = "Pilot""#, "slug"),
        (#"name = "Pilot""#, "slug"),
        (#"slug = "pilot", name = "   ""#, "name"),
        (#"slug = "pilot", name = "Pilot\nTwo""#, "name"),
        (#"slug = "pilot""#, "name"),
        (#"slug = "pilot", name = "Pilot", timeZone = "MST""#, "timeZone"),
        (#"slug = "pilot", name = "Pilot", timeZone = "Mountain Time""#, "timeZone"),
        (#"slug = "pilot", name = "Pilot", timeZone = "america/edmonton""#, "timeZone"),
        (#"slug = "pilot", name = "Pilot", supportEmail = "not-an-email""#, "supportEmail"),
        (#"slug = "pilot", name = "Pilot", supportPhone = "12""#, "supportPhone"),
        (#"slug = "pilot", name = "Pilot", supportPhone = "call us""#, "supportPhone"),
        (#"slug = "pilot", name = ("x"):rep(2000)"#, "name"),
        (#"slug = "pilot", name = "Pi\0lot""#, "name"),
        (#"slug = "pilot", name = "Pi\255lot""#, "name"),
    ])
    func aBadValueIsInvalidInputNamingTheLuaField(fields: String, field: String) throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.createTenant, {\(fields)})
            print(ok, e.code, e.field)
            print(e.message)
            """)
        #expect(log.first == "false\tinvalid_input\t\(field)")
        #expect(log.last?.contains(field) == true, "the message names the field: \(log.last ?? "")")
        _ = try playbook.commit()
        #expect(try playbook.db.count("tenants") == 0)
    }

    @Test func anUnknownKeyIsRefusedRatherThanIgnored() throws {
        // `tenantSlug` is the CLI's spelling; in Lua it is `slug`.
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.createTenant, {tenantSlug = "pilot", slug = "pilot", name = "Pilot"})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tinvalid_input\ttenantSlug"])
        _ = try playbook.commit()
        #expect(try playbook.db.count("tenants") == 0)
    }

    @Test func somethingOtherThanATableIsInvalidInput() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(select(2, pcall(provision.createTenant, "pilot")).code)
            print(select(2, pcall(provision.createTenant)).code)
            """)
        #expect(log == ["invalid_input", "invalid_input"])
    }

    @Test func anExistingSlugIsSlugExists() throws {
        let playbook = try Playbook.fresh()
        try playbook.db.connect().execute("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        let log = try playbook.execute("""
            local ok, e = pcall(provision.createTenant, {slug = "pilot", name = "Another Pilot"})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tslug_exists\tslug"])
    }

    @Test func aSlugCreatedEarlierInTheSameRunIsSlugExists() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            provision.createTenant{slug = "pilot", name = "Pilot"}
            local ok, e = pcall(provision.createTenant, {slug = "pilot", name = "Pilot again"})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tslug_exists\tslug"])
        _ = try playbook.commit()
        #expect(try playbook.db.scalar("SELECT name FROM tenants") == "Pilot")
    }
}

@Suite("provision.createOwner") struct CreateOwnerTests {
    @Test func createsAUserAndNeverHandsLuaThePassword() throws {
        let playbook = try Playbook.fresh()
        try playbook.execute("""
            local u = provision.createOwner{email = "owner@pilot.example.com", name = "Pilot Owner"}
            print(show(u))
            for k, v in pairs(u) do print(k, type(v), tostring(v)) end
            """)
        let credentials = try playbook.commit()
        let credential = try #require(credentials.first)
        let password = credential.password.reveal()
        let shown = try #require(playbook.log.first)
        #expect(shown.hasPrefix("created=true email=owner@pilot.example.com id="))
        #expect(shown.hasSuffix(" name=Pilot Owner planned=false"))
        let keys = Set(playbook.log.dropFirst().map { String($0.split(separator: "\t")[0]) })
        #expect(keys == ["id", "email", "name", "created", "planned"])
        #expect(!playbook.log.contains { $0.contains(password) }, "no key or value holds the one-time password")
        #expect(playbook.log.allSatisfy { !$0.localizedCaseInsensitiveContains("password") && !$0.contains("$argon2") })
        #expect(credential.email == "owner@pilot.example.com")
        #expect(try playbook.db.scalar("SELECT must_change_password FROM users") == "t")
    }

    @Test func anExistingEmailIsEmailExistsWhateverItsCase() throws {
        let playbook = try Playbook.fresh()
        try playbook.db.connect().execute("INSERT INTO users (email, name) VALUES ('owner@pilot.example.com', 'Owner')")
        let log = try playbook.execute("""
            local ok, e = pcall(provision.createOwner, {email = "OWNER@Pilot.example.com"})
            print(ok, e.code, e.field)
            print(e.message)
            """)
        #expect(log.first == "false\temail_exists\temail")
        #expect(log.last?.contains("allowExistingUser") == true, "Lua is told its own spelling of the remedy")
        #expect(try playbook.commit().isEmpty)
        #expect(try playbook.db.count("users") == 1)
    }

    @Test func allowExistingUserLinksTheExistingUserWithoutAPassword() throws {
        let playbook = try Playbook.fresh()
        let existing = try #require(try playbook.db.connect().execute(
            "INSERT INTO users (email, name) VALUES ('owner@pilot.example.com', 'Owner') RETURNING id").values.first?.first ?? nil)
        let log = try playbook.execute("""
            local u = provision.createOwner{email = "Owner@pilot.example.com", allowExistingUser = true}
            print(u.id, u.email, u.created, u.planned)
            """)
        #expect(log == ["\(existing)\towner@pilot.example.com\tfalse\tfalse"])
        #expect(try playbook.commit().isEmpty, "an existing user keeps their password: none is issued")
        #expect(try playbook.db.scalar("SELECT password_hash IS NULL FROM users") == "t")
    }

    @Test(arguments: [
        (#"email = "not-an-email""#, "email"),
        (#"name = "Owner""#, "email"),
        (#"email = "owner@pilot.example.com", name = """#, "name"),
        (#"email = "owner@pilot.example.com", allowExistingUser = "maybe""#, "allowExistingUser"),
        (#"email = "owner@pilot.example.com", ownerEmail = "owner@pilot.example.com""#, "ownerEmail"),
        (#"email = "owner@pilot.example.com", password = "hunter2""#, "password"),
    ])
    func aBadValueIsInvalidInputNamingTheLuaField(fields: String, field: String) throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.createOwner, {\(fields)})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tinvalid_input\t\(field)"])
        #expect(try playbook.commit().isEmpty)
        #expect(try playbook.db.count("users") == 0)
    }
}

@Suite("provision.linkMembership") struct LinkMembershipTests {
    @Test func linksByTheTablesThePrimitivesReturned() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local t = provision.createTenant{slug = "pilot", name = "Pilot", supportEmail = "help@pilot.example.com"}
            local u = provision.createOwner{email = "owner@pilot.example.com"}
            local m = provision.linkMembership{tenant = t, user = u, role = "OWNER"}
            print(m.role, m.tenantId == t.id, m.userId == u.id, m.planned)
            """)
        #expect(log == ["OWNER\ttrue\ttrue\tfalse"])
        let credentials = try playbook.commit()
        #expect(try playbook.db.memberships() == ["pilot owner@pilot.example.com OWNER"])
        #expect(credentials.first?.tenantSlug == "pilot")
    }

    @Test func linksBySlugAndEmailStringsWithEveryRole() throws {
        let playbook = try Playbook.fresh()
        let connection = try playbook.db.connect()
        try connection.execute("INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot')")
        try connection.execute("""
            INSERT INTO users (email) VALUES ('owner@x.example.com'), ('admin@x.example.com'),
              ('staff@x.example.com'), ('parent@x.example.com')
            """)
        let log = try playbook.execute("""
            local users = {OWNER = "Owner@X.example.com", ADMIN = "admin@x.example.com",
              STAFF = "staff@x.example.com", PARENT = "parent@x.example.com"}
            for _, role in ipairs{"OWNER", "ADMIN", "STAFF", "PARENT"} do
              local m = provision.linkMembership{tenant = "pilot", user = users[role], role = role}
              print(m.role, type(m.tenantId), type(m.userId))
            end
            """)
        #expect(log == ["OWNER\tstring\tstring", "ADMIN\tstring\tstring", "STAFF\tstring\tstring", "PARENT\tstring\tstring"])
        _ = try playbook.commit()
        #expect(try playbook.db.memberships() == [
            "pilot admin@x.example.com ADMIN", "pilot owner@x.example.com OWNER",
            "pilot parent@x.example.com PARENT", "pilot staff@x.example.com STAFF",
        ])
    }

    @Test(arguments: ["owner", "BOSS", "", "OWNER;DROP"])
    func aRoleOutsideTheFourIsInvalidInput(role: String) throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            provision.createTenant{slug = "pilot", name = "Pilot"}
            provision.createOwner{email = "owner@pilot.example.com"}
            local ok, e = pcall(provision.linkMembership, {tenant = "pilot", user = "owner@pilot.example.com", role = "\(role)"})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tinvalid_input\trole"])
        _ = try playbook.commit()
        #expect(try playbook.db.count("memberships") == 0)
    }

    @Test func anUnknownTenantIsNotFound() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            provision.createOwner{email = "owner@pilot.example.com"}
            local ok, e = pcall(provision.linkMembership, {tenant = "nowhere", user = "owner@pilot.example.com", role = "OWNER"})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tnot_found\ttenant"])
    }

    @Test func anUnknownUserIsNotFound() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            provision.createTenant{slug = "pilot", name = "Pilot"}
            local ok, e = pcall(provision.linkMembership, {tenant = "pilot", user = "nobody@pilot.example.com", role = "ADMIN"})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tnot_found\tuser"])
    }

    @Test func linkingTheSameUserTwiceIsMembershipExists() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local t = provision.createTenant{slug = "pilot", name = "Pilot"}
            local u = provision.createOwner{email = "owner@pilot.example.com"}
            provision.linkMembership{tenant = t, user = u, role = "OWNER"}
            local ok, e = pcall(provision.linkMembership, {tenant = "pilot", user = "OWNER@pilot.example.com", role = "ADMIN"})
            print(ok, e.code)
            """)
        #expect(log == ["false\tmembership_exists"])
        _ = try playbook.commit()
        #expect(try playbook.db.memberships() == ["pilot owner@pilot.example.com OWNER"])
    }

    @Test func aMembershipAlreadyInTheDatabaseIsMembershipExists() throws {
        let playbook = try Playbook.fresh()
        let connection = try playbook.db.connect()
        try connection.execute("""
            WITH t AS (INSERT INTO tenants (slug, name) VALUES ('pilot', 'Pilot') RETURNING id),
                 u AS (INSERT INTO users (email) VALUES ('owner@pilot.example.com') RETURNING id)
            INSERT INTO memberships (tenant_id, user_id, role) SELECT t.id, u.id, 'OWNER' FROM t, u
            """)
        let log = try playbook.execute("""
            local ok, e = pcall(provision.linkMembership, {tenant = "pilot", user = "owner@pilot.example.com", role = "STAFF"})
            print(ok, e.code)
            """)
        #expect(log == ["false\tmembership_exists"])
    }

    @Test(arguments: [
        (#"tenant = "pilot", user = "owner@pilot.example.com""#, "role"),
        (#"user = "owner@pilot.example.com", role = "OWNER""#, "tenant"),
        (#"tenant = 7, user = "owner@pilot.example.com", role = "OWNER""#, "tenant"),
        (#"tenant = {}, user = "owner@pilot.example.com", role = "OWNER""#, "tenant"),
        (#"tenant = "pilot", user = {name = "x"}, role = "OWNER""#, "user"),
        (#"tenant = "pilot", user = "owner@pilot.example.com", role = "OWNER", tenantSlug = "pilot""#, "tenantSlug"),
    ])
    func aMissingOrMalformedArgumentIsInvalidInput(fields: String, field: String) throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.linkMembership, {\(fields)})
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tinvalid_input\t\(field)"])
    }
}

@Suite("provision.findTenant and provision.findUser") struct FindTests {
    @Test func findTenantReturnsATableOrNil() throws {
        let playbook = try Playbook.fresh()
        try playbook.db.connect().execute("""
            INSERT INTO tenants (slug, name, time_zone, support_email) VALUES ('pilot', 'Pilot', 'UTC', 'help@pilot.example.com')
            """)
        let log = try playbook.execute("""
            local t = provision.findTenant("pilot")
            print(t.slug, t.name, t.timeZone, t.supportEmail, t.supportPhone, t.planned, type(t.id))
            print(provision.findTenant("nowhere"))
            """)
        #expect(log == ["pilot\tPilot\tUTC\thelp@pilot.example.com\tnil\tfalse\tstring", "nil"])
    }

    @Test func findTenantSeesWhatThisRunCreated() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local created = provision.createTenant{slug = "pilot", name = "Pilot"}
            print(provision.findTenant("pilot").id == created.id)
            """)
        #expect(log == ["true"])
    }

    @Test func findUserIsCaseInsensitiveAndReturnsTheEmailAsStored() throws {
        let playbook = try Playbook.fresh()
        try playbook.db.connect().execute("INSERT INTO users (email, name) VALUES ('Owner@Pilot.example.com', 'Owner')")
        let log = try playbook.execute("""
            local u = provision.findUser("owner@PILOT.example.com")
            print(u.email, u.name, u.created, type(u.id))
            print(provision.findUser("nobody@pilot.example.com"))
            """)
        #expect(log == ["Owner@Pilot.example.com\tOwner\tfalse\tstring", "nil"])
    }

    @Test func findUserNeverReturnsThePasswordHash() throws {
        let playbook = try Playbook.fresh()
        try playbook.execute(#"provision.createOwner{email = "owner@pilot.example.com"}"#)
        _ = try playbook.commit()
        let again = try Playbook(database: try playbook.db)
        let log = try again.execute(#"print(show(provision.findUser("owner@pilot.example.com")))"#)
        #expect(log.count == 1)
        #expect(log.first?.contains("argon2") == false)
        #expect(log.first?.contains("hash") == false)
    }

    @Test func aNonStringArgumentIsInvalidInput() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            print(select(2, pcall(provision.findTenant, {})).code, select(2, pcall(provision.findUser, 42)).code)
            """)
        #expect(log == ["invalid_input\tinvalid_input"])
    }
}
