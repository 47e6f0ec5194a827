import Foundation
import LuaHost
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

/// `--recipient R`: the credentials file encrypted with the `age` tool (Debian package
/// `age`) for each recipient, an age (`age1…`) or SSH (`ssh-ed25519 …`, `ssh-rsa …`)
/// public key. The plaintext goes to `age` through a pipe and never touches the disk;
/// the receiver decrypts with `age -d -i key.txt FILE`.
struct AgeEncryption {
    let tool: URL
    let recipients: [String]

    /// Finds `age` and makes sure it accepts every recipient, before anything runs:
    /// a missing tool or a malformed recipient is invalid input (exit 2).
    static func validated(recipients: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws(ProvisionError) -> AgeEncryption {
        guard let tool = findTool(environment: environment) else {
            throw ProvisionError(.invalidInput, "--recipient encrypts the credentials file with the age tool, which is not installed (on Debian: apt-get install age; or run scripts/install-deps)",
                                 field: "recipient")
        }
        for recipient in recipients {
            let trimmed = recipient.trimmingCharacters(in: .whitespaces)
            if trimmed.uppercased().hasPrefix("AGE-SECRET-KEY-") {
                // Never echo a secret key back, not even in an error.
                throw ProvisionError(.invalidInput, "--recipient was given an age secret key (AGE-SECRET-KEY-…, not shown): give its public key instead (age-keygen -y KEY-FILE prints it), and keep the secret key with the person who decrypts",
                                     field: "recipient")
            }
            if trimmed.contains("PRIVATE KEY") {
                throw ProvisionError(.invalidInput, "--recipient was given a private key (not shown): give the public key (for SSH, the .pub file's line)",
                                     field: "recipient")
            }
            let outcome: (status: Int32, stderr: String)
            do {
                outcome = try run(tool, arguments: ["--encrypt", "--recipient", recipient, "--output", "/dev/null"], input: "")
            } catch {
                throw ProvisionError(.invalidInput, "--recipient: could not run \(tool.path) to check the recipient: \(error.reason)", field: "recipient")
            }
            guard outcome.status == 0 else {
                let said = outcome.stderr.split(separator: "\n").first { $0.hasPrefix("age: error:") }
                    .map { String($0.dropFirst("age: error:".count)).trimmingCharacters(in: .whitespaces) } ?? "exit status \(outcome.status)"
                throw ProvisionError(.invalidInput, "--recipient '\(recipient)' is not an age public key (age1…) or SSH public key (ssh-ed25519 …, ssh-rsa …): age said: \(said)",
                                     field: "recipient")
            }
        }
        return AgeEncryption(tool: tool, recipients: recipients)
    }

    /// `age` on PATH.
    static func findTool(environment: [String: String]) -> URL? {
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = URL(fileURLWithPath: String(folder)).appendingPathComponent("age")
            if access(candidate.path, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Encrypts `text` for the recipients into `descriptor` (the credentials file).
    func encrypt(_ text: String, into descriptor: Int32, path: String) throws(DeliveryFailure) {
        var arguments = ["--encrypt"]
        for recipient in recipients { arguments += ["--recipient", recipient] }
        let outcome: (status: Int32, stderr: String)
        do {
            outcome = try Self.run(tool, arguments: arguments, input: text,
                                   output: FileHandle(fileDescriptor: descriptor, closeOnDealloc: false))
        } catch {
            throw DeliveryFailure("encrypting \(path) with age failed: \(error.reason)")
        }
        guard outcome.status == 0 else {
            let said = outcome.stderr.split(separator: "\n").first.map(String.init) ?? "exit status \(outcome.status)"
            throw DeliveryFailure("encrypting \(path) with age failed: \(said)")
        }
    }

    /// Runs `tool` with `input` on a pipe; returns its exit status and what it said on stderr.
    private static func run(_ tool: URL, arguments: [String], input: String,
                            output: FileHandle? = nil) throws(DeliveryFailure) -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        let stdin = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = output ?? FileHandle.nullDevice
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw DeliveryFailure("\(tool.path) could not be started: \(error.localizedDescription)")
        }
        // A tool that died early makes this an EPIPE (SIGPIPE is ignored), reported below
        // by its exit status and what it said.
        let writeError = StandardStream.write(input, to: stdin.fileHandleForWriting.fileDescriptor)
        try? stdin.fileHandleForWriting.close()
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 0, let writeError {
            throw DeliveryFailure("writing to \(tool.path) failed: \(StandardStream.describe(writeError))")
        }
        return (process.terminationStatus, said)
    }
}
