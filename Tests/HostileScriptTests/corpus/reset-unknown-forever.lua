-- Catches not_found from resetPassword without end: each failed call is its own unit and
-- leaves nothing behind, and the time limit still ends the run.
-- expect: exit=1 code=limit_exceeded message="--timeout"
-- flags: --timeout 2
-- within: 10
-- nothing-written
local p = require "provision"
local i = 0
while true do
  i = i + 1
  pcall(p.resetPassword, { email = "nobody-" .. i .. "@hostile.example" })
  pcall(p.deleteTenant, { slug = "nobody-" .. i })
end
