import CArgon2
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

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
        var salt = (0..<saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        var plain = Array(password.reveal().utf8)
        var digest = [UInt8](repeating: 0, count: hashLength)
        let status = digest.withUnsafeMutableBufferPointer { out in
            plain.withUnsafeMutableBufferPointer { pwd in
                salt.withUnsafeMutableBufferPointer { salt in
                    var context = argon2_context(
                        out: out.baseAddress, outlen: UInt32(out.count),
                        pwd: pwd.baseAddress, pwdlen: UInt32(pwd.count),
                        salt: salt.baseAddress, saltlen: UInt32(salt.count),
                        secret: nil, secretlen: 0, ad: nil, adlen: 0,
                        t_cost: iterations, m_cost: memoryKiB, lanes: parallelism, threads: parallelism,
                        version: UInt32(ARGON2_VERSION_13.rawValue),
                        allocate_cbk: Argon2Block.allocateBlock, free_cbk: Argon2Block.freeBlock,
                        flags: 1)  // ARGON2_FLAG_CLEAR_PASSWORD: libargon2 wipes its copy of the password
                    return argon2_ctx(&context, Argon2_id)
                }
            }
        }
        // The parameters are constants that libargon2 accepts, so it fails only when the
        // machine cannot give it what it needs: 19 MiB for each hash, or a thread.
        guard status == ARGON2_OK.rawValue else {
            throw ProvisionError(.limitExceeded, "could not hash a one-time password: argon2id needs \(memoryKiB / 1024) MiB of memory for each hash, and libargon2 said: \(String(cString: argon2_error_message(status)))")
        }
        return phc(salt: salt, digest: digest)
    }

    /// The PHC string libargon2's own encoder writes: unpadded standard base64.
    static func phc(salt: [UInt8], digest: [UInt8]) -> String {
        func base64(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString().replacingEvery("=", with: "")
        }
        return "$argon2id$v=19$m=\(memoryKiB),t=\(iterations),p=\(parallelism)$\(base64(salt))$\(base64(digest))"
    }

    /// A well-formed argon2id PHC string of random salt and random digest: no password
    /// is known to match it, so it takes the place of a revoked one-time password's hash.
    public static func unusable() -> String {
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) } }
        return phc(salt: random(saltLength), digest: random(hashLength))
    }

    /// Whether `password` matches `encoded` (for tests and for the operator's own checks).
    public static func verify(_ password: String, against encoded: String) -> Bool {
        let plain = Array(password.utf8)
        return argon2id_verify(encoded, plain, plain.count) == ARGON2_OK.rawValue
    }
}

/// The 19 MiB block argon2 works in, kept by a hashing thread from one hash to the next.
/// Without it each hash mallocs and frees a block of its own, and glibc, having raised
/// its mmap threshold after the first free, keeps the freed blocks in the hashing
/// threads' heaps: a long batch's memory grew by a block's worth again and again. A
/// thread that calls `keep()` gets one block, mapped once, reused by every hash it makes
/// (libargon2 wipes it after each) and unmapped by `release()`; any other thread hashes
/// as libargon2 would on its own.
public enum Argon2Block {
    private struct Slot {
        var block: UnsafeMutableRawPointer?
        var size = 0
        /// The block is lent to a hash now (a second request in the same hash gets memory
        /// of its own).
        var lent = false
    }

    /// nil if the key could not be made: every thread then hashes as libargon2 would.
    private static let key: pthread_key_t? = {
        var key = pthread_key_t()
        // A thread that ends without release() still gives its block back.
        return pthread_key_create(&key, { slot in
            guard let slot = slot?.assumingMemoryBound(to: Slot.self) else { return }
            Argon2Block.dispose(slot)
        }) == 0 ? key : nil
    }()

    private static var slot: UnsafeMutablePointer<Slot>? {
        guard let key else { return nil }
        return pthread_getspecific(key)?.assumingMemoryBound(to: Slot.self)
    }

    /// From now on the calling thread's hashes share one block.
    public static func keep() {
        guard let key, slot == nil else { return }
        let slot = UnsafeMutablePointer<Slot>.allocate(capacity: 1)
        slot.initialize(to: Slot())
        if pthread_setspecific(key, slot) != 0 { dispose(slot) }
    }

    /// Unmaps the calling thread's block; its hashes allocate as usual again.
    public static func release() {
        guard let key, let slot else { return }
        pthread_setspecific(key, nil)
        dispose(slot)
    }

    private static func dispose(_ slot: UnsafeMutablePointer<Slot>) {
        if let block = slot.pointee.block { munmap(block, slot.pointee.size) }
        slot.deinitialize(count: 1)
        slot.deallocate()
    }

    static let allocateBlock: allocate_fptr = { memory, bytes in
        guard let memory else { return ARGON2_MEMORY_ALLOCATION_ERROR.rawValue }
        guard let slot = Argon2Block.slot, !slot.pointee.lent else {
            memory.pointee = malloc(bytes)?.assumingMemoryBound(to: UInt8.self)
            return memory.pointee == nil ? ARGON2_MEMORY_ALLOCATION_ERROR.rawValue : ARGON2_OK.rawValue
        }
        if slot.pointee.block == nil || slot.pointee.size != bytes {
            if let old = slot.pointee.block { munmap(old, slot.pointee.size) }
            let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            slot.pointee = mapped == MAP_FAILED ? Slot() : Slot(block: mapped, size: bytes)
        }
        slot.pointee.lent = slot.pointee.block != nil
        memory.pointee = slot.pointee.block?.assumingMemoryBound(to: UInt8.self)
        return memory.pointee == nil ? ARGON2_MEMORY_ALLOCATION_ERROR.rawValue : ARGON2_OK.rawValue
    }

    static let freeBlock: deallocate_fptr = { memory, _ in
        guard let memory else { return }
        // The kept block stays mapped (libargon2 has wiped it) for the next hash.
        if let slot = Argon2Block.slot, UnsafeMutableRawPointer(memory) == slot.pointee.block {
            slot.pointee.lent = false
            return
        }
        free(memory)
    }
}
