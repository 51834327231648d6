/* lt_norm.h: batch normalisation, group normalisation and dropout kernels (float32,
 * contiguous buffers, no Lua). x is viewed as (N, C, S) with S the product of the dims
 * after the channel dim, so NCHW, N x C and N x C x L all use the same kernels.
 *
 *   // training batch norm of x (N, C, S) with affine w, b (C):
 *   float mean[C], invstd[C], var[C];
 *   lt_batch_norm_stats(ctx, mean, var, x, N, C, S);
 *   for (c = 0; c < C; c++) invstd[c] = 1.0f / sqrtf(var[c] + eps);
 *   lt_batch_norm_forward(ctx, y, x, mean, invstd, w, b, N, C, S);
 *   // later (the batch-norm backward kernels WRITE dx, dw, db: no zeroing needed):
 *   lt_batch_norm_backward(ctx, dx, dw, db, dy, x, mean, invstd, w, N, C, S, 1);
 *   // fused batch norm + relu: r = relu(y) without y, and its backward from r:
 *   lt_batch_norm_relu_forward(ctx, r, x, mean, invstd, w, b, N, C, S);
 *   lt_batch_norm_relu_backward(ctx, dx, dw, db, dr, r, x, mean, invstd, w, N, C, S, 1);
 *
 * Every optimised kernel (OpenMP over channels / planes, one pass per sweep) has a
 * `_naive` twin: plain loops, double accumulation, the definition the specs compare to.
 * w and b may be NULL (no affine transform); dx, dw, db may be NULL (not wanted).
 */
#ifndef LT_NORM_H
#define LT_NORM_H

#include <stdint.h>
#include "lt_core.h"

/* db[c] += the sum of channel c of t (N, C, S) over N and S (a convolution's bias gradient,
 * csrc/lt_conv.c bias_grad): per plane in 64 float lanes, in double across planes; OpenMP
 * over channels from 32768 elements. The naive twin sums every element in double. */
void lt_channel_sums_add(const lt_context *ctx, float *db, const float *t, int64_t N, int64_t C,
                         int64_t S);
void lt_channel_sums_add_naive(float *db, const float *t, int64_t N, int64_t C, int64_t S);
/* Per-channel mean and biased variance of x over N and S, in one pass. */
lt_status lt_batch_norm_stats(const lt_context *ctx,
                              float *mean, float *var,        // (C), (C)
                              const float *x,                  // (N, C, S)
                              int64_t N, int64_t C, int64_t S);
lt_status lt_batch_norm_stats_naive(float *mean, float *var, const float *x,
                                    int64_t N, int64_t C, int64_t S);

/* y = (x - mean[c]) * invstd[c] * w[c] + b[c]. */
lt_status lt_batch_norm_forward(const lt_context *ctx,
                                float *y,                      // (N, C, S)
                                const float *x,                // (N, C, S)
                                const float *mean, const float *invstd,  // (C), (C)
                                const float *w, const float *b,          // (C) or NULL
                                int64_t N, int64_t C, int64_t S);
lt_status lt_batch_norm_forward_naive(float *y, const float *x, const float *mean,
                                      const float *invstd, const float *w, const float *b,
                                      int64_t N, int64_t C, int64_t S);

/* y = relu((x - mean[c]) * invstd[c] * w[c] + b[c]) in one pass (relu keeps NaN, as
 * lt_activation's); the naive twin is lt_batch_norm_forward_naive followed by relu. */
lt_status lt_batch_norm_relu_forward(const lt_context *ctx,
                                     float *y,                 // (N, C, S)
                                     const float *x,           // (N, C, S)
                                     const float *mean, const float *invstd,  // (C), (C)
                                     const float *w, const float *b,          // (C) or NULL
                                     int64_t N, int64_t C, int64_t S);
lt_status lt_batch_norm_relu_forward_naive(float *y, const float *x, const float *mean,
                                           const float *invstd, const float *w, const float *b,
                                           int64_t N, int64_t C, int64_t S);

/* training = 1: mean/invstd are the batch statistics and depend on x (closed form);
 * training = 0: they are constants (running statistics). */
lt_status lt_batch_norm_backward(const lt_context *ctx,
                                 float *dx, float *dw, float *db,  // (N, C, S), (C), (C)
                                 const float *dy, const float *x,  // (N, C, S) each
                                 const float *mean, const float *invstd,  // (C), (C)
                                 const float *w,                   // (C) or NULL
                                 int64_t N, int64_t C, int64_t S, int training);
lt_status lt_batch_norm_backward_naive(float *dx, float *dw, float *db, const float *dy,
                                       const float *x, const float *mean,
                                       const float *invstd, const float *w,
                                       int64_t N, int64_t C, int64_t S, int training);
/* The backward of lt_batch_norm_relu_forward given its output r: the batch-norm backward
 * of dy masked by r > 0 (the relu's gradient, 0 at 0 as PyTorch), without a temporary. */
lt_status lt_batch_norm_relu_backward(const lt_context *ctx,
                                      float *dx, float *dw, float *db,  // (N, C, S), (C), (C)
                                      const float *dy, const float *r,  // (N, C, S) each
                                      const float *x,                   // (N, C, S)
                                      const float *mean, const float *invstd,  // (C), (C)
                                      const float *w,                   // (C) or NULL
                                      int64_t N, int64_t C, int64_t S, int training);
lt_status lt_batch_norm_relu_backward_naive(float *dx, float *dw, float *db, const float *dy,
                                            const float *r, const float *x, const float *mean,
                                            const float *invstd, const float *w,
                                            int64_t N, int64_t C, int64_t S, int training);

/* Sums of one plane of S elements: *a += sum(g), *q += sum(g * (x - mu)), g = dy, or dy
 * masked by r > 0 when r != NULL (a relu's gradient). In chunks of LT_BN_CHUNK: float SIMD
 * partial sums inside a chunk (16 adds per lane of a 16-wide vector), added in double across
 * chunks, so the error does not grow with S while the inner loop stays in float (converting
 * every element to double cost twice the time of the whole dx pass). */
enum { LT_BN_CHUNK = 256 };
static inline __attribute__((always_inline)) void
lt_batch_norm_plane_sums(const float *g, const float *r, const float *x, float mu, int64_t S,
                         double *a, double *q) {
    double sa = 0.0, sq = 0.0;
    for (int64_t s0 = 0; s0 < S; s0 += LT_BN_CHUNK) {
        const int64_t len = S - s0 < LT_BN_CHUNK ? S - s0 : LT_BN_CHUNK;
        const float *gc = g + s0, *xc = x + s0;
        float fa = 0.0f, fq = 0.0f;
        if (r) {
            const float *rc = r + s0;
#pragma omp simd reduction(+ : fa, fq)
            for (int64_t s = 0; s < len; s++) {
                const float gv = gc[s];   /* loaded unconditionally: the select vectorises */
                const float gs = rc[s] > 0.0f ? gv : 0.0f;
                fa += gs;
                fq += gs * (xc[s] - mu);
            }
        } else {
#pragma omp simd reduction(+ : fa, fq)
            for (int64_t s = 0; s < len; s++) {
                fa += gc[s];
                fq += gc[s] * (xc[s] - mu);
            }
        }
        sa += (double)fa;
        sq += (double)fq;
    }
    *a += sa;
    *q += sq;
}

/* The batch-norm backward's reduction over channel c of dy and x, both (N, C, S):
 * sums[0] = sum(dy), sums[1] = sum(dy * (x - mu)) over the channel's N planes, in double
 * across chunks of a plane and across planes (lt_batch_norm_plane_sums). dw[c] = sums[1] *
 * invstd[c] and db[c] = sums[0]; the training dx needs both. The one definition, used by
 * lt_batch_norm_backward and by SyncBatchNorm (csrc/mpi/lt_syncbn.c, which reduces the sums
 * over the ranks between the two passes). Inline here rather than in lt_norm.c:
 * lunet.distributed.core does not link lt_norm.o (that would pull in the context and
 * OpenBLAS), and each caller's per-ISA copy (lt_isa.h) gets its own vectorisation of the
 * loop. */
static inline __attribute__((always_inline)) void
lt_batch_norm_channel_sums(double sums[2], const float *dy, const float *x, float mu, int64_t N,
                           int64_t C, int64_t S, int64_t c) {
    double sdy = 0.0, sdyx = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const int64_t o = (n * C + c) * S;
        lt_batch_norm_plane_sums(dy + o, NULL, x + o, mu, S, &sdy, &sdyx);
    }
    sums[0] = sdy;
    sums[1] = sdyx;
}

/* running = (1 - momentum) * running + momentum * batch value, the variance unbiased
 * (var * M / (M - 1), M = N * S), as PyTorch. Either pointer may be NULL. */
void lt_batch_norm_update_running(float *running_mean, float *running_var,  // (C), (C)
                                  const float *mean, const float *var,      // (C), (C)
                                  int64_t C, int64_t M, double momentum);

/* Group norm: G groups of C / G consecutive channels; statistics per (n, g) over
 * C / G * S elements. mean, invstd (N, G) are written for the backward. */
lt_status lt_group_norm_forward(const lt_context *ctx,
                                float *y, float *mean, float *invstd,  // (N,C,S), (N,G), (N,G)
                                const float *x,                        // (N, C, S)
                                const float *w, const float *b,        // (C) or NULL
                                int64_t N, int64_t C, int64_t S, int64_t G, double eps);
lt_status lt_group_norm_forward_naive(float *y, float *mean, float *invstd, const float *x,
                                      const float *w, const float *b,
                                      int64_t N, int64_t C, int64_t S, int64_t G, double eps);
/* work: (N, C, 2) doubles of scratch (per-plane sums of dy and dy * x). */
lt_status lt_group_norm_backward(const lt_context *ctx,
                                 float *dx, float *dw, float *db,  // (N, C, S), (C), (C)
                                 const float *dy, const float *x,  // (N, C, S) each
                                 const float *mean, const float *invstd,  // (N, G) each
                                 const float *w,                   // (C) or NULL
                                 double *work,                     // (N, C, 2)
                                 int64_t N, int64_t C, int64_t S, int64_t G);
lt_status lt_group_norm_backward_naive(float *dx, float *dw, float *db, const float *dy,
                                       const float *x, const float *mean,
                                       const float *invstd, const float *w,
                                       int64_t N, int64_t C, int64_t S, int64_t G);

/* Dropout masks: each of the n entries is 0 with probability p, else 1 / (1 - p)
 * (inverted scaling; all 0 when p = 1). Drawn in order from g: reproducible. */
lt_status lt_dropout_mask(float *mask, int64_t n, double p, lt_rng *g);  // (n)
/* y = x * mask[i / S]: S = 1 for element dropout, S = H * W for whole planes. */
lt_status lt_dropout_forward(const lt_context *ctx,
                             float *y,                         // (n * S)
                             const float *x,                   // (n * S)
                             const float *mask,                // (n)
                             int64_t n, int64_t S);
lt_status lt_dropout_backward(const lt_context *ctx, float *dx, const float *dy, const float *mask,
                              int64_t n, int64_t S);

#endif
