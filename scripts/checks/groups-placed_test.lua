-- Tests of the example check beside it (t.check finds it there): run them with
--   provision test scripts/checks

return {
  ["fails without groups"] = function(t)
    t.tenant{ slug = "empty" }
    local status, message = t.check("groups-placed", "empty")
    t.eq(status, "fail")
    t.match(message, "no groups yet")
  end,

  ["warns about a group without a center or a program, naming it"] = function(t)
    local tenant = t.tenant{ slug = "loose" }
    local center = t.center{ tenant = tenant }
    local program = t.program{ tenant = tenant }
    t.group{ tenant = tenant, name = "Placed", center = center, program = program }
    t.group{ tenant = tenant, name = "Adrift", center = center }
    local status, message = t.check("groups-placed", "loose")
    t.eq(status, "warn")
    t.eq(message, "1 of 2 groups lack a center or a program (first: Adrift): assign them in the Admin UI")
  end,

  ["passes when every group has both"] = function(t)
    local tenant = t.tenant{ slug = "placed" }
    t.group{ tenant = tenant, center = t.center{ tenant = tenant }, program = t.program{ tenant = tenant } }
    local status, message = t.check("groups-placed", "placed")
    t.eq(status, "pass")
    t.eq(message, "all 1 groups have a center and a program")
  end,
}
