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
}
