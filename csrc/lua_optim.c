/* lua_optim.c: core.nn.adam_step, the fused multi-tensor Adam / AdamW update of
 * csrc/lt_optim.c (lunet.optim's Adam and AdamW call it once per parameter group; their Lua
 * update is the reference). Raw function, no autograd.
 *
 *   adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, opts) -> n
 *
 * params ... max_exp_avg_sqs: lists of n contiguous float32 tensors (max_exp_avg_sqs nil
 * unless opts.amsgrad), element k of each list with the same element count; steps: n step
 * counts (>= 1, after this update). opts: lr, beta1, beta2, eps, weight_decay (numbers),
 * amsgrad, maximize, decoupled (booleans), naive (the plain-loop twin). Every list and
 * tensor is checked before any parameter is updated. Returns n, the parameters updated. */
#include "lt_lua.h"
#include "lt_optim.h"

#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#define SHAPE_BUF 96

static const char *const adam_keys[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad",
                                        "maximize", "decoupled", "naive", NULL};

static const char *const list_names[] = {"params", "grads", "exp_avgs", "exp_avg_sqs",
                                         "max_exp_avg_sqs"};

/* Element k (1-based) of the list at idx: a contiguous float32 tensor with n elements
 * (n < 0: any count, returned through *n). Leaves nothing on the stack. */
static float *list_tensor(lua_State *L, int idx, int which, lua_Integer k, int64_t *n) {
    const char *fn = "adam_step";
    char sb[SHAPE_BUF];
    lua_geti(L, idx, k);
    lt_tensor *t = lt_lua_totensor(L, -1);
    if (!t)
        lt_lua_error(L, "%s: %s[%I] must be a tensor, got %s", fn, list_names[which], k,
                     luaL_typename(L, -1));
    if (t->dtype != LT_FLOAT32 || !lt_is_contiguous(t))
        lt_lua_error(L, "%s: %s[%I] must be a contiguous float32 tensor, got %s %s%s", fn,
                     list_names[which], k, lt_dtype_name(t->dtype), lt_shape_str(t, sb, sizeof sb),
                     lt_is_contiguous(t) ? "" : " (not contiguous)");
    const int64_t m = lt_numel(t);
    if (*n >= 0 && m != *n)
        lt_lua_error(L, "%s: %s[%I] has %I elements, params[%I] has %I", fn, list_names[which], k,
                     (lua_Integer)m, k, (lua_Integer)*n);
    *n = m;
    float *d = lt_f32(t);
    if (!d && m > 0)
        lt_lua_error(L, "%s: %s[%I] was released with free()", fn, list_names[which], k);
    lua_pop(L, 1);   /* the tensor stays referenced by the list */
    return d;
}

static lua_Integer list_len(lua_State *L, int idx, int which) {
    if (lua_type(L, idx) != LUA_TTABLE)
        lt_lua_error(L, "adam_step: %s must be a list of tensors, got %s", list_names[which],
                     luaL_typename(L, idx));
    return (lua_Integer)lua_rawlen(L, idx);
}

static int l_adam_step(lua_State *L) {
    const char *fn = "adam_step";
    lt_context *ctx = lt_lua_ctx(L);
    lt_opt_check(L, 7, fn, adam_keys);
    lt_adam_params o;
    o.lr = lt_opt_num(L, 7, "lr", 1e-3, fn);
    o.beta1 = lt_opt_num(L, 7, "beta1", 0.9, fn);
    o.beta2 = lt_opt_num(L, 7, "beta2", 0.999, fn);
    o.eps = lt_opt_num(L, 7, "eps", 1e-8, fn);
    o.weight_decay = lt_opt_num(L, 7, "weight_decay", 0.0, fn);
    o.amsgrad = lt_opt_bool(L, 7, "amsgrad", 0, fn);
    o.maximize = lt_opt_bool(L, 7, "maximize", 0, fn);
    o.decoupled = lt_opt_bool(L, 7, "decoupled", 0, fn);
    const int naive = lt_opt_bool(L, 7, "naive", 0, fn);
    const lua_Integer n = list_len(L, 1, 0);
    for (int w = 1; w < 4; w++)
        if (list_len(L, 1 + w, w) != n)
            lt_lua_error(L, "%s: %s has %I entries, params has %I", fn, list_names[w],
                         (lua_Integer)lua_rawlen(L, 1 + w), n);
    if (o.amsgrad) {
        if (list_len(L, 5, 4) != n)
            lt_lua_error(L, "%s: max_exp_avg_sqs has %I entries, params has %I", fn,
                         (lua_Integer)lua_rawlen(L, 5), n);
    } else if (!lua_isnoneornil(L, 5)) {
        lt_lua_error(L, "%s: max_exp_avg_sqs must be nil unless amsgrad", fn);
    }
    if (lua_type(L, 6) != LUA_TTABLE || (lua_Integer)lua_rawlen(L, 6) != n)
        lt_lua_error(L, "%s: steps must be a list of %I step counts", fn, n);
    /* check everything first: an error leaves every parameter as it was. The entries go
     * to a userdata (collected with the stack), then one multi-tensor update runs (the
     * tensors stay referenced by the argument lists meanwhile). */
    size_t bytes;
    if (n > (lua_Integer)(SIZE_MAX / sizeof(lt_adam_tensor)))
        lt_lua_error(L, "%s: %I parameters are too many", fn, n);
    bytes = (size_t)n * sizeof(lt_adam_tensor);
    lt_adam_tensor *ts = lua_newuserdatauv(L, bytes > 0 ? bytes : 1, 0);
    for (lua_Integer k = 1; k <= n; k++) {
        int64_t len = -1;
        lt_adam_tensor *e = &ts[k - 1];
        e->p = list_tensor(L, 1, 0, k, &len);
        e->g = list_tensor(L, 2, 1, k, &len);
        e->m = list_tensor(L, 3, 2, k, &len);
        e->v = list_tensor(L, 4, 3, k, &len);
        e->vmax = o.amsgrad ? list_tensor(L, 5, 4, k, &len) : NULL;
        e->n = len;
        lua_geti(L, 6, k);
        int isint = 0;
        const lua_Integer step = lua_tointegerx(L, -1, &isint);
        lua_pop(L, 1);
        if (!isint || step < 1) lt_lua_error(L, "%s: steps[%I] must be an integer >= 1", fn, k);
        e->step = (int64_t)step;
    }
    /* a parameter listed twice is updated twice in order, as one call per entry would:
     * the one region would update it from two threads at once */
    int repeated = 0;
    lua_createtable(L, 0, (int)(n < 1024 ? n : 1024));
    for (lua_Integer k = 0; k < n && !repeated; k++) {
        if (!ts[k].p) continue;
        lua_pushlightuserdata(L, ts[k].p);
        if (lua_rawget(L, -2) != LUA_TNIL) repeated = 1;
        lua_pop(L, 1);
        lua_pushlightuserdata(L, ts[k].p);
        lua_pushboolean(L, 1);
        lua_rawset(L, -3);
    }
    lua_pop(L, 1);
    if (naive || repeated) {
        for (lua_Integer k = 0; k < n; k++)
            lt_lua_check(L, naive ? lt_adam_update_naive(ts[k].p, ts[k].g, ts[k].m, ts[k].v, ts[k].vmax,
                                                         ts[k].n, ts[k].step, &o)
                                  : lt_adam_update(ctx, ts[k].p, ts[k].g, ts[k].m, ts[k].v,
                                                   ts[k].vmax, ts[k].n, ts[k].step, &o), fn);
    } else {
        lt_lua_check(L, lt_adam_update_multi(ctx, ts, (int64_t)n, &o), fn);
    }
    lua_pushinteger(L, n);
    return 1;
}

void lt_open_nn_optim(lua_State *L) {
    lua_pushcfunction(L, l_adam_step);
    lua_setfield(L, -2, "adam_step");
}
