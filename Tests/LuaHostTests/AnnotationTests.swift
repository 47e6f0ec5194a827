import Foundation
import Testing
@testable import LuaHost

/// stdlib/meta/provision.lua must list exactly the functions the host registers.
@Suite("LuaLS annotations match the host") struct AnnotationTests {
    @Test func everyRegisteredFunctionIsAnnotatedAndNothingElse() throws {
        let meta = try String(contentsOf: Stdlib.checkout.root.appendingPathComponent("meta/provision.lua"), encoding: .utf8)
        let annotated = Set(meta.matches(of: /\nfunction provision\.(\w+)\(/).map { String($0.1) })
        let session = try PlaybookSession(connection: nil, options: PlaybookOptions(stdlib: .checkout, dryRun: true))
        try session.execute(source: Array("return".utf8), chunkName: "empty.lua", folder: URL(fileURLWithPath: "/tmp"))
        let registered = Set(session.registeredFunctions.filter { $0.hasPrefix("provision.") }.map { String($0.dropFirst("provision.".count)) })
        #expect(!registered.isEmpty)
        #expect(annotated == registered, "annotated but not registered: \(annotated.subtracting(registered)); registered but not annotated: \(registered.subtracting(annotated))")
        #expect(Set(ProvisionModule.functionNames) == registered)
        #expect(meta.contains("---@field vars"))
    }
}
