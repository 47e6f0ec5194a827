-- Runbook, post-provision step 1: someone can log in as the tenant's Owner.
---@type provision.Check
local check = {
  id = "owner-membership",
  title = "An OWNER membership exists",
  run = function(ctx)
    local owners = ctx.query([[
      SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE m.tenant_id = $1 AND m.role = 'OWNER' ORDER BY u.email]], ctx.tenant.id)
    if #owners == 0 then
      return ctx.fail(("the tenant has no OWNER: add one with provision member add --tenantSlug %s --email EMAIL --role OWNER"):format(ctx.tenant.slug))
    end
    local emails = {}
    for _, row in ipairs(owners) do emails[#emails + 1] = row.email end
    ctx.pass(table.concat(emails, ", ") .. (#emails == 1 and " is OWNER" or " are OWNERs"))
  end,
}

return check
