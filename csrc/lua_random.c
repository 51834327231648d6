/* lua_random.c: lunet.Generator userdata (xoshiro256**), the default generator behind
 * lunet.manual_seed, and the random tensor constructors rand/randn/randint/randperm. */
#include "lt_lua.h"

#include <string.h>

static const char *const DEFAULT_KEY = "lunet.default_generator";

static lt_rng *push_generator(lua_State *L, uint64_t seed) {
    lt_rng *g = (lt_rng *)lua_newuserdatauv(L, sizeof(lt_rng), 0);
    lt_rng_seed(g, seed);
    luaL_setmetatable(L, LT_GENERATOR_MT);
    return g;
}

lt_rng *lt_lua_default_rng(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    lt_rng *g = (lt_rng *)luaL_testudata(L, -1, LT_GENERATOR_MT);
    lua_pop(L, 1); /* the registry keeps it alive */
    return g;
}

lt_rng *lt_lua_optrng(lua_State *L, int optidx, const char *fn) {
    if (lua_istable(L, optidx)) {
        lua_getfield(L, optidx, "generator");
        if (!lua_isnil(L, -1)) {
            lt_rng *g = (lt_rng *)luaL_testudata(L, -1, LT_GENERATOR_MT);
            if (!g) lt_lua_error(L, "%s: option generator must be a lunet.Generator, got %s", fn, luaL_typename(L, -1));
            lua_pop(L, 1); /* the options table keeps it alive for this call */
            return g;
        }
        lua_pop(L, 1);
    }
    return lt_lua_default_rng(L);
}

static lua_Integer check_int_arg(lua_State *L, int idx, const char *fn, const char *what);

/* Seeds are any int64 (taken as their 64-bit pattern). */
static int f_manual_seed(lua_State *L) {
    lua_Integer seed = check_int_arg(L, 1, "manual_seed", "seed");
    lt_rng_seed(lt_lua_default_rng(L), (uint64_t)seed);
    return 0;
}

static int f_generator(lua_State *L) {
    push_generator(L, lua_isnoneornil(L, 1) ? 0 : (uint64_t)check_int_arg(L, 1, "Generator", "seed"));
    return 1;
}

/* Shared by module functions (generator from opts) and generator methods (self). The
 * shape starts at argument `first`. */
typedef enum { R_UNIFORM, R_NORMAL } rkind;

static const char *const rand_opts[] = {"dtype", "generator", NULL};
static const char *const gen_opts[] = {"generator", NULL};

/* The option table at optidx: known keys checked, dtype (default def) returned. */
static lt_dtype rand_dtype(lua_State *L, int optidx, lt_dtype def, const char *fn) {
    lt_opt_check(L, optidx, fn, rand_opts);
    if (!lt_opt_get(L, optidx, "dtype", fn)) return def;
    lt_dtype dt = lt_lua_checkdtypename(L, lua_gettop(L), fn);
    lua_pop(L, 1);
    return dt;
}

/* An integer argument, or "fn: what must be an integer, got 2.5". */
static lua_Integer check_int_arg(lua_State *L, int idx, const char *fn, const char *what) {
    int isint;
    lua_Integer v = lua_tointegerx(L, idx, &isint);
    if (!isint || lua_type(L, idx) != LUA_TNUMBER) {
        if (lua_type(L, idx) == LUA_TNUMBER) {
            lua_pushfstring(L, "%f", lua_tonumber(L, idx));
            lt_lua_error(L, "%s: %s must be an integer, got %s", fn, what, lua_tostring(L, -1));
        }
        lt_lua_error(L, "%s: %s must be an integer, got %s", fn, what, luaL_typename(L, idx));
    }
    return v;
}

static int make_random(lua_State *L, lt_rng *g, int first, rkind kind, const char *fn) {
    int64_t size[LT_MAXDIM];
    int ndim = lt_lua_checkshape(L, first, size, fn);
    int optidx = lua_type(L, first) == LUA_TTABLE ? first + 1 : first + ndim;
    if (rand_dtype(L, optidx, LT_FLOAT32, fn) != LT_FLOAT32)
        return lt_lua_error(L, "%s: only dtype float32 is supported (use randint for integers)", fn);
    if (!g) g = lt_lua_optrng(L, optidx, fn);
    lt_tensor *t = lt_lua_newtensor_uninit(L, LT_FLOAT32, ndim, size, fn);
    int64_t n = lt_numel(t);
    if (kind == R_UNIFORM) lt_rng_fill_uniform(g, lt_f32(t), n, 0.0f, 1.0f);
    else lt_rng_fill_normal(g, lt_f32(t), n, 0.0f, 1.0f);
    return 1;
}

/* Uniform in [0, range) for a range of up to 2^64 - 1 (unbiased, by rejection). */
static uint64_t below_u64(lt_rng *g, uint64_t range) {
    if (range <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t r;
    do r = lt_rng_next(g); while (r >= limit);
    return r % range;
}

/* randint(lo, hi, shape [, opts]): integers in [lo, hi), int32 unless opts.dtype. Any int64
 * bounds are accepted (the span is computed in unsigned 64-bit); the values must fit the
 * dtype: int32 [-2^31, 2^31), uint8 [0, 256), float32 any (rounded to float). */
static int make_randint(lua_State *L, lt_rng *g, int first, const char *fn) {
    lua_Integer lo = check_int_arg(L, first, fn, "lo"), hi = check_int_arg(L, first + 1, fn, "hi");
    if (hi <= lo) return lt_lua_error(L, "%s: empty range [%I, %I)", fn, lo, hi);
    int64_t size[LT_MAXDIM];
    if (lua_type(L, first + 2) != LUA_TTABLE && lua_type(L, first + 2) != LUA_TNUMBER)
        return lt_lua_error(L, "%s: shape must be sizes or a table, got %s", fn, luaL_typename(L, first + 2));
    int ndim = lt_lua_checkshape(L, first + 2, size, fn);
    int optidx = lua_type(L, first + 2) == LUA_TTABLE ? first + 3 : first + 2 + ndim;
    lt_dtype dt = rand_dtype(L, optidx, LT_INT32, fn);
    if ((dt == LT_INT32 && (lo < INT32_MIN || hi - 1 > INT32_MAX)) ||
        (dt == LT_UINT8 && (lo < 0 || hi - 1 > 255)))
        return lt_lua_error(L, "%s: range [%I, %I) does not fit dtype %s (pass dtype = \"float32\" for wider ranges)",
                            fn, lo, hi, lt_dtype_name(dt));
    if (!g) g = lt_lua_optrng(L, optidx, fn);
    lt_tensor *t = lt_lua_newtensor_uninit(L, dt, ndim, size, fn);
    int64_t n = lt_numel(t);
    uint64_t span = (uint64_t)hi - (uint64_t)lo; /* exact: hi > lo */
    for (int64_t i = 0; i < n; i++) {
        uint64_t u = (uint64_t)lo + below_u64(g, span); /* wraps back into [lo, hi) */
        int64_t v = u > (uint64_t)INT64_MAX ? -(int64_t)(~u) - 1 : (int64_t)u;
        switch (dt) {
        case LT_INT32: lt_i32(t)[i] = (int32_t)v; break;
        case LT_UINT8: lt_u8(t)[i] = (uint8_t)v; break;
        case LT_FLOAT32: lt_f32(t)[i] = (float)v; break;
        }
    }
    return 1;
}

/* randperm(n): a permutation of 1..n (1-based positions, int32, so n <= 2^31 - 1). */
static int make_randperm(lua_State *L, lt_rng *g, int first, const char *fn) {
    lua_Integer n = check_int_arg(L, first, fn, "n");
    if (n < 0 || n > INT32_MAX)
        return lt_lua_error(L, "%s: n must be in [0, %d] (int32 positions), got %I", fn, INT32_MAX, n);
    lt_opt_check(L, first + 1, fn, gen_opts);
    if (!g) g = lt_lua_optrng(L, first + 1, fn);
    int64_t sz = n;
    lt_tensor *t = lt_lua_newtensor_uninit(L, LT_INT32, 1, &sz, fn);
    int32_t *p = lt_i32(t);
    for (int64_t i = 0; i < n; i++) p[i] = (int32_t)(i + 1);
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = lt_rng_below(g, i + 1);
        int32_t tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    return 1;
}

static int f_rand(lua_State *L) { return make_random(L, NULL, 1, R_UNIFORM, "rand"); }
static int f_randn(lua_State *L) { return make_random(L, NULL, 1, R_NORMAL, "randn"); }
static int f_randint(lua_State *L) { return make_randint(L, NULL, 1, "randint"); }
static int f_randperm(lua_State *L) { return make_randperm(L, NULL, 1, "randperm"); }

static lt_rng *checkgen(lua_State *L) {
    return (lt_rng *)luaL_checkudata(L, 1, LT_GENERATOR_MT);
}

static int g_rand(lua_State *L) { return make_random(L, checkgen(L), 2, R_UNIFORM, "Generator:rand"); }
static int g_randn(lua_State *L) { return make_random(L, checkgen(L), 2, R_NORMAL, "Generator:randn"); }
static int g_randint(lua_State *L) { return make_randint(L, checkgen(L), 2, "Generator:randint"); }
static int g_randperm(lua_State *L) { return make_randperm(L, checkgen(L), 2, "Generator:randperm"); }

static int g_seed(lua_State *L) {
    lt_rng_seed(checkgen(L), (uint64_t)check_int_arg(L, 2, "Generator:seed", "seed"));
    lua_settop(L, 1);
    return 1;
}

/* g:uniform([a, b]) -> one float in [a, b) (default [0, 1)); g:random(n) -> integer in 1..n;
 * g:normal([mean, std]) -> one normal sample. For Lua-side augmentation decisions. */
static int g_uniform(lua_State *L) {
    lt_rng *g = checkgen(L);
    double a = luaL_optnumber(L, 2, 0.0), b = luaL_optnumber(L, 3, 1.0);
    lua_pushnumber(L, a + (b - a) * lt_rng_uniform(g));
    return 1;
}

static int g_random(lua_State *L) {
    const char *fn = "Generator:random";
    lt_rng *g = checkgen(L);
    lua_Integer lo = 1, hi;
    if (lua_isnoneornil(L, 3)) hi = check_int_arg(L, 2, fn, "n");
    else { lo = check_int_arg(L, 2, fn, "lo"); hi = check_int_arg(L, 3, fn, "hi"); }
    if (hi < lo) return lt_lua_error(L, "%s: empty range [%I, %I]", fn, lo, hi);
    /* span - 1 in unsigned 64-bit; the full int64 range has span 2^64 (any draw) */
    uint64_t span1 = (uint64_t)hi - (uint64_t)lo;
    uint64_t u = (uint64_t)lo + (span1 == UINT64_MAX ? lt_rng_next(g) : below_u64(g, span1 + 1));
    lua_pushinteger(L, (lua_Integer)(u > (uint64_t)INT64_MAX ? -(int64_t)(~u) - 1 : (int64_t)u));
    return 1;
}

static int g_normal(lua_State *L) {
    lt_rng *g = checkgen(L);
    float v;
    lt_rng_fill_normal(g, &v, 1, (float)luaL_optnumber(L, 2, 0.0), (float)luaL_optnumber(L, 3, 1.0));
    lua_pushnumber(L, v);
    return 1;
}

/* State as an int32 tensor of 8 words (for checkpoints), and back. */
static int g_get_state(lua_State *L) {
    lt_rng *g = checkgen(L);
    int64_t n = 8;
    lt_tensor *t = lt_lua_newtensor(L, LT_INT32, 1, &n, "Generator:get_state");
    memcpy(lt_i32(t), g->s, sizeof g->s);
    return 1;
}

static int g_set_state(lua_State *L) {
    lt_rng *g = checkgen(L);
    lt_tensor *t = lt_lua_checkdtype(L, 2, "Generator:set_state", "state", LT_INT32);
    if (lt_numel(t) != 8 || !lt_is_contiguous(t))
        return lt_lua_error(L, "Generator:set_state: state must be a contiguous int32 tensor of 8 values");
    memcpy(g->s, lt_i32(t), sizeof g->s);
    lua_settop(L, 1);
    return 1;
}

static int g_clone(lua_State *L) {
    lt_rng *g = checkgen(L);
    lt_rng *c = push_generator(L, 0);
    *c = *g;
    return 1;
}

static int g_tostring(lua_State *L) {
    lt_rng *g = checkgen(L);
    lua_pushfstring(L, "lunet.Generator(%p)", (void *)g);
    return 1;
}

static int f_default_generator(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    return 1;
}

static const luaL_Reg gen_methods[] = {
    {"rand", g_rand}, {"randn", g_randn}, {"randint", g_randint}, {"randperm", g_randperm},
    {"seed", g_seed}, {"manual_seed", g_seed}, {"uniform", g_uniform}, {"random", g_random},
    {"normal", g_normal}, {"get_state", g_get_state}, {"set_state", g_set_state}, {"clone", g_clone},
    {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"manual_seed", f_manual_seed}, {"Generator", f_generator}, {"rand", f_rand}, {"randn", f_randn},
    {"randint", f_randint}, {"randperm", f_randperm}, {"default_generator", f_default_generator},
    {NULL, NULL}};

void lt_open_random(lua_State *L) {
    luaL_newmetatable(L, LT_GENERATOR_MT);
    lua_newtable(L);
    luaL_setfuncs(L, gen_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, g_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    if (lua_isnil(L, -1)) {
        push_generator(L, 0);
        lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, functions, 0);
}
