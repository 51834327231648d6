/* lt_norm.c: batch norm, group norm and dropout kernels (see lt_norm.h).
 * Fast paths: OpenMP over channels (batch norm statistics and backward) or planes
 * (normalise, group norm), SIMD reductions in double; naive twins below each. */
#include "lt_norm.h"
#include "lt_isa.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

/* Below this many elements a kernel runs on one thread: forking costs more. */
#define LT_NORM_PAR_MIN 32768

static int norm_threads(const lt_context *ctx, int64_t work) {
    return work >= LT_NORM_PAR_MIN ? lt_ctx_num_threads(ctx) : 1;
}

static int bad_dims(int64_t N, int64_t C, int64_t S) {
    return N < 0 || C < 0 || S < 0;
}

/* Shifted one-pass sums of a contiguous row: s1 += sum(x - x0), s2 += sum((x - x0)^2).
 * The shift x0 (a sample of the data) keeps s2 - s1^2 / M free of cancellation when
 * |mean| >> std. Float SIMD partial sums within chunks of LT_BN_CHUNK elements, added in
 * double across chunks (as lt_batch_norm_plane_sums): the error does not grow with n, and
 * the loop does not convert every element to double. */
static inline void row_shifted_sums(const float *row, int64_t n, float x0,
                                    double *s1, double *s2) {
    double a = 0.0, q = 0.0;
    for (int64_t c0 = 0; c0 < n; c0 += LT_BN_CHUNK) {
        const int64_t len = n - c0 < LT_BN_CHUNK ? n - c0 : LT_BN_CHUNK;
        const float *rc = row + c0;
        float fa = 0.0f, fq = 0.0f;
#pragma omp simd reduction(+ : fa, fq)
        for (int64_t i = 0; i < len; i++) {
            const float d = rc[i] - x0;
            fa += d;
            fq += d * d;
        }
        a += (double)fa;
        q += (double)fq;
    }
    *s1 += a;
    *s2 += q;
}

/* mean and biased variance from shifted sums over M elements. */
static inline void finish_stats(double x0, double s1, double s2, double M,
                                double *mean, double *var) {
    double m = s1 / M;
    double v = s2 / M - m * m;
    *mean = x0 + m;
    *var = v > 0.0 ? v : 0.0;
}

/* ------------------------------------------------------------------ channel sums */

/* The sum of one plane of S floats in double: 64 float lanes (four vector accumulators at
 * AVX-512, independent chains instead of one add waiting for the previous) over blocks of
 * 64, then blocks of 16, then the tail; at most S / 64 + 1 adds per lane, added in a fixed
 * tree and converted to double once per plane. */
static inline LT_ISA_INLINE double plane_sum(const float *p, int64_t S) {
    float acc[64];
#pragma omp simd
    for (int k = 0; k < 64; k++) acc[k] = 0.0f;
    int64_t s = 0;
    for (; s + 64 <= S; s += 64) {
#pragma omp simd
        for (int k = 0; k < 64; k++) acc[k] += p[s + k];
    }
    for (; s + 16 <= S; s += 16) {
#pragma omp simd
        for (int k = 0; k < 16; k++) acc[k] += p[s + k];
    }
    float tail = 0.0f;
    for (; s < S; s++) tail += p[s];
#pragma omp simd
    for (int k = 0; k < 32; k++) acc[k] += acc[k + 32];
#pragma omp simd
    for (int k = 0; k < 16; k++) acc[k] += acc[k + 16];
    double d = (double)tail;
    for (int k = 0; k < 16; k++) d += (double)acc[k];
    return d;
}

static inline LT_ISA_INLINE void channel_sum_body(float *db, const float *t, int64_t N, int64_t C,
                                                  int64_t S, int64_t c) {
    double d = 0.0;
    for (int64_t n = 0; n < N; n++) d += plane_sum(t + (n * C + c) * S, S);
    db[c] += (float)d;
}
LT_ISA_VARIANTS(channel_sum, (float *db, const float *t, int64_t N, int64_t C, int64_t S, int64_t c),
                (db, t, N, C, S, c))

void lt_channel_sums_add(const lt_context *ctx, float *db, const float *t, int64_t N, int64_t C,
                         int64_t S) {
    if (bad_dims(N, C, S)) return;
    int nt = norm_threads(ctx, N * C * S);
    if (nt > C) nt = C < 1 ? 1 : (int)C;
    const int isa = lt_ctx_isa(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < C; c++) channel_sum_isa[isa](db, t, N, C, S, c);
}

void lt_channel_sums_add_naive(float *db, const float *t, int64_t N, int64_t C, int64_t S) {
    if (bad_dims(N, C, S)) return;
    for (int64_t c = 0; c < C; c++) {
        double d = 0.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) d += t[(n * C + c) * S + s];
        db[c] += (float)d;
    }
}

/* ------------------------------------------------------------------ batch norm */

/* The per-channel loops of the batch-norm kernels, compiled per ISA level (lt_isa.h). */
static inline LT_ISA_INLINE void bn_stats_channel_body(const float *x, int64_t N, int64_t C,
                                                       int64_t S, int64_t c, float x0, double *s1,
                                                       double *s2) {
    for (int64_t n = 0; n < N; n++) row_shifted_sums(x + (n * C + c) * S, S, x0, s1, s2);
}
LT_ISA_VARIANTS(bn_stats_channel,
                (const float *x, int64_t N, int64_t C, int64_t S, int64_t c, float x0, double *s1,
                 double *s2),
                (x, N, C, S, c, x0, s1, s2))

static inline LT_ISA_INLINE void bn_fwd_plane_body(float *yp, const float *xp, int64_t S,
                                                   float scale, float shift) {
#pragma omp simd
    for (int64_t s = 0; s < S; s++) yp[s] = xp[s] * scale + shift;
}
LT_ISA_VARIANTS(bn_fwd_plane, (float *yp, const float *xp, int64_t S, float scale, float shift),
                (yp, xp, S, scale, shift))

/* The same followed by relu, as lt_activation's (v < 0 ? 0 : v keeps NaN). */
static inline LT_ISA_INLINE void bn_relu_fwd_plane_body(float *yp, const float *xp, int64_t S,
                                                        float scale, float shift) {
#pragma omp simd
    for (int64_t s = 0; s < S; s++) {
        const float v = xp[s] * scale + shift;
        yp[s] = v < 0.0f ? 0.0f : v;
    }
}
LT_ISA_VARIANTS(bn_relu_fwd_plane,
                (float *yp, const float *xp, int64_t S, float scale, float shift),
                (yp, xp, S, scale, shift))

/* One plane's shifted sums (the per-plane step of bn_stats_channel), for the memory-order pass. */
static inline LT_ISA_INLINE void bn_stats_plane_body(const float *row, int64_t S, float x0,
                                                     double *out) {
    double a = 0.0, q = 0.0;
    row_shifted_sums(row, S, x0, &a, &q);
    out[0] = a;
    out[1] = q;
}
LT_ISA_VARIANTS(bn_stats_plane, (const float *row, int64_t S, float x0, double *out),
                (row, S, x0, out))

/* Planes of fewer elements than this go through the batch-norm statistics and backward in
 * memory order (per-plane sums into a work array, then a pass per channel over those, then
 * the planes again), not channel by channel: a channel's N planes are N short runs C * S
 * apart, which the prefetcher follows badly. Measured from memory (cache evicted first), one
 * thread, training forward / backward in ms, channel order -> memory order: 64x64x7x7
 * 0.21 / 0.40 -> 0.13 / 0.20, 64x32x14x14 0.24 / 0.61 -> 0.19 / 0.35, 64x16x28x28 0.53 / 0.84
 * -> 0.36 / 0.70, 8x64x32x32 0.24 / 0.55 -> 0.18 / 0.34, 8x32x64x64 0.49 / 0.96 -> 0.42 / 0.86;
 * at 8x16x128x128 even, and for volume planes (2x8x64^3) the channel order is faster (its
 * second sweep over a channel partly hits the cache). The per-plane sums are added over n in
 * the same order either way. */
#define LT_BN_PLANE_ORDER_MAX_S 8192

static int bn_plane_order(int64_t S) { return S < LT_BN_PLANE_ORDER_MAX_S; }

/* The statistics in memory order: work (N * C * 2 doubles) gets each plane's shifted sums. */
static lt_status bn_stats_planes(const lt_context *ctx, float *mean, float *var, const float *x,
                                 int64_t N, int64_t C, int64_t S) {
    int64_t P, bytes;
    if (lt_mul_ovf(N, C, &P) || lt_mul_ovf(P, 2 * (int64_t)sizeof(double), &bytes))
        return LT_EOVERFLOW;
    double *work = malloc(bytes > 0 ? (size_t)bytes : 1);
    if (!work) return LT_ENOMEM;
    const int isa = lt_ctx_isa(ctx);
#pragma omp parallel for num_threads(norm_threads(ctx, P * S)) schedule(static)
    for (int64_t p = 0; p < P; p++)
        bn_stats_plane_isa[isa](x + p * S, S, x[(p % C) * S], work + 2 * p);
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double s1 = 0.0, s2 = 0.0, m, v;
        for (int64_t n = 0; n < N; n++) {
            s1 += work[2 * (n * C + c)];
            s2 += work[2 * (n * C + c) + 1];
        }
        finish_stats((double)x[c * S], s1, s2, M, &m, &v);
        mean[c] = (float)m;
        var[c] = (float)v;
    }
    free(work);
    return LT_OK;
}

lt_status lt_batch_norm_stats(const lt_context *ctx, float *mean, float *var, const float *x,
                              int64_t N, int64_t C, int64_t S) {
    if (bad_dims(N, C, S) || N * S == 0) return LT_EARG;
    if (bn_plane_order(S)) return bn_stats_planes(ctx, mean, var, x, N, C, S);
    const double M = (double)(N * S);
    const int isa = lt_ctx_isa(ctx);
#pragma omp parallel for num_threads(norm_threads(ctx, N * C * S)) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const float x0 = x[c * S];
        double s1 = 0.0, s2 = 0.0;
        bn_stats_channel_isa[isa](x, N, C, S, c, x0, &s1, &s2);
        double m, v;
        finish_stats((double)x0, s1, s2, M, &m, &v);
        mean[c] = (float)m;
        var[c] = (float)v;
    }
    return LT_OK;
}

lt_status lt_batch_norm_stats_naive(float *mean, float *var, const float *x,
                                    int64_t N, int64_t C, int64_t S) {
    if (bad_dims(N, C, S) || N * S == 0) return LT_EARG;
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double sum = 0.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) sum += x[(n * C + c) * S + s];
        double m = sum / M, sq = 0.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                double d = x[(n * C + c) * S + s] - m;
                sq += d * d;
            }
        mean[c] = (float)m;
        var[c] = (float)(sq / M);
    }
    return LT_OK;
}

static lt_status bn_forward(const lt_context *ctx, float *y, const float *x, const float *mean,
                            const float *invstd, const float *w, const float *b, int64_t N,
                            int64_t C, int64_t S, int relu) {
    if (bad_dims(N, C, S)) return LT_EARG;
    const int isa = lt_ctx_isa(ctx);
#pragma omp parallel for num_threads(norm_threads(ctx, N * C * S)) schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        const int64_t c = p % C;
        const float scale = invstd[c] * (w ? w[c] : 1.0f);
        const float shift = (b ? b[c] : 0.0f) - mean[c] * scale;
        if (relu)
            bn_relu_fwd_plane_isa[isa](y + p * S, x + p * S, S, scale, shift);
        else
            bn_fwd_plane_isa[isa](y + p * S, x + p * S, S, scale, shift);
    }
    return LT_OK;
}

lt_status lt_batch_norm_forward(const lt_context *ctx, float *y, const float *x, const float *mean,
                                const float *invstd, const float *w, const float *b, int64_t N,
                                int64_t C, int64_t S) {
    return bn_forward(ctx, y, x, mean, invstd, w, b, N, C, S, 0);
}

lt_status lt_batch_norm_relu_forward(const lt_context *ctx, float *y, const float *x,
                                     const float *mean, const float *invstd, const float *w,
                                     const float *b, int64_t N, int64_t C, int64_t S) {
    return bn_forward(ctx, y, x, mean, invstd, w, b, N, C, S, 1);
}

lt_status lt_batch_norm_forward_naive(float *y, const float *x, const float *mean,
                                      const float *invstd, const float *w, const float *b,
                                      int64_t N, int64_t C, int64_t S) {
    if (bad_dims(N, C, S)) return LT_EARG;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                double v = ((double)x[i] - mean[c]) * invstd[c];
                if (w) v *= w[c];
                if (b) v += b[c];
                y[i] = (float)v;
            }
    return LT_OK;
}

/* The unfused definition: batch norm, then relu over the result. */
lt_status lt_batch_norm_relu_forward_naive(float *y, const float *x, const float *mean,
                                           const float *invstd, const float *w, const float *b,
                                           int64_t N, int64_t C, int64_t S) {
    lt_status st = lt_batch_norm_forward_naive(y, x, mean, invstd, w, b, N, C, S);
    if (st != LT_OK) return st;
    const int64_t n = N * C * S;
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0.0f) y[i] = 0.0f;
    return LT_OK;
}

/* The reduction of lt_batch_norm_channel_sums over the relu-masked gradient
 * g = r > 0 ? dy : 0 (r the relu output), for the fused batch norm + relu backward. */
static inline LT_ISA_INLINE void bn_relu_channel_sums(double sums[2], const float *dy,
                                                      const float *r, const float *x, float mu,
                                                      int64_t N, int64_t C, int64_t S, int64_t c) {
    double sdy = 0.0, sdyx = 0.0;
    for (int64_t n = 0; n < N; n++) {
        const int64_t o = (n * C + c) * S;
        lt_batch_norm_plane_sums(dy + o, r + o, x + o, mu, S, &sdy, &sdyx);
    }
    sums[0] = sdy;
    sums[1] = sdyx;
}

/* One plane's dx from its channel's coefficients; rp != NULL: through a relu whose output is
 * rp (dy masked by rp > 0). */
static inline LT_ISA_INLINE void bn_bwd_plane_dx_body(float *d, const float *g, const float *rp,
                                                      const float *xp, int64_t S, float mu,
                                                      float gm, float k, float wis) {
    if (rp) {
#pragma omp simd
        for (int64_t s = 0; s < S; s++) {
            const float gv = g[s];
            const float gs = rp[s] > 0.0f ? gv : 0.0f;
            d[s] = (gs - gm - (xp[s] - mu) * k) * wis;
        }
    } else {
#pragma omp simd
        for (int64_t s = 0; s < S; s++) d[s] = (g[s] - gm - (xp[s] - mu) * k) * wis;
    }
}

/* One channel of the backward: reduce sum(dy) and sum(dy * (x - mean)) over the channel's
 * N planes, then write the channel's dx; no temporaries needed. r != NULL: the gradient
 * first goes back through a relu whose output is r (dy masked by r > 0). */
static inline LT_ISA_INLINE void bn_bwd_channel_body(float *dx, float *dw, float *db,
                                                     const float *dy, const float *r,
                                                     const float *x, const float *mean,
                                                     const float *invstd, const float *w,
                                                     int64_t N, int64_t C, int64_t S,
                                                     int training, int64_t c) {
    const double M = (double)(N * S);
    const float mu = mean[c];
    double sums[2];
    if (r)
        bn_relu_channel_sums(sums, dy, r, x, mu, N, C, S, c);
    else
        lt_batch_norm_channel_sums(sums, dy, x, mu, N, C, S, c);
    const double sdy = sums[0], sdyx = sums[1];
    const double is = invstd[c];
    if (dw) dw[c] = (float)(sdyx * is);
    if (db) db[c] = (float)sdy;
    if (!dx) return;
    const float wis = (float)(is * (w ? w[c] : 1.0f));
    /* training: dx = w * invstd * (dy - mean(dy)
     *                               - (x - mu) * invstd^2 * mean(dy * (x - mu))) */
    const float gm = training && M > 0 ? (float)(sdy / M) : 0.0f;
    const float k = training && M > 0 ? (float)(sdyx / M * is * is) : 0.0f;
    for (int64_t n = 0; n < N; n++) {
        const int64_t o = (n * C + c) * S;
        bn_bwd_plane_dx_body(dx + o, dy + o, r ? r + o : NULL, x + o, S, mu, gm, k, wis);
    }
}
LT_ISA_VARIANTS(bn_bwd_channel,
                (float *dx, float *dw, float *db, const float *dy, const float *r,
                 const float *x, const float *mean, const float *invstd, const float *w,
                 int64_t N, int64_t C, int64_t S, int training, int64_t c),
                (dx, dw, db, dy, r, x, mean, invstd, w, N, C, S, training, c))

/* The memory-order backward's per-plane steps: the plane's sums (as lt_batch_norm_plane_sums
 * from zero); its dx is bn_bwd_plane_dx (above). */
static inline LT_ISA_INLINE void bn_bwd_plane_sums_body(const float *dy, const float *r,
                                                        const float *x, float mu, int64_t S,
                                                        double *out) {
    double a = 0.0, q = 0.0;
    lt_batch_norm_plane_sums(dy, r, x, mu, S, &a, &q);
    out[0] = a;
    out[1] = q;
}
LT_ISA_VARIANTS(bn_bwd_plane_sums,
                (const float *dy, const float *r, const float *x, float mu, int64_t S,
                 double *out),
                (dy, r, x, mu, S, out))

LT_ISA_VARIANTS(bn_bwd_plane_dx,
                (float *d, const float *g, const float *rp, const float *xp, int64_t S, float mu,
                 float gm, float k, float wis),
                (d, g, rp, xp, S, mu, gm, k, wis))

/* The backward in memory order (bn_plane_order): per-plane sums into work (N * C * 2
 * doubles), per channel dw, db and the dx coefficients (coef: C * 3 floats), then dx plane
 * by plane. The coefficients are computed as in bn_bwd_channel. */
static lt_status bn_backward_planes(const lt_context *ctx, float *dx, float *dw, float *db,
                                    const float *dy, const float *r, const float *x,
                                    const float *mean, const float *invstd, const float *w,
                                    int64_t N, int64_t C, int64_t S, int training) {
    int64_t P, bytes;
    if (lt_mul_ovf(N, C, &P) || lt_mul_ovf(P, 2 * (int64_t)sizeof(double), &bytes) ||
        lt_add_ovf(bytes, 3 * C * (int64_t)sizeof(float), &bytes))
        return LT_EOVERFLOW;
    double *work = malloc(bytes > 0 ? (size_t)bytes : 1);
    if (!work) return LT_ENOMEM;
    float *coef = (float *)(work + 2 * P);
    const int isa = lt_ctx_isa(ctx);
    const int nt = norm_threads(ctx, P * S);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < P; p++)
        bn_bwd_plane_sums_isa[isa](dy + p * S, r ? r + p * S : NULL, x + p * S, mean[p % C], S,
                                   work + 2 * p);
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t n = 0; n < N; n++) {
            sdy += work[2 * (n * C + c)];
            sdyx += work[2 * (n * C + c) + 1];
        }
        const double is = invstd[c];
        if (dw) dw[c] = (float)(sdyx * is);
        if (db) db[c] = (float)sdy;
        coef[3 * c] = (float)(is * (w ? w[c] : 1.0f));
        coef[3 * c + 1] = training && M > 0 ? (float)(sdy / M) : 0.0f;
        coef[3 * c + 2] = training && M > 0 ? (float)(sdyx / M * is * is) : 0.0f;
    }
    if (dx) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t p = 0; p < P; p++) {
            const int64_t c = p % C;
            bn_bwd_plane_dx_isa[isa](dx + p * S, dy + p * S, r ? r + p * S : NULL, x + p * S, S,
                                     mean[c], coef[3 * c + 1], coef[3 * c + 2], coef[3 * c]);
        }
    }
    free(work);
    return LT_OK;
}

static lt_status bn_backward(const lt_context *ctx, float *dx, float *dw, float *db,
                             const float *dy, const float *r, const float *x, const float *mean,
                             const float *invstd, const float *w, int64_t N, int64_t C,
                             int64_t S, int training) {
    if (bad_dims(N, C, S)) return LT_EARG;
    if (bn_plane_order(S) && N * C > 0)
        return bn_backward_planes(ctx, dx, dw, db, dy, r, x, mean, invstd, w, N, C, S, training);
    const int isa = lt_ctx_isa(ctx);
#pragma omp parallel for num_threads(norm_threads(ctx, N * C * S)) schedule(static)
    for (int64_t c = 0; c < C; c++)
        bn_bwd_channel_isa[isa](dx, dw, db, dy, r, x, mean, invstd, w, N, C, S, training, c);
    return LT_OK;
}

lt_status lt_batch_norm_backward(const lt_context *ctx, float *dx, float *dw, float *db,
                                 const float *dy, const float *x, const float *mean,
                                 const float *invstd, const float *w, int64_t N, int64_t C,
                                 int64_t S, int training) {
    return bn_backward(ctx, dx, dw, db, dy, NULL, x, mean, invstd, w, N, C, S, training);
}

lt_status lt_batch_norm_relu_backward(const lt_context *ctx, float *dx, float *dw, float *db,
                                      const float *dy, const float *r, const float *x,
                                      const float *mean, const float *invstd, const float *w,
                                      int64_t N, int64_t C, int64_t S, int training) {
    if (!r) return LT_EARG;
    return bn_backward(ctx, dx, dw, db, dy, r, x, mean, invstd, w, N, C, S, training);
}

lt_status lt_batch_norm_backward_naive(float *dx, float *dw, float *db, const float *dy,
                                       const float *x, const float *mean,
                                       const float *invstd, const float *w,
                                       int64_t N, int64_t C, int64_t S, int training) {
    if (bad_dims(N, C, S)) return LT_EARG;
    const double M = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double sdy = 0.0, sdyxhat = 0.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                double xhat = ((double)x[i] - mean[c]) * invstd[c];
                sdy += dy[i];
                sdyxhat += dy[i] * xhat;
            }
        if (dw) dw[c] = (float)sdyxhat;
        if (db) db[c] = (float)sdy;
        if (!dx) continue;
        double wc = w ? w[c] : 1.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                double xhat = ((double)x[i] - mean[c]) * invstd[c];
                double dxhat = dy[i];
                if (training) dxhat -= sdy / M + xhat * sdyxhat / M;
                dx[i] = (float)(dxhat * wc * invstd[c]);
            }
    }
    return LT_OK;
}

/* The unfused definition: the relu backward (dy where r > 0, else 0) into a temporary,
 * then the batch-norm backward of that. */
lt_status lt_batch_norm_relu_backward_naive(float *dx, float *dw, float *db, const float *dy,
                                            const float *r, const float *x, const float *mean,
                                            const float *invstd, const float *w, int64_t N,
                                            int64_t C, int64_t S, int training) {
    if (bad_dims(N, C, S) || !r) return LT_EARG;
    int64_t n, bytes;
    if (lt_mul_ovf(N, C, &n) || lt_mul_ovf(n, S, &n) || lt_mul_ovf(n, (int64_t)sizeof(float), &bytes))
        return LT_EOVERFLOW;
    float *g = malloc(bytes > 0 ? (size_t)bytes : 1);
    if (!g) return LT_ENOMEM;
    for (int64_t i = 0; i < n; i++) g[i] = r[i] > 0.0f ? dy[i] : 0.0f;
    lt_status st = lt_batch_norm_backward_naive(dx, dw, db, g, x, mean, invstd, w, N, C, S, training);
    free(g);
    return st;
}

void lt_batch_norm_update_running(float *running_mean, float *running_var,
                                  const float *mean, const float *var,
                                  int64_t C, int64_t M, double momentum) {
    const double unbias = M > 1 ? (double)M / (double)(M - 1) : 1.0;
    for (int64_t c = 0; c < C; c++) {
        if (running_mean)
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
        if (running_var)
            running_var[c] =
                (float)((1.0 - momentum) * running_var[c] + momentum * var[c] * unbias);
    }
}

/* ------------------------------------------------------------------ group norm */

lt_status lt_group_norm_forward(const lt_context *ctx, float *y, float *mean, float *invstd,
                                const float *x, const float *w, const float *b, int64_t N,
                                int64_t C, int64_t S, int64_t G, double eps) {
    if (bad_dims(N, C, S) || G <= 0 || C % G != 0) return LT_EARG;
    const int64_t Cg = C / G, M = Cg * S;
    if (M == 0) return LT_OK;
    /* The Cg channels of one group are one contiguous block of Cg * S floats. */
#pragma omp parallel for num_threads(norm_threads(ctx, N * C * S)) schedule(static)
    for (int64_t p = 0; p < N * G; p++) {
        const float *xb = x + p * M;
        float *yb = y + p * M;
        double s1 = 0.0, s2 = 0.0, m, v;
        row_shifted_sums(xb, M, xb[0], &s1, &s2);
        finish_stats((double)xb[0], s1, s2, (double)M, &m, &v);
        const double is = 1.0 / sqrt(v + eps);
        mean[p] = (float)m;
        invstd[p] = (float)is;
        const int64_t c0 = (p % G) * Cg;
        for (int64_t j = 0; j < Cg; j++) {
            const int64_t c = c0 + j;
            const float scale = (float)(is * (w ? w[c] : 1.0f));
            const float shift = (float)((b ? b[c] : 0.0f) - m * scale);
            const float *xp = xb + j * S;
            float *yp = yb + j * S;
#pragma omp simd
            for (int64_t s = 0; s < S; s++) yp[s] = xp[s] * scale + shift;
        }
    }
    return LT_OK;
}

lt_status lt_group_norm_forward_naive(float *y, float *mean, float *invstd, const float *x,
                                      const float *w, const float *b,
                                      int64_t N, int64_t C, int64_t S, int64_t G, double eps) {
    if (bad_dims(N, C, S) || G <= 0 || C % G != 0) return LT_EARG;
    const int64_t Cg = C / G;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            double sum = 0.0, sq = 0.0, M = (double)(Cg * S);
            for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
                for (int64_t s = 0; s < S; s++) sum += x[(n * C + c) * S + s];
            double m = M > 0 ? sum / M : 0.0;
            for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
                for (int64_t s = 0; s < S; s++) {
                    double d = x[(n * C + c) * S + s] - m;
                    sq += d * d;
                }
            double is = 1.0 / sqrt((M > 0 ? sq / M : 0.0) + eps);
            mean[n * G + g] = (float)m;
            invstd[n * G + g] = (float)is;
            for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
                for (int64_t s = 0; s < S; s++) {
                    int64_t i = (n * C + c) * S + s;
                    double v = (x[i] - m) * is;
                    if (w) v *= w[c];
                    if (b) v += b[c];
                    y[i] = (float)v;
                }
        }
    return LT_OK;
}

lt_status lt_group_norm_backward(const lt_context *ctx, float *dx, float *dw, float *db,
                                 const float *dy, const float *x, const float *mean,
                                 const float *invstd, const float *w, double *work, int64_t N,
                                 int64_t C, int64_t S, int64_t G) {
    if (bad_dims(N, C, S) || G <= 0 || C % G != 0) return LT_EARG;
    const int64_t Cg = C / G;
    const int nt = norm_threads(ctx, N * C * S);
    /* 1. per plane (n, c): a = sum(dy), q = sum(dy * x) */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < N * C; p++) {
        const float *g = dy + p * S;
        const float *xp = x + p * S;
        double a = 0.0, q = 0.0;
#pragma omp simd reduction(+ : a, q)
        for (int64_t s = 0; s < S; s++) {
            a += (double)g[s];
            q += (double)g[s] * (double)xp[s];
        }
        work[2 * p] = a;
        work[2 * p + 1] = q;
    }
    /* 2. dw[c] = sum_n (q - mu * a) * invstd, db[c] = sum_n a */
    if (dw || db) {
        for (int64_t c = 0; c < C; c++) {
            double sw = 0.0, sb = 0.0;
            for (int64_t n = 0; n < N; n++) {
                const int64_t p = n * C + c, ng = n * G + c / Cg;
                sw += (work[2 * p + 1] - (double)mean[ng] * work[2 * p]) * invstd[ng];
                sb += work[2 * p];
            }
            if (dw) dw[c] += (float)sw;
            if (db) db[c] += (float)sb;
        }
    }
    if (!dx) return LT_OK;
    /* 3. per group (n, g), with dxhat = dy * w:
     *    dx = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
    const double M = (double)(Cg * S);
    if (M == 0) return LT_OK;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t ng = 0; ng < N * G; ng++) {
        const int64_t n = ng / G, c0 = (ng % G) * Cg;
        const double mu = mean[ng], is = invstd[ng];
        double A = 0.0, B = 0.0;
        for (int64_t c = c0; c < c0 + Cg; c++) {
            const int64_t p = n * C + c;
            const double wc = w ? w[c] : 1.0;
            A += wc * work[2 * p];
            B += wc * (work[2 * p + 1] - mu * work[2 * p]) * is;
        }
        const float fa = (float)(A / M), fk = (float)(B / M * is), fmu = (float)mu;
        for (int64_t c = c0; c < c0 + Cg; c++) {
            const int64_t p = n * C + c;
            const float wc = w ? w[c] : 1.0f, fis = (float)is;
            const float *g = dy + p * S;
            const float *xp = x + p * S;
            float *d = dx + p * S;
#pragma omp simd
            for (int64_t s = 0; s < S; s++) d[s] += fis * (wc * g[s] - fa - (xp[s] - fmu) * fk);
        }
    }
    return LT_OK;
}

lt_status lt_group_norm_backward_naive(float *dx, float *dw, float *db, const float *dy,
                                       const float *x, const float *mean,
                                       const float *invstd, const float *w,
                                       int64_t N, int64_t C, int64_t S, int64_t G) {
    if (bad_dims(N, C, S) || G <= 0 || C % G != 0) return LT_EARG;
    const int64_t Cg = C / G;
    const double M = (double)(Cg * S);
    for (int64_t c = 0; c < C; c++) {
        double sw = 0.0, sb = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const int64_t ng = n * G + c / Cg;
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                sw += dy[i] * ((x[i] - (double)mean[ng]) * invstd[ng]);
                sb += dy[i];
            }
        }
        if (dw) dw[c] += (float)sw;
        if (db) db[c] += (float)sb;
    }
    if (!dx) return LT_OK;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            const double mu = mean[n * G + g], is = invstd[n * G + g];
            double sd = 0.0, sdx = 0.0;   /* sum(dxhat), sum(dxhat * xhat) */
            for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
                for (int64_t s = 0; s < S; s++) {
                    int64_t i = (n * C + c) * S + s;
                    double xhat = (x[i] - mu) * is, dxhat = dy[i] * (w ? w[c] : 1.0);
                    sd += dxhat;
                    sdx += dxhat * xhat;
                }
            for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
                for (int64_t s = 0; s < S; s++) {
                    int64_t i = (n * C + c) * S + s;
                    double xhat = (x[i] - mu) * is, dxhat = dy[i] * (w ? w[c] : 1.0);
                    dx[i] += (float)(is * (dxhat - sd / M - xhat * sdx / M));
                }
        }
    return LT_OK;
}

/* ------------------------------------------------------------------ dropout */

lt_status lt_dropout_mask(float *mask, int64_t n, double p, lt_rng *g) {
    if (n < 0 || !(p >= 0.0 && p <= 1.0)) return LT_EARG;
    const float keep = p < 1.0 ? (float)(1.0 / (1.0 - p)) : 0.0f;
    const float fp = (float)p;
    /* the uniforms in bulk (the same sequence as one lt_rng_uniformf per entry), then a
     * vectorised threshold */
    lt_rng_fill_uniform(g, mask, n, 0.0f, 1.0f);
#pragma omp simd
    for (int64_t i = 0; i < n; i++) mask[i] = mask[i] < fp ? 0.0f : keep;
    return LT_OK;
}

lt_status lt_dropout_forward(const lt_context *ctx, float *y, const float *x, const float *mask,
                             int64_t n, int64_t S) {
    if (n < 0 || S < 0) return LT_EARG;
#pragma omp parallel for num_threads(norm_threads(ctx, n * S)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float m = mask[i];
#pragma omp simd
        for (int64_t s = 0; s < S; s++) y[i * S + s] = x[i * S + s] * m;
    }
    return LT_OK;
}

lt_status lt_dropout_backward(const lt_context *ctx, float *dx, const float *dy, const float *mask,
                              int64_t n, int64_t S) {
    if (n < 0 || S < 0) return LT_EARG;
#pragma omp parallel for num_threads(norm_threads(ctx, n * S)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float m = mask[i];
#pragma omp simd
        for (int64_t s = 0; s < S; s++) dx[i * S + s] += dy[i * S + s] * m;
    }
    return LT_OK;
}
