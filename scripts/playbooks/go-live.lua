-- A single pilot's go-live, the runbook's staging example as a playbook.
--   provision run scripts/playbooks/go-live.lua --help
--   provision run scripts/playbooks/go-live.lua --dryRun
--   provision run scripts/playbooks/go-live.lua --var slug=pilot --var name=Pilot
return {
  description = "Provisions one pilot: its tenant, its Owner (with a one-time password) and the membership.",
  params = {
    { name = "slug", type = "string", default = "pilot-staging", help = "the tenant's slug" },
    { name = "name", type = "string", default = "Pilot Staging", help = "the tenant's display name" },
    { name = "timeZone", type = "string", default = "America/Edmonton", help = "an IANA time zone" },
    { name = "supportEmail", type = "string", help = "default: support@SLUG.example.com" },
    { name = "supportPhone", type = "string", default = "+1 555 123 4567" },
    { name = "ownerEmail", type = "string", help = "default: owner@SLUG.example.com" },
    { name = "ownerName", type = "string", default = "Pilot Owner" },
  },
  run = function(p, args)
    local tenant = p.createTenant{
      slug = args.slug,
      name = args.name,
      timeZone = args.timeZone,
      supportEmail = args.supportEmail or ("support@" .. args.slug .. ".example.com"),
      supportPhone = args.supportPhone,
    }
    local owner = p.createOwner{
      email = args.ownerEmail or ("owner@" .. args.slug .. ".example.com"),
      name = args.ownerName,
    }
    p.linkMembership{ tenant = tenant, user = owner, role = "OWNER" }
    p.log(("%s %s, owner %s"):format(p.dryRun() and "planned" or "provisioned", tenant.slug, owner.email))
  end,
}
