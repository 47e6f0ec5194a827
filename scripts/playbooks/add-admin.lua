-- Adds an ADMIN to an existing tenant, creating the user if needed.
--   provision run scripts/playbooks/add-admin.lua -- pilot-staging admin@pilot-staging.example.com "Pilot Admin"
local p = require "provision"
local slug, email, name = ...
if not slug or not email then
  error({ code = "invalid_input", message = "usage: provision run add-admin.lua -- SLUG EMAIL [NAME]" })
end

local tenant = p.findTenant(slug)
if not tenant then
  error({ code = "not_found", field = "slug", message = "tenant '" .. slug .. "' does not exist" })
end
local user = p.createOwner{ email = email, name = name, allowExistingUser = true }
local membership = p.linkMembership{ tenant = tenant, user = user, role = "ADMIN" }
p.log(("%s is now %s of %s%s"):format(user.email, membership.role, tenant.slug,
  user.created and " (new user: one-time password below)" or ""))
