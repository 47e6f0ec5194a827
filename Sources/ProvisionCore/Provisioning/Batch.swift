#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Several pilots from one CSV file, one row each (CONTRACT §2 batch CSV, §4).
///
/// 1. `validate`: every row is checked before the database is touched; every problem is
///    reported at once with its file, line and column, and one bad row refuses the file.
/// 2. `run`: the rows run in the caller's run (one transaction), each row a savepoint
///    unit: a row that fails at the database is recorded and rolled back alone. With
///    `skipExisting`, a row whose tenant already exists with that owner as OWNER is
///    `unchanged`, so a wave can be re-run, and with `update` it converges to the row;
///    with `stopOnError`, the rows stop at the first
///    failure, which the caller then raises to roll back the whole run.
///
/// The columns are the domain's field names, which is what the batch file format calls
/// them; no front end's flags or keys are named here.
public enum Batch {
    /// The columns a file may have, in the order messages list them.
    public static let columns: [Field] = [.tenantSlug, .tenantName, .ownerEmail, .ownerName, .timeZone,
                                          .supportEmail, .supportPhone, .allowExistingUser]
    static let requiredColumns: Set<Field> = [.tenantSlug, .tenantName, .ownerEmail]

    /// A parsed CSV file: its header, its rows (as many cells as the header) and the
    /// line each row starts on.
    public struct File: Sendable {
        public let path: String
        public let header: [String]
        public let rows: [[String]]
        public let lines: [Int]

        public init(path: String, header: [String], rows: [[String]], lines: [Int]) {
            self.path = path
            self.header = header
            self.rows = rows
            self.lines = lines
        }
    }

    /// A valid row.
    public struct Row: Sendable, Equatable {
        public let line: Int
        public let tenant: TenantSpec
        public let owner: OwnerSpec
    }

    /// What happened to one row, in the file's order: created (or planned), kept as it
    /// was (`skipExisting`: unchanged or differs), or failed and rolled back alone (the
    /// error names the row's place, `FILE:LINE: …`).
    public struct Outcome: Sendable {
        public let line: Int
        public let outcome: TenantOutcome
    }

    public struct Options: Sendable {
        public var stopOnError: Bool
        public var skipExisting: Bool
        /// A row whose tenant exists converges to the row (CONTRACT §12): see
        /// `ProvisioningRun.keepExisting(_:owner:converge:)`.
        public var update: Bool

        public init(stopOnError: Bool = false, skipExisting: Bool = false, update: Bool = false) {
            self.stopOnError = stopOnError
            self.skipExisting = skipExisting
            self.update = update
        }
    }

    // MARK: Validating

    /// Every row as a typed row, or one error (`invalid_input`; `duplicate_in_batch` when
    /// the only problems are values repeated within the file) whose `problems` hold each
    /// problem with its file, line and column, ordered by line. `wording` words the
    /// problems' messages (a remedy in the front end's terms).
    public static func validate(_ file: File, wording: any Wording = PlainWording()) throws(ProvisionError) -> [Row] {
        var invalid: [Problem] = []
        var duplicates: [Problem] = []
        func report(_ list: inout [Problem], _ line: Int, _ field: String, _ message: String) {
            // Messages name their field already; say it once, in the field position.
            let message = message.hasPrefix(field + " ") ? String(message.dropFirst(field.count + 1)) : message
            list.append(Problem(file: file.path, line: line, field: field, message: message))
        }

        // The header: the required columns, and nothing that would be silently ignored.
        let names = columns.map(\.rawValue)
        for name in file.header where !names.contains(name) {
            // The message names the column too: it stands alone in problems[].
            report(&invalid, 1, name, "'\(name)' is an unknown column; the columns are \(names.joined(separator: ", "))")
        }
        for column in columns where requiredColumns.contains(column) && !file.header.contains(column.rawValue) {
            report(&invalid, 1, column.rawValue, "required column is missing")
        }
        if file.rows.isEmpty && invalid.isEmpty { report(&invalid, 1, "file", "has a header but no rows") }

        var rows: [Row] = []
        var slugLine: [String: Int] = [:]
        var emailLine: [String: Int] = [:]
        for (cells, line) in zip(file.rows, file.lines) {
            // A cell that is absent or only whitespace is not given.
            func cell(_ column: Field) -> String? {
                guard let index = file.header.firstIndex(of: column.rawValue), cells.indices.contains(index) else { return nil }
                let value = cells[index]
                return value.unicodeScalars.allSatisfy(Self.isBlank) ? nil : value
            }
            let (slug, name, zone) = (cell(.tenantSlug), cell(.tenantName), cell(.timeZone))
            let (supportEmail, supportPhone) = (cell(.supportEmail), cell(.supportPhone))
            let (email, ownerName, allow) = (cell(.ownerEmail), cell(.ownerName), cell(.allowExistingUser) ?? "false")

            var problems = TenantSpec.problems(slug: slug, name: name, timeZone: zone, supportEmail: supportEmail,
                                               supportPhone: supportPhone)
            var allowExistingUser = false
            do {
                allowExistingUser = try Validate.flag(allow, .allowExistingUser)
                problems += OwnerSpec.problems(email: email, name: ownerName)
            } catch {
                problems.append(error)
            }
            for problem in problems {
                let worded = problem.worded(by: wording)
                report(&invalid, line, worded.field ?? "row", worded.message)
            }

            // Duplicates within the file, for every value that is itself valid.
            let bad = Set(problems.compactMap(\.subject))
            if !bad.contains(.tenantSlug), let slug = try? Validate.tenantSlug(slug ?? "") {
                if let first = slugLine[slug] {
                    report(&duplicates, line, Field.tenantSlug.rawValue, "'\(slug)' is already provisioned by line \(first) of this file")
                } else {
                    slugLine[slug] = line
                }
            }
            if !bad.contains(.ownerEmail), !bad.contains(.allowExistingUser), let email = try? Validate.email(email ?? "", .ownerEmail) {
                let key = email.lowercased()
                if let first = emailLine[key], !allowExistingUser {
                    report(&duplicates, line, Field.ownerEmail.rawValue,
                           "'\(email)' is already the owner on line \(first); set \(Field.allowExistingUser.rawValue) to true on this row if one person owns both")
                }
                if emailLine[key] == nil { emailLine[key] = line }
            }

            guard problems.isEmpty else { continue }
            do {
                rows.append(Row(line: line,
                                tenant: try TenantSpec(slug: slug ?? "", name: name ?? "", timeZone: zone,
                                                       supportEmail: supportEmail, supportPhone: supportPhone),
                                owner: try OwnerSpec(email: email ?? "", name: ownerName, allowExistingUser: allowExistingUser)))
            } catch {
                let worded = error.worded(by: wording)
                report(&invalid, line, worded.field ?? "row", worded.message)
            }
        }

        guard invalid.isEmpty && duplicates.isEmpty else {
            // By line; at one line, problems of the row's own values before its duplicates.
            let all = (invalid + duplicates).enumerated()
                .sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }
                .map(\.element)
            var error = ProvisionError(invalid.isEmpty ? .duplicateInBatch : .invalidInput,
                                       "\(file.path): \(all.count) problem\(all.count == 1 ? "" : "s") in the file; nothing was written")
            error.problems = all
            throw error
        }
        return rows
    }

    /// Lua's `%s`: what a cell may hold and still be empty.
    private static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar == "\u{0B}" || scalar == "\u{0C}"
    }

    // MARK: Running

    /// Runs the rows in `run`, each a savepoint unit, and returns what happened to each
    /// in the file's order. `progress` hears `(done, total, label)` before each row and
    /// once at the end. A failed row's error is worded by `wording` and names its place
    /// (`FILE:LINE: …`); with `stopOnError` the rows stop after the first failure, the
    /// last outcome then being that failure. Errors outside a row (the database going
    /// away between rows) are thrown.
    public static func run(_ rows: [Row], file: String, in run: ProvisioningRun, options: Options = Options(),
                           wording: any Wording = PlainWording(),
                           progress: (_ done: Int, _ total: Int, _ label: String) -> Void = { _, _, _ in }) throws(ProvisionError) -> [Outcome] {
        // Hash the new Owners' one-time passwords on every core while the rows run.
        if !run.isPlanning {
            let emails = Array(Set(rows.map { $0.owner.email.lowercased() }))
            run.prepareOneTimePasswords(emails.count - (try run.existingUserCount(emails: emails)))
        }
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(rows.count)
        for (done, row) in rows.enumerated() {
            let slug = row.tenant.slug
            progress(done, rows.count, slug)
            if options.skipExisting || options.update,
               let existing = try run.keepExisting(row.tenant, owner: row.owner, converge: options.update) {
                outcomes.append(Outcome(line: row.line, outcome: existing))
                continue
            }
            // No subtransaction per row: a failing row's inserts are removed instead, so a
            // batch of any size takes one transaction id.
            let unit = try run.beginUnit(savepoint: false)
            do throws(ProvisionError) {
                let tenant = try run.createTenant(row.tenant)
                let owner = try run.createOwner(row.owner)
                _ = try run.linkMembership(tenant: tenant, user: owner, role: .owner)
                try run.release(unit)
                outcomes.append(Outcome(line: row.line, outcome: .tenant(tenant)))
            } catch {
                // Name the row, keep the code and field: the report and the exit status use both.
                var failure = error.worded(by: wording)
                failure.message = "\(file):\(row.line): \(failure.message)"
                // Where it is, for the JSON's problems[] (CONTRACT §13).
                if failure.problems.isEmpty {
                    failure.problems = [Problem(file: file, line: row.line, field: failure.field ?? "row",
                                                message: error.worded(by: wording).message)]
                }
                if run.transactionAborted {
                    // A database error (not a conflict, which rows find before they write):
                    // PostgreSQL aborted the transaction, so no row of the batch can land.
                    failure.message += "; the database aborted the batch's transaction, so the whole batch was rolled back and nothing was written"
                    throw failure
                }
                try run.rollback(unit, error: failure)
                outcomes.append(Outcome(line: row.line, outcome: .failed(UnitFailure(tenantSlug: slug, error: failure))))
                if options.stopOnError { return outcomes }
            }
        }
        progress(rows.count, rows.count, "done")
        return outcomes
    }
}
