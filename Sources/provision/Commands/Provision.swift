import ArgumentParser

struct Provision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Provision tenants of the education platform in PostgreSQL, safely.",
        discussion: HelpText.paragraphs("""
            DATABASE_URL (a libpq URI or key=value conninfo) names the database.
            Exit codes: 0 success, 1 runtime failure, 2 invalid input, 3 conflict,
            4 precondition (DATABASE_URL unset or unreachable, schema not migrated, the
            named tenant does not exist). With --json, stdout holds one JSON document,
            errors included; share/provision/provision.schema.json where provision is
            installed (/usr/share/provision/ from the .deb) describes each one.

            Quick start (the runbook's staging pilot):
              provision migrate
              provision tenant --tenantSlug pilot-staging \\
                --tenantName "Pilot Staging" --timeZone America/Edmonton \\
                --ownerEmail owner@pilot-staging.example.com
              provision check --tenantSlug pilot-staging

            scripts/install puts the manual page (man provision) and completion for bash,
            zsh and fish under its prefix; `provision --generate-completion-script SHELL`
            prints one. provision --version names the release and the schema version.
            """),
        version: VersionDocument.text,
        subcommands: [MigrateCommand.self, TenantCommand.self, RunCommand.self, BatchCommand.self, CheckCommand.self,
                      ResetPasswordCommand.self, UpdateCommand.self, MemberCommand.self, ListCommand.self, ShowCommand.self, DeleteCommand.self, TestCommand.self,
                      ApplyCommand.self, ShowPlanCommand.self]
    )
}
