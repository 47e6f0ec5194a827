-- A finalizer at close closes a suspended coroutine whose pending __close calls the host.
-- expect: exit=0
local co = coroutine.create(function()
  local guard <close> = setmetatable({}, { __close = function() provision.warn("closing") end })
  coroutine.yield()
end)
coroutine.resume(co)
setmetatable({}, { __gc = function() coroutine.close(co) end })
