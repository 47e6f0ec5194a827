#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
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

    private static func writeRaw(_ text: String) {
        guard standardOutputFailure == nil else { return }
        if let code = StandardStream.write(text, to: 1) ?? StandardStream.flush(1) {
            stdoutFailure.store(code, ordering: .releasing)
        }
    }

    // MARK: A document written a part at a time (`check --all`)

    /// Starts the one JSON document with `header`; until `streamEnd`, an interrupt closes
    /// it with `closing` (prepared now: the handler may not allocate) instead of printing
    /// a document of its own.
    static func streamStart(_ header: String, closing: String) {
        Interrupts.deferring {
            writeRaw(header)
            Interrupts.streaming(closing: closing)
        }
    }

    /// One element of the document's array, whole or not at all; `closing` is what an
    /// interrupt now closes the document with.
    static func streamElement(_ text: String, first: Bool, closing: String) {
        Interrupts.deferring {
            writeRaw((first ? "\n" : ",\n") + text)
            if !closing.isEmpty { Interrupts.streaming(closing: closing) }
        }
    }

    /// Closes the document: it is out.
    static func streamEnd(_ closing: String) {
        Interrupts.deferring {
            writeRaw(closing)
            Interrupts.documentPrinted()
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
        if json && !Stream.hasBegun {
            document(ErrorDocument(error))
        } else {
            Output.standardError("error: \(TerminalText.message(error.message, keepingLines: error.keepsLines))")
        }
        if let detail = error.detail { Output.standardError(detail) }
        if Stream.hasBegun {
            Output.standardError(json ? "the JSON document on stdout is incomplete: it stops where this error came, and is not valid JSON"
                                      : "the output on stdout is incomplete: it stops where this error came")
        }
    }
}

extension Output {
    /// What a command writes to stdout as it goes (`list`), in flat memory whatever its
    /// size. Text and JSON gather in a buffer that goes out when it holds 64 KiB, and on a
    /// terminal at the end of each item (a tenant's lines); each piece gets the safety net
    /// `Output` gives a whole report or document (text escaped but for its line breaks and
    /// tabs, JSON's C1 controls and format characters as `\uXXXX`).
    ///
    /// Until the first byte goes out nothing is lost: a failure is reported as any other
    /// (with `--json`, the error document instead of the one begun). After it, stdout holds
    /// the start of the report or of the one document and nothing is added to it: the
    /// failure goes to stderr, saying that stdout is incomplete, and the exit status is the
    /// failure's (an interrupt's 130 or 143). A document cut short is not valid JSON, so
    /// that a reader never takes part of a fleet for all of it.
    final class Stream {
        private let json: Bool
        private var buffer = ""
        /// On a terminal each item is shown as soon as it is complete.
        private let eachItem = isatty(1) == 1
        private static let block = 65_536

        /// Whether a stream has begun to reach stdout: from then on nothing written can be
        /// taken back, and a failure is told on stderr only.
        static var hasBegun: Bool { begun.load(ordering: .acquiring) }
        private static let begun = Atomic<Bool>(false)

        init(json: Bool) {
            self.json = json
            buffer.reserveCapacity(Self.block + 4_096)
        }

        /// Adds `text`, laid out by the caller (every data value in it escaped already).
        /// False once stdout failed: make no more.
        @discardableResult
        func write(_ text: String) -> Bool {
            buffer += json ? TerminalText.jsonEscaped(text) : TerminalText.escaped(text, keeping: [.lineBreaks, .tabs])
            if buffer.utf8.count >= Self.block { send() }
            return Output.standardOutputFailure == nil
        }

        /// An item is complete: on a terminal it goes out now. False once stdout failed.
        func itemDone() -> Bool {
            if eachItem { send() }
            return Output.standardOutputFailure == nil
        }

        /// Sends what is left, and makes sure a file's bytes reached it (a delayed
        /// `ENOSPC` shows here). Returns the `errno` of the first write that failed, if any.
        func finish() -> Int32? {
            send()
            if Output.standardOutputFailure == nil, let code = StandardStream.flush(1) {
                Output.stdoutFailure.store(code, ordering: .releasing)
            }
            return Output.standardOutputFailure
        }

        /// The command failed: what was written goes out when stdout holds part of it
        /// already (the failure is told after it, on stderr); otherwise it is dropped, and
        /// the failure is reported as if nothing had been begun.
        func abandon() {
            if Self.hasBegun { send() }
            buffer = ""
        }

        private func send() {
            guard !buffer.isEmpty else { return }
            if !Self.hasBegun {
                // Before the first byte: an interrupt from now on adds no document of its own.
                Interrupts.outputStreamed()
                Self.begun.store(true, ordering: .releasing)
            }
            if Output.standardOutputFailure == nil, let code = StandardStream.write(buffer, to: 1) {
                Output.stdoutFailure.store(code, ordering: .releasing)
            }
            buffer.removeAll(keepingCapacity: true)
        }
    }
}
