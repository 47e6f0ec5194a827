-- expect: exit=1 check=error message="MB"
-- flags: --checkTimeout 30
-- within: 40
return {
  id = "hostile-coroutine", title = "Hostile coroutine",
  run = function(ctx)
    coroutine.wrap(function()
      pcall(string.rep, "x", 512 * 1024 * 1024)
      while true do pcall(string.rep, "y", 1024) end
    end)()
    ctx.pass("unreachable")
  end,
}
