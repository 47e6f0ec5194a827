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

/// The one-time passwords of a committed run on their way to the operator: into the
/// credentials file, or onto stdout with the report. When they cannot get there (stdout
/// closed or full, a file that cannot be written), none is lost silently (CONTRACT §8):
/// each is revoked at once in a second transaction, so that nobody can use a password
/// nobody saw, and stderr names the users and the command that issues new ones.
final class CredentialDelivery {
    let run: ProvisioningRun
    /// What the run did, read once for the passwords' order and the report.
    let record: RunRecord
    /// Every password the run issued, in the order the results show them.
    let records: [RunDocument.CredentialRecord]
    let file: CredentialsFile?
    /// Why the passwords could not be delivered, once they could not.
    private(set) var failure: String?
    /// Those revoked because of it.
    private(set) var revoked: [RunDocument.CredentialRecord] = []
    /// Why revoking failed, if it did.
    private(set) var revocationError: String?

    init(run: ProvisioningRun, credentials: [IssuedCredential], file: CredentialsFile?) {
        self.run = run
        self.record = run.record
        self.records = RunDocument.credentials(credentials, of: record)
        self.file = file
    }

    /// The passwords the report shows on stdout: all of them, unless they go to a file or
    /// could not be delivered.
    var onStandardOutput: [IssuedCredential] {
        file == nil && failure == nil ? records.map(\.credential) : []
    }

    /// Said on stderr when the passwords went to a stdout that is not a terminal (a pipe,
    /// a file, a CI log), which may keep them where anyone who reads it sees them; nil
    /// when none was shown there, or stdout is a terminal.
    var standardOutputWarning: String? {
        let count = onStandardOutput.count
        guard count > 0, isatty(1) == 0 else { return nil }
        return "\(count) one-time password\(count == 1 ? " was" : "s were") printed to stdout, which is not a terminal: a pipe, a file or a CI log may keep \(count == 1 ? "it" : "them"). To keep one-time passwords out of logs, give --credentialsFile PATH (with --recipient R to encrypt the file with age)."
    }

    /// The credentials file, once it holds the passwords.
    var writtenFile: String? { failure == nil ? file?.path : nil }

    /// Fills the credentials file, before anything is printed: if it cannot be written,
    /// the report must already say so.
    func writeFile() {
        guard let file else { return }
        do throws(DeliveryFailure) {
            try file.write(records)
        } catch {
            file.remove()
            fail(error.reason)
        }
    }

    /// After the report was printed: if stdout refused what carried the passwords, they
    /// never reached anyone.
    func checkStandardOutput() {
        guard file == nil, failure == nil, !records.isEmpty, let code = Output.standardOutputFailure else { return }
        fail("writing to stdout failed: \(StandardStream.describe(code))")
    }

    private func fail(_ reason: String) {
        failure = reason
        let credentials = records.map(\.credential)
        let auditReason = "the one-time password could not be delivered: \(reason)"
        do throws(ProvisionError) {
            let done = try revokeOnRunConnection(credentials, reason: auditReason)
            revoked = records.filter { record in done.contains { $0.userId == record.credential.userId } }
        } catch {
            revocationError = error.message
        }
    }

    private func revokeOnRunConnection(_ credentials: [IssuedCredential], reason: String) throws(ProvisionError) -> [IssuedCredential] {
        do {
            return try run.revoke(credentials, reason: reason)
        } catch {
            // The run's connection may be what failed: try once on a new one.
            let connection = try DatabaseURL.connect()
            return try ProvisioningRun.revoke(credentials, on: connection, audit: run.audit, reason: reason)
        }
    }

    /// Says on stderr what happened to undelivered passwords; true when there were any
    /// (the command then exits 1).
    func reportFailure() -> Bool {
        guard let failure else { return false }
        let count = records.count
        let one = count == 1
        var lines = ["error: the one-time password\(one ? "" : "s") could not be delivered: \(failure)"]
        if let revocationError {
            lines.append("The run committed, but revoking the undelivered password\(one ? "" : "s") failed (\(revocationError)): \(one ? "this user holds a one-time password" : "these users hold one-time passwords") nobody has seen. Issue new ones at once:")
        } else {
            let left = records.filter { record in !revoked.contains { $0.credential.userId == record.credential.userId } }
            lines.append("The run committed. The one-time password\(one ? "" : "s") it issued \(one ? "was" : "were") revoked at once and can no longer be used\(left.isEmpty ? "" : " (\(left.count) had already been replaced)"); issue \(one ? "a new one" : "new ones") with:")
        }
        for record in records {
            lines.append("  \(Self.resetCommand(for: record.credential.email))")
        }
        Output.standardError(lines.joined(separator: "\n"))
        return true
    }

    /// `provision reset-password --email EMAIL`, quoted for a POSIX shell when it needs it.
    static func resetCommand(for email: String) -> String {
        "provision reset-password --email \(shellQuoted(email))"
    }

    static func shellQuoted(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "@._+-%/:=,".unicodeScalars.contains(scalar))
        }
        return plain && !text.isEmpty ? text : "'" + text.replacingEvery("'", with: #"'\''"#) + "'"
    }
}
