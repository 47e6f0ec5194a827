-- io.lines on a FIFO: refused like io.open.
-- expect: exit=1 code=forbidden message="not a regular file"
-- flags: --var fifo=@FIFO@
-- within: 12
for line in io.lines(provision.vars.fifo) do provision.log(line) end
