-- expect: exit=1 code=limit_exceeded message="did not stop at its time limit"
-- flags: --checkTimeout 1
-- within: 12
return {
  id = "hostile-pattern", title = "Hostile pattern",
  run = function(ctx)
    string.find(string.rep("a", 40000), ".-.-.-.-.-.-.-.-.-b")
    ctx.pass("unreachable")
  end,
}
