-- A check whose finalizer never returns: the watchdog ends `provision check` with a
-- clean limit_exceeded instead of hanging with its transaction open.
-- expect: exit=1 code=limit_exceeded message="did not stop at its time limit"
-- flags: --checkTimeout 2
-- within: 12
return {
  id = "hostile-gc", title = "Hostile finalizer",
  run = function(ctx)
    setmetatable({}, { __gc = function() while true do end end })
    collectgarbage()
    ctx.pass("unreachable")
  end,
}
