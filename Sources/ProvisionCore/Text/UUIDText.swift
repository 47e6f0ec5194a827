#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension UUID {
    /// The 8-4-4-4-12 lowercase form PostgreSQL prints, written straight from the bytes:
    /// `uuidString` goes through `snprintf` and upper case, and a fleet's checks bind a
    /// tenant's id to every query.
    public var lowercaseText: String {
        let digits: StaticString = "0123456789abcdef"
        return withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { text in
                digits.withUTF8Buffer { hex in
                    var at = 0
                    for (index, byte) in bytes.enumerated() {
                        if index == 4 || index == 6 || index == 8 || index == 10 {
                            text[at] = UInt8(ascii: "-")
                            at += 1
                        }
                        text[at] = hex[Int(byte >> 4)]
                        text[at + 1] = hex[Int(byte & 0x0f)]
                        at += 2
                    }
                    return at
                }
            }
        }
    }
}
