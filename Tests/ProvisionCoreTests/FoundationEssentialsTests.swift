import Foundation
@testable import ProvisionCore
import Testing

/// Issue 27: the shipped code uses FoundationEssentials, not full Foundation (which brings
/// ICU's 34 MB of tables). What full Foundation did for it is done otherwise now; each
/// replacement must give what Foundation gave, and these tests, which may use full
/// Foundation, compare the two on the inputs that could tell them apart.
@Suite("What replaced full Foundation gives what it gave") struct FoundationEssentialsTests {
    /// Every scalar Foundation counts as white space or a line break, a few that it does
    /// not (a zero-width space, a combining mark, a letter), alone and in company.
    static let trimmingSamples: [String] = {
        let odd: [Unicode.Scalar] = ["\u{9}", "\u{A}", "\u{B}", "\u{C}", "\u{D}", " ", "\u{85}", "\u{A0}", "\u{1680}",
                                     "\u{2000}", "\u{200A}", "\u{200B}", "\u{2028}", "\u{2029}", "\u{202F}", "\u{205F}",
                                     "\u{3000}", "\u{FEFF}", "\u{301}", "x", "é"]
        var samples = ["", "plain", "  two words  ", "\r\n\tcrlf\r\n", "\u{301}leading mark", "é\u{301}"]
        for a in odd { for b in odd { samples.append("\(a)\(b)mid\(b)\(a)"); samples.append(String(a) + String(b)) } }
        return samples
    }()

    @Test func trimmingMatchesFoundation() {
        for sample in Self.trimmingSamples {
            #expect(sample.trimmed() == sample.trimmingCharacters(in: .whitespacesAndNewlines), "\(sample.unicodeScalars.map(\.value))")
            #expect(sample.trimmed(.spaces) == sample.trimmingCharacters(in: .whitespaces), "\(sample.unicodeScalars.map(\.value))")
        }
    }

    @Test func theScanCoversEveryWhiteSpaceScalar() {
        // The control: Foundation's sets are what Whitespace says they are, over the BMP.
        for value in UInt32(0)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            #expect(Whitespace.spacesAndNewlines.contains(scalar) == CharacterSet.whitespacesAndNewlines.contains(scalar), "U+\(String(value, radix: 16))")
            #expect(Whitespace.spaces.contains(scalar) == CharacterSet.whitespaces.contains(scalar), "U+\(String(value, radix: 16))")
        }
    }

    @Test func replacingEveryMatchesFoundationAndEscapesEveryQuote() {
        for (text, target, replacement) in [("a\r\nb\rc\nd", "\r", ""), ("a\r\nb\rc\nd", "\n", "N"), ("a\r\nb", "\r\n", "N"),
                                            ("p@ss p@ss", "p@ss", "****"), ("x\\y\"z", "\\", "\\\\"), ("éé", "é", "e"), ("", "a", "b")] {
            #expect(text.replacingEvery(target, with: replacement) == text.replacingOccurrences(of: target, with: replacement), "\(text.debugDescription)")
        }
        // Where Foundation left a quote alone (a combining mark after it), an escape must not.
        #expect("a\"\u{301}b".replacingEvery("\"", with: "\\\"") == "a\\\"\u{301}b")
    }

    @Test func uuidTextIsUUIDStringInLowerCase() {
        var uuids = (0..<1000).map { _ in UUID() }
        uuids += [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                  UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)),
                  UUID(uuid: (0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xf0, 0x0f, 0x10, 0x9a, 0xa9, 0x5c, 0xc5, 0x80))]
        for uuid in uuids {
            #expect(uuid.lowercaseText == uuid.uuidString.lowercased())
            #expect(UUID(uuidString: uuid.lowercaseText) == uuid)
        }
    }

    @Test(arguments: [("%g", 2.5), ("%g", 0.001), ("%g", 1e-7), ("%g", 123456789.0), ("%g", 30.0), ("%.1f", 3.25), ("%.1f", 0.05), ("%.1f", 1023.96)])
    func cFormatMatchesStringFormat(format: String, value: Double) {
        #expect(String(cFormat: format, value) == String(format: format, value))
        #expect(String(cFormat: "the check's \(format) s limit", value) == String(format: "the check's \(format) s limit", value))
    }

    @Test func cFormatOfIntegersAndLongText() {
        #expect(String(cFormat: "%04ld-%02ld-%02ld %02ld:%02ld:%02ld.%06ld+00", 2026, 12, 1, 6, 55, 50, 42)
                == String(format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", 2026, 12, 1, 6, 55, 50, 42))
        #expect(String(cFormat: "  ETA %ld:%02ld", 61, 5) == "  ETA 61:05")
        let long = String(repeating: "x", count: 300)
        #expect(String(cFormat: long + " %ld", 7) == long + " 7", "longer than the first buffer")
    }

    static let passwords = ["plain", "p@ss/wörd", "per%cent", "sp ace", "a:b;c=d&e", "日本語", "tab\there", "~-._!$'()*+,",
                            "e\u{301}", "😀", "%zz", "%4", "%41%42", "%C3%A9", "%FF", "%e2%82%ac", "100%"]

    @Test func percentEncodingMatchesFoundation() {
        for password in Self.passwords {
            #expect(PercentEncoding.encoded(password, keeping: .alphanumerics) == password.addingPercentEncoding(withAllowedCharacters: .alphanumerics), "\(password)")
            #expect(PercentEncoding.encoded(password, keeping: .urlPasswordAllowed) == password.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed), "\(password)")
            #expect(PercentEncoding.decoded(password) == password.removingPercentEncoding, "\(password)")
        }
    }

    @Test func timestampsAsBefore() throws {
        let formatter = ISO8601DateFormatter()
        for seconds in [0.0, 1_796_108_150, 1_796_108_150.999, 951_782_400, -86_400, 4_102_444_799] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(IssuedCredential.iso8601(date) == formatter.string(from: Date(timeIntervalSince1970: seconds.rounded(.down))))
            let text = PostgresTimestamp.text(for: date)
            #expect(PostgresTimestamp.date(from: text).map { abs($0.timeIntervalSince(date)) < 1e-6 } == true, "\(text)")
        }
        #expect(PostgresTimestamp.text(for: Date(timeIntervalSince1970: 1_796_108_150.123456)) == "2026-12-01 06:55:50.123456+00")
    }

    /// JSON with no fixed shape (audit details, plans read back to be hashed) is written
    /// by JSONEncoder now: byte for byte what JSONSerialization wrote, keys apart.
    @Test func jsonValuesAsJSONSerializationWroteThem() throws {
        let documents = [#"{"a":1,"b":1.5,"c":-0,"d":1e2,"e":1.0,"f":10000000000000000000,"g":0.1,"h":1e300,"i":-7}"#,
                         #"{"s":"a\/b \"q\" \\ \u0001 \t\n é 😀 \u2028","n":null,"t":true,"f":false,"x":[],"o":{}}"#,
                         #"{"nested":[{"k":[1,[2,{"z":"y"}]]}],"unicode":"日本語"}"#]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for document in documents {
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(document.utf8))
            let before = try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: Data(document.utf8)),
                                                    options: [.sortedKeys, .withoutEscapingSlashes])
            #expect(String(decoding: try encoder.encode(value), as: UTF8.self) == String(decoding: before, as: UTF8.self))
        }
    }

    /// Without tzdata.zi, the zones are the folder's zone files (TZif), Area/Location ones.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/zoneinfo/Europe/Berlin")))
    func zonesFromZoneFilesWhereTzdataZiIsMissing() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zoneinfo-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }
        for zone in ["Europe/Berlin", "America/Edmonton", "UTC", "posix/Europe/Paris"] {
            let target = folder.appendingPathComponent(zone)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "/usr/share/zoneinfo/" + zone.replacingOccurrences(of: "posix/", with: ""), toPath: target.path)
        }
        try Data("not a zone\n".utf8).write(to: folder.appendingPathComponent("Europe/README"))
        let database = TimeZones.Database.read(from: folder.path)
        #expect(database.canonical == ["Europe/Berlin", "America/Edmonton", "UTC"])
        #expect(database.aliases.isEmpty && database.abbreviations.isEmpty)
        // The control: with tzdata.zi the system's database is read from it.
        #expect(TimeZones.Database.read(from: TimeZones.systemFolder).aliases["US/Mountain"] == "America/Denver")
    }

    /// Full Foundation only where FoundationEssentials cannot be imported (not on Linux):
    /// `import Foundation` right after `#else` of `#if canImport(FoundationEssentials)`.
    static func fullFoundationImports(in files: [(path: String, text: String)]) -> [String] {
        files.flatMap { file in
            let lines = file.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            return lines.indices.filter { index in
                ["import Foundation", "@_exported import Foundation"].contains(lines[index].trimmingCharacters(in: .whitespaces))
            }.filter { index in
                !(index >= 2 && lines[index - 1] == "#else" && lines[index - 2] == "import FoundationEssentials")
            }.map { "\(file.path):\($0 + 1)" }
        }
    }

    @Test func noShippedTargetImportsFullFoundation() throws {
        let shipped = try ["ProvisionCore", "LuaHost", "provision"].flatMap { try CoreVocabularyTests.sources(of: $0, extensions: ["swift"]) }
        #expect(shipped.count > 60)
        #expect(Self.fullFoundationImports(in: shipped) == [])
        // The control: a plain import is found.
        #expect(Self.fullFoundationImports(in: [("sample.swift", "import CLibCSV\nimport Foundation\n")]) == ["sample.swift:2"])
    }
}
