-- Pattern matching runs in C, where no hook runs: the watchdog ends it.
-- expect: exit=1 code=limit_exceeded message="did not stop at its time limit"
-- flags: --timeout 1
-- within: 12
-- nothing-written
provision.createTenant{ slug = "hostile-pattern", name = "Hostile" }
string.find(string.rep("a", 40000), ".-.-.-.-.-.-.-.-.-b")
