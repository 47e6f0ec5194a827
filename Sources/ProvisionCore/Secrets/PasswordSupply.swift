/// Where a new user's one-time password and its hash come from: a `PasswordPool` hashing
/// ahead on every core once a batch announced how many it needs, else made and hashed on
/// the spot.
final class PasswordSupply {
    private var pool: PasswordPool?

    /// Starts hashing `count` passwords ahead (replacing any earlier pool).
    func prepare(_ count: Int) {
        pool?.stop()
        pool = count > 0 ? PasswordPool(count: count) : nil
    }

    func next() throws(ProvisionError) -> PasswordPool.Hashed {
        if let hashed = try pool?.take() { return hashed }
        let password = OneTimePassword.generate()
        return PasswordPool.Hashed(password: password, hash: try PasswordHash.argon2id(password))
    }

    /// Drops what was hashed ahead and not taken.
    func stop() {
        pool?.stop()
    }
}
