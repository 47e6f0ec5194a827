-- An example of a check of your own:
--   provision check --tenantSlug pilot-staging --checks scripts/checks
---@type provision.Check
local check = {
  id = "groups-placed",
  title = "Every group belongs to a center and a program",
  run = function(ctx)
    local groups = ctx.count("groups")
    if groups == 0 then return ctx.fail("no groups yet: create one in the Admin UI") end
    local loose = ctx.query([[
      SELECT name FROM "groups"
      WHERE tenant_id = $1 AND (center_id IS NULL OR program_id IS NULL)
      ORDER BY name]], ctx.tenant.id)
    if #loose > 0 then
      return ctx.warn(("%d of %d groups lack a center or a program (first: %s): assign them in the Admin UI")
        :format(#loose, groups, loose[1].name))
    end
    ctx.pass(("all %d groups have a center and a program"):format(groups))
  end,
}

return check
