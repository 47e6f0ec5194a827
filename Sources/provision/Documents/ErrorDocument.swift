import ProvisionCore

/// `{"error": {...}}`: how every command fails with `--json` (CONTRACT §2), and the
/// `error` of a failed result in a run's envelope.
struct ErrorDocument: JSONDocument {
    /// The command that failed, as the CLI names it (`provision` when none was named).
    let command: String
    let error: ErrorRecord

    init(_ error: ProvisionError, command: String = Output.command) {
        self.command = command
        self.error = ErrorRecord(error)
    }
}

/// A `ProvisionError` as data: its code, message and field, and every problem when there
/// are several (a batch's bad rows), each with its file, line and field. `field` and
/// `problems` are left out when there are none; `detail` (a traceback) is for people and
/// goes to stderr only.
struct ErrorRecord: Encodable, Sendable, Equatable {
    let code: String
    let message: String
    let field: String?
    let problems: [ProblemRecord]?

    init(_ error: ProvisionError) {
        code = error.shownCode
        message = error.message
        field = error.field
        problems = error.problems.isEmpty ? nil : error.problems.map(ProblemRecord.init)
    }
}

/// One problem of an input that had several.
struct ProblemRecord: Encodable, Sendable, Equatable {
    let file: String?
    let line: Int?
    let field: String
    let message: String

    init(file: String?, line: Int?, field: String, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    init(_ problem: Problem) {
        self.init(file: problem.file, line: problem.line, field: problem.field, message: problem.message)
    }
}
