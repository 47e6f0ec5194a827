// swift-tools-version:6.0
import PackageDescription

// The shipped code uses FoundationEssentials, never full Foundation (whose ICU tables are
// most of a binary's size); no dependency brings it in either. With member import
// visibility, a file sees only what it imports itself.
let shippedCode: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "provision",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "provision", targets: ["provision"]),
        .executable(name: "provision-bench", targets: ["ProvisionBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries: a modulemap and a shim header each, nothing else.
        // Types only: libpq itself is loaded when a database is first needed.
        .systemLibrary(
            name: "CLibPQ",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CLua",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        .systemLibrary(
            name: "CArgon2",
            pkgConfig: "libargon2",
            providers: [.apt(["libargon2-dev"])]
        ),
        // libcsv (RFC 4180, strict): batch files, readCSV and credentials files. C, so
        // that no CSV library brings full Foundation (and ICU's tables) into the binary.
        .systemLibrary(
            name: "CLibCSV",
            providers: [.apt(["libcsv-dev"])]
        ),

        // The transactional core: knows nothing of Lua or the CLI.
        .target(
            name: "ProvisionCore",
            dependencies: ["CLibPQ", "CArgon2"],
            swiftSettings: shippedCode
        ),

        // The only C we write: wrappers for Lua's macros and the trampolines.
        .target(
            name: "LuaShims",
            dependencies: ["CLua"]
        ),

        // The Lua 5.4 embedding: state, sandbox, limits, the `provision` module.
        .target(
            name: "LuaHost",
            dependencies: [
                "ProvisionCore", "CLua", "LuaShims", "CLibCSV",
            ],
            swiftSettings: shippedCode
        ),

        // The command-line tool.
        .executableTarget(
            name: "provision",
            dependencies: [
                "LuaHost",
                "ProvisionCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: shippedCode
        ),

        // Batch throughput and memory, measured by scripts/bench (never by tests).
        .executableTarget(
            name: "ProvisionBench",
            dependencies: ["ProvisionCore"],
            path: "Benchmarks/ProvisionBench"
        ),

        // Fresh databases on the test server and a runner for the built binary.
        .target(
            name: "ProvisionTestSupport",
            dependencies: ["ProvisionCore"],
            path: "Tests/ProvisionTestSupport"
        ),
        .testTarget(
            name: "ProvisionCoreTests",
            dependencies: ["ProvisionCore", "ProvisionTestSupport", "CArgon2"]
        ),
        .testTarget(
            name: "LuaHostTests",
            dependencies: ["LuaHost", "ProvisionCore", "ProvisionTestSupport", "CLua"]
        ),
        .testTarget(
            name: "ProvisionEndToEndTests",
            dependencies: ["ProvisionCore", "ProvisionTestSupport"]
        ),
        .testTarget(
            name: "BatchAndCheckTests",
            dependencies: ["ProvisionCore", "ProvisionTestSupport"]
        ),
        // Hostile playbooks and checks (corpus/), run through the binary; scripts/test
        // runs them once more against the AddressSanitizer build.
        .testTarget(
            name: "HostileScriptTests",
            dependencies: ["ProvisionCore", "ProvisionTestSupport"],
            exclude: ["corpus"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
