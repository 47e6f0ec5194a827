#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A new Owner's first password. Typeable (an alphabet without 0/o, 1/l/i), grouped with
/// dashes, drawn from the system CSPRNG: 20 symbols of 31 carry 99 bits.
///
/// Its `description` is redacted, so string interpolation, `print` and logging cannot
/// show it by accident; only `reveal()` yields the text, and a front end calls it once,
/// after the transaction committed.
public struct OneTimePassword: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public static let alphabet = Array("23456789abcdefghjkmnpqrstuvwxyz")
    public static let groups = 4
    public static let groupLength = 5

    private let text: String

    public static var entropyBits: Double {
        Double(groups * groupLength) * log2(Double(alphabet.count))
    }

    public static func generate() -> OneTimePassword {
        var generator = SystemRandomNumberGenerator()
        let groups = (0..<groups).map { _ in
            String((0..<groupLength).map { _ in alphabet.randomElement(using: &generator)! })
        }
        return OneTimePassword(text: groups.joined(separator: "-"))
    }

    private init(text: String) { self.text = text }

    public func reveal() -> String { text }

    public var description: String { "<one-time password: redacted>" }
    public var debugDescription: String { description }
}
