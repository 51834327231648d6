/* lua_core.c: luaopen_lunet_core, the entry point of the C module "lunet.core", and the Lua
 * state's core context. It builds one table: tensor functions at the top, kernels in
 * sub-tables. */
#include "lt_lua.h"
#include "lt_conv.h"
#include "lt_gemm.h"

#include <cpuid.h>
#include <string.h>

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
    lt_open_nn_optim(L);
    lt_open_nn_vol(L);
}

/* The state's core context lives in a full userdata box (a pointer) in the registry under
 * the address of ctx_key; __gc and __close release the state's reference (idempotent). The
 * storages still alive hold their own references, so the context outlives the state while a
 * tensor storage handed to another state or thread is in use. */
static const char ctx_key = 'c';
#define LT_CONTEXT_MT "lunet.Context"

static int ctx_gc(lua_State *L) {
    lt_context **box = luaL_checkudata(L, 1, LT_CONTEXT_MT);
    lt_context *ctx = *box;
    *box = NULL;
    if (ctx) {
        /* the state is closing: no kernel runs here again; storages released later (from
         * another state or thread) free their blocks instead of caching them */
        lt_ctx_scratch_free(ctx);
        lt_ctx_cache_set_limit(ctx, 0);
        lt_context_release(ctx);
    }
    return 0;
}

lt_context *lt_lua_ctx(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
    lt_context *const *box = lua_touserdata(L, -1);
    lt_context *ctx = box ? *box : NULL;
    lua_pop(L, 1);
    if (!ctx)
        lt_lua_error(L, "lunet: the core context of this Lua state was released (the state is closing)");
    return ctx;
}

/* Creates the state's context once; a second require of lunet.core reuses it. The box is
 * made (empty) before the context, so a failed allocation leaks nothing. */
static void open_context(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key) == LUA_TUSERDATA) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lt_context **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, LT_CONTEXT_MT)) {
        lua_pushcfunction(L, ctx_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, ctx_gc);
        lua_setfield(L, -2, "__close");
        lua_pushliteral(L, "private");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    *box = lt_context_new();
    if (!*box) lt_lua_error(L, "lunet.core: cannot allocate the core context (out of memory)");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ctx_key);
}

/* OpenBLAS's own description of itself (declared here: its header layout varies). */
char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);

/* The CPU's brand string from cpuid (0x80000002..4), or "unknown". */
static void cpu_name(char out[49]) {
    unsigned int r[12];
    strcpy(out, "unknown");
    if (__get_cpuid_max(0x80000000u, NULL) < 0x80000004u) return;
    for (unsigned int i = 0; i < 3; i++)
        __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
    memcpy(out, r, 48);
    out[48] = 0;
    char *p = out;
    while (*p == ' ') p++;
    memmove(out, p, strlen(p) + 1);
}

/* core.config() -> table: what computes here. gemm_isa / conv_isa are the kernels lunet
 * runs (conv_isa is nil without AVX2: the im2col path then runs on gemm_isa); blas_* is
 * OpenBLAS as it configured itself for this CPU (it serves matmul and convolutions only when
 * lunet's own GEMM has no SIMD kernel for the CPU). */
static int l_config(lua_State *L) {
    lt_context *ctx = lt_lua_ctx(L);
    char cpu[49];
    cpu_name(cpu);
    lua_newtable(L);
    lua_pushstring(L, cpu);
    lua_setfield(L, -2, "cpu");
    lua_pushstring(L, lt_gemm_isa_name(lt_gemm_best_isa()));
    lua_setfield(L, -2, "gemm_isa");
    if (lt_conv_isa_supported(LT_CONV_ISA_AVX2)) {
        lua_pushstring(L, lt_conv_get_isa(ctx) == LT_CONV_ISA_AVX512 ? "avx512" : "avx2");
        lua_setfield(L, -2, "conv_isa");
    }
    lua_pushinteger(L, lt_ctx_num_threads(ctx));
    lua_setfield(L, -2, "threads");
    lua_pushliteral(L, "OpenBLAS");
    lua_setfield(L, -2, "blas");
    lua_pushstring(L, openblas_get_config());
    lua_setfield(L, -2, "blas_config");
    lua_pushstring(L, openblas_get_corename());
    lua_setfield(L, -2, "blas_core");
    lua_pushinteger(L, openblas_get_num_threads());
    lua_setfield(L, -2, "blas_threads");
#ifdef _OPENMP
    lua_pushinteger(L, _OPENMP);
    lua_setfield(L, -2, "openmp");
#endif
    lua_pushstring(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    return 1;
}

int luaopen_lunet_core(lua_State *L);
int luaopen_lunet_core(lua_State *L) {
    open_context(L);
    lua_newtable(L);
    lt_open_tensor(L);
    lt_open_random(L);
    lt_open_opts(L);
    lua_pushcfunction(L, l_config);
    lua_setfield(L, -2, "config");
    open_subtable(L, "nn", open_nn);
    open_subtable(L, "image", lt_open_image);
    open_subtable(L, "metrics", lt_open_metrics);
    open_subtable(L, "io", lt_open_io);
    open_subtable(L, "warp", lt_open_warp);
    { void lt_open_gemm(lua_State *); open_subtable(L, "gemm", lt_open_gemm); }  /* lua_gemm.c */
    open_subtable(L, "workers", lt_open_workers);
    open_subtable(L, "nifti", lt_open_nifti); open_subtable(L, "vol", lt_open_vol);   /* v3d */
    open_subtable(L, "classic", lt_open_classic);
    open_subtable(L, "classic_seg", lt_open_classic_seg);   /* lua_classic_seg.c */
    return 1;
}
