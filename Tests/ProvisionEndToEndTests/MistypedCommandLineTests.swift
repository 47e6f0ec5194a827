import Foundation
import ProvisionTestSupport
import Testing

/// CONTRACT §14: a mistyped command suggests the closest one; a flag given to a command
/// that does not take it names the commands that do. Usage errors all: exit 2, the error
/// on stderr (or as the JSON document), nothing written.
@Suite("A mistyped command line says what was meant")
struct MistypedCommandLineTests {
    /// Runs `arguments` in both forms against a database; returns the message each gave.
    static func refused(_ arguments: [String], field: String?, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let db = try TestDatabase.create()
        try ProvisionBinary.run(Runbook.tenant("pilot", owner: "owner@pilot.example.com"), databaseURL: db.url)
        let before = try db.rowCounts()
        var messages: [String] = []
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(arguments), databaseURL: db.url)
            #expect(result.status == 2, "\(result)", sourceLocation: sourceLocation)
            switch mode {
            case .human:
                #expect(result.stdout.isEmpty, "errors go to stderr: \(result)", sourceLocation: sourceLocation)
                let line = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
                #expect(line.hasPrefix("error: "), "\(result)", sourceLocation: sourceLocation)
                messages.append(String(line.dropFirst("error: ".count)))
            case .json:
                #expect(result.errorCode == "invalid_input" && result.errorField == field, "\(result)", sourceLocation: sourceLocation)
                try ContractSchema.validate(result.stdout, as: .error)
                messages.append(result.errorMessage ?? "")
            }
        }
        #expect(messages.count == 2 && messages[0] == messages[1], "text and JSON say the same: \(messages)", sourceLocation: sourceLocation)
        #expect(try db.rowCounts() == before, "nothing written", sourceLocation: sourceLocation)
        return messages
    }

    @Test("A mistyped command suggests the closest one",
          arguments: [(["lst"], "unknown command 'lst'; did you mean 'list'?"),
                      (["tennant", "--dryRun"], "unknown command 'tennant'; did you mean 'tenant'?"),
                      (["member", "ad", "--role", "ADMIN"],
                       "unknown command 'member ad'; did you mean 'member add'? (the commands that take --role: member add, member set-role)"),
                      (["chek"], "unknown command 'chek'; did you mean 'check'?")])
    func aMistypedCommandSuggestsTheClosest(arguments: [String], message: String) throws {
        let messages = try Self.refused(arguments, field: nil)
        #expect(messages.first == message, "\(messages)")
    }

    @Test func aWordFarFromEveryCommandListsThem() throws {
        let messages = try Self.refused(["provision-tenant"], field: nil)
        #expect(messages.first?.hasPrefix("unknown command 'provision-tenant'; the commands of provision are: migrate, tenant, run, batch, check,") == true,
                "\(messages)")
    }

    @Test("A flag given to a command that does not take it names the commands that do")
    func aFlagOfOtherCommandsNamesThem() throws {
        let takers = "tenant, check, update, member add, member set-role, member remove, show, delete"
        #expect(try Self.refused(["list", "--tenantSlug", "pilot"], field: "tenantSlug").first
                == "provision list does not take --tenantSlug; these commands do: \(takers)")
        #expect(try Self.refused(["show", "--email", "owner@pilot.example.com"], field: "email").first
                == "provision show does not take --email; these commands do: reset-password, member add, member set-role, member remove")
        #expect(try Self.refused(["member", "remove", "--tenantSlug", "pilot", "--email", "owner@pilot.example.com", "--role", "ADMIN"],
                                 field: "role").first
                == "provision member remove does not take --role; these commands do: member add, member set-role")
    }

    @Test("A mistyped command with the flags of a command says both")
    func aMistypedCommandWithItsFlags() throws {
        #expect(try Self.refused(["tenat", "--tenantSlug", "x"], field: nil).first
                == "unknown command 'tenat'; did you mean 'tenant'? (the commands that take --tenantSlug: tenant, check, update, member add, member set-role, member remove, show, delete)")
        #expect(try Self.refused(["tenat", "--tenantSlug", "x", "--timeZone", "UTC"], field: nil).first
                == "unknown command 'tenat'; did you mean 'tenant'? (the commands that take --tenantSlug and --timeZone: tenant, update)")
        // A flag (nearly) every command takes says nothing of which was meant.
        let json = try ProvisionBinary.run(["lst", "--json"], databaseURL: nil)
        #expect(json.status == 2 && json.errorMessage == "unknown command 'lst'; did you mean 'list'?", "\(json)")
        let both = try ProvisionBinary.run(["tenat", "--tenantSlug", "x", "--json", "--dryRun"], databaseURL: nil)
        #expect(both.status == 2 && both.errorMessage?.hasSuffix("(the commands that take --tenantSlug: tenant, check, update, member add, member set-role, member remove, show, delete)") == true,
                "\(both)")
    }

    @Test("A mistyped flag suggests the command's closest, in the spelling typed",
          arguments: [(["tenant", "--tenantSlg", "pilot-2"], "tenantSlg", "provision tenant has no option --tenantSlg; did you mean --tenantSlug?"),
                      (["check", "--tenant-slg", "pilot"], "tenant-slg", "provision check has no option --tenant-slg; did you mean --tenant-slug?")])
    func aMistypedFlagSuggestsTheClosest(arguments: [String], field: String, message: String) throws {
        #expect(try Self.refused(arguments, field: field).first == message)
    }

    @Test("What the parser says already stays as it was")
    func otherUsageErrorsAreUnchanged() throws {
        #expect(try Self.refused(["tenant", "--tenantSlug"], field: "tenantSlug").first?.hasPrefix("Missing value for '--tenantSlug") == true)
        #expect(try Self.refused(["list", "extra"], field: nil).first == "Unexpected argument 'extra'")
    }
}
