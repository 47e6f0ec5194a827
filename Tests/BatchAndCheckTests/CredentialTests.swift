import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// CONTRACT §8 "Credentials", through the binary against a real PostgreSQL: a one-time
// password can always be reissued (`provision reset-password`, `p.resetPassword`), and no
// path loses a committed one silently.

extension TestDatabase {
    /// The user's row as the platform sees it.
    func passwordRow(of email: String) throws -> (hash: String?, mustChange: Bool, expiresInHours: Double?) {
        let rows = try connect().run(fixture: """
            SELECT password_hash, must_change_password::text AS must,
                   (extract(epoch FROM password_expires_at - now()) / 3600)::text AS hours
            FROM users WHERE lower(email) = lower(\(literal(email)))
            """)
        let row = try #require(rows.first, "user \(email) exists")
        return (row["password_hash"] ?? nil, (row["must"] ?? nil) == "true", (row["hours"] ?? nil).flatMap(Double.init))
    }

    /// `action`, `run_id` and `detail` of each audit row about the user, oldest first.
    func auditRows(of email: String) throws -> [(action: String, runId: String, detail: String)] {
        let rows = try connect().run(fixture: """
            SELECT a.action, a.run_id::text AS run, a.detail::text AS detail FROM audit_events a
            JOIN users u ON u.id = a.user_id WHERE lower(u.email) = lower(\(literal(email))) ORDER BY a.at, a.id
            """)
        return rows.map { (($0["action"] ?? nil) ?? "", ($0["run"] ?? nil) ?? "", ($0["detail"] ?? nil) ?? "") }
    }
}

extension ProvisionBinary {
    static func resetPassword(_ email: String, _ extra: [String] = [], in db: TestDatabase,
                              environment: [String: String] = [:]) throws -> Result {
        try run(["reset-password", "--email", email] + extra, databaseURL: db.url, environment: environment)
    }
}

/// A password shown on stdout as the text reports show it (indented on a line of its own).
func shownPasswords(_ stdout: String) -> [String] { Passwords.occurrences(in: stdout) }

@Suite("provision reset-password and p.resetPassword")
struct ResetPasswordTests {
    /// A tenant with a new Owner; returns the Owner's first one-time password.
    static func provisioned(_ slug: String, _ email: String, in db: TestDatabase) throws -> String {
        let result = try ProvisionBinary.tenant(slug, owner: email, ["--json"], in: db)
        return try #require(result.password(of: email), "\(result)")
    }

    /// Checks everything a reset must leave behind; returns the new password.
    static func expectReset(_ result: ProvisionBinary.Result, of email: String, slug: String?, replacing old: String?,
                            previousState: String, in db: TestDatabase, command: String = "reset-password",
                            sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
        try ContractSchema.validate(result.stdout, as: .run)
        let json = try #require(result.json, sourceLocation: sourceLocation)
        #expect(json["command"] as? String == command, sourceLocation: sourceLocation)
        let password = try #require(result.password(of: email), "\(result)", sourceLocation: sourceLocation)
        #expect(result.credentials.count == 1 && result.credentials[0]["tenantSlug"] as? String == slug, "\(result)", sourceLocation: sourceLocation)
        let resultEntry = try #require(result.results.first, sourceLocation: sourceLocation)
        #expect(resultEntry["status"] as? String == "reset", sourceLocation: sourceLocation)
        #expect((resultEntry["tenant"] as? [String: Any])?["slug"] as? String == slug, sourceLocation: sourceLocation)
        #expect((json["summary"] as? [String: Any])?["reset"] as? Int == 1, sourceLocation: sourceLocation)

        let row = try db.passwordRow(of: email)
        let hash = try #require(row.hash, sourceLocation: sourceLocation)
        #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"), "the same hash parameters as creation: \(hash.prefix(30))", sourceLocation: sourceLocation)
        #expect(PasswordHash.verify(password, against: hash), "the new password verifies (argon2id)", sourceLocation: sourceLocation)
        if let old { #expect(!PasswordHash.verify(old, against: hash), "the old password no longer verifies", sourceLocation: sourceLocation) }
        #expect(row.mustChange, "must be changed at first login", sourceLocation: sourceLocation)
        let hours = try #require(row.expiresInHours, sourceLocation: sourceLocation)
        #expect(hours > 71.5 && hours <= 72, "a fresh 72-hour expiry: \(hours)", sourceLocation: sourceLocation)

        let audit = try #require(try db.auditRows(of: email).last, sourceLocation: sourceLocation)
        #expect(audit.action == "user.reset_password", sourceLocation: sourceLocation)
        #expect(audit.runId == json["runId"] as? String, "the audit row carries the run id", sourceLocation: sourceLocation)
        #expect(audit.detail.contains("\"previousState\": \"\(previousState)\""), "\(audit.detail)", sourceLocation: sourceLocation)
        #expect(!audit.detail.contains(password) && !audit.detail.contains("argon2"), "no secret in the audit row", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains(password), "never on stderr", sourceLocation: sourceLocation)
        return password
    }

    @Test("a new Owner's reset: a new password that verifies, the old one no longer does, audited without secret")
    func resetNewUser() throws {
        let db = try TestDatabase.create()
        let old = try Self.provisioned("reset-new", "owner@reset-new.example", in: db)

        let result = try ProvisionBinary.resetPassword("OWNER@reset-new.example", ["--json"], in: db)

        let new = try Self.expectReset(result, of: "owner@reset-new.example", slug: "reset-new", replacing: old,
                                       previousState: "one-time pending", in: db)
        #expect(new != old)
    }

    @Test("an expired one-time password: check names the reset command, linking warns, the reset issues a working one")
    func resetExpiredUser() throws {
        let db = try TestDatabase.create()
        let old = try Self.provisioned("reset-expired", "late@reset-expired.example", in: db)
        try db.connect().run(fixture: "UPDATE users SET password_expires_at = now() - interval '1 day' WHERE email = 'late@reset-expired.example'")

        let check = try ProvisionBinary.run(["check", "--tenantSlug", "reset-expired", "--json"], databaseURL: db.url)
        let checks = check.json?["checks"] as? [[String: Any]] ?? []
        let ownerPassword = try #require(checks.first { $0["id"] as? String == "owner-password" }, "\(check)")
        #expect(ownerPassword["status"] as? String == "fail")
        #expect((ownerPassword["message"] as? String ?? "").contains("provision reset-password --email late@reset-expired.example"), "\(ownerPassword)")

        // Linking the user elsewhere works, and says they cannot log in until reset.
        let linked = try ProvisionBinary.run(["tenant", "--tenantSlug", "reset-expired-2", "--tenantName", "Second",
                                              "--ownerEmail", "late@reset-expired.example", "--allowExistingUser"], databaseURL: db.url)
        #expect(linked.status == 0, "\(linked)")
        #expect(linked.stderr.contains("warning: late@reset-expired.example never replaced their one-time password, which expired unused"), "\(linked)")
        #expect(linked.stderr.contains("provision reset-password --email late@reset-expired.example"), "\(linked)")

        let result = try ProvisionBinary.resetPassword("late@reset-expired.example", ["--json"], in: db)

        // Two tenants now: the credential and the result name none of them.
        _ = try Self.expectReset(result, of: "late@reset-expired.example", slug: nil, replacing: old,
                                 previousState: "one-time expired", in: db)
        let user = try #require((result.results.first?["users"] as? [[String: Any]])?.first)
        #expect(user["role"] is NSNull, "no single role for a member of two tenants: \(user)")
        let after = try ProvisionBinary.run(["check", "--tenantSlug", "reset-expired", "--json"], databaseURL: db.url)
        let state = (after.json?["checks"] as? [[String: Any]])?.first { $0["id"] as? String == "owner-password" }?["status"] as? String
        #expect(state == "warn", "pending again, no longer expired: \(after)")
    }

    @Test("an active user who set their own password: reset with a warning; their password stops working")
    func resetActiveUser() throws {
        let db = try TestDatabase.create()
        let first = try Self.provisioned("reset-active", "active@reset-active.example", in: db)
        // They logged in and "chose" a password (the platform's doing): not one-time any more.
        try db.connect().run(fixture: "UPDATE users SET must_change_password = false, password_expires_at = NULL WHERE email = 'active@reset-active.example'")

        let result = try ProvisionBinary.resetPassword("active@reset-active.example", ["--json"], in: db)

        _ = try Self.expectReset(result, of: "active@reset-active.example", slug: "reset-active", replacing: first,
                                 previousState: "changed", in: db)
        let warnings = result.json?["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.contains("had set their own password") }, "\(warnings)")
    }

    @Test("text output shows the new password once, after the commit, and where it came from")
    func resetText() throws {
        let db = try TestDatabase.create()
        _ = try Self.provisioned("reset-text", "owner@reset-text.example", in: db)

        let result = try ProvisionBinary.resetPassword("owner@reset-text.example", in: db)

        #expect(result.status == 0, "\(result)")
        let shown = shownPasswords(result.stdout)
        #expect(shown.count == 1, "\(result)")
        #expect(result.stdout.contains("OWNER of reset-text"), "\(result)")
        let hash = try #require(try db.passwordHash(of: "owner@reset-text.example"))
        #expect(PasswordHash.verify(shown[0], against: hash))
        #expect(Passwords.occurrences(in: result.stderr).isEmpty)
    }

    @Test("an unknown email is 4 not_found naming the email; a malformed or missing one is 2; nothing written")
    func badEmails() throws {
        let db = try TestDatabase.create()
        _ = try Self.provisioned("reset-bad", "owner@reset-bad.example", in: db)
        let before = try db.rowCounts()
        let hash = try db.passwordHash(of: "owner@reset-bad.example")

        let unknown = try ProvisionBinary.resetPassword("nobody@reset-bad.example", ["--json"], in: db)
        #expect(unknown.status == 4, "\(unknown)")
        #expect(unknown.errorCode == "not_found" && unknown.errorField == "email", "\(unknown)")
        #expect(unknown.errorMessage?.contains("nobody@reset-bad.example") == true, "\(unknown)")
        try ContractSchema.validate(unknown.stdout, as: .error)

        let text = try ProvisionBinary.resetPassword("nobody@reset-bad.example", in: db)
        #expect(text.status == 4 && text.stderr.contains("error: email 'nobody@reset-bad.example': no user has this email"), "\(text)")

        let malformed = try ProvisionBinary.resetPassword("not-an-email", ["--json"], in: db)
        #expect(malformed.status == 2 && malformed.errorField == "email", "\(malformed)")

        let missing = try ProvisionBinary.run(["reset-password", "--json"], databaseURL: db.url)
        #expect(missing.status == 2 && missing.errorField == "email", "\(missing)")

        #expect(try db.rowCounts() == before, "nothing written")
        #expect(try db.passwordHash(of: "owner@reset-bad.example") == hash, "the password is untouched")
    }

    @Test("--dryRun looks the user up and changes nothing; no password anywhere")
    func dryRun() throws {
        let db = try TestDatabase.create()
        _ = try Self.provisioned("reset-dry", "owner@reset-dry.example", in: db)
        let before = try db.rowCounts()
        let hash = try db.passwordHash(of: "owner@reset-dry.example")

        let result = try ProvisionBinary.resetPassword("owner@reset-dry.example", ["--dryRun", "--json"], in: db)

        #expect(result.status == 0, "\(result)")
        try ContractSchema.validate(result.stdout, as: .run)
        #expect(result.results.first?["status"] as? String == "planned")
        #expect(result.credentials.isEmpty)
        #expect(Passwords.occurrences(in: result.stdout + result.stderr).isEmpty)
        #expect(try db.rowCounts() == before && db.passwordHash(of: "owner@reset-dry.example") == hash, "nothing written")

        let missing = try ProvisionBinary.resetPassword("nobody@reset-dry.example", ["--dryRun"], in: db)
        #expect(missing.status == 4, "a dry run finds the unknown email too: \(missing)")
    }

    @Test("p.resetPassword in a playbook: Lua gets who, never the password; the host reveals it after commit")
    func fromLua() throws {
        let db = try TestDatabase.create()
        let old = try Self.provisioned("reset-lua", "owner@reset-lua.example", in: db)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let playbook = try scratch.write("reset.lua", """
            local p = require "provision"
            local r = p.resetPassword{ email = p.vars.email }
            local seen = {}
            for k, v in pairs(r) do seen[#seen + 1] = k .. "=" .. tostring(v) end
            table.sort(seen)
            p.log("seen: " .. table.concat(seen, " "))
            p.log("tenants: " .. r.tenants[1].slug .. "/" .. r.tenants[1].role .. " previous: " .. r.previousState)
            local ok, err = pcall(p.resetPassword, { email = "nobody@reset-lua.example" })
            p.log("unknown: " .. err.code .. " " .. err.field)
            local ok2, err2 = pcall(p.resetPassword, { mail = "x@y.example" })
            p.log("typo: " .. err2.code)
            """)

        let result = try ProvisionBinary.run(["run", playbook, "--var", "email=owner@reset-lua.example", "--json"], databaseURL: db.url)

        let new = try Self.expectReset(result, of: "owner@reset-lua.example", slug: "reset-lua", replacing: old,
                                       previousState: "one-time pending", in: db, command: "run")
        #expect(result.stderr.contains("tenants: reset-lua/OWNER previous: one-time pending"), "\(result.stderr)")
        #expect(result.stderr.contains("unknown: not_found email"), "\(result.stderr)")
        #expect(result.stderr.contains("typo: invalid_input"), "\(result.stderr)")
        #expect(!result.stderr.contains(new), "Lua never saw the password: \(result.stderr)")
        let seen = result.stderr.split(separator: "\n").first { $0.hasPrefix("seen: ") } ?? ""
        #expect(!seen.contains("password="), "no password field: \(seen)")
    }
}

@Suite("No silent loss: passwords that cannot be delivered after the commit are revoked and named")
struct UndeliveredPasswordTests {
    /// Runs `provision ARGS` in bash with stdout sent where `redirect` says (`| true`,
    /// `> /dev/full`), SIGPIPE at its default, and returns provision's own exit status.
    static func runRedirected(_ arguments: [String], redirect: String, in db: TestDatabase,
                              prefix: String = "") throws -> (status: Int32, stderr: String, stdout: String) {
        let script = "\(prefix)\"$0\" \"$@\" \(redirect); exit ${PIPESTATUS[0]}"
        let child = try Spawned(["-c", script, ProvisionBinary.path] + arguments, databaseURL: db.url, executable: "/bin/bash")
        let (ended, stdout, stderr) = child.finish()
        guard case .exited(let status) = ended else {
            Issue.record("provision was killed: \(ended)\n\(stderr)")
            return (-1, stderr, stdout)
        }
        return (status, stderr, stdout)
    }

    /// The user's one-time password was revoked: expired, its hash replaced, audited.
    static func expectRevoked(_ email: String, in db: TestDatabase, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let row = try db.passwordRow(of: email)
        #expect(row.mustChange, sourceLocation: sourceLocation)
        #expect((row.expiresInHours ?? 1) <= 0, "expired at once: \(String(describing: row.expiresInHours))", sourceLocation: sourceLocation)
        let audit = try db.auditRows(of: email)
        #expect(audit.last?.action == "user.revoke_password", "\(audit)", sourceLocation: sourceLocation)
        #expect(audit.first?.runId == audit.last?.runId, "the revocation is audited under the run that issued it", sourceLocation: sourceLocation)
    }

    static func expectNamed(_ emails: [String], in stderr: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(stderr.contains("could not be delivered"), "\(stderr)", sourceLocation: sourceLocation)
        #expect(stderr.contains("revoked at once and can no longer be used"), "\(stderr)", sourceLocation: sourceLocation)
        for email in emails {
            #expect(stderr.contains("provision reset-password --email \(email)"), "names \(email): \(stderr)", sourceLocation: sourceLocation)
        }
        #expect(Passwords.occurrences(in: stderr).isEmpty, "no password on stderr", sourceLocation: sourceLocation)
    }

    @Test("stdout closed (| true): not killed by SIGPIPE; committed, revoked, named, exit 1; a reset then works",
          arguments: [false, true])
    func closedPipe(json: Bool) throws {
        let db = try TestDatabase.create()
        let email = "owner@closed-pipe.example"

        let result = try Self.runRedirected(["tenant", "--tenantSlug", "closed-pipe", "--tenantName", "Closed Pipe",
                                             "--ownerEmail", email] + (json ? ["--json"] : []), redirect: "| true", in: db)

        #expect(result.status == 1, "\(result)")
        Self.expectNamed([email], in: result.stderr)
        #expect(result.stderr.contains("Broken pipe"), "\(result.stderr)")
        #expect(try db.tenantExists("closed-pipe"), "the run committed")
        try Self.expectRevoked(email, in: db)

        try Self.expectResetWorks(email, in: db)
    }

    @Test("no stdout at all (>&-): the password is not taken for shown (nor sent down the database's socket): revoked, named, exit 1",
          arguments: [false, true])
    func noStdout(json: Bool) throws {
        let db = try TestDatabase.create()
        let email = "owner@no-stdout.example"

        let result = try Self.runRedirected(["tenant", "--tenantSlug", "no-stdout", "--tenantName", "No Stdout",
                                             "--ownerEmail", email] + (json ? ["--json"] : []), redirect: ">&-", in: db)

        #expect(result.status == 1, "\(result)")
        Self.expectNamed([email], in: result.stderr)
        #expect(result.stderr.contains("Bad file descriptor"), "\(result.stderr)")
        #expect(!result.stderr.contains("frontend message"), "\(result.stderr)")
        #expect(try db.tenantExists("no-stdout"), "the run committed")
        try Self.expectRevoked(email, in: db)
        try Self.expectResetWorks(email, in: db)
    }

    @Test("member add with stdout closed: the new member's password is revoked and named, exit 1; a reset then works")
    func memberAddClosedPipe() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("member-pipe", owner: "owner@member-pipe.example", in: db)
        let email = "admin@member-pipe.example"

        let result = try Self.runRedirected(["member", "add", "--tenantSlug", "member-pipe", "--email", email, "--role", "ADMIN"],
                                            redirect: "| true", in: db)

        #expect(result.status == 1, "\(result)")
        Self.expectNamed([email], in: result.stderr)
        #expect(try db.count("SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = \(literal(email))") == 1,
                "the run committed")
        try Self.expectRevoked(email, in: db)
        try Self.expectResetWorks(email, in: db)
    }

    @Test("stdout full (> /dev/full): a batch's passwords are all revoked and named, exit 1")
    func fullDevice() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let file = try scratch.csv([requiredHeader, "full-one,Full One,one@full.example", "full-two,Full Two,two@full.example"])

        let result = try Self.runRedirected(["batch", file, "--json"], redirect: "> /dev/full", in: db)

        #expect(result.status == 1, "\(result)")
        Self.expectNamed(["one@full.example", "two@full.example"], in: result.stderr)
        #expect(result.stderr.contains("No space left on device"), "\(result.stderr)")
        #expect(try db.slugs() == ["full-one", "full-two"], "the rows committed")
        try Self.expectRevoked("one@full.example", in: db)
        try Self.expectRevoked("two@full.example", in: db)
        try Self.expectResetWorks("two@full.example", in: db)
    }

    /// The command the message names issues a password that verifies.
    static func expectResetWorks(_ email: String, in db: TestDatabase, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reset = try ProvisionBinary.resetPassword(email, ["--json"], in: db)
        let password = try #require(reset.password(of: email), "\(reset)", sourceLocation: sourceLocation)
        let hash = try #require(try db.passwordHash(of: email), sourceLocation: sourceLocation)
        #expect(PasswordHash.verify(password, against: hash), sourceLocation: sourceLocation)
    }

    @Test("a credentials file that cannot be written after the commit (file size limit): revoked, removed, named; the JSON says so",
          arguments: [false, true])
    func unwritableFile(json: Bool) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.path("owner.csv")
        let email = "owner@no-room.example"

        // `ulimit -f 0`: the file can be created (before the commit) but not written to.
        let result = try Self.runRedirected(["tenant", "--tenantSlug", "no-room", "--tenantName", "No Room", "--ownerEmail", email,
                                             "--credentialsFile", path] + (json ? ["--json"] : []),
                                            redirect: "", in: db, prefix: "ulimit -f 0; ")

        #expect(result.status == 1, "\(result)")
        Self.expectNamed([email], in: result.stderr)
        #expect(result.stderr.contains("File too large"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path), "the partial file was removed")
        try Self.expectRevoked(email, in: db)
        try Self.expectResetWorks(email, in: db)
        #expect(Passwords.occurrences(in: result.stdout).isEmpty, "not shown on stdout instead")
        if json {
            try ContractSchema.validate(result.stdout, as: .run)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let revoked = document["revokedCredentials"] as? [[String: Any]] ?? []
            #expect(revoked.count == 1 && revoked[0]["email"] as? String == email, "\(document)")
            #expect(revoked.first?["resetCommand"] as? String == "provision reset-password --email \(email)")
            #expect(document["credentialsFile"] is NSNull && (document["credentials"] as? [Any])?.isEmpty == true)
        }
    }
}

@Suite("Interrupts once COMMIT was sent are reported as what they are")
struct CommitInterruptTests {
    /// Waits until some session waits for the advisory lock in COMMIT.
    static func waitForCommit(in db: TestDatabase) throws {
        for _ in 0..<600 {
            if try db.count("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND query = 'COMMIT'") > 0 { return }
            usleep(50_000)
        }
        Issue.record("no COMMIT ever waited for the lock")
    }

    static func readUntil(_ marker: String, from child: Spawned) -> String {
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains(marker) {
            let chunk = child.stderr.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        return String(decoding: seen, as: UTF8.self)
    }

    @Test("SIGTERM while COMMIT waits, then COMMIT completes: committed and shown, with a note; never 'rolled back'")
    func signalThenCommit() throws {
        let db = try TestDatabase.create()
        let holder = try db.holdCommits(after: "INSERT", lock: 4242)
        let child = try Spawned(["tenant", "--tenantSlug", "slow-commit", "--tenantName", "Slow", "--ownerEmail", "owner@slow.example"],
                                databaseURL: db.url)
        try Self.waitForCommit(in: db)
        kill(child.pid, SIGTERM)
        let waiting = Self.readUntil("waiting for the database's answer", from: child)
        try holder.run(fixture: "SELECT pg_advisory_unlock(4242)")
        let (ended, stdout, rest) = child.finish()
        let stderr = waiting + rest

        #expect(ended == .exited(0), "the run committed and was reported: \(ended)\n\(stderr)")
        #expect(stderr.contains("interrupt received while COMMIT is in flight"), "\(stderr)")
        #expect(stderr.contains("SIGTERM arrived after COMMIT was sent, too late to stop the run"), "\(stderr)")
        #expect(!stderr.contains("rolled back;"), "\(stderr)")
        #expect(try db.tenantExists("slow-commit"))
        let shown = shownPasswords(stdout)
        #expect(shown.count == 1, "\(stdout)")
        #expect(PasswordHash.verify(shown.first ?? "", against: try #require(try db.passwordHash(of: "owner@slow.example"))))
    }

    @Test("a second interrupt while COMMIT waits: exit 143, the outcome is unknown and how to find out; it did commit, and a reset works",
          arguments: [false, true])
    func secondSignalUnknown(json: Bool) throws {
        let db = try TestDatabase.create()
        let holder = try db.holdCommits(after: "INSERT", lock: 4242)
        let child = try Spawned(["tenant", "--tenantSlug", "lost-commit", "--tenantName", "Lost", "--ownerEmail", "owner@lost.example"]
                                + (json ? ["--json"] : []), databaseURL: db.url)
        try Self.waitForCommit(in: db)
        kill(child.pid, SIGTERM)
        let waiting = Self.readUntil("waiting for the database's answer", from: child)
        kill(child.pid, SIGTERM)
        let (ended, stdout, rest) = child.finish()
        let stderr = waiting + rest
        try holder.run(fixture: "SELECT pg_advisory_unlock(4242)")

        #expect(ended == .exited(143), "\(ended)\n\(stderr)")
        #expect(stderr.contains("interrupted while COMMIT was in flight: whether run "), "\(stderr)")
        #expect(stderr.contains("committed is unknown"), "\(stderr)")
        #expect(stderr.contains("provision show --tenantSlug lost-commit"), "\(stderr)")
        #expect(stderr.contains("provision reset-password --email owner@lost.example"), "\(stderr)")
        #expect(!stderr.contains("the run was rolled back"), "\(stderr)")
        #expect(Passwords.occurrences(in: stdout + stderr).isEmpty, "no password shown when the outcome is unknown")
        if json {
            try ContractSchema.validate(stdout, as: .error)
            #expect(stdout.contains("\"code\" : \"interrupted\"") && stdout.contains("committed is unknown"), "\(stdout)")
        }
        // The server finishes the COMMIT once the lock is free: the run did commit.
        for _ in 0..<100 where try !db.tenantExists("lost-commit") { usleep(50_000) }
        #expect(try db.tenantExists("lost-commit"))
        let reset = try ProvisionBinary.resetPassword("owner@lost.example", ["--json"], in: db)
        #expect(reset.status == 0 && reset.password(of: "owner@lost.example") != nil, "\(reset)")
    }
}

@Suite("--credentialsFile and --recipient on every command that issues a password")
struct CredentialsFileTests {
    @Test("tenant, member add, run and reset-password write a 0600 CSV that ends in a newline; nothing on stdout or in the JSON")
    func everyCommand() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let playbook = try scratch.write("two.lua", """
            local p = require "provision"
            local t = p.createTenant{ slug = "file-run", name = "File Run", supportEmail = "help@file-run.example" }
            local u = p.createOwner{ email = "owner@file-run.example" }
            p.linkMembership{ tenant = t, user = u, role = "OWNER" }
            """)
        let commands: [(String, [String], String)] = [
            ("tenant", ["tenant", "--tenantSlug", "file-tenant", "--tenantName", "File", "--ownerEmail", "owner@file-tenant.example"], "owner@file-tenant.example"),
            ("member add", ["member", "add", "--tenantSlug", "file-tenant", "--email", "admin@file-tenant.example", "--role", "ADMIN"],
             "admin@file-tenant.example"),
            ("run", ["run", playbook], "owner@file-run.example"),
            ("reset-password", ["reset-password", "--email", "owner@file-tenant.example"], "owner@file-tenant.example"),
        ]
        for (name, arguments, email) in commands {
            for json in name == "reset-password" ? [false, true] : [false] {
                let path = scratch.path("\(name)-\(json).csv")
                let result = try ProvisionBinary.run(arguments + ["--credentialsFile", path] + (json ? ["--json"] : []), databaseURL: db.url)
                #expect(result.status == 0, "\(name): \(result)")
                let text = try String(contentsOfFile: path, encoding: .utf8)
                #expect(text.hasSuffix("\n"), "\(name): a trailing newline")
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(name): mode 0600")
                let rows = parseCSV(text)
                #expect(rows.first == ["tenantSlug", "email", "oneTimePassword", "expiresAt"], "\(name): \(rows)")
                let row = try #require(rows.dropFirst().first, "\(name): \(rows)")
                #expect(row[1] == email)
                #expect(PasswordHash.verify(row[2], against: try #require(try db.passwordHash(of: email))), "\(name): verifies")
                #expect(Passwords.occurrences(in: result.stdout + result.stderr).isEmpty, "\(name): only in the file: \(result)")
                if json {
                    try ContractSchema.validate(result.stdout, as: .run)
                    #expect(result.credentials.isEmpty && result.json?["credentialsFile"] as? String == path)
                }
            }
        }
    }

    @Test("a run that issues no password writes no file at all, and says so")
    func noPasswordNoFile() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try ProvisionBinary.tenant("nofile-home", owner: "shared@nofile.example", in: db)
        let path = scratch.path("none.csv")

        let result = try ProvisionBinary.run(["tenant", "--tenantSlug", "nofile-two", "--tenantName", "Two", "--ownerEmail", "shared@nofile.example",
                                              "--allowExistingUser", "--credentialsFile", path, "--json"], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        #expect(!FileManager.default.fileExists(atPath: path), "no file")
        let warnings = result.json?["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.contains("issued no one-time password, so --credentialsFile \(path) was not created") }, "\(warnings)")

        let dry = try ProvisionBinary.run(["tenant", "--tenantSlug", "nofile-three", "--tenantName", "Three", "--ownerEmail", "new@nofile.example",
                                           "--credentialsFile", path, "--dryRun"], databaseURL: db.url)
        #expect(dry.status == 0 && !FileManager.default.fileExists(atPath: path), "\(dry)")
        #expect(dry.stderr.contains("a dry run issues no one-time password, so --credentialsFile"), "\(dry)")
    }

    @Test("formula-looking emails are neutralized in the credentials CSV")
    func formulaInjection() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let emails = ["=1+2@formula.example", "+cmd@formula.example", "-sum@formula.example", "plain@formula.example"]
        let file = try scratch.csv([requiredHeader] + emails.enumerated().map { "formula-\($0.offset),Formula,\($0.element)" })
        let path = scratch.path("passwords.csv")

        let result = try ProvisionBinary.batch(file, ["--credentialsFile", path], in: db)

        #expect(result.status == 0, "\(result)")
        let rows = parseCSV(try String(contentsOfFile: path, encoding: .utf8)).dropFirst()
        #expect(rows.map { $0[1] } == ["'=1+2@formula.example", "'+cmd@formula.example", "'-sum@formula.example", "plain@formula.example"], "\(rows)")
        for row in rows {
            let email = row[1].hasPrefix("'") ? String(row[1].dropFirst()) : row[1]
            #expect(PasswordHash.verify(row[2], against: try #require(try db.passwordHash(of: email))), "\(row)")
        }
    }

    /// Every file created in `folder` while `body` runs (inotify).
    static func filesCreated(in folder: String, during body: () throws -> Void) throws -> [String] {
        let watcher = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        try #require(watcher >= 0)
        defer { close(watcher) }
        try #require(inotify_add_watch(watcher, folder, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0)
        try body()
        var names: [String] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(watcher, &buffer, buffer.count)
            if count <= 0 { break }
            var offset = 0
            while offset + 16 <= count {
                let length = Int(buffer[offset + 12]) | Int(buffer[offset + 13]) << 8 | Int(buffer[offset + 14]) << 16 | Int(buffer[offset + 15]) << 24
                let name = buffer[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }
                names.append(String(decoding: name, as: UTF8.self))
                offset += 16 + length
            }
        }
        return names
    }

    @Test("--recipient: the file is age-encrypted for every recipient, decrypts to passwords that verify; no plaintext file ever existed")
    func encrypted() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let keys = try Scratch()
        defer { keys.remove() }
        var recipients: [String] = []
        for name in ["alice", "bob"] {
            let keygen = try ProvisionBinary.runTool("/usr/bin/age-keygen", ["-o", keys.path("\(name).txt")])
            try #require(keygen.status == 0, "\(keygen)")
            recipients.append(try ProvisionBinary.runTool("/usr/bin/age-keygen", ["-y", keys.path("\(name).txt")]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let file = try keys.csv([requiredHeader, "sealed-one,Sealed One,one@sealed.example", "sealed-two,Sealed Two,two@sealed.example"])
        let path = scratch.path("wave.csv.age")
        var result: ProvisionBinary.Result?

        let created = try Self.filesCreated(in: scratch.url.path) {
            result = try ProvisionBinary.batch(file, ["--credentialsFile", path, "--recipient", recipients[0], "--recipient", recipients[1]], in: db)
        }

        let run = try #require(result)
        #expect(run.status == 0, "\(run)")
        #expect(created == ["wave.csv.age"], "only the encrypted file was ever created in the folder: \(created)")
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(String(decoding: raw.prefix(21), as: UTF8.self) == "age-encryption.org/v1", "an age file")
        #expect(Passwords.occurrences(in: String(decoding: raw, as: UTF8.self)).isEmpty, "no plaintext password in it")
        for name in ["alice", "bob"] {
            let decrypted = try ProvisionBinary.runTool("/usr/bin/age", ["-d", "-i", keys.path("\(name).txt"), path])
            #expect(decrypted.status == 0, "\(name): \(decrypted)")
            let rows = parseCSV(decrypted.stdout).dropFirst()
            #expect(rows.count == 2, "\(name): \(decrypted.stdout)")
            for row in rows {
                #expect(PasswordHash.verify(row[2], against: try #require(try db.passwordHash(of: row[1]))), "\(name): \(row)")
            }
        }
        #expect(Passwords.occurrences(in: run.stdout + run.stderr).isEmpty)
    }

    @Test("--recipient problems are refused (2) before anything runs: no age, a malformed key, a secret key, no --credentialsFile")
    func recipientRefused() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.path("x.age")
        let before = try db.rowCounts()
        let tenant = ["tenant", "--tenantSlug", "refused", "--tenantName", "Refused", "--ownerEmail", "owner@refused.example", "--json"]
        let secret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"
        let cases: [(String, [String], [String: String], String)] = [
            ("no age", ["--credentialsFile", path, "--recipient", "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"],
             ["PATH": scratch.url.path], "not installed"),
            ("malformed", ["--credentialsFile", path, "--recipient", "not-a-key"], [:], "'not-a-key' is not an age public key"),
            ("secret key", ["--credentialsFile", path, "--recipient", secret], [:], "secret key"),
            ("no file", ["--recipient", "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"], [:], "give --credentialsFile"),
        ]
        for (name, extra, environment, message) in cases {
            let result = try ProvisionBinary.run(tenant + extra, databaseURL: db.url, environment: environment)
            #expect(result.status == 2, "\(name): \(result)")
            #expect(result.errorCode == "invalid_input" && result.errorField == "recipient", "\(name): \(result)")
            #expect(result.errorMessage?.contains(message) == true, "\(name): \(result)")
            #expect(!(result.stdout + result.stderr).contains(secret), "\(name): a secret key is never echoed")
        }
        #expect(try db.rowCounts() == before, "nothing written")
        #expect(!FileManager.default.fileExists(atPath: path), "no file")
    }
}

extension ProvisionBinary {
    /// Runs another tool (age, age-keygen) and collects what it printed.
    static func runTool(_ tool: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errors = ReadInBackground(err.fileHandleForReading)
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let said = errors.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: said, as: UTF8.self))
    }
}
