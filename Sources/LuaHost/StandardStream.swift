#if canImport(Glibc)
import Glibc
#endif

/// Writes to stdout and stderr with write(2), never through a Foundation `FileHandle`,
/// whose `write` traps when the descriptor refuses (a closed pipe, `> /dev/full`). The
/// process ignores SIGPIPE, so a reader that went away is an `EPIPE` here, which the
/// caller can act on: after a commit, a one-time password that could not be shown must
/// be revoked, not silently lost (CONTRACT §8).
public enum StandardStream {
    /// Opens `/dev/null` read-only on each of stdin, stdout and stderr that the process
    /// was started without (`provision … >&-`). Run first, before anything opens a file:
    /// otherwise the next descriptor opened (the database's socket) would take the closed
    /// one's number, and the report written to stdout would go into the connection to the
    /// server, where text can pass for protocol messages. Read-only, so a write to a
    /// missing stdout fails (`EBADF`) as to a closed pipe: a one-time password that could
    /// not be shown is revoked, never taken for delivered.
    public static func reserveStandardDescriptors() {
        for descriptor in Int32(0)...2 where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            let null = open("/dev/null", O_RDONLY)
            guard null >= 0 else { _exit(70) }
            if null != descriptor {
                guard dup2(null, descriptor) == descriptor else { _exit(70) }
                close(null)
            }
        }
    }

    /// Writes all of `text` to `descriptor`, resuming after signals and short writes.
    /// Returns nil when every byte was accepted, else the `errno` that stopped it.
    @discardableResult
    public static func write(_ text: String, to descriptor: Int32) -> Int32? {
        write(bytes: Array(text.utf8), to: descriptor)
    }

    /// Writes every byte (retrying on EINTR); returns the `errno` of a failure, if any.
    public static func write(bytes: [UInt8], to descriptor: Int32) -> Int32? {
        var bytes = bytes
        return bytes.withUnsafeMutableBytes { buffer -> Int32? in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
    }

    /// Makes sure what was written to `descriptor` reached the file, when it is a regular
    /// file (a delayed `ENOSPC` surfaces here); pipes and terminals have nothing to flush.
    /// Returns nil on success, else the `errno`.
    public static func flush(_ descriptor: Int32) -> Int32? {
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return fsync(descriptor) == 0 ? nil : errno
    }

    /// The message of an `errno` ("No space left on device").
    public static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
