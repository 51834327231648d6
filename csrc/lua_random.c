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

static int f_manual_seed(lua_State *L) {
    lua_Integer seed = luaL_checkinteger(L, 1);
    lt_rng_seed(lt_lua_default_rng(L), (uint64_t)seed);
    return 0;
}

static int f_generator(lua_State *L) {
    push_generator(L, (uint64_t)luaL_optinteger(L, 1, 0));
    return 1;
}

/* Shared by module functions (generator from opts) and generator methods (self). The
 * shape starts at argument `first`. */
typedef enum { R_UNIFORM, R_NORMAL } rkind;

static int make_random(lua_State *L, lt_rng *g, int first, rkind kind, const char *fn) {
    int64_t size[LT_MAXDIM];
    int ndim = lt_lua_checkshape(L, first, size, fn);
    int optidx = lua_type(L, first) == LUA_TTABLE ? first + 1 : first + ndim;
    if (!g) g = lt_lua_optrng(L, optidx, fn);
    lt_tensor *t = lt_lua_newtensor(L, LT_FLOAT32, ndim, size, fn);
    int64_t n = lt_numel(t);
    if (kind == R_UNIFORM) lt_rng_fill_uniform(g, lt_f32(t), n, 0.0f, 1.0f);
    else lt_rng_fill_normal(g, lt_f32(t), n, 0.0f, 1.0f);
    return 1;
}

/* randint(lo, hi, shape [, opts]): integers in [lo, hi), int32 unless opts.dtype. */
static int make_randint(lua_State *L, lt_rng *g, int first, const char *fn) {
    lua_Integer lo = luaL_checkinteger(L, first), hi = luaL_checkinteger(L, first + 1);
    if (hi <= lo) return lt_lua_error(L, "%s: empty range [%d, %d)", fn, (int)lo, (int)hi);
    int64_t size[LT_MAXDIM];
    int ndim = lt_lua_checkshape(L, first + 2, size, fn);
    int optidx = lua_type(L, first + 2) == LUA_TTABLE ? first + 3 : first + 2 + ndim;
    if (!g) g = lt_lua_optrng(L, optidx, fn);
    lt_dtype dt = LT_INT32;
    if (lua_istable(L, optidx)) {
        lua_getfield(L, optidx, "dtype");
        if (!lua_isnil(L, -1)) dt = lt_lua_checkdtypename(L, -1, fn);
        lua_pop(L, 1);
    }
    lt_tensor *t = lt_lua_newtensor(L, dt, ndim, size, fn);
    int64_t n = lt_numel(t);
    for (int64_t i = 0; i < n; i++) lt_set_flat(t, i, (double)(lo + lt_rng_below(g, hi - lo)));
    return 1;
}

/* randperm(n): a permutation of 1..n (1-based positions, int32). */
static int make_randperm(lua_State *L, lt_rng *g, int first, const char *fn) {
    lua_Integer n = luaL_checkinteger(L, first);
    if (n < 0) return lt_lua_error(L, "%s: n must be >= 0, got %d", fn, (int)n);
    if (!g) g = lt_lua_optrng(L, first + 1, fn);
    int64_t sz = n;
    lt_tensor *t = lt_lua_newtensor(L, LT_INT32, 1, &sz, fn);
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
    lt_rng_seed(checkgen(L), (uint64_t)luaL_checkinteger(L, 2));
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
    lt_rng *g = checkgen(L);
    lua_Integer lo = 1, hi;
    if (lua_isnoneornil(L, 3)) hi = luaL_checkinteger(L, 2);
    else { lo = luaL_checkinteger(L, 2); hi = luaL_checkinteger(L, 3); }
    if (hi < lo) return lt_lua_error(L, "Generator:random: empty range [%d, %d]", (int)lo, (int)hi);
    lua_pushinteger(L, lo + (lua_Integer)lt_rng_below(g, hi - lo + 1));
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
