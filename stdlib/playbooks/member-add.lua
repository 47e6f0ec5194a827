-- `provision member add --tenantSlug SLUG --email EMAIL --role ROLE`: a member for an
-- existing tenant. A new user gets a one-time password, revealed by the host after the
-- commit; an existing one is linked only with allowExistingUser. The tenant is looked
-- up first, so an unknown slug is not_found before any user is made.
local p = require "provision"
local v = p.vars

if not p.findTenant(v.tenantSlug) then
  error({ code = "not_found", field = "tenantSlug",
          message = "tenantSlug '" .. v.tenantSlug .. "': no tenant has this slug" }, 0)
end

local user = p.createUser{ email = v.email, name = v.name, allowExistingUser = v.allowExistingUser == "true" }
p.linkMembership{ tenant = v.tenantSlug, user = user, role = v.role }
