import Foundation
import Testing
@testable import ProvisionCore
import ProvisionTestSupport

/// Read-only queries receive each row as PostgreSQL's text form of a row value and split
/// it back into fields: every field must come back exactly as the column's own text.
@Suite("Row values in text form") struct RecordTextTests {
    /// Values that need quoting, escaping, or look like the syntax itself.
    static let awkward: [String?] = [
        nil, "", " ", "plain", "two words", "a,b", "(paren)", ")", "(", "\"", "\"\"", "say \"hi\"",
        "back\\slash", "\\", "trailing\\", "line\nbreak", "tab\there", "NULL", "()", "(,)", "é ü 漢字 🙂",
        ",", ",,", "\"(,)\"",
    ]

    @Test func everyAwkwardValueRoundTripsThroughTheServersOwnRowText() throws {
        let connection = try Connection(url: TestDatabase.adminURL)
        for value in Self.awkward {
            for (before, after) in [(nil, nil), ("x", nil), (nil, "y"), ("", "")] as [(String?, String?)] {
                let rows = try connection.execute(SQL("SELECT ROW(\(before)::text, \(value)::text, \(after)::text)::text AS row_text"))
                let text = try #require(rows.values.first?.first ?? nil)
                #expect(RecordText.fields(of: text, count: 3) == [before, value, after], "\(text)")
            }
        }
    }

    @Test func singleAndZeroFieldRows() {
        #expect(RecordText.fields(of: "()", count: 1) == [nil])
        #expect(RecordText.fields(of: "(\"\")", count: 1) == [""])
        #expect(RecordText.fields(of: "()", count: 0) == [])
        #expect(RecordText.fields(of: "(1)", count: 1) == ["1"])
    }

    @Test(arguments: ["", "(", ")", "1,2", "(1,2", "(1,2,3)", "(\"open,2)", "(1,2)x", "(1,\\)"])
    func textThatIsNotARowOfTwoFieldsIsRefused(text: String) {
        #expect(RecordText.fields(of: text, count: 2) == nil, "\(text)")
    }
}
