import Foundation
import ProvisionTestSupport
import Testing

/// `--credentialsFile` paths the file could never be created at are refused (exit 2,
/// field credentialsFile) before anything runs, like an existing path (CONTRACT §2, §8):
/// not after the playbook ran and the rows were about to commit.
@Suite("--credentialsFile: an unusable path is refused before anything runs")
struct CredentialsPathTests {
    enum BadPath: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case empty, blank, missingFolderWithSlash, existingFolderWithSlash, existingFolder
        var testDescription: String { rawValue }

        func path(in scratch: Scratch) -> String {
            switch self {
            case .empty: return ""
            case .blank: return "  "
            case .missingFolderWithSlash: return scratch.path("not-yet") + "/"
            case .existingFolderWithSlash: return scratch.url.path + "/"
            case .existingFolder: return scratch.url.path
            }
        }
    }

    @Test("the path is refused with its own error, before the CSV's rows are even checked; nothing written or created",
          arguments: BadPath.allCases, [false, true])
    func refused(_ bad: BadPath, inlineForm: Bool) throws {
        let db = try TestDatabase.create()
        let scratch = try Scratch()
        defer { scratch.remove() }
        // A bad row: had the playbook run, its FILE:LINE problem would be reported.
        let file = try scratch.csv([requiredHeader, "cred-ok,Cred OK,ok@example.com", "Bad-Row,Bad,bad@example.com"])
        let path = bad.path(in: scratch)
        let flag = inlineForm ? ["--credentialsFile=\(path)"] : ["--credentialsFile", path]
        let before = try db.rowCounts()
        let entries = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted()

        for json in [false, true] {
            let result = try ProvisionBinary.batch(file, flag + (json ? ["--json"] : []), in: db)

            #expect(result.status == 2, "\(result)")
            if json {
                #expect(result.errorCode == "invalid_input", "\(result)")
                #expect(result.errorField == "credentialsFile", "\(result)")
            } else {
                // `--credentialsFile=` is the parser's "missing value"; both name the flag.
                #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains("credentialsFile"), "\(result)")
                #expect(result.stdout.isEmpty, "\(result)")
            }
            #expect(!result.stderr.contains("\(file):"), "refused before the rows were checked: \(result)")
        }
        #expect(try db.rowCounts() == before, "nothing written")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted() == entries, "no file created")
    }
}
