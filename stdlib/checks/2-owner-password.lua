-- Runbook, post-provision step 1: the Owner logged in with the one-time password and
-- replaced it. Until then a warning; once it expired unused, a failure.
-- Checks never see users.password_hash (their database role may not read it), so an
-- Owner is judged by must_change_password and password_expires_at alone.
---@type provision.Check
local check = {
  id = "owner-password",
  title = "The Owner has replaced the one-time password",
  run = function(ctx)
    local owners = ctx.query([[
      SELECT u.email, u.must_change_password AS pending,
             u.password_expires_at < now() AS expired,
             to_char(u.password_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS expires
      FROM memberships m JOIN users u ON u.id = m.user_id
      WHERE m.tenant_id = $1 AND m.role = 'OWNER' ORDER BY u.email]], ctx.tenant.id)
    if #owners == 0 then return ctx.fail("the tenant has no OWNER to log in") end
    for _, o in ipairs(owners) do
      if o.pending and o.expired then
        ctx.fail(o.email .. "'s one-time password expired unused on " .. o.expires ..
                 ": issue a new one with `provision reset-password --email " .. o.email .. "` and hand it over")
      elseif o.pending then
        ctx.warn(o.email .. " has not replaced the one-time password yet (it expires " .. o.expires ..
                 "): ask them to log in")
      else
        ctx.pass(o.email .. " has set their own password")
      end
    end
  end,
}

return check
