import CLua
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaShims
import ProvisionCore

/// One test of a test file, and how it ended.
public struct TestResult: Sendable {
    public enum Status: String, Sendable {
        /// The test returned and no assertion failed.
        case passed
        /// An assertion failed (even one the test caught).
        case failed
        /// The test raised an error of its own, or ran past a limit.
        case error
    }

    public let file: String
    public let name: String
    public let status: Status
    /// Why it failed or errored, with the test file's `file:line:` where one is known.
    public let message: String
    /// What a person needs under the message: the errors of the checks the test ran,
    /// each with its file:line and the line it points at.
    public var notes: [String] = []
}

/// `provision test` (CONTRACT §8): runs Lua test files for checks and playbooks. A test
/// file returns a table of test functions by name; each runs, in name order, in a fresh
/// Lua state and in a database transaction of its own that is always rolled back, with
/// `t`: fixtures inserted through the real schema, `t.check(id, slug)`, `t.run(playbook,
/// vars)`, `t.query(sql, ...)` and assertions (stdlib/testing/assertions.lua). Nothing of
/// a test survives it: a playbook it runs commits into a savepoint of the test's
/// transaction, and queries are read-only.
public final class TestRunner {
    public struct Options: Sendable {
        /// Where `t.check` finds check modules (stdlib/checks/, `--checks`, …) before it
        /// looks beside the test file.
        public var checkFolders: [URL]
        public var timeoutSeconds: Double
        public var maxMemoryMB: Int
        public var stdlib: Stdlib

        public init(checkFolders: [URL], stdlib: Stdlib, timeoutSeconds: Double = 30, maxMemoryMB: Int = 256) {
            self.checkFolders = checkFolders
            self.timeoutSeconds = timeoutSeconds
            self.maxMemoryMB = maxMemoryMB
            self.stdlib = stdlib
        }
    }

    let connection: Connection
    let options: Options
    private var checks: GoLiveChecks?
    /// The checks beside each test file, by the folders they came from.
    private var checksBeside: [[String]: GoLiveChecks] = [:]

    public init(connection: Connection, options: Options) {
        self.connection = connection
        self.options = options
    }

    deinit {
        checks?.close()
        for beside in checksBeside.values { beside.close() }
    }

    /// Runs every test of the file at `path` (as the operator named it), in name order.
    /// A file that does not load, or returns no tests, is one `error` result.
    public func run(file path: String) -> [TestResult] {
        let names: [String]
        do {
            let state = try loadFile(path)
            defer { state.close() }
            names = try testNames(in: state, file: path)
        } catch {
            return [TestResult(file: path, name: "(loading the file)", status: .error, message: error.message)]
        }
        guard !names.isEmpty else {
            return [TestResult(file: path, name: "(loading the file)", status: .error,
                               message: "\(path) returned no tests: return a table of test functions by name, e.g. return { [\"a fresh tenant fails\"] = function(t) … end }")]
        }
        return names.map { runTest(named: $0, in: path) }
    }

    // MARK: One test

    /// The test's transaction runs as `provision_tester` where it is set up and the
    /// connecting role may become it (`ReaderRole`): its fixtures, the playbooks it runs
    /// and its checks' queries are then one role's, as a Citus cluster needs them to be.
    /// Elsewhere fixtures are the connecting role's and queries the reader's.
    static func becomeTester(on connection: Connection) throws(ProvisionError) {
        try connection.run("""
            SELECT CASE WHEN to_regrole(\(ReaderRole.testerName)) IS NULL THEN NULL
                        WHEN to_regprocedure('provision_query.fetch_rows_for_tests(refcursor,integer,bigint,integer)') IS NULL THEN NULL
                        WHEN pg_has_role(session_user, \(ReaderRole.testerName), 'USAGE') THEN set_config('role', \(ReaderRole.testerName), true)
                   END AS role
            """)
    }

    private func runTest(named name: String, in path: String) -> TestResult {
        func result(_ status: TestResult.Status, _ message: String) -> TestResult {
            TestResult(file: path, name: name, status: status, message: message)
        }
        let context = TestContext(runner: self, file: path)
        do {
            try connection.begin()
            try Self.becomeTester(on: connection)
        } catch {
            return result(.error, "could not open the test's transaction: \(error.message)")
        }
        // Whatever the test did, none of it stays.
        defer { connection.rollback() }
        let state: LuaState
        do {
            state = try loadFile(path)
        } catch {
            return result(.error, error.message)
        }
        defer { state.close() }
        let stack = state.stack
        do {
            // The file's table of tests, then the one to run, then `t`.
            state.startScripts(timeoutSeconds: options.timeoutSeconds)
            guard state.call(arguments: 0, results: 1) == LUA_OK, stack.isTable(-1) else {
                return result(.error, "\(path) did not return its tests the second time it ran")
            }
            guard stack.rawField(-1, name) == LUA_TFUNCTION else {
                return result(.error, "\(path) no longer has the test '\(name)'")
            }
            try pushT(on: state, context: context)
        } catch {
            return result(.error, error.message)
        }
        Watchdog.setActivity("the test '\(name)' of \(path)")
        state.startScripts(timeoutSeconds: options.timeoutSeconds)
        let status = state.call(arguments: 1, results: 0)
        var outcome = outcome(of: status, in: state, context: context, result: result)
        // A test that did not pass shows the errors of the checks it ran: "expected fail,
        // got error" says nothing of why.
        if outcome.status != .passed { outcome.notes = context.checkErrors }
        return outcome
    }

    private func outcome(of status: Int32, in state: LuaState, context: TestContext,
                         result: (TestResult.Status, String) -> TestResult) -> TestResult {
        let stack = state.stack
        if let failure = context.assertionFailure {
            // Failed, even if the test caught the assertion's error and went on.
            _ = state.takeTraceback()
            return result(.failed, failure)
        }
        if state.timeTripped {
            return result(.error, "the test ran longer than its \(String(cFormat: "%g", options.timeoutSeconds)) s limit")
        }
        if state.memoryTripped {
            return result(.error, "the test used more than \(options.maxMemoryMB) MB")
        }
        guard status == LUA_OK else {
            let error = state.contractError(fromValueAt: -1, on: stack)
            let traceback = state.takeTraceback()
            var message = error.message
            if let location = LuaState.location(in: traceback, message: message), !message.hasPrefix(location) {
                message = "\(location): \(message)"
            }
            return result(.error, "the test raised an error: \(message)" + (error.field.map { " (field \($0))" } ?? ""))
        }
        return result(.passed, "")
    }

    // MARK: Loading

    /// A fresh state with the playbook sandbox (`require` finds the file's folder and
    /// stdlib/), the file's chunk on the stack.
    private func loadFile(_ path: String) throws(ProvisionError) -> LuaState {
        let url = URL(fileURLWithPath: path)
        let source = try RegularFile.read(path, field: "test", maxBytes: options.maxMemoryMB * 1_048_576)
        let state = try LuaState(limits: LuaLimits(maxMemoryMB: options.maxMemoryMB, timeoutSeconds: options.timeoutSeconds))
        do {
            try state.installSandbox(.playbook, searchRoots: [url.deletingLastPathComponent(), options.stdlib.root])
            try state.load(source, chunkName: "@" + path, code: .invalidInput)
        } catch {
            state.close()
            throw error
        }
        return state
    }

    /// The names of the file's tests, sorted: the string keys of the table it returns
    /// whose values are functions.
    private func testNames(in state: LuaState, file path: String) throws(ProvisionError) -> [String] {
        let stack = state.stack
        state.startScripts(timeoutSeconds: options.timeoutSeconds)
        guard state.call(arguments: 0, results: 1) == LUA_OK else {
            let error = state.contractError(fromValueAt: -1, on: stack)
            _ = state.takeTraceback()
            throw ProvisionError(.invalidInput, "\(path) raised an error while loading: \(error.message)", field: "test")
        }
        guard stack.isTable(-1) else {
            throw ProvisionError(.invalidInput, "\(path) must return a table of test functions by name (it returned \(stack.typeName(at: -1)))", field: "test")
        }
        var names: [String] = []
        stack.pushNil()
        while lua_next(state.L, -2) != 0 {
            if stack.type(at: -2) == LUA_TSTRING, stack.isFunction(-1), let name = stack.lossyString(at: -2) { names.append(name) }
            stack.pop()
        }
        return names.sorted()
    }

    // MARK: t

    private func pushT(on state: LuaState, context: TestContext) throws(ProvisionError) {
        let stack = state.stack
        stack.newTable(record: 24)
        let bodies: [(String, HostBody)] = context.functions(for: state)
        for (name, body) in bodies {
            state.pushFunction("t.\(name)", body)
            stack.setRawField(-2, name)
        }
        // The assertions, in Lua, around the host's `fail`.
        let assertions = try RegularFile.read(options.stdlib.root.appendingPathComponent("testing/assertions.lua").path, field: "test", maxBytes: nil)
        try state.load(assertions, chunkName: "@stdlib/testing/assertions.lua", code: .playbookError)
        state.startScripts(timeoutSeconds: options.timeoutSeconds)
        guard state.call(arguments: 0, results: 1) == LUA_OK, stack.isFunction(-1) else {
            throw ProvisionError(.playbookError, "stdlib/testing/assertions.lua did not load")
        }
        stack.pushValue(-2)
        state.pushFunction("t.fail", context.fail(in: state))
        guard state.call(arguments: 2, results: 0) == LUA_OK else {
            throw ProvisionError(.playbookError, "stdlib/testing/assertions.lua failed: \(stack.describe(-1))")
        }
    }

    /// The go-live checks, loaded once for every test that calls `t.check`.
    func goLiveChecks() throws(ProvisionError) -> GoLiveChecks {
        if let checks { return checks }
        let loaded = try GoLiveChecks(options: .init(folders: options.checkFolders), stdlib: options.stdlib)
        checks = loaded
        return loaded
    }

    /// Why the configured check modules that did not load did not (once `t.check` loaded
    /// them): `file:line: message`.
    public var checkLoadErrors: [String] { checks?.loadErrors ?? [] }

    /// The checks beside the test file at `path`, where none of the configured ones has
    /// the id a test asked for: those in the file's own folder (a test beside its check)
    /// and in `checks/` beside the `tests/` folder that holds it (`tests/x_test.lua` next
    /// to `checks/x.lua`), wherever `provision test` runs. Nil when there are none.
    func goLiveChecks(beside path: String) throws(ProvisionError) -> GoLiveChecks? {
        func resolved(_ url: URL) -> String { url.resolvingSymlinksInPath().standardizedFileURL.path }
        let own = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL
        var candidates = [own]
        var folder = own
        while folder.pathComponents.count > 1 {
            if folder.lastPathComponent == "tests" {
                candidates.append(folder.deletingLastPathComponent().appendingPathComponent("checks"))
                break
            }
            folder = folder.deletingLastPathComponent()
        }
        let configured = Set(options.checkFolders.map(resolved))
        let folders = candidates.filter { candidate in
            var isFolder = false
            return FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isFolder) && isFolder
                && !configured.contains(resolved(candidate))
        }
        guard !folders.isEmpty else { return nil }
        let key = folders.map(resolved)
        if let known = checksBeside[key] { return known }
        let loaded = try GoLiveChecks(options: .init(folders: folders, requiresModules: false), stdlib: options.stdlib)
        checksBeside[key] = loaded
        return loaded
    }
}

/// What one test's `t` acts on: the runner's connection (inside the test's transaction),
/// and the first assertion that failed.
private final class TestContext {
    unowned let runner: TestRunner
    let file: String
    var assertionFailure: String?
    /// The errors of the checks the test ran (`t.check`), for a failure's report.
    var checkErrors: [String] = []

    init(runner: TestRunner, file: String) {
        self.runner = runner
        self.file = file
    }

    var connection: Connection { runner.connection }
    var fixtures: Fixtures { Fixtures(connection: connection) }

    /// `fail(message, level)`: records the failure at the Lua caller `level` frames up,
    /// and raises, ending the test.
    func fail(in state: LuaState) -> HostBody {
        { [unowned self] stack in
            let message = stack.top >= 1 ? stack.describe(1) : "failed"
            let level = Int32(stack.integer(at: 2) ?? 1)
            luaL_where(stack.L, max(1, min(level, 10)))
            let place = stack.lossyString(at: -1) ?? ""
            stack.pop()
            let failure = place + message  // luaL_where ends "file:line: "
            if assertionFailure == nil { assertionFailure = failure }
            throw ProvisionError(.checkFailed, "assertion failed: \(failure)")
        }
    }

    func functions(for state: LuaState) -> [(String, HostBody)] {
        [
            ("tenant", { [unowned self] in try self.tenant($0) }),
            ("user", { [unowned self] in try self.user($0) }),
            ("member", { [unowned self] in try self.member($0) }),
            ("center", { [unowned self] in try self.platformRow($0, .centers) }),
            ("level", { [unowned self] in try self.platformRow($0, .levels) }),
            ("program", { [unowned self] in try self.platformRow($0, .programs) }),
            ("group", { [unowned self] in try self.platformRow($0, .groups) }),
            ("student", { [unowned self] in try self.platformRow($0, .students) }),
            ("parent", { [unowned self] in try self.platformRow($0, .parents) }),
            ("link", { [unowned self] in try self.link($0) }),
            ("check", { [unowned self] in try self.check($0) }),
            ("run", { [unowned self, unowned state] in try self.runPlaybook($0, state: state) }),
            ("query", { [unowned self, unowned state] in try self.query($0, state: state) }),
        ]
    }

    // MARK: Fixtures

    /// `t.tenant{slug=, name=?, timeZone=?, supportEmail=?, supportPhone=?, owner=?}`:
    /// `owner` is an email or `{email=, name=?, password=?}`; the tenant's table, with
    /// `owner` (the user's) when one was given.
    private func tenant(_ stack: LuaStack) throws -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "t.tenant",
                                      keys: ["slug", "name", "timeZone", "supportEmail", "supportPhone", "owner"])
        let slug = try args.required("slug", as: .tenantSlug)
        let spec = try TenantSpec(slug: slug, name: args.optional("name", as: .tenantName) ?? slug,
                                  timeZone: args.optional("timeZone", as: .timeZone),
                                  supportEmail: args.optional("supportEmail", as: .supportEmail),
                                  supportPhone: args.optional("supportPhone", as: .supportPhone))
        let tenant = try fixtures.tenant(spec)
        var owner: User?
        switch stack.rawField(1, "owner") {
        case LUA_TNIL:
            stack.pop()
        case LUA_TSTRING:
            let email = stack.lossyString(at: -1) ?? ""
            stack.pop()
            owner = try fixtures.user(email: email, name: nil, password: .pending)
        case LUA_TTABLE:
            let user = try userSpec(stack, index: -1, function: "t.tenant owner")
            stack.pop()
            owner = try fixtures.user(email: user.email, name: user.name, password: user.password)
        default:
            throw ProvisionError(.invalidInput, "t.tenant: owner must be an email or {email=, name=?, password=?}, got \(stack.typeName(at: -1))", field: "owner")
        }
        if let owner {
            guard let tenantId = tenant.id, let userId = owner.id else {
                throw ProvisionError(.invalidInput, "t.tenant: the owner was not stored")
            }
            try fixtures.membership(tenantId: tenantId, userId: userId, role: .owner)
        }
        stack.push(tenant)
        if let owner {
            stack.push(owner)
            stack.setRawField(-2, "owner")
        }
        return 1
    }

    /// `t.user{email=, name=?, password="pending"|"expired"|"changed"}`.
    private func user(_ stack: LuaStack) throws -> Int32 {
        let spec = try userSpec(stack, index: 1, function: "t.user")
        stack.push(try fixtures.user(email: spec.email, name: spec.name, password: spec.password))
        return 1
    }

    private func userSpec(_ stack: LuaStack, index: Int32, function: String) throws(ProvisionError) -> (email: String, name: String?, password: Fixtures.Password) {
        let args = try TableArguments(stack, index: index, function: function, keys: ["email", "name", "password"])
        let email = try args.required("email", as: .email)
        let name = try args.optional("name", as: .ownerName)
        let text = try args.string(optional: "password") ?? "pending"
        guard let password = Fixtures.Password(rawValue: text) else {
            throw ProvisionError(.invalidInput, "\(function): password must be one of \(Fixtures.Password.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'", field: "password")
        }
        return (email, name, password)
    }

    /// `t.member{tenant=, user=, role=}`: tenant and user as tables from `t.tenant` and
    /// `t.user`.
    private func member(_ stack: LuaStack) throws -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "t.member", keys: ["tenant", "user", "role"])
        let tenantId = Tenant.ID(try args.id(of: "tenant"))
        let userId = User.ID(try args.id(of: "user"))
        let role = try Validate.role(args.required("role", as: .role))
        try fixtures.membership(tenantId: tenantId, userId: userId, role: role)
        return 0
    }

    /// `t.center{tenant=, name=?, timeZone=?}`, `t.level`, `t.program`,
    /// `t.group{tenant=, name=?, center=?, program=?}`, `t.student{tenant=, name=?, center=?}`,
    /// `t.parent{tenant=, name=?, user=?, email=?}`: returns `{id=, tenantId=, name=}`.
    private func platformRow(_ stack: LuaStack, _ table: Fixtures.PlatformTable) throws -> Int32 {
        let singular = String(table.rawValue.dropLast())
        var keys: Set<String> = ["tenant", "name"]
        switch table {
        case .centers: keys.insert("timeZone")
        case .groups: keys.formUnion(["center", "program"])
        case .students: keys.insert("center")
        case .parents: keys.formUnion(["user", "email"])
        case .levels, .programs: break
        }
        let args = try TableArguments(stack, index: 1, function: "t.\(singular)", keys: keys)
        let tenantId = Tenant.ID(try args.id(of: "tenant"))
        let name = try args.string(optional: "name") ?? "\(singular.capitalized) 1"
        let id = try fixtures.platformRow(table, tenantId: tenantId, name: name,
                                          timeZone: keys.contains("timeZone") ? try args.optional("timeZone", as: .timeZone) : nil,
                                          centerId: keys.contains("center") ? try args.optionalId(of: "center") : nil,
                                          programId: keys.contains("program") ? try args.optionalId(of: "program") : nil,
                                          userId: keys.contains("user") ? try args.optionalId(of: "user").map(User.ID.init) : nil,
                                          email: keys.contains("email") ? try args.string(optional: "email") : nil)
        stack.pushRecord([("id", .string(id.sqlText)), ("tenantId", .string(tenantId.description)), ("name", .string(name))])
        return 1
    }

    /// `t.link{student=, parent=}`: a student linked to a parent of the same tenant.
    private func link(_ stack: LuaStack) throws -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "t.link", keys: ["student", "parent"])
        let studentId = try args.id(of: "student")
        let parentId = try args.id(of: "parent")
        let tenantId = Tenant.ID(try args.id(of: "student", key: "tenantId"))
        try fixtures.link(tenantId: tenantId, studentId: studentId, parentId: parentId)
        return 0
    }

    // MARK: Checks, playbooks, queries

    /// `t.check(id, slug)` → status, message: the check with that id, for that tenant, as
    /// `provision check` would run it, seeing the test's fixtures.
    private func check(_ stack: LuaStack) throws -> Int32 {
        let id = try stack.requiredString(at: 1, field: "id", expectation: "t.check expects a check id and a tenant slug")
        let slug = try stack.requiredString(at: 2, field: "slug", expectation: "t.check expects a check id and a tenant slug")
        // A module that did not load is found by the id it gave, as an error.
        func has(_ checks: GoLiveChecks) -> Bool { checks.ids.contains(id) || checks.brokenIds.contains(id) }
        var sets = [try runner.goLiveChecks()]
        if !has(sets[0]), let beside = try runner.goLiveChecks(beside: file) { sets.append(beside) }
        guard let checks = sets.first(where: has) else {
            let loadErrors = sets.flatMap(\.loadErrors)
            let ids = sets.flatMap(\.ids)
            guard loadErrors.isEmpty else {
                throw ProvisionError(.notFound, "t.check: '\(id)' is not among the checks that loaded, and \(loadErrors.count == 1 ? "a check module" : "\(loadErrors.count) check modules") did not load: \(loadErrors.joined(separator: "; ")). Fix \(loadErrors.count == 1 ? "it" : "them"), then run again (the checks that loaded: \(ids.joined(separator: ", ")))",
                                     field: "id")
            }
            throw ProvisionError(.notFound, "t.check: no check has the id '\(id)'\(Suggestion.closest(to: id, among: ids).map { "; did you mean '\($0)'?" } ?? "") (the checks are: \(ids.joined(separator: ", ")))", field: "id")
        }
        let run = ProvisioningRun(connection: connection, dryRun: true, nested: true)
        defer { run.rollback() }
        try run.begin()
        guard let tenant = try run.findTenant(slug: slug) else {
            throw ProvisionError(.notFound, "t.check: tenant '\(slug)' does not exist (create it with t.tenant)", field: "slug")
        }
        guard let result = try checks.run(for: tenant, in: run, only: [id]).first(where: { $0.id == id }) else {
            throw ProvisionError(.playbookError, "t.check: the check '\(id)' did not run")
        }
        if result.status == .error, checkErrors.count < 4 {
            checkErrors.append(([#"t.check("\#(id)", "\#(slug)"): \#(result.message)"#] + (result.excerpt.map { [$0] } ?? []))
                .joined(separator: "\n"))
        }
        stack.push(result.status.rawValue)
        stack.push(result.message)
        return 2
    }

    /// `t.run(playbook, vars?)`: runs a playbook (a path relative to the test file's
    /// folder, or absolute) inside the test's transaction; returns
    /// `{ok=, error=?, actions=, warnings=, results={{slug=, status=}…}, passwords=N}`.
    /// The passwords it issues are counted, never shown.
    private func runPlaybook(_ stack: LuaStack, state: LuaState) throws -> Int32 {
        let given = try stack.requiredString(at: 1, field: "playbook", expectation: "t.run expects a playbook path")
        var vars: [String: String] = [:]
        if stack.isTable(2) {
            stack.pushNil()
            while lua_next(stack.L, 2) != 0 {
                if stack.type(at: -2) == LUA_TSTRING, let key = stack.lossyString(at: -2) {
                    vars[key] = stack.type(at: -1) == LUA_TSTRING ? stack.lossyString(at: -1) : stack.describe(-1)
                }
                stack.pop()
            }
        }
        let folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        let path = given.hasPrefix("/") ? given : folder.appendingPathComponent(given).path
        let dryRun = vars.removeValue(forKey: "dryRun") == "true"
        let options = PlaybookOptions(stdlib: runner.options.stdlib, dryRun: dryRun, vars: vars,
                                      limits: LuaLimits(maxMemoryMB: runner.options.maxMemoryMB, timeoutSeconds: runner.options.timeoutSeconds))
        let session = try PlaybookSession(connection: connection, options: options, nested: true)
        session.logSink = { _ in }
        var failure: ProvisionError?
        var issued = 0
        do {
            try session.execute(path: path)
            issued = try session.commit().count
        } catch {
            session.rollback()
            failure = error
        }
        let record = session.run.record
        stack.newTable(record: 6)
        stack.push(failure == nil)
        stack.setRawField(-2, "ok")
        if let failure {
            stack.pushError(failure)
            stack.setRawField(-2, "error")
        }
        stack.push(record.actions)
        stack.setRawField(-2, "actions")
        stack.pushArray(record.notices)
        stack.setRawField(-2, "warnings")
        stack.push(issued)
        stack.setRawField(-2, "passwords")
        let outcomes = record.outcomes
        stack.newTable(array: Int32(outcomes.count))
        for (offset, outcome) in outcomes.enumerated() {
            stack.push(outcome)
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        stack.setRawField(-2, "results")
        return 1
    }

    /// `t.query(sql, ...)`: a read-only query in the test's transaction (it sees the
    /// fixtures), fenced as a playbook's.
    private func query(_ stack: LuaStack, state: LuaState) throws -> Int32 {
        let sql = try stack.requiredString(at: 1, field: "sql", expectation: "t.query expects SQL text")
        let parameters = try stack.sqlParameters(from: 2)
        let run = ProvisioningRun(connection: connection, dryRun: true, nested: true)
        defer { run.rollback() }
        try run.begin()
        let rows = try state.holdingToMemoryLimit { () throws(ProvisionError) in
            try run.readOnlyQuery(sql, parameters: parameters, maxBytes: state.room.map { $0 / 2 })
        }
        try state.requireRoom(forBytes: rows.estimatedLuaBytes, what: "the query's \(rows.count) rows")
        state.pushRows(rows, on: stack)
        return 1
    }

}

extension TableArguments {
    /// A string argument the function names itself, or nil.
    func string(optional key: String) throws(ProvisionError) -> String? {
        let type = stack.rawField(index, key)
        defer { stack.pop() }
        switch type {
        case LUA_TNIL: return nil
        case LUA_TSTRING: return try stack.string(at: -1, field: key)
        default: throw ProvisionError(.invalidInput, "\(function): \(key) must be a string, got \(stack.typeName(at: -1))", field: key)
        }
    }

    /// The `key` (default `id`) of the table argument `name` (a fixture's table).
    func id(of name: String, key: String = "id") throws(ProvisionError) -> UUID {
        guard let id = try optionalId(of: name, key: key) else {
            throw ProvisionError(.invalidInput, "\(function): \(name) is required (a table from t.\(name))", field: name)
        }
        return id
    }

    func optionalId(of name: String, key: String = "id") throws(ProvisionError) -> UUID? {
        let type = stack.rawField(index, name)
        defer { stack.pop() }
        if type == LUA_TNIL { return nil }
        guard type == LUA_TTABLE, stack.rawField(-1, key) == LUA_TSTRING, let text = stack.lossyString(at: -1), let id = UUID(uuidString: text) else {
            if type == LUA_TTABLE { stack.pop() }
            throw ProvisionError(.invalidInput, "\(function): \(name) must be a table from t.\(name) (with its \(key))", field: name)
        }
        stack.pop()
        return id
    }
}
