import ArgumentParser

struct Provision: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Provision tenants of the education platform in PostgreSQL, safely.",
        discussion: HelpText.paragraphs("""
            DATABASE_URL (a libpq URI or key=value conninfo) names the database. With
            --json, stdout holds one JSON document, errors included. Where provision is
            installed (PREFIX/share/provision/; /usr/share/provision/ from the .deb),
            provision.schema.json describes each document and validate-json checks one
            against it: provision list --json | PREFIX/share/provision/validate-json.

            Exit status (every command):
              0    success (with --dryRun: the plan is valid)
              1    runtime failure: a database error mid-run, a playbook error, a
                   failed go-live check
              2    invalid input: a missing or unknown flag, an invalid value, a
                   malformed CSV or playbook
              3    conflict: the slug or the email exists, a duplicate in a batch,
                   removing the last OWNER of a tenant
              4    precondition: DATABASE_URL unset or unreachable, the schema not
                   migrated, the tenant or user does not exist, a tenant in use, a
                   plan that is stale or not trusted
              130  interrupted (SIGINT, Ctrl-C; 143 for SIGTERM): rolled back

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
