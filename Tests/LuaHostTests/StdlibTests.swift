import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing
@testable import LuaHost

// CONTRACT §10, "Installed": where the stdlib comes from, and what makes it complete.
@Suite("The stdlib: found only from PROVISION_STDLIB or the executable's real path; complete or refused")
struct StdlibTests {
    @Test func theRequiredFilesAreExactlyTheShippedOnesThatRun() throws {
        let root = Repository.path("stdlib")
        let shipped = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".lua") && !$0.hasPrefix("meta/") }
        #expect(Set(shipped) == Set(Stdlib.requiredFiles), "stdlib/ and Stdlib.requiredFiles differ")
    }

    @Test func locatedFromTheEnvironmentOrBesideTheExecutableOnly() throws {
        let explicit = try Stdlib.located(environment: ["PROVISION_STDLIB": Repository.path("stdlib")])
        #expect(explicit.root.path == URL(fileURLWithPath: Repository.path("stdlib")).standardizedFileURL.path)
        // This test binary has no installed stdlib beside it, and the build tree it was
        // compiled in (which holds a stdlib/) is never consulted. (The current folder and
        // its parents: InstalledTests, with decoys.)
        let executable = try #require(Stdlib.executablePath())
        #expect(executable.hasPrefix("/") && !executable.contains("/../"))
        do {
            _ = try Stdlib.located(environment: [:])
            Issue.record("a stdlib was found without PROVISION_STDLIB beside \(executable)")
        } catch {
            #expect(error.code == .invalidInput && error.field == "stdlib")
            #expect(error.message.contains(Stdlib.installedRoot(forExecutable: executable).path), "\(error.message)")
        }
        #expect(Stdlib.installedRoot(forExecutable: "/opt/p/bin/provision").path == "/opt/p/share/provision/stdlib")
    }

    @Test func anIncompleteStdlibNamesWhatItLacks() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("stdlib-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(atPath: Repository.path("stdlib"), toPath: folder.path)
        #expect(throws: Never.self) { try Stdlib(root: folder) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("playbooks/tenant.lua"))
        do {
            _ = try Stdlib(root: folder)
            Issue.record("an incomplete stdlib was accepted")
        } catch {
            #expect(error.message.contains(folder.path) && error.message.contains("playbooks/tenant.lua"), "\(error.message)")
        }
    }

    @Test func stdlibFilesAreNamedRelativeToTheStdlibOthersNot() throws {
        let stdlib = Stdlib.checkout
        #expect(stdlib.relativeName(of: stdlib.playbook("tenant").path) == "playbooks/tenant.lua")
        #expect(stdlib.relativeName(of: stdlib.root.path + "/../stdlib/checks/3-catalog.lua") == "checks/3-catalog.lua")
        #expect(stdlib.relativeName(of: stdlib.root.path + "-other/playbooks/tenant.lua") == nil)
        #expect(stdlib.relativeName(of: "/tmp/wave.lua") == nil)
    }
}
