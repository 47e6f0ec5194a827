import Foundation
import ProvisionTestSupport
import Testing

/// CONTRACT §9: a numeric flag or setting out of range (`--timeout inf`, `1e300`) is
/// invalid input (exit 2) naming the flag, checked before anything runs; never a trap.
@Suite("Numeric flags and settings out of range: exit 2, the flag named, nothing run or written")
struct NumericFlagTests {
    /// A command that would write a tenant (and, for `run`, log a line) if it ran.
    enum Command: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case tenant, run, batch
        var testDescription: String { rawValue }

        func arguments(in folder: URL) throws -> [String] {
            switch self {
            case .tenant:
                return Runbook.tenant("numbers", owner: "owner@numbers.example.com")
            case .run:
                let playbook = folder.appendingPathComponent("numbers.lua")
                try Data("""
                    local p = require "provision"
                    p.log("the playbook ran")
                    local t = p.createTenant{ slug = "numbers", name = "Numbers" }
                    local u = p.createOwner{ email = "owner@numbers.example.com" }
                    p.linkMembership{ tenant = t, user = u, role = "OWNER" }
                    """.utf8).write(to: playbook)
                return ["run", playbook.path]
            case .batch:
                let file = folder.appendingPathComponent("numbers.csv")
                try Data("tenantSlug,tenantName,ownerEmail\nnumbers,Numbers,owner@numbers.example.com\n".utf8).write(to: file)
                return ["batch", file.path]
            }
        }
    }

    static let badTimeouts = ["inf", "-inf", "infinity", "nan", "1e300", "-0", "0", "-1", "604801", "0.0001", "1e-300", "ten"]
    static let badMemory = ["0", "-1", "65537", "inf", "nan", "1e3", "1.5", "99999999999999999999"]
    static let badStatementTimeouts = ["abc", "-1", "0", "1.5", "30s", "604800001", "99999999999999999999", "inf"]

    @Test("--timeout out of range or not a number", arguments: Command.allCases, badTimeouts)
    func timeout(_ command: Command, _ value: String) throws {
        try expectRefusedBeforeRunning(command, extra: ["--timeout=\(value)"], field: "timeout")
    }

    @Test("--maxMemoryMB out of range or not a whole number", arguments: Command.allCases, badMemory)
    func maxMemory(_ command: Command, _ value: String) throws {
        try expectRefusedBeforeRunning(command, extra: ["--maxMemoryMB=\(value)"], field: "maxMemoryMB")
    }

    @Test("PROVISION_STATEMENT_TIMEOUT_MS that is not a whole number of milliseconds in range",
          arguments: Command.allCases, badStatementTimeouts)
    func statementTimeout(_ command: Command, _ value: String) throws {
        try expectRefusedBeforeRunning(command, extra: [], environment: ["PROVISION_STATEMENT_TIMEOUT_MS": value],
                                       field: "PROVISION_STATEMENT_TIMEOUT_MS")
    }

    @Test("check --checkTimeout out of range or not a number", arguments: badTimeouts.filter { $0 != "604801" } + ["3601"])
    func checkTimeout(_ value: String) throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.run(Runbook.tenant("checked", owner: "owner@checked.example.com"), databaseURL: db.url)
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(["check", "--tenantSlug", "checked", "--checkTimeout=\(value)"]),
                                                 databaseURL: db.url)
            try expectInvalidInput(result, field: "checkTimeout", hint: nil, mode: mode)
            #expect(result.json?["checks"] == nil && !result.stdout.contains("✓"), "no check ran: \(result)")
        }
    }

    @Test("check with an invalid PROVISION_STATEMENT_TIMEOUT_MS", arguments: badStatementTimeouts)
    func checkStatementTimeout(_ value: String) throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.run(Runbook.tenant("checked", owner: "owner@checked.example.com"), databaseURL: db.url)
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(["check", "--tenantSlug", "checked"]), databaseURL: db.url,
                                                 environment: ["PROVISION_STATEMENT_TIMEOUT_MS": value])
            try expectInvalidInput(result, field: "PROVISION_STATEMENT_TIMEOUT_MS", hint: nil, mode: mode)
        }
    }

    @Test("values at the limits are accepted", arguments: [
        (["--timeout", "604800"], [:]), (["--timeout", "30.5"], [:]), (["--maxMemoryMB", "65536"], [:]),
        ([], ["PROVISION_STATEMENT_TIMEOUT_MS": "604800000"]), ([], ["PROVISION_STATEMENT_TIMEOUT_MS": "1000"]),
        ([], ["PROVISION_STATEMENT_TIMEOUT_MS": ""]),
    ] as [([String], [String: String])])
    func accepted(_ extra: [String], _ environment: [String: String]) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(Runbook.tenant("limits", owner: "owner@limits.example.com") + extra + ["--json"],
                                             databaseURL: db.url, environment: environment)
        #expect(result.status == 0, "\(result)")
        #expect(try db.count("SELECT 1 FROM tenants WHERE slug = 'limits'") == 1)
    }

    @Test("check --checkTimeout at its limits is accepted", arguments: ["3600", "2.5"])
    func checkTimeoutAccepted(_ value: String) throws {
        let db = try TestDatabase.create()
        try ProvisionBinary.run(Runbook.tenant("checked", owner: "owner@checked.example.com"), databaseURL: db.url)
        let result = try ProvisionBinary.run(["check", "--tenantSlug", "checked", "--checkTimeout", value, "--json"], databaseURL: db.url)
        #expect(result.status == 1, "a fresh tenant fails the catalog check: \(result)")
        #expect((result.json?["checks"] as? [Any])?.isEmpty == false, "\(result)")
    }

    // MARK: helpers

    /// Both output forms refuse `command` with `extra`: exit 2 naming `field`, without
    /// running the playbook (no log line, no problem lines) or writing anything.
    private func expectRefusedBeforeRunning(_ command: Command, extra: [String], environment: [String: String] = [:],
                                            field: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let db = try TestDatabase.create()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = try command.arguments(in: folder) + extra
        let before = try db.rowCounts()
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(arguments), databaseURL: db.url, environment: environment)
            try expectInvalidInput(result, field: field, hint: nil, mode: mode, sourceLocation: sourceLocation)
            #expect(!result.stderr.contains("the playbook ran") && !result.stderr.contains("[0/1]"),
                    "refused before the playbook ran: \(result)", sourceLocation: sourceLocation)
        }
        #expect(try db.rowCounts() == before, "nothing written", sourceLocation: sourceLocation)
    }
}
