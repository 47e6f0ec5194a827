#ifndef PROVISION_LUA_SHIMS_H
#define PROVISION_LUA_SHIMS_H

// The only C this project writes: static inline wrappers for Lua's function-like macros
// (which Swift cannot import), and the trampolines through which every call from Lua
// into Swift passes. Swift never calls lua_error: a host function returns a status, and
// the C trampoline raises after the Swift frames have returned, so Lua's longjmp never
// unwinds a Swift frame.

#include <stddef.h>
#include <lua5.4/lua.h>
#include <lua5.4/lualib.h>
#include <lua5.4/lauxlib.h>

// MARK: Limits, kept in the state's extra space.

typedef struct ProvisionLimits {
    size_t used;            // bytes the state holds now
    size_t peak;            // the most it ever held
    size_t limit;           // 0: no limit
    size_t host_bytes;      // bytes the host holds for the script (warnings, rows): charged to `limit`
    int in_script;          // 1 while script code runs; only then does `limit` refuse memory, so
                            // host code never meets an unprotected memory error
    int gc_held;            // the host stopped the collector while its own code runs
    int script_stopped_gc;  // the script stopped the collector (collectgarbage "stop")
    int memory_tripped;     // the script asked for more than `limit`
    void *refused_block;    // the last refused request, to recognise Lua's retry
    size_t refused_size;
    int time_tripped;       // the script ran past `deadline`
    int tostring_tripped;   // ... and the deadline was the one a host-called __tostring gets
    double deadline;        // CLOCK_MONOTONIC seconds; 0: none
    int hook_count;         // instructions between deadline checks
    int ended;              // the run is over: host functions raise instead of running
    lua_State *main;        // the main thread
    void *host;             // the Swift host (unretained; it owns the state)
} ProvisionLimits;

/// Swift's side of a host call, one C function per host function, given its (unretained)
/// Swift `object`: returns the number of results, or -1 with the error value on top of
/// the stack (the trampoline raises it).
typedef int (*provision_host_call)(lua_State *L, void *object);

/// One host function. The host owns the entry and keeps `object` alive for as long as
/// the state can call it; the trampoline's upvalue points at the entry.
typedef struct ProvisionHostEntry {
    provision_host_call call;
    void *object;
} ProvisionHostEntry;
/// Swift's side of `__gc` for userdata that box a Swift object.
typedef void (*provision_release_fn)(void *object);
/// Called (on any thread) when script code cannot be stopped or Lua panicked; must end
/// the process and never return.
typedef void (*provision_fatal_fn)(int reason, const char *message);

enum {
    PROVISION_FATAL_STUCK = 1,   // script code ran past its deadline where no hook could stop it
    PROVISION_FATAL_PANIC = 2,   // an error outside any protected call
};

void provision_set_release(provision_release_fn release);

/// Starts (once) the watchdog thread, a backstop independent of Lua's hooks: when script
/// code is still running a second after its deadline (a finalizer or message handler,
/// where hooks are off, or a long C call such as pattern matching), it calls `fatal`.
void provision_watchdog_start(provision_fatal_fn fatal);

/// Makes the process undumpable: other processes of the user cannot read its memory
/// and no core file holds a one-time password.
void provision_harden_process(void);

/// A new state with a counting allocator bound to `limits`; NULL when out of memory.
lua_State *provision_newstate(ProvisionLimits *limits);
/// Ends the run (host functions raise from now on), then closes the state: finalizers
/// and pending `__close` run under the memory limit and `seconds` of time, watched.
void provision_close(lua_State *L, double seconds);
ProvisionLimits *provision_limits(lua_State *L);

/// Pushes a C closure that calls the Swift host function behind `entry`.
void provision_push_hostfunction(lua_State *L, ProvisionHostEntry *entry);

/// Pushes a full userdata boxing `object` (a retained Swift pointer) whose `__gc`
/// releases it through the registered release function.
void provision_push_boxed(lua_State *L, void *object);

/// Marks the memory limit as exceeded (the host refused to hand the script more data than
/// the limit leaves room for) and arms the hook that fails the run.
void provision_trip_memory_limit(lua_State *L);

/// Starts the deadline (seconds from now; <= 0: none) and installs the count hook.
void provision_start_clock(lua_State *L, double seconds);

/// Calls the function below `nargs` arguments with the script's limits in force and a
/// message handler that keeps the error value unchanged and stores a traceback in the
/// registry (`provision.traceback`). Returns the lua_pcall status.
int provision_pcall(lua_State *L, int nargs, int nresults);

/// A full garbage-collection cycle run as script code (finalizers under the state's
/// limits, with the clock `provision_start_clock` started), in a protected call. The host
/// holds the collector while its own code runs, and what it allocates then (a check's
/// `ctx`, a tenant's table) adds no debt: a state whose scripts allocate little would
/// otherwise never collect it. Returns the pcall status.
int provision_collect_garbage(lua_State *L);

/// Before a host function raises again an error it caught from provision_pcall: the
/// message handler will then keep the traceback of where the error was first raised.
void provision_keep_traceback_for_reraise(lua_State *L, int index);

/// Pushes a string for the value at `index` without ever raising: `__tostring` runs
/// under lua_pcall, and a failing one yields a description instead. Returns 1 when the
/// value converted normally, 0 when the fallback was used.
int provision_safe_tostring(lua_State *L, int index);

/// Loads a text chunk (binary chunks refused); returns the luaL_loadbufferx status.
int provision_load_text(lua_State *L, const char *buffer, size_t length, const char *chunkname);

/// Opens the allow-listed standard libraries (base, package, string, table, math, utf8,
/// coroutine, os, io) and protects the file handle metatable; the Lua prelude then
/// removes what the sandbox forbids.
int provision_open_libraries(lua_State *L);

/// Pushes a table of the C functions the sandbox prelude builds on: `open` (io.open for
/// regular files only, never /proc or /sys, never blocking) and `tripped` (has a limit
/// tripped: message handlers then step aside).
void provision_push_sandbox_functions(lua_State *L);

enum {
    PROVISION_OPEN_NOT_REGULAR = -2,   // a FIFO, device, socket or folder
    PROVISION_OPEN_KERNEL_FS = -3,     // /proc, /sys and other kernel file systems
};
/// Opens `path` for reading if it is a regular file on an ordinary file system, without
/// ever blocking (a FIFO is refused, not waited on). Returns a descriptor, -1 with errno,
/// or one of the PROVISION_OPEN_ refusals.
int provision_open_regular_file(const char *path);

// MARK: Macro wrappers

static inline void provision_lua_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void provision_lua_newtable(lua_State *L) { lua_newtable(L); }
static inline int provision_lua_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline int provision_lua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline void provision_lua_insert(lua_State *L, int index) { lua_insert(L, index); }
static inline void provision_lua_remove(lua_State *L, int index) { lua_remove(L, index); }
static inline void provision_lua_replace(lua_State *L, int index) { lua_replace(L, index); }
static inline int provision_lua_isnoneornil(lua_State *L, int index) { return lua_isnoneornil(L, index); }
static inline int provision_lua_isnil(lua_State *L, int index) { return lua_isnil(L, index); }
static inline int provision_lua_istable(lua_State *L, int index) { return lua_istable(L, index); }
static inline int provision_lua_isfunction(lua_State *L, int index) { return lua_isfunction(L, index); }
static inline lua_Number provision_lua_tonumber(lua_State *L, int index) { return lua_tonumberx(L, index, NULL); }
static inline lua_Integer provision_lua_tointeger(lua_State *L, int index) { return lua_tointegerx(L, index, NULL); }
static inline const char *provision_lua_tolstring(lua_State *L, int index, size_t *length) { return lua_tolstring(L, index, length); }
static inline void *provision_lua_getextraspace(lua_State *L) { return lua_getextraspace(L); }
static inline int provision_lua_getregistryfield(lua_State *L, const char *key) { return lua_getfield(L, LUA_REGISTRYINDEX, key); }
static inline void provision_lua_setregistryfield(lua_State *L, const char *key) { lua_setfield(L, LUA_REGISTRYINDEX, key); }
static inline int provision_lua_pcall(lua_State *L, int nargs, int nresults, int msgh) { return lua_pcall(L, nargs, nresults, msgh); }

#endif
