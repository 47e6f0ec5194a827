import CLua
import LuaShims
import ProvisionCore

/// One Lua thread's stack, as seen from a host function or the host. Every operation
/// here is one that cannot raise a Lua error: tables are read and written raw (no
/// metamethods), strings are read with their length, and anything that may run a
/// metamethod goes through a protected C helper.
struct LuaStack {
    let L: OpaquePointer

    var top: Int32 { lua_gettop(L) }
    func setTop(_ index: Int32) { lua_settop(L, index) }
    func pop(_ count: Int32 = 1) { provision_lua_pop(L, count) }
    func absolute(_ index: Int32) -> Int32 { lua_absindex(L, index) }

    func type(at index: Int32) -> Int32 { lua_type(L, index) }
    func typeName(at index: Int32) -> String { String(cString: lua_typename(L, lua_type(L, index))) }
    func isNoneOrNil(_ index: Int32) -> Bool { provision_lua_isnoneornil(L, index) != 0 }
    func isTable(_ index: Int32) -> Bool { lua_type(L, index) == LUA_TTABLE }
    func isFunction(_ index: Int32) -> Bool { lua_type(L, index) == LUA_TFUNCTION }

    // MARK: Reading

    /// The bytes of a string value (not a number: no silent conversion), embedded NULs kept.
    func bytes(at index: Int32) -> [UInt8]? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var length = 0
        guard let pointer = provision_lua_tolstring(L, index, &length) else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    /// A string value as text, refusing invalid UTF-8 rather than repairing it.
    func string(at index: Int32, field: String) throws(ProvisionError) -> String? {
        guard let bytes = bytes(at: index) else { return nil }
        return try Validate.rawValue(bytes, named: field)
    }

    /// A string value for a domain field, refusing invalid UTF-8.
    func string(at index: Int32, field: Field) throws(ProvisionError) -> String? {
        guard let bytes = bytes(at: index) else { return nil }
        return try Validate.rawValue(bytes, field)
    }

    /// A required string argument; `expectation` says what the function wanted
    /// ("findTenant expects a slug string").
    func requiredString(at index: Int32, field: String, expectation: String) throws(ProvisionError) -> String {
        guard let value = try string(at: index, field: field) else {
            throw ProvisionError(.invalidInput, "\(expectation), got \(typeName(at: index))", field: field)
        }
        return value
    }

    /// Any string for messages: invalid UTF-8 is repaired, never refused.
    func lossyString(at index: Int32) -> String? {
        bytes(at: index).map { String(decoding: $0, as: UTF8.self) }
    }

    func integer(at index: Int32) -> Int64? {
        guard lua_isinteger(L, index) != 0 else { return nil }
        return provision_lua_tointeger(L, index)
    }

    func boolean(at index: Int32) -> Bool { lua_toboolean(L, index) != 0 }

    /// Pushes `table[key]` without metamethods; returns its type.
    @discardableResult
    func rawField(_ table: Int32, _ key: String) -> Int32 {
        let table = absolute(table)
        push(key)
        return lua_rawget(L, table)
    }

    @discardableResult
    func rawIndex(_ table: Int32, _ index: Int64) -> Int32 {
        lua_rawgeti(L, table, lua_Integer(index))
    }

    func rawLength(_ index: Int32) -> Int64 { Int64(lua_rawlen(L, index)) }

    /// A string for any value, never raising (a failing `__tostring` yields a description).
    func describe(_ index: Int32) -> String {
        _ = provision_safe_tostring(L, index)
        defer { pop() }
        return lossyString(at: -1) ?? "?"
    }

    /// Stack values from `first` to the top as parameters for a script's own query:
    /// strings, numbers, booleans and nil, each typed as the query's text implies (the
    /// server infers it from where the placeholder stands).
    func sqlParameters(from first: Int32) throws(ProvisionError) -> [Bind] {
        guard top >= first else { return [] }
        var parameters: [Bind] = []
        for index in first...top {
            let position = index - first + 1
            switch type(at: index) {
            case LUA_TNIL: parameters.append(.inferred(nil))
            case LUA_TBOOLEAN: parameters.append(.inferred(boolean(at: index) ? "true" : "false"))
            case LUA_TNUMBER:
                parameters.append(.inferred(integer(at: index).map { String($0) } ?? String(provision_lua_tonumber(L, index))))
            case LUA_TSTRING: parameters.append(.inferred(try string(at: index, field: "parameter \(position)")))
            default:
                throw ProvisionError(.invalidInput, "query parameter \(position) is a \(typeName(at: index)); use strings, numbers, booleans or nil", field: "parameter \(position)")
            }
        }
        return parameters
    }

    // MARK: Pushing

    func pushNil() { lua_pushnil(L) }
    func push(_ value: Bool) { lua_pushboolean(L, value ? 1 : 0) }
    func push(_ value: Int64) { lua_pushinteger(L, lua_Integer(value)) }
    func push(_ value: Int) { lua_pushinteger(L, lua_Integer(value)) }
    func push(_ value: Double) { lua_pushnumber(L, value) }
    func push(_ value: String) {
        var value = value
        value.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
        }
    }
    func push(_ value: String?) { if let value { push(value) } else { pushNil() } }
    func pushValue(_ index: Int32) { lua_pushvalue(L, index) }

    func newTable(array: Int32 = 0, record: Int32 = 0) { lua_createtable(L, array, record) }

    /// `table[key] = top`, raw; pops the value.
    func setRawField(_ table: Int32, _ key: String) {
        let table = absolute(table)
        push(key)
        provision_lua_insert(L, -2)
        lua_rawset(L, table)
    }

    /// `table[index] = top`, raw; pops the value.
    func setRawIndex(_ table: Int32, _ index: Int64) {
        lua_rawseti(L, table, lua_Integer(index))
    }

    /// Pushes a table of string-keyed values (nil values are left out).
    func pushRecord(_ fields: [(String, LuaScalar?)]) {
        newTable(record: Int32(fields.count))
        for (key, value) in fields {
            guard let value else { continue }
            value.push(on: self)
            setRawField(-2, key)
        }
    }

    func pushArray(_ values: [String]) {
        newTable(array: Int32(values.count))
        for (offset, value) in values.enumerated() {
            push(value)
            setRawIndex(-2, Int64(offset + 1))
        }
    }

    /// The fields of a tenant's table, in `push(_: Tenant)`'s order.
    static let tenantKeys = ["id", "slug", "name", "timeZone", "supportEmail", "supportPhone", "planned"]

    /// A tenant as playbooks and checks see it.
    func push(_ tenant: Tenant) {
        let values: [LuaScalar?] = [
            tenant.id.map { LuaScalar.string($0.description) }, .string(tenant.slug), .string(tenant.name),
            tenant.timeZone.map(LuaScalar.string), tenant.supportEmail.map(LuaScalar.string),
            tenant.supportPhone.map(LuaScalar.string), .boolean(tenant.planned),
        ]
        pushRecord(Array(zip(Self.tenantKeys, values)))
    }

    /// A user as playbooks see it: never a password. `planning`: the run only plans what
    /// it does with the user (`planned` is true then, for an existing user too).
    func push(_ user: User, planning: Bool = false) {
        pushRecord([
            ("id", user.id.map { LuaScalar.string($0.description) }), ("email", .string(user.email)),
            ("name", user.name.map(LuaScalar.string)), ("created", .boolean(user.created)),
            ("planned", .boolean(user.planned || planning)),
        ])
    }

    /// An action as playbooks see it (`dryRun(fn)`'s plan, `t.run`'s results):
    /// `{kind=, tenant=?, email=?, role=?, values=?, text=}`.
    func push(_ action: Action) {
        pushRecord([("kind", .string(action.kind.rawValue)), ("tenant", action.tenant.map(LuaScalar.string)),
                    ("email", action.email.map(LuaScalar.string)), ("role", action.role.map { .string($0.rawValue) }),
                    ("text", .string(action.text))])
        let values = action.values
        if !values.isEmpty {
            pushRecord(values.map { ($0.name, $0.value.map(LuaScalar.string)) })
            setRawField(-2, "values")
        }
    }

    func push(_ actions: [Action]) {
        newTable(array: Int32(actions.count))
        for (offset, action) in actions.enumerated() {
            push(action)
            setRawIndex(-2, Int64(offset + 1))
        }
    }

    /// An outcome as playbooks and tests see it: `{status=, slug=?, email=?, error=?}`
    /// (`email`: the Owner kept, the user reset), plus `extra` fields.
    func push(_ outcome: TenantOutcome, extra: [(String, LuaScalar?)] = []) {
        var email: String?
        switch outcome {
        case .kept(let existing): email = existing.owner.email
        case .reset(let reset): email = reset.user.email
        case .tenant, .updated, .deleted, .failed: email = nil
        }
        pushRecord(extra + [("status", .string(outcome.status.rawValue)), ("slug", outcome.slug.map(LuaScalar.string)),
                            ("email", email.map(LuaScalar.string))])
        if case .failed(let failure) = outcome {
            pushError(failure.error)
            setRawField(-2, "error")
        }
    }

    /// Pushes a contract error object: `{code=, message=, field=?, problems=?}` with
    /// `__tostring`; `problems` is an array of `{file=?, line=?, field=, message=}`.
    func pushError(_ error: ProvisionError) {
        pushError(code: error.shownCode, message: error.ownCode.map { String(error.message.dropFirst($0.count + 2)) } ?? error.message,
                  field: error.field, problems: error.problems)
    }

    func pushError(code: String, message: String, field: String?, problems: [Problem] = []) {
        pushRecord([("code", .string(code)), ("message", .string(message)), ("field", field.map(LuaScalar.string))])
        if !problems.isEmpty {
            newTable(array: Int32(problems.count))
            for (offset, problem) in problems.enumerated() {
                pushRecord([("file", problem.file.map(LuaScalar.string)), ("line", problem.line.map { .integer(Int64($0)) }),
                            ("field", .string(problem.field)), ("message", .string(problem.message))])
                setRawIndex(-2, Int64(offset + 1))
            }
            setRawField(-2, "problems")
        }
        if provision_lua_getregistryfield(L, "provision.error") == LUA_TTABLE {
            lua_setmetatable(L, -2)
        } else {
            pop()
        }
    }
}

/// A value the host hands to Lua.
enum LuaScalar {
    case string(String)
    case integer(Int64)
    case number(Double)
    case boolean(Bool)

    func push(on stack: LuaStack) {
        switch self {
        case .string(let value): stack.push(value)
        case .integer(let value): stack.push(value)
        case .number(let value): stack.push(value)
        case .boolean(let value): stack.push(value)
        }
    }
}
