-- A coroutine that outlives the run: the state closes before the commit, and its
-- pending __close, run at close, finds the host gone.
-- expect: exit=0
local co = coroutine.create(function()
  local guard <close> = setmetatable({}, { __close = function()
    local ok, err = pcall(provision.createTenant, { slug = "late-one", name = "Late" })
    assert(not ok)
  end })
  coroutine.yield()
end)
coroutine.resume(co)
_G.keep = co
setmetatable({}, { __gc = function() coroutine.close(_G.keep) end })
