-- One huge log line: the host's copy must fit in what the limit leaves.
-- expect: exit=1 code=limit_exceeded
-- flags: --maxMemoryMB 32
-- within: 20
-- max-rss-mb: 90
local s = string.rep("x", 20 * 1024 * 1024)
provision.log(s, s, s)
