/// The one place where what PostgreSQL said becomes a contract error. Conflicts are
/// recognised by SQLSTATE *and* constraint name, so a unique violation elsewhere never
/// masquerades as a slug or email conflict.
public enum Constraint {
    public static let tenantSlug = "tenants_slug_key"
    public static let userEmail = "users_email_lower_key"
    public static let membershipTenantUser = "memberships_tenant_user_key"
}

extension ProvisionError {
    public init(_ failure: DatabaseFailure) {
        let state = failure.sqlState
        switch (state, failure.constraint) {
        case (.uniqueViolation?, Constraint.tenantSlug?):
            self = .slugExists(nil)
        case (.uniqueViolation?, Constraint.userEmail?):
            self = .emailExists(nil)
        case (.uniqueViolation?, Constraint.membershipTenantUser?):
            self = .membershipExists(email: nil, slug: nil)
        case (.readOnlySQLTransaction?, _):
            self.init(.forbidden, "the database refused a write in a read-only transaction (dry run or check): \(failure.message)")
        case (.queryCanceled?, _):
            self.init(.limitExceeded, "a database statement ran past its time limit (statement_timeout) and was cancelled", exceeded: .time)
        case (.undefinedTable?, _):
            self.init(.notMigrated, "the database schema is missing a table (\(failure.message)): \(.remedy)", subject: nil, remedy: .runMigrate)
        case (.insufficientPrivilege?, _):
            self.init(.forbidden, "the database refused the statement: \(failure.message)")
        case let (state?, _) where state.errorClass == SQLState.connectionExceptionClass || state == .adminShutdown:
            self.init(.databaseUnavailable, "lost the connection to the database: \(failure.message)")
        case (nil, _):
            self.init(.databaseUnavailable, "lost the connection to the database: \(failure.message)")
        default:
            self.init(.databaseError, "database error: \(failure.description)")
        }
    }
}
