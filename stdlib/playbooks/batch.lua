-- `provision batch FILE.csv`: several pilots, one CSV row each (CONTRACT §2).
--
-- 1. Every row is checked before the database is touched; every problem is reported at
--    once as FILE:LINE: field: message, and one bad row refuses the whole file.
-- 2. The rows then run in one transaction, each row a savepoint unit: a row that fails
--    at the database is reported and rolled back alone (with stopOnError, the first
--    failure rolls back everything). With skipExisting, a row whose tenant already exists
--    with that owner as OWNER is reported unchanged, so a wave can be re-run.
--
-- The CLI passes vars: file, stopOnError, skipExisting, json ("true"/"false").
local p = require "provision"
local v = p.vars
local file = v.file

local COLUMNS = { "tenantSlug", "tenantName", "ownerEmail", "ownerName", "timeZone",
                  "supportEmail", "supportPhone", "allowExistingUser" }
local REQUIRED = { tenantSlug = true, tenantName = true, ownerEmail = true }
local TRUE = { ["true"] = true, yes = true, ["1"] = true }

local rows, info = p.readCSV(file)

local invalid, duplicates = {}, {}
local function report(list, line, field, message)
  -- Messages name their field already; say it once, in the field position.
  if message:sub(1, #field + 1) == field .. " " then message = message:sub(#field + 2) end
  list[#list + 1] = ("%s:%d: %s: %s"):format(file, line, field, message)
end

-- The header: the three required columns, and nothing we would silently ignore.
local known, present = {}, {}
for _, name in ipairs(COLUMNS) do known[name] = true end
for _, name in ipairs(info.header) do
  if not known[name] then
    report(invalid, 1, name, "unknown column; the columns are " .. table.concat(COLUMNS, ", "))
  end
  present[name] = true
end
for _, name in ipairs(COLUMNS) do
  if REQUIRED[name] and not present[name] then report(invalid, 1, name, "required column is missing") end
end
if #rows == 0 and #invalid == 0 then report(invalid, 1, "file", "has a header but no rows") end

local function cell(row, key)
  local value = row[key]
  if value == nil or value:match("^%s*$") then return nil end
  return value
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- Each row: its fields, then duplicates within the file.
local specs = {}
local slugLine, emailLine = {}, {}
for i, row in ipairs(rows) do
  local line = info.lines[i]
  local tenant = {
    slug = cell(row, "tenantSlug"), name = cell(row, "tenantName"), timeZone = cell(row, "timeZone"),
    supportEmail = cell(row, "supportEmail"), supportPhone = cell(row, "supportPhone"),
  }
  local owner = { email = cell(row, "ownerEmail"), name = cell(row, "ownerName"),
                  allowExistingUser = cell(row, "allowExistingUser") or "false" }
  local problems = p.validateTenant(tenant)
  for _, e in ipairs(p.validateOwner(owner)) do problems[#problems + 1] = e end
  for _, e in ipairs(problems) do report(invalid, line, e.field or "row", e.message) end

  -- Duplicates within the file, for every value that is itself valid.
  local bad = {}
  for _, e in ipairs(problems) do bad[e.field or "row"] = true end
  local allow = TRUE[trim(owner.allowExistingUser):lower()] == true
  owner.allowExistingUser = allow
  if not bad.tenantSlug then
    local slug = trim(tenant.slug)
    if slugLine[slug] then
      report(duplicates, line, "tenantSlug", ("'%s' is already provisioned by line %d of this file"):format(slug, slugLine[slug]))
    else
      slugLine[slug] = line
    end
  end
  if not bad.ownerEmail and not bad.allowExistingUser then
    local email = trim(owner.email):lower()
    if emailLine[email] and not allow then
      report(duplicates, line, "ownerEmail",
        ("'%s' is already the owner on line %d; set allowExistingUser to true on this row if one person owns both")
          :format(trim(owner.email), emailLine[email]))
    end
    emailLine[email] = emailLine[email] or line
  end
  if #problems == 0 then specs[#specs + 1] = { line = line, tenant = tenant, owner = owner } end
end

if #invalid > 0 or #duplicates > 0 then
  local all = {}
  for _, m in ipairs(invalid) do all[#all + 1] = m end
  for _, m in ipairs(duplicates) do all[#all + 1] = m end
  table.sort(all, function(a, b)
    local la, lb = tonumber(a:match(":(%d+):")), tonumber(b:match(":(%d+):"))
    return la < lb
  end)
  local summary = ("%s: %d problem%s in the file; nothing was written"):format(file, #all, #all == 1 and "" or "s")
  for _, m in ipairs(all) do p.log(m) end
  -- With --json the document carries them too: stdout must say what went wrong by itself.
  if v.json == "true" then summary = summary .. ":\n" .. table.concat(all, "\n") end
  error({ code = #invalid > 0 and "invalid_input" or "duplicate_in_batch", message = summary }, 0)
end

-- Hash the new Owners' one-time passwords on every core while the rows run.
if not p.dryRun() then
  local emails = {}
  for email in pairs(emailLine) do emails[#emails + 1] = email end
  local existing = p.query([[SELECT count(*) AS n FROM users
                             WHERE lower(email) = ANY (string_to_array($1, E'\n'))]], table.concat(emails, "\n"))
  p.prepareOneTimePasswords(#emails - existing[1].n)
end

local function alreadyProvisioned(spec)
  if v.skipExisting ~= "true" then return false end
  local ok, found = pcall(p.query, [[SELECT 1 FROM tenants t
                          JOIN memberships m ON m.tenant_id = t.id AND m.role = 'OWNER'
                          JOIN users u ON u.id = m.user_id
                          WHERE t.slug = $1 AND lower(u.email) = lower($2)]],
                        trim(spec.tenant.slug), trim(spec.owner.email))
  -- A dry run without a database has nothing to compare with (and says so).
  if not ok and type(found) == "table" and found.code == "database_unavailable" then return false end
  if not ok then error(found, 0) end
  return #found > 0
end

for i, spec in ipairs(specs) do
  p.progress(i - 1, #specs, trim(spec.tenant.slug))
  if alreadyProvisioned(spec) then
    p.markUnchanged{ tenant = trim(spec.tenant.slug), owner = trim(spec.owner.email) }
  else
    local ok, err = p.transaction(function()
      local ok, err = pcall(function()
        local tenant = p.createTenant(spec.tenant)
        local owner = p.createOwner(spec.owner)
        p.linkMembership{ tenant = tenant, user = owner, role = "OWNER" }
      end)
      if not ok then
        -- Name the row, keep the code: the report and the exit status use both.
        local code = type(err) == "table" and err.code or "playbook_error"
        local message = type(err) == "table" and err.message or tostring(err)
        error({ code = code, field = type(err) == "table" and err.field or nil,
                message = ("%s:%d: %s"):format(file, spec.line, message) }, 0)
      end
    end)
    if not ok and v.stopOnError == "true" then
      error({ code = err.code, field = err.field,
              message = err.message .. " (--stopOnError: the whole batch was rolled back)" }, 0)
    end
  end
end
p.progress(#specs, #specs, "done")
