import CArgon2
import Foundation
import Testing
@testable import ProvisionCore

@Suite("One-time passwords and hashes (CONTRACT §4)") struct SecretTests {
    @Test func passwordsAreTypeableGroupsWithAtLeast96Bits() {
        #expect(OneTimePassword.entropyBits >= 96)
        let password = OneTimePassword.generate().reveal()
        let groups = password.split(separator: "-")
        #expect(groups.count == 4)
        #expect(groups.allSatisfy { $0.count == 5 })
        #expect(password.replacingOccurrences(of: "-", with: "").allSatisfy { OneTimePassword.alphabet.contains($0) })
        for ambiguous in "01iloIO" { #expect(!OneTimePassword.alphabet.contains(ambiguous)) }
    }

    @Test func passwordsDoNotRepeat() {
        let passwords = Set((0..<1000).map { _ in OneTimePassword.generate().reveal() })
        #expect(passwords.count == 1000)
    }

    @Test func interpolationNeverShowsThePassword() {
        let password = OneTimePassword.generate()
        #expect(!"\(password)".contains(password.reveal()))
        #expect(!String(describing: password).contains(password.reveal()))
        #expect(!String(reflecting: password).contains(password.reveal()))
    }

    @Test func hashIsArgon2idAtTheFloorWithARandomSalt() throws {
        let password = OneTimePassword.generate()
        let first = try PasswordHash.argon2id(password)
        let second = try PasswordHash.argon2id(password)
        #expect(first.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(first != second, "each hash has its own salt")
        #expect(PasswordHash.verify(password.reveal(), against: first))
        #expect(PasswordHash.verify(password.reveal(), against: second))
        #expect(!PasswordHash.verify("wrong-password", against: first))
        #expect(!first.contains(password.reveal()))
        // 16-byte salt: 22 base64 characters without padding.
        let salt = first.split(separator: "$")[3]
        #expect(salt.count == 22)
    }

    /// The PHC string is built in Swift (the hash runs through argon2_ctx, to keep its
    /// block): it must be byte for byte what libargon2's own encoder writes.
    @Test func thePHCStringIsLibargon2sOwn() throws {
        let password = Array("correct-horse-battery".utf8)
        let salt = (0..<UInt8(PasswordHash.saltLength)).map { $0 &* 37 &+ 11 }
        var digest = [UInt8](repeating: 0, count: PasswordHash.hashLength)
        #expect(argon2id_hash_raw(PasswordHash.iterations, PasswordHash.memoryKiB, PasswordHash.parallelism, password, password.count,
                                  salt, salt.count, &digest, digest.count) == ARGON2_OK.rawValue)
        let length = argon2_encodedlen(PasswordHash.iterations, PasswordHash.memoryKiB, PasswordHash.parallelism,
                                       UInt32(salt.count), UInt32(digest.count), Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        #expect(argon2id_hash_encoded(PasswordHash.iterations, PasswordHash.memoryKiB, PasswordHash.parallelism, password, password.count,
                                      salt, salt.count, digest.count, &encoded, length) == ARGON2_OK.rawValue)
        let theirs = String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(PasswordHash.phc(salt: salt, digest: digest) == theirs)
    }

    /// A hashing thread that keeps its block reuses it: every hash still verifies, the
    /// block is mapped once, and release() gives it back.
    @Test func aKeptBlockServesEveryHashOfItsThread() throws {
        let passwords = (0..<4).map { _ in OneTimePassword.generate() }
        let hashes = Locked<[String]>([])
        let failure = Locked<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            Argon2Block.keep()
            defer { Argon2Block.release() }
            for password in passwords {
                do {
                    let hash = try PasswordHash.argon2id(password)
                    hashes.withLock { $0.append(hash) }
                } catch {
                    failure.withLock { $0 = "\(error)" }
                }
            }
        }
        thread.start()
        done.wait()
        #expect(failure.withLock { $0 } == nil)
        let made = hashes.withLock { $0 }
        #expect(made.count == passwords.count)
        for (password, hash) in zip(passwords, made) {
            #expect(PasswordHash.verify(password.reveal(), against: hash))
        }
        #expect(Set(made).count == made.count)
    }
}

/// A value shared with a thread the test starts.
private final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
