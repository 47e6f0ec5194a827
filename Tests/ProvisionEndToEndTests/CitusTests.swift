import Foundation
@testable import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §11: on a distributed PostgreSQL. scripts/test starts a Citus cluster (a
// coordinator and two workers, scripts/local-db cluster) where Citus is installed or can
// be built, and says so in one line where it cannot; these suites then skip.

/// The cluster scripts/test started: the coordinator's `provision` database, and each
/// worker's.
enum CitusCluster {
    static var url: String? { TestServers.citus }
    static var workers: [String] { TestServers.citusWorkers }

    /// `url` naming another database on the same node.
    static func url(_ base: String, database: String) -> String { TestServers.url(base, database: database) }

    /// The cluster's `provision` database, migrated (once per test process; migrate is
    /// idempotent and safe to run concurrently, so other processes may do the same).
    static func migrated() throws -> String {
        let url = try #require(Self.url)
        let result = try ProvisionBinary.run(["migrate"], databaseURL: url)
        try #require(result.status == 0, "migrate on the cluster: \(result)")
        return url
    }

    /// A prefix no other test (or earlier run) uses, so tests share the cluster's database.
    static func prefix(_ letter: String) -> String {
        letter + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(7)
    }
}

// One test at a time: roles are the cluster's, not a database's, and two databases of it
// migrated at once (one test lays out a database of its own) race on them.
@Suite("On a Citus cluster (coordinator and two workers)", .serialized,
       .enabled(if: CitusCluster.url != nil, "scripts/test starts a Citus cluster where Citus is installed or can be built (scripts/install-citus)"))
struct CitusTests {
    @Test("migrate lays the schema out distributed: tenants, users and audit_events as reference tables, the tenant-scoped tables by tenant_id, co-located, foreign keys kept; a second migrate changes nothing")
    func layout() throws {
        let url = try CitusCluster.migrated()
        let cluster = try Connection(url: url)
        let rows = try cluster.run(fixture: """
            SELECT logicalrelid::text AS name, partmethod::text AS method, colocationid::text AS colocation,
                   coalesce(column_to_column_name(logicalrelid, partkey), '') AS key
            FROM pg_dist_partition ORDER BY 1
            """)
        var layout: [String: (method: String, colocation: String, key: String)] = [:]
        for row in rows {
            layout[try row.decode(String.self, "name")] = (try row.decode(String.self, "method"), try row.decode(String.self, "colocation"),
                                                           try row.decode(String.self, "key"))
        }
        for table in CitusLayout.referenceTables {
            #expect(layout[table]?.method == "n", "\(table) is a reference table: \(layout)")
        }
        let distributed = CitusLayout.distributedTables
        for table in distributed {
            #expect(layout[table]?.method == "h" && layout[table]?.key == "tenant_id", "\(table) is distributed by tenant_id: \(layout)")
        }
        #expect(Set(distributed.compactMap { layout[$0]?.colocation }).count == 1, "co-located: \(layout)")

        // The same foreign keys as on one node.
        let single = try TestDatabase.create()
        let keys = """
            SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS fk
            FROM pg_constraint WHERE contype = 'f' AND connamespace <> 'pg_catalog'::regnamespace ORDER BY 1
            """
        #expect(try cluster.run(fixture: keys).values.map { $0.first ?? nil } == single.column(keys), "foreign keys kept")

        let status = try ProvisionBinary.run(["migrate", "--status", "--json"], databaseURL: url)
        #expect(status.status == 0 && (status.json?["layout"] as? [String: Any])?["state"] as? String == "distributed", "\(status)")
        try ContractSchema.validate(status.stdout, as: .migrationStatus)
        let again = try ProvisionBinary.run(["migrate", "--json"], databaseURL: url)
        #expect(again.status == 0 && (again.json?["applied"] as? [Any])?.isEmpty == true && (again.json?["laidOut"] as? [Any])?.isEmpty == true,
                "\(again)")
        let text = try ProvisionBinary.run(["migrate", "--status"], databaseURL: url)
        #expect(text.stdout.contains("Layout: distributed (Citus)"), "\(text)")
    }

    @Test("a database migrated before Citus was added: --status says it is not laid out (4), migrate lays it out with its rows, and every tenant is still there")
    func distributedLater() throws {
        let coordinator = try #require(CitusCluster.url)
        let workers = CitusCluster.workers
        try #require(workers.count == 2, "PROVISION_TEST_CITUS_WORKERS names both workers")
        let name = "late_" + CitusCluster.prefix("d")
        let nodes = [coordinator] + workers
        for node in nodes {
            try Connection(url: CitusCluster.url(node, database: "postgres")).run(fixture: "CREATE DATABASE \(name)")
        }
        defer {
            for node in nodes.reversed() {
                _ = try? Connection(url: CitusCluster.url(node, database: "postgres")).run(fixture: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            }
        }
        let url = CitusCluster.url(coordinator, database: name)
        #expect(try ProvisionBinary.run(["migrate"], databaseURL: url).status == 0)
        let pilot = try ProvisionBinary.run(Runbook.tenant("late-pilot", owner: "owner@late-pilot.example"), databaseURL: url)
        try #require(pilot.status == 0, "\(pilot)")

        // Citus added: the extension on every node, the workers known to the coordinator.
        for node in nodes {
            try Connection(url: CitusCluster.url(node, database: name)).run(fixture: "CREATE EXTENSION citus")
        }
        let admin = try Connection(url: url)
        let port = try #require(URLComponents(string: coordinator)?.port)
        try admin.run(fixture: "SELECT citus_set_coordinator_host('127.0.0.1', \(port))")
        for worker in workers {
            let workerPort = try #require(URLComponents(string: worker)?.port)
            try admin.run(fixture: "SELECT citus_add_node('127.0.0.1', \(workerPort))")
        }

        let pending = try ProvisionBinary.run(["migrate", "--status", "--json"], databaseURL: url)
        #expect(pending.status == 4 && (pending.json?["layout"] as? [String: Any])?["state"] as? String == "pending", "\(pending)")
        // Three at once: under migrate's lock, one lays the tables out, the others find
        // them laid out.
        let runs = try (1...3).map { _ in try ProvisionBinary.start(["migrate", "--json"], databaseURL: url) }.map(ProvisionBinary.finish)
        for run in runs { #expect(run.status == 0, "\(run)") }
        let laidOut = runs.flatMap { $0.json?["laidOut"] as? [String] ?? [] }
        #expect(laidOut.filter { $0 == "memberships" }.count == 1 && laidOut.count == CitusLayout.referenceTables.count + CitusLayout.distributedTables.count,
                "each table laid out once: \(laidOut)")
        #expect(try ProvisionBinary.run(["migrate", "--status"], databaseURL: url).status == 0)
        let shown = try ProvisionBinary.run(["show", "--tenantSlug", "late-pilot", "--json"], databaseURL: url)
        #expect(shown.status == 0 && shown.stdout.contains("owner@late-pilot.example"), "the rows went to their shards: \(shown)")
        #expect(try admin.run(fixture: "SELECT count(*)::text AS n FROM pg_dist_shard WHERE logicalrelid = 'memberships'::regclass").first?["n"] != "0")
    }

    @Test("every command gives the same exit status and the same JSON on the cluster as on one node")
    func sameAsOneNode() throws {
        let cluster = try CitusCluster.migrated()
        let single = try TestDatabase.create()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("citus-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let onCluster = try Scenario(url: cluster, prefix: CitusCluster.prefix("c"), folder: scratch.appendingPathComponent("cluster")).run()
        let onOneNode = try Scenario(url: single.url, prefix: CitusCluster.prefix("n"), folder: scratch.appendingPathComponent("single")).run()
        #expect(onCluster.map(\.step) == onOneNode.map(\.step))
        for (cluster, node) in zip(onCluster, onOneNode) {
            #expect(cluster.status == node.status, "\(cluster.step): exit \(cluster.status) on the cluster, \(node.status) on one node\n\(cluster.output)")
            #expect(cluster.output == node.output, "\(cluster.step) differs:\n--- cluster\n\(cluster.output)\n--- one node\n\(node.output)")
        }
    }

    @Test("every per-tenant statement runs on one shard: the per-tenant commands succeed with Citus refusing any statement of several tasks")
    func routedToOneShard() throws {
        let url = try CitusCluster.migrated()
        let prefix = CitusCluster.prefix("r")
        // Citus raises an error for any statement its router planner cannot send to one
        // shard (reference tables count as one): what makes a tenant's cost independent
        // of the fleet's size.
        let strict = ["PGOPTIONS": "-c citus.multi_task_query_log_level=error"]
        func run(_ arguments: [String]) throws -> ProvisionBinary.Result {
            let result = try ProvisionBinary.run(arguments, databaseURL: url, environment: strict)
            #expect(!result.stderr.contains("multi-task") && !result.stdout.contains("multi-task"), "\(arguments): \(result)")
            return result
        }
        let slug = "\(prefix)-pilot"
        #expect(try run(Runbook.tenant(slug, owner: "owner@\(slug).example") + ["--json"]).status == 0)
        #expect(try run(["tenant", "--tenantSlug", slug, "--tenantName", "Pilot \(slug)", "--ownerEmail", "owner@\(slug).example",
                         "--skipExisting", "--json"]).status != 1)
        #expect(try run(["show", "--tenantSlug", slug, "--json"]).status == 0)
        let check = try run(["check", "--tenantSlug", slug, "--json"])
        let statuses = ((check.json?["checks"] as? [[String: Any]]) ?? []).compactMap { $0["status"] as? String }
        #expect(!statuses.isEmpty && !statuses.contains("error"), "every check ran its queries on one shard: \(check)")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("citus-r-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let playbook = folder.appendingPathComponent("add-admin.lua").path
        try Scenario.addAdmin.write(toFile: playbook, atomically: true, encoding: .utf8)
        #expect(try run(["run", playbook, "--var", "slug=\(slug)", "--var", "email=admin@\(slug).example", "--json"]).status == 0)
        let plan = folder.appendingPathComponent("p.plan").path
        #expect(try run(Runbook.tenant("\(prefix)-planned", owner: "owner@\(prefix)-planned.example") + ["--dryRun", "--planFile", plan]).status == 0)
        #expect(try run(["apply", plan, "--json"]).status == 0)
        #expect(try run(["update", "--tenantSlug", slug, "--supportPhone", "+1 555 0142", "--json"]).status == 0)
        let member = ["--tenantSlug", slug, "--email", "staff@\(slug).example"]
        #expect(try run(["member", "add"] + member + ["--role", "STAFF", "--json"]).status == 0)
        #expect(try run(["member", "set-role"] + member + ["--role", "ADMIN", "--json"]).status == 0)
        #expect(try run(["member", "remove"] + member + ["--json"]).status == 0)
        #expect(try run(["member", "remove", "--tenantSlug", slug, "--email", "owner@\(slug).example", "--json"]).status == 3)

        // The controls: a statement over every shard is refused under the same setting,
        // the host's own (list reads every tenant) and a query from a script alike.
        let control = try ProvisionBinary.run(["list", "--json"], databaseURL: url, environment: strict)
        #expect(control.status != 0 && (control.stdout.contains("multi-task") || control.stderr.contains("multi-task")),
                "list reads every tenant, on every shard: \(control)")
        let everyShard = folder.appendingPathComponent("every-shard.lua").path
        try "local p = require \"provision\"\nreturn p.query(\"SELECT count(*) AS n FROM memberships\")".write(toFile: everyShard, atomically: true, encoding: .utf8)
        let scripted = try ProvisionBinary.run(["run", everyShard, "--dryRun", "--json"], databaseURL: url, environment: strict)
        #expect(scripted.status == 1 && scripted.stdout.contains("multi-task"), "a script's query of every shard: \(scripted)")
    }

    @Test("a check or playbook query of rows the same transaction wrote says exactly why Citus cannot read them, and nothing is written")
    func readAfterWrite() throws {
        let url = try CitusCluster.migrated()
        let p = CitusCluster.prefix("w")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("citus-w-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let playbook = folder.appendingPathComponent("write-then-read.lua").path
        try """
            local p = require "provision"
            local t = p.createTenant{ slug = "\(p)-wr", name = "Write Read", supportEmail = "help@\(p)-wr.example" }
            local u = p.createOwner{ email = "owner@\(p)-wr.example" }
            p.linkMembership{ tenant = t, user = u, role = "OWNER" }
            p.query("SELECT count(*) AS n FROM memberships WHERE tenant_id = $1", t.id)
            """.write(toFile: playbook, atomically: true, encoding: .utf8)
        let result = try ProvisionBinary.run(["run", playbook, "--json"], databaseURL: url)
        #expect(result.status == 1 && result.errorCode == "database_error", "\(result)")
        #expect(result.errorMessage?.contains("cannot read rows this run wrote in the same transaction on a Citus cluster") == true, "\(result)")
        try ContractSchema.validate(result.stdout, as: .error)
        #expect(try Connection(url: url).run(fixture: "SELECT count(*)::text AS n FROM tenants WHERE slug = '\(p)-wr'").first?["n"] == "0")
    }

    @Test("queries from checks keep their least privilege on every node: files, large objects, signals, role changes and password hashes are refused")
    func leastPrivilege() throws {
        let url = try CitusCluster.migrated()
        let slug = CitusCluster.prefix("l") + "-pilot"
        try #require(try ProvisionBinary.run(Runbook.tenant(slug, owner: "owner@\(slug).example"), databaseURL: url).status == 0)
        try LeastPrivilegeCheckTests.hostileChecksAreRefused(url: url, slug: slug) { try Connection(url: url) }
        // And what a check may read, it reads, from the shards.
        let result = try ProvisionBinary.run(["check", "--tenantSlug", slug, "--only", "owner-membership", "--json"], databaseURL: url)
        #expect(result.status == 0, "\(result)")
    }
}

/// The same commands against one database, their outputs made comparable: ids, run ids,
/// one-time passwords, times and the scenario's own prefix replaced.
struct Scenario {
    let url: String
    let prefix: String
    let folder: URL

    struct Step {
        let step: String
        let status: Int32
        let output: String
    }

    static let addAdmin = """
        return {
          params = { { name = "slug", type = "string", required = true }, { name = "email", type = "string", required = true } },
          run = function(p, args)
            local tenant = p.findTenant(args.slug)
            local user = p.createOwner{ email = args.email, allowExistingUser = true }
            p.linkMembership{ tenant = tenant, user = user, role = "ADMIN" }
          end,
        }
        """

    func run() throws -> [Step] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let p = prefix
        var steps: [Step] = []
        func step(_ name: String, _ arguments: [String], keeping filter: ((Any) -> Bool)? = nil) throws {
            let result = try ProvisionBinary.run(arguments, databaseURL: url)
            steps.append(Step(step: name, status: result.status, output: normalized(result.stdout, keeping: filter)))
        }
        let owner = { (slug: String) in "owner@\(slug).example" }
        try step("tenant", Runbook.tenant("\(p)-one", owner: owner("\(p)-one")) + ["--json"])
        try step("tenant --dryRun", Runbook.tenant("\(p)-two", owner: owner("\(p)-two")) + ["--dryRun", "--json"])
        try step("tenant, slug taken", Runbook.tenant("\(p)-one", owner: "other@\(p)-one.example") + ["--json"])
        try step("tenant --skipExisting", Runbook.tenant("\(p)-one", owner: owner("\(p)-one")) + ["--skipExisting", "--json"])
        let csv = folder.appendingPathComponent("wave.csv").path
        try """
            tenantSlug,tenantName,ownerEmail
            \(p)-three,Three,\(owner("\(p)-three"))
            \(p)-four,Four,\(owner("\(p)-four"))
            \(p)-one,One Again,\(owner("\(p)-one"))
            """.write(toFile: csv, atomically: true, encoding: .utf8)
        try step("batch, one row taken", ["batch", csv, "--json"])
        let playbook = folder.appendingPathComponent("add-admin.lua").path
        try Self.addAdmin.write(toFile: playbook, atomically: true, encoding: .utf8)
        try step("run add-admin.lua", ["run", playbook, "--var", "slug=\(p)-one", "--var", "email=admin@\(p)-one.example", "--json"])
        // The changes after go-live (CONTRACT §12).
        try step("update --dryRun", ["update", "--tenantSlug", "\(p)-one", "--supportPhone", "+1 555 0199", "--dryRun", "--json"])
        try step("update", ["update", "--tenantSlug", "\(p)-one", "--supportPhone", "+1 555 0199", "--clear", "timeZone", "--json"])
        try step("member add", ["member", "add", "--tenantSlug", "\(p)-one", "--email", "staff@\(p)-one.example", "--role", "STAFF", "--json"])
        try step("member set-role", ["member", "set-role", "--tenantSlug", "\(p)-one", "--email", "staff@\(p)-one.example", "--role", "OWNER", "--json"])
        try step("member set-role, last owner", ["member", "set-role", "--tenantSlug", "\(p)-three", "--email", owner("\(p)-three"), "--role", "ADMIN", "--json"])
        try step("member remove --dryRun", ["member", "remove", "--tenantSlug", "\(p)-one", "--email", owner("\(p)-one"), "--dryRun", "--json"])
        try step("member remove", ["member", "remove", "--tenantSlug", "\(p)-one", "--email", "admin@\(p)-one.example", "--json"])
        try step("tenant --update", Runbook.tenant("\(p)-three", owner: owner("\(p)-three")) + ["--update", "--json"])
        try step("batch --update", ["batch", csv, "--update", "--json"])
        let plan = folder.appendingPathComponent("five.plan").path
        try step("plan", Runbook.tenant("\(p)-five", owner: owner("\(p)-five")) + ["--dryRun", "--planFile", plan, "--json"])
        try step("apply", ["apply", plan, "--json"])
        try step("show", ["show", "--tenantSlug", "\(p)-one", "--json"])
        try step("check", ["check", "--tenantSlug", "\(p)-one", "--json"])
        try step("reset-password", ["reset-password", "--email", owner("\(p)-three"), "--json"])
        try step("delete --dryRun", ["delete", "--tenantSlug", "\(p)-four", "--dryRun", "--json"])
        try step("delete", ["delete", "--tenantSlug", "\(p)-four", "--json"])
        try step("delete, not found", ["delete", "--tenantSlug", "\(p)-four", "--json"])
        let mine = { (element: Any) -> Bool in
            guard let data = try? JSONSerialization.data(withJSONObject: element) else { return false }
            return String(decoding: data, as: UTF8.self).contains("\(p)-")
        }
        try step("list", ["list", "--json"], keeping: mine)
        try step("check --all", ["check", "--all", "--json"], keeping: mine)
        let tests = folder.appendingPathComponent("tests")
        try FileManager.default.createDirectory(at: tests, withIntermediateDirectories: true)
        try """
            return {
              ["the checks of a tenant as it is"] = function(t)
                t.eq((t.check("owner-membership", "\(p)-one")), "pass")
                t.eq((t.check("catalog", "\(p)-one")), "fail")
              end,
              ["a playbook's run beside a fixture tenant, rolled back"] = function(t)
                t.tenant{ slug = "\(p)-fixture", owner = "owner@\(p)-fixture.example", timeZone = "UTC" }
                local run = t.run("\(folder.appendingPathComponent("add-admin.lua").path)", { slug = "\(p)-fixture", email = "admin@\(p)-fixture.example" })
                t.eq(run.ok, true)
                t.eq(run.results[1].status, "updated")
              end,
              ["checks see the test's own fixtures"] = function(t)
                local tenant = t.tenant{ slug = "\(p)-seen", owner = "owner@\(p)-seen.example", timeZone = "UTC" }
                t.eq((t.check("owner-membership", "\(p)-seen")), "pass")
                t.eq((t.check("time-zone", "\(p)-seen")), "pass")
                t.center{ tenant = tenant, name = "North" }
                t.eq(#t.query("SELECT id FROM centers WHERE tenant_id = $1", tenant.id), 1)
              end,
            }
            """.write(to: tests.appendingPathComponent("cluster_test.lua"), atomically: true, encoding: .utf8)
        try step("test", ["test", tests.path, "--json"])
        return steps
    }

    /// The document with what differs between two databases by nature replaced, and, with
    /// `keeping`, only this scenario's elements of its `tenants` array.
    func normalized(_ stdout: String, keeping filter: ((Any) -> Bool)?) -> String {
        var text = stdout
        if let filter, var object = try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any],
           let tenants = object["tenants"] as? [Any] {
            object["tenants"] = tenants.filter(filter)
            object["count"] = nil
            object["summary"] = nil
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted]) {
                text = String(decoding: data, as: UTF8.self)
            }
        }
        text = text.replacingOccurrences(of: prefix, with: "<p>")
        text = text.replacing(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, with: "<id>")
        text = text.replacing(/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/, with: "<time>")
        text = text.replacing(/"oneTimePassword" : "[^"]*"/, with: "\"oneTimePassword\" : \"<password>\"")
        text = text.replacing(/"(seconds|milliseconds|durationMs)" : [0-9.]+/, with: "<duration>")
        // A plan's path is the scenario's own folder.
        return text.replacingOccurrences(of: folder.path, with: "<folder>")
    }
}
