/* lua_gemm.c: Lua binding of lt_gemm for the specs and the benchmark (core.gemm):
 *   core.gemm.sgemm(c, a, b, {m =, n =, k =, transa =, transb =, lda =, ldb =, ldc =,
 *                   alpha = 1, beta = 0, impl = "auto", threads = 1}) -> c
 * a, b, c are contiguous float32 tensors read as flat row-major buffers (so leading dimensions
 * larger than the minimum can be tested); impl is an ISA of lt_gemm ("auto", "avx512", "avx2",
 * "generic"), the naive reference ("naive") or OpenBLAS's cblas_sgemm ("openblas").
 *   core.gemm.isas() -> {"avx512", "avx2", "generic"}: the ISAs this CPU runs, best first. */
#include <limits.h>
#include <math.h>
#include <string.h>
#include <cblas.h>
#include "lt_lua.h"
#include "lt_gemm.h"

#define FN "sgemm"

enum { IMPL_NAIVE = -2, IMPL_OPENBLAS = -3 };
static const char *const impl_names[] = { "auto", "avx512", "avx2", "generic", "naive", "openblas", NULL };
static const int impl_codes[] = { LT_GEMM_AUTO, LT_GEMM_AVX512, LT_GEMM_AVX2, LT_GEMM_GENERIC,
                                  IMPL_NAIVE, IMPL_OPENBLAS };

static int64_t required_dim(lua_State *L, const char *key) {
    if (!lt_opt_get(L, 4, key, FN)) lt_lua_error(L, FN ": option %s is required", key);
    lua_pop(L, 1);
    return (int64_t)lt_opt_int_range(L, 4, key, 0, 0, LUA_MAXINTEGER, FN);
}

/* The stored matrix `name` is rows x cols with leading dimension ld (default cols): checks ld
 * and that the tensor holds it; returns its data. */
static float *check_matrix(lua_State *L, int idx, const char *name, const char *ldkey,
                           int64_t rows, int64_t cols, int64_t *ld) {
    lt_tensor *t = lt_lua_checkdtype(L, idx, FN, name, LT_FLOAT32);
    if (!lt_is_contiguous(t)) lt_lua_error(L, FN ": %s must be contiguous", name);
    const int64_t minld = cols > 1 ? cols : 1;
    *ld = (int64_t)lt_opt_int(L, 4, ldkey, minld, FN);
    if (*ld < minld)
        lt_lua_error(L, FN ": %s must be >= %I (the columns of the stored %s), got %I", ldkey,
                     (lua_Integer)minld, name, (lua_Integer)*ld);
    int64_t need = 0;
    if (rows > 0 && cols > 0 && (lt_mul_ovf(rows - 1, *ld, &need) || lt_add_ovf(need, cols, &need)))
        lt_lua_error(L, FN ": %s as %I x %I with %s %I overflows", name, (lua_Integer)rows,
                     (lua_Integer)cols, ldkey, (lua_Integer)*ld);
    if (lt_numel(t) < need)
        lt_lua_error(L, FN ": %s holds %I elements, a %I x %I matrix with %s %I needs %I", name,
                     (lua_Integer)lt_numel(t), (lua_Integer)rows, (lua_Integer)cols, ldkey,
                     (lua_Integer)*ld, (lua_Integer)need);
    return need > 0 ? lt_f32(t) : NULL;
}

static int l_sgemm(lua_State *L) {
    static const char *const known[] = { "m", "n", "k", "transa", "transb", "lda", "ldb", "ldc",
                                         "alpha", "beta", "impl", "threads", NULL };
    lt_opt_check(L, 4, FN, known);
    const int64_t m = required_dim(L, "m"), n = required_dim(L, "n"), k = required_dim(L, "k");
    const int ta = lt_opt_bool(L, 4, "transa", 0, FN), tb = lt_opt_bool(L, 4, "transb", 0, FN);
    const double alpha = lt_opt_num_range(L, 4, "alpha", 1.0, -HUGE_VAL, HUGE_VAL, FN);
    const double beta = lt_opt_num_range(L, 4, "beta", 0.0, -HUGE_VAL, HUGE_VAL, FN);
    const int threads = (int)lt_opt_int_range(L, 4, "threads", 1, 1, 1024, FN);
    int impl = LT_GEMM_AUTO;
    if (lt_opt_get(L, 4, "impl", FN)) {
        const char *s = lua_tostring(L, -1);
        int i = 0;
        while (s && impl_names[i] && strcmp(s, impl_names[i])) i++;
        if (!s || !impl_names[i])
            lt_lua_error(L, FN ": option impl must be one of auto, avx512, avx2, generic, naive, "
                         "openblas, got %s", luaL_tolstring(L, -1, NULL));
        impl = impl_codes[i];
        lua_pop(L, 1);
        if (impl >= 0 && !lt_gemm_isa_supported(impl))
            lt_lua_error(L, FN ": this CPU does not support impl %s", impl_names[i]);
    }
    int64_t lda, ldb, ldc;
    const float *a = check_matrix(L, 2, "a", "lda", ta ? k : m, ta ? m : k, &lda);
    const float *b = check_matrix(L, 3, "b", "ldb", tb ? n : k, tb ? k : n, &ldb);
    float *c = check_matrix(L, 1, "c", "ldc", m, n, &ldc);
    lt_status st;
    if (impl == IMPL_NAIVE) {
        st = lt_gemm_naive(ta, tb, m, n, k, (float)alpha, a, lda, b, ldb, (float)beta, c, ldc);
    } else if (impl == IMPL_OPENBLAS) {
        if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
            lt_lua_error(L, FN ": impl openblas takes sizes and leading dimensions up to %d", INT_MAX);
        if (m > 0 && n > 0)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        (int)m, (int)n, (int)k, (float)alpha, a, (int)lda, b, (int)ldb, (float)beta,
                        c, (int)ldc);
        st = LT_OK;
    } else {
        st = lt_gemm_parallel(threads, impl, ta, tb, m, n, k, (float)alpha, a, lda, b, ldb,
                              (float)beta, c, ldc);
    }
    lt_lua_check(L, st, FN);
    lua_settop(L, 1);
    return 1;
}

static int l_isas(lua_State *L) {
    static const int order[] = { LT_GEMM_AVX512, LT_GEMM_AVX2, LT_GEMM_GENERIC };
    lua_newtable(L);
    lua_Integer i = 0;
    for (int j = 0; j < 3; j++)
        if (lt_gemm_isa_supported(order[j])) {
            lua_pushstring(L, lt_gemm_isa_name(order[j]));
            lua_rawseti(L, -2, ++i);
        }
    return 1;
}

void lt_open_gemm(lua_State *L);
void lt_open_gemm(lua_State *L) {
    static const luaL_Reg fns[] = {
        { "sgemm", l_sgemm },
        { "isas", l_isas },
        { NULL, NULL }
    };
    luaL_setfuncs(L, fns, 0);
}
