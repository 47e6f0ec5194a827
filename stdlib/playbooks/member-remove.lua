-- `provision member remove --tenantSlug SLUG --email EMAIL`: the membership goes, the
-- user stays; the primitive refuses to remove the last OWNER (last_owner).
local p = require "provision"

p.removeMember{ tenant = p.vars.tenantSlug, user = p.vars.email }
