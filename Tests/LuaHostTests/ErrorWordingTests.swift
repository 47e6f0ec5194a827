import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §3: the core says what went wrong as data (code, field, remedy, facts); each
// front end words it: the CLI after its flags, a batch after its CSV columns and line, a
// playbook after its table keys. One core error, three wordings.

@Suite("Errors worded by each front end") struct ErrorWordingTests {
    /// The conflict every front end meets: an owner email that already belongs to a user.
    func emailConflict() throws -> (ProvisionError, TestDatabase) {
        let database = try TestDatabase.create()
        let connection = try database.connect()
        try connection.run("INSERT INTO users (email, name) VALUES ('taken@example.com', 'Taken')")
        let run = ProvisioningRun(connection: connection, dryRun: false)
        defer { run.rollback() }
        let error = #expect(throws: ProvisionError.self) { try run.createOwner(try OwnerSpec(email: "Taken@Example.com")) }
        return (try #require(error), database)
    }

    @Test func theCoreLeavesTheFieldAndRemedyAsData() throws {
        let (error, _) = try emailConflict()
        #expect(error.code == .emailExists)
        #expect(error.subject == .ownerEmail)
        #expect(error.remedy == .allowExistingUser)
        #expect(error.facts.email == "taken@example.com")
        #expect(error.template != nil)
        // Unworded, it holds the domain's words and no front end's.
        #expect(error.field == "ownerEmail")
        #expect(!error.message.contains("--") && !error.message.contains(" = true"), "\(error.message)")
    }

    @Test func luaWordsItWithTableKeys() throws {
        let (error, _) = try emailConflict()
        let lua = error.worded(by: LuaWording())
        #expect(lua.field == "email")
        #expect(lua.message == "owner email 'taken@example.com' already belongs to a user: pass allowExistingUser = true if this user should intentionally belong to several tenants (membership), otherwise use another email")
        #expect(lua.template == nil, "worded once")
        #expect(lua.worded(by: PlainWording()) == lua, "a worded error keeps its words")
        #expect(lua.code == error.code && lua.subject == error.subject && lua.remedy == error.remedy, "the data stays")
    }

    @Test func aValidationErrorNamesTheFieldInItsMessageToo() throws {
        let error = #expect(throws: ProvisionError.self) { try TenantSpec(slug: "Pilot", name: "Pilot") }
        let lua = try #require(error).worded(by: LuaWording())
        #expect(lua.field == "slug")
        #expect(lua.message == "slug 'Pilot' must be lowercase (it is used for routing): did you mean 'pilot'?")
        #expect(error?.message == "tenantSlug 'Pilot' must be lowercase (it is used for routing): did you mean 'pilot'?")
    }

    // MARK: Through the binary: the same conflict from each front end

    static func message(_ result: ProvisionBinary.Result) -> String? {
        (result.json?["error"] as? [String: Any])?["message"] as? String
    }

    @Test func theCLINamesTheFlag() throws {
        let (_, database) = try emailConflict()
        let result = try ProvisionBinary.run(["tenant", "--tenantSlug", "second", "--tenantName", "Second",
                                              "--ownerEmail", "taken@example.com", "--json"], databaseURL: database.url)
        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "email_exists")
        #expect(result.errorField == "ownerEmail")
        let message = try #require(Self.message(result), "\(result)")
        #expect(message.contains("re-run with --allowExistingUser"), "\(message)")
        #expect(!message.contains("allowExistingUser = true") && !message.contains("on this row"), "\(message)")
    }

    @Test func aPlaybookIsToldItsTableKey() throws {
        let (_, database) = try emailConflict()
        let folder = try temporaryFolder(["x.lua": #"provision.createOwner{email = "taken@example.com"}"#])
        let result = try ProvisionBinary.run(["run", "x.lua", "--json"], databaseURL: database.url, workingDirectory: folder.path)
        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "email_exists")
        #expect(result.errorField == "email")
        let message = try #require(Self.message(result), "\(result)")
        #expect(message.contains("pass allowExistingUser = true"), "\(message)")
        #expect(!message.contains("--allowExistingUser") && !message.contains("on this row"), "\(message)")
    }

    @Test func aBatchNamesTheColumnAndTheRow() throws {
        let (_, database) = try emailConflict()
        let folder = try temporaryFolder(["wave.csv": "tenantSlug,tenantName,ownerEmail\nsecond,Second,taken@example.com\n"])
        let result = try ProvisionBinary.run(["batch", "wave.csv", "--stopOnError", "--json"], databaseURL: database.url,
                                             workingDirectory: folder.path)
        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "email_exists")
        #expect(result.errorField == "ownerEmail")
        let message = try #require(Self.message(result), "\(result)")
        #expect(message.hasPrefix("wave.csv:2: "), "\(message)")
        #expect(message.contains("set allowExistingUser to true on this row"), "\(message)")
        #expect(!message.contains("re-run with --allowExistingUser") && !message.contains("allowExistingUser = true"), "\(message)")
    }

    @Test func aSchemaThatIsNotMigratedNamesTheCommandOnTheCLI() throws {
        let database = try TestDatabase.create(migrated: false)
        let result = try ProvisionBinary.run(["check", "--tenantSlug", "pilot", "--json"], databaseURL: database.url)
        #expect(result.errorCode == "not_migrated", "\(result)")
        let message = try #require(Self.message(result), "\(result)")
        #expect(message.contains("run `provision migrate` first"), "\(message)")
    }
}
