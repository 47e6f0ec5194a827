import CLibPQ
import Foundation

/// Keeps secrets out of messages: the password of DATABASE_URL, and the values bound to
/// a failed statement (postgres-nio's habit: a bound value prints as `****`).
struct Redactor: Sendable {
    private let password: String?
    /// user@host:port/dbname, for messages that say where the tool tried to connect.
    let safeTarget: String

    init(connectionString: String) {
        var options: [String: String] = [:]
        if let parsed = PQconninfoParse(connectionString, nil) {
            var option = parsed
            while let keyword = option.pointee.keyword {
                if let value = option.pointee.val {
                    options[String(cString: keyword)] = String(cString: value)
                }
                option += 1
            }
            PQconninfoFree(parsed)
        }
        password = options["password"].flatMap { $0.isEmpty ? nil : $0 }
        let host = options["host"] ?? options["hostaddr"] ?? "local socket"
        let port = options["port"].map { ":\($0)" } ?? ""
        let user = options["user"].map { "\($0)@" } ?? ""
        let database = options["dbname"].map { "/\($0)" } ?? ""
        safeTarget = "\(user)\(host)\(port)\(database)"
    }

    func redact(_ text: String, boundValues: [String?] = []) -> String {
        var result = text
        if let password {
            result = result.replacingOccurrences(of: password, with: "****")
            // libpq may echo the URI-encoded form of the password.
            if let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics), encoded != password {
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
