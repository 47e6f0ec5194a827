-- expect: exit=1 check=error message="limit"
-- flags: --checkTimeout 2
-- within: 12
return {
  id = "hostile-xpcall", title = "Hostile message handler",
  run = function(ctx)
    xpcall(function() while true do end end, function() while true do end end)
    ctx.pass("unreachable")
  end,
}
