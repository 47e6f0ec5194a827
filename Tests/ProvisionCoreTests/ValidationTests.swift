import Foundation
import Testing
@testable import ProvisionCore

@Suite("Slug rules (CONTRACT §3)") struct SlugValidationTests {
    @Test(arguments: ["pilot", "pilot-staging", "abc", "a1-b2-c3", String(repeating: "a", count: 63)])
    func acceptsDNSLabels(_ slug: String) throws {
        #expect(try Validate.tenantSlug(slug) == slug)
    }

    @Test(arguments: ["ab", String(repeating: "a", count: 64), "-pilot", "pilot-", "pi--lot", "pi_lot", "pi lot", "pilöt", ""])
    func refusesMalformed(_ slug: String) {
        #expect(throws: ProvisionError.self) { try Validate.tenantSlug(slug) }
    }

    @Test(arguments: ["www", "api", "admin", "app", "t", "static", "assets", "mail", "help", "support", "portal", "login", "auth", "status"])
    func refusesReservedWords(_ slug: String) {
        #expect(throws: ProvisionError.self) { try Validate.tenantSlug(slug) }
    }

    @Test func uppercaseSuggestsLowercaseInsteadOfChangingIt() {
        let error = #expect(throws: ProvisionError.self) { try Validate.tenantSlug("Pilot-Staging") }
        #expect(error?.code == .invalidInput)
        #expect(error?.field == "tenantSlug")
        #expect(error?.message.contains("'pilot-staging'") == true)
    }

    @Test func namesTheFieldAsDataForTheCallerToWord() {
        let error = #expect(throws: ProvisionError.self) { try TenantSpec(slug: "x", name: "X") }
        #expect(error?.subject == .tenantSlug)
        #expect(error?.field == "tenantSlug", "until a front end words it, the domain's own name")
    }
}

@Suite("Names, emails, phones, zones") struct FieldValidationTests {
    @Test func namesAreTrimmed() throws {
        #expect(try Validate.displayName("  Pilot Owner \n", .ownerName) == "Pilot Owner")
    }

    @Test(arguments: ["", "   ", String(repeating: "x", count: 201), "Pilot\u{7}", "Two\nLines", "Tab\there", "Sep\u{2028}x"])
    func refusesBadNames(_ name: String) {
        #expect(throws: ProvisionError.self) { try Validate.displayName(name, .tenantName) }
    }

    @Test func twoHundredCharactersIsTheLimit() throws {
        let name = String(repeating: "é", count: 200)
        #expect(try Validate.displayName(name, .tenantName) == name)
    }

    @Test(arguments: ["owner@pilot.example.com", "Owner.Name+tag@Sub.Example.CO", "a@b.io", "x@xn--bcher-kva.example"])
    func acceptsSaneAddresses(_ email: String) throws {
        #expect(try Validate.email(" \(email) ", .ownerEmail) == email)
    }

    @Test(arguments: ["owner", "owner@", "@example.com", "owner@example", "owner@@example.com", "own er@example.com",
                      "owner@exa_mple.com", ".owner@example.com", "own..er@example.com", "owner@-example.com", "owner@example.c0m",
                      String(repeating: "a", count: 65) + "@example.com",
                      "a@" + String(repeating: "b", count: 250) + ".com"])
    func refusesMalformedAddresses(_ email: String) {
        #expect(throws: ProvisionError.self) { try Validate.email(email, .ownerEmail) }
    }

    @Test(arguments: ["+1 555 123 4567", "(780) 555-0100", "780.555.0100", "5550100", "+44 20 7946 0958"])
    func acceptsPhones(_ phone: String) throws {
        #expect(try Validate.phone(phone, .supportPhone) == phone)
    }

    @Test(arguments: ["call us", "555-CALL-NOW", "12345", "+1 555 123 4567 8901 23", "1+555 123 4567", "555_123_4567"])
    func refusesBadPhones(_ phone: String) {
        #expect(throws: ProvisionError.self) { try Validate.phone(phone, .supportPhone) }
    }

    @Test func acceptsIANAZones() throws {
        #expect(try TimeZones.validate("America/Edmonton") == "America/Edmonton")
        #expect(try TimeZones.validate("UTC") == "UTC")
        #expect(try TimeZones.validate("Europe/Berlin") == "Europe/Berlin")
    }

    @Test func wrongCaseSuggestsTheZone() {
        let error = #expect(throws: ProvisionError.self) { try TimeZones.validate("america/edmonton") }
        #expect(error?.message.contains("America/Edmonton") == true)
    }

    @Test(arguments: ["MST", "EST", "PST", "Mountain Time", "GMT+7", "America/Atlantis", "US/Mountain"])
    func refusesAbbreviationsAndFreeText(_ zone: String) {
        let error = #expect(throws: ProvisionError.self) { try TimeZones.validate(zone) }
        #expect(error?.field == "timeZone")
    }

    @Test func anyValueIsAtMostOneKibibyte() {
        let error = #expect(throws: ProvisionError.self) { try Validate.displayName(String(repeating: "a", count: 1025), .tenantName) }
        #expect(error?.message.contains("1024") == true)
    }

    @Test func nulBytesAreRefused() {
        #expect(throws: ProvisionError.self) { try Validate.displayName("Pi\u{0}lot", .tenantName) }
    }

    @Test func invalidUTF8IsRefusedNotRepaired() throws {
        #expect(throws: ProvisionError.self) { try Validate.rawValue([0x50, 0xFF, 0x51], .tenantName) }
        #expect(try Validate.rawValue(Array("Pilöt".utf8), .tenantName) == "Pilöt")
    }

    @Test(arguments: [("true", true), ("YES", true), ("1", true), ("false", false), ("no", false), ("0", false), ("", false)])
    func flagsTakeTheUsualSpellings(_ text: String, _ value: Bool) throws {
        #expect(try Validate.flag(text, .allowExistingUser) == value)
    }

    @Test func rolesAreUppercase() throws {
        #expect(try Validate.role("ADMIN") == .admin)
        let error = #expect(throws: ProvisionError.self) { try Validate.role("owner") }
        #expect(error?.message.contains("OWNER") == true)
    }
}

/// The byte-wise character classes (ASCIIWord) accept exactly what the regular
/// expressions they replaced accepted: checked on every short string over an alphabet
/// that has each class's edge characters, and on a few non-ASCII ones.
@Suite("Character classes match the patterns they replaced") struct ASCIIWordTests {
    static func strings(over alphabet: [Character], upTo length: Int) -> [String] {
        var all = [""]
        var layer = [""]
        for _ in 0..<length {
            layer = layer.flatMap { prefix in alphabet.map { prefix + String($0) } }
            all += layer
        }
        return all + ["é", "aé", "a\u{301}", "ａ", "٣", "a\u{200B}b", "-", "--", "a--b"]
    }

    @Test func slugs() {
        for text in Self.strings(over: ["a", "z", "0", "9", "-", "A", "_", "."], upTo: 4) {
            #expect(Validate.isSlugShaped(text) == (text.wholeMatch(of: /[a-z0-9]+(-[a-z0-9]+)*/) != nil), "\(text.debugDescription)")
        }
    }

    @Test func emailLocalParts() {
        for text in Self.strings(over: ["a", "Z", "0", ".", "+", "~", "@", " ", "\""], upTo: 4) {
            let pattern = text.wholeMatch(of: /[A-Za-z0-9!#$%&'*+\/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+\/=?^_`{|}~-]+)*/) != nil
            #expect(ASCIIWord.isDotAtom(text.utf8) == pattern, "\(text.debugDescription)")
        }
    }

    @Test func hostLabels() {
        for text in Self.strings(over: ["a", "Z", "0", "-", ".", "_"], upTo: 4) {
            let pattern = text.wholeMatch(of: /[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?/) != nil
            #expect(ASCIIWord.isHostLabel(text.utf8) == pattern, "\(text.debugDescription)")
        }
    }

    @Test func phones() {
        for text in Self.strings(over: ["+", "1", " ", "(", ")", ".", "-", "x"], upTo: 4) {
            #expect(ASCIIWord.isPhoneShaped(text.utf8) == (text.wholeMatch(of: /\+?[0-9 ().\-]+/) != nil), "\(text.debugDescription)")
        }
    }
}

/// TimeZones reads tzdata.zi byte by byte, skipping what it does not need: it must find
/// exactly the zones, links and abbreviations a plain reading of every line finds.
@Suite("The tz database, read fast") struct TimeZoneDatabaseTests {
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TimeZones.systemFile)))
    func theFastReadingFindsWhatAPlainOneFinds() throws {
        let text = try String(contentsOfFile: TimeZones.systemFile, encoding: .utf8)
        var canonical: Set<String> = ["UTC"], abbreviations: Set<String> = [], aliases: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            if fields.count >= 2, fields[0] == "Z" {
                if fields[1].contains("/") { canonical.insert(fields[1]) } else { abbreviations.insert(fields[1]) }
            } else if fields.count >= 3, fields[0] == "L" {
                aliases[fields[2]] = fields[1]
            }
        }
        aliases["UTC"] = nil
        let database = TimeZones.database
        #expect(database.canonical == canonical)
        #expect(database.abbreviations == abbreviations)
        #expect(database.aliases == aliases)
        #expect(canonical.count > 300 && canonical.contains("America/Edmonton"))
    }
}
