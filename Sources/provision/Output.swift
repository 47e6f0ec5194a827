import Foundation
import LuaHost
import ProvisionCore
import Synchronization

/// Where a command's words go: results to stdout, progress and warnings to stderr, and
/// with `--json` exactly one JSON document on stdout, errors included.
///
/// Reports escape each data value they interpolate (`TerminalText.escaped`); the text
/// writers here are the safety net behind them: whatever a report missed, no control
/// character but the line breaks and tabs of its own layout reaches a terminal raw
/// (CONTRACT §9). JSON documents keep the exact data, escaped the JSON way.
struct Output {
    let json: Bool

    /// Human-readable text for stdout, escaped but for its line breaks and tabs.
    static func standardOutput(_ text: String) {
        writeStandardOutput(TerminalText.escaped(text, keeping: [.lineBreaks, .tabs]))
    }

    /// Human-readable text for stderr, escaped but for its line breaks and tabs.
    static func standardError(_ text: String) {
        StandardStream.write(lines(TerminalText.escaped(text, keeping: [.lineBreaks, .tabs])), to: 2)
    }

    private static func lines(_ text: String) -> String { text.hasSuffix("\n") ? text : text + "\n" }

    /// The first error writing to stdout (its `errno`), if any: stdout closed (a reader
    /// that went away, `| head -0`) or full (`> /dev/full`). Once stdout failed nothing
    /// more is written to it. After a commit, a one-time password on stdout that could
    /// not be written is revoked (`CredentialDelivery`).
    static var standardOutputFailure: Int32? {
        let code = stdoutFailure.load(ordering: .acquiring)
        return code == 0 ? nil : code
    }

    private static let stdoutFailure = Atomic<Int32>(0)

    private static func writeStandardOutput(_ text: String) {
        guard standardOutputFailure == nil else { return }
        if let code = StandardStream.write(lines(text), to: 1) ?? StandardStream.flush(1) {
            stdoutFailure.store(code, ordering: .releasing)
        }
    }

    func result(_ text: String) { Output.standardOutput(text) }

    func progress(_ text: String) { Output.standardError(text) }

    /// Each warning on a line of its own: a line break inside one is shown as `\n`.
    func warnings(_ warnings: [String]) {
        for warning in warnings { Output.standardError("warning: \(TerminalText.escaped(warning, keeping: .tabs))") }
    }

    /// The one JSON document of a `--json` run (`JSONDocument.encoded`: the exact data,
    /// with what a terminal would act on as JSON escapes). An interrupt waits until it is
    /// written whole, and then adds no document of its own.
    func document(_ document: some JSONDocument) {
        let text = document.encoded
        Interrupts.deferring {
            Output.writeStandardOutput(text)
            Interrupts.documentPrinted()
        }
    }

    /// Reports a failure in the form the caller asked for.
    /// Each problem goes to stderr first, one line each as compilers write them
    /// (`FILE:LINE: field: message`), in text and JSON mode alike: the JSON carries
    /// them too, in `problems[]`.
    /// The command this process runs (`tenant`, `member add`), named in error documents;
    /// set once by `main` before anything runs, and only read after.
    nonisolated(unsafe) static var command = "provision"

    func failure(_ error: ProvisionError) {
        for problem in error.problems {
            let place = (problem.file ?? "") + (problem.line.map { ":\($0)" } ?? "")
            let line = (place.isEmpty ? [] : [place]) + [problem.field, problem.message]
            Output.standardError(TerminalText.escaped(line.joined(separator: ": "), keeping: .tabs))
        }
        if json {
            document(ErrorDocument(error))
        } else {
            Output.standardError("error: \(TerminalText.message(error.message, keepingLines: error.keepsLines))")
        }
        if let detail = error.detail { Output.standardError(detail) }
    }
}
