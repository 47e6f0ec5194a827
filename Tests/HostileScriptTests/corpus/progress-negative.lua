-- expect: exit=2 code=invalid_input
-- within: 12
provision.progress(-5, 3)
