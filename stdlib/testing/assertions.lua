-- The assertions of `provision test`, added to each test's `t`. A failed assertion
-- reports the test file's line (not this file's) and fails the test even when the test
-- catches the error it raises.
return function(t, fail)
  local function show(value, depth)
    depth = depth or 0
    if type(value) == "string" then return string.format("%q", value) end
    if type(value) ~= "table" or depth > 2 then return tostring(value) end
    local keys = {}
    for key in next, value do keys[#keys + 1] = key end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for i, key in ipairs(keys) do
      if i > 8 then parts[#parts + 1] = "…"; break end
      parts[#parts + 1] = (type(key) == "string" and key or "[" .. show(key) .. "]") .. " = " .. show(rawget(value, key), depth + 1)
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end

  local function same(a, b, seen)
    if a == b then return true end
    if type(a) ~= "table" or type(b) ~= "table" then return false end
    seen = seen or {}
    if seen[a] == b then return true end
    seen[a] = b
    for key, value in next, a do
      if not same(value, rawget(b, key), seen) then return false end
    end
    for key in next, b do
      if rawget(a, key) == nil then return false end
    end
    return true
  end

  local function prefix(message) return message and (tostring(message) .. ": ") or "" end

  --- Fails unless `actual` equals `expected` (tables compared key by key).
  function t.eq(actual, expected, message)
    if not same(actual, expected) then
      fail(prefix(message) .. "expected " .. show(expected) .. ", got " .. show(actual), 2)
    end
  end

  --- Fails unless `value` is true (anything but false and nil).
  function t.ok(value, message)
    if not value then fail(message or ("expected a true value, got " .. show(value)), 2) end
  end

  --- Fails unless `text` contains a match of the Lua pattern `pattern`.
  function t.match(text, pattern, message)
    if type(text) ~= "string" or not string.find(text, pattern) then
      fail(prefix(message) .. "expected text matching " .. show(pattern) .. ", got " .. show(text), 2)
    end
  end

  --- Calls fn(...), which must raise an error (with `code`, when given); returns the error.
  function t.fails(fn, code, ...)
    local ok, err = pcall(fn, ...)
    if ok then
      fail("expected an error" .. (code and (" with code " .. code) or "") .. ", but the call returned", 2)
    end
    if code and (type(err) ~= "table" or err.code ~= code) then
      fail("expected an error with code " .. code .. ", got " .. show(type(err) == "table" and err.code or err), 2)
    end
    return err
  end

  --- Fails the test with `message`.
  function t.fail(message)
    fail(message and tostring(message) or "failed", 2)
  end
end
