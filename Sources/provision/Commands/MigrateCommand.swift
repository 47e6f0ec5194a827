import ArgumentParser
import ProvisionCore

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the bundled schema migrations (prisma migrate).",
        discussion: HelpText.paragraphs("""
            The runbook's `prisma migrate deploy`. Safe to run twice or concurrently: migrations apply in one transaction under an
            advisory lock, and an applied migration whose text changed is refused.

            It also sets up provision_reader, the least-privilege role that read-only
            queries of playbooks and checks run as. A role that may not create roles (a
            database owner without CREATEROLE) still migrates: migrate prints the SQL an
            administrator runs once, then you run migrate again.

            Example:
              export DATABASE_URL=postgresql://provision@db.internal/platform
              provision migrate
              provision migrate --status
            """)
    )

    @Flag(help: "List applied and pending migrations without applying anything; exit 4 if any is pending or was edited.")
    var status = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        let output = Output(json: json)
        let connection = try DatabaseURL.connect()
        let migrator = Migrator(connection: connection)
        if status {
            let entries = try migrator.status()
            let document = MigrationStatusDocument(entries, layout: try migrator.layout())
            report(status: document, target: connection.safeTarget, output: output)
            // The report said it (pending, edited after it was applied, or not laid out
            // on Citus yet): exit 4, a precondition, without a second document.
            if !document.upToDate { throw ExitCode(4) }
            return
        }
        let outcome = try migrator.apply(audit: AuditContext())
        let applied = outcome.applied
        if case .needsAdministrator(let sql, let reason) = outcome.readerRole {
            // Not a failure: the schema is migrated, and queries run as the connecting
            // role until the role exists (or are refused if that role is privileged).
            output.progress("""
                warning: read-only queries of playbooks and checks should run as the least-privilege role \(ReaderRole.name), \
                but \(reason). Until it is set up they run as the connecting role, or are refused if that role is a superuser \
                or may read or write server files or signal other sessions. An administrator runs once:

                \(sql.split(separator: "\n").map { "    \($0)" }.joined(separator: "\n"))

                then run `provision migrate` again.
                """)
        }
        if json {
            output.document(MigrateDocument(outcome))
            return
        }
        if applied.isEmpty && outcome.laidOut.isEmpty {
            output.result("Schema is up to date at \(connection.safeTarget): \(BundledMigrations.all.count) migrations applied, none pending.")
        } else if !applied.isEmpty {
            output.result("Applied \(applied.count) migration\(applied.count == 1 ? "" : "s") to \(connection.safeTarget):")
            for migration in applied { output.result("  + \(migration.version) \(migration.name)") }
        }
        if !outcome.laidOut.isEmpty {
            output.result("Laid out on Citus: \(outcome.laidOut.joined(separator: ", ")).")
        }
        if outcome.layout != .singleNode { output.result("Layout: \(LayoutRecord(outcome.layout).text)") }
    }

    private func report(status document: MigrationStatusDocument, target: String, output: Output) {
        if json {
            output.document(document)
            return
        }
        output.result("Migrations at \(target):")
        for entry in document.migrations {
            output.result("  \(String(entry.version).leftPadded(4)) \(entry.name.padding(40)) \(entry.state.padding(9)) \(entry.appliedAt?.description ?? "")")
        }
        output.result("Layout: \(document.layout.text)")
        let modified = document.migrations.filter { $0.state == "modified" }
        if !modified.isEmpty {
            let list = modified.map { String($0.version) }.joined(separator: ", ")
            output.result("Migration \(list) was edited after it was applied: restore the applied text and add a new migration for the change.")
        } else {
            output.result(document.pending > 0 ? "\(document.pending) pending: run `provision migrate`."
                          : document.upToDate ? "Up to date." : "Not laid out on Citus yet: run `provision migrate`.")
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
