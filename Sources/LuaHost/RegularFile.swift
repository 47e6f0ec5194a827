#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaShims
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

/// Files a script names (a CSV, a module) are read only when they are regular files on
/// an ordinary file system: never /proc or /sys (the process's own memory, environment
/// and descriptors), never a FIFO or device (a read that could block forever). The same
/// rule as the sandbox's `io.open`, from the same C function.
public enum RegularFile {
    /// The whole file, refused (limit_exceeded) before reading when it is larger than
    /// `maxBytes`.
    public static func read(_ path: String, field: String, maxBytes: Int?) throws(ProvisionError) -> [UInt8] {
        let descriptor = provision_open_regular_file(path)
        switch descriptor {
        case Int32(PROVISION_OPEN_NOT_REGULAR):
            throw ProvisionError(.forbidden, "\(path) is not a regular file (a FIFO, device, socket or folder); scripts read regular files only", field: field)
        case Int32(PROVISION_OPEN_KERNEL_FS):
            throw ProvisionError(.forbidden, "\(path) is in /proc, /sys or another kernel file system, which scripts may not read", field: field)
        case ..<0:
            throw ProvisionError(.invalidInput, "\(path): cannot read the file (\(String(cString: strerror(errno))))", field: field)
        default:
            break
        }
        defer { close(descriptor) }
        var status = stat()
        _ = fstat(descriptor, &status)
        let size = Int(status.st_size)
        if let maxBytes, size > maxBytes {
            throw ProvisionError(.limitExceeded, "\(path) is \(size / 1_048_576 + 1) MB, more than the memory limit leaves room for", field: field)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ProvisionError(.invalidInput, "\(path): cannot read the file (\(String(cString: strerror(errno))))", field: field)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
            if let maxBytes, bytes.count > maxBytes {
                throw ProvisionError(.limitExceeded, "\(path) grew past what the memory limit leaves room for while it was read", field: field)
            }
        }
        return bytes
    }
}
