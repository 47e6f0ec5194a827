-- Two pilots with one Owner who belongs to both (the runbook's --allowExistingUser case).
-- Each pilot is a savepoint unit: if one fails (its slug is taken), the other still lands.
--   provision run scripts/playbooks/two-pilots-shared-owner.lua --var owner=ops@district.example.com
return {
  description = "Two pilots of one district with one Owner who belongs to both; each pilot lands or fails alone.",
  params = {
    { name = "owner", type = "string", default = "owner@district.example.com", help = "the shared Owner's email" },
  },
  run = function(p, args)
    local pilots = {
      { slug = "district-north", name = "District North" },
      { slug = "district-south", name = "District South" },
    }
    for _, pilot in ipairs(pilots) do
      local ok, err = p.transaction(function()
        local tenant = p.createTenant{
          slug = pilot.slug, name = pilot.name, timeZone = "America/Edmonton",
          supportEmail = "help@district.example.com",
        }
        -- The first pilot creates the Owner (with a one-time password); the second links them.
        local owner = p.createOwner{ email = args.owner, name = "District Owner", allowExistingUser = true }
        p.linkMembership{ tenant = tenant, user = owner, role = "OWNER" }
      end)
      if not ok then p.warn(pilot.slug .. " was not provisioned: " .. tostring(err)) end
    end
  end,
}
