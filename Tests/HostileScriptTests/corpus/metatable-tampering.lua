-- Host metatables are protected: a script cannot give file handles or error objects a
-- finalizer or a __tostring of its own.
-- expect: exit=0
-- flags: --var self=@SELF@
local f = io.open(provision.vars.self)
assert(getmetatable(f) == "file handle")
f:close()
local ok, err = pcall(provision.findTenant, 42)
assert(not ok and getmetatable(err) == "provision.error")
assert(not pcall(setmetatable, err, {}))
