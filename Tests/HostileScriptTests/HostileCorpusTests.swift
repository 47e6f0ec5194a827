import Foundation
import ProvisionCore
import ProvisionTestSupport
import Testing

// The corpus of hostile scripts (CONTRACT §9): each file in corpus/ is a playbook, each
// in corpus/checks/ a go-live check, that attacks the host where a limit, a finalizer, a
// blocking call or a secret is concerned. Its header says what must happen:
//
//   -- expect: exit=N [code=ERROR_CODE] [check=STATUS] [message="text"]
//   -- flags: extra flags (@FIFO@ becomes a FIFO's path, @SELF@ the file's own)
//   -- within: seconds the whole run may take (a hard outer limit kills it later)
//   -- nothing-written        the database has no tenant, user or membership afterwards
//   -- password-once          a one-time password appears exactly once, on stdout
//   -- max-rss-mb: N          the process's peak RSS stays below N MiB
//
// Every case runs the built binary the way an operator does. scripts/test runs the whole
// corpus a second time against the AddressSanitizer build (PROVISION_BIN_SANITIZED=1),
// where a sanitizer report fails the case.

struct HostileCase: Sendable, CustomTestStringConvertible {
    enum Kind: Sendable { case playbook, check }

    let file: URL
    let kind: Kind
    var exit: Int32 = 0
    var code: String?
    var checkStatus: String?
    var message: String?
    var flags: [String] = []
    var within: Double = 15
    var nothingWritten = false
    var passwordOnce = false
    var maxRSSMB: Int?

    var testDescription: String { (kind == .check ? "checks/" : "") + file.lastPathComponent }

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus")

    static func all(_ kind: Kind) -> [HostileCase] {
        let folder = kind == .check ? folder.appendingPathComponent("checks") : folder
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".lua") }.sorted()
        return names.map { HostileCase(file: folder.appendingPathComponent($0), kind: kind) }
    }

    init(file: URL, kind: Kind) {
        self.file = file
        self.kind = kind
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("-- ") {
            let body = line.dropFirst(3)
            if body.hasPrefix("expect:") {
                for match in body.matches(of: /(\w+)=("([^"]*)"|\S+)/) {
                    let value = String(match.3 ?? match.2)
                    switch match.1 {
                    case "exit": exit = Int32(value) ?? -1
                    case "code": code = value
                    case "check": checkStatus = value
                    case "message": message = value
                    default: break
                    }
                }
            } else if body.hasPrefix("flags:") {
                flags = body.dropFirst(6).split(separator: " ").map(String.init)
            } else if body.hasPrefix("within:") {
                within = Double(body.dropFirst(7).trimmingCharacters(in: .whitespaces)) ?? within
            } else if body == "nothing-written" {
                nothingWritten = true
            } else if body == "password-once" {
                passwordOnce = true
            } else if body.hasPrefix("max-rss-mb:") {
                maxRSSMB = Int(body.dropFirst(11).trimmingCharacters(in: .whitespaces))
            }
        }
    }
}

@Suite("Hostile scripts end cleanly within their limits")
struct HostileCorpusTests {
    static var sanitized: Bool { ProcessInfo.processInfo.environment["PROVISION_BIN_SANITIZED"] == "1" }

    @Test("The corpus is there")
    func corpusIsThere() {
        #expect(HostileCase.all(.playbook).count >= 20)
        #expect(HostileCase.all(.check).count >= 5)
    }

    @Test(arguments: HostileCase.all(.playbook))
    func playbook(_ hostile: HostileCase) throws {
        let database = try TestDatabase.create()
        let scratch = try Scratch()
        let arguments = ["run", hostile.file.path, "--json"] + scratch.substitute(hostile.flags, file: hostile.file)
        let result = try ProvisionBinary.run(arguments, databaseURL: database.url, timeout: hostile.within + 20,
                                             measurePeakMemory: hostile.maxRSSMB != nil)
        try verify(hostile, result)
        if hostile.nothingWritten {
            let counts = try database.rowCounts()
            #expect(counts["tenants"] == 0 && counts["users"] == 0 && counts["memberships"] == 0, "\(counts)")
        }
        if hostile.passwordOnce {
            let password = try #require(Self.passwords(in: result.json).first, "no one-time password in \(result)")
            #expect(result.stdout.components(separatedBy: password).count == 2, "the password must appear once on stdout")
            #expect(!result.stderr.contains(password), "the password reached stderr")
        }
    }

    @Test(arguments: HostileCase.all(.check))
    func check(_ hostile: HostileCase) throws {
        let database = try TestDatabase.create()
        try database.connect().run(fixture: "INSERT INTO tenants (slug, name) VALUES ('hostile', 'Hostile')")
        let scratch = try Scratch()
        let folder = scratch.url.appendingPathComponent("checks")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: hostile.file, to: folder.appendingPathComponent(hostile.file.lastPathComponent))
        let arguments = ["check", "--tenantSlug", "hostile", "--checks", folder.path, "--json"]
            + scratch.substitute(hostile.flags, file: hostile.file)
        let result = try ProvisionBinary.run(arguments, databaseURL: database.url, timeout: hostile.within + 20)
        try verify(hostile, result)
        if let status = hostile.checkStatus {
            let checks = (result.json?["checks"] as? [[String: Any]]) ?? []
            let own = try #require(checks.first { ($0["id"] as? String)?.hasPrefix("hostile-") == true }, "\(result)")
            #expect(own["status"] as? String == status, "\(own)")
            if let message = hostile.message {
                #expect((own["message"] as? String)?.contains(message) == true, "\(own)")
            }
        }
    }

    private func verify(_ hostile: HostileCase, _ result: ProvisionBinary.Result) throws {
        #expect(!result.timedOut, "still running after \(hostile.within + 20) s: \(result)")
        #expect(result.seconds < hostile.within, "took \(result.seconds) s, more than \(hostile.within) s")
        #expect(result.status == hostile.exit, "\(result)")
        for report in ["AddressSanitizer", "LeakSanitizer", "runtime error:", "Fatal error", "SUMMARY:"] {
            #expect(!result.stderr.contains(report), "\(result)")
        }
        #expect(result.json != nil, "stdout is not one JSON document: \(result)")
        if let code = hostile.code {
            #expect(result.errorCode == code, "\(result)")
            if let message = hostile.message {
                let text = ((result.json?["error"] as? [String: Any])?["message"] as? String) ?? ""
                #expect(text.contains(message), "\(text)")
            }
        }
        if let limit = hostile.maxRSSMB, !Self.sanitized {
            let peak = try #require(result.peakRSSKiB)
            #expect(peak > 0 && peak / 1024 < limit, "peak RSS \(peak / 1024) MiB")
        }
    }

    static func passwords(in json: [String: Any]?) -> [String] {
        var found: [String] = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                for (key, inner) in object {
                    if key == "oneTimePassword", let password = inner as? String { found.append(password) } else { walk(inner) }
                }
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        json.map(walk)
        return found
    }
}

/// A private folder for one case (its FIFO, its checks), removed afterwards.
final class Scratch {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func substitute(_ flags: [String], file: URL) -> [String] {
        flags.map { flag in
            var flag = flag
            if flag.contains("@FIFO@") {
                let fifo = url.appendingPathComponent("fifo").path
                if !FileManager.default.fileExists(atPath: fifo) { #expect(mkfifo(fifo, 0o600) == 0) }
                flag = flag.replacingOccurrences(of: "@FIFO@", with: fifo)
            }
            return flag.replacingOccurrences(of: "@SELF@", with: file.path)
        }
    }
}
