import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import LuaHost
import ProvisionCore

// A custom entry point: the contract's exit codes (2 for any usage error, where
// ArgumentParser would use 64) and, with --json, errors as one JSON document.

// First of all: a standard descriptor the process was started without is taken before
// the database's socket could take its number.
StandardStream.reserveStandardDescriptors()

let arguments = Array(CommandLine.arguments.dropFirst())
let json = (arguments.firstIndex(of: "--").map { arguments[..<$0] } ?? arguments[...]).contains("--json")
let output = Output(json: json)

Interrupts.install(json: json)
// A script stuck where no Lua hook reaches is reported like any other error, in the
// form the operator asked for; the watchdog then ends the process.
Watchdog.setReporter { error in output.failure(error) }

/// argv is bytes: refuse invalid UTF-8 instead of letting it be silently repaired.
func checkRawArguments() throws(ProvisionError) {
    var previous: String?
    for index in 1..<Int(CommandLine.argc) {
        guard let pointer = CommandLine.unsafeArgv[index] else { continue }
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer))
        if String(validating: bytes, as: UTF8.self) == nil {
            let text = String(decoding: bytes, as: UTF8.self)
            let flag = text.hasPrefix("--") ? String(text.prefix { $0 != "=" }) : (previous?.hasPrefix("--") == true ? previous! : "argument")
            let field = flag.hasPrefix("--") ? String(flag.dropFirst(2)) : flag
            throw ProvisionError(.invalidInput, "the value of \(flag) is not valid UTF-8", field: field)
        }
        previous = String(decoding: bytes, as: UTF8.self)
    }
}

if let (help, error) = RunCommand.playbookHelp(arguments) {
    Output.standardOutput(help)
    if let error {
        Output.standardError("error: \(TerminalText.message(error.message))")
        exit(error.exitStatus)
    }
    exit(0)
}

// The command an error document names: the subcommand the arguments start with.
if let first = arguments.first,
   Provision.configuration.subcommands.contains(where: { $0.configuration.commandName == first }) {
    Output.command = first
    // `member add`: a command with subcommands names the one it ran.
    if first == MemberCommand.configuration.commandName, arguments.count > 1,
       MemberCommand.configuration.subcommands.contains(where: { $0.configuration.commandName == arguments[1] }) {
        Output.command = "\(first) \(arguments[1])"
    }
}

do {
    try checkRawArguments()
    var command = try Provision.parseAsRoot(arguments)
    try RepeatedOptions.check(arguments)
    try command.run()
    exit(0)
} catch let error as ProvisionError {
    output.failure(error)
    exit(error.exitStatus)
} catch let error as ExitCode {
    exit(error.rawValue)
} catch {
    let code = Provision.exitCode(for: error)
    if code == .success {
        // Help, completions, or `provision COMMAND --version` (as a document with --json).
        let message = Provision.fullMessage(for: error)
        if json && message == VersionDocument.text {
            output.document(VersionDocument())
        } else if let shell = CompletionScript.requestedShell(arguments) {
            Output.standardOutput(CompletionScript.script(for: shell, generated: message))
        } else {
            Output.standardOutput(message)
        }
        exit(0)
    }
    let parserMessage = Provision.message(for: error)
    // Name the flag the parser complained about, as every other input error does; a
    // mistyped command or a flag of other commands is said with what was meant.
    let usage = MistypedCommandLine.error(for: arguments, parserMessage: parserMessage)
        ?? ProvisionError(.invalidInput, parserMessage,
                          field: parserMessage.firstMatch(of: /'--([A-Za-z][A-Za-z0-9-]*)/).map { String($0.1) })
    if json {
        output.failure(usage)
    } else {
        Output.standardError("error: \(usage.message)")
        Output.standardError("See 'provision --help' or 'provision <command> --help'.")
    }
    exit(2)
}
