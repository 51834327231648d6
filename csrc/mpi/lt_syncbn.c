/* lt_syncbn.c: per-rank statistics and gradient sums of synchronised batch norm (see
 * lt_syncbn.h); OpenMP over channels once the tensor is large enough to pay for it. */
#include "lt_syncbn.h"
#include "../lt_isa.h"
#include "../lt_norm.h"

#include <stddef.h>

#define PAR_MIN 32768

/* The caller's thread budget, or 1 below PAR_MIN elements (forking costs more). */
static int threads_for(int64_t work, int nthreads) {
    return work >= PAR_MIN && nthreads > 1 ? nthreads : 1;
}

/* One pass of shifted sums, as lt_batch_norm_stats: the shift x0 (the channel's first value
 * here) keeps M2 = s2 - s1^2 / n free of cancellation when |mean| >> std. */
lt_status lt_syncbn_local_stats(double *stats, const float *x, int64_t N, int64_t C, int64_t S,
                                int nthreads) {
    if (N < 0 || C < 0 || S < 0) return LT_EARG;
    const int nt = threads_for(N * C * S, nthreads);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const double cnt = (double)(N * S);
        const float x0 = N * S > 0 ? x[c * S] : 0.0f;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *row = x + (n * C + c) * S;
            double a = 0.0, q = 0.0;
#pragma omp simd reduction(+ : a, q)
            for (int64_t s = 0; s < S; s++) {
                double d = (double)(row[s] - x0);
                a += d;
                q += d * d;
            }
            s1 += a;
            s2 += q;
        }
        const double m = cnt > 0 ? s1 / cnt : 0.0;
        const double m2 = cnt > 0 ? s2 - s1 * m : 0.0;
        stats[3 * c] = cnt;
        stats[3 * c + 1] = (double)x0 + m;
        stats[3 * c + 2] = m2 > 0.0 ? m2 : 0.0;
    }
    return LT_OK;
}

lt_status lt_syncbn_combine(float *mean, float *var, int64_t *count, const double *all, int W,
                            int64_t C) {
    if (W < 1 || C < 0) return LT_EARG;
    int64_t total = 0;
    for (int64_t c = 0; c < C; c++) {
        double n = 0.0, m = 0.0, m2 = 0.0;
        for (int r = 0; r < W; r++) {
            const double *s = all + ((int64_t)r * C + c) * 3;
            const double nb = s[0];
            if (nb <= 0.0) continue;
            if (n == 0.0) {
                n = nb;
                m = s[1];
                m2 = s[2];
                continue;
            }
            const double nt = n + nb, d = s[1] - m;
            m += d * nb / nt;
            m2 += s[2] + d * d * n * nb / nt;
            n = nt;
        }
        const double v = n > 0.0 ? m2 / n : 0.0;
        mean[c] = (float)m;
        var[c] = (float)(v > 0.0 ? v : 0.0);
        if (c == 0) total = (int64_t)n;
        else if ((int64_t)n != total) return LT_ESHAPE;   /* every channel has the same count */
    }
    *count = total;
    return LT_OK;
}

void lt_syncbn_update_running(float *running_mean, float *running_var, const float *mean,
                              const float *var, int64_t C, int64_t M, double momentum) {
    const double unbias = M > 1 ? (double)M / (double)(M - 1) : 1.0;
    for (int64_t c = 0; c < C; c++) {
        if (running_mean)
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
        if (running_var)
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * var[c] * unbias);
    }
}

/* batch norm's own per-channel reduction (lt_norm.h), compiled per ISA level (lt_isa.h);
 * the level is the CPU's best (this module has no context) */
static inline LT_ISA_INLINE void channel_sums_body(double *sums, const float *dy, const float *x,
                                                   float mu, int64_t N, int64_t C, int64_t S,
                                                   int64_t c) {
    lt_batch_norm_channel_sums(sums, dy, x, mu, N, C, S, c);
}
LT_ISA_VARIANTS(channel_sums,
                (double *sums, const float *dy, const float *x, float mu, int64_t N, int64_t C,
                 int64_t S, int64_t c),
                (sums, dy, x, mu, N, C, S, c))

lt_status lt_syncbn_backward_reduce(double *sums, float *dw, float *db, const float *dy,
                                    const float *x, const float *mean, const float *invstd,
                                    int64_t N, int64_t C, int64_t S, int nthreads) {
    if (N < 0 || C < 0 || S < 0) return LT_EARG;
    const int nt = threads_for(N * C * S, nthreads), isa = lt_isa_probe();
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        channel_sums_isa[isa](sums + 2 * c, dy, x, mean[c], N, C, S, c);
        if (dw) dw[c] = (float)(sums[2 * c + 1] * invstd[c]);
        if (db) db[c] = (float)sums[2 * c];
    }
    return LT_OK;
}

lt_status lt_syncbn_backward_input(float *dx, const float *dy, const float *x, const float *mean,
                                   const float *invstd, const float *w, const double *sums,
                                   int64_t M, int64_t N, int64_t C, int64_t S, int nthreads) {
    if (N < 0 || C < 0 || S < 0 || M < 1) return LT_EARG;
    const int nt = threads_for(N * C * S, nthreads);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < C; c++) {
        const float mu = mean[c];
        const double is = invstd[c];
        const float wis = (float)(is * (w ? w[c] : 1.0f));
        const float gm = (float)(sums[2 * c] / (double)M);
        const float k = (float)(sums[2 * c + 1] / (double)M * is * is);
        for (int64_t n = 0; n < N; n++) {
            const float *g = dy + (n * C + c) * S;
            const float *xp = x + (n * C + c) * S;
            float *d = dx + (n * C + c) * S;
#pragma omp simd
            for (int64_t s = 0; s < S; s++) d[s] = (g[s] - gm - (xp[s] - mu) * k) * wis;
        }
    }
    return LT_OK;
}
