-- load without an env argument keeps the globals.
-- expect: exit=0
local f = assert(load("return print"))
f()("load kept _ENV")
local g = assert(load("return x", "chunk", "t", { x = 42 }))
assert(g() == 42)
