import Foundation
import Testing
@testable import ProvisionCore
import ProvisionTestSupport

/// CONTRACT §9: queries from playbooks and checks run as the least-privilege role
/// provision_reader that `provision migrate` creates, even when DATABASE_URL connects as
/// a superuser (as the test server's admin URL does).
@Suite("Read-only queries run as the least-privilege role") struct LeastPrivilegeTests {
    func openRun(_ database: TestDatabase) throws -> ProvisioningRun { try openRun(url: database.url) }

    /// A dry run's transaction, as a go-live check has.
    func openRun(url: String) throws -> ProvisioningRun {
        let run = ProvisioningRun(connection: try Connection(url: url), dryRun: true)
        try run.begin()
        return run
    }

    @Test func aSuperusersQueryRunsAsTheReader() throws {
        let database = try TestDatabase.create()
        #expect(try database.scalar("SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user") == "true",
                "the test server's admin is a superuser")
        let rows = try openRun(database).readOnlyQuery("SELECT current_user AS who, query_to_xml('select current_user as inner_who', false, false, '')::text AS inner",
                                                       parameters: [])
        #expect(rows.first?["who"] == "provision_reader")
        #expect(rows.first?["inner"]??.contains("<inner_who>provision_reader</inner_who>") == true, "SQL a query runs runs as the reader too")
    }

    /// The control: with nothing but `SET LOCAL ROLE`, a query resets the role mid-query
    /// and runs SQL as the session user. The tests below would catch that.
    @Test func plainSetRoleIsEscapedBySetConfig() throws {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        let superuser = try #require(try connection.run("SELECT session_user::text AS name").first?["name"] ?? nil)
        try connection.begin(readOnly: true)
        defer { connection.rollback() }
        try connection.run("SET LOCAL ROLE provision_reader")
        let rows = try connection.run("""
            SELECT set_config('role', 'none', true) AS reset,
                   query_to_xml('select current_user as who', false, false, '')::text AS inner
            """)
        #expect(rows.first?["inner"]??.contains("<who>\(superuser)</who>") == true)
    }

    static let refused = [
        "SELECT set_config('role', 'none', true) AS r, query_to_xml('select pg_read_file(''/etc/passwd'')', false, false, '') AS x",
        "SELECT set_config('session_authorization', session_user, true) AS r, query_to_xml('select pg_read_file(''/etc/passwd'')', false, false, '') AS x",
        "SELECT * FROM ts_stat('select pg_read_file(''/etc/passwd'')::tsvector')",
        "SELECT pg_read_file('/etc/passwd') AS f",
        "SELECT pg_read_binary_file('/etc/passwd') AS f",
        "SELECT pg_ls_dir('.') AS f",
        "SELECT lo_export(1, '/tmp/provision-lo-export-test') AS written",
        "SELECT pg_reload_conf() AS reloaded",
        "SELECT pg_stat_reset() AS reset",
        "SELECT pg_rotate_logfile() AS rotated",
        "SELECT password_hash FROM users",
        "SELECT * FROM users",
        "SELECT u FROM users AS u",
        "SELECT rolpassword FROM pg_authid",
        "SELECT * FROM schema_migrations",
    ]

    @Test(arguments: refused)
    func refusedAsForbiddenAndTheRunGoesOn(sql: String) throws {
        let run = try openRun(try TestDatabase.create())
        let error = #expect(throws: ProvisionError.self) { try run.readOnlyQuery(sql, parameters: []) }
        #expect(error?.code == .forbidden, "\(error?.message ?? "")")
        #expect(error?.message.contains("permission denied") == true || error?.message.contains("cannot set parameter") == true,
                "\(error?.message ?? "")")
        #expect(error?.message.contains("root:") != true, "nothing of the file in the message")
        #expect(try run.readOnlyQuery("SELECT count(*) AS n FROM tenants", parameters: []).values == [["0"]])
    }

    @Test func signallingAnotherSessionIsRefusedAndItLivesOn() throws {
        let database = try TestDatabase.create()
        let other = try database.connect()
        let pid = try #require(try other.run("SELECT pg_backend_pid()::text AS pid").first?["pid"] ?? nil)
        let run = try openRun(database)
        for function in ["pg_terminate_backend", "pg_cancel_backend"] {
            let error = #expect(throws: ProvisionError.self) {
                try run.readOnlyQuery("SELECT \(function)($1::int) AS signalled", parameters: [.inferred(pid)])
            }
            #expect(error?.code == .forbidden, "\(function): \(error?.message ?? "")")
        }
        #expect(try other.run("SELECT 1 AS alive").first?["alive"] == "1", "the other session is still there")
    }

    @Test func everyColumnOfUsersButThePasswordHashIsReadable() throws {
        let database = try TestDatabase.create()
        try database.connect().run("INSERT INTO users (email, name, password_hash) VALUES ('a@example.com', 'A', 'secret-hash')")
        let rows = try openRun(database).readOnlyQuery("""
            SELECT id, email, name, must_change_password, password_expires_at, created_at FROM users
            """, parameters: [])
        #expect(rows.first?["email"] == "a@example.com")
    }

    // MARK: Before the role is set up in a database

    @Test func aSuperuserIsRefusedUntilMigrateSetsTheRoleUpThenItWorks() throws {
        let database = try TestDatabase.create()
        try Self.undoSetup(in: database)
        let run = try openRun(database)
        let error = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT 1 AS one", parameters: []) }
        #expect(error?.code == .forbidden)
        #expect(error?.message.contains("superuser") == true, "\(error?.message ?? "")")
        #expect(error?.remedy == .runMigrate, "names the fix: \(error?.message ?? "")")
        run.rollback()

        let outcome = try Migrator(connection: try database.connect()).apply(audit: AuditContext(actor: "test"))
        #expect(outcome.applied.isEmpty)
        #expect(outcome.readerRole == .ready)
        #expect(try openRun(database).readOnlyQuery("SELECT current_user AS who", parameters: []).first?["who"] == "provision_reader")
    }

    @Test func aMemberOfAPowerfulRoleIsRefusedToo() throws {
        let role = try TemporaryRole("LOGIN")
        defer { role.drop() }
        let database = try TestDatabase.create()
        try Self.undoSetup(in: database)
        try database.connect().run(fixture: "GRANT pg_read_server_files TO \(role.name)")
        let run = try openRun(url: role.url(database: database.name))
        let error = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT 1 AS one", parameters: []) }
        #expect(error?.code == .forbidden)
        #expect(error?.message.contains("pg_read_server_files") == true, "\(error?.message ?? "")")
    }

    /// A login that may SET ROLE to a superuser role could reset its way there mid-query.
    @Test func aMemberOfASuperuserRoleIsRefusedToo() throws {
        let superuser = try TemporaryRole("NOLOGIN SUPERUSER")
        let login = try TemporaryRole("LOGIN")
        defer {
            login.drop()
            superuser.drop()
        }
        let database = try TestDatabase.create()
        try Self.undoSetup(in: database)
        try database.connect().run(fixture: "GRANT \(superuser.name) TO \(login.name)")
        let run = try openRun(url: login.url(database: database.name))
        let error = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT 1 AS one", parameters: []) }
        #expect(error?.code == .forbidden)
        #expect(error?.message.contains("\(superuser.name) (a superuser)") == true, "\(error?.message ?? "")")
    }

    @Test func anUnprivilegedLoginQueriesAsItselfUntilTheRoleIsSetUp() throws {
        let login = try TemporaryRole("LOGIN")
        defer { login.drop() }
        let database = try TestDatabase.create()
        try Self.undoSetup(in: database)
        let run = try openRun(url: login.url(database: database.name))
        #expect(try run.readOnlyQuery("SELECT current_user AS who", parameters: []).first?["who"] == login.name)
        let table = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT slug FROM tenants", parameters: []) }
        #expect(table?.code == .forbidden, "it has only its own privileges")
    }

    @Test func aLoginThatIsNotGrantedTheRoleIsToldHowToGetIt() throws {
        let role = try TemporaryRole("LOGIN")
        defer { role.drop() }
        let database = try TestDatabase.create()
        let run = try openRun(url: role.url(database: database.name))
        let error = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT 1 AS one", parameters: []) }
        #expect(error?.code == .forbidden)
        #expect(error?.message.contains("GRANT provision_reader TO \(role.name)") == true, "\(error?.message ?? "")")
    }

    /// A database owner without CREATEROLE: migrate still succeeds and says what an
    /// administrator runs; queries run as the owner until then, as the reader after.
    @Test func anOwnerWithoutCreateRoleMigratesAndQueriesAsItselfUntilGranted() throws {
        let role = try TemporaryRole("LOGIN NOCREATEROLE")
        defer { role.drop() }
        let name = try role.createDatabase()
        defer { role.dropDatabase(name) }
        let url = role.url(database: name)

        let outcome = try Migrator(connection: try Connection(url: url)).apply(audit: AuditContext(actor: "test"))
        #expect(outcome.applied.map(\.version) == BundledMigrations.all.map(\.version))
        guard case .needsAdministrator(let sql, _) = outcome.readerRole else {
            Issue.record("the owner may not grant the role to itself: \(outcome.readerRole)")
            return
        }
        // The role exists on the test server already (the template made it).
        #expect(sql == "GRANT provision_reader TO \(role.name);")

        let asOwner = try openRun(url: url)
        #expect(try asOwner.readOnlyQuery("SELECT current_user AS who", parameters: []).first?["who"] == role.name)
        let file = #expect(throws: ProvisionError.self) { try asOwner.readOnlyQuery("SELECT pg_read_file('/etc/passwd') AS f", parameters: []) }
        #expect(file?.code == .forbidden)
        asOwner.rollback()

        let asSuperuser = try openRun(url: TestDatabase.url(forDatabase: name))
        let refused = #expect(throws: ProvisionError.self) { try asSuperuser.readOnlyQuery("SELECT 1 AS one", parameters: []) }
        #expect(refused?.code == .forbidden)
        #expect(refused?.remedy == .runMigrate)
        asSuperuser.rollback()

        // The administrator runs the SQL once; migrate again finishes the set-up.
        try Connection(url: TestDatabase.adminURL).run(fixture: sql)
        let again = try Migrator(connection: try Connection(url: url)).apply(audit: AuditContext(actor: "test"))
        #expect(again.applied.isEmpty)
        #expect(again.readerRole == .ready)
        for connectionURL in [url, TestDatabase.url(forDatabase: name)] {
            let run = try openRun(url: connectionURL)
            #expect(try run.readOnlyQuery("SELECT current_user AS who", parameters: []).first?["who"] == "provision_reader")
            let hash = #expect(throws: ProvisionError.self) { try run.readOnlyQuery("SELECT password_hash FROM users", parameters: []) }
            #expect(hash?.code == .forbidden)
            run.rollback()
        }
    }

    @Test func administratorSQLCreatesTheRoleOnlyWhenItIsMissing() {
        #expect(ReaderRole.administratorSQL(roleExists: false, migrator: "\"Owner\"") ==
                "CREATE ROLE provision_reader NOLOGIN;\nGRANT provision_reader TO \"Owner\";")
        #expect(ReaderRole.administratorSQL(roleExists: true, migrator: "owner") == "GRANT provision_reader TO owner;")
    }

    /// Puts a migrated database back where it was before the role was set up in it.
    static func undoSetup(in database: TestDatabase) throws {
        try database.connect().executeScript(StaticScript(text: """
            ALTER FUNCTION provision_query.fetch_rows(refcursor, integer, bigint, integer) OWNER TO CURRENT_USER;
            ALTER FUNCTION provision_query.fetch_rows(refcursor, integer, bigint, integer) SECURITY INVOKER;
            GRANT EXECUTE ON FUNCTION provision_query.fetch_rows(refcursor, integer, bigint, integer) TO PUBLIC;
            ALTER SCHEMA provision_query OWNER TO CURRENT_USER;
            """))
    }
}
