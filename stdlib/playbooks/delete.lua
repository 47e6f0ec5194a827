-- `provision delete --tenantSlug SLUG`: the safe delete of a tenant provisioned by
-- mistake. The primitive refuses a tenant in use (platform rows, a member who logged in);
-- errors name the flag (tenantSlug).
local p = require "provision"

p.deleteTenant{ slug = p.vars.tenantSlug }
