import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// `provision test` (CONTRACT §8): test files for checks and playbooks, each test in a
// transaction that is always rolled back.

@Suite("provision test")
struct TestCommandTests {
    static func runTests(_ arguments: [String], in db: TestDatabase, workingDirectory: String? = nil) throws -> ProvisionBinary.Result {
        try ProvisionBinary.run(["test"] + arguments, databaseURL: db.url, workingDirectory: workingDirectory)
    }

    @Test("the shipped tests (built-in checks, the tenant playbook, the example check) pass, and leave the database exactly as it was, twice")
    func shipped() throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.tenant("existing", owner: "owner@existing.example", in: db)
        let before = try db.rowCounts()
        let snapshot = try db.column("SELECT concat_ws('|', id, slug, name) FROM tenants ORDER BY id")
        let root = Repository.path(".")

        for _ in 0..<2 {
            let builtIn = try Self.runTests([], in: db, workingDirectory: root)
            #expect(builtIn.status == 0, "\(builtIn)")
            #expect(builtIn.stdout.contains("tests/checks/builtin_checks_test.lua"), "\(builtIn.stdout)")
            #expect(builtIn.stdout.hasSuffix("18 passed, 0 failed\n"), "\(builtIn.stdout)")

            let example = try Self.runTests(["scripts/checks", "--checks", "scripts/checks", "--json"], in: db, workingDirectory: root)
            #expect(example.status == 0, "\(example)")
            try ContractSchema.validate(example.stdout, as: .test)
            #expect((example.json?["summary"] as? [String: Any])?["passed"] as? Int == 3, "\(example.stdout)")

            #expect(try db.rowCounts() == before, "nothing of any test stayed")
            #expect(try db.column("SELECT concat_ws('|', id, slug, name) FROM tenants ORDER BY id") == snapshot)
        }
    }

    @Test("passing, failing and erroring tests: one line each, file:line on failure, the counts, exit 1; an assertion a test catches still fails it")
    func mixed() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("suite/mixed_test.lua", """
            return {
              ["a passes"] = function(t) t.eq({ a = 1, b = { 2 } }, { a = 1, b = { 2 } }) end,
              ["b fails"] = function(t)
                t.tenant{ slug = "mixed" }
                t.eq(t.check("support-contact", "mixed"), "pass")
              end,
              ["c errors"] = function(t) error("boom") end,
              ["d catches its failed assertion"] = function(t) pcall(t.ok, false, "caught") end,
              ["e loops"] = function(t) while true do end end,
            }
            """)
        try scratch.write("suite/nested/other_test.lua", #"return { ["only"] = function(t) t.match("abc", "^a") end }"#)
        try scratch.write("suite/helper.lua", "error('never loaded')")
        let before = try db.rowCounts()

        let result = try Self.runTests([scratch.path("suite"), "--timeout", "1"], in: db)

        #expect(result.status == 1, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("  ✓ a passes"), "\(result.stdout)")
        #expect(lines.contains("  ✗ b fails"), "\(result.stdout)")
        #expect(lines.contains { $0.contains("mixed_test.lua:5: expected \"pass\", got \"warn\"") }, "file:line of the assertion: \(result.stdout)")
        #expect(lines.contains("  E c errors") && lines.contains { $0.contains("mixed_test.lua:7: boom") }, "\(result.stdout)")
        #expect(lines.contains("  ✗ d catches its failed assertion") && lines.contains { $0.contains("caught") }, "\(result.stdout)")
        #expect(lines.contains("  E e loops") && lines.contains { $0.contains("longer than its 1 s limit") }, "\(result.stdout)")
        #expect(lines.contains("  ✓ only"), "folders are searched recursively: \(result.stdout)")
        #expect(!result.stdout.contains("helper"), "only *_test.lua files")
        #expect(result.stdout.hasSuffix("2 passed, 4 failed\n"), "\(result.stdout)")
        #expect(try db.rowCounts() == before)

        let json = try Self.runTests([scratch.path("suite"), "--timeout", "1", "--json"], in: db)
        #expect(json.status == 1)
        try ContractSchema.validate(json.stdout, as: .test)
        #expect((json.json?["summary"] as? [String: Any])?["failed"] as? Int == 4, "\(json.stdout)")
    }

    @Test("a test that tries to commit, write or escape its transaction is refused; nothing of it stays")
    func escapes() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.write("escape/commit.lua", """
            local p = require "provision"
            p.createTenant{ slug = "escaped-by-playbook", name = "Escaped" }
            p.query("COMMIT")
            """)
        try scratch.write("escape/escape_test.lua", """
            return {
              ["commit through t.query"] = function(t)
                t.tenant{ slug = "escaped-commit" }
                t.query("COMMIT")
              end,
              ["write through t.query"] = function(t)
                t.query("INSERT INTO tenants (slug, name) VALUES ('escaped-insert', 'x') RETURNING id")
              end,
              ["end the transaction from a playbook"] = function(t)
                local result = t.run("commit.lua")
                t.eq(result.ok, false)
                t.tenant{ slug = "escaped-after" }
                error("stop with " .. result.error.code)
              end,
            }
            """)
        let before = try db.rowCounts()

        let result = try Self.runTests([scratch.path("escape")], in: db)

        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.hasSuffix("0 passed, 3 failed\n"), "\(result.stdout)")
        #expect(result.stdout.contains("  E commit through t.query") && result.stdout.contains("  E write through t.query"), "\(result.stdout)")
        #expect(try db.rowCounts() == before, "nothing of any test stayed")
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug LIKE 'escaped%'") == 0)
    }

    @Test("bad invocations: no tests folder, a missing path, a file returning no tests")
    func badInput() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let none = try Self.runTests(["--json"], in: db, workingDirectory: scratch.url.path)
        #expect(none.status == 2 && none.errorField == "path", "\(none)")
        let missing = try Self.runTests([scratch.path("nowhere_test.lua")], in: db)
        #expect(missing.status == 2, "\(missing)")
        let empty = try Self.runTests([try scratch.write("empty_test.lua", "return {}")], in: db)
        #expect(empty.status == 1 && empty.stdout.contains("returned no tests"), "\(empty)")
        let typo = try Self.runTests([try scratch.write("typo_test.lua", #"return { ["x"] = function(t) t.check("catalgo", "x") end }"#)], in: db)
        #expect(typo.status == 1 && typo.stdout.contains("did you mean 'catalog'?"), "\(typo)")
    }

    @Test("t.run goes through the file gate: /proc/self/maps, /proc/self/environ, a FIFO and a folder are refused, no fragment of them shown",
          arguments: ["/proc/self/maps", "/proc/self/environ", "/dev/stdin", "FIFO", "FOLDER"])
    func tRunReadsRegularFilesOnly(_ target: String) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        var path = target
        if target == "FIFO" {
            path = scratch.path("pipe.lua")
            #expect(mkfifo(path, 0o600) == 0)
        } else if target == "FOLDER" {
            path = scratch.path("folder.lua")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        let test = try scratch.write("gate_test.lua", """
            return { ["run a file that is not a playbook"] = function(t)
              local result = t.run("\(path)")
              t.ok(not result.ok, "refused")
              t.eq(result.error.code, "forbidden")
              error(result.error.message)
            end }
            """)
        let before = try db.rowCounts()
        let result = try Self.runTests([test, "--json", "--timeout", "10"], in: db)
        #expect(result.status == 1, "\(result)")
        let message = (((result.json?["files"] as? [[String: Any]])?.first?["tests"] as? [[String: Any]])?.first?["message"] as? String) ?? ""
        #expect(message.contains("the test raised an error") && (message.contains("kernel file system") || message.contains("not a regular file")),
                "refused by the gate, and only that reported: \(result)")
        for fragment in ["r-xp", "PATH=", "DATABASE_URL", "[heap]", "syntax error", "unexpected symbol"] {
            #expect(!result.stdout.contains(fragment) && !result.stderr.contains(fragment), "\(fragment) shown: \(result)")
        }
        #expect(try db.rowCounts() == before)
    }
}
