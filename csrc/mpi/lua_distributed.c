/* lua_distributed.c: luaopen_lunet_distributed_core, the C module "lunet.distributed.core"
 * linked against Open MPI (lunet.core never is). Raw collectives on lunet tensors, read in
 * place through the tensor userdata of lunet.core (lt_core.h layout), and the two
 * communicating halves of SyncBatchNorm. lua/lunet/distributed.lua wraps them.
 *
 *   local C = require "lunet.distributed.core"
 *   local rank, size = C.init{timeout = 600}
 *   C.all_reduce(grad, {op = "mean"})        -- in place, float32 or int32, contiguous
 *   C.finalize()
 *
 * Ranks are 0-based, as MPI's. Every MPI failure, timeout or mismatch between ranks raises
 * "fn: message" (lt_dist.c writes the message); nothing aborts while a caller can be told.
 * MPI is one per process, so unlike lunet.core (one context per Lua state) this module keeps
 * process-wide state: use it from one Lua state, on the thread that called init()
 * (MPI_THREAD_FUNNELED); MPI is finalized when the last state that loaded it closes.
 */
#include "../lt_lua.h"
#include "lt_dist.h"
#include "lt_syncbn.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT 600.0
#define DEFAULT_BUCKET ((lua_Integer)25 << 20)

/* lua_opts.c (compiled into this module too) raises through this; same as lunet.core's. */
int lt_lua_error(lua_State *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

static double pending_timeout = DEFAULT_TIMEOUT;   /* set_timeout before init */

/* ------------------------------------------------------------------ tensors */

static const char *const dtype_names[] = {"float32", "int32", "uint8"};

static size_t elsize(const lt_tensor *t) { return t->dtype == LT_UINT8 ? 1 : 4; }

static lt_dist_dtype dist_dtype(const lt_tensor *t) {
    return t->dtype == LT_FLOAT32 ? LT_DIST_F32 : t->dtype == LT_INT32 ? LT_DIST_I32 : LT_DIST_U8;
}

static int64_t numel(const lt_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->size[d];   /* lunet.core checked it fits */
    return n;
}

static int is_contiguous(const lt_tensor *t) {
    int64_t st = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->size[d] == 1) continue;
        if (t->stride[d] != st) return 0;
        st *= t->size[d];
    }
    return 1;
}

static void *tdata(const lt_tensor *t) {
    return (char *)t->storage->data + (size_t)t->offset * elsize(t);
}

/* FNV-1a of the shape: ranks must pass tensors of one shape. */
static uint64_t shape_hash(const lt_tensor *t, uint64_t h) {
    h = (h ^ (uint64_t)t->ndim) * 1099511628211ULL;
    for (int d = 0; d < t->ndim; d++) h = (h ^ (uint64_t)t->size[d]) * 1099511628211ULL;
    return h;
}

static const char *shape_str(const lt_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int d = 0; d < t->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)t->size[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* A live, contiguous tensor at idx (in-place collectives cannot write through strides). */
static lt_tensor *check_tensor(lua_State *L, int idx, const char *fn, const char *arg) {
    lt_tensor *t = (lt_tensor *)luaL_testudata(L, idx, LT_TENSOR_MT);
    if (!t) lt_lua_error(L, "%s: %s must be a tensor, got %s", fn, arg, luaL_typename(L, idx));
    if (!t->storage || !t->storage->data) lt_lua_error(L, "%s: %s was released with free()", fn, arg);
    if (!is_contiguous(t)) {
        char sb[160];
        lt_lua_error(L, "%s: %s must be contiguous (shape %s is a strided view; use :contiguous())", fn, arg,
                     shape_str(t, sb, sizeof sb));
    }
    return t;
}

static lt_tensor *check_f32(lua_State *L, int idx, const char *fn, const char *arg) {
    lt_tensor *t = check_tensor(L, idx, fn, arg);
    if (t->dtype != LT_FLOAT32)
        lt_lua_error(L, "%s: %s must be float32, got %s", fn, arg, dtype_names[t->dtype]);
    return t;
}

/* ------------------------------------------------------------------ state */

static void check_status(lua_State *L, lt_dist_status st, const char *fn, const char *err) {
    if (st != LT_DIST_OK) lt_lua_error(L, "%s: %s", fn, err);
}

static void need_init(lua_State *L, const char *fn) {
    if (lt_dist_is_finalized()) lt_lua_error(L, "%s: called after finalize()", fn);
    if (!lt_dist_is_initialized())
        lt_lua_error(L, "%s: lunet.distributed is not initialized: call init() first (and run under mpirun)", fn);
}

static double env_timeout(lua_State *L, const char *fn) {
    const char *s = getenv("LUNET_DIST_TIMEOUT");
    if (!s || !*s) return pending_timeout;
    char *end = NULL;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v > 0.0) || isinf(v))
        lt_lua_error(L, "%s: LUNET_DIST_TIMEOUT must be a number of seconds > 0, got '%s'", fn, s);
    return v;
}

/* init([{timeout = seconds}]) -> rank, world_size */
static int l_init(lua_State *L) {
    const char *fn = "init";
    static const char *const known[] = {"timeout", NULL};
    lt_opt_check(L, 1, fn, known);
    double timeout = env_timeout(L, fn);
    timeout = lt_opt_num_range(L, 1, "timeout", timeout, 1e-3, 1e9, fn);
    char err[LT_DIST_ERRLEN];
    check_status(L, lt_dist_init(timeout, err), fn, err);
    lua_pushinteger(L, lt_dist_rank());
    lua_pushinteger(L, lt_dist_size());
    return 2;
}

static int l_is_initialized(lua_State *L) {
    lua_pushboolean(L, lt_dist_is_initialized());
    return 1;
}

static int l_rank(lua_State *L) {
    need_init(L, "rank");
    lua_pushinteger(L, lt_dist_rank());
    return 1;
}

static int l_world_size(lua_State *L) {
    need_init(L, "world_size");
    lua_pushinteger(L, lt_dist_size());
    return 1;
}

/* get_timeout() -> seconds; set_timeout(seconds) */
static int l_get_timeout(lua_State *L) {
    lua_pushnumber(L, lt_dist_is_initialized() ? lt_dist_get_timeout() : pending_timeout);
    return 1;
}

static int l_set_timeout(lua_State *L) {
    int isnum = 0;
    lua_Number v = lua_tonumberx(L, 1, &isnum);
    if (!isnum || !(v >= 1e-3 && v <= 1e9)) {
        lua_pushvalue(L, 1);
        lt_lua_error(L, "set_timeout: seconds must be a number in [0.001, 1000000000], got %s",
                     luaL_tolstring(L, 1, NULL));
    }
    pending_timeout = v;
    if (lt_dist_is_initialized()) lt_dist_set_timeout(v);
    return 0;
}

/* cores() -> the number of online processors of this machine */
static int l_cores(lua_State *L) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? (lua_Integer)n : 1);
    return 1;
}

static int l_version(lua_State *L) {
    lua_pushstring(L, lt_dist_version());
    return 1;
}

static int l_barrier(lua_State *L) {
    const char *fn = "barrier";
    static const char *const known[] = {NULL};
    lt_opt_check(L, 1, fn, known);
    need_init(L, fn);
    char err[LT_DIST_ERRLEN];
    check_status(L, lt_dist_barrier(err), fn, err);
    return 0;
}

static int l_finalize(lua_State *L) {
    const char *fn = "finalize";
    if (lt_dist_is_finalized()) return 0;
    if (!lt_dist_is_initialized()) lt_lua_error(L, "%s: lunet.distributed is not initialized (call init() first)", fn);
    char err[LT_DIST_ERRLEN];
    check_status(L, lt_dist_finalize(err), fn, err);
    return 0;
}

/* ------------------------------------------------------------------ collectives */

enum { OP_SUM, OP_MEAN, OP_MAX, OP_MIN };
static const char *const op_names[] = {"sum", "mean", "max", "min", NULL};

static int read_op(lua_State *L, int idx, const char *fn) {
    if (!lt_opt_get(L, idx, "op", fn)) return OP_SUM;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    for (int i = 0; s && op_names[i]; i++)
        if (strcmp(s, op_names[i]) == 0) {
            lua_pop(L, 1);
            return i;
        }
    if (s) lt_lua_error(L, "%s: option op must be 'sum', 'mean', 'max' or 'min', got '%s'", fn, s);
    return lt_lua_error(L, "%s: option op must be 'sum', 'mean', 'max' or 'min', got %s", fn, luaL_typename(L, -1));
}

static lt_dist_op dist_op(int op) {
    return op == OP_MAX ? LT_DIST_MAX : op == OP_MIN ? LT_DIST_MIN : LT_DIST_SUM;
}

/* Scratch memory held by the registry (a grow-only userdata), so an error raised while it
 * is in use leaks nothing. */
static void *scratch(lua_State *L, size_t nbytes, const char *key) {
    lua_getfield(L, LUA_REGISTRYINDEX, key);
    void *p = lua_touserdata(L, -1);
    size_t have = p ? lua_rawlen(L, -1) : 0;
    lua_pop(L, 1);
    if (p && have >= nbytes) return p;
    p = lua_newuserdatauv(L, nbytes ? nbytes : 1, 0);
    lua_setfield(L, LUA_REGISTRYINDEX, key);
    return p;
}

/* all_reduce(t, {op = "sum"|"mean"|"max"|"min"}) -> t, in place. int32 sums are computed in
 * int64 and raise (leaving t unchanged) when a result does not fit int32. */
static int l_all_reduce(lua_State *L) {
    const char *fn = "all_reduce";
    static const char *const known[] = {"op", NULL};
    lt_opt_check(L, 2, fn, known);
    lt_tensor *t = check_tensor(L, 1, fn, "tensor");
    int op = read_op(L, 2, fn);
    if (t->dtype == LT_UINT8)
        lt_lua_error(L, "%s: tensor must be float32 or int32, got uint8 (reduce a converted copy: :to(\"int32\"))", fn);
    if (t->dtype == LT_INT32 && op == OP_MEAN)
        lt_lua_error(L, "%s: op 'mean' needs a float32 tensor, got int32 (sum, then divide a float32 copy)", fn);
    need_init(L, fn);
    const int64_t n = numel(t);
    const uint64_t h = shape_hash(t, 14695981039346656037ULL);
    char err[LT_DIST_ERRLEN];
    if (t->dtype == LT_INT32 && op == OP_SUM) {
        int64_t *wide = (int64_t *)scratch(L, (size_t)n * sizeof(int64_t), "lunet.distributed.wide");
        const int32_t *src = (const int32_t *)tdata(t);
        for (int64_t i = 0; i < n; i++) wide[i] = src[i];
        check_status(L, lt_dist_all_reduce(wide, n, LT_DIST_I64, LT_DIST_SUM, h, err), fn, err);
        for (int64_t i = 0; i < n; i++)
            if (wide[i] > INT32_MAX || wide[i] < INT32_MIN)
                lt_lua_error(L, "%s: the int32 sum overflows at element %I: %I does not fit int32 (the tensor is "
                             "unchanged; reduce a float32 copy)", fn, (lua_Integer)(i + 1), (lua_Integer)wide[i]);
        int32_t *dst = (int32_t *)tdata(t);
        for (int64_t i = 0; i < n; i++) dst[i] = (int32_t)wide[i];
    } else {
        check_status(L, lt_dist_all_reduce(tdata(t), n, dist_dtype(t), dist_op(op), h, err), fn, err);
        if (op == OP_MEAN) {
            float *d = (float *)tdata(t);
            const float w = (float)lt_dist_size();
            for (int64_t i = 0; i < n; i++) d[i] /= w;
        }
    }
    lua_settop(L, 1);
    return 1;
}

static int read_root(lua_State *L, int idx, const char *fn) {
    return (int)lt_opt_int_range(L, idx, "root", 0, 0, lt_dist_size() - 1, fn);
}

/* broadcast(t, {root = 0}) -> t, in place (any dtype). */
static int l_broadcast(lua_State *L) {
    const char *fn = "broadcast";
    static const char *const known[] = {"root", NULL};
    lt_opt_check(L, 2, fn, known);
    lt_tensor *t = check_tensor(L, 1, fn, "tensor");
    need_init(L, fn);
    int root = read_root(L, 2, fn);
    char err[LT_DIST_ERRLEN];
    uint64_t h = shape_hash(t, 14695981039346656037ULL);
    check_status(L, lt_dist_broadcast(tdata(t), numel(t), dist_dtype(t), root, h, err), fn, err);
    lua_settop(L, 1);
    return 1;
}

/* all_gather_into(out, t): out (W, t's shape...) of t's dtype receives rank k's t at k. */
static int l_all_gather_into(lua_State *L) {
    const char *fn = "all_gather";
    lt_tensor *out = check_tensor(L, 1, fn, "output");
    lt_tensor *t = check_tensor(L, 2, fn, "tensor");
    need_init(L, fn);
    const int64_t n = numel(t);
    if (out->dtype != t->dtype || numel(out) != n * lt_dist_size())
        lt_lua_error(L, "%s: output must hold %I %s values (world size x tensor), got %I %s", fn,
                     (lua_Integer)(n * lt_dist_size()), dtype_names[t->dtype], (lua_Integer)numel(out),
                     dtype_names[out->dtype]);
    char err[LT_DIST_ERRLEN];
    uint64_t h = shape_hash(t, 14695981039346656037ULL);
    check_status(L, lt_dist_all_gather(tdata(out), tdata(t), n, dist_dtype(t), h, err), fn, err);
    lua_settop(L, 1);
    return 1;
}

/* The tensors of the list at idx, checked; returns the count. */
static int check_list(lua_State *L, int idx, const char *fn, int f32_only) {
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        char arg[40];
        snprintf(arg, sizeof arg, "tensor %lld", (long long)i);
        lt_tensor *t = check_tensor(L, -1, fn, arg);
        if (f32_only && t->dtype != LT_FLOAT32)
            lt_lua_error(L, "%s: tensor %I must be float32, got %s", fn, i, dtype_names[t->dtype]);
        lua_pop(L, 1);
    }
    return (int)n;
}

static lt_tensor *list_item(lua_State *L, int idx, int i) {
    lua_geti(L, idx, i);
    lt_tensor *t = (lt_tensor *)lua_touserdata(L, -1);
    lua_pop(L, 1);   /* the list keeps it alive */
    return t;
}

/* all_reduce_coalesced(list, {op = "sum"|"mean"|..., bucket_bytes = 25 MB} [, fn]): the float32
 * tensors of list reduced in place, packed into buckets of at most bucket_bytes (a tensor
 * larger than that is reduced on its own), one all-reduce per bucket. fn names the caller in
 * messages. */
static int l_all_reduce_coalesced(lua_State *L) {
    const char *fn = luaL_optstring(L, 3, "all_reduce_coalesced");
    static const char *const known[] = {"op", "bucket_bytes", NULL};
    lt_opt_check(L, 2, fn, known);
    int n = check_list(L, 1, fn, 1);
    int op = read_op(L, 2, fn);
    lua_Integer cap = lt_opt_int_range(L, 2, "bucket_bytes", DEFAULT_BUCKET, 4, (lua_Integer)1 << 40, fn);
    need_init(L, fn);
    uint64_t h = 14695981039346656037ULL;
    int64_t total = 0;
    for (int i = 1; i <= n; i++) {
        lt_tensor *t = list_item(L, 1, i);
        h = shape_hash(t, h);
        total += numel(t);
    }
    const int64_t cap_el = cap / 4;
    float *buf = (float *)scratch(L, (size_t)(total < cap_el ? total : cap_el) * 4, "lunet.distributed.bucket");
    char err[LT_DIST_ERRLEN];
    const float w = (float)lt_dist_size();
    int first = 1;
    while (first <= n) {
        lt_tensor *t = list_item(L, 1, first);
        int64_t m = numel(t);
        if (m >= cap_el) {   /* alone, in place */
            check_status(L, lt_dist_all_reduce(tdata(t), m, LT_DIST_F32, dist_op(op), h, err), fn, err);
            if (op == OP_MEAN) {
                float *d = (float *)tdata(t);
                for (int64_t k = 0; k < m; k++) d[k] /= w;
            }
            first++;
            continue;
        }
        int last = first;
        int64_t used = 0;
        while (last <= n) {
            lt_tensor *u = list_item(L, 1, last);
            int64_t k = numel(u);
            if (k >= cap_el || used + k > cap_el) break;
            memcpy(buf + used, tdata(u), (size_t)k * 4);
            used += k;
            last++;
        }
        check_status(L, lt_dist_all_reduce(buf, used, LT_DIST_F32, dist_op(op), h, err), fn, err);
        if (op == OP_MEAN)
            for (int64_t k = 0; k < used; k++) buf[k] /= w;
        used = 0;
        for (int i = first; i < last; i++) {
            lt_tensor *u = list_item(L, 1, i);
            int64_t k = numel(u);
            memcpy(tdata(u), buf + used, (size_t)k * 4);
            used += k;
        }
        first = last;
    }
    return 0;
}

/* broadcast_coalesced(list, {root = 0, bucket_bytes = 25 MB} [, fn]): the tensors of list
 * (any dtypes) sent from root as bytes, packed into buckets. */
static int l_broadcast_coalesced(lua_State *L) {
    const char *fn = luaL_optstring(L, 3, "broadcast_coalesced");
    static const char *const known[] = {"root", "bucket_bytes", NULL};
    lt_opt_check(L, 2, fn, known);
    int n = check_list(L, 1, fn, 0);
    lua_Integer cap = lt_opt_int_range(L, 2, "bucket_bytes", DEFAULT_BUCKET, 1, (lua_Integer)1 << 40, fn);
    need_init(L, fn);
    int root = read_root(L, 2, fn);
    uint64_t h = 14695981039346656037ULL;
    int64_t total = 0;
    for (int i = 1; i <= n; i++) {
        lt_tensor *t = list_item(L, 1, i);
        h = shape_hash(t, h) ^ (uint64_t)t->dtype;
        total += numel(t) * (int64_t)elsize(t);
    }
    unsigned char *buf = (unsigned char *)scratch(L, (size_t)(total < cap ? total : cap), "lunet.distributed.bucket");
    char err[LT_DIST_ERRLEN];
    const int me = lt_dist_rank();
    int first = 1;
    while (first <= n) {
        lt_tensor *t = list_item(L, 1, first);
        int64_t m = numel(t) * (int64_t)elsize(t);
        if (m >= cap) {
            check_status(L, lt_dist_broadcast(tdata(t), m, LT_DIST_U8, root, h, err), fn, err);
            first++;
            continue;
        }
        int last = first;
        int64_t used = 0;
        while (last <= n) {
            lt_tensor *u = list_item(L, 1, last);
            int64_t k = numel(u) * (int64_t)elsize(u);
            if (k >= cap || used + k > cap) break;
            if (me == root) memcpy(buf + used, tdata(u), (size_t)k);
            used += k;
            last++;
        }
        check_status(L, lt_dist_broadcast(buf, used, LT_DIST_U8, root, h, err), fn, err);
        used = 0;
        for (int i = first; i < last; i++) {
            lt_tensor *u = list_item(L, 1, i);
            int64_t k = numel(u) * (int64_t)elsize(u);
            if (me != root) memcpy(tdata(u), buf + used, (size_t)k);
            used += k;
        }
        first = last;
    }
    return 0;
}

/* all_reduce_numbers(list, {op = "sum"|"max"|"min"}) -> new list: integers reduced exactly as
 * int64, other numbers as doubles. The ranks' lists must have the same length and the same
 * kind (integer or float) at each position. */
static int l_all_reduce_numbers(lua_State *L) {
    const char *fn = "all_reduce_numbers";
    static const char *const known[] = {"op", NULL};
    lt_opt_check(L, 2, fn, known);
    luaL_checktype(L, 1, LUA_TTABLE);
    int op = read_op(L, 2, fn);
    if (op == OP_MEAN) lt_lua_error(L, "%s: op must be 'sum', 'max' or 'min', got 'mean'", fn);
    lua_Integer n = luaL_len(L, 1);
    int64_t ni = 0, nf = 0;
    uint64_t pattern = 14695981039346656037ULL;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        if (!lua_isnumber(L, -1) || lua_type(L, -1) != LUA_TNUMBER)
            lt_lua_error(L, "%s: entry %I must be a number, got %s", fn, i, luaL_typename(L, -1));
        int isint = lua_isinteger(L, -1);
        if (isint) ni++; else nf++;
        pattern = (pattern ^ (uint64_t)(isint + 1)) * 1099511628211ULL;
        lua_pop(L, 1);
    }
    need_init(L, fn);
    int64_t *iv = (int64_t *)lua_newuserdatauv(L, (size_t)(ni ? ni : 1) * 8, 0);
    double *fv = (double *)lua_newuserdatauv(L, (size_t)(nf ? nf : 1) * 8, 0);
    int64_t a = 0, b = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        if (lua_isinteger(L, -1)) iv[a++] = (int64_t)lua_tointeger(L, -1);
        else fv[b++] = (double)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    char err[LT_DIST_ERRLEN];
    /* both phases always run so that every rank makes the same calls; the descriptors (the
     * counts and the pattern) then tell ranks with different lists apart */
    check_status(L, lt_dist_all_reduce(iv, ni, LT_DIST_I64, dist_op(op), pattern, err), fn, err);
    check_status(L, lt_dist_all_reduce(fv, nf, LT_DIST_F64, dist_op(op), pattern, err), fn, err);
    lua_createtable(L, (int)n, 0);
    a = b = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        int isint = lua_isinteger(L, -1);
        lua_pop(L, 1);
        if (isint) lua_pushinteger(L, (lua_Integer)iv[a++]);
        else lua_pushnumber(L, fv[b++]);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

/* broadcast_string(s, {root = 0}) -> root's string (s is ignored on the other ranks). */
static int l_broadcast_string(lua_State *L) {
    const char *fn = "broadcast_string";
    static const char *const known[] = {"root", NULL};
    lt_opt_check(L, 2, fn, known);
    need_init(L, fn);
    int root = read_root(L, 2, fn);
    const int me = lt_dist_rank();
    size_t len = 0;
    const char *s = NULL;
    if (me == root) {
        if (lua_type(L, 1) != LUA_TSTRING)
            lt_lua_error(L, "%s: the root (rank %d) must pass a string, got %s", fn, root, luaL_typename(L, 1));
        s = lua_tolstring(L, 1, &len);
    }
    int64_t n = (int64_t)len;
    char err[LT_DIST_ERRLEN];
    check_status(L, lt_dist_broadcast(&n, 1, LT_DIST_I64, root, 0, err), fn, err);
    if (me == root) {
        check_status(L, lt_dist_broadcast((void *)s, n, LT_DIST_U8, root, 1, err), fn, err);
        lua_settop(L, 1);
        return 1;
    }
    char *buf = (char *)lua_newuserdatauv(L, (size_t)(n ? n : 1), 0);
    check_status(L, lt_dist_broadcast(buf, n, LT_DIST_U8, root, 1, err), fn, err);
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* ------------------------------------------------------------------ SyncBatchNorm */

static void check_nc(lua_State *L, const lt_tensor *x, const char *fn, int64_t *N, int64_t *C, int64_t *S) {
    char sb[160];
    if (x->ndim < 2) lt_lua_error(L, "%s: x must have at least 2 dimensions (N, C, ...), got %s", fn, shape_str(x, sb, sizeof sb));
    *N = x->size[0];
    *C = x->size[1];
    *S = 1;
    for (int d = 2; d < x->ndim; d++) *S *= x->size[d];
}

static float *check_vec(lua_State *L, int idx, int64_t C, const char *fn, const char *arg, int optional) {
    if (optional && lua_isnoneornil(L, idx)) return NULL;
    lt_tensor *t = check_f32(L, idx, fn, arg);
    if (numel(t) != C) lt_lua_error(L, "%s: %s must hold %I values (one per channel), got %I", fn, arg,
                                    (lua_Integer)C, (lua_Integer)numel(t));
    return (float *)tdata(t);
}

/* sync_batch_norm_stats(x, mean_out, var_out, running_mean, running_var, momentum, threads) -> count:
 * the mean and biased variance per channel over every rank's x (N, C, ...), and the total
 * number of values per channel. With more than one value, the running statistics (either may
 * be nil) are updated in place, identically on every rank. threads: lunet's thread budget. */
static int l_sync_batch_norm_stats(lua_State *L) {
    const char *fn = "SyncBatchNorm";
    lt_tensor *x = check_f32(L, 1, fn, "x");
    int64_t N, C, S;
    check_nc(L, x, fn, &N, &C, &S);
    float *mean = check_vec(L, 2, C, fn, "mean", 0);
    float *var = check_vec(L, 3, C, fn, "var", 0);
    float *rm = check_vec(L, 4, C, fn, "running_mean", 1);
    float *rv = check_vec(L, 5, C, fn, "running_var", 1);
    const double momentum = luaL_optnumber(L, 6, 0.1);
    const int threads = (int)luaL_optinteger(L, 7, 1);
    need_init(L, fn);
    const int W = lt_dist_size();
    double *mine = (double *)lua_newuserdatauv(L, (size_t)(C ? C : 1) * 3 * sizeof(double), 0);
    double *all = (double *)lua_newuserdatauv(L, (size_t)(C ? C : 1) * 3 * sizeof(double) * (size_t)W, 0);
    lt_syncbn_local_stats(mine, (const float *)tdata(x), N, C, S, threads);
    char err[LT_DIST_ERRLEN];
    check_status(L, lt_dist_all_gather(all, mine, 3 * C, LT_DIST_F64, (uint64_t)C, err), fn, err);
    int64_t count = 0;
    if (lt_syncbn_combine(mean, var, &count, all, W, C) != LT_OK)
        lt_lua_error(L, "%s: the ranks' statistics disagree on the number of values per channel", fn);
    if (count > 1) lt_syncbn_update_running(rm, rv, mean, var, C, count, momentum);
    lua_pushinteger(L, (lua_Integer)count);
    return 1;
}

/* sync_batch_norm_backward(dy, x, mean, invstd, weight|nil, count, dx_out, dw_out|nil,
 * db_out|nil, threads): dx from the all-reduced sums; dw, db this rank's parts. */
static int l_sync_batch_norm_backward(lua_State *L) {
    const char *fn = "SyncBatchNorm backward";
    lt_tensor *dy = check_f32(L, 1, fn, "grad");
    lt_tensor *x = check_f32(L, 2, fn, "x");
    int64_t N, C, S;
    check_nc(L, x, fn, &N, &C, &S);
    if (numel(dy) != numel(x)) lt_lua_error(L, "%s: grad and x differ in size", fn);
    const float *mean = check_vec(L, 3, C, fn, "mean", 0);
    const float *invstd = check_vec(L, 4, C, fn, "invstd", 0);
    const float *w = check_vec(L, 5, C, fn, "weight", 1);
    lua_Integer M = luaL_checkinteger(L, 6);
    if (M < 1) lt_lua_error(L, "%s: count must be >= 1, got %I", fn, M);
    lt_tensor *dx = check_f32(L, 7, fn, "dx");
    if (numel(dx) != numel(x)) lt_lua_error(L, "%s: dx and x differ in size", fn);
    float *dw = check_vec(L, 8, C, fn, "dweight", 1);
    float *db = check_vec(L, 9, C, fn, "dbias", 1);
    const int threads = (int)luaL_optinteger(L, 10, 1);
    need_init(L, fn);
    double *sums = (double *)lua_newuserdatauv(L, (size_t)(C ? C : 1) * 2 * sizeof(double), 0);
    lt_syncbn_backward_reduce(sums, dw, db, (const float *)tdata(dy), (const float *)tdata(x), mean, invstd, N, C, S,
                              threads);
    char err[LT_DIST_ERRLEN];
    check_status(L, lt_dist_all_reduce(sums, 2 * C, LT_DIST_F64, LT_DIST_SUM, (uint64_t)C, err), fn, err);
    lt_syncbn_backward_input((float *)tdata(dx), (const float *)tdata(dy), (const float *)tdata(x), mean, invstd, w,
                             sums, (int64_t)M, N, C, S, threads);
    return 0;
}

/* ------------------------------------------------------------------ module */

/* Finalizes at the close of the last Lua state that loaded the module (when the script did
 * not call finalize()). */
static int nstates = 0;
static int at_close(lua_State *L) {
    (void)L;
    if (--nstates == 0) lt_dist_at_close();
    return 0;
}

static const luaL_Reg funcs[] = {
    {"init", l_init},
    {"is_initialized", l_is_initialized},
    {"rank", l_rank},
    {"world_size", l_world_size},
    {"get_timeout", l_get_timeout},
    {"set_timeout", l_set_timeout},
    {"version", l_version},
    {"cores", l_cores},
    {"barrier", l_barrier},
    {"all_reduce", l_all_reduce},
    {"broadcast", l_broadcast},
    {"all_gather_into", l_all_gather_into},
    {"all_reduce_coalesced", l_all_reduce_coalesced},
    {"broadcast_coalesced", l_broadcast_coalesced},
    {"all_reduce_numbers", l_all_reduce_numbers},
    {"broadcast_string", l_broadcast_string},
    {"sync_batch_norm_stats", l_sync_batch_norm_stats},
    {"sync_batch_norm_backward", l_sync_batch_norm_backward},
    {"finalize", l_finalize},
    {NULL, NULL},
};

__attribute__((visibility("default"))) int luaopen_lunet_distributed_core(lua_State *L);
int luaopen_lunet_distributed_core(lua_State *L) {
    nstates++;
    lua_newuserdatauv(L, 1, 0);
    lua_newtable(L);
    lua_pushcfunction(L, at_close);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "lunet.distributed.sentinel");
    luaL_newlib(L, funcs);
    return 1;
}
