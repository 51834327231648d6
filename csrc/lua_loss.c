/* lua_loss.c: Lua binding for the loss kernels of lt_loss.c (raw functions in core.nn, no
 * autograd: lua/lunet/nn/functional/loss.lua records the graph). Every function takes an
 * optional opts.fn naming the public function in error messages; each checks the keys of
 * its option table (lt_opt_check). */
#include <string.h>

#include "lt_lua.h"
#include "lt_lua.h"
#include "lt_loss.h"

/* The option keys of each function (lt_opt_check raises on any other). */
static const char *const ce_keys[] = {"fn", "weight", "ignore_index", "label_smoothing",
                                      "reduction", "naive", NULL};
/* the forward also takes grad (return the gradient for gout = 1 as well) */
static const char *const ce_fwd_keys[] = {"fn", "weight", "ignore_index", "label_smoothing",
                                          "reduction", "naive", "grad", NULL};
static const char *const fn_keys[] = {"fn", NULL};
static const char *const one_hot_keys[] = {"fn", "ignore_index", NULL};
static const char *const lovasz_keys[] = {"fn", "ignore_index", "per_image", NULL};

/* opts.fn (the public name for messages) or def; then checks the option keys. */
static const char *opt_fn(lua_State *L, int optidx, const char *def, const char *const *keys) {
    const char *fn = def;
    if (lua_type(L, optidx) == LUA_TTABLE) {
        lua_getfield(L, optidx, "fn");
        if (lua_type(L, -1) == LUA_TSTRING) fn = lua_tostring(L, -1);
        lua_pop(L, 1);   /* the string stays alive: it is referenced by the opts table */
    }
    lt_opt_check(L, optidx, fn, keys);
    return fn;
}

/* opts.ignore_index: returns 1 and sets *v when present (an integer). */
static int opt_ignore(lua_State *L, int optidx, int64_t *v, const char *fn) {
    *v = 0;
    if (!lt_opt_get(L, optidx, "ignore_index", fn)) return 0;
    int isint = 0;
    lua_Integer i = lua_tointegerx(L, -1, &isint);
    if (!isint)
        lt_lua_error(L, "%s: ignore_index must be an integer, got %s", fn,
                     luaL_tolstring(L, -1, NULL));
    *v = (int64_t)i;
    lua_pop(L, 1);
    return 1;
}

static lt_loss_reduction opt_reduction(lua_State *L, int optidx, const char *fn) {
    lt_loss_reduction r = LT_LOSS_MEAN;
    if (!lt_opt_get(L, optidx, "reduction", fn)) return r;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s && strcmp(s, "mean") == 0) r = LT_LOSS_MEAN;
    else if (s && strcmp(s, "sum") == 0) r = LT_LOSS_SUM;
    else if (s && strcmp(s, "none") == 0) r = LT_LOSS_NONE;
    else lt_lua_error(L, "%s: reduction must be \"mean\", \"sum\" or \"none\", got %s%s%s", fn,
                      s ? "\"" : "", s ? s : luaL_typename(L, -1), s ? "\"" : "");
    lua_pop(L, 1);
    return r;
}

/* Checks target (int32) against logits (N, C, d...): target shape must be (N, d...). */
static void check_target(lua_State *L, const lt_tensor *x, const lt_tensor *y, const char *fn) {
    char bx[128], by[128];
    if (y->dtype != LT_INT32)
        lt_lua_error(L, "%s: target must hold int32 class ids, got %s (target %s)", fn,
                   lt_dtype_name(y->dtype), lt_shape_str(y, by, sizeof by));
    int ok = y->ndim == x->ndim - 1 && y->size[0] == x->size[0];
    for (int d = 1; ok && d < y->ndim; d++) ok = y->size[d] == x->size[d + 1];
    if (!ok)
        lt_lua_error(L, "%s: target %s does not match logits %s (expected N x d1 x ... without the class dimension)",
                   fn, lt_shape_str(y, by, sizeof by), lt_shape_str(x, bx, sizeof bx));
}

static void check_labels(lua_State *L, const int32_t *y, int64_t n, int64_t C, int64_t ign,
                         int has_ign, const char *fn) {
    int64_t bad = lt_loss_find_bad_label(y, n, C, ign, has_ign);
    if (bad < 0) return;
    if (has_ign)
        lt_lua_error(L, "%s: target holds class id %d at element %I, outside 0..%I and not ignore_index (%I)",
                   fn, (int)y[bad], (lua_Integer)bad + 1, (lua_Integer)C - 1, (lua_Integer)ign);
    lt_lua_error(L, "%s: target holds class id %d at element %I, outside 0..%I (no ignore_index set)",
               fn, (int)y[bad], (lua_Integer)bad + 1, (lua_Integer)C - 1);
}

static void nc_s(const lt_tensor *x, int64_t *N, int64_t *C, int64_t *S) {
    *N = x->size[0];
    *C = x->size[1];
    *S = 1;
    for (int d = 2; d < x->ndim; d++) *S *= x->size[d];
}

static lt_tensor *check_logits(lua_State *L, int idx, const char *fn) {
    lt_tensor *x = lt_lua_checktensor(L, idx, fn, "logits");
    char b[128];
    if (x->dtype != LT_FLOAT32)
        lt_lua_error(L, "%s: logits must be float32, got %s", fn, lt_dtype_name(x->dtype));
    if (x->ndim < 2)
        lt_lua_error(L, "%s: logits must be N x C x ..., got %s", fn, lt_shape_str(x, b, sizeof b));
    if (x->size[1] < 1)
        lt_lua_error(L, "%s: logits have no classes (logits %s)", fn, lt_shape_str(x, b, sizeof b));
    return x;
}

/* Reads cross-entropy options; returns the weight tensor's index on the stack or 0. */
static int ce_opts(lua_State *L, int optidx, int64_t C, lt_ce_opts *o, const char *fn) {
    o->has_ignore = opt_ignore(L, optidx, &o->ignore_index, fn);
    o->reduction = opt_reduction(L, optidx, fn);
    double eps = lt_opt_real(L, optidx, "label_smoothing", 0.0, LT_REAL_UNIT, fn);
    o->label_smoothing = (float)eps;
    if (!lt_opt_get(L, optidx, "weight", fn)) return 0;
    int widx = lua_gettop(L);
    lt_tensor *w = lt_lua_totensor(L, widx);
    char b[128];
    if (!w) lt_lua_error(L, "%s: weight must be a float32 tensor of C values, got %s", fn, luaL_typename(L, widx));
    if (w->dtype != LT_FLOAT32 || w->ndim != 1 || w->size[0] != C)
        lt_lua_error(L, "%s: weight must be a float32 tensor of C = %I values, got %s %s", fn,
                   (lua_Integer)C, lt_dtype_name(w->dtype), lt_shape_str(w, b, sizeof b));
    int pushed;
    lt_lua_contiguous(L, widx, fn, "weight", &pushed);
    return pushed ? lua_gettop(L) : widx;
}

/* cross_entropy_forward(logits, target, opts) -> loss (scalar or per pixel N x d...);
 * opts.grad = true (reduction mean or sum): -> loss, dlogits for gout = 1, both from one
 * pass over the logits (lt_cross_entropy_forward_grad; naive: the two naive kernels). */
static int l_ce_forward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = opt_fn(L, 3, "cross_entropy", ce_fwd_keys);
    lt_tensor *x = check_logits(L, 1, fn);
    lt_tensor *y = lt_lua_checktensor(L, 2, fn, "target");
    check_target(L, x, y, fn);
    int64_t N, C, S;
    nc_s(x, &N, &C, &S);
    lt_ce_opts o;
    int widx = ce_opts(L, 3, C, &o, fn);
    int naive = lt_opt_bool(L, 3, "naive", 0, fn);
    int px, py;
    lt_tensor *xc = lt_lua_contiguous(L, 1, fn, "logits", &px);
    lt_tensor *yc = lt_lua_contiguous(L, 2, fn, "target", &py);
    check_labels(L, lt_i32(yc), N * S, C, o.ignore_index, o.has_ignore, fn);
    const float *w = widx ? lt_f32(lt_lua_totensor(L, widx)) : NULL;
    if (lt_opt_bool(L, 3, "grad", 0, fn)) {
        if (o.reduction == LT_LOSS_NONE)
            lt_lua_error(L, "%s: grad = true needs reduction 'mean' or 'sum', got 'none'", fn);
        lt_tensor *out = lt_lua_newtensor(L, LT_FLOAT32, 0, NULL, fn);
        /* the fused kernel writes every element; the naive backward adds into zeros */
        lt_tensor *dx = naive ? lt_lua_newtensor(L, LT_FLOAT32, x->ndim, x->size, fn)
                              : lt_lua_newtensor_uninit(L, LT_FLOAT32, x->ndim, x->size, fn);
        const float one = 1.0f;
        lt_status st = naive ? lt_cross_entropy_forward_naive(lt_f32(out), lt_f32(xc), lt_i32(yc), w, N, C, S, &o)
                             : lt_cross_entropy_forward_grad(ctx, lt_f32(out), lt_f32(dx), lt_f32(xc), lt_i32(yc), w, N, C, S, &o);
        if (st == LT_OK && naive)
            st = lt_cross_entropy_backward_naive(lt_f32(dx), &one, lt_f32(xc), lt_i32(yc), w, N, C, S, &o);
        lt_lua_check(L, st, fn);
        return 2;
    }
    lt_tensor *out = o.reduction == LT_LOSS_NONE ? lt_lua_newtensor(L, LT_FLOAT32, y->ndim, y->size, fn)
                                                 : lt_lua_newtensor(L, LT_FLOAT32, 0, NULL, fn);
    lt_status st = (naive ? lt_cross_entropy_forward_naive(lt_f32(out), lt_f32(xc), lt_i32(yc), w, N, C, S, &o)
                          : lt_cross_entropy_forward(ctx, lt_f32(out), lt_f32(xc), lt_i32(yc), w, N, C, S, &o));
    lt_lua_check(L, st, fn);
    return 1;
}

/* cross_entropy_backward(gout, logits, target, opts) -> dlogits */
static int l_ce_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = opt_fn(L, 4, "cross_entropy_backward", ce_keys);
    lt_tensor *x = check_logits(L, 2, fn);
    lt_tensor *y = lt_lua_checktensor(L, 3, fn, "target");
    check_target(L, x, y, fn);
    int64_t N, C, S;
    nc_s(x, &N, &C, &S);
    lt_ce_opts o;
    int widx = ce_opts(L, 4, C, &o, fn);
    int naive = lt_opt_bool(L, 4, "naive", 0, fn);
    lt_tensor *g = lt_lua_checkdtype(L, 1, fn, "gout", LT_FLOAT32);
    const int64_t gn = o.reduction == LT_LOSS_NONE ? N * S : 1;
    if (lt_numel(g) != gn)
        lt_lua_error(L, "%s: gout has %I elements, expected %I", fn, (lua_Integer)lt_numel(g),
                   (lua_Integer)gn);
    int p1, p2, p3;
    lt_tensor *gc = lt_lua_contiguous(L, 1, fn, "gout", &p1);
    lt_tensor *xc = lt_lua_contiguous(L, 2, fn, "logits", &p2);
    lt_tensor *yc = lt_lua_contiguous(L, 3, fn, "target", &p3);
    check_labels(L, lt_i32(yc), N * S, C, o.ignore_index, o.has_ignore, fn);
    const float *w = widx ? lt_f32(lt_lua_totensor(L, widx)) : NULL;
    lt_tensor *dx = lt_lua_newtensor(L, LT_FLOAT32, x->ndim, x->size, fn);
    lt_status st = (naive ? lt_cross_entropy_backward_naive(lt_f32(dx), lt_f32(gc), lt_f32(xc), lt_i32(yc), w, N, C, S, &o)
                          : lt_cross_entropy_backward(ctx, lt_f32(dx), lt_f32(gc), lt_f32(xc), lt_i32(yc), w, N, C, S, &o));
    lt_lua_check(L, st, fn);
    return 1;
}

/* An optional float32 tensor argument with exactly n elements, made contiguous. */
static const float *opt_same(lua_State *L, int idx, int64_t n, const char *fn, const char *arg) {
    if (lua_isnoneornil(L, idx)) return NULL;
    lt_tensor *t = lt_lua_checkdtype(L, idx, fn, arg, LT_FLOAT32);
    if (lt_numel(t) != n)
        lt_lua_error(L, "%s: %s has %I elements, expected %I", fn, arg, (lua_Integer)lt_numel(t),
                   (lua_Integer)n);
    int pushed;
    return lt_f32(lt_lua_contiguous(L, idx, fn, arg, &pushed));
}

/* bce_with_logits_forward(x, target, pos_weight|nil, weight|nil, opts) -> per-element loss;
 * pos_weight and weight already broadcast to x's shape. */
static int l_bce_forward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = opt_fn(L, 5, "binary_cross_entropy_with_logits", fn_keys);
    lt_tensor *x = lt_lua_checkdtype(L, 1, fn, "logits", LT_FLOAT32);
    lt_tensor *t = lt_lua_checkdtype(L, 2, fn, "target", LT_FLOAT32);
    const int64_t n = lt_numel(x);
    if (lt_numel(t) != n) {
        char b1[128], b2[128];
        lt_lua_error(L, "%s: target %s does not match logits %s", fn, lt_shape_str(t, b1, sizeof b1),
                   lt_shape_str(x, b2, sizeof b2));
    }
    const float *pw = opt_same(L, 3, n, fn, "pos_weight");
    const float *w = opt_same(L, 4, n, fn, "weight");
    int p1, p2;
    lt_tensor *xc = lt_lua_contiguous(L, 1, fn, "logits", &p1);
    lt_tensor *tc = lt_lua_contiguous(L, 2, fn, "target", &p2);
    lt_tensor *out = lt_lua_newtensor(L, LT_FLOAT32, x->ndim, x->size, fn);
    lt_lua_check(L, lt_bce_logits_forward(ctx, lt_f32(out), lt_f32(xc), lt_f32(tc), pw, w, n), fn);
    return 1;
}

/* bce_with_logits_backward(gout, x, target, pos_weight|nil, weight|nil) -> dx */
static int l_bce_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "binary_cross_entropy_with_logits_backward";
    lt_tensor *x = lt_lua_checkdtype(L, 2, fn, "logits", LT_FLOAT32);
    const int64_t n = lt_numel(x);
    const float *g = opt_same(L, 1, n, fn, "gout");
    const float *t = opt_same(L, 3, n, fn, "target");
    const float *pw = opt_same(L, 4, n, fn, "pos_weight");
    const float *w = opt_same(L, 5, n, fn, "weight");
    if (!g || !t) lt_lua_error(L, "%s: gout and target are required", fn);
    int p1;
    lt_tensor *xc = lt_lua_contiguous(L, 2, fn, "logits", &p1);
    lt_tensor *dx = lt_lua_newtensor(L, LT_FLOAT32, x->ndim, x->size, fn);
    lt_lua_check(L, lt_bce_logits_backward(ctx, lt_f32(dx), g, lt_f32(xc), t, pw, w, n), fn);
    return 1;
}

/* loss_log_softmax_forward(x) -> log-softmax over dim 2 (1-based) */
static int l_lsm_forward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "log_softmax";
    lt_tensor *x = check_logits(L, 1, fn);
    int64_t N, C, S;
    nc_s(x, &N, &C, &S);
    int p;
    lt_tensor *xc = lt_lua_contiguous(L, 1, fn, "x", &p);
    lt_tensor *out = lt_lua_newtensor(L, LT_FLOAT32, x->ndim, x->size, fn);
    lt_lua_check(L, lt_loss_log_softmax_forward(ctx, lt_f32(out), lt_f32(xc), N, C, S), fn);
    return 1;
}

/* loss_log_softmax_backward(gout, out) -> dx */
static int l_lsm_backward(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    const char *fn = "log_softmax_backward";
    lt_tensor *o = check_logits(L, 2, fn);
    int64_t N, C, S;
    nc_s(o, &N, &C, &S);
    const float *g = opt_same(L, 1, lt_numel(o), fn, "gout");
    if (!g) lt_lua_error(L, "%s: gout is required", fn);
    int p;
    lt_tensor *oc = lt_lua_contiguous(L, 2, fn, "out", &p);
    lt_tensor *dx = lt_lua_newtensor(L, LT_FLOAT32, o->ndim, o->size, fn);
    lt_lua_check(L, lt_loss_log_softmax_backward(ctx, lt_f32(dx), g, lt_f32(oc), N, C, S), fn);
    return 1;
}

/* one_hot(target (N, d...) int32, C, opts{ignore_index, fn}) -> onehot (N, C, d...) float32,
 * valid (N, d...) float32 */
static int l_one_hot(lua_State *L) {
    const char *fn = opt_fn(L, 3, "one_hot", one_hot_keys);
    lt_tensor *y = lt_lua_checktensor(L, 1, fn, "target");
    int isint = 0;
    lua_Integer C = lua_tointegerx(L, 2, &isint);
    char b[128];
    if (!isint)
        lt_lua_error(L, "%s: the class count must be an integer, got %s", fn,
                     luaL_tolstring(L, 2, NULL));
    if (y->dtype != LT_INT32)
        lt_lua_error(L, "%s: target must hold int32 class ids, got %s (target %s)", fn,
                   lt_dtype_name(y->dtype), lt_shape_str(y, b, sizeof b));
    if (y->ndim < 1 || y->ndim >= LT_MAXDIM)
        lt_lua_error(L, "%s: target must have 1 to %d dims (N, ...), got %s", fn, LT_MAXDIM - 1,
                     lt_shape_str(y, b, sizeof b));
    if (C < 1)
        lt_lua_error(L, "%s: the class count must be positive, got %I (target %s)", fn, C,
                     lt_shape_str(y, b, sizeof b));
    int64_t ign;
    int has_ign = opt_ignore(L, 3, &ign, fn);
    int p;
    lt_tensor *yc = lt_lua_contiguous(L, 1, fn, "target", &p);
    const int64_t N = y->size[0], S = N ? lt_numel(y) / N : 0;
    check_labels(L, lt_i32(yc), N * S, C, ign, has_ign, fn);
    int64_t sz[LT_MAXDIM];
    sz[0] = N;
    sz[1] = C;
    for (int d = 1; d < y->ndim; d++) sz[d + 1] = y->size[d];
    lt_tensor *oh = lt_lua_newtensor(L, LT_FLOAT32, y->ndim + 1, sz, fn);
    lt_tensor *valid = lt_lua_newtensor(L, LT_FLOAT32, y->ndim, y->size, fn);
    lt_lua_check(L, lt_one_hot(lt_f32(oh), lt_f32(valid), lt_i32(yc), N, C, S, ign, has_ign), fn);
    return 2;
}

/* lovasz_softmax_weights(err (N, C, d...), target (N, d...), opts{ignore_index, per_image}) -> G */
static int l_lovasz_softmax(lua_State *L) {
    const char *fn = opt_fn(L, 3, "lovasz_softmax", lovasz_keys);
    lt_tensor *e = check_logits(L, 1, fn);
    lt_tensor *y = lt_lua_checktensor(L, 2, fn, "target");
    check_target(L, e, y, fn);
    int64_t N, C, S, ign;
    nc_s(e, &N, &C, &S);
    int has_ign = opt_ignore(L, 3, &ign, fn);
    int per_image = lt_opt_bool(L, 3, "per_image", 0, fn);
    int p1, p2;
    lt_tensor *ec = lt_lua_contiguous(L, 1, fn, "errors", &p1);
    lt_tensor *yc = lt_lua_contiguous(L, 2, fn, "target", &p2);
    check_labels(L, lt_i32(yc), N * S, C, ign, has_ign, fn);
    lt_tensor *G = lt_lua_newtensor(L, LT_FLOAT32, e->ndim, e->size, fn);
    lt_lua_check(L, lt_lovasz_softmax_weights(lt_f32(G), lt_f32(ec), lt_i32(yc), N, C, S, ign,
                                              has_ign, per_image), fn);
    return 1;
}

/* lovasz_hinge_weights(err (N, ...), labels (N, ...) float32, opts{ignore_index, per_image}) -> G */
static int l_lovasz_hinge(lua_State *L) {
    const char *fn = opt_fn(L, 3, "lovasz_hinge", lovasz_keys);
    lt_tensor *e = lt_lua_checkdtype(L, 1, fn, "errors", LT_FLOAT32);
    lt_tensor *t = lt_lua_checkdtype(L, 2, fn, "target", LT_FLOAT32);
    char b1[128], b2[128];
    if (e->ndim < 1 || lt_numel(t) != lt_numel(e))
        lt_lua_error(L, "%s: target %s does not match logits %s", fn, lt_shape_str(t, b1, sizeof b1),
                   lt_shape_str(e, b2, sizeof b2));
    int64_t ign;
    int has_ign = opt_ignore(L, 3, &ign, fn);
    int per_image = lt_opt_bool(L, 3, "per_image", 0, fn);
    const int64_t N = e->size[0], S = N ? lt_numel(e) / N : 0;
    int p1, p2;
    lt_tensor *ec = lt_lua_contiguous(L, 1, fn, "errors", &p1);
    lt_tensor *tc = lt_lua_contiguous(L, 2, fn, "target", &p2);
    lt_tensor *G = lt_lua_newtensor(L, LT_FLOAT32, e->ndim, e->size, fn);
    lt_lua_check(L, lt_lovasz_hinge_weights(lt_f32(G), lt_f32(ec), lt_f32(tc), N, S, (float)ign,
                                            has_ign, per_image), fn);
    return 1;
}

void lt_open_nn_loss(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"cross_entropy_forward", l_ce_forward},
        {"cross_entropy_backward", l_ce_backward},
        {"bce_with_logits_forward", l_bce_forward},
        {"bce_with_logits_backward", l_bce_backward},
        {"loss_log_softmax_forward", l_lsm_forward},
        {"loss_log_softmax_backward", l_lsm_backward},
        {"loss_one_hot", l_one_hot},
        {"lovasz_softmax_weights", l_lovasz_softmax},
        {"lovasz_hinge_weights", l_lovasz_hinge},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
}
