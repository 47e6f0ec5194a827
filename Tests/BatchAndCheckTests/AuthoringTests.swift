import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §8 "Playbook parameters" and the helpful errors of issue 12: declared
// parameters shown by --help and checked before the run, did-you-mean for fields,
// functions and vars, and the source line of an uncaught error.

@Suite("Playbook parameters")
struct PlaybookParameterTests {
    static let declared = """
        return {
          description = "Adds a pilot with a number of seats.",
          params = {
            { name = "slug", type = "string", required = true, help = "the tenant's slug" },
            { name = "seats", type = "integer", default = 25, help = "how many seats" },
            { name = "ratio", type = "number", default = 0.5 },
            { name = "trial", type = "boolean", default = false },
            { name = "plan", type = "string", default = "basic", choices = { "basic", "pro" } },
          },
          run = function(p, args, ...)
            p.log(("types: %s %s %s %s %s"):format(type(args.slug), math.type(args.seats), math.type(args.ratio), type(args.trial), args.plan))
            p.log(("values: %s %d %g %s extra=%s"):format(args.slug, args.seats, args.ratio, tostring(args.trial), select("#", ...)))
            p.createTenant{ slug = args.slug, name = "Seats " .. args.seats, supportEmail = "help@seats.example" }
          end,
        }
        """

    @Test("--help shows the description and every parameter with its type, default, choices and whether it is required; nothing runs")
    func help() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let playbook = try scratch.write("seats.lua", Self.declared)

        let result = try ProvisionBinary.run(["run", playbook, "--help"], databaseURL: nil)

        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("USAGE: provision run"), "the command's own help first: \(result.stdout)")
        #expect(result.stdout.contains("Adds a pilot with a number of seats."))
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("slug <string>") && $0.contains("the tenant's slug") && $0.contains("required") }, "\(result.stdout)")
        #expect(lines.contains { $0.contains("seats <integer>") && $0.contains("default: 25") })
        #expect(lines.contains { $0.contains("plan <string>") && $0.contains("one of: basic, pro") })

        let plain = try ProvisionBinary.run(["run", try scratch.write("plain.lua", "provision.log('ran')"), "--help"], databaseURL: nil)
        #expect(plain.status == 0 && plain.stdout.contains("declares no parameters"), "\(plain)")
    }

    @Test("values arrive typed, defaults fill the rest, and arguments after -- still follow")
    func typedValues() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let playbook = try scratch.write("seats.lua", Self.declared)

        let result = try ProvisionBinary.run(["run", playbook, "--var", "slug=seats-a", "--var", "seats=40", "--var", "trial=yes", "--", "x", "y"],
                                             databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("types: string integer float boolean basic"), "\(result.stderr)")
        #expect(result.stderr.contains("values: seats-a 40 0.5 true extra=2"), "\(result.stderr)")
        #expect(try db.tenantExists("seats-a"))
    }

    @Test("unknown (with the closest name), missing and mistyped values are refused together before the run (2); nothing written")
    func refused() throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        let playbook = try scratch.write("seats.lua", Self.declared)
        let before = try db.rowCounts()

        let result = try ProvisionBinary.run(["run", playbook, "--var", "slgu=x", "--var", "seats=many", "--var", "plan=gold", "--json"],
                                             databaseURL: db.url)

        #expect(result.status == 2, "\(result)")
        #expect(result.errorCode == "invalid_input", "\(result)")
        let problems = (result.json?["error"] as? [String: Any])?["problems"] as? [[String: Any]] ?? []
        let messages = problems.map { "\($0["field"] ?? ""): \($0["message"] ?? "")" }
        #expect(messages.contains { $0.hasPrefix("slgu:") && $0.contains("did you mean 'slug'?") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("slug:") && $0.contains("required") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("seats:") && $0.contains("whole number") }, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("plan:") && $0.contains("not one of basic, pro") }, "\(messages)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try db.rowCounts() == before)
    }

    @Test("the shipped example playbooks declare their parameters")
    func examples() throws {
        for name in ["add-admin", "go-live", "two-pilots-shared-owner"] {
            let result = try ProvisionBinary.run(["run", Repository.path("scripts/playbooks/\(name).lua"), "--help"], databaseURL: nil)
            #expect(result.status == 0 && result.stdout.contains("PLAYBOOK PARAMETERS"), "\(name): \(result)")
        }
    }
}

@Suite("Helpful errors for playbook authors")
struct HelpfulErrorTests {
    static func run(_ source: String, _ extra: [String] = []) throws -> ProvisionBinary.Result {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = try scratch.write("book.lua", source)
        return try ProvisionBinary.run(["run", path, "--dryRun"] + extra, databaseURL: nil)
    }

    @Test("an unknown field suggests the closest one, and the line is shown with a caret under it")
    func unknownField() throws {
        let result = try Self.run("""
            local p = require "provision"
            p.createTenant{ slug = "pilot", name = "Pilot", supportEmial = "help@pilot.example" }
            """)
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("book.lua:2: createTenant: unknown field 'supportEmial'; did you mean 'supportEmail'?"), "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n").map(String.init)
        let source = try #require(lines.firstIndex { $0.hasPrefix(" 2 | ") }, "the source line: \(result.stderr)")
        let caret = lines[source + 1]
        let column = try #require(lines[source].range(of: "supportEmial")).lowerBound
        #expect(caret.firstIndex(of: "^").map { caret.distance(from: caret.startIndex, to: $0) } == lines[source].distance(from: lines[source].startIndex, to: column),
                "the caret under the field: \(result.stderr)")
    }

    @Test("an unknown function names the closest one instead of 'attempt to call a nil value'; the playbook's frames follow")
    func unknownFunction() throws {
        let result = try Self.run("""
            local p = require "provision"
            local function helper()
              p.creatUser{ email = "a@b.example" }
            end
            helper()
            """, ["--json"])
        #expect(result.status == 1, "\(result)")
        #expect(result.errorMessage?.contains("provision has no function 'creatUser'; did you mean 'createUser'?") == true, "\(result)")
        #expect(!result.stderr.contains("attempt to call a nil value"))
        #expect(result.stderr.contains(" 3 |   p.creatUser{") && result.stderr.contains("^^^^^^^^^"), "\(result.stderr)")
        #expect(result.stderr.contains("stack traceback:") && result.stderr.contains("book.lua:5: in main chunk"), "\(result.stderr)")
        #expect(!result.stdout.contains(" 3 | "), "the excerpt is for people, never in the JSON")
    }

    @Test("a syntax error shows the line and the token")
    func syntax() throws {
        let result = try Self.run("local x = 1\nlocal y = = 3\n")
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("book.lua:2: unexpected symbol near '='"), "\(result.stderr)")
        #expect(result.stderr.contains(" 2 | local y = = 3"), "\(result.stderr)")
    }
}
