-- Portal time hints use the tenant's time zone when no center has one.
---@type provision.Check
local check = {
  id = "time-zone",
  title = "A time zone on the tenant or on every center",
  run = function(ctx)
    if ctx.tenant.timeZone then return ctx.pass("tenant time zone " .. ctx.tenant.timeZone) end
    local centers = ctx.count("centers")
    local without = ctx.count("centers", "time_zone IS NULL")
    if centers > 0 and without == 0 then
      return ctx.pass("every center has a time zone")
    end
    if centers == 0 then
      return ctx.warn(("neither the tenant nor any center has a time zone: portal time hints fall back to UTC; set one with provision update --tenantSlug %s --timeZone ZONE"):format(ctx.tenant.slug))
    end
    ctx.warn(("%d of %d centers have no time zone and the tenant has none: set one on the tenant with provision update --tenantSlug %s --timeZone ZONE"):format(without, centers, ctx.tenant.slug))
  end,
}

return check
