/* lt_gemm.c: packed single-precision GEMM (BLIS loop order) with AVX-512 / AVX2+FMA / plain C
 * register micro-kernels chosen at run time, a parallel entry, and the naive reference.
 *
 * GFLOP/s, one thread (bench/bench_gemm.sh: CPU time, best of 2 runs; 2-core AMD EPYC Zen 4,
 * which OpenBLAS 0.3.21 runs as Cooperlake; Prescott is what it runs on CPUs it does not know):
 *   shape (conv GEMMs)      m     n     k | avx512  avx2  plain C | OpenBLAS  SkylakeX  Prescott
 *   U-Net dW 16x16 NT     128  2304    48 |   99.3  97.6      8.8 |    96.5      94.5      38.6
 *   U-Net convT TN        256   256   128 |  107.9 104.3      9.0 |   100.0     100.3      37.9
 *   U-Net convT dW NT      32    64  2048 |   59.4  66.8      8.7 |    51.1      50.5      31.4
 *   U-Net 1x1 head NN       1 16384    16 |   26.7  19.1      3.9 |    32.8      32.2      11.3
 *   Fashion fwd 28x28 NN   16   784   144 |  105.7 101.6      9.1 |    81.4      80.4      36.3
 *   Fashion fwd 7x7 NN     64    49   288 |   97.8  81.8      8.6 |    94.7      94.7      29.8
 *   Fashion dX 7x7 TN     576    49    64 |   77.9  76.6      6.8 |    83.7      83.6      31.6
 *   Fashion head NN        11   784    16 |   56.8  56.2      7.5 |    61.0      61.0      24.5
 *   geometric mean of 27 shapes           |   87.6  82.0      8.4 |    80.1      79.7      33.1
 * (PyTorch 1.13's torch.mm, on OpenBLAS: 79.4.) The plain C kernel is the fallback of the
 * specs; lunet's conv and matmul call OpenBLAS on CPUs without AVX2. */
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "lt_gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define LT_GEMM_X86 1
#else
#define LT_GEMM_X86 0
#endif

/* A micro-kernel: C[0..mrows, 0..ncols) (row stride ldc) = alpha * A B + beta * C over kc steps
 * p, with A(i, p) = a[i * rs_a + p * ps_a] (i < mrows: packed rs_a = 1, ps_a = MR; or A read in
 * place) and B(p, j) = b[p * ps_b + j] for j < NR (packed panel, or B in place when a full NR
 * columns exist; columns beyond ncols are zero or ignored). beta == 0: C is not read. */
typedef void (*kern_fn)(int64_t kc, const float *a, int64_t rs_a, int64_t ps_a, const float *b,
                        int64_t ps_b, float *c, int64_t ldc, float alpha, float beta, int ncols);

/* Narrow remainders (1 or 2 columns of C, A read in place): dot products along k,
 * C[i, j] = alpha * sum_p a[i * lda + p] * bt[j * ldbt + p] + beta * C[i, j] for i < mrows. */
typedef void (*dot_fn)(int mrows, int ncols, int64_t kc, const float *a, int64_t lda,
                       const float *bt, int64_t ldbt, float *c, int64_t ldc, float alpha, float beta);

/* Tile and cache-block sizes of one ISA: the packed A micro-panel (MR x KC) stays in L1 while
 * the kernel sweeps the packed B block (KC x NC, in L2) panel by panel. */
typedef struct {
    int isa;
    int mr, nr;
    int64_t kc, nc;
    const kern_fn *tab;    /* tab[(mrows - 1) * nv_max + nv - 1], nv = ceil(ncols / 16) */
    int nv_max;            /* vectors per row of the widest kernel */
    int vw;                /* floats per vector */
    dot_fn dot;            /* narrow remainders */
} gemm_geom;

#define INL static inline __attribute__((always_inline))

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---------------------------------------------------------------- plain C kernel (4 x 16) */

#define GEN_MR 4
#define GEN_NR 16

static inline void kgen(const int mrows, int64_t kc, const float *restrict a, int64_t rs_a,
                        int64_t ps_a, const float *restrict b, int64_t ps_b, float *restrict c,
                        int64_t ldc, float alpha, float beta, int ncols) {
    float acc[GEN_MR][GEN_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t p = 0; p < kc; p++) {
        const float *ap = a + p * ps_a, *bp = b + p * ps_b;
        #pragma GCC unroll 4
        for (int i = 0; i < GEN_MR; i++) {
            const float ai = i < mrows ? ap[i * rs_a] : 0.0f;
            #pragma GCC unroll 16
            for (int j = 0; j < GEN_NR; j++) acc[i][j] += ai * bp[j];
        }
    }
    for (int i = 0; i < mrows; i++) {
        float *cr = c + i * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < ncols; j++) cr[j] = alpha * acc[i][j];
        else
            for (int j = 0; j < ncols; j++) cr[j] = alpha * acc[i][j] + beta * cr[j];
    }
}

#define KGEN(M)                                                                              \
    static void kgen_##M(int64_t kc, const float *a, int64_t rs_a, int64_t ps_a,             \
                         const float *b, int64_t ps_b, float *c, int64_t ldc, float alpha,    \
                         float beta, int ncols) {                                             \
        kgen(M, kc, a, rs_a, ps_a, b, ps_b, c, ldc, alpha, beta, ncols);                      \
    }
KGEN(1) KGEN(2) KGEN(3) KGEN(4)
static const kern_fn gen_tab[GEN_MR] = { kgen_1, kgen_2, kgen_3, kgen_4 };

static void dot_gen(int mrows, int ncols, int64_t kc, const float *a, int64_t lda,
                    const float *bt, int64_t ldbt, float *c, int64_t ldc, float alpha, float beta) {
    for (int i = 0; i < mrows; i++)
        for (int j = 0; j < ncols; j++) {
            float s = 0.0f;
            for (int64_t p = 0; p < kc; p++) s += a[i * lda + p] * bt[j * ldbt + p];
            float *cij = c + i * ldc + j;
            *cij = beta == 0.0f ? alpha * s : alpha * s + beta * *cij;
        }
}

static const gemm_geom geom_generic = { LT_GEMM_GENERIC, GEN_MR, GEN_NR, 256, 512, gen_tab, 1, 16,
                                        dot_gen };

#if LT_GEMM_X86

/* ---------------------------------------------------------------- AVX2 + FMA kernel (6 x 16) */

#define T256 __attribute__((target("avx2,fma")))
#define A2_MR 6
#define A2_NR 16

/* MRR rows x NV 8-wide vectors; the last vector stores the ncols remainder under a mask. */
INL T256 void k256(const int MRR, const int NV, int64_t kc, const float *restrict a,
                   int64_t rs_a, int64_t ps_a, const float *restrict b, int64_t ps_b,
                   float *restrict c, int64_t ldc, float alpha, float beta, int ncols) {
    __m256 acc[A2_MR][2];
    #pragma GCC unroll 8
    for (int i = 0; i < A2_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    #pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(b);
        const __m256 b1 = NV > 1 ? _mm256_loadu_ps(b + 8) : _mm256_setzero_ps();
        #pragma GCC unroll 8
        for (int i = 0; i < A2_MR; i++)
            if (i < MRR) {
                const __m256 ai = _mm256_broadcast_ss(a + i * rs_a);
                acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
                if (NV > 1) acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
            }
        a += ps_a;
        b += ps_b;
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const int rem = ncols - (NV - 1) * 8;
    const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    #pragma GCC unroll 8
    for (int i = 0; i < A2_MR; i++) {
        if (i >= MRR) continue;
        float *cr = c + i * ldc;
        #pragma GCC unroll 3
        for (int j = 0; j < NV; j++) {
            __m256 v = _mm256_mul_ps(acc[i][j], va);
            if (j < NV - 1 || rem == 8) {
                if (beta != 0.0f) v = _mm256_fmadd_ps(_mm256_loadu_ps(cr + 8 * j), vb, v);
                _mm256_storeu_ps(cr + 8 * j, v);
            } else {
                if (beta != 0.0f) v = _mm256_fmadd_ps(_mm256_maskload_ps(cr + 8 * j, last), vb, v);
                _mm256_maskstore_ps(cr + 8 * j, last, v);
            }
        }
    }
}

#define K256(M, V)                                                                            \
    static T256 void k256_##M##_##V(int64_t kc, const float *a, int64_t rs_a, int64_t ps_a,  \
                                    const float *b, int64_t ps_b, float *c, int64_t ldc,      \
                                    float alpha, float beta, int ncols) {                     \
        k256(M, V, kc, a, rs_a, ps_a, b, ps_b, c, ldc, alpha, beta, ncols);                   \
    }
K256(1, 1) K256(1, 2) K256(2, 1) K256(2, 2) K256(3, 1) K256(3, 2)
K256(4, 1) K256(4, 2) K256(5, 1) K256(5, 2) K256(6, 1) K256(6, 2)
static const kern_fn a2_tab[A2_MR * 2] = {
    k256_1_1, k256_1_2, k256_2_1, k256_2_2, k256_3_1, k256_3_2,
    k256_4_1, k256_4_2, k256_5_1, k256_5_2, k256_6_1, k256_6_2,
};
/* R rows x NC (1, 2) columns of dot products, 8 floats of k at a time, the tail scalar */
INL T256 float hsum256(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

INL T256 void dot256(const int R, const int NC, int64_t kc, const float *restrict a, int64_t lda,
                     const float *restrict bt, int64_t ldbt, float *restrict c, int64_t ldc,
                     float alpha, float beta) {
    __m256 acc[4][2];
    #pragma GCC unroll 4
    for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        const __m256 b0 = _mm256_loadu_ps(bt + p);
        const __m256 b1 = NC > 1 ? _mm256_loadu_ps(bt + ldbt + p) : _mm256_setzero_ps();
        #pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            if (i < R) {
                const __m256 ai = _mm256_loadu_ps(a + i * lda + p);
                acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
                if (NC > 1) acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
            }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        if (i < R) {
            #pragma GCC unroll 2
            for (int j = 0; j < 2; j++)
                if (j < NC) {
                    float sum = hsum256(acc[i][j]);
                    for (int64_t q = p; q < kc; q++) sum += a[i * lda + q] * bt[j * ldbt + q];
                    float *cij = c + i * ldc + j;
                    *cij = beta == 0.0f ? alpha * sum : alpha * sum + beta * *cij;
                }
        }
}

#define D256(R, N)                                                                            \
    static T256 void dot256_##R##_##N(int64_t kc, const float *a, int64_t lda, const float *bt, \
                                      int64_t ldbt, float *c, int64_t ldc, float alpha,       \
                                      float beta) {                                           \
        dot256(R, N, kc, a, lda, bt, ldbt, c, ldc, alpha, beta);                              \
    }
D256(1, 1) D256(2, 1) D256(3, 1) D256(4, 1) D256(1, 2) D256(2, 2) D256(3, 2) D256(4, 2)

typedef void (*dotr_fn)(int64_t kc, const float *a, int64_t lda, const float *bt, int64_t ldbt,
                        float *c, int64_t ldc, float alpha, float beta);

static void dot_avx2(int mrows, int ncols, int64_t kc, const float *a, int64_t lda,
                     const float *bt, int64_t ldbt, float *c, int64_t ldc, float alpha, float beta) {
    static const dotr_fn tab[2][4] = { { dot256_1_1, dot256_2_1, dot256_3_1, dot256_4_1 },
                                       { dot256_1_2, dot256_2_2, dot256_3_2, dot256_4_2 } };
    for (int i = 0; i < mrows; i += 4) {
        const int r = mrows - i < 4 ? mrows - i : 4;
        tab[ncols - 1][r - 1](kc, a + i * lda, lda, bt, ldbt, c + i * ldc, ldc, alpha, beta);
    }
}

static const gemm_geom geom_avx2 = { LT_GEMM_AVX2, A2_MR, A2_NR, 256, 384, a2_tab, 2, 8, dot_avx2 };

/* ---------------------------------------------------------------- AVX-512 kernel (8 x 48) */

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define Z_MR 8
#define Z_NR 48

/* MRR rows x NV 16-wide vectors (24 zmm accumulators at most); masked last vector. */
INL T512 void k512(const int MRR, const int NV, int64_t kc, const float *restrict a,
                   int64_t rs_a, int64_t ps_a, const float *restrict b, int64_t ps_b,
                   float *restrict c, int64_t ldc, float alpha, float beta, int ncols) {
    __m512 acc[Z_MR][3];
    #pragma GCC unroll 8
    for (int i = 0; i < Z_MR; i++) acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    #pragma GCC unroll 2
    for (int64_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(b);
        const __m512 b1 = NV > 1 ? _mm512_loadu_ps(b + 16) : _mm512_setzero_ps();
        const __m512 b2 = NV > 2 ? _mm512_loadu_ps(b + 32) : _mm512_setzero_ps();
        #pragma GCC unroll 8
        for (int i = 0; i < Z_MR; i++)
            if (i < MRR) {
                const __m512 ai = _mm512_set1_ps(a[i * rs_a]);
                acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
                if (NV > 1) acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
                if (NV > 2) acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
            }
        a += ps_a;
        b += ps_b;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const int rem = ncols - (NV - 1) * 16;
    const __mmask16 last = (__mmask16)(rem >= 16 ? 0xFFFF : (1u << rem) - 1u);
    #pragma GCC unroll 8
    for (int i = 0; i < Z_MR; i++) {
        if (i >= MRR) continue;
        float *cr = c + i * ldc;
        #pragma GCC unroll 3
        for (int j = 0; j < NV; j++) {
            const __mmask16 mk = j == NV - 1 ? last : (__mmask16)0xFFFF;
            /* alpha 1 (the convolutions): the product is the identity, skipped */
            __m512 v = alpha == 1.0f ? acc[i][j] : _mm512_mul_ps(acc[i][j], va);
            if (beta != 0.0f) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, cr + 16 * j), vb, v);
            _mm512_mask_storeu_ps(cr + 16 * j, mk, v);
        }
    }
}

#define K512(M, V)                                                                            \
    static T512 void k512_##M##_##V(int64_t kc, const float *a, int64_t rs_a, int64_t ps_a,  \
                                    const float *b, int64_t ps_b, float *c, int64_t ldc,      \
                                    float alpha, float beta, int ncols) {                     \
        k512(M, V, kc, a, rs_a, ps_a, b, ps_b, c, ldc, alpha, beta, ncols);                   \
    }
#define K512M(M) K512(M, 1) K512(M, 2) K512(M, 3)
K512M(1) K512M(2) K512M(3) K512M(4) K512M(5) K512M(6) K512M(7) K512M(8)
#define K512T(M) k512_##M##_1, k512_##M##_2, k512_##M##_3
static const kern_fn z_tab[Z_MR * 3] = {
    K512T(1), K512T(2), K512T(3), K512T(4), K512T(5), K512T(6), K512T(7), K512T(8),
};
/* R rows x NC (1, 2) columns of dot products, 16 floats of k at a time, masked tail */
INL T512 void dot512(const int R, const int NC, int64_t kc, const float *restrict a, int64_t lda,
                     const float *restrict bt, int64_t ldbt, float *restrict c, int64_t ldc,
                     float alpha, float beta) {
    __m512 acc[4][2];
    #pragma GCC unroll 4
    for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p += 16) {
        const __mmask16 mk = (__mmask16)(kc - p >= 16 ? 0xFFFF : (1u << (kc - p)) - 1u);
        const __m512 b0 = _mm512_maskz_loadu_ps(mk, bt + p);
        const __m512 b1 = NC > 1 ? _mm512_maskz_loadu_ps(mk, bt + ldbt + p) : _mm512_setzero_ps();
        #pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            if (i < R) {
                const __m512 ai = _mm512_maskz_loadu_ps(mk, a + i * lda + p);
                acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
                if (NC > 1) acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
            }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        if (i < R) {
            #pragma GCC unroll 2
            for (int j = 0; j < 2; j++)
                if (j < NC) {
                    const float sum = _mm512_reduce_add_ps(acc[i][j]);
                    float *cij = c + i * ldc + j;
                    *cij = beta == 0.0f ? alpha * sum : alpha * sum + beta * *cij;
                }
        }
}

#define D512(R, N)                                                                            \
    static T512 void dot512_##R##_##N(int64_t kc, const float *a, int64_t lda, const float *bt, \
                                      int64_t ldbt, float *c, int64_t ldc, float alpha,       \
                                      float beta) {                                           \
        dot512(R, N, kc, a, lda, bt, ldbt, c, ldc, alpha, beta);                              \
    }
D512(1, 1) D512(2, 1) D512(3, 1) D512(4, 1) D512(1, 2) D512(2, 2) D512(3, 2) D512(4, 2)

static void dot_avx512(int mrows, int ncols, int64_t kc, const float *a, int64_t lda,
                       const float *bt, int64_t ldbt, float *c, int64_t ldc, float alpha,
                       float beta) {
    static const dotr_fn tab[2][4] = { { dot512_1_1, dot512_2_1, dot512_3_1, dot512_4_1 },
                                       { dot512_1_2, dot512_2_2, dot512_3_2, dot512_4_2 } };
    for (int i = 0; i < mrows; i += 4) {
        const int r = mrows - i < 4 ? mrows - i : 4;
        tab[ncols - 1][r - 1](kc, a + i * lda, lda, bt, ldbt, c + i * ldc, ldc, alpha, beta);
    }
}

static const gemm_geom geom_avx512 = { LT_GEMM_AVX512, Z_MR, Z_NR, 256, 384, z_tab, 3, 16,
                                       dot_avx512 };

static int cpu_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int cpu_avx512(void) {
    return cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#else
static int cpu_avx2(void) { return 0; }
static int cpu_avx512(void) { return 0; }
#endif

/* ---------------------------------------------------------------- ISA choice */

int lt_gemm_isa_supported(int isa) {
    switch (isa) {
    case LT_GEMM_AUTO: case LT_GEMM_GENERIC: return 1;
    case LT_GEMM_AVX2: return cpu_avx2();
    case LT_GEMM_AVX512: return cpu_avx512();
    default: return 0;
    }
}

int lt_gemm_best_isa(void) {
    return cpu_avx512() ? LT_GEMM_AVX512 : cpu_avx2() ? LT_GEMM_AVX2 : LT_GEMM_GENERIC;
}

const char *lt_gemm_isa_name(int isa) {
    switch (isa) {
    case LT_GEMM_AUTO: return "auto";
    case LT_GEMM_GENERIC: return "generic";
    case LT_GEMM_AVX2: return "avx2";
    case LT_GEMM_AVX512: return "avx512";
    default: return "?";
    }
}

/* NULL when the CPU lacks the ISA */
static const gemm_geom *geom_of(int isa) {
    if (isa == LT_GEMM_AUTO) isa = lt_gemm_best_isa();
    if (!lt_gemm_isa_supported(isa)) return NULL;
#if LT_GEMM_X86
    if (isa == LT_GEMM_AVX512) return &geom_avx512;
    if (isa == LT_GEMM_AVX2) return &geom_avx2;
#endif
    return isa == LT_GEMM_GENERIC ? &geom_generic : NULL;
}

/* ---------------------------------------------------------------- packing */

/* A stored (k, m) (transposed): ap[p * MR + i] = a[(p0 + p) * lda + i0 + i] for i < mrows.
 * (A stored (m, k) is read in place: its rows are the kernel's broadcast streams.) */
INL void pack_at_(const int MR, float *restrict ap, const float *restrict a, int64_t lda,
                  int64_t i0, int64_t p0, int64_t mrows, int64_t kc) {
    for (int64_t p = 0; p < kc; p++) {
        const float *src = a + (p0 + p) * lda + i0;
        float *dst = ap + p * MR;
        if (mrows == MR)
            for (int i = 0; i < MR; i++) dst[i] = src[i];
        else
            for (int64_t i = 0; i < mrows; i++) dst[i] = src[i];
    }
}

static void pack_at(float *ap, const float *a, int64_t lda, int64_t i0, int64_t p0, int64_t mrows,
                    int64_t kc, int mr) {
    switch (mr) {
    case 4: pack_at_(4, ap, a, lda, i0, p0, mrows, kc); break;
    case 6: pack_at_(6, ap, a, lda, i0, p0, mrows, kc); break;
    default: pack_at_(8, ap, a, lda, i0, p0, mrows, kc); break;
    }
}

/* Panels of NR columns: bp[(j / NR) * NR * kc + p * NR + j % NR] = op(B)(p0 + p, j0 + j) for
 * j < ncols, zero in the last panel's columns beyond ncols. */
INL void pack_b_(const int NR, float *restrict bp, const float *restrict b, int tb, int64_t ldb,
                 int64_t p0, int64_t j0, int64_t kc, int64_t ncols) {
    const int64_t full = ncols / NR * NR, rest = ncols - full;
    if (!tb) {
        for (int64_t p = 0; p < kc; p++) {
            const float *src = b + (p0 + p) * ldb + j0;
            for (int64_t j = 0; j < full; j += NR) {
                float *dst = bp + j * kc + p * NR;
                for (int q = 0; q < NR; q++) dst[q] = src[j + q];
            }
            if (rest) {
                float *dst = bp + full * kc + p * NR;
                for (int64_t q = 0; q < rest; q++) dst[q] = src[full + q];
                for (int64_t q = rest; q < NR; q++) dst[q] = 0.0f;
            }
        }
        return;
    }
    /* B stored (n, k): blocks of 8 k-steps, each column's 8 values read contiguously */
    for (int64_t j = 0; j < ncols; j += NR) {
        const int64_t w = ncols - j < NR ? ncols - j : NR;
        float *panel = bp + j * kc;
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8)
            for (int64_t q = 0; q < w; q++) {
                const float *src = b + (j0 + j + q) * ldb + p0 + p;
                for (int t = 0; t < 8; t++) panel[(p + t) * NR + q] = src[t];
            }
        for (; p < kc; p++)
            for (int64_t q = 0; q < w; q++) panel[p * NR + q] = b[(j0 + j + q) * ldb + p0 + p];
        if (w < NR)
            for (p = 0; p < kc; p++)
                for (int64_t q = w; q < NR; q++) panel[p * NR + q] = 0.0f;
    }
}

static void pack_b(float *bp, const float *b, int tb, int64_t ldb, int64_t p0, int64_t j0,
                   int64_t kc, int64_t ncols, int nr) {
    if (nr == 48) pack_b_(48, bp, b, tb, ldb, p0, j0, kc, ncols);
    else pack_b_(16, bp, b, tb, ldb, p0, j0, kc, ncols);
}

#if LT_GEMM_X86
/* dst rows t < 8 (stride ldd) = column t of the 8 x 8 block at src (row stride lds) */
__attribute__((target("avx2"), always_inline))
static inline void transpose8(float *dst, int64_t ldd, const float *src, int64_t lds) {
    const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    const __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    const __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    const __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* pack_b_ for B stored (n, k) with AVX2 8 x 8 transposes (the weight-gradient GEMMs of the
 * convolutions pack their column matrix this way); the edges as pack_b_ does them */
__attribute__((target("avx2")))
static void pack_bt_avx2(float *bp, const float *b, int64_t ldb, int64_t p0, int64_t j0,
                         int64_t kc, int64_t ncols, int nr) {
    const int64_t NR = nr;
    for (int64_t j = 0; j < ncols; j += NR) {
        const int64_t w = ncols - j < NR ? ncols - j : NR, w8 = w / 8 * 8;
        float *panel = bp + j * kc;
        const float *bj = b + (j0 + j) * ldb + p0;
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            for (int64_t q = 0; q < w8; q += 8)
                transpose8(panel + p * NR + q, NR, bj + q * ldb + p, ldb);
            for (int64_t q = w8; q < w; q++)
                for (int t = 0; t < 8; t++) panel[(p + t) * NR + q] = bj[q * ldb + p + t];
        }
        for (; p < kc; p++)
            for (int64_t q = 0; q < w; q++) panel[p * NR + q] = bj[q * ldb + p];
        if (w < NR)
            for (p = 0; p < kc; p++)
                for (int64_t q = w; q < NR; q++) panel[p * NR + q] = 0.0f;
    }
}
#endif

/* ---------------------------------------------------------------- driver */

static int64_t round_up(int64_t x, int64_t r) { return (x + r - 1) / r * r; }

/* floats of the A panel (MR x KC, rounded to 64 bytes) and of the B block */
static void scratch_floats(const gemm_geom *g, int64_t n, int64_t k, int64_t *na, int64_t *nb) {
    const int64_t kc = min64(k, g->kc);
    *na = round_up(g->mr * kc, 16);
    *nb = kc * min64(round_up(n, g->nr), g->nc);
}

size_t lt_gemm_scratch_size(int isa, int64_t m, int64_t n, int64_t k) {
    const gemm_geom *g = geom_of(isa);
    if (!g || m <= 0 || n <= 0 || k <= 0) return 0;
    int64_t na, nb;
    scratch_floats(g, n, k, &na, &nb);
    return (size_t)(na + nb) * sizeof(float) + 64;
}

static lt_status check_args(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a,
                            int64_t lda, const float *b, int64_t ldb, const float *c, int64_t ldc) {
    if (m < 0 || n < 0 || k < 0) return LT_EARG;
    const int64_t acols = ta ? m : k, bcols = tb ? k : n;
    if (lda < (acols > 1 ? acols : 1) || ldb < (bcols > 1 ? bcols : 1) || ldc < (n > 1 ? n : 1))
        return LT_EARG;
    if (m && n && (!c || (k && (!a || !b)))) return LT_EARG;
    return LT_OK;
}

/* C = beta * C, for k == 0 or alpha == 0 (beta == 0 writes zeros without reading C) */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        float *cr = c + i * ldc;
        if (beta == 0.0f) memset(cr, 0, (size_t)n * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t j = 0; j < n; j++) cr[j] *= beta;
    }
}

/* Loop order (BLIS): N blocks of NC, K blocks of KC (pack B), M panels of MR (A read in place,
 * or packed when stored transposed), N panels of NR (micro-kernel). With a single M panel, B
 * (stored (k, n)) is streamed once: read in place, only a partial last panel packed.
 * ws: the A panel then the B block, 64-byte aligned. */
static void gemm_run(const gemm_geom *g, int ta, int tb, int64_t m, int64_t n, int64_t k,
                     float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float beta, float *c, int64_t ldc, float *ws) {
    int64_t na, nb;
    scratch_floats(g, n, k, &na, &nb);
    float *ap = ws, *bp = ws + na;
    const int mr = g->mr, nr = g->nr;
    const int direct_b = !tb && (m <= 4 * mr || ldb % 256 != 0);
    for (int64_t jc = 0; jc < n; jc += g->nc) {
        const int64_t nc = min64(g->nc, n - jc), nfull = nc / nr * nr;
        /* a last panel whose last vector holds 1 or 2 columns: those run as dot products when
         * A is read in place (a 16-wide vector would mostly multiply zeros) */
        const int rem = nfull < nc ? (int)((nc - nfull) % g->vw) : 0;
        const int dot = !ta && rem >= 1 && rem <= 2;
        const int64_t j0 = jc + nc - rem;   /* first dot column */
        for (int64_t pc = 0; pc < k; pc += g->kc) {
            const int64_t kc = min64(g->kc, k - pc);
            const float bet = pc == 0 ? beta : 1.0f;
            if (!direct_b) {
#if LT_GEMM_X86
                if (tb && g->isa != LT_GEMM_GENERIC) pack_bt_avx2(bp, b, ldb, pc, jc, kc, nc, nr);
                else
#endif
                    pack_b(bp, b, tb, ldb, pc, jc, kc, nc, nr);
            }
            else if (nfull < nc - (dot ? rem : 0))
                pack_b(bp, b, 0, ldb, pc, jc + nfull, kc, nc - nfull, nr);
            /* the dot columns contiguous along k: in place when B is stored (n, k), else
             * copied into the A panel's scratch (unused: A is read in place) */
            const float *bt = b + j0 * ldb + pc;
            int64_t ldbt = ldb;
            if (dot && !tb) {
                for (int j = 0; j < rem; j++)
                    for (int64_t p = 0; p < kc; p++) ap[j * kc + p] = b[(pc + p) * ldb + j0 + j];
                bt = ap;
                ldbt = kc;
            }
            for (int64_t ir = 0; ir < m; ir += mr) {
                const int64_t mrows = min64(mr, m - ir);
                const float *pa = ap;
                int64_t rs = 1, ps = mr;
                if (ta) pack_at(ap, a, lda, ir, pc, mrows, kc, mr);
                else { pa = a + ir * lda + pc; rs = lda; ps = 1; }
                const kern_fn *row = g->tab + (mrows - 1) * g->nv_max;
                float *cr = c + ir * ldc + jc;
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    int ncols = (int)min64(nr, nc - jr);
                    if (dot && jr + ncols == nc) {
                        g->dot((int)mrows, rem, kc, pa, lda, bt, ldbt, cr + nc - rem, ldc, alpha, bet);
                        ncols -= rem;
                        if (!ncols) continue;
                    }
                    const float *pb = bp + jr * kc;
                    int64_t psb = nr;
                    if (direct_b) {
                        if (jr < nfull) { pb = b + pc * ldb + jc + jr; psb = ldb; }
                        else pb = bp;
                    }
                    row[(ncols + g->vw - 1) / g->vw - 1](kc, pa, rs, ps, pb, psb, cr + jr, ldc,
                                                         alpha, bet, ncols);
                }
            }
        }
    }
}

lt_status lt_gemm(int isa, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                  float *c, int64_t ldc, void *scratch) {
    lt_status st = check_args(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    if (st != LT_OK) return st;
    const gemm_geom *g = geom_of(isa);
    if (!g) return LT_EARG;
    if (m == 0 || n == 0) return LT_OK;
    if (k == 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return LT_OK;
    }
    void *own = NULL;
    if (!scratch) {
        own = malloc(lt_gemm_scratch_size(isa, m, n, k));
        if (!own) return LT_ENOMEM;
        scratch = own;
    }
    float *ws = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    gemm_run(g, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ws);
    free(own);
    return LT_OK;
}

lt_status lt_gemm_parallel(int nthreads, int isa, int ta, int tb, int64_t m, int64_t n,
                           int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                           int64_t ldb, float beta, float *c, int64_t ldc) {
    lt_status st = check_args(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    if (st != LT_OK) return st;
    const gemm_geom *g = geom_of(isa);
    if (!g) return LT_EARG;
    const int64_t npan = (n + g->nr - 1) / g->nr, mpan = (m + g->mr - 1) / g->mr;
    /* N slices when there are enough column panels, else M slices */
    const int split_n = npan >= 2 * (int64_t)nthreads || npan >= mpan;
    const int64_t pans = split_n ? npan : mpan;
    if (nthreads > pans) nthreads = (int)pans;
    /* at least 8 MFLOP a thread: waking a team costs more than it saves below that */
    const double cap = 2.0 * (double)m * (double)n * (double)k / 8e6;
    if ((double)nthreads > cap) nthreads = (int)cap;
    if (nthreads <= 1 || omp_get_active_level() > 0 || k == 0 || alpha == 0.0f)
        return lt_gemm(isa, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
    int failed = 0;
    #pragma omp parallel num_threads(nthreads)
    {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t lo = pans * t / nt, hi = pans * (t + 1) / nt;
        lt_status s = LT_OK;
        if (split_n) {
            const int64_t j0 = lo * g->nr, j1 = min64(hi * g->nr, n);
            if (j1 > j0)
                s = lt_gemm(isa, ta, tb, m, j1 - j0, k, alpha, a, lda, tb ? b + j0 * ldb : b + j0,
                            ldb, beta, c + j0, ldc, NULL);
        } else {
            const int64_t i0 = lo * g->mr, i1 = min64(hi * g->mr, m);
            if (i1 > i0)
                s = lt_gemm(isa, ta, tb, i1 - i0, n, k, alpha, ta ? a + i0 : a + i0 * lda, lda, b,
                            ldb, beta, c + i0 * ldc, ldc, NULL);
        }
        if (s != LT_OK) {
            #pragma omp atomic write
            failed = 1;
        }
    }
    return failed ? LT_ENOMEM : LT_OK;
}

/* ---------------------------------------------------------------- reference */

lt_status lt_gemm_naive(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc) {
    lt_status st = check_args(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    if (st != LT_OK) return st;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t p = 0; p < k; p++)
                s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
                     (double)(tb ? b[j * ldb + p] : b[p * ldb + j]);
            float *cij = c + i * ldc + j;
            const double v = alpha == 0.0f ? 0.0 : (double)alpha * s;   /* BLAS: A, B unread */
            *cij = (float)(beta == 0.0f ? v : v + (double)beta * (double)*cij);
        }
    return LT_OK;
}
