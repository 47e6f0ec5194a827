-- A single pilot's go-live, the runbook's staging example as a playbook.
--   provision run scripts/playbooks/go-live.lua --dryRun
--   provision run scripts/playbooks/go-live.lua --var slug=pilot --var name=Pilot
local p = require "provision"
local slug = p.vars.slug or "pilot-staging"

local tenant = p.createTenant{
  slug = slug,
  name = p.vars.name or "Pilot Staging",
  timeZone = p.vars.timeZone or "America/Edmonton",
  supportEmail = p.vars.supportEmail or ("support@" .. slug .. ".example.com"),
  supportPhone = p.vars.supportPhone or "+1 555 123 4567",
}
local owner = p.createOwner{
  email = p.vars.ownerEmail or ("owner@" .. slug .. ".example.com"),
  name = p.vars.ownerName or "Pilot Owner",
}
p.linkMembership{ tenant = tenant, user = owner, role = "OWNER" }
p.log(("%s %s, owner %s"):format(p.dryRun() and "planned" or "provisioned", tenant.slug, owner.email))
