import CLua
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import LuaShims
import ProvisionCore

/// How a playbook runs: dry or not, its variables and arguments, its limits, how its
/// errors word fields and remedies, and where `require` may look.
public struct PlaybookOptions: Sendable {
    public var dryRun: Bool
    public var vars: [String: String]
    public var arguments: [String]
    public var limits: LuaLimits
    /// How errors name fields and remedies: Lua's table keys (`LuaWording`) for an
    /// operator's playbook; the front end's own terms when it runs a stdlib playbook on
    /// its inputs (the CLI's flags, a batch's CSV columns).
    public var wording: any Wording
    /// The stdlib `require` searches after the playbook's folder, and whose checks
    /// `runChecks` runs.
    public var stdlib: Stdlib
    /// Whether errors name the playbook's file:line and carry a traceback: yes for an
    /// operator's playbook, no for the stdlib playbooks behind `tenant` and `batch`,
    /// whose errors speak of the operator's flags and rows instead.
    public var showsLocation: Bool

    public init(stdlib: Stdlib, dryRun: Bool = false, vars: [String: String] = [:], arguments: [String] = [],
                limits: LuaLimits = LuaLimits(), wording: any Wording = LuaWording(), showsLocation: Bool = true) {
        self.showsLocation = showsLocation
        self.dryRun = dryRun
        self.vars = vars
        self.arguments = arguments
        self.limits = limits
        self.wording = wording
        self.stdlib = stdlib
    }
}

/// One playbook run: a sandboxed Lua state over one `ProvisioningRun` (one transaction).
/// `execute` runs the playbook and leaves the transaction open; the caller commits (and
/// only then reveals passwords) or rolls back.
public final class PlaybookSession {
    public let run: ProvisioningRun
    public let options: PlaybookOptions
    let state: LuaState
    private var module: ProvisionModule?
    private var moduleReference: Int32 = 0
    /// Where `provision.log` lines go (stderr for the CLI).
    public var logSink: (String) -> Void = { StandardStream.write($0 + "\n", to: 2) }

    /// With `nested`, the run is a savepoint of a transaction the caller holds (a test's).
    public init(connection: Connection?, options: PlaybookOptions, audit: AuditContext = AuditContext(),
                nested: Bool = false) throws(ProvisionError) {
        self.options = options
        self.run = ProvisioningRun(connection: connection, dryRun: options.dryRun, audit: audit, nested: nested)
        run.wording = options.wording
        self.state = try LuaState(limits: options.limits)
        state.wording = options.wording
    }

    /// Loads and runs the playbook at `path` (as the operator named it, for messages).
    /// The file is read once, through the same gate as every file a script loads; those
    /// bytes run, and `sources` hands the same bytes to a plan. Throws the contract error
    /// of an uncaught Lua error, with file:line and traceback; the run is rolled back then.
    public func execute(path: String) throws(ProvisionError) {
        let source = try RegularFile.read(path, field: "playbook", maxBytes: options.limits.maxMemoryBytes)
        try execute(source: source, chunkName: path, folder: URL(fileURLWithPath: path).deletingLastPathComponent())
    }

    public func execute(source: [UInt8], chunkName: String, folder: URL) throws(ProvisionError) {
        self.chunkName = chunkName
        self.source = source
        do throws(ProvisionError) {
            try prepare(folder: folder)
            do {
                try state.load(source, chunkName: "@" + chunkName)
            } catch {
                // A syntax error: show the line and the token Lua complains about.
                var failure = error
                if options.showsLocation, let location = failure.message.firstMatch(of: /^syntax error: (.+?:[0-9]+):/).map({ String($0.1) }) {
                    failure.detail = SourceExcerpt.make(location: location, message: failure.message, chunk: chunkName, source: source)
                }
                throw failure
            }
            // Like the standalone interpreter: ARGS as `...` and in `arg`.
            for argument in options.arguments { state.stack.push(argument) }
            try run.begin()
            Watchdog.setActivity(options.showsLocation ? "the playbook \(chunkName)" : "the playbook")
            // The database's work counts against --timeout too: a statement still running
            // at the deadline is cancelled on the server.
            if let seconds = options.limits.timeoutSeconds {
                enclosingDeadline = run.setDeadline(Connection.Deadline(seconds: seconds, limit: String(cFormat: "--timeout (%g s)", seconds)))
            }
            state.startScripts(timeoutSeconds: options.limits.timeoutSeconds)
            var status = state.call(arguments: Int32(options.arguments.count), results: 1)
            if status == LUA_OK, let declared = try declaredPlaybook() {
                // `return { params = …, run = function(p, args, ...) … end }`: the values are
                // checked before `run` is called.
                let values = try declared.values(for: options.vars)
                status = callRun(with: values)
            }
            if status != LUA_OK {
                throw uncaughtError(status: status)
            }
            if state.memoryTripped || state.timeTripped {
                // The script swallowed the limit's error; the run still failed.
                throw limitError()
            }
            // The script is done before anything commits: its finalizers and pending
            // __close handlers run now, under its limits, and can no longer reach the run.
            finishScripts()
        } catch {
            finishScripts()
            run.rollback()
            throw error.worded(by: options.wording)
        }
    }

    /// With the chunk's result on top: its declaration when it returned a table with a
    /// `run` function (the function stays under it), else nil (a plain playbook).
    private func declaredPlaybook() throws(ProvisionError) -> PlaybookParameters? {
        let stack = state.stack
        guard stack.isTable(-1) else { return nil }
        guard stack.rawField(-1, "run") == LUA_TFUNCTION else {
            stack.pop()
            return nil
        }
        stack.pop()
        return try PlaybookParameters.read(from: stack, at: -1)
    }

    /// Calls the declared playbook's `run(p, args, ...)`: the module, the values by name,
    /// then the arguments after `--`.
    private func callRun(with values: [String: PlaybookParameters.Value]) -> Int32 {
        let stack = state.stack
        _ = stack.rawField(-1, "run")
        _ = lua_rawgeti(state.L, provision_lua_registryindex(), lua_Integer(moduleReference))
        stack.newTable(record: Int32(values.count))
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            stack.push(value)
            stack.setRawField(-2, name)
        }
        for argument in options.arguments { stack.push(argument) }
        state.startScripts(timeoutSeconds: options.limits.timeoutSeconds)
        return state.call(arguments: Int32(2 + options.arguments.count), results: 0)
    }

    /// Reads the playbook's parameter declaration without running it against a database
    /// (`provision run X.lua --help`): its top level runs in a dry run without one.
    public static func declaredParameters(path: String, options: PlaybookOptions) throws(ProvisionError) -> PlaybookParameters? {
        var dry = options
        dry.dryRun = true
        let session = try PlaybookSession(connection: nil, options: dry)
        defer { session.finishScripts() }
        let url = URL(fileURLWithPath: path)
        let source = try RegularFile.read(path, field: "playbook", maxBytes: dry.limits.maxMemoryBytes)
        try session.prepare(folder: url.deletingLastPathComponent())
        try session.state.load(source, chunkName: "@" + path)
        session.state.startScripts(timeoutSeconds: dry.limits.timeoutSeconds ?? 5)
        let status = session.state.call(arguments: 0, results: 1)
        guard status == LUA_OK else { throw session.uncaughtError(status: status) }
        return try session.declaredPlaybook()
    }

    /// Ends the script side of the run: host functions raise "this run has already ended"
    /// from now on, and the states (the playbook's, and any check states it opened) close.
    private func finishScripts() {
        module?.finish()
        state.close()
        // No script runs any more: what follows (the commit) is never cancelled for a
        // deadline that was the script's.
        if let enclosingDeadline {
            run.setDeadline(enclosingDeadline)
        } else if options.limits.timeoutSeconds != nil {
            run.setDeadline(nil)
        }
    }

    /// The deadline that was in force before this playbook's (a test's, around `t.run`).
    private var enclosingDeadline: Connection.Deadline?

    /// Commits (a dry run rolls back) and hands over the one-time passwords.
    public func commit() throws(ProvisionError) -> [IssuedCredential] {
        do { return try run.commit() } catch { throw error.worded(by: options.wording) }
    }

    public func rollback() { run.rollback() }

    /// The playbook's own text and every module it required, each with the bytes that
    /// ran (a plan hashes them, so `apply` can tell when one changed), in load order.
    public var sources: [(path: String, bytes: [UInt8])] {
        (chunkName.map { [($0, source ?? [])] } ?? []) + state.requiredFiles
    }

    public var peakMemory: Int { state.peakMemory }
    public var memoryInUse: Int { state.memoryInUse }
    /// The host functions the state can call, by their Lua names (for the annotations check).
    public var registeredFunctions: [String] { state.registeredNames }

    // MARK: Set-up

    private func prepare(folder: URL) throws(ProvisionError) {
        let stack = state.stack
        try state.installSandbox(.playbook, searchRoots: [folder] + options.stdlib.searchRoots)

        let module = ProvisionModule(session: self)
        self.module = module
        module.push(on: state, vars: options.vars)
        // Kept for a declared playbook's `run(p, …)`, whatever the script does to globals.
        stack.pushValue(-1)
        moduleReference = luaL_ref(state.L, provision_lua_registryindex())
        // `require "provision"` and the global `provision`.
        _ = lua_getglobal(state.L, "package")
        stack.rawField(-1, "loaded")
        stack.pushValue(-3)
        stack.setRawField(-2, "provision")
        stack.pop(2)
        lua_setglobal(state.L, "provision")
        // print would write into stdout, which belongs to the results (and --json):
        // it logs to stderr instead, like provision.log.
        _ = lua_getglobal(state.L, "provision")
        stack.rawField(-1, "log")
        lua_setglobal(state.L, "print")
        stack.pop()

        stack.newTable(array: Int32(options.arguments.count))
        for (offset, argument) in options.arguments.enumerated() {
            stack.push(argument)
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        lua_setglobal(state.L, "arg")
    }

    // MARK: Progress

    private var progressStarted: Date?
    /// Where progress goes: stderr, redrawn in place on a terminal.
    public var progressSink: (String, _ final: Bool) -> Void = { line, final in
        if isatty(2) == 1 {
            StandardStream.write("\r\u{1B}[K\(line)\(final ? "\n" : "")", to: 2)
        } else {
            StandardStream.write(line + "\n", to: 2)
        }
    }

    func reportProgress(done: Int, total: Int, label: String) {
        let now = Date()
        let started = progressStarted ?? now
        if progressStarted == nil { progressStarted = now }
        var line = "[\(done)/\(total)]"
        if !label.isEmpty { line += " \(label)" }
        if done > 0, done < total {
            // In floating point and clamped: any counts a script passes give a finite ETA.
            let remaining = min(now.timeIntervalSince(started) / Double(done) * Double(total - done), 359_999)
            if remaining.isFinite, remaining >= 0 {
                line += String(cFormat: "  ETA %ld:%02ld", Int(remaining) / 60, Int(remaining) % 60)
            }
        }
        progressSink(line, done >= total)
    }

    // MARK: Errors

    func emit(message: String) { logSink(message) }

    private func limitError() -> ProvisionError {
        if state.memoryTripped {
            return ProvisionError(.limitExceeded, "the playbook used more memory than --maxMemoryMB allows (\(options.limits.maxMemoryBytes / 1_048_576) MB)")
        }
        if state.tostringTripped || options.limits.timeoutSeconds == nil {
            return ProvisionError(.limitExceeded, "a __tostring metamethod of the playbook ran longer than the 2 s the host gives it to describe a value")
        }
        let seconds = options.limits.timeoutSeconds.map { String(cFormat: "%g", $0) } ?? ""
        return ProvisionError(.limitExceeded, "the playbook ran longer than --timeout allows (\(seconds) s)")
    }

    private func uncaughtError(status: Int32) -> ProvisionError {
        // Converting the value may run its __tostring, which may itself hit a limit:
        // convert first, then ask whether a limit was hit.
        var error = status == LUA_ERRMEM
            ? ProvisionError(.limitExceeded, "the playbook ran out of memory")
            : state.contractError(fromValueAt: -1, on: state.stack)
        state.stack.pop()
        let traceback = state.takeTraceback()
        if state.memoryTripped || state.timeTripped { return limitError() }
        guard options.showsLocation else { return error }
        let location = LuaState.location(in: traceback, message: error.message)
        if let location, !error.message.hasPrefix(location) {
            error.message = "\(location): \(error.message)"
        }
        // For a person on stderr (never in JSON): the line, then the playbook's own frames.
        let excerpt = location.flatMap { SourceExcerpt.make(location: $0, message: error.message, chunk: chunkName, source: source) }
        let frames = traceback.map(LuaState.playbookFrames)
        let detail = [excerpt, frames].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "\n")
        error.detail = detail.isEmpty ? nil : detail
        return error
    }

    /// The main chunk's name and text, for excerpts of the lines errors point at.
    private var chunkName: String?
    private var source: [UInt8]?
}
