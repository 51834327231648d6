/* lua_workers.c: the worker pool behind DataLoader{num_workers = N} (lua/lunet/data/workers.lua
 * drives it). The pool forks N worker processes from the loader's process, so every worker
 * inherits the dataset, the transforms and the whole Lua state without serialization; each
 * worker runs a Lua function under lua_pcall and leaves with _exit, never returning into the
 * parent's script. Batches come back through shared memory, as PyTorch's workers do: every
 * worker owns `nslots` memfd slots (the loader says which slot a task writes), writes the
 * collated batch there and sends a 32-byte header on its socket; the loader copies the
 * tensors out and reuses the slot.
 *
 *   local P = core.workers.pool(2, 2)            -- 2 workers, 2 slots each
 *   P:start(function(w) ... P:recv() ... P:put(b, slot, meta, {t1, t2}) ... end, 1)
 *   P:send(0, task_string)                       -- loader -> worker 0
 *   local kind, meta, tensors = P:take(0, b, timeout_s)   -- "ok" | "error" | "intr" | "timeout" | "dead"
 *   P:stop()                                     -- SIGTERM, SIGKILL after 1 s, waitpid; also __gc/__close
 *
 * Processes, not threads with their own Lua states: fork() shares the dataset, its transforms
 * and every closure with no serialization (Lua values cannot cross states); OpenBLAS keeps one
 * thread count per process, so single-threaded workers beside a multithreaded training thread
 * need processes of their own; and the core had process-global scratch buffers and caches
 * when the workers were written (one context per Lua state since). Children die with
 * the parent (PR_SET_PDEATHSIG: also when it ends with exit() and no lua_close), take
 * SIGINT/SIGTERM with the default action, and exit with
 * _exit (no atexit handlers, no lua_close, no leak check of the parent's heap). The OpenMP
 * team's workers (csrc/lt_omp.c) do not survive fork, so they are joined with
 * omp_pause_resource_all before forking (the child also forgets the team in a pthread_atfork
 * handler); the parent's next parallel region starts new threads. */
#define _GNU_SOURCE
#include "lt_lua.h"
#include "lt_workers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define POOL_MT "lunet.WorkerPool"
#define MAX_WORKERS 256
#define MAX_SLOTS 64
#define MAX_TASK ((uint32_t)1 << 30)

typedef struct wk {
    pid_t pid;     /* > 0 while running and not reaped */
    int sock;      /* the loader's end of the socket pair */
    int csock;     /* the worker's end (closed in the loader once forked) */
    int status;    /* wait status once reaped */
    int ended;     /* reaped */
} wk;

typedef struct pool {
    pid_t owner;   /* the process that made the pool; nothing else may stop it */
    int n, nslots, self, started, stopped;
    wk *w;         /* n workers, inside this userdata */
    lt_shm *slot;  /* n * nslots slots, inside this userdata */
} pool;

/* Batch header, worker -> loader. status 0: a batch, 1: an error message. */
typedef struct {
    int64_t batch, status, slot;
    uint64_t nbytes;
} header;

/* One tensor in a slot: dtype, dims, where its bytes are (from the slot's start). */
typedef struct {
    int32_t dtype, ndim;
    int64_t size[LT_MAXDIM];
    uint64_t offset, nbytes;
} record;

enum { SLOT_HEAD = 16 };   /* uint64 meta_len, uint64 ntensors; records; meta; data */

/* The Lua state's pools, in a weak-keyed registry table, so a new worker can close the
 * descriptors of every other pool of its state (the core keeps no process-wide data). */
static const char *const POOLS_KEY = "lunet.worker_pools";

static void push_pools(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, POOLS_KEY) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, POOLS_KEY);
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Stops every worker (SIGTERM, then SIGKILL after grace_ms), reaps them, closes everything.
 * Only the owner acts; in a forked child the copy of a pool is inert. Idempotent. */
static void pool_stop(pool *p) {
    if (p->stopped || p->owner != getpid()) return;
    p->stopped = 1;
    pid_t pids[MAX_WORKERS];
    int st[MAX_WORKERS];
    for (int i = 0; i < p->n; i++) {
        close_fd(&p->w[i].sock);    /* a worker waiting for a task sees EOF */
        close_fd(&p->w[i].csock);
        pids[i] = p->w[i].ended ? 0 : p->w[i].pid;
        st[i] = p->w[i].status;
    }
    lt_proc_stop(pids, st, p->n, 1000);
    for (int i = 0; i < p->n; i++) {
        if (p->w[i].pid > 0 && !p->w[i].ended) {
            p->w[i].ended = 1;
            p->w[i].status = st[i];
        }
    }
    for (int i = 0; i < p->n * p->nslots; i++) lt_shm_close(&p->slot[i]);
}

static pool *checkpool(lua_State *L, int idx) {
    return (pool *)luaL_checkudata(L, idx, POOL_MT);
}

/* The loader's side of a live pool. */
static pool *checkowner(lua_State *L, const char *fn) {
    pool *p = checkpool(L, 1);
    if (p->owner != getpid()) lt_lua_error(L, "%s: this worker pool belongs to another process", fn);
    if (p->stopped) lt_lua_error(L, "%s: the worker pool was stopped", fn);
    return p;
}

static int checkworker(lua_State *L, pool *p, int idx, const char *fn) {
    lua_Integer w = luaL_checkinteger(L, idx);
    if (w < 0 || w >= p->n)
        lt_lua_error(L, "%s: worker id %I is outside 0..%I", fn, (lua_Integer)w, (lua_Integer)(p->n - 1));
    return (int)w;
}

/* pool(n, nslots) -> pool: n socket pairs and n * nslots empty memfds, no process yet. */
static int l_pool(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1), ns = luaL_checkinteger(L, 2);
    if (n < 1 || n > MAX_WORKERS)
        return lt_lua_error(L, "DataLoader: num_workers must be in 1..%d, got %I", MAX_WORKERS, (lua_Integer)n);
    if (ns < 1 || ns > MAX_SLOTS)
        return lt_lua_error(L, "DataLoader: prefetch_factor must be in 1..%d, got %I", MAX_SLOTS, (lua_Integer)ns);
    /* one block: the pool, the workers, the slots (each part 16-byte aligned) */
    size_t woff = (sizeof(pool) + 15) / 16 * 16;
    size_t soff = (woff + (size_t)n * sizeof(wk) + 15) / 16 * 16;
    size_t bytes = soff + (size_t)(n * ns) * sizeof(lt_shm);
    pool *p = (pool *)lua_newuserdatauv(L, bytes, 0);
    memset(p, 0, bytes);
    p->owner = getpid();
    p->n = (int)n;
    p->nslots = (int)ns;
    p->self = -1;
    p->w = (wk *)(void *)((char *)p + woff);
    p->slot = (lt_shm *)(void *)((char *)p + soff);
    for (int i = 0; i < p->n; i++) {
        p->w[i].pid = 0;
        p->w[i].sock = p->w[i].csock = -1;
        p->w[i].status = 0;
        p->w[i].ended = 0;
    }
    for (int i = 0; i < p->n * p->nslots; i++) lt_shm_init(&p->slot[i]);
    luaL_setmetatable(L, POOL_MT);   /* from here __gc cleans up whatever was made */
    push_pools(L);
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    for (int i = 0; i < p->n; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            int e = errno;
            pool_stop(p);
            return lt_lua_error(L, "DataLoader: cannot make a socket pair for worker %d: %s", i, strerror(e));
        }
        p->w[i].sock = sv[0];
        p->w[i].csock = sv[1];
    }
    for (int i = 0; i < p->n * p->nslots; i++) {
        if (lt_shm_create(&p->slot[i]) != LT_OK) {
            int e = errno;
            pool_stop(p);
            return lt_lua_error(L, "DataLoader: cannot make a shared-memory slot (memfd_create): %s", strerror(e));
        }
    }
    return 1;
}

/* In a new worker: keep only its own socket end and slots; every other descriptor of every
 * pool of the state is closed (so a worker's death shows as EOF to the loader), and no pool
 * is ours. (Pools of other Lua states in the process, if any, stay open here; the loader
 * also polls its workers for life, so a death is still seen.) */
static void child_detach(lua_State *L, pool *own, int self) {
    push_pools(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        pool *q = (pool *)luaL_testudata(L, -1, POOL_MT);
        if (!q) continue;
        for (int i = 0; i < q->n; i++) {
            int keep = q == own && i == self;
            close_fd(&q->w[i].sock);
            if (!keep) close_fd(&q->w[i].csock);
            q->w[i].pid = 0;
            q->w[i].ended = 1;
            for (int k = 0; k < q->nslots; k++)
                if (!keep) lt_shm_close(&q->slot[i * q->nslots + k]);
        }
    }
    lua_pop(L, 1);
}

static void child_main(lua_State *L, pool *p, int self, pid_t parent, int threads) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);   /* the parent died before prctl */
    signal(SIGINT, SIG_DFL);             /* Ctrl-C reaches the whole process group */
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    child_detach(L, p, self);
    p->self = self;
    lt_context *ctx = lt_lua_ctx(L);
    lt_ctx_set_num_threads(ctx, threads);
    /* The loader's cached storage blocks are shared copy-on-write: writing into them here
     * would copy every page, and keep the loader's own writes copying too. */
    lt_ctx_cache_empty(ctx);
    lua_pushvalue(L, 2);
    lua_pushinteger(L, self);
    int rc = lua_pcall(L, 1, 0, 0);
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "lunet DataLoader worker %d: %s\n", self, msg ? msg : "(error object is not a string)");
    }
    fflush(stdout);
    fflush(stderr);
    _exit(rc == LUA_OK ? 0 : 1);
}

/* pool:start(fn, threads): forks the workers; each runs fn(worker_id) with `threads`
 * compute threads and then exits. Returns nothing in the loader. */
static int p_start(lua_State *L) {
    const char *fn = "DataLoader";
    pool *p = checkowner(L, fn);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_Integer threads = luaL_checkinteger(L, 3);
    if (p->started) return lt_lua_error(L, "%s: the worker pool was already started", fn);
    if (threads < 1 || threads > 4096)
        return lt_lua_error(L, "%s: worker_threads must be in 1..4096, got %I", fn, (lua_Integer)threads);
    p->started = 1;
    fflush(NULL);   /* buffered output would otherwise be written again by each child */
#ifdef _OPENMP
    omp_pause_resource_all(omp_pause_hard);
#endif
    pid_t parent = getpid();
    for (int i = 0; i < p->n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            int e = errno;
            pool_stop(p);
            return lt_lua_error(L, "%s: cannot start worker %d: fork failed: %s", fn, i, strerror(e));
        }
        if (pid == 0) child_main(L, p, i, parent, (int)threads);
        p->w[i].pid = pid;
    }
    for (int i = 0; i < p->n; i++) close_fd(&p->w[i].csock);
    return 0;
}

/* pool:send(w, msg) -> true | nil, reason: one task (a length-prefixed string) to worker w. */
static int p_send(lua_State *L) {
    const char *fn = "DataLoader";
    pool *p = checkowner(L, fn);
    int w = checkworker(L, p, 2, fn);
    size_t len;
    const char *s = luaL_checklstring(L, 3, &len);
    if (len > MAX_TASK) return lt_lua_error(L, "%s: a task of %I bytes is too large", fn, (lua_Integer)len);
    uint32_t n = (uint32_t)len;
    if (p->w[w].sock < 0 || lt_io_send(p->w[w].sock, &n, sizeof n) != LT_IO_OK ||
        lt_io_send(p->w[w].sock, s, len) != LT_IO_OK) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Records a worker as ended (reaping it, briefly waiting when its socket closed first). */
static void mark_ended(pool *p, int w, int wait_ms) {
    wk *k = &p->w[w];
    if (k->ended || k->pid <= 0) return;
    int64_t end = lt_now_ms() + wait_ms;
    int st;
    for (;;) {
        if (lt_proc_poll(k->pid, &st)) {
            k->ended = 1;
            k->status = st;
            return;
        }
        if (lt_now_ms() >= end) break;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    pid_t one = k->pid;
    lt_proc_stop(&one, &st, 1, 0);
    k->ended = 1;
    k->status = st;
}

static int push_dead(lua_State *L, pool *p, int w) {
    char buf[160];
    lt_proc_describe(p->w[w].status, buf, sizeof buf);
    lua_pushliteral(L, "dead");
    lua_pushstring(L, buf);
    return 2;
}

/* Reads a batch slot into a meta string and a list of new tensors; every count and offset
 * is checked against the slot, so a corrupt slot raises instead of reading past it. */
static int push_batch(lua_State *L, const unsigned char *m, uint64_t nbytes, const char *fn) {
    uint64_t meta_len, nt;
    if (nbytes < SLOT_HEAD) return lt_lua_error(L, "%s: corrupt batch from a worker (%I bytes)", fn, (lua_Integer)nbytes);
    memcpy(&meta_len, m, 8);
    memcpy(&nt, m + 8, 8);
    if (nt > (uint64_t)1 << 20 || SLOT_HEAD + nt * sizeof(record) > nbytes ||
        meta_len > nbytes - SLOT_HEAD - nt * sizeof(record))
        return lt_lua_error(L, "%s: corrupt batch from a worker (%I tensors, %I meta bytes in %I)", fn,
                            (lua_Integer)nt, (lua_Integer)meta_len, (lua_Integer)nbytes);
    lua_pushliteral(L, "ok");
    lua_pushlstring(L, (const char *)m + SLOT_HEAD + nt * sizeof(record), (size_t)meta_len);
    lua_createtable(L, (int)nt, 0);
    for (uint64_t i = 0; i < nt; i++) {
        record r;
        memcpy(&r, m + SLOT_HEAD + i * sizeof(record), sizeof r);
        int64_t numel = 1, bytes;
        int ok = r.dtype >= 0 && r.dtype <= LT_UINT8 && r.ndim >= 0 && r.ndim <= LT_MAXDIM;
        for (int d = 0; ok && d < r.ndim; d++) ok = r.size[d] >= 0 && !lt_mul_ovf(numel, r.size[d], &numel);
        ok = ok && !lt_mul_ovf(numel, (int64_t)lt_dtype_size((lt_dtype)r.dtype), &bytes) &&
             (uint64_t)bytes == r.nbytes && r.offset <= nbytes && r.nbytes <= nbytes - r.offset;
        if (!ok) return lt_lua_error(L, "%s: corrupt tensor %I in a batch from a worker", fn, (lua_Integer)(i + 1));
        lt_tensor *t = lt_lua_newtensor_uninit(L, (lt_dtype)r.dtype, r.ndim, r.size, fn);
        if (r.nbytes) memcpy(lt_data(t), m + r.offset, (size_t)r.nbytes);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    return 3;
}

/* pool:take(w, b [, timeout_s]) waits for batch b from worker w:
 *   "ok", meta, {tensors}  |  "error", message  |  "intr" (a signal: call again)  |
 *   "timeout"  |  "dead", "was killed by signal 9 (Killed)". */
static int p_take(lua_State *L) {
    const char *fn = "DataLoader";
    pool *p = checkowner(L, fn);
    int w = checkworker(L, p, 2, fn);
    lua_Integer want = luaL_checkinteger(L, 3);
    lua_Number timeout = luaL_optnumber(L, 4, 0);
    wk *k = &p->w[w];
    if (k->ended || k->sock < 0) return push_dead(L, p, w);
    int64_t start = lt_now_ms();
    for (;;) {
        int slice = 250;   /* how often a silent worker is checked for life */
        if (timeout > 0) {
            int64_t left = (int64_t)(timeout * 1000.0) - (lt_now_ms() - start);
            if (left <= 0) {
                lua_pushliteral(L, "timeout");
                return 1;
            }
            if (left < slice) slice = (int)left;
        }
        lt_io_result r = lt_io_wait(k->sock, slice);
        if (r == LT_IO_INTR) {
            lua_pushliteral(L, "intr");
            return 1;
        }
        if (r == LT_IO_ERR) return lt_lua_error(L, "%s: waiting for worker %d: %s", fn, w, strerror(errno));
        if (r == LT_IO_OK) break;
        int st;
        if (lt_proc_poll(k->pid, &st)) {
            k->ended = 1;
            k->status = st;
            return push_dead(L, p, w);
        }
    }
    header h;
    lt_io_result r = lt_io_recv(k->sock, &h, sizeof h);
    if (r != LT_IO_OK) {
        mark_ended(p, w, 2000);
        return push_dead(L, p, w);
    }
    if (h.batch != want || h.slot < 0 || h.slot >= p->nslots || (h.status != 0 && h.status != 1))
        return lt_lua_error(L, "%s: worker %d sent batch %I (slot %I, status %I) where batch %I was due", fn, w,
                            (lua_Integer)h.batch, (lua_Integer)h.slot, (lua_Integer)h.status, want);
    lt_shm *s = &p->slot[w * p->nslots + h.slot];
    if (h.nbytes > (uint64_t)INT64_MAX || lt_shm_map(s, (size_t)h.nbytes) != LT_OK)
        return lt_lua_error(L, "%s: cannot map the %I-byte batch of worker %d: %s", fn, (lua_Integer)h.nbytes, w,
                            strerror(errno));
    if (h.status == 1) {
        lua_pushliteral(L, "error");
        lua_pushlstring(L, (const char *)s->map, (size_t)h.nbytes);
        return 2;
    }
    return push_batch(L, s->map, h.nbytes, fn);
}

/* ---- the worker's side ---- */

static pool *checkself(lua_State *L, const char *fn) {
    pool *p = checkpool(L, 1);
    if (p->self < 0) lt_lua_error(L, "%s: only a worker process can do this", fn);
    return p;
}

/* pool:recv() -> the next task string, or nil when the loader closed the socket. */
static int p_recv(lua_State *L) {
    pool *p = checkself(L, "DataLoader worker");
    int fd = p->w[p->self].csock;
    uint32_t n;
    if (fd < 0 || lt_io_recv(fd, &n, sizeof n) != LT_IO_OK || n > MAX_TASK) {
        lua_pushnil(L);
        return 1;
    }
    luaL_Buffer b;
    char *buf = luaL_buffinitsize(L, &b, n);
    if (lt_io_recv(fd, buf, n) != LT_IO_OK) {
        luaL_pushresultsize(&b, 0);
        lua_pushnil(L);
        return 1;
    }
    luaL_pushresultsize(&b, n);
    return 1;
}

/* Pushes true, or false when the loader is gone (it stopped the pool): the worker then ends. */
static int send_header(lua_State *L, pool *p, lua_Integer batch, lua_Integer slot, int status, uint64_t nbytes) {
    header h;
    h.batch = batch;
    h.slot = slot;
    h.status = status;
    h.nbytes = nbytes;
    lua_pushboolean(L, lt_io_send(p->w[p->self].csock, &h, sizeof h) == LT_IO_OK);
    return 1;
}

static lt_shm *checkslot(lua_State *L, pool *p, int idx, const char *fn) {
    lua_Integer k = luaL_checkinteger(L, idx);
    if (k < 0 || k >= p->nslots)
        lt_lua_error(L, "%s: slot %I is outside 0..%I", fn, (lua_Integer)k, (lua_Integer)(p->nslots - 1));
    return &p->slot[p->self * p->nslots + k];
}

/* pool:put(b, slot, meta, {tensors}) -> true | false: writes batch b into the slot and tells
 * the loader (false: the loader closed the socket). */
static int p_put(lua_State *L) {
    const char *fn = "DataLoader worker";
    pool *p = checkself(L, fn);
    lua_Integer batch = luaL_checkinteger(L, 2);
    lt_shm *s = checkslot(L, p, 3, fn);
    size_t meta_len;
    const char *meta = luaL_checklstring(L, 4, &meta_len);
    luaL_checktype(L, 5, LUA_TTABLE);
    lua_Integer nt = luaL_len(L, 5);
    if (nt < 0 || nt > ((lua_Integer)1 << 20)) return lt_lua_error(L, "%s: %I tensors in one batch", fn, nt);
    /* layout: head, records, meta, then each tensor 64-byte aligned */
    int64_t off;
    if (lt_mul_ovf(nt, (int64_t)sizeof(record), &off) || lt_add_ovf(off, SLOT_HEAD, &off) ||
        lt_add_ovf(off, (int64_t)meta_len, &off))
        return lt_lua_error(L, "%s: batch too large", fn);
    for (lua_Integer i = 1; i <= nt; i++) {
        lua_geti(L, 5, i);
        lt_tensor *t = lt_lua_checktensor(L, -1, fn, "batch tensor");
        int64_t bytes;
        if (lt_mul_ovf(lt_numel(t), (int64_t)lt_dtype_size(t->dtype), &bytes) || lt_add_ovf(off, 63, &off))
            return lt_lua_error(L, "%s: batch too large", fn);
        off = off / 64 * 64;
        if (lt_add_ovf(off, bytes, &off)) return lt_lua_error(L, "%s: batch too large", fn);
        lua_pop(L, 1);
    }
    lt_status st = lt_shm_reserve(s, (size_t)off);
    if (st != LT_OK)
        return lt_lua_error(L, "%s: cannot grow a shared-memory slot to %I bytes: %s", fn, (lua_Integer)off,
                            strerror(errno));
    uint64_t u = meta_len, n = (uint64_t)nt;
    memcpy(s->map, &u, 8);
    memcpy(s->map + 8, &n, 8);
    int64_t data = SLOT_HEAD + nt * (int64_t)sizeof(record);
    memcpy(s->map + data, meta, meta_len);
    data += (int64_t)meta_len;
    for (lua_Integer i = 1; i <= nt; i++) {
        lua_geti(L, 5, i);
        lt_tensor *t = lt_lua_checktensor(L, -1, fn, "batch tensor");
        data = (data + 63) / 64 * 64;
        record r;
        memset(&r, 0, sizeof r);
        r.dtype = (int32_t)t->dtype;
        r.ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) r.size[d] = t->size[d];
        r.offset = (uint64_t)data;
        r.nbytes = (uint64_t)(lt_numel(t) * (int64_t)lt_dtype_size(t->dtype));
        memcpy(s->map + SLOT_HEAD + (i - 1) * (lua_Integer)sizeof(record), &r, sizeof r);
        /* the slot as a contiguous tensor over borrowed memory: lt_copy takes any strides */
        lt_storage fake;
        memset(&fake, 0, sizeof fake);
        fake.data = s->map + data;
        fake.nbytes = fake.capacity = (size_t)r.nbytes;
        fake.refcount = 1;
        lt_tensor dst;
        memset(&dst, 0, sizeof dst);
        dst.storage = &fake;
        dst.ndim = t->ndim;
        dst.dtype = t->dtype;
        for (int d = 0; d < t->ndim; d++) dst.size[d] = t->size[d];
        lt_contiguous_strides(t->ndim, dst.size, dst.stride);
        if (r.nbytes) lt_lua_check(L, lt_copy(lt_lua_ctx(L), &dst, t), fn);
        data += (int64_t)r.nbytes;
        lua_pop(L, 1);
    }
    return send_header(L, p, batch, (lua_Integer)(s - &p->slot[p->self * p->nslots]), 0, (uint64_t)off);
}

/* pool:put_error(b, slot, message) -> true | false: batch b failed; the loader raises the
 * message. */
static int p_put_error(lua_State *L) {
    const char *fn = "DataLoader worker";
    pool *p = checkself(L, fn);
    lua_Integer batch = luaL_checkinteger(L, 2);
    lt_shm *s = checkslot(L, p, 3, fn);
    size_t len;
    const char *msg = luaL_checklstring(L, 4, &len);
    if (lt_shm_reserve(s, len ? len : 1) != LT_OK)
        return lt_lua_error(L, "%s: cannot grow a shared-memory slot: %s", fn, strerror(errno));
    memcpy(s->map, msg, len);
    return send_header(L, p, batch, (lua_Integer)(s - &p->slot[p->self * p->nslots]), 1, (uint64_t)len);
}

/* ---- both sides ---- */

/* pool:pids() -> {pid, ...} of the workers still running (the loader's view). */
static int p_pids(lua_State *L) {
    pool *p = checkpool(L, 1);
    lua_createtable(L, p->n, 0);
    int k = 0;
    if (p->owner == getpid() && !p->stopped)
        for (int i = 0; i < p->n; i++)
            if (p->w[i].pid > 0 && !p->w[i].ended) {
                lua_pushinteger(L, p->w[i].pid);
                lua_rawseti(L, -2, ++k);
            }
    return 1;
}

/* pool:worker_id() -> this process's worker id, or nil in the loader. */
static int p_worker_id(lua_State *L) {
    pool *p = checkpool(L, 1);
    if (p->self < 0) lua_pushnil(L);
    else lua_pushinteger(L, p->self);
    return 1;
}

static int p_stopped(lua_State *L) {
    pool *p = checkpool(L, 1);
    lua_pushboolean(L, p->stopped || p->owner != getpid());
    return 1;
}

static int p_stop(lua_State *L) {
    pool *p = checkpool(L, 1);
    pool_stop(p);
    return 0;
}

static int p_tostring(lua_State *L) {
    pool *p = checkpool(L, 1);
    lua_pushfstring(L, "lunet.WorkerPool(%d workers, %d slots each%s)", p->n, p->nslots,
                    p->stopped ? ", stopped" : p->started ? "" : ", not started");
    return 1;
}

static const luaL_Reg pool_methods[] = {
    {"start", p_start}, {"send", p_send}, {"take", p_take}, {"recv", p_recv}, {"put", p_put},
    {"put_error", p_put_error}, {"pids", p_pids}, {"worker_id", p_worker_id}, {"stopped", p_stopped},
    {"stop", p_stop}, {NULL, NULL}};

/* now() -> monotonic seconds; getpid() -> this process's id. */
static int l_now(lua_State *L) {
    lua_pushnumber(L, (lua_Number)lt_now_ms() / 1000.0);
    return 1;
}

static int l_getpid(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* cputime() -> seconds of CPU (user + system) of this process, and of its reaped children. */
static int l_cputime(lua_State *L) {
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    lua_pushnumber(L, (lua_Number)(self.ru_utime.tv_sec + self.ru_stime.tv_sec) +
                          (lua_Number)(self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6);
    lua_pushnumber(L, (lua_Number)(kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) +
                          (lua_Number)(kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6);
    return 2;
}

static const luaL_Reg functions[] = {{"pool", l_pool}, {"now", l_now}, {"getpid", l_getpid},
                                     {"cputime", l_cputime}, {NULL, NULL}};

void lt_open_workers(lua_State *L) {
    luaL_newmetatable(L, POOL_MT);
    lua_newtable(L);
    luaL_setfuncs(L, pool_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, p_stop);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, p_stop);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, p_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    luaL_setfuncs(L, functions, 0);
}
