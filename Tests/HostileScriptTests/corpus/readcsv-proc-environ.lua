-- readCSV of the process environment (which holds DATABASE_URL).
-- expect: exit=1 code=forbidden message="/proc"
-- within: 12
provision.log(provision.readCSV("/proc/self/environ"))
