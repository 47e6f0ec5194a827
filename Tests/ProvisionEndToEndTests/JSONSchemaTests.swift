import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

/// CONTRACT §2: with `--json` every command prints one document, and
/// `schema/provision.schema.json` describes each one. These tests run the real binary
/// for every command and every class of outcome (success, dry run, each failure class)
/// and hand what it printed to a real JSON Schema validator (Python's `jsonschema`,
/// draft 2020-12); a control shows the validator rejects documents that are wrong.
@Suite("JSON documents match schema/provision.schema.json")
struct JSONSchemaTests {
    /// One command in one situation, with the exit status and document it must give.
    enum Case: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case tenantCreated, tenantDryRun, tenantDryRunWithoutDatabase, tenantLinksExistingOwner
        case invalidInput, unknownFlag, slugExists, emailExists, notMigrated, databaseUnset, databaseUnreachable
        case runCreated, runAddsAdmin, runFailedUnit, runPlaybookError, runLimitExceeded, runNotFound
        case batchCreated, batchDryRun, batchFailedRows, batchBadRows, batchDuplicateRows, batchStopOnError
        case batchCredentialsFile, batchSkipExisting
        case checkFails, checkNotFound
        case migrate, migrateStatusPending, migrateStatusUpToDate, migrateEdited

        var testDescription: String { rawValue }

        /// The exit status, the document, and for an error document its code.
        var expected: (status: Int32, document: ContractSchema.Document, code: String?) {
            switch self {
            case .tenantCreated, .tenantDryRun, .tenantDryRunWithoutDatabase, .tenantLinksExistingOwner: return (0, .run, nil)
            case .invalidInput, .unknownFlag: return (2, .error, "invalid_input")
            case .slugExists: return (3, .error, "slug_exists")
            case .emailExists: return (3, .error, "email_exists")
            case .notMigrated: return (4, .error, "not_migrated")
            case .databaseUnset, .databaseUnreachable: return (4, .error, "database_unavailable")
            case .runCreated, .runAddsAdmin: return (0, .run, nil)
            case .runFailedUnit: return (2, .run, nil)
            case .runPlaybookError: return (1, .error, "playbook_error")
            case .runLimitExceeded: return (1, .error, "limit_exceeded")
            case .runNotFound: return (4, .error, "not_found")
            case .batchCreated, .batchDryRun, .batchCredentialsFile, .batchSkipExisting: return (0, .run, nil)
            case .batchFailedRows: return (3, .run, nil)
            case .batchBadRows: return (2, .error, "invalid_input")
            case .batchDuplicateRows: return (3, .error, "duplicate_in_batch")
            case .batchStopOnError: return (3, .error, "slug_exists")
            case .checkFails: return (1, .check, nil)
            case .checkNotFound: return (4, .error, "not_found")
            case .migrate, .migrateStatusUpToDate: return (0, self == .migrate ? .migrate : .migrationStatus, nil)
            case .migrateStatusPending: return (4, .migrationStatus, nil)
            case .migrateEdited: return (4, .error, "not_migrated")
            }
        }
    }

    static let pilotPlaybook = """
        local p = require "provision"
        local t = p.createTenant{slug = "pilot", name = "Pilot", timeZone = "America/Edmonton", supportEmail = "help@pilot.example.com"}
        local u = p.createOwner{email = "owner@pilot.example.com", name = "Pilot Owner"}
        p.linkMembership{tenant = t, user = u, role = "OWNER"}
        """

    /// Runs the case's command (after setting up what it needs) and returns its result.
    func run(_ example: Case, in folder: URL) throws -> ProvisionBinary.Result {
        func write(_ name: String, _ text: String) throws -> String {
            let path = folder.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        func provision(_ arguments: [String], _ db: TestDatabase?, environment: [String: String] = [:]) throws -> ProvisionBinary.Result {
            // Before a playbook's own arguments (`-- ARGS`), which it would otherwise be one of.
            var arguments = arguments
            arguments.insert("--json", at: arguments.firstIndex(of: "--") ?? arguments.endIndex)
            return try ProvisionBinary.run(arguments, databaseURL: db?.url, environment: environment)
        }
        func seeded() throws -> TestDatabase {
            let db = try TestDatabase.create()
            try #require(try ProvisionBinary.run(Runbook.production, databaseURL: db.url).status == 0)
            return db
        }
        let wave = "tenantSlug,tenantName,ownerEmail\nwave-a,Wave A,owner-a@example.com\nwave-b,Wave B,owner-b@example.com\n"
        switch example {
        case .tenantCreated: return try provision(Runbook.staging, try TestDatabase.create())
        case .tenantDryRun: return try provision(Runbook.staging + ["--dryRun"], try seeded())
        case .tenantDryRunWithoutDatabase: return try provision(Runbook.dryRun, nil)
        case .tenantLinksExistingOwner:
            return try provision(Runbook.tenant("pilot-two", owner: "owner@pilot.example.com", "--allowExistingUser"), try seeded())
        case .invalidInput: return try provision(Runbook.tenant("Pilot", owner: "owner@pilot.example.com"), try TestDatabase.create())
        case .unknownFlag: return try provision(Runbook.dryRun + ["--colour", "red"], nil)
        case .slugExists: return try provision(Runbook.tenant("pilot", owner: "other@pilot.example.com"), try seeded())
        case .emailExists: return try provision(Runbook.tenant("pilot-two", owner: "owner@pilot.example.com"), try seeded())
        case .notMigrated: return try provision(Runbook.production, try TestDatabase.create(migrated: false))
        case .databaseUnset: return try provision(Runbook.production, nil)
        case .databaseUnreachable:
            return try provision(Runbook.production, nil, environment: ["DATABASE_URL": "postgresql://u:secret@127.0.0.1:1/x"])
        case .runCreated: return try provision(["run", try write("pilot.lua", Self.pilotPlaybook)], try TestDatabase.create())
        case .runAddsAdmin:
            return try provision(["run", Repository.path("scripts/playbooks/add-admin.lua"), "--var", "slug=pilot", "--var", "email=admin@pilot.example.com", "--var", "name=Pilot Admin"],
                                 try seeded())
        case .runFailedUnit:
            let playbook = try write("units.lua", """
                local p = require "provision"
                for _, slug in ipairs{"alpha", "Beta", "gamma"} do
                  p.transaction(function()
                    local t = p.createTenant{slug = slug, name = slug, supportEmail = "help@x.example.com"}
                    p.linkMembership{tenant = t, user = p.createOwner{email = "owner@" .. slug .. ".example.com"}, role = "OWNER"}
                  end)
                end
                p.transaction(function() p.createTenant{slug = "pilot", name = "Taken"} end)
                """)
            return try provision(["run", playbook], try seeded())
        case .runPlaybookError:
            return try provision(["run", try write("boom.lua", Self.pilotPlaybook + "\nerror('no center yet')\n")], try TestDatabase.create())
        case .runLimitExceeded:
            return try provision(["run", try write("loop.lua", "while true do end"), "--timeout", "0.5"], try TestDatabase.create())
        case .runNotFound:
            return try provision(["run", Repository.path("scripts/playbooks/add-admin.lua"), "--var", "slug=nowhere", "--var", "email=admin@nowhere.example.com"],
                                 try TestDatabase.create())
        case .batchCreated: return try provision(["batch", try write("wave.csv", wave)], try TestDatabase.create())
        case .batchDryRun: return try provision(["batch", try write("wave.csv", wave), "--dryRun"], try TestDatabase.create())
        case .batchFailedRows:
            let file = try write("mixed.csv", wave + "pilot,Taken,new@example.com\nwave-c,Wave C,owner@pilot.example.com\n")
            return try provision(["batch", file], try seeded())
        case .batchBadRows:
            let file = try write("bad.csv", "tenantSlug,tenantName,ownerEmail\nBad-Slug,Bad,bad@example.com\nok-row,Ok,not-an-email\nok-two, ,two@example.com\n")
            return try provision(["batch", file], try TestDatabase.create())
        case .batchDuplicateRows:
            return try provision(["batch", try write("dup.csv", wave + "wave-a,Again,again@example.com\n")], try TestDatabase.create())
        case .batchStopOnError:
            return try provision(["batch", try write("stop.csv", wave + "pilot,Taken,new@example.com\n"), "--stopOnError"], try seeded())
        case .batchCredentialsFile:
            return try provision(["batch", try write("wave.csv", wave), "--credentialsFile", folder.appendingPathComponent("passwords.csv").path],
                                 try TestDatabase.create())
        case .batchSkipExisting:
            let db = try TestDatabase.create()
            let file = try write("wave.csv", wave)
            try #require(try ProvisionBinary.run(["batch", file], databaseURL: db.url).status == 0)
            return try provision(["batch", file, "--skipExisting"], db)
        case .checkFails: return try provision(["check", "--tenantSlug", "pilot"], try seeded())
        case .checkNotFound: return try provision(["check", "--tenantSlug", "nowhere"], try TestDatabase.create())
        case .migrate: return try provision(["migrate"], try TestDatabase.create(migrated: false))
        case .migrateStatusPending: return try provision(["migrate", "--status"], try TestDatabase.create(migrated: false))
        case .migrateStatusUpToDate: return try provision(["migrate", "--status"], try TestDatabase.create())
        case .migrateEdited:
            let db = try TestDatabase.create()
            _ = try db.scalar("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1 RETURNING version")
            return try provision(["migrate"], db)
        }
    }

    @Test("each command's real --json output is one document the schema accepts, with the contract's exit status",
          arguments: Case.allCases)
    func realOutputMatchesSchema(_ example: Case) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let result = try run(example, in: folder)

        let expected = example.expected
        #expect(result.status == expected.status, "\(result)")
        #expect(result.json != nil, "stdout is one JSON document: \(result)")
        try ContractSchema.validate(result.stdout, as: expected.document)
        // And the schema's root (any document) tells it from every other kind.
        try ContractSchema.validate(result.stdout)
        #expect(result.errorCode == expected.code, "\(result)")
        if expected.document == .run {
            #expect(result.json?["command"] as? String == example.rawValue.prefix { $0.isLowercase }.description, "\(result)")
        }
        switch example {
        case .batchBadRows:
            let problems = (result.json?["error"] as? [String: Any])?["problems"] as? [[String: Any]] ?? []
            #expect(problems.map { $0["line"] as? Int } == [2, 3, 4], "every bad row, with its line: \(result)")
            #expect(problems.map { $0["field"] as? String } == ["tenantSlug", "ownerEmail", "tenantName"], "\(result)")
            #expect(problems.allSatisfy { ($0["file"] as? String)?.hasSuffix("bad.csv") == true }, "\(result)")
        case .runAddsAdmin:
            let credentials = result.jsonCredentials
            #expect(credentials.map { $0["email"] as? String } == ["admin@pilot.example.com"], "the ADMIN's password is not lost: \(result)")
            #expect(credentials.first?["tenantSlug"] as? String == "pilot", "\(result)")
        case .batchCredentialsFile:
            #expect(result.jsonCredentials.isEmpty, "\(result)")
            #expect(result.json?["credentialsFile"] as? String == folder.appendingPathComponent("passwords.csv").path)
        case .tenantDryRunWithoutDatabase, .tenantDryRun, .batchDryRun:
            #expect(result.json?["dryRun"] as? Bool == true)
        default:
            break
        }
    }

    // MARK: - The validator is real: it rejects what is wrong

    @Test("control: the validator rejects documents that break the schema, and accepts the real one they came from")
    func validatorRejectsWrongDocuments() throws {
        let db = try TestDatabase.create()
        let real = try ProvisionBinary.run(Runbook.production + ["--json"], databaseURL: db.url)
        try #require(real.status == 0, "\(real)")
        #expect(try ContractSchema.violations(of: real.stdout, as: .run) == nil, "the real document is valid")
        let document = try #require(real.json)

        func mutated(_ change: (inout [String: Any]) -> Void) throws -> String {
            var copy = document
            change(&copy)
            return String(decoding: try JSONSerialization.data(withJSONObject: copy), as: UTF8.self)
        }
        func credential(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
            { document in
                var credentials = document["credentials"] as? [[String: Any]] ?? []
                change(&credentials[0])
                document["credentials"] = credentials
            }
        }

        let wrong: [(String, String, String)] = [
            ("the old tenant document", #"""
                {"dryRun": false, "tenant": {"id": null, "slug": "pilot", "name": "Pilot"},
                 "owner": {"id": null, "email": "o@x.example.com", "created": true}, "membership": {"role": "OWNER"},
                 "actions": [], "warnings": []}
                """#, "runId"),
            ("an expiry in the old date format", try mutated(credential { $0["expiresAt"] = "2026-12-01 06:55:50 UTC" }), "/credentials/0/expiresAt"),
            ("no run id", try mutated { $0.removeValue(forKey: "runId") }, "runId"),
            ("an unknown status", try mutated { document in
                var results = document["results"] as? [[String: Any]] ?? []
                results[0]["status"] = "done"
                document["results"] = results
            }, "/results/0/status"),
            ("a password in a dry run", try mutated { $0["dryRun"] = true }, "/credentials"),
            ("a credential without its password", try mutated(credential { $0.removeValue(forKey: "oneTimePassword") }), "oneTimePassword"),
            ("a summary without a status", try mutated { document in
                var summary = document["summary"] as? [String: Any] ?? [:]
                summary.removeValue(forKey: "failed")
                document["summary"] = summary
            }, "failed"),
            ("an unknown key", try mutated { $0["owner"] = ["email": "o@x.example.com"] }, "owner"),
        ]
        for (what, json, named) in wrong {
            let report = try ContractSchema.violations(of: json, as: .run)
            #expect(report != nil, "the validator accepted \(what): \(json)")
            #expect(report?.contains(named) == true, "the report for \(what) names \(named): \(report ?? "")")
        }

        let errors: [(String, String)] = [
            ("problems present but empty", #"{"command": "run", "error": {"code": "invalid_input", "message": "bad", "problems": []}}"#),
            ("an unknown code", #"{"command": "run", "error": {"code": "not a code!", "message": "bad"}}"#),
            ("a problem without its field", #"{"command": "run", "error": {"code": "invalid_input", "message": "bad", "problems": [{"line": 2, "message": "m"}]}}"#),
            ("a null field", #"{"command": "run", "error": {"code": "invalid_input", "message": "bad", "field": null}}"#),
        ]
        for (what, json) in errors {
            #expect(try ContractSchema.violations(of: json, as: .error) != nil, "the validator accepted \(what): \(json)")
        }
        #expect(try ContractSchema.violations(of: #"{"command": "show", "error": {"code": "not_found", "message": "no"}}"#, as: .error) == nil)
        #expect(try ContractSchema.violations(of: #"{"error": {"code": "not_found", "message": "no"}}"#, as: .error) != nil,
                "an error document names its command")
        // A real error document is not a run envelope.
        #expect(try ContractSchema.violations(of: #"{"error": {"code": "not_found", "message": "no"}}"#, as: .run) != nil)
    }
}
