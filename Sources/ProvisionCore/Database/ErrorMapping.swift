#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one place where what PostgreSQL said becomes a contract error. Conflicts are
/// recognised by SQLSTATE *and* constraint name, so a unique violation elsewhere never
/// masquerades as a slug or email conflict.
public enum Constraint {
    public static let tenantSlug = "tenants_slug_key"
    public static let userEmail = "users_email_lower_key"
    public static let membershipTenantUser = "memberships_tenant_user_key"
}

extension ProvisionError {
    /// A statement the server cancelled: at provision's own limit or deadline (a lock wait
    /// named with whoever held the lock), at Ctrl-C, or at the database's own limit.
    static func cancelled(_ failure: DatabaseFailure) -> ProvisionError {
        func waited(_ blocker: String?) -> String {
            blocker.map { "a database statement waited for a lock held by \($0)" } ?? "a database statement was still running"
        }
        switch failure.cancellation {
        case .interrupt?:
            return ProvisionError(.interrupted, "interrupted: the statement was cancelled on the server and the run rolled back; nothing was written and no credential was shown")
        case .deadline(let limit, let blocker)?:
            return ProvisionError(.limitExceeded, "\(waited(blocker)) when \(limit) passed: it was cancelled on the server and the run rolled back", exceeded: .time)
        case .statementLimit(let milliseconds, let blocker)?:
            let limit = "the statement limit (\(Self.seconds(milliseconds)))"
            return ProvisionError(.limitExceeded, "\(waited(blocker)) past \(limit): it was cancelled on the server and the run rolled back", exceeded: .time)
        case nil:
            if failure.message.contains("statement timeout") {
                return ProvisionError(.limitExceeded, "a database statement ran past the database's statement_timeout and was cancelled", exceeded: .time)
            }
            return ProvisionError(.limitExceeded, "a database statement was cancelled by the server or an administrator: \(failure.message)", exceeded: .time)
        }
    }

    static func seconds(_ milliseconds: Int) -> String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : String(cFormat: "%g s", Double(milliseconds) / 1000)
    }

    public init(_ failure: DatabaseFailure) {
        let state = failure.sqlState
        switch (state, failure.constraint) {
        case (.uniqueViolation?, Constraint.tenantSlug?):
            self = .slugExists(nil)
        case (.uniqueViolation?, Constraint.userEmail?):
            self = .emailExists(nil)
        case (.uniqueViolation?, Constraint.membershipTenantUser?):
            self = .membershipExists(email: nil, slug: nil)
        case (.readOnlySQLTransaction?, _) where !failure.serverReadOnly:
            self.init(.forbidden, "the database refused a write in a read-only transaction (dry run or check): \(failure.message)")
        case (.readOnlySQLTransaction?, _):
            self.init(.readOnlyDatabase, "the database refused a write because it is read-only (a hot standby, or default_transaction_read_only): \(failure.message); connect to the primary, e.g. add target_session_attrs=read-write to DATABASE_URL")
        case (.queryCanceled?, _):
            self = Self.cancelled(failure)
        case (.undefinedTable?, _):
            self.init(.notMigrated, "the database schema is missing a table (\(failure.message)): \(.remedy)", subject: nil, remedy: .runMigrate)
        case (.insufficientPrivilege?, _):
            self.init(.forbidden, "the database refused the statement: \(failure.message)")
        case let (state?, _) where state.errorClass == SQLState.connectionExceptionClass || state == .adminShutdown:
            self.init(.databaseUnavailable, "lost the connection to the database: \(failure.message)")
            keepsLines = true
        case (nil, _):
            self.init(.databaseUnavailable, "lost the connection to the database: \(failure.message)")
            keepsLines = true
        default:
            self.init(.databaseError, "database error: \(failure.description)")
        }
    }
}
