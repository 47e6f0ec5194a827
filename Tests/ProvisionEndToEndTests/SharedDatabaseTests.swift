import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §10, "Sharing a database with the platform's own tools": another tool's
// schema_migrations, a table provision would create that someone else owns, and a DBA's
// search_path that puts another schema's `users` first.

@Suite("Sharing a database with the platform's own tools")
struct SharedDatabaseTests {
    /// Another migration tool's bookkeeping, as each creates it.
    static let otherTools = [
        "rails": "CREATE TABLE schema_migrations (version character varying NOT NULL PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20240101000000')",
        "golang-migrate": "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (7, false)",
    ]

    @Test("another tool's schema_migrations is left alone and ignored; every command works", arguments: ["rails", "golang-migrate"])
    func anotherToolsSchemaMigrations(_ tool: String) throws {
        let db = try TestDatabase.create(migrated: false)
        try db.connect().run(fixture: try #require(Self.otherTools[tool]))
        let theirs = try db.column("SELECT row_to_json(m)::text FROM schema_migrations m")
        let migrate = try ProvisionBinary.run(["migrate"], databaseURL: db.url)
        #expect(migrate.status == 0, "\(migrate)")
        #expect(try db.column("SELECT row_to_json(m)::text FROM schema_migrations m") == theirs, "their table is untouched")
        #expect(try db.count("SELECT 1 FROM provision_schema_migrations") == BundledMigrations.all.count)
        for (arguments, expected) in [(["migrate", "--status"], 0), (["migrate"], 0), (Runbook.staging, 0), (["list"], 0),
                                      (["show", "--tenantSlug", "pilot-staging"], 0), (["check", "--tenantSlug", "pilot-staging"], 1)]
                as [([String], Int32)] {
            let result = try ProvisionBinary.run(arguments, databaseURL: db.url)
            #expect(result.status == expected, "\(arguments): \(result)")
        }
        #expect(try db.column("SELECT row_to_json(m)::text FROM schema_migrations m") == theirs)
    }

    @Test("a table provision would create that another tool owns stops migrate (4) naming it and the way to coexist; a schema of its own then works")
    func aForeignTableStopsMigrate() throws {
        let db = try TestDatabase.create(migrated: false)
        try db.connect().run(fixture: "CREATE TABLE users (id serial PRIMARY KEY, login text NOT NULL); INSERT INTO users (login) VALUES ('app-admin')")
        for mode in OutputMode.allCases {
            let refused = try ProvisionBinary.run(mode.apply(["migrate"]), databaseURL: db.url)
            #expect(refused.status == 4, "\(refused)")
            let text = mode == .json ? refused.stdout : refused.stderr
            #expect(text.contains("users already exists") && text.contains("CREATE SCHEMA provision") && text.contains("search_path"), "\(refused)")
            if mode == .json {
                #expect(refused.errorCode == "not_migrated")
                try ContractSchema.validate(refused.stdout, as: .error)
            }
        }
        #expect(try db.count("SELECT 1 FROM pg_tables WHERE tablename IN ('tenants', 'schema_migrations', 'provision_schema_migrations')") == 0,
                "nothing was created")

        // The README's recipe: a schema of provision's own, first on the search path.
        try db.connect().run(fixture: "CREATE SCHEMA provision")
        let own = db.url + "&options=-csearch_path%3Dprovision"
        #expect(try ProvisionBinary.run(["migrate"], databaseURL: own).status == 0)
        let tenant = try ProvisionBinary.run(Runbook.staging, databaseURL: own)
        #expect(tenant.status == 0, "\(tenant)")
        let list = try ProvisionBinary.run(["list"], databaseURL: own)
        #expect(list.status == 0 && list.stdout.contains("owner@pilot-staging.example.com"), "\(list)")
        #expect(try db.count("SELECT 1 FROM provision.users WHERE email = 'owner@pilot-staging.example.com'") == 1)
        #expect(try db.column("SELECT login FROM public.users") == ["app-admin"], "their table is untouched")
    }

    @Test("a DBA's search_path naming another schema's users and tenants first redirects nothing")
    func aSearchPathCannotRedirect() throws {
        let db = try TestDatabase.create()
        #expect(try ProvisionBinary.run(Runbook.staging, databaseURL: db.url).status == 0)
        try db.connect().run(fixture: """
            CREATE SCHEMA app;
            CREATE TABLE app.users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text, name text);
            CREATE TABLE app.tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), slug text);
            CREATE TABLE app.memberships (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id uuid, user_id uuid, role text);
            ALTER DATABASE \(db.name) SET search_path = app, public
            """)
        let list = try ProvisionBinary.run(["list"], databaseURL: db.url)
        #expect(list.status == 0 && list.stdout.contains("owner@pilot-staging.example.com") && !list.stdout.contains("(no owner)"), "\(list)")
        let show = try ProvisionBinary.run(["show", "--tenantSlug", "pilot-staging"], databaseURL: db.url)
        #expect(show.status == 0 && show.stdout.contains("owner@pilot-staging.example.com") && !show.stdout.contains("Members: none"), "\(show)")
        let tenant = try ProvisionBinary.run(Runbook.production, databaseURL: db.url)
        #expect(tenant.status == 0, "\(tenant)")
        #expect(try db.count("SELECT 1 FROM public.tenants WHERE slug = 'pilot'") == 1)
        #expect(try db.count("SELECT 1 FROM app.tenants") + db.count("SELECT 1 FROM app.users") + db.count("SELECT 1 FROM app.memberships") == 0)
        let check = try ProvisionBinary.run(["check", "--tenantSlug", "pilot", "--json"], databaseURL: db.url)
        let owner = ((check.json?["checks"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "owner-membership" }
        #expect(owner?["status"] as? String == "pass", "\(check)")
    }
}
