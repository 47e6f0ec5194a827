/// How a front end words the parts of an error the core leaves open: the name of a
/// domain field and what the operator can do. Each front end names fields its own way:
/// a command line as its options, a batch as its CSV columns, a scripting host as its
/// table keys (CONTRACT §3). The core names none of them.
public protocol Wording: Sendable {
    func name(of field: Field) -> String
    func words(for remedy: Remedy) -> String
    /// How to issue a new one-time password for the user with `email`, in the front
    /// end's terms (a command to run, a primitive to call).
    func resetPassword(of email: String) -> String
}

/// The domain's own words, which the core's messages hold until a front end words them:
/// fields by their domain names, remedies without naming any front end's means.
public struct PlainWording: Wording {
    public init() {}

    public func name(of field: Field) -> String { field.rawValue }

    public func words(for remedy: Remedy) -> String {
        switch remedy {
        case .allowExistingUser: return "allow linking the existing user"
        case .chooseAnotherSlug: return "choose a new slug or delete the existing tenant (if safe)"
        case .runMigrate: return "apply the bundled schema migrations"
        case .showMigrationStatus: return "compare the applied migrations with this binary's"
        case .addAnotherOwnerFirst: return "add another OWNER first, then try again"
        }
    }

    public func resetPassword(of email: String) -> String { "reset the password of \(email)" }
}
