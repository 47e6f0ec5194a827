import Foundation
import LuaHost
import ProvisionCore
import ProvisionTestSupport
import Testing

// CONTRACT §5 `p.readCSV(path)` --> array of row tables keyed by header, and an info
// table with the header and the line each row starts on; §2: quoted fields, embedded
// commas, quotes and newlines, a UTF-8 BOM and CRLF line ends all work.

@Suite("provision.readCSV") struct ReadCSVTests {
    /// Writes `bytes` as `name` in a folder of its own and returns its path.
    func csv(_ text: String, named name: String = "pilots.csv") throws -> String {
        let folder = try temporaryFolder()
        let file = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: file)
        return file.path
    }

    @Test func rowsAreKeyedByTheHeader() throws {
        let path = try csv("tenantSlug,tenantName,ownerEmail\npilot,Pilot,owner@pilot.example.com\nsecond,Second,owner@second.example.com\n")
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local rows, info = provision.readCSV("\(path)")
            print(#rows, rows[1].tenantSlug, rows[1].tenantName, rows[1].ownerEmail, rows[2].tenantSlug)
            print(table.concat(info.header, ","), table.concat(info.lines, ","))
            """)
        #expect(log == ["2\tpilot\tPilot\towner@pilot.example.com\tsecond", "tenantSlug,tenantName,ownerEmail\t2,3"])
    }

    @Test func quotedFieldsKeepCommasQuotesAndNewlines() throws {
        let path = try csv(#"""
            slug,name,note
            pilot,"Pilot, Inc.","She said ""hello"""
            second,"Two
            Lines",plain
            third,Third,"a,b"

            """#)
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local rows, info = provision.readCSV("\(path)")
            print(#rows)
            print(rows[1].name, rows[1].note)
            print(rows[2].name == "Two\\nLines", rows[2].note)
            print(rows[3].note)
            print(table.concat(info.lines, ","))
            """)
        #expect(log == ["3", "Pilot, Inc.\tShe said \"hello\"", "true\tplain", "a,b", "2,3,5"])
    }

    @Test func aByteOrderMarkAndCRLFLineEndsAreAccepted() throws {
        let path = try csv("\u{FEFF}slug,name\r\npilot,\"Pilot, Inc.\"\r\nsecond,Second\r\n")
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local rows, info = provision.readCSV("\(path)")
            print(#rows, info.header[1], #info.header[1], rows[1].slug, rows[1].name, rows[2].slug, rows[2].name)
            print(rows[2].name:find("\\r") == nil, table.concat(info.lines, ","))
            """)
        #expect(log == ["2\tslug\t4\tpilot\tPilot, Inc.\tsecond\tSecond", "true\t2,3"])
    }

    @Test func aQuotedNewlineInACRLFFileCountsAsOneLine() throws {
        let path = try csv("slug,name\r\npilot,\"Two\r\nLines\"\r\nsecond,Second\r\n")
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local rows, info = provision.readCSV("\(path)")
            print(#rows, rows[2].slug, table.concat(info.lines, ","))
            """)
        #expect(log == ["2\tsecond\t2,4"])
    }

    @Test func blankLinesAreSkippedAndLineNumbersStayTrue() throws {
        let path = try csv("slug,name\n\npilot,Pilot\n\n\nsecond,Second\n")
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local rows, info = provision.readCSV("\(path)")
            print(#rows, rows[1].slug, rows[2].slug, table.concat(info.lines, ","))
            """)
        #expect(log == ["2\tpilot\tsecond\t3,6"])
    }

    @Test func aRowWithTheWrongNumberOfFieldsIsInvalidInputWithItsLine() throws {
        let path = try csv("slug,name\npilot,Pilot\nsecond\n")
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.readCSV, "\(path)")
            print(ok, e.code)
            print(e.message)
            """)
        #expect(log.first == "false\tinvalid_input")
        #expect(log.last?.contains("\(path):3") == true, "FILE:LINE of the bad row: \(log.last ?? "")")
    }

    /// Malformed quoting is an error naming the line, never a guess (libcsv's strict mode).
    @Test(arguments: [
        ("slug,name\npilot,Pilot\nsecond,Sec\"ond\n", 3, "a quote inside a field that is not quoted"),
        ("slug,name\npilot,\"Pilot\" Inc\nsecond,Second\n", 2, "text after a field's closing quote"),
        ("slug,name\npilot,Pilot\nsecond,\"Second\nthird,Third\n", 3, "a quoted field is never closed"),
    ])
    func malformedQuotingIsInvalidInputWithItsLine(text: String, line: Int, message: String) throws {
        let path = try csv(text)
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.readCSV, "\(path)")
            print(ok, e.code, e.field)
            print(e.message)
            """)
        #expect(log.first == "false\tinvalid_input\tpath")
        #expect(log.last?.hasPrefix("\(path):\(line): ") == true && log.last?.contains(message) == true, "\(log)")
    }

    @Test func spacesAreDataAndAHeaderAfterBlankLinesKeepsItsLine() throws {
        let path = try csv("\n\n slug , name\n  pilot ,\tPilot \n")
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local rows, info = provision.readCSV("\(path)")
            print(table.concat(info.header, "|"), "[" .. rows[1].slug .. "]", "[" .. rows[1].name .. "]", table.concat(info.lines, ","))
            """)
        #expect(log == ["slug|name\t[  pilot ]\t[\tPilot ]\t4"])
    }

    @Test func aFileOfBlankLinesHasNoHeader() throws {
        let path = try csv("\n\r\n\n")
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.readCSV, "\(path)")
            print(ok, e.code, e.message)
            """)
        #expect(log == ["false\tinvalid_input\t\(path):1: the file has no header row"])
    }

    /// What provision writes (credentials files) quotes only what needs it, and reads back
    /// as it was.
    @Test func writtenRecordsQuoteWhatNeedsItAndReadBack() throws {
        let fields = ["plain", "a,b", "She said \"hi\"", "two\nlines", "cr\r", "", " spaced ", "ü-ñ"]
        #expect(CSVText.record(["slug", "x"]) == "slug,x\n")
        #expect(CSVText.record(fields) == "plain,\"a,b\",\"She said \"\"hi\"\"\",\"two\nlines\",\"cr\r\",, spaced ,ü-ñ\n")
        let path = try csv(CSVText.record((1...fields.count).map { "c\($0)" }) + CSVText.record(fields) + CSVText.record(fields))
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local rows, info = provision.readCSV("\(path)")
            local out = {}
            for i = 1, \(fields.count) do out[#out + 1] = string.format("%q", rows[2]["c" .. i]) end
            print(#rows, table.concat(info.lines, ","), table.concat(out, " "))
            """)
        let quoted = fields.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\\n").replacingOccurrences(of: "\r", with: "\\13") + "\"" }
        // The first record spans lines 2 and 3 (a quoted newline).
        #expect(log == ["2\t2,4\t" + quoted.joined(separator: " ")])
    }

    @Test func aMissingFileIsInvalidInput() throws {
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.readCSV, "/nonexistent/pilots.csv")
            print(ok, e.code, e.field)
            """)
        #expect(log == ["false\tinvalid_input\tpath"])
    }

    @Test func aFileThatIsNotUTF8IsInvalidInput() throws {
        let folder = try temporaryFolder()
        let file = folder.appendingPathComponent("latin1.csv")
        try Data([UInt8]("slug,name\npilot,Caf".utf8) + [0xE9] + [UInt8]("\n".utf8)).write(to: file)
        let playbook = try Playbook.fresh()
        let log = try playbook.execute("""
            local ok, e = pcall(provision.readCSV, "\(file.path)")
            print(ok, e.code)
            """)
        #expect(log == ["false\tinvalid_input"])
    }
}
