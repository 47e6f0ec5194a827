-- Garbage whose finalizer allocates without end, collected while host functions run:
-- finalizers never run inside host code (where the limit is lifted), only in the script's
-- own time, under its memory limit.
-- expect: exit=1 code=limit_exceeded message="more memory"
-- flags: --maxMemoryMB 16 --timeout 20
-- within: 25
for i = 1, 200 do
  setmetatable({}, { __gc = function() local t = {} for j = 1, 1e8 do t[j] = j end end })
  provision.findTenant("nobody-" .. i)
end
collectgarbage()
