import CLua
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LuaShims
import ProvisionCore

/// The allow-list sandbox (CONTRACT §5), written in Lua and run once per state before
/// any script. The libraries opened are already an allow-list (no debug); this removes
/// or replaces what remains dangerous, keeping the originals only as upvalues.
enum Sandbox {
    enum Kind: String {
        /// Operators' playbooks: io for reading files, os.getenv.
        case playbook
        /// Go-live checks: no io, no os.getenv.
        case check
    }

    /// Called with (searcher, kind, host) where host holds the C functions `open` and
    /// `tripped`; returns the error metatable.
    static let prelude = #"""
    local searcher, kind, host = ...
    local rawget, setmetatable, error, tostring, type, load, select = rawget, setmetatable, error, tostring, type, load, select

    -- Protected: a script that could change it would run its code wherever the host
    -- converts an error (and could give host errors a finalizer).
    local errmt = { __name = "provision.error", __metatable = "provision.error" }
    errmt.__tostring = function(e)
      return tostring(rawget(e, "code")) .. ": " .. tostring(rawget(e, "message"))
    end

    local function refuse(what)
      return function()
        error(setmetatable({ code = "forbidden", message = what .. " is not available to " .. kind .. "s" }, errmt), 2)
      end
    end

    -- base: text chunks only, no files loaded behind require's back
    dofile = refuse("dofile")
    loadfile = refuse("loadfile")
    -- Text chunks only; an absent env keeps the chunk's own _ENV (load's 4th argument
    -- counts even when nil).
    _G.load = function(chunk, chunkname, _, ...)
      if select("#", ...) > 0 then return load(chunk, chunkname, "t", (...)) end
      return load(chunk, chunkname, "t")
    end
    string.dump = nil

    -- A message handler runs with hooks off when a limit's error reaches it; once a limit
    -- has tripped, handlers step aside so no handler can outlast the limit.
    local xpcall, tripped = xpcall, host.tripped
    _G.xpcall = function(f, handler, ...)
      return xpcall(f, function(e)
        if tripped() then return e end
        return handler(e)
      end, ...)
    end

    -- os: the clock and the environment, nothing that acts
    local os = os
    local getenv = os.getenv
    local secrets = { DATABASE_URL = true, PGPASSWORD = true, PGPASSFILE = true }
    local safe_os = {
      time = os.time, clock = os.clock, date = os.date, difftime = os.difftime,
      getenv = function(name)
        if secrets[name] then
          error(setmetatable({ code = "forbidden",
            message = "os.getenv: " .. tostring(name) .. " holds the database password and is withheld from playbooks; use provision.query for the database" }, errmt), 2)
        end
        return getenv(name)
      end,
      exit = refuse("os.exit"), execute = refuse("os.execute"), remove = refuse("os.remove"),
      rename = refuse("os.rename"), tmpname = refuse("os.tmpname"), setlocale = refuse("os.setlocale"),
    }
    if kind == "check" then safe_os.getenv = refuse("os.getenv") end
    _G.os = safe_os
    package.loaded.os = safe_os

    -- io: reading files only
    if kind == "check" then
      local none = setmetatable({}, { __index = function(_, key) refuse("io." .. tostring(key))() end })
      _G.io = none
      package.loaded.io = none
    else
      -- Regular files only (never /proc, /sys, a FIFO or a device: the process's own
      -- memory and descriptors are out of reach, and no read can block).
      local io = io
      local open, iotype = host.open, io.type
      local function safe_open(path, mode)
        mode = mode or "r"
        if mode ~= "r" and mode ~= "rb" then
          error(setmetatable({ code = "forbidden",
            message = "io.open: playbooks may only read files (mode \"r\"), not \"" .. tostring(mode) .. "\"" }, errmt), 2)
        end
        return open(path)
      end
      local safe_io = {
        open = safe_open,
        lines = function(path, ...)
          if path == nil then refuse("io.lines() on standard input")() end
          local file, message = safe_open(path)
          if not file then error(message, 2) end
          local next_line = file:lines(...)
          local function closing(...)
            if (...) == nil then file:close() end
            return ...
          end
          return function() return closing(next_line()) end, nil, nil, file
        end,
        type = iotype,
        popen = refuse("io.popen"), write = refuse("io.write"), output = refuse("io.output"),
        tmpfile = refuse("io.tmpfile"), input = refuse("io.input"), read = refuse("io.read"),
      }
      _G.io = safe_io
      package.loaded.io = safe_io
    end

    -- package: require finds text files in the playbook's folder and stdlib/ only
    package.loadlib = refuse("package.loadlib")
    package.cpath = ""
    package.path = ""
    package.searchpath = nil
    package.searchers = { package.searchers[1], searcher }
    for name in pairs(package.loaded) do
      if name ~= "_G" and name ~= "string" and name ~= "table" and name ~= "math" and name ~= "utf8"
         and name ~= "coroutine" and name ~= "os" and name ~= "io" and name ~= "package" then
        package.loaded[name] = nil
      end
    end
    return errmt
    """#
}

extension LuaState {
    /// Runs the prelude for `kind` with a `require` searcher confined to `searchRoots`,
    /// and keeps the error metatable in the registry for host errors.
    func installSandbox(_ kind: Sandbox.Kind, searchRoots: [URL]) throws(ProvisionError) {
        try load(Array(Sandbox.prelude.utf8), chunkName: "=sandbox", code: .playbookError)
        pushFunction("searcher", searcher(roots: searchRoots))
        stack.push(kind.rawValue)
        provision_push_sandbox_functions(L)
        guard call(arguments: 3, results: 1) == LUA_OK else {
            let message = stack.describe(-1)
            throw ProvisionError(.playbookError, "the sandbox could not be set up: \(message)")
        }
        provision_lua_setregistryfield(L, "provision.error")
    }

    /// `require`'s searcher: text files under the given folders only.
    private func searcher(roots: [URL]) -> HostBody {
        { [unowned self] stack in
            guard let name = stack.lossyString(at: 1) else { return 0 }
            let parts = name.split(separator: ".", omittingEmptySubsequences: false)
            guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }) else {
                stack.push("\n\tmodule name '\(name)' is not allowed (letters, digits, _ and - between dots)")
                return 1
            }
            let relative = parts.joined(separator: "/")
            var tried: [String] = []
            for root in roots {
                for candidate in ["\(relative).lua", "\(relative)/init.lua"] {
                    let file = root.appendingPathComponent(candidate)
                    tried.append(file.path)
                    guard FileManager.default.fileExists(atPath: file.path) else { continue }
                    let data = try RegularFile.read(file.path, field: "require", maxBytes: self.room)
                    try self.load(data, chunkName: "@" + file.path, code: .playbookError)
                    self.functions.requiredFiles.append((file.path, data))
                    stack.push(file.path)
                    return 2
                }
            }
            stack.push(tried.map { "\n\tno file '\($0)'" }.joined())
            return 1
        }
    }
}
