#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaHost
import ProvisionCore

/// Signed plans (CONTRACT §13): the reviewer signs the plan file with OpenSSH
/// (`ssh-keygen -Y sign -n provision-plan -f KEY PLAN`, which writes `PLAN.sig`), and
/// `apply --allowedSigners FILE` applies only a plan whose signature verifies for a
/// signer that file allows. The verifying is `ssh-keygen -Y`'s, over the very bytes
/// provision read and decodes.
enum PlanSignature {
    static let namespace = "provision-plan"

    /// `PLAN.sig`, where `ssh-keygen -Y sign` writes it.
    static func path(of plan: String) -> String { plan + ".sig" }

    /// What a plan's signature says, as far as it could be checked.
    enum Status: Equatable {
        /// No `PLAN.sig`.
        case unsigned
        /// Valid for these bytes, by a key (`ED25519 key SHA256:…`); with allowed signers,
        /// the principal they name for it.
        case signed(key: String, signer: String?)
        /// `PLAN.sig` does not verify: why, as ssh-keygen said.
        case invalid(String)
    }

    /// The signer of `bytes` (the plan file as read) among `allowedSigners`; anything else
    /// is `plan_untrusted` (4): no signature, one that does not verify, or a signer the
    /// file does not allow.
    static func requireTrusted(plan: String, bytes: [UInt8], allowedSigners: String) throws(ProvisionError) -> String {
        _ = try RegularFile.read(allowedSigners, field: "allowedSigners", maxBytes: 1 << 20)
        let status = try check(plan: plan, bytes: bytes, allowedSigners: allowedSigners)
        let remedy = "nothing was applied. After review, a signer that \(allowedSigners) allows signs it with: ssh-keygen -Y sign -n \(namespace) -f KEY \(plan)"
        switch status {
        case .unsigned:
            throw ProvisionError(.planUntrusted, "\(plan) is not signed (there is no \(path(of: plan))); \(remedy)", field: "plan")
        case .invalid(let why):
            throw ProvisionError(.planUntrusted, "\(path(of: plan)) does not verify for \(plan) (\(why)): the plan changed after it was signed, or the signature is of another file or for another purpose; \(remedy)", field: "plan")
        case .signed(let key, nil):
            throw ProvisionError(.planUntrusted, "\(plan) is signed with \(key), which no principal in \(allowedSigners) may sign plans with; \(remedy)", field: "plan")
        case .signed(_, let signer?):
            return signer
        }
    }

    /// Checks `PLAN.sig` against `bytes`: with `allowedSigners`, also who may sign.
    static func check(plan: String, bytes: [UInt8], allowedSigners: String? = nil) throws(ProvisionError) -> Status {
        let signature = path(of: plan)
        guard FileManager.default.fileExists(atPath: signature) else { return .unsigned }
        _ = try RegularFile.read(signature, field: "plan", maxBytes: 1 << 20)
        let tool = try sshKeygen()
        // The key, checked against the bytes whoever signed them.
        let valid = try run(tool, ["-Y", "check-novalidate", "-n", namespace, "-s", signature], input: bytes)
        guard valid.status == 0 else { return .invalid(valid.said) }
        let key = Self.key(in: valid.stdout + valid.stderr) ?? "an unknown key"
        guard let allowedSigners else { return .signed(key: key, signer: nil) }
        // Who the allowed-signers file says may sign with that key, each verified in turn.
        let principals = try run(tool, ["-Y", "find-principals", "-s", signature, "-f", allowedSigners], input: [])
        guard principals.status == 0 else { return .signed(key: key, signer: nil) }
        for principal in principals.stdout.split(separator: "\n").map(String.init) where !principal.isEmpty {
            let verified = try run(tool, ["-Y", "verify", "-f", allowedSigners, "-I", principal, "-n", namespace, "-s", signature],
                                   input: bytes)
            if verified.status == 0 { return .signed(key: key, signer: principal) }
        }
        return .signed(key: key, signer: nil)
    }

    /// `ED25519 key SHA256:…` from ssh-keygen's `Good "provision-plan" signature with …`.
    private static func key(in said: String) -> String? {
        guard let range = said.firstRange(of: " signature with ") ?? said.firstRange(of: " signature for ") else { return nil }
        var rest = said[range.upperBound...].split(separator: "\n").first.map(String.init) ?? ""
        if let with = rest.firstRange(of: " with ") { rest = String(rest[with.upperBound...]) }
        return rest.trimmed(.spaces)
    }

    private static func sshKeygen() throws(ProvisionError) -> ExternalTool {
        guard let tool = ExternalTool.find("ssh-keygen") else {
            throw ProvisionError(.invalidInput, "checking a plan's signature needs ssh-keygen (OpenSSH), which is not installed (on Debian: apt-get install openssh-client)",
                                 field: "allowedSigners")
        }
        return tool
    }

    private static func run(_ tool: ExternalTool, _ arguments: [String], input: [UInt8]) throws(ProvisionError) -> ExternalTool.Outcome {
        do {
            return try tool.run(arguments, input: input)
        } catch {
            throw ProvisionError(.planUntrusted, "the plan's signature could not be checked: \(error.reason)", field: "plan")
        }
    }
}
