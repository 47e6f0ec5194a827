---@meta provision.platform
-- LuaLS annotations of the contract's tables (CONTRACT §7) as `ctx.query`, `t.query`
-- and `provision.query` return their rows: one class per table, a field per column
-- (uuid, text and timestamps as strings; booleans and integers as Lua values; NULL
-- columns absent). LuaLS cannot read SQL, so say what a query returns where you call it:
--
--     local centers = ctx.query("SELECT * FROM centers WHERE tenant_id = $1", ctx.tenant.id) --[[@as provision.row.Center[] ]]
--
-- Checks run under a least-privilege role: users.password_hash is never readable.

---@class provision.row.Tenant
---@field id string
---@field slug string
---@field name string
---@field time_zone? string
---@field support_email? string
---@field support_phone? string
---@field created_at string

---@class provision.row.User
---@field id string
---@field email string
---@field name? string
---@field must_change_password boolean True until the user replaced the one-time password.
---@field password_expires_at? string When the one-time password expires (or expired).
---@field created_at string

---@class provision.row.Membership
---@field id string
---@field tenant_id string
---@field user_id string
---@field role "OWNER"|"ADMIN"|"STAFF"|"PARENT"
---@field created_at string

---@class provision.row.AuditEvent
---@field id string
---@field at string
---@field actor string
---@field action string e.g. tenant.create, user.create, membership.create, user.reset_password, tenant.delete
---@field run_id string
---@field tenant_id? string
---@field user_id? string
---@field detail string JSON text; never a secret.

---@class provision.row.Center
---@field id string
---@field tenant_id string
---@field name string
---@field time_zone? string
---@field created_at string

---@class provision.row.Level
---@field id string
---@field tenant_id string
---@field name string
---@field created_at string

---@class provision.row.Program
---@field id string
---@field tenant_id string
---@field name string
---@field created_at string

---@class provision.row.Group
---@field id string
---@field tenant_id string
---@field name string
---@field center_id? string
---@field program_id? string
---@field created_at string

---@class provision.row.Student
---@field id string
---@field tenant_id string
---@field full_name string
---@field center_id? string
---@field created_at string

---@class provision.row.Parent
---@field id string
---@field tenant_id string
---@field full_name string
---@field user_id? string Set once the parent has a portal login.
---@field email? string
---@field created_at string

---@class provision.row.StudentParent
---@field tenant_id string
---@field student_id string
---@field parent_id string
---@field created_at string
