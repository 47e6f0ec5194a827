-- ctx.pass with a value whose __tostring never returns.
-- expect: exit=1 check=error
-- flags: --checkTimeout 2
-- within: 12
return {
  id = "hostile-tostring", title = "Hostile message",
  run = function(ctx)
    ctx.pass(setmetatable({}, { __tostring = function() while true do end end }))
  end,
}
