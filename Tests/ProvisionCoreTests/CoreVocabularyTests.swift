import Foundation
import Testing

/// STYLE.md: the core knows nothing of Lua or the CLI, and the C shim names no flag; the
/// front ends word the core's errors. These read the sources, so a flag or a Lua word
/// that creeps back into the core fails here, as does text spliced into SQL.
@Suite("The core speaks no front end's words") struct CoreVocabularyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every file under `Sources/<target>` with one of `extensions`, with its text.
    static func sources(of target: String, extensions: Set<String>) throws -> [(path: String, text: String)] {
        let folder = root.appendingPathComponent("Sources/\(target)")
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else { return [] }
        var files: [(String, String)] = []
        for case let url as URL in walker where extensions.contains(url.pathExtension) {
            files.append((url.path.replacingOccurrences(of: root.path + "/", with: ""), try String(contentsOf: url, encoding: .utf8)))
        }
        return files
    }

    /// `--allowExistingUser`, `--timeout`: a flag (SQL comments start `-- ` and stay).
    static var flag: Regex<Substring> { /--[A-Za-z]/ }
    static var lua: Regex<Substring> { /\b[Ll]ua\b/ }
    /// A cast right after an interpolated value (`\(id)::uuid`): binds carry their type.
    static var castAfterBind: Regex<Substring> { /\\\([^)]*\)::/ }

    static func lines(in files: [(path: String, text: String)], matching pattern: Regex<Substring>) -> [String] {
        files.flatMap { file in
            file.text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                .filter { $0.element.contains(pattern) }
                .map { "\(file.path):\($0.offset + 1): \($0.element.trimmingCharacters(in: .whitespaces))" }
        }
    }

    @Test func theScanFindsWhatItLooksFor() throws {
        // The control: the CLI's own wording names its flags, and the Lua host is Lua.
        let cli = try Self.sources(of: "provision", extensions: ["swift"])
        #expect(!Self.lines(in: cli.filter { $0.path.hasSuffix("ErrorWording.swift") }, matching: Self.flag).isEmpty)
        #expect(!Self.lines(in: try Self.sources(of: "LuaHost", extensions: ["swift"]), matching: Self.lua).isEmpty)
        #expect(!Self.lines(in: [("sample", #"try connection.run("SELECT \(id)::uuid")"#)], matching: Self.castAfterBind).isEmpty)
    }

    @Test func theCoreNamesNoFlagAndNoLua() throws {
        let core = try Self.sources(of: "ProvisionCore", extensions: ["swift"])
        #expect(core.count > 20, "the core's sources were found")
        #expect(Self.lines(in: core, matching: Self.flag) == [])
        #expect(Self.lines(in: core, matching: Self.lua) == [])
    }

    @Test func theShimNamesNoFlag() throws {
        let shim = try Self.sources(of: "LuaShims", extensions: ["c", "h"])
        #expect(!shim.isEmpty)
        #expect(Self.lines(in: shim, matching: Self.flag) == [])
    }

    @Test func theCoreSplicesNothingIntoSQL() throws {
        let core = try Self.sources(of: "ProvisionCore", extensions: ["swift"])
        #expect(Self.lines(in: core, matching: /unsafeText/) == [])
        #expect(Self.lines(in: core, matching: Self.castAfterBind) == [])
    }
}
