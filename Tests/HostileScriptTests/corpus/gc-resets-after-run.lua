-- Finalizers that try to reissue or delete once the run is over: the state closes before
-- the commit, so each call raises "this run has already ended" inside its finalizer, no
-- password is issued that the operator would not see, and the Owner's one password is
-- shown once.
-- expect: exit=0
-- password-once
local p = require "provision"
local t = p.createTenant{ slug = "hostile-gc-reset", name = "Hostile GC Reset", supportEmail = "help@gc.example" }
local u = p.createOwner{ email = "owner@hostile-gc-reset.example" }
p.linkMembership{ tenant = t, user = u, role = "OWNER" }
setmetatable({}, { __gc = function()
  local ok, err = pcall(p.resetPassword, { email = "owner@hostile-gc-reset.example" })
  p.log("reset after run: " .. tostring(ok) .. " " .. tostring(err))
  p.deleteTenant{ slug = "hostile-gc-reset" }
end })
