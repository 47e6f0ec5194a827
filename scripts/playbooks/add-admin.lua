-- Adds an ADMIN to an existing tenant, creating the user if needed.
--   provision run scripts/playbooks/add-admin.lua --help
--   provision run scripts/playbooks/add-admin.lua --var slug=pilot-staging --var email=admin@pilot-staging.example.com --var name="Pilot Admin"
return {
  description = "Adds an ADMIN to an existing tenant, creating the user (with a one-time password) if needed.",
  params = {
    { name = "slug", type = "string", required = true, help = "the tenant's slug" },
    { name = "email", type = "string", required = true, help = "the ADMIN's login email" },
    { name = "name", type = "string", help = "the ADMIN's display name, for a new user" },
  },
  run = function(p, args)
    local tenant = p.findTenant(args.slug)
    if not tenant then
      error({ code = "not_found", field = "slug", message = "tenant '" .. args.slug .. "' does not exist" })
    end
    local user = p.createOwner{ email = args.email, name = args.name, allowExistingUser = true }
    local membership = p.linkMembership{ tenant = tenant, user = user, role = "ADMIN" }
    p.log(("%s is now %s of %s%s"):format(user.email, membership.role, tenant.slug,
      user.created and " (new user: one-time password below)" or ""))
  end,
}
