import CLibPQ
import Foundation

/// Keeps secrets out of messages: the password of DATABASE_URL, and the values bound to
/// a failed statement (postgres-nio's habit: a bound value prints as `****`).
struct Redactor: Sendable {
    private let password: String?
    /// user@host:port/dbname, for messages that say where the tool tried to connect.
    let safeTarget: String
    /// libpq's complaint when the connection string does not parse, already redacted.
    let parseError: String?

    init(connectionString: String) {
        var options: [String: String] = [:]
        var errorMessage: UnsafeMutablePointer<CChar>?
        if let parsed = PQconninfoParse(connectionString, &errorMessage) {
            var option = parsed
            while let keyword = option.pointee.keyword {
                if let value = option.pointee.val {
                    options[String(cString: keyword)] = String(cString: value)
                }
                option += 1
            }
            PQconninfoFree(parsed)
        }
        // When libpq cannot parse the string it cannot say which part is the password,
        // and its message quotes the whole string: find the password the way a person
        // would (user:PASSWORD@ in a URI, password=... in conninfo).
        let guessed = Self.passwordByShape(in: connectionString)
        password = options["password"].flatMap { $0.isEmpty ? nil : $0 } ?? guessed
        if let errorMessage {
            let raw = String(cString: errorMessage).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfreemem(errorMessage)
            var message = raw
            if let guessed { message = message.replacingOccurrences(of: guessed, with: "****") }
            // The quoted string may hold a password we could not find: never repeat it.
            message = message.replacingOccurrences(of: connectionString, with: "<DATABASE_URL>")
            parseError = message
        } else {
            parseError = nil
        }
        let host = options["host"] ?? options["hostaddr"] ?? "local socket"
        let port = options["port"].map { ":\($0)" } ?? ""
        let user = options["user"].map { "\($0)@" } ?? ""
        let database = options["dbname"].map { "/\($0)" } ?? ""
        safeTarget = "\(user)\(host)\(port)\(database)"
    }

    static func passwordByShape(in connectionString: String) -> String? {
        if let match = connectionString.firstMatch(of: /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@\/?#]*:([^@]*)@/) {
            let value = String(match.1)
            return value.isEmpty ? nil : (value.removingPercentEncoding ?? value)
        }
        if let match = connectionString.firstMatch(of: /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/) {
            var value = String(match.1)
            if value.hasPrefix("'") { value = String(value.dropFirst().dropLast()) }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    func redact(_ text: String, boundValues: [String?] = []) -> String {
        var result = text
        if let password {
            result = result.replacingOccurrences(of: password, with: "****")
            // libpq may echo the URI-encoded form of the password.
            if let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics), encoded != password {
                result = result.replacingOccurrences(of: encoded, with: "****")
            }
            if let encoded = password.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed), encoded != password {
                result = result.replacingOccurrences(of: encoded, with: "****")
            }
        }
        // Short values ("1", "t") would garble the message; they are not secrets.
        for case let value? in boundValues where value.count >= 4 {
            result = result.replacingOccurrences(of: value, with: "****")
        }
        return result
    }
}
