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

/// `--recipient R`: the credentials file encrypted with the `age` tool (Debian package
/// `age`) for each recipient, an age (`age1…`) or SSH (`ssh-ed25519 …`, `ssh-rsa …`)
/// public key. The plaintext goes to `age` through a pipe and never touches the disk;
/// the receiver decrypts with `age -d -i key.txt FILE`.
struct AgeEncryption {
    let tool: ExternalTool
    let recipients: [String]

    /// Finds `age` and makes sure it accepts every recipient, before anything runs:
    /// a missing tool or a malformed recipient is invalid input (exit 2).
    static func validated(recipients: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws(ProvisionError) -> AgeEncryption {
        guard let tool = ExternalTool.find("age", environment: environment) else {
            throw ProvisionError(.invalidInput, "--recipient encrypts the credentials file with the age tool, which is not installed (on Debian: apt-get install age; or run scripts/install-deps)",
                                 field: "recipient")
        }
        for recipient in recipients {
            let trimmed = recipient.trimmed(.spaces)
            if trimmed.uppercased().hasPrefix("AGE-SECRET-KEY-") {
                // Never echo a secret key back, not even in an error.
                throw ProvisionError(.invalidInput, "--recipient was given an age secret key (AGE-SECRET-KEY-…, not shown): give its public key instead (age-keygen -y KEY-FILE prints it), and keep the secret key with the person who decrypts",
                                     field: "recipient")
            }
            if trimmed.contains("PRIVATE KEY") {
                throw ProvisionError(.invalidInput, "--recipient was given a private key (not shown): give the public key (for SSH, the .pub file's line)",
                                     field: "recipient")
            }
            let outcome: ExternalTool.Outcome
            do {
                outcome = try tool.run(["--encrypt", "--recipient", recipient, "--output", "/dev/null"], input: [])
            } catch {
                throw ProvisionError(.invalidInput, "--recipient: could not run \(tool.url.path) to check the recipient: \(error.reason)", field: "recipient")
            }
            guard outcome.status == 0 else {
                let said = outcome.stderr.split(separator: "\n").first { $0.hasPrefix("age: error:") }
                    .map { String($0.dropFirst("age: error:".count)).trimmed(.spaces) } ?? "exit status \(outcome.status)"
                throw ProvisionError(.invalidInput, "--recipient '\(recipient)' is not an age public key (age1…) or SSH public key (ssh-ed25519 …, ssh-rsa …): age said: \(said)",
                                     field: "recipient")
            }
        }
        return AgeEncryption(tool: tool, recipients: recipients)
    }

    /// Encrypts `text` for the recipients into `descriptor` (the credentials file).
    func encrypt(_ text: String, into descriptor: Int32, path: String) throws(DeliveryFailure) {
        var arguments = ["--encrypt"]
        for recipient in recipients { arguments += ["--recipient", recipient] }
        let outcome: ExternalTool.Outcome
        do {
            outcome = try tool.run(arguments, input: Array(text.utf8), output: descriptor)
        } catch {
            throw DeliveryFailure("encrypting \(path) with age failed: \(error.reason)")
        }
        guard outcome.status == 0 else {
            throw DeliveryFailure("encrypting \(path) with age failed: \(outcome.said)")
        }
    }
}
