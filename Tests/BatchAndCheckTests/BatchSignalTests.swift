import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// CONTRACT §2/§4: a batch is one transaction; kill -9, Ctrl-C (SIGINT) or SIGTERM in the
// middle of it lands nothing and reveals no credential; SIGINT exits 130, SIGTERM 143.
//
// No timing: the test holds, in a transaction of its own, an uncommitted tenant with the
// slug of row 30, so the batch blocks on row 30's INSERT (a unique-index wait) until the
// test lets go (or the batch's 30 s statement timeout ends the wait). The signal is sent
// as soon as stderr shows the progress line of that row, while the batch is held there.

@Suite("provision batch: interrupted mid-run")
struct BatchSignalTests {
    enum Interruption: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case kill9 = "kill -9", sigint = "SIGINT", sigterm = "SIGTERM"

        var testDescription: String { rawValue }

        var signal: Int32 {
            switch self {
            case .kill9: return SIGKILL
            case .sigint: return SIGINT
            case .sigterm: return SIGTERM
            }
        }
    }

    static let rowCount = 300
    static let heldRow = 30

    static func slug(_ row: Int) -> String { String(format: "wave-%03d", row) }

    /// 300 new pilots, each with a new owner.
    static func waveFile(in scratch: Scratch) throws -> String {
        let rows = (1...rowCount).map { "\(slug($0)),Wave \($0),owner-\($0)@wave.example.com" }
        return try scratch.csv([requiredHeader] + rows, name: "wave.csv")
    }

    /// Runs the batch until it is stuck on `heldRow`, interrupts it, then lets the held
    /// row go. Returns how the process ended and what it printed.
    static func interruptedBatch(_ file: String, _ extra: [String], in db: TestDatabase,
                                 by interruption: Interruption) throws -> (ended: Spawned.Ending, stdout: String, stderr: String) {
        let blocker = try db.holdSlugUncommitted(slug(heldRow))

        let child = try Spawned(["batch", file] + extra, databaseURL: db.url)
        // Progress goes to stderr before each row: "[29/300] wave-030 …" means rows 1-29
        // ran and row 30 is on its way into the held INSERT.
        let marker = "[\(heldRow - 1)/\(rowCount)] \(slug(heldRow))"
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains(marker) {
            let chunk = child.stderr.availableData
            if chunk.isEmpty { break }  // the batch ended before reaching the row
            seen.append(chunk)
        }
        let reached = String(decoding: seen, as: UTF8.self).contains(marker)
        if reached { kill(child.pid, interruption.signal) }
        let stdout = child.stdout.readDataToEndOfFile()
        seen.append(child.stderr.readDataToEndOfFile())
        let ended = child.wait()
        blocker.rollback()
        let stderr = String(decoding: seen, as: UTF8.self)
        try #require(reached, "the batch never showed \(marker):\n\(stderr)")
        return (ended, String(decoding: stdout, as: UTF8.self), stderr)
    }

    static func expectEnding(_ ended: Spawned.Ending, after interruption: Interruption, _ stderr: String,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        switch interruption {
        case .kill9:
            #expect(ended == .signalled(SIGKILL), "killed by signal 9: \(ended)", sourceLocation: sourceLocation)
        case .sigint:
            #expect(ended == .exited(130), "SIGINT exits 130: \(ended)\n\(stderr.suffix(1500))", sourceLocation: sourceLocation)
        case .sigterm:
            #expect(ended == .exited(143), "SIGTERM exits 143: \(ended)\n\(stderr.suffix(1500))", sourceLocation: sourceLocation)
        }
    }

    @Test("an interrupted batch lands nothing and shows no password; a re-run provisions every row",
          arguments: Interruption.allCases)
    func interruptedBatchLandsNothing(interruption: Interruption) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try Self.waveFile(in: scratch)
        let before = try db.rowCounts()

        let (ended, stdout, stderr) = try Self.interruptedBatch(file, [], in: db, by: interruption)

        Self.expectEnding(ended, after: interruption, stderr)
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug LIKE 'wave-%'") == 0, "no tenant from the file landed")
        #expect(try db.count("SELECT 1 FROM users WHERE email LIKE '%@wave.example.com'") == 0, "no owner from the file landed")
        #expect(try db.rowCounts() == before, "nothing at all was written")
        #expect(Passwords.occurrences(in: stdout + stderr).isEmpty, "no password revealed:\n\(stdout)")

        let rerun = try ProvisionBinary.batch(file, ["--json"], in: db)
        #expect(rerun.status == 0, "the re-run provisions every row: \(rerun.status)\n\(rerun.stderr.suffix(2000))")
        #expect(rerun.results.count == Self.rowCount)
        #expect(rerun.results.allSatisfy { $0["status"] as? String == "created" })
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug LIKE 'wave-%'") == Self.rowCount)
    }

    @Test("with --json, an interrupted batch prints one document: the interrupted error", arguments: [Interruption.sigint, .sigterm])
    func interruptedBatchJSON(interruption: Interruption) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try Self.waveFile(in: scratch)

        let (ended, stdout, stderr) = try Self.interruptedBatch(file, ["--json"], in: db, by: interruption)

        Self.expectEnding(ended, after: interruption, stderr)
        try ContractSchema.validate(stdout, as: .error)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "one document: \(stdout)")
        let error = json["error"] as? [String: Any]
        #expect(error?["code"] as? String == "interrupted", "\(stdout)")
        #expect((error?["message"] as? String)?.contains("rolled back") == true, "\(stdout)")
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug LIKE 'wave-%'") == 0)
        #expect(Passwords.occurrences(in: stdout + stderr).isEmpty)
    }

    @Test("an interrupted batch leaves no credentials file behind", arguments: Interruption.allCases)
    func interruptedBatchLeavesNoCredentialsFile(interruption: Interruption) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try Self.waveFile(in: scratch)
        let credentials = scratch.path("wave-passwords.csv")

        let (ended, stdout, stderr) = try Self.interruptedBatch(file, ["--credentialsFile", credentials], in: db, by: interruption)

        Self.expectEnding(ended, after: interruption, stderr)
        #expect(!FileManager.default.fileExists(atPath: credentials), "no credentials file left behind")
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug LIKE 'wave-%'") == 0)
        #expect(Passwords.occurrences(in: stdout + stderr).isEmpty)
    }
}

/// `provision` started the way a shell starts it: no signal blocked, SIGINT and SIGTERM
/// at their defaults. (`ProvisionBinary.start` uses Foundation's `Process`, whose child
/// inherits the spawning thread's signal mask; test code runs on libdispatch worker
/// threads, which block SIGINT and SIGTERM, so such a child could never be interrupted.)
/// stdin is /dev/null; stdout and stderr are pipes.
struct Spawned {
    enum Ending: Equatable, CustomStringConvertible {
        case exited(Int32), signalled(Int32)
        var description: String {
            switch self {
            case .exited(let code): return "exit \(code)"
            case .signalled(let signal): return "killed by signal \(signal)"
            }
        }
    }

    let pid: pid_t
    let stdout: FileHandle
    let stderr: FileHandle

    /// Starts `executable` (default: the built `provision`) with `arguments`, SIGINT,
    /// SIGTERM and SIGPIPE at their defaults whatever the test process does with them.
    init(_ arguments: [String], databaseURL: String, executable: String = ProvisionBinary.path,
         environment: [String: String] = [:]) throws {
        let env = ProvisionBinary.childEnvironment(databaseURL: databaseURL, environment)

        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            // Not inherited by other children the test process spawns meanwhile.
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
        let out = try makePipe(), err = try makePipe()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        func cString(_ text: String) -> UnsafeMutablePointer<CChar>? { strdup(text) }
        let argv = ([executable] + arguments).map(cString) + [nil]
        let envp = env.map { cString("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(out.write)
        close(err.write)
        guard spawned == 0 else {
            close(out.read)
            close(err.read)
            throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO)
        }
        self.pid = pid
        self.stdout = FileHandle(fileDescriptor: out.read, closeOnDealloc: true)
        self.stderr = FileHandle(fileDescriptor: err.read, closeOnDealloc: true)
    }

    /// Reads stdout and stderr to their ends (both at once, so neither pipe fills up),
    /// then waits for the process.
    func finish() -> (ended: Ending, stdout: String, stderr: String) {
        let errorText = ReadInBackground(stderr)
        let out = stdout.readDataToEndOfFile()
        let err = errorText.wait()
        return (wait(), String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func wait() -> Ending {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }
}

/// Reads a pipe to its end on a thread of its own.
final class ReadInBackground: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
        thread.start()
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
