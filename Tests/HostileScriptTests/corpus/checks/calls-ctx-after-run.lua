-- Keeps ctx and a coroutine past its run; a finalizer uses them later.
-- expect: exit=1 check=pass
-- within: 20
local kept
return {
  id = "hostile-kept", title = "Kept context",
  run = function(ctx)
    kept = ctx
    setmetatable({}, { __gc = function() pcall(kept.query, "select 1") end })
    ctx.pass("ok")
  end,
}
