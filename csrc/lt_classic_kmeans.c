/* lt_classic_kmeans.c: k-means (Lloyd) with greedy k-means++ seeding, scikit-learn's tolerance
 * rule and restarts; deterministic for a seed whatever the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_classic.h"

static inline uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) with 53 random bits */
static inline double uniform(uint64_t *s) { return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0); }

/* out[p] = squared distance of points p0..p1-1 (features in SoA layout: xs[j * n + p]) to the
 * center c, in float32 (vectorisable: one pass per feature). */
static void dist_to(float *out, const float *xs, int64_t n, int64_t f, int64_t p0, int64_t p1,
                    const float *c) {
    for (int64_t p = p0; p < p1; p++) out[p - p0] = 0.0f;
    for (int64_t j = 0; j < f; j++) {
        const float *col = xs + j * n;
        float cj = c[j];
        for (int64_t p = p0; p < p1; p++) {
            float t = col[p] - cj;
            out[p - p0] += t * t;
        }
    }
}

/* Picks a point with probability proportional to w (cumulative sums in cum); total > 0. */
static int64_t sample(const double *cum, int64_t n, double r) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > r) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* Greedy k-means++ into centers (k x f); d2 (n) gets each point's squared distance to the
 * nearest chosen center; cum (n) and tmp (n floats) are scratch. */
static void seed_pp(float *centers, const float *x, const float *xs, int64_t n, int64_t f, int64_t k,
                    uint64_t *rng, double *d2, double *cum, float *tmp) {
    int64_t trials = 2 + (int64_t)log((double)k);
    int64_t first = (int64_t)(uniform(rng) * (double)n);
    if (first >= n) first = n - 1;
    memcpy(centers, x + first * f, (size_t)f * sizeof *centers);
    dist_to(tmp, xs, n, f, 0, n, centers);
    for (int64_t i = 0; i < n; i++) d2[i] = tmp[i];
    for (int64_t c = 1; c < k; c++) {
        double total = 0;
        for (int64_t i = 0; i < n; i++) { total += d2[i]; cum[i] = total; }
        int64_t best = -1;
        double best_pot = INFINITY;
        for (int64_t t = 0; t < trials; t++) {
            int64_t cand;
            if (total > 0) cand = sample(cum, n, uniform(rng) * total);
            else cand = (int64_t)(uniform(rng) * (double)n);
            if (cand >= n) cand = n - 1;
            dist_to(tmp, xs, n, f, 0, n, x + cand * f);
            double pot = 0;
            for (int64_t i = 0; i < n; i++) pot += (double)tmp[i] < d2[i] ? (double)tmp[i] : d2[i];
            if (pot < best_pot) { best_pot = pot; best = cand; }
        }
        memcpy(centers + c * f, x + best * f, (size_t)f * sizeof *centers);
        dist_to(tmp, xs, n, f, 0, n, centers + c * f);
        for (int64_t i = 0; i < n; i++) if ((double)tmp[i] < d2[i]) d2[i] = tmp[i];
    }
}

/* Assigns every point to its nearest center (the first on ties), in blocks of 512 points with
 * vectorised distances; returns the inertia. */
static double assign(int32_t *labels, double *d2, const float *xs, const float *centers, int64_t n,
                     int64_t f, int64_t k, int nt) {
    double inertia = 0;
    int64_t nblk = (n + 511) / 512;
    #pragma omp parallel for num_threads(nt) schedule(static) reduction(+:inertia) if (n * k * f > 32768)
    for (int64_t b = 0; b < nblk; b++) {
        float d[512], best[512];
        int32_t bl[512];
        int64_t p0 = b * 512, p1 = p0 + 512 < n ? p0 + 512 : n;
        for (int64_t c = 0; c < k; c++) {
            dist_to(d, xs, n, f, p0, p1, centers + c * f);
            if (c == 0) {
                for (int64_t p = 0; p < p1 - p0; p++) { best[p] = d[p]; bl[p] = 0; }
            } else {
                for (int64_t p = 0; p < p1 - p0; p++)
                    if (d[p] < best[p]) { best[p] = d[p]; bl[p] = (int32_t)c; }
            }
        }
        for (int64_t p = 0; p < p1 - p0; p++) {
            labels[p0 + p] = bl[p];
            d2[p0 + p] = best[p];
            inertia += best[p];
        }
    }
    return inertia;
}

lt_status lt_classic_kmeans(lt_context *ctx, int32_t *labels, float *centers, double *inertia,
                            int64_t *n_iter, const float *x, int64_t n, int64_t f, int64_t k,
                            uint64_t seed, int64_t iters, double tol, int64_t n_init) {
    if (n < 1 || f < 1 || k < 1 || k > n || iters < 1 || n_init < 1 || !(tol >= 0)) return LT_EARG;
    if (k > INT32_MAX) return LT_EARG;
    int64_t nf, kf;
    if (lt_mul_ovf(n, f, &nf) || lt_mul_ovf(k, f, &kf)) return LT_EOVERFLOW;
    for (int64_t i = 0; i < nf; i++) if (!isfinite(x[i])) return LT_EARG;
    int nt = lt_ctx_num_threads(ctx);
    if (nt < 1) nt = 1;
    double *d2 = malloc((size_t)n * sizeof *d2), *cum = malloc((size_t)n * sizeof *cum);
    double *sums = malloc((size_t)kf * sizeof *sums);
    int64_t *counts = malloc((size_t)k * sizeof *counts);
    float *cen = malloc((size_t)kf * sizeof *cen), *old = malloc((size_t)kf * sizeof *old);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    float *xs = malloc((size_t)nf * sizeof *xs), *tmp = malloc((size_t)n * sizeof *tmp);
    lt_status st = LT_OK;
    if (!d2 || !cum || !sums || !counts || !cen || !old || !lab || !xs || !tmp) { st = LT_ENOMEM; goto end; }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < f; j++) xs[j * n + i] = x[i * f + j];
    /* tolerance: tol * mean over features of the variance */
    double var_mean = 0;
    for (int64_t j = 0; j < f; j++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < n; i++) m += x[i * f + j];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) { double t = x[i * f + j] - m; v += t * t; }
        var_mean += v / (double)n;
    }
    double ttol = tol * var_mean / (double)f;
    double best_inertia = INFINITY;
    for (int64_t run = 0; run < n_init; run++) {
        uint64_t rng = seed + (uint64_t)run;
        seed_pp(cen, x, xs, n, f, k, &rng, d2, cum, tmp);
        double in = 0;
        int64_t it;
        for (it = 1; it <= iters; it++) {
            assign(lab, d2, xs, cen, n, f, k, nt);
            memcpy(old, cen, (size_t)kf * sizeof *cen);
            memset(sums, 0, (size_t)kf * sizeof *sums);
            memset(counts, 0, (size_t)k * sizeof *counts);
            for (int64_t i = 0; i < n; i++) {
                counts[lab[i]]++;
                for (int64_t j = 0; j < f; j++) sums[lab[i] * f + j] += x[i * f + j];
            }
            for (int64_t c = 0; c < k; c++) {
                if (counts[c] == 0) {
                    /* an empty cluster takes the point farthest from its center */
                    int64_t far = 0;
                    for (int64_t i = 1; i < n; i++) if (d2[i] > d2[far]) far = i;
                    memcpy(cen + c * f, x + far * f, (size_t)f * sizeof *cen);
                    d2[far] = 0;
                    continue;
                }
                for (int64_t j = 0; j < f; j++) cen[c * f + j] = (float)(sums[c * f + j] / (double)counts[c]);
            }
            double shift = 0;
            for (int64_t j = 0; j < kf; j++) { double t = (double)cen[j] - (double)old[j]; shift += t * t; }
            if (shift <= ttol) break;
        }
        if (it > iters) it = iters;
        in = assign(lab, d2, xs, cen, n, f, k, nt);   /* labels consistent with the final centers */
        if (in < best_inertia) {
            best_inertia = in;
            memcpy(labels, lab, (size_t)n * sizeof *lab);
            memcpy(centers, cen, (size_t)kf * sizeof *cen);
            *n_iter = it;
        }
    }
    *inertia = best_inertia;
end:
    free(d2); free(cum); free(sums); free(counts); free(cen); free(old); free(lab); free(xs); free(tmp);
    return st;
}
