/* lua_tensor.c: the tensor userdata (metatable, attribute table, lifetime) and the raw,
 * non-autograd tensor functions and methods. lua/lunet/tensor.lua wraps the differentiable
 * ones with autograd; dims and positions are converted here from 1-based to 0-based. */
#include "lt_isa.h"
#include "lt_lua.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- helpers */

const char *lt_shape_str(const lt_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int d = 0; d < t->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)t->size[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

static const char *sizes_str(int ndim, const int64_t *size, char *buf, size_t n) {
    lt_tensor t;
    t.ndim = ndim;
    for (int d = 0; d < ndim; d++) t.size[d] = size[d];
    return lt_shape_str(&t, buf, n);
}

int lt_lua_error(lua_State *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

lt_tensor *lt_lua_totensor(lua_State *L, int idx) {
    return (lt_tensor *)luaL_testudata(L, idx, LT_TENSOR_MT);
}

lt_tensor *lt_lua_checktensor(lua_State *L, int idx, const char *fn, const char *arg) {
    lt_tensor *t = lt_lua_totensor(L, idx);
    if (!t) lt_lua_error(L, "%s: %s must be a tensor, got %s", fn, arg, luaL_typename(L, idx));
    if (!t->storage || !t->storage->data)
        lt_lua_error(L, "%s: %s was released with free()", fn, arg);
    return t;
}

lt_tensor *lt_lua_checkdtype(lua_State *L, int idx, const char *fn, const char *arg, lt_dtype dt) {
    lt_tensor *t = lt_lua_checktensor(L, idx, fn, arg);
    if (t->dtype != dt)
        lt_lua_error(L, "%s: %s must be %s, got %s", fn, arg, lt_dtype_name(dt), lt_dtype_name(t->dtype));
    return t;
}

/* A number as messages print it: integers in full, nan/inf spelt out, other values with the
 * fewest digits that read back to the same float (or double). */
static const char *num_str(double v, char *buf, size_t n) {
    if (v != v) snprintf(buf, n, "nan");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else if (v == floor(v) && fabs(v) < 1e19) snprintf(buf, n, "%.0f", v);
    else if ((double)(float)v == v) {
        for (int p = 6; p <= 9; p++) {
            snprintf(buf, n, "%.*g", p, v);
            if ((float)strtod(buf, NULL) == (float)v) break;
        }
    } else {
        for (int p = 15; p <= 17; p++) {
            snprintf(buf, n, "%.*g", p, v);
            if (strtod(buf, NULL) == v) break;
        }
    }
    return buf;
}

/* " at [2, 3]" for a position, "" for none. */
static const char *pos_str(int ndim, const int64_t *pos, char *buf, size_t n) {
    if (ndim <= 0) {
        buf[0] = 0;
        return buf;
    }
    size_t k = (size_t)snprintf(buf, n, " at [");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)pos[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* Raises "fn: <noun> 300 at [2] cannot be converted to type uint8 without overflow" from the
 * record of the last LT_ERANGE (noun: "value" for conversions, "result" for arithmetic). */
static int range_error(lua_State *L, const char *fn, const char *noun) {
    const lt_range_error *r = lt_last_range_error(lt_lua_ctx(L));
    char v[64], p[200];
    return lt_lua_error(L, "%s: %s %s%s cannot be converted to type %s without overflow", fn, noun,
                        num_str(r->value, v, sizeof v), pos_str(r->ndim, r->pos, p, sizeof p),
                        lt_dtype_name(r->dtype));
}

void lt_lua_check(lua_State *L, lt_status st, const char *fn) {
    if (st == LT_ERANGE) range_error(L, fn, "value");
    if (st != LT_OK) lt_lua_error(L, "%s: %s", fn, lt_status_str(st));
}

/* The same for arithmetic: a result that does not fit an integer output dtype. */
static void check_result(lua_State *L, lt_status st, const char *fn) {
    if (st == LT_ERANGE) range_error(L, fn, "result");
    lt_lua_check(L, st, fn);
}

/* Reads the number at idx as a value to store in dtype dt, or raises "fn: value 300[ at
 * [2]] cannot be converted to type uint8 without overflow" (Lua integers compared and
 * printed exactly). `where` is a position text (" at [2]") or "". */
static double check_value(lua_State *L, int idx, lt_dtype dt, const char *fn, const char *where) {
    if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        lua_Integer lo = dt == LT_INT32 ? INT32_MIN : 0, hi = dt == LT_INT32 ? INT32_MAX : 255;
        if (dt != LT_FLOAT32 && (i < lo || i > hi))
            lt_lua_error(L, "%s: value %I%s cannot be converted to type %s without overflow", fn, i, where,
                         lt_dtype_name(dt));
        return (double)i;
    }
    double v = lua_tonumber(L, idx);
    if (!lt_fits(v, dt)) {
        char b[64];
        lt_lua_error(L, "%s: value %s%s cannot be converted to type %s without overflow", fn,
                     num_str(v, b, sizeof b), where, lt_dtype_name(dt));
    }
    return v;
}

/* The integer at idx (a float with an integral value is accepted), or raises
 * "fn: what must be an integer, got 2.5". */
static lua_Integer check_integer(lua_State *L, int idx, const char *fn, const char *what) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum || lua_type(L, idx) != LUA_TNUMBER) {
        if (lua_type(L, idx) == LUA_TNUMBER) {
            char b[64];
            lt_lua_error(L, "%s: %s must be an integer, got %s", fn, what, num_str(lua_tonumber(L, idx), b, sizeof b));
        }
        lt_lua_error(L, "%s: %s must be an integer, got %s", fn, what, luaL_typename(L, idx));
    }
    return v;
}

/* Raises "fn: shape [..] is too large (...)" for a shape that fails lt_shape_numel. */
static const char *sizes_str(int ndim, const int64_t *size, char *buf, size_t n);
static int shape_overflow(lua_State *L, const char *fn, int ndim, const int64_t *size) {
    char buf[200];
    return lt_lua_error(L, "%s: shape %s is too large (its element count or byte size overflows int64)", fn,
                        sizes_str(ndim, size, buf, sizeof buf));
}

/* Tells the collector about tensor memory, which Lua cannot see (the reason Torch7 loops
 * needed collectgarbage()). Two mechanisms:
 *  - every 64 kB of storage is reported as an incremental step (LUA_GCSTEP), which keeps
 *    loops of small tensors flat;
 *  - incremental cycles do not always finish when steps come from inside metamethods and
 *    finalizable objects are created between them (seen with Lua 5.4.4), so once the bytes
 *    allocated since the last full collection exceed the storage that survived it (at least
 *    64 MB), a full collection runs. Its cost is proportional to the number of Lua objects,
 *    not to tensor bytes, and it bounds tensor memory to about twice what is live. */
static void report_bytes(lua_State *L, lt_context *ctx, size_t nbytes) {
    lt_gc_pacing *g = lt_ctx_gc_pacing(ctx);   /* per state: the context is the state's */
    g->pending += nbytes + sizeof(lt_storage) + 64;
    g->since_full += nbytes;
    if (g->pending < 65536 || !lua_gc(L, LUA_GCISRUNNING)) return;
    if (g->since_full >= g->full_threshold) {
        lua_gc(L, LUA_GCCOLLECT);
        size_t live = lt_ctx_live_bytes(ctx);
        g->full_threshold = live > ((size_t)64 << 20) ? live : ((size_t)64 << 20);
        g->since_full = 0;
        g->pending = 0;
        return;
    }
    size_t kb = g->pending / 1024;
    g->pending = 0;
    lua_gc(L, LUA_GCSTEP, kb > 0x3fffffff ? 0x3fffffff : (int)kb);
}

static lt_tensor *push_empty_ud(lua_State *L) {
    lt_tensor *t = (lt_tensor *)lua_newuserdatauv(L, sizeof(lt_tensor), 1);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, LT_TENSOR_MT);
    return t;
}

static lt_tensor *new_tensor(lua_State *L, lt_dtype dt, int ndim, const int64_t *size,
                             const char *fn, int zero) {
    char buf[200];
    if (ndim < 0 || ndim > LT_MAXDIM)
        lt_lua_error(L, "%s: %d dimensions (at most %d supported)", fn, ndim, LT_MAXDIM);
    for (int d = 0; d < ndim; d++)
        if (size[d] < 0)
            lt_lua_error(L, "%s: negative size %I in shape %s", fn, (lua_Integer)size[d],
                       sizes_str(ndim, size, buf, sizeof buf));
    int64_t n;
    if (lt_shape_numel(ndim, size, lt_dtype_size(dt), &n) != LT_OK) shape_overflow(L, fn, ndim, size);
    /* Step the collector before creating the new userdata: a step taken right after a
     * finalizable object was created, inside an arithmetic metamethod (x * y), leaves the
     * garbage of earlier iterations unfinalized in Lua 5.4 (reproduced in pure Lua). */
    lt_context *ctx = lt_lua_ctx(L);
    report_bytes(L, ctx, (size_t)n * lt_dtype_size(dt));
    lt_tensor *t = push_empty_ud(L);
    lt_tensor tmp;
    lt_status st = zero ? lt_tensor_init(ctx, &tmp, dt, ndim, size)
                        : lt_tensor_init_uninit(ctx, &tmp, dt, ndim, size);
    if (st != LT_OK)
        lt_lua_error(L, "%s: cannot allocate a %s tensor of shape %s (%f GB)", fn, lt_dtype_name(dt),
                   sizes_str(ndim, size, buf, sizeof buf), (double)n * (double)lt_dtype_size(dt) / 1e9);
    *t = tmp;
    return t;
}

lt_tensor *lt_lua_newtensor(lua_State *L, lt_dtype dt, int ndim, const int64_t *size,
                            const char *fn) {
    return new_tensor(L, dt, ndim, size, fn, 1);
}

lt_tensor *lt_lua_newtensor_uninit(lua_State *L, lt_dtype dt, int ndim, const int64_t *size,
                                   const char *fn) {
    return new_tensor(L, dt, ndim, size, fn, 0);
}

/* A contiguous uninitialised tensor with t's dtype and shape. */
static lt_tensor *newlike_uninit(lua_State *L, const lt_tensor *t, const char *fn) {
    return new_tensor(L, t->dtype, t->ndim, t->size, fn, 0);
}

lt_tensor *lt_lua_newlike(lua_State *L, const lt_tensor *t, const char *fn) {
    return lt_lua_newtensor(L, t->dtype, t->ndim, t->size, fn);
}

lt_tensor *lt_lua_newview(lua_State *L, const lt_tensor *src) {
    lt_tensor *t = push_empty_ud(L);
    lt_tensor_view_of(t, src);
    return t;
}

lt_tensor *lt_lua_contiguous(lua_State *L, int idx, const char *fn, const char *arg, int *pushed) {
    lt_tensor *t = lt_lua_checktensor(L, idx, fn, arg);
    if (lt_is_contiguous(t)) {
        *pushed = 0;
        return t;
    }
    lt_tensor *c = newlike_uninit(L, t, fn);   /* lt_copy writes every element */
    lt_lua_check(L, lt_copy(lt_lua_ctx(L), c, t), fn);
    *pushed = 1;
    return c;
}

static int read_shape(lua_State *L, int idx, int64_t *size, const char *fn, int allow_infer) {
    int ndim = 0;
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, idx);
        if (n > LT_MAXDIM) lt_lua_error(L, "%s: shape has %I dimensions (at most %d)", fn, n, LT_MAXDIM);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, idx, i);
            int isnum;
            lua_Integer v = lua_tointegerx(L, -1, &isnum);
            if (!isnum) {
                if (lua_type(L, -1) == LUA_TNUMBER)
                    lt_lua_error(L, "%s: shape entry %I must be an integer, got %s", fn, i, lua_tostring(L, -1));
                lt_lua_error(L, "%s: shape entry %I must be an integer, got %s", fn, i, luaL_typename(L, -1));
            }
            lua_pop(L, 1);
            size[ndim++] = v;
        }
    } else {
        while (lua_type(L, idx + ndim) == LUA_TNUMBER) {
            if (ndim >= LT_MAXDIM) lt_lua_error(L, "%s: more than %d dimensions", fn, LT_MAXDIM);
            int isnum;
            lua_Integer v = lua_tointegerx(L, idx + ndim, &isnum);
            if (!isnum) lt_lua_error(L, "%s: size %s is not an integer", fn, lua_tostring(L, idx + ndim));
            size[ndim++] = v;
        }
    }
    for (int d = 0; d < ndim; d++)
        if (size[d] < 0 && !(allow_infer && size[d] == -1)) {
            char buf[200];
            lt_lua_error(L, "%s: negative size %I in shape %s", fn, (lua_Integer)size[d],
                       sizes_str(ndim, size, buf, sizeof buf));
        }
    return ndim;
}

int lt_lua_checkshape(lua_State *L, int idx, int64_t *size, const char *fn) {
    return read_shape(L, idx, size, fn, 0);
}

/* Index of the argument after a shape read at idx. */
static int after_shape(lua_State *L, int idx, int ndim) {
    return lua_type(L, idx) == LUA_TTABLE ? idx + 1 : idx + ndim;
}

int lt_lua_checkdim(lua_State *L, int argidx, int ndim, const char *fn) {
    int isnum;
    lua_Integer d = lua_tointegerx(L, argidx, &isnum);
    if (!isnum || lua_type(L, argidx) != LUA_TNUMBER) {
        if (lua_type(L, argidx) == LUA_TNUMBER) {
            char b[64];
            lt_lua_error(L, "%s: dimension must be an integer, got %s", fn,
                         num_str(lua_tonumber(L, argidx), b, sizeof b));
        }
        lt_lua_error(L, "%s: dimension must be an integer, got %s", fn, luaL_typename(L, argidx));
    }
    if (ndim == 0) ndim = 1; /* a 0-d tensor accepts dim 1 / -1 like PyTorch's 0 / -1 */
    if (d == 0 || d > ndim || d < -ndim)
        lt_lua_error(L, "%s: dimension %I out of range for a %d-d tensor (use 1..%d or -%d..-1)", fn,
                   d, ndim, ndim, ndim);
    return d > 0 ? (int)(d - 1) : (int)(ndim + d);
}

lt_dtype lt_lua_checkdtypename(lua_State *L, int idx, const char *fn) {
    const char *s = luaL_checkstring(L, idx);
    if (!strcmp(s, "float32") || !strcmp(s, "float")) return LT_FLOAT32;
    if (!strcmp(s, "int32") || !strcmp(s, "int")) return LT_INT32;
    if (!strcmp(s, "uint8") || !strcmp(s, "byte")) return LT_UINT8;
    lt_lua_error(L, "%s: unknown dtype '%s' (expected float32, int32 or uint8)", fn, s);
    return LT_FLOAT32;
}

/* ---------------------------------------------------------------- metatable */

static int t_gc(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    lt_tensor_release(t);
    return 0;
}

/* t:free(): releases the storage at once for this tensor and every view of it. */
static int t_free(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    if (t->storage) lt_storage_free_data(t->storage);
    lt_tensor_release(t);
    /* drop autograd attributes too */
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

/* __index: methods first, then the attribute table (grad, autograd fields). */
static int t_index(lua_State *L) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER)
        return lt_lua_error(L, "tensor: numeric indexing is not supported; use x:get(i, ...) or x:select(d, i)");
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int t_newindex(lua_State *L) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
        return lt_lua_error(L, "tensor: cannot assign to method '%s'", lua_tostring(L, 2));
    lua_pop(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) return lt_lua_error(L, "tensor: attribute names must be strings");
    if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, 1);
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_rawset(L, -3);
    return 0;
}

/* ---------------------------------------------------------------- inspection */

static lt_tensor *self(lua_State *L, const char *fn) {
    return lt_lua_checktensor(L, 1, fn, "self");
}

static int push_list(lua_State *L, int n, const int64_t *v) {
    lua_createtable(L, n, 0);
    for (int d = 0; d < n; d++) {
        lua_pushinteger(L, v[d]);
        lua_rawseti(L, -2, d + 1);
    }
    return 1;
}

static int m_shape(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    return push_list(L, t->ndim, t->size);
}

static int m_size(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    if (lua_isnoneornil(L, 2)) return m_shape(L);
    int d = lt_lua_checkdim(L, 2, t->ndim, "size");
    lua_pushinteger(L, t->ndim ? t->size[d] : 1);
    return 1;
}

static int m_stride(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    return push_list(L, t->ndim, t->stride);
}

static int m_dim(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    lua_pushinteger(L, t->ndim);
    return 1;
}

static int m_numel(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    lua_pushinteger(L, lt_numel(t));
    return 1;
}

static int m_dtype(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    lua_pushstring(L, lt_dtype_name(t->dtype));
    return 1;
}

static int m_is_contiguous(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    lua_pushboolean(L, lt_is_contiguous(t));
    return 1;
}

static int m_is_freed(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    lua_pushboolean(L, !t->storage || !t->storage->data);
    return 1;
}

/* Same storage (views of one another)? */
static int m_shares_storage(lua_State *L) {
    lt_tensor *a = self(L, "shares_storage");
    lt_tensor *b = lt_lua_checktensor(L, 2, "shares_storage", "other");
    lua_pushboolean(L, a->storage == b->storage);
    return 1;
}

static void push_elem(lua_State *L, const lt_tensor *t, double v) {
    if (t->dtype == LT_FLOAT32) lua_pushnumber(L, v);
    else lua_pushinteger(L, (lua_Integer)v);
}

static int m_item(lua_State *L) {
    lt_tensor *t = self(L, "item");
    if (lt_numel(t) != 1) {
        char buf[200];
        return lt_lua_error(L, "item: tensor of shape %s has %I elements, expected exactly 1",
                          lt_shape_str(t, buf, sizeof buf), (lua_Integer)lt_numel(t));
    }
    push_elem(L, t, lt_get_flat(t, 0));
    return 1;
}

static void totable_rec(lua_State *L, const lt_tensor *t, int d, int64_t off) {
    const char *base = lt_data(t);
    size_t es = lt_dtype_size(t->dtype);
    lua_createtable(L, t->size[d] < INT32_MAX ? (int)t->size[d] : 0, 0);
    for (int64_t i = 0; i < t->size[d]; i++) {
        int64_t o = off + i * t->stride[d];
        if (d == t->ndim - 1) {
            const char *p = base + (size_t)o * es;
            switch (t->dtype) {
            case LT_FLOAT32: lua_pushnumber(L, *(const float *)p); break;
            case LT_INT32: lua_pushinteger(L, *(const int32_t *)p); break;
            case LT_UINT8: lua_pushinteger(L, *(const uint8_t *)p); break;
            }
        } else {
            totable_rec(L, t, d + 1, o);
        }
        lua_rawseti(L, -2, i + 1);
    }
}

static int m_totable(lua_State *L) {
    lt_tensor *t = self(L, "totable");
    if (t->ndim == 0) {
        push_elem(L, t, lt_get_flat(t, 0));
        return 1;
    }
    luaL_checkstack(L, t->ndim + 4, "totable");
    totable_rec(L, t, 0, 0);
    return 1;
}

/* Flat list of the values in row-major order (any shape). */
static int m_tolist(lua_State *L) {
    lt_tensor *t = self(L, "tolist");
    int64_t n = lt_numel(t);
    lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
    for (int64_t i = 0; i < n; i++) {
        push_elem(L, t, lt_get_flat(t, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* Offset of the element at 1-based (or negative) indices in args first..first+ndim-1. */
static int64_t elem_offset(lua_State *L, const lt_tensor *t, int first, const char *fn) {
    int nargs = lua_gettop(L) - first + 1;
    if (nargs != t->ndim) {
        char buf[200];
        lt_lua_error(L, "%s: %d indices given for a tensor of shape %s", fn, nargs < 0 ? 0 : nargs,
                   lt_shape_str(t, buf, sizeof buf));
    }
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        int isnum;
        lua_Integer i = lua_tointegerx(L, first + d, &isnum);
        if (!isnum) lt_lua_error(L, "%s: index %d must be an integer, got %s", fn, d + 1, luaL_typename(L, first + d));
        int64_t sz = t->size[d];
        if (i == 0 || i > sz || i < -sz)
            lt_lua_error(L, "%s: index %I out of range for dimension %d of size %I", fn, i, d + 1, (lua_Integer)sz);
        int64_t k = i > 0 ? i - 1 : sz + i;
        off += k * t->stride[d];
    }
    return off;
}

static int m_get(lua_State *L) {
    lt_tensor *t = self(L, "get");
    int64_t off = elem_offset(L, t, 2, "get");
    const char *p = (const char *)lt_data(t) + (size_t)off * lt_dtype_size(t->dtype);
    switch (t->dtype) {
    case LT_FLOAT32: lua_pushnumber(L, *(const float *)p); break;
    case LT_INT32: lua_pushinteger(L, *(const int32_t *)p); break;
    case LT_UINT8: lua_pushinteger(L, *(const uint8_t *)p); break;
    }
    return 1;
}

static int m_set(lua_State *L) {
    lt_tensor *t = self(L, "set");
    if (lua_type(L, 2) != LUA_TNUMBER)
        return lt_lua_error(L, "set: value must be a number, got %s", luaL_typename(L, 2));
    int64_t off = elem_offset(L, t, 3, "set");
    double v = check_value(L, 2, t->dtype, "set", "");
    char *p = (char *)lt_data(t) + (size_t)off * lt_dtype_size(t->dtype);
    switch (t->dtype) {
    case LT_FLOAT32: *(float *)p = (float)v; break;
    case LT_INT32: *(int32_t *)p = (int32_t)v; break;
    case LT_UINT8: *(uint8_t *)p = (uint8_t)v; break;
    }
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- creation */

/* Reads nested tables at idx, recording the shape at the first visit of each depth. */
static void infer_shape(lua_State *L, int idx, int depth, int *ndim, int64_t *size, const char *fn) {
    if (lua_type(L, idx) != LUA_TTABLE) return;
    if (depth >= LT_MAXDIM) lt_lua_error(L, "%s: nested more than %d levels", fn, LT_MAXDIM);
    lua_Integer n = luaL_len(L, idx);
    if (depth >= *ndim) {
        *ndim = depth + 1;
        size[depth] = n;
    }
    if (n > 0) {
        lua_geti(L, idx, 1);
        infer_shape(L, lua_gettop(L), depth + 1, ndim, size, fn);
        lua_pop(L, 1);
    }
}

/* Stores the number (or boolean) at the top of the stack as element `flat` of t, checking
 * that it converts to t's dtype; at[0..ndim) is its position for messages. */
static void store_entry(lua_State *L, lt_tensor *t, int64_t flat, int ndim, const int64_t *at,
                        const char *fn) {
    char where[200];
    pos_str(ndim, at, where, sizeof where);
    if (lua_isboolean(L, -1)) {
        lt_set_flat(t, flat, lua_toboolean(L, -1));
        return;
    }
    if (lua_type(L, -1) != LUA_TNUMBER)
        lt_lua_error(L, "%s: entry%s must be a number, got %s", fn, where, luaL_typename(L, -1));
    lt_set_flat(t, flat, check_value(L, -1, t->dtype, fn, where));
}

static void fill_from_table(lua_State *L, int idx, int depth, lt_tensor *t, int64_t *pos,
                            int64_t *at, const char *fn) {
    lua_Integer n = luaL_len(L, idx);
    if (n != t->size[depth])
        lt_lua_error(L, "%s: ragged nested table: expected %I entries at depth %d, got %I", fn,
                   (lua_Integer)t->size[depth], depth + 1, (lua_Integer)n);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        at[depth] = i;
        if (depth == t->ndim - 1) {
            store_entry(L, t, (*pos)++, t->ndim, at, fn);
        } else {
            if (!lua_istable(L, -1)) lt_lua_error(L, "%s: ragged nested table at depth %d", fn, depth + 1);
            fill_from_table(L, lua_gettop(L), depth + 1, t, pos, at, fn);
        }
        lua_pop(L, 1);
    }
}

static const char *const dtype_opts[] = {"dtype", NULL};

static lt_dtype opt_dtype(lua_State *L, int optidx, lt_dtype def, const char *fn) {
    if (!lt_opt_get(L, optidx, "dtype", fn)) return def;
    lt_dtype dt = lt_lua_checkdtypename(L, lua_gettop(L), fn);
    lua_pop(L, 1);
    return dt;
}

/* tensor(number | nested table | flat table, {dtype=, shape=}) */
static int f_tensor(lua_State *L) {
    const char *fn = "tensor";
    static const char *const known[] = {"dtype", "shape", NULL};
    lt_opt_check(L, 2, fn, known);
    lt_dtype dt = opt_dtype(L, 2, LT_FLOAT32, fn);
    if (!lua_istable(L, 1) || lt_lua_totensor(L, 1)) {
        if (lt_opt_get(L, 2, "shape", fn))
            return lt_lua_error(L, "%s: option shape applies to a flat table of values, not to a %s (use view)",
                                fn, lt_lua_totensor(L, 1) ? "tensor" : luaL_typename(L, 1));
    }
    if (lua_type(L, 1) == LUA_TNUMBER || lua_isboolean(L, 1)) {
        double v = lua_isboolean(L, 1) ? lua_toboolean(L, 1) : check_value(L, 1, dt, fn, "");
        lt_tensor *t = lt_lua_newtensor(L, dt, 0, NULL, fn);
        lt_set_flat(t, 0, v);
        return 1;
    }
    if (lt_lua_totensor(L, 1)) {
        lt_tensor *src = lt_lua_checktensor(L, 1, fn, "data");
        lt_tensor *t = lt_lua_newtensor(L, dt, src->ndim, src->size, fn);
        lt_lua_check(L, lt_copy(lt_lua_ctx(L), t, src), fn);
        return 1;
    }
    if (!lua_istable(L, 1)) return lt_lua_error(L, "%s: data must be a number or a table, got %s", fn, luaL_typename(L, 1));
    int64_t size[LT_MAXDIM];
    int ndim = 0;
    if (lt_opt_get(L, 2, "shape", fn)) {
        ndim = lt_lua_checkshape(L, lua_gettop(L), size, fn);
        lua_pop(L, 1);
        int64_t n;
        if (lt_shape_numel(ndim, size, lt_dtype_size(dt), &n) != LT_OK) return shape_overflow(L, fn, ndim, size);
        lua_Integer len = luaL_len(L, 1);
        if (len != n) {
            char buf[200];
            return lt_lua_error(L, "%s: %I values given for shape %s (%I elements)", fn, (lua_Integer)len,
                              sizes_str(ndim, size, buf, sizeof buf), (lua_Integer)n);
        }
        lt_tensor *t = lt_lua_newtensor(L, dt, ndim, size, fn);
        for (lua_Integer i = 1; i <= len; i++) {
            lua_geti(L, 1, i);
            int64_t at[LT_MAXDIM], r = i - 1;
            for (int d = ndim - 1; d >= 0; d--) {
                at[d] = r % size[d] + 1;
                r /= size[d];
            }
            store_entry(L, t, i - 1, ndim, at, fn);
            lua_pop(L, 1);
        }
        return 1;
    }
    infer_shape(L, 1, 0, &ndim, size, fn);
    lt_tensor *t = lt_lua_newtensor(L, dt, ndim, size, fn);
    int64_t pos = 0, at[LT_MAXDIM];
    if (lt_numel(t) > 0) fill_from_table(L, 1, 0, t, &pos, at, fn);
    return 1;
}

static int make_filled(lua_State *L, const char *fn, double v, int has_value, int zero) {
    int64_t size[LT_MAXDIM];
    int ndim = lt_lua_checkshape(L, 1, size, fn);
    int next = after_shape(L, 1, ndim);
    int vidx = 0;
    if (has_value) {
        if (lua_type(L, next) != LUA_TNUMBER && !lua_isboolean(L, next))
            return lt_lua_error(L, "%s: fill value must be a number, got %s", fn, luaL_typename(L, next));
        vidx = next++;
    }
    lt_opt_check(L, next, fn, dtype_opts);
    lt_dtype dt = opt_dtype(L, next, LT_FLOAT32, fn);
    if (vidx) v = lua_isboolean(L, vidx) ? lua_toboolean(L, vidx) : check_value(L, vidx, dt, fn, "");
    lt_tensor *t = new_tensor(L, dt, ndim, size, fn, zero);
    if (!zero) lt_lua_check(L, lt_fill(lt_lua_ctx(L), t, v), fn);
    return 1;
}

static int f_zeros(lua_State *L) { return make_filled(L, "zeros", 0, 0, 1); }
static int f_empty(lua_State *L) {  /* uninitialised, as torch.empty */
    int64_t size[LT_MAXDIM];
    int ndim = lt_lua_checkshape(L, 1, size, "empty");
    lt_opt_check(L, after_shape(L, 1, ndim), "empty", dtype_opts);
    lt_dtype dt = opt_dtype(L, after_shape(L, 1, ndim), LT_FLOAT32, "empty");
    new_tensor(L, dt, ndim, size, "empty", 0);
    return 1;
}
static int f_ones(lua_State *L) { return make_filled(L, "ones", 1, 0, 0); }
static int f_full(lua_State *L) { return make_filled(L, "full", 0, 1, 0); }

/* arange(a, b [, step], {dtype=}): a, a+step, ... < b (PyTorch's end-exclusive rule).
 * arange(n) gives 0..n-1. Integer arguments give int32 unless dtype says otherwise. Like
 * PyTorch: step 0, non-finite bounds and a step whose sign goes away from the end raise. */
static int f_arange(lua_State *L) {
    const char *fn = "arange";
    int nnum = 0;
    while (nnum < 3 && lua_type(L, nnum + 1) == LUA_TNUMBER) nnum++;
    if (nnum == 0) return lt_lua_error(L, "%s: expected arange(stop) or arange(start, stop [, step])", fn);
    int optidx = nnum + 1;
    lt_opt_check(L, optidx, fn, dtype_opts);
    static const char *const names1[] = {"end"}, *const names3[] = {"start", "end", "step"};
    for (int i = 1; i <= nnum; i++) {
        double v = lua_tonumber(L, i);
        if (v != v || isinf(v)) {
            char b[64];
            return lt_lua_error(L, "%s: %s must be finite, got %s", fn, nnum == 1 ? names1[0] : names3[i - 1],
                                num_str(v, b, sizeof b));
        }
    }
    double a = 0, b, step = 1;
    if (nnum == 1) b = lua_tonumber(L, 1);
    else {
        a = lua_tonumber(L, 1);
        b = lua_tonumber(L, 2);
        if (nnum >= 3) step = lua_tonumber(L, 3);
    }
    int allint = 1;
    for (int i = 1; i <= nnum; i++) allint &= lua_isinteger(L, i);
    char sa[64], sb[64], ss[64];
    if (step == 0) return lt_lua_error(L, "%s: step must be nonzero", fn);
    if ((b > a && step < 0) || (b < a && step > 0))
        return lt_lua_error(L, "%s: step %s goes away from end %s (start %s): the bounds are inconsistent with the "
                               "step sign", fn, num_str(step, ss, sizeof ss), num_str(b, sb, sizeof sb),
                            num_str(a, sa, sizeof sa));
    lt_dtype dt = opt_dtype(L, optidx, allint ? LT_INT32 : LT_FLOAT32, fn);
    /* the count in exact integers when the arguments are integers, in double otherwise */
    int64_t n;
    if (allint) {
        lua_Integer ia = nnum == 1 ? 0 : lua_tointeger(L, 1), ib = lua_tointeger(L, nnum == 1 ? 1 : 2);
        lua_Integer is = nnum >= 3 ? lua_tointeger(L, 3) : 1;
        /* |b - a| and |step| as unsigned 64-bit: exact for any int64 arguments */
        uint64_t span = ib >= ia ? (uint64_t)ib - (uint64_t)ia : (uint64_t)ia - (uint64_t)ib;
        uint64_t ustep = is > 0 ? (uint64_t)is : (uint64_t)0 - (uint64_t)is;
        uint64_t c = span / ustep + (span % ustep != 0);
        if (c > (uint64_t)INT64_MAX) {
            char cb[32];
            snprintf(cb, sizeof cb, "%llu", (unsigned long long)c);
            return lt_lua_error(L, "%s: start %I, end %I and step %I give too many elements (%s)", fn, ia, ib, is, cb);
        }
        n = (int64_t)c;
    } else {
        double cnt = ceil((b - a) / step);
        if (cnt < 0) cnt = 0;
        if (!(cnt < 9.2e18)) { /* beyond int64 (or inf from an overflowing b - a) */
            char cb[64];
            return lt_lua_error(L, "%s: start %s, end %s and step %s give too many elements (%s)", fn,
                                num_str(a, sa, sizeof sa), num_str(b, sb, sizeof sb), num_str(step, ss, sizeof ss),
                                num_str(cnt, cb, sizeof cb));
        }
        n = (int64_t)cnt;
    }
    lt_tensor *t = lt_lua_newtensor_uninit(L, dt, 1, &n, fn);
    for (int64_t i = 0; i < n; i++) {
        double v = a + (double)i * step;
        if (!lt_fits(v, dt)) {
            int64_t at = i + 1;
            char where[64], vb[64];
            return lt_lua_error(L, "%s: value %s%s cannot be converted to type %s without overflow", fn,
                                num_str(v, vb, sizeof vb), pos_str(1, &at, where, sizeof where), lt_dtype_name(dt));
        }
        lt_set_flat(t, i, v);
    }
    return 1;
}

/* ---------------------------------------------------------------- views */

/* Reads the shape of view/reshape at arg 2 (one entry may be -1) and resolves it against
 * t's element count, with overflow-checked products. */
static int target_shape(lua_State *L, const lt_tensor *t, int64_t *size, const char *fn) {
    int ndim = read_shape(L, 2, size, fn, 1);
    int infer = -1;
    int64_t known = 1;
    int overflow = 0;
    for (int d = 0; d < ndim; d++) {
        if (size[d] == -1) {
            if (infer >= 0) return lt_lua_error(L, "%s: only one dimension can be -1", fn);
            infer = d;
        } else if (lt_mul_ovf(known, size[d], &known)) {
            overflow = 1;
        }
    }
    int64_t n = lt_numel(t);
    char b1[200], b2[200];
    if (infer >= 0) {
        if (overflow || known == 0 || n % known != 0)
            return lt_lua_error(L, "%s: cannot view a tensor of shape %s (%I elements) as %s", fn,
                              lt_shape_str(t, b1, sizeof b1), (lua_Integer)n, sizes_str(ndim, size, b2, sizeof b2));
        size[infer] = n / known;
        known = n;
    }
    if (overflow)
        return lt_lua_error(L, "%s: cannot view a tensor of shape %s (%I elements) as %s (the element count "
                               "overflows int64)", fn, lt_shape_str(t, b1, sizeof b1), (lua_Integer)n,
                            sizes_str(ndim, size, b2, sizeof b2));
    if (known != n)
        return lt_lua_error(L, "%s: cannot view a tensor of shape %s (%I elements) as %s (%I elements)", fn,
                          lt_shape_str(t, b1, sizeof b1), (lua_Integer)n, sizes_str(ndim, size, b2, sizeof b2),
                          (lua_Integer)known);
    if (lt_shape_numel(ndim, size, lt_dtype_size(t->dtype), NULL) != LT_OK) shape_overflow(L, fn, ndim, size);
    return ndim;
}

/* view(shape): always a view of the same storage; raises when the strides do not allow it
 * (PyTorch's rule), pointing to reshape. */
static int m_view(lua_State *L) {
    const char *fn = "view";
    lt_tensor *t = self(L, fn);
    int64_t size[LT_MAXDIM];
    int ndim = target_shape(L, t, size, fn);
    lt_tensor v = *t;
    if (!lt_view_reshape(&v, ndim, size)) {
        char b1[200], b2[200], b3[200];
        lt_tensor st = *t;
        memcpy(st.size, t->stride, sizeof st.size);
        return lt_lua_error(L, "%s: cannot view a tensor of shape %s and strides %s as %s without copying "
                               "(a dimension spans non-contiguous memory); use reshape, which copies then", fn,
                            lt_shape_str(t, b1, sizeof b1), lt_shape_str(&st, b2, sizeof b2),
                            sizes_str(ndim, size, b3, sizeof b3));
    }
    lt_tensor *o = lt_lua_newview(L, t);
    *o = v; /* newview retained the storage; v has the same storage */
    return 1;
}

/* reshape(shape): a view when the strides allow, else a contiguous copy. */
static int m_reshape(lua_State *L) {
    const char *fn = "reshape";
    lt_tensor *t = self(L, fn);
    int64_t size[LT_MAXDIM];
    int ndim = target_shape(L, t, size, fn);
    lt_tensor v = *t;
    if (lt_view_reshape(&v, ndim, size)) {
        lt_tensor *o = lt_lua_newview(L, t);
        *o = v;
        return 1;
    }
    lt_tensor *c = lt_lua_newtensor_uninit(L, t->dtype, ndim, size, fn);
    lt_lua_check(L, lt_copy(lt_lua_ctx(L), c, t), fn);
    return 1;
}

static int m_permute(lua_State *L) {
    const char *fn = "permute";
    lt_tensor *t = self(L, fn);
    int perm[LT_MAXDIM], seen[LT_MAXDIM] = {0};
    int n;
    if (lua_istable(L, 2)) {
        lua_Integer len = luaL_len(L, 2);
        if (len != t->ndim) return lt_lua_error(L, "%s: %I dims given for a %d-d tensor", fn, len, t->ndim);
        n = (int)len;
        for (int i = 0; i < n; i++) {
            lua_geti(L, 2, i + 1);
            perm[i] = lt_lua_checkdim(L, lua_gettop(L), t->ndim, fn);
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - 1;
        if (n != t->ndim) return lt_lua_error(L, "%s: %d dims given for a %d-d tensor", fn, n, t->ndim);
        for (int i = 0; i < n; i++) perm[i] = lt_lua_checkdim(L, i + 2, t->ndim, fn);
    }
    for (int i = 0; i < n; i++) {
        if (seen[perm[i]]) return lt_lua_error(L, "%s: dimension %d repeated", fn, perm[i] + 1);
        seen[perm[i]] = 1;
    }
    lt_tensor *v = lt_lua_newview(L, t);
    lt_view_permute(v, perm);
    return 1;
}

static int m_transpose(lua_State *L) {
    const char *fn = "transpose";
    lt_tensor *t = self(L, fn);
    int d1 = lt_lua_checkdim(L, 2, t->ndim, fn), d2 = lt_lua_checkdim(L, 3, t->ndim, fn);
    lt_tensor *v = lt_lua_newview(L, t);
    if (t->ndim > 0) lt_view_transpose(v, d1, d2);
    return 1;
}

static int m_narrow(lua_State *L) {
    const char *fn = "narrow";
    lt_tensor *t = self(L, fn);
    if (t->ndim == 0) return lt_lua_error(L, "%s: cannot narrow a 0-d tensor", fn);
    int d = lt_lua_checkdim(L, 2, t->ndim, fn);
    lua_Integer start = check_integer(L, 3, fn, "start"), len = check_integer(L, 4, fn, "length");
    lua_Integer start0 = start;
    int64_t sz = t->size[d], end;
    if (start < 0) start = sz + start + 1; /* -1 is the last position; no overflow: sz >= 0 */
    if (start < 1 || len < 0 || lt_add_ovf(start - 1, len, &end) || end > sz)
        return lt_lua_error(L, "%s: start %I and length %I out of range for dimension %d of size %I", fn,
                          start0, len, d + 1, (lua_Integer)sz);
    lt_tensor *v = lt_lua_newview(L, t);
    lt_view_narrow(v, d, start - 1, len);
    return 1;
}

static int m_select(lua_State *L) {
    const char *fn = "select";
    lt_tensor *t = self(L, fn);
    if (t->ndim == 0) return lt_lua_error(L, "%s: cannot select from a 0-d tensor", fn);
    int d = lt_lua_checkdim(L, 2, t->ndim, fn);
    lua_Integer i = check_integer(L, 3, fn, "index");
    int64_t sz = t->size[d];
    if (i == 0 || i > sz || i < -sz)
        return lt_lua_error(L, "%s: index %I out of range for dimension %d of size %I", fn, i, d + 1, (lua_Integer)sz);
    lt_tensor *v = lt_lua_newview(L, t);
    lt_view_select(v, d, i > 0 ? i - 1 : sz + i);
    return 1;
}

static int m_unsqueeze(lua_State *L) {
    const char *fn = "unsqueeze";
    lt_tensor *t = self(L, fn);
    if (t->ndim >= LT_MAXDIM) return lt_lua_error(L, "%s: tensor already has %d dimensions", fn, LT_MAXDIM);
    int d = lt_lua_checkdim(L, 2, t->ndim + 1, fn);
    lt_tensor *v = lt_lua_newview(L, t);
    lt_view_unsqueeze(v, d);
    return 1;
}

static int m_squeeze(lua_State *L) {
    const char *fn = "squeeze";
    lt_tensor *t = self(L, fn);
    lt_tensor *v;
    if (lua_isnoneornil(L, 2)) {
        v = lt_lua_newview(L, t);
        for (int d = v->ndim - 1; d >= 0; d--)
            if (v->size[d] == 1) lt_view_squeeze(v, d);
        return 1;
    }
    int d = lt_lua_checkdim(L, 2, t->ndim, fn);
    v = lt_lua_newview(L, t);
    if (t->ndim > 0 && v->size[d] == 1) lt_view_squeeze(v, d);
    return 1;
}

/* expand(sizes... | {sizes} | other): -1 keeps a size; new leading dimensions are added. */
static int m_expand(lua_State *L) {
    const char *fn = "expand";
    lt_tensor *t = self(L, fn);
    int64_t size[LT_MAXDIM];
    int ndim = 0;
    lt_tensor *other = lt_lua_totensor(L, 2);
    if (other) {
        ndim = other->ndim;
        memcpy(size, other->size, sizeof size);
    } else {
        ndim = read_shape(L, 2, size, fn, 1);
        if (ndim == 0 && !lua_isnoneornil(L, 2) && !lua_istable(L, 2))
            return lt_lua_error(L, "%s: sizes must be integers or one table, got %s", fn, luaL_typename(L, 2));
        if (ndim < t->ndim) {
            char b1[200], b2[200];
            return lt_lua_error(L, "%s: cannot expand shape %s to %s (fewer dimensions)", fn,
                                lt_shape_str(t, b1, sizeof b1), sizes_str(ndim, size, b2, sizeof b2));
        }
        for (int d = 0; d < ndim; d++) {
            int od = d - (ndim - t->ndim);
            if (size[d] == -1) {
                if (od < 0) return lt_lua_error(L, "%s: -1 not allowed for a new leading dimension", fn);
                size[d] = t->size[od];
            }
        }
    }
    lt_tensor v = *t;
    lt_status st = lt_view_expand(&v, ndim, size);
    if (st == LT_EOVERFLOW) return shape_overflow(L, fn, ndim, size);
    if (st != LT_OK) {
        char b1[200], b2[200];
        return lt_lua_error(L, "%s: cannot expand shape %s to %s", fn, lt_shape_str(t, b1, sizeof b1),
                          sizes_str(ndim, size, b2, sizeof b2));
    }
    lt_tensor *o = lt_lua_newview(L, t);
    *o = v;
    return 1;
}

/* ---------------------------------------------------------------- copies */

/* Pushes a contiguous copy of the view v (same dtype and shape). */
static lt_tensor *push_copy(lua_State *L, const lt_tensor *v, const char *fn) {
    lt_tensor *c = lt_lua_newtensor_uninit(L, v->dtype, v->ndim, v->size, fn);
    lt_lua_check(L, lt_copy(lt_lua_ctx(L), c, v), fn);
    return c;
}

static int m_contiguous(lua_State *L) {
    lt_tensor *t = self(L, "contiguous");
    if (lt_is_contiguous(t)) {
        lua_settop(L, 1);
        return 1;
    }
    push_copy(L, t, "contiguous");
    return 1;
}

/* detach(): a view of the same storage with no autograd attributes. */
static int m_detach(lua_State *L) {
    lt_tensor *t = self(L, "detach");
    lt_lua_newview(L, t);
    return 1;
}

static int m_clone(lua_State *L) {
    lt_tensor *t = self(L, "clone");
    push_copy(L, t, "clone");
    return 1;
}

static int m_to(lua_State *L) {
    lt_tensor *t = self(L, "to");
    lt_dtype dt = lt_lua_checkdtypename(L, 2, "to");
    if (dt == t->dtype) {
        lua_settop(L, 1);
        return 1;
    }
    lt_tensor *c = lt_lua_newtensor_uninit(L, dt, t->ndim, t->size, "to");
    lt_lua_check(L, lt_copy(lt_lua_ctx(L), c, t), "to");
    return 1;
}

static int m_copy_(lua_State *L) {
    const char *fn = "copy_";
    lt_tensor *t = self(L, fn);
    lt_tensor *s = lt_lua_checktensor(L, 2, fn, "src");
    lt_tensor src = *s;
    if (src.ndim != t->ndim || memcmp(src.size, t->size, sizeof(int64_t) * (size_t)t->ndim)) {
        if (lt_view_expand(&src, t->ndim, t->size) != LT_OK) {
            char b1[200], b2[200];
            return lt_lua_error(L, "%s: source of shape %s cannot be copied into shape %s", fn,
                              lt_shape_str(s, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2));
        }
    }
    lt_lua_check(L, lt_copy(lt_lua_ctx(L), t, &src), fn);
    lua_settop(L, 1);
    return 1;
}

static int m_fill_(lua_State *L) {
    lt_tensor *t = self(L, "fill_");
    if (lua_type(L, 2) != LUA_TNUMBER && !lua_isboolean(L, 2))
        return lt_lua_error(L, "fill_: value must be a number, got %s", luaL_typename(L, 2));
    double v = lua_isboolean(L, 2) ? lua_toboolean(L, 2) : check_value(L, 2, t->dtype, "fill_", "");
    lt_lua_check(L, lt_fill(lt_lua_ctx(L), t, v), "fill_");
    lua_settop(L, 1);
    return 1;
}

static int m_zero_(lua_State *L) {
    lt_tensor *t = self(L, "zero_");
    lt_lua_check(L, lt_fill(lt_lua_ctx(L), t, 0), "zero_");
    lua_settop(L, 1);
    return 1;
}

static int m_flip(lua_State *L) {
    const char *fn = "flip";
    lt_tensor *t = self(L, fn);
    int dims[LT_MAXDIM], n = 0, seen[LT_MAXDIM] = {0};
    int tab = lua_istable(L, 2);
    lua_Integer len = tab ? luaL_len(L, 2) : lua_gettop(L) - 1;
    if (len == 0) return lt_lua_error(L, "%s: no dimension given", fn);
    if (len > (t->ndim > 0 ? t->ndim : 1))
        return lt_lua_error(L, "%s: %I dimensions given for a %d-d tensor", fn, len, t->ndim);
    for (int i = 0; i < (int)len; i++) {
        int d;
        if (tab) {
            lua_geti(L, 2, i + 1);
            d = lt_lua_checkdim(L, lua_gettop(L), t->ndim, fn);
            lua_pop(L, 1);
        } else {
            d = lt_lua_checkdim(L, i + 2, t->ndim, fn);
        }
        if (seen[d]) return lt_lua_error(L, "%s: dimension %d repeated", fn, d + 1);
        seen[d] = 1;
        dims[n++] = d;
    }
    lt_tensor *o = newlike_uninit(L, t, fn);
    if (t->ndim == 0) n = 0; /* flipping a 0-d tensor copies it, as PyTorch does */
    lt_lua_check(L, lt_flip(lt_lua_ctx(L), o, t, dims, n), fn);
    return 1;
}

/* Converts a 1-based (or negative) index tensor to 0-based int32 positions into a dimension
 * of size `limit`, checking each value. Pushes it. */
static lt_tensor *push_index0(lua_State *L, int idx, int64_t limit, const char *fn) {
    lt_tensor *ix = lt_lua_checktensor(L, idx, fn, "index");
    if (ix->dtype == LT_FLOAT32) lt_lua_error(L, "%s: index must be int32 or uint8, got float32", fn);
    lt_tensor *z = lt_lua_newtensor_uninit(L, LT_INT32, ix->ndim, ix->size, fn);
    int64_t n = lt_numel(ix);
    int32_t *zp = lt_i32(z);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (int64_t)lt_get_flat(ix, i);
        if (v == 0 || v > limit || v < -limit)
            lt_lua_error(L, "%s: index %I out of range 1..%I", fn, (lua_Integer)v, (lua_Integer)limit);
        int64_t k = v > 0 ? v - 1 : limit + v;
        if (k > INT32_MAX)
            lt_lua_error(L, "%s: index %I is position %I, beyond int32", fn, (lua_Integer)v, (lua_Integer)(k + 1));
        zp[i] = (int32_t)k;
    }
    return z;
}

/* Raises unless the tensor has at least one dimension (index ops address a dimension). */
static void need_dims(lua_State *L, const lt_tensor *t, const char *fn) {
    if (t->ndim == 0) lt_lua_error(L, "%s: self is a 0-d tensor (it has no dimension to index)", fn);
}

/* index_select(d, idx): idx 1-D of 1-based positions. */
static int m_index_select(lua_State *L) {
    const char *fn = "index_select";
    lt_tensor *t = self(L, fn);
    need_dims(L, t, fn);
    int d = lt_lua_checkdim(L, 2, t->ndim, fn);
    lt_tensor *ix = lt_lua_checktensor(L, 3, fn, "index");
    if (ix->ndim != 1) {
        char b1[200];
        return lt_lua_error(L, "%s: index must be 1-D, got shape %s", fn, lt_shape_str(ix, b1, sizeof b1));
    }
    lt_tensor *z = push_index0(L, 3, t->size[d], fn);
    int64_t size[LT_MAXDIM];
    memcpy(size, t->size, sizeof size);
    size[d] = lt_numel(z);
    lt_tensor *o = lt_lua_newtensor_uninit(L, t->dtype, t->ndim, size, fn);
    lt_lua_check(L, lt_index_select(lt_lua_ctx(L), o, t, d, z), fn);
    return 1;
}

/* In-place updates of integer tensors run on a copy, so an update whose result overflows
 * (LT_ERANGE) leaves self unchanged; float32 is updated directly. Returns the tensor to
 * update (pushed when a copy); commit_copy writes it back. */
static lt_tensor *inplace_target(lua_State *L, lt_tensor *t, const char *fn) {
    if (t->dtype == LT_FLOAT32) return t;
    lt_tensor *c = newlike_uninit(L, t, fn);
    lt_lua_check(L, lt_copy(lt_lua_ctx(L), c, t), fn);
    return c;
}

static void commit_copy(lua_State *L, lt_tensor *t, lt_tensor *work, const char *fn) {
    if (work != t) lt_lua_check(L, lt_copy(lt_lua_ctx(L), t, work), fn);
}

/* raw: index_add_(d, idx(1-based), src) in place, the adjoint of index_select. */
static int m_index_add_(lua_State *L) {
    const char *fn = "index_add_";
    lt_tensor *t = self(L, fn);
    need_dims(L, t, fn);
    int d = lt_lua_checkdim(L, 2, t->ndim, fn);
    lt_tensor *ix = lt_lua_checktensor(L, 3, fn, "index");
    lt_tensor *s = lt_lua_checktensor(L, 4, fn, "src");
    char b1[200], b2[200], b3[200];
    if (ix->ndim != 1)
        return lt_lua_error(L, "%s: index must be 1-D, got shape %s", fn, lt_shape_str(ix, b1, sizeof b1));
    int ok = s->ndim == t->ndim && s->size[d] == ix->size[0];
    for (int k = 0; ok && k < t->ndim; k++)
        if (k != d && s->size[k] != t->size[k]) ok = 0;
    if (!ok)
        return lt_lua_error(L, "%s: src of shape %s does not match self %s with index %s along dimension %d", fn,
                            lt_shape_str(s, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2),
                            lt_shape_str(ix, b3, sizeof b3), d + 1);
    lt_tensor *z = push_index0(L, 3, t->size[d], fn);
    lt_tensor *w = inplace_target(L, t, fn);
    check_result(L, lt_index_add(lt_lua_ctx(L), w, d, z, s), fn);
    commit_copy(L, t, w, fn);
    lua_settop(L, 1);
    return 1;
}

static void check_gather_shape(lua_State *L, const lt_tensor *t, const lt_tensor *ix, int d, const char *fn) {
    char b1[200], b2[200];
    if (ix->ndim != t->ndim)
        lt_lua_error(L, "%s: index has %d dims, input has %d (index %s, input %s)", fn, ix->ndim, t->ndim,
                   lt_shape_str(ix, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2));
    for (int k = 0; k < t->ndim; k++)
        if (k != d && ix->size[k] > t->size[k])
            lt_lua_error(L, "%s: index shape %s does not fit input shape %s at dimension %d", fn,
                       lt_shape_str(ix, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2), k + 1);
}

static int m_gather(lua_State *L) {
    const char *fn = "gather";
    lt_tensor *t = self(L, fn);
    need_dims(L, t, fn);
    int d = lt_lua_checkdim(L, 2, t->ndim, fn);
    lt_tensor *ix = lt_lua_checktensor(L, 3, fn, "index");
    check_gather_shape(L, t, ix, d, fn);
    lt_tensor *z = push_index0(L, 3, t->size[d], fn);
    lt_tensor *o = lt_lua_newtensor(L, t->dtype, ix->ndim, ix->size, fn);
    lt_lua_check(L, lt_gather(o, t, d, z), fn);
    return 1;
}

/* raw: scatter_add_(d, idx(1-based), src) in place, the adjoint of gather. src must be at
 * least as large as index in every dimension (PyTorch's rule). */
static int m_scatter_add_(lua_State *L) {
    const char *fn = "scatter_add_";
    lt_tensor *t = self(L, fn);
    need_dims(L, t, fn);
    int d = lt_lua_checkdim(L, 2, t->ndim, fn);
    lt_tensor *ix = lt_lua_checktensor(L, 3, fn, "index");
    check_gather_shape(L, t, ix, d, fn);
    lt_tensor *s = lt_lua_checktensor(L, 4, fn, "src");
    int ok = s->ndim == ix->ndim;
    for (int k = 0; ok && k < ix->ndim; k++)
        if (s->size[k] < ix->size[k]) ok = 0;
    if (!ok) {
        char b1[200], b2[200];
        return lt_lua_error(L, "%s: src of shape %s is smaller than index %s", fn, lt_shape_str(s, b1, sizeof b1),
                            lt_shape_str(ix, b2, sizeof b2));
    }
    lt_tensor *z = push_index0(L, 3, t->size[d], fn);
    lt_tensor *w = inplace_target(L, t, fn);
    check_result(L, lt_scatter_add(lt_lua_ctx(L), w, d, z, s), fn);
    commit_copy(L, t, w, fn);
    lua_settop(L, 1);
    return 1;
}

/* ---------------------------------------------------------------- math */

static lt_dtype promote(lt_dtype a, lt_dtype b) {
    if (a == LT_FLOAT32 || b == LT_FLOAT32) return LT_FLOAT32;
    if (a == LT_INT32 || b == LT_INT32) return LT_INT32;
    return LT_UINT8;
}

static const char *const binop_names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                          "eq", "ne", "gt", "ge", "lt", "le"};

/* Broadcast shape of a and b or a precise error. */
static int bshape(lua_State *L, const lt_tensor *a, const lt_tensor *b, int64_t *size, const char *fn) {
    int n;
    lt_status st = lt_broadcast_shape(a->ndim, a->size, b->ndim, b->size, &n, size);
    if (st != LT_OK) {
        char b1[200], b2[200], b3[200];
        if (st == LT_EOVERFLOW)
            lt_lua_error(L, "%s: the broadcast shape %s of %s and %s is too large (its element count overflows int64)",
                         fn, sizes_str(n, size, b3, sizeof b3), lt_shape_str(a, b1, sizeof b1),
                         lt_shape_str(b, b2, sizeof b2));
        lt_lua_error(L, "%s: shapes %s and %s cannot be broadcast together", fn, lt_shape_str(a, b1, sizeof b1),
                   lt_shape_str(b, b2, sizeof b2));
    }
    return n;
}

static int do_binary(lua_State *L, lt_binop op) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = binop_names[op];
    lt_tensor *a = lt_lua_totensor(L, 1), *b = lt_lua_totensor(L, 2);
    int cmp = op >= LT_OP_EQ;
    if (a && b) {
        a = lt_lua_checktensor(L, 1, fn, "self");
        b = lt_lua_checktensor(L, 2, fn, "other");
        int64_t size[LT_MAXDIM];
        int n = bshape(L, a, b, size, fn);
        lt_dtype dt = cmp ? LT_UINT8 : (op == LT_OP_DIV || op == LT_OP_POW) ? LT_FLOAT32 : promote(a->dtype, b->dtype);
        if (op == LT_OP_POW && a->dtype != LT_FLOAT32 && b->dtype != LT_FLOAT32) dt = promote(a->dtype, b->dtype);
        lt_tensor *o = lt_lua_newtensor_uninit(L, dt, n, size, fn);
        check_result(L, lt_binary(ctx, o, a, b, op), fn);
        return 1;
    }
    int tfirst = a != NULL;
    lt_tensor *t = tfirst ? lt_lua_checktensor(L, 1, fn, "self") : b;
    int sidx = tfirst ? 2 : 1;
    if (!t) return lt_lua_error(L, "%s: expected a tensor operand, got %s and %s", fn, luaL_typename(L, 1), luaL_typename(L, 2));
    if (!tfirst) t = lt_lua_checktensor(L, 2, fn, "other");
    if (lua_type(L, sidx) != LUA_TNUMBER)
        return lt_lua_error(L, "%s: other must be a tensor or a number, got %s", fn, luaL_typename(L, sidx));
    double s = lua_tonumber(L, sidx);
    lt_dtype dt = t->dtype;
    if (cmp) dt = LT_UINT8;
    else if (op == LT_OP_DIV || (!lua_isinteger(L, sidx) && dt != LT_FLOAT32)) dt = LT_FLOAT32;
    else if (op == LT_OP_SUB && !tfirst && dt == LT_UINT8) dt = LT_INT32;
    /* an integer result dtype must hold the scalar (PyTorch: u8 + 300 raises); comparisons
     * compare exactly in double */
    if (!cmp && dt != LT_FLOAT32) s = check_value(L, sidx, dt, fn, "");
    lt_tensor *o = lt_lua_newtensor_uninit(L, dt, t->ndim, t->size, fn);
    check_result(L, lt_binary_scalar(ctx, o, t, s, op, !tfirst), fn);
    return 1;
}

#define BINOP(name, op) static int m_##name(lua_State *L) { return do_binary(L, op); }
BINOP(add, LT_OP_ADD)
BINOP(sub, LT_OP_SUB)
BINOP(mul, LT_OP_MUL)
BINOP(div, LT_OP_DIV)
BINOP(pow, LT_OP_POW)
BINOP(maximum, LT_OP_MAX)
BINOP(minimum, LT_OP_MIN)
BINOP(eq, LT_OP_EQ)
BINOP(ne, LT_OP_NE)
BINOP(gt, LT_OP_GT)
BINOP(ge, LT_OP_GE)
BINOP(lt, LT_OP_LT)
BINOP(le, LT_OP_LE)

/* In place: self op= other (tensor broadcast to self, or number), with optional alpha
 * scaling of other for add_/sub_. An integer self takes integer operands only (PyTorch:
 * "result type Float can't be cast to the desired output type Int"), and a result that does
 * not fit raises with self unchanged. */
static int do_binary_(lua_State *L, lt_binop op, const char *fn) {
    lt_context *ctx = lt_lua_ctx(L);
    lt_tensor *t = self(L, fn);
    lt_tensor *b = lt_lua_totensor(L, 2);
    if (!b && lua_type(L, 2) != LUA_TNUMBER)
        return lt_lua_error(L, "%s: other must be a tensor or a number, got %s", fn, luaL_typename(L, 2));
    if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TNUMBER)
        return lt_lua_error(L, "%s: alpha must be a number, got %s", fn, luaL_typename(L, 3));
    double alpha = luaL_optnumber(L, 3, 1.0);
    if (t->dtype != LT_FLOAT32) {
        int floaty = op == LT_OP_DIV || (b ? b->dtype == LT_FLOAT32 : !lua_isinteger(L, 2)) ||
                     (!lua_isnoneornil(L, 3) && !lua_isinteger(L, 3));
        if (floaty)
            return lt_lua_error(L, "%s: the result is float32 and cannot be stored in self of type %s (convert "
                                   "self with to(\"float32\") first)", fn, lt_dtype_name(t->dtype));
    }
    if (b) {
        b = lt_lua_checktensor(L, 2, fn, "other");
        lt_tensor bb = *b;
        if (lt_view_expand(&bb, t->ndim, t->size) != LT_OK) {
            char b1[200], b2[200];
            return lt_lua_error(L, "%s: other of shape %s cannot be broadcast to self shape %s", fn,
                              lt_shape_str(b, b1, sizeof b1), lt_shape_str(t, b2, sizeof b2));
        }
        if ((op == LT_OP_ADD || op == LT_OP_SUB) && lt_is_contiguous(t) && lt_is_contiguous(&bb) &&
            t->dtype == b->dtype && t->dtype == LT_FLOAT32) {
            lt_lua_check(L, lt_axpy(lt_lua_ctx(L), t, op == LT_OP_ADD ? alpha : -alpha, &bb), fn);
        } else {
            lt_tensor *w = inplace_target(L, t, fn);
            if (alpha != 1.0) {
                lt_tensor *tmp = lt_lua_newtensor(L, b->dtype, bb.ndim, bb.size, fn);
                check_result(L, lt_binary_scalar(ctx, tmp, &bb, alpha, LT_OP_MUL, 0), fn);
                check_result(L, lt_binary(ctx, w, w, tmp, op), fn);
            } else {
                check_result(L, lt_binary(ctx, w, w, &bb, op), fn);
            }
            commit_copy(L, t, w, fn);
        }
    } else {
        double s;
        if (t->dtype != LT_FLOAT32) {
            int64_t si = lua_tointeger(L, 2), ai = lua_isnoneornil(L, 3) ? 1 : lua_tointeger(L, 3);
            if ((op == LT_OP_ADD || op == LT_OP_SUB) && lt_mul_ovf(si, ai, &si))
                return lt_lua_error(L, "%s: other %I times alpha %I overflows int64", fn, lua_tointeger(L, 2),
                                    (lua_Integer)ai);
            lua_pushinteger(L, (lua_Integer)si);
            s = check_value(L, lua_gettop(L), t->dtype, fn, "");
        } else {
            s = lua_tonumber(L, 2) * ((op == LT_OP_ADD || op == LT_OP_SUB) ? alpha : 1.0);
        }
        lt_tensor *w = inplace_target(L, t, fn);
        check_result(L, lt_binary_scalar(ctx, w, w, s, op, 0), fn);
        commit_copy(L, t, w, fn);
    }
    lua_settop(L, 1);
    return 1;
}

static int m_add_(lua_State *L) { return do_binary_(L, LT_OP_ADD, "add_"); }
static int m_sub_(lua_State *L) { return do_binary_(L, LT_OP_SUB, "sub_"); }
static int m_mul_(lua_State *L) { return do_binary_(L, LT_OP_MUL, "mul_"); }
static int m_div_(lua_State *L) { return do_binary_(L, LT_OP_DIV, "div_"); }
static int m_pow_(lua_State *L) { return do_binary_(L, LT_OP_POW, "pow_"); }

/* self += value * t1 * t2  /  self += value * t1 / t2 (float32, same shapes; optimizers). */
static int do_addc(lua_State *L, int div, const char *fn) {
    lt_tensor *t = lt_lua_checkdtype(L, 1, fn, "self", LT_FLOAT32);
    lt_tensor *a = lt_lua_checkdtype(L, 2, fn, "tensor1", LT_FLOAT32);
    lt_tensor *b = lt_lua_checkdtype(L, 3, fn, "tensor2", LT_FLOAT32);
    float v = (float)luaL_optnumber(L, 4, 1.0);
    char b1[200], b2[200], b3[200];
    if (a->ndim != t->ndim || b->ndim != t->ndim ||
        memcmp(a->size, t->size, sizeof(int64_t) * (size_t)t->ndim) ||
        memcmp(b->size, t->size, sizeof(int64_t) * (size_t)t->ndim))
        return lt_lua_error(L, "%s: self %s, tensor1 %s and tensor2 %s must have the same shape", fn,
                          lt_shape_str(t, b1, sizeof b1), lt_shape_str(a, b2, sizeof b2), lt_shape_str(b, b3, sizeof b3));
    if (!lt_is_contiguous(t) || !lt_is_contiguous(a) || !lt_is_contiguous(b))
        return lt_lua_error(L, "%s: self, tensor1 and tensor2 must be contiguous", fn);
    float *o = lt_f32(t);
    const float *x = lt_f32(a), *y = lt_f32(b);
    int64_t n = lt_numel(t);
    if (div) for (int64_t i = 0; i < n; i++) o[i] += v * x[i] / y[i];
    else for (int64_t i = 0; i < n; i++) o[i] += v * x[i] * y[i];
    lua_settop(L, 1);
    return 1;
}

static int m_addcmul_(lua_State *L) { return do_addc(L, 0, "addcmul_"); }
static int m_addcdiv_(lua_State *L) { return do_addc(L, 1, "addcdiv_"); }

static const char *const unop_names[] = {"neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "sign",
                                         "floor", "ceil", "round", "reciprocal", "square", "sin", "cos",
                                         "log1p", "expm1"};

static int do_unary(lua_State *L, lt_unop op) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = unop_names[op];
    lt_tensor *t = self(L, fn);
    int keep = op == LT_OP_NEG || op == LT_OP_ABS || op == LT_OP_RELU || op == LT_OP_SIGN ||
               op == LT_OP_FLOOR || op == LT_OP_CEIL || op == LT_OP_ROUND || op == LT_OP_SQUARE;
    lt_dtype dt = keep ? t->dtype : LT_FLOAT32;
    if (op == LT_OP_NEG && dt == LT_UINT8) dt = LT_INT32;
    lt_tensor *o = lt_lua_newtensor_uninit(L, dt, t->ndim, t->size, fn);
    check_result(L, lt_unary(ctx, o, t, op), fn);
    return 1;
}

#define UNOP(name, op) static int m_##name(lua_State *L) { return do_unary(L, op); }
UNOP(neg, LT_OP_NEG)
UNOP(exp, LT_OP_EXP)
UNOP(log, LT_OP_LOG)
UNOP(sqrt, LT_OP_SQRT)
UNOP(abs, LT_OP_ABS)
UNOP(relu, LT_OP_RELU)
UNOP(sigmoid, LT_OP_SIGMOID)
UNOP(tanh, LT_OP_TANH)
UNOP(sign, LT_OP_SIGN)
UNOP(floor, LT_OP_FLOOR)
UNOP(ceil, LT_OP_CEIL)
UNOP(round, LT_OP_ROUND)
UNOP(reciprocal, LT_OP_RECIPROCAL)
UNOP(square, LT_OP_SQUARE)
UNOP(sin, LT_OP_SIN)
UNOP(cos, LT_OP_COS)
UNOP(log1p, LT_OP_LOG1P)
UNOP(expm1, LT_OP_EXPM1)

/* The bounds of clamp(lo, hi): numbers or nil (unbounded), not NaN, lo <= hi. */
static void clamp_bounds(lua_State *L, const char *fn, double *lo, double *hi) {
    static const char *const names[] = {"min", "max"};
    double *out[2] = {lo, hi};
    for (int k = 0; k < 2; k++) {
        int idx = 2 + k;
        if (lua_isnoneornil(L, idx)) {
            *out[k] = k ? HUGE_VAL : -HUGE_VAL;
            continue;
        }
        if (lua_type(L, idx) != LUA_TNUMBER)
            lt_lua_error(L, "%s: %s must be a number or nil, got %s", fn, names[k], luaL_typename(L, idx));
        *out[k] = lua_tonumber(L, idx);
        if (*out[k] != *out[k]) lt_lua_error(L, "%s: %s must not be nan", fn, names[k]);
    }
    if (*lo > *hi) lt_lua_error(L, "%s: min %f is greater than max %f", fn, *lo, *hi);
}

static int m_clamp(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "clamp";
    lt_tensor *t = self(L, fn);
    double lo, hi;
    clamp_bounds(L, fn, &lo, &hi);
    lt_tensor *o = newlike_uninit(L, t, fn);
    check_result(L, lt_clamp(ctx, o, t, lo, hi), fn);
    return 1;
}

static int m_clamp_(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "clamp_";
    lt_tensor *t = self(L, fn);
    double lo, hi;
    clamp_bounds(L, fn, &lo, &hi);
    lt_tensor *w = inplace_target(L, t, fn);
    check_result(L, lt_clamp(ctx, w, w, lo, hi), fn);
    commit_copy(L, t, w, fn);
    lua_settop(L, 1);
    return 1;
}

/* where(cond, a, b): a, b tensors or numbers; result dtype promoted. */
static int f_where(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "where";
    lt_tensor *c = lt_lua_checktensor(L, 1, fn, "condition");
    int64_t size[LT_MAXDIM];
    int n = c->ndim;
    memcpy(size, c->size, sizeof size);
    lt_tensor *ab[2];
    lt_dtype dt = LT_UINT8;
    int any_tensor = 0;
    for (int k = 0; k < 2; k++) {
        int idx = 2 + k;
        if (lt_lua_totensor(L, idx)) {
            ab[k] = lt_lua_checktensor(L, idx, fn, k ? "other" : "input");
            lt_tensor tmp;
            tmp.ndim = n;
            memcpy(tmp.size, size, sizeof size);
            n = bshape(L, &tmp, ab[k], size, fn);
            dt = any_tensor ? promote(dt, ab[k]->dtype) : ab[k]->dtype;
            any_tensor = 1;
        } else {
            if (lua_type(L, idx) != LUA_TNUMBER)
                lt_lua_error(L, "%s: %s must be a tensor or a number, got %s", fn, k ? "other" : "input",
                             luaL_typename(L, idx));
            double v = lua_tonumber(L, idx);
            /* an integer scalar is int32 when it fits, else it is kept as float32 */
            int as_int = lua_isinteger(L, idx) && lt_fits(v, LT_INT32);
            ab[k] = lt_lua_newtensor(L, as_int ? LT_INT32 : LT_FLOAT32, 0, NULL, fn);
            lt_set_flat(ab[k], 0, v);
            lua_replace(L, idx);
        }
    }
    if (!any_tensor) dt = promote(ab[0]->dtype, ab[1]->dtype);
    for (int k = 0; k < 2; k++)
        if (ab[k]->ndim == 0 && ab[k]->dtype == LT_FLOAT32) dt = promote(dt, LT_FLOAT32);
    lt_tensor *o = lt_lua_newtensor_uninit(L, dt, n, size, fn);
    check_result(L, lt_where(ctx, o, c, ab[0], ab[1]), fn);
    return 1;
}

/* reductions: sum/mean/prod(d, keepdim) and max/min(d, keepdim) -> values, 1-based indices */
static int do_reduce(lua_State *L, lt_redop op, const char *fn, int want_idx) {
    lt_context *ctx = lt_lua_ctx(L);
    lt_tensor *t = self(L, fn);
    int64_t size[LT_MAXDIM];
    if (lua_isnoneornil(L, 2)) {
        if ((op == LT_RED_MAX || op == LT_RED_MIN) && lt_numel(t) == 0)
            return lt_lua_error(L, "%s: empty tensor has no %s", fn, op == LT_RED_MAX ? "maximum" : "minimum");
        lt_dtype dt = (op == LT_RED_MEAN || t->dtype == LT_FLOAT32) ? LT_FLOAT32
                      : (op == LT_RED_MAX || op == LT_RED_MIN) ? t->dtype : LT_INT32;
        lt_tensor *o = lt_lua_newtensor(L, dt, 0, size, fn);
        check_result(L, lt_reduce(lt_lua_ctx(L), o, NULL, t, -1, op), fn);
        return 1;
    }
    int d = lt_lua_checkdim(L, 2, t->ndim, fn);
    int keep = lua_toboolean(L, 3);
    if (t->ndim == 0) { /* the one element (a new view: autograd records on it); position 1 */
        lua_settop(L, 1);
        lt_lua_newview(L, t);
        if (!want_idx) return 1;
        lt_tensor *ix = lt_lua_newtensor(L, LT_INT32, 0, NULL, fn);
        lt_set_flat(ix, 0, 1);
        return 2;
    }
    if ((op == LT_RED_MAX || op == LT_RED_MIN) && t->size[d] == 0)
        return lt_lua_error(L, "%s: dimension %d has size 0", fn, d + 1);
    if (want_idx && t->size[d] > INT32_MAX)
        return lt_lua_error(L, "%s: dimension %d has %I elements; int32 positions cannot index it", fn, d + 1,
                            (lua_Integer)t->size[d]);
    int n = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (k == d) {
            if (keep) size[n++] = 1;
        } else size[n++] = t->size[k];
    }
    lt_dtype dt = (op == LT_RED_MEAN || t->dtype == LT_FLOAT32) ? LT_FLOAT32
                  : (op == LT_RED_MAX || op == LT_RED_MIN) ? t->dtype : LT_INT32;
    lt_tensor *o = lt_lua_newtensor(L, dt, n, size, fn);
    lt_tensor *ix = NULL;
    if (want_idx) ix = lt_lua_newtensor(L, LT_INT32, n, size, fn);
    check_result(L, lt_reduce(lt_lua_ctx(L), o, ix, t, d, op), fn);
    if (ix) {
        lt_lua_check(L, lt_binary_scalar(ctx, ix, ix, 1, LT_OP_ADD, 0), fn);
        return 2;
    }
    return 1;
}

static int m_sum(lua_State *L) { return do_reduce(L, LT_RED_SUM, "sum", 0); }
static int m_mean(lua_State *L) { return do_reduce(L, LT_RED_MEAN, "mean", 0); }
static int m_prod(lua_State *L) { return do_reduce(L, LT_RED_PROD, "prod", 0); }
static int m_max(lua_State *L) { return do_reduce(L, LT_RED_MAX, "max", !lua_isnoneornil(L, 2)); }
static int m_min(lua_State *L) { return do_reduce(L, LT_RED_MIN, "min", !lua_isnoneornil(L, 2)); }

static int do_arg(lua_State *L, lt_redop op, const char *fn) {
    lt_tensor *t = self(L, fn);
    if (lua_isnoneornil(L, 2)) {
        if (lt_numel(t) == 0) return lt_lua_error(L, "%s: empty tensor", fn);
        if (lt_numel(t) > INT32_MAX)
            return lt_lua_error(L, "%s: tensor has %I elements; int32 positions cannot index it", fn,
                                (lua_Integer)lt_numel(t));
        int64_t sz[1];
        lt_tensor *o = lt_lua_newtensor(L, t->dtype, 0, sz, fn);
        lt_tensor *ix = lt_lua_newtensor(L, LT_INT32, 0, sz, fn);
        lt_lua_check(L, lt_reduce(lt_lua_ctx(L), o, ix, t, -1, op), fn);
        lua_pushinteger(L, (lua_Integer)lt_get_flat(ix, 0) + 1);
        return 1;
    }
    int r = do_reduce(L, op, fn, 1);
    (void)r;
    return 1; /* the indices are on top */
}

static int m_argmax(lua_State *L) { return do_arg(L, LT_RED_MAX, "argmax"); }
static int m_argmin(lua_State *L) { return do_arg(L, LT_RED_MIN, "argmin"); }

/* raw: sum_to(shape_table): sums broadcast dims back down to shape (autograd helper). */
static int m_sum_to(lua_State *L) {
    const char *fn = "sum_to";
    lt_tensor *t = self(L, fn);
    int64_t size[LT_MAXDIM];
    int n = lt_lua_checkshape(L, 2, size, fn);
    if (n == t->ndim && !memcmp(size, t->size, sizeof(int64_t) * (size_t)n)) {
        lua_settop(L, 1);
        return 1;
    }
    lt_tensor *o = lt_lua_newtensor(L, t->dtype, n, size, fn);
    lt_tensor chk = *o;
    if (lt_view_expand(&chk, t->ndim, t->size) != LT_OK) {
        char b1[200], b2[200];
        return lt_lua_error(L, "%s: %s is not a broadcast of %s", fn, lt_shape_str(t, b1, sizeof b1),
                          lt_shape_str(o, b2, sizeof b2));
    }
    check_result(L, lt_sum_to(lt_lua_ctx(L), o, t), fn);
    return 1;
}

static int m_matmul(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "matmul";
    lt_tensor *a = lt_lua_checkdtype(L, 1, fn, "self", LT_FLOAT32);
    lt_tensor *b = lt_lua_checkdtype(L, 2, fn, "other", LT_FLOAT32);
    char b1[200], b2[200];
    if (a->ndim < 1 || b->ndim < 1) return lt_lua_error(L, "%s: both arguments need at least 1 dimension", fn);
    /* promote 1-D operands as PyTorch does, remembering to squeeze the result */
    lt_tensor av = *a, bv = *b;
    int squeeze_n = 0, squeeze_m = 0;
    if (av.ndim == 1) { lt_view_unsqueeze(&av, 0); squeeze_n = 1; }
    if (bv.ndim == 1) { lt_view_unsqueeze(&bv, 1); squeeze_m = 1; }
    if (av.size[av.ndim - 1] != bv.size[bv.ndim - 2])
        return lt_lua_error(L, "%s: shapes %s and %s are not aligned (%I vs %I)", fn, lt_shape_str(a, b1, sizeof b1),
                          lt_shape_str(b, b2, sizeof b2), (lua_Integer)av.size[av.ndim - 1], (lua_Integer)bv.size[bv.ndim - 2]);
    int64_t bsz[LT_MAXDIM];
    int nb;
    if (lt_broadcast_shape(av.ndim - 2, av.size, bv.ndim - 2, bv.size, &nb, bsz) != LT_OK)
        return lt_lua_error(L, "%s: batch dimensions of %s and %s cannot be broadcast", fn,
                          lt_shape_str(a, b1, sizeof b1), lt_shape_str(b, b2, sizeof b2));
    if (nb + 2 > LT_MAXDIM)
        return lt_lua_error(L, "%s: shapes %s and %s give a %d-d result (at most %d dimensions)", fn,
                            lt_shape_str(a, b1, sizeof b1), lt_shape_str(b, b2, sizeof b2), nb + 2, LT_MAXDIM);
    bsz[nb] = av.size[av.ndim - 2];
    bsz[nb + 1] = bv.size[bv.ndim - 1];
    if (bsz[nb] > INT32_MAX || bsz[nb + 1] > INT32_MAX || av.size[av.ndim - 1] > INT32_MAX)
        return lt_lua_error(L, "%s: shapes %s and %s have matrix sizes beyond BLAS's int range (%d)", fn,
                            lt_shape_str(a, b1, sizeof b1), lt_shape_str(b, b2, sizeof b2), INT32_MAX);
    /* make matrices BLAS-addressable: copy when neither stride is 1 */
    lt_tensor *pa = &av, *pb = &bv;
    if (av.stride[av.ndim - 1] != 1 && av.stride[av.ndim - 2] != 1) pa = push_copy(L, &av, fn);
    if (bv.stride[bv.ndim - 1] != 1 && bv.stride[bv.ndim - 2] != 1) pb = push_copy(L, &bv, fn);
    lt_tensor *o = lt_lua_newtensor_uninit(L, LT_FLOAT32, nb + 2, bsz, fn);
    lt_status st = lt_matmul(ctx, o, pa, pb);
    if (st == LT_EARG) /* unusual strides (e.g. 0 from expand on a matrix dim): contiguous copies */
        st = lt_matmul(ctx, o, push_copy(L, &av, fn), push_copy(L, &bv, fn));
    lt_lua_check(L, st, fn);
    if (squeeze_m) lt_view_squeeze(o, o->ndim - 1);
    if (squeeze_n) lt_view_squeeze(o, o->ndim - 2);
    return 1;
}

/* cat(list, d) and stack(list, d) */

/* Checks that arg 1 is a non-empty list and returns its first tensor and length. */
static lt_tensor *list_first(lua_State *L, const char *fn, int *n) {
    if (!lua_istable(L, 1) || lt_lua_totensor(L, 1))
        lt_lua_error(L, "%s: expected a list of tensors, got %s", fn,
                     lt_lua_totensor(L, 1) ? "a tensor" : luaL_typename(L, 1));
    lua_Integer len = luaL_len(L, 1);
    if (len <= 0) lt_lua_error(L, "%s: expected a non-empty list of tensors", fn);
    if (len > INT32_MAX) lt_lua_error(L, "%s: list of %I tensors is too long", fn, len);
    *n = (int)len;
    lua_geti(L, 1, 1);
    lt_tensor *first = lt_lua_checktensor(L, -1, fn, "tensors[1]");
    lua_pop(L, 1); /* the list keeps it alive */
    return first;
}

/* Copies list entry i into o's part i along d: consecutive slices (cat) or the index i
 * (stack). The entries were checked by the caller. */
static void copy_parts(lua_State *L, lt_tensor *o, int d, int n, int stack, const char *fn) {
    int64_t pos = 0;
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        lt_tensor *t = lt_lua_totensor(L, -1);
        lt_tensor part = *o;
        if (stack) lt_view_select(&part, d, i - 1);
        else lt_view_narrow(&part, d, pos, t->size[d]);
        lt_lua_check(L, lt_copy(lt_lua_ctx(L), &part, t), fn);
        pos += stack ? 0 : t->size[d];
        lua_pop(L, 1);
    }
}
static int f_cat(lua_State *L) {
    const char *fn = "cat";
    int n;
    lt_tensor *first = list_first(L, fn, &n);
    int d = lua_isnoneornil(L, 2) ? 0 : lt_lua_checkdim(L, 2, first->ndim, fn);
    if (first->ndim == 0) return lt_lua_error(L, "%s: cannot concatenate 0-d tensors", fn);
    int64_t size[LT_MAXDIM];
    memcpy(size, first->size, sizeof size);
    size[d] = 0;
    lt_dtype dt = first->dtype;
    char argn[32], b1[200], b2[200];
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        snprintf(argn, sizeof argn, "tensors[%d]", i);
        lt_tensor *t = lt_lua_checktensor(L, -1, fn, argn);
        if (t->ndim != first->ndim)
            return lt_lua_error(L, "%s: tensors[%d] has shape %s, tensors[1] has %s", fn, i,
                              lt_shape_str(t, b1, sizeof b1), lt_shape_str(first, b2, sizeof b2));
        for (int k = 0; k < t->ndim; k++)
            if (k != d && t->size[k] != first->size[k])
                return lt_lua_error(L, "%s: tensors[%d] has shape %s, tensors[1] has %s (mismatch at dimension %d)", fn, i,
                                  lt_shape_str(t, b1, sizeof b1), lt_shape_str(first, b2, sizeof b2), k + 1);
        if (lt_add_ovf(size[d], t->size[d], &size[d]))
            return lt_lua_error(L, "%s: the total size along dimension %d overflows int64 at tensors[%d] of shape %s",
                                fn, d + 1, i, lt_shape_str(t, b1, sizeof b1));
        dt = promote(dt, t->dtype);
        lua_pop(L, 1);
    }
    lt_tensor *o = lt_lua_newtensor_uninit(L, dt, first->ndim, size, fn);
    copy_parts(L, o, d, n, 0, fn);
    return 1;
}

static int f_stack(lua_State *L) {
    const char *fn = "stack";
    int n;
    lt_tensor *first = list_first(L, fn, &n);
    if (first->ndim >= LT_MAXDIM) return lt_lua_error(L, "%s: too many dimensions", fn);
    int d = lua_isnoneornil(L, 2) ? 0 : lt_lua_checkdim(L, 2, first->ndim + 1, fn);
    int64_t size[LT_MAXDIM];
    int nd = first->ndim + 1;
    for (int k = 0, j = 0; k < nd; k++) size[k] = k == d ? n : first->size[j++];
    lt_dtype dt = first->dtype;
    char argn[32], b1[200], b2[200];
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        snprintf(argn, sizeof argn, "tensors[%d]", i);
        lt_tensor *t = lt_lua_checktensor(L, -1, fn, argn);
        if (t->ndim != first->ndim || memcmp(t->size, first->size, sizeof(int64_t) * (size_t)t->ndim))
            return lt_lua_error(L, "%s: tensors[%d] has shape %s, tensors[1] has %s", fn, i,
                              lt_shape_str(t, b1, sizeof b1), lt_shape_str(first, b2, sizeof b2));
        dt = promote(dt, t->dtype);
        lua_pop(L, 1);
    }
    lt_tensor *o = lt_lua_newtensor_uninit(L, dt, nd, size, fn);
    copy_parts(L, o, d, n, 1, fn);
    return 1;
}

static int f_is_tensor(lua_State *L) {
    lua_pushboolean(L, lt_lua_totensor(L, 1) != NULL);
    return 1;
}

static int f_dot64(lua_State *L) {
    const char *fn = "dot64";
    lt_tensor *a = lt_lua_checktensor(L, 1, fn, "a"), *b = lt_lua_checktensor(L, 2, fn, "b");
    if (lt_numel(a) != lt_numel(b)) {
        char b1[200], b2[200];
        return lt_lua_error(L, "%s: a %s and b %s have different element counts (%I vs %I)", fn,
                            lt_shape_str(a, b1, sizeof b1), lt_shape_str(b, b2, sizeof b2),
                            (lua_Integer)lt_numel(a), (lua_Integer)lt_numel(b));
    }
    lua_pushnumber(L, lt_dot64(a, b));
    return 1;
}

/* allclose(a, b, rtol, atol): |a - b| <= atol + rtol * |b| everywhere (NaNs unequal). */
static int f_allclose(lua_State *L) {
    const char *fn = "allclose";
    lt_tensor *a = lt_lua_checktensor(L, 1, fn, "a"), *b = lt_lua_checktensor(L, 2, fn, "b");
    double rtol = luaL_optnumber(L, 3, 1e-5), atol = luaL_optnumber(L, 4, 1e-8);
    int64_t size[LT_MAXDIM];
    int n = bshape(L, a, b, size, fn);
    lt_tensor av = *a, bv = *b;
    lt_view_expand(&av, n, size);
    lt_view_expand(&bv, n, size);
    int64_t cnt = lt_numel(&av);
    double worst = 0;
    int64_t worst_i = -1;
    for (int64_t i = 0; i < cnt; i++) {
        double x = lt_get_flat(&av, i), y = lt_get_flat(&bv, i);
        double err = fabs(x - y) - (atol + rtol * fabs(y));
        if (x != x || y != y) err = HUGE_VAL;
        if (x == y) err = -1;
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
    }
    lua_pushboolean(L, worst_i < 0);
    if (worst_i < 0) return 1;
    char x[64], y[64];
    lua_pushfstring(L, "at flat index %I (1-based): %s vs %s", (lua_Integer)worst_i + 1,
                    num_str(lt_get_flat(&av, worst_i), x, sizeof x), num_str(lt_get_flat(&bv, worst_i), y, sizeof y));
    return 2;
}

/* set_num_threads(n): 1 <= n <= LT_MAX_THREADS (OpenBLAS and OpenMP budgets are ints, and
 * thousands of threads on a machine would only thrash). */
#define LT_MAX_THREADS 1024
static int f_set_num_threads(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "set_num_threads";
    if (lua_type(L, 1) != LUA_TNUMBER)
        return lt_lua_error(L, "%s: n must be an integer in [1, %d], got %s", fn, LT_MAX_THREADS, luaL_typename(L, 1));
    int isint;
    lua_Integer n = lua_tointegerx(L, 1, &isint);
    if (!isint) {
        char b[64];
        return lt_lua_error(L, "%s: n must be an integer in [1, %d], got %s", fn, LT_MAX_THREADS,
                            num_str(lua_tonumber(L, 1), b, sizeof b));
    }
    if (n < 1 || n > LT_MAX_THREADS)
        return lt_lua_error(L, "%s: n must be an integer in [1, %d], got %I", fn, LT_MAX_THREADS, n);
    lt_ctx_set_num_threads(ctx, (int)n);
    return 0;
}

static int f_get_num_threads(lua_State *L) {
    lua_pushinteger(L, lt_ctx_num_threads(lt_lua_ctx(L)));
    return 1;
}

/* isa() -> the ISA level the state's multiversioned kernels run at, and the best this CPU
 * has: "generic" | "avx2" | "avx512" (lt_isa.h). For specs and benchmarks. */
static int f_isa(lua_State *L) {
    lua_pushstring(L, lt_isa_name(lt_ctx_isa(lt_lua_ctx(L))));
    lua_pushstring(L, lt_isa_name(lt_isa_cpu()));
    return 2;
}

/* set_isa(name) -> the previous level's name: runs this state's kernels (the elementwise,
 * normalisation and activation loops, lunet's GEMM in matmul, the convolution ISA) at a
 * level at most the CPU's. The environment variable LUNET_ISA sets the starting level. */
static int f_set_isa(lua_State *L) {
    const char *name = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    const int level = lt_isa_parse(name), cpu = lt_isa_cpu();
    if (level < 0)
        return lt_lua_error(L, "set_isa: level must be \"generic\", \"avx2\" or \"avx512\", got %s",
                            name ? lua_pushfstring(L, "\"%s\"", name) : luaL_typename(L, 1));
    if (level > cpu)
        return lt_lua_error(L, "set_isa: this CPU runs at most \"%s\", not \"%s\"", lt_isa_name(cpu),
                            name);
    lt_context *ctx = lt_lua_ctx(L);
    lua_pushstring(L, lt_isa_name(lt_ctx_isa(ctx)));
    lt_ctx_set_isa(ctx, level);
    return 1;
}

/* now(): monotonic wall-clock seconds, for progress bars and benchmarks (os.clock is CPU time). */
static int f_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* empty_cache(): frees the recycled storage blocks of this state's context. */
static int f_empty_cache(lua_State *L) {
    lt_ctx_cache_empty(lt_lua_ctx(L));
    return 0;
}

/* memory_stats() -> {live_bytes = storage in use, cached_bytes = recycled blocks held,
 * cache_limit, cache_hits, cache_misses}, for this state's context. */
static int f_memory_stats(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    lt_cache_stats st;
    lt_ctx_cache_stats(ctx, &st);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)st.live_bytes);
    lua_setfield(L, -2, "live_bytes");
    lua_pushinteger(L, (lua_Integer)st.cached_bytes);
    lua_setfield(L, -2, "cached_bytes");
    lua_pushinteger(L, (lua_Integer)st.limit);
    lua_setfield(L, -2, "cache_limit");
    lua_pushinteger(L, (lua_Integer)st.hits);
    lua_setfield(L, -2, "cache_hits");
    lua_pushinteger(L, (lua_Integer)st.misses);
    lua_setfield(L, -2, "cache_misses");
    return 1;
}

/* Bytes of tensor storage alive (for memory specs). */
static int m_storage_bytes(lua_State *L) {
    lt_tensor *t = (lt_tensor *)luaL_checkudata(L, 1, LT_TENSOR_MT);
    lua_pushinteger(L, t->storage ? (lua_Integer)t->storage->nbytes : 0);
    return 1;
}

static const luaL_Reg methods[] = {
    {"shape", m_shape}, {"size", m_size}, {"stride", m_stride}, {"dim", m_dim}, {"numel", m_numel},
    {"dtype", m_dtype}, {"is_contiguous", m_is_contiguous}, {"is_freed", m_is_freed},
    {"shares_storage", m_shares_storage}, {"storage_bytes", m_storage_bytes},
    {"item", m_item}, {"totable", m_totable}, {"tolist", m_tolist}, {"get", m_get}, {"set", m_set},
    {"view", m_view}, {"reshape", m_reshape}, {"permute", m_permute}, {"transpose", m_transpose},
    {"narrow", m_narrow}, {"select", m_select}, {"unsqueeze", m_unsqueeze}, {"squeeze", m_squeeze},
    {"expand", m_expand}, {"contiguous", m_contiguous}, {"detach", m_detach}, {"clone", m_clone}, {"to", m_to},
    {"copy_", m_copy_}, {"fill_", m_fill_}, {"zero_", m_zero_}, {"flip", m_flip},
    {"index_select", m_index_select}, {"index_add_", m_index_add_}, {"gather", m_gather},
    {"scatter_add_", m_scatter_add_},
    {"add", m_add}, {"sub", m_sub}, {"mul", m_mul}, {"div", m_div}, {"pow", m_pow},
    {"maximum", m_maximum}, {"minimum", m_minimum},
    {"eq", m_eq}, {"ne", m_ne}, {"gt", m_gt}, {"ge", m_ge}, {"lt", m_lt}, {"le", m_le},
    {"add_", m_add_}, {"sub_", m_sub_}, {"mul_", m_mul_}, {"div_", m_div_}, {"pow_", m_pow_},
    {"addcmul_", m_addcmul_}, {"addcdiv_", m_addcdiv_}, {"clamp_", m_clamp_},
    {"neg", m_neg}, {"exp", m_exp}, {"log", m_log}, {"sqrt", m_sqrt}, {"abs", m_abs}, {"relu", m_relu},
    {"sigmoid", m_sigmoid}, {"tanh", m_tanh}, {"sign", m_sign}, {"floor", m_floor}, {"ceil", m_ceil},
    {"round", m_round}, {"reciprocal", m_reciprocal}, {"square", m_square}, {"sin", m_sin},
    {"cos", m_cos}, {"log1p", m_log1p}, {"expm1", m_expm1}, {"clamp", m_clamp},
    {"sum", m_sum}, {"mean", m_mean}, {"prod", m_prod}, {"max", m_max}, {"min", m_min},
    {"argmax", m_argmax}, {"argmin", m_argmin}, {"sum_to", m_sum_to}, {"matmul", m_matmul},
    {"free", t_free},
    {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"tensor", f_tensor}, {"zeros", f_zeros}, {"ones", f_ones}, {"full", f_full}, {"empty", f_empty},
    {"arange", f_arange}, {"where", f_where}, {"cat", f_cat}, {"stack", f_stack},
    {"is_tensor", f_is_tensor}, {"dot64", f_dot64}, {"allclose", f_allclose},
    {"set_num_threads", f_set_num_threads}, {"get_num_threads", f_get_num_threads}, {"now", f_now},
    {"empty_cache", f_empty_cache}, {"memory_stats", f_memory_stats},
    {"isa", f_isa}, {"set_isa", f_set_isa},
    {NULL, NULL}};

void lt_open_tensor(lua_State *L) {
    /* module table is at -1 */
    luaL_newmetatable(L, LT_TENSOR_MT);        /* mt */
    lua_newtable(L);                           /* mt methods */
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "methods");            /* module.methods = methods */
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, t_index, 1);
    lua_setfield(L, -3, "__index");
    lua_pushcclosure(L, t_newindex, 1);        /* consumes methods */
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, t_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, t_gc);
    lua_setfield(L, -2, "__close");
    lua_pushliteral(L, "lunet.Tensor");
    lua_setfield(L, -2, "__name");
    lua_setfield(L, -2, "meta");               /* module.meta = mt */
    luaL_setfuncs(L, functions, 0);
    /* the context took the CPU's level when LUNET_ISA is not a level name: say so */
    int bad;
    lt_isa_default(&bad);
    if (bad)
        lt_lua_error(L, "lunet: LUNET_ISA must be \"generic\", \"avx2\" or \"avx512\", got \"%s\"",
                     getenv("LUNET_ISA"));
}
