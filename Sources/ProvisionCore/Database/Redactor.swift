import CLibPQ
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Keeps secrets out of messages: the password of DATABASE_URL, and the values bound to
/// a failed statement (postgres-nio's habit: a bound value prints as `****`).
struct Redactor: Sendable {
    private let password: String?
    /// user@host:port/dbname, for messages that say where the tool tried to connect.
    let safeTarget: String
    /// libpq's complaint when the connection string does not parse, already redacted.
    let parseError: String?

    init(connectionString: String, libpq pq: LibPQ.Functions) {
        var options: [String: String] = [:]
        var errorMessage: UnsafeMutablePointer<CChar>?
        if let parsed = pq.PQconninfoParse(connectionString, &errorMessage) {
            var option = parsed
            while let keyword = option.pointee.keyword {
                if let value = option.pointee.val {
                    options[String(cString: keyword)] = String(cString: value)
                }
                option += 1
            }
            pq.PQconninfoFree(parsed)
        }
        // When libpq cannot parse the string it cannot say which part is the password,
        // and its message quotes the whole string: find the password the way a person
        // would (user:PASSWORD@ in a URI, password=... in conninfo).
        let guessed = Self.passwordByShape(in: connectionString)
        password = options["password"].flatMap { $0.isEmpty ? nil : $0 } ?? guessed
        if let errorMessage {
            let raw = String(cString: errorMessage).trimmed()
            pq.PQfreemem(errorMessage)
            var message = raw
            if let guessed { message = message.replacingEvery(guessed, with: "****") }
            // The quoted string may hold a password we could not find: never repeat it.
            message = message.replacingEvery(connectionString, with: "<DATABASE_URL>")
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
            return value.isEmpty ? nil : (PercentEncoding.decoded(value) ?? value)
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
            result = result.replacingEvery(password, with: "****")
            // libpq may echo the URI-encoded form of the password.
            for encoded in [PercentEncoding.encoded(password, keeping: .alphanumerics),
                            PercentEncoding.encoded(password, keeping: .urlPasswordAllowed)] where encoded != password {
                result = result.replacingEvery(encoded, with: "****")
            }
        }
        // Short values ("1", "t") would garble the message; they are not secrets.
        for case let value? in boundValues where value.count >= 4 {
            result = result.replacingEvery(value, with: "****")
        }
        return result
    }
}

/// The percent-encoding of a URI (`%40` for `@`), as Foundation's
/// `addingPercentEncoding(withAllowedCharacters:)` and `removingPercentEncoding` did it,
/// for the two sets the redactor needs; FoundationEssentials keeps these to its URL types.
/// Like Foundation, only ASCII is ever kept: every byte of any other scalar is encoded.
enum PercentEncoding {
    enum Kept {
        /// Foundation's `.alphanumerics`, of which only ASCII letters and digits count.
        case alphanumerics
        /// Foundation's `.urlPasswordAllowed` (RFC 3986's unreserved and sub-delims).
        case urlPasswordAllowed

        func contains(_ scalar: Unicode.Scalar) -> Bool {
            guard scalar.isASCII else { return false }
            let alphanumeric = scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
            switch self {
            case .alphanumerics: return alphanumeric
            case .urlPasswordAllowed: return alphanumeric || "-._~!$&'()*+,;=".unicodeScalars.contains(scalar)
            }
        }
    }

    /// Every UTF-8 byte of a scalar outside `kept` as `%XX`.
    static func encoded(_ text: String, keeping kept: Kept) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            if kept.contains(scalar) {
                bytes.append(contentsOf: String(scalar).utf8)
            } else {
                for byte in String(scalar).utf8 {
                    bytes.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]])
                }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `%XX` turned back into bytes; nil when a `%` is not followed by two hex digits or
    /// the bytes are not UTF-8.
    static func decoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
