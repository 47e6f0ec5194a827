#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

/// A program provision runs for what a well-kept tool does (`age` encrypts credentials
/// files, `ssh-keygen` verifies signed plans): found on PATH, fed through a pipe.
struct ExternalTool {
    let url: URL

    /// `name` on PATH; nil when it is not installed.
    static func find(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> ExternalTool? {
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent(name)
            if access(candidate.path, X_OK) == 0 { return ExternalTool(url: candidate) }
        }
        return nil
    }

    struct Outcome {
        let status: Int32
        /// What it printed (empty when `output` took it).
        let stdout: String
        let stderr: String

        /// Its first line on stderr that says something, for a message.
        var said: String {
            stderr.split(whereSeparator: \.isNewline).first.map { $0.trimmed(.spaces) } ?? "exit status \(status)"
        }
    }

    /// Runs the tool with `input` on a pipe; its stdout goes to `output` (a descriptor
    /// the caller keeps), or is returned. Started with posix_spawn, as Foundation's
    /// `Process` does, with this process's environment and no descriptor but the three.
    func run(_ arguments: [String], input: [UInt8], output: Int32? = nil) throws(DeliveryFailure) -> Outcome {
        var stdin: [Int32] = [-1, -1], stdout: [Int32] = [-1, -1], stderr: [Int32] = [-1, -1]
        defer { for descriptor in stdin + stdout + stderr where descriptor >= 0 { close(descriptor) } }
        guard Self.makePipe(&stdin), output != nil || Self.makePipe(&stdout), Self.makePipe(&stderr) else {
            throw DeliveryFailure("\(url.path) could not be started: \(StandardStream.describe(errno))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output ?? stdout[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderr[1], 2)
        // Nothing else of this process's (the database's socket, a file) reaches the tool.
        for descriptor in Self.inheritedDescriptors() where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        // In a process group of its own, as Foundation's Process put it: a Ctrl-C at the
        // terminal reaches provision, which ends the run, not the tool halfway.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = ([url.path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, url.path, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            throw DeliveryFailure("\(url.path) could not be started: \(StandardStream.describe(spawned))")
        }
        // The child's ends are the child's: closed here, so its exit is each pipe's end.
        close(stdin[0])
        stdin[0] = -1
        if stdout[1] >= 0 { close(stdout[1]); stdout[1] = -1 }
        close(stderr[1])
        stderr[1] = -1
        // A tool that died early makes this an EPIPE (SIGPIPE is ignored), reported below
        // by its exit status and what it said.
        let writeError = StandardStream.write(bytes: input, to: stdin[1])
        close(stdin[1])
        stdin[1] = -1
        let (printed, said) = Self.readToEnd(stdout[0], stderr[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // What Foundation's terminationStatus was: the exit status, or the signal's number.
        let exited = status & 0x7f == 0
        let terminationStatus = exited ? (status >> 8) & 0xff : status & 0x7f
        if terminationStatus == 0, let writeError {
            throw DeliveryFailure("writing to \(url.path) failed: \(StandardStream.describe(writeError))")
        }
        return Outcome(status: terminationStatus, stdout: String(decoding: printed, as: UTF8.self), stderr: String(decoding: said, as: UTF8.self))
    }

    /// A pipe whose ends are closed on exec (the child gets its copies by dup2).
    private static func makePipe(_ ends: inout [Int32]) -> Bool {
        guard pipe(&ends) == 0 else { return false }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// This process's open descriptors that an exec would keep (no close-on-exec flag).
    private static func inheritedDescriptors() -> [Int32] {
        let listed = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        // The listing's own descriptor is closed by now: fcntl finds it no more.
        return listed.filter { descriptor in
            let flags = fcntl(descriptor, F_GETFD)
            return flags >= 0 && flags & FD_CLOEXEC == 0
        }
    }

    /// Everything the tool writes to its stdout and stderr pipes until it closes them
    /// (both read as they come, so neither fills up while the other is read).
    private static func readToEnd(_ out: Int32, _ err: Int32) -> (out: [UInt8], err: [UInt8]) {
        var collected: [[UInt8]] = [[], []]
        var open = [out, err].map { $0 >= 0 }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while open.contains(true) {
            var watched = [out, err].enumerated().filter { open[$0.offset] }.map { pollfd(fd: $0.element, events: Int16(POLLIN), revents: 0) }
            guard poll(&watched, nfds_t(watched.count), -1) >= 0 || errno == EINTR else { break }
            for entry in watched where entry.revents != 0 {
                let which = entry.fd == out ? 0 : 1
                let count = read(entry.fd, &buffer, buffer.count)
                if count > 0 {
                    collected[which] += buffer[0..<count]
                } else if count == 0 || errno != EINTR {
                    open[which] = false
                }
            }
        }
        return (collected[0], collected[1])
    }
}
