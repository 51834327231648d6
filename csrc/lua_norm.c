/* lua_norm.c: Lua binding (core.nn.*) of the normalisation, dropout, activation and
 * softmax kernels of lt_norm.c / lt_activation.c. Raw functions, no autograd: the Lua
 * side (lunet/nn/functional/norm.lua, activation.lua) records the graph.
 *
 * Every argument is checked before anything is allocated; temporaries are Lua-owned
 * tensors or the context's scratch slot LT_SCRATCH_NORM, so a raised error leaks nothing.
 * Functions registered with a `_naive` suffix run the naive reference kernels (for the
 * specs). */
#include "lt_lua.h"
#include "lt_lua.h"
#include "lt_norm.h"
#include "lt_activation.h"

#include <math.h>
#include <stdio.h>

#define SHAPE_BUF 96

/* ------------------------------------------------------------------ helpers */

/* The option keys of each function (lt_opt_check raises on any other). */
static const char *const batch_norm_keys[] = {"training", "momentum", "eps", NULL};
static const char *const group_norm_keys[] = {"eps", NULL};
static const char *const dropout_keys[] = {"p", "training", "generator", NULL};

/* An integer argument (integral floats such as 2.0 accepted); raises "fn: what must be an
 * integer, got ..." otherwise. */
static lua_Integer check_int(lua_State *L, int idx, const char *fn, const char *what) {
    char nb[32];
    int isnum = 0;
    lua_Integer v = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &isnum) : 0;
    if (isnum) return v;
    if (lua_type(L, idx) == LUA_TNUMBER)
        lt_lua_error(L, "%s: %s must be an integer, got %s", fn, what,
                     lt_numstr(nb, sizeof nb, (double)lua_tonumber(L, idx)));
    return lt_lua_error(L, "%s: %s must be an integer, got %s", fn, what, luaL_typename(L, idx));
}

static int is_naive(lua_State *L) {
    return lua_toboolean(L, lua_upvalueindex(1));
}

static lt_tensor *check_f32(lua_State *L, int idx, const char *fn, const char *arg) {
    return lt_lua_checkdtype(L, idx, fn, arg, LT_FLOAT32);
}

static lt_tensor *opt_f32(lua_State *L, int idx, const char *fn, const char *arg) {
    if (lua_isnoneornil(L, idx)) return NULL;
    return check_f32(L, idx, fn, arg);
}

/* x viewed as (N, C, S); needs ndim >= 2. */
static void check_nc(lua_State *L, const lt_tensor *x, const char *fn, const char *arg,
                     int64_t *N, int64_t *C, int64_t *S) {
    char sb[SHAPE_BUF];
    if (x->ndim < 2)
        lt_lua_error(L, "%s: %s must have at least 2 dims (N, C, ...), got %s", fn, arg,
                     lt_shape_str(x, sb, sizeof sb));
    *N = x->size[0];
    *C = x->size[1];
    *S = 1;
    for (int d = 2; d < x->ndim; d++) *S *= x->size[d];
}

/* A per-channel vector (running stats, weight, bias) must be 1-D with C entries. */
static void check_channels(lua_State *L, const lt_tensor *t, int64_t C, const lt_tensor *x,
                           const char *fn, const char *arg) {
    char sb[SHAPE_BUF], xb[SHAPE_BUF];
    if (t && (t->ndim != 1 || t->size[0] != C))
        lt_lua_error(L, "%s: %s has shape %s, expected [%I] (x %s)", fn, arg,
                     lt_shape_str(t, sb, sizeof sb), (lua_Integer)C,
                     lt_shape_str(x, xb, sizeof xb));
}

static void check_same_shape(lua_State *L, const lt_tensor *g, const lt_tensor *x,
                             const char *fn, const char *garg, const char *xarg) {
    char gb[SHAPE_BUF], xb[SHAPE_BUF];
    int same = g->ndim == x->ndim;
    for (int d = 0; same && d < x->ndim; d++) same = g->size[d] == x->size[d];
    if (!same)
        lt_lua_error(L, "%s: %s has shape %s, expected the shape of %s %s", fn, garg,
                     lt_shape_str(g, gb, sizeof gb), xarg, lt_shape_str(x, xb, sizeof xb));
}

/* Contiguous float data of the (checked) tensor at idx, or NULL when t is NULL. May push
 * a contiguous copy, which then lives on the stack until the function returns. */
static float *cdata(lua_State *L, int idx, const lt_tensor *t, const char *fn, const char *arg) {
    int pushed;
    if (!t) return NULL;
    return lt_f32(lt_lua_contiguous(L, idx, fn, arg, &pushed));
}

static lt_tensor *new_like_shape(lua_State *L, const lt_tensor *x, lt_dtype dt, const char *fn) {
    return lt_lua_newtensor(L, dt, x->ndim, x->size, fn);
}

static lt_tensor *new_vec(lua_State *L, int64_t n, const char *fn) {
    return lt_lua_newtensor(L, LT_FLOAT32, 1, &n, fn);
}

/* ------------------------------------------------------------------ batch norm */

/* batch_norm_forward(x, running_mean, running_var, weight, bias, opts)
 *   -> y, mean, invstd (the statistics used, (C) each, saved for the backward).
 * training: batch statistics, running stats updated in place (if given);
 * eval: running statistics. */
static int batch_norm_forward(lua_State *L, int relu) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "batch_norm";   /* the fused op reports as the batch norm it replaces */
    char xb[SHAPE_BUF];
    const int naive = is_naive(L);
    lt_opt_check(L, 6, fn, batch_norm_keys);
    lt_tensor *x = check_f32(L, 1, fn, "x");
    int64_t N, C, S;
    check_nc(L, x, fn, "x", &N, &C, &S);
    lt_tensor *rm = opt_f32(L, 2, fn, "running_mean");
    lt_tensor *rv = opt_f32(L, 3, fn, "running_var");
    lt_tensor *w = opt_f32(L, 4, fn, "weight");
    lt_tensor *b = opt_f32(L, 5, fn, "bias");
    check_channels(L, rm, C, x, fn, "running_mean");
    check_channels(L, rv, C, x, fn, "running_var");
    check_channels(L, w, C, x, fn, "weight");
    check_channels(L, b, C, x, fn, "bias");
    const int training = lt_opt_bool(L, 6, "training", 0, fn);
    /* PyTorch takes any momentum and eps; outside these ranges the statistics are garbage */
    const double momentum = lt_opt_real(L, 6, "momentum", 0.1, LT_REAL_UNIT, fn);
    const double eps = lt_opt_real(L, 6, "eps", 1e-5, LT_REAL_POSITIVE, fn);
    if (training && N * S <= 1)
        lt_lua_error(L, "%s: expected more than 1 value per channel when training, got x %s", fn,
                     lt_shape_str(x, xb, sizeof xb));
    if (!training && (!rm || !rv))
        lt_lua_error(L, "%s: running_mean and running_var are required when training is false", fn);
    if (training && rm && !lt_is_contiguous(rm))
        lt_lua_error(L, "%s: running_mean must be contiguous (it is updated in place)", fn);
    if (training && rv && !lt_is_contiguous(rv))
        lt_lua_error(L, "%s: running_var must be contiguous (it is updated in place)", fn);

    /* contiguous inputs first (copies may be pushed), then the results on top */
    const float *xd = cdata(L, 1, x, fn, "x");
    const float *wd = cdata(L, 4, w, fn, "weight");
    const float *bd = cdata(L, 5, b, fn, "bias");
    float *rmd = cdata(L, 2, rm, fn, "running_mean");   /* the tensor itself in training */
    float *rvd = cdata(L, 3, rv, fn, "running_var");
    /* every element of y is written by the kernel */
    lt_tensor *y = lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);
    float *md = lt_f32(new_vec(L, C, fn));
    float *id = lt_f32(new_vec(L, C, fn));
    if (training) {
        /* id holds the biased variance until the running stats are updated */
        lt_lua_check(L, (naive ? lt_batch_norm_stats_naive(md, id, xd, N, C, S)
                               : lt_batch_norm_stats(ctx, md, id, xd, N, C, S)), fn);
        lt_batch_norm_update_running(rmd, rvd, md, id, C, N * S, momentum);
        for (int64_t c = 0; c < C; c++) id[c] = (float)(1.0 / sqrt((double)id[c] + eps));
    } else {
        for (int64_t c = 0; c < C; c++) {
            md[c] = rmd[c];
            id[c] = (float)(1.0 / sqrt((double)rvd[c] + eps));
        }
    }
    float *yd = lt_f32(y);
    lt_status st;
    if (relu)
        st = naive ? lt_batch_norm_relu_forward_naive(yd, xd, md, id, wd, bd, N, C, S)
                   : lt_batch_norm_relu_forward(ctx, yd, xd, md, id, wd, bd, N, C, S);
    else
        st = naive ? lt_batch_norm_forward_naive(yd, xd, md, id, wd, bd, N, C, S)
                   : lt_batch_norm_forward(ctx, yd, xd, md, id, wd, bd, N, C, S);
    lt_lua_check(L, st, fn);
    return 3;
}

static int l_batch_norm_forward(lua_State *L) { return batch_norm_forward(L, 0); }

/* batch_norm_relu_forward(x, running_mean, running_var, weight, bias, opts)
 *   -> r = relu(batch_norm(x, ...)), mean, invstd: batch_norm_forward's arguments, checks
 * and statistics, the relu applied in the same pass (no normalised tensor is made). */
static int l_batch_norm_relu_forward(lua_State *L) { return batch_norm_forward(L, 1); }

/* batch_norm_backward(gy, x, mean, invstd, weight, bias, training) -> gx, gweight, gbias
 * (gweight / gbias nil when weight / bias is nil). */
static int l_batch_norm_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "batch_norm_backward";
    const int naive = is_naive(L);
    lt_tensor *gy = check_f32(L, 1, fn, "grad");
    lt_tensor *x = check_f32(L, 2, fn, "x");
    int64_t N, C, S;
    check_nc(L, x, fn, "x", &N, &C, &S);
    check_same_shape(L, gy, x, fn, "grad", "x");
    lt_tensor *mean = check_f32(L, 3, fn, "mean");
    lt_tensor *invstd = check_f32(L, 4, fn, "invstd");
    lt_tensor *w = opt_f32(L, 5, fn, "weight");
    const int has_b = !lua_isnoneornil(L, 6);
    const int training = lua_toboolean(L, 7);
    check_channels(L, mean, C, x, fn, "mean");
    check_channels(L, invstd, C, x, fn, "invstd");
    check_channels(L, w, C, x, fn, "weight");
    const float *gd = cdata(L, 1, gy, fn, "grad");
    const float *xd = cdata(L, 2, x, fn, "x");
    const float *md = cdata(L, 3, mean, fn, "mean");
    const float *id = cdata(L, 4, invstd, fn, "invstd");
    const float *wd = cdata(L, 5, w, fn, "weight");
    /* the kernels write every element of gx, gw and gb */
    lt_tensor *gx = lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);
    float *gw = NULL, *gb = NULL;
    if (w) gw = lt_f32(new_vec(L, C, fn)); else lua_pushnil(L);
    if (has_b) gb = lt_f32(new_vec(L, C, fn)); else lua_pushnil(L);
    lt_lua_check(L, (naive ? lt_batch_norm_backward_naive(lt_f32(gx), gw, gb, gd, xd, md, id, wd, N, C, S, training)
                           : lt_batch_norm_backward(ctx, lt_f32(gx), gw, gb, gd, xd, md, id, wd, N, C, S, training)), fn);
    return 3;
}

/* batch_norm_relu_backward(gr, r, x, mean, invstd, weight, bias, training)
 *   -> gx, gweight, gbias: the backward of batch_norm_relu_forward, r its output. */
static int l_batch_norm_relu_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "batch_norm_relu_backward";
    const int naive = is_naive(L);
    lt_tensor *gy = check_f32(L, 1, fn, "grad");
    lt_tensor *r = check_f32(L, 2, fn, "r");
    lt_tensor *x = check_f32(L, 3, fn, "x");
    int64_t N, C, S;
    check_nc(L, x, fn, "x", &N, &C, &S);
    check_same_shape(L, gy, x, fn, "grad", "x");
    check_same_shape(L, r, x, fn, "r", "x");
    lt_tensor *mean = check_f32(L, 4, fn, "mean");
    lt_tensor *invstd = check_f32(L, 5, fn, "invstd");
    lt_tensor *w = opt_f32(L, 6, fn, "weight");
    const int has_b = !lua_isnoneornil(L, 7);
    const int training = lua_toboolean(L, 8);
    check_channels(L, mean, C, x, fn, "mean");
    check_channels(L, invstd, C, x, fn, "invstd");
    check_channels(L, w, C, x, fn, "weight");
    const float *gd = cdata(L, 1, gy, fn, "grad");
    const float *rd = cdata(L, 2, r, fn, "r");
    const float *xd = cdata(L, 3, x, fn, "x");
    const float *md = cdata(L, 4, mean, fn, "mean");
    const float *id = cdata(L, 5, invstd, fn, "invstd");
    const float *wd = cdata(L, 6, w, fn, "weight");
    lt_tensor *gx = lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);
    float *gw = NULL, *gb = NULL;
    if (w) gw = lt_f32(new_vec(L, C, fn)); else lua_pushnil(L);
    if (has_b) gb = lt_f32(new_vec(L, C, fn)); else lua_pushnil(L);
    lt_lua_check(L, (naive ? lt_batch_norm_relu_backward_naive(lt_f32(gx), gw, gb, gd, rd, xd, md, id, wd, N, C, S, training)
                           : lt_batch_norm_relu_backward(ctx, lt_f32(gx), gw, gb, gd, rd, xd, md, id, wd, N, C, S, training)), fn);
    return 3;
}

/* ------------------------------------------------------------------ group norm */

static int64_t check_groups(lua_State *L, int idx, int64_t C, const lt_tensor *x, const char *fn) {
    char xb[SHAPE_BUF];
    lua_Integer G = check_int(L, idx, fn, "groups");
    if (G < 1) lt_lua_error(L, "%s: groups must be >= 1, got %I", fn, G);
    if (C % G != 0)
        lt_lua_error(L, "%s: groups (%I) must divide the %I channels of x %s", fn, G,
                     (lua_Integer)C, lt_shape_str(x, xb, sizeof xb));
    return (int64_t)G;
}

/* group_norm_forward(x, groups, weight, bias, opts) -> y, mean, invstd ((N, G) each). */
static int l_group_norm_forward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "group_norm";
    const int naive = is_naive(L);
    lt_opt_check(L, 5, fn, group_norm_keys);
    lt_tensor *x = check_f32(L, 1, fn, "x");
    int64_t N, C, S;
    check_nc(L, x, fn, "x", &N, &C, &S);
    const int64_t G = check_groups(L, 2, C, x, fn);
    lt_tensor *w = opt_f32(L, 3, fn, "weight");
    lt_tensor *b = opt_f32(L, 4, fn, "bias");
    check_channels(L, w, C, x, fn, "weight");
    check_channels(L, b, C, x, fn, "bias");
    const double eps = lt_opt_real(L, 5, "eps", 1e-5, LT_REAL_POSITIVE, fn);
    const float *xd = cdata(L, 1, x, fn, "x");
    const float *wd = cdata(L, 3, w, fn, "weight");
    const float *bd = cdata(L, 4, b, fn, "bias");
    lt_tensor *y = new_like_shape(L, x, LT_FLOAT32, fn);
    const int64_t ng[2] = {N, G};
    float *md = lt_f32(lt_lua_newtensor(L, LT_FLOAT32, 2, ng, fn));
    float *id = lt_f32(lt_lua_newtensor(L, LT_FLOAT32, 2, ng, fn));
    lt_lua_check(L, (naive ? lt_group_norm_forward_naive(lt_f32(y), md, id, xd, wd, bd, N, C, S, G, eps)
                           : lt_group_norm_forward(ctx, lt_f32(y), md, id, xd, wd, bd, N, C, S, G, eps)), fn);
    return 3;
}

/* group_norm_backward(gy, x, mean, invstd, groups, weight, bias) -> gx, gweight, gbias */
static int l_group_norm_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "group_norm_backward";
    char sb[SHAPE_BUF];
    const int naive = is_naive(L);
    lt_tensor *gy = check_f32(L, 1, fn, "grad");
    lt_tensor *x = check_f32(L, 2, fn, "x");
    int64_t N, C, S;
    check_nc(L, x, fn, "x", &N, &C, &S);
    check_same_shape(L, gy, x, fn, "grad", "x");
    lt_tensor *mean = check_f32(L, 3, fn, "mean");
    lt_tensor *invstd = check_f32(L, 4, fn, "invstd");
    const int64_t G = check_groups(L, 5, C, x, fn);
    lt_tensor *w = opt_f32(L, 6, fn, "weight");
    const int has_b = !lua_isnoneornil(L, 7);
    check_channels(L, w, C, x, fn, "weight");
    if (lt_numel(mean) != N * G || lt_numel(invstd) != N * G)
        lt_lua_error(L, "%s: mean has shape %s, expected [%I, %I]", fn,
                     lt_shape_str(mean, sb, sizeof sb), (lua_Integer)N, (lua_Integer)G);
    const float *gd = cdata(L, 1, gy, fn, "grad");
    const float *xd = cdata(L, 2, x, fn, "x");
    const float *md = cdata(L, 3, mean, fn, "mean");
    const float *id = cdata(L, 4, invstd, fn, "invstd");
    const float *wd = cdata(L, 6, w, fn, "weight");
    double *work = NULL;
    if (!naive) {
        int64_t nbytes;   /* N * C <= numel(x): the products fit, checked all the same */
        if (lt_mul_ovf(N, C, &nbytes) || lt_mul_ovf(nbytes, 2 * (int64_t)sizeof(double), &nbytes))
            lt_lua_error(L, "%s: scratch size for x %s overflows int64", fn,
                         lt_shape_str(x, sb, sizeof sb));
        work = (double *)lt_ctx_scratch(ctx, LT_SCRATCH_NORM, (size_t)nbytes + 1);
        if (!work) lt_lua_error(L, "%s: cannot allocate %I bytes of scratch", fn, (lua_Integer)nbytes);
    }
    lt_tensor *gx = new_like_shape(L, x, LT_FLOAT32, fn);
    float *gw = NULL, *gb = NULL;
    if (w) gw = lt_f32(new_vec(L, C, fn)); else lua_pushnil(L);
    if (has_b) gb = lt_f32(new_vec(L, C, fn)); else lua_pushnil(L);
    if (naive)
        lt_lua_check(L, lt_group_norm_backward_naive(lt_f32(gx), gw, gb, gd, xd, md, id, wd,
                                                     N, C, S, G), fn);
    else
        lt_lua_check(L, lt_group_norm_backward(ctx, lt_f32(gx), gw, gb, gd, xd, md, id, wd, work,
                                               N, C, S, G), fn);
    return 3;
}

/* ------------------------------------------------------------------ dropout */

/* dropout_forward(x, opts) / dropout2d_forward(x, opts) -> y, mask.
 * Not training or p = 0: returns x itself and no mask (nothing drawn), as PyTorch. */
static int dropout_forward(lua_State *L, const char *fn, int planes) {
    lt_context *ctx = lt_lua_ctx(L);
    char xb[SHAPE_BUF];
    lt_opt_check(L, 2, fn, dropout_keys);
    lt_tensor *x = check_f32(L, 1, fn, "x");
    const double p = lt_opt_real(L, 2, "p", 0.5, LT_REAL_UNIT, fn);
    const int training = lt_opt_bool(L, 2, "training", 1, fn);
    if (planes && x->ndim != 3 && x->ndim != 4)
        lt_lua_error(L, "%s: x must be 3-D (N, C, L) or 4-D (N, C, H, W), got %s", fn,
                     lt_shape_str(x, xb, sizeof xb));
    lt_rng *g = lt_lua_optrng(L, 2, fn);
    if (!training || p == 0.0 || lt_numel(x) == 0) {
        lua_pushvalue(L, 1);
        return 1;
    }
    const float *xd = cdata(L, 1, x, fn, "x");
    int64_t n = lt_numel(x), S = 1;
    if (planes) {
        S = n / (x->size[0] * x->size[1]);
        n = x->size[0] * x->size[1];
    }
    lt_tensor *y = new_like_shape(L, x, LT_FLOAT32, fn);
    float *mask;
    if (planes) {
        const int64_t nc[2] = {x->size[0], x->size[1]};
        mask = lt_f32(lt_lua_newtensor(L, LT_FLOAT32, 2, nc, fn));
    } else {
        mask = lt_f32(new_like_shape(L, x, LT_FLOAT32, fn));
    }
    lt_lua_check(L, lt_dropout_mask(mask, n, p, g), fn);
    lt_lua_check(L, lt_dropout_forward(ctx, lt_f32(y), xd, mask, n, S), fn);
    return 2;
}

static int l_dropout_forward(lua_State *L) { return dropout_forward(L, "dropout", 0); }
static int l_dropout2d_forward(lua_State *L) { return dropout_forward(L, "dropout2d", 1); }

/* dropout_backward(gy, mask) -> gx; mask has gy's shape, or (N, C) for whole planes. */
static int l_dropout_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "dropout_backward";
    char gb[SHAPE_BUF], mb[SHAPE_BUF];
    lt_tensor *gy = check_f32(L, 1, fn, "grad");
    lt_tensor *mask = check_f32(L, 2, fn, "mask");
    const int64_t n = lt_numel(mask), total = lt_numel(gy);
    if (n == 0 || total % n != 0 || gy->ndim < mask->ndim)
        lt_lua_error(L, "%s: mask %s does not fit grad %s", fn, lt_shape_str(mask, mb, sizeof mb),
                     lt_shape_str(gy, gb, sizeof gb));
    const float *gd = cdata(L, 1, gy, fn, "grad");
    const float *md = cdata(L, 2, mask, fn, "mask");
    lt_tensor *gx = new_like_shape(L, gy, LT_FLOAT32, fn);
    lt_lua_check(L, lt_dropout_backward(ctx, lt_f32(gx), gd, md, n, total / n), fn);
    return 1;
}

/* ------------------------------------------------------------------ activations */

static const char *act_name(lt_act a) {
    switch (a) {
    case LT_ACT_RELU: return "relu";
    case LT_ACT_LEAKY_RELU: return "leaky_relu";
    case LT_ACT_SIGMOID: return "sigmoid";
    case LT_ACT_TANH: return "tanh";
    }
    return "activation";
}

static float check_slope(lua_State *L, int idx, const char *fn) {
    if (lua_isnoneornil(L, idx)) return 0.01f;
    if (lua_type(L, idx) != LUA_TNUMBER)
        lt_lua_error(L, "%s: negative_slope must be a number, got %s", fn, luaL_typename(L, idx));
    return (float)lua_tonumber(L, idx);
}

/* <act>_forward(x [, slope]) -> y */
static int l_act_forward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const lt_act act = (lt_act)lua_tointeger(L, lua_upvalueindex(1));
    const char *fn = act_name(act);
    lt_tensor *x = check_f32(L, 1, fn, "x");
    const float slope = act == LT_ACT_LEAKY_RELU ? check_slope(L, 2, fn) : 0.0f;
    const float *xd = cdata(L, 1, x, fn, "x");
    lt_tensor *y = lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);   /* all written */
    lt_lua_check(L, lt_activation_forward(ctx, lt_f32(y), xd, lt_numel(x), act, slope), fn);
    return 1;
}

/* <act>_backward(gy, t [, slope]) -> gx; t is the input x for leaky_relu, else the output y */
static int l_act_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const lt_act act = (lt_act)lua_tointeger(L, lua_upvalueindex(1));
    const char *fn = act_name(act);
    const char *targ = act == LT_ACT_LEAKY_RELU ? "x" : "y";
    lt_tensor *gy = check_f32(L, 1, fn, "grad");
    lt_tensor *t = check_f32(L, 2, fn, targ);
    check_same_shape(L, gy, t, fn, "grad", targ);
    const float slope = act == LT_ACT_LEAKY_RELU ? check_slope(L, 3, fn) : 0.0f;
    const float *gd = cdata(L, 1, gy, fn, "grad");
    const float *td = cdata(L, 2, t, fn, targ);
    lt_tensor *gx = lt_lua_newtensor_uninit(L, LT_FLOAT32, t->ndim, t->size, fn);   /* all written */
    const int is_x = act == LT_ACT_LEAKY_RELU;
    lt_lua_check(L, lt_activation_backward(ctx, lt_f32(gx), gd, is_x ? td : NULL, is_x ? NULL : td,
                                           lt_numel(t), act, slope), fn);
    return 1;
}

/* ------------------------------------------------------------------ softmax */

/* A 1-based (or negative) dim of x, as 0-based; a 0-dim tensor acts as 1-D. */
static int check_softmax_dim(lua_State *L, int idx, const lt_tensor *x, const char *fn) {
    char xb[SHAPE_BUF];
    const lua_Integer nd = x->ndim > 0 ? x->ndim : 1;
    if (lua_isnoneornil(L, idx))
        lt_lua_error(L, "%s: dim is required (1..%I or -%I..-1 for x %s)", fn, nd, nd,
                     lt_shape_str(x, xb, sizeof xb));
    lua_Integer d = check_int(L, idx, fn, "dim");
    if (d == 0 || d > nd || d < -nd)
        lt_lua_error(L, "%s: dim %I out of range for x %s (expected 1..%I or -%I..-1)", fn, d,
                     lt_shape_str(x, xb, sizeof xb), nd, nd);
    return (int)(d > 0 ? d - 1 : nd + d);
}

static void outer_d_inner(const lt_tensor *x, int d, int64_t *outer, int64_t *D, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    *D = x->ndim > 0 ? x->size[d] : 1;
    for (int k = 0; k < d; k++) *outer *= x->size[k];
    for (int k = d + 1; k < x->ndim; k++) *inner *= x->size[k];
}

/* softmax_forward(x, dim) / log_softmax_forward(x, dim) -> y. Upvalues: naive, is_log. */
static int l_softmax_forward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const int naive = is_naive(L), is_log = lua_toboolean(L, lua_upvalueindex(2));
    const char *fn = is_log ? "log_softmax" : "softmax";
    lt_tensor *x = check_f32(L, 1, fn, "x");
    const int d = check_softmax_dim(L, 2, x, fn);
    int64_t outer, D, inner;
    outer_d_inner(x, d, &outer, &D, &inner);
    const float *xd = cdata(L, 1, x, fn, "x");
    lt_tensor *y = new_like_shape(L, x, LT_FLOAT32, fn);
    lt_lua_check(L, (naive ? lt_softmax_forward_naive(lt_f32(y), xd, outer, D, inner, is_log)
                           : lt_softmax_forward(ctx, lt_f32(y), xd, outer, D, inner, is_log)), fn);
    return 1;
}

/* softmax_backward(gy, y, dim) / log_softmax_backward(gy, y, dim) -> gx */
static int l_softmax_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const int naive = is_naive(L), is_log = lua_toboolean(L, lua_upvalueindex(2));
    const char *fn = is_log ? "log_softmax_backward" : "softmax_backward";
    lt_tensor *gy = check_f32(L, 1, fn, "grad");
    lt_tensor *y = check_f32(L, 2, fn, "y");
    check_same_shape(L, gy, y, fn, "grad", "y");
    const int d = check_softmax_dim(L, 3, y, fn);
    int64_t outer, D, inner;
    outer_d_inner(y, d, &outer, &D, &inner);
    const float *gd = cdata(L, 1, gy, fn, "grad");
    const float *yd = cdata(L, 2, y, fn, "y");
    lt_tensor *gx = new_like_shape(L, y, LT_FLOAT32, fn);
    lt_lua_check(L, (naive ? lt_softmax_backward_naive(lt_f32(gx), gd, yd, outer, D, inner, is_log)
                           : lt_softmax_backward(ctx, lt_f32(gx), gd, yd, outer, D, inner, is_log)), fn);
    return 1;
}

/* labels(logits) -> int32 (N, ...): argmax over dim 2, 0-based class ids. */
static int l_labels(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "labels";
    const int naive = is_naive(L);
    lt_tensor *x = check_f32(L, 1, fn, "logits");
    int64_t N, C, S;
    check_nc(L, x, fn, "logits", &N, &C, &S);
    char sb[SHAPE_BUF];
    if (C < 1)   /* an argmax over nothing (PyTorch: "Expected reduction dim 2 to have non-zero size") */
        lt_lua_error(L, "%s: logits have no classes (logits %s)", fn, lt_shape_str(x, sb, sizeof sb));
    if (C > INT32_MAX)
        lt_lua_error(L, "%s: logits have %I classes, more than int32 class ids can hold (logits %s)",
                     fn, (lua_Integer)C, lt_shape_str(x, sb, sizeof sb));
    int64_t size[LT_MAXDIM];
    size[0] = N;
    for (int k = 2; k < x->ndim; k++) size[k - 1] = x->size[k];
    const float *xd = cdata(L, 1, x, fn, "logits");
    lt_tensor *lab = lt_lua_newtensor(L, LT_INT32, x->ndim - 1, size, fn);
    lt_lua_check(L, (naive ? lt_labels_forward_naive(lt_i32(lab), xd, N, C, S)
                           : lt_labels_forward(ctx, lt_i32(lab), xd, N, C, S)),
                 fn);
    return 1;
}

/* ------------------------------------------------------------------ registration */

static void reg(lua_State *L, const char *name, lua_CFunction f, int naive) {
    lua_pushboolean(L, naive);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, name);
}

static void reg_pair(lua_State *L, const char *name, lua_CFunction f) {
    char buf[64];
    reg(L, name, f, 0);
    snprintf(buf, sizeof buf, "%s_naive", name);
    reg(L, buf, f, 1);
}

static void reg_softmax(lua_State *L, const char *name, lua_CFunction f, int naive, int is_log) {
    lua_pushboolean(L, naive);
    lua_pushboolean(L, is_log);
    lua_pushcclosure(L, f, 2);
    lua_setfield(L, -2, name);
}

static void reg_act(lua_State *L, lt_act act) {
    char buf[64];
    lua_pushinteger(L, act);
    lua_pushcclosure(L, l_act_forward, 1);
    snprintf(buf, sizeof buf, "%s_forward", act_name(act));
    lua_setfield(L, -2, buf);
    lua_pushinteger(L, act);
    lua_pushcclosure(L, l_act_backward, 1);
    snprintf(buf, sizeof buf, "%s_backward", act_name(act));
    lua_setfield(L, -2, buf);
}

void lt_open_nn_norm(lua_State *L) {
    reg_pair(L, "batch_norm_forward", l_batch_norm_forward);
    reg_pair(L, "batch_norm_backward", l_batch_norm_backward);
    reg_pair(L, "batch_norm_relu_forward", l_batch_norm_relu_forward);
    reg_pair(L, "batch_norm_relu_backward", l_batch_norm_relu_backward);
    reg_pair(L, "group_norm_forward", l_group_norm_forward);
    reg_pair(L, "group_norm_backward", l_group_norm_backward);
    reg(L, "dropout_forward", l_dropout_forward, 0);
    reg(L, "dropout2d_forward", l_dropout2d_forward, 0);
    reg(L, "dropout_backward", l_dropout_backward, 0);
    reg_act(L, LT_ACT_RELU);
    reg_act(L, LT_ACT_LEAKY_RELU);
    reg_act(L, LT_ACT_SIGMOID);
    reg_act(L, LT_ACT_TANH);
    reg_softmax(L, "softmax_forward", l_softmax_forward, 0, 0);
    reg_softmax(L, "softmax_forward_naive", l_softmax_forward, 1, 0);
    reg_softmax(L, "log_softmax_forward", l_softmax_forward, 0, 1);
    reg_softmax(L, "log_softmax_forward_naive", l_softmax_forward, 1, 1);
    reg_softmax(L, "softmax_backward", l_softmax_backward, 0, 0);
    reg_softmax(L, "softmax_backward_naive", l_softmax_backward, 1, 0);
    reg_softmax(L, "log_softmax_backward", l_softmax_backward, 0, 1);
    reg_softmax(L, "log_softmax_backward_naive", l_softmax_backward, 1, 1);
    reg_pair(L, "labels", l_labels);
}
