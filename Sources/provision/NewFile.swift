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

/// A path where a new file (a credentials file, a plan) can be created: checked before
/// anything runs (exit 2 naming the flag).
enum NewFile {
    static func validate(_ path: String, flag: String) throws(ProvisionError) {
        if path.trimmed(.spaces).isEmpty {
            throw ProvisionError(.invalidInput, "--\(flag) needs a path to a new file, got an empty one", field: flag)
        }
        if path.hasSuffix("/") {
            throw ProvisionError(.invalidInput, "--\(flag) \(path) names a folder; give a path to a new file", field: flag)
        }
        var status = stat()
        if lstat(path, &status) == 0 {
            throw ProvisionError(.invalidInput, "--\(flag) \(path) already exists; it is never overwritten: choose a new path", field: flag)
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard access(folder, W_OK | X_OK) == 0 else {
            throw ProvisionError(.invalidInput, "--\(flag): cannot create files in \(folder)", field: flag)
        }
    }

    /// Creates the file: new (O_EXCL, never a symlink followed), mode 0600. Returns its
    /// descriptor, or the error naming the flag.
    static func create(_ path: String, flag: String) throws(ProvisionError) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw ProvisionError(.invalidInput, "--\(flag) \(path): \(StandardStream.describe(errno))", field: flag)
        }
        return descriptor
    }
}
