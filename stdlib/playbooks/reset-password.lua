-- `provision reset-password --email EMAIL`: a new one-time password for an existing user
-- whose password was lost, expired unused or never delivered. The host reveals it after
-- the commit, exactly as for a new Owner; errors name the flag (email).
local p = require "provision"

p.resetPassword{ email = p.vars.email }
