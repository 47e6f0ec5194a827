-- Tests of the stdlib tenant playbook (what `provision tenant` runs), inside the test's
-- transaction: what it creates, its conflicts, and a re-run with skipExisting.

local function vars(overrides)
  local v = { tenantSlug = "pilot", tenantName = "Pilot", ownerEmail = "owner@pilot.example",
              supportEmail = "help@pilot.example", allowExistingUser = "false" }
  for key, value in pairs(overrides or {}) do v[key] = value end
  return v
end

local TENANT = "../../stdlib/playbooks/tenant.lua"

return {
  ["creates the tenant, its Owner with a one-time password, and the membership"] = function(t)
    local result = t.run(TENANT, vars())
    t.ok(result.ok, result.error and result.error.message)
    t.eq(result.results, { { slug = "pilot", status = "created" } })
    t.eq(result.passwords, 1, "one one-time password, never shown to the test")
    t.eq(t.check("owner-membership", "pilot"), "pass")
    local rows = t.query("SELECT must_change_password FROM users WHERE email = $1", "owner@pilot.example")
    t.eq(rows[1].must_change_password, true)
  end,

  ["a taken slug is slug_exists and nothing of the run stays"] = function(t)
    t.tenant{ slug = "pilot", owner = "first@pilot.example" }
    local result = t.run(TENANT, vars())
    t.eq(result.ok, false)
    t.eq(result.error.code, "slug_exists")
    t.eq(#t.query("SELECT 1 FROM users WHERE email = 'owner@pilot.example'"), 0)
  end,

  ["a re-run with skipExisting is unchanged, or differs by field"] = function(t)
    t.ok(t.run(TENANT, vars()).ok)
    local again = t.run(TENANT, vars{ skipExisting = "true" })
    t.eq(again.results, { { slug = "pilot", email = "owner@pilot.example", status = "unchanged" } })
    local renamed = t.run(TENANT, vars{ skipExisting = "true", tenantName = "Pilot Renamed" })
    t.eq(renamed.results[1].status, "differs")
  end,

  ["a dry run plans and writes nothing"] = function(t)
    local plan = t.run(TENANT, vars{ dryRun = "true" })
    t.eq(plan.results, { { slug = "pilot", status = "planned" } })
    t.eq(#t.query("SELECT 1 FROM tenants WHERE slug = 'pilot'"), 0)
  end,
}
