import CLua
import Foundation
import LuaShims
import ProvisionCore

/// The body of a host function: reads its arguments from the stack, pushes its results
/// and returns how many; a thrown error becomes a Lua error object, raised by the C
/// trampoline after this returns.
typealias HostBody = (LuaStack) throws -> Int32

/// The table of host functions a state can call, boxed in a full userdata whose `__gc`
/// releases it when the state closes.
final class HostFunctions {
    var bodies: [HostBody] = []
    var names: [String] = []
    /// How the errors these functions raise name fields and remedies.
    var wording: any Wording = LuaWording()
    /// Every file `require` loaded, with the bytes it loaded (a plan hashes them).
    var requiredFiles: [(path: String, bytes: [UInt8])] = []
}

/// The Swift side of every trampoline: find the state's host functions and run one.
private let dispatch: @convention(c) (OpaquePointer?, Int32) -> Int32 = { L, functionID in
    guard let L, let limits = provision_limits(L), let host = limits.pointee.host else { return 0 }
    let functions = Unmanaged<HostFunctions>.fromOpaque(host).takeUnretainedValue()
    let stack = LuaStack(L: L)
    guard functions.bodies.indices.contains(Int(functionID)) else {
        stack.pushError(code: ErrorCode.playbookError.rawValue, message: "unknown host function", field: nil)
        return -1
    }
    do {
        return try functions.bodies[Int(functionID)](stack)
    } catch let error as ProvisionError {
        stack.pushError(error.worded(by: functions.wording))
        return -1
    } catch {
        stack.pushError(code: ErrorCode.playbookError.rawValue, message: String(describing: error), field: nil)
        return -1
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
        provision_set_dispatch(dispatch, release)
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
        functions.bodies.append(body)
        functions.names.append(name)
        return Int32(functions.bodies.count - 1)
    }

    func pushFunction(_ id: Int32) { provision_push_hostfunction(L, id) }

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
