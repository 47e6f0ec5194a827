#if canImport(Glibc)
import Glibc
#endif

extension String {
    /// Text from a C format (`%g`, `%.1f`, `%04ld`), formatted by the C library's
    /// `vsnprintf`, as Foundation's `String(format:)` formatted numbers (it hands them to
    /// the same C formatting), without full Foundation.
    public init(cFormat format: String, _ arguments: any CVarArg...) {
        self = Self.formatted(format, arguments)
    }

    private static func formatted(_ format: String, _ arguments: [any CVarArg]) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        let needed = Int(withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) })
        if needed >= buffer.count {
            // Longer than the first buffer: formatted again, from a fresh va_list.
            buffer = [CChar](repeating: 0, count: needed + 1)
            _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
        }
        return String(decoding: buffer.prefix(Swift.max(0, Swift.min(needed, buffer.count - 1))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
