-- 200 warnings of 4 MiB each: the host's copies count against --maxMemoryMB.
-- expect: exit=1 code=limit_exceeded
-- flags: --maxMemoryMB 16
-- within: 20
-- max-rss-mb: 70
local s = string.rep("x", 4 * 1024 * 1024)
for i = 1, 200 do provision.warn(s) end
