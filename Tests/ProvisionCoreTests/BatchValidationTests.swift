import Testing
@testable import ProvisionCore

/// `Batch.validate` (CONTRACT §2 batch CSV): every problem at once, each with its file,
/// line and column, before any database is involved.
@Suite("Batch validation") struct BatchValidationTests {
    let header = ["tenantSlug", "tenantName", "ownerEmail", "allowExistingUser"]

    @Test func validRowsBecomeTypedRows() throws {
        let file = Batch.File(path: "wave.csv", header: header,
                              rows: [["pilot-a", " Pilot A ", "a@example.com", ""], ["pilot-b", "Pilot B", "A@example.com", "yes"]],
                              lines: [2, 3])
        let rows = try Batch.validate(file)
        #expect(rows.map(\.line) == [2, 3])
        #expect(rows.map(\.tenant.slug) == ["pilot-a", "pilot-b"])
        #expect(rows[0].tenant.name == "Pilot A")
        #expect(rows.map(\.owner.allowExistingUser) == [false, true], "one owner on two rows is fine when the second allows it")
    }

    @Test func everyProblemHasItsPlaceAndTheyComeInLineOrder() {
        let file = Batch.File(path: "wave.csv", header: header + ["extra"],
                              rows: [["Bad-Slug", "Ok", "ok@example.com", "", ""], ["pilot-c", "C", "not-an-email", "maybe", ""],
                                     ["pilot-d", "D", "d@example.com", "", ""], ["pilot-d", "D2", "d2@example.com", "", ""]],
                              lines: [2, 3, 5, 6])
        #expect {
            try Batch.validate(file)
        } throws: { error in
            guard let error = error as? ProvisionError else { return false }
            let places = error.problems.map { "\($0.file ?? ""):\($0.line ?? 0):\($0.field)" }
            return error.code == .invalidInput
                && places == ["wave.csv:1:extra", "wave.csv:2:tenantSlug", "wave.csv:3:allowExistingUser", "wave.csv:6:tenantSlug"]
                && error.message == "wave.csv: 4 problems in the file; nothing was written"
                && error.problems.last?.message.contains("line 5") == true
        }
    }

    @Test func onlyDuplicatesIsDuplicateInBatch() {
        let file = Batch.File(path: "wave.csv", header: header,
                              rows: [["pilot-a", "A", "same@example.com", ""], ["pilot-b", "B", "SAME@example.com", "no"]],
                              lines: [2, 3])
        #expect {
            try Batch.validate(file)
        } throws: { error in
            guard let error = error as? ProvisionError else { return false }
            return error.code == .duplicateInBatch && error.problems.map(\.field) == ["ownerEmail"] && error.problems.first?.line == 3
        }
    }

    @Test func missingColumnsAndAnEmptyFile() {
        let missing = Batch.File(path: "w.csv", header: ["tenantSlug"], rows: [], lines: [])
        #expect {
            try Batch.validate(missing)
        } throws: { error in
            (error as? ProvisionError)?.problems.map(\.field) == ["tenantName", "ownerEmail"]
        }
        let empty = Batch.File(path: "w.csv", header: header, rows: [], lines: [])
        #expect {
            try Batch.validate(empty)
        } throws: { error in
            (error as? ProvisionError)?.problems.map { "\($0.field): \($0.message)" } == ["file: has a header but no rows"]
        }
    }
}
