import CLua
import LuaShims
import ProvisionCore

/// The `provision` module (CONTRACT §5): each function reads its arguments from Lua,
/// calls one ProvisionCore primitive, and pushes a plain table back. No SQL for writes
/// is built here, and no password ever reaches the Lua state.
final class ProvisionModule {
    /// The session owns the module (and its Lua state); the module only points back.
    unowned let session: PlaybookSession
    /// The session's run, held directly: a host call reaches it without going through
    /// the unowned reference (no retain on the call path).
    let run: ProvisioningRun
    /// How errors name fields: the names a playbook's messages use for its own arguments.
    var wording: any Wording { session.options.wording }

    init(session: PlaybookSession) {
        self.session = session
        self.run = session.run
    }

    /// The functions, in the order LuaLS annotations list them.
    enum Function: CaseIterable {
        case createTenant, createOwner, createUser, linkMembership, updateTenant, setRole, removeMember, resetPassword
        case keepExisting, deleteTenant, dryRun, transaction
        case findTenant, findUser, query, readCSV, log, warn
        case batch, runChecks
    }

    static let functionNames = Function.allCases.map { "\($0)" }

    /// The C entry point of each function (see `hostCall`).
    private static let entryPoints: [Function: provision_host_call] = [
        .createTenant: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.createTenant($1) } },
        .createOwner: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.createOwner($1) } },
        .createUser: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.createUser($1) } },
        .linkMembership: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.linkMembership($1) } },
        .updateTenant: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.updateTenant($1) } },
        .setRole: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.setRole($1) } },
        .removeMember: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.removeMember($1) } },
        .resetPassword: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.resetPassword($1) } },
        .keepExisting: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.keepExisting($1) } },
        .deleteTenant: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.deleteTenant($1) } },
        .dryRun: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.dryRun($1) } },
        .transaction: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.transaction($1) } },
        .findTenant: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.findTenant($1) } },
        .findUser: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.findUser($1) } },
        .query: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.query($1) } },
        .readCSV: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.readCSV($1) } },
        .log: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.log($1) } },
        .warn: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.warn($1) } },
        .batch: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.batch($1) } },
        .runChecks: { L, o in hostCall(L, o, as: ProvisionModule.self) { try $0.runChecks($1) } },
    ]

    /// Pushes the module table.
    func push(on state: LuaState, vars: [String: String]) {
        let stack = state.stack
        stack.newTable(record: 16)
        for function in Function.allCases {
            let name = "\(function)"
            state.pushFunction(state.register("provision.\(name)", object: self, entryPoint: Self.entryPoints[function]!))
            stack.setRawField(-2, name)
        }
        stack.newTable(record: Int32(vars.count))
        for (key, value) in vars.sorted(by: { $0.key < $1.key }) {
            stack.push(value)
            stack.setRawField(-2, key)
        }
        stack.setRawField(-2, "vars")
        // `p.createUser(…)` says what there is instead of "attempt to call a nil value".
        stack.newTable(record: 1)
        state.pushFunction("module.__index") { stack in
            guard stack.type(at: 2) == LUA_TSTRING, let name = stack.lossyString(at: 2) else {
                stack.pushNil()
                return 1
            }
            let names = Self.functionNames + ["vars"]
            let hint = Suggestion.closest(to: name, among: names).map { "; did you mean '\($0)'?" } ?? ""
            throw ProvisionError(.playbookError, "provision has no function '\(name)'\(hint) (it has \(Self.functionNames.joined(separator: ", ")))")
        }
        stack.setRawField(-2, "__index")
        lua_setmetatable(stack.L, -2)
    }

    // MARK: Primitives

    private func createTenant(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "createTenant",
                                      keys: ["slug", "name", "timeZone", "supportEmail", "supportPhone"])
        let spec = try TenantSpec(
            slug: args.required("slug", as: .tenantSlug),
            name: args.required("name", as: .tenantName),
            timeZone: args.optional("timeZone", as: .timeZone),
            supportEmail: args.optional("supportEmail", as: .supportEmail),
            supportPhone: args.optional("supportPhone", as: .supportPhone))
        let tenant = try atomically { () throws(ProvisionError) in try run.createTenant(spec) }
        stack.push(tenant)
        return 1
    }

    private func createOwner(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        try createUser(stack, function: "createOwner", fields: .owner)
    }

    /// `createUser{email=, name=?, allowExistingUser=?}`: `createOwner` for a user of any
    /// role (a member added later), whose errors name `email` and `name`.
    private func createUser(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        try createUser(stack, function: "createUser", fields: .member)
    }

    private func createUser(_ stack: LuaStack, function: String, fields: OwnerSpec.Fields) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: function, keys: ["email", "name", "allowExistingUser"])
        let spec = try OwnerSpec(
            email: args.required("email", as: fields.email),
            name: args.optional("name", as: fields.name),
            allowExistingUser: args.boolean("allowExistingUser", as: .allowExistingUser), fields: fields)
        let user = try atomically { () throws(ProvisionError) in try run.createOwner(spec) }
        stack.push(user, planning: run.isPlanning)
        return 1
    }

    /// `updateTenant{tenant=, name=?, timeZone=?, supportEmail=?, supportPhone=?,
    /// clear={…}?}`: changes an existing tenant's settings (`clear` lists the settings to
    /// empty: timeZone, supportEmail, supportPhone); returns `{status=, tenant=,
    /// changes={{field=, from=, to=}…}}`.
    private func updateTenant(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "updateTenant",
                                      keys: ["tenant", "name", "timeZone", "supportEmail", "supportPhone", "clear"])
        let slug = try args.reference("tenant", key: "slug", field: wording.name(of: .tenantSlug))
        let clearing = try TenantSettings.fields(clearing: args.strings("clear"), wording: wording)
        let settings = try TenantSettings(
            slug: Validate.tenantSlug(slug), name: args.optional("name", as: .tenantName), timeZone: args.optional("timeZone", as: .timeZone),
            supportEmail: args.optional("supportEmail", as: .supportEmail), supportPhone: args.optional("supportPhone", as: .supportPhone),
            clearing: clearing)
        let update = try atomically { () throws(ProvisionError) in try run.updateTenant(settings) }
        push(update, on: stack)
        return 1
    }

    /// `setRole{tenant=, user=, role=}`: changes a member's role; refused (last_owner)
    /// when it would leave the tenant without an OWNER. Returns `{status=, tenant=,
    /// changes=}`.
    private func setRole(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "setRole", keys: ["tenant", "user", "role"])
        let slug = try Validate.tenantSlug(args.reference("tenant", key: "slug", field: wording.name(of: .tenantSlug)))
        let email = try args.reference("user", key: "email", field: "user")
        let role = try Validate.role(args.required("role", as: .role))
        let update = try atomically { () throws(ProvisionError) in try run.setRole(tenant: slug, email: email, role: role) }
        push(update, on: stack)
        return 1
    }

    /// `removeMember{tenant=, user=}`: removes a membership, never the user; refused
    /// (last_owner) for the last OWNER. Returns `{status=, tenant=, changes=}`.
    private func removeMember(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "removeMember", keys: ["tenant", "user"])
        let slug = try Validate.tenantSlug(args.reference("tenant", key: "slug", field: wording.name(of: .tenantSlug)))
        let email = try args.reference("user", key: "email", field: "user")
        let update = try atomically { () throws(ProvisionError) in try run.removeMember(tenant: slug, email: email) }
        push(update, on: stack)
        return 1
    }

    /// `{status=, tenant={…}, changes={{field=, from=, to=}…}}`.
    private func push(_ update: TenantUpdate, on stack: LuaStack) {
        stack.pushRecord([("status", .string(TenantOutcome.updated(update).status.rawValue))])
        stack.push(update.tenant)
        stack.setRawField(-2, "tenant")
        pushChanges(update.changes, on: stack)
    }

    /// `changes = {{field=, from=, to=}…}` on the table on top.
    private func pushChanges(_ changes: [TenantUpdate.Change], on stack: LuaStack) {
        stack.newTable(array: Int32(changes.count))
        for (offset, change) in changes.enumerated() {
            stack.pushRecord([("field", .string(change.field)), ("from", change.from.map(LuaScalar.string)),
                              ("to", change.to.map(LuaScalar.string))])
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        stack.setRawField(-2, "changes")
    }

    private func linkMembership(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "linkMembership", keys: ["tenant", "user", "role"])
        let slug = try args.reference("tenant", key: "slug", field: wording.name(of: .tenantSlug))
        let email = try args.reference("user", key: "email", field: wording.name(of: .ownerEmail))
        let role = try Validate.role(args.required("role", as: .role))
        let membership = try atomically { () throws(ProvisionError) -> Membership in
            let tenant = try resolveTenant(slug: slug, field: "tenant")
            let user = try resolveUser(email: email, field: "user")
            return try run.linkMembership(tenant: tenant, user: user, role: role)
        }
        stack.pushRecord([
            ("tenantId", membership.tenant.id.map { .string($0.description) }), ("userId", membership.user.id.map { .string($0.description) }),
            ("tenant", .string(membership.tenant.slug)), ("user", .string(membership.user.email)),
            ("role", .string(membership.role.rawValue)), ("planned", .boolean(membership.planned)),
        ])
        return 1
    }

    /// `resetPassword{email=}`: a new one-time password for an existing user, revealed by
    /// the host after the commit; Lua gets who it was for, never the password.
    private func resetPassword(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "resetPassword", keys: ["email"])
        let email = try Validate.email(args.required("email", as: .email), .email)
        let reset = try atomically { () throws(ProvisionError) in try run.resetPassword(email: email) }
        let user = reset.user
        stack.pushRecord([
            ("id", user.id.map { .string($0.description) }), ("email", .string(user.email)), ("name", user.name.map(LuaScalar.string)),
            ("previousState", reset.previousState.map { LuaScalar.string($0.label) }), ("planned", .boolean(reset.planned)),
        ])
        stack.newTable(array: Int32(reset.memberships.count))
        for (offset, membership) in reset.memberships.enumerated() {
            stack.pushRecord([("id", membership.tenant.id.map { .string($0.description) }), ("slug", .string(membership.tenant.slug)),
                              ("role", .string(membership.role.rawValue))])
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        stack.setRawField(-2, "tenants")
        return 1
    }

    /// `keepExisting{tenant={slug=, name=, …}, owner={email=, name=?}, update=?}`: for a
    /// re-run. When the tenant exists with that Owner, records it as unchanged or
    /// differing, changes nothing, and returns `{status=, differences={{field=, database=,
    /// input=}…}}`; nil when it is not provisioned that way (create it then). With
    /// `update = true` the tenant converges to the input instead (`{status="updated",
    /// changes=…}` or unchanged), and one with another Owner differs.
    private func keepExisting(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "keepExisting", keys: ["tenant", "owner", "update"])
        let converge = try args.flag("update")
        guard stack.rawField(args.index, "tenant") == LUA_TTABLE, stack.rawField(args.index, "owner") == LUA_TTABLE else {
            stack.pop(2)
            throw ProvisionError(.invalidInput, "keepExisting expects {tenant = {slug=, name=, …}, owner = {email=, name=?}}", field: "tenant")
        }
        let tenantArgs = try TableArguments(stack, index: -2, function: "keepExisting", keys: ["slug", "name", "timeZone", "supportEmail", "supportPhone"])
        let ownerArgs = try TableArguments(stack, index: -1, function: "keepExisting", keys: ["email", "name"])
        let tenant = try TenantSpec(
            slug: tenantArgs.required("slug", as: .tenantSlug), name: tenantArgs.required("name", as: .tenantName),
            timeZone: tenantArgs.optional("timeZone", as: .timeZone), supportEmail: tenantArgs.optional("supportEmail", as: .supportEmail),
            supportPhone: tenantArgs.optional("supportPhone", as: .supportPhone))
        let owner = try OwnerSpec(email: ownerArgs.required("email", as: .ownerEmail), name: ownerArgs.optional("name", as: .ownerName))
        stack.pop(2)
        let outcome = try atomically { () throws(ProvisionError) in try run.keepExisting(tenant, owner: owner, converge: converge) }
        guard let outcome else {
            stack.pushNil()
            return 1
        }
        guard case .kept(let kept) = outcome else {
            if case .updated(let update) = outcome { push(update, on: stack) } else { stack.pushNil() }
            return 1
        }
        let differences = kept.differences
        stack.pushRecord([("status", .string(outcome.status.rawValue))])
        stack.newTable(array: Int32(differences.count))
        for (offset, difference) in differences.enumerated() {
            stack.pushRecord([("field", .string(wording.name(of: difference.field))),
                              ("database", difference.database.map(LuaScalar.string)), ("input", difference.input.map(LuaScalar.string))])
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        stack.setRawField(-2, "differences")
        return 1
    }

    /// `deleteTenant{slug=}`: the safe delete (refused with tenant_in_use when the tenant
    /// has platform rows or a member who logged in); returns what went and what stayed.
    private func deleteTenant(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "deleteTenant", keys: ["slug"])
        let slug = try Validate.tenantSlug(args.required("slug", as: .tenantSlug))
        let deletion = try atomically { () throws(ProvisionError) in try run.deleteTenant(slug: slug) }
        stack.pushRecord([("id", deletion.tenant.id.map { .string($0.description) }), ("slug", .string(deletion.tenant.slug)),
                          ("planned", .boolean(deletion.planned))])
        for (key, removed) in [("deletedUsers", true), ("keptUsers", false)] {
            let emails = deletion.members.filter { $0.removed == removed }.map(\.user.email)
            stack.pushArray(emails)
            stack.setRawField(-2, key)
        }
        return 1
    }

    /// `dryRun()`: is this a dry run. `dryRun(fn, ...)`: runs fn with every primitive
    /// planning, discards what it planned, and returns the plan, then fn's results.
    private func dryRun(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        if stack.top == 0 {
            stack.push(run.isPlanning)
            return 1
        }
        guard stack.isFunction(1) else {
            throw ProvisionError(.invalidInput, "dryRun expects a function (or no argument), got \(stack.typeName(at: 1))", field: "fn")
        }
        let unit = try run.beginUnit(planning: true)
        let arguments = stack.top - 1
        let status = session.state.call(on: stack, arguments: arguments, results: LUA_MULTRET)
        if status != LUA_OK {
            try run.rollback(unit)
            provision_keep_traceback_for_reraise(stack.L, -1)
            return -1  // the original error object, unchanged, is on top
        }
        let plan = try run.rollback(unit)
        let results = stack.top
        stack.newTable(record: 2)
        stack.push(plan.actions)
        stack.setRawField(-2, "actions")
        stack.pushArray(plan.warnings)
        stack.setRawField(-2, "warnings")
        provision_lua_insert(stack.L, 1)
        return results + 1
    }

    /// A savepoint unit: commits with the run on return, rolls back alone on error and
    /// returns `false, err` with the error object unchanged.
    private func transaction(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        guard stack.isFunction(1) else {
            throw ProvisionError(.invalidInput, "transaction expects a function, got \(stack.typeName(at: 1))", field: "fn")
        }
        let unit = try run.beginUnit()
        let status = session.state.call(on: stack, arguments: stack.top - 1, results: LUA_MULTRET)
        if status != LUA_OK {
            _ = session.state.takeTraceback()
            // The failure is kept for the report: on the script's account.
            try session.state.charge(Self.recordBytes, for: "the failed unit's record")
            try run.rollback(unit, error: session.state.contractError(fromValueAt: -1, on: stack))
            stack.push(false)
            provision_lua_insert(stack.L, -2)
            return 2
        }
        try run.release(unit)
        stack.push(true)
        provision_lua_insert(stack.L, 1)
        return stack.top
    }

    private func findTenant(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let field = wording.name(of: .tenantSlug)
        let slug = try stack.requiredString(at: 1, field: field, expectation: "findTenant expects a slug string")
        if let tenant = try run.lookUpTenant(slug: slug) {
            stack.push(tenant)
        } else {
            stack.pushNil()
        }
        return 1
    }

    private func findUser(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let field = wording.name(of: .ownerEmail)
        let email = try stack.requiredString(at: 1, field: field, expectation: "findUser expects an email string")
        if let user = try run.lookUpUser(email: email) {
            stack.push(user)
        } else {
            stack.pushNil()
        }
        return 1
    }

    private func query(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let sql = try stack.requiredString(at: 1, field: "sql", expectation: "query expects SQL text")
        // Half of what the limit leaves: the rows exist in the host and in Lua at once.
        let rows = try session.state.holdingToMemoryLimit { () throws(ProvisionError) in
            try run.readOnlyQuery(sql, parameters: try stack.sqlParameters(from: 2), maxBytes: session.state.room.map { $0 / 2 })
        }
        try session.state.requireRoom(forBytes: rows.estimatedLuaBytes, what: "the query's \(rows.count) rows")
        session.state.pushRows(rows, on: stack)
        return 1
    }

    private func readCSV(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let path = try stack.requiredString(at: 1, field: "path", expectation: "readCSV expects a file path")
        // The file, its text and the parsed rows exist at once while it is read.
        let table = try CSVTable.read(path: path, maxBytes: session.state.room.map { $0 / 4 })
        try session.state.requireRoom(forBytes: table.estimatedLuaBytes, what: "\(path)")
        stack.newTable(array: Int32(table.rows.count))
        for (offset, row) in table.rows.enumerated() {
            stack.newTable(record: Int32(table.header.count))
            for (column, value) in zip(table.header, row) {
                stack.push(value)
                stack.setRawField(-2, column)
            }
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        stack.newTable(record: 3)
        stack.pushArray(table.header)
        stack.setRawField(-2, "header")
        stack.newTable(array: Int32(table.lines.count))
        for (offset, line) in table.lines.enumerated() {
            stack.push(line)
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        stack.setRawField(-2, "lines")
        stack.push(path)
        stack.setRawField(-2, "path")
        return 2
    }

    private func log(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let line = try joined(stack)
        session.emit(message: line)
        return 0
    }

    /// Warnings are kept until the report: they stay on the script's memory account.
    private func warn(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let message = try joined(stack)
        try session.state.charge(message.utf8.count + 64, for: "the warning")
        run.warn(message)
        return 0
    }

    // MARK: Batch

    /// `batch{file=, stopOnError=?, skipExisting=?, update=?}`: reads the CSV file, checks every row
    /// (one error with every problem in `problems` when any is bad), runs the rows as
    /// savepoint units with progress on stderr, and returns one outcome per row in the
    /// file's order: `{line=, status=, slug=, email=, error=?}`.
    private func batch(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let args = try TableArguments(stack, index: 1, function: "batch", keys: ["file", "stopOnError", "skipExisting", "update"])
        let path = try args.string("file")
        let options = Batch.Options(stopOnError: try args.flag("stopOnError"), skipExisting: try args.flag("skipExisting"),
                                    update: try args.flag("update"))
        // The file, its text and the parsed rows exist at once while it is read.
        let table = try CSVTable.read(path: path, maxBytes: session.state.room.map { $0 / 4 })
        try session.state.requireRoom(forBytes: table.estimatedLuaBytes, what: "\(path)")
        let rows = try Batch.validate(Batch.File(path: path, header: table.header, rows: table.rows, lines: table.lines),
                                      wording: wording)
        // The run keeps a tenant, a user, a membership (or a failure) for each row.
        try session.state.charge(rows.count * 3 * Self.recordBytes, for: "the batch's records")
        let outcomes = try Batch.run(rows, file: path, in: run, options: options, wording: wording) { [session] done, total, label in
            session.reportProgress(done: done, total: total, label: label)
        }
        stack.newTable(array: Int32(outcomes.count))
        for (offset, row) in outcomes.enumerated() {
            stack.push(row.outcome, extra: [("line", .integer(Int64(row.line)))])
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        return 1
    }

    // MARK: Go-live checks

    private var checks: GoLiveChecks?

    /// `runChecks(slug)`: the go-live checks for a tenant, inside this run's transaction
    /// (so they see its uncommitted writes); returns the results and a summary.
    private func runChecks(_ stack: LuaStack) throws(ProvisionError) -> Int32 {
        let field = wording.name(of: .tenantSlug)
        let slug = try stack.requiredString(at: 1, field: field, expectation: "runChecks expects a tenant slug")
        let tenant = try resolveTenant(slug: slug, field: field)
        if checks == nil {
            let stdlib = session.options.stdlib
            checks = try GoLiveChecks(options: .init(folders: GoLiveChecks.Options.folders(stdlib: stdlib)), stdlib: stdlib)
        }
        let results = try checks!.run(for: tenant, in: run)
        stack.newTable(array: Int32(results.count))
        for (offset, result) in results.enumerated() {
            stack.pushRecord([("id", .string(result.id)), ("title", .string(result.title)),
                              ("status", .string(result.status.rawValue)), ("message", .string(result.message))])
            stack.setRawIndex(-2, Int64(offset + 1))
        }
        stack.pushRecord(CheckResult.Status.allCases.map { status in
            (status.rawValue, .integer(Int64(results.filter { $0.status == status }.count)))
        })
        return 2
    }

    // MARK: Helpers

    /// A tenant the run created or planned, or the database's; `field` names the
    /// argument that referred to it.
    private func resolveTenant(slug: String, field: String) throws(ProvisionError) -> Tenant {
        guard let tenant = try run.lookUpTenant(slug: slug) else {
            throw ProvisionError(.notFound, "tenant '\(slug)' does not exist", field: field)
        }
        return tenant
    }

    private func resolveUser(email: String, field: String) throws(ProvisionError) -> User {
        guard let user = try run.lookUpUser(email: email) else {
            throw ProvisionError(.notFound, "user '\(email)' does not exist", field: field)
        }
        return user
    }

    /// Roughly what the run keeps for one record (a tenant, user, membership or failure
    /// with its action line): the run's records count against the script's memory, so a
    /// loop that plans without end hits the limit instead of the machine's memory.
    static let recordBytes = 1024

    /// Every primitive is a unit of its own, so a playbook that catches a primitive's error
    /// with pcall can go on. No subtransaction: primitives find conflicts before they write
    /// (a lost race by ON CONFLICT DO NOTHING), so the transaction is never left aborted.
    private func atomically<T>(_ body: () throws(ProvisionError) -> T) throws(ProvisionError) -> T {
        try session.state.charge(Self.recordBytes, for: "the run's record")
        let unit = try run.beginUnit(savepoint: false)
        do throws(ProvisionError) {
            let value = try body()
            try run.release(unit)
            return value
        } catch {
            try run.rollback(unit)
            throw error
        }
    }

    /// The arguments as one tab-separated line. The host copies the text, so the copy
    /// must fit in what the memory limit leaves.
    private func joined(_ stack: LuaStack) throws(ProvisionError) -> String {
        guard stack.top > 0 else { return "" }
        var parts: [String] = []
        var bytes = 0
        for index in 1...stack.top {
            // A string's size is known before it is copied; other values convert to short text.
            bytes += stack.type(at: index) == LUA_TSTRING ? Int(stack.rawLength(index)) : 64
            try session.state.requireRoom(forBytes: 2 * bytes, what: "the message")
            parts.append(stack.describe(index))
        }
        return parts.joined(separator: "\t")
    }

    /// The run is over: close the check states this run opened.
    func finish() {
        checks?.close()
    }
}

/// A table argument such as `{slug=, name=}`, read raw; unknown keys are refused so a
/// typo (`tenantSlug=` in Lua) is an error, not a silently missing value.
struct TableArguments {
    let stack: LuaStack
    let index: Int32
    let function: String

    init(_ stack: LuaStack, index: Int32, function: String, keys: Set<String>) throws(ProvisionError) {
        guard stack.isTable(index) else {
            throw ProvisionError(.invalidInput, "\(function) expects a table of fields, got \(stack.typeName(at: index))")
        }
        self.stack = stack
        self.index = stack.absolute(index)
        self.function = function
        stack.pushNil()
        while lua_next(stack.L, self.index) != 0 {
            let key = stack.type(at: -2) == LUA_TSTRING ? stack.lossyString(at: -2) : nil
            stack.pop()
            guard let key, keys.contains(key) else {
                let shown = key ?? stack.describe(-1)
                stack.pop()
                let hint = key.flatMap { Suggestion.closest(to: $0, among: Array(keys)) }.map { "; did you mean '\($0)'?" } ?? ""
                throw ProvisionError(.invalidInput, "\(function): unknown field '\(shown)'\(hint) (expected \(keys.sorted().joined(separator: ", ")))", field: shown)
            }
        }
    }

    // Errors name the domain field; the front end's wording names it when they are raised.

    func optional(_ key: String, as field: Field) throws(ProvisionError) -> String? {
        let type = stack.rawField(index, key)
        defer { stack.pop() }
        switch type {
        case LUA_TNIL: return nil
        case LUA_TSTRING: return try stack.string(at: -1, field: field)
        default:
            throw ProvisionError(.invalidInput, "\(.field) must be a string, got \(stack.typeName(at: -1))", subject: field)
        }
    }

    func required(_ key: String, as field: Field) throws(ProvisionError) -> String {
        guard let value = try optional(key, as: field) else {
            throw ProvisionError(.invalidInput, "\(function): \(.field) is required", subject: field)
        }
        return value
    }

    func boolean(_ key: String, as field: Field) throws(ProvisionError) -> Bool {
        let type = stack.rawField(index, key)
        defer { stack.pop() }
        switch type {
        case LUA_TNIL: return false
        case LUA_TBOOLEAN: return stack.boolean(at: -1)
        case LUA_TSTRING: return try Validate.flag(stack.lossyString(at: -1) ?? "", field)
        default:
            throw ProvisionError(.invalidInput, "\(.field) must be a boolean, got \(stack.typeName(at: -1))", subject: field)
        }
    }

    /// A required string argument the function names itself (a file path).
    func string(_ key: String) throws(ProvisionError) -> String {
        let type = stack.rawField(index, key)
        defer { stack.pop() }
        guard type == LUA_TSTRING, let value = try stack.string(at: -1, field: key) else {
            throw ProvisionError(.invalidInput, "\(function): \(key) must be a string, got \(stack.typeName(at: -1))", field: key)
        }
        return value
    }

    /// A boolean option of the function's own (absent: false).
    func flag(_ key: String) throws(ProvisionError) -> Bool {
        let type = stack.rawField(index, key)
        defer { stack.pop() }
        switch type {
        case LUA_TNIL: return false
        case LUA_TBOOLEAN: return stack.boolean(at: -1)
        default:
            throw ProvisionError(.invalidInput, "\(function): \(key) must be a boolean, got \(stack.typeName(at: -1))", field: key)
        }
    }

    /// An array of strings (absent: none).
    func strings(_ key: String) throws(ProvisionError) -> [String] {
        let type = stack.rawField(index, key)
        defer { stack.pop() }
        switch type {
        case LUA_TNIL: return []
        case LUA_TTABLE:
            let count = stack.rawLength(-1)
            guard count <= 16 else {
                throw ProvisionError(.invalidInput, "\(function): \(key) lists \(count) names; there are not that many", field: key)
            }
            var values: [String] = []
            for offset in 0..<count {
                let element = lua_rawgeti(stack.L, -1, lua_Integer(offset + 1))
                defer { stack.pop() }
                guard element == LUA_TSTRING, let value = try stack.string(at: -1, field: key) else {
                    throw ProvisionError(.invalidInput, "\(function): \(key) must be an array of strings, got \(stack.typeName(at: -1)) at \(offset + 1)", field: key)
                }
                values.append(value)
            }
            return values
        default:
            throw ProvisionError(.invalidInput, "\(function): \(key) must be an array of strings, got \(stack.typeName(at: -1))", field: key)
        }
    }

    /// `tenant = t | "slug"`: a table's `key`, or the string itself.
    func reference(_ name: String, key: String, field: String) throws(ProvisionError) -> String {
        let type = stack.rawField(index, name)
        defer { stack.pop() }
        switch type {
        case LUA_TSTRING:
            return try stack.string(at: -1, field: name) ?? ""
        case LUA_TTABLE:
            let inner = stack.rawField(-1, key)
            defer { stack.pop() }
            if inner == LUA_TSTRING, let value = try stack.string(at: -1, field: name) { return value }
            throw ProvisionError(.invalidInput, "\(function): \(name) must be a \(name) table (with \(key)) or a \(key) string", field: name)
        case LUA_TNIL:
            throw ProvisionError(.invalidInput, "\(function): \(name) is required", field: name)
        default:
            throw ProvisionError(.invalidInput, "\(function): \(name) must be a \(name) table or a \(key) string, got \(stack.typeName(at: -1))", field: name)
        }
    }
}
