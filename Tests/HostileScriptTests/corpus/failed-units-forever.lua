-- Failing savepoint units without end: each failure is kept for the report, on the
-- script's account.
-- expect: exit=1 code=limit_exceeded
-- flags: --maxMemoryMB 8
-- within: 120
-- max-rss-mb: 60
while true do provision.transaction(function() error("no") end) end
