import CLua
import Foundation
@testable import LuaHost
import Testing
#if canImport(Glibc)
import Glibc
#endif

// CONTRACT §9: whatever happens, the process never aborts. Host code only calls Lua
// with the limit lifted or under a protected call, so a panic (an error outside any
// protected call) should be unreachable; should one happen anyway, the panic handler
// ends the process with a clean error and never returns into Swift (Lua would abort).

@Suite("A Lua panic") struct PanicTests {
    @Test("ends the process cleanly: exit 1 and a message, never an abort or a signal")
    func aPanicEndsTheProcessCleanly() throws {
        var pipeEnds: [Int32] = [0, 0]
        try #require(pipe(&pipeEnds) == 0)
        let child = fork()
        try #require(child >= 0)
        if child == 0 {
            // The child: raise outside any protected call, straight from host code.
            dup2(pipeEnds[1], 2)
            guard let state = try? LuaState(limits: LuaLimits()) else { _exit(98) }
            state.stack.push("boom from the host")
            _ = lua_error(state.L)
            _exit(99)  // lua_error never returns; reaching this would be a failure too
        }
        close(pipeEnds[1])
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(pipeEnds[0], &buffer, buffer.count)
            if count <= 0 { break }
            output.append(contentsOf: buffer[..<count])
        }
        close(pipeEnds[0])
        var status: Int32 = 0
        _ = waitpid(child, &status, 0)
        let message = String(decoding: output, as: UTF8.self)
        let exited = status & 0x7f == 0
        #expect(exited, "the child ended by signal \(status & 0x7f): \(message)")
        #expect((status >> 8) & 0xff == 1, "exit status \((status >> 8) & 0xff): \(message)")
        #expect(message.contains("outside a protected call (boom from the host)"), "\(message)")
    }
}
