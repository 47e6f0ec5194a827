-- The same attack with every refusal swallowed: the run commits, and the password
-- appears once, on stdout after the commit, never in what the playbook logged.
-- expect: exit=0
-- password-once
local p = provision
p.createTenant{ slug = "hostile-scan", name = "Hostile" }
p.createOwner{ email = "owner@hostile-scan.example.com" }
p.linkMembership{ tenant = "hostile-scan", user = "owner@hostile-scan.example.com", role = "OWNER" }
for _, path in ipairs{ "/proc/self/mem", "/proc/self/maps", "/proc/self/environ", "/dev/stdin",
                       "/proc/self/fd/0", "/proc/self/task", "/sys/kernel/mm" } do
  local ok, err = pcall(io.open, path)
  p.log(path, ok, tostring(err))
  local ok2, err2 = pcall(p.readCSV, path)
  p.log(path, ok2, tostring(err2))
end
p.log("getenv", pcall(os.getenv, "DATABASE_URL"))
