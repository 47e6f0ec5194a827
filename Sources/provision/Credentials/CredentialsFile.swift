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

/// `--credentialsFile`: the one-time passwords as CSV, in a file created new with mode
/// 0600 and never overwritten; with `--recipient`, encrypted by `age` on the way in, so
/// the plaintext never touches the disk. The file is created before the commit (so a
/// path that cannot be written to fails the run while it can still roll back) and
/// filled after it.
struct CredentialsFile {
    let path: String
    let encryption: AgeEncryption?
    private let descriptor: Int32

    /// The CSV's columns.
    static let header = ["tenantSlug", "email", "oneTimePassword", "expiresAt"]

    /// Whether the file at `path` is one `--credentialsFile` wrote: it starts with the
    /// header line, or is encrypted by age (binary or armored). A batch is never read
    /// from one, so completion does not offer it.
    static func isCredentialsFile(atPath path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 128)
        let count = read(descriptor, &bytes, bytes.count)
        let start = String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
        return [header.joined(separator: ",") + "\n", header.joined(separator: ",") + "\r\n",
                "age-encryption.org/", "-----BEGIN AGE ENCRYPTED FILE-----"].contains { start.hasPrefix($0) }
    }

    /// Creates the file (O_EXCL, 0600).
    init(creating path: String, encryption: AgeEncryption?) throws(ProvisionError) {
        self.path = path
        self.encryption = encryption
        self.descriptor = try NewFile.create(path, flag: "credentialsFile")
    }

    /// The CSV of `credentials`, each with the tenant the JSON's `credentials` would
    /// show, ending in a newline. A cell a spreadsheet would take for a formula (it
    /// starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`.
    static func csv(_ credentials: [RunDocument.CredentialRecord]) -> String {
        var text = CSVText.record(header)
        for record in credentials {
            let credential = record.credential
            text += CSVText.record([record.tenantSlug ?? "", credential.email, credential.password.reveal(),
                                    UTCTimestamp(credential.expiresAt).description].map(neutralized))
        }
        return text
    }

    /// OWASP's defence against CSV (formula) injection.
    static func neutralized(_ cell: String) -> String {
        guard let first = cell.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return cell }
        return "'" + cell
    }

    /// Writes every credential and closes the file. Throws the reason it could not,
    /// for the operator (the caller then revokes the passwords and removes the file).
    func write(_ credentials: [RunDocument.CredentialRecord]) throws(DeliveryFailure) {
        defer { close(descriptor) }
        let text = Self.csv(credentials)
        if let encryption {
            try encryption.encrypt(text, into: descriptor, path: path)
        } else if let code = StandardStream.write(text, to: descriptor) {
            throw DeliveryFailure("writing \(path) failed: \(StandardStream.describe(code))")
        }
        if fsync(descriptor) != 0 {
            throw DeliveryFailure("writing \(path) failed: \(StandardStream.describe(errno))")
        }
    }

    /// Removes the file: it is empty (the run did not commit), or what it holds was
    /// revoked.
    func discard() {
        close(descriptor)
        unlink(path)
    }

    /// Removes the file after `write` closed it (its passwords were revoked).
    func remove() {
        unlink(path)
    }
}

/// Why the one-time passwords could not be delivered, for stderr and the audit row.
struct DeliveryFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
