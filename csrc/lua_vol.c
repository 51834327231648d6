/* lua_vol.c: Lua binding of the volumetric kernels (lt_conv3d.h, lt_pool3d.h) as raw,
 * non-autograd functions in core.nn:
 *
 *   y = conv3d_forward(x, w, b, opts)        dx, dw, db = conv3d_backward(gy, x, w, opts [, nx, nw, nb])
 *   y = conv_transpose3d_forward(x, w, b, opts)   (and _backward, and *_naive of all four)
 *   y [, idx] = max_pool3d(x, opts [, want_idx])  gx = max_pool3d_backward(gy, idx, x)
 *   y = avg_pool3d(x, opts)                  gx = avg_pool3d_backward(gy, x, opts)
 *   y = max_unpool3d(x, idx, opts)           gx = max_unpool3d_backward(gy, idx, x)
 *   y = adaptive_avg_pool3d(x, size)         gx = adaptive_avg_pool3d_backward(gy, x)
 *   y = interpolate3d(x, opts)               gx = interpolate3d_backward(gy, x, opts)
 *   (max_pool3d_naive, avg_pool3d_naive, adaptive_avg_pool3d_naive, interpolate3d_naive: the
 *   references)
 *
 * Inputs are float32 (N, C, D, H, W) or unbatched (C, D, H, W) (interpolate: 5-D only, as
 * PyTorch). Spatial options are a number or a {d, h, w} table. Every argument is checked,
 * with a message naming the public function, before anything is allocated. Indices are
 * int32, 1-based positions in one D*H*W input volume. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "lt_lua.h"
#include "lt_conv3d.h"
#include "lt_pool.h"
#include "lt_pool3d.h"

static const char *const conv_keys[] = {"stride", "padding", "dilation", "groups", NULL};
static const char *const convt_keys[] = {"stride", "padding", "output_padding", "dilation",
                                         "groups", NULL};
static const char *const max_pool_keys[] = {"kernel", "stride", "padding", "dilation",
                                            "ceil_mode", "return_indices", NULL};
static const char *const avg_pool_keys[] = {"kernel", "stride", "padding", "ceil_mode",
                                            "count_include_pad", "divisor_override", NULL};
static const char *const unpool_keys[] = {"kernel", "stride", "padding", "output_size", NULL};
static const char *const interp_keys[] = {"size", "scale_factor", "mode", "align_corners",
                                          "recompute_scale_factor", NULL};

/* ---------------------------------------------------------------- helpers */

static const char *tri(char *buf, size_t n, const int64_t v[3]) {
    snprintf(buf, n, "(%lld, %lld, %lld)", (long long)v[0], (long long)v[1], (long long)v[2]);
    return buf;
}

static const char *shape(const lt_tensor *t, char *buf, size_t n) {
    return lt_shape_str(t, buf, n);
}

/* The value at the top of the stack as a message shows it (tables as {a, b, c}). */
static const char *show_top(lua_State *L) {
    const int top = lua_gettop(L);
    if (lua_type(L, top) == LUA_TTABLE) {
        luaL_Buffer b;
        lua_Integer n = (lua_Integer)lua_rawlen(L, top);
        luaL_buffinit(L, &b);
        luaL_addchar(&b, '{');
        for (lua_Integer i = 1; i <= n && i <= 8; i++) {
            if (i > 1) luaL_addstring(&b, ", ");
            lua_rawgeti(L, top, i);
            luaL_tolstring(L, -1, NULL);
            lua_remove(L, -2);
            luaL_addvalue(&b);
        }
        if (n > 8) luaL_addstring(&b, ", ...");
        luaL_addchar(&b, '}');
        luaL_pushresult(&b);
    } else if (lua_type(L, top) == LUA_TSTRING) {
        lua_pushfstring(L, "'%s'", lua_tostring(L, top));
    } else {
        luaL_tolstring(L, top, NULL);
    }
    return lua_tostring(L, -1);
}

/* An integral number at stack index i (2.0 accepted). */
static int to_integer(lua_State *L, int i, int64_t *out) {
    if (lua_type(L, i) != LUA_TNUMBER) return 0;
    int ok;
    lua_Integer v = lua_tointegerx(L, i, &ok);
    if (!ok) return 0;
    *out = v;
    return 1;
}

/* opts[key]: an integer n (-> {n, n, n}) or a table {d, h, w} of integers. Returns 0 (out
 * untouched) when absent. */
static int opt_triple(lua_State *L, int oi, const char *key, int64_t out[3], const char *fn) {
    if (!lt_opt_get(L, oi, key, fn)) return 0;
    int64_t v[3];
    if (to_integer(L, -1, &v[0])) {
        v[1] = v[2] = v[0];
    } else if (lua_type(L, -1) == LUA_TTABLE && lua_rawlen(L, -1) == 3) {
        for (int k = 0; k < 3; k++) {
            lua_rawgeti(L, -1, k + 1);
            int ok = to_integer(L, -1, &v[k]);
            lua_pop(L, 1);
            if (!ok) goto bad;
        }
    } else {
        goto bad;
    }
    lua_pop(L, 1);
    memcpy(out, v, sizeof v);
    return 1;
bad:
    return lt_lua_error(L, "%s: %s must be an integer or a table {d, h, w} of integers, got %s",
                        fn, key, show_top(L));
}

/* The same for positive numbers (scale factors). */
static int opt_num_triple(lua_State *L, int oi, const char *key, double out[3], const char *fn) {
    if (!lt_opt_get(L, oi, key, fn)) return 0;
    double v[3];
    if (lua_type(L, -1) == LUA_TNUMBER) {
        v[0] = v[1] = v[2] = lua_tonumber(L, -1);
    } else if (lua_type(L, -1) == LUA_TTABLE && lua_rawlen(L, -1) == 3) {
        for (int k = 0; k < 3; k++) {
            lua_rawgeti(L, -1, k + 1);
            int ok = lua_type(L, -1) == LUA_TNUMBER;
            v[k] = lua_tonumber(L, -1);
            lua_pop(L, 1);
            if (!ok) goto bad;
        }
    } else {
        goto bad;
    }
    lua_pop(L, 1);
    memcpy(out, v, sizeof v);
    return 1;
bad:
    return lt_lua_error(L, "%s: %s must be a number or a table {d, h, w} of numbers, got %s",
                        fn, key, show_top(L));
}

/* opts[key] as a boolean; -1 when absent. */
static int opt_bool3(lua_State *L, int oi, const char *key, const char *fn) {
    if (!lt_opt_get(L, oi, key, fn)) return -1;
    if (lua_type(L, -1) != LUA_TBOOLEAN)
        lt_lua_error(L, "%s: %s must be a boolean, got %s", fn, key, show_top(L));
    int r = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return r;
}

/* float32 (N, C, D, H, W), or (C, D, H, W) when unbatched is allowed. */
static lt_tensor *check_vol(lua_State *L, int idx, const char *fn, const char *arg,
                            int unbatched) {
    lt_tensor *t = lt_lua_checkdtype(L, idx, fn, arg, LT_FLOAT32);
    if (t->ndim != 5 && !(unbatched && t->ndim == 4)) {
        char s[96];
        if (unbatched)
            lt_lua_error(L, "%s: %s must be 4-D (C, D, H, W) or 5-D (N, C, D, H, W), got %s", fn,
                         arg, shape(t, s, sizeof s));
        lt_lua_error(L, "%s: %s must be 5-D (N, C, D, H, W), got %s", fn, arg,
                     shape(t, s, sizeof s));
    }
    return t;
}

/* N * C of a volume tensor (1 * C unbatched) and its (D, H, W). */
static int64_t vol_planes(const lt_tensor *t) {
    int64_t p = 1;
    for (int k = 0; k < t->ndim - 3; k++) p *= t->size[k];
    return p;
}

static void vol_size(const lt_tensor *t, int64_t s[3]) {
    for (int k = 0; k < 3; k++) s[k] = t->size[t->ndim - 3 + k];
}

static int64_t vol_numel(const int64_t s[3]) { return s[0] * s[1] * s[2]; }

/* Pushes a tensor with x's leading dims and volume size s (zeroed unless uninit). */
static lt_tensor *push_vol(lua_State *L, const lt_tensor *x, const int64_t s[3], lt_dtype dt,
                           int zero, const char *fn) {
    int64_t size[LT_MAXDIM];
    for (int k = 0; k < x->ndim - 3; k++) size[k] = x->size[k];
    for (int k = 0; k < 3; k++) size[x->ndim - 3 + k] = s[k];
    return zero ? lt_lua_newtensor(L, dt, x->ndim, size, fn)
                : lt_lua_newtensor_uninit(L, dt, x->ndim, size, fn);
}

static const float *cdata(lua_State *L, int idx, const char *fn, const char *arg) {
    int pushed;
    return lt_f32(lt_lua_contiguous(L, idx, fn, arg, &pushed));
}

static const int32_t *cdata_i32(lua_State *L, int idx, const char *fn, const char *arg) {
    int pushed;
    return lt_i32(lt_lua_contiguous(L, idx, fn, arg, &pushed));
}

/* The element count of a volume stack with leading dims of x and volume s must fit int64,
 * and each volume int32 (indices, the BLAS fallback's int sizes). */
static void check_volume_size(lua_State *L, const lt_tensor *x, const int64_t s[3],
                              const char *fn, const char *what) {
    int64_t v, n;
    char b[64], c[96];
    if (lt_mul_ovf(s[0], s[1], &v) || lt_mul_ovf(v, s[2], &v) || v > INT32_MAX)
        lt_lua_error(L, "%s: %s volumes of %s are too large (at most %I elements each; x %s)", fn,
                     what, tri(b, sizeof b, s), (lua_Integer)INT32_MAX, shape(x, c, sizeof c));
    if (lt_mul_ovf(vol_planes(x), v, &n))
        lt_lua_error(L, "%s: %s of %s volumes of %s overflows int64 (x %s)", fn, what,
                     "the stack", tri(b, sizeof b, s), shape(x, c, sizeof c));
}

/* ---------------------------------------------------------------- conv3d */

typedef struct {
    const lt_tensor *x, *w, *b;
    lt_conv3d_dims d;
    int batched;
    int64_t osize[5];
    char ctx[256];
} conv_call;

static void parse_conv(lua_State *L, int xi, int wi, int bi, int oi, int transposed,
                       const char *fn, conv_call *c) {
    char s1[96], s2[96], s3[64], s4[64], s5[64], why[600];
    lt_tensor *x = check_vol(L, xi, fn, "input", 1);
    lt_tensor *w = lt_lua_checkdtype(L, wi, fn, "weight", LT_FLOAT32);
    if (w->ndim != 5)
        lt_lua_error(L, "%s: weight must be 5-D %s, got %s", fn,
                     transposed ? "(in, out/groups, kd, kh, kw)" : "(out, in/groups, kd, kh, kw)",
                     shape(w, s1, sizeof s1));
    lt_tensor *b = NULL;
    if (bi && !lua_isnoneornil(L, bi)) b = lt_lua_checkdtype(L, bi, fn, "bias", LT_FLOAT32);
    int64_t st[3] = {1, 1, 1}, pd[3] = {0, 0, 0}, dl[3] = {1, 1, 1}, op[3] = {0, 0, 0};
    opt_triple(L, oi, "stride", st, fn);
    opt_triple(L, oi, "padding", pd, fn);
    opt_triple(L, oi, "dilation", dl, fn);
    if (transposed) opt_triple(L, oi, "output_padding", op, fn);
    const lua_Integer groups = lt_opt_int(L, oi, "groups", 1, fn);
    for (int k = 0; k < 3; k++) {
        if (st[k] <= 0) lt_lua_error(L, "%s: stride must be positive, got %s", fn, tri(s3, sizeof s3, st));
        if (dl[k] <= 0) lt_lua_error(L, "%s: dilation must be positive, got %s", fn, tri(s3, sizeof s3, dl));
        if (pd[k] < 0) lt_lua_error(L, "%s: padding must be non-negative, got %s", fn, tri(s3, sizeof s3, pd));
        if (op[k] < 0)
            lt_lua_error(L, "%s: output_padding must be non-negative, got %s", fn, tri(s3, sizeof s3, op));
    }
    if (groups <= 0) lt_lua_error(L, "%s: groups must be positive, got %I", fn, groups);
    const int batched = x->ndim == 5;
    const int64_t n = batched ? x->size[0] : 1;
    const int64_t cx = x->size[batched];
    int64_t in[3], k[3];
    for (int j = 0; j < 3; j++) { in[j] = x->size[batched + 1 + j]; k[j] = w->size[2 + j]; }
    shape(x, s1, sizeof s1);
    shape(w, s2, sizeof s2);
    int64_t cin_w, cout;
    if (!transposed) {
        if (w->size[0] % groups)
            lt_lua_error(L, "%s: groups %I does not divide output channels %I (weight %s)", fn,
                         groups, (lua_Integer)w->size[0], s2);
        if (cx % groups)
            lt_lua_error(L, "%s: groups %I does not divide input channels %I (input %s)", fn,
                         groups, (lua_Integer)cx, s1);
        if (lt_mul_ovf(w->size[1], groups, &cin_w)) cin_w = -1;
        cout = w->size[0];
    } else {
        if (w->size[0] % groups)
            lt_lua_error(L, "%s: groups %I does not divide input channels %I (weight %s)", fn,
                         groups, (lua_Integer)w->size[0], s2);
        cin_w = w->size[0];
        if (lt_mul_ovf(w->size[1], groups, &cout))
            lt_lua_error(L, "%s: groups %I times %I output channels per group overflows int64 "
                         "(weight %s)", fn, groups, (lua_Integer)w->size[1], s2);
    }
    if (cx != cin_w) {
        if (groups > 1)
            lt_lua_error(L, "%s: input has %I channels, weight expects %I (input %s, weight %s, "
                         "groups %I)", fn, (lua_Integer)cx, (lua_Integer)cin_w, s1, s2, groups);
        lt_lua_error(L, "%s: input has %I channels, weight expects %I (input %s, weight %s)", fn,
                     (lua_Integer)cx, (lua_Integer)cin_w, s1, s2);
    }
    if (b && (b->ndim != 1 || b->size[0] != cout))
        lt_lua_error(L, "%s: bias must be 1-D of size %I, got %s", fn, (lua_Integer)cout,
                     shape(b, s3, sizeof s3));
    if (k[0] <= 0 || k[1] <= 0 || k[2] <= 0 || cx <= 0 || cout <= 0 || in[0] <= 0 ||
        in[1] <= 0 || in[2] <= 0 || n <= 0)
        lt_lua_error(L, "%s: empty input or weight (input %s, weight %s)", fn, s1, s2);
    snprintf(c->ctx, sizeof c->ctx, "input %s, weight %s", s1, s2);
    snprintf(why, sizeof why, "%s, stride %s, padding %s, dilation %s", c->ctx,
             tri(s3, sizeof s3, st), tri(s4, sizeof s4, pd), tri(s5, sizeof s5, dl));
    int64_t ek[3], out[3];
    for (int j = 0; j < 3; j++)
        if (lt_mul_ovf(dl[j], k[j] - 1, &ek[j]) || lt_add_ovf(ek[j], 1, &ek[j]))
            lt_lua_error(L, "%s: kernel %s with dilation %s overflows int64 (%s)", fn,
                         tri(s3, sizeof s3, k), tri(s4, sizeof s4, dl), c->ctx);
    lt_status status;
    if (!transposed) {
        int64_t ip[3];
        for (int j = 0; j < 3; j++)
            if (lt_mul_ovf(pd[j], 2, &ip[j]) || lt_add_ovf(ip[j], in[j], &ip[j]))
                lt_lua_error(L, "%s: padding %s overflows int64 (%s)", fn,
                             tri(s3, sizeof s3, pd), c->ctx);
        if (ip[0] < ek[0] || ip[1] < ek[1] || ip[2] < ek[2])
            lt_lua_error(L, "%s: kernel %s with dilation %s is larger than the padded input %s "
                         "(input %s, padding %s)", fn, tri(s3, sizeof s3, k),
                         tri(s4, sizeof s4, dl), tri(s5, sizeof s5, ip), s1,
                         tri(why, sizeof why, pd));
        for (int j = 0; j < 3; j++) out[j] = (ip[j] - ek[j]) / st[j] + 1;
        status = lt_conv3d_dims_init(&c->d, n, cx, in[0], in[1], in[2], cout, k, st, pd, dl,
                                     groups);
    } else {
        for (int j = 0; j < 3; j++)
            if (op[j] >= st[j] && op[j] >= dl[j])
                lt_lua_error(L, "%s: output_padding %s must be smaller than stride %s or "
                             "dilation %s", fn, tri(s3, sizeof s3, op), tri(s4, sizeof s4, st),
                             tri(s5, sizeof s5, dl));
        for (int j = 0; j < 3; j++) {
            int64_t p2;
            if (lt_mul_ovf(in[j] - 1, st[j], &out[j]) || lt_add_ovf(out[j], ek[j], &out[j]) ||
                lt_add_ovf(out[j], op[j], &out[j]) || lt_mul_ovf(pd[j], 2, &p2) ||
                lt_sub_ovf(out[j], p2, &out[j]))
                lt_lua_error(L, "%s: output size overflows int64 (%s)", fn, why);
        }
        if (out[0] <= 0 || out[1] <= 0 || out[2] <= 0)
            lt_lua_error(L, "%s: output size %s is not positive (input %s, weight %s, padding %s)",
                         fn, tri(s3, sizeof s3, out), s1, s2, tri(s4, sizeof s4, pd));
        status = lt_conv_transpose3d_dims_init(&c->d, n, cx, in[0], in[1], in[2], cout, k, st,
                                               pd, op, dl, groups);
    }
    c->osize[0] = n; c->osize[1] = cout;
    for (int j = 0; j < 3; j++) c->osize[2 + j] = out[j];
    /* element counts, and the int sizes of the BLAS fallback: volumes, weight rows (K),
     * channels at most INT32_MAX */
    int64_t tot = 1, vin, vout, krow;
    int ovf = 0;
    for (int j = 0; j < 5; j++) ovf |= lt_mul_ovf(tot, c->osize[j], &tot);
    if (ovf)
        lt_lua_error(L, "%s: output [%I, %I, %I, %I, %I] is too large (its element count "
                     "overflows int64) (%s)", fn, (lua_Integer)n, (lua_Integer)cout,
                     (lua_Integer)out[0], (lua_Integer)out[1], (lua_Integer)out[2], why);
    const int64_t cw = transposed ? cout : cx;   /* the adjoint conv's input channels */
    if (lt_mul_ovf(in[0], in[1], &vin) || lt_mul_ovf(vin, in[2], &vin) ||
        lt_mul_ovf(out[0], out[1], &vout) || lt_mul_ovf(vout, out[2], &vout) ||
        lt_mul_ovf(k[0], k[1], &krow) || lt_mul_ovf(krow, k[2], &krow) ||
        lt_mul_ovf(krow, cw / groups, &krow) || vin > INT32_MAX || vout > INT32_MAX ||
        krow > INT32_MAX || cx > INT32_MAX || cout > INT32_MAX)
        lt_lua_error(L, "%s: sizes too large for the BLAS kernels (at most %I elements per "
                     "volume, per weight row and channels) (%s)", fn, (lua_Integer)INT32_MAX, why);
    if (status != LT_OK)
        lt_lua_error(L, "%s: %s (%s)", fn, lt_status_str(status), why);
    int pushed;
    c->x = lt_lua_contiguous(L, xi, fn, "input", &pushed);
    c->w = lt_lua_contiguous(L, wi, fn, "weight", &pushed);
    c->b = b ? lt_lua_contiguous(L, bi, fn, "bias", &pushed) : NULL;
    c->batched = batched;
}

static void check_kernel(lua_State *L, lt_status st, const conv_call *c, const char *fn) {
    if (st == LT_OK) return;
    if (st == LT_ENOMEM || st == LT_EOVERFLOW)
        lt_lua_error(L, "%s: cannot allocate the kernel's scratch buffers (%s)", fn, c->ctx);
    lt_lua_error(L, "%s: %s (%s)", fn, lt_status_str(st), c->ctx);
}

typedef lt_status (*fwd_fn)(lt_context *, float *, const float *, const float *, const float *,
                             const lt_conv3d_dims *);
typedef lt_status (*bwd_fn)(lt_context *, float *, float *, float *, const float *,
                             const float *, const float *, const lt_conv3d_dims *);

#define NAIVE_FWD(name, kernel)                                                               \
    static lt_status name(lt_context *ctx, float *y, const float *x, const float *w,        \
                          const float *b, const lt_conv3d_dims *d) {                        \
        (void)ctx;                                                                            \
        return kernel(y, x, w, b, d);                                                         \
    }
#define NAIVE_BWD(name, kernel)                                                               \
    static lt_status name(lt_context *ctx, float *dx, float *dw, float *db, const float *dy, \
                          const float *x, const float *w, const lt_conv3d_dims *d) {        \
        (void)ctx;                                                                            \
        return kernel(dx, dw, db, dy, x, w, d);                                               \
    }
NAIVE_FWD(conv3d_fwd_naive, lt_conv3d_forward_naive)
NAIVE_BWD(conv3d_bwd_naive, lt_conv3d_backward_naive)
NAIVE_FWD(convt3d_fwd_naive, lt_conv_transpose3d_forward_naive)
NAIVE_BWD(convt3d_bwd_naive, lt_conv_transpose3d_backward_naive)

static int conv_forward(lua_State *L, int transposed, fwd_fn kernel, const char *fn) {
    lt_context *ctx = lt_lua_ctx(L);
    conv_call c;
    lt_opt_check(L, 4, fn, transposed ? convt_keys : conv_keys);
    parse_conv(L, 1, 2, 3, 4, transposed, fn, &c);
    lt_tensor *y = c.batched ? lt_lua_newtensor_uninit(L, LT_FLOAT32, 5, c.osize, fn)
                             : lt_lua_newtensor_uninit(L, LT_FLOAT32, 4, c.osize + 1, fn);
    check_kernel(L, kernel(ctx, lt_f32(y), lt_f32(c.x), lt_f32(c.w), c.b ? lt_f32(c.b) : NULL,
                           &c.d), &c, fn);
    return 1;
}

static int arg_flag(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? 1 : lua_toboolean(L, idx);
}

static int conv_backward(lua_State *L, int transposed, bwd_fn kernel, const char *fn) {
    lt_context *ctx = lt_lua_ctx(L);
    char s1[96], s2[96];
    conv_call c;
    lt_opt_check(L, 4, fn, transposed ? convt_keys : conv_keys);
    lt_tensor *gy0 = lt_lua_checkdtype(L, 1, fn, "grad_output", LT_FLOAT32);
    parse_conv(L, 2, 3, 0, 4, transposed, fn, &c);
    const int ndim = c.batched ? 5 : 4;
    const int64_t *want = c.batched ? c.osize : c.osize + 1;
    int ok = gy0->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++) ok = gy0->size[k] == want[k];
    if (!ok) {
        lt_tensor t;
        memset(&t, 0, sizeof t);
        t.ndim = ndim;
        for (int k = 0; k < ndim; k++) t.size[k] = want[k];
        lt_lua_error(L, "%s: grad_output has shape %s, expected %s", fn, shape(gy0, s1, sizeof s1),
                     shape(&t, s2, sizeof s2));
    }
    const int nx = arg_flag(L, 5), nw = arg_flag(L, 6), nb = arg_flag(L, 7);
    int pushed;
    const lt_tensor *gy = lt_lua_contiguous(L, 1, fn, "grad_output", &pushed);
    const int top0 = lua_gettop(L);
    lt_tensor *dx = NULL, *dw = NULL, *db = NULL;
    if (nx) dx = lt_lua_newlike(L, c.x, fn); else lua_pushnil(L);
    if (nw) dw = lt_lua_newlike(L, c.w, fn); else lua_pushnil(L);
    if (nb) {
        const int64_t cb = c.osize[1];
        db = lt_lua_newtensor(L, LT_FLOAT32, 1, &cb, fn);
    } else lua_pushnil(L);
    check_kernel(L, kernel(ctx, dx ? lt_f32(dx) : NULL, dw ? lt_f32(dw) : NULL,
                           db ? lt_f32(db) : NULL, lt_f32(gy), lt_f32(c.x), lt_f32(c.w), &c.d),
                 &c, fn);
    return lua_gettop(L) - top0;
}

static int l_conv3d_forward(lua_State *L) {
    return conv_forward(L, 0, lt_conv3d_forward, "conv3d");
}
static int l_conv3d_backward(lua_State *L) {
    return conv_backward(L, 0, lt_conv3d_backward, "conv3d_backward");
}
static int l_convt3d_forward(lua_State *L) {
    return conv_forward(L, 1, lt_conv_transpose3d_forward, "conv_transpose3d");
}
static int l_convt3d_backward(lua_State *L) {
    return conv_backward(L, 1, lt_conv_transpose3d_backward, "conv_transpose3d_backward");
}
static int l_conv3d_forward_naive(lua_State *L) {
    return conv_forward(L, 0, conv3d_fwd_naive, "conv3d_naive");
}
static int l_conv3d_backward_naive(lua_State *L) {
    return conv_backward(L, 0, conv3d_bwd_naive, "conv3d_backward_naive");
}
static int l_convt3d_forward_naive(lua_State *L) {
    return conv_forward(L, 1, convt3d_fwd_naive, "conv_transpose3d_naive");
}
static int l_convt3d_backward_naive(lua_State *L) {
    return conv_backward(L, 1, convt3d_bwd_naive, "conv_transpose3d_backward_naive");
}

/* ---------------------------------------------------------------- pooling */

/* kernel (required), stride (= kernel), padding, dilation (max only), ceil_mode: every
 * PyTorch check, with the input's shape in the message. */
static void pool_geom(lua_State *L, const lt_tensor *x, int oi, const char *fn,
                      int with_dilation, lt_pool3d_geom *g, int *ceil_mode) {
    char b[96], s1[64], s2[64], s3[64], s4[64];
    int64_t k[3] = {0, 0, 0}, s[3], p[3] = {0, 0, 0}, d[3] = {1, 1, 1};
    if (!opt_triple(L, oi, "kernel", k, fn)) lt_lua_error(L, "%s: opts.kernel is required", fn);
    if (!opt_triple(L, oi, "stride", s, fn)) memcpy(s, k, sizeof s);
    opt_triple(L, oi, "padding", p, fn);
    if (with_dilation) opt_triple(L, oi, "dilation", d, fn);
    *ceil_mode = opt_bool3(L, oi, "ceil_mode", fn) > 0;
    for (int j = 0; j < 3; j++) {
        if (k[j] < 1) lt_lua_error(L, "%s: kernel must be positive, got %s", fn, tri(s1, sizeof s1, k));
        if (s[j] < 1) lt_lua_error(L, "%s: stride must be positive, got %s", fn, tri(s1, sizeof s1, s));
        if (d[j] < 1) lt_lua_error(L, "%s: dilation must be positive, got %s", fn, tri(s1, sizeof s1, d));
        if (p[j] < 0) lt_lua_error(L, "%s: padding must be non-negative, got %s", fn, tri(s1, sizeof s1, p));
    }
    for (int j = 0; j < 3; j++)
        if (p[j] > k[j] / 2)
            lt_lua_error(L, "%s: padding %s must be at most half the kernel %s", fn,
                         tri(s1, sizeof s1, p), tri(s2, sizeof s2, k));
    memset(g, 0, sizeof *g);
    g->planes = vol_planes(x);
    g->id = x->size[x->ndim - 3]; g->ih = x->size[x->ndim - 2]; g->iw = x->size[x->ndim - 1];
    g->kd = k[0]; g->kh = k[1]; g->kw = k[2];
    g->sd = s[0]; g->sh = s[1]; g->sw = s[2];
    g->pd = p[0]; g->ph = p[1]; g->pw = p[2];
    g->dd = d[0]; g->dh = d[1]; g->dw = d[2];
    shape(x, b, sizeof b);
    const lt_status st = lt_pool3d_outsize(g, *ceil_mode);
    if (st == LT_EOVERFLOW)
        lt_lua_error(L, "%s: kernel %s with stride %s and dilation %s overflows int64 (input %s)",
                     fn, tri(s1, sizeof s1, k), tri(s2, sizeof s2, s), tri(s3, sizeof s3, d), b);
    if (st != LT_OK) {
        const int64_t ip[3] = { g->id + 2 * p[0], g->ih + 2 * p[1], g->iw + 2 * p[2] };
        if (with_dilation)
            lt_lua_error(L, "%s: kernel %s (dilation %s) is larger than the padded input %s "
                         "(input %s, padding %s)", fn, tri(s1, sizeof s1, k),
                         tri(s2, sizeof s2, d), tri(s3, sizeof s3, ip), b,
                         tri(s4, sizeof s4, p));
        lt_lua_error(L, "%s: kernel %s is larger than the padded input %s (input %s, padding %s)",
                     fn, tri(s1, sizeof s1, k), tri(s3, sizeof s3, ip), b, tri(s2, sizeof s2, p));
    }
    int64_t isz[3];
    vol_size(x, isz);
    check_volume_size(L, x, isz, fn, "input");
}

static lt_tensor *check_pool_input(lua_State *L, int idx, const char *fn, const char *arg) {
    lt_tensor *x = check_vol(L, idx, fn, arg, 1);
    for (int k = 0; k < x->ndim; k++)
        if (x->size[k] < 1) {
            char b[96];
            lt_lua_error(L, "%s: %s must not be empty, got %s", fn, arg, shape(x, b, sizeof b));
        }
    return x;
}

static int max_pool_common(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "max_pool3d";
    lt_opt_check(L, 2, fn, max_pool_keys);
    lt_tensor *x = check_pool_input(L, 1, fn, "x");
    lt_pool3d_geom g;
    int ceil_mode;
    pool_geom(L, x, 2, fn, 1, &g, &ceil_mode);
    const int ri = opt_bool3(L, 2, "return_indices", fn);
    const int want = lua_toboolean(L, 3) || ri > 0;
    const float *xd = cdata(L, 1, fn, "x");
    const int64_t osz[3] = { g.od, g.oh, g.ow };
    lt_tensor *y = push_vol(L, x, osz, LT_FLOAT32, 0, fn);
    lt_tensor *idx = want ? push_vol(L, x, osz, LT_INT32, 0, fn) : NULL;
    lt_lua_check(L, naive ? lt_max_pool3d_forward_naive(lt_f32(y), idx ? lt_i32(idx) : NULL, xd, &g)
                          : lt_max_pool3d_forward(ctx, lt_f32(y), idx ? lt_i32(idx) : NULL, xd, &g),
                 fn);
    return want ? 2 : 1;
}
static int l_max_pool3d(lua_State *L) { return max_pool_common(L, 0); }
static int l_max_pool3d_naive(lua_State *L) { return max_pool_common(L, 1); }

/* gy must have x's leading dims and a volume of size osz. */
static void check_grad(lua_State *L, const lt_tensor *gy, const lt_tensor *x,
                       const int64_t osz[3], const char *fn) {
    int ok = gy->ndim == x->ndim;
    for (int k = 0; ok && k < x->ndim - 3; k++) ok = gy->size[k] == x->size[k];
    for (int k = 0; ok && k < 3; k++) ok = gy->size[x->ndim - 3 + k] == osz[k];
    if (!ok) {
        char a[96], b[96], c[64];
        lt_lua_error(L, "%s: gradient %s does not fit input %s with output volumes %s", fn,
                     shape(gy, a, sizeof a), shape(x, b, sizeof b), tri(c, sizeof c, osz));
    }
}

static void check_indices(lua_State *L, const lt_tensor *idx, const lt_tensor *like,
                          const char *fn, const char *what) {
    char a[96], b[96];
    if (idx->dtype != LT_INT32)
        lt_lua_error(L, "%s: indices must be int32, got %s", fn, lt_dtype_name(idx->dtype));
    int same = idx->ndim == like->ndim;
    for (int d = 0; same && d < like->ndim; d++) same = idx->size[d] == like->size[d];
    if (!same)
        lt_lua_error(L, "%s: indices %s must have the shape of %s %s", fn,
                     shape(idx, a, sizeof a), what, shape(like, b, sizeof b));
}

static void raise_bad_index(lua_State *L, const int32_t *idd, int64_t n, const int64_t vs[3],
                            const char *fn, const char *which) {
    int32_t bad;
    int64_t pos;
    char c[64];
    if (lt_pool_check_indices(idd, n, vol_numel(vs), &bad, &pos))
        lt_lua_error(L, "%s: index %d is outside [1, %I] (1-based positions in an %s volume of "
                     "%s)", fn, (int)bad, (lua_Integer)vol_numel(vs), which, tri(c, sizeof c, vs));
}

/* gx = max_pool3d_backward(gy, idx, x) */
static int l_max_pool3d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "max_pool3d_backward";
    lt_tensor *gy = check_vol(L, 1, fn, "grad", 1);
    lt_tensor *idx = lt_lua_checktensor(L, 2, fn, "indices");
    lt_tensor *x = check_vol(L, 3, fn, "x", 1);
    check_indices(L, idx, gy, fn, "grad");
    int64_t osz[3], isz[3];
    vol_size(gy, osz);
    vol_size(x, isz);
    check_grad(L, gy, x, osz, fn);
    check_volume_size(L, x, isz, fn, "input");
    const float *gyd = cdata(L, 1, fn, "grad");
    const int32_t *idd = cdata_i32(L, 2, fn, "indices");
    raise_bad_index(L, idd, lt_numel(gy), isz, fn, "input");
    lt_tensor *gx = push_vol(L, x, isz, LT_FLOAT32, 1, fn);
    lt_lua_check(L, lt_max_pool2d_backward(ctx, lt_f32(gx), gyd, idd, vol_planes(x),
                                           vol_numel(osz), vol_numel(isz)), fn);
    return 1;
}

static void avg_opts(lua_State *L, int oi, const char *fn, int *cip, int64_t *divisor) {
    const int c = opt_bool3(L, oi, "count_include_pad", fn);
    *cip = c != 0;   /* default true */
    *divisor = 0;
    if (lt_opt_get(L, oi, "divisor_override", fn)) {
        int64_t v = 0;
        if (!to_integer(L, -1, &v))
            lt_lua_error(L, "%s: divisor_override must be an integer, got %s", fn, show_top(L));
        if (v < 1) lt_lua_error(L, "%s: divisor_override must be positive, got %I", fn, (lua_Integer)v);
        lua_pop(L, 1);
        *divisor = v;
    }
}

static int avg_pool_common(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "avg_pool3d";
    lt_opt_check(L, 2, fn, avg_pool_keys);
    lt_tensor *x = check_pool_input(L, 1, fn, "x");
    lt_pool3d_geom g;
    int ceil_mode, cip;
    int64_t divisor;
    pool_geom(L, x, 2, fn, 0, &g, &ceil_mode);
    avg_opts(L, 2, fn, &cip, &divisor);
    const float *xd = cdata(L, 1, fn, "x");
    const int64_t osz[3] = { g.od, g.oh, g.ow };
    lt_tensor *y = push_vol(L, x, osz, LT_FLOAT32, 0, fn);
    lt_lua_check(L, naive ? lt_avg_pool3d_forward_naive(lt_f32(y), xd, &g, cip, divisor)
                          : lt_avg_pool3d_forward(ctx, lt_f32(y), xd, &g, cip, divisor), fn);
    return 1;
}
static int l_avg_pool3d(lua_State *L) { return avg_pool_common(L, 0); }
static int l_avg_pool3d_naive(lua_State *L) { return avg_pool_common(L, 1); }

/* gx = avg_pool3d_backward(gy, x, opts) */
static int l_avg_pool3d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "avg_pool3d";
    lt_opt_check(L, 3, fn, avg_pool_keys);
    lt_tensor *gy = check_vol(L, 1, fn, "grad", 1);
    lt_tensor *x = check_pool_input(L, 2, fn, "x");
    lt_pool3d_geom g;
    int ceil_mode, cip;
    int64_t divisor;
    pool_geom(L, x, 3, fn, 0, &g, &ceil_mode);
    avg_opts(L, 3, fn, &cip, &divisor);
    const int64_t osz[3] = { g.od, g.oh, g.ow };
    int64_t isz[3];
    vol_size(x, isz);
    check_grad(L, gy, x, osz, fn);
    const float *gyd = cdata(L, 1, fn, "grad");
    lt_tensor *gx = push_vol(L, x, isz, LT_FLOAT32, 1, fn);
    lt_lua_check(L, lt_avg_pool3d_backward(ctx, lt_f32(gx), gyd, &g, cip, divisor), fn);
    return 1;
}

/* ---- max unpooling ---- */

/* PyTorch's _unpool_output_size for three dims. */
static void unpool_size(lua_State *L, const lt_tensor *x, int oi, const char *fn, int64_t out[3]) {
    char b[96], s1[64], s2[64], s3[64];
    int64_t k[3] = {0, 0, 0}, s[3], p[3] = {0, 0, 0};
    if (!opt_triple(L, oi, "kernel", k, fn)) lt_lua_error(L, "%s: opts.kernel is required", fn);
    if (!opt_triple(L, oi, "stride", s, fn)) memcpy(s, k, sizeof s);
    opt_triple(L, oi, "padding", p, fn);
    for (int j = 0; j < 3; j++) {
        if (k[j] < 1) lt_lua_error(L, "%s: kernel must be positive, got %s", fn, tri(s1, sizeof s1, k));
        if (s[j] < 1) lt_lua_error(L, "%s: stride must be positive, got %s", fn, tri(s1, sizeof s1, s));
        if (p[j] < 0) lt_lua_error(L, "%s: padding must be non-negative, got %s", fn, tri(s1, sizeof s1, p));
    }
    shape(x, b, sizeof b);
    int64_t def[3], lo[3], hi[3];
    for (int d = 0; d < 3; d++) {
        int64_t p2;
        if (lt_mul_ovf(x->size[x->ndim - 3 + d] - 1, s[d], &def[d]) ||
            lt_add_ovf(def[d], k[d], &def[d]) || lt_mul_ovf(p[d], 2, &p2) ||
            lt_sub_ovf(def[d], p2, &def[d]) || lt_sub_ovf(def[d], s[d], &lo[d]) ||
            lt_add_ovf(def[d], s[d], &hi[d]))
            lt_lua_error(L, "%s: output size overflows int64 (input %s, kernel %s, stride %s, "
                         "padding %s)", fn, b, tri(s1, sizeof s1, k), tri(s2, sizeof s2, s),
                         tri(s3, sizeof s3, p));
    }
    memcpy(out, def, sizeof def);
    if (lt_opt_get(L, oi, "output_size", fn)) {
        static const char *const names[3] = {"depth", "height", "width"};
        const lua_Integer n = lua_type(L, -1) == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
        if (n != 3 && n != 4 && n != 5)
            lt_lua_error(L, "%s: output_size must be {d, h, w}, {c, d, h, w} or {n, c, d, h, w}, "
                         "got %s", fn, show_top(L));
        for (int d = 0; d < 3; d++) {
            lua_rawgeti(L, -1, n - 2 + d);
            int64_t v = 0;
            if (!to_integer(L, -1, &v))
                lt_lua_error(L, "%s: output_size must hold integers, got %s", fn, show_top(L));
            lua_pop(L, 1);
            if (!(lo[d] < v && v < hi[d]))
                lt_lua_error(L, "%s: output_size %s %I must be strictly between %I and %I", fn,
                             names[d], (lua_Integer)v, (lua_Integer)lo[d], (lua_Integer)hi[d]);
            out[d] = v;
        }
        lua_pop(L, 1);
    }
    if (out[0] < 1 || out[1] < 1 || out[2] < 1)
        lt_lua_error(L, "%s: output size %s is empty (input %s)", fn, tri(s1, sizeof s1, out), b);
    check_volume_size(L, x, out, fn, "output");
}

static int l_max_unpool3d(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "max_unpool3d";
    lt_opt_check(L, 3, fn, unpool_keys);
    lt_tensor *x = check_pool_input(L, 1, fn, "x");
    lt_tensor *idx = lt_lua_checktensor(L, 2, fn, "indices");
    check_indices(L, idx, x, fn, "x");
    int64_t osz[3], isz[3];
    unpool_size(L, x, 3, fn, osz);
    vol_size(x, isz);
    const float *xd = cdata(L, 1, fn, "x");
    const int32_t *idd = cdata_i32(L, 2, fn, "indices");
    raise_bad_index(L, idd, lt_numel(x), osz, fn, "output");
    lt_tensor *y = push_vol(L, x, osz, LT_FLOAT32, 0, fn);
    lt_lua_check(L, lt_max_unpool2d_forward(ctx, lt_f32(y), xd, idd, vol_planes(x),
                                            vol_numel(isz), vol_numel(osz)), fn);
    return 1;
}

/* gx = max_unpool3d_backward(gy, idx, x) */
static int l_max_unpool3d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "max_unpool3d";
    lt_tensor *gy = check_vol(L, 1, fn, "grad", 1);
    lt_tensor *idx = lt_lua_checktensor(L, 2, fn, "indices");
    lt_tensor *x = check_vol(L, 3, fn, "x", 1);
    check_indices(L, idx, x, fn, "x");
    int64_t osz[3], isz[3];
    vol_size(gy, osz);
    vol_size(x, isz);
    check_grad(L, gy, x, osz, fn);
    check_volume_size(L, x, osz, fn, "output");
    const float *gyd = cdata(L, 1, fn, "grad");
    const int32_t *idd = cdata_i32(L, 2, fn, "indices");
    raise_bad_index(L, idd, lt_numel(x), osz, fn, "output");
    lt_tensor *gx = push_vol(L, x, isz, LT_FLOAT32, 1, fn);
    lt_lua_check(L, lt_max_unpool2d_backward(ctx, lt_f32(gx), gyd, idd, vol_planes(x),
                                             vol_numel(isz), vol_numel(osz)), fn);
    return 1;
}

/* ---- adaptive average ---- */

static void adaptive_size(lua_State *L, int i, const lt_tensor *x, const char *fn, int64_t o[3]) {
    char c[64], b[96];
    if (lua_isnoneornil(L, i))
        lt_lua_error(L, "%s: output size is required (a number or a table {d, h, w})", fn);
    int64_t v = 0;
    lua_pushvalue(L, i);
    if (to_integer(L, -1, &v)) {
        o[0] = o[1] = o[2] = v;
    } else if (lua_type(L, -1) == LUA_TTABLE && lua_rawlen(L, -1) == 3) {
        for (int k = 0; k < 3; k++) {
            lua_rawgeti(L, -1, k + 1);
            const int ok = to_integer(L, -1, &o[k]);
            lua_pop(L, 1);
            if (!ok) goto bad;
        }
    } else {
        goto bad;
    }
    lua_pop(L, 1);
    if (o[0] < 1 || o[1] < 1 || o[2] < 1)
        lt_lua_error(L, "%s: output size must be positive, got %s (x %s)", fn, tri(c, sizeof c, o),
                     shape(x, b, sizeof b));
    check_volume_size(L, x, o, fn, "output");
    return;
bad:
    lt_lua_error(L, "%s: output size must be an integer or a table {d, h, w} of integers, got %s",
                 fn, show_top(L));
}

static int adaptive_common(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "adaptive_avg_pool3d";
    lt_tensor *x = check_pool_input(L, 1, fn, "x");
    int64_t osz[3], isz[3];
    adaptive_size(L, 2, x, fn, osz);
    vol_size(x, isz);
    check_volume_size(L, x, isz, fn, "input");
    const float *xd = cdata(L, 1, fn, "x");
    lt_tensor *y = push_vol(L, x, osz, LT_FLOAT32, 0, fn);
    lt_lua_check(L, naive ? lt_adaptive_avg_pool3d_forward_naive(lt_f32(y), xd, vol_planes(x), isz, osz)
                          : lt_adaptive_avg_pool3d_forward(ctx, lt_f32(y), xd, vol_planes(x), isz, osz),
                 fn);
    return 1;
}
static int l_adaptive_avg_pool3d(lua_State *L) { return adaptive_common(L, 0); }
static int l_adaptive_avg_pool3d_naive(lua_State *L) { return adaptive_common(L, 1); }

/* gx = adaptive_avg_pool3d_backward(gy, x) */
static int l_adaptive_avg_pool3d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "adaptive_avg_pool3d";
    lt_tensor *gy = check_vol(L, 1, fn, "grad", 1);
    lt_tensor *x = check_pool_input(L, 2, fn, "x");
    int64_t osz[3], isz[3];
    vol_size(gy, osz);
    vol_size(x, isz);
    check_grad(L, gy, x, osz, fn);
    const float *gyd = cdata(L, 1, fn, "grad");
    lt_tensor *gx = push_vol(L, x, isz, LT_FLOAT32, 1, fn);
    lt_lua_check(L, lt_adaptive_avg_pool3d_backward(ctx, lt_f32(gx), gyd, vol_planes(x), isz, osz),
                 fn);
    return 1;
}

/* ---------------------------------------------------------------- interpolate */

typedef struct {
    int trilinear, align_corners;
    int64_t osz[3];
    double scale[3];
} interp_args;

static void interp_parse(lua_State *L, const lt_tensor *x, int oi, const char *fn,
                         interp_args *a) {
    char c1[64], c2[96];
    memset(a, 0, sizeof *a);
    if (lt_opt_get(L, oi, "mode", fn)) {
        const char *mode = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (mode && strcmp(mode, "trilinear") == 0) a->trilinear = 1;
        else if (!mode || strcmp(mode, "nearest") != 0)
            lt_lua_error(L, "%s: mode must be \"nearest\" or \"trilinear\" for 5-D input, got %s",
                         fn, show_top(L));
        lua_pop(L, 1);
    }
    const int ac = opt_bool3(L, oi, "align_corners", fn);
    if (ac >= 0 && !a->trilinear)
        lt_lua_error(L, "%s: align_corners can only be set with mode \"trilinear\"", fn);
    a->align_corners = ac > 0;
    const int rsf = opt_bool3(L, oi, "recompute_scale_factor", fn);
    int64_t size[3];
    double sf[3];
    const int has_size = opt_triple(L, oi, "size", size, fn);
    const int has_sf = opt_num_triple(L, oi, "scale_factor", sf, fn);
    if (has_size == has_sf) lt_lua_error(L, "%s: give exactly one of size and scale_factor", fn);
    int64_t isz[3];
    vol_size(x, isz);
    if (has_size) {
        if (size[0] < 1 || size[1] < 1 || size[2] < 1)
            lt_lua_error(L, "%s: size must be positive, got %s", fn, tri(c1, sizeof c1, size));
        if (rsf > 0) lt_lua_error(L, "%s: recompute_scale_factor needs scale_factor", fn);
        memcpy(a->osz, size, sizeof size);
    } else {
        char n1[32], n2[32], n3[32];
        for (int k = 0; k < 3; k++)
            if (!lt_in_range(sf[k], LT_REAL_POSITIVE))
                lt_lua_error(L, "%s: scale_factor must be positive finite numbers, got {%s, %s, %s}",
                             fn, lt_numstr(n1, sizeof n1, sf[0]), lt_numstr(n2, sizeof n2, sf[1]),
                             lt_numstr(n3, sizeof n3, sf[2]));
        for (int k = 0; k < 3; k++) {
            const double f = floor((double)isz[k] * sf[k]);
            if (f < 1.0 || f >= 2147483648.0)
                lt_lua_error(L, "%s: scale_factor {%s, %s, %s} makes an output of %s along dim %d "
                             "from input %s (must be in [1, %I])", fn,
                             lt_numstr(n1, sizeof n1, sf[0]), lt_numstr(n2, sizeof n2, sf[1]),
                             lt_numstr(n3, sizeof n3, sf[2]), lt_numstr(c1, sizeof c1, f), k + 3,
                             shape(x, c2, sizeof c2), (lua_Integer)INT32_MAX);
            a->osz[k] = (int64_t)f;
            a->scale[k] = rsf > 0 ? 0.0 : sf[k];
        }
    }
    /* nearest: PyTorch's channels-last kernel (taken when C == 1 or D*H*W == 1) copies
     * exactly when out == in or out == 2 * in; as lua_pool.c does for 2-D */
    if (!a->trilinear && (x->size[1] == 1 || vol_numel(isz) == 1))
        for (int k = 0; k < 3; k++)
            if (a->osz[k] == isz[k] || a->osz[k] == 2 * isz[k]) a->scale[k] = 0.0;
    check_volume_size(L, x, a->osz, fn, "output");
}

static int interp_common(lua_State *L, int naive) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "interpolate";
    lt_opt_check(L, 2, fn, interp_keys);
    lt_tensor *x = check_pool_input(L, 1, fn, "x");
    if (x->ndim != 5) check_vol(L, 1, fn, "x", 0);
    int64_t isz[3];
    vol_size(x, isz);
    check_volume_size(L, x, isz, fn, "input");
    interp_args a;
    interp_parse(L, x, 2, fn, &a);
    const float *xd = cdata(L, 1, fn, "x");
    lt_tensor *y = push_vol(L, x, a.osz, LT_FLOAT32, 0, fn);
    const int64_t P = vol_planes(x);
    lt_status st;
    if (!a.trilinear)
        st = naive ? lt_upsample_nearest3d_forward_naive(lt_f32(y), xd, P, isz, a.osz, a.scale)
                   : lt_upsample_nearest3d_forward(ctx, lt_f32(y), xd, P, isz, a.osz, a.scale);
    else if (naive)
        st = lt_upsample_trilinear3d_forward_naive(lt_f32(y), xd, P, isz, a.osz, a.align_corners,
                                                   a.scale);
    else
        st = lt_upsample_trilinear3d_forward(ctx, lt_f32(y), xd, P, isz, a.osz, a.align_corners,
                                             a.scale);
    lt_lua_check(L, st, fn);
    return 1;
}
static int l_interpolate3d(lua_State *L) { return interp_common(L, 0); }
static int l_interpolate3d_naive(lua_State *L) { return interp_common(L, 1); }

/* gx = interpolate3d_backward(gy, x, opts) */
static int l_interpolate3d_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "interpolate";
    lt_opt_check(L, 3, fn, interp_keys);
    lt_tensor *gy = check_vol(L, 1, fn, "grad", 0);
    lt_tensor *x = check_vol(L, 2, fn, "x", 0);
    int64_t isz[3];
    vol_size(x, isz);
    interp_args a;
    interp_parse(L, x, 3, fn, &a);
    check_grad(L, gy, x, a.osz, fn);
    const float *gyd = cdata(L, 1, fn, "grad");
    lt_tensor *gx = push_vol(L, x, isz, LT_FLOAT32, 1, fn);
    const int64_t P = vol_planes(x);
    lt_lua_check(L, a.trilinear
                        ? lt_upsample_trilinear3d_backward(ctx, lt_f32(gx), gyd, P, isz, a.osz,
                                                           a.align_corners, a.scale)
                        : lt_upsample_nearest3d_backward(ctx, lt_f32(gx), gyd, P, isz, a.osz,
                                                         a.scale),
                 fn);
    return 1;
}

void lt_open_nn_vol(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "conv3d_forward", l_conv3d_forward },
        { "conv3d_backward", l_conv3d_backward },
        { "conv_transpose3d_forward", l_convt3d_forward },
        { "conv_transpose3d_backward", l_convt3d_backward },
        { "conv3d_forward_naive", l_conv3d_forward_naive },
        { "conv3d_backward_naive", l_conv3d_backward_naive },
        { "conv_transpose3d_forward_naive", l_convt3d_forward_naive },
        { "conv_transpose3d_backward_naive", l_convt3d_backward_naive },
        { "max_pool3d", l_max_pool3d },
        { "max_pool3d_naive", l_max_pool3d_naive },
        { "max_pool3d_backward", l_max_pool3d_backward },
        { "avg_pool3d", l_avg_pool3d },
        { "avg_pool3d_naive", l_avg_pool3d_naive },
        { "avg_pool3d_backward", l_avg_pool3d_backward },
        { "max_unpool3d", l_max_unpool3d },
        { "max_unpool3d_backward", l_max_unpool3d_backward },
        { "adaptive_avg_pool3d", l_adaptive_avg_pool3d },
        { "adaptive_avg_pool3d_naive", l_adaptive_avg_pool3d_naive },
        { "adaptive_avg_pool3d_backward", l_adaptive_avg_pool3d_backward },
        { "interpolate3d", l_interpolate3d },
        { "interpolate3d_naive", l_interpolate3d_naive },
        { "interpolate3d_backward", l_interpolate3d_backward },
        { NULL, NULL }
    };
    luaL_setfuncs(L, fns, 0);
}
