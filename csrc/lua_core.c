/* lua_core.c: luaopen_lunet_core, the entry point of the C module "lunet.core".
 * It builds one table: tensor functions at the top, kernels in sub-tables. */
#include "lt_lua.h"

static void open_subtable(lua_State *L, const char *name, void (*opener)(lua_State *)) {
    lua_newtable(L);
    opener(L);
    lua_setfield(L, -2, name);
}

static void open_nn(lua_State *L) {
    lt_open_nn_conv(L);
    lt_open_nn_pool(L);
    lt_open_nn_norm(L);
    lt_open_nn_loss(L);
}

/* The scratch buffers live as long as the module: a sentinel in the registry frees them
 * when the state closes (before the shared object is unloaded). */
static int release_scratch(lua_State *L) {
    (void)L;
    lt_scratch_free_all();
    return 0;
}

static void keep_sentinel(lua_State *L) {
    lua_newuserdatauv(L, 1, 0);
    lua_newtable(L);
    lua_pushcfunction(L, release_scratch);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "lunet.scratch_sentinel");
}

int luaopen_lunet_core(lua_State *L);
int luaopen_lunet_core(lua_State *L) {
    keep_sentinel(L);
    lua_newtable(L);
    lt_open_tensor(L);
    lt_open_random(L);
    lt_open_opts(L);
    open_subtable(L, "nn", open_nn);
    open_subtable(L, "image", lt_open_image);
    open_subtable(L, "metrics", lt_open_metrics);
    open_subtable(L, "io", lt_open_io);
    open_subtable(L, "warp", lt_open_warp);
    { void lt_open_gemm(lua_State *); open_subtable(L, "gemm", lt_open_gemm); }  /* lua_gemm.c */
    return 1;
}
