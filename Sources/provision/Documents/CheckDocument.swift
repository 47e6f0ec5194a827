import LuaHost
import ProvisionCore

/// `provision check --json`: the tenant, each check's outcome, and how many ended each way.
struct CheckDocument: JSONDocument {
    struct CheckRecord: Encodable, Sendable {
        let id: String
        let title: String
        /// pass, warn, fail or error.
        let status: String
        let message: String
        /// The module the check came from.
        let file: String
    }

    struct Summary: Encodable, Sendable {
        let pass: Int
        let warn: Int
        let fail: Int
        let error: Int
    }

    let command = "check"
    let tenant: TenantRecord
    let checks: [CheckRecord]
    let summary: Summary

    init(tenant: Tenant, results: [CheckResult]) {
        self.tenant = TenantRecord(tenant)
        checks = results.map { CheckRecord(id: $0.id, title: $0.title, status: $0.status.rawValue, message: $0.message, file: $0.file) }
        func count(_ status: CheckResult.Status) -> Int { results.filter { $0.status == status }.count }
        summary = Summary(pass: count(.pass), warn: count(.warn), fail: count(.fail), error: count(.error))
    }
}
