-- The memory limit trips inside a coroutine, which then swallows errors with pcall in a
-- loop: every thread re-raises once a limit has tripped, so the loop cannot go on.
-- expect: exit=1 code=limit_exceeded message="more memory"
-- flags: --maxMemoryMB 16
-- within: 12
local co = coroutine.wrap(function()
  pcall(string.rep, "x", 64 * 1024 * 1024)
  while true do pcall(string.rep, "y", 1024) end
end)
co()
