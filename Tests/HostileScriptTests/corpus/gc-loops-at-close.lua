-- A finalizer that never returns when the state closes after the playbook returned, with
-- no --timeout at all: closing has a short deadline of its own, and the run, closed
-- before it commits, is rolled back.
-- expect: exit=1 code=limit_exceeded message="did not stop at its time limit"
-- within: 12
-- nothing-written
provision.createTenant{ slug = "hostile-close", name = "Hostile" }
setmetatable({}, { __gc = function() while true do end end })
