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

/// `provision check --all --json`: each tenant's checks as `check` shows one tenant's,
/// and how many tenants and checks ended each way.
struct FleetCheckDocument: JSONDocument {
    struct Summary: Encodable, Sendable {
        let tenants: Int
        /// Tenants with a check that failed or errored.
        let failing: Int
        let pass: Int
        let warn: Int
        let fail: Int
        let error: Int
    }

    let command = "check"
    let tenants: [CheckDocument]
    let summary: Summary

    init(_ tenants: [CheckDocument]) {
        self.tenants = tenants
        summary = Summary(tenants: tenants.count, failing: tenants.filter { $0.summary.fail + $0.summary.error > 0 }.count,
                          pass: tenants.map(\.summary.pass).reduce(0, +), warn: tenants.map(\.summary.warn).reduce(0, +),
                          fail: tenants.map(\.summary.fail).reduce(0, +), error: tenants.map(\.summary.error).reduce(0, +))
    }
}
