import Foundation

/// `schema/provision.schema.json`, checked by a real JSON Schema validator (Python's
/// `jsonschema`, draft 2020-12, through `scripts/validate-json`): tests hand it the
/// document a command printed, and a document that does not match fails the test with
/// the validator's own words.
public enum ContractSchema {
    /// The definitions of the schema, one per kind of document.
    public enum Document: String, Sendable, CaseIterable {
        case run = "RunDocument"
        case check = "CheckDocument"
        case fleetCheck = "FleetCheckDocument"
        case list = "ListDocument"
        case show = "ShowDocument"
        case test = "TestDocument"
        case plan = "PlanDocument"
        case migrate = "MigrateDocument"
        case migrationStatus = "MigrationStatusDocument"
        case version = "VersionDocument"
        case error = "ErrorDocument"
    }

    /// The schema does not accept a document; the description is the validator's report.
    public struct Violation: Error, CustomStringConvertible {
        public let description: String
    }

    public static let schemaPath = Repository.path("schema/provision.schema.json")
    static let validatorPath = Repository.path("scripts/validate-json")

    /// Throws a `Violation` unless `json` is one document the schema accepts, and (with
    /// `document`) that kind of document.
    public static func validate(_ json: String, as document: Document? = nil) throws {
        if let message = try violations(of: json, as: document) {
            throw Violation(description: "the document does not match \(document?.rawValue ?? "the schema"):\n\(message)\n--- document\n\(json)")
        }
    }

    /// The validator's report, or nil when `json` is valid.
    public static func violations(of json: String, as document: Document? = nil) throws -> String? {
        // The document goes in from a file, so neither side can block on a full pipe.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("provision-document-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", validatorPath] + (document.map { [$0.rawValue] } ?? [])
        process.environment = ProcessInfo.processInfo.environment.merging(["PROVISION_SCHEMA": schemaPath]) { $1 }
        let output = Pipe()
        process.standardInput = try FileHandle(forReadingFrom: file)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        switch process.terminationStatus {
        case 0: return nil
        case 1: return report
        default: throw Violation(description: "scripts/validate-json could not validate (exit \(process.terminationStatus)):\n\(report)")
        }
    }
}
