-- /dev/stdin, a pipe: refused by its type before any read could block.
-- expect: exit=1 code=forbidden
-- within: 12
local f = io.open("/dev/stdin")
provision.log(f:read("a"))
