---@meta provision.testing
-- LuaLS annotations for test files (`provision test`): a test file returns a table of
-- test functions by name, each called with a provision.Test.
--
--     ---@type table<string, fun(t: provision.Test)>
--     local tests = {}
--     tests["a fresh tenant has no catalog"] = function(t) … end
--     return tests

---@class provision.FixtureRow
---@field id string
---@field tenantId string
---@field name string

---@class provision.PlaybookRun
---@field ok boolean
---@field error? provision.Error
---@field actions provision.Action[]
---@field warnings string[]
---@field results {slug?: string, email?: string, status: "created"|"planned"|"unchanged"|"differs"|"updated"|"deleted"|"reset"|"failed", error?: provision.Error}[]
---@field passwords integer One-time passwords the run issued (never shown to tests).

---@class provision.Test
local Test = {}

--- A tenant; with `owner` (an email or {email=, name=?, password=?}), its OWNER too.
---@param spec {slug: string, name?: string, timeZone?: string, supportEmail?: string, supportPhone?: string, owner?: string|{email: string, name?: string, password?: "pending"|"expired"|"changed"}}
---@return provision.Tenant|{owner?: provision.User}
function Test.tenant(spec) end

--- A user whose one-time password is pending (default), expired, or changed by them.
---@param spec {email: string, name?: string, password?: "pending"|"expired"|"changed"}
---@return provision.User
function Test.user(spec) end

--- A membership.
---@param spec {tenant: provision.Tenant, user: provision.User, role: "OWNER"|"ADMIN"|"STAFF"|"PARENT"}
function Test.member(spec) end

---@param spec {tenant: provision.Tenant, name?: string, timeZone?: string}
---@return provision.FixtureRow
function Test.center(spec) end
---@param spec {tenant: provision.Tenant, name?: string}
---@return provision.FixtureRow
function Test.level(spec) end
---@param spec {tenant: provision.Tenant, name?: string}
---@return provision.FixtureRow
function Test.program(spec) end
---@param spec {tenant: provision.Tenant, name?: string, center?: provision.FixtureRow, program?: provision.FixtureRow}
---@return provision.FixtureRow
function Test.group(spec) end
---@param spec {tenant: provision.Tenant, name?: string, center?: provision.FixtureRow}
---@return provision.FixtureRow
function Test.student(spec) end
---@param spec {tenant: provision.Tenant, name?: string, user?: provision.User, email?: string}
---@return provision.FixtureRow
function Test.parent(spec) end
--- Links a student to a parent.
---@param spec {student: provision.FixtureRow, parent: provision.FixtureRow}
function Test.link(spec) end

--- The check with this id, for this tenant, as `provision check` runs it.
---@param id string
---@param slug string
---@return "pass"|"warn"|"fail"|"error" status
---@return string message
function Test.check(id, slug) end

--- Runs a playbook (relative to the test file) inside the test's transaction; vars as
--- `--var` gives them (`dryRun = "true"` for a dry run).
---@param playbook string
---@param vars? table<string, string>
---@return provision.PlaybookRun
function Test.run(playbook, vars) end

--- A read-only query that sees the test's fixtures.
---@param sql string
---@param ... string|number|boolean|nil
---@return table<string, any>[]
function Test.query(sql, ...) end

--- Fails unless actual equals expected (tables key by key).
---@param actual any
---@param expected any
---@param message? string
function Test.eq(actual, expected, message) end
---@param value any
---@param message? string
function Test.ok(value, message) end
--- Fails unless text contains a match of the Lua pattern.
---@param text string
---@param pattern string
---@param message? string
function Test.match(text, pattern, message) end
--- fn(...) must raise (with `code`, when given); returns the error.
---@param fn function
---@param code? string
---@return any
function Test.fails(fn, code, ...) end
---@param message? string
function Test.fail(message) end

-- A playbook that declares its parameters (`provision run X.lua --help` shows them).
---@class provision.Parameter
---@field name? string In the array form.
---@field type? "string"|"integer"|"number"|"boolean" Default "string".
---@field required? boolean
---@field default? string|integer|number|boolean
---@field help? string
---@field choices? string[]

---@class provision.Playbook
---@field description? string
---@field params? provision.Parameter[]|table<string, provision.Parameter>
---@field run fun(p: provision, args: table<string, string|integer|number|boolean>, ...: string)
