import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run Lua test files for go-live checks and playbooks.",
        usage: "provision test [<PATH> ...] [--checks <path> ...]\n  [--timeout <seconds>] [--json]",
        discussion: HelpText.paragraphs("""
            A test file returns a table of test functions by name. Each test runs in a fresh
            Lua state and a database transaction of its own that is always rolled back, with
            t: fixtures (t.tenant, t.user, t.member, t.center, t.level, t.program, t.group,
            t.student, t.parent, t.link), t.check(id, slug), t.run(playbook, vars),
            t.query(sql, ...) and assertions (t.eq, t.ok, t.match, t.fails, t.fail).
            Without PATH, every tests/**/*_test.lua under the current folder runs.
            t.check finds the checks --checks names, and those beside the test file: in
            its folder, and in checks/ next to its tests/ folder. Exit 1 when any test
            failed; a failed test shows the errors of the checks it ran.

            Example:
              provision test
              provision test scripts/checks
              provision test tests/our_test.lua --checks checks/ours.lua
            """)
    )

    @Argument(help: ArgumentHelp("Test files, or folders searched for *_test.lua (default: tests).", valueName: "PATH"),
              completion: Completions.testPath)
    var paths: [String] = []

    @Option(name: .customLong("checks"), help: ArgumentHelp("A folder of checks or one check file (repeatable).", valueName: "path"),
            completion: Completions.folder)
    var checkFolders: [String] = []

    @Option(help: ArgumentHelp("Seconds each test may run, from 0.001 to 3600.", valueName: "seconds"))
    var timeout: Double = 30

    @Flag(help: "Print one JSON document on stdout.")
    var json = false

    func run() throws {
        let output = Output(json: json)
        guard (0.001...3600).contains(timeout) else {
            throw ProvisionError(.invalidInput, "--timeout must be a number of seconds from 0.001 to 3600, got \(timeout)", field: "timeout")
        }
        let files = try Self.testFiles(in: paths.isEmpty ? ["tests"] : paths, defaulted: paths.isEmpty)
        let stdlib = try Stdlib.located()
        // Refused before any test runs, as `check` refuses them.
        try GoLiveChecks.Options.validate(sources: checkFolders.map { URL(fileURLWithPath: $0) })
        let connection = try ErrorWording.flags.wordingErrors { () throws(ProvisionError) in try DatabaseURL.connectMigrated(grantsFor: .test) }
        let runner = TestRunner(connection: connection,
                                options: .init(checkFolders: GoLiveChecks.Options.folders(stdlib: stdlib, extra: checkFolders), stdlib: stdlib,
                                               timeoutSeconds: timeout))
        var results: [TestResult] = []
        for file in files {
            let fileResults = runner.run(file: file)
            results += fileResults
            if !json { TestReport.printFile(file, fileResults, to: output) }
        }
        TestReport(results: results).printSummary(to: output)
        // Modules of the configured folders that a test's t.check did not ask for.
        for error in runner.checkLoadErrors { Output.standardError("warning: a check module did not load: \(error)") }
        if results.contains(where: { $0.status != .passed }) { throw ExitCode(1) }
    }

    /// The test files: each file as given, each folder's `*_test.lua` (recursively),
    /// sorted. A path that does not exist, or no test file at all, is invalid input.
    static func testFiles(in paths: [String], defaulted: Bool) throws(ProvisionError) -> [String] {
        var files: [String] = []
        for path in paths {
            var isFolder = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                throw ProvisionError(.invalidInput, defaulted
                    ? "no tests folder here: give test files or folders (provision test PATH...), or create tests/**/*_test.lua"
                    : "\(path) does not exist", field: "path")
            }
            guard isFolder else {
                files.append(path)
                continue
            }
            let base = path.hasSuffix("/") ? String(path.dropLast()) : path
            files += ((try? FileManager.default.subpathsOfDirectory(atPath: path)) ?? [])
                .filter { $0.hasSuffix("_test.lua") }.sorted()
                .map { "\(base)/\($0)" }
        }
        guard !files.isEmpty else {
            throw ProvisionError(.invalidInput, "no test files (*_test.lua) in \(paths.joined(separator: ", "))", field: "path")
        }
        return files
    }
}

/// `provision test` output: each file with one line per test, then `N passed, N failed`.
struct TestReport {
    let results: [TestResult]

    static func symbol(_ status: TestResult.Status) -> String {
        switch status {
        case .passed: return "✓"
        case .failed: return "✗"
        case .error: return "E"
        }
    }

    static func printFile(_ file: String, _ results: [TestResult], to output: Output) {
        var lines = [file.terminalEscaped]
        for result in results {
            lines.append("  \(symbol(result.status)) \(result.name.terminalEscaped)")
            if result.status != .passed { lines.append("      \(result.message.terminalEscaped)") }
            for line in result.notes.flatMap({ $0.split(separator: "\n") }) { lines.append("      \(String(line).terminalEscaped)") }
        }
        output.result(lines.joined(separator: "\n"))
    }

    func printSummary(to output: Output) {
        let passed = results.filter { $0.status == .passed }.count
        if output.json {
            output.document(TestDocument(results))
        } else {
            output.result("\n\(passed) passed, \(results.count - passed) failed")
        }
    }
}
