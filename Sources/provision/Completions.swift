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
import LuaHost
import ProvisionCore

/// What the shells complete for each kind of value (`provision --generate-completion-script
/// bash|zsh|fish`, installed by scripts/install). Files by their kind, folders for
/// `--checks`, batch files that are not credentials files, IANA zone names, the ids of
/// the checks (read from the check modules, no database needed), and the slugs of
/// existing tenants and users' emails when DATABASE_URL names a database that answers
/// within a second or two; nothing, quietly, when it does not.
///
/// bash's completion expands what a custom completion prints (`compgen -W`), so a value
/// from outside (a file name, a tampered table, a server that lies) must never reach it as
/// shell text: only values of inert characters are offered.
enum Completions {
    static let playbook = CompletionKind.file(extensions: ["lua"])
    static let plan = CompletionKind.file(extensions: ["plan"])
    static let folder = CompletionKind.directory
    static let testPath = CompletionKind.file(extensions: ["lua"])

    /// A batch's CSV files (and folders, to go into): not the credentials files that
    /// `--credentialsFile` wrote, which are CSV too.
    static let batchFile = CompletionKind.custom { _, _, prefix in
        batchFiles(startingWith: prefix)
    }

    /// The canonical zone names that start with what was typed.
    static let timeZone = CompletionKind.custom { _, _, prefix in
        TimeZones.canonical.filter { $0.hasPrefix(prefix) && isInert($0) }.sorted()
    }

    /// Existing tenants' slugs that start with what was typed.
    static let tenantSlug = CompletionKind.custom { _, _, prefix in
        existingSlugs(startingWith: prefix)
    }

    /// Existing users' emails that start with what was typed, in any letter case.
    static let email = CompletionKind.custom { _, _, prefix in
        fromDatabase { fleet throws(ProvisionError) in try fleet.emails(startingWith: prefix) }
            .filter { isInert($0, also: "@.") }
    }

    /// The ids of the checks `check` would run (stdlib/checks/, each `--checks` on the
    /// command line, $PROVISION_CHECKS_PATH), after the ids already typed: `--only
    /// owner-membership,ca` completes to `owner-membership,catalog`.
    static let checkIds = CompletionKind.custom { words, _, prefix in
        checkIds(after: prefix, folders: optionValues("checks", in: words))
    }

    static func existingSlugs(startingWith prefix: String) -> [String] {
        fromDatabase { fleet throws(ProvisionError) in try fleet.slugs(startingWith: prefix) }
            .filter { (try? Validate.tenantSlug($0)) == $0 }
    }

    /// What `read` finds in the database DATABASE_URL names, read-only. The whole look-up
    /// gets 3 seconds of wall time, whatever DATABASE_URL says about timeouts and however
    /// long a name takes to resolve: then the process ends having completed nothing, and
    /// the shell goes on.
    static func fromDatabase(_ read: (Fleet) throws(ProvisionError) -> [String]) -> [String] {
        guard let url = DatabaseURL.fromEnvironment else { return [] }
        endsIn3Seconds()
        guard let connection = try? Connection(url: url, statementTimeoutMilliseconds: 2_000, connectTimeoutSeconds: 2,
                                               applicationName: "provision-completion"),
              let values = try? read(Fleet(connection: connection)) else { return [] }
        return values
    }

    static func checkIds(after prefix: String, folders: [String]) -> [String] {
        // Check modules are code: loading them gets the same 3 seconds.
        endsIn3Seconds()
        guard let stdlib = try? Stdlib.located() else { return [] }
        func load(_ extra: [String]) -> GoLiveChecks? {
            try? GoLiveChecks(options: .init(folders: GoLiveChecks.Options.folders(stdlib: stdlib, extra: extra), timeoutSeconds: 1),
                              stdlib: stdlib)
        }
        // A folder typed wrong (or not yet whole) still leaves the other checks.
        guard let checks = load(folders) ?? load([]) else { return [] }
        let typed = prefix.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let chosen = typed.dropLast()
        let last = typed.last ?? ""
        let head = chosen.map { $0 + "," }.joined()
        return checks.ids.filter { $0.hasPrefix(last) && !chosen.contains($0) && isInert($0) }.sorted().map { head + $0 }
    }

    /// The files in the folder `prefix` names (the current one if none) whose names start
    /// with what follows its last `/`: folders (with a `/`, to go on into) and CSV files,
    /// but no credentials file. Hidden ones only when a `.` was typed.
    static func batchFiles(startingWith prefix: String) -> [String] {
        let folder = prefix.lastIndex(of: "/").map { String(prefix[...$0]) } ?? ""
        let start = String(prefix.dropFirst(folder.count))
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { return [] }
        return names.sorted().compactMap { name in
            let path = folder + name
            guard name.hasPrefix(start), start.hasPrefix(".") || !name.hasPrefix("."), isInert(path, also: ".") else { return nil }
            var status = stat()
            guard stat(path, &status) == 0 else { return nil }
            if status.st_mode & S_IFMT == S_IFDIR { return path + "/" }
            guard status.st_mode & S_IFMT == S_IFREG, name.lowercased().hasSuffix(".csv"),
                  !CredentialsFile.isCredentialsFile(atPath: path) else { return nil }
            return path
        }
    }

    /// The values of `--name VALUE` and `--name=VALUE` among a command line's words.
    static func optionValues(_ name: String, in words: [String]) -> [String] {
        var values: [String] = []
        for (index, word) in words.enumerated() {
            if word == "--\(name)", index + 1 < words.count {
                values.append(words[index + 1])
            } else if word.hasPrefix("--\(name)=") {
                values.append(String(word.dropFirst(name.count + 3)))
            }
        }
        return values
    }

    private static func endsIn3Seconds() {
        DispatchQueue.global().asyncAfter(deadline: .now() + 3) { exit(0) }
    }

    /// Letters, digits, `/_+-` and `also`: nothing a shell would expand.
    private static func isInert(_ text: String, also: String = "") -> Bool {
        text.utf8.allSatisfy { ASCIIWord.letterOrDigit($0) || "/_+-".utf8.contains($0) || also.utf8.contains($0) }
            && !text.hasPrefix("-")
    }
}
