#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Who is running, and which run this is: stamped on every audit row.
public struct AuditContext: Sendable {
    public let actor: String
    public let runId: UUID

    public init(actor: String = AuditContext.currentActor(), runId: UUID = UUID()) {
        self.actor = actor
        self.runId = runId
    }

    /// `$PROVISION_ACTOR`, else the OS login name.
    public static func currentActor(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let actor = environment["PROVISION_ACTOR"]?.trimmed(), !actor.isEmpty {
            return String(actor.prefix(200))
        }
        if let login = getlogin() { return String(cString: login) }
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid:\(geteuid())"
    }
}

/// Appends `audit_events` rows in the caller's transaction. Details are plain facts
/// (slug, email, role); never a password or a hash. `at` is when the event happened
/// (`clock_timestamp()`), so the events of one run keep their order.
struct AuditTrail {
    let connection: Connection
    let context: AuditContext

    func record(action: String, tenantId: UUID? = nil, userId: UUID? = nil, detail: [String: String] = [:]) throws(ProvisionError) {
        try connection.run("""
            INSERT INTO audit_events (at, actor, action, run_id, tenant_id, user_id, detail)
            VALUES (clock_timestamp(), \(context.actor), \(action), \(context.runId), \(tenantId), \(userId), \(Bind.jsonb(detail)))
            """)
    }
}
