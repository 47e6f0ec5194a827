---@meta provision
-- LuaLS annotations for the `provision` module that `provision run` gives playbooks.
-- A test checks this file against the functions the host really registers, so it
-- cannot drift: add a function here in the same change that adds it to the host.

---@class provision.Error
---@field code string One of invalid_input, slug_exists, email_exists, membership_exists, last_owner, not_found, forbidden, limit_exceeded, database_error, database_unavailable, playbook_error, …
---@field message string What went wrong, for an operator.
---@field field? string The input the error is about, named as the table key (`slug`, `email`, …).
---@field problems? {file?: string, line?: integer, field: string, message: string}[] Every problem, when there are several (a batch's bad rows).

---@class provision.Tenant
---@field id string|nil The tenant's uuid; nil while planned (dry run).
---@field slug string
---@field name string
---@field timeZone string|nil
---@field supportEmail string|nil
---@field supportPhone string|nil
---@field planned boolean True when this run only planned it.

---@class provision.User
---@field id string|nil
---@field email string
---@field name string|nil
---@field created boolean True when this run created the user (and a one-time password, which Lua never sees).
---@field planned boolean

---@class provision.Membership
---@field tenantId string|nil
---@field userId string|nil
---@field tenant string The tenant's slug.
---@field user string The user's email.
---@field role "OWNER"|"ADMIN"|"STAFF"|"PARENT"
---@field planned boolean

---@class provision.PasswordReset
---@field id string|nil The user's uuid; nil when a dry run without a database could not look them up.
---@field email string
---@field name string|nil
---@field previousState "one-time pending"|"one-time expired"|"changed"|nil Where the user's password stood before; nil in a dry run without a database.
---@field tenants {id: string, slug: string, role: "OWNER"|"ADMIN"|"STAFF"|"PARENT"}[] The tenants the user belongs to.
---@field planned boolean True when this run only planned the reset.

---@class provision.Action One change, typed, with every value it writes.
---@field kind "create_tenant"|"create_user"|"use_existing_user"|"link_membership"|"keep_tenant"|"update_tenant"|"set_role"|"reset_password"|"revoke_password"|"delete_tenant"|"delete_user"|"remove_membership"
---@field tenant string|nil The tenant's slug.
---@field email string|nil The user's email.
---@field role "OWNER"|"ADMIN"|"STAFF"|"PARENT"|nil
---@field values table<string, string>|nil Every value written (create_tenant: slug, name, timeZone, supportEmail, supportPhone; set_role: previousRole).
---@field changes {field: string, from: string|nil, to: string|nil}[]|nil update_tenant: each setting, from and to.
---@field text string For people, e.g. "create tenant pilot"; never compare it.

---@class provision.TenantUpdate What a change to an existing tenant did (or, planning, would do).
---@field status "updated"|"unchanged"|"planned"
---@field tenant provision.Tenant The tenant as the change left it.
---@field changes {field: string, from: string|nil, to: string|nil}[] Each change: a setting (tenantName, timeZone, supportEmail, supportPhone) or a member ("member EMAIL", roles from and to; nil to: removed).

---@class provision.Plan
---@field actions provision.Action[] What the function would have done.
---@field warnings string[]

---@class provision.CSVInfo
---@field header string[] The header row's column names.
---@field lines integer[] The line each row starts on, for FILE:LINE messages.
---@field path string

---@class provision
---@field vars table<string, string> Values of `--var KEY=VALUE`.
local provision = {}

--- Creates a tenant (plans it in a dry run). Fails with slug_exists if the slug is taken.
---@param spec {slug: string, name: string, timeZone?: string, supportEmail?: string, supportPhone?: string}
---@return provision.Tenant
function provision.createTenant(spec) end

--- Creates an Owner user with a one-time password, shown to the operator after commit;
--- with allowExistingUser, returns the existing user instead of failing with email_exists.
---@param spec {email: string, name?: string, allowExistingUser?: boolean}
---@return provision.User
function provision.createOwner(spec) end

--- Links a user to a tenant with a role.
---@param spec {tenant: provision.Tenant|string, user: provision.User|string, role: "OWNER"|"ADMIN"|"STAFF"|"PARENT"}
---@return provision.Membership
function provision.linkMembership(spec) end

--- createOwner for a user of any role (a member added after go-live): errors name
--- `email` and `name`.
---@param spec {email: string, name?: string, allowExistingUser?: boolean}
---@return provision.User
function provision.createUser(spec) end

--- Changes an existing tenant's settings: only those given; `clear` lists settings to
--- empty (timeZone, supportEmail, supportPhone). "unchanged" when they already are so.
--- Fails with not_found when no tenant has the slug.
---@param spec {tenant: provision.Tenant|string, name?: string, timeZone?: string, supportEmail?: string, supportPhone?: string, clear?: ("timeZone"|"supportEmail"|"supportPhone")[]}
---@return provision.TenantUpdate
function provision.updateTenant(spec) end

--- Changes a member's role ("unchanged" when it already is). Fails with last_owner when
--- the tenant would have no OWNER left, with not_found when the user is not a member.
---@param spec {tenant: provision.Tenant|string, user: provision.User|string, role: "OWNER"|"ADMIN"|"STAFF"|"PARENT"}
---@return provision.TenantUpdate
function provision.setRole(spec) end

--- Removes a membership; the user is never deleted. Fails with last_owner for the
--- tenant's last OWNER, with not_found when the user is not a member.
---@param spec {tenant: provision.Tenant|string, user: provision.User|string}
---@return provision.TenantUpdate
function provision.removeMember(spec) end

--- Issues a new one-time password for an existing user (lost, expired, never delivered):
--- to be changed at first login, expiring like a new user's, shown to the operator after
--- commit and never to Lua. Fails with not_found when no user has the email.
---@param spec {email: string}
---@return provision.PasswordReset
function provision.resetPassword(spec) end

--- For a re-run: when the tenant already exists with that Owner, records it as
--- "unchanged" (its fields match) or "differs" (each differing field listed), changes
--- nothing and returns the verdict; nil when it is not provisioned that way. With
--- `update = true`, such a tenant converges to the input instead (a provision.TenantUpdate:
--- "updated" or "unchanged"), and one with another Owner "differs" on ownerEmail.
---@param spec {tenant: {slug: string, name: string, timeZone?: string, supportEmail?: string, supportPhone?: string}, owner: {email: string, name?: string}, update?: boolean}
---@return {status: "unchanged"|"differs", differences: {field: string, database: string|nil, input: string|nil}[]}|provision.TenantUpdate|nil
function provision.keepExisting(spec) end

--- The safe delete of a tenant provisioned by mistake: its memberships, the tenant, and
--- its members whom nothing of another tenant refers to (a membership, a parent's portal
--- login, any row) and who never logged in. Fails with
--- tenant_in_use when it has platform rows (centers, …) or a member who logged in, and
--- with not_found when no tenant has the slug.
---@param spec {slug: string}
---@return {id: string, slug: string, planned: boolean, deletedUsers: string[], keptUsers: string[]}
function provision.deleteTenant(spec) end

--- `dryRun()`: whether this run is a dry run. `dryRun(fn, ...)`: runs fn with every
--- primitive planning instead of writing, and returns the plan, then fn's results.
---@overload fun(): boolean
---@param fn function
---@param ... any
---@return provision.Plan plan
---@return any ...
function provision.dryRun(fn, ...) end

--- A savepoint unit: on return it commits with the run; on error it rolls back alone
--- and returns false and the error object, unchanged.
---@param fn function
---@param ... any
---@return boolean ok
---@return any ... fn's results, or the error object
function provision.transaction(fn, ...) end

--- A tenant by slug (one this run created or planned included), or nil.
---@param slug string
---@return provision.Tenant|nil
function provision.findTenant(slug) end

--- A user by email, ignoring case, or nil.
---@param email string
---@return provision.User|nil
function provision.findUser(email) end

--- A read-only query in the run's transaction; `$1`, `$2`, … bind the extra arguments.
--- Booleans, integers and floats come back as Lua values; NULL columns are absent.
---@param sql string
---@param ... string|number|boolean|nil
---@return table<string, any>[]
function provision.query(sql, ...) end

--- Reads a CSV file with a header row: rows keyed by column name, and where each starts.
---@param path string
---@return table<string, string>[] rows
---@return provision.CSVInfo info
function provision.readCSV(path) end

--- Writes a line to stderr (print does the same).
---@param ... any
function provision.log(...) end

--- Adds a warning to the run's report.
---@param ... any
function provision.warn(...) end

---@class provision.BatchOutcome
---@field line integer The line the row starts on.
---@field status "created"|"planned"|"unchanged"|"differs"|"updated"|"failed"
---@field slug string The row's tenant slug.
---@field email? string The row's Owner (absent for a failed row).
---@field error? provision.Error Why the row failed; its message starts FILE:LINE.

--- Provisions one pilot per row of a CSV file (CONTRACT §2): checks every row first and
--- raises one invalid_input (or duplicate_in_batch) error whose `problems` list each
--- problem with its file, line and column; then runs each row as a savepoint unit, with
--- progress on stderr. With stopOnError the rows stop after the first failure; with
--- skipExisting a tenant that already has the row's Owner is `unchanged` (or `differs`);
--- with update it converges to the row (`updated` or `unchanged`).
---@param spec {file: string, stopOnError?: boolean, skipExisting?: boolean, update?: boolean}
---@return provision.BatchOutcome[]
function provision.batch(spec) end

---@class provision.CheckResult
---@field id string
---@field title string
---@field status "pass"|"warn"|"fail"|"error"
---@field message string What to do next.

--- Runs the go-live checks for a tenant inside this run's transaction, so a go-live
--- playbook can provision and then check before it commits.
---@param slug string
---@return provision.CheckResult[] results
---@return {pass: integer, warn: integer, fail: integer, error: integer} summary
function provision.runChecks(slug) end

-- Go-live check modules (stdlib/checks/, --checks DIR or FILE, $PROVISION_CHECKS_PATH)
-- return a provision.Check. They run read-only, without io or os.getenv, with a time
-- limit. Reading a field ctx or ctx.tenant does not have, or a column a query did not
-- return, is an error naming the closest one, never nil.

---@class provision.CheckContext
---@field tenant provision.Tenant The tenant being checked.
local CheckContext = {}

--- A read-only query; `$1`, `$2`, … bind the extra arguments. Each row has the query's
--- columns (a NULL one is nil); any other name is an error.
---@param sql string
---@param ... string|number|boolean|nil
---@return table<string, any>[]
function CheckContext.query(sql, ...) end

--- Rows of a tenant-scoped table for this tenant (memberships, audit_events, centers,
--- levels, programs, groups, students, parents, student_parents), optionally with a
--- condition whose placeholders start at `$2`: `ctx.count("centers", "time_zone IS NULL")`.
---@param table string
---@param condition? string
---@param ... string|number|boolean|nil
---@return integer
function CheckContext.count(table, condition, ...) end

--- The verdict; the worst one reported wins, and its messages say what to do next.
---@param message string
function CheckContext.pass(message) end
---@param message string
function CheckContext.warn(message) end
---@param message string
function CheckContext.fail(message) end

---@class provision.Check
---@field id string Unique across every check folder.
---@field title string
---@field run fun(ctx: provision.CheckContext)

return provision
