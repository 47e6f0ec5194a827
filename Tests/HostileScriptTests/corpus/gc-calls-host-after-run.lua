-- A finalizer that runs when the state closes calls a host function: the run is over by
-- then, so the call raises "this run has already ended" (inside the finalizer, where Lua
-- swallows it) instead of touching a session being torn down.
-- expect: exit=0
setmetatable({}, { __gc = function() provision.log("finalizer ran") end })
provision.log("playbook done")
