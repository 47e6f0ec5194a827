-- A to-be-closed variable whose __close never returns.
-- expect: exit=1 code=limit_exceeded message="--timeout"
-- flags: --timeout 2
-- within: 12
do
  local guard <close> = setmetatable({}, { __close = function() while true do end end })
end
