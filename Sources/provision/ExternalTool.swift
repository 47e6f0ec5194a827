import Foundation
import LuaHost
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
            stderr.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? "exit status \(status)"
        }
    }

    /// Runs the tool with `input` on a pipe; its stdout goes to `output`, or is returned.
    func run(_ arguments: [String], input: [UInt8], output: FileHandle? = nil) throws(DeliveryFailure) -> Outcome {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = output ?? stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw DeliveryFailure("\(url.path) could not be started: \(error.localizedDescription)")
        }
        // A tool that died early makes this an EPIPE (SIGPIPE is ignored), reported below
        // by its exit status and what it said.
        let writeError = StandardStream.write(bytes: input, to: stdin.fileHandleForWriting.fileDescriptor)
        try? stdin.fileHandleForWriting.close()
        let printed = output == nil ? String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 0, let writeError {
            throw DeliveryFailure("writing to \(url.path) failed: \(StandardStream.describe(writeError))")
        }
        return Outcome(status: process.terminationStatus, stdout: printed, stderr: said)
    }
}
