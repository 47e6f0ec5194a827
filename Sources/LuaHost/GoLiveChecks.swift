import CLua
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaShims
import ProvisionCore

/// A go-live check's outcome (CONTRACT §6).
public struct CheckResult: Sendable {
    public enum Status: String, Sendable, CaseIterable {
        case pass, warn, fail, error
        var severity: Int { Status.allCases.firstIndex(of: self)! }
    }

    public let id: String
    public let title: String
    public let status: Status
    public let message: String
    /// The module the check came from.
    public let file: String
    /// For an error: the `file:line` of the check's code it points at, when known.
    public let location: String?

    public init(id: String, title: String, status: Status, message: String, file: String, location: String? = nil) {
        self.id = id
        self.title = title
        self.status = status
        self.message = message
        self.file = file
        self.location = location
    }

    /// For a person: the line an error points at, with a caret under the name its message
    /// quotes (read when asked for, so a fleet's errors cost no file reads).
    public var excerpt: String? {
        location.flatMap { SourceExcerpt.make(location: $0, message: message) }
    }
}

/// Finds check modules, loads each into a stricter sandbox of its own (no io, no
/// os.getenv), and runs each for a tenant with a time limit of its own, read-only, in a
/// unit of the caller's transaction that is always rolled back. One broken check never
/// stops the others.
public final class GoLiveChecks {
    public struct Options: Sendable {
        /// Folders of check modules, or single modules (`.lua` files).
        public var folders: [URL]
        public var timeoutSeconds: Double
        public var maxMemoryMB: Int
        /// Whether finding no module at all is refused (a check run never passes for want
        /// of checks); a test's own folder may hold none.
        public var requiresModules: Bool

        public init(folders: [URL], timeoutSeconds: Double = 5, maxMemoryMB: Int = 64, requiresModules: Bool = true) {
            self.folders = folders
            self.timeoutSeconds = timeoutSeconds
            self.maxMemoryMB = maxMemoryMB
            self.requiresModules = requiresModules
        }

        /// Refuses (invalid_input, naming it) a source that does not exist, or a file that
        /// is no check module.
        public static func validate(sources: [URL]) throws(ProvisionError) {
            for source in sources {
                var isFolder = false
                guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isFolder) else {
                    throw ProvisionError(.invalidInput, "\(source.path) does not exist: checks come from a folder of check modules or one module (a .lua file)",
                                         field: "checks")
                }
                guard isFolder || source.pathExtension == "lua" else {
                    throw ProvisionError(.invalidInput, "\(source.path) is not a check module: checks come from a folder of check modules or one module (a .lua file)",
                                         field: "checks")
                }
            }
        }

        /// stdlib/checks/, then every `--checks` folder or module, then `$PROVISION_CHECKS_PATH`.
        public static func folders(stdlib: Stdlib, extra: [String] = [],
                                   environment: [String: String] = ProcessInfo.processInfo.environment) -> [URL] {
            var folders = [stdlib.checks]
            folders += extra.map { URL(fileURLWithPath: $0) }
            folders += (environment["PROVISION_CHECKS_PATH"] ?? "").split(separator: ":").map { URL(fileURLWithPath: String($0)) }
            return folders
        }
    }

    private struct LoadedCheck {
        let id: String
        let title: String
        let file: String
        let state: LuaState
        /// Registry reference of the module's `run` function.
        let runReference: Int32
        /// What ctx's functions act on during the current run of the check.
        let context: CheckContext
        /// ctx's host functions and metatables, made once per state.
        let parts: ContextParts
        /// What the state held after its last full collection.
        var collectedAt = 0
    }

    /// The tenant, transaction and verdict of the check being run.
    private final class CheckContext {
        var tenant: Tenant?
        var run: ProvisioningRun?
        var reports: [(CheckResult.Status, String)] = []
        /// The bytes of `reports`' messages, held here outside the check's Lua memory.
        var reportBytes = 0
        var refusedWrite: ProvisionError?
        var timedOutQuery: ProvisionError?
        var oversizedQuery: ProvisionError?

        func query(_ text: String, _ parameters: [Bind], maxBytes: Int?) throws(ProvisionError) -> Rows {
            try reading { run throws(ProvisionError) in try run.readOnlyQuery(text, parameters: parameters, maxBytes: maxBytes) }
        }

        /// `ctx.count(table)`: the tenant's rows of one of the tenant-scoped tables.
        func count(_ table: String) throws(ProvisionError) -> Int64 {
            try reading { run throws(ProvisionError) in try run.countTenantRows(of: table, tenant: tenant?.id?.uuid) }
        }

        private func reading<T>(_ body: (ProvisioningRun) throws(ProvisionError) -> T) throws(ProvisionError) -> T {
            guard let run else { throw ProvisionError(.playbookError, "ctx is only usable while its check runs") }
            do {
                return try body(run)
            } catch {
                // Checks are Lua modules whatever runs them: their errors speak Lua.
                let worded = error.worded(by: LuaWording())
                if worded.code == .forbidden { refusedWrite = refusedWrite ?? worded }
                if worded.exceeded == .time { timedOutQuery = timedOutQuery ?? worded }
                if worded.exceeded == .memory { oversizedQuery = oversizedQuery ?? worded }
                throw worded
            }
        }
    }

    private let options: Options
    /// The check's deadline as a message names it, worded once (every tenant's every
    /// check sets it).
    private let deadlineLimit: String
    private let stdlib: Stdlib
    private var checks: [LoadedCheck] = []
    /// Modules that did not load: reported as `error` (by the id they gave, else by their
    /// file's name), the others still run.
    private var broken: [CheckResult] = []
    /// Why each of them did not load: `file:line: message` (`file: message` without a line).
    public private(set) var loadErrors: [String] = []

    /// Loads every module; refuses (invalid_input) a folder or module that does not
    /// exist, or two checks with one id, naming both files. A module that does not load
    /// is kept as an `error` with its file, line and message.
    public init(options: Options, stdlib: Stdlib) throws(ProvisionError) {
        self.options = options
        self.deadlineLimit = String(cFormat: "the check's %g s limit", options.timeoutSeconds)
        self.stdlib = stdlib
        var seen: [String: String] = [:]
        // A module named twice (its folder, and itself) loads once.
        var loaded: Set<String> = []
        try Options.validate(sources: options.folders)
        for source in options.folders {
            var isFolder = false
            let modules: [(file: String, folder: URL)]
            if FileManager.default.fileExists(atPath: source.path, isDirectory: &isFolder), isFolder {
                modules = ((try? FileManager.default.contentsOfDirectory(atPath: source.path)) ?? [])
                    .filter { $0.hasSuffix(".lua") && !$0.hasSuffix("_test.lua") }.sorted()  // tests live beside checks
                    .map { (source.appendingPathComponent($0).path, source) }
            } else {
                modules = [(source.path, source.deletingLastPathComponent())]
            }
            for (file, folder) in modules {
                guard loaded.insert(URL(fileURLWithPath: file).resolvingSymlinksInPath().standardizedFileURL.path).inserted else { continue }
                let check: LoadedCheck
                do throws(LoadFailure) {
                    check = try load(file: file, folder: folder)
                } catch {
                    let name = URL(fileURLWithPath: file).lastPathComponent
                    let message = error.error.message.hasPrefix(file) ? error.error.message : "\(file): \(error.error.message)"
                    loadErrors.append(message)
                    broken.append(CheckResult(id: error.id ?? name, title: "Check module \(name)", status: .error,
                                              message: "the module did not load: \(message)", file: file, location: error.location))
                    continue
                }
                if let other = seen[check.id] {
                    throw ProvisionError(.invalidInput, "two checks have the id '\(check.id)': \(other) and \(file); give one another id", field: "checks")
                }
                seen[check.id] = file
                checks.append(check)
            }
        }
        // A check run never passes for want of checks.
        guard !checks.isEmpty || !broken.isEmpty || !options.requiresModules else {
            throw ProvisionError(.invalidInput, "no go-live check modules (*.lua) in \(options.folders.map(\.path).joined(separator: ", ")): nothing to check",
                                 field: "checks")
        }
    }

    public var ids: [String] { checks.map(\.id) }

    /// Told each check's id and file just before it runs for a tenant (what a fleet's
    /// report names if that check gets stuck past every limit).
    public var onCheck: ((_ id: String, _ file: String) -> Void)?

    /// Closes every check's state: finalizers run now, under each check's limits, and can
    /// no longer reach a run. Checks cannot run after this.
    public func close() {
        for check in checks { check.state.close() }
        checks = []
    }

    deinit { close() }

    /// The ids of modules that did not load (the id they gave, else their file's name),
    /// reported as `error`.
    public var brokenIds: [String] { broken.map(\.id) }

    /// Runs every check for `tenant` inside `run`'s transaction; with `only`, just the
    /// checks with those ids.
    public func run(for tenant: Tenant, in run: ProvisioningRun, only: Set<String>? = nil) throws(ProvisionError) -> [CheckResult] {
        var results: [CheckResult] = []
        for index in checks.indices where only?.contains(checks[index].id) ?? true {
            // A state that hit a limit stays tripped: a later run gets a fresh one.
            if checks[index].state.timeTripped || checks[index].state.memoryTripped {
                let file = URL(fileURLWithPath: checks[index].file)
                checks[index].state.close()
                if let fresh = try? load(file: file.path, folder: file.deletingLastPathComponent()) { checks[index] = fresh }
            }
            results.append(try execute(checks[index], tenant: tenant, run: run))
            collectIfGrown(&checks[index])
        }
        return results + broken.filter { only?.contains($0.id) ?? true }
    }

    /// What each run leaves in a check's state (its `ctx`, the tenant's table) is made
    /// while the host holds the collector, and a check that allocates little would never
    /// collect it: over a fleet, about a kilobyte a tenant. A full cycle, as the check's
    /// own code, once the state grew by a mebibyte since the last one keeps it flat.
    private func collectIfGrown(_ check: inout LoadedCheck) {
        guard check.state.memoryInUse > check.collectedAt + (1 << 20) else { return }
        check.state.collectGarbage(timeoutSeconds: options.timeoutSeconds)
        check.collectedAt = check.state.memoryInUse
    }

    // MARK: Loading

    /// Why a module did not load: the error (its message starts with the module's
    /// `file:line` where one is known), and the id the module gave, if it got that far.
    private struct LoadFailure: Error {
        var error: ProvisionError
        var id: String?
        var location: String?

        init(_ error: ProvisionError, id: String? = nil, location: String? = nil, file: String) {
            self.error = error
            self.id = id
            self.location = LuaState.place(&self.error, at: location, in: file)
        }
    }

    private func load(file: String, folder: URL) throws(LoadFailure) -> LoadedCheck {
        let data: [UInt8]
        let state: LuaState
        do throws(ProvisionError) {
            data = try RegularFile.read(file, field: "checks", maxBytes: options.maxMemoryMB * 1_048_576)
            state = try LuaState(limits: LuaLimits(maxMemoryMB: options.maxMemoryMB, timeoutSeconds: options.timeoutSeconds))
            try state.installSandbox(.check, searchRoots: [folder, stdlib.root])
            try state.load(data, chunkName: "@" + file, code: .playbookError)
        } catch {
            // `syntax error: file:line: message` is told as compilers do: where, then what.
            guard let match = error.message.firstMatch(of: /^syntax error: (.+?:[0-9]+):\s/) else { throw LoadFailure(error, file: file) }
            var failure = error
            failure.message = "\(match.1): syntax error: \(error.message[match.range.upperBound...])"
            throw LoadFailure(failure, location: String(match.1), file: file)
        }
        let stack = state.stack
        Watchdog.setActivity("the check module \(file)")
        state.startScripts(timeoutSeconds: options.timeoutSeconds)
        guard state.call(arguments: 0, results: 1) == LUA_OK else {
            if state.timeTripped { throw LoadFailure(ProvisionError(.limitExceeded, "it ran longer than \(options.timeoutSeconds) s while loading"), file: file) }
            if state.memoryTripped { throw LoadFailure(ProvisionError(.limitExceeded, "it used more than \(options.maxMemoryMB) MB while loading"), file: file) }
            let error = state.contractError(fromValueAt: -1, on: stack)
            throw LoadFailure(error, location: LuaState.location(in: state.takeTraceback(), message: error.message), file: file)
        }
        guard stack.isTable(-1) else {
            throw LoadFailure(ProvisionError(.invalidInput, "a check module returns { id = \"…\", title = \"…\", run = function(ctx) … end }, not \(stack.typeName(at: -1))",
                                             field: "checks"), file: file)
        }
        let id = stack.rawField(-1, "id") == LUA_TSTRING ? stack.lossyString(at: -1).flatMap { $0.isEmpty ? nil : $0 } : nil
        stack.pop()
        let module = stack.absolute(-1)
        func require(_ key: String, _ type: Int32, _ what: String) throws(LoadFailure) {
            let found = stack.rawField(module, key)
            stack.pop()
            let given = found == type && (key != "id" || id != nil)
            guard !given else { return }
            throw Self.shapeFailure(key: key, found: found, what: what, module: module, stack: stack, file: file, source: data, id: id)
        }
        try require("id", LUA_TSTRING, "a string that is not empty")
        try require("title", LUA_TSTRING, "a string")
        try require("run", LUA_TFUNCTION, "a function(ctx)")
        stack.rawField(module, "title")
        let title = stack.lossyString(at: -1) ?? ""
        stack.pop()
        stack.rawField(module, "run")
        let reference = luaL_ref(state.L, provision_lua_registryindex())
        stack.pop()
        let context = CheckContext()
        return LoadedCheck(id: id ?? "", title: title, file: file, state: state, runReference: reference,
                           context: context, parts: Self.makeContextParts(in: state, context: context))
    }

    /// What is wrong with the table a module returned, at the line that gives (or
    /// misspells) the field: `titel = …` is an unknown field with the closest name.
    private static func shapeFailure(key: String, found: Int32, what: String, module: Int32, stack: LuaStack, file: String,
                                     source: [UInt8], id: String?) -> LoadFailure {
        func line(giving name: String) -> String? {
            SourceExcerpt.line(assigning: name, in: source).map { "\(file):\($0)" }
        }
        let shape = "a check module returns { id = \"…\", title = \"…\", run = function(ctx) … end }"
        if found != LUA_TNIL {
            let type = String(cString: lua_typename(stack.L, found))
            return LoadFailure(ProvisionError(.invalidInput, "the check's \(key) must be \(what), not \(type == "string" ? "empty" : type) (\(shape))",
                                              field: "checks"), id: id, location: line(giving: key), file: file)
        }
        var keys: [String] = []
        stack.pushNil()
        while lua_next(stack.L, module) != 0 {
            if stack.type(at: -2) == LUA_TSTRING, let name = stack.lossyString(at: -2), !["id", "title", "run"].contains(name) { keys.append(name) }
            stack.pop()
        }
        if let misspelt = Suggestion.closest(to: key, among: keys.sorted()) {
            return LoadFailure(ProvisionError(.invalidInput, "the check has an unknown field '\(misspelt)'; did you mean '\(key)'? (\(shape))", field: "checks"),
                               id: id, location: line(giving: misspelt), file: file)
        }
        return LoadFailure(ProvisionError(.invalidInput, "the check has no \(key) (\(shape))", field: "checks"), id: id, file: file)
    }

    // MARK: Running

    private func execute(_ check: LoadedCheck, tenant: Tenant, run: ProvisioningRun) throws(ProvisionError) -> CheckResult {
        func result(_ status: CheckResult.Status, _ message: String) -> CheckResult {
            CheckResult(id: check.id, title: check.title, status: status, message: message, file: check.file)
        }
        let state = check.state
        let stack = state.stack
        let outcome = check.context
        outcome.tenant = tenant
        outcome.run = run
        outcome.reports = []
        outcome.reportBytes = 0
        outcome.refusedWrite = nil
        outcome.timedOutQuery = nil
        outcome.oversizedQuery = nil
        // Nothing of a check's outlives it: its only statements are read-only queries,
        // each in a savepoint of its own that is rolled back, under the check's limit.
        let own = Connection.Deadline(seconds: options.timeoutSeconds, limit: deadlineLimit)
        let enclosing = run.setDeadline(own)
        // A check run from a playbook (runChecks) stays within the playbook's deadline too.
        if let enclosing, enclosing.instant < own.instant { run.setDeadline(enclosing) }
        let enclosingLimit = run.queryStatementTimeoutMilliseconds
        run.queryStatementTimeoutMilliseconds = Int((min(options.timeoutSeconds, 86_400) * 1000).rounded(.up)) + 1000
        defer {
            run.setDeadline(enclosing)
            run.queryStatementTimeoutMilliseconds = enclosingLimit
            outcome.run = nil
        }

        stack.setTop(0)
        _ = lua_rawgeti(state.L, provision_lua_registryindex(), lua_Integer(check.runReference))
        pushContext(for: check, tenant: tenant)
        Watchdog.setActivity("the check '\(check.id)' (\(check.file)) for tenant \(tenant.slug)")
        onCheck?(check.id, check.file)
        state.startScripts(timeoutSeconds: options.timeoutSeconds)
        let status = state.call(arguments: 1, results: 0)
        if state.timeTripped || state.memoryTripped {
            let what = state.timeTripped ? "ran longer than its \(String(cFormat: "%g", options.timeoutSeconds)) s limit" : "used more than \(options.maxMemoryMB) MB"
            let cause = state.memoryTripped ? outcome.oversizedQuery.map { ": \($0.message)" } ?? "" : ""
            return result(.error, "the check \(what)\(cause)")
        }
        if status != LUA_OK {
            var error = state.contractError(fromValueAt: -1, on: stack)
            let traceback = state.takeTraceback()
            stack.setTop(0)
            if error.code == .limitExceeded { return result(.error, "the check ran past a limit: \(error.message)") }
            // Where in the check: Lua's own errors say so already, the host's do not.
            let location = LuaState.place(&error, at: LuaState.location(in: traceback, message: error.message), in: check.file)
            return CheckResult(id: check.id, title: check.title, status: .error, message: "the check raised an error: \(error.message)",
                               file: check.file, location: location)
        }
        if outcome.timedOutQuery != nil {
            return result(.error, "a query of the check ran longer than its \(options.timeoutSeconds) s limit")
        }
        if let refused = outcome.refusedWrite {
            return result(.error, "the check tried to write, which checks may not do: \(refused.message)")
        }
        guard let worst = outcome.reports.map(\.0).max(by: { $0.severity < $1.severity }) else {
            return result(.error, "the check finished without calling ctx.pass, ctx.warn or ctx.fail")
        }
        let message = outcome.reports.filter { $0.0 == worst }.map(\.1).filter { !$0.isEmpty }.joined(separator: "; ")
        return result(worst, message)
    }

    /// `ctx`: the tenant, read-only queries, tenant-scoped counts, and the verdict. Reading
    /// a field `ctx` or `ctx.tenant` does not have is an error naming the closest one.
    private func pushContext(for check: LoadedCheck, tenant: Tenant) {
        let stack = check.state.stack
        stack.newTable(record: 8)
        stack.push(tenant)
        _ = lua_rawgeti(stack.L, provision_lua_registryindex(), lua_Integer(check.parts.tenantMetatable))
        lua_setmetatable(stack.L, -2)
        stack.setRawField(-2, "tenant")
        for (name, id) in check.parts.functions {
            check.state.pushFunction(id)
            stack.setRawField(-2, name)
        }
        _ = lua_rawgeti(stack.L, provision_lua_registryindex(), lua_Integer(check.parts.contextMetatable))
        lua_setmetatable(stack.L, -2)
    }

    /// What `ctx` is made of in one check's state: its host functions, and the metatables
    /// (registry references) under which `ctx`, `ctx.tenant` and a query's rows say what
    /// they have instead of giving nil for a name they do not.
    private struct ContextParts {
        var functions: [(String, Int32)]
        var contextMetatable: Int32
        var tenantMetatable: Int32
    }

    /// The `__index` of a strict table: a string key it does not hold is an error naming
    /// the closest it has; its metatable holds the names it may have (`names`, those
    /// that are nil too), and the words for it (`missing`: "ctx has no field", `known`).
    private static func strictIndex(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        guard stack.type(at: 2) == LUA_TSTRING, let key = stack.lossyString(at: 2), lua_getmetatable(stack.L, 1) != 0 else {
            stack.pushNil()
            return 1
        }
        let metatable = stack.absolute(-1)
        var names: [String] = []
        if stack.rawField(metatable, "names") == LUA_TTABLE {
            var position: Int64 = 1
            while stack.rawIndex(-1, position) == LUA_TSTRING, let name = stack.lossyString(at: -1) {
                names.append(name)
                stack.pop()
                position += 1
            }
            stack.pop()
        }
        stack.pop()
        // A name it may have, which holds nothing (a NULL column, a tenant without a time zone).
        if names.contains(key) {
            stack.pop()
            stack.pushNil()
            return 1
        }
        func text(_ field: String) -> String {
            defer { stack.pop() }
            return stack.rawField(metatable, field) == LUA_TSTRING ? stack.lossyString(at: -1) ?? "" : ""
        }
        let hint = Suggestion.closest(to: key, among: names).map { "; did you mean '\($0)'?" } ?? ""
        throw ProvisionError(.playbookError, "\(text("missing")) '\(key)'\(hint) (\(text("known")) \(names.joined(separator: ", ")))")
    }

    /// Pushes the metatable of a strict table (see `strictIndex`).
    private static func pushStrictMetatable(in state: LuaState, index: Int32, missing: String, known: String, names: [String]) {
        let stack = state.stack
        stack.newTable(record: 4)
        state.pushFunction(index)
        stack.setRawField(-2, "__index")
        stack.push(missing)
        stack.setRawField(-2, "missing")
        stack.push(known)
        stack.setRawField(-2, "known")
        stack.pushArray(names)
        stack.setRawField(-2, "names")
        // Out of the script's reach: `names` is what the host reads and compares.
        stack.push("provision.strict")
        stack.setRawField(-2, "__metatable")
    }

    private static func makeContextParts(in state: LuaState, context: CheckContext) -> ContextParts {
        let strict = state.register("ctx.__index") { stack in try strictIndex(stack) }
        var functions: [(String, Int32)] = []
        functions.append(("query", state.register("ctx.query") { [unowned state] stack in
            let sql = try stack.requiredString(at: 1, field: "sql", expectation: "ctx.query expects SQL text")
            let parameters = try stack.sqlParameters(from: 2)
            // Half of what the limit leaves: the rows exist in the host and in Lua at once.
            let rows = try state.holdingToMemoryLimit { () throws(ProvisionError) in
                try context.query(sql, parameters, maxBytes: state.room.map { $0 / 2 })
            }
            try state.requireRoom(forBytes: rows.estimatedLuaBytes, what: "the query's \(rows.count) rows")
            // Its rows share one strict metatable: a column the query did not return is an error.
            pushStrictMetatable(in: state, index: strict, missing: "the row has no column", known: "the query returned",
                                names: rows.columns.map(\.name))
            let metatable = stack.top
            state.pushRows(rows, on: stack, rowMetatable: metatable)
            provision_lua_remove(stack.L, metatable)
            return 1
        }))
        functions.append(("count", state.register("ctx.count") { stack in
            let tables = ReaderRole.tenantScopedTables
            guard stack.type(at: 1) == LUA_TSTRING, let table = stack.lossyString(at: 1) else {
                throw ProvisionError(.invalidInput, "ctx.count expects a table name such as \"centers\", got \(stack.typeName(at: 1))", field: "table")
            }
            guard tables.contains(table) else {
                let hint = Suggestion.closest(to: table, among: tables).map { "; did you mean '\($0)'?" } ?? ""
                throw ProvisionError(.invalidInput, "ctx.count: a check cannot count '\(table)'\(hint) (it counts its tenant's rows of \(tables.joined(separator: ", ")); read other tables with ctx.query)",
                                     field: "table")
            }
            guard stack.type(at: 2) == LUA_TSTRING, let text = stack.lossyString(at: 2) else {
                guard stack.top <= 2 else {
                    throw ProvisionError(.invalidInput, "ctx.count: the values after the table are for a condition's $2, $3, …; give the condition as the second argument (ctx.count(\"\(table)\", \"name = $2\", value))",
                                         field: "condition")
                }
                // No condition: a count of the binary's own text.
                stack.push(try context.count(table))
                return 1
            }
            let condition = " AND (\(text))"
            // A query of the check's own, fenced like any other: the name is one of the
            // tables above, the condition is the check's SQL; the tenant id and values are
            // bound ($1 is the tenant, a condition's own placeholders start at $2).
            let parameters = [Bind.uuid(context.tenant?.id?.uuid)] + (try stack.sqlParameters(from: 3))
            let rows = try context.query("SELECT count(*) AS n FROM \"\(table)\" WHERE tenant_id = $1\(condition)", parameters, maxBytes: nil)
            stack.push(try rows.first?.decode(Int64.self, "n") ?? 0)
            return 1
        }))
        for status in [CheckResult.Status.pass, .warn, .fail] {
            functions.append((status.rawValue, state.register("ctx.\(status.rawValue)") { [unowned state] stack in
                // The messages are held until the check ends, on its memory account: a
                // check cannot grow the host past its limit with them.
                let length = stack.top >= 1 && stack.type(at: 1) == LUA_TSTRING ? Int(stack.rawLength(1)) : 64
                try state.requireRoom(forBytes: context.reportBytes + length, what: "the check's messages")
                let message = stack.top >= 1 ? stack.describe(1) : ""
                context.reportBytes += message.utf8.count
                context.reports.append((status, message))
                return 0
            }))
        }
        pushStrictMetatable(in: state, index: strict, missing: "ctx has no field", known: "ctx has",
                            names: ["tenant"] + functions.map(\.0))
        let contextMetatable = luaL_ref(state.L, provision_lua_registryindex())
        pushStrictMetatable(in: state, index: strict, missing: "ctx.tenant has no field", known: "ctx.tenant has", names: LuaStack.tenantKeys)
        let tenantMetatable = luaL_ref(state.L, provision_lua_registryindex())
        return ContextParts(functions: functions, contextMetatable: contextMetatable, tenantMetatable: tenantMetatable)
    }
}
extension CheckResult.Status: Comparable {
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.severity < rhs.severity }
}
