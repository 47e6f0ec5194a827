-- The runbook's `provision:tenant`, flag for flag, as a playbook over the primitives.
-- `provision tenant` validates its flags and passes them here as provision.vars; errors
-- name fields as the flags do (tenantSlug, ownerEmail, ...).
local p = require "provision"
local v = p.vars

local spec = {
  slug = v.tenantSlug,
  name = v.tenantName,
  timeZone = v.timeZone,
  supportEmail = v.supportEmail,
  supportPhone = v.supportPhone,
}

-- --skipExisting: a re-run reports a tenant already provisioned with this Owner as
-- unchanged, or as differing field by field, and changes nothing. --update: such a
-- tenant converges to the flags instead; one with another Owner differs.
if (v.skipExisting == "true" or v.update == "true")
   and p.keepExisting{ tenant = spec, owner = { email = v.ownerEmail, name = v.ownerName }, update = v.update == "true" } then
  return
end

local tenant = p.createTenant(spec)

local owner = p.createOwner{
  email = v.ownerEmail,
  name = v.ownerName,
  allowExistingUser = v.allowExistingUser == "true",
}

p.linkMembership{ tenant = tenant, user = owner, role = "OWNER" }
