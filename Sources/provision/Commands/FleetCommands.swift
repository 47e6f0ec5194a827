import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every tenant with its Owners and where their passwords stand.",
        discussion: HelpText.paragraphs("""
            One line per tenant, by slug: name, when it was created, and each Owner with
            their password state (one-time pending, one-time expired, changed). Printed
            as it is read, whatever the number of tenants. A name longer than 40
            characters or an email longer than 64 is cut, ending in …; --json has every
            value whole.

            Example:
              provision list
              provision list --json | jq '.tenants[].tenant.slug'
            """)
    )

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        let fleet = Fleet(connection: try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in
            try DatabaseURL.connectMigrated(grantsFor: .reads)
        })
        // Streamed (CONTRACT §14): each tenant is written as soon as its last Owner is read.
        let stream = Output.Stream(json: json)
        var count = 0
        do throws(ProvisionError) {
            if json {
                var document = ListDocument(on: stream)
                var failure: ProvisionError?
                try fleet.forEachTenant { listing in
                    do throws(ProvisionError) { return try document.add(listing) } catch { failure = error; return false }
                }
                if let failure { throw failure }
                document.end()
                count = document.count
            } else {
                var report = ListReport(longest: try fleet.longestListedValues(), on: stream)
                try fleet.forEachTenant { report.add($0) }
                report.end()
                count = report.count
            }
        } catch {
            stream.abandon()
            throw error
        }
        if let code = stream.finish() {
            Output.standardError("error: could not write to stdout (\(StandardStream.describe(code))): the listing stopped after at most \(count) tenant\(count == 1 ? "" : "s")")
            throw ExitCode.failure
        }
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one tenant: fields, members, platform rows and recent events.",
        usage: "provision show --tenantSlug <slug> [--events <n>] [--json]",
        discussion: HelpText.paragraphs("""
            Exit 4 (not_found) when no tenant has the slug.

            Example:
              provision show --tenantSlug pilot-staging
            """)
    )

    @Option(name: [.customLong("tenantSlug"), .customLong("tenant-slug")],
            help: ArgumentHelp("(required) The tenant to show.", valueName: "slug"),
            completion: Completions.tenantSlug)
    var tenantSlug: String?

    @Option(help: ArgumentHelp("How many of the latest audit events to show, 1 to 1000.", valueName: "n"))
    var events: Int = 10

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        let output = Output(json: json)
        let slug = try requiredSlug(tenantSlug)
        guard (1...1000).contains(events) else {
            throw ProvisionError(.invalidInput, "--events must be between 1 and 1000, got \(events)", field: "events")
        }
        let connection = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connectMigrated(grantsFor: .reads) }
        guard let detail = try Fleet(connection: connection).tenant(slug: slug, events: events) else {
            throw ProvisionError(.notFound, "tenant '\(slug)' does not exist (see provision list)", field: "tenantSlug")
        }
        if json {
            output.document(ShowDocument(detail))
            return
        }
        let tenant = detail.tenant
        let (name, email) = (TextTable.nameCap, TextTable.emailCap)
        var lines = ["Tenant \(tenant.slug.terminalEscaped)  \"\(TextTable.cell(tenant.name, cap: name))\"  id \(tenant.id?.description ?? "")"]
        lines.append("  created     \(UTCTimestamp(detail.createdAt))")
        lines.append("  time zone   \(tenant.timeZone.map { TextTable.cell($0, cap: name) } ?? "(none)")")
        let support = [tenant.supportEmail.map { TextTable.cell($0, cap: email) }, tenant.supportPhone.map { TextTable.cell($0, cap: name) }]
            .compactMap { $0 }.joined(separator: ", ")
        lines.append("  support     \(support.ifEmpty("(none: the portal shows a generic “contact your center” message)"))")
        lines.append("")
        if detail.members.isEmpty {
            lines.append("Members: none")
        } else {
            var table = TextTable(header: ["ROLE", "EMAIL", "NAME", "PASSWORD"], caps: [nil, email, name, nil])
            table.rows = detail.members.map { [$0.role.rawValue, $0.user.email, $0.user.name ?? "", PasswordRecord($0.passwordState).text] }
            lines.append("Members:")
            lines += table.text.split(separator: "\n").map { "  " + $0 }
        }
        lines.append("")
        lines.append("Platform rows: " + detail.platformRows.map { "\($0.count) \($0.table)" }.joined(separator: ", "))
        lines.append("")
        if detail.recentEvents.isEmpty {
            lines.append("Audit events: none")
        } else {
            var table = TextTable(header: ["AT", "ACTOR", "ACTION", "USER", "RUN"], caps: [nil, name, name, email, nil])
            table.rows = detail.recentEvents.map { [UTCTimestamp($0.at).description, $0.actor, $0.action, $0.userEmail ?? "", $0.runId ?? ""] }
            lines.append("Latest audit events (newest first):")
            lines += table.text.split(separator: "\n").map { "  " + $0 }
        }
        output.result(lines.joined(separator: "\n"))
    }
}

struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a tenant provisioned by mistake, if nothing uses it yet.",
        usage: "provision delete --tenantSlug <slug> [--dryRun] [--json]",
        discussion: HelpText.paragraphs("""
            In one transaction: the tenant's memberships, the tenant, and each of its members
            who belongs to no other tenant and never logged in. Refused (exit 4,
            tenant_in_use) when the tenant has any platform row (centers, levels, programs,
            groups, students, parents) or a member who has logged in. Audit rows stay, with
            a tenant.delete event. --dryRun lists exactly what would go.

            Example:
              provision delete --tenantSlug pilot-typo --dryRun
              provision delete --tenantSlug pilot-typo
            """)
    )

    @Option(name: [.customLong("tenantSlug"), .customLong("tenant-slug")],
            help: ArgumentHelp("(required) The tenant to delete.", valueName: "slug"),
            completion: Completions.tenantSlug)
    var tenantSlug: String?

    @Flag(name: [.customLong("dryRun"), .customLong("dry-run")], help: "List what would be deleted, without writing.")
    var dryRun = false

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        let output = Output(json: json)
        let slug = try requiredSlug(tenantSlug)
        if dryRun && DatabaseURL.fromEnvironment == nil { throw DatabaseURL.unsetError }
        let options = PlaybookOptions(stdlib: try Stdlib.located(), dryRun: dryRun, vars: ["tenantSlug": slug],
                                      wording: ErrorWording.flags, showsLocation: false)
        try PlaybookRunner.run(playbook: options.stdlib.playbook("delete").path, options: options, output: output, grantsFor: .delete) { session, delivery in
            RunReport(command: .delete, delivery: delivery).print(to: output, title: "provision delete")
        }
    }
}

/// `--tenantSlug`, required and valid (exit 2 naming the flag otherwise).
func requiredSlug(_ value: String?) throws(ProvisionError) -> String {
    guard let value else {
        throw ProvisionError(.invalidInput, "missing required flag --tenantSlug", field: "tenantSlug")
    }
    return try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try Validate.tenantSlug(value) }
}
