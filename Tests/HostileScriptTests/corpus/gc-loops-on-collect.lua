-- A finalizer that never returns, run by collectgarbage(): hooks are off in finalizers,
-- so only the watchdog can end it. The tenant planned first must not be committed.
-- expect: exit=1 code=limit_exceeded message="did not stop at its time limit"
-- flags: --timeout 2
-- within: 12
-- nothing-written
provision.createTenant{ slug = "hostile-gc", name = "Hostile" }
setmetatable({}, { __gc = function() while true do end end })
collectgarbage()
