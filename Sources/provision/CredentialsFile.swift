import CSV
import Foundation
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

/// `--credentialsFile`: the one-time passwords as CSV, in a file created new with mode
/// 0600 and never overwritten. It is opened before the commit (so a path that cannot be
/// written to fails the run while it can still roll back) and filled after it.
struct CredentialsFile {
    let path: String
    private let descriptor: Int32

    /// Refuses (exit 2), before anything runs, a path the file could not be created at
    /// after the commit: an empty one, a folder's, an existing one, or one in a folder
    /// this user cannot create files in.
    static func validateNewPath(_ path: String) throws(ProvisionError) {
        if path.trimmingCharacters(in: .whitespaces).isEmpty {
            throw ProvisionError(.invalidInput, "--credentialsFile needs a path to a new file, got an empty one", field: "credentialsFile")
        }
        if path.hasSuffix("/") {
            throw ProvisionError(.invalidInput, "--credentialsFile \(path) names a folder; give a path to a new file", field: "credentialsFile")
        }
        var status = stat()
        if lstat(path, &status) == 0 {
            throw ProvisionError(.invalidInput, "--credentialsFile \(path) already exists; it is never overwritten: choose a new path", field: "credentialsFile")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard access(folder, W_OK | X_OK) == 0 else {
            throw ProvisionError(.invalidInput, "--credentialsFile: cannot create files in \(folder)", field: "credentialsFile")
        }
    }

    /// Creates the file (O_EXCL, 0600).
    init(creating path: String) throws(ProvisionError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw ProvisionError(.invalidInput, "--credentialsFile \(path): \(String(cString: strerror(errno)))", field: "credentialsFile")
        }
        self.path = path
        self.descriptor = descriptor
    }

    /// Writes every credential, in the order and with the tenant the JSON's
    /// `credentials` would show (`RunDocument.credentials`), and closes the file.
    func write(_ credentials: [RunDocument.CredentialRecord]) throws(ProvisionError) {
        defer { close(descriptor) }
        let data: Data
        do {
            let csv = try CSVWriter(stream: .toMemory())
            try csv.write(row: ["tenantSlug", "ownerEmail", "oneTimePassword", "expiresAt"])
            for record in credentials {
                let credential = record.credential
                try csv.write(row: [record.tenantSlug ?? "", credential.email, credential.password.reveal(),
                                    UTCTimestamp(credential.expiresAt).description])
            }
            csv.stream.close()
            data = (csv.stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data) ?? Data()
        } catch {
            throw ProvisionError(.databaseError, "could not encode the credentials file")
        }
        let written = data.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(descriptor) == 0 else {
            throw ProvisionError(.databaseError, "could not write all of \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the (still empty) file when the run did not commit.
    func discard() {
        close(descriptor)
        unlink(path)
    }
}
