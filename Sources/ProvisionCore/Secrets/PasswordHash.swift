import CArgon2
import Foundation

/// argon2id through libargon2, at or above OWASP's floor (m=19456 KiB, t=2, p=1), with a
/// random 16-byte salt, as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
public enum PasswordHash {
    public static let memoryKiB: UInt32 = 19_456
    public static let iterations: UInt32 = 2
    public static let parallelism: UInt32 = 1
    public static let saltLength = 16
    public static let hashLength = 32

    public static func argon2id(_ password: OneTimePassword) throws(ProvisionError) -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let plain = Array(password.reveal().utf8)
        let encodedLength = argon2_encodedlen(iterations, memoryKiB, parallelism, UInt32(saltLength), UInt32(hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: encodedLength)
        let status = argon2id_hash_encoded(iterations, memoryKiB, parallelism,
                                           plain, plain.count, salt, salt.count,
                                           hashLength, &encoded, encodedLength)
        // The parameters are constants that libargon2 accepts, so it fails only when the
        // machine cannot give it what it needs: 19 MiB for each hash, or a thread.
        guard status == ARGON2_OK.rawValue else {
            throw ProvisionError(.limitExceeded, "could not hash a one-time password: argon2id needs \(memoryKiB / 1024) MiB of memory for each hash, and libargon2 said: \(String(cString: argon2_error_message(status)))")
        }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A well-formed argon2id PHC string of random salt and random digest: no password
    /// is known to match it, so it takes the place of a revoked one-time password's hash.
    public static func unusable() -> String {
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> String {
            let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            return Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "")
        }
        return "$argon2id$v=19$m=\(memoryKiB),t=\(iterations),p=\(parallelism)$\(random(saltLength))$\(random(hashLength))"
    }

    /// Whether `password` matches `encoded` (for tests and for the operator's own checks).
    public static func verify(_ password: String, against encoded: String) -> Bool {
        let plain = Array(password.utf8)
        return argon2id_verify(encoded, plain, plain.count) == ARGON2_OK.rawValue
    }
}
