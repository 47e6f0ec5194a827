-- The time limit trips in a coroutine that swallows every error with pcall.
-- expect: exit=1 code=limit_exceeded message="--timeout"
-- flags: --timeout 2
-- within: 12
local co = coroutine.wrap(function()
  while true do pcall(function() while true do end end) end
end)
co()
