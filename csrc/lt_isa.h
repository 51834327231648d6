/* lt_isa.h: the instruction-set levels lunet's kernels are compiled for, and run-time
 * dispatch between them. No Lua here.
 *
 * The default build is portable (baseline x86-64, no -march): hot elementwise, normalisation
 * and loss loops are compiled three times, for baseline x86-64 (SSE2), x86-64-v3 (AVX2, FMA)
 * and x86-64-v4 (AVX-512), and each call picks the copy of the context's level
 * (lt_ctx_isa): the best the CPU has (lt_isa_cpu), lowered by the environment variable
 * LUNET_ISA=generic|avx2|avx512 read when the context is created, or by lt_ctx_set_isa. The
 * level also sets the context's convolution ISA and lunet's GEMM in lt_sgemm (lt_math.c).
 * `make NATIVE=1` compiles everything for the building CPU instead (one copy of each loop;
 * the level still sets the convolution ISA and the GEMM).
 *
 *   static inline LT_ISA_INLINE void relu_bwd_body(float *dx, const float *dy, int64_t n) {...}
 *   LT_ISA_VARIANTS(relu_bwd, (float *dx, const float *dy, int64_t n), (dx, dy, n))
 *   ...
 *   relu_bwd_isa[lt_ctx_isa(ctx)](dx, dy, n);   // relu_bwd_isa: a const table of 3 copies
 *
 * The copies are made with GCC's target attributes (arch=x86-64-v3 / arch=x86-64-v4) around
 * one always-inline body, so the three run the same C code, vectorised for their ISA; a
 * spec (spec/isa_spec.lua) runs kernels and a U-Net step at every level the CPU has and
 * compares. Other compilers (the fuzz build's clang), other architectures and builds beyond
 * the baseline (NATIVE=1) get one copy of the code in every slot. No state: the probe asks
 * the CPU (libgcc's table) each time. */
#ifndef LT_ISA_H
#define LT_ISA_H

#include <stdint.h>

enum { LT_ISA_GENERIC = 0, LT_ISA_AVX2 = 1, LT_ISA_AVX512 = 2, LT_ISA_LEVELS = 3 };

/* The best level this CPU runs (x86-64-v4 -> AVX512, x86-64-v3 -> AVX2, else GENERIC):
 * lt_isa_probe() inline (for code outside lunet.core, such as lunet.distributed.core), and
 * lt_isa_cpu() in lt_context.c. */
int lt_isa_cpu(void);
static inline int lt_isa_probe(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
#if !defined(__clang__) && __GNUC__ >= 12
    if (__builtin_cpu_supports("x86-64-v4")) return LT_ISA_AVX512;
    if (__builtin_cpu_supports("x86-64-v3")) return LT_ISA_AVX2;
#else
    const int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    if (v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return LT_ISA_AVX512;
    if (v3) return LT_ISA_AVX2;
#endif
#endif
    return LT_ISA_GENERIC;
}
/* "generic", "avx2", "avx512" (NULL for a level out of range) and back (-1 when unknown). */
const char *lt_isa_name(int level);
int lt_isa_parse(const char *name);
/* The level a new context starts with: lt_isa_cpu(), lowered to LUNET_ISA when that is set
 * to a known level name. *bad (may be NULL) is set to 1 when LUNET_ISA is set to anything
 * else (the context then uses lt_isa_cpu()), else 0. */
int lt_isa_default(int *bad);

/* Copies per level with GCC on x86-64 when the file is compiled for the baseline ISA (the
 * default build). A file compiled beyond it (make NATIVE=1: -march=native defines __AVX__)
 * has one copy, for its own target, in every slot: the body, compiled with the native
 * ISA, could not be inlined into a copy for a smaller one. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 11 && \
    !defined(__AVX__) && !defined(LT_NO_MULTIVERSION)
#define LT_ISA_MULTIVERSION 1
#define LT_ISA_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
#define LT_ISA_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#else
#define LT_ISA_MULTIVERSION 0
#endif
#define LT_ISA_INLINE __attribute__((always_inline))

/* Defines name_v1 / name_v3 / name_v4 (void functions with these params, each calling
 * name_body(args) compiled for its level) and the const table name_isa[LT_ISA_LEVELS]
 * indexed by LT_ISA_*. name_body must be a static inline LT_ISA_INLINE void function. */
#if LT_ISA_MULTIVERSION
#define LT_ISA_VARIANTS(name, params, args)                                                    \
    static void name##_v1 params { name##_body args; }                                         \
    LT_ISA_TARGET_V3 static void name##_v3 params { name##_body args; }                        \
    LT_ISA_TARGET_V4 static void name##_v4 params { name##_body args; }                        \
    static void (*const name##_isa[LT_ISA_LEVELS]) params = { name##_v1, name##_v3, name##_v4 };
#else
#define LT_ISA_VARIANTS(name, params, args)                                                    \
    static void name##_v1 params { name##_body args; }                                         \
    static void (*const name##_isa[LT_ISA_LEVELS]) params = { name##_v1, name##_v1, name##_v1 };
#endif

/* Chunk t of nt of [0, n): [*lo, *hi), boundaries on multiples of 16 elements (whole cache
 * lines of floats), for kernels that split an element range over OpenMP threads. */
static inline void lt_isa_chunk(int64_t n, int t, int nt, int64_t *lo, int64_t *hi) {
    int64_t per = (n + nt - 1) / nt;
    per = (per + 15) & ~(int64_t)15;
    int64_t a = per * t, b = a + per;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}

#endif
