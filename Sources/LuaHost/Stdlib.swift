#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

/// The Lua stdlib a binary runs (CONTRACT §10, "Installed"): the playbooks behind the
/// commands, the built-in go-live checks and the test assertions.
///
/// It is found in exactly two ways: `$PROVISION_STDLIB`, which the operator sets, or
/// `../share/provision/stdlib` beside the executable's real path (`/proc/self/exe`,
/// symlinks resolved). Never the current folder, a parent folder or the tree the binary
/// was built in: a folder that happens to hold a `stdlib/` cannot change what runs. A
/// value of this type exists only for a folder that holds every file the binary relies on.
public struct Stdlib: Sendable, Equatable {
    /// The folder, absolute.
    public let root: URL

    /// The files the binary runs by name. A stdlib without one of them is incomplete
    /// (a test keeps this list equal to the repository's stdlib/).
    public static let requiredFiles = [
        "playbooks/tenant.lua", "playbooks/batch.lua", "playbooks/reset-password.lua", "playbooks/delete.lua",
        "playbooks/update.lua", "playbooks/member-add.lua", "playbooks/member-set-role.lua", "playbooks/member-remove.lua",
        "checks/1-owner-membership.lua", "checks/2-owner-password.lua", "checks/3-catalog.lua",
        "checks/4-portal-access.lua", "checks/5-support-contact.lua", "checks/6-time-zone.lua",
        "testing/assertions.lua",
    ]

    /// The stdlib at `root`, refused (invalid_input, naming the folder and what it lacks)
    /// unless it is complete.
    public init(root: URL, origin: String? = nil) throws(ProvisionError) {
        let root = root.standardizedFileURL
        let named = origin.map { "\(root.path) (\($0))" } ?? root.path
        var isFolder = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isFolder), isFolder else {
            throw ProvisionError(.invalidInput, "the Lua stdlib folder \(named) does not exist; \(Self.remedy)", field: "stdlib")
        }
        let missing = Self.requiredFiles.filter { !FileManager.default.isReadableFile(atPath: root.appendingPathComponent($0).path) }
        guard missing.isEmpty else {
            throw ProvisionError(.invalidInput, "the Lua stdlib folder \(named) is incomplete: it has no \(missing.joined(separator: ", ")); \(Self.remedy)",
                                 field: "stdlib")
        }
        self.root = root
    }

    private static let remedy = "install provision again (scripts/install or the .deb), or set PROVISION_STDLIB to a complete stdlib folder"

    /// The stdlib this process runs: `$PROVISION_STDLIB` when set, else the one installed
    /// beside the executable.
    public static func located(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ProvisionError) -> Stdlib {
        if let path = environment["PROVISION_STDLIB"], !path.isEmpty {
            return try Stdlib(root: URL(fileURLWithPath: path), origin: "from PROVISION_STDLIB")
        }
        guard let executable = executablePath() else {
            throw ProvisionError(.invalidInput, "cannot tell where this provision binary is installed (/proc/self/exe is unreadable); set PROVISION_STDLIB to its stdlib folder",
                                 field: "stdlib")
        }
        return try Stdlib(root: installedRoot(forExecutable: executable), origin: "beside \(executable)")
    }

    /// `PREFIX/share/provision/stdlib` for the executable `PREFIX/bin/provision`.
    public static func installedRoot(forExecutable executable: String) -> URL {
        URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/provision/stdlib")
    }

    /// The running executable's real path: the kernel's answer, with every symlink
    /// resolved, whatever `argv[0]` or the current folder say.
    static func executablePath() -> String? {
        guard let resolved = realpath("/proc/self/exe", nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    public func playbook(_ name: String) -> URL { root.appendingPathComponent("playbooks/\(name).lua") }

    public var checks: URL { root.appendingPathComponent("checks") }

    /// Where `require` looks after a playbook's own folder: the stdlib, then its playbooks.
    var searchRoots: [URL] { [root, root.appendingPathComponent("playbooks")] }

    /// The stdlib-relative name of a file under this stdlib (`playbooks/tenant.lua`), nil
    /// for any other file. A plan records stdlib files by this name, so that it names the
    /// code and not a folder of the machine that planned it.
    public func relativeName(of path: String) -> String? {
        let prefix = root.path.hasSuffix("/") ? root.path : root.path + "/"
        let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
        guard standardized.hasPrefix(prefix) else { return nil }
        return String(standardized.dropFirst(prefix.count))
    }
}
