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
#include "lt_lua.h"
#include "lt_pool.h"
#include "lt_resample.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- argument helpers ---- */

/* The option keys of each function (lt_opt_check raises on any other). */
static const char *const max_pool_keys[] = {"kernel", "stride", "padding", "dilation",
                                            "ceil_mode", "return_indices", NULL};
static const char *const avg_pool_keys[] = {"kernel", "stride", "padding", "ceil_mode",
                                            "count_include_pad", "divisor_override", NULL};
static const char *const unpool_keys[] = {"kernel", "stride", "padding", "output_size", NULL};
static const char *const interp_keys[] = {"size", "scale_factor", "mode", "align_corners",
                                          "recompute_scale_factor", NULL};
static const char *const pad_keys[] = {"mode", "value", NULL};

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

/* Product of the leading dims (N * C); saturates at INT64_MAX (only possible for a view
 * with an empty plane), which check_out_numel then reports. */
static int64_t planes_of(const lt_tensor *t) {
    int64_t p = 1;
    for (int d = 0; d < t->ndim - 2; d++)
        if (lt_mul_ovf(p, t->size[d], &p)) return INT64_MAX;
    return p;
}

/* "AxB" with both values in full. */
static const char *hw_str(char *buf, size_t n, int64_t a, int64_t b) {
    snprintf(buf, n, "%lldx%lld", (long long)a, (long long)b);
    return buf;
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

/* PyTorch's pooling and resampling kernels take empty batches but not empty planes. */
/* The output (t's leading dims, an oh x ow plane) must have a countable number of elements. */
static void check_out_numel(lua_State *L, const lt_tensor *t, int64_t oh, int64_t ow,
                            const char *fn) {
    int64_t n = 1;
    int ovf = lt_mul_ovf(planes_of(t), oh, &n) || lt_mul_ovf(n, ow, &n);
    if (ovf) {
        lt_tensor shape = *t;
        char b[160], c[96];
        shape.size[t->ndim - 2] = oh;
        shape.size[t->ndim - 1] = ow;
        lt_lua_error(L, "%s: output %s is too large (its element count overflows int64) (x %s)", fn,
                     lt_shape_str(&shape, b, sizeof b), lt_shape_str(t, c, sizeof c));
    }
}

static void check_planes(lua_State *L, const lt_tensor *t, const char *fn, const char *arg) {
    if (t->size[t->ndim - 2] < 1 || t->size[t->ndim - 1] < 1) {
        char b[96];
        lt_lua_error(L, "%s: %s must have non-empty planes (H and W at least 1), got %s", fn, arg,
                     lt_shape_str(t, b, sizeof b));
    }
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

/* The same without zero-filling, for outputs whose every element the kernel writes. */
static lt_tensor *new_planes_uninit(lua_State *L, const lt_tensor *t, lt_dtype dt, int64_t h,
                                    int64_t w, const char *fn) {
    int64_t size[LT_MAXDIM];
    memcpy(size, t->size, sizeof size);
    size[t->ndim - 2] = h;
    size[t->ndim - 1] = w;
    return lt_lua_newtensor_uninit(L, dt, t->ndim, size, fn);
}

/* Reads an integer from the value on top of the stack (pops nothing). */
static int top_integer(lua_State *L, lua_Integer *out) {
    int ok;
    *out = lua_tointegerx(L, -1, &ok);
    return ok;
}

/* Raises "fn: key must be <what>, got <v>" for the value on top of the stack (a table shows
 * its entries: "{2.5, 1}"). */
static int bad_pair(lua_State *L, const char *key, const char *what, const char *fn) {
    int top = lua_gettop(L);
    if (lua_type(L, top) == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, top);
        luaL_Buffer buf;
        luaL_buffinit(L, &buf);
        luaL_addchar(&buf, '{');
        for (lua_Integer i = 1; i <= n && i <= 8; i++) {
            if (i > 1) luaL_addstring(&buf, ", ");
            lua_rawgeti(L, top, i);
            luaL_tolstring(L, -1, NULL);
            lua_remove(L, -2);
            luaL_addvalue(&buf);
        }
        if (n > 8) luaL_addstring(&buf, ", ...");
        luaL_addchar(&buf, '}');
        luaL_pushresult(&buf);
    } else if (lua_type(L, top) == LUA_TSTRING) {
        lua_pushfstring(L, "'%s'", lua_tostring(L, top));
    } else {
        luaL_tolstring(L, top, NULL);
    }
    return lt_lua_error(L, "%s: %s must be %s, got %s", fn, key, what, lua_tostring(L, -1));
}

/* opts[key] as a number or {h, w} pair of integers; returns 0 (out untouched) when absent. */
static int opt_int_pair(lua_State *L, int optidx, const char *key, int64_t out[2], const char *fn) {
    if (!lt_opt_get(L, optidx, key, fn)) return 0;
    int ty = lua_type(L, -1);
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
    return bad_pair(L, key, "an integer or a pair {h, w} of integers", fn);
}

/* Same for numbers (scale factors). */
static int opt_num_pair(lua_State *L, int optidx, const char *key, double out[2], const char *fn) {
    if (!lt_opt_get(L, optidx, key, fn)) return 0;
    int ty = lua_type(L, -1);
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
    return bad_pair(L, key, "a number or a pair {h, w} of numbers", fn);
}

/* opts[key] as a boolean; -1 when absent. */
static int opt_bool3(lua_State *L, int optidx, const char *key, const char *fn) {
    if (!lt_opt_get(L, optidx, key, fn)) return -1;
    if (lua_type(L, -1) != LUA_TBOOLEAN)
        lt_lua_error(L, "%s: %s must be a boolean, got %s", fn, key, luaL_typename(L, -1));
    int r = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return r;
}

/* ---- pooling geometry from options ---- */

/* kernel (required), stride (= kernel), padding (0), dilation (1, max pooling only),
 * ceil_mode (false); every PyTorch check, with the input's shape in the message. The
 * caller has checked the option keys (lt_opt_check). */
static void pool_geom(lua_State *L, const lt_tensor *x, int optidx, const char *fn,
                      int with_dilation, lt_pool2d_geom *g, int *ceil_mode) {
    char b[96], s1[48], s2[48], s3[48], s4[48];
    int64_t k[2] = {0, 0}, s[2] = {0, 0}, p[2] = {0, 0}, d[2] = {1, 1};
    if (!opt_int_pair(L, optidx, "kernel", k, fn))
        lt_lua_error(L, "%s: opts.kernel is required", fn);
    if (!opt_int_pair(L, optidx, "stride", s, fn)) { s[0] = k[0]; s[1] = k[1]; }
    opt_int_pair(L, optidx, "padding", p, fn);
    if (with_dilation) opt_int_pair(L, optidx, "dilation", d, fn);
    int cm = opt_bool3(L, optidx, "ceil_mode", fn);
    *ceil_mode = cm > 0;
    if (k[0] < 1 || k[1] < 1)
        lt_lua_error(L, "%s: kernel must be positive, got %s", fn, hw_str(s1, sizeof s1, k[0], k[1]));
    if (s[0] < 1 || s[1] < 1)
        lt_lua_error(L, "%s: stride must be positive, got %s", fn, hw_str(s1, sizeof s1, s[0], s[1]));
    if (d[0] < 1 || d[1] < 1)
        lt_lua_error(L, "%s: dilation must be positive, got %s", fn, hw_str(s1, sizeof s1, d[0], d[1]));
    if (p[0] < 0 || p[1] < 0)
        lt_lua_error(L, "%s: padding must be non-negative, got %s", fn, hw_str(s1, sizeof s1, p[0], p[1]));
    if (p[0] > k[0] / 2 || p[1] > k[1] / 2)   /* 2p > k, without overflow */
        lt_lua_error(L, "%s: padding %s must be at most half the kernel %s", fn,
                     hw_str(s1, sizeof s1, p[0], p[1]), hw_str(s2, sizeof s2, k[0], k[1]));
    memset(g, 0, sizeof *g);
    g->planes = planes_of(x);
    g->ih = x->size[x->ndim - 2];
    g->iw = x->size[x->ndim - 1];
    g->kh = k[0]; g->kw = k[1];
    g->sh = s[0]; g->sw = s[1];
    g->ph = p[0]; g->pw = p[1];
    g->dh = d[0]; g->dw = d[1];
    shape_of(x, b, sizeof b);
    lt_status st = lt_pool2d_outsize(g, *ceil_mode);
    if (st == LT_EOVERFLOW)
        lt_lua_error(L, "%s: kernel %s with stride %s, padding %s and dilation %s overflows int64 "
                     "(input %s)", fn, hw_str(s1, sizeof s1, k[0], k[1]),
                     hw_str(s2, sizeof s2, s[0], s[1]), hw_str(s3, sizeof s3, p[0], p[1]),
                     hw_str(s4, sizeof s4, d[0], d[1]), b);
    if (st != LT_OK) {   /* the padded input is ih + 2p here: p <= k/2 and the sum fits */
        if (with_dilation)
            lt_lua_error(L, "%s: kernel %s (dilation %s) is larger than the padded input %s "
                         "(input %s, padding %s)", fn, hw_str(s1, sizeof s1, k[0], k[1]),
                         hw_str(s2, sizeof s2, d[0], d[1]),
                         hw_str(s3, sizeof s3, g->ih + 2 * p[0], g->iw + 2 * p[1]), b,
                         hw_str(s4, sizeof s4, p[0], p[1]));
        else
            lt_lua_error(L, "%s: kernel %s is larger than the padded input %s (input %s, "
                         "padding %s)", fn, hw_str(s1, sizeof s1, k[0], k[1]),
                         hw_str(s3, sizeof s3, g->ih + 2 * p[0], g->iw + 2 * p[1]), b,
                         hw_str(s4, sizeof s4, p[0], p[1]));
    }
    int64_t plane;
    if (lt_mul_ovf(g->ih, g->iw, &plane) || plane > INT32_MAX)
        lt_lua_error(L, "%s: input planes of %s are too large for int32 indices (input %s)", fn,
                     hw_str(s1, sizeof s1, g->ih, g->iw), b);
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
        char c[48];
        lt_lua_error(L, "%s: gradient %s does not fit input %s with output planes %s", fn, a, b,
                     hw_str(c, sizeof c, oh, ow));
    }
}

/* ---- max pooling ---- */

static int max_pool_common(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "max_pool2d";
    lt_opt_check(L, 2, fn, max_pool_keys);
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    check_planes(L, x, fn, "x");
    lt_pool2d_geom g;
    int ceil_mode;
    pool_geom(L, x, 2, fn, 1, &g, &ceil_mode);
    opt_bool3(L, 2, "return_indices", fn);   /* read by the Lua side; type-checked here */
    int want_idx = lua_toboolean(L, 3);
    const float *xd = cdata_f32(L, 1, fn, "x");
    /* every output value and index is written (max_pool_plane, max_pool_plane_2x2) */
    lt_tensor *y = new_planes_uninit(L, x, LT_FLOAT32, g.oh, g.ow, fn);
    int32_t *id = NULL;
    if (want_idx) id = lt_i32(new_planes_uninit(L, x, LT_INT32, g.oh, g.ow, fn));
    lt_status st = naive ? lt_max_pool2d_forward_naive(ctx, lt_f32(y), id, xd, &g)
                         : lt_max_pool2d_forward(ctx, lt_f32(y), id, xd, &g);
    lt_lua_check(L, st, fn);
    return want_idx ? 2 : 1;
}
static int l_max_pool2d(lua_State *L) { return max_pool_common(L, 0); }
static int l_max_pool2d_naive(lua_State *L) { return max_pool_common(L, 1); }

/* gx = max_pool2d_backward(gy, idx, x): scatter through 1-based plane indices. */
static int l_max_pool2d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "max_pool2d_backward";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 3, 4);
    lt_tensor *idx = lt_lua_checktensor(L, 2, fn, "indices");
    lt_tensor *x = check_input(L, 3, fn, "x", 3, 4);
    if (idx->dtype != LT_INT32)
        lt_lua_error(L, "%s: indices must be int32, got %s", fn, lt_dtype_name(idx->dtype));
    int same = idx->ndim == gy->ndim;
    for (int d = 0; same && d < gy->ndim; d++) same = idx->size[d] == gy->size[d];
    if (!same) {
        char a[96], b[96];
        lt_lua_error(L, "%s: indices %s must have the shape of grad %s", fn,
                     lt_shape_str(idx, a, sizeof a), lt_shape_str(gy, b, sizeof b));
    }
    check_grad_shape(L, gy, x, gy->size[gy->ndim - 2], gy->size[gy->ndim - 1], fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    const int32_t *idd = cdata_i32(L, 2, fn, "indices");
    /* every plane is zeroed by the kernel, in its parallel loop */
    lt_tensor *gx = new_planes_uninit(L, x, LT_FLOAT32, x->size[x->ndim - 2], x->size[x->ndim - 1], fn);
    int64_t n_out = gy->size[gy->ndim - 2] * gy->size[gy->ndim - 1];
    int64_t n_in = x->size[x->ndim - 2] * x->size[x->ndim - 1];
    lt_status st = lt_max_pool2d_backward_set(ctx, lt_f32(gx), gyd, idd, planes_of(x), n_out, n_in);
    if (st == LT_EINDEX) {   /* nothing was written: find the culprit for the message */
        int32_t bad = 0;
        char c[48];
        lt_pool_check_indices(idd, lt_numel(gy), n_in, &bad, NULL);
        lt_lua_error(L, "%s: index %d is outside [1, %I] (1-based positions in an input plane of "
                     "%s)", fn, (int)bad, (lua_Integer)n_in,
                     hw_str(c, sizeof c, x->size[x->ndim - 2], x->size[x->ndim - 1]));
    }
    lt_lua_check(L, st, fn);
    return 1;
}

/* ---- average pooling ---- */

static void avg_opts(lua_State *L, int optidx, const char *fn, int *cip, int64_t *divisor) {
    int c = opt_bool3(L, optidx, "count_include_pad", fn);
    *cip = c != 0;
    *divisor = 0;
    if (lt_opt_get(L, optidx, "divisor_override", fn)) {
        lua_Integer v;
        if (!top_integer(L, &v))
            lt_lua_error(L, "%s: divisor_override must be an integer, got %s", fn,
                         luaL_tolstring(L, -1, NULL));
        if (v < 1) lt_lua_error(L, "%s: divisor_override must be positive, got %I", fn, v);
        *divisor = v;
        lua_pop(L, 1);
    }
}

static int l_avg_pool2d(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "avg_pool2d";
    lt_opt_check(L, 2, fn, avg_pool_keys);
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    check_planes(L, x, fn, "x");
    lt_pool2d_geom g;
    int ceil_mode, cip;
    int64_t divisor;
    pool_geom(L, x, 2, fn, 0, &g, &ceil_mode);
    avg_opts(L, 2, fn, &cip, &divisor);
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, g.oh, g.ow, fn);
    lt_lua_check(L, lt_avg_pool2d_forward(ctx, lt_f32(y), xd, &g, cip, divisor), fn);
    return 1;
}

static int l_avg_pool2d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "avg_pool2d";
    lt_opt_check(L, 3, fn, avg_pool_keys);
    lt_tensor *gy = check_input(L, 1, fn, "grad", 3, 4);
    lt_tensor *x = check_input(L, 2, fn, "x", 3, 4);
    check_planes(L, x, fn, "x");
    lt_pool2d_geom g;
    int ceil_mode, cip;
    int64_t divisor;
    pool_geom(L, x, 3, fn, 0, &g, &ceil_mode);
    avg_opts(L, 3, fn, &cip, &divisor);
    check_grad_shape(L, gy, x, g.oh, g.ow, fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, g.ih, g.iw, fn);
    lt_lua_check(L, lt_avg_pool2d_backward(ctx, lt_f32(gx), gyd, &g, cip, divisor), fn);
    return 1;
}

/* ---- max unpooling ---- */

/* Output plane of max_unpool2d: PyTorch's _unpool_output_size. The caller has checked the
 * option keys. */
static void unpool_size(lua_State *L, const lt_tensor *x, int optidx, const char *fn,
                        int64_t *oh, int64_t *ow) {
    char b[96], s1[48], s2[48], s3[48];
    int64_t k[2] = {0, 0}, s[2] = {0, 0}, p[2] = {0, 0};
    if (!opt_int_pair(L, optidx, "kernel", k, fn))
        lt_lua_error(L, "%s: opts.kernel is required", fn);
    if (!opt_int_pair(L, optidx, "stride", s, fn)) { s[0] = k[0]; s[1] = k[1]; }
    opt_int_pair(L, optidx, "padding", p, fn);
    if (k[0] < 1 || k[1] < 1)
        lt_lua_error(L, "%s: kernel must be positive, got %s", fn, hw_str(s1, sizeof s1, k[0], k[1]));
    if (s[0] < 1 || s[1] < 1)
        lt_lua_error(L, "%s: stride must be positive, got %s", fn, hw_str(s1, sizeof s1, s[0], s[1]));
    if (p[0] < 0 || p[1] < 0)
        lt_lua_error(L, "%s: padding must be non-negative, got %s", fn, hw_str(s1, sizeof s1, p[0], p[1]));
    shape_of(x, b, sizeof b);
    /* default (in - 1) * stride + kernel - 2 * padding, and the accepted range
     * (default - stride, default + stride), all overflow-checked */
    int64_t def[2], lo[2], hi[2];
    for (int d = 0; d < 2; d++) {
        int64_t p2;
        if (lt_mul_ovf(x->size[x->ndim - 2 + d] - 1, s[d], &def[d]) ||
            lt_add_ovf(def[d], k[d], &def[d]) || lt_mul_ovf(p[d], 2, &p2) ||
            lt_sub_ovf(def[d], p2, &def[d]) || lt_sub_ovf(def[d], s[d], &lo[d]) ||
            lt_add_ovf(def[d], s[d], &hi[d]))
            lt_lua_error(L, "%s: output size overflows int64 (input %s, kernel %s, stride %s, "
                         "padding %s)", fn, b, hw_str(s1, sizeof s1, k[0], k[1]),
                         hw_str(s2, sizeof s2, s[0], s[1]), hw_str(s3, sizeof s3, p[0], p[1]));
    }
    int64_t out[2] = {def[0], def[1]};
    if (lt_opt_get(L, optidx, "output_size", fn)) {
        lua_Integer n = lua_type(L, -1) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
        if (n != 2 && n != 4)
            lt_lua_error(L, "%s: output_size must be {h, w} or {n, c, h, w}", fn);
        for (int d = 0; d < 2; d++) {
            lua_rawgeti(L, -1, n - 1 + d);
            lua_Integer v;
            if (!top_integer(L, &v))
                lt_lua_error(L, "%s: output_size must be {h, w} or {n, c, h, w}", fn);
            lua_pop(L, 1);
            if (!(lo[d] < v && v < hi[d]))
                lt_lua_error(L, "%s: output_size %s %I must be strictly between %I and %I", fn,
                             d == 0 ? "height" : "width", v, (lua_Integer)lo[d], (lua_Integer)hi[d]);
            out[d] = v;
        }
        lua_pop(L, 1);
    }
    int64_t plane;
    if (out[0] < 1 || out[1] < 1)
        lt_lua_error(L, "%s: output size %s is empty (input %s)", fn,
                     hw_str(s1, sizeof s1, out[0], out[1]), b);
    if (lt_mul_ovf(out[0], out[1], &plane) || plane > INT32_MAX)
        lt_lua_error(L, "%s: output planes of %s are too large for int32 indices (input %s)", fn,
                     hw_str(s1, sizeof s1, out[0], out[1]), b);
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

/* oh * ow <= INT32_MAX (unpool_size checked it, or gy holds such planes). */
static void raise_bad_index(lua_State *L, const int32_t *idd, int64_t n, int64_t oh, int64_t ow,
                            const char *fn) {
    int32_t bad;
    int64_t pos;
    char c[48];
    if (lt_pool_check_indices(idd, n, oh * ow, &bad, &pos))
        lt_lua_error(L, "%s: index %d is outside [1, %I] (1-based positions in an output plane "
                     "of %s)", fn, (int)bad, (lua_Integer)(oh * ow), hw_str(c, sizeof c, oh, ow));
}

static int l_max_unpool2d(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "max_unpool2d";
    lt_opt_check(L, 3, fn, unpool_keys);
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
    lt_lua_check(L, lt_max_unpool2d_forward(ctx, lt_f32(y), xd, idd, planes_of(x), n_in, oh * ow), fn);
    return 1;
}

/* gx = max_unpool2d_backward(gy, idx, x) */
static int l_max_unpool2d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "max_unpool2d";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 3, 4);
    lt_tensor *idx = lt_lua_checktensor(L, 2, fn, "indices");
    lt_tensor *x = check_input(L, 3, fn, "x", 3, 4);
    check_unpool_indices(L, x, idx, fn);
    int64_t oh = gy->size[gy->ndim - 2], ow = gy->size[gy->ndim - 1], plane;
    check_grad_shape(L, gy, x, oh, ow, fn);
    if (lt_mul_ovf(oh, ow, &plane) || plane > INT32_MAX) {
        char c[48];
        lt_lua_error(L, "%s: gradient planes of %s are too large for int32 indices", fn,
                     hw_str(c, sizeof c, oh, ow));
    }
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    const int32_t *idd = cdata_i32(L, 2, fn, "indices");
    raise_bad_index(L, idd, lt_numel(x), oh, ow, fn);
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, x->size[x->ndim - 2], x->size[x->ndim - 1], fn);
    int64_t n_in = x->size[x->ndim - 2] * x->size[x->ndim - 1];
    lt_lua_check(L, lt_max_unpool2d_backward(ctx, lt_f32(gx), gyd, idd, planes_of(x), n_in, oh * ow), fn);
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
    char c[48];
    if (!ok) lt_lua_error(L, "%s: size must be an integer or a pair {h, w} of integers", fn);
    if (a < 1 || b < 1) lt_lua_error(L, "%s: size must be positive, got %s", fn, hw_str(c, sizeof c, a, b));
    out[0] = a;
    out[1] = b;
}

/* The kernels compute o * in / out for output cells o < out (and a ceiling): out * in must
 * fit in int64. x has non-empty planes. */
static void check_adaptive(lua_State *L, const lt_tensor *x, int64_t oh, int64_t ow, const char *fn) {
    int64_t a, b;
    const int64_t ih = x->size[x->ndim - 2], iw = x->size[x->ndim - 1];
    if (lt_mul_ovf(oh, ih, &a) || lt_add_ovf(a, oh, &a) || lt_mul_ovf(ow, iw, &b) ||
        lt_add_ovf(b, ow, &b)) {
        char c1[48], c2[96];
        lt_lua_error(L, "%s: output size %s overflows int64 in the window arithmetic (x %s)", fn,
                     hw_str(c1, sizeof c1, oh, ow), lt_shape_str(x, c2, sizeof c2));
    }
}

static int l_adaptive_avg_pool2d(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "adaptive_avg_pool2d";
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    check_planes(L, x, fn, "x");
    int64_t o[2];
    adaptive_size(L, 2, fn, o);
    check_adaptive(L, x, o[0], o[1], fn);
    const float *xd = cdata_f32(L, 1, fn, "x");
    check_out_numel(L, x, o[0], o[1], fn);
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, o[0], o[1], fn);
    lt_lua_check(L, lt_adaptive_avg_pool2d_forward(ctx, lt_f32(y), xd, planes_of(x),
                 x->size[x->ndim - 2], x->size[x->ndim - 1], o[0], o[1]), fn);
    return 1;
}

static int l_adaptive_avg_pool2d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "adaptive_avg_pool2d";
    lt_tensor *gy = check_input(L, 1, fn, "grad", 3, 4);
    lt_tensor *x = check_input(L, 2, fn, "x", 3, 4);
    check_planes(L, x, fn, "x");
    int64_t oh = gy->size[gy->ndim - 2], ow = gy->size[gy->ndim - 1];
    check_grad_shape(L, gy, x, oh, ow, fn);
    check_planes(L, gy, fn, "grad");
    check_adaptive(L, x, oh, ow, fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, x->size[x->ndim - 2], x->size[x->ndim - 1], fn);
    lt_lua_check(L, lt_adaptive_avg_pool2d_backward(ctx, lt_f32(gx), gyd, planes_of(x),
                 x->size[x->ndim - 2], x->size[x->ndim - 1], oh, ow), fn);
    return 1;
}

static int l_adaptive_max_pool2d(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "adaptive_max_pool2d";
    lt_tensor *x = check_input(L, 1, fn, "x", 3, 4);
    check_planes(L, x, fn, "x");
    int64_t o[2];
    adaptive_size(L, 2, fn, o);
    check_adaptive(L, x, o[0], o[1], fn);
    int want_idx = lua_toboolean(L, 3);
    if (x->size[x->ndim - 2] * x->size[x->ndim - 1] > INT32_MAX) {   /* numel fits */
        char c[96];
        lt_lua_error(L, "%s: input planes are too large for int32 indices (x %s)", fn,
                     lt_shape_str(x, c, sizeof c));
    }
    check_out_numel(L, x, o[0], o[1], fn);
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, o[0], o[1], fn);
    int32_t *id = NULL;
    if (want_idx) id = lt_i32(new_planes(L, x, LT_INT32, o[0], o[1], fn));
    lt_lua_check(L, lt_adaptive_max_pool2d_forward(ctx, lt_f32(y), id, xd, planes_of(x),
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
    char c1[48], c2[48], c3[48];
    memset(a, 0, sizeof *a);
    if (lt_opt_get(L, optidx, "mode", fn)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            lt_lua_error(L, "%s: mode must be \"nearest\" or \"bilinear\", got a %s", fn,
                         luaL_typename(L, -1));
        const char *mode = lua_tostring(L, -1);
        if (strcmp(mode, "bilinear") == 0) a->bilinear = 1;
        else if (strcmp(mode, "nearest") != 0)
            lt_lua_error(L, "%s: mode must be \"nearest\" or \"bilinear\", got \"%s\"", fn, mode);
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
            lt_lua_error(L, "%s: size must be positive, got %s", fn,
                         hw_str(c1, sizeof c1, size[0], size[1]));
        if (rsf > 0) lt_lua_error(L, "%s: recompute_scale_factor needs scale_factor", fn);
        a->oh = size[0];
        a->ow = size[1];
    } else {
        char sfs[64];
        snprintf(sfs, sizeof sfs, "%sx%s", lt_numstr(c1, sizeof c1, sf[0]),
                 lt_numstr(c2, sizeof c2, sf[1]));
        if (!lt_in_range(sf[0], LT_REAL_POSITIVE) || !lt_in_range(sf[1], LT_REAL_POSITIVE))
            lt_lua_error(L, "%s: scale_factor must be a positive finite number, got %s", fn, sfs);
        double fh = floor((double)ih * sf[0]), fw = floor((double)iw * sf[1]);
        if (fh < 1.0 || fw < 1.0)
            lt_lua_error(L, "%s: scale_factor %s makes an empty output from input %s", fn, sfs,
                         hw_str(c3, sizeof c3, ih, iw));
        if (fh >= 9223372036854775808.0 || fw >= 9223372036854775808.0) {
            char o1[48], o2[48];
            lt_lua_error(L, "%s: scale_factor %s makes an output of %sx%s from input %s, which "
                         "overflows int64", fn, sfs, lt_numstr(o1, sizeof o1, fh),
                         lt_numstr(o2, sizeof o2, fw), hw_str(c3, sizeof c3, ih, iw));
        }
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

/* The bilinear kernels allocate (OH + OW) table entries: the only way they can fail. */
static void check_interp_status(lua_State *L, lt_status st, const lt_tensor *x,
                                const interp_args *a, const char *fn) {
    if (st == LT_OK) return;
    char b[96], c[48];
    lt_lua_error(L, "%s: cannot allocate the interpolation tables for output planes of %s (x %s): %s",
                 fn, hw_str(c, sizeof c, a->oh, a->ow), lt_shape_str(x, b, sizeof b),
                 lt_status_str(st));
}

static int interp_common(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "interpolate";
    lt_opt_check(L, 2, fn, interp_keys);
    lt_tensor *x = check_input(L, 1, fn, "x", 4, 4);
    check_planes(L, x, fn, "x");
    interp_args a;
    interp_parse(L, x, 2, fn, &a);
    check_out_numel(L, x, a.oh, a.ow, fn);
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, a.oh, a.ow, fn);
    int64_t P = planes_of(x), ih = x->size[2], iw = x->size[3];
    lt_status st;
    if (!a.bilinear)
        st = lt_upsample_nearest2d_forward(ctx, lt_f32(y), xd, P, ih, iw, a.oh, a.ow, a.scale_h, a.scale_w);
    else if (naive)
        st = lt_upsample_bilinear2d_forward_naive(lt_f32(y), xd, P, ih, iw, a.oh, a.ow,
                                                  a.align_corners, a.scale_h, a.scale_w);
    else
        st = lt_upsample_bilinear2d_forward(ctx, lt_f32(y), xd, P, ih, iw, a.oh, a.ow,
                                            a.align_corners, a.scale_h, a.scale_w);
    check_interp_status(L, st, x, &a, fn);
    return 1;
}
static int l_interpolate(lua_State *L) { return interp_common(L, 0); }
static int l_interpolate_naive(lua_State *L) { return interp_common(L, 1); }

/* gx = interpolate_backward(gy, x, opts) */
static int l_interpolate_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "interpolate";
    lt_opt_check(L, 3, fn, interp_keys);
    lt_tensor *gy = check_input(L, 1, fn, "grad", 4, 4);
    lt_tensor *x = check_input(L, 2, fn, "x", 4, 4);
    check_planes(L, x, fn, "x");
    interp_args a;
    interp_parse(L, x, 3, fn, &a);
    check_grad_shape(L, gy, x, a.oh, a.ow, fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, x->size[2], x->size[3], fn);
    int64_t P = planes_of(x), ih = x->size[2], iw = x->size[3];
    lt_status st = a.bilinear
        ? lt_upsample_bilinear2d_backward(ctx, lt_f32(gx), gyd, P, ih, iw, a.oh, a.ow,
                                          a.align_corners, a.scale_h, a.scale_w)
        : lt_upsample_nearest2d_backward(ctx, lt_f32(gx), gyd, P, ih, iw, a.oh, a.ow,
                                         a.scale_h, a.scale_w);
    check_interp_status(L, st, x, &a, fn);
    return 1;
}

/* ---- pad ---- */

static const char *const pad_mode_names[] = {"constant", "reflect", "replicate", "circular"};

/* pads at pidx: {left, right} or {left, right, top, bottom}; opts at optidx (keys checked
 * by the caller). Fills the output plane size too. */
static void pad_parse(lua_State *L, const lt_tensor *x, int pidx, int optidx, const char *fn,
                      int64_t pad[4], lt_pad_mode *mode, float *value, int64_t *oh, int64_t *ow) {
    char b[96], nb[64];
    if (!lua_istable(L, pidx))
        lt_lua_error(L, "%s: pads must be a table {left, right[, top, bottom]}, got %s", fn,
                     luaL_typename(L, pidx));
    lua_Integer n = (lua_Integer)lua_rawlen(L, pidx);
    if (n != 2 && n != 4)
        lt_lua_error(L, "%s: expected 2 or 4 padding sizes {left, right[, top, bottom]}, got %I",
                     fn, n);
    pad[2] = pad[3] = 0;
    for (int k = 0; k < (int)n; k++) {
        lua_rawgeti(L, pidx, k + 1);
        lua_Integer v;
        if (!top_integer(L, &v))
            lt_lua_error(L, "%s: padding sizes must be integers, got %s at position %d", fn,
                         luaL_tolstring(L, -1, NULL), k + 1);
        lua_pop(L, 1);
        pad[k] = v;
    }
    *mode = LT_PAD_CONSTANT;
    *value = 0.0f;
    int has_value = 0;
    if (lt_opt_get(L, optidx, "mode", fn)) {
        const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int found = -1;
        for (int k = 0; m && k < 4; k++)
            if (strcmp(m, pad_mode_names[k]) == 0) found = k;
        if (found < 0)
            lt_lua_error(L, "%s: mode must be \"constant\", \"reflect\", \"replicate\" or "
                         "\"circular\", got %s%s%s", fn, m ? "\"" : "", m ? m : luaL_typename(L, -1),
                         m ? "\"" : "");
        *mode = (lt_pad_mode)found;
        lua_pop(L, 1);
    }
    if (lt_opt_get(L, optidx, "value", fn)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            lt_lua_error(L, "%s: value must be a number, got %s", fn, luaL_typename(L, -1));
        const double v = (double)lua_tonumber(L, -1);
        /* like PyTorch: a finite value outside float32's range cannot be converted */
        if (isfinite(v) && fabs(v) > 3.4028234663852886e38)
            lt_lua_error(L, "%s: value %s cannot be converted to float32 without overflow", fn,
                         lt_numstr(nb, sizeof nb, v));
        *value = (float)v;
        has_value = 1;
        lua_pop(L, 1);
    }
    if (has_value && *mode != LT_PAD_CONSTANT)
        lt_lua_error(L, "%s: value can only be set with mode \"constant\"", fn);
    const int64_t ih = x->size[x->ndim - 2], iw = x->size[x->ndim - 1];
    const int64_t size[4] = {iw, iw, ih, ih};
    shape_of(x, b, sizeof b);
    if (*mode != LT_PAD_CONSTANT && (ih < 1 || iw < 1))
        lt_lua_error(L, "%s: %s padding needs non-empty planes (H and W at least 1), got x %s", fn,
                     pad_mode_names[*mode], b);
    for (int k = 0; k < 4; k++) {
        int dim = k < 2 ? x->ndim : x->ndim - 1;   /* 1-based */
        if (pad[k] < 0 && *mode != LT_PAD_CONSTANT)
            lt_lua_error(L, "%s: negative padding %I is only allowed in constant mode", fn,
                         (lua_Integer)pad[k]);
        if (*mode == LT_PAD_REFLECT && pad[k] >= size[k])
            lt_lua_error(L, "%s: reflect padding %I must be less than the input size %I "
                         "(dimension %d of %s)", fn, (lua_Integer)pad[k], (lua_Integer)size[k], dim, b);
        if (*mode == LT_PAD_CIRCULAR && pad[k] > size[k])
            lt_lua_error(L, "%s: circular padding %I must be at most the input size %I "
                         "(dimension %d of %s)", fn, (lua_Integer)pad[k], (lua_Integer)size[k], dim, b);
    }
    lt_status st = lt_pad2d_outsize(ih, iw, pad, *mode, oh, ow);
    if (st == LT_EOVERFLOW)
        lt_lua_error(L, "%s: padding {%I, %I, %I, %I} overflows int64 (input %s)", fn,
                     (lua_Integer)pad[0], (lua_Integer)pad[1], (lua_Integer)pad[2],
                     (lua_Integer)pad[3], b);
    if (st != LT_OK)
        lt_lua_error(L, "%s: padding {%I, %I, %I, %I} leaves an empty output from input %s", fn,
                     (lua_Integer)pad[0], (lua_Integer)pad[1], (lua_Integer)pad[2],
                     (lua_Integer)pad[3], b);
    check_out_numel(L, x, *oh, *ow, fn);
}

static int l_pad(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "pad";
    lt_opt_check(L, 3, fn, pad_keys);
    lt_tensor *x = check_input(L, 1, fn, "x", 2, LT_MAXDIM);
    int64_t pad[4], oh, ow;
    lt_pad_mode mode;
    float value;
    pad_parse(L, x, 2, 3, fn, pad, &mode, &value, &oh, &ow);
    const int64_t ih = x->size[x->ndim - 2], iw = x->size[x->ndim - 1];
    const float *xd = cdata_f32(L, 1, fn, "x");
    lt_tensor *y = new_planes(L, x, LT_FLOAT32, oh, ow, fn);
    lt_lua_check(L, lt_pad2d_forward(ctx, lt_f32(y), xd, planes_of(x), ih, iw, pad, mode, value), fn);
    return 1;
}

/* gx = pad_backward(gy, x, pads, opts) */
static int l_pad_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "pad";
    lt_opt_check(L, 4, fn, pad_keys);
    lt_tensor *gy = check_input(L, 1, fn, "grad", 2, LT_MAXDIM);
    lt_tensor *x = check_input(L, 2, fn, "x", 2, LT_MAXDIM);
    int64_t pad[4], oh, ow;
    lt_pad_mode mode;
    float value;
    pad_parse(L, x, 3, 4, fn, pad, &mode, &value, &oh, &ow);
    const int64_t ih = x->size[x->ndim - 2], iw = x->size[x->ndim - 1];
    check_grad_shape(L, gy, x, oh, ow, fn);
    const float *gyd = cdata_f32(L, 1, fn, "grad");
    lt_tensor *gx = new_planes(L, x, LT_FLOAT32, ih, iw, fn);
    lt_lua_check(L, lt_pad2d_backward(ctx, lt_f32(gx), gyd, planes_of(x), ih, iw, pad, mode), fn);
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
