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
    int host_depth;         // > 0 while a host function runs: its own pushes are never refused
    int memory_tripped;     // the script asked for more than `limit`
    void *refused_block;    // the last refused request, to recognise Lua's retry
    size_t refused_size;
    int time_tripped;       // the script ran past `deadline`
    double deadline;        // CLOCK_MONOTONIC seconds; 0: none
    int hook_count;         // instructions between deadline checks
    lua_State *main;        // the main thread, for installing the tripped hook
    void *host;             // the Swift host (unretained; it owns the state)
} ProvisionLimits;

/// Swift's side of every host call: returns the number of results, or -1 with the error
/// value on top of the stack (the trampoline raises it).
typedef int (*provision_dispatch_fn)(lua_State *L, int function_id);
/// Swift's side of `__gc` for userdata that box a Swift object.
typedef void (*provision_release_fn)(void *object);

void provision_set_dispatch(provision_dispatch_fn dispatch, provision_release_fn release);

/// A new state with a counting allocator bound to `limits`; NULL when out of memory.
lua_State *provision_newstate(ProvisionLimits *limits);
void provision_close(lua_State *L);
ProvisionLimits *provision_limits(lua_State *L);

/// Pushes a C closure that dispatches to Swift host function `function_id`.
void provision_push_hostfunction(lua_State *L, int function_id);

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
/// coroutine, os, io); the Lua prelude then removes what the sandbox forbids.
int provision_open_libraries(lua_State *L);

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
