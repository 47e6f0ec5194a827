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
