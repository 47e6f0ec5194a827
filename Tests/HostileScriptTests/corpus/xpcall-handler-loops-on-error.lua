-- An ordinary error reaches a handler that loops: the hook stops it at the deadline.
-- expect: exit=1 code=limit_exceeded message="--timeout"
-- flags: --timeout 2
-- within: 12
xpcall(error, function() while true do end end, "boom")
