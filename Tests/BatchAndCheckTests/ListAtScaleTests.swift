import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// CONTRACT §14, the fleet at scale: `list` streams (each tenant printed as soon as it is
// read, in flat memory, text and JSON alike), and neither `list` nor `show` pads every
// row to its longest value: a long value is cut in text with `…`, whole in JSON. Through
// the binary against a real PostgreSQL, with fleets made by SQL as a platform makes them.

extension TestDatabase {
    /// `count` tenants `prefix-1` … `prefix-count`, each with one Owner
    /// (`owner@prefix-N.example`), their passwords pending, expired and changed in turn.
    func addFleet(_ count: Int, prefix: String) throws {
        try connect().run(fixture: """
            INSERT INTO tenants (slug, name, support_email, time_zone)
              SELECT '\(prefix)-' || n, 'Fleet ' || n, 'help@\(prefix)-' || n || '.example', 'UTC' FROM generate_series(1, \(count)) n;
            INSERT INTO users (email, name, must_change_password, password_expires_at)
              SELECT 'owner@\(prefix)-' || n || '.example', 'Owner ' || n, n % 3 <> 0,
                     CASE n % 3 WHEN 1 THEN now() + interval '3 days' WHEN 2 THEN now() - interval '1 day' END
              FROM generate_series(1, \(count)) n;
            INSERT INTO memberships (tenant_id, user_id, role)
              SELECT t.id, u.id, 'OWNER' FROM tenants t JOIN users u ON u.email = 'owner@' || t.slug || '.example'
              WHERE t.slug LIKE '\(prefix)-%';
            """)
    }

    /// Every tenant by slug with its Owners' emails, as SQL groups them: what `list` must
    /// show, in its order.
    func expectedListing() throws -> [String] {
        try column("""
            SELECT t.slug || ':' || coalesce(string_agg(u.email, ',' ORDER BY u.email), '')
            FROM tenants t
            LEFT JOIN memberships m ON m.tenant_id = t.id AND m.role = 'OWNER'
            LEFT JOIN users u ON u.id = m.user_id
            GROUP BY t.slug ORDER BY t.slug
            """).compactMap { $0 }
    }
}

@Suite("provision list and show at fleet scale")
struct ListAtScaleTests {
    /// The most characters a line of `list` has: a slug (63), a name (40), an instant
    /// (20), an email (64) and a password state (47), two spaces apart.
    static let widestLine = 63 + 40 + 20 + 64 + 47 + 4 * 2

    /// A tenant name of a mebibyte that starts with an escape sequence (clear the screen).
    static let longName = "\u{1B}[2J" + String(repeating: "Long name ", count: 104_858)

    @Test("a tenant with a 1 MiB name among 300: list cuts it (…) and stays small and aligned; --json has it whole and matches the schema")
    func longNameInList() throws {
        let db = try TestDatabase.create()
        try db.addFleet(300, prefix: "fleet")
        try db.connect().run(fixture: """
            INSERT INTO tenants (slug, name) VALUES ('fleet-long', \(literal(Self.longName)));
            INSERT INTO users (email) VALUES ('owner@fleet-long.example');
            INSERT INTO memberships (tenant_id, user_id, role)
              SELECT t.id, u.id, 'OWNER' FROM tenants t, users u WHERE t.slug = 'fleet-long' AND u.email = 'owner@fleet-long.example';
            """)

        let text = try ProvisionBinary.run(["list"], databaseURL: db.url)
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(text.stdout.utf8.count < 301 * 200, "the output stays small: \(text.stdout.utf8.count) bytes (the name alone is 1 MiB)")
        #expect(lines.allSatisfy { $0.count <= Self.widestLine }, "no line is longer than its columns: \(lines.map(\.count).max() ?? 0)")
        let long = try #require(lines.first { $0.hasPrefix("fleet-long ") }, "\(text.stdout.prefix(3000))")
        // The name escaped (`\u{1B}`), then cut at 40 characters, the last one the marker.
        let shown = String(("\\u{1B}" + Self.longName.dropFirst()).prefix(39)) + "…"
        #expect(long.contains("  " + shown + "  "), "\(long)")
        #expect(!text.stdout.contains("\u{1B}"), "the escape sequence is shown escaped, never raw")
        // Every tenant's line has its instant in the same column, the long one's too.
        let created = try #require(lines.first?.range(of: "CREATED")).lowerBound
        let column = lines.first!.distance(from: lines.first!.startIndex, to: created)
        let tenantLines = lines.dropFirst().filter { $0.hasPrefix("fleet-") }
        #expect(tenantLines.count == 301)
        #expect(tenantLines.allSatisfy { $0.dropFirst(column).prefix(20).wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/) != nil },
                "aligned: \(tenantLines.prefix(3))")
        #expect(lines.last == "301 tenants")

        let json = try ProvisionBinary.run(["list", "--json"], databaseURL: db.url)
        #expect(json.status == 0, "\(json.stderr)")
        try ContractSchema.validate(json.stdout, as: .list)
        let document = try #require(json.json)
        let tenants = document["tenants"] as? [[String: Any]] ?? []
        #expect(document["count"] as? Int == 301 && tenants.count == 301)
        #expect(tenants.map { ($0["tenant"] as? [String: Any])?["slug"] as? String } == (try db.slugs()))
        let whole = tenants.first { ($0["tenant"] as? [String: Any])?["slug"] as? String == "fleet-long" }
        #expect((whole?["tenant"] as? [String: Any])?["name"] as? String == Self.longName, "--json has the name whole")
    }

    @Test("show cuts a long name, email, member name and actor (…) and keeps its lines short; --json has them whole")
    func longValuesInShow() throws {
        let db = try TestDatabase.create()
        let email = String(repeating: "o", count: 300) + "@long.example"
        let memberName = String(repeating: "Member ", count: 15_000)
        let actor = String(repeating: "actor ", count: 1_000)
        try db.connect().run(fixture: """
            INSERT INTO tenants (slug, name, support_email) VALUES ('long', \(literal(Self.longName)), \(literal(email)));
            INSERT INTO users (email, name) VALUES (\(literal(email)), \(literal(memberName)));
            INSERT INTO memberships (tenant_id, user_id, role)
              SELECT t.id, u.id, 'OWNER' FROM tenants t, users u WHERE t.slug = 'long' AND u.email = \(literal(email));
            INSERT INTO audit_events (actor, action, run_id, tenant_id)
              SELECT \(literal(actor)), 'tenant.create', gen_random_uuid(), id FROM tenants WHERE slug = 'long';
            """)

        let text = try ProvisionBinary.run(["show", "--tenantSlug", "long"], databaseURL: db.url)
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(text.stdout.utf8.count < 4_000, "\(text.stdout.utf8.count) bytes")
        #expect(lines.allSatisfy { $0.count <= 200 }, "\(lines.map(\.count))")
        #expect(lines.first?.contains("\"" + String(("\\u{1B}" + Self.longName.dropFirst()).prefix(39)) + "…\"") == true, "\(lines.first ?? "")")
        #expect(text.stdout.contains(String(email.prefix(63)) + "…"), "the email cut at 64 characters")
        #expect(text.stdout.contains(String(memberName.prefix(39)) + "…"), "the member's name cut at 40")
        #expect(text.stdout.contains(String(actor.prefix(39)) + "…"), "the actor cut at 40")
        #expect(!text.stdout.contains("\u{1B}"))

        let json = try ProvisionBinary.run(["show", "--tenantSlug", "long", "--json"], databaseURL: db.url)
        #expect(json.status == 0, "\(json.stderr)")
        try ContractSchema.validate(json.stdout, as: .show)
        let document = try #require(json.json)
        #expect((document["tenant"] as? [String: Any])?["name"] as? String == Self.longName)
        #expect((document["tenant"] as? [String: Any])?["supportEmail"] as? String == email)
        let member = (document["members"] as? [[String: Any]])?.first
        #expect(member?["email"] as? String == email && member?["name"] as? String == memberName)
        #expect((document["recentEvents"] as? [[String: Any]])?.first?["actor"] as? String == actor)
    }

    @Test("2,500 tenants with none, one or two Owners (and ADMINs, never listed), read in chunks: text and JSON list exactly what SQL groups, in its order")
    func streamedAcrossChunks() throws {
        let db = try TestDatabase.create()
        // More rows than three FETCHes take, with tenants of two Owners and of none on
        // every side of a chunk's edge.
        try db.connect().run(fixture: """
            INSERT INTO tenants (slug, name) SELECT 'chunk-' || lpad(n::text, 4, '0'), 'Chunk ' || n FROM generate_series(1, 2500) n;
            INSERT INTO users (email) SELECT p || '@' || t.slug || '.example' FROM tenants t, unnest(ARRAY['a', 'b', 'admin']) p;
            INSERT INTO memberships (tenant_id, user_id, role)
              SELECT t.id, u.id, CASE split_part(u.email, '@', 1) WHEN 'admin' THEN 'ADMIN' ELSE 'OWNER' END
              FROM tenants t JOIN users u ON split_part(u.email, '@', 2) = t.slug || '.example'
              WHERE (split_part(u.email, '@', 1) = 'a' AND right(t.slug, 4)::int % 11 <> 0)
                 OR (split_part(u.email, '@', 1) = 'b' AND right(t.slug, 4)::int % 7 = 0 AND right(t.slug, 4)::int % 11 <> 0)
                 OR (split_part(u.email, '@', 1) = 'admin' AND right(t.slug, 4)::int % 5 = 0);
            """)
        let expected = try db.expectedListing()
        #expect(expected.count == 2500)
        #expect(expected.contains("chunk-0007:a@chunk-0007.example,b@chunk-0007.example") && expected.contains("chunk-0011:"))

        let json = try ProvisionBinary.run(["list", "--json"], databaseURL: db.url)
        #expect(json.status == 0, "\(json.stderr)")
        try ContractSchema.validate(json.stdout, as: .list)
        let tenants = json.json?["tenants"] as? [[String: Any]] ?? []
        #expect(json.json?["count"] as? Int == 2500)
        let listed = tenants.map { entry in
            let slug = (entry["tenant"] as? [String: Any])?["slug"] as? String ?? "?"
            let owners = (entry["owners"] as? [[String: Any]] ?? []).map { $0["email"] as? String ?? "?" }
            return slug + ":" + owners.joined(separator: ",")
        }
        #expect(listed == expected, "first difference: \(zip(listed, expected).first { $0 != $1 }.map { "\($0) vs \($1)" } ?? "counts \(listed.count)")")
        #expect(tenants.allSatisfy { ($0["owners"] as? [[String: Any]] ?? []).allSatisfy { $0["role"] as? String == "OWNER" } })

        let text = try ProvisionBinary.run(["list"], databaseURL: db.url)
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = try #require(lines.first)
        let owner = header.distance(from: header.startIndex, to: try #require(header.range(of: "OWNER")).lowerBound)
        var shown: [(slug: String, owners: [String])] = []
        for line in lines.dropFirst() {
            guard !line.isEmpty else { break }
            let email = String(line.dropFirst(owner).prefix { $0 != " " })
            if !line.hasPrefix(" ") { shown.append((String(line.prefix { $0 != " " }), [])) }
            if email != "(no" { shown[shown.count - 1].owners.append(email) }
        }
        #expect(shown.map { $0.slug + ":" + $0.owners.joined(separator: ",") } == expected)
        #expect(lines.suffix(2) == ["2500 tenants", ""], "\(lines.suffix(3))")
    }

    @Test("memory stays flat: list and list --json over 20,000 tenants peak within 8 MiB of over 1,000")
    func flatMemory() throws {
        let small = try TestDatabase.create()
        try small.addFleet(1_000, prefix: "fleet")
        let large = try TestDatabase.create()
        try large.addFleet(20_000, prefix: "fleet")
        for arguments in [["list"], ["list", "--json"]] {
            let few = try ProvisionBinary.run(arguments, databaseURL: small.url, measurePeakMemory: true)
            let many = try ProvisionBinary.run(arguments, databaseURL: large.url, measurePeakMemory: true)
            #expect(few.status == 0 && many.status == 0, "\(few.stderr)\n\(many.stderr)")
            #expect(many.stdout.hasSuffix(arguments.count == 1 ? "20000 tenants\n" : "\"count\" : 20000\n}\n"))
            let (low, high) = (try #require(few.peakRSSKiB), try #require(many.peakRSSKiB))
            #expect(high - low <= 8 * 1024, "\(arguments.joined(separator: " ")): peak \(low) KiB over 1,000 tenants, \(high) KiB over 20,000")
        }
    }

    @Test("a reader that pauses past the statement limit (a pager) does not end the listing: each FETCH has ended on the server meanwhile")
    func pausedReader() throws {
        let db = try TestDatabase.create()
        try db.addFleet(20_000, prefix: "fleet")
        // Rows of about 600 bytes: the 200 of a FETCH fit in the socket's buffers, the
        // 1,000 of a larger one would not.
        try db.connect().run(fixture: "UPDATE tenants SET name = name || ' ' || repeat('n', 300)")
        let child = try Spawned(["list", "--json"], databaseURL: db.url, environment: ["PROVISION_STATEMENT_TIMEOUT_MS": "2000"])
        // Nothing read for twice the statement limit: the pipe fills, and the listing
        // waits part-way through.
        Thread.sleep(forTimeInterval: 4)
        let ended = child.finish()
        #expect(ended.ended == .exited(0), "\(ended.ended)\n\(ended.stderr)")
        let document = (try? JSONSerialization.jsonObject(with: Data(ended.stdout.utf8))) as? [String: Any]
        #expect(document?["count"] as? Int == 20_000 && (document?["tenants"] as? [Any])?.count == 20_000, "\(ended.stderr)")
    }

    @Test("after output began: a lost connection, an interrupt or a closed stdout ends the run non-zero, saying on stderr that stdout is incomplete")
    func failuresMidStream() throws {
        let db = try TestDatabase.create()
        try db.addFleet(20_000, prefix: "fleet")

        /// Starts `list`, takes its first 64 KiB, then does `act` while the rest waits
        /// in the pipe; returns how it ended and all it printed.
        func interrupted(_ arguments: [String], _ act: (Spawned) throws -> Void) throws -> (ended: Spawned.Ending, stdout: String, stderr: String) {
            let child = try Spawned(arguments, databaseURL: db.url)
            var first = Data()
            while first.count < 65_536 {
                let chunk = child.stdout.availableData
                if chunk.isEmpty { break }
                first.append(chunk)
            }
            try act(child)
            let rest = child.finish()
            return (rest.ended, String(decoding: first, as: UTF8.self) + rest.stdout, rest.stderr)
        }

        // The server goes away mid-listing (an administrator's pg_terminate_backend).
        let lost = try interrupted(["list", "--json"]) { _ in
            let ended = try db.column("""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = \(literal(db.name)) AND application_name = 'provision' AND pid <> pg_backend_pid()
                """)
            #expect(ended == ["t"], "the listing's backend was found and ended: \(ended)")
        }
        #expect(lost.ended != .exited(0) && lost.ended != .signalled(SIGKILL), "\(lost.ended)\n\(lost.stderr)")
        #expect(lost.stderr.contains("error: ") && lost.stderr.contains("the JSON document on stdout is incomplete"), "\(lost.stderr)")
        #expect(lost.stdout.hasPrefix("{\n  \"command\" : \"list\",\n  \"tenants\" : ["), "\(lost.stdout.prefix(200))")
        #expect((try? JSONSerialization.jsonObject(with: Data(lost.stdout.utf8))) == nil, "a document cut short is not valid JSON")
        #expect(!lost.stdout.contains("\"error\""), "no second document after the first began")

        // Ctrl-C mid-listing.
        let stopped = try interrupted(["list"]) { child in kill(child.pid, SIGINT) }
        #expect(stopped.ended == .exited(130), "\(stopped.ended)\n\(stopped.stderr)")
        #expect(stopped.stderr.contains("interrupted: the output on stdout is incomplete"), "\(stopped.stderr)")
        #expect(stopped.stdout.hasPrefix("SLUG") && !stopped.stdout.contains("20000 tenants"))

        // The reader goes away (`provision list | head`): the listing stops there.
        let child = try Spawned(["list"], databaseURL: db.url)
        _ = child.stdout.availableData
        try child.stdout.close()
        let errors = ReadInBackground(child.stderr)
        let ended = child.wait()
        let stderr = String(decoding: errors.wait(), as: UTF8.self)
        #expect(ended == .exited(1), "\(ended)\n\(stderr)")
        #expect(stderr.contains("error: could not write to stdout (Broken pipe)"), "\(stderr)")
    }
}
