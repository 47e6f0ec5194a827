-- The runbook's `provision:tenant`, flag for flag, as a playbook over the primitives.
-- `provision tenant` validates its flags and passes them here as provision.vars; errors
-- name fields as the flags do (tenantSlug, ownerEmail, ...).
local p = require "provision"
local v = p.vars

local tenant = p.createTenant{
  slug = v.tenantSlug,
  name = v.tenantName,
  timeZone = v.timeZone,
  supportEmail = v.supportEmail,
  supportPhone = v.supportPhone,
}

local owner = p.createOwner{
  email = v.ownerEmail,
  name = v.ownerName,
  allowExistingUser = v.allowExistingUser == "true",
}

p.linkMembership{ tenant = tenant, user = owner, role = "OWNER" }
