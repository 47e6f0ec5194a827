import ProvisionCore

/// How the CLI words the core's errors (CONTRACT §3): fields as the runbook's flags name
/// them (`tenantSlug`), remedies as flags to pass and commands to run. A batch's rows
/// name fields as its CSV columns, which are named after the flags, and a remedy as what
/// to change on the row. The Lua host words them for playbooks (`LuaWording`).
enum ErrorWording {
    /// `provision tenant`, `check`, `migrate` and every error outside a playbook.
    struct Flags: Wording {
        func name(of field: Field) -> String { field.rawValue }

        func words(for remedy: Remedy) -> String {
            switch remedy {
            case .allowExistingUser: return "re-run with --allowExistingUser"
            case .runMigrate: return "run `provision migrate`"
            case .showMigrationStatus: return "see `provision migrate --status`"
            case .chooseAnotherSlug: return PlainWording().words(for: remedy)
            case .addAnotherOwnerFirst: return "add another OWNER first (provision member add … --role OWNER), then try again"
            }
        }

        func resetPassword(of email: String) -> String { CredentialDelivery.resetCommand(for: email) }
    }

    /// `provision batch`: the CSV's columns carry the flags' names; the row is the input.
    struct CSVColumns: Wording {
        func name(of field: Field) -> String { field.rawValue }

        func words(for remedy: Remedy) -> String {
            switch remedy {
            case .allowExistingUser: return "set allowExistingUser to true on this row"
            case .runMigrate, .showMigrationStatus, .chooseAnotherSlug, .addAnotherOwnerFirst: return Flags().words(for: remedy)
            }
        }

        func resetPassword(of email: String) -> String { Flags().resetPassword(of: email) }
    }

    static let flags = Flags()
    static let csvColumns = CSVColumns()
}

extension Wording {
    /// Runs `body` and words any error it throws in these terms: for the core's errors
    /// that reach a command directly (a schema that is not migrated, a flag's value),
    /// not through a playbook, which the Lua host words with `PlaybookOptions.wording`.
    func wordingErrors<Value>(of body: () throws(ProvisionError) -> Value) throws(ProvisionError) -> Value {
        do { return try body() } catch { throw error.worded(by: self) }
    }
}
