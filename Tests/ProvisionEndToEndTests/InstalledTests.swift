import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §10, "Installed": the release install copied to another prefix and the .deb,
// each called as `provision` from PATH in a scratch folder that offers a decoy stdlib/
// (and a parent folder that offers another). Only the installed stdlib may ever run.

/// scripts/test installs into a scratch prefix and packages the .deb, and names both.
private let installedPrefix = ProcessInfo.processInfo.environment["PROVISION_INSTALLED_PREFIX"]
private let package = ProcessInfo.processInfo.environment["PROVISION_DEB"]

/// A copy of the installed prefix in a folder of its own, a symlink to its binary in a
/// bin/ folder elsewhere (as /usr/local/bin links often are), and a scratch working folder
/// whose own stdlib/ and whose parent's stdlib/ are complete decoys: their tenant playbook
/// writes an attacker's support email, their only check always passes, their assertions
/// pass everything.
private struct Installation {
    let top: URL
    var prefix: URL { top.appendingPathComponent("opt/provision") }
    /// Holds only a symlink to the copied binary.
    var links: URL { top.appendingPathComponent("links") }
    /// The folder of no importance the operator works in.
    var work: URL { top.appendingPathComponent("work/here") }
    var stdlib: URL { prefix.appendingPathComponent("share/provision/stdlib") }

    init() throws {
        let source = try #require(installedPrefix)
        top = FileManager.default.temporaryDirectory.appendingPathComponent("installed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: prefix.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source, toPath: prefix.path)
        try FileManager.default.createDirectory(at: links, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: links.appendingPathComponent("provision").path,
                                                   withDestinationPath: prefix.appendingPathComponent("bin/provision").path)
        for folder in [work, work.deletingLastPathComponent()] {
            try Self.plantDecoy(in: folder.appendingPathComponent("stdlib"))
        }
    }

    func remove() { try? FileManager.default.removeItem(at: top) }

    /// A complete stdlib an attacker left where a lax binary would look.
    static func plantDecoy(in stdlib: URL) throws {
        let decoy = """
            local p = require "provision"
            local v = p.vars
            local t = p.createTenant{ slug = v.tenantSlug, name = v.tenantName, supportEmail = "attacker@evil.example" }
            local u = p.createOwner{ email = v.ownerEmail }
            p.linkMembership{ tenant = t, user = u, role = "OWNER" }
            """
        let files = ["playbooks/tenant.lua": decoy, "playbooks/batch.lua": decoy, "playbooks/reset-password.lua": decoy,
                     "playbooks/delete.lua": decoy,
                     "testing/assertions.lua": "return function(t, fail) for _, n in ipairs{'eq','ok','match','fails'} do t[n] = function() end end end"]
        for (name, text) in files {
            let file = stdlib.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        // The names the binary relies on, so that the decoy is complete to a lax lookup.
        try FileManager.default.createDirectory(at: stdlib.appendingPathComponent("checks"), withIntermediateDirectories: true)
        for name in ["1-owner-membership", "2-owner-password", "3-catalog", "4-portal-access", "5-support-contact", "6-time-zone"] {
            try #"return { id = "decoy-\#(name)", title = "Decoy", run = function(ctx) ctx.pass("planted") end }"#
                .write(to: stdlib.appendingPathComponent("checks/\(name).lua"), atomically: true, encoding: .utf8)
        }
    }

    /// `provision ARGUMENTS` by name from PATH (the symlink's folder), in the scratch folder.
    func run(_ arguments: [String], databaseURL: String?, environment: [String: String] = [:]) throws -> ProvisionBinary.Result {
        try ProvisionBinary.run(arguments, databaseURL: databaseURL, environment: environment,
                                workingDirectory: work.path, timeout: 120, fromPATH: links.path)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let file = work.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }
}

/// The ids of the built-in checks.
private let builtInChecks = ["owner-membership", "owner-password", "catalog", "portal-access", "support-contact", "time-zone"]

@Suite("Installed: the binary runs only its own stdlib, wherever it is called from",
       .enabled(if: installedPrefix != nil, "scripts/test sets PROVISION_INSTALLED_PREFIX after scripts/install"))
struct InstalledTests {
    @Test("tenant, run, check and test from PATH beside decoy stdlib/ folders use the installed stdlib")
    func commandsUseTheInstalledStdlib() throws {
        let installation = try Installation()
        defer { installation.remove() }
        let db = try TestDatabase.create()

        let tenant = try installation.run(Runbook.staging + ["--json"], databaseURL: db.url)
        #expect(tenant.status == 0, "\(tenant)")
        #expect(try db.scalar("SELECT support_email FROM tenants WHERE slug = 'pilot-staging'") == "support@pilot-staging.example.com",
                "the installed tenant playbook ran, not the decoy")
        #expect(try db.count("SELECT 1 FROM tenants WHERE support_email LIKE '%evil%'") == 0)

        let check = try installation.run(["check", "--tenantSlug", "pilot-staging", "--json"], databaseURL: db.url)
        let ids = ((check.json?["checks"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
        #expect(ids == builtInChecks, "\(check)")
        #expect(check.status == 1, "a fresh pilot fails the catalog check: \(check)")

        // A playbook in the scratch folder that asks the stdlib's checks through the host.
        let playbook = try installation.write("go-live.lua", """
            local p = require "provision"
            local ids = {}
            for _, r in ipairs(p.runChecks("pilot-staging")) do ids[#ids + 1] = r.id end
            p.log("checks: " .. table.concat(ids, ","))
            """)
        let run = try installation.run(["run", playbook, "--dryRun"], databaseURL: db.url)
        #expect(run.status == 0 && run.stderr.contains("checks: " + builtInChecks.joined(separator: ",")), "\(run)")

        // A test whose assertion fails: the installed assertions report it; the decoy's
        // would pass everything.
        let test = try installation.write("pilot_test.lua", """
            return {
              ["the owner check passes for a tenant with an owner"] = function(t)
                local tenant = t.tenant{ slug = "tested" }
                t.member{ tenant = tenant, user = t.user{ email = "o@tested.example" }, role = "OWNER" }
                local status = t.check("owner-membership", "tested")
                t.eq(status, "pass")
              end,
              ["a false assertion fails"] = function(t) t.eq(1, 2) end,
            }
            """)
        let tested = try installation.run(["test", test, "--json"], databaseURL: db.url)
        #expect(tested.status == 1, "\(tested)")
        let files = (tested.json?["files"] as? [[String: Any]]) ?? []
        let statuses = files.flatMap { ($0["tests"] as? [[String: Any]]) ?? [] }.compactMap { $0["status"] as? String }
        #expect(statuses.sorted() == ["failed", "passed"], "\(tested)")
    }

    @Test("apply from PATH runs the installed tenant playbook; with another PROVISION_STDLIB whose tenant.lua differs it is plan_stale and writes nothing")
    func applyRunsTheBytesItVerified() throws {
        let installation = try Installation()
        defer { installation.remove() }
        let db = try TestDatabase.create()
        let plan = installation.work.appendingPathComponent("pilot.plan").path
        let dry = try installation.run(Runbook.production + ["--dryRun", "--planFile", plan], databaseURL: db.url)
        #expect(dry.status == 0, "\(dry)")
        let planText = try String(contentsOfFile: plan, encoding: .utf8)
        #expect(planText.contains("\"stdlib:playbooks/tenant.lua\""), "a stdlib playbook is named by its stdlib name:\n\(planText)")
        #expect(!planText.contains(installation.prefix.path), "no folder of the planning machine:\n\(planText)")

        // Another stdlib whose tenant.lua was changed after the review: stale.
        let changed = installation.top.appendingPathComponent("changed-stdlib")
        try FileManager.default.copyItem(at: installation.stdlib, to: changed)
        let tenantPlaybook = changed.appendingPathComponent("playbooks/tenant.lua")
        try (String(contentsOf: tenantPlaybook, encoding: .utf8) + "\n-- changed after review\n")
            .write(to: tenantPlaybook, atomically: true, encoding: .utf8)
        let before = try db.rowCounts()
        let stale = try installation.run(["apply", plan, "--json"], databaseURL: db.url, environment: ["PROVISION_STDLIB": changed.path])
        #expect(stale.status == 4 && stale.errorCode == "plan_stale", "\(stale)")
        #expect(stale.stdout.contains("stdlib playbook playbooks/tenant.lua changed since the plan"), "\(stale)")
        #expect(try db.rowCounts() == before, "nothing written")

        // The same bytes in another folder are the same code: applied.
        let same = installation.top.appendingPathComponent("same-stdlib")
        try FileManager.default.copyItem(at: installation.stdlib, to: same)
        let applied = try installation.run(["apply", plan, "--json"], databaseURL: db.url, environment: ["PROVISION_STDLIB": same.path])
        #expect(applied.status == 0, "\(applied)")
        #expect(try db.scalar("SELECT support_email FROM tenants WHERE slug = 'pilot'") == "support@pilot.example.com")
    }

    @Test("a missing or incomplete installed stdlib is exit 2 naming the folder, never a run of something else")
    func aMissingOrIncompleteStdlibIsRefused() throws {
        let installation = try Installation()
        defer { installation.remove() }
        let db = try TestDatabase.create()
        try ProvisionBinary.run(Runbook.tenant("checked", owner: "owner@checked.example.com"), databaseURL: db.url)

        try FileManager.default.removeItem(at: installation.stdlib.appendingPathComponent("checks/3-catalog.lua"))
        let incomplete = try installation.run(["check", "--tenantSlug", "checked", "--json"], databaseURL: db.url)
        #expect(incomplete.status == 2 && incomplete.errorField == "stdlib", "\(incomplete)")
        let message = (incomplete.json?["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains(installation.stdlib.path) && message.contains("checks/3-catalog.lua"), "\(incomplete)")

        try FileManager.default.removeItem(at: installation.stdlib)
        _ = try installation.write("x_test.lua", "return { ['x'] = function(t) end }")
        let before = try db.rowCounts()
        for arguments in [Runbook.production, ["check", "--tenantSlug", "checked"], ["test", installation.work.path]] {
            let missing = try installation.run(arguments, databaseURL: db.url)
            #expect(missing.status == 2 && missing.stderr.contains(installation.stdlib.path) && missing.stderr.contains("does not exist"),
                    "\(arguments): \(missing)")
        }
        #expect(try db.rowCounts() == before)
    }

    @Test("check never passes with zero checks: an emptied stdlib checks/ is refused (2), checks that load as nothing are errors")
    func aCheckRunWithNoChecksIsRefused() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("no-checks-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let stdlib = scratch.appendingPathComponent("stdlib")
        try FileManager.default.copyItem(atPath: Repository.path("stdlib"), toPath: stdlib.path)
        let checks = stdlib.appendingPathComponent("checks")
        let names = try FileManager.default.contentsOfDirectory(atPath: checks.path)
        let db = try TestDatabase.create()
        try ProvisionBinary.run(Runbook.tenant("checked", owner: "owner@checked.example.com"), databaseURL: db.url)

        // Modules that return no check: each one an error, never a pass.
        for name in names { try "return nil".write(to: checks.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let broken = try ProvisionBinary.run(["check", "--tenantSlug", "checked", "--json"], databaseURL: db.url,
                                             environment: ["PROVISION_STDLIB": stdlib.path])
        #expect(broken.status == 1, "\(broken)")
        let statuses = ((broken.json?["checks"] as? [[String: Any]]) ?? []).compactMap { $0["status"] as? String }
        #expect(statuses.count == names.count && statuses.allSatisfy { $0 == "error" }, "\(broken)")

        // No module at all: the stdlib is incomplete.
        for name in names { try FileManager.default.removeItem(at: checks.appendingPathComponent(name)) }
        let empty = try ProvisionBinary.run(["check", "--tenantSlug", "checked"], databaseURL: db.url,
                                            environment: ["PROVISION_STDLIB": stdlib.path])
        #expect(empty.status == 2 && empty.stderr.contains(stdlib.path) && empty.stderr.contains("checks/1-owner-membership.lua"), "\(empty)")
    }
}

@Suite("The .deb: dpkg -i, provision from PATH in any folder, dpkg -r",
       .enabled(if: package != nil && getuid() == 0, "scripts/test builds the .deb (PROVISION_DEB); installing it needs root"))
struct DebianPackageTests {
    @Test func installRunRemove() throws {
        let deb = try #require(package)
        #expect(!FileManager.default.fileExists(atPath: "/usr/bin/provision"), "a provision is already installed in /usr/bin")
        // libpq is loaded when a database is first needed, so dpkg-shlibdeps cannot see it:
        // the package names it itself; libcsv it links.
        let depends = try Self.tool("/usr/bin/dpkg-deb", ["-f", deb, "Depends"])
        #expect(depends.output.contains("libpq5 (>= 14)") && depends.output.contains("libcsv3"), "\(depends)")
        let install = try Self.tool("/usr/bin/dpkg", ["-i", deb])
        #expect(install.status == 0, "\(install)")
        defer { _ = try? Self.tool("/usr/bin/dpkg", ["-r", "provision"]) }

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("deb-\(UUID().uuidString)/work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work.deletingLastPathComponent()) }
        try Installation.plantDecoy(in: work.appendingPathComponent("stdlib"))
        func provision(_ arguments: [String], databaseURL: String?) throws -> ProvisionBinary.Result {
            try ProvisionBinary.run(arguments, databaseURL: databaseURL, workingDirectory: work.path, timeout: 120, fromPATH: "/usr/bin")
        }
        let version = try provision(["--version"], databaseURL: nil)
        #expect(version.status == 0 && version.stdout.hasPrefix("provision "), "\(version)")
        let db = try TestDatabase.create()
        let tenant = try provision(Runbook.staging, databaseURL: db.url)
        #expect(tenant.status == 0, "\(tenant)")
        #expect(try db.scalar("SELECT support_email FROM tenants WHERE slug = 'pilot-staging'") == "support@pilot-staging.example.com")
        let check = try provision(["check", "--tenantSlug", "pilot-staging", "--json"], databaseURL: db.url)
        let ids = ((check.json?["checks"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
        #expect(ids == builtInChecks, "\(check)")
        for file in ["/usr/share/provision/stdlib/playbooks/tenant.lua", "/usr/share/provision/provision.schema.json",
                     "/usr/share/provision/validate-json", "/usr/share/man/man1/provision.1.gz",
                     "/usr/share/bash-completion/completions/provision", "/usr/share/zsh/vendor-completions/_provision",
                     "/usr/share/fish/vendor_completions.d/provision.fish", "/usr/share/doc/provision/copyright"] {
            #expect(FileManager.default.fileExists(atPath: file), "\(file) is not installed")
        }
        // The installed validate-json finds the installed schema.
        let validate = try Self.tool("/usr/share/provision/validate-json", ["CheckDocument"], stdin: check.stdout)
        #expect(validate.status == 0, "\(validate)")

        let remove = try Self.tool("/usr/bin/dpkg", ["-r", "provision"])
        #expect(remove.status == 0, "\(remove)")
        #expect(!FileManager.default.fileExists(atPath: "/usr/bin/provision"))
        #expect(!FileManager.default.fileExists(atPath: "/usr/share/provision"), "dpkg -r leaves nothing of the stdlib behind")
    }

    static func tool(_ path: String, _ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        // The caller's PATH: validate-json needs the python3 that has jsonschema.
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        process.environment = ["PATH": "\(path):/usr/sbin:/sbin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"]
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, try String(contentsOf: output, encoding: .utf8))
    }
}
