/* lt_gemm.h: lunet's own single-precision GEMM (BLIS-style packed panels, register
 * micro-kernels in AVX-512, AVX2+FMA or plain C, chosen at run time), a parallel entry that
 * splits one GEMM over an OpenMP team, and the naive reference the specs compare with.
 *
 *   // C (m, n) = 2 * A (m, k) * B^T + 0 * C, B stored (n, k); row-major, leading dims
 *   lt_status st = lt_gemm(LT_GEMM_AUTO, 0, 1, m, n, k, 2.0f, a, k, b, k, 0.0f, c, n, NULL);
 *   st = lt_gemm_parallel(2, LT_GEMM_AUTO, 0, 1, m, n, k, 2.0f, a, k, b, k, 0.0f, c, n);
 *
 * Row-major like cblas_sgemm(CblasRowMajor, ...): op(A) is (m, k), op(B) is (k, n), C is
 * (m, n) with row stride ldc; ta / tb nonzero mean A is stored (k, m) / B is stored (n, k).
 * beta == 0 overwrites C without reading it (NaN in C do not propagate), as BLAS does.
 * LT_EARG for negative sizes, a leading dimension smaller than its rows, or an ISA the CPU
 * lacks; LT_ENOMEM when scratch cannot be allocated. No global state: the scratch is the
 * caller's (at least lt_gemm_scratch_size bytes, any alignment) or, with NULL, malloc'd and
 * freed inside the call. Thread-safe: any number of threads may call at once. */
#ifndef LT_GEMM_H
#define LT_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include "lt_core.h"

/* Instruction sets of the micro-kernels. AUTO: the best the CPU has. */
typedef enum {
    LT_GEMM_AUTO = -1,
    LT_GEMM_GENERIC = 0,   /* plain C, any CPU */
    LT_GEMM_AVX2 = 1,      /* AVX2 + FMA, 6x16 tiles */
    LT_GEMM_AVX512 = 2     /* AVX-512F (+BW, VL, DQ), 8x48 tiles */
} lt_gemm_isa;

int lt_gemm_isa_supported(int isa);        /* 1 if this CPU runs it (AUTO and GENERIC: 1) */
int lt_gemm_best_isa(void);                /* what AUTO resolves to */
const char *lt_gemm_isa_name(int isa);     /* "avx512", "avx2", "generic", "auto" */

/* Bytes of scratch lt_gemm needs for this shape and ISA (0 when m, n or k is 0). */
size_t lt_gemm_scratch_size(int isa, int64_t m, int64_t n, int64_t k);

/* C = alpha * op(A) op(B) + beta * C on the calling thread. */
lt_status lt_gemm(int isa, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                  float *c, int64_t ldc, void *scratch);

/* The same split over up to nthreads OpenMP threads (N in panel-aligned slices, or M when N
 * has too few panels; each thread mallocs its own scratch), at most one thread per 8 MFLOP.
 * nthreads <= 1, or a call from inside an active parallel region, runs on the calling thread. */
lt_status lt_gemm_parallel(int nthreads, int isa, int ta, int tb, int64_t m, int64_t n,
                           int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                           int64_t ldb, float beta, float *c, int64_t ldc);

/* The reference: triple loop, double accumulation, same conventions and checks. */
lt_status lt_gemm_naive(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc);

#endif
