-- Counts the ETA arithmetic cannot hold.
-- expect: exit=2 code=invalid_input
-- within: 12
provision.progress(1, math.maxinteger)
