-- The script stops the collector, runs a callback through the host (dryRun(fn)) and
-- restarts the collector inside it. The host must hold the collector again before its
-- own code resumes (here: pushing the plan's actions): a finalizer run inside host code
-- would have neither the memory limit nor the watchdog over it, and would hang the run
-- with its transaction open.
-- expect: exit=1 code=limit_exceeded message="did not stop at its time limit"
-- flags: --timeout 3
-- within: 15
-- nothing-written
provision.createTenant{ slug = "hostile-restart", name = "Hostile" }
collectgarbage("stop")
collectgarbage("generational")
for round = 1, 20 do
  provision.dryRun(function()
    for i = 1, 1000 do provision.createTenant{ slug = ("planned-%d-%d"):format(round, i), name = "Planned" } end
    collectgarbage("restart")
    setmetatable({}, { __gc = function() while true do end end })
  end)
  collectgarbage("stop")
end
