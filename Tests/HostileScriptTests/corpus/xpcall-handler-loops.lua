-- The time limit trips inside xpcall; its message handler (run with hooks off when a
-- hook raises) loops forever. Handlers step aside once a limit has tripped.
-- expect: exit=1 code=limit_exceeded message="--timeout"
-- flags: --timeout 2
-- within: 12
xpcall(function() while true do end end, function() while true do end end)
