import LuaHost

/// `provision test --json`: every test file with its tests, and the counts.
struct TestDocument: JSONDocument {
    struct FileRecord: Encodable, Sendable {
        let file: String
        let tests: [TestRecord]
    }

    struct TestRecord: Encodable, Sendable {
        let name: String
        /// passed, failed (an assertion) or error (the test raised, or ran past a limit).
        let status: String
        /// Why it did not pass, with the test file's file:line, then the errors of the checks
        /// it ran, a line each; null when it passed.
        @Nullable var message: String?
    }

    struct Summary: Encodable, Sendable {
        let passed: Int
        /// Tests that failed or errored.
        let failed: Int
    }

    let command = "test"
    let files: [FileRecord]
    let summary: Summary

    init(_ results: [TestResult]) {
        var files: [FileRecord] = []
        for result in results {
            let record = TestRecord(name: result.name, status: result.status.rawValue,
                                    message: result.status == .passed ? nil : ([result.message] + result.notes).joined(separator: "\n"))
            if files.last?.file == result.file {
                files[files.count - 1] = FileRecord(file: result.file, tests: files[files.count - 1].tests + [record])
            } else {
                files.append(FileRecord(file: result.file, tests: [record]))
            }
        }
        self.files = files
        let passed = results.filter { $0.status == .passed }.count
        summary = Summary(passed: passed, failed: results.count - passed)
    }
}
