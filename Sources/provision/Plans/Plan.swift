#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

/// A saved plan (CONTRACT §8 "Plans", §13): what a dry run of `tenant`, `run` or `batch`
/// would do, as typed actions with every value they write, and everything it was planned
/// against (the database's identity, the hashed sources, each look-up), so that
/// `provision apply` does exactly that or refuses and names what changed, field by field.
/// Readable JSON; no secret of any kind (no password, no hash of one, no `DATABASE_URL`
/// password: the database is named by its identity and its redacted target). `hash` is
/// the SHA-256 of the plan's other fields (their canonical JSON): a checksum that finds
/// an edit by mistake; who reviewed it is what a signature says (`PlanSignature`).
struct Plan: Codable {
    static let format = "provision-plan/2"

    /// The database a plan was made against: the identity `migrate` stored in it (the
    /// same however it is reached), and the target as libpq reported it, for people.
    struct Database: Codable, Equatable {
        var identity: String
        var target: String
    }

    struct Inputs: Codable, Equatable {
        /// The playbook's `provision.vars` (for `tenant` and `batch`: the validated flags).
        var vars: [String: String]
        /// The arguments after `--` (`run`).
        var arguments: [String]
        /// The operator's playbook (`run`), absolute.
        var playbook: String?
        /// The CSV file (`batch`), absolute.
        var file: String?
    }

    /// A file whose content the plan depends on: the playbook, each module it required,
    /// a batch's CSV file. `path` is absolute for the operator's files, and
    /// `stdlib:NAME` (`stdlib:playbooks/tenant.lua`) for a file of the stdlib, which
    /// `apply` finds in the stdlib it runs, wherever that is installed.
    struct Source: Codable, Equatable {
        var path: String
        var sha256: String

        static let stdlibScheme = "stdlib:"

        /// How a plan names the file at `path`: by its stdlib name when it is one.
        static func name(of path: String, in stdlib: Stdlib) -> String {
            stdlib.relativeName(of: path).map { stdlibScheme + $0 } ?? URL(fileURLWithPath: path).standardizedFileURL.path
        }

        /// Where the file is now: a stdlib name in `stdlib`, else the path itself.
        func location(in stdlib: Stdlib) -> String {
            path.hasPrefix(Self.stdlibScheme) ? stdlib.root.appendingPathComponent(String(path.dropFirst(Self.stdlibScheme.count))).path : path
        }
    }

    var format: String
    var createdAt: String
    var createdBy: String
    var provisionVersion: String
    var schemaVersion: Int
    /// Where the plan was made.
    var database: Database
    /// `tenant`, `run` or `batch`.
    var command: String
    var inputs: Inputs
    var sources: [Source]
    var actions: [Action]
    var warnings: [String]
    var preconditions: [Precondition]
    var hash: String

    /// The text whose SHA-256 is `hash`: the plan file's own JSON with an empty hash, keys
    /// sorted, compact. Computed from the file's JSON, not from what this binary decodes
    /// of it, so a plan stays valid when a newer binary words its actions otherwise.
    ///
    /// Keys are sorted by their Unicode scalars, as the file itself is (`fileText`).
    /// Earlier binaries sorted them with full Foundation's JSONSerialization, by ICU's
    /// collation (case-insensitive, digits by value); the two orders agree on every key
    /// provision itself writes (camelCase names, the flags of `tenant` and `batch`), so
    /// such plans keep their hash. Only `--var` keys that sort otherwise in the two orders
    /// (`a_b` beside `a-b`, `Key` beside `key2`, letters outside ASCII) make a plan of an
    /// earlier binary read as edited: it is made again.
    static func canonical(_ bytes: [UInt8]) -> [UInt8] {
        guard case .object(var object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else { return [] }
        object["hash"] = .string("")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(JSONValue.object(object))).map(Array.init) ?? []
    }

    /// The plan as its file holds it: pretty, keys sorted, ending in a newline.
    var fileText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return JSONText.foldingEmptyArrays(String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)) + "\n"
    }

    /// `createdAt` as provision writes it (`2026-12-01T06:55:50Z`; an offset is read too);
    /// fractional seconds are not (they never were).
    var createdDate: Date? {
        createdAt.contains(".") ? nil : try? Date(createdAt, strategy: Date.ISO8601FormatStyle())
    }

    /// The plan of a dry run that just ran in `session`, with its digests computed by the
    /// database.
    static func make(command: String, inputs: Inputs, extraSources: [(path: String, bytes: [UInt8])] = [],
                     session: PlaybookSession) throws(ProvisionError) -> Plan {
        let run = session.run
        let record = run.record
        var sources: [Source] = []
        for (path, bytes) in session.sources + extraSources {
            sources.append(Source(path: Source.name(of: path, in: session.options.stdlib), sha256: try run.sha256(bytes)))
        }
        let database = Database(identity: try run.databaseIdentity().sqlText, target: run.databaseTarget ?? "")
        var plan = Plan(format: format, createdAt: IssuedCredential.iso8601(Date()), createdBy: run.audit.actor,
                        provisionVersion: ProvisionVersion.current, schemaVersion: BundledMigrations.latestVersion,
                        database: database, command: command, inputs: inputs, sources: sources, actions: record.actions,
                        warnings: record.notices, preconditions: run.preconditions, hash: "")
        plan.hash = try run.sha256(canonical(Array(plan.fileText.utf8)))
        return plan
    }

    /// Reads a plan file: a regular file holding a plan of this format (exit 2 otherwise).
    /// Returns the bytes read too: what a signature is checked against is what is decoded.
    static func read(_ path: String) throws(ProvisionError) -> (plan: Plan, bytes: [UInt8]) {
        let bytes = try RegularFile.read(path, field: "plan", maxBytes: 64 << 20)
        struct Format: Decodable { let format: String }
        do {
            let found = try JSONDecoder().decode(Format.self, from: Data(bytes)).format
            guard found == format else {
                let older = found == "provision-plan/1"
                throw ProvisionError(.invalidInput, older
                    ? "\(path) is a plan of an older provision (\(found)), which did not record every value to be written or the database's identity: make a new plan with --dryRun --planFile and have it reviewed"
                    : "\(path) is a plan of another format (\(found)); this provision reads \(format)", field: "plan")
            }
            return (try JSONDecoder().decode(Plan.self, from: Data(bytes)), bytes)
        } catch let error as ProvisionError {
            throw error
        } catch {
            throw ProvisionError(.invalidInput, "\(path) is not a plan written by provision --planFile (\(Self.describe(error)))", field: "plan")
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "it has no \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context): return context.debugDescription
        default: return "\(error)"
        }
    }

    /// Writes the plan to a new file (O_EXCL, 0600).
    func write(to path: String) throws(ProvisionError) {
        let descriptor = try NewFile.create(path, flag: "planFile")
        defer { close(descriptor) }
        if let code = StandardStream.write(fileText, to: descriptor) ?? (fsync(descriptor) == 0 ? nil : errno) {
            unlink(path)
            throw ProvisionError(.databaseError, "could not write the plan to \(path): \(StandardStream.describe(code))", field: "planFile")
        }
    }
}

/// This binary's release, recorded in plans (and shown by `--version`).
enum ProvisionVersion {
    static let current = "0.5.0"
}

extension BundledMigrations {
    /// The schema version this binary migrates to.
    static var latestVersion: Int { all.map(\.version).max() ?? 0 }
}
