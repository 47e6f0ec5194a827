#define _GNU_SOURCE
#include "LuaShims.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

static provision_release_fn swift_release = NULL;

void provision_set_release(provision_release_fn release) {
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

// MARK: Watchdog

// Each thread that runs script code has a slot holding the deadline of the script code
// it runs now (0 while host code or nothing runs); several states may run at once on
// several threads (a test process does). Hooks stop a script at its deadline in all but
// a few places: finalizers and message handlers run with hooks off, and a C function
// (pattern matching, a blocking read) runs no hook at all. The watchdog is the backstop
// for those: one second past a deadline it ends the process, which also rolls back the
// open transaction (the server aborts it when the connection goes away).
#define WATCH_SLOTS 256
static _Atomic double watched[WATCH_SLOTS];
static atomic_int watch_slots_used = 0;
static _Thread_local int watch_slot = -1;
static provision_fatal_fn fatal_handler = NULL;
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;
static const double watchdog_grace = 1.0;

static void fatal(int reason, const char *message) {
    if (fatal_handler) fatal_handler(reason, message);
    const char prefix[] = "provision: ";
    (void)!write(2, prefix, sizeof prefix - 1);
    (void)!write(2, message, strlen(message));
    (void)!write(2, "\n", 1);
    _exit(1);
}

static void *watchdog_main(void *unused) {
    (void)unused;
    const struct timespec tick = {0, 50 * 1000 * 1000};
    for (;;) {
        nanosleep(&tick, NULL);
        int used = atomic_load(&watch_slots_used);
        double now = monotonic_seconds();
        for (int slot = 0; slot < used && slot < WATCH_SLOTS; slot++) {
            double deadline = atomic_load(&watched[slot]);
            if (deadline > 0 && now > deadline + watchdog_grace) {
                fatal(PROVISION_FATAL_STUCK, "the script did not stop at its time limit");
            }
        }
    }
    return NULL;
}

static void watchdog_launch(void) {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attributes, 64 * 1024);
    // The watchdog must never take Ctrl-C or SIGTERM from the thread that handles them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    pthread_t thread;
    pthread_create(&thread, &attributes, watchdog_main, NULL);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    pthread_attr_destroy(&attributes);
}

void provision_watchdog_start(provision_fatal_fn handler) {
    if (handler) fatal_handler = handler;
    pthread_once(&watchdog_once, watchdog_launch);
}

/// Script code starts: watch its deadline; returns what was watched before. A deadline
/// already past (the script tripped it and runs again to unwind) counts from now: the
/// hook raises at its first instruction.
static double watch_begin(double deadline) {
    if (watch_slot == -1) {
        int slot = atomic_fetch_add(&watch_slots_used, 1);
        watch_slot = slot < WATCH_SLOTS ? slot : -2;  // past the last slot: unwatched
    }
    if (watch_slot < 0) return 0;
    if (deadline > 0) {
        double now = monotonic_seconds();
        if (deadline < now) deadline = now;
    }
    // Only this thread writes its slot, and the watchdog only reads it: a relaxed load
    // and store (no locked exchange, no fence) on every switch between host and script.
    double previous = atomic_load_explicit(&watched[watch_slot], memory_order_relaxed);
    atomic_store_explicit(&watched[watch_slot], deadline > 0 ? deadline : 0, memory_order_relaxed);
    return previous;
}

static void watch_end(double previous) {
    if (watch_slot >= 0) atomic_store_explicit(&watched[watch_slot], previous, memory_order_relaxed);
}

void provision_harden_process(void) {
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static int panic_handler(lua_State *L) {
    const char *message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "an error object";
    char text[512];
    snprintf(text, sizeof text, "the Lua state failed outside a protected call (%s)", message);
    fatal(PROVISION_FATAL_PANIC, text);
    return 0;
}

// MARK: Limits

static void tripped_hook(lua_State *L, lua_Debug *ar);

// Once a limit trips, every instruction of the thread raises again, so a script's pcall
// cannot swallow the error and carry on. Each thread arms itself the next time its count
// hook runs (coroutines have hooks of their own).
static void arm_tripped_hook(lua_State *L) {
    lua_sethook(L, tripped_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
}

static void trip_memory(ProvisionLimits *limits) {
    if (limits->memory_tripped) return;
    limits->memory_tripped = 1;
    limits->limit += 1 << 20;  // room for the error object and the unwinding
    if (limits->main) arm_tripped_hook(limits->main);
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
    if (nsize > old && !retry && limits->in_script) settle_refusal(limits);
    // Only script code is refused: the host's own pushes happen with the limit lifted (the
    // host checks the room for data it hands over before it does), so host code never
    // meets a memory error outside a protected call.
    if (limits->limit > 0 && nsize > old && limits->in_script
        && limits->used + limits->host_bytes + (nsize - old) > limits->limit) {
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

static void push_error(lua_State *L, const char *code, const char *message) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    if (luaL_getmetatable(L, "provision.error") == LUA_TTABLE) {
        lua_setmetatable(L, -2);
    } else {
        lua_pop(L, 1);
    }
}

// The words name no flag: the host that reports the run knows which limit applied.
static void tripped_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    ProvisionLimits *limits = provision_limits(L);
    push_error(L, "limit_exceeded", limits->memory_tripped ? "the script used more memory than its limit allows"
                                                           : "the script ran longer than its time limit allows");
    lua_error(L);
}

static void clock_hook(lua_State *L, lua_Debug *ar) {
    ProvisionLimits *limits = provision_limits(L);
    if (!limits->time_tripped && !limits->memory_tripped) {
        if (limits->deadline <= 0 || monotonic_seconds() < limits->deadline) return;
        limits->time_tripped = 1;
        if (limits->main) arm_tripped_hook(limits->main);
    }
    arm_tripped_hook(L);
    tripped_hook(L, ar);
}

lua_State *provision_newstate(ProvisionLimits *limits) {
    lua_State *L = lua_newstate(counting_alloc, limits);
    if (L == NULL) return NULL;
    *(ProvisionLimits **)lua_getextraspace(L) = limits;
    limits->main = L;
    if (limits->hook_count <= 0) limits->hook_count = 1000;
    lua_atpanic(L, panic_handler);
    // Generational collection: a fleet's checks make a context, a tenant and rows for
    // every tenant, all short-lived beside the stdlib, which a minor collection does not
    // traverse again. Limits are unchanged: a refused allocation still runs a full
    // collection before the limit trips (counting_alloc).
    lua_gc(L, LUA_GCGEN, 0, 0);
    // New coroutines inherit the hook of the thread that creates them.
    lua_sethook(L, clock_hook, LUA_MASKCOUNT, limits->hook_count);
    return L;
}

void provision_close(lua_State *L, double seconds) {
    ProvisionLimits *limits = provision_limits(L);
    limits->ended = 1;
    // Pending __close handlers and finalizers are the script's code: its memory limit
    // holds, and a short deadline (hooks for __close, the watchdog for finalizers).
    limits->in_script = 1;
    limits->deadline = monotonic_seconds() + (seconds > 0 ? seconds : 2.0);
    double previous = watch_begin(limits->deadline);
    lua_close(L);
    watch_end(previous);
    limits->main = NULL;
}

void provision_start_clock(lua_State *L, double seconds) {
    ProvisionLimits *limits = provision_limits(L);
    limits->deadline = seconds > 0 ? monotonic_seconds() + seconds : 0;
}

// MARK: Host and script code

// Host code runs with the limit lifted and the collector stopped (so no finalizer, which
// is the script's code, runs inside a host function with the host's allowances); script
// code runs with both in force. These two switch between them.

typedef struct Mode {
    int in_script;
    int gc_held;
    double watched;
} Mode;

static Mode enter_host(lua_State *L, ProvisionLimits *limits) {
    Mode saved = {limits->in_script, limits->gc_held, 0};
    limits->in_script = 0;
    limits->gc_held = 0;
    // Whether the collector runs is known without asking Lua (collectgarbage keeps
    // `script_stopped_gc`): one call to stop it and one to restart it are all a host call
    // pays. Inside a finalizer, where Lua stops the collector itself, both are no-ops.
    if (!limits->script_stopped_gc) {
        lua_gc(L, LUA_GCSTOP);
        limits->gc_held = 1;
    }
    saved.watched = watch_begin(0);  // host code is bounded by its own timeouts
    return saved;
}

static void leave_host(lua_State *L, ProvisionLimits *limits, Mode saved) {
    if (limits->gc_held) lua_gc(L, LUA_GCRESTART);
    limits->in_script = saved.in_script;
    limits->gc_held = saved.gc_held;
    watch_end(saved.watched);
}

static Mode enter_script(lua_State *L, ProvisionLimits *limits, double deadline) {
    Mode saved = {limits->in_script, limits->gc_held, 0};
    if (limits->gc_held) {
        lua_gc(L, LUA_GCRESTART);
        limits->gc_held = 0;
    }
    limits->in_script = 1;
    saved.watched = watch_begin(deadline);
    return saved;
}

static void leave_script(lua_State *L, ProvisionLimits *limits, Mode saved) {
    settle_refusal(limits);
    // Back in host code, the collector is held whatever it was before the script ran: a
    // script that found it stopped (by itself) may have restarted it, and a finalizer
    // must never run inside host code. Only a collector the script left stopped stays as
    // the script set it.
    if (!saved.in_script && !limits->script_stopped_gc) {
        lua_gc(L, LUA_GCSTOP);
        limits->gc_held = 1;
    } else {
        limits->gc_held = 0;
    }
    limits->in_script = saved.in_script;
    watch_end(saved.watched);
}

// MARK: Trampolines

static int host_trampoline(lua_State *L) {
    ProvisionLimits *limits = provision_limits(L);
    if (limits->ended) {
        // A finalizer at close or a coroutine kept past the run: the host objects behind
        // the functions may be gone, so nothing of the host runs.
        push_error(L, "playbook_error", "this run has already ended; its host functions can no longer be called");
        return lua_error(L);
    }
    const ProvisionHostEntry *entry = lua_touserdata(L, lua_upvalueindex(1));
    Mode saved = enter_host(L, limits);
    int results = entry->call(L, entry->object);
    leave_host(L, limits, saved);
    if (results < 0) return lua_error(L);  // Swift has returned: raising is safe here.
    return results;
}

void provision_push_hostfunction(lua_State *L, ProvisionHostEntry *entry) {
    lua_pushlightuserdata(L, entry);
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
    Mode saved = enter_script(L, limits, limits->deadline);
    int status = lua_pcall(L, nargs, nresults, base);
    leave_script(L, limits, saved);
    lua_remove(L, base);
    return status;
}

static int collect_garbage(lua_State *L) {
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}

int provision_collect_garbage(lua_State *L) {
    // A full cycle, as the script's own code: finalizers run under its limits, and an
    // error in one stays inside this protected call.
    lua_pushcfunction(L, collect_garbage);
    return provision_pcall(L, 0, 0);
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
    double saved_deadline = limits->deadline;
    double soon = monotonic_seconds() + 2.0;
    int shortened = limits->deadline <= 0 || limits->deadline > soon;
    if (shortened) limits->deadline = soon;
    int was_tripped = limits->time_tripped;
    lua_pushcfunction(L, tostring_helper);
    lua_pushvalue(L, index);
    Mode saved = enter_script(L, limits, limits->deadline);
    int status = lua_pcall(L, 1, 1, 0);
    leave_script(L, limits, saved);
    if (!was_tripped && limits->time_tripped && shortened) limits->tostring_tripped = 1;
    if (!limits->time_tripped) limits->deadline = saved_deadline;
    if (status == LUA_OK && lua_type(L, -1) == LUA_TSTRING) return 1;
    lua_pop(L, 1);
    lua_pushfstring(L, "(a %s value whose __tostring failed)", luaL_typename(L, index));
    return 0;
}

int provision_load_text(lua_State *L, const char *buffer, size_t length, const char *chunkname) {
    return luaL_loadbufferx(L, buffer, length, chunkname, "t");
}

// Inside a finalizer, Lua 5.4.4 and later ignore lua_gc (it returns -1), which the
// switches into host code and collectgarbage's tracking rely on.
#if LUA_VERSION_RELEASE_NUM < 50404
#error "provision needs Lua 5.4.4 or later"
#endif

// collectgarbage as the script sees it: Lua's, and afterwards whether the script has left
// the collector stopped (the host's switch into host code relies on knowing it).
static int collectgarbage_tracked(lua_State *L) {
    int arguments = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, arguments, LUA_MULTRET);
    int running = lua_gc(L, LUA_GCISRUNNING);  // -1 inside a finalizer: nothing changed
    if (running >= 0) provision_limits(L)->script_stopped_gc = running == 0;
    return lua_gettop(L);
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
    lua_getglobal(L, "collectgarbage");
    lua_pushcclosure(L, collectgarbage_tracked, 1);
    lua_setglobal(L, "collectgarbage");
    // A script that could reach the file handles' metatable could give them a Lua __gc.
    if (luaL_getmetatable(L, LUA_FILEHANDLE) == LUA_TTABLE) {
        lua_pushliteral(L, "file handle");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
    return 0;
}

int provision_open_libraries(lua_State *L) {
    lua_pushcfunction(L, open_libraries);
    return lua_pcall(L, 0, 0, 0);
}

// MARK: Files

int provision_open_regular_file(const char *path) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return -1;
    struct stat status;
    if (fstat(fd, &status) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (!S_ISREG(status.st_mode)) {
        close(fd);
        return PROVISION_OPEN_NOT_REGULAR;
    }
    struct statfs system;
    if (fstatfs(fd, &system) != 0) {
        close(fd);
        return PROVISION_OPEN_KERNEL_FS;
    }
    switch ((unsigned long)system.f_type) {
    case 0x9fa0:      // proc: /proc/self/mem, /proc/self/environ, /dev/stdin
    case 0x62656572:  // sysfs
    case 0x64626720:  // debugfs
    case 0x73636673:  // securityfs
    case 0x74726163:  // tracefs
    case 0xcafe4a11:  // bpf
    case 0x6e736673:  // nsfs
    case 0x27e0eb:    // cgroup
    case 0x63677270:  // cgroup2
    case 0x62656570:  // configfs
    case 0x65735543:  // fusectl
    case 0x6165676c:  // pstore
    case 0xde5e81e4:  // efivarfs
    case 0x42494e4d:  // binfmt_misc
    case 0xf97cff8c:  // selinuxfs
    case 0x67596969:  // rpc_pipefs
    case 0x1cd1:      // devpts
        close(fd);
        return PROVISION_OPEN_KERNEL_FS;
    default:
        break;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

static int close_stream(lua_State *L) {
    luaL_Stream *stream = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    int result = fclose(stream->f);
    return luaL_fileresult(L, result == 0, NULL);
}

// io.open(path) for reading: a file handle of the io library, for regular files only.
static int sandbox_open(lua_State *L) {
    size_t length;
    const char *path = luaL_checklstring(L, 1, &length);
    if (strlen(path) != length) {
        push_error(L, "invalid_input", "io.open: the path contains a NUL byte");
        return lua_error(L);
    }
    luaL_Stream *stream = (luaL_Stream *)lua_newuserdatauv(L, sizeof(luaL_Stream), 0);
    stream->closef = NULL;  // not yet a file: a collection before fdopen closes nothing
    luaL_setmetatable(L, LUA_FILEHANDLE);
    int fd = provision_open_regular_file(path);
    if (fd == PROVISION_OPEN_NOT_REGULAR || fd == PROVISION_OPEN_KERNEL_FS) {
        lua_pushfstring(L, fd == PROVISION_OPEN_NOT_REGULAR
                            ? "io.open: %s is not a regular file (a FIFO, device, socket or folder); playbooks read regular files only"
                            : "io.open: %s is in /proc, /sys or another kernel file system, which playbooks may not read",
                        path);
        push_error(L, "forbidden", lua_tostring(L, -1));
        return lua_error(L);
    }
    if (fd < 0) return luaL_fileresult(L, 0, path);
    stream->f = fdopen(fd, "r");
    if (stream->f == NULL) {
        int saved = errno;
        close(fd);
        errno = saved;
        return luaL_fileresult(L, 0, path);
    }
    stream->closef = close_stream;
    return 1;
}

static int sandbox_tripped(lua_State *L) {
    ProvisionLimits *limits = provision_limits(L);
    lua_pushboolean(L, limits->memory_tripped || limits->time_tripped);
    return 1;
}

void provision_push_sandbox_functions(lua_State *L) {
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, sandbox_open);
    lua_setfield(L, -2, "open");
    lua_pushcfunction(L, sandbox_tripped);
    lua_setfield(L, -2, "tripped");
}
