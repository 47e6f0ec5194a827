-- Fills its state to just under the limit while loading: the host's own pushes (ctx,
-- the run function's reference, the results) must never meet an unprotected memory error.
-- expect: exit=1 check=pass
-- flags: --checkTimeout 10
-- within: 25
local hoard = {}
while collectgarbage("count") < 63.5 * 1024 do hoard[#hoard + 1] = string.rep("x", 200) .. #hoard end
return {
  id = "hostile-full", title = "Full state",
  run = function(ctx) ctx.pass("ok") end,
}
