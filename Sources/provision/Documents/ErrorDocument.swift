import ProvisionCore

/// `{"error": {...}}`: how every command fails with `--json` (CONTRACT §2), and the
/// `error` of a failed result in a run's envelope.
struct ErrorDocument: JSONDocument {
    let error: ErrorRecord

    init(_ error: ProvisionError) { self.error = ErrorRecord(error) }
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
        code = error.code.rawValue
        field = error.field
        if !error.problems.isEmpty {
            message = error.message
            problems = error.problems.map(ProblemRecord.init)
        } else if let listed = ProblemRecord.listed(in: error.message) {
            (message, problems) = (listed.summary, listed.problems)
        } else {
            message = error.message
            problems = nil
        }
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

    /// The problems of a message that lists them one per line as `FILE:LINE: field:
    /// message` (or `FILE:LINE: message` for a row the CSV reader could not read), after
    /// an optional summary line. Errors raised from Lua (the batch playbook's bad rows, a
    /// malformed CSV) carry them that way; an error that carries `problems` itself is
    /// used as it is. A message of one line is never a list, even if it starts with a
    /// place (`wave.csv:3: tenant slug 'x' already exists`, `x.lua:2: …`). A line that
    /// does not start with the file's place continues the problem before it: a value
    /// quoted in a message can hold a line break.
    static func listed(in text: String) -> (summary: String, problems: [ProblemRecord])? {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count > 1 else { return nil }
        var summary: String?
        if problem(in: lines[0]) == nil {
            summary = lines.removeFirst()
        }
        guard let first = lines.first.flatMap(problem(in:)), let file = first.file else { return nil }
        var problems: [ProblemRecord] = []
        for line in lines {
            if let problem = problem(in: line), problem.file == file {
                problems.append(problem)
            } else if let last = problems.popLast() {
                problems.append(ProblemRecord(file: last.file, line: last.line, field: last.field, message: last.message + "\n" + line))
            }
        }
        guard summary != nil || problems.count > 1 else { return nil }
        let count = "\(problems.count) problem\(problems.count == 1 ? "" : "s")"
        // "FILE: 3 problems in the file; nothing was written:" ends where its list began.
        let text = summary.map { $0.hasSuffix(":") ? String($0.dropLast()) : $0 } ?? "\(file): \(count)"
        return (text, problems)
    }

    private static func problem(in line: String) -> ProblemRecord? {
        guard let match = line.wholeMatch(of: /(.+?):([0-9]+): (.*)/), let number = Int(match.output.2) else { return nil }
        let rest = String(match.output.3)
        if let named = rest.wholeMatch(of: /([A-Za-z][A-Za-z0-9_]*): (.*)/) {
            return ProblemRecord(file: String(match.output.1), line: number, field: String(named.output.1), message: String(named.output.2))
        }
        return ProblemRecord(file: String(match.output.1), line: number, field: "row", message: rest)
    }
}
