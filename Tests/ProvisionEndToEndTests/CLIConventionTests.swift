import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// Issue 15: the CLI as operators expect it — --version, help that reads at 80 columns,
/// completion for bash (run in bash the way bash runs it), the installed manual, and a
/// flag given twice.
@Suite("CLI conventions")
struct CLIConventionTests {
    static let commands = ["", "migrate", "tenant", "run", "batch", "check", "reset-password", "list", "show", "delete",
                           "test", "apply", "show-plan", "update", "member", "member add", "member set-role", "member remove"]

    // MARK: --version

    @Test func versionNamesTheReleaseAndTheSchemaVersion() throws {
        let result = try ProvisionBinary.run(["--version"], databaseURL: nil)
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let migrations = try #require(BundledMigrations.all.map(\.version).max())
        #expect(lines.first?.wholeMatch(of: /provision [0-9]+\.[0-9]+\.[0-9]+/) != nil, "\(result)")
        #expect(lines.dropFirst().first?.hasPrefix("schema version \(migrations) ") == true, "\(result)")
        #expect(result.stderr.isEmpty)
    }

    @Test func versionAsJSONCarriesTheFiguresAPlanRecords() throws {
        let result = try ProvisionBinary.run(["--version", "--json"], databaseURL: nil)
        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .version)
        let text = try ProvisionBinary.run(["--version"], databaseURL: nil).stdout
        let release = try #require(result.json?["provisionVersion"] as? String)
        #expect(text.hasPrefix("provision \(release)\n"))
        #expect(result.json?["schemaVersion"] as? Int == BundledMigrations.all.map(\.version).max())
        // Every command takes --version, and answers in the form asked for.
        let command = try ProvisionBinary.run(["tenant", "--version", "--json"], databaseURL: nil)
        #expect(command.status == 0 && command.stdout == result.stdout, "\(command)")
    }

    // MARK: Help at 80 columns

    static func help(_ command: String) throws -> [String] {
        let result = try ProvisionBinary.run(command.split(separator: " ").map(String.init) + ["--help"], databaseURL: nil,
                                             environment: ["COLUMNS": "80"])
        #expect(result.status == 0, "\(result)")
        return result.stdout.components(separatedBy: "\n")
    }

    @Test("Help reads cleanly at 80 columns: no line over 80, no orphaned word", arguments: commands)
    func helpReadsAt80Columns(command: String) throws {
        for line in try Self.help(command) {
            #expect(line.count <= 80, "provision \(command) --help: a line of \(line.count) columns: \(line)")
            let text = line.trimmingCharacters(in: .whitespaces)
            // A lone word is what double wrapping leaves behind; an option name, a
            // heading and an example's own line are not.
            let lone = !text.isEmpty && !text.contains(" ") && !text.hasPrefix("-") && !text.hasSuffix(":")
            #expect(!lone, "provision \(command) --help has a line that is a lone word: '\(line)'")
        }
    }

    @Test("Examples in the help fit the manual's narrower page too (72 columns)", arguments: commands)
    func examplesFitTheManual(command: String) throws {
        let discussion = try Self.help(command).prefix { !$0.hasPrefix("USAGE:") }
        for line in discussion where line.hasPrefix("  ") {
            #expect(line.count <= 72, "provision \(command) --help: an example of \(line.count) columns: \(line)")
        }
    }

    @Test("USAGE shows required flags as required, and names only flags the command has",
          arguments: [("tenant", ["--tenantSlug <slug>", "--tenantName <name>", "--ownerEmail <email>"]),
                      ("show", ["--tenantSlug <slug>"]), ("delete", ["--tenantSlug <slug>"]),
                      ("reset-password", ["--email <email>"]), ("check", ["--tenantSlug <slug>", "--all"]),
                      ("batch", ["<FILE.csv>"]), ("run", ["<PLAYBOOK.lua>"])])
    func usageShowsRequiredFlags(command: String, required: [String]) throws {
        let lines = try Self.help(command)
        let start = try #require(lines.firstIndex { $0.hasPrefix("USAGE: ") })
        let usage = lines[start...].prefix { !$0.isEmpty }.joined(separator: " ")
        for flag in required {
            #expect(usage.contains(flag), "\(usage)")
            #expect(!usage.contains("[\(flag)"), "\(flag) is shown as optional: \(usage)")
        }
        let options = lines[start...].joined(separator: "\n")
        for flag in usage.matches(of: /--[A-Za-z][A-Za-z-]*/).map({ String($0.0) }) {
            #expect(options.contains("  \(flag)") || options.contains(", \(flag)"), "USAGE names \(flag), which provision \(command) does not have")
        }
    }

    @Test("No option shows its default twice (the help's own words and ArgumentParser's)", arguments: commands)
    func noOptionShowsItsDefaultTwice(command: String) throws {
        let lines = try Self.help(command)
        let options = lines.drop { !$0.hasPrefix("OPTIONS:") }.dropFirst()
        var blocks: [String] = []
        for line in options {
            if line.hasPrefix("  -") || line.hasPrefix("  <") || blocks.isEmpty { blocks.append(line) } else { blocks[blocks.count - 1] += " " + line }
        }
        for block in blocks {
            let text = block.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.components(separatedBy: "default").count <= 2, "provision \(command) --help: \(text)")
        }
    }

    // MARK: Completion

    /// Runs the generated bash completion in bash as bash runs it: COMP_WORDS, COMP_CWORD,
    /// COMP_LINE and COMP_POINT set, the function called with the command, the current and
    /// the previous word; returns COMPREPLY.
    static func complete(_ words: [String], in folder: URL, databaseURL: String? = nil) throws -> [String] {
        let script = folder.appendingPathComponent("provision.bash")
        if !FileManager.default.fileExists(atPath: script.path) {
            let generated = try ProvisionBinary.run(["--generate-completion-script", "bash"], databaseURL: nil)
            #expect(generated.status == 0, "\(generated)")
            try generated.stdout.write(to: script, atomically: true, encoding: .utf8)
        }
        let quoted = words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let program = """
            source provision.bash
            COMP_WORDS=(\(quoted)); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
            completion="$(complete -p provision)"; completion="${completion##* -F }"
            "${completion%% *}" provision "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        // The custom completions call `provision` back, found on PATH as a shell would;
        // the development build finds the checkout's stdlib (check ids) as tests tell it.
        let binaries = URL(fileURLWithPath: ProvisionBinary.path).deletingLastPathComponent().path
        var environment = ["PATH": binaries + ":/usr/bin:/bin", "HOME": folder.path, "PROVISION_STDLIB": Repository.path("stdlib")]
        if let databaseURL { environment["DATABASE_URL"] = databaseURL }
        let bash = try Self.tool("/bin/bash", ["--noprofile", "--norc", "-c", program], in: folder, environment: environment)
        #expect(bash.status == 0, "\(bash.stderr)")
        return bash.stdout.split(separator: "\n").map(String.init)
    }

    /// Runs a program of the machine (bash, zsh, fish, man) with exactly `environment`.
    /// Its stderr goes to a file, so neither stream can fill up and block it.
    static func tool(_ path: String, _ arguments: [String], in folder: URL? = nil,
                     environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("provision-tool-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: errorFile.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = folder
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, stdout, try String(contentsOf: errorFile, encoding: .utf8))
    }

    static func folderOfFiles() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("provision-completion-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("checks"), withIntermediateDirectories: true)
        for name in ["wave-3.csv", "notes.txt", "go-live.lua", "pilot.plan"] {
            try Data().write(to: folder.appendingPathComponent(name))
        }
        return folder
    }

    @Test func bashCompletesFilesByKind() throws {
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(Set(try Self.complete(["provision", "batch", ""], in: folder)) == ["wave-3.csv", "checks/"])
        #expect(Set(try Self.complete(["provision", "run", ""], in: folder)) == ["go-live.lua", "checks"])
        #expect(Set(try Self.complete(["provision", "apply", ""], in: folder)) == ["pilot.plan", "checks"])
        #expect(try Self.complete(["provision", "check", "--checks", ""], in: folder) == ["checks"])
        #expect(try Self.complete(["provision", "tenant", "--credentialsFile", "wa"], in: folder) == ["wave-3.csv"])
    }

    /// zsh's script must load; fish's completes files by kind and offers one spelling of
    /// each flag (its custom completions, batch files among them, read the command line
    /// of an interactive fish, which a test cannot give it).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/zsh")
                   && FileManager.default.isExecutableFile(atPath: "/usr/bin/fish"), "scripts/install-deps installs zsh and fish"))
    func zshAndFishCompletionsLoadAndComplete() throws {
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = ["PATH": "/usr/bin:/bin", "HOME": folder.path]
        for name in ["zsh", "fish"] {
            let generated = try ProvisionBinary.run(["--generate-completion-script", name], databaseURL: nil)
            #expect(generated.status == 0, "\(generated)")
            try generated.stdout.write(to: folder.appendingPathComponent("provision.\(name)"), atomically: true, encoding: .utf8)
        }
        let zsh = try Self.tool("/usr/bin/zsh", ["-n", "provision.zsh"], in: folder, environment: environment)
        #expect(zsh.status == 0 && zsh.stderr.isEmpty, "\(zsh.stderr)")
        // One spelling of each flag: zsh gets one spec a flag, whose exclusion list still
        // names the alias (given either way, neither is offered again).
        let zshScript = try String(contentsOf: folder.appendingPathComponent("provision.zsh"), encoding: .utf8)
        #expect(zshScript.contains("'(--timeZone --time-zone)'--timeZone'["), "\(zshScript)")
        #expect(zshScript.firstMatch(of: /\{--[A-Za-z]+,--[a-z]+(-[a-z]+)+\}/) == nil, "zsh offers a kebab-case alias")
        let fish = try Self.tool("/usr/bin/fish", ["--no-config", "-c", """
            source provision.fish
            complete -C 'provision tenant --time'; echo ---
            complete -C 'provision run '; echo ---
            complete -C 'provision check --checks '
            """], in: folder, environment: environment)
        #expect(fish.status == 0 && fish.stderr.isEmpty, "\(fish.stderr)")
        let parts = fish.stdout.components(separatedBy: "---\n").map { Set($0.split(separator: "\n").map { String($0.split(separator: "\t")[0]) }) }
        #expect(parts.count == 3, "\(fish.stdout)")
        if parts.count == 3 {
            #expect(parts[0] == ["--timeZone", "--timeout"], "\(fish.stdout)")
            #expect(parts[1] == ["go-live.lua", "checks/"], "\(fish.stdout)")
            #expect(parts[2] == ["checks/"], "\(fish.stdout)")
        }
    }

    @Test func bashCompletesZoneNamesForTimeZone() throws {
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try Self.complete(["provision", "tenant", "--timeZone", "America/Edm"], in: folder) == ["America/Edmonton"])
        let europe = try Self.complete(["provision", "tenant", "--time-zone", "Europe/"], in: folder)
        #expect(europe.contains("Europe/Berlin") && europe.allSatisfy { $0.hasPrefix("Europe/") }, "\(europe)")
        #expect(try Self.complete(["provision", "tenant", "--timeZone", "Mars/"], in: folder).isEmpty)
    }

    @Test func bashCompletesTenantSlugsFromTheDatabase() throws {
        let db = try TestDatabase.create()
        for slug in ["pilot-north", "pilot-south", "staging-east"] {
            let created = try ProvisionBinary.run(Runbook.tenant(slug, owner: "owner@\(slug).example.com"), databaseURL: db.url)
            try #require(created.status == 0, "\(created)")
        }
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try Self.complete(["provision", "show", "--tenantSlug", "pilot-"], in: folder, databaseURL: db.url)
                == ["pilot-north", "pilot-south"])
        #expect(try Self.complete(["provision", "check", "--tenant-slug", ""], in: folder, databaseURL: db.url)
                == ["pilot-north", "pilot-south", "staging-east"])
        #expect(try Self.complete(["provision", "delete", "--tenantSlug", "st"], in: folder, databaseURL: db.url) == ["staging-east"])

        // bash expands what a custom completion prints: a slug that is not slug-shaped (a
        // tampered table, a lying server) is never offered, so it never runs.
        try db.connect().run(fixture: """
            ALTER TABLE tenants DROP CONSTRAINT tenants_slug_format;
            INSERT INTO tenants (slug, name) VALUES ('pilot-$(touch pwned)', 'Evil'), ('pilot-`touch pwned`', 'Evil');
            """)
        #expect(try Self.complete(["provision", "show", "--tenantSlug", "pilot-"], in: folder, databaseURL: db.url)
                == ["pilot-north", "pilot-south"])
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("pwned").path))
    }

    @Test func slugCompletionIsQuietAndQuickWithoutADatabase() throws {
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        // No DATABASE_URL: nothing (and no connection attempted).
        #expect(try Self.complete(["provision", "show", "--tenantSlug", ""], in: folder).isEmpty)
        // A database that does not answer: nothing, and no error on the terminal.
        let result = try ProvisionBinary.run(["---completion", "show", "--", "--tenantSlug", "3", "0", "provision", "show", "--tenantSlug", ""],
                                             databaseURL: "postgresql://nobody@/none?host=/nonexistent&connect_timeout=1", timeout: 10)
        #expect(result.status == 0 && result.stdout.trimmingCharacters(in: .newlines).isEmpty && result.stderr.isEmpty, "\(result)")
        #expect(!result.timedOut, "a completion must never hang the shell")
    }

    @Test("Completion offers one spelling of each flag, the camelCase one; kebab-case still completes when typed")
    func bashOffersOneSpellingOfEachFlag() throws {
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try Self.complete(["provision", "tenant", "--time"], in: folder) == ["--timeZone", "--timeout"])
        #expect(try Self.complete(["provision", "tenant", "--timeZ"], in: folder) == ["--timeZone"])
        #expect(try Self.complete(["provision", "tenant", "--dry"], in: folder) == ["--dryRun"])
        #expect(try Self.complete(["provision", "apply", "--max"], in: folder) == ["--maxPlanAge"])
        // What was typed in kebab-case still completes, and a value after an alias too.
        #expect(try Self.complete(["provision", "tenant", "--time-"], in: folder) == ["--time-zone"])
        #expect(try Self.complete(["provision", "tenant", "--time-zone", "America/Edm"], in: folder) == ["America/Edmonton"])
        // Every flag of every command, once.
        for command in Self.commands where !command.isEmpty && command != "member" {
            let offered = try Self.complete(["provision"] + command.split(separator: " ").map(String.init) + ["--"], in: folder)
            #expect(!offered.isEmpty, "provision \(command) offers no flag")
            let loose = offered.map { $0.lowercased().filter { $0 != "-" } }
            #expect(Set(loose).count == loose.count, "provision \(command) offers a flag twice: \(offered)")
        }
        // Both spellings still parse.
        let kebab = try ProvisionBinary.run(["tenant", "--tenant-slug", "pilot", "--tenant-name", "Pilot",
                                             "--owner-email", "owner@pilot.example.com", "--time-zone", "UTC", "--dry-run"],
                                            databaseURL: nil)
        #expect(kebab.status == 0, "\(kebab)")
    }

    @Test("--only completes the ids of the checks (the stdlib's and --checks'), after the ids already typed; no database needed")
    func bashCompletesCheckIdsForOnly() throws {
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        let builtIn = ["catalog", "owner-membership", "owner-password", "portal-access", "support-contact", "time-zone"]
        #expect(try Self.complete(["provision", "check", "--all", "--only", ""], in: folder) == builtIn)
        #expect(try Self.complete(["provision", "check", "--only", "owner-"], in: folder) == ["owner-membership", "owner-password"])
        #expect(try Self.complete(["provision", "check", "--only", "owner-membership,c"], in: folder) == ["owner-membership,catalog"])
        #expect(try Self.complete(["provision", "check", "--only", "catalog,owner-membership,owner-"], in: folder)
                == ["catalog,owner-membership,owner-password"], "an id already given is not offered again")
        // An operator's folder of checks, named by --checks on the same line.
        try #"return { id = "wave-closed", title = "Wave closed", run = function(ctx) ctx.pass("ok") end }"#
            .write(to: folder.appendingPathComponent("checks/wave.lua"), atomically: true, encoding: .utf8)
        #expect(try Self.complete(["provision", "check", "--checks", "checks", "--only", "w"], in: folder) == ["wave-closed"])
        #expect(try Self.complete(["provision", "check", "--only", "w"], in: folder).isEmpty)
        // A folder that does not exist leaves the stdlib's.
        #expect(try Self.complete(["provision", "check", "--checks", "nowhere", "--only", "cat"], in: folder) == ["catalog"])
    }

    @Test func bashCompletesUsersEmailsFromTheDatabase() throws {
        let db = try TestDatabase.create()
        for slug in ["pilot-north", "pilot-south"] {
            let created = try ProvisionBinary.run(Runbook.tenant(slug, owner: "owner@\(slug).example.com"), databaseURL: db.url)
            try #require(created.status == 0, "\(created)")
        }
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try Self.complete(["provision", "reset-password", "--email", "owner@pilot-"], in: folder, databaseURL: db.url)
                == ["owner@pilot-north.example.com", "owner@pilot-south.example.com"])
        for command in [["member", "add"], ["member", "set-role"], ["member", "remove"]] {
            #expect(try Self.complete(["provision"] + command + ["--tenantSlug", "pilot-north", "--email", "owner@pilot-s"],
                                      in: folder, databaseURL: db.url) == ["owner@pilot-south.example.com"], "\(command)")
        }
        // Read-only and quiet: nothing without a database, nothing written with one.
        #expect(try Self.complete(["provision", "reset-password", "--email", ""], in: folder).isEmpty)
        let before = try db.rowCounts()
        _ = try Self.complete(["provision", "reset-password", "--email", ""], in: folder, databaseURL: db.url)
        #expect(try db.rowCounts() == before)
        // bash expands what a completion prints: an email a shell would act on (atext
        // allows $, ` and {}) is never offered, so it never runs.
        try db.connect().run(fixture: "INSERT INTO users (email) VALUES ('owner`touch${IFS}pwned`@pilot-evil.example')")
        #expect(try Self.complete(["provision", "reset-password", "--email", "owner"], in: folder, databaseURL: db.url)
                == ["owner@pilot-north.example.com", "owner@pilot-south.example.com"])
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("pwned").path))
    }

    @Test("batch completes CSV files and folders, never a credentials file provision wrote")
    func bashCompletesBatchFilesButNoCredentialsFile() throws {
        let db = try TestDatabase.create()
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        let credentials = folder.appendingPathComponent("wave-3-passwords.csv").path
        let created = try ProvisionBinary.run(Runbook.tenant("pilot", owner: "owner@pilot.example.com", "--credentialsFile", credentials),
                                              databaseURL: db.url)
        try #require(created.status == 0 && FileManager.default.fileExists(atPath: credentials), "\(created)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("waves"), withIntermediateDirectories: true)
        try Data("tenantSlug,tenantName,ownerEmail\n".utf8).write(to: folder.appendingPathComponent("waves/wave-4.csv"))
        #expect(try Self.complete(["provision", "batch", ""], in: folder) == ["checks/", "wave-3.csv", "waves/"])
        #expect(try Self.complete(["provision", "batch", "wave-3"], in: folder) == ["wave-3.csv"])
        #expect(try Self.complete(["provision", "batch", "--dryRun", "waves/"], in: folder) == ["waves/wave-4.csv"])
        // Still a file operators may name by hand: completion only leaves it out.
        #expect(try Self.complete(["provision", "tenant", "--credentialsFile", "wave-3-"], in: folder) == ["wave-3-passwords.csv"])
    }

    // MARK: The installed manual

    /// scripts/test installs into a scratch prefix and names it here.
    static let installedPrefix = ProcessInfo.processInfo.environment["PROVISION_INSTALLED_PREFIX"]

    @Test(.enabled(if: installedPrefix != nil, "scripts/test sets PROVISION_INSTALLED_PREFIX after scripts/install"))
    func theInstalledManualRendersWithMan() throws {
        let prefix = try #require(Self.installedPrefix)
        let pages = prefix + "/share/man/man1"
        for command in Self.commands {
            let page = "\(pages)/provision\(command.isEmpty ? "" : ".\(command.replacingOccurrences(of: " ", with: "."))").1"
            let (status, text, warnings) = try Self.tool("/usr/bin/man", ["-l", page],
                                                         environment: ["MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"])
            #expect(status == 0, "man -l \(page): \(warnings)")
            #expect(warnings.isEmpty, "man -l \(page) warned: \(warnings)")
            let name = command.isEmpty ? "provision" : "provision \(command)"
            #expect(text.contains("NAME") && text.contains(name) && text.contains("DESCRIPTION"), "\(page):\n\(text)")
            // SYNOPSIS shows the required flags as required, as the help's USAGE does.
            let required = ["tenant": ["--tenantSlug slug", "--tenantName name", "--ownerEmail email"],
                            "show": ["--tenantSlug slug"], "delete": ["--tenantSlug slug"], "reset-password": ["--email email"]]
            for flag in required[command] ?? [] {
                #expect(text.contains(flag) && !text.contains("[\(flag)"), "\(page): \(flag) is not shown as required:\n\(text)")
            }
        }
        for script in ["bash-completion/completions/provision", "zsh/site-functions/_provision", "fish/vendor_completions.d/provision.fish"] {
            let text = try String(contentsOfFile: "\(prefix)/share/\(script)", encoding: .utf8)
            #expect(text.contains("---completion"), "\(script) does not complete zones and slugs")
        }
    }

    /// `man -l PAGE` as an operator reads it: 80 columns, UTF-8, whitespace runs as one
    /// space (a phrase may wrap anywhere).
    static func manual(_ page: String) throws -> String {
        let prefix = try #require(Self.installedPrefix)
        let (status, text, warnings) = try Self.tool("/usr/bin/man", ["-l", "\(prefix)/share/man/man1/\(page).1"],
                                                     environment: ["MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"])
        #expect(status == 0 && warnings.isEmpty, "man -l \(page): \(warnings)")
        return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    @Test("The manual's EXIT STATUS lists 0 to 4 with their meaning, on every page",
          .enabled(if: installedPrefix != nil, "scripts/test sets PROVISION_INSTALLED_PREFIX after scripts/install"),
          arguments: ["provision", "provision.tenant", "provision.check", "provision.member.add"])
    func theManualListsEveryExitStatus(page: String) throws {
        let text = try Self.manual(page)
        let start = try #require(text.range(of: "EXIT STATUS "), "\(page) has no EXIT STATUS:\n\(text)")
        let status = String(text[start.upperBound...]).components(separatedBy: " SEE ALSO ")[0]
        #expect(!status.contains(">0 if an error occurs"), "\(page): \(status)")
        for (code, meaning) in [("0", "success"), ("1", "runtime failure"), ("2", "invalid input"), ("3", "conflict"), ("4", "precondition")] {
            #expect(status.contains("\(code) \(meaning)"), "\(page)'s EXIT STATUS does not say \(code) is \(meaning): \(status)")
        }
    }

    @Test("The check marks survive in the manual (generate-manual drops what is not ASCII)",
          .enabled(if: installedPrefix != nil, "scripts/test sets PROVISION_INSTALLED_PREFIX after scripts/install"))
    func theCheckMarksSurviveInTheManual() throws {
        let check = try Self.manual("provision.check")
        #expect(check.contains("pass (✓), warn (!), fail (✗) or error (E)"), "\(check)")
        #expect(!check.contains("pass (),"), "\(check)")
    }

    @Test("scripts/install puts the JSON schema and validate-json under PREFIX/share/provision/, where the help points",
          .enabled(if: installedPrefix != nil, "scripts/test sets PROVISION_INSTALLED_PREFIX after scripts/install"))
    func theSchemaIsInstalledWhereTheHelpPoints() throws {
        let prefix = try #require(Self.installedPrefix)
        let share = "\(prefix)/share/provision"
        #expect(FileManager.default.contents(atPath: "\(share)/provision.schema.json") == FileManager.default.contents(atPath: Repository.path("schema/provision.schema.json")),
                "the installed schema is the repository's")
        #expect(FileManager.default.isExecutableFile(atPath: "\(share)/validate-json"))
        // The installed validate-json finds the installed schema: an error document is one.
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        let error = try ProvisionBinary.run(["lst", "--json"], databaseURL: nil)
        try error.stdout.write(to: folder.appendingPathComponent("error.json"), atomically: true, encoding: .utf8)
        // The caller's PATH: validate-json needs the python3 that has jsonschema.
        let validate = try Self.tool("/bin/sh", ["-c", "\"$0\" ErrorDocument < error.json", "\(share)/validate-json"], in: folder,
                                     environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        #expect(validate.status == 0, "\(validate)")
        // The help and the manual name where they are, and no path of the repository.
        let help = try Self.help("").joined(separator: "\n")
        #expect(help.contains("PREFIX/share/provision/") && help.contains("provision.schema.json") && help.contains("validate-json"), "\(help)")
        #expect(try Self.manual("provision").contains("PREFIX/share/provision/"))
        for command in Self.commands {
            #expect(!(try Self.help(command).joined().contains("schema/provision.schema.json")), "provision \(command) --help names a repository path")
        }
    }

    // MARK: A flag given twice

    @Test("A flag given twice with different values is an error naming it; nothing is written",
          arguments: [["--tenantSlug", "pilot-a", "--tenantSlug", "pilot-b"],
                      ["--tenantSlug", "pilot-a", "--tenant-slug", "pilot-b"],
                      ["--tenantSlug=pilot-a", "--tenantSlug", "pilot-b"]])
    func aFlagGivenTwiceIsAnError(slugs: [String]) throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        let arguments = ["tenant", "--tenantName", "Pilot", "--ownerEmail", "owner@pilot.example.com"] + slugs
        let human = try ProvisionBinary.run(arguments, databaseURL: db.url)
        #expect(human.status == 2, "\(human)")
        #expect(human.stderr.contains("--tenantSlug is given more than once, with different values"), "\(human)")
        let json = try ProvisionBinary.run(arguments + ["--json"], databaseURL: db.url)
        #expect(json.status == 2 && json.errorCode == "invalid_input" && json.errorField == "tenantSlug", "\(json)")
        try ContractSchema.validate(json.stdout, as: .error)
        #expect(try db.rowCounts() == before)
    }

    @Test func theSameValueTwiceAndRepeatableFlagsAreFine() throws {
        let same = try ProvisionBinary.run(["tenant", "--tenantSlug", "pilot", "--tenantSlug", "pilot", "--tenantName", "Pilot",
                                            "--ownerEmail", "owner@pilot.example.com", "--dryRun", "--dryRun"], databaseURL: nil)
        #expect(same.status == 0, "\(same)")
        let folder = try Self.folderOfFiles()
        defer { try? FileManager.default.removeItem(at: folder) }
        let playbook = folder.appendingPathComponent("vars.lua")
        try #"print(provision.vars.a, provision.vars.b, arg[1], arg[2])"#.write(to: playbook, atomically: true, encoding: .utf8)
        let vars = try ProvisionBinary.run(["run", playbook.path, "--var", "a=1", "--var", "b=2", "--dryRun", "--", "--x", "--y"],
                                           databaseURL: nil)
        #expect(vars.status == 0, "\(vars)")
        #expect(vars.stdout.contains("1\t2\t--x\t--y") || vars.stderr.contains("1\t2\t--x\t--y"), "\(vars)")
    }
}
