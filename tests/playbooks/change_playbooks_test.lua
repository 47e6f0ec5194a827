-- Tests of the stdlib playbooks behind the changes after go-live (what `provision update`
-- and `provision member add | set-role | remove` run, and `tenant --update`), inside the
-- test's transaction.

local UPDATE = "../../stdlib/playbooks/update.lua"
local ADD = "../../stdlib/playbooks/member-add.lua"
local SET_ROLE = "../../stdlib/playbooks/member-set-role.lua"
local REMOVE = "../../stdlib/playbooks/member-remove.lua"
local TENANT = "../../stdlib/playbooks/tenant.lua"

local function count_owners(t, slug)
  return #t.query([[SELECT 1 FROM memberships m JOIN tenants t ON t.id = m.tenant_id
                    WHERE t.slug = $1 AND m.role = 'OWNER']], slug)
end

return {
  ["update sets what is given, clears what is listed, and keeps the rest"] = function(t)
    t.tenant{ slug = "pilot", owner = "owner@pilot.example" }
    local result = t.run(UPDATE, { tenantSlug = "pilot", timeZone = "America/Edmonton", clear = "supportPhone" })
    t.ok(result.ok, result.error and result.error.message)
    t.eq(result.results, { { slug = "pilot", status = "updated" } })
    local row = t.query("SELECT time_zone, support_phone FROM tenants WHERE slug = 'pilot'")[1]
    t.eq(row.time_zone, "America/Edmonton")
    t.eq(row.support_phone, nil)
    local again = t.run(UPDATE, { tenantSlug = "pilot", timeZone = "America/Edmonton" })
    t.eq(again.results, { { slug = "pilot", status = "unchanged" } })
  end,

  ["update of an unknown tenant is not_found and writes nothing"] = function(t)
    local result = t.run(UPDATE, { tenantSlug = "nowhere", timeZone = "America/Edmonton" })
    t.eq(result.ok, false)
    t.eq(result.error.code, "not_found")
    t.eq(result.error.field, "slug", "named as a playbook names it")
  end,

  ["member add makes a new user with a one-time password, never shown to the test"] = function(t)
    t.tenant{ slug = "pilot", owner = "owner@pilot.example" }
    local result = t.run(ADD, { tenantSlug = "pilot", email = "admin@pilot.example", role = "ADMIN", allowExistingUser = "false" })
    t.ok(result.ok, result.error and result.error.message)
    t.eq(result.results, { { slug = "pilot", status = "updated" } })
    t.eq(result.passwords, 1)
    local rows = t.query([[SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id
                           WHERE u.email = 'admin@pilot.example']])
    t.eq(rows[1].role, "ADMIN")
  end,

  ["member add to an unknown tenant is not_found before any user is made"] = function(t)
    local result = t.run(ADD, { tenantSlug = "nowhere", email = "admin@nowhere.example", role = "ADMIN" })
    t.eq(result.error.code, "not_found")
    t.eq(#t.query("SELECT 1 FROM users WHERE email = 'admin@nowhere.example'"), 0)
  end,

  ["set-role and remove never leave a tenant without an OWNER"] = function(t)
    t.tenant{ slug = "pilot", owner = "owner@pilot.example" }
    local demote = t.run(SET_ROLE, { tenantSlug = "pilot", email = "owner@pilot.example", role = "ADMIN" })
    t.eq(demote.error.code, "last_owner")
    local remove = t.run(REMOVE, { tenantSlug = "pilot", email = "owner@pilot.example" })
    t.eq(remove.error.code, "last_owner")
    t.eq(count_owners(t, "pilot"), 1)
  end,

  ["ownership is handed over by adding the new OWNER first"] = function(t)
    t.tenant{ slug = "pilot", owner = "old@pilot.example" }
    t.ok(t.run(ADD, { tenantSlug = "pilot", email = "new@pilot.example", role = "OWNER" }).ok)
    local demote = t.run(SET_ROLE, { tenantSlug = "pilot", email = "old@pilot.example", role = "STAFF" })
    t.ok(demote.ok, demote.error and demote.error.message)
    local remove = t.run(REMOVE, { tenantSlug = "pilot", email = "old@pilot.example" })
    t.ok(remove.ok, remove.error and remove.error.message)
    t.eq(count_owners(t, "pilot"), 1)
    t.eq(#t.query("SELECT 1 FROM users WHERE email = 'old@pilot.example'"), 1, "the user is never deleted")
  end,

  ["a dry run of set-role plans and writes nothing"] = function(t)
    t.tenant{ slug = "pilot", owner = "owner@pilot.example" }
    t.ok(t.run(ADD, { tenantSlug = "pilot", email = "staff@pilot.example", role = "STAFF" }).ok)
    local plan = t.run(SET_ROLE, { tenantSlug = "pilot", email = "staff@pilot.example", role = "ADMIN", dryRun = "true" })
    t.eq(plan.results, { { slug = "pilot", status = "planned" } })
    local rows = t.query([[SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id
                           WHERE u.email = 'staff@pilot.example']])
    t.eq(rows[1].role, "STAFF")
  end,

  ["tenant with update converges an existing tenant, and differs for another Owner"] = function(t)
    local vars = { tenantSlug = "pilot", tenantName = "Pilot", ownerEmail = "owner@pilot.example",
                   supportPhone = "+1 555 0100", allowExistingUser = "false" }
    t.ok(t.run(TENANT, vars).ok)
    vars.supportPhone = "+1 555 0199"
    vars.update = "true"
    local result = t.run(TENANT, vars)
    t.eq(result.results, { { slug = "pilot", status = "updated" } })
    t.eq(t.query("SELECT support_phone FROM tenants WHERE slug = 'pilot'")[1].support_phone, "+1 555 0199")
    t.eq(t.run(TENANT, vars).results, { { slug = "pilot", email = "owner@pilot.example", status = "unchanged" } })
    vars.ownerEmail = "someone@else.example"
    t.eq(t.run(TENANT, vars).results[1].status, "differs")
  end,
}
