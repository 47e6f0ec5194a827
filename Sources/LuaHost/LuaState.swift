import CLua
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaShims
import ProvisionCore

/// The body of a host function: reads its arguments from the stack, pushes its results
/// and returns how many; a thrown error becomes a Lua error object, raised by the C
/// trampoline after this returns.
typealias HostBody = (LuaStack) throws -> Int32

/// The body of every host call's C entry point: `body` on `object`, a `Target` the state
/// keeps alive (so it is used unretained); a thrown error is pushed for the trampoline to
/// raise. Each entry point is a C function literal naming its concrete type and method,
/// so a call from Lua takes no retain or release, allocates nothing, makes no dynamic
/// exclusivity check and dispatches on nothing.
@inline(__always)
func hostCall<Target: AnyObject>(_ L: OpaquePointer?, _ object: UnsafeMutableRawPointer?, as _: Target.Type,
                                 _ body: (Target, LuaStack) throws -> Int32) -> Int32 {
    guard let L, let object else { return 0 }
    let stack = LuaStack(L: L)
    do {
        return try Unmanaged<Target>.fromOpaque(object)._withUnsafeGuaranteedRef { target in
            try body(target, stack)
        }
    } catch {
        return pushHostError(error, on: stack)
    }
}

@inline(never)
private func pushHostError(_ error: any Error, on stack: LuaStack) -> Int32 {
    if let error = error as? ProvisionError {
        let functions = provision_limits(stack.L)?.pointee.host.map { Unmanaged<HostFunctions>.fromOpaque($0).takeUnretainedValue() }
        // The script sees the error in its own terms; the original, with its field and
        // remedy as data, is kept for the front end that reports it (`contractError`).
        let wording: any Wording = functions?.wording ?? LuaWording()
        stack.pushError(error.worded(by: wording))
        functions?.raised(error, as: lua_topointer(stack.L, -1))
    } else {
        stack.pushError(code: ErrorCode.playbookError.rawValue, message: String(describing: error), field: nil)
    }
    return -1
}

/// A host function given as a closure (the ones off the hot path).
private final class ClosureFunction {
    let body: HostBody
    init(_ body: @escaping HostBody) { self.body = body }
    static let entryPoint: provision_host_call = { L, object in
        hostCall(L, object, as: ClosureFunction.self) { function, stack in try function.body(stack) }
    }
}

/// The table of host functions a state can call, boxed in a full userdata whose `__gc`
/// releases it when the state closes.
final class HostFunctions {
    /// The entries the trampolines point at; each lives as long as this table.
    private(set) var entries: [UnsafeMutablePointer<ProvisionHostEntry>] = []
    /// The targets, held strongly: the entries only point at them.
    private var targets: [ObjectIdentifier: AnyObject] = [:]
    var names: [String] = []
    /// How the errors these functions raise name fields and remedies.
    var wording: any Wording = LuaWording()

    /// The latest errors these functions raised, by the address of the table the script
    /// got: a table that reaches the host again unchanged is that error, still data.
    /// Bounded, so a script that catches errors in a loop holds no host memory for them.
    private var recentlyRaised: [(table: UnsafeRawPointer, error: ProvisionError)] = []

    func raised(_ error: ProvisionError, as table: UnsafeRawPointer?) {
        guard let table else { return }
        if recentlyRaised.count == 16 { recentlyRaised.removeFirst() }
        recentlyRaised.append((table, error))
    }

    /// The error raised as `table`, if it was one of the latest.
    func raisedError(at table: UnsafeRawPointer?) -> ProvisionError? {
        guard let table else { return nil }
        return recentlyRaised.last { $0.table == table }?.error
    }
    /// Every file `require` loaded, with the bytes it loaded (a plan hashes them).
    var requiredFiles: [(path: String, bytes: [UInt8])] = []

    /// A function whose C entry point calls into `object` (kept alive from now on).
    func add(_ name: String, object: AnyObject, entryPoint: provision_host_call) -> Int32 {
        targets[ObjectIdentifier(object)] = object
        let entry = UnsafeMutablePointer<ProvisionHostEntry>.allocate(capacity: 1)
        entry.initialize(to: ProvisionHostEntry(call: entryPoint, object: Unmanaged.passUnretained(object).toOpaque()))
        entries.append(entry)
        names.append(name)
        return Int32(entries.count - 1)
    }

    func add(_ name: String, _ body: @escaping HostBody) -> Int32 {
        add(name, object: ClosureFunction(body), entryPoint: ClosureFunction.entryPoint)
    }

    deinit {
        for entry in entries { entry.deallocate() }
    }
}

private let release: @convention(c) (UnsafeMutableRawPointer?) -> Void = { object in
    guard let object else { return }
    Unmanaged<HostFunctions>.fromOpaque(object).release()
}

/// Limits of one Lua state (CONTRACT §5: `--maxMemoryMB`, `--timeout`).
public struct LuaLimits: Sendable {
    public var maxMemoryBytes: Int
    /// nil: no time limit.
    public var timeoutSeconds: Double?

    public init(maxMemoryMB: Int = 256, timeoutSeconds: Double? = nil) {
        self.maxMemoryBytes = maxMemoryMB * 1024 * 1024
        self.timeoutSeconds = timeoutSeconds
    }
}

/// One sandboxed Lua 5.4 state with a counting allocator, a time-limit hook and the
/// watchdog behind both.
///
/// Host code (set-up, host functions, reading results) runs with the memory limit lifted
/// and the collector stopped; script code (`call`, a `__tostring` the host asks for,
/// finalizers at `close`) runs with both in force. So the host never meets an
/// unprotected Lua error, and the script never runs with the host's allowances.
final class LuaState {
    let L: OpaquePointer
    private let limits: UnsafeMutablePointer<ProvisionLimits>
    let functions = HostFunctions()
    private(set) var isClosed = false

    var stack: LuaStack { LuaStack(L: L) }

    init(limits configured: LuaLimits, hookInterval: Int32 = 1000) throws(ProvisionError) {
        provision_set_release(release)
        Watchdog.start()
        limits = .allocate(capacity: 1)
        limits.initialize(to: ProvisionLimits())
        limits.pointee.limit = configured.maxMemoryBytes
        limits.pointee.hook_count = hookInterval
        guard let state = provision_newstate(limits) else {
            limits.deallocate()
            throw ProvisionError(.limitExceeded, "could not create a Lua state: out of memory")
        }
        L = state
        limits.pointee.host = Unmanaged.passUnretained(functions).toOpaque()
        provision_push_boxed(L, Unmanaged.passRetained(functions).toOpaque())
        provision_lua_setregistryfield(L, "provision.host")
        guard provision_open_libraries(L) == LUA_OK else {
            throw ProvisionError(.limitExceeded, "could not open Lua's libraries")
        }
    }

    deinit {
        close()
        limits.deinitialize(count: 1)
        limits.deallocate()
    }

    /// Ends the run and closes the state. Finalizers and pending `__close` handlers run
    /// now, under the memory limit and a short deadline of their own; they can no longer
    /// reach the host. Closing twice is harmless.
    func close(seconds: Double = 2) {
        guard !isClosed else { return }
        isClosed = true
        provision_close(L, seconds)
    }

    /// Registers a host function; returns its id for `pushFunction`.
    @discardableResult
    func register(_ name: String, _ body: @escaping HostBody) -> Int32 {
        functions.add(name, body)
    }

    /// Registers a function whose C entry point calls into `object` (which the state
    /// keeps alive from now on).
    @discardableResult
    func register(_ name: String, object: AnyObject, entryPoint: provision_host_call) -> Int32 {
        functions.add(name, object: object, entryPoint: entryPoint)
    }

    func pushFunction(_ id: Int32) { provision_push_hostfunction(L, functions.entries[Int(id)]) }

    /// Registers `body` and pushes it.
    func pushFunction(_ name: String, _ body: @escaping HostBody) { pushFunction(register(name, body)) }

    var registeredNames: [String] { functions.names }

    /// Every file `require` loaded into this state, with its bytes, in load order.
    var requiredFiles: [(path: String, bytes: [UInt8])] { functions.requiredFiles }

    /// How errors raised into this state word fields and remedies (Lua's, unless the
    /// front end running the script words them its own way).
    var wording: any Wording {
        get { functions.wording }
        set { functions.wording = newValue }
    }

    // MARK: Limits

    var memoryInUse: Int { limits.pointee.used }
    /// Bytes the host holds for the script (warnings, records), charged to the limit.
    var hostBytes: Int { limits.pointee.host_bytes }

    /// What the memory limit still leaves for data the host hands over (nil: no limit).
    var room: Int? {
        let limit = limits.pointee.limit
        guard limit > 0 else { return nil }
        return max(0, limit - memoryInUse - hostBytes)
    }

    /// Refuses (limit_exceeded) data the host is about to hand the script when it would
    /// not fit in what the memory limit leaves; the run then fails like a memory bomb.
    func requireRoom(forBytes bytes: Int, what: String) throws(ProvisionError) {
        guard let room, bytes > room else { return }
        provision_trip_memory_limit(L)
        throw ProvisionError(.limitExceeded, "\(what) needs about \(bytes / 1_048_576 + 1) MB, more than the memory limit (\(limitMB) MB) leaves room for")
    }

    /// Runs a host operation handed part of the room (a query's budget); when the
    /// operation ran out of it, the script has hit its limit like a memory bomb, and its
    /// pcall cannot swallow that.
    func holdingToMemoryLimit<T>(_ body: () throws(ProvisionError) -> T) throws(ProvisionError) -> T {
        do {
            return try body()
        } catch where error.exceeded == .memory {
            provision_trip_memory_limit(L)
            throw error
        }
    }

    /// Keeps `bytes` the host holds on the script's behalf for the rest of the run (a
    /// warning, a record of what was planned) on the script's account.
    func charge(_ bytes: Int, for what: String) throws(ProvisionError) {
        try requireRoom(forBytes: bytes, what: what)
        limits.pointee.host_bytes += bytes
    }

    private var limitMB: Int { (limits.pointee.memory_tripped != 0 ? limits.pointee.limit - (1 << 20) : limits.pointee.limit) / 1_048_576 }

    var peakMemory: Int { limits.pointee.peak }
    var memoryTripped: Bool { limits.pointee.memory_tripped != 0 }
    var timeTripped: Bool { limits.pointee.time_tripped != 0 }
    /// The time that ran out was the short one a host-called `__tostring` gets.
    var tostringTripped: Bool { limits.pointee.tostring_tripped != 0 }

    /// Starts the script's clock (nil: no time limit).
    /// A full collection cycle run as script code (see `provision_collect_garbage`),
    /// within `timeoutSeconds`; false when a finalizer failed or hit a limit.
    @discardableResult
    func collectGarbage(timeoutSeconds: Double) -> Bool {
        startScripts(timeoutSeconds: timeoutSeconds)
        let status = provision_collect_garbage(L)
        if status != LUA_OK { stack.pop() }
        return status == LUA_OK
    }

    func startScripts(timeoutSeconds: Double?) {
        provision_start_clock(L, timeoutSeconds ?? 0)
    }

    /// Loads text (never a binary chunk) and pushes the function, or throws `code`.
    func load(_ source: [UInt8], chunkName: String, code: ErrorCode = .invalidInput) throws(ProvisionError) {
        let status = source.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { provision_load_text(L, $0.baseAddress, $0.count, chunkName) }
        }
        guard status == LUA_OK else {
            let message = stack.lossyString(at: -1) ?? "could not load \(chunkName)"
            stack.pop()
            throw ProvisionError(code, status == LUA_ERRSYNTAX ? "syntax error: \(message)" : message)
        }
    }

    /// Calls the function under `arguments` arguments on `thread` (the main thread, or
    /// the coroutine a host function was called from) with the limits in force. On
    /// failure the error value is left on that stack and the status returned.
    func call(on thread: LuaStack? = nil, arguments: Int32, results: Int32) -> Int32 {
        provision_pcall((thread ?? stack).L, arguments, results)
    }

    /// The traceback the message handler kept for the last error, if any.
    func takeTraceback() -> String? {
        _ = provision_lua_getregistryfield(L, "provision.traceback")
        defer {
            stack.pop()
            for key in ["provision.traceback", "provision.reraised", "provision.reraised_traceback"] {
                stack.pushNil()
                provision_lua_setregistryfield(L, key)
            }
        }
        return stack.lossyString(at: -1)
    }
}
