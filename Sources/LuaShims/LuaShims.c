#include "LuaShims.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static provision_dispatch_fn swift_dispatch = NULL;
static provision_release_fn swift_release = NULL;

void provision_set_dispatch(provision_dispatch_fn dispatch, provision_release_fn release) {
    swift_dispatch = dispatch;
    swift_release = release;
}

ProvisionLimits *provision_limits(lua_State *L) {
    return *(ProvisionLimits **)lua_getextraspace(L);
}

static double monotonic_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

// MARK: Limits

static void tripped_hook(lua_State *L, lua_Debug *ar);

// Once a limit trips, every instruction raises again, so a script's pcall cannot
// swallow the error and carry on.
static void arm_tripped_hook(ProvisionLimits *limits) {
    if (limits->main) lua_sethook(limits->main, tripped_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
}

static void trip_memory(ProvisionLimits *limits) {
    if (limits->memory_tripped) return;
    limits->memory_tripped = 1;
    limits->limit += 1 << 20;  // room for the error object and the unwinding
    arm_tripped_hook(limits);
}

// A refusal is final unless Lua asks again for the same block straight away, which it
// does after an emergency collection. When the next request for more memory is anything
// else, the refusal reached the script as an error (string buffers do not retry), and a
// script that swallows it with pcall must not carry on past its limit.
static void settle_refusal(ProvisionLimits *limits) {
    if (limits->refused_size != 0) {
        limits->refused_size = 0;
        trip_memory(limits);
    }
}

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    ProvisionLimits *limits = (ProvisionLimits *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        limits->used -= old;
        return NULL;
    }
    int retry = limits->refused_size != 0 && limits->refused_block == ptr && limits->refused_size == nsize;
    if (nsize > old && !retry) settle_refusal(limits);
    if (limits->limit > 0 && nsize > old && limits->host_depth == 0
        && limits->used + (nsize - old) > limits->limit) {
        if (retry) {
            limits->refused_size = 0;
            trip_memory(limits);
        } else {
            limits->refused_block = ptr;
            limits->refused_size = nsize;
        }
        return NULL;
    }
    if (retry) limits->refused_size = 0;
    void *block = realloc(ptr, nsize);
    if (block == NULL) return NULL;
    limits->used = limits->used - old + nsize;
    if (limits->used > limits->peak) limits->peak = limits->used;
    return block;
}

void provision_trip_memory_limit(lua_State *L) {
    trip_memory(provision_limits(L));
}

static void push_limit_error(lua_State *L, const char *message) {
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "limit_exceeded");
    lua_setfield(L, -2, "code");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    if (luaL_getmetatable(L, "provision.error") == LUA_TTABLE) {
        lua_setmetatable(L, -2);
    } else {
        lua_pop(L, 1);
    }
}

static void tripped_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    ProvisionLimits *limits = provision_limits(L);
    if (limits->memory_tripped) {
        push_limit_error(L, "the playbook used more memory than --maxMemoryMB allows");
    } else {
        push_limit_error(L, "the playbook ran longer than --timeout allows");
    }
    lua_error(L);
}

static void clock_hook(lua_State *L, lua_Debug *ar) {
    ProvisionLimits *limits = provision_limits(L);
    if (!limits->time_tripped && !limits->memory_tripped) {
        if (limits->deadline <= 0 || monotonic_seconds() < limits->deadline) return;
        limits->time_tripped = 1;
        arm_tripped_hook(limits);
        // Coroutines have hooks of their own: arm this thread too.
        lua_sethook(L, tripped_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
    }
    tripped_hook(L, ar);
}

lua_State *provision_newstate(ProvisionLimits *limits) {
    lua_State *L = lua_newstate(counting_alloc, limits);
    if (L == NULL) return NULL;
    *(ProvisionLimits **)lua_getextraspace(L) = limits;
    limits->main = L;
    if (limits->hook_count <= 0) limits->hook_count = 1000;
    // New coroutines inherit the hook of the thread that creates them.
    lua_sethook(L, clock_hook, LUA_MASKCOUNT, limits->hook_count);
    return L;
}

void provision_close(lua_State *L) {
    ProvisionLimits *limits = provision_limits(L);
    limits->host_depth++;
    lua_close(L);
    limits->main = NULL;
}

void provision_start_clock(lua_State *L, double seconds) {
    ProvisionLimits *limits = provision_limits(L);
    limits->deadline = seconds > 0 ? monotonic_seconds() + seconds : 0;
}

// MARK: Trampolines

static int host_trampoline(lua_State *L) {
    ProvisionLimits *limits = provision_limits(L);
    int function_id = (int)lua_tointegerx(L, lua_upvalueindex(1), NULL);
    limits->host_depth++;
    int results = swift_dispatch(L, function_id);
    limits->host_depth--;
    if (results < 0) return lua_error(L);  // Swift has returned: raising is safe here.
    return results;
}

void provision_push_hostfunction(lua_State *L, int function_id) {
    lua_pushinteger(L, function_id);
    lua_pushcclosure(L, host_trampoline, 1);
}

static int boxed_gc(lua_State *L) {
    void **slot = (void **)lua_touserdata(L, 1);
    if (slot != NULL && *slot != NULL && swift_release != NULL) {
        swift_release(*slot);
        *slot = NULL;
    }
    return 0;
}

void provision_push_boxed(lua_State *L, void *object) {
    void **slot = (void **)lua_newuserdatauv(L, sizeof(void *), 0);
    *slot = object;
    if (luaL_newmetatable(L, "provision.box")) {
        lua_pushcfunction(L, boxed_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "provision host object");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
}

// MARK: Protected calls

static int message_handler(lua_State *L) {
    // Keep the error value unchanged (a table stays a table); keep the traceback aside.
    // An error that a host function caught and raised again (dryRun's) keeps the
    // traceback of where it was first raised.
    lua_getfield(L, LUA_REGISTRYINDEX, "provision.reraised");
    if (!lua_isnil(L, -1) && lua_rawequal(L, -1, 1)) {
        lua_pop(L, 1);
        lua_getfield(L, LUA_REGISTRYINDEX, "provision.reraised_traceback");
    } else {
        lua_pop(L, 1);
        luaL_traceback(L, L, NULL, 1);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "provision.traceback");
    return 1;
}

void provision_keep_traceback_for_reraise(lua_State *L, int index) {
    index = lua_absindex(L, index);
    lua_getfield(L, LUA_REGISTRYINDEX, "provision.traceback");
    lua_setfield(L, LUA_REGISTRYINDEX, "provision.reraised_traceback");
    lua_pushvalue(L, index);
    lua_setfield(L, LUA_REGISTRYINDEX, "provision.reraised");
}

int provision_pcall(lua_State *L, int nargs, int nresults) {
    ProvisionLimits *limits = provision_limits(L);
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
    int saved_depth = limits->host_depth;
    limits->host_depth = 0;
    int status = lua_pcall(L, nargs, nresults, base);
    settle_refusal(limits);
    limits->host_depth = saved_depth;
    lua_remove(L, base);
    return status;
}

static int tostring_helper(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

int provision_safe_tostring(lua_State *L, int index) {
    index = lua_absindex(L, index);
    ProvisionLimits *limits = provision_limits(L);
    if (lua_type(L, index) == LUA_TSTRING) {
        lua_pushvalue(L, index);
        return 1;
    }
    // A __tostring is the script's code even when the host calls it: it runs under the
    // script's memory limit, and under a deadline even when the run has none.
    int saved_depth = limits->host_depth;
    double saved_deadline = limits->deadline;
    double soon = monotonic_seconds() + 2.0;
    if (limits->deadline <= 0 || limits->deadline > soon) limits->deadline = soon;
    limits->host_depth = 0;
    lua_pushcfunction(L, tostring_helper);
    lua_pushvalue(L, index);
    int status = lua_pcall(L, 1, 1, 0);
    settle_refusal(limits);
    limits->host_depth = saved_depth;
    if (!limits->time_tripped) limits->deadline = saved_deadline;
    if (status == LUA_OK && lua_type(L, -1) == LUA_TSTRING) return 1;
    lua_pop(L, 1);
    lua_pushfstring(L, "(a %s value whose __tostring failed)", luaL_typename(L, index));
    return 0;
}

int provision_load_text(lua_State *L, const char *buffer, size_t length, const char *chunkname) {
    return luaL_loadbufferx(L, buffer, length, chunkname, "t");
}

static int open_libraries(lua_State *L) {
    static const luaL_Reg allowed[] = {
        {LUA_GNAME, luaopen_base},
        {LUA_LOADLIBNAME, luaopen_package},
        {LUA_COLIBNAME, luaopen_coroutine},
        {LUA_TABLIBNAME, luaopen_table},
        {LUA_IOLIBNAME, luaopen_io},
        {LUA_OSLIBNAME, luaopen_os},
        {LUA_STRLIBNAME, luaopen_string},
        {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},
        {NULL, NULL},
    };
    for (const luaL_Reg *lib = allowed; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    return 0;
}

int provision_open_libraries(lua_State *L) {
    lua_pushcfunction(L, open_libraries);
    return lua_pcall(L, 0, 0, 0);
}
