import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// CONTRACT §14: `check --all` at fleet scale — a tenant reported as soon as it is checked
// and then let go, long messages cut in text (whole in JSON), and a report that is
// complete and valid however the run ends: a check stuck past every limit, an interrupt.

@Suite("check --all, streamed")
struct FleetCheckStreamTests {
    static func tenants(_ slugs: [String], in db: TestDatabase) throws {
        for slug in slugs { try ProvisionBinary.tenant(slug, owner: "owner@\(slug).example", in: db) }
    }

    static func slugs(of json: [String: Any]?) -> [String] {
        ((json?["tenants"] as? [[String: Any]]) ?? []).compactMap { ($0["tenant"] as? [String: Any])?["slug"] as? String }
    }

    @Test("a check stuck past every limit for one tenant: that tenant's check is an error naming tenant and check, and every other tenant is checked and reported, in one report")
    func stuckCheck() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try Self.tenants(["s-1", "s-2", "s-3", "s-4"], in: db)
        try scratch.write("checks/stuck.lua", """
            return { id = "stuck-for-s-2", title = "Stuck for one tenant", run = function(ctx)
              if ctx.tenant.slug == "s-2" then string.find(string.rep("a", 40000), ".-.-.-.-.-.-.-.-.-b") end
              ctx.pass("not stuck")
            end }
            """)
        let arguments = ["check", "--all", "--checks", scratch.path("checks"), "--only", "stuck-for-s-2,owner-membership", "--checkTimeout", "0.5"]

        let text = try ProvisionBinary.run(arguments, databaseURL: db.url, timeout: 60)
        #expect(text.status == 1, "\(text)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "Go-live checks for 4 tenants:" && lines.filter { $0.hasPrefix("Go-live") }.count == 1, "one report: \(text.stdout)")
        #expect(lines.contains { $0.hasPrefix("  ✓ s-1 ") }, "the tenant before it was reported: \(text.stdout)")
        #expect(lines.contains { $0.hasPrefix("  E s-2 ") }, "\(text.stdout)")
        #expect(lines.contains { $0.contains("s-2") && $0.contains("stuck-for-s-2") && $0.contains("did not stop") && $0.contains("for tenant s-2") },
                "\(text.stdout)")
        #expect(lines.contains { $0.hasPrefix("  ✓ s-3 ") } && lines.contains { $0.hasPrefix("  ✓ s-4 ") }, "the tenants after it too: \(text.stdout)")
        #expect(lines.last == "3 of 4 tenants ready, 1 with failing checks", "\(text.stdout)")

        let json = try ProvisionBinary.run(arguments + ["--json"], databaseURL: db.url, timeout: 60)
        #expect(json.status == 1, "\(json)")
        try ContractSchema.validate(json.stdout, as: .fleetCheck)
        #expect(Self.slugs(of: json.json) == ["s-1", "s-2", "s-3", "s-4"], "\(json.stdout)")
        #expect(json.json?["stopped"] == nil, "it did not stop: \(json.stdout)")
        let stuck = (json.json?["tenants"] as? [[String: Any]])?[1]["checks"] as? [[String: Any]]
        #expect(stuck?.count == 1 && stuck?.first?["id"] as? String == "stuck-for-s-2" && stuck?.first?["status"] as? String == "error",
                "\(String(describing: stuck))")
        let summary = json.json?["summary"] as? [String: Any]
        #expect(summary?["tenants"] as? Int == 4 && summary?["failing"] as? Int == 1 && summary?["error"] as? Int == 1
                && summary?["pass"] as? Int == 6, "\(String(describing: summary))")
    }

    @Test("a check stuck for tenant after tenant: after 10 the report is closed where it stopped, valid, saying why and how many were not checked")
    func stuckEverywhere() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let slugs = (10...23).map { "e-\($0)" }
        try Self.tenants(slugs, in: db)
        try scratch.write("checks/stuck.lua", """
            return { id = "always-stuck", title = "Stuck for every tenant", run = function(ctx)
              string.find(string.rep("a", 40000), ".-.-.-.-.-.-.-.-.-b")
              ctx.pass("not stuck")
            end }
            """)
        let json = try ProvisionBinary.run(["check", "--all", "--checks", scratch.path("checks"), "--only", "always-stuck", "--checkTimeout", "0.05",
                                            "--json"], databaseURL: db.url, timeout: 120)
        #expect(json.status == 1, "\(json)")
        try ContractSchema.validate(json.stdout, as: .fleetCheck)
        #expect(Self.slugs(of: json.json) == Array(slugs.prefix(11)), "\(json.stdout)")
        let stopped = json.json?["stopped"] as? [String: Any]
        #expect(stopped?["reason"] as? String == "stuck" && stopped?["tenant"] as? String == "e-20"
                && stopped?["check"] as? String == "always-stuck" && stopped?["unchecked"] as? Int == 3, "\(String(describing: stopped))")
        #expect((stopped?["message"] as? String)?.contains("11 checks got stuck, so the rest were not checked") == true, "\(String(describing: stopped))")
        #expect(json.stderr.contains("11 checks got stuck"), "\(json.stderr)")
    }

    @Test("an interrupt while the fleet is checked: exit 130, and stdout is still one valid document with the tenants done and stopped: interrupted")
    func interrupted() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try Self.tenants(["i-1", "i-2", "i-3", "i-4"], in: db)
        try scratch.write("checks/slow.lua", """
            return { id = "slow", title = "Slow", run = function(ctx)
              ctx.query("SELECT pg_sleep(0.4)")
              ctx.pass("slow but fine")
            end }
            """)
        let started = try ProvisionBinary.start(["check", "--all", "--checks", scratch.path("checks"), "--only", "slow", "--json"],
                                                databaseURL: db.url)
        Thread.sleep(forTimeInterval: 1.0)
        kill(started.0.processIdentifier, SIGINT)
        let result = ProvisionBinary.finish(started)

        #expect(result.status == 130, "\(result)")
        try ContractSchema.validate(result.stdout, as: .fleetCheck)
        let stopped = result.json?["stopped"] as? [String: Any]
        #expect(stopped?["reason"] as? String == "interrupted", "\(result.stdout)")
        let done = Self.slugs(of: result.json)
        #expect(done.count < 4 && (result.json?["summary"] as? [String: Any])?["tenants"] as? Int == done.count, "\(result.stdout)")
        #expect(stopped?["unchecked"] as? Int == 4 - done.count)
    }

    @Test("no one reads the report (| head, stdout closed): check --all stops there, exit 1, and says how far it got; the database never sees the report",
          arguments: [false, true])
    func readerGone(json: Bool) throws {
        let db = try TestDatabase.create()
        let slugs = (1...40).map { "gone-\($0)" }
        try Self.tenants(slugs, in: db)
        for redirect in ["| head -c 1 >/dev/null", ">&-"] {
            let script = "\"$0\" \"$@\" \(redirect); exit ${PIPESTATUS[0]}"
            let child = try Spawned(["-c", script, ProvisionBinary.path, "check", "--all"] + (json ? ["--json"] : []),
                                    databaseURL: db.url, executable: "/bin/bash")
            let (ended, _, stderr) = child.finish()
            #expect(ended == .exited(1), "\(redirect): \(ended)\n\(stderr)")
            let errno = redirect == ">&-" ? "Bad file descriptor" : "Broken pipe"
            #expect(stderr.contains("error: could not write to stdout (\(errno)): the report stopped after at most "), "\(redirect): \(stderr)")
            // It stopped at the first write that failed, not after the whole fleet.
            let done = stderr.split(separator: "at most ").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? slugs.count
            #expect(done < slugs.count / 2, "\(redirect): stopped after \(done) of \(slugs.count): \(stderr)")
            // stdout missing altogether: the report does not go down the database's socket,
            // whose number it would otherwise take.
            #expect(!stderr.contains("frontend message") && !stderr.contains("lost the connection"), "\(redirect): \(stderr)")
        }
    }

    @Test("a long message is cut in the text line with a marker, and whole in JSON; a check's messages count against its memory limit")
    func longMessages() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try Self.tenants(["m-1"], in: db)
        try scratch.write("checks/long.lua", """
            return { id = "long", title = "Long", run = function(ctx) ctx.fail(string.rep("x", 5000)) end }
            """)
        try scratch.write("checks/huge.lua", """
            return { id = "huge", title = "Huge", run = function(ctx)
              local big = string.rep("y", 24 * 1024 * 1024)
              ctx.warn(big)
              ctx.warn(big)
            end }
            """)
        let arguments = ["check", "--all", "--checks", scratch.path("checks"), "--only", "long,huge", "--checkTimeout", "10"]

        let text = try ProvisionBinary.run(arguments, databaseURL: db.url)
        #expect(text.status == 1, "\(text)")
        let line = try #require(text.stdout.split(separator: "\n").first { $0.contains("  long  ") }, "\(text.stdout)")
        #expect(line.count < 400 && line.contains("… (4800 more characters; --json has it whole)"), "\(line)")
        #expect(text.stdout.contains("huge") && text.stdout.contains("used more than 64 MB"),
                "two 24 MiB messages do not fit a check's 64 MB: an error, not the host's memory: \(text.stdout.prefix(2000))")

        let json = try ProvisionBinary.run(arguments + ["--json"], databaseURL: db.url)
        try ContractSchema.validate(json.stdout, as: .fleetCheck)
        let checks = ((json.json?["tenants"] as? [[String: Any]])?.first?["checks"] as? [[String: Any]]) ?? []
        #expect((checks.first { $0["id"] as? String == "long" }?["message"] as? String)?.count == 5000, "whole in JSON")
    }
}
