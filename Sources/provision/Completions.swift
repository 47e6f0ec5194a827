import ArgumentParser
import Foundation
import ProvisionCore

/// What the shells complete for each kind of value (`provision --generate-completion-script
/// bash|zsh|fish`, installed by scripts/install). Files by their kind, folders for
/// `--checks`, IANA zone names, and the slugs of existing tenants when DATABASE_URL names
/// a database that answers within a second or two; nothing, quietly, when it does not.
enum Completions {
    static let playbook = CompletionKind.file(extensions: ["lua"])
    static let csv = CompletionKind.file(extensions: ["csv"])
    static let plan = CompletionKind.file(extensions: ["plan"])
    static let folder = CompletionKind.directory
    static let testPath = CompletionKind.file(extensions: ["lua"])

    /// The canonical zone names that start with what was typed.
    static let timeZone = CompletionKind.custom { _, _, prefix in
        TimeZones.canonical.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// Existing tenants' slugs that start with what was typed.
    static let tenantSlug = CompletionKind.custom { _, _, prefix in
        existingSlugs(startingWith: prefix)
    }

    /// At most 2 seconds to connect and 2 to answer: a completion never hangs a shell.
    static func existingSlugs(startingWith prefix: String) -> [String] {
        guard let url = DatabaseURL.fromEnvironment,
              let connection = try? Connection(url: url, statementTimeoutMilliseconds: 2_000, connectTimeoutSeconds: 2,
                                               applicationName: "provision-completion"),
              let slugs = try? Fleet(connection: connection).slugs(startingWith: prefix) else { return [] }
        return slugs
    }
}
