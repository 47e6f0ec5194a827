import Foundation

/// This repository's folders, for tests that use its shipped files (the JSON schema, the
/// example playbooks in scripts/playbooks/).
public enum Repository {
    /// Tests/ProvisionTestSupport/Repository.swift → the repository root.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}
