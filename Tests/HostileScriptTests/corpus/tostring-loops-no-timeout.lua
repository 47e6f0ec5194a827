-- An error value whose __tostring never returns, with no --timeout: the host gives a
-- __tostring it calls 2 s and says so.
-- expect: exit=1 code=limit_exceeded message="__tostring"
-- within: 12
error(setmetatable({}, { __tostring = function() while true do end end }))
