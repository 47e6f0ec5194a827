-- The one-time password lives in this process's memory: /proc/self is out of reach.
-- expect: exit=1 code=forbidden message="/proc"
-- within: 12
-- nothing-written
provision.createTenant{ slug = "hostile-proc", name = "Hostile" }
provision.createOwner{ email = "owner@hostile-proc.example.com" }
provision.linkMembership{ tenant = "hostile-proc", user = "owner@hostile-proc.example.com", role = "OWNER" }
local maps = io.open("/proc/self/maps")
for line in maps:lines() do provision.log(line) end
