-- `provision update --tenantSlug SLUG ...`: changes an existing tenant's settings
-- (CONTRACT §12). The CLI validates its flags and passes the settings given as vars;
-- `clear` is a comma-separated list of the settings to empty. Errors name the flags.
local p = require "provision"
local v = p.vars

local clear = {}
for field in (v.clear or ""):gmatch("[^,]+") do clear[#clear + 1] = field end

p.updateTenant{
  tenant = v.tenantSlug,
  name = v.tenantName,
  timeZone = v.timeZone,
  supportEmail = v.supportEmail,
  supportPhone = v.supportPhone,
  clear = clear,
}
