import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §9: human-readable output never writes raw control characters from data. A
// check's message, a tenant name stored by the platform, a CSV cell or header, a
// playbook's log line: each may carry an escape sequence that retitles the terminal,
// clears it, or moves the cursor up to overwrite the line above with a forged "✓"; a
// newline that starts a line of its own; a bidi override that makes text read backwards.
// Human output shows them escaped (`\u{1B}`, `\n`); JSON keeps the exact data, with
// what a JSON encoder leaves raw (C1 controls, bidi overrides) as `\uXXXX` escapes.

/// Escape sequences an attacker would put into data, all at once.
enum Hostile {
    static let title = "\u{1B}]0;pwned\u{07}"
    static let clear = "\u{1B}[2J"
    /// A line break, then "cursor up, erase line" and a forged passing check.
    static let forgedLine = "\n  \u{1B}[1A\u{1B}[2K✓ forged check passed"
    static let bidi = "\u{202E}desrever"
    static let c1 = "\u{9B}31m"

    /// All of the above inside one value.
    static func value(_ prefix: String) -> String { prefix + title + clear + bidi + c1 + forgedLine }
}

/// The control and format characters in `text` that a terminal would act on: every C0
/// control but the line breaks and tabs of the tool's own layout, DEL, C1 controls, line
/// and paragraph separators, and format characters (bidi overrides, zero-width, …).
func rawControls(in text: String) -> [String] {
    text.unicodeScalars.filter { scalar in
        if scalar == "\n" || scalar == "\t" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }.map { "U+" + String($0.value, radix: 16, uppercase: true) }
}

/// No raw control in either stream, and no line that starts like the forged check.
func expectNothingRaw(_ result: ProvisionBinary.Result, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(rawControls(in: result.stdout).isEmpty, "stdout holds raw \(rawControls(in: result.stdout)): \(result)",
            sourceLocation: sourceLocation)
    #expect(rawControls(in: result.stderr).isEmpty, "stderr holds raw \(rawControls(in: result.stderr)): \(result)",
            sourceLocation: sourceLocation)
    for line in (result.stdout + "\n" + result.stderr).split(separator: "\n") {
        #expect(!line.trimmingCharacters(in: .whitespaces).hasPrefix("✓ forged"), "a forged line of its own: \(line)",
                sourceLocation: sourceLocation)
    }
}

@Suite("Data never reaches a terminal raw: control and format characters are shown escaped")
struct TerminalEscapeTests {
    // MARK: - provision check

    @Test("a check's title and message with escape sequences, a forged line and a bidi override are shown escaped, one line per check; JSON keeps them exact")
    func checkMessage() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("escapes", owner: "owner@escapes.example.com", in: db)
        // Lua's decimal escapes spell the same bytes as `Hostile.value`.
        try scratch.write("checks/hostile.lua", """
            return {
              id = "hostile",
              title = "Hostile \\27]0;pwned\\7 title",
              run = function(ctx)
                ctx.pass("fine\\27]0;pwned\\7\\27[2J\\226\\128\\174desrever\\194\\15531m\\n  \\27[1A\\27[2K✓ forged check passed")
              end,
            }
            """)
        let expectedMessage = Hostile.value("fine")

        let human = try ProvisionBinary.run(["check", "--tenantSlug", "escapes", "--checks", scratch.path("checks")], databaseURL: db.url)

        #expect(human.status == 1, "the built-in catalog check fails on a fresh tenant: \(human)")
        expectNothingRaw(human)
        let line = try #require(human.stdout.split(separator: "\n").first { $0.contains("Hostile") }, "\(human)")
        #expect(line.hasPrefix("  ✓ hostile "), "the check's id first: \(line)")
        #expect(line.contains("  Hostile \\u{1B}]0;pwned\\u{07} title  "), "the title escaped: \(line)")
        #expect(line.hasSuffix("fine\\u{1B}]0;pwned\\u{07}\\u{1B}[2J\\u{202E}desrever\\u{9B}31m\\n  \\u{1B}[1A\\u{1B}[2K✓ forged check passed"),
                "the whole message on the check's own line, escaped: \(line)")
        let checkLines = human.stdout.split(separator: "\n").filter { ["✓", "!", "✗", "E"].contains($0.dropFirst(2).first.map(String.init)) }
        #expect(checkLines.count == builtInChecks.count + 1, "one line per check: \(human)")

        let json = try ProvisionBinary.check("escapes", ["--checks", scratch.path("checks")], in: db)
        expectNothingRaw(json)
        #expect(json.checkMessage("hostile") == expectedMessage, "JSON holds the exact message: \(json)")
        #expect(json.check("hostile")?["title"] as? String == "Hostile \(Hostile.title) title")
    }

    @Test("--json writes DEL, C1 controls and line separators as \\u escapes: nothing raw, the data exact")
    func jsonEscapesWhatEncodersLeaveRaw() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("escapes", owner: "owner@escapes.example.com", in: db)
        // DEL, NEL (C1), LINE SEPARATOR, RIGHT-TO-LEFT OVERRIDE, as Lua decimal escapes.
        try scratch.write("checks/raw.lua", CheckModule.source(id: "raw", run: #"    ctx.pass("a\127b\194\133c\226\128\168d\226\128\174e")"#))

        let json = try ProvisionBinary.check("escapes", ["--checks", scratch.path("checks")], in: db)

        expectNothingRaw(json)
        #expect(json.stdout.contains(#""a\u007fb\u0085c\u2028d\u202ee""#), "each as a \\u escape: \(json)")
        #expect(json.checkMessage("raw") == "a\u{7F}b\u{85}c\u{2028}d\u{202E}e", "the data is exact: \(json)")
        try ContractSchema.validate(json.stdout, as: .check)
    }

    @Test("a tenant name stored by the platform with escape sequences is shown escaped in the check report; JSON keeps it exact")
    func tenantNameFromTheDatabase() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("stored", owner: "owner@stored.example.com", in: db)
        // Validation refuses such a name; the platform's own writes do not go through it.
        let name = Hostile.value("Stored")
        try db.connect().run("UPDATE tenants SET name = \(name) WHERE slug = 'stored'")

        let human = try ProvisionBinary.run(["check", "--tenantSlug", "stored"], databaseURL: db.url)

        expectNothingRaw(human)
        let header = try #require(human.stdout.split(separator: "\n").first, "\(human)")
        #expect(header == "Go-live checks for stored (Stored\\u{1B}]0;pwned\\u{07}\\u{1B}[2J\\u{202E}desrever\\u{9B}31m\\n  \\u{1B}[1A\\u{1B}[2K✓ forged check passed):",
                "\(human)")

        let json = try ProvisionBinary.check("stored", in: db)
        expectNothingRaw(json)
        #expect((json.json?["tenant"] as? [String: Any])?["name"] as? String == name, "\(json)")
    }

    @Test("a check that reports a group name from the platform's tables shows it escaped")
    func groupNameFromTheDatabase() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("groups", owner: "owner@groups.example.com", in: db)
        let name = Hostile.value("Group")
        let connection = try db.connect()
        try connection.run("INSERT INTO centers (tenant_id, name) SELECT id, 'Main' FROM tenants WHERE slug = 'groups'")
        try connection.run("INSERT INTO programs (tenant_id, name) SELECT id, 'Swim' FROM tenants WHERE slug = 'groups'")
        try connection.run("""
            INSERT INTO "groups" (tenant_id, name, center_id, program_id)
            SELECT c.tenant_id, \(name), c.id, p.id FROM centers c JOIN programs p ON p.tenant_id = c.tenant_id
            """)
        try scratch.write("checks/group-names.lua", CheckModule.source(id: "group-names", run: """
                local rows = ctx.query('SELECT name FROM "groups" WHERE tenant_id = $1', ctx.tenant.id)
                ctx.pass("groups: " .. rows[1].name)
            """))

        let human = try ProvisionBinary.run(["check", "--tenantSlug", "groups", "--checks", scratch.path("checks")], databaseURL: db.url)

        expectNothingRaw(human)
        #expect(human.stdout.contains("groups: Group\\u{1B}]0;pwned\\u{07}\\u{1B}[2J"), "\(human)")
        let json = try ProvisionBinary.check("groups", ["--checks", scratch.path("checks")], in: db)
        #expect(json.checkMessage("group-names") == "groups: " + name, "\(json)")
    }

    // MARK: - provision batch

    @Test("CSV problems quoting a cell or a header with escape sequences are shown escaped, one line per problem; exit 2, nothing written")
    func csvProblems() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let header = Hostile.value("extra")
        let slug = Hostile.value("bad")
        let email = Hostile.value("owner") + "@example.com"
        // The header spans lines 1-2 (a quoted newline), so the row starts on line 3 and
        // spans 3-4.
        let file = try scratch.write("hostile.csv",
                                     "tenantSlug,tenantName,ownerEmail,\"\(header)\"\n\"\(slug)\",\"\(Hostile.value("Name"))\",\"\(email)\",\n")
        let before = try db.rowCounts()

        let human = try ProvisionBinary.batch(file, [], in: db)

        #expect(human.status == 2, "\(human)")
        expectNothingRaw(human)
        let problems = human.stderrLines.filter { $0.hasPrefix(file + ":") }
        #expect(problems.count == 4, "one line per problem (header, slug, name, email): \(human)")
        #expect(problems.contains { $0.hasPrefix("\(file):1: extra\\u{1B}]0;pwned\\u{07}\\u{1B}[2J\\u{202E}desrever\\u{9B}31m\\n  \\u{1B}[1A") && $0.hasSuffix("unknown column; the columns are tenantSlug, tenantName, ownerEmail, ownerName, timeZone, supportEmail, supportPhone, allowExistingUser") },
                "\(human)")
        #expect(problems.contains { $0.hasPrefix("\(file):3: tenantSlug: 'bad\\u{1B}]0;pwned\\u{07}") }, "\(human)")
        #expect(problems.contains { $0.hasPrefix("\(file):3: tenantName: ") }, "\(human)")
        #expect(problems.contains { $0.hasPrefix("\(file):3: ownerEmail: 'owner\\u{1B}]0;pwned\\u{07}") }, "\(human)")
        #expect(try db.rowCounts() == before, "nothing written")

        let json = try ProvisionBinary.batch(file, ["--json"], in: db)
        #expect(json.status == 2)
        #expect(json.errorCode == "invalid_input", "\(json)")
        try ContractSchema.validate(json.stdout, as: .error)
        let listed = (json.json?["error"] as? [String: Any])?["problems"] as? [[String: Any]] ?? []
        #expect(listed.map { $0["line"] as? Int } == [1, 3, 3, 3], "each problem in problems[], a line break in a value kept: \(json)")
        #expect(listed.contains { ($0["message"] as? String)?.contains("'\(slug)'") == true }, "JSON holds the exact cell: \(json)")
        #expect((listed.first?["message"] as? String)?.contains(header) == true, "JSON holds the exact header: \(json)")
        expectNothingRaw(json)
        #expect(try db.rowCounts() == before, "nothing written")
    }

    @Test("a header named twice with escape sequences in the name is reported escaped on one line; exit 2, nothing written")
    func duplicateHostileHeader() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let name = Hostile.value("twice")
        let file = try scratch.write("twice.csv", "tenantSlug,tenantName,ownerEmail,\"\(name)\",\"\(name)\"\na-pilot,A,a@example.com,,\n")
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, [], in: db)

        #expect(result.status == 2, "\(result)")
        expectNothingRaw(result)
        #expect(result.stderrLines.contains { $0.hasPrefix("error: \(file):1: twice\\u{1B}]0;pwned") && $0.hasSuffix("the header names this column twice") },
                "\(result)")
        #expect(try db.rowCounts() == before, "nothing written")
    }

    @Test("rows of the wrong shape are still reported one per line, FILE:LINE first")
    func rowShapeProblemsStayOnePerLine() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "short,row", "good-one,Good,good@example.com", "long,row,x@example.com,extra"])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, [], in: db)

        #expect(result.status == 2, "\(result)")
        #expect(result.stderrLines.contains { $0.hasPrefix("\(file):2: row: the row has 2 fields") }, "\(result)")
        #expect(result.stderrLines.contains { $0.hasPrefix("\(file):4: row: the row has 4 fields") }, "\(result)")
        #expect(result.stderrLines.contains { $0 == "error: \(file): 2 problems in the file; nothing was written" }, "\(result)")
        // The JSON error carries them as data, each with its line.
        let json = try ProvisionBinary.batch(file, ["--json"], in: db)
        try ContractSchema.validate(json.stdout, as: .error)
        let problems = ((json.json?["error"] as? [String: Any])?["problems"] as? [[String: Any]]) ?? []
        #expect(problems.compactMap { $0["line"] as? Int } == [2, 4], "\(json)")
        #expect(try db.rowCounts() == before, "nothing written")
    }

    @Test("an existing Owner whose name in the database holds escape sequences is shown escaped in the batch and tenant reports")
    func existingOwnerName() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let name = Hostile.value("Owner")
        try db.connect().run("INSERT INTO users (email, name) VALUES ('shared@example.com', \(name))")
        let file = try scratch.csv([requiredHeader + ",allowExistingUser", "linked-one,Linked One,shared@example.com,yes"])

        let batch = try ProvisionBinary.batch(file, [], in: db)
        #expect(batch.status == 0, "\(batch)")
        expectNothingRaw(batch)

        let tenant = try ProvisionBinary.run(["tenant", "--tenantSlug", "linked-two", "--tenantName", "Linked Two",
                                              "--ownerEmail", "shared@example.com", "--allowExistingUser"], databaseURL: db.url)
        #expect(tenant.status == 0, "\(tenant)")
        expectNothingRaw(tenant)
        #expect(tenant.stdout.contains("\"Owner\\u{1B}]0;pwned\\u{07}\\u{1B}[2J"), "the stored name, escaped: \(tenant)")

        let json = try ProvisionBinary.run(["tenant", "--tenantSlug", "linked-three", "--tenantName", "Linked Three",
                                            "--ownerEmail", "shared@example.com", "--allowExistingUser", "--json"], databaseURL: db.url)
        let owner = ((json.json?["results"] as? [[String: Any]])?.first?["users"] as? [[String: Any]])?.first
        #expect(owner?["name"] as? String == name, "JSON holds the exact name: \(json)")
    }

    // MARK: - provision run

    @Test("a playbook's log lines, print, warnings and error are shown escaped, each on its own line")
    func playbookOutput() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let hostile = #"\27]0;pwned\7\27[2J\226\128\174desrever\194\15531m\n  \27[1A\27[2K✓ forged check passed"#
        let playbook = try scratch.write("hostile.lua", """
            local p = require "provision"
            p.log("log" .. "\(hostile)", "second")
            print("print" .. "\(hostile)")
            p.warn("warn" .. "\(hostile)")
            -- (line 5 left as it was: the error below is expected on line 7)
            p.createTenant{ slug = "never-lands", name = "Never" }
            error("boom" .. "\(hostile)")
            """)
        let before = try db.rowCounts()

        for json in [false, true] {
            let result = try ProvisionBinary.run(["run", playbook] + (json ? ["--json"] : []), databaseURL: db.url)
            #expect(result.status == 1, "\(result)")
            expectNothingRaw(result)
            let escaped = "\\u{1B}]0;pwned\\u{07}\\u{1B}[2J\\u{202E}desrever\\u{9B}31m\\n  \\u{1B}[1A\\u{1B}[2K✓ forged check passed"
            #expect(result.stderrLines.contains("log\(escaped)\tsecond"), "one log line, its tab kept: \(result)")
            #expect(result.stderrLines.contains("print\(escaped)"), "\(result)")
            // Lua shortens a long chunk name from the left: match the end of the location.
            if json {
                #expect(result.errorMessage?.hasSuffix("hostile.lua:7: boom" + Hostile.value("")) == true, "JSON holds the exact message: \(result)")
            } else {
                #expect(result.stderrLines.contains("warning: warn\(escaped)"), "\(result)")
                #expect(result.stderrLines.contains { $0.hasPrefix("error: ") && $0.hasSuffix("hostile.lua:7: boom\(escaped)") }, "\(result)")
            }
        }
        #expect(try db.rowCounts() == before, "nothing written")
    }
}
