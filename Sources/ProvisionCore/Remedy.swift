/// What an operator can do about an error, for each front end to word in its own terms.
public enum Remedy: String, Sendable, CaseIterable {
    /// Link the user who already has the email instead of creating one.
    case allowExistingUser
    /// The slug is taken.
    case chooseAnotherSlug
    /// The database lacks the bundled migrations (or the query role they set up).
    case runMigrate
    /// The applied migrations differ from the binary's.
    case showMigrationStatus
    /// The change would leave a tenant without an OWNER: ownership is transferred by
    /// adding the new OWNER first.
    case addAnotherOwnerFirst
}
