#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

/// How `provision apply` runs a plan again: the same playbook with the same inputs, after
/// checking everything the plan depends on that can be checked before it runs.
struct PlanReplay {
    let plan: Plan
    /// The plan file as read: its hash is checked over these bytes.
    let bytes: [UInt8]
    let file: String
    let playbook: String
    let options: PlaybookOptions

    init(plan: Plan, bytes: [UInt8], file: String) throws(ProvisionError) {
        self.plan = plan
        self.bytes = bytes
        self.file = file
        let stdlib = try Stdlib.located()
        switch plan.command {
        case "tenant":
            playbook = stdlib.playbook("tenant").path
            options = PlaybookOptions(stdlib: stdlib, vars: plan.inputs.vars, wording: ErrorWording.flags, showsLocation: false)
        case "batch":
            playbook = stdlib.playbook("batch").path
            var vars = plan.inputs.vars
            vars["file"] = plan.inputs.file ?? vars["file"]  // absolute: apply may run from another folder
            options = PlaybookOptions(stdlib: stdlib, vars: vars, wording: ErrorWording.csvColumns, showsLocation: false)
        case "update", "member add", "member set-role", "member remove":
            playbook = stdlib.playbook(plan.command.replacingEvery(" ", with: "-")).path
            options = PlaybookOptions(stdlib: stdlib, vars: plan.inputs.vars, wording: ErrorWording.flags, showsLocation: false)
        case "run":
            guard let path = plan.inputs.playbook else {
                throw ProvisionError(.invalidInput, "\(file) is a plan of `provision run` without its playbook", field: "plan")
            }
            playbook = path
            options = PlaybookOptions(stdlib: stdlib, vars: plan.inputs.vars, arguments: plan.inputs.arguments)
        default:
            throw ProvisionError(.invalidInput, "\(file) is a plan of an unknown command '\(plan.command)'", field: "plan")
        }
    }

    /// What no longer matches before anything runs: the plan's own hash (an edited plan is
    /// invalid input, exit 2), then its age (a plan dated in the future is refused too),
    /// the binary's and the schema's versions, the database's identity, and each source
    /// file.
    func staticDifferences(maxAgeHours: Double) throws(ProvisionError) -> [String] {
        let connection = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connectMigrated() }
        let run = ProvisioningRun(connection: connection, dryRun: true)
        defer { run.rollback() }
        guard try run.sha256(Plan.canonical(bytes)) == plan.hash else {
            throw ProvisionError(.invalidInput, "\(file) was edited after it was written (its hash does not match its content); make a new plan with --dryRun --planFile",
                                 field: "plan")
        }
        var differences: [String] = []
        if let created = plan.createdDate {
            let seconds = Date().timeIntervalSince(created)
            if seconds < -Self.clockSkew {
                differences.append("plan is dated in the future (made \(plan.createdAt), now \(IssuedCredential.iso8601(Date()))): a plan is applied after it was made, never before")
            } else if seconds > maxAgeHours * 3600 {
                let age = seconds >= 3600 ? "\(Int(seconds / 3600)) hours" : seconds >= 60 ? "\(Int(seconds / 60)) minutes" : "\(Int(seconds)) seconds"
                differences.append("plan is \(age) old (made \(plan.createdAt); at most \(String(cFormat: "%g", maxAgeHours)) hours: --maxPlanAge)")
            }
        } else {
            differences.append("plan has no readable creation time ('\(plan.createdAt)')")
        }
        if plan.provisionVersion != ProvisionVersion.current {
            differences.append("plan made by provision \(plan.provisionVersion), this is provision \(ProvisionVersion.current)")
        }
        if plan.schemaVersion != BundledMigrations.latestVersion {
            differences.append("schema version \(BundledMigrations.latestVersion), plan made at \(plan.schemaVersion)")
        }
        let identity = try run.databaseIdentity()
        if UUID(uuidString: plan.database.identity) != identity {
            differences.append("plan made against another database: \(plan.database.target) (identity \(plan.database.identity)), this is \(run.databaseTarget ?? "") (identity \(identity.sqlText))")
        }
        // Early word of a changed file; what decides is `ranDifferences`, over the bytes
        // that actually run.
        for source in plan.sources {
            guard let bytes = try? RegularFile.read(source.location(in: options.stdlib), field: "plan", maxBytes: 64 << 20) else {
                differences.append("\(describe(source.path)) no longer exists")
                continue
            }
            differences += changed(source, digest: try run.sha256(bytes))
        }
        return differences
    }

    /// What the playbook and its modules were when the plan was made against the bytes
    /// that ran now (read once, hashed and run): a file whose bytes differ, one loaded now
    /// that was not then (another stdlib or folder offering another module), one planned
    /// that did not load. Checked before the commit, so a plan never applies other code.
    func ranDifferences(_ session: PlaybookSession) throws(ProvisionError) -> [String] {
        let planned = plan.sources.filter { $0.path != plan.inputs.file }
        var differences: [String] = []
        var ran: Set<String> = []
        for (path, bytes) in session.sources {
            let name = Plan.Source.name(of: path, in: session.options.stdlib)
            ran.insert(name)
            guard let source = planned.first(where: { $0.path == name }) else {
                differences.append("\(describe(name)) (\(path)) runs now but was not part of the plan")
                continue
            }
            differences += changed(source, digest: try session.run.sha256(bytes))
        }
        differences += planned.filter { !ran.contains($0.path) }.map { "\(describe($0.path)) was part of the plan but did not run now" }
        return differences
    }

    private func changed(_ source: Plan.Source, digest: String) -> [String] {
        guard digest != source.sha256 else { return [] }
        return ["\(describe(source.path)) changed since the plan (sha256 \(source.sha256.prefix(12))… then, \(digest.prefix(12))… now)"]
    }

    /// `playbook go-live.lua`, `module helpers.lua`, `file wave-3.csv`, `stdlib playbook
    /// playbooks/tenant.lua`.
    private func describe(_ name: String) -> String {
        if name == plan.inputs.file { return "file \(URL(fileURLWithPath: name).lastPathComponent)" }
        let isPlaybook = name == plan.inputs.playbook || name == Plan.Source.name(of: playbook, in: options.stdlib)
        if name.hasPrefix(Plan.Source.stdlibScheme) {
            return "stdlib \(isPlaybook ? "playbook" : "module") \(name.dropFirst(Plan.Source.stdlibScheme.count))"
        }
        return "\(isPlaybook ? "playbook" : "module") \(URL(fileURLWithPath: name).lastPathComponent)"
    }

    /// How far ahead of this machine's clock a plan's time may be (another machine's
    /// clock) before it counts as dated in the future.
    static let clockSkew: TimeInterval = 300

    /// The refusal: every difference, each a problem of its own.
    static func stale(_ differences: [String], planFile: String) -> ProvisionError {
        var error = ProvisionError(.planStale, "\(planFile) no longer matches: \(differences.count == 1 ? differences[0] : "\(differences.count) differences"); nothing was applied. Make a new plan with --dryRun --planFile and review it",
                                   field: "plan")
        error.problems = differences.map { Problem(field: "plan", message: $0) }
        return error
    }

    /// An error of the replayed playbook that means the world changed since the plan.
    static func meansStale(_ error: ProvisionError) -> Bool {
        [.slugExists, .emailExists, .membershipExists, .duplicateInBatch, .notFound, .tenantInUse, .lastOwner].contains(error.code)
    }

    /// The privileges applying the plan needs: a change after go-live's (a plan of
    /// `update`, `member …`, or of `tenant`/`batch` converging), provisioning's, or for
    /// `run`, whatever its primitives need.
    var grants: GrantGroup? {
        switch plan.command {
        case "run": nil
        case "tenant", "batch": plan.inputs.vars["update"] == "true" ? .changes : .provisioning
        default: .changes
        }
    }
}
