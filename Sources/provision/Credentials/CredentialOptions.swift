import ArgumentParser
import ProvisionCore

/// `--credentialsFile PATH` and `--recipient R`, on every command that can issue a
/// one-time password (`tenant`, `run`, `batch`, `reset-password`; CONTRACT §8).
struct CredentialOptions: ParsableArguments {
    @Option(name: [.customLong("credentialsFile"), .customLong("credentials-file")],
            help: ArgumentHelp("Write the one-time passwords to this new file (CSV, mode 0600) instead of stdout.", valueName: "PATH"),
            completion: .file())
    var credentialsFile: String?

    @Option(name: .customLong("recipient"),
            help: ArgumentHelp("Encrypt the credentials file with age for this age or SSH public key (repeatable).", valueName: "R"))
    var recipients: [String] = []

    /// Where the passwords go, checked before anything runs: a path the file can be
    /// created at, an `age` that accepts every recipient. nil: stdout (and the JSON).
    func target() throws(ProvisionError) -> CredentialsTarget? {
        guard let credentialsFile else {
            if !recipients.isEmpty {
                throw ProvisionError(.invalidInput, "--recipient encrypts the credentials file: give --credentialsFile PATH too",
                                     field: "recipient")
            }
            return nil
        }
        // A path the file could not be created at after the commit is refused now.
        try NewFile.validate(credentialsFile, flag: "credentialsFile")
        let encryption = recipients.isEmpty ? nil : try AgeEncryption.validated(recipients: recipients)
        return CredentialsTarget(path: credentialsFile, encryption: encryption)
    }
}

/// A credentials file to create, and how to encrypt it.
struct CredentialsTarget {
    let path: String
    let encryption: AgeEncryption?
}
