-- A dry run that plans tenants without end: the run's records count against the limit.
-- expect: exit=1 code=limit_exceeded
-- flags: --maxMemoryMB 8 --dryRun
-- within: 60
-- max-rss-mb: 60
local i = 0
while true do
  i = i + 1
  provision.createTenant{ slug = ("plan-%d"):format(i), name = "Planned" }
end
