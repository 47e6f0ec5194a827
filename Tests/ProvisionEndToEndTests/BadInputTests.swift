import Foundation
import ProvisionTestSupport
import Testing

/// One bad value for one flag of `provision tenant`.
struct BadInput: Sendable, CustomTestStringConvertible {
    /// The flag without dashes, as the error's `field` must name it.
    let field: String
    let value: String
    /// Text the error message must contain (a suggestion, the rule broken), if any.
    let messageHint: String?

    init(_ field: String, _ value: String, hint: String? = nil) {
        self.field = field
        self.value = value
        self.messageHint = hint
    }

    var testDescription: String {
        let shown = value.count > 40 ? "\(value.prefix(20).debugDescription)… (\(value.utf8.count) bytes)" : value.debugDescription
        return "--\(field) \(shown)"
    }

    /// The production example with this flag's value replaced.
    var arguments: [String] { BadInput.arguments(setting: field, to: value) }

    /// The runbook's production example with `field` set to `value` (or removed, for nil).
    /// A value that starts with a dash is passed as `--flag=value`.
    static func arguments(setting field: String, to value: String?) -> [String] {
        var arguments = ["tenant"]
        var replaced = false
        for (flag, original) in validFlags {
            if flag == field {
                replaced = true
                guard let value else { continue }
                arguments += value.hasPrefix("-") ? ["--\(flag)=\(value)"] : ["--\(flag)", value]
            } else {
                arguments += ["--\(flag)", original]
            }
        }
        precondition(replaced, "unknown field \(field)")
        return arguments
    }

    static let validFlags: [(String, String)] = [
        ("tenantSlug", "pilot"),
        ("tenantName", "Pilot"),
        ("ownerEmail", "owner@pilot.example.com"),
        ("ownerName", "Pilot Owner"),
        ("timeZone", "America/Edmonton"),
        ("supportEmail", "support@pilot.example.com"),
        ("supportPhone", "+1 555 123 4567"),
    ]

    static let allFields = validFlags.map(\.0)
}

/// CONTRACT §3: every class of bad input exits 2 with `invalid_input`, names the flag in
/// `field` (and in the message), and writes nothing.
@Suite("Bad input is refused: exit 2, invalid_input, the flag named, nothing written")
struct BadInputTests {
    // MARK: tenantSlug

    @Test("Slug too short or too long", arguments: [
        BadInput("tenantSlug", ""), BadInput("tenantSlug", "a"), BadInput("tenantSlug", "ab"),
        BadInput("tenantSlug", String(repeating: "a", count: 64)),
        BadInput("tenantSlug", String(repeating: "ab-", count: 21) + "a"),
    ])
    func slugLength(_ input: BadInput) throws { try expectRefused(input) }

    @Test("Slug with characters outside a-z, 0-9 and dash", arguments: [
        BadInput("tenantSlug", "pilot_staging"), BadInput("tenantSlug", "pilot.staging"),
        BadInput("tenantSlug", "pilot staging"), BadInput("tenantSlug", "pilöt"), BadInput("tenantSlug", "pilot/staging"),
        BadInput("tenantSlug", "pilot!"), BadInput("tenantSlug", "t/pilot"), BadInput("tenantSlug", "ñandu"),
    ])
    func slugCharacters(_ input: BadInput) throws { try expectRefused(input) }

    @Test("Slug with a leading, trailing or double dash", arguments: [
        BadInput("tenantSlug", "-pilot"), BadInput("tenantSlug", "pilot-"), BadInput("tenantSlug", "pilot--staging"),
        BadInput("tenantSlug", "---"),
    ])
    func slugDashes(_ input: BadInput) throws { try expectRefused(input) }

    @Test("Uppercase slug is refused with the lowercase form suggested", arguments: [
        BadInput("tenantSlug", "Pilot", hint: "pilot"),
        BadInput("tenantSlug", "PILOT-STAGING", hint: "pilot-staging"),
        BadInput("tenantSlug", "pilot-Staging", hint: "pilot-staging"),
    ])
    func slugUppercase(_ input: BadInput) throws { try expectRefused(input) }

    @Test("Reserved slugs", arguments: [
        "www", "api", "admin", "app", "t", "static", "assets", "mail", "help", "support", "portal", "login", "auth", "status",
    ])
    func slugReserved(_ word: String) throws {
        // "t" is also too short; whichever rule names it, it is refused.
        try expectRefused(BadInput("tenantSlug", word, hint: word.count >= 3 ? "reserved" : nil))
    }

    // MARK: names

    @Test("Names empty or whitespace-only", arguments: ["tenantName", "ownerName"], ["", " ", "   ", "\t", " \n "])
    func namesEmpty(_ field: String, _ value: String) throws { try expectRefused(BadInput(field, value)) }

    @Test("Names over 200 characters", arguments: ["tenantName", "ownerName"], [
        String(repeating: "n", count: 201), String(repeating: "é", count: 201), String(repeating: "Pilot ", count: 40) + "Pilot",
    ])
    func namesTooLong(_ field: String, _ value: String) throws { try expectRefused(BadInput(field, value)) }

    @Test("Names with control characters", arguments: ["tenantName", "ownerName"], [
        "Pilot\nStaging", "Pilot\rStaging", "Pilot\tStaging", "Pilot\u{7}", "Pilot\u{1B}[31mRed", "Pilot\u{7F}x",
        "Pilot\u{85}x", "Pilot\u{2028}x",
    ])
    func namesWithControls(_ field: String, _ value: String) throws { try expectRefused(BadInput(field, value)) }

    // MARK: emails

    @Test("Malformed emails", arguments: ["ownerEmail", "supportEmail"], [
        "", "owner", "owner@", "@pilot.example.com", "owner@pilot", "owner@@pilot.example.com",
        "owner pilot@example.com", "owner@pilot..example.com", "owner@-pilot.example.com", ".owner@pilot.example.com",
        "owner.@pilot.example.com", "<owner@pilot.example.com>", "owner@pilot.example.com, other@pilot.example.com",
        "owner@pilot_example.com", "owner@.example.com",
    ])
    func emailsMalformed(_ field: String, _ value: String) throws { try expectRefused(BadInput(field, value)) }

    @Test("Emails over 254 characters", arguments: ["ownerEmail", "supportEmail"])
    func emailsTooLong(_ field: String) throws {
        // Every part is valid on its own (local part 64, labels 63): only the total is too long.
        let domain = [String](repeating: String(repeating: "d", count: 63), count: 3).joined(separator: ".") + ".example.com"
        let email = String(repeating: "o", count: 64) + "@" + domain
        try #require(email.count > 254 && email.utf8.count <= 1024)
        try expectRefused(BadInput(field, email))
    }

    // MARK: timeZone

    @Test("Time zone in the wrong case suggests the right one", arguments: [
        BadInput("timeZone", "america/edmonton", hint: "America/Edmonton"),
        BadInput("timeZone", "AMERICA/EDMONTON", hint: "America/Edmonton"),
        BadInput("timeZone", "europe/berlin", hint: "Europe/Berlin"),
    ])
    func timeZoneWrongCase(_ input: BadInput) throws { try expectRefused(input) }

    @Test("Time zone abbreviations and free text", arguments: [
        "MST", "EST", "PST", "CEST", "Mountain Time", "Mountain Standard Time", "America/Atlantis", "GMT-7", "", " ",
    ])
    func timeZoneNotIANA(_ value: String) throws { try expectRefused(BadInput("timeZone", value)) }

    // MARK: supportPhone

    @Test("Phone with letters or other characters", arguments: [
        "+1 555 CALL NOW", "555-123-abcd", "+1 555 123 4567 ext 9", "++1 555 123 4567", "1 555 123 4567+",
        "+1/555/123/4567", "+1 555 123 4567;", "",
    ])
    func phoneCharacters(_ value: String) throws { try expectRefused(BadInput("supportPhone", value)) }

    @Test("Phone with too few or too many digits", arguments: [
        "12345", "123 456", "+1 (23) 4-5", "+1 234 567 890 123 456", "1234567890123456",
    ])
    func phoneDigits(_ value: String) throws { try expectRefused(BadInput("supportPhone", value)) }

    // MARK: any value

    @Test("Any value over 1 KiB", arguments: BadInput.allFields)
    func valueOverOneKiB(_ field: String) throws {
        let value: String
        switch field {
        case "ownerEmail", "supportEmail": value = String(repeating: "a", count: 1019) + "@x.com"
        case "timeZone": value = "America/" + String(repeating: "x", count: 1017)
        case "supportPhone": value = String(repeating: "5", count: 1025)
        default: value = String(repeating: "a", count: 1025)
        }
        try #require(value.utf8.count > 1024)
        try expectRefused(BadInput(field, value))
    }

    @Test("Invalid UTF-8 in an argument", arguments: BadInput.allFields, [
        [0xFF], [0x70, 0x69, 0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0x41, 0x80, 0x42],
    ] as [[UInt8]])
    func invalidUTF8(_ field: String, _ bytes: [UInt8]) throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        var arguments: [[UInt8]] = BadInput.arguments(setting: field, to: "\u{FFFD}").map { Array($0.utf8) }
        let index = try #require(arguments.firstIndex(of: Array("\u{FFFD}".utf8)))
        arguments[index] = bytes
        for mode in OutputMode.allCases {
            let raw = mode == .json ? arguments + [Array("--json".utf8)] : arguments
            let result = try ProvisionBinary.run(rawArguments: raw, databaseURL: db.url)
            try expectInvalidInput(result, field: field, hint: nil, mode: mode)
        }
        #expect(try db.rowCounts() == before)
    }

    @Test("Invalid UTF-8 in the --flag=value form", arguments: BadInput.allFields)
    func invalidUTF8InlineValue(_ field: String) throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        var arguments: [[UInt8]] = BadInput.arguments(setting: field, to: "\u{FFFD}").map { Array($0.utf8) }
        let index = try #require(arguments.firstIndex(of: Array("\u{FFFD}".utf8)))
        arguments.remove(at: index)
        arguments[index - 1] = Array("--\(field)=pil".utf8) + [0xFF] + Array("ot".utf8)
        let result = try ProvisionBinary.run(rawArguments: arguments + [Array("--json".utf8)], databaseURL: db.url)
        try expectInvalidInput(result, field: field, hint: nil, mode: .json)
        #expect(try db.rowCounts() == before)
    }

    // MARK: flags

    @Test("Missing required flag", arguments: ["tenantSlug", "tenantName", "ownerEmail"])
    func missingRequiredFlag(_ field: String) throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        let arguments = BadInput.arguments(setting: field, to: nil)
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(arguments), databaseURL: db.url)
            try expectInvalidInput(result, field: field, hint: "--\(field)", mode: mode)
        }
        #expect(try db.rowCounts() == before)
    }

    @Test("Unknown flag", arguments: [
        ["--colour", "red"], ["--tenantslug", "pilot"], ["--ownerPassword", "hunter2hunter2"], ["--dry_run"],
        ["--allowExistingUsers"], ["-x"],
    ])
    func unknownFlag(_ extra: [String]) throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(Runbook.production + extra), databaseURL: db.url)
            #expect(result.status == 2, "\(result)")
            #expect(result.stdout.contains(extra[0]) || result.stderr.contains(extra[0]), "the error names \(extra[0]): \(result)")
            if mode == .json {
                #expect(result.errorCode == "invalid_input", "\(result)")
            } else {
                #expect(result.stdout.isEmpty, "errors go to stderr: \(result)")
            }
        }
        #expect(try db.rowCounts() == before)
    }

    // MARK: helpers

    /// Runs `input` in both output forms against a migrated database and checks the refusal.
    private func expectRefused(_ input: BadInput, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(input.arguments), databaseURL: db.url)
            try expectInvalidInput(result, field: input.field, hint: input.messageHint, mode: mode, sourceLocation: sourceLocation)
        }
        #expect(try db.rowCounts() == before, "nothing written", sourceLocation: sourceLocation)
    }
}

/// Exit 2; JSON: `invalid_input` naming `field`; human: stderr names the field, stdout empty.
func expectInvalidInput(_ result: ProvisionBinary.Result, field: String, hint: String?, mode: OutputMode,
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(result.status == 2, "\(result)", sourceLocation: sourceLocation)
    switch mode {
    case .json:
        #expect(result.errorCode == "invalid_input", "\(result)", sourceLocation: sourceLocation)
        #expect(result.errorField == field, "\(result)", sourceLocation: sourceLocation)
        #expect(result.errorMessage?.contains(field) == true, "the message names \(field): \(result)", sourceLocation: sourceLocation)
        if let hint {
            #expect(result.errorMessage?.contains(hint) == true, "the message says \(hint.debugDescription): \(result)",
                    sourceLocation: sourceLocation)
        }
    case .human:
        #expect(result.stdout.isEmpty, "errors go to stderr: \(result)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(field), "stderr names \(field): \(result)", sourceLocation: sourceLocation)
        if let hint {
            #expect(result.stderr.contains(hint), "stderr says \(hint.debugDescription): \(result)", sourceLocation: sourceLocation)
        }
    }
}

/// The other side of the rules: values at the limits are accepted and stored as given,
/// trimmed (so the refusals above are about the rule, not about any unusual value).
@Suite("Values at the limits are accepted and stored trimmed")
struct EdgeInputTests {
    struct GoodInput: Sendable, CustomTestStringConvertible {
        let field: String
        let value: String
        let stored: String

        init(_ field: String, _ value: String, stored: String? = nil) {
            self.field = field
            self.value = value
            self.stored = stored ?? value
        }

        var testDescription: String {
            let shown = value.count > 40 ? "\(value.prefix(20).debugDescription)… (\(value.count) chars)" : value.debugDescription
            return "--\(field) \(shown)"
        }
    }

    static let column: [String: String] = [
        "tenantSlug": "SELECT slug FROM tenants",
        "tenantName": "SELECT name FROM tenants",
        "ownerEmail": "SELECT email FROM users",
        "ownerName": "SELECT name FROM users",
        "timeZone": "SELECT time_zone FROM tenants",
        "supportEmail": "SELECT support_email FROM tenants",
        "supportPhone": "SELECT support_phone FROM tenants",
    ]

    static let longestEmail = String(repeating: "o", count: 64) + "@" + String(repeating: "d", count: 63) + "."
        + String(repeating: "e", count: 63) + "." + String(repeating: "x", count: 57) + ".com"

    @Test("A value at the limit is accepted and stored as given, trimmed", arguments: [
        GoodInput("tenantSlug", "abc"), GoodInput("tenantSlug", String(repeating: "a", count: 63)),
        GoodInput("tenantSlug", "a-b"), GoodInput("tenantSlug", "123"), GoodInput("tenantSlug", "pilot-2024-staging"),
        GoodInput("tenantSlug", "  pilot  ", stored: "pilot"),
        GoodInput("tenantName", String(repeating: "n", count: 200)), GoodInput("tenantName", String(repeating: "é", count: 200)),
        GoodInput("tenantName", "Pilot's \"Academy\" — Ünïcödé 🎓"), GoodInput("tenantName", "  Pilot  ", stored: "Pilot"),
        GoodInput("tenantName", "x"),
        GoodInput("ownerName", String(repeating: "n", count: 200)), GoodInput("ownerName", "Zoë O'Brien"),
        GoodInput("ownerName", " Pilot Owner\t", stored: "Pilot Owner"),
        GoodInput("ownerEmail", longestEmail), GoodInput("ownerEmail", "first.last+tag@sub.example.co.uk"),
        GoodInput("ownerEmail", "o'brien@example.com"), GoodInput("ownerEmail", " Owner@Pilot.Example.com ", stored: "Owner@Pilot.Example.com"),
        GoodInput("supportEmail", longestEmail), GoodInput("supportEmail", " help@pilot.example.com ", stored: "help@pilot.example.com"),
        GoodInput("timeZone", "UTC"), GoodInput("timeZone", "America/Argentina/Buenos_Aires"), GoodInput("timeZone", "Asia/Kolkata"),
        GoodInput("timeZone", " Europe/Berlin ", stored: "Europe/Berlin"),
        GoodInput("supportPhone", "1234567"), GoodInput("supportPhone", "+123456789012345"),
        GoodInput("supportPhone", "+1 (555) 123-4567"), GoodInput("supportPhone", "555.123.4567"),
        GoodInput("supportPhone", "  +1 555 123 4567 ", stored: "+1 555 123 4567"),
    ])
    func accepted(_ input: GoodInput) throws {
        try #require(input.value.utf8.count <= 1024)
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(BadInput.arguments(setting: input.field, to: input.value) + ["--json"],
                                             databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        let query = try #require(Self.column[input.field])
        #expect(try db.column(query) == [input.stored])
    }
}
