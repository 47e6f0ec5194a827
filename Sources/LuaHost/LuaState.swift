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
        stack.pushError(error)
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

/// One sandboxed Lua 5.4 state with a counting allocator and a time-limit hook.
final class LuaState {
    let L: OpaquePointer
    private let limits: UnsafeMutablePointer<ProvisionLimits>
    private let functions = HostFunctions()

    var stack: LuaStack { LuaStack(L: L) }

    init(limits configured: LuaLimits, hookInterval: Int32 = 1000) throws(ProvisionError) {
        provision_set_dispatch(dispatch, release)
        limits = .allocate(capacity: 1)
        limits.initialize(to: ProvisionLimits())
        limits.pointee.limit = configured.maxMemoryBytes
        limits.pointee.hook_count = hookInterval
        guard let state = provision_newstate(limits) else {
            limits.deallocate()
            throw ProvisionError(.limitExceeded, "could not create a Lua state: out of memory")
        }
        L = state
        // The host's own set-up is never cut off by the script's limit.
        limits.pointee.host_depth = 1
        limits.pointee.host = Unmanaged.passUnretained(functions).toOpaque()
        provision_push_boxed(L, Unmanaged.passRetained(functions).toOpaque())
        provision_lua_setregistryfield(L, "provision.host")
        guard provision_open_libraries(L) == LUA_OK else {
            throw ProvisionError(.limitExceeded, "could not open Lua's libraries")
        }
    }

    deinit {
        provision_close(L)
        limits.deinitialize(count: 1)
        limits.deallocate()
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

    // MARK: Limits

    var memoryInUse: Int { limits.pointee.used }

    /// Refuses (limit_exceeded) data the host is about to hand the script when it would
    /// not fit in what the memory limit leaves; the run then fails like a memory bomb.
    func requireRoom(forBytes bytes: Int, what: String) throws(ProvisionError) {
        let limit = limits.pointee.limit
        guard limit > 0, memoryInUse + bytes > limit else { return }
        provision_trip_memory_limit(L)
        throw ProvisionError(.limitExceeded, "\(what) needs about \(bytes / 1_048_576 + 1) MB, more than --maxMemoryMB leaves room for")
    }
    var peakMemory: Int { limits.pointee.peak }
    var memoryTripped: Bool { limits.pointee.memory_tripped != 0 }
    var timeTripped: Bool { limits.pointee.time_tripped != 0 }
    var hostDepth: Int32 { limits.pointee.host_depth }

    /// From here on, scripts run under the limits.
    func startScripts(timeoutSeconds: Double?) {
        limits.pointee.host_depth = 0
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
