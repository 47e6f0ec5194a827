import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// `provision batch FILE.csv` (CONTRACT §2 batch CSV, exit codes, JSON; §4): one CSV row
// per pilot, every row checked before the database is touched, each row a savepoint
// unit, passwords shown once after the commit.

@Suite("provision batch")
struct BatchTests {
    // MARK: - Per-row results

    @Test("a mixed file commits the good rows, reports the conflicting ones as failed, and exits 3")
    func mixedFile() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("taken", owner: "taken-owner@example.com", in: db)
        try ProvisionBinary.tenant("home", owner: "shared@example.com", in: db)
        try ProvisionBinary.tenant("other-home", owner: "busy@example.com", in: db)
        let file = try scratch.csv([
            fullHeader,
            "new-pilot,New Pilot,new-owner@example.com,New Owner,America/Edmonton,support@new.example.com,,",
            "linked-pilot,Linked Pilot,shared@example.com,,,,,yes",
            "taken,Taken Again,someone-new@example.com,,,,,",
            "blocked-pilot,Blocked Pilot,busy@example.com,,,,,",
        ])
        let usersBefore = try db.rowCounts()["users"]

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 3, "a batch whose rows failed exits with its first failure's code: \(result)")
        #expect(result.status(of: "new-pilot") == "created")
        #expect(result.status(of: "linked-pilot") == "created")
        #expect(result.status(of: "taken") == "failed")
        #expect(result.errorCode(of: "taken") == "slug_exists")
        #expect(result.status(of: "blocked-pilot") == "failed")
        #expect(result.errorCode(of: "blocked-pilot") == "email_exists")
        #expect(result.resultSlugs == ["new-pilot", "linked-pilot", "taken", "blocked-pilot"], "results in the file's order")
        try ContractSchema.validate(result.stdout, as: .run)
        let summary = try #require(result.json?["summary"] as? [String: Int])
        #expect(summary["created"] == 2 && summary["failed"] == 2, "\(summary)")

        // The good rows committed.
        #expect(try db.ownerEmail(of: "new-pilot") == "new-owner@example.com")
        #expect(try db.scalar("SELECT time_zone FROM tenants WHERE slug = 'new-pilot'") == "America/Edmonton")
        #expect(try db.ownerEmail(of: "linked-pilot") == "shared@example.com")
        #expect(result.owner(of: "linked-pilot")?["created"] as? Bool == false)
        #expect(try db.rowCounts()["users"] == (usersBefore ?? 0) + 1, "only new-owner@ is a new user")
        // The failed rows left nothing behind.
        #expect(try db.scalar("SELECT name FROM tenants WHERE slug = 'taken'") == "Tenant taken", "the existing tenant is untouched")
        #expect(try db.ownerEmail(of: "taken") == "taken-owner@example.com")
        #expect(try !db.userExists("someone-new@example.com"), "the failed row's new owner was rolled back")
        #expect(try !db.tenantExists("blocked-pilot"), "the failed row's tenant was not created")
        #expect(try db.count("SELECT 1 FROM audit_events WHERE detail::text LIKE '%blocked-pilot%' OR detail::text LIKE '%someone-new@%'") == 0,
                "the failed rows' audit events were rolled back with them")
    }

    @Test("a batch whose rows failed a conflict exits with its first failure's code after committing the rest")
    func firstFailureDecidesExit() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("taken", owner: "taken-owner@example.com", in: db)
        try ProvisionBinary.tenant("other", owner: "shared@example.com", in: db)
        let file = try scratch.csv([
            requiredHeader,
            "first-row,First,first@example.com",
            "mine-now,Mine,shared@example.com",
            "taken,Taken,other@example.com",
            "after-row,After,after@example.com",
        ])

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 3, "the first failure is an email conflict: \(result)")
        #expect(result.errorCode(of: "mine-now") == "email_exists", "\(result)")
        #expect(result.errorCode(of: "taken") == "slug_exists")
        #expect(result.status(of: "first-row") == "created" && result.status(of: "after-row") == "created")
        #expect(try db.ownerEmail(of: "after-row") == "after@example.com", "the rest committed")
        #expect(try !db.tenantExists("mine-now"), "the failed row left nothing")
    }

    @Test("a database error (not a conflict) ends the batch: PostgreSQL aborted its transaction, so nothing lands (exit 1), and it says so")
    func databaseErrorEndsTheBatch() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        // Row 2 fails at the database: the test holds its slug uncommitted, and the
        // batch's sessions give up waiting for that lock at once (lock_timeout).
        try db.giveUpOnLocksQuickly()
        let blocker = try db.holdSlugUncommitted("held-row")
        defer { blocker.rollback() }
        let file = try scratch.csv([requiredHeader, "before-row,Before,before@example.com", "held-row,Held,held@example.com",
                                    "after-row,After,after@example.com"])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 1 && result.errorCode == "database_error", "\(result)")
        #expect(result.errorMessage?.contains("batch.csv:3:") == true, "names the row: \(result)")
        #expect(result.errorMessage?.contains("the whole batch was rolled back and nothing was written") == true, "\(result)")
        blocker.rollback()
        #expect(try db.rowCounts() == before, "nothing written")
        #expect(Passwords.occurrences(in: result.stdout + result.stderr).isEmpty)
    }

    @Test("a batch of any size takes one transaction id: rows are isolated without a subtransaction each (conflicting rows included)")
    func oneTransactionId() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("xid-taken", owner: "xid-owner@example.com", in: db)
        let rows = (1...120).map { "xid-\($0),X \($0),owner\($0)@xid.example" } + ["xid-taken,Taken,someone@xid.example"]
        let file = try scratch.csv([requiredHeader] + rows)

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 3 && result.results.count == 121, "\(result.status)")
        // Each row's xmin is the (sub)transaction that inserted it: one for all of them.
        #expect(try db.count("SELECT DISTINCT xmin FROM tenants WHERE slug LIKE 'xid-%' AND slug <> 'xid-taken'") == 1)
        #expect(try db.count("SELECT DISTINCT xmin FROM users WHERE email LIKE '%@xid.example'") == 1)
        #expect(try db.count("SELECT DISTINCT xmin FROM audit_events WHERE (detail->>'slug' LIKE 'xid-%' AND detail->>'slug' <> 'xid-taken') OR detail->>'email' LIKE '%@xid.example'") == 1)
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug LIKE 'xid-%'") == 121)
    }

    @Test("every row succeeding exits 0 with the contract's JSON shape")
    func allRowsSucceed() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([
            requiredHeader,
            "wave-a,Wave A,owner-a@example.com",
            "wave-b,Wave B,owner-b@example.com",
        ])

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        let json = try #require(result.json, "stdout is one JSON document: \(result)")
        #expect(Set(json.keys) == ["command", "runId", "dryRun", "results", "credentials", "summary", "actions", "warnings", "credentialsFile", "revokedCredentials"])
        #expect(json["command"] as? String == "batch")
        #expect(json["dryRun"] as? Bool == false)
        #expect(json["credentialsFile"] is NSNull)
        let actions = try #require(json["actions"] as? [[String: Any]])
        #expect(actions.map { $0["kind"] as? String } == ["create_tenant", "create_user", "link_membership", "create_tenant", "create_user", "link_membership"])
        #expect((actions.first?["values"] as? [String: Any])?["name"] as? String == "Wave A", "every value to be written")
        #expect(json["warnings"] is [String])
        let results = try #require(json["results"] as? [[String: Any]])
        #expect(results.count == 2)
        for row in results {
            #expect(Set(row.keys) == ["tenant", "status", "users"], "\(Array(row.keys))")
            #expect(row["status"] as? String == "created")
            let tenant = try #require(row["tenant"] as? [String: Any])
            #expect(tenant["id"] is String)
            let users = try #require(row["users"] as? [[String: Any]])
            #expect(users.count == 1)
            #expect(users.first?["created"] as? Bool == true)
            #expect(users.first?["role"] as? String == "OWNER")
            #expect(users.first?["id"] is String)
        }
        #expect(result.credentials.map { $0["tenantSlug"] as? String } == ["wave-a", "wave-b"])
        #expect(try db.column("SELECT DISTINCT run_id::text FROM audit_events WHERE action <> 'schema.migrate'") == [json["runId"] as? String],
                "runId is the run_id of the run's audit rows")
        #expect(try db.slugs() == ["wave-a", "wave-b"])
    }

    // MARK: - Checking the whole file first

    @Test("invalid rows are all reported as FILE:LINE: field: message, counting lines inside quotes; exit 2, nothing written")
    func invalidRowsReportedWithLines() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        // Physical lines: the row starting on line 2 spans lines 2-4 (a quoted field with
        // two newlines, trimmed away as trailing whitespace), the row on 6 spans 6-7.
        let file = try scratch.write("invalid.csv", [
            "tenantSlug,tenantName,ownerEmail,ownerName,allowExistingUser",   // 1
            "good-one,\"Good One\n\n\",a@example.com,,",                       // 2-4
            "Bad-Slug,Bad Slug,b@example.com,,",                               // 5
            "good-two,\"Two\nLines\",c@example.com,,",                         // 6-7
            "good-three,Three,not-an-email,,",                                 // 8
            "good-one,Again,d@example.com,,",                                  // 9
            "good-four,\"Four, with a comma\",e@example.com,\"Owner \"\"Q\"\"\",", // 10
            "good-five,Five,f@example.com,,maybe",                             // 11
        ].joined(separator: "\n") + "\n")
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, [], in: db)

        #expect(result.status == 2, "\(result)")
        let problems = result.stderrLines.filter { $0.hasPrefix(file + ":") }
        let expected = [
            "\(file):5: tenantSlug: ",
            "\(file):6: tenantName: ",
            "\(file):8: ownerEmail: ",
            "\(file):9: tenantSlug: ",
            "\(file):11: allowExistingUser: ",
        ]
        #expect(problems.count == expected.count, "one line per problem, all at once:\n\(result.stderr)")
        for prefix in expected {
            #expect(problems.contains { $0.hasPrefix(prefix) && $0.count > prefix.count }, "expected a line starting \(prefix)\n\(result.stderr)")
        }
        #expect(problems.first { $0.hasPrefix("\(file):9:") }?.contains("line 2") == true, "the duplicate names the first line")
        #expect(!result.stderr.contains("\(file):2:"), "the row with a trailing newline inside quotes is valid")
        #expect(!result.stderr.contains("\(file):10:"), "quoted commas and escaped quotes are valid")
        #expect(try db.rowCounts() == before, "nothing was written")
    }

    @Test("with --json, a file with invalid rows is one error document (invalid_input), exit 2")
    func invalidRowsAsJSON() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "ok-row,Ok,ok@example.com", "Bad-Slug,Bad,bad@example.com"])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 2, "\(result)")
        #expect(result.errorCode == "invalid_input", "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        let problems = try #require((result.json?["error"] as? [String: Any])?["problems"] as? [[String: Any]], "\(result)")
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?["file"] as? String == file)
        #expect(problems.first?["line"] as? Int == 3)
        #expect(problems.first?["field"] as? String == "tenantSlug")
        #expect(result.errorMessage?.contains("1 problem") == true, "the message sums the problems up: \(result)")
        #expect(result.errorMessage?.contains("\n") == false, "one line; each problem is in problems[]: \(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("a quote out of place or never closed is invalid input naming FILE:LINE, in text and JSON; exit 2, nothing written")
    func malformedQuoting() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let before = try db.rowCounts()
        for (name, lines, line, words) in [
            ("stray.csv", [requiredHeader, "ok-row,Ok,ok@example.com", "bad-row,Bad \"Quote\",bad@example.com"], 3, "a quote inside a field that is not quoted"),
            ("open.csv", [requiredHeader, "ok-row,Ok,ok@example.com", "open-row,\"Open,open@example.com", "last,Last,last@example.com"], 3, "a quoted field is never closed"),
        ] {
            let file = try scratch.write(name, lines.joined(separator: "\n") + "\n")
            let text = try ProvisionBinary.batch(file, [], in: db)
            #expect(text.status == 2, "\(text)")
            #expect(text.stderr.contains("\(file):\(line): \(words)"), "\(text)")
            let json = try ProvisionBinary.batch(file, ["--json"], in: db)
            #expect(json.status == 2 && json.errorCode == "invalid_input", "\(json)")
            try ContractSchema.validate(json.stdout, as: .error)
            let problems = (json.json?["error"] as? [String: Any])?["problems"] as? [[String: Any]]
            #expect(problems?.first?["line"] as? Int == line, "\(json)")
        }
        #expect(try db.rowCounts() == before)
    }

    @Test("a file whose only problem is a slug twice in the file exits 3 (duplicate_in_batch), nothing written")
    func inFileDuplicateOnly() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([
            requiredHeader,
            "dup-pilot,First,first@example.com",
            "other-pilot,Other,other@example.com",
            "dup-pilot,Second,second@example.com",
        ])
        let before = try db.rowCounts()

        let human = try ProvisionBinary.batch(file, [], in: db)
        let json = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(human.status == 3, "\(human)")
        #expect(human.stderrLines.contains { $0.hasPrefix("\(file):4: tenantSlug: ") && $0.contains("line 2") }, "\(human)")
        #expect(json.status == 3, "\(json)")
        #expect(json.errorCode == "duplicate_in_batch", "\(json)")
        let problems = (json.json?["error"] as? [String: Any])?["problems"] as? [[String: Any]] ?? []
        #expect(problems.map { $0["line"] as? Int } == [4] && problems.first?["field"] as? String == "tenantSlug", "\(json)")
        #expect(try db.rowCounts() == before)
    }

    @Test("one new owner email on two rows without allowExistingUser is a duplicate in the batch (exit 3)")
    func inFileDuplicateOwner() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "first-pilot,First,Same@example.com", "second-pilot,Second,same@EXAMPLE.com"])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "duplicate_in_batch", "\(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("a header missing a required column exits 2, naming the column on line 1", arguments: ["tenantSlug", "tenantName", "ownerEmail"])
    func missingRequiredColumn(column: String) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let columns = ["tenantSlug", "tenantName", "ownerEmail", "ownerName"].filter { $0 != column }
        let values = columns.map { ["tenantSlug": "pilot-x", "tenantName": "Pilot X", "ownerEmail": "x@example.com", "ownerName": "X"][$0]! }
        let file = try scratch.csv([columns.joined(separator: ","), values.joined(separator: ",")])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, [], in: db)

        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("\(file):1: \(column): "), "\(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("a header with an unknown column exits 2, naming the column on line 1")
    func unknownColumn() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv(["tenantSlug,tenantName,ownerEmail,supportMail", "pilot-x,Pilot X,x@example.com,help@example.com"])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, [], in: db)

        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("\(file):1: supportMail: "), "\(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("a header naming one column twice exits 2 instead of silently using one of them")
    func duplicateColumn() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv(["tenantSlug,tenantName,ownerEmail,tenantSlug", "first-slug,Pilot,x@example.com,second-slug"])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, [], in: db)

        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("\(file):1: tenantSlug"), "\(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("a row with too few fields or an unterminated quote exits 2, naming the row's line")
    func malformedRow() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let short = try scratch.csv([requiredHeader, "ok-row,Ok,ok@example.com", "short-row,Short"], name: "short.csv")
        let unterminated = try scratch.csv([requiredHeader, "ok-row,Ok,ok@example.com", "bad-row,\"Unterminated,b@example.com", "last-row,Last,l@example.com"],
                                           name: "unterminated.csv")
        let before = try db.rowCounts()

        let shortResult = try ProvisionBinary.batch(short, [], in: db)
        let unterminatedResult = try ProvisionBinary.batch(unterminated, [], in: db)

        #expect(shortResult.status == 2, "\(shortResult)")
        #expect(shortResult.stderr.contains("\(short):3:"), "\(shortResult)")
        #expect(unterminatedResult.status == 2, "\(unterminatedResult)")
        #expect(unterminatedResult.stderr.contains("\(unterminated):3:"), "\(unterminatedResult)")
        #expect(try db.rowCounts() == before)
    }

    // MARK: - CSV parsing

    @Test("quoted fields keep their commas and escaped quotes")
    func quotedCommasAndQuotes() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([
            "tenantSlug,tenantName,ownerEmail,ownerName,supportPhone",
            "acme-north,\"Acme, \"\"North\"\" Campus\",jo@example.com,\"Smith, Jo \"\"JJ\"\"\",\"+1 (555) 123-4567\"",
        ])

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 0, "\(result)")
        #expect(try db.scalar("SELECT name FROM tenants WHERE slug = 'acme-north'") == "Acme, \"North\" Campus")
        #expect(try db.scalar("SELECT name FROM users WHERE email = 'jo@example.com'") == "Smith, Jo \"JJ\"")
        #expect(try db.scalar("SELECT support_phone FROM tenants WHERE slug = 'acme-north'") == "+1 (555) 123-4567")
    }

    @Test("a newline inside quotes stays in its field: it does not start a row")
    func newlineInsideQuotes() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        // Trailing newlines are trimmed like other surrounding whitespace; had the reader
        // split the row there, the row would have too few fields.
        let file = try scratch.write("newline.csv", "tenantSlug,tenantName,ownerEmail\nnl-pilot,\"North\nSide\",nl@example.com\nnl-other,\"Trailing\n\",other@example.com\n")
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, [], in: db)

        // "North\nSide" holds a control character, which names refuse (CONTRACT §3):
        // the message names the field on the row's first line.
        #expect(result.status == 2, "\(result)")
        #expect(result.stderrLines.contains { $0.hasPrefix("\(file):2: tenantName: ") && $0.contains("control character") }, "\(result)")
        #expect(result.stderrLines.filter { $0.hasPrefix(file + ":") }.count == 1,
                "one problem only (no row-shape error): the quoted newline was read as part of a field\n\(result.stderr)")
        #expect(try db.rowCounts() == before)

        let fixed = try scratch.write("fixed.csv", "tenantSlug,tenantName,ownerEmail\nnl-other,\"Trailing\n\",other@example.com\n")
        let accepted = try ProvisionBinary.batch(fixed, [], in: db)
        #expect(accepted.status == 0, "\(accepted)")
        #expect(try db.scalar("SELECT name FROM tenants WHERE slug = 'nl-other'") == "Trailing")
    }

    @Test("a UTF-8 BOM and CRLF line ends are accepted")
    func bomAndCRLF() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let text = "tenantSlug,tenantName,ownerEmail,ownerName\r\n"
            + "crlf-one,\"Acme, \"\"North\"\"\",one@example.com,Owner One\r\n"
            + "crlf-two,\"Two\r\n\",two@example.com,\r\n"
        let file = try scratch.write("bom.csv", bytes: [0xEF, 0xBB, 0xBF] + Array(text.utf8))

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 0, "\(result)")
        #expect(try db.slugs() == ["crlf-one", "crlf-two"])
        #expect(try db.scalar("SELECT name FROM tenants WHERE slug = 'crlf-one'") == "Acme, \"North\"")
        #expect(try db.scalar("SELECT name FROM users WHERE email = 'one@example.com'") == "Owner One", "no \\r left on the last field")
        #expect(try db.scalar("SELECT name FROM tenants WHERE slug = 'crlf-two'") == "Two")
        #expect(try db.scalar("SELECT count(*) FROM users WHERE email LIKE '%\r%' OR name LIKE '%\r%'") == "0")
    }

    @Test("allowExistingUser takes true/yes/1 and false/no/0/empty",
          arguments: [("true", true), ("yes", true), ("1", true), ("false", false), ("no", false), ("0", false), ("", false)])
    func allowExistingUserValues(value: String, allows: Bool) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("home", owner: "shared@example.com", in: db)
        let file = try scratch.csv(["tenantSlug,tenantName,ownerEmail,allowExistingUser", "second-home,Second Home,shared@example.com,\(value)"])

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        if allows {
            #expect(result.status == 0, "\(result)")
            #expect(result.status(of: "second-home") == "created")
            #expect(try db.ownerEmail(of: "second-home") == "shared@example.com")
            #expect(try db.count("SELECT 1 FROM users") == 1, "the existing user was linked, no user created")
        } else {
            #expect(result.status == 3, "\(result)")
            #expect(result.errorCode(of: "second-home") == "email_exists")
            #expect(try !db.tenantExists("second-home"))
        }
    }

    // MARK: - --stopOnError

    @Test("--stopOnError: the first failure rolls back every row and the exit is the failure's code")
    func stopOnError() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("taken", owner: "taken-owner@example.com", in: db)
        let file = try scratch.csv([
            requiredHeader,
            "stop-one,Stop One,one@example.com",
            "taken,Taken,two@example.com",
            "stop-three,Stop Three,three@example.com",
        ])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--stopOnError", "--json"], in: db)

        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "slug_exists", "\(result)")
        #expect(try db.rowCounts() == before, "no row from the file landed")
        #expect(Passwords.occurrences(in: result.stdout + result.stderr).isEmpty, "no password shown for a rolled-back run")
    }

    @Test("--stopOnError: an email conflict exits 3 (email_exists) with nothing written")
    func stopOnErrorEmailConflict() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("home", owner: "busy@example.com", in: db)
        let file = try scratch.csv([requiredHeader, "stop-one,Stop One,one@example.com", "stop-two,Stop Two,busy@example.com"])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--stopOnError", "--json"], in: db)

        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "email_exists", "\(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("--stopOnError: a database error on a row exits 1 (database_error) with nothing written")
    func stopOnErrorDatabaseError() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try db.giveUpOnLocksQuickly()
        let blocker = try db.holdSlugUncommitted("held-row")
        let file = try scratch.csv([requiredHeader, "first-row,First,first@example.com", "held-row,Held,held@example.com"])

        let result = try ProvisionBinary.batch(file, ["--stopOnError", "--json"], in: db)
        blocker.rollback()

        #expect(result.status == 1, "\(result)")
        #expect(result.errorCode == "database_error", "\(result)")
        #expect(try db.slugs().isEmpty, "no row from the file landed")
    }

    // MARK: - --skipExisting

    @Test("--skipExisting re-run of a committed file: every row unchanged, exit 0, nothing written, no passwords",
          arguments: [false, true])
    func skipExistingReRun(json: Bool) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("home", owner: "shared@example.com", in: db)
        let file = try scratch.csv([
            "tenantSlug,tenantName,ownerEmail,allowExistingUser",
            "rerun-one,Rerun One,one@example.com,",
            "rerun-two,Rerun Two,shared@example.com,yes",
        ])
        let first = try ProvisionBinary.batch(file, [], in: db)
        try #require(first.status == 0, "\(first)")
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--skipExisting"] + (json ? ["--json"] : []), in: db)

        #expect(result.status == 0, "\(result)")
        if json {
            try ContractSchema.validate(result.stdout, as: .run)
            #expect(result.status(of: "rerun-one") == "unchanged", "\(result)")
            #expect(result.owner(of: "rerun-two")?["email"] as? String == "shared@example.com", "\(result)")
            #expect((result.json?["summary"] as? [String: Int])?["unchanged"] == 2, "\(result)")
            #expect(result.status(of: "rerun-two") == "unchanged", "\(result)")
            #expect(result.results.count == 2)
        } else {
            #expect(result.stdout.contains("unchanged"), "\(result)")
            #expect(!result.stdout.contains("created"), "\(result)")
        }
        #expect(try db.rowCounts() == before, "nothing new written, audit_events included")
        #expect(Passwords.occurrences(in: result.stdout + result.stderr).isEmpty, "no password shown\n\(result)")
    }

    @Test("--skipExisting provisions the rows that are new and keeps the existing ones")
    func skipExistingWithNewRows() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("kept", owner: "kept@example.com", in: db)
        let file = try scratch.csv([requiredHeader, "kept,Tenant kept,kept@example.com", "fresh,Fresh,fresh@example.com"])

        let result = try ProvisionBinary.batch(file, ["--skipExisting", "--json"], in: db)

        #expect(result.status == 0, "\(result)")
        #expect(result.status(of: "kept") == "unchanged")
        #expect(result.status(of: "fresh") == "created")
        #expect(try db.ownerEmail(of: "fresh") == "fresh@example.com")
    }

    @Test("--skipExisting still refuses a tenant whose OWNER is someone else (slug_exists, exit 3)")
    func skipExistingOtherOwner() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("theirs", owner: "them@example.com", in: db)
        let file = try scratch.csv([requiredHeader, "theirs,Theirs,me@example.com"])

        let result = try ProvisionBinary.batch(file, ["--skipExisting", "--json"], in: db)

        #expect(result.status == 3, "\(result)")
        #expect(result.status(of: "theirs") == "failed")
        #expect(result.errorCode(of: "theirs") == "slug_exists")
        #expect(try !db.userExists("me@example.com"))
    }

    // MARK: - --dryRun

    @Test("--dryRun plans every row without writing (status planned, exit 0, no password)")
    func dryRunPlans() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("home", owner: "shared@example.com", in: db)
        let file = try scratch.csv([
            "tenantSlug,tenantName,ownerEmail,allowExistingUser",
            "plan-one,Plan One,one@example.com,",
            "plan-two,Plan Two,one@example.com,yes",
            "plan-three,Plan Three,shared@example.com,true",
        ])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--dryRun", "--json"], in: db)

        #expect(result.status == 0, "\(result)")
        #expect(result.json?["dryRun"] as? Bool == true)
        #expect(result.results.map { $0["status"] as? String } == ["planned", "planned", "planned"], "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.owner(of: "plan-two")?["created"] as? Bool == false, "row 2 links the owner row 1 plans")
        #expect(result.credentials.isEmpty, "a dry run issues no password")
        #expect(try db.rowCounts() == before, "nothing was written")
        #expect(Passwords.occurrences(in: result.stdout + result.stderr).isEmpty)
    }

    @Test("--dryRun detects conflicts with the database (slug_exists, email_exists) and exits 3, writing nothing")
    func dryRunDatabaseConflicts() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("taken", owner: "busy@example.com", in: db)
        let file = try scratch.csv([
            requiredHeader,
            "plan-ok,Plan Ok,ok@example.com",
            "taken,Taken,new@example.com",
            "plan-busy,Plan Busy,busy@example.com",
        ])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--dryRun", "--json"], in: db)

        #expect(result.status == 3, "\(result)")
        #expect(result.status(of: "plan-ok") == "planned")
        #expect(result.errorCode(of: "taken") == "slug_exists")
        #expect(result.errorCode(of: "plan-busy") == "email_exists")
        #expect(try db.rowCounts() == before)
    }

    @Test("--dryRun detects conflicts within the run (one slug on two rows): exit 3, duplicate_in_batch")
    func dryRunInRunConflict() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "twice,Once,a@example.com", "twice,Twice,b@example.com"])
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--dryRun", "--json"], in: db)

        #expect(result.status == 3, "\(result)")
        #expect(result.errorCode == "duplicate_in_batch", "\(result)")
        #expect(try db.rowCounts() == before)
    }

    @Test("--dryRun without DATABASE_URL still validates every row and says conflict checks were skipped",
          arguments: [[], ["--skipExisting"]])
    func dryRunWithoutDatabase(extra: [String]) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "nodb-one,One,one@example.com", "nodb-two,Two,two@example.com"])

        let result = try ProvisionBinary.batch(file, ["--dryRun", "--json"] + extra, in: nil)

        #expect(result.status == 0, "\(result)")
        #expect(result.results.map { $0["status"] as? String } == ["planned", "planned"], "\(result)")
        #expect((result.json?["warnings"] as? [String])?.contains { $0.contains("DATABASE_URL") } == true, "\(result)")
    }

    @Test("--dryRun without DATABASE_URL still reports invalid rows (exit 2)")
    func dryRunWithoutDatabaseInvalid() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "Bad-Slug,One,one@example.com"])

        let result = try ProvisionBinary.batch(file, ["--dryRun"], in: nil)

        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("\(file):2: tenantSlug: "), "\(result)")
    }

    // MARK: - Passwords

    @Test("--credentialsFile: a new 0600 CSV with one verifiable password per new owner; none on stdout or in the JSON",
          arguments: [false, true])
    func credentialsFile(json: Bool) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("home", owner: "shared@example.com", in: db)
        let file = try scratch.csv([
            "tenantSlug,tenantName,ownerEmail,allowExistingUser",
            "cred-one,Cred One,one@example.com,",
            "cred-two,Cred Two,two@example.com,",
            "cred-linked,Cred Linked,shared@example.com,yes",
        ])
        let credentials = scratch.path("passwords.csv")

        let result = try ProvisionBinary.batch(file, ["--credentialsFile", credentials] + (json ? ["--json"] : []), in: db)

        #expect(result.status == 0, "\(result)")
        let attributes = try FileManager.default.attributesOfItem(atPath: credentials)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "mode 0600")
        let rows = parseCSV(try String(contentsOfFile: credentials, encoding: .utf8))
        try #require(rows.count == 3, "a header and one row per new owner: \(rows)")
        #expect(rows[0] == ["tenantSlug", "email", "oneTimePassword", "expiresAt"])
        let byEmail = Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0[1], $0) })
        #expect(Set(byEmail.keys) == ["one@example.com", "two@example.com"], "no row for the linked existing owner")
        for (email, slug) in [("one@example.com", "cred-one"), ("two@example.com", "cred-two")] {
            let row = try #require(byEmail[email])
            #expect(row[0] == slug)
            #expect(Passwords.isShaped(row[2]), "\(row)")
            #expect(!row[3].isEmpty, "expiresAt is set")
            let hash = try #require(try db.passwordHash(of: email))
            #expect(PasswordHash.verify(row[2], against: hash), "the file's password verifies against users.password_hash")
            #expect(!result.stdout.contains(row[2]) && !result.stderr.contains(row[2]), "the password is only in the file")
        }
        #expect(Passwords.occurrences(in: result.stdout + result.stderr).isEmpty, "\(result)")
        if json {
            try ContractSchema.validate(result.stdout, as: .run)
            #expect(result.credentials.isEmpty, "the passwords went to the file: \(result)")
            #expect(result.json?["credentialsFile"] as? String == credentials)
        }
    }

    @Test("--credentialsFile holds the committed rows' passwords when other rows failed (exit 3)")
    func credentialsFileWithFailedRows() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("taken", owner: "taken-owner@example.com", in: db)
        let file = try scratch.csv([requiredHeader, "cred-new,Cred New,new@example.com", "taken,Taken,other@example.com"])
        let credentials = scratch.path("passwords.csv")

        let result = try ProvisionBinary.batch(file, ["--credentialsFile", credentials], in: db)

        #expect(result.status == 3, "\(result)")
        let rows = parseCSV((try? String(contentsOfFile: credentials, encoding: .utf8)) ?? "")
        try #require(rows.count == 2, "the header and the committed row: \(rows)")
        #expect(rows[1][0] == "cred-new" && rows[1][1] == "new@example.com")
        let hash = try #require(try db.passwordHash(of: "new@example.com"))
        #expect(PasswordHash.verify(rows[1][2], against: hash))
        #expect(!rows.contains { $0.contains("other@example.com") }, "no password for a rolled-back owner")
    }

    @Test("--credentialsFile naming an existing file is refused with exit 2 before anything runs")
    func credentialsFileExists() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "cred-one,Cred One,one@example.com"])
        let credentials = try scratch.write("passwords.csv", "keep me\n")
        let before = try db.rowCounts()

        let result = try ProvisionBinary.batch(file, ["--credentialsFile", credentials, "--json"], in: db)

        #expect(result.status == 2, "\(result)")
        #expect(result.errorCode == "invalid_input", "\(result)")
        #expect(result.errorField == "credentialsFile", "\(result)")
        #expect(try db.rowCounts() == before, "nothing was written")
        #expect(try String(contentsOfFile: credentials, encoding: .utf8) == "keep me\n", "never overwritten")
        #expect(!result.stderr.contains("[0/1]"), "refused before any row ran")
    }

    @Test("--credentialsFile is not left behind when the batch rolls back (--stopOnError)")
    func credentialsFileNotCreatedOnRollback() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("taken", owner: "taken-owner@example.com", in: db)
        let file = try scratch.csv([requiredHeader, "cred-one,Cred One,one@example.com", "taken,Taken,two@example.com"])
        let credentials = scratch.path("passwords.csv")

        let result = try ProvisionBinary.batch(file, ["--credentialsFile", credentials, "--stopOnError"], in: db)

        #expect(result.status == 3, "\(result)")
        #expect(!FileManager.default.fileExists(atPath: credentials))
    }

    @Test("--credentialsFile with --dryRun creates no file")
    func credentialsFileDryRun() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "cred-one,Cred One,one@example.com"])
        let credentials = scratch.path("passwords.csv")

        let result = try ProvisionBinary.batch(file, ["--credentialsFile", credentials, "--dryRun"], in: db)

        #expect(result.status == 0, "\(result)")
        #expect(!FileManager.default.fileExists(atPath: credentials))
    }

    @Test("without --credentialsFile each new owner's password is on stdout exactly once, verifies, and never reaches stderr")
    func passwordsOnStdout() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("home", owner: "shared@example.com", in: db)
        let file = try scratch.csv([
            "tenantSlug,tenantName,ownerEmail,allowExistingUser",
            "show-one,Show One,one@example.com,",
            "show-two,Show Two,two@example.com,",
            "show-linked,Show Linked,shared@example.com,yes",
        ])

        let result = try ProvisionBinary.batch(file, [], in: db)

        #expect(result.status == 0, "\(result)")
        let shown = Passwords.occurrences(in: result.stdout)
        #expect(shown.count == 2, "one password per new owner, none for the linked one:\n\(result.stdout)")
        #expect(Set(shown).count == shown.count, "each shown exactly once")
        for email in ["one@example.com", "two@example.com"] {
            let line = result.stdout.split(separator: "\n").first { $0.contains(email) && !Passwords.occurrences(in: String($0)).isEmpty }
            let password = try #require(line.flatMap { Passwords.occurrences(in: String($0)).first }, "a password line for \(email)\n\(result.stdout)")
            let hash = try #require(try db.passwordHash(of: email))
            #expect(PasswordHash.verify(password, against: hash), "\(email)'s printed password verifies")
        }
        #expect(Passwords.occurrences(in: result.stderr).isEmpty, "no password on stderr")
    }

    @Test("without --credentialsFile, --json has each new owner's password once in credentials[]")
    func passwordsInJSON() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("home", owner: "shared@example.com", in: db)
        let file = try scratch.csv([
            "tenantSlug,tenantName,ownerEmail,allowExistingUser",
            "show-one,Show One,one@example.com,",
            "show-two,Show Two,two@example.com,",
            "show-linked,Show Linked,shared@example.com,yes",
        ])

        let result = try ProvisionBinary.batch(file, ["--json"], in: db)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        for (slug, email) in [("show-one", "one@example.com"), ("show-two", "two@example.com")] {
            let owner = try #require(result.owner(of: slug), "\(result)")
            #expect(owner["created"] as? Bool == true)
            let credential = try #require(result.credentials.first { $0["email"] as? String == email }, "\(result)")
            #expect(credential["tenantSlug"] as? String == slug)
            #expect(credential["userId"] as? String == owner["id"] as? String)
            let password = try #require(credential["oneTimePassword"] as? String, "\(credential)")
            #expect(result.stdout.components(separatedBy: password).count == 2, "shown exactly once")
            let hash = try #require(try db.passwordHash(of: email))
            #expect(PasswordHash.verify(password, against: hash))
        }
        #expect(result.owner(of: "show-linked")?["created"] as? Bool == false)
        #expect(result.password(of: "shared@example.com") == nil, "a linked existing owner gets no password")
        #expect(result.credentials.count == 2)
        for password in Passwords.occurrences(in: result.stdout) {
            #expect(try db.count("SELECT 1 FROM audit_events WHERE detail::text LIKE \(literal("%" + password + "%"))") == 0,
                    "no password in audit rows")
        }
        #expect(Passwords.occurrences(in: result.stdout).count == 2)
        #expect(Passwords.occurrences(in: result.stderr).isEmpty)
    }
}
