-- Runbook, post-provision step 3: a student is linked to a parent who can log in to
-- the portal, which proves portal access end to end.
---@type provision.Check
local check = {
  id = "portal-access",
  title = "A student linked to a parent with a portal login",
  run = function(ctx)
    local linked = ctx.query([[
      SELECT count(*) FILTER (WHERE p.user_id IS NOT NULL) AS with_login, count(*) AS links
      FROM student_parents sp
      JOIN parents p ON p.tenant_id = sp.tenant_id AND p.id = sp.parent_id
      WHERE sp.tenant_id = $1]], ctx.tenant.id)[1]
    if linked.with_login > 0 then
      return ctx.pass(("%d student-parent link%s with a portal login"):format(linked.with_login, linked.with_login == 1 and "" or "s"))
    end
    if ctx.count("students") == 0 then
      return ctx.fail("no students yet: create a student and a parent and link them")
    end
    if linked.links == 0 then
      return ctx.fail("no student is linked to a parent: link a student to a parent")
    end
    ctx.fail("no linked parent has a portal login yet: invite a linked parent to the portal")
  end,
}

return check
