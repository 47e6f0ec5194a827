import Foundation

/// Runs the built `provision` the way an operator does: a child process with its own
/// environment, arguments, exit status, stdout and stderr.
public struct ProvisionBinary: Sendable {
    public struct Result: Sendable, CustomStringConvertible {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        /// The run outlasted the caller's `timeout` and was killed (SIGKILL).
        public var timedOut = false
        /// Wall time of the run.
        public var seconds: Double = 0
        /// The child's peak resident set in KiB (GNU time's %M), when the caller asked for it.
        public var peakRSSKiB: Int?

        /// The stdout JSON document (for `--json` runs).
        public var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
        }

        public var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
        public var errorField: String? { (json?["error"] as? [String: Any])?["field"] as? String }

        public var description: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
    }

    public static var path: String {
        if let path = ProcessInfo.processInfo.environment["PROVISION_BIN"], !path.isEmpty { return path }
        // Tests/ProvisionTestSupport/ProvisionBinary.swift → repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/provision").path
    }

    /// What the child sees: a minimal environment, DATABASE_URL (unset if nil), the
    /// checkout's stdlib/ (the development build has no installed one beside it; an
    /// empty PROVISION_STDLIB counts as unset), then `environment`.
    public static func childEnvironment(databaseURL: String?, _ environment: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "ASAN_OPTIONS", "LSAN_OPTIONS"].contains(key)
        }
        env["PROVISION_ACTOR"] = "e2e-test"
        env["PROVISION_STDLIB"] = Repository.path("stdlib")
        if let databaseURL { env["DATABASE_URL"] = databaseURL }
        for (key, value) in environment { env[key] = value }
        return env
    }

    /// Runs `provision ARGUMENTS` with DATABASE_URL set to `databaseURL` (unset if nil).
    /// The child sees a minimal environment plus `environment`. With `timeout`, a run
    /// still going after that many seconds is killed and reported with `timedOut`.
    @discardableResult
    ///
    /// With `fromPATH`, it runs the way an installed binary is run: `provision` by name,
    /// looked up in that PATH (nothing else on it but /usr/bin and /bin), with no
    /// PROVISION_STDLIB unless `environment` sets one.
    public static func run(_ arguments: [String], databaseURL: String?, environment: [String: String] = [:],
                           stdin: String? = nil, workingDirectory: String? = nil, timeout: Double? = nil,
                           measurePeakMemory: Bool = false, fromPATH: String? = nil) throws -> Result {
        var environment = environment
        var path = Self.path
        var arguments = arguments
        if let fromPATH {
            environment["PATH"] = "\(fromPATH):/usr/bin:/bin"
            environment["PROVISION_STDLIB"] = environment["PROVISION_STDLIB"] ?? ""
            path = "/usr/bin/env"
            arguments = ["provision"] + arguments
        }
        let process = Process()
        // GNU time (Debian's `time`, installed by scripts/install-deps) reports the child's
        // peak RSS from wait4's rusage and passes its exit status through.
        let peakFile = measurePeakMemory ? NSTemporaryDirectory() + "provision-peak-\(UUID().uuidString)" : nil
        if let peakFile {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/time")
            process.arguments = ["-f", "%M", "-o", peakFile, path] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
        }
        process.environment = childEnvironment(databaseURL: databaseURL, environment)
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        let collected = CollectedOutput()
        let group = DispatchGroup()
        for (handle, isOut) in [(out.fileHandleForReading, true), (err.fileHandleForReading, false)] {
            group.enter()
            DispatchQueue.global().async {
                let data = handle.readDataToEndOfFile()
                collected.set(data, isOut: isOut)
                group.leave()
            }
        }
        let started = Date()
        var timedOut = false
        if let timeout, group.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
        }
        group.wait()
        process.waitUntilExit()
        var result = Result(status: process.terminationStatus, stdout: collected.stdout, stderr: collected.stderr)
        result.timedOut = timedOut
        result.seconds = Date().timeIntervalSince(started)
        if let peakFile {
            // "Command exited with non-zero status N" comes first when it did.
            result.peakRSSKiB = (try? String(contentsOfFile: peakFile, encoding: .utf8))
                .flatMap { $0.split(separator: "\n").last }.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            try? FileManager.default.removeItem(atPath: peakFile)
        }
        return result
    }

    /// Starts `provision` without waiting, for signal tests.
    public static func start(_ arguments: [String], databaseURL: String?, environment: [String: String] = [:]) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = childEnvironment(databaseURL: databaseURL, environment)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }
}

private final class CollectedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data(), err = Data()
    func set(_ data: Data, isOut: Bool) {
        lock.lock(); defer { lock.unlock() }
        if isOut { out = data } else { err = data }
    }
    var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
    var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }
}
