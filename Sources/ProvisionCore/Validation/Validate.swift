#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One function per field (CONTRACT §3). Every front end calls these; nothing
/// else decides what a valid slug or email is. Each returns the value as stored, or
/// throws an error about its `Field` that each front end words with its own name for it.
public enum Validate {
    /// What a validation error is about: a domain field, or an argument its caller named
    /// (a variable's key, a script's argument).
    enum Subject {
        case field(Field)
        case named(String)
    }

    static func invalid(_ template: ProvisionError.Template, _ subject: Subject) -> ProvisionError {
        switch subject {
        case .field(let field): return ProvisionError(.invalidInput, template, subject: field)
        case .named(let name): return ProvisionError(.invalidInput, template, subject: nil, field: name)
        }
    }

    public static let maxValueBytes = 1024

    public static let reservedSlugs: Set<String> = [
        "www", "api", "admin", "app", "t", "static", "assets", "mail", "help", "support",
        "portal", "login", "auth", "status", "signup", "register", "logout", "account",
        "dashboard", "docs", "cdn", "files", "media", "public", "internal", "system", "root",
        "null", "undefined", "localhost", "smtp", "ftp", "webmail", "billing", "owner",
    ]

    /// Rules that hold for any value: size, NUL bytes, UTF-8 (the caller checks raw bytes
    /// before they become a `String`; see `rawValue(_:_:)`).
    public static func general(_ value: String, _ field: Field) throws(ProvisionError) {
        try general(value, .field(field))
    }

    /// `general` for an argument the caller names itself (a variable's key).
    public static func general(_ value: String, named name: String) throws(ProvisionError) {
        try general(value, .named(name))
    }

    static func general(_ value: String, _ subject: Subject) throws(ProvisionError) {
        if value.utf8.count > maxValueBytes {
            throw invalid("\(.field) is too long: \(value.utf8.count) bytes, at most \(maxValueBytes) are allowed", subject)
        }
        if value.utf8.contains(0) {
            throw invalid("\(.field) contains a NUL byte", subject)
        }
    }

    /// Turns raw bytes into a value, refusing invalid UTF-8 instead of repairing it.
    public static func rawValue(_ bytes: some BidirectionalCollection<UInt8>, _ field: Field) throws(ProvisionError) -> String {
        try rawValue(bytes, .field(field))
    }

    /// `rawValue` for an argument the caller names itself (a script's `path`).
    public static func rawValue(_ bytes: some BidirectionalCollection<UInt8>, named name: String) throws(ProvisionError) -> String {
        try rawValue(bytes, .named(name))
    }

    static func rawValue(_ bytes: some BidirectionalCollection<UInt8>, _ subject: Subject) throws(ProvisionError) -> String {
        guard let value = String(validating: bytes, as: UTF8.self) else {
            throw invalid("\(.field) is not valid UTF-8", subject)
        }
        return value
    }

    public static func tenantSlug(_ value: String) throws(ProvisionError) -> String {
        let field = Subject.field(.tenantSlug)
        try general(value, field)
        let slug = value.trimmed()
        if slug.isEmpty {
            throw invalid("\(.field) is required and must not be empty", field)
        }
        if slug != slug.lowercased() {
            let lower = slug.lowercased()
            let suggestion = isSlugShaped(lower) ? ": did you mean '\(lower)'?" : ""
            throw invalid("\(.field) '\(slug)' must be lowercase (it is used for routing)\(suggestion)", field)
        }
        if slug.count < 3 || slug.count > 63 {
            throw invalid("\(.field) '\(slug)' must be 3 to 63 characters long, it has \(slug.count)", field)
        }
        if !isSlugShaped(slug) {
            throw invalid("\(.field) '\(slug)' may contain only a-z, 0-9 and single dashes between them (a DNS label, e.g. pilot-staging)", field)
        }
        if reservedSlugs.contains(slug) {
            throw invalid("\(.field) '\(slug)' is reserved by the platform's routing; choose another slug", field)
        }
        return slug
    }

    /// `[a-z0-9]+(-[a-z0-9]+)*`.
    static func isSlugShaped(_ slug: String) -> Bool {
        ASCIIWord.isHyphenated(slug.utf8, letters: ASCIIWord.lowercaseOrDigit)
    }

    /// Display names (`tenantName`, `ownerName`): trimmed, 1–200 characters, no controls
    /// and no invisible format characters (CONTRACT §9).
    public static func displayName(_ value: String, _ field: Field) throws(ProvisionError) -> String {
        let field = Subject.field(field)
        try general(value, field)
        let name = value.trimmed()
        if name.isEmpty {
            throw invalid("\(.field) must not be empty", field)
        }
        if name.count > 200 {
            throw invalid("\(.field) is too long: \(name.count) characters, at most 200 are allowed", field)
        }
        if let control = name.unicodeScalars.first(where: isControl) {
            throw invalid("\(.field) contains a control character (\(codePoint(control))); use plain text on one line", field)
        }
        // Bidi overrides and isolates make a name read differently from what it holds;
        // zero-width characters make two names that look alike differ. A name shown to
        // people has no use for either (general category Cf: U+202A–U+202E,
        // U+2066–U+2069, U+200B–U+200F, U+2060, U+FEFF, U+00AD, …). The value as given
        // is checked: whether trimming drops a zero-width space differs by platform.
        if let format = value.unicodeScalars.first(where: { $0.properties.generalCategory == .format }) {
            throw invalid("\(.field) contains an invisible formatting character (\(codePoint(format))), which can disguise how the name reads; type the name as plain text", field)
        }
        return name
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// `U+202E RIGHT-TO-LEFT OVERRIDE`: a character named without writing it.
    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let code = "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
        guard let name = scalar.properties.name ?? scalar.properties.nameAlias else { return code }
        return "\(code) \(name)"
    }

    /// A sane addr-spec (dot-atom local part, a dotted domain of DNS labels), at most 254
    /// characters. Stored as given, trimmed; uniqueness is case-insensitive in the schema.
    public static func email(_ value: String, _ field: Field) throws(ProvisionError) -> String {
        let field = Subject.field(field)
        try general(value, field)
        let email = value.trimmed()
        if email.isEmpty {
            throw invalid("\(.field) must not be empty", field)
        }
        if email.count > 254 {
            throw invalid("\(.field) is too long: \(email.count) characters, at most 254 are allowed", field)
        }
        let malformed = invalid("\(.field) '\(email)' is not a valid email address (expected name@example.com)", field)
        guard let at = email.lastIndex(of: "@") else { throw malformed }
        let local = email[..<at]
        let domain = email[email.index(after: at)...]
        guard local.count >= 1, local.count <= 64,
              ASCIIWord.isDotAtom(local.utf8)
        else { throw malformed }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2,
              labels.allSatisfy({ $0.count <= 63 && ASCIIWord.isHostLabel($0.utf8) }),
              let tld = labels.last, tld.allSatisfy(\.isLetter) || tld.hasPrefix("xn--")
        else { throw malformed }
        return email
    }

    /// Digits with an optional leading `+`, spaces, dashes, dots and parentheses; 7–15 digits.
    public static func phone(_ value: String, _ field: Field = .supportPhone) throws(ProvisionError) -> String {
        let field = Subject.field(field)
        try general(value, field)
        let phone = value.trimmed()
        if phone.isEmpty {
            throw invalid("\(.field) must not be empty", field)
        }
        guard ASCIIWord.isPhoneShaped(phone.utf8) else {
            throw invalid("\(.field) '\(phone)' may contain only digits, a leading +, spaces, dashes, dots and parentheses (e.g. +1 555 123 4567)", field)
        }
        let digits = phone.filter(\.isASCIIDigit).count
        guard (7...15).contains(digits) else {
            throw invalid("\(.field) '\(phone)' has \(digits) digits; a phone number has 7 to 15", field)
        }
        return phone
    }

    public static func role(_ value: String) throws(ProvisionError) -> Role {
        let field = Subject.field(.role)
        try general(value, field)
        let trimmed = value.trimmed()
        if let role = Role(rawValue: trimmed) { return role }
        if let role = Role(rawValue: trimmed.uppercased()) {
            throw invalid("\(.field) '\(trimmed)' must be uppercase: did you mean '\(role.rawValue)'?", field)
        }
        throw invalid("\(.field) '\(trimmed)' is not a role; use one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))", field)
    }

    /// Runs every check and returns all their errors.
    public static func collect(_ checks: [() throws -> Void]) -> [ProvisionError] {
        var problems: [ProvisionError] = []
        for check in checks {
            do {
                try check()
            } catch let error as ProvisionError {
                problems.append(error)
            } catch {
                problems.append(ProvisionError(.invalidInput, String(describing: error)))
            }
        }
        return problems
    }

    /// A required value, or the error that names it as missing.
    public static func present(_ value: String?, _ field: Field) throws(ProvisionError) -> String {
        guard let value else {
            throw invalid("\(.field) is required", .field(field))
        }
        return value
    }

    /// true/false/yes/no/1/0, any case; empty means false (CONTRACT §2, batch CSV).
    public static func flag(_ value: String, _ field: Field = .allowExistingUser) throws(ProvisionError) -> Bool {
        let field = Subject.field(field)
        switch value.trimmed().lowercased() {
        case "", "false", "no", "0": return false
        case "true", "yes", "1": return true
        default:
            throw invalid("\(.field) '\(value)' must be true/false, yes/no or 1/0", field)
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// The character classes validation needs, tested byte by byte. (Swift Regex literals
/// are compiled again each time they are evaluated: for a dry run that was more time
/// than all the rest of its validation.) Anything outside ASCII fails every class.
public enum ASCIIWord {
    static func lowercaseOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    public static func letterOrDigit(_ byte: UInt8) -> Bool {
        lowercaseOrDigit(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    /// RFC 5322 atext: letters, digits and !#$%&'*+/=?^_`{|}~-
    static func atext(_ byte: UInt8) -> Bool {
        letterOrDigit(byte) || "!#$%&'*+/=?^_`{|}~-".utf8.contains(byte)
    }

    /// Runs of `letters` joined by single hyphens: `x(-x)*`.
    static func isHyphenated(_ bytes: some BidirectionalCollection<UInt8>, letters: (UInt8) -> Bool) -> Bool {
        isJoined(bytes, by: UInt8(ascii: "-"), letters: letters)
    }

    /// Runs of atext joined by single dots: an email's local part (`x(.x)*`).
    static func isDotAtom(_ bytes: some BidirectionalCollection<UInt8>) -> Bool {
        isJoined(bytes, by: UInt8(ascii: "."), letters: atext)
    }

    /// `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`: a DNS label.
    static func isHostLabel(_ bytes: some BidirectionalCollection<UInt8>) -> Bool {
        guard let first = bytes.first, let last = bytes.last, letterOrDigit(first), letterOrDigit(last) else { return false }
        return bytes.allSatisfy { letterOrDigit($0) || $0 == UInt8(ascii: "-") }
    }

    /// `\+?[0-9 ().-]+`.
    static func isPhoneShaped(_ bytes: some BidirectionalCollection<UInt8>) -> Bool {
        let body = bytes.first == UInt8(ascii: "+") ? bytes.dropFirst() : bytes[...]
        return !body.isEmpty && body.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || " ().-".utf8.contains($0) }
    }

    private static func isJoined(_ bytes: some BidirectionalCollection<UInt8>, by separator: UInt8, letters: (UInt8) -> Bool) -> Bool {
        var previousWasLetter = false
        for byte in bytes {
            if byte == separator {
                guard previousWasLetter else { return false }
                previousWasLetter = false
            } else if letters(byte) {
                previousWasLetter = true
            } else {
                return false
            }
        }
        return previousWasLetter
    }
}
