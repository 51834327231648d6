/* lua_pool.c: Lua binding of the pooling, unpooling, resampling and padding kernels
 * (lt_pool.h, lt_resample.h) as raw, non-autograd functions in core.nn:
 *
 *   y [, idx] = max_pool2d(x, opts [, want_idx])   gx = max_pool2d_backward(gy, idx, x)
 *   y [, idx] = max_pool2d_naive(x, opts [, want_idx])
 *   y = avg_pool2d(x, opts)                         gx = avg_pool2d_backward(gy, x, opts)
 *   y = max_unpool2d(x, idx, opts)                  gx = max_unpool2d_backward(gy, idx, x)
 *   y = adaptive_avg_pool2d(x, size)                gx = adaptive_avg_pool2d_backward(gy, x)
 *   y [, idx] = adaptive_max_pool2d(x, size [, want_idx])   (backward: max_pool2d_backward)
 *   y = interpolate(x, opts)                        gx = interpolate_backward(gy, x, opts)
 *   y = interpolate_naive(x, opts)
 *   y = pad(x, pads, opts)                          gx = pad_backward(gy, x, pads, opts)
 *
 * Every argument is checked here, before anything is allocated, and errors name the public
 * function (max_pool2d, ...). Indices are int32, 1-based positions in one H*W plane.
 * Inputs are float32 (N, C, H, W) or (C, H, W); pad also takes any leading dims.
 */
#include "lt_lua.h"
#include "lt_pool.h"
#include "lt_resample.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- argument helpers ---- */

static void shape_of(const lt_tensor *t, char *buf, size_t n) { lt_shape_str(t, buf, n); }

/* A float32 tensor with mindim..maxdim dims. */
static lt_tensor *check_input(lua_State *L, int idx, const char *fn, const char *arg,
                              int mindim, int maxdim) {
    lt_tensor *t = lt_lua_checktensor(L, idx, fn, arg);
    if (t->dtype != LT_FLOAT32)
        lt_lua_error(L, "%s: %s must be float32, got %s", fn, arg, lt_dtype_name(t->dtype));
    if (t->ndim < mindim || t->ndim > maxdim) {
        char b[96];
        shape_of(t, b, sizeof b);
        if (mindim == 3 && maxdim == 4)
            lt_lua_error(L, "%s: %s must be 3-D (C, H, W) or 4-D (N, C, H, W), got %s", fn, arg, b);
        else if (mindim == 4 && maxdim == 4)
            lt_lua_error(L, "%s: %s must be 4-D (N, C, H, W), got %s", fn, arg, b);
        else
            lt_lua_error(L, "%s: %s must have at least %d dimensions, got %s", fn, arg, mindim, b);
    }
    return t;
}

static int64_t planes_of(const lt_tensor *t) {
    int64_t p = 1;
    for (int d = 0; d < t->ndim - 2; d++) p *= t->size[d];
    return p;
}

/* Contiguous data of the tensor at idx (a copy may be pushed; it stays on the stack). */
static const float *cdata_f32(lua_State *L, int idx, const char *fn, const char *arg) {
    int pushed;
    lt_tensor *c = lt_lua_contiguous(L, idx, fn, arg, &pushed);
    return lt_f32(c);
}
static const int32_t *cdata_i32(lua_State *L, int idx, const char *fn, const char *arg) {
    int pushed;
    lt_tensor *c = lt_lua_contiguous(L, idx, fn, arg, &pushed);
    return lt_i32(c);
}

/* Pushes a new float32/int32 tensor with t's leading dims and an (h, w) plane. */
static lt_tensor *new_planes(lua_State *L, const lt_tensor *t, lt_dtype dt, int64_t h, int64_t w,
                             const char *fn) {
    int64_t size[LT_MAXDIM];
    memcpy(size, t->size, sizeof size);
    size[t->ndim - 2] = h;
    size[t->ndim - 1] = w;
    return lt_lua_newtensor(L, dt, t->ndim, size, fn);
}

static void check_opts_table(lua_State *L, int idx, const char *fn) {
    if (!lua_isnoneornil(L, idx) && !lua_istable(L, idx))
        lt_lua_error(L, "%s: options must be a table, got %s", fn, luaL_typename(L, idx));
}

/* Reads an integer from the value on top of the stack (pops nothing). */
static int top_integer(lua_State *L, lua_Integer *out) {
    int ok;
    *out = lua_tointegerx(L, -1, &ok);
    return ok;
}

/* opts[key] as a number or {h, w} pair of integers; returns 0 (out untouched) when absent. */
static int opt_int_pair(lua_State *L, int optidx, const char *key, int64_t out[2], const char *fn) {
    if (lua_isnoneornil(L, optidx)) return 0;
    int ty = lua_getfield(L, optidx, key);
    if (ty == LUA_TNIL) { lua_pop(L, 1); return 0; }
    lua_Integer a, b;
    if (ty == LUA_TNUMBER) {
        if (!top_integer(L, &a)) goto bad;
        out[0] = out[1] = a;
    } else if (ty == LUA_TTABLE && lua_rawlen(L, -1) == 2) {
        lua_rawgeti(L, -1, 1);
        int ok1 = top_integer(L, &a);
        lua_rawgeti(L, -2, 2);
        int ok2 = top_integer(L, &b);
        lua_pop(L, 2);
        if (!ok1 || !ok2) goto bad;
        out[0] = a;
        out[1] = b;
    } else {
        goto bad;
    }
    lua_pop(L, 1);
    return 1;
bad:
    return lt_lua_error(L, "%s: %s must be an integer or a pair {h, w} of integers", fn, key);
}

/* Same for numbers (scale factors). */
static int opt_num_pair(lua_State *L, int optidx, const char *key, double out[2], const char *fn) {
    if (lua_isnoneornil(L, optidx)) return 0;
    int ty = lua_getfield(L, optidx, key);
    if (ty == LUA_TNIL) { lua_pop(L, 1); return 0; }
    if (ty == LUA_TNUMBER) {
        out[0] = out[1] = lua_tonumber(L, -1);
    } else if (ty == LUA_TTABLE && lua_rawlen(L, -1) == 2) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        int ok = lua_type(L, -2) == LUA_TNUMBER && lua_type(L, -1) == LUA_TNUMBER;
        out[0] = lua_tonumber(L, -2);
        out[1] = lua_tonumber(L, -1);
        lua_pop(L, 2);
        if (!ok) goto bad;
    } else {
        goto bad;
    }
    lua_pop(L, 1);
    return 1;
bad:
    return lt_lua_error(L, "%s: %s must be a number or a pair {h, w} of numbers", fn, key);
}

/* opts[key] as a boolean; -1 when absent. */
static int opt_bool3(lua_State *L, int optidx, const char *key, const char *fn) {
    if (lua_isnoneornil(L, optidx)) return -1;
    int ty = lua_getfield(L, optidx, key);
    int r = -1;
    if (ty == LUA_TBOOLEAN) r = lua_toboolean(L, -1);
    else if (ty != LUA_TNIL) lt_lua_error(L, "%s: %s must be a boolean, got %s", fn, key, lua_typename(L, ty));
    lua_pop(L, 1);
    return r;
}

/* ---- pooling geometry from options ---- */

/* kernel (required), stride (= kernel), padding (0), dilation (1, max pooling only),
 * ceil_mode (false); every PyTorch check, with the input's shape in the message. */
static void pool_geom(lua_State *L, const lt_tensor *x, int optidx, const char *fn,
                      int with_dilation, lt_pool2d_geom *g, int *ceil_mode) {
    check_opts_table(L, optidx, fn);
    int64_t k[2] = {0, 0}, s[2] = {0, 0}, p[2] = {0, 0}, d[2] = {1, 1};
    if (!opt_int_pair(L, optidx, "kernel", k, fn))
        lt_lua_error(L, "%s: opts.kernel is required", fn);
    if (!opt_int_pair(L, optidx, "stride", s, fn)) { s[0] = k[0]; s[1] = k[1]; }
    opt_int_pair(L, optidx, "padding", p, fn);
    if (with_dilation) opt_int_pair(L, optidx, "dilation", d, fn);
    int cm = opt_bool3(L, optidx, "ceil_mode", fn);
    *ceil_mode = cm > 0;
    if (k[0] < 1 || k[1] < 1)
        lt_lua_error(L, "%s: kernel must be positive, got %dx%d", fn, (int)k[0], (int)k[1]);
    if (s[0] < 1 || s[1] < 1)
        lt_lua_error(L, "%s: stride must be positive, got %dx%d", fn, (int)s[0], (int)s[1]);
    if (d[0] < 1 || d[1] < 1)
        lt_lua_error(L, "%s: dilation must be positive, got %dx%d", fn, (int)d[0], (int)d[1]);
    if (p[0] < 0 || p[1] < 0)
        lt_lua_error(L, "%s: padding must be non-negative, got %dx%d", fn, (int)p[0], (int)p[1]);
    if (2 * p[0] > k[0] || 2 * p[1] > k[1])
        lt_lua_error(L, "%s: padding %dx%d must be at most half the kernel %dx%d", fn,
                   (int)p[0], (int)p[1], (int)k[0], (int)k[1]);
    memset(g, 0, sizeof *g);
    g->planes = planes_of(x);
    g->ih = x->size[x->ndim - 2];
    g->iw = x->size[x->ndim - 1];
    g->kh = k[0]; g->kw = k[1];
    g->sh = s[0]; g->sw = s[1];
    g->ph = p[0]; g->pw = p[1];
    g->dh = d[0]; g->dw = d[1];
    if (lt_pool2d_outsize(g, *ceil_mode) != LT_OK) {
        char b[96];
        shape_of(x, b, sizeof b);
        if (with_dilation)
            lt_lua_error(L, "%s: kernel %dx%d (dilation %dx%d) is larger than the padded input "
                       "%dx%d (input %s, padding %dx%d)", fn, (int)k[0], (int)k[1], (int)d[0],
                       (int)d[1], (int)(g->ih + 2 * p[0]), (int)(g->iw + 2 * p[1]), b,
                       (int)p[0], (int)p[1]);
        else
            lt_lua_error(L, "%s: kernel %dx%d is larger than the padded input %dx%d (input %s, "
                       "padding %dx%d)", fn, (int)k[0], (int)k[1], (int)(g->ih + 2 * p[0]),
                       (int)(g->iw + 2 * p[1]), b, (int)p[0], (int)p[1]);
    }
    if (g->ih * g->iw > INT32_MAX)
        lt_lua_error(L, "%s: input planes of %dx%d are too large for int32 indices", fn,
                   (int)g->ih, (int)g->iw);
}

/* gy must have x's leading dims and an (oh, ow) plane. */
static void check_grad_shape(lua_State *L, const lt_tensor *gy, const lt_tensor *x, int64_t oh,
                             int64_t ow, const char *fn) {
    int ok = gy->ndim == x->ndim && gy->size[gy->ndim - 2] == oh && gy->size[gy->ndim - 1] == ow;
    for (int d = 0; ok && d < x->ndim - 2; d++) ok = gy->size[d] == x->size[d];
    if (!ok) {
        char a[96], b[96];
        shape_of(gy, a, sizeof a);
        shape_of(x, b, sizeof b);
        lt_lua_error(L, "%s: gradient %s does not fit input %s with output planes %dx%d", fn, a, b,
                   (int)oh, (int)ow);
    }
}

/* ---- max pooling ---- */

static int max_pool_common(lua_State *L, int naive) {
    const char *fn = "max_pool2d";
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    lt_pool2d_geom g;
    int ceil_mode;
    pool_geom(L, x, 2, fn, 1, &g, &ceil_mode);
    int want_idx = lua_toboolean(L, 3);
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, g.oh, g.ow, fn);
    int32_t *id = NULL;
    if (want_idx) id = lt_i32(new_planes(L, x, LT_INT32, g.oh, g.ow, fn));
    lt_status st = naive ? lt_max_pool2d_forward_naive(lt_f32(y), id, xd, &g)
                         : lt_max_pool2d_forward(lt_f32(y), id, xd, &g);
    lt_lua_check(L, st, fn);
    return want_idx ? 2 : 1;
}
static int l_max_pool2d(lua_State *L) { return max_pool_common(L, 0); }
static int l_max_pool2d_naive(lua_State *L) { return max_pool_common(L, 1); }

/* gx = max_pool2d_backward(gy, idx, x): scatter through 1-based plane indices. */
static int l_max_pool2d_backward(lua_State *L) {
    const char *fn = "max_pool2d_backward";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 3, 4);
    lt_tensor *idx = lt_lua_checktensor(L, 2, fn, "indices");
    lt_tensor *x = check_input(L, 3, fn, "x", 3, 4);
    if (idx->dtype != LT_INT32)
        lt_lua_error(L, "%s: indices must be int32, got %s", fn, lt_dtype_name(idx->dtype));
    if (lt_numel(idx) != lt_numel(gy) || idx->ndim != gy->ndim)
        lt_lua_error(L, "%s: indices and grad shapes differ", fn);
    check_grad_shape(L, gy, x, gy->size[gy->ndim - 2], gy->size[gy->ndim - 1], fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    const int32_t *idd = cdata_i32(L, 2, fn, "indices");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, x->size[x->ndim - 2], x->size[x->ndim - 1], fn);
    int64_t n_out = gy->size[gy->ndim - 2] * gy->size[gy->ndim - 1];
    int64_t n_in = x->size[x->ndim - 2] * x->size[x->ndim - 1];
    lt_lua_check(L, lt_max_pool2d_backward(lt_f32(gx), gyd, idd, planes_of(x), n_out, n_in), fn);
    return 1;
}

/* ---- average pooling ---- */

static void avg_opts(lua_State *L, int optidx, const char *fn, int *cip, int64_t *divisor) {
    int c = opt_bool3(L, optidx, "count_include_pad", fn);
    *cip = c != 0;
    *divisor = 0;
    if (!lua_isnoneornil(L, optidx)) {
        int ty = lua_getfield(L, optidx, "divisor_override");
        if (ty != LUA_TNIL) {
            lua_Integer v;
            if (!top_integer(L, &v)) lt_lua_error(L, "%s: divisor_override must be an integer", fn);
            if (v < 1) lt_lua_error(L, "%s: divisor_override must be positive, got %d", fn, (int)v);
            *divisor = v;
        }
        lua_pop(L, 1);
    }
}

static int l_avg_pool2d(lua_State *L) {
    const char *fn = "avg_pool2d";
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    lt_pool2d_geom g;
    int ceil_mode, cip;
    int64_t divisor;
    pool_geom(L, x, 2, fn, 0, &g, &ceil_mode);
    avg_opts(L, 2, fn, &cip, &divisor);
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, g.oh, g.ow, fn);
    lt_lua_check(L, lt_avg_pool2d_forward(lt_f32(y), xd, &g, cip, divisor), fn);
    return 1;
}

static int l_avg_pool2d_backward(lua_State *L) {
    const char *fn = "avg_pool2d";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 3, 4);
    lt_tensor *x = check_input(L, 2, fn, "x", 3, 4);
    lt_pool2d_geom g;
    int ceil_mode, cip;
    int64_t divisor;
    pool_geom(L, x, 3, fn, 0, &g, &ceil_mode);
    avg_opts(L, 3, fn, &cip, &divisor);
    check_grad_shape(L, gy, x, g.oh, g.ow, fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, g.ih, g.iw, fn);
    lt_lua_check(L, lt_avg_pool2d_backward(lt_f32(gx), gyd, &g, cip, divisor), fn);
    return 1;
}

/* ---- max unpooling ---- */

/* Output plane of max_unpool2d: PyTorch's _unpool_output_size. */
static void unpool_size(lua_State *L, const lt_tensor *x, int optidx, const char *fn,
                        int64_t *oh, int64_t *ow) {
    check_opts_table(L, optidx, fn);
    int64_t k[2] = {0, 0}, s[2] = {0, 0}, p[2] = {0, 0};
    if (!opt_int_pair(L, optidx, "kernel", k, fn))
        lt_lua_error(L, "%s: opts.kernel is required", fn);
    if (!opt_int_pair(L, optidx, "stride", s, fn)) { s[0] = k[0]; s[1] = k[1]; }
    opt_int_pair(L, optidx, "padding", p, fn);
    if (k[0] < 1 || k[1] < 1)
        lt_lua_error(L, "%s: kernel must be positive, got %dx%d", fn, (int)k[0], (int)k[1]);
    if (s[0] < 1 || s[1] < 1)
        lt_lua_error(L, "%s: stride must be positive, got %dx%d", fn, (int)s[0], (int)s[1]);
    if (p[0] < 0 || p[1] < 0)
        lt_lua_error(L, "%s: padding must be non-negative, got %dx%d", fn, (int)p[0], (int)p[1]);
    int64_t def[2];
    def[0] = (x->size[x->ndim - 2] - 1) * s[0] + k[0] - 2 * p[0];
    def[1] = (x->size[x->ndim - 1] - 1) * s[1] + k[1] - 2 * p[1];
    int64_t out[2] = {def[0], def[1]};
    if (!lua_isnoneornil(L, optidx)) {
        int ty = lua_getfield(L, optidx, "output_size");
        if (ty != LUA_TNIL) {
            lua_Integer n = ty == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
            if (n != 2 && n != 4)
                lt_lua_error(L, "%s: output_size must be {h, w} or {n, c, h, w}", fn);
            for (int d = 0; d < 2; d++) {
                lua_rawgeti(L, -1, n - 1 + d);
                lua_Integer v;
                if (!top_integer(L, &v))
                    lt_lua_error(L, "%s: output_size must be {h, w} or {n, c, h, w}", fn);
                lua_pop(L, 1);
                if (!(def[d] - s[d] < v && v < def[d] + s[d]))
                    lt_lua_error(L, "%s: output_size %s %d must be strictly between %d and %d", fn,
                               d == 0 ? "height" : "width", (int)v, (int)(def[d] - s[d]),
                               (int)(def[d] + s[d]));
                out[d] = v;
            }
        }
        lua_pop(L, 1);
    }
    if (out[0] < 1 || out[1] < 1)
        lt_lua_error(L, "%s: output size %dx%d is empty", fn, (int)out[0], (int)out[1]);
    if (out[0] * out[1] > INT32_MAX)
        lt_lua_error(L, "%s: output planes of %dx%d are too large for int32 indices", fn,
                   (int)out[0], (int)out[1]);
    *oh = out[0];
    *ow = out[1];
}

static void check_unpool_indices(lua_State *L, const lt_tensor *x, const lt_tensor *idx,
                                 const char *fn) {
    if (idx->dtype != LT_INT32)
        lt_lua_error(L, "%s: indices must be int32, got %s", fn, lt_dtype_name(idx->dtype));
    int same = idx->ndim == x->ndim;
    for (int d = 0; same && d < x->ndim; d++) same = idx->size[d] == x->size[d];
    if (!same) {
        char a[96], b[96];
        shape_of(idx, a, sizeof a);
        shape_of(x, b, sizeof b);
        lt_lua_error(L, "%s: indices %s must have the shape of x %s", fn, a, b);
    }
}

static void raise_bad_index(lua_State *L, const int32_t *idd, int64_t n, int64_t oh, int64_t ow,
                            const char *fn) {
    int32_t bad;
    int64_t pos;
    if (lt_pool_check_indices(idd, n, oh * ow, &bad, &pos))
        lt_lua_error(L, "%s: index %d is outside [1, %d] (1-based positions in an output plane "
                   "of %dx%d)", fn, (int)bad, (int)(oh * ow), (int)oh, (int)ow);
}

static int l_max_unpool2d(lua_State *L) {
    const char *fn = "max_unpool2d";
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    lt_tensor *idx = lt_lua_checktensor(L, 2, fn, "indices");
    check_unpool_indices(L, x, idx, fn);
    int64_t oh, ow;
    unpool_size(L, x, 3, fn, &oh, &ow);
    const float *xd = cdata_f32(L, 1, fn, "x");
    const int32_t *idd = cdata_i32(L, 2, fn, "indices");
    raise_bad_index(L, idd, lt_numel(x), oh, ow, fn);
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, oh, ow, fn);
    int64_t n_in = x->size[x->ndim - 2] * x->size[x->ndim - 1];
    lt_lua_check(L, lt_max_unpool2d_forward(lt_f32(y), xd, idd, planes_of(x), n_in, oh * ow), fn);
    return 1;
}

/* gx = max_unpool2d_backward(gy, idx, x) */
static int l_max_unpool2d_backward(lua_State *L) {
    const char *fn = "max_unpool2d";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 3, 4);
    lt_tensor *idx = lt_lua_checktensor(L, 2, fn, "indices");
    lt_tensor *x = check_input(L, 3, fn, "x", 3, 4);
    check_unpool_indices(L, x, idx, fn);
    int64_t oh = gy->size[gy->ndim - 2], ow = gy->size[gy->ndim - 1];
    check_grad_shape(L, gy, x, oh, ow, fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    const int32_t *idd = cdata_i32(L, 2, fn, "indices");
    raise_bad_index(L, idd, lt_numel(x), oh, ow, fn);
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, x->size[x->ndim - 2], x->size[x->ndim - 1], fn);
    int64_t n_in = x->size[x->ndim - 2] * x->size[x->ndim - 1];
    lt_lua_check(L, lt_max_unpool2d_backward(lt_f32(gx), gyd, idd, planes_of(x), n_in, oh * ow), fn);
    return 1;
}

/* ---- adaptive pooling ---- */

static void adaptive_size(lua_State *L, int idx, const char *fn, int64_t out[2]) {
    lua_Integer a = 0, b = 0;
    int ok = 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        ok = top_integer(L, &a);
        lua_pop(L, 1);
        b = a;
    } else if (lua_istable(L, idx) && lua_rawlen(L, idx) == 2) {
        lua_rawgeti(L, idx, 1);
        lua_rawgeti(L, idx, 2);
        int ok1, ok2;
        a = lua_tointegerx(L, -2, &ok1);
        b = lua_tointegerx(L, -1, &ok2);
        lua_pop(L, 2);
        ok = ok1 && ok2;
    }
    if (!ok) lt_lua_error(L, "%s: size must be an integer or a pair {h, w} of integers", fn);
    if (a < 1 || b < 1) lt_lua_error(L, "%s: size must be positive, got %dx%d", fn, (int)a, (int)b);
    out[0] = a;
    out[1] = b;
}

static int l_adaptive_avg_pool2d(lua_State *L) {
    const char *fn = "adaptive_avg_pool2d";
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    int64_t o[2];
    adaptive_size(L, 2, fn, o);
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, o[0], o[1], fn);
    lt_lua_check(L, lt_adaptive_avg_pool2d_forward(lt_f32(y), xd, planes_of(x),
                 x->size[x->ndim - 2], x->size[x->ndim - 1], o[0], o[1]), fn);
    return 1;
}

static int l_adaptive_avg_pool2d_backward(lua_State *L) {
    const char *fn = "adaptive_avg_pool2d";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 3, 4);
    lt_tensor *x = check_input(L, 2, fn, "x", 3, 4);
    int64_t oh = gy->size[gy->ndim - 2], ow = gy->size[gy->ndim - 1];
    check_grad_shape(L, gy, x, oh, ow, fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, x->size[x->ndim - 2], x->size[x->ndim - 1], fn);
    lt_lua_check(L, lt_adaptive_avg_pool2d_backward(lt_f32(gx), gyd, planes_of(x),
                 x->size[x->ndim - 2], x->size[x->ndim - 1], oh, ow), fn);
    return 1;
}

static int l_adaptive_max_pool2d(lua_State *L) {
    const char *fn = "adaptive_max_pool2d";
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    int64_t o[2];
    adaptive_size(L, 2, fn, o);
    int want_idx = lua_toboolean(L, 3);
    if (x->size[x->ndim - 2] * x->size[x->ndim - 1] > INT32_MAX)
        lt_lua_error(L, "%s: input planes are too large for int32 indices", fn);
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, o[0], o[1], fn);
    int32_t *id = NULL;
    if (want_idx) id = lt_i32(new_planes(L, x, LT_INT32, o[0], o[1], fn));
    lt_lua_check(L, lt_adaptive_max_pool2d_forward(lt_f32(y), id, xd, planes_of(x),
                 x->size[x->ndim - 2], x->size[x->ndim - 1], o[0], o[1]), fn);
    return want_idx ? 2 : 1;
}

/* ---- interpolate ---- */

typedef struct interp_args {
    int bilinear, align_corners;
    int64_t oh, ow;
    double scale_h, scale_w;   /* 0: none (step in/out) */
} interp_args;

static void interp_parse(lua_State *L, const lt_tensor *x, int optidx, const char *fn,
                         interp_args *a) {
    check_opts_table(L, optidx, fn);
    memset(a, 0, sizeof *a);
    if (!lua_isnoneornil(L, optidx)) {
        int ty = lua_getfield(L, optidx, "mode");
        if (ty == LUA_TSTRING) {
            const char *mode = lua_tostring(L, -1);
            if (strcmp(mode, "bilinear") == 0) a->bilinear = 1;
            else if (strcmp(mode, "nearest") != 0)
                lt_lua_error(L, "%s: mode must be \"nearest\" or \"bilinear\", got \"%s\"", fn, mode);
        } else if (ty != LUA_TNIL) {
            lt_lua_error(L, "%s: mode must be \"nearest\" or \"bilinear\", got a %s", fn,
                       lua_typename(L, ty));
        }
        lua_pop(L, 1);
    }
    int ac = opt_bool3(L, optidx, "align_corners", fn);
    if (ac >= 0 && !a->bilinear)
        lt_lua_error(L, "%s: align_corners can only be set with mode \"bilinear\"", fn);
    a->align_corners = ac > 0;
    int rsf = opt_bool3(L, optidx, "recompute_scale_factor", fn);
    int64_t size[2] = {0, 0};
    double sf[2] = {0.0, 0.0};
    int has_size = opt_int_pair(L, optidx, "size", size, fn);
    int has_sf = opt_num_pair(L, optidx, "scale_factor", sf, fn);
    if (has_size == has_sf)
        lt_lua_error(L, "%s: give exactly one of size and scale_factor", fn);
    int64_t ih = x->size[2], iw = x->size[3];
    if (has_size) {
        if (size[0] < 1 || size[1] < 1)
            lt_lua_error(L, "%s: size must be positive, got %dx%d", fn, (int)size[0], (int)size[1]);
        if (rsf > 0) lt_lua_error(L, "%s: recompute_scale_factor needs scale_factor", fn);
        a->oh = size[0];
        a->ow = size[1];
    } else {
        char sfs[64];
        snprintf(sfs, sizeof sfs, "%gx%g", sf[0], sf[1]);
        if (!(sf[0] > 0.0) || !(sf[1] > 0.0) || isinf(sf[0]) || isinf(sf[1]))
            lt_lua_error(L, "%s: scale_factor must be positive, got %s", fn, sfs);
        double fh = floor((double)ih * sf[0]), fw = floor((double)iw * sf[1]);
        if (fh < 1.0 || fw < 1.0)
            lt_lua_error(L, "%s: scale_factor %s makes an empty output from input %dx%d", fn, sfs,
                       (int)ih, (int)iw);
        if (fh > 1e9 || fw > 1e9)
            lt_lua_error(L, "%s: scale_factor %s makes a too large output", fn, sfs);
        a->oh = (int64_t)fh;
        a->ow = (int64_t)fw;
        if (rsf <= 0) {
            a->scale_h = sf[0];
            a->scale_w = sf[1];
        }
    }
    /* Nearest: PyTorch 1.13 takes its channels-last kernel when the contiguous input is
     * also channels-last contiguous (C == 1 or H * W == 1); that kernel copies exactly when
     * out == in or out == 2 * in, whatever the scale factor. Match it by dropping the scale
     * there. (For C > 1 PyTorch's forward uses floor(dst / scale) while its backward takes
     * the exact copy; lunet's backward is always the gradient of its forward.) */
    if (!a->bilinear && (x->size[1] == 1 || ih * iw == 1)) {
        if (a->oh == ih || a->oh == 2 * ih) a->scale_h = 0.0;
        if (a->ow == iw || a->ow == 2 * iw) a->scale_w = 0.0;
    }
}

static int interp_common(lua_State *L, int naive) {
    const char *fn = "interpolate";
    lt_tensor *x = check_input(L, 1, fn, "x", 4, 4);
    interp_args a;
    interp_parse(L, x, 2, fn, &a);
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, a.oh, a.ow, fn);
    int64_t P = planes_of(x), ih = x->size[2], iw = x->size[3];
    lt_status st;
    if (!a.bilinear)
        st = lt_upsample_nearest2d_forward(lt_f32(y), xd, P, ih, iw, a.oh, a.ow, a.scale_h, a.scale_w);
    else if (naive)
        st = lt_upsample_bilinear2d_forward_naive(lt_f32(y), xd, P, ih, iw, a.oh, a.ow,
                                                  a.align_corners, a.scale_h, a.scale_w);
    else
        st = lt_upsample_bilinear2d_forward(lt_f32(y), xd, P, ih, iw, a.oh, a.ow,
                                            a.align_corners, a.scale_h, a.scale_w);
    lt_lua_check(L, st, fn);
    return 1;
}
static int l_interpolate(lua_State *L) { return interp_common(L, 0); }
static int l_interpolate_naive(lua_State *L) { return interp_common(L, 1); }

/* gx = interpolate_backward(gy, x, opts) */
static int l_interpolate_backward(lua_State *L) {
    const char *fn = "interpolate";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 4, 4);
    lt_tensor *x = check_input(L, 2, fn, "x", 4, 4);
    interp_args a;
    interp_parse(L, x, 3, fn, &a);
    check_grad_shape(L, gy, x, a.oh, a.ow, fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, x->size[2], x->size[3], fn);
    int64_t P = planes_of(x), ih = x->size[2], iw = x->size[3];
    lt_status st = a.bilinear
        ? lt_upsample_bilinear2d_backward(lt_f32(gx), gyd, P, ih, iw, a.oh, a.ow,
                                          a.align_corners, a.scale_h, a.scale_w)
        : lt_upsample_nearest2d_backward(lt_f32(gx), gyd, P, ih, iw, a.oh, a.ow,
                                         a.scale_h, a.scale_w);
    lt_lua_check(L, st, fn);
    return 1;
}

/* ---- pad ---- */

static const char *const pad_mode_names[] = {"constant", "reflect", "replicate", "circular"};

/* pads at pidx: {left, right} or {left, right, top, bottom}; opts at optidx. */
static void pad_parse(lua_State *L, const lt_tensor *x, int pidx, int optidx, const char *fn,
                      int64_t pad[4], lt_pad_mode *mode, float *value) {
    if (!lua_istable(L, pidx))
        lt_lua_error(L, "%s: pads must be a table {left, right[, top, bottom]}, got %s", fn,
                   luaL_typename(L, pidx));
    lua_Integer n = (lua_Integer)lua_rawlen(L, pidx);
    if (n != 2 && n != 4)
        lt_lua_error(L, "%s: expected 2 or 4 padding sizes {left, right[, top, bottom]}, got %d",
                   fn, (int)n);
    pad[2] = pad[3] = 0;
    for (int k = 0; k < (int)n; k++) {
        lua_rawgeti(L, pidx, k + 1);
        lua_Integer v;
        if (!top_integer(L, &v)) lt_lua_error(L, "%s: padding sizes must be integers", fn);
        lua_pop(L, 1);
        pad[k] = v;
    }
    check_opts_table(L, optidx, fn);
    *mode = LT_PAD_CONSTANT;
    *value = 0.0f;
    int has_value = 0;
    if (!lua_isnoneornil(L, optidx)) {
        int ty = lua_getfield(L, optidx, "mode");
        if (ty != LUA_TNIL) {
            const char *m = ty == LUA_TSTRING ? lua_tostring(L, -1) : "?";
            int found = -1;
            for (int k = 0; k < 4; k++)
                if (strcmp(m, pad_mode_names[k]) == 0) found = k;
            if (found < 0)
                lt_lua_error(L, "%s: mode must be \"constant\", \"reflect\", \"replicate\" or "
                           "\"circular\", got \"%s\"", fn, ty == LUA_TSTRING ? m : luaL_typename(L, -1));
            *mode = (lt_pad_mode)found;
        }
        lua_pop(L, 1);
        ty = lua_getfield(L, optidx, "value");
        if (ty == LUA_TNUMBER) { *value = (float)lua_tonumber(L, -1); has_value = 1; }
        else if (ty != LUA_TNIL) lt_lua_error(L, "%s: value must be a number", fn);
        lua_pop(L, 1);
    }
    if (has_value && *mode != LT_PAD_CONSTANT)
        lt_lua_error(L, "%s: value can only be set with mode \"constant\"", fn);
    const int64_t ih = x->size[x->ndim - 2], iw = x->size[x->ndim - 1];
    const int64_t size[4] = {iw, iw, ih, ih};
    char b[96];
    shape_of(x, b, sizeof b);
    for (int k = 0; k < 4; k++) {
        int dim = k < 2 ? x->ndim : x->ndim - 1;   /* 1-based */
        if (pad[k] < 0 && *mode != LT_PAD_CONSTANT)
            lt_lua_error(L, "%s: negative padding %d is only allowed in constant mode", fn, (int)pad[k]);
        if (*mode == LT_PAD_REFLECT && pad[k] >= size[k])
            lt_lua_error(L, "%s: reflect padding %d must be less than the input size %d "
                       "(dimension %d of %s)", fn, (int)pad[k], (int)size[k], dim, b);
        if (*mode == LT_PAD_CIRCULAR && pad[k] > size[k])
            lt_lua_error(L, "%s: circular padding %d must be at most the input size %d "
                       "(dimension %d of %s)", fn, (int)pad[k], (int)size[k], dim, b);
    }
    int64_t oh, ow;
    if (lt_pad2d_outsize(ih, iw, pad, *mode, &oh, &ow) != LT_OK)
        lt_lua_error(L, "%s: padding {%d, %d, %d, %d} leaves an empty output from input %s", fn,
                   (int)pad[0], (int)pad[1], (int)pad[2], (int)pad[3], b);
}

static int l_pad(lua_State *L) {
    const char *fn = "pad";
    lt_tensor *x = check_input(L, 1, fn, "x", 2, LT_MAXDIM);
    int64_t pad[4];
    lt_pad_mode mode;
    float value;
    pad_parse(L, x, 2, 3, fn, pad, &mode, &value);
    const int64_t ih = x->size[x->ndim - 2], iw = x->size[x->ndim - 1];
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, ih + pad[2] + pad[3], iw + pad[0] + pad[1], fn);
    lt_lua_check(L, lt_pad2d_forward(lt_f32(y), xd, planes_of(x), ih, iw, pad, mode, value), fn);
    return 1;
}

/* gx = pad_backward(gy, x, pads, opts) */
static int l_pad_backward(lua_State *L) {
    const char *fn = "pad";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 2, LT_MAXDIM);
    lt_tensor *x = check_input(L, 2, fn, "x", 2, LT_MAXDIM);
    int64_t pad[4];
    lt_pad_mode mode;
    float value;
    pad_parse(L, x, 3, 4, fn, pad, &mode, &value);
    const int64_t ih = x->size[x->ndim - 2], iw = x->size[x->ndim - 1];
    check_grad_shape(L, gy, x, ih + pad[2] + pad[3], iw + pad[0] + pad[1], fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, ih, iw, fn);
    lt_lua_check(L, lt_pad2d_backward(lt_f32(gx), gyd, planes_of(x), ih, iw, pad, mode), fn);
    return 1;
}

static const luaL_Reg pool_funcs[] = {
    {"max_pool2d", l_max_pool2d},
    {"max_pool2d_naive", l_max_pool2d_naive},
    {"max_pool2d_backward", l_max_pool2d_backward},
    {"avg_pool2d", l_avg_pool2d},
    {"avg_pool2d_backward", l_avg_pool2d_backward},
    {"max_unpool2d", l_max_unpool2d},
    {"max_unpool2d_backward", l_max_unpool2d_backward},
    {"adaptive_avg_pool2d", l_adaptive_avg_pool2d},
    {"adaptive_avg_pool2d_backward", l_adaptive_avg_pool2d_backward},
    {"adaptive_max_pool2d", l_adaptive_max_pool2d},
    {"interpolate", l_interpolate},
    {"interpolate_naive", l_interpolate_naive},
    {"interpolate_backward", l_interpolate_backward},
    {"pad", l_pad},
    {"pad_backward", l_pad_backward},
    {NULL, NULL}
};

void lt_open_nn_pool(lua_State *L) {
    luaL_setfuncs(L, pool_funcs, 0);
}
