import ProvisionCore

/// `provision --version --json`: this binary's release and the schema version it
/// migrates to, as a plan records them.
struct VersionDocument: JSONDocument {
    let command = "version"
    let provisionVersion = ProvisionVersion.current
    let schemaVersion = BundledMigrations.latestVersion

    /// `provision --version` without --json.
    static var text: String {
        "provision \(ProvisionVersion.current)\nschema version \(BundledMigrations.latestVersion) (what `provision migrate` brings a database to)"
    }
}
