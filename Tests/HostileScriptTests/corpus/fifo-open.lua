-- Opening a FIFO for reading would block in C until a writer comes: refused at once.
-- expect: exit=1 code=forbidden message="not a regular file"
-- flags: --var fifo=@FIFO@
-- within: 12
local f = io.open(provision.vars.fifo)
f:read("a")
