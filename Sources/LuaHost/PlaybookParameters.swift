#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CLua
import LuaShims
import ProvisionCore

/// The parameters a playbook declares (CONTRACT §8, "Playbook parameters"):
///
///     return {
///       description = "Adds an ADMIN to an existing tenant.",
///       params = {
///         slug  = { type = "string", required = true, help = "the tenant" },
///         count = { type = "integer", default = 3 },
///       },
///       run = function(p, args, ...) … end,
///     }
///
/// `params` may also be an array of `{ name = …, type = …, … }` to keep an order; a map is
/// shown by name. Types: string, integer, number, boolean. Values come from `--var
/// KEY=VALUE` and are checked before `run` is called: every unknown name (with the
/// closest declared one suggested), missing required value and value of the wrong type
/// at once.
public struct PlaybookParameters: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case string, integer, number, boolean
    }

    public enum Value: Sendable, Equatable {
        case string(String), integer(Int64), number(Double), boolean(Bool)

        public var text: String {
            switch self {
            case .string(let value): return value
            case .integer(let value): return String(value)
            case .number(let value): return String(value)
            case .boolean(let value): return String(value)
            }
        }
    }

    public struct Parameter: Sendable {
        public let name: String
        public let kind: Kind
        public let required: Bool
        public let defaultValue: Value?
        public let help: String?
        public let choices: [String]?
    }

    public let description: String?
    public let parameters: [Parameter]

    /// Reads the declaration from the playbook's returned table at `index`.
    static func read(from stack: LuaStack, at index: Int32) throws(ProvisionError) -> PlaybookParameters {
        let table = stack.absolute(index)
        let description = stack.rawField(table, "description") == LUA_TSTRING ? stack.lossyString(at: -1) : nil
        stack.pop()
        var parameters: [Parameter] = []
        switch stack.rawField(table, "params") {
        case LUA_TNIL:
            break
        case LUA_TTABLE:
            let params = stack.absolute(-1)
            if stack.rawLength(params) > 0 {
                for position in 1...stack.rawLength(params) {
                    guard stack.rawIndex(params, position) == LUA_TTABLE,
                          stack.rawField(-1, "name") == LUA_TSTRING, let name = stack.lossyString(at: -1) else {
                        throw invalid("params[\(position)] must be a table with a name")
                    }
                    stack.pop()
                    parameters.append(try parameter(named: name, from: stack))
                    stack.pop()
                }
            } else {
                stack.pushNil()
                while lua_next(stack.L, params) != 0 {
                    guard stack.type(at: -2) == LUA_TSTRING, let name = stack.lossyString(at: -2), stack.isTable(-1) else {
                        throw invalid("params must map each parameter's name to a table such as { type = \"string\", help = \"…\" }")
                    }
                    parameters.append(try parameter(named: name, from: stack))
                    stack.pop()
                }
                parameters.sort { $0.name < $1.name }
            }
        default:
            throw invalid("params must be a table of parameters, got \(stack.typeName(at: -1))")
        }
        stack.pop()
        for parameter in parameters where parameters.filter({ $0.name == parameter.name }).count > 1 {
            throw invalid("the parameter '\(parameter.name)' is declared twice")
        }
        return PlaybookParameters(description: description, parameters: parameters)
    }

    /// One parameter from the table on top of the stack.
    private static func parameter(named name: String, from stack: LuaStack) throws(ProvisionError) -> Parameter {
        guard name.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_.-]*/) != nil else {
            throw invalid("'\(name)' is not a parameter name (letters, digits, _, - and .)")
        }
        let spec = stack.absolute(-1)
        let known: Set<String> = ["name", "type", "required", "default", "help", "choices"]
        stack.pushNil()
        while lua_next(stack.L, spec) != 0 {
            let key = stack.type(at: -2) == LUA_TSTRING ? stack.lossyString(at: -2) ?? "" : stack.describe(-2)
            stack.pop()
            if !known.contains(key) {
                stack.pop()
                let hint = Suggestion.closest(to: key, among: Array(known)).map { "; did you mean '\($0)'?" } ?? ""
                throw invalid("parameter '\(name)': unknown field '\(key)'\(hint) (expected \(known.sorted().joined(separator: ", ")))")
            }
        }
        let typeName = stack.rawField(spec, "type") == LUA_TSTRING ? stack.lossyString(at: -1) ?? "" : "string"
        stack.pop()
        guard let kind = Kind(rawValue: typeName) else {
            throw invalid("parameter '\(name)': type must be one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(typeName)'")
        }
        let required = stack.rawField(spec, "required") == LUA_TBOOLEAN && stack.boolean(at: -1)
        stack.pop()
        let help = stack.rawField(spec, "help") == LUA_TSTRING ? stack.lossyString(at: -1) : nil
        stack.pop()
        var choices: [String]?
        if stack.rawField(spec, "choices") == LUA_TTABLE {
            let list = stack.absolute(-1)
            choices = stride(from: Int64(1), through: stack.rawLength(list), by: 1).compactMap { position in
                defer { stack.pop() }
                return stack.rawIndex(list, position) == LUA_TSTRING ? stack.lossyString(at: -1) : nil
            }
        }
        stack.pop()
        var defaultValue: Value?
        switch stack.rawField(spec, "default") {
        case LUA_TNIL: break
        case LUA_TSTRING where kind == .string: defaultValue = .string(stack.lossyString(at: -1) ?? "")
        case LUA_TBOOLEAN where kind == .boolean: defaultValue = .boolean(stack.boolean(at: -1))
        case LUA_TNUMBER where kind == .integer && lua_isinteger(stack.L, -1) != 0: defaultValue = .integer(stack.integer(at: -1) ?? 0)
        case LUA_TNUMBER where kind == .number: defaultValue = .number(lua_tonumberx(stack.L, -1, nil))
        default:
            let got = stack.typeName(at: -1)
            stack.pop()
            throw invalid("parameter '\(name)': its default must be a \(kind.rawValue), got a \(got)")
        }
        stack.pop()
        return Parameter(name: name, kind: kind, required: required, defaultValue: defaultValue, help: help, choices: choices)
    }

    private static func invalid(_ message: String) -> ProvisionError {
        ProvisionError(.invalidInput, "the playbook's parameter declaration: \(message)", field: "params")
    }

    /// The values for `run`: each given var converted to its parameter's type, defaults
    /// for the rest. Every problem at once, each naming its var.
    public func values(for vars: [String: String]) throws(ProvisionError) -> [String: Value] {
        var values: [String: Value] = [:]
        var problems: [Problem] = []
        let names = parameters.map(\.name)
        for name in vars.keys.sorted() where !names.contains(name) {
            let hint = Suggestion.closest(to: name, among: names).map { "did you mean '\($0)'? " } ?? ""
            let known = names.isEmpty ? "it declares none" : "its parameters: \(names.joined(separator: ", "))"
            problems.append(Problem(field: name, message: "the playbook has no parameter '\(name)'; \(hint)(\(known))"))
        }
        for parameter in parameters {
            guard let text = vars[parameter.name] else {
                if let value = parameter.defaultValue {
                    values[parameter.name] = value
                } else if parameter.required {
                    problems.append(Problem(field: parameter.name, message: "the parameter '\(parameter.name)' is required\(parameter.help.map { " (\($0))" } ?? "")"))
                }
                continue
            }
            if let choices = parameter.choices, !choices.contains(text) {
                problems.append(Problem(field: parameter.name, message: "'\(text)' is not one of \(choices.joined(separator: ", "))"))
                continue
            }
            switch parameter.kind {
            case .string:
                values[parameter.name] = .string(text)
            case .integer:
                if let value = Int64(text.trimmed(.spaces)) { values[parameter.name] = .integer(value) } else {
                    problems.append(Problem(field: parameter.name, message: "must be a whole number, got '\(text)'"))
                }
            case .number:
                if let value = Double(text.trimmed(.spaces)), value.isFinite { values[parameter.name] = .number(value) } else {
                    problems.append(Problem(field: parameter.name, message: "must be a number, got '\(text)'"))
                }
            case .boolean:
                if let value = try? Validate.flag(text) { values[parameter.name] = .boolean(value) } else {
                    problems.append(Problem(field: parameter.name, message: "must be true or false (yes/no, 1/0), got '\(text)'"))
                }
            }
        }
        guard problems.isEmpty else {
            var error = ProvisionError(.invalidInput, problems.count == 1
                ? "\(problems[0].field): \(problems[0].message)"
                : "\(problems.count) problems with the playbook's parameters; nothing ran",
                field: problems.count == 1 ? problems[0].field : "var")
            if problems.count > 1 { error.problems = problems }
            throw error
        }
        return values
    }

    /// The parameters as `--help` shows them.
    public var helpText: String {
        var lines: [String] = []
        if let description { lines += [description, ""] }
        guard !parameters.isEmpty else { return (lines + ["This playbook declares no parameters."]).joined(separator: "\n") }
        lines.append("PLAYBOOK PARAMETERS (--var NAME=VALUE):")
        let width = parameters.map { $0.name.count + $0.kind.rawValue.count + 3 }.max() ?? 0
        for parameter in parameters {
            let head = "\(parameter.name) <\(parameter.kind.rawValue)>"
            var notes: [String] = []
            if parameter.required { notes.append("required") }
            if let value = parameter.defaultValue { notes.append("default: \(value.text)") }
            if let choices = parameter.choices { notes.append("one of: \(choices.joined(separator: ", "))") }
            let help = [parameter.help, notes.isEmpty ? nil : "(\(notes.joined(separator: "; ")))"].compactMap { $0 }.joined(separator: " ")
            lines.append("  " + head + String(repeating: " ", count: max(0, width - head.count)) + "  " + help)
        }
        return lines.joined(separator: "\n")
    }
}

extension LuaStack {
    func push(_ value: PlaybookParameters.Value) {
        switch value {
        case .string(let text): push(text)
        case .integer(let integer): push(integer)
        case .number(let number): push(number)
        case .boolean(let flag): push(flag)
        }
    }
}
