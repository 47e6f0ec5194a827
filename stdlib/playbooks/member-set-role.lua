-- `provision member set-role --tenantSlug SLUG --email EMAIL --role ROLE`: a member's
-- new role; the primitive refuses to leave the tenant without an OWNER (last_owner).
local p = require "provision"

p.setRole{ tenant = p.vars.tenantSlug, user = p.vars.email, role = p.vars.role }
