import Foundation
import ProvisionCore

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
        write(TerminalText.escaped(text, keeping: [.lineBreaks, .tabs]), to: .standardOutput)
    }

    /// Human-readable text for stderr, escaped but for its line breaks and tabs.
    static func standardError(_ text: String) {
        write(TerminalText.escaped(text, keeping: [.lineBreaks, .tabs]), to: .standardError)
    }

    private static func write(_ text: String, to handle: FileHandle) {
        handle.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    func result(_ text: String) { Output.standardOutput(text) }

    func progress(_ text: String) { Output.standardError(text) }

    /// Each warning on a line of its own: a line break inside one is shown as `\n`.
    func warnings(_ warnings: [String]) {
        for warning in warnings { Output.standardError("warning: \(TerminalText.escaped(warning, keeping: .tabs))") }
    }

    /// Serialises with Foundation's JSONSerialization; `NSNull()` stands for null.
    static func document(_ object: [String: Any]) -> String {
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            return String(decoding: data, as: UTF8.self)
        } catch {
            return #"{"error": {"code": "playbook_error", "message": "could not encode the result as JSON"}}"#
        }
    }

    /// The one JSON document of a `--json` run: the exact data, with what a terminal
    /// would act on as JSON escapes (`TerminalText.jsonEscaped`).
    func document(_ object: [String: Any]) { Output.write(TerminalText.jsonEscaped(Output.document(object)), to: .standardOutput) }

    /// Reports a failure in the form the caller asked for.
    func failure(_ error: ProvisionError) {
        if json {
            document(Output.errorObject(error))
        } else {
            Output.standardError("error: \(TerminalText.message(error.message))")
        }
        if let detail = error.detail { Output.standardError(detail) }
    }

    static func errorObject(_ error: ProvisionError) -> [String: Any] {
        var body: [String: Any] = ["code": error.code.rawValue, "message": error.message]
        if let field = error.field { body["field"] = field }
        return ["error": body]
    }
}

extension Output {
    /// An owner in the contract's JSON; the one-time password only when `credential` is
    /// given, which is only after the commit and never with a credentials file.
    static func ownerObject(_ owner: User, credential: IssuedCredential?) -> [String: Any] {
        var object: [String: Any] = ["id": owner.id.orNull, "email": owner.email, "name": owner.name.orNull, "created": owner.created]
        if let credential {
            object["oneTimePassword"] = credential.password.reveal()
            object["passwordExpiresAt"] = credential.expiresAt
        }
        return object
    }
}

extension Optional {
    /// The value for a JSON document: the wrapped value or `NSNull()`.
    var orNull: Any { self.map { $0 as Any } ?? NSNull() }
}
