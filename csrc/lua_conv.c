/* lua_conv.c: Lua binding for the conv kernels (core.nn.conv2d_forward/backward,
 * conv_transpose2d_forward/backward, their *_naive references, conv_set_algo).
 * Every argument is checked, with a message naming the function, before anything is
 * allocated; outputs are Lua-owned tensors, temporaries live in the conv scratch slots. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "lt_lua.h"
#include "lt_conv.h"

/* A parsed call: contiguous inputs, dims, and the output shape. */
typedef struct {
    const lt_tensor *x, *w, *b;   /* contiguous (b may be NULL) */
    lt_conv2d_dims d;
    int batched;                  /* input was 4-D (else 3-D, unbatched) */
    int64_t osize[4];             /* output shape (N, C, OH, OW) */
    char ctx[256];                /* "input [..], weight [..]" for kernel failures */
} conv_call;

/* The option keys of each op (lt_opt_check raises on any other). */
static const char *const conv_keys[] = {"stride", "padding", "dilation", "groups", NULL};
static const char *const convt_keys[] = {"stride", "padding", "output_padding", "dilation",
                                         "groups", NULL};

/* Raises the formatted message (printf formats, values printed in full), with no position. */
static int conv_error(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int conv_error(lua_State *L, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lua_pushstring(L, msg);
    return lua_error(L);
}

static const char *pairstr(char *buf, size_t n, const lua_Integer v[2]) {
    snprintf(buf, n, "(%lld, %lld)", (long long)v[0], (long long)v[1]);
    return buf;
}

/* Input at idx: 3-D (C, H, W) or 4-D (N, C, H, W) float32. */
static lt_tensor *check_input(lua_State *L, int idx, const char *fn, const char *arg) {
    lt_tensor *t = lt_lua_checkdtype(L, idx, fn, arg, LT_FLOAT32);
    if (t->ndim != 3 && t->ndim != 4) {
        char s[96];
        conv_error(L, "%s: %s must be 3-D (C, H, W) or 4-D (N, C, H, W), got %s", fn, arg,
                   lt_shape_str(t, s, sizeof s));
    }
    return t;
}

/* The output shape must have a countable number of elements, and the per-image GEMMs of the
 * kernels take int sizes: planes (input and output) of at most INT32_MAX elements, weight
 * rows (in/groups * kh * kw) and channel counts too. cin, h, w are the convolution's input
 * (for a transposed conv, its output), oh, ow its output. */
static void check_output(lua_State *L, const char *fn, const int64_t osize[4], int64_t h,
                         int64_t w, int64_t oh, int64_t ow, int64_t krow, int64_t chan,
                         const char *why) {
    char s1[160];
    int64_t n = 1, p1, p2;
    int ovf = 0;
    for (int k = 0; k < 4; k++) ovf |= lt_mul_ovf(n, osize[k], &n);
    if (ovf)
        conv_error(L, "%s: output [%lld, %lld, %lld, %lld] is too large (its element count "
                   "overflows int64) (%s)", fn, (long long)osize[0], (long long)osize[1],
                   (long long)osize[2], (long long)osize[3], why);
    const int64_t lim = INT32_MAX;
    if (lt_mul_ovf(oh, ow, &p1) || lt_mul_ovf(h, w, &p2) || p1 > lim || p2 > lim || krow > lim ||
        chan > lim) {
        snprintf(s1, sizeof s1, "planes %lldx%lld and %lldx%lld, weight rows of %lld, %lld "
                 "channels", (long long)h, (long long)w, (long long)oh, (long long)ow,
                 (long long)krow, (long long)chan);
        conv_error(L, "%s: sizes too large for the BLAS kernels (at most %lld elements per plane, "
                   "per weight row and channels; got %s) (%s)", fn, (long long)lim, s1, why);
    }
}

/* Reads the options and checks everything; pushes contiguous copies where needed (they
 * stay on the stack until the call returns). transposed selects conv_transpose2d. The
 * caller has run lt_opt_check on the options at oi. */
static void parse_call(lua_State *L, int xi, int wi, int bi, int oi, int transposed,
                       const char *fn, conv_call *c) {
    char s1[96], s2[96], s3[48], s4[48], s5[48], why[512];
    lt_tensor *x = check_input(L, xi, fn, "input");
    lt_tensor *w = lt_lua_checkdtype(L, wi, fn, "weight", LT_FLOAT32);
    if (w->ndim != 4)
        conv_error(L, "%s: weight must be 4-D %s, got %s", fn,
                   transposed ? "(in, out/groups, kh, kw)" : "(out, in/groups, kh, kw)",
                   lt_shape_str(w, s1, sizeof s1));
    lt_tensor *b = NULL;
    if (bi && !lua_isnoneornil(L, bi)) b = lt_lua_checkdtype(L, bi, fn, "bias", LT_FLOAT32);
    lua_Integer st[2], pd[2], dl[2], op[2] = { 0, 0 };
    lt_opt_pair(L, oi, "stride", 1, st, fn);
    lt_opt_pair(L, oi, "padding", 0, pd, fn);
    lt_opt_pair(L, oi, "dilation", 1, dl, fn);
    if (transposed) lt_opt_pair(L, oi, "output_padding", 0, op, fn);
    lua_Integer groups = lt_opt_int(L, oi, "groups", 1, fn);
    if (st[0] <= 0 || st[1] <= 0)
        conv_error(L, "%s: stride must be positive, got %s", fn, pairstr(s3, sizeof s3, st));
    if (dl[0] <= 0 || dl[1] <= 0)
        conv_error(L, "%s: dilation must be positive, got %s", fn, pairstr(s3, sizeof s3, dl));
    if (pd[0] < 0 || pd[1] < 0)
        conv_error(L, "%s: padding must be non-negative, got %s", fn, pairstr(s3, sizeof s3, pd));
    if (op[0] < 0 || op[1] < 0)
        conv_error(L, "%s: output_padding must be non-negative, got %s", fn,
                   pairstr(s3, sizeof s3, op));
    if (groups <= 0) conv_error(L, "%s: groups must be positive, got %lld", fn, (long long)groups);

    const int batched = x->ndim == 4;
    const int64_t n = batched ? x->size[0] : 1;
    const int64_t cx = x->size[batched], h = x->size[batched + 1], wd = x->size[batched + 2];
    const int64_t kh = w->size[2], kw = w->size[3];
    int64_t cin_w, cout;   /* input channels the weight expects, output channels */
    if (!transposed) {
        if (w->size[0] % groups)
            conv_error(L, "%s: groups %lld does not divide output channels %lld (weight %s)", fn,
                       (long long)groups, (long long)w->size[0], lt_shape_str(w, s1, sizeof s1));
        if (cx % groups)
            conv_error(L, "%s: groups %lld does not divide input channels %lld (input %s)", fn,
                       (long long)groups, (long long)cx, lt_shape_str(x, s1, sizeof s1));
        if (lt_mul_ovf(w->size[1], groups, &cin_w)) cin_w = -1;   /* no match below */
        cout = w->size[0];
    } else {
        if (w->size[0] % groups)
            conv_error(L, "%s: groups %lld does not divide input channels %lld (weight %s)", fn,
                       (long long)groups, (long long)w->size[0], lt_shape_str(w, s1, sizeof s1));
        cin_w = w->size[0];
        if (lt_mul_ovf(w->size[1], groups, &cout))   /* groups divides w->size[0]: fits */
            conv_error(L, "%s: groups %lld times %lld output channels per group overflows int64 "
                       "(weight %s)", fn, (long long)groups, (long long)w->size[1],
                       lt_shape_str(w, s1, sizeof s1));
    }
    if (cx != cin_w) {
        if (groups > 1)
            conv_error(L, "%s: input has %lld channels, weight expects %lld (input %s, weight %s, groups %lld)",
                       fn, (long long)cx, (long long)cin_w, lt_shape_str(x, s1, sizeof s1),
                       lt_shape_str(w, s2, sizeof s2), (long long)groups);
        conv_error(L, "%s: input has %lld channels, weight expects %lld (input %s, weight %s)", fn,
                   (long long)cx, (long long)cin_w, lt_shape_str(x, s1, sizeof s1),
                   lt_shape_str(w, s2, sizeof s2));
    }
    if (b && (b->ndim != 1 || b->size[0] != cout))
        conv_error(L, "%s: bias must be 1-D of size %lld, got %s", fn, (long long)cout,
                   lt_shape_str(b, s1, sizeof s1));
    if (kh <= 0 || kw <= 0 || cx <= 0 || cout <= 0 || h <= 0 || wd <= 0)
        conv_error(L, "%s: empty input or weight (input %s, weight %s)", fn,
                   lt_shape_str(x, s1, sizeof s1), lt_shape_str(w, s2, sizeof s2));
    lt_shape_str(x, s1, sizeof s1);
    lt_shape_str(w, s2, sizeof s2);
    snprintf(c->ctx, sizeof c->ctx, "input %s, weight %s", s1, s2);
    /* dilated kernel extent dl * (k - 1) + 1, overflow-checked */
    int64_t ekh = 0, ekw = 0;
    if (lt_mul_ovf(dl[0], kh - 1, &ekh) || lt_add_ovf(ekh, 1, &ekh) ||
        lt_mul_ovf(dl[1], kw - 1, &ekw) || lt_add_ovf(ekw, 1, &ekw))
        conv_error(L, "%s: kernel (%lld, %lld) with dilation %s overflows int64 (%s)", fn,
                   (long long)kh, (long long)kw, pairstr(s3, sizeof s3, dl), c->ctx);
    const int64_t krow = (cin_w / groups) * kh * kw;   /* <= numel(w) */
    lt_status status;
    if (!transposed) {
        int64_t hp = 0, wp = 0;
        if (lt_mul_ovf(pd[0], 2, &hp) || lt_add_ovf(hp, h, &hp) || lt_mul_ovf(pd[1], 2, &wp) ||
            lt_add_ovf(wp, wd, &wp))
            conv_error(L, "%s: padding %s overflows int64 (%s)", fn,
                       pairstr(s3, sizeof s3, pd), c->ctx);
        if (hp < ekh || wp < ekw)
            conv_error(L, "%s: kernel (%lld, %lld) with dilation %s is larger than the padded input "
                       "(%lld, %lld) (input %s, padding %s)", fn, (long long)kh, (long long)kw,
                       pairstr(s3, sizeof s3, dl), (long long)hp, (long long)wp, s1,
                       pairstr(s4, sizeof s4, pd));
        const int64_t oh = (hp - ekh) / st[0] + 1, ow = (wp - ekw) / st[1] + 1;
        c->osize[0] = n; c->osize[1] = cout; c->osize[2] = oh; c->osize[3] = ow;
        snprintf(why, sizeof why, "%s, stride %s, padding %s, dilation %s", c->ctx,
                 pairstr(s3, sizeof s3, st), pairstr(s4, sizeof s4, pd), pairstr(s5, sizeof s5, dl));
        check_output(L, fn, c->osize, h, wd, oh, ow, krow, cout, why);
        status = lt_conv2d_dims_init(&c->d, n, cx, h, wd, cout, kh, kw, st[0], st[1], pd[0], pd[1],
                                     dl[0], dl[1], groups);
    } else {
        if ((op[0] >= st[0] && op[0] >= dl[0]) || (op[1] >= st[1] && op[1] >= dl[1]))
            conv_error(L, "%s: output_padding %s must be smaller than stride %s or dilation %s", fn,
                       pairstr(s3, sizeof s3, op), pairstr(s4, sizeof s4, st),
                       pairstr(s5, sizeof s5, dl));
        /* OH = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1 */
        int64_t o[2] = { 0, 0 }, p2;
        const int64_t in[2] = { h, wd }, ek[2] = { ekh, ekw };
        for (int k = 0; k < 2; k++)
            if (lt_mul_ovf(in[k] - 1, st[k], &o[k]) || lt_add_ovf(o[k], ek[k], &o[k]) ||
                lt_add_ovf(o[k], op[k], &o[k]) || lt_mul_ovf(pd[k], 2, &p2) ||
                lt_sub_ovf(o[k], p2, &o[k]))
                conv_error(L, "%s: output size overflows int64 (%s, stride %s, padding %s, "
                           "dilation %s)", fn, c->ctx, pairstr(s3, sizeof s3, st),
                           pairstr(s4, sizeof s4, pd), pairstr(s5, sizeof s5, dl));
        if (o[0] <= 0 || o[1] <= 0)
            conv_error(L, "%s: output size (%lld, %lld) is not positive (input %s, weight %s, padding %s)",
                       fn, (long long)o[0], (long long)o[1], s1, s2, pairstr(s3, sizeof s3, pd));
        c->osize[0] = n; c->osize[1] = cout; c->osize[2] = o[0]; c->osize[3] = o[1];
        snprintf(why, sizeof why, "%s, stride %s, padding %s, dilation %s", c->ctx,
                 pairstr(s3, sizeof s3, st), pairstr(s4, sizeof s4, pd), pairstr(s5, sizeof s5, dl));
        /* the adjoint convolution maps (cout, OH, OW) back to (cx, H, W) */
        const int64_t krow_t = (cout / groups) * kh * kw;   /* <= numel(w) */
        check_output(L, fn, c->osize, o[0], o[1], h, wd, krow_t, cx, why);
        status = lt_conv_transpose2d_dims_init(&c->d, n, cx, h, wd, cout, kh, kw, st[0], st[1],
                                               pd[0], pd[1], op[0], op[1], dl[0], dl[1], groups);
    }
    if (status != LT_OK)   /* everything was checked above: a kernel/binding disagreement */
        conv_error(L, "%s: %s (%s)", fn, lt_status_str(status), why);
    int pushed;
    c->x = lt_lua_contiguous(L, xi, fn, "input", &pushed);
    c->w = lt_lua_contiguous(L, wi, fn, "weight", &pushed);
    c->b = b ? lt_lua_contiguous(L, bi, fn, "bias", &pushed) : NULL;
    c->batched = batched;
}

/* A kernel status: LT_ENOMEM / LT_EOVERFLOW come from the scratch buffers. */
static void check_kernel(lua_State *L, lt_status st, const conv_call *c, const char *fn) {
    if (st == LT_OK) return;
    if (st == LT_ENOMEM || st == LT_EOVERFLOW)
        conv_error(L, "%s: cannot allocate the kernel's scratch buffers (%s, output [%lld, %lld, "
                   "%lld, %lld])", fn, c->ctx, (long long)c->osize[0], (long long)c->osize[1],
                   (long long)c->osize[2], (long long)c->osize[3]);
    conv_error(L, "%s: %s (%s)", fn, lt_status_str(st), c->ctx);
}

/* Pushes a new uninitialised tensor of shape osize (4-D, or 3-D without N when unbatched):
 * the forward kernels overwrite every element. */
static lt_tensor *push_shaped(lua_State *L, const int64_t *size4, int batched, const char *fn) {
    return batched ? lt_lua_newtensor_uninit(L, LT_FLOAT32, 4, size4, fn)
                   : lt_lua_newtensor_uninit(L, LT_FLOAT32, 3, size4 + 1, fn);
}

typedef lt_status (*fwd_fn)(lt_context *, float *, const float *, const float *, const float *,
                             const lt_conv2d_dims *);
typedef lt_status (*bwd_fn)(lt_context *, float *, float *, float *, const float *, const float *,
                            const float *, const lt_conv2d_dims *);

/* The naive references need no context. */
#define NAIVE_FWD(name, kernel)                                                                 \
    static lt_status name(lt_context *ctx, float *y, const float *x, const float *w,          \
                          const float *b, const lt_conv2d_dims *d) {                          \
        (void)ctx;                                                                              \
        return kernel(y, x, w, b, d);                                                           \
    }
#define NAIVE_BWD(name, kernel)                                                                 \
    static lt_status name(lt_context *ctx, float *dx, float *dw, float *db, const float *dy,  \
                          const float *x, const float *w, const lt_conv2d_dims *d) {          \
        (void)ctx;                                                                              \
        return kernel(dx, dw, db, dy, x, w, d);                                                 \
    }
NAIVE_FWD(conv2d_forward_naive, lt_conv2d_forward_naive)
NAIVE_BWD(conv2d_backward_naive, lt_conv2d_backward_naive)
NAIVE_FWD(conv_transpose2d_forward_naive, lt_conv_transpose2d_forward_naive)
NAIVE_BWD(conv_transpose2d_backward_naive, lt_conv_transpose2d_backward_naive)

/* f(x, w, b, opts) -> y */
static int forward(lua_State *L, int transposed, fwd_fn kernel, const char *fn) {
    lt_context *ctx = lt_lua_ctx(L);
    conv_call c;
    lt_opt_check(L, 4, fn, transposed ? convt_keys : conv_keys);
    parse_call(L, 1, 2, 3, 4, transposed, fn, &c);
    lt_tensor *y = push_shaped(L, c.osize, c.batched, fn);
    check_kernel(L, kernel(ctx, lt_f32(y), lt_f32(c.x), lt_f32(c.w), c.b ? lt_f32(c.b) : NULL, &c.d),
                 &c, fn);
    return 1;
}

static int arg_flag(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? 1 : lua_toboolean(L, idx);
}

/* f(gy, x, w, opts [, need_dx, need_dw, need_db]) -> dx|nil, dw|nil, db|nil
 * (each need_* defaults to true). overwrites: the kernel writes every element of the
 * gradients (lt_conv2d_backward_set), so they are not zero-filled first. */
static int backward(lua_State *L, int transposed, bwd_fn kernel, int overwrites, const char *fn) {
    lt_context *ctx = lt_lua_ctx(L);
    char s1[96], s2[96];
    conv_call c;
    lt_opt_check(L, 4, fn, transposed ? convt_keys : conv_keys);
    lt_tensor *gy0 = lt_lua_checkdtype(L, 1, fn, "grad_output", LT_FLOAT32);
    parse_call(L, 2, 3, 0, 4, transposed, fn, &c);
    const int ndim = c.batched ? 4 : 3;
    const int64_t *want = c.batched ? c.osize : c.osize + 1;
    int ok = gy0->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++) ok = gy0->size[k] == want[k];
    if (!ok) {
        lt_tensor shape;
        memset(&shape, 0, sizeof shape);
        shape.ndim = ndim;
        for (int k = 0; k < ndim; k++) shape.size[k] = want[k];
        conv_error(L, "%s: grad_output has shape %s, expected %s", fn,
                   lt_shape_str(gy0, s1, sizeof s1), lt_shape_str(&shape, s2, sizeof s2));
    }
    const int nx = arg_flag(L, 5), nw = arg_flag(L, 6), nb = arg_flag(L, 7);
    int pushed;
    const lt_tensor *gy = lt_lua_contiguous(L, 1, fn, "grad_output", &pushed);
    int top0 = lua_gettop(L);
    lt_tensor *dx = NULL, *dw = NULL, *db = NULL;
    if (nx) dx = overwrites ? lt_lua_newtensor_uninit(L, LT_FLOAT32, c.x->ndim, c.x->size, fn)
                            : lt_lua_newlike(L, c.x, fn);
    else lua_pushnil(L);
    if (nw) dw = overwrites ? lt_lua_newtensor_uninit(L, LT_FLOAT32, c.w->ndim, c.w->size, fn)
                            : lt_lua_newlike(L, c.w, fn);
    else lua_pushnil(L);
    if (nb) {
        const int64_t cb = c.osize[1];
        db = overwrites ? lt_lua_newtensor_uninit(L, LT_FLOAT32, 1, &cb, fn)
                        : lt_lua_newtensor(L, LT_FLOAT32, 1, &cb, fn);
    } else lua_pushnil(L);
    check_kernel(L, kernel(ctx, dx ? lt_f32(dx) : NULL, dw ? lt_f32(dw) : NULL,
                           db ? lt_f32(db) : NULL, lt_f32(gy), lt_f32(c.x), lt_f32(c.w), &c.d),
                 &c, fn);
    return lua_gettop(L) - top0;
}

static int l_conv2d_forward(lua_State *L) {
    return forward(L, 0, lt_conv2d_forward, "conv2d");
}
static int l_conv2d_backward(lua_State *L) {
    return backward(L, 0, lt_conv2d_backward_set, 1, "conv2d_backward");
}
static int l_conv_transpose2d_forward(lua_State *L) {
    return forward(L, 1, lt_conv_transpose2d_forward, "conv_transpose2d");
}
static int l_conv_transpose2d_backward(lua_State *L) {
    return backward(L, 1, lt_conv_transpose2d_backward, 0, "conv_transpose2d_backward");
}
static int l_conv2d_forward_naive(lua_State *L) {
    return forward(L, 0, conv2d_forward_naive, "conv2d_naive");
}
static int l_conv2d_backward_naive(lua_State *L) {
    return backward(L, 0, conv2d_backward_naive, 0, "conv2d_backward_naive");
}
static int l_conv_transpose2d_forward_naive(lua_State *L) {
    return forward(L, 1, conv_transpose2d_forward_naive, "conv_transpose2d_naive");
}
static int l_conv_transpose2d_backward_naive(lua_State *L) {
    return backward(L, 1, conv_transpose2d_backward_naive, 0, "conv_transpose2d_backward_naive");
}

/* conv_set_algo("auto"|"gemm"|"direct"|"batched"|"winograd"|"winograd_f2"|"plane") -> previous name;
 * for specs and benchmarks. */
static int l_conv_set_algo(lua_State *L) {
    static const char *const names[] = { "auto", "gemm", "direct", "batched", "winograd",
                                         "winograd_f2", "plane", NULL };
    lt_context *ctx = lt_lua_ctx(L);
    const int prev = lt_conv_get_algo(ctx);
    if (!lua_isnoneornil(L, 1)) lt_conv_set_algo(ctx, luaL_checkoption(L, 1, NULL, names));
    lua_pushstring(L, names[prev]);
    return 1;
}

/* conv_set_isa(["avx2"|"avx512"]) -> previous name (the one in use); an ISA the CPU lacks is
 * an error. conv_isa_supported(name) -> boolean. For specs and benchmarks. */
static const char *const isa_names[] = { "avx2", "avx512", NULL };
static int l_conv_set_isa(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const int prev = lt_conv_get_isa(ctx);
    if (!lua_isnoneornil(L, 1)) {
        const int isa = luaL_checkoption(L, 1, NULL, isa_names);
        if (lt_conv_set_isa(ctx, isa) != LT_OK)
            return luaL_error(L, "conv_set_isa: this CPU does not support %s", isa_names[isa]);
    }
    lua_pushstring(L, isa_names[prev]);
    return 1;
}
static int l_conv_isa_supported(lua_State *L) {
    lua_pushboolean(L, lt_conv_isa_supported(luaL_checkoption(L, 1, NULL, isa_names)));
    return 1;
}

/* wallclock() -> monotonic seconds (the kernel benchmark times with it; os.clock is CPU time). */
static int l_wallclock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

void lt_open_nn_conv(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "conv2d_forward", l_conv2d_forward },
        { "conv2d_backward", l_conv2d_backward },
        { "conv_transpose2d_forward", l_conv_transpose2d_forward },
        { "conv_transpose2d_backward", l_conv_transpose2d_backward },
        { "conv2d_forward_naive", l_conv2d_forward_naive },
        { "conv2d_backward_naive", l_conv2d_backward_naive },
        { "conv_transpose2d_forward_naive", l_conv_transpose2d_forward_naive },
        { "conv_transpose2d_backward_naive", l_conv_transpose2d_backward_naive },
        { "conv_set_algo", l_conv_set_algo },
        { "conv_set_isa", l_conv_set_isa },
        { "conv_isa_supported", l_conv_isa_supported },
        { "wallclock", l_wallclock },
        { NULL, NULL }
    };
    luaL_setfuncs(L, fns, 0);
}
