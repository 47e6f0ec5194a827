-- Runbook, post-provision step 2: centers, levels, programs and groups exist.
local KINDS = { { "centers", "center" }, { "levels", "level" }, { "programs", "program" }, { "groups", "group" } }

---@type provision.Check
local check = {
  id = "catalog",
  title = "At least one center, level, program and group",
  run = function(ctx)
    local missing, counts = {}, {}
    for _, kind in ipairs(KINDS) do
      local n = ctx.count(kind[1])
      counts[#counts + 1] = ("%d %s%s"):format(n, kind[2], n == 1 and "" or "s")
      if n == 0 then missing[#missing + 1] = kind[1] end
    end
    if #missing > 0 then
      return ctx.fail("missing " .. table.concat(missing, ", ") .. ": create them in the Admin UI")
    end
    ctx.pass(table.concat(counts, ", "))
  end,
}

return check
