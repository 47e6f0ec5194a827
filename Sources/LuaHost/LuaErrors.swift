import CLua
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaShims
import ProvisionCore

extension LuaState {
    /// The contract error for the error value on top of the stack (which stays there).
    func contractError(fromValueAt index: Int32, on stack: LuaStack) -> ProvisionError {
        let index = stack.absolute(index)
        switch stack.type(at: index) {
        case LUA_TTABLE:
            let codeType = stack.rawField(index, "code")
            let code = codeType == LUA_TSTRING ? stack.lossyString(at: -1) : nil
            stack.pop()
            let messageType = stack.rawField(index, "message")
            let message = messageType == LUA_TNIL ? nil : stack.describe(-1)
            stack.pop()
            let fieldType = stack.rawField(index, "field")
            let field = fieldType == LUA_TSTRING ? stack.lossyString(at: -1) : nil
            stack.pop()
            if let code, let known = ErrorCode(rawValue: code) {
                // A host error that comes back as it was raised: the original, with its
                // subject, remedy, facts and limit as data, in the words the script saw (a
                // table at a reused address, or one the script changed, is read as it is).
                if let original = functions.raisedError(at: lua_topointer(stack.L, index)) {
                    let worded = original.worded(by: functions.wording)
                    if worded.code == known, worded.message == message, worded.field == field { return worded }
                }
                var error = ProvisionError(known, message ?? code, field: field)
                error.problems = problems(ofErrorAt: index, on: stack)
                return error
            }
            if let code {
                // A code of the playbook's own: exit 1, the code kept as the error's
                // (CONTRACT §13) and in the message.
                var error = ProvisionError(.playbookError, "\(code): \(message ?? "")", field: field)
                error.ownCode = code
                error.problems = problems(ofErrorAt: index, on: stack)
                return error
            }
            return ProvisionError(.playbookError, message ?? stack.describe(index), field: field)
        case LUA_TNIL, LUA_TNONE:
            return ProvisionError(.playbookError, "the playbook raised an error without a message (error(nil))")
        default:
            return ProvisionError(.playbookError, stack.describe(index))
        }
    }

    /// The `problems` array of an error object, read raw: each entry a table with a
    /// string `field` and `message` and, optionally, a string `file` and integer `line`.
    /// Entries of any other shape are skipped.
    private func problems(ofErrorAt index: Int32, on stack: LuaStack) -> [Problem] {
        guard stack.rawField(index, "problems") == LUA_TTABLE else {
            stack.pop()
            return []
        }
        defer { stack.pop() }
        var problems: [Problem] = []
        var position: Int64 = 1
        while stack.rawIndex(-1, position) == LUA_TTABLE {
            func text(_ key: String) -> String? {
                defer { stack.pop() }
                return stack.rawField(-1, key) == LUA_TSTRING ? stack.lossyString(at: -1) : nil
            }
            let line: Int? = {
                defer { stack.pop() }
                stack.rawField(-1, "line")
                return stack.integer(at: -1).map { Int($0) }
            }()
            if let field = text("field"), let message = text("message") {
                problems.append(Problem(file: text("file"), line: line, field: field, message: message))
            }
            stack.pop()
            position += 1
        }
        stack.pop()  // the value that ended the array
        return problems
    }

    /// The first frame of the playbook's own code (not `[C]`, not the sandbox).
    static func location(in traceback: String?, message: String) -> String? {
        guard let traceback else { return nil }
        for line in traceback.split(separator: "\n").dropFirst() {
            let frame = line.trimmed(.spaces)
            guard !frame.hasPrefix("[C]"), !frame.hasPrefix("sandbox"), !frame.hasPrefix("(...tail calls...)") else { continue }
            let parts = frame.split(separator: ":", maxSplits: 2)
            if parts.count >= 2, Int(parts[1]) != nil { return "\(parts[0]):\(parts[1])" }
        }
        return nil
    }

    /// Puts `location` before `error`'s message (replacing the one Lua's own message starts
    /// with), naming `file` in full where Lua shortened it ("...end/of/the/path:9"): a
    /// check's file is an absolute path, often longer than Lua keeps. Returns the location
    /// as placed.
    static func place(_ error: inout ProvisionError, at location: String?, in file: String) -> String? {
        guard let location else { return nil }
        var full = location
        if location.hasPrefix("..."), let colon = location.lastIndex(of: ":"),
           file.hasSuffix(location[location.index(location.startIndex, offsetBy: 3)..<colon]) {
            full = file + location[colon...]
        }
        if error.message.hasPrefix(location) {
            error.message = full + error.message.dropFirst(location.count)
        } else if !error.message.hasPrefix(full) {
            error.message = "\(full): \(error.message)"
        }
        return full
    }

    /// The frames of the playbook's own files (no C functions, no sandbox or host
    /// frames), as "stack traceback:" and at most eight lines; empty when there are none.
    static func playbookFrames(_ traceback: String) -> String {
        let frames = traceback.split(separator: "\n", omittingEmptySubsequences: true).dropFirst()
            .map { $0.trimmed(.spaces) }
            .filter { !$0.hasPrefix("[C]") && !$0.hasPrefix("sandbox") && !$0.hasPrefix("(...tail calls...)") && !$0.hasPrefix("=") }
        guard !frames.isEmpty else { return "" }
        return (["stack traceback:"] + frames.prefix(8).map { "\t" + $0 } + (frames.count > 8 ? ["\t…"] : [])).joined(separator: "\n")
    }



    /// Rows as an array of tables keyed by column; bool, integer and float columns become
    /// Lua booleans and numbers, NULL is absent, the rest is text. Each row gets the table
    /// at `rowMetatable` (an absolute index) as its metatable, when given.
    func pushRows(_ rows: Rows, on stack: LuaStack, rowMetatable: Int32? = nil) {
        stack.newTable(array: Int32(rows.count))
        for (offset, row) in rows.values.enumerated() {
            stack.newTable(record: Int32(rows.columns.count))
            for (column, value) in zip(rows.columns, row) {
                guard let value else { continue }
                switch PostgresType(oid: column.typeOID) {
                case .bool: stack.push(value == "t")
                case .int8, .int2, .int4:
                    if let integer = Int64(value) { stack.push(integer) } else { stack.push(value) }
                case .float4, .float8, .numeric:
                    if let number = Double(value) { stack.push(number) } else { stack.push(value) }
                default: stack.push(value)
                }
                stack.setRawField(-2, column.name)
            }
            if let rowMetatable {
                stack.pushValue(rowMetatable)
                lua_setmetatable(stack.L, -2)
            }
            stack.setRawIndex(-2, Int64(offset + 1))
        }
    }
}

extension Rows {
    /// Roughly what these rows take as Lua tables: the text plus a table slot per cell.
    var estimatedLuaBytes: Int {
        values.reduce(0) { total, row in total + 64 + row.reduce(0) { $0 + 48 + ($1?.utf8.count ?? 0) } }
    }
}

extension CSVTable {
    var estimatedLuaBytes: Int {
        rows.reduce(0) { total, row in total + 64 + row.reduce(0) { $0 + 48 + $1.utf8.count } }
    }
}
