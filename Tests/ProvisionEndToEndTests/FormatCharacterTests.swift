import Foundation
import ProvisionTestSupport
import Testing

/// CONTRACT §9: names refuse Unicode format characters. A bidi override makes a name read
/// differently from what it holds ("Pilot‮lanif" shows as "Pilotfinal"); a zero-width
/// character makes two names that look alike differ. Every other field refuses them too,
/// through its own rule.
@Suite("Unicode format characters are refused: exit 2, the field named, nothing written")
struct FormatCharacterTests {
    /// Bidi embeddings and overrides, isolates, zero-width characters, word joiner, BOM,
    /// soft hyphen, a tag character: all general category Cf.
    static let formatCharacters: [Unicode.Scalar] = [
        "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}",
        "\u{2066}", "\u{2067}", "\u{2068}", "\u{2069}",
        "\u{200B}", "\u{200C}", "\u{200D}", "\u{200E}", "\u{200F}", "\u{2060}", "\u{FEFF}",
        "\u{00AD}", "\u{061C}", "\u{E0041}",
    ]

    static func code(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    @Test("Names with a format character, inside, leading or trailing, name the character",
          arguments: ["tenantName", "ownerName"], formatCharacters)
    func names(_ field: String, _ scalar: Unicode.Scalar) throws {
        let character = String(Character(scalar))
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        for value in ["Pilot\(character)Academy", "\(character)Pilot", "Pilot\(character)"] {
            for mode in OutputMode.allCases {
                let result = try ProvisionBinary.run(mode.apply(BadInput.arguments(setting: field, to: value)), databaseURL: db.url)
                try expectInvalidInput(result, field: field, hint: Self.code(scalar), mode: mode)
                #expect(!result.stderr.unicodeScalars.contains(scalar), "the refusal names the character without writing it: \(result)")
            }
        }
        #expect(try db.rowCounts() == before, "nothing written")
    }

    @Test("Slugs, emails, phones and time zones with a format character",
          arguments: ["tenantSlug", "ownerEmail", "supportEmail", "supportPhone", "timeZone"], ["\u{202E}", "\u{200B}", "\u{FEFF}"] as [Unicode.Scalar])
    func otherFields(_ field: String, _ scalar: Unicode.Scalar) throws {
        let character = String(Character(scalar))
        let valid = try #require(BadInput.validFlags.first { $0.0 == field }?.1)
        // Inside the value, where trimming cannot reach it.
        let value = String(valid.prefix(3)) + character + String(valid.dropFirst(3))
        let db = try TestDatabase.create()
        let before = try db.rowCounts()
        for mode in OutputMode.allCases {
            let result = try ProvisionBinary.run(mode.apply(BadInput.arguments(setting: field, to: value)), databaseURL: db.url)
            try expectInvalidInput(result, field: field, hint: nil, mode: mode)
        }
        #expect(try db.rowCounts() == before, "nothing written")
    }

    @Test("Names in right-to-left scripts, with combining marks or emoji are still accepted", arguments: [
        "مدرسة الشمال", "בית ספר", "Zoë Ångström", "Pilot 🎓", "Nguyễn Thị Minh Khai",
    ])
    func plainNamesAccepted(_ name: String) throws {
        let db = try TestDatabase.create()
        let result = try ProvisionBinary.run(BadInput.arguments(setting: "tenantName", to: name) + ["--json"], databaseURL: db.url)
        #expect(result.status == 0, "\(result)")
        #expect(try db.column("SELECT name FROM tenants") == [name])
    }

    @Test("A playbook's createTenant and createOwner refuse them too, naming the Lua key")
    func playbook() throws {
        let db = try TestDatabase.create()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("format-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let playbook = folder.appendingPathComponent("names.lua")
        try Data("""
            local p = require "provision"
            local ok, e = pcall(p.createTenant, { slug = "lua-names", name = "Pilot\\u{202E}lanif" })
            p.log("tenant", ok, e.code, e.field)
            ok, e = pcall(p.createOwner, { email = "owner@lua-names.example.com", name = "Owner\\u{200B}" })
            p.log("owner", ok, e.code, e.field)
            """.utf8).write(to: playbook)
        let before = try db.rowCounts()

        let result = try ProvisionBinary.run(["run", playbook.path], databaseURL: db.url)

        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("tenant\tfalse\tinvalid_input\tname"), "\(result)")
        #expect(result.stderr.contains("owner\tfalse\tinvalid_input\tname"), "\(result)")
        #expect(try db.rowCounts() == before, "nothing written")
    }

    @Test("A batch row with a bidi override in a name is reported as FILE:LINE: field: message; exit 2, nothing written")
    func batchRow() throws {
        let db = try TestDatabase.create()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("format-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("names.csv").path
        try Data("""
            tenantSlug,tenantName,ownerEmail,ownerName
            good-row,Good Row,good@example.com,Good Owner
            bidi-row,Pilot\u{202E}lanif,bidi@example.com,Owner\u{2066}x
            """.utf8 + [0x0A]).write(to: URL(fileURLWithPath: file))
        let before = try db.rowCounts()

        let result = try ProvisionBinary.run(["batch", file], databaseURL: db.url)

        #expect(result.status == 2, "\(result)")
        let problems = result.stderr.split(separator: "\n").filter { $0.hasPrefix(file + ":") }
        #expect(problems.count == 2, "\(result)")
        #expect(problems.contains { $0.hasPrefix("\(file):3: tenantName: ") && $0.contains("U+202E") }, "\(result)")
        #expect(problems.contains { $0.hasPrefix("\(file):3: ownerName: ") && $0.contains("U+2066") }, "\(result)")
        #expect(try db.rowCounts() == before, "nothing written")
    }
}
