-- Runbook, post-provision step 4 and troubleshooting "Support contact missing".
---@type provision.Check
local check = {
  id = "support-contact",
  title = "Support contact shown in the portal",
  run = function(ctx)
    local t = ctx.tenant
    if t.supportEmail or t.supportPhone then
      local shown = {}
      if t.supportEmail then shown[#shown + 1] = t.supportEmail end
      if t.supportPhone then shown[#shown + 1] = t.supportPhone end
      return ctx.pass(table.concat(shown, ", "))
    end
    ctx.warn(("no support email or phone: the portal will show a generic ‘contact your center’ message; set one with provision update --tenantSlug %s --supportEmail EMAIL (or --supportPhone PHONE)"):format(ctx.tenant.slug))
  end,
}

return check
