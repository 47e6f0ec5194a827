-- Tests of the built-in go-live checks (stdlib/checks/), run by `provision test` (and by
-- scripts/test). Each test builds the tenant it needs with fixtures, in a transaction
-- that is always rolled back, and asks one check for its verdict.

return {
  ["owner-membership fails without an OWNER and passes with one"] = function(t)
    t.tenant{ slug = "no-owner" }
    local status, message = t.check("owner-membership", "no-owner")
    t.eq(status, "fail")
    t.match(message, "no OWNER")

    local owned = t.tenant{ slug = "owned", owner = "owner@owned.example" }
    t.eq(owned.owner.email, "owner@owned.example")
    t.eq(t.check("owner-membership", "owned"), "pass")
  end,

  ["owner-password warns while pending, fails once expired, passes once changed"] = function(t)
    t.tenant{ slug = "pending", owner = { email = "p@pending.example", password = "pending" } }
    local status, message = t.check("owner-password", "pending")
    t.eq(status, "warn")
    t.match(message, "has not replaced the one%-time password yet")

    t.tenant{ slug = "expired", owner = { email = "e@expired.example", password = "expired" } }
    status, message = t.check("owner-password", "expired")
    t.eq(status, "fail")
    t.match(message, "provision reset%-password %-%-email e@expired%.example", "names the reset command")

    t.tenant{ slug = "changed", owner = { email = "c@changed.example", password = "changed" } }
    t.eq(t.check("owner-password", "changed"), "pass")
  end,

  ["catalog names what is missing until a center, level, program and group exist"] = function(t)
    local tenant = t.tenant{ slug = "catalog", owner = "o@catalog.example" }
    local status, message = t.check("catalog", "catalog")
    t.eq(status, "fail")
    t.match(message, "missing centers, levels, programs, groups")

    local center = t.center{ tenant = tenant }
    t.level{ tenant = tenant }
    local program = t.program{ tenant = tenant }
    status, message = t.check("catalog", "catalog")
    t.eq(status, "fail")
    t.eq(message, "missing groups: create them in the Admin UI")

    t.group{ tenant = tenant, center = center, program = program }
    status, message = t.check("catalog", "catalog")
    t.eq(status, "pass")
    t.eq(message, "1 center, 1 level, 1 program, 1 group")
  end,

  ["portal-access needs a student linked to a parent with a portal login"] = function(t)
    local tenant = t.tenant{ slug = "portal-test", owner = "o@portal.example" }
    t.eq(t.check("portal-access", "portal-test"), "fail")

    local student = t.student{ tenant = tenant, name = "Sam Student" }
    local parent = t.parent{ tenant = tenant, name = "Pat Parent", email = "pat@portal.example" }
    local _, message = t.check("portal-access", "portal-test")
    t.match(message, "no student is linked to a parent")

    t.link{ student = student, parent = parent }
    _, message = t.check("portal-access", "portal-test")
    t.match(message, "no linked parent has a portal login")

    local login = t.user{ email = "login@portal.example", password = "changed" }
    local invited = t.parent{ tenant = tenant, name = "Ivy Invited", user = login }
    t.link{ student = student, parent = invited }
    t.eq(t.check("portal-access", "portal-test"), "pass")
  end,

  ["support-contact warns without a support email or phone"] = function(t)
    t.tenant{ slug = "no-support" }
    t.eq(t.check("support-contact", "no-support"), "warn")
    t.tenant{ slug = "with-support", supportPhone = "+1 555 123 4567" }
    local status, message = t.check("support-contact", "with-support")
    t.eq(status, "pass")
    t.eq(message, "+1 555 123 4567")
  end,

  ["time-zone passes with a tenant zone, or with one on every center"] = function(t)
    t.tenant{ slug = "zoned", timeZone = "America/Edmonton" }
    t.eq(t.check("time-zone", "zoned"), "pass")

    local tenant = t.tenant{ slug = "centers" }
    t.eq(t.check("time-zone", "centers"), "warn", "no zone anywhere")
    t.center{ tenant = tenant, timeZone = "America/Toronto" }
    t.eq(t.check("time-zone", "centers"), "pass")
    t.center{ tenant = tenant, name = "No zone" }
    local status, message = t.check("time-zone", "centers")
    t.eq(status, "warn")
    t.match(message, "1 of 2 centers have no time zone")
  end,
}
