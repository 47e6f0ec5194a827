import ArgumentParser
import Dispatch
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
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
        TimeZones.canonical.filter { $0.hasPrefix(prefix) && isInert($0) }.sorted()
    }

    /// Existing tenants' slugs that start with what was typed.
    static let tenantSlug = CompletionKind.custom { _, _, prefix in
        existingSlugs(startingWith: prefix)
    }

    /// The slugs the database names, only those of a slug's shape: bash's completion
    /// expands what a custom completion prints (`compgen -W`), so a value from outside
    /// (a tampered table, a server that lies) must never reach it as shell text.
    ///
    /// The whole look-up gets 3 seconds of wall time, whatever DATABASE_URL says about
    /// timeouts and however long a name takes to resolve: then the process ends having
    /// completed nothing, and the shell goes on.
    static func existingSlugs(startingWith prefix: String) -> [String] {
        guard let url = DatabaseURL.fromEnvironment else { return [] }
        DispatchQueue.global().asyncAfter(deadline: .now() + 3) { exit(0) }
        guard let connection = try? Connection(url: url, statementTimeoutMilliseconds: 2_000, connectTimeoutSeconds: 2,
                                               applicationName: "provision-completion"),
              let slugs = try? Fleet(connection: connection).slugs(startingWith: prefix) else { return [] }
        return slugs.filter { (try? Validate.tenantSlug($0)) == $0 }
    }

    /// Letters, digits and `/_+-`: nothing a shell would expand.
    private static func isInert(_ name: String) -> Bool {
        name.utf8.allSatisfy { ASCIIWord.letterOrDigit($0) || "/_+-".utf8.contains($0) }
    }
}
