-- `provision batch FILE.csv`: several pilots, one CSV row each (CONTRACT §2).
--
-- `provision.batch` does the work in the core: it checks every row before the database
-- is touched (one bad row refuses the file, every problem reported at once with its
-- line), then runs the rows in this run's transaction, each row a savepoint unit, with
-- progress on stderr. With stopOnError the rows stop at the first failure, which this
-- playbook raises so the whole batch rolls back.
--
-- The CLI passes vars: file, stopOnError, skipExisting, update ("true"/"false").
local p = require "provision"
local v = p.vars

local outcomes = p.batch{ file = v.file, stopOnError = v.stopOnError == "true", skipExisting = v.skipExisting == "true",
                         update = v.update == "true" }

local last = outcomes[#outcomes]
if v.stopOnError == "true" and last and last.status == "failed" then
  local err = last.error
  error({ code = err.code, field = err.field,
          message = err.message .. " (--stopOnError: the whole batch was rolled back)" }, 0)
end
