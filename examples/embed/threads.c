/* threads: a C host that runs lunet in several Lua states on several threads at once. Each
 * lua_State owns its own core context (thread budget, scratch buffers, block cache), so the
 * states share nothing writable; tensor storages are refcounted atomically and may move
 * between states.
 *
 *   make -C examples/embed threads && examples/embed/threads
 *
 * It checks, and exits non-zero on any mismatch:
 *  1. one state trains a small conv net (stride-1 and stride-2 convs, batch norm, a
 *     transposed conv, cross-entropy, Adam) twice from the same seed with 1 compute thread:
 *     the two final state dicts are bitwise equal (the reference);
 *  2. two states in two threads train the same net at the same time: both state dicts are
 *     bitwise equal to the reference;
 *  3. a tensor storage made in state A (thread 1) is retained through lunet's C API and
 *     viewed in state B (thread 2) while both threads take and drop views of it; A is
 *     closed first, then B drops the last reference: the block returns to A's context,
 *     which is freed then (run it under TSan / ASan to check the refcounts and lifetimes).
 *
 * lunet's C API used here is csrc/lt_lua.h (lt_lua_totensor, lt_lua_newview) and
 * csrc/lt_core.h (lt_storage_retain / lt_storage_release, lt_ctx_live_bytes): build with
 * -I csrc and link the very core.so that require "lunet.core" loads. Finding lunet: as
 * embed.c, with LUNET_ROOT (the source tree) and LUNET_BUILD (the build directory holding
 * lunet/core.so, default ROOT/build), each from the environment or compiled in.
 *
 * Exit status: 0 when every check holds, 1 otherwise (messages "threads: ..." on stderr). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

#include "lt_lua.h"

/* The training job: returns the state dict's bytes (float32 / int32 little-endian, in
 * state-dict order) and the last loss. Arguments: seed, steps. */
static const char *train_script =
    "local lunet = require 'lunet'\n"
    "local nn = require 'lunet.nn'\n"
    "local seed, steps = ...\n"
    "lunet.set_num_threads(1)\n"
    "lunet.manual_seed(seed)\n"
    "local model = nn.Sequential(\n"
    "  nn.Conv2d(3, 8, 3, { padding = 1 }), nn.BatchNorm2d(8), nn.ReLU(),\n"
    "  nn.Conv2d(8, 8, 3, { stride = 2, padding = 1 }), nn.BatchNorm2d(8), nn.ReLU(),\n"
    "  nn.ConvTranspose2d(8, 8, 2, { stride = 2 }), nn.BatchNorm2d(8), nn.ReLU(),\n"
    "  nn.Conv2d(8, 3, 1))\n"
    "local x = lunet.randn(4, 3, 16, 16)\n"
    "local y = lunet.randint(0, 3, { 4, 16, 16 })\n"
    "local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-2 })\n"
    "local loss_fn = nn.CrossEntropyLoss()\n"
    "local loss\n"
    "for _ = 1, steps do\n"
    "  opt:zero_grad()\n"
    "  loss = loss_fn(model(x), y)\n"
    "  loss:backward()\n"
    "  opt:step()\n"
    "end\n"
    "local parts = {}\n"
    "for _, t in pairs(model:state_dict()) do\n"
    "  local fmt = t:dtype() == 'int32' and '<i4' or '<f'\n"
    "  for _, v in ipairs(t:contiguous():view(-1):totable()) do\n"
    "    parts[#parts + 1] = string.pack(fmt, v)\n"
    "  end\n"
    "end\n"
    "return table.concat(parts), loss:item()\n";

enum { SEED = 7, STEPS = 4, SHARED_N = 65536 };

static const char *root_dir(void) {
    const char *r = getenv("LUNET_ROOT");
#ifdef LUNET_ROOT
    if (!r || !*r) r = LUNET_ROOT;
#endif
    return r && *r ? r : NULL;
}

static const char *build_dir(void) {
    const char *b = getenv("LUNET_BUILD");
#ifdef LUNET_BUILD
    if (!b || !*b) b = LUNET_BUILD;
#endif
    return b && *b ? b : NULL;
}

/* package[field] = "<dir>/<tail>;" for each ';'-separated tail, then the old value. */
static void prepend_path(lua_State *L, const char *dir, const char *field, const char *tails) {
    luaL_Buffer b;
    lua_getglobal(L, "package");
    luaL_buffinit(L, &b);
    for (const char *t = tails; *t;) {
        const char *end = strchr(t, ';');
        size_t len = end ? (size_t)(end - t) : strlen(t);
        luaL_addstring(&b, dir);
        luaL_addchar(&b, '/');
        luaL_addlstring(&b, t, len);
        luaL_addchar(&b, ';');
        t += len + (end ? 1 : 0);
    }
    lua_getfield(L, -2, field);
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

/* A new state with the standard libraries and lunet's paths; NULL when out of memory. */
static lua_State *new_state(void) {
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    luaL_openlibs(L);
    const char *root = root_dir(), *build = build_dir();
    if (root) {
        prepend_path(L, root, "path", "lua/?.lua;lua/?/init.lua");
        if (!build) prepend_path(L, root, "cpath", "build/?.so");
        if (!build) prepend_path(L, root, "path", "build/lua/?.lua;build/lua/?/init.lua");
    }
    if (build) {
        prepend_path(L, build, "cpath", "?.so");
        prepend_path(L, build, "path", "lua/?.lua;lua/?/init.lua");
    }
    return L;
}

/* Runs chunk `src` with nargs arguments already pushed; 0 on success (results on the stack),
 * else copies the error into err. */
static int run_chunk(lua_State *L, const char *src, const char *name, int nargs, int nres,
                     char *err, size_t errn) {
    if (luaL_loadbuffer(L, src, strlen(src), name) != LUA_OK) {
        snprintf(err, errn, "%s", lua_tostring(L, -1));
        return 1;
    }
    lua_insert(L, -(nargs + 1));
    if (lua_pcall(L, nargs, nres, 0) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        snprintf(err, errn, "%s", m ? m : "(error object is not a string)");
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- training jobs */

typedef struct {
    lua_State *L;          /* NULL: the job makes (and closes) its own state */
    char *weights;         /* malloc'd state-dict bytes */
    size_t nweights;
    double loss;
    int failed;
    char err[1024];
} train_job;

static void train(train_job *j) {
    lua_State *L = j->L ? j->L : new_state();
    if (!L) {
        j->failed = 1;
        snprintf(j->err, sizeof j->err, "cannot create a Lua state");
        return;
    }
    lua_pushinteger(L, SEED);
    lua_pushinteger(L, STEPS);
    if (run_chunk(L, train_script, "=train", 2, 2, j->err, sizeof j->err)) {
        j->failed = 1;
    } else {
        size_t n;
        const char *w = lua_tolstring(L, -2, &n);
        j->weights = malloc(n ? n : 1);
        if (!w || !j->weights) {
            j->failed = 1;
            snprintf(j->err, sizeof j->err, "no weights returned (or out of memory)");
        } else {
            memcpy(j->weights, w, n);
            j->nweights = n;
            j->loss = lua_tonumber(L, -1);
        }
    }
    lua_settop(L, 0);
    if (!j->L) lua_close(L);
}

static void *train_thread(void *arg) {
    train(arg);
    return NULL;
}

/* 0 when b holds the same bytes as the reference a. */
static int compare(const char *what, const train_job *a, const train_job *b) {
    if (b->failed) {
        fprintf(stderr, "threads: %s failed: %s\n", what, b->err);
        return 1;
    }
    if (a->nweights != b->nweights || memcmp(a->weights, b->weights, a->nweights) != 0) {
        size_t i = 0;
        while (i < a->nweights && i < b->nweights && a->weights[i] == b->weights[i]) i++;
        fprintf(stderr, "threads: %s: weights differ from the reference (%zu vs %zu bytes, first "
                        "difference at byte %zu; loss %.9g vs %.9g)\n",
                what, b->nweights, a->nweights, i, b->loss, a->loss);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- a storage shared by two states */

static const char *make_shared =
    "local lunet = require 'lunet'\n"
    "lunet.set_num_threads(1)\n"
    "return lunet.arange(0, ...):to('float32') * 0.5\n";

/* Takes views of t (argument 1) and checks them against a fresh copy; returns an error string
 * or nil. Arguments: t, n, rounds. */
static const char *churn_views =
    "local lunet = require 'lunet'\n"
    "local t, n, rounds = ...\n"
    "local want = lunet.arange(0, n):to('float32') * 0.5\n"
    "for i = 1, rounds do\n"
    "  local v = t:view(256, n // 256):narrow(1, 1 + i % 7, 8)\n"
    "  local w = want:view(256, n // 256):narrow(1, 1 + i % 7, 8)\n"
    "  if v:eq(w):to('int32'):sum():item() ~= v:numel() then\n"
    "    return 'view ' .. i .. ' differs from the values made in state A'\n"
    "  end\n"
    "  if i % 16 == 0 then collectgarbage() end\n"
    "end\n"
    "if t:eq(want):to('int32'):sum():item() ~= n then return 'the shared tensor changed' end\n"
    "return nil\n";

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int handed, a_closed;          /* under lock */
    lt_tensor shared;              /* the view handed from A to B (its storage retained) */
    int failed;
    char err[1024];
} handoff;

static void set_flag(handoff *h, int *flag) {
    pthread_mutex_lock(&h->lock);
    *flag = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void wait_flag(handoff *h, const int *flag) {
    pthread_mutex_lock(&h->lock);
    while (!*flag) pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

static void fail(handoff *h, const char *side, const char *msg) {
    pthread_mutex_lock(&h->lock);
    if (!h->failed) snprintf(h->err, sizeof h->err, "state %s: %.900s", side, msg);
    h->failed = 1;
    pthread_mutex_unlock(&h->lock);
}

static void *state_a(void *arg) {
    handoff *h = arg;
    char err[1024];
    lua_State *L = new_state();
    if (!L) {
        fail(h, "A", "cannot create a Lua state");
        set_flag(h, &h->handed);
        set_flag(h, &h->a_closed);
        return NULL;
    }
    lua_pushinteger(L, SHARED_N);
    if (run_chunk(L, make_shared, "=make_shared", 1, 1, err, sizeof err)) {
        fail(h, "A", err);
        set_flag(h, &h->handed);
    } else {
        const lt_tensor *t = lt_lua_totensor(L, -1);   /* lives in A's userdata */
        h->shared = *t;
        lt_storage_retain(h->shared.storage);          /* the C host's own reference */
        set_flag(h, &h->handed);
        /* views of the same storage come and go here while B does the same */
        lua_pushvalue(L, -1);
        lua_pushinteger(L, SHARED_N);
        lua_pushinteger(L, 200);
        if (run_chunk(L, churn_views, "=churn_views", 3, 1, err, sizeof err)) fail(h, "A", err);
        else if (!lua_isnil(L, -1)) fail(h, "A", lua_tostring(L, -1));
    }
    lua_close(L);          /* releases A's tensors and A's reference to its context */
    set_flag(h, &h->a_closed);
    return NULL;
}

static void *state_b(void *arg) {
    handoff *h = arg;
    char err[1024];
    lua_State *L = new_state();
    wait_flag(h, &h->handed);
    if (!L || h->failed) {
        if (!L) fail(h, "B", "cannot create a Lua state");
        wait_flag(h, &h->a_closed);
        if (h->shared.storage) lt_storage_release(h->shared.storage);
        if (L) lua_close(L);
        return NULL;
    }
    /* lunet must be loaded in B before a tensor userdata can be pushed here */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lunet");
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fail(h, "B", lua_tostring(L, -1));
        wait_flag(h, &h->a_closed);
        lt_storage_release(h->shared.storage);
        lua_close(L);
        return NULL;
    }
    lt_lua_newview(L, &h->shared);                     /* B's view: one more reference */
    lua_pushvalue(L, -1);
    lua_pushinteger(L, SHARED_N);
    lua_pushinteger(L, 200);
    if (run_chunk(L, churn_views, "=churn_views", 3, 1, err, sizeof err)) fail(h, "B", err);
    else if (!lua_isnil(L, -1)) fail(h, "B", lua_tostring(L, -1));
    lua_pop(L, 1);
    wait_flag(h, &h->a_closed);
    /* A is gone; its context lives on for this one block (A's other tensors were freed) */
    const size_t live = lt_ctx_live_bytes(h->shared.storage->ctx);
    if (live != h->shared.storage->capacity) {
        snprintf(err, sizeof err, "after A closed, A's context holds %zu live bytes, expected "
                 "%zu (the shared block)", live, h->shared.storage->capacity);
        fail(h, "B", err);
    }
    lt_storage_release(h->shared.storage);             /* the host's reference, from thread B */
    /* B's view still reads the data after every other holder is gone */
    lua_pushinteger(L, SHARED_N);
    lua_pushinteger(L, 20);
    if (run_chunk(L, churn_views, "=churn_views", 3, 1, err, sizeof err)) fail(h, "B", err);
    else if (!lua_isnil(L, -1)) fail(h, "B", lua_tostring(L, -1));
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);      /* the last reference goes: A's context is freed here */
    lua_close(L);
    return NULL;
}

/* ---------------------------------------------------------------- main */

int main(void) {
    int bad = 0;

    /* 1. the reference: one state, the same job twice */
    lua_State *L = new_state();
    if (!L) {
        fputs("threads: cannot create a Lua state\n", stderr);
        return 1;
    }
    train_job ref = { L, NULL, 0, 0, 0, "" }, again = { L, NULL, 0, 0, 0, "" };
    train(&ref);
    if (ref.failed) {
        fprintf(stderr, "threads: the sequential run failed: %s\n", ref.err);
        lua_close(L);
        return 1;
    }
    train(&again);
    lua_close(L);
    bad |= compare("the second sequential run in the same state", &ref, &again);

    /* 2. two states, two threads, at once */
    train_job t1 = { NULL, NULL, 0, 0, 0, "" }, t2 = { NULL, NULL, 0, 0, 0, "" };
    pthread_t p1, p2;
    if (pthread_create(&p1, NULL, train_thread, &t1) != 0 ||
        pthread_create(&p2, NULL, train_thread, &t2) != 0) {
        fputs("threads: pthread_create failed\n", stderr);
        return 1;
    }
    pthread_join(p1, NULL);
    pthread_join(p2, NULL);
    bad |= compare("thread 1", &ref, &t1);
    bad |= compare("thread 2", &ref, &t2);
    if (!bad)
        printf("threads: 2 runs in one state and 2 concurrent runs in 2 states give the same "
               "%zu weight bytes (loss %.9g)\n", ref.nweights, ref.loss);

    /* 3. one storage, two states, two threads */
    handoff h;
    memset(&h, 0, sizeof h);
    pthread_mutex_init(&h.lock, NULL);
    pthread_cond_init(&h.cond, NULL);
    pthread_t pa, pb;
    if (pthread_create(&pa, NULL, state_a, &h) != 0 || pthread_create(&pb, NULL, state_b, &h) != 0) {
        fputs("threads: pthread_create failed\n", stderr);
        return 1;
    }
    pthread_join(pa, NULL);
    pthread_join(pb, NULL);
    pthread_cond_destroy(&h.cond);
    pthread_mutex_destroy(&h.lock);
    if (h.failed) {
        fprintf(stderr, "threads: shared storage: %s\n", h.err);
        bad = 1;
    } else {
        printf("threads: a storage made in state A was used in state B and released there after "
               "A closed\n");
    }

    free(ref.weights);
    free(again.weights);
    free(t1.weights);
    free(t2.weights);
    return bad ? 1 : 0;
}
