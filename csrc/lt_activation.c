/* lt_activation.c: pointwise activations, softmax / log_softmax and the labels argmax
 * (see lt_activation.h). OpenMP over element ranges or (outer, inner-block) tiles. */
#include "lt_activation.h"
#include "lt_isa.h"

#include <math.h>
#include <string.h>

/* No code here inspects floating-point exception flags: letting the compiler treat
 * compares as non-trapping turns the selects below into blends so the loops vectorise
 * (with the default -ftrapping-math GCC keeps them as branches). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#define LT_ACT_PAR_MIN 32768   /* elements below which one thread does it all */
#define LT_SOFTMAX_BLOCK 256   /* inner positions reduced together by the fast kernels */

static int act_threads(const lt_context *ctx, int64_t work) {
    return work >= LT_ACT_PAR_MIN ? lt_ctx_num_threads(ctx) : 1;
}

/* exp(x) in float, vectorisable: exp(x) = 2^n * exp(r), n = round(x / ln 2),
 * |r| <= ln 2 / 2, Cephes' degree-6 polynomial for exp(r). Relative error below 1.5 ulp
 * on [-87.3, 88]; 0 below (no denormals), inf above 88, NaN stays NaN. */
static inline float exp_fast(float x) {
    const float lo = -87.33654475f, hi = 88.0f;
    /* NaN clamps to lo too (both comparisons false), so the integer conversion below is
     * always defined; the NaN is put back at the end */
    const float xc = x >= lo ? (x <= hi ? x : hi) : lo;
    /* round to nearest with the 1.5 * 2^23 trick (|x / ln 2| < 2^22) */
    const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) * 8388608;   /* (n + 127) << 23 */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float res = p * scale;
    res = x < lo ? 0.0f : res;
    res = x > hi ? INFINITY : res;
    return x != x ? x : res;
}

/* tanh(x) in float, vectorisable (Cephes tanhf): x + x^3 P(x^2) for |x| < 0.625, else
 * sign(x) (1 - 2 / (exp(2|x|) + 1)); about 2 ulp. */
static inline float tanh_fast(float x) {
    const float a = x < 0.0f ? -x : x;
    const float z = x * x;
    float p = -5.70498872745E-3f;
    p = p * z + 2.06390887954E-2f;
    p = p * z - 5.37397155531E-2f;
    p = p * z + 1.33314422036E-1f;
    p = p * z - 3.33332819422E-1f;
    const float small = x + x * z * p;
    float big = 1.0f - 2.0f / (exp_fast(a + a) + 1.0f);
    big = x < 0.0f ? -big : big;
    return a < 0.625f ? small : big;
}

/* ------------------------------------------------------------------ pointwise */

/* The loops, compiled per ISA level (lt_isa.h); each thread runs one chunk of [0, n). */
static inline LT_ISA_INLINE void act_fwd_body(float *y, const float *x, int64_t n, lt_act act,
                                              float slope) {
    switch (act) {
    case LT_ACT_RELU:
        /* x < 0 ? 0 : x keeps NaN, as PyTorch's clamp_min does */
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
        return;
    case LT_ACT_LEAKY_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
        return;
    case LT_ACT_SIGMOID:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + exp_fast(-x[i]));
        return;
    case LT_ACT_TANH:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = tanh_fast(x[i]);
        return;
    }
}
LT_ISA_VARIANTS(act_fwd, (float *y, const float *x, int64_t n, lt_act act, float slope),
                (y, x, n, act, slope))

/* dy is loaded whether or not it is used: the select then vectorises at every level (a
 * conditional load needs AVX2/AVX-512 masked loads; the baseline kept a branch per element) */
static inline LT_ISA_INLINE void act_bwd_body(float *dx, const float *dy, const float *x,
                                              const float *y, int64_t n, lt_act act, float slope) {
    switch (act) {
    case LT_ACT_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float g = dy[i];
            dx[i] = y[i] > 0.0f ? g : 0.0f;
        }
        return;
    case LT_ACT_LEAKY_RELU:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float g = dy[i];
            dx[i] = x[i] > 0.0f ? g : g * slope;
        }
        return;
    case LT_ACT_SIGMOID:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        return;
    case LT_ACT_TANH:
#pragma omp simd
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        return;
    }
}
LT_ISA_VARIANTS(act_bwd,
                (float *dx, const float *dy, const float *x, const float *y, int64_t n, lt_act act,
                 float slope),
                (dx, dy, x, y, n, act, slope))

static int act_known(lt_act act) {
    return act == LT_ACT_RELU || act == LT_ACT_LEAKY_RELU || act == LT_ACT_SIGMOID ||
           act == LT_ACT_TANH;
}

lt_status lt_activation_forward(const lt_context *ctx, float *y, const float *x, int64_t n,
                                lt_act act, float slope) {
    if (n < 0 || !act_known(act)) return LT_EARG;
    const int nt = act_threads(ctx, n), isa = lt_ctx_isa(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo, hi;
        lt_isa_chunk(n, t, nt, &lo, &hi);
        if (hi > lo) act_fwd_isa[isa](y + lo, x + lo, hi - lo, act, slope);
    }
    return LT_OK;
}

lt_status lt_activation_backward(const lt_context *ctx, float *dx, const float *dy, const float *x,
                                 const float *y, int64_t n, lt_act act, float slope) {
    if (n < 0 || !act_known(act)) return LT_EARG;
    if (act == LT_ACT_LEAKY_RELU ? !x : !y) return LT_EARG;
    const int nt = act_threads(ctx, n), isa = lt_ctx_isa(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo, hi;
        lt_isa_chunk(n, t, nt, &lo, &hi);
        if (hi > lo)
            act_bwd_isa[isa](dx + lo, dy + lo, x ? x + lo : NULL, y ? y + lo : NULL, hi - lo, act,
                             slope);
    }
    return LT_OK;
}

/* ------------------------------------------------------------------ softmax */

static int bad_sizes(int64_t outer, int64_t D, int64_t inner) {
    return outer < 0 || D < 0 || inner < 0;
}

/* One contiguous row of D values (inner == 1). */
static void softmax_row(float *y, const float *x, int64_t D, int is_log) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t d = 0; d < D; d++) m = x[d] > m ? x[d] : m;
    if (m == -INFINITY) m = 0.0f;   /* all -inf: s = 0 and the row is NaN, as in PyTorch */
    float s = 0.0f;
    if (is_log) {
#pragma omp simd reduction(+ : s)
        for (int64_t d = 0; d < D; d++) s += exp_fast(x[d] - m);
        const float ls = m + logf(s);
#pragma omp simd
        for (int64_t d = 0; d < D; d++) y[d] = x[d] - ls;
    } else {
#pragma omp simd reduction(+ : s)
        for (int64_t d = 0; d < D; d++) {
            y[d] = exp_fast(x[d] - m);
            s += y[d];
        }
        const float r = 1.0f / s;
#pragma omp simd
        for (int64_t d = 0; d < D; d++) y[d] *= r;
    }
}

/* A tile of B inner positions (B <= LT_SOFTMAX_BLOCK) of one outer index: x, y point at
 * element (o, 0, i0); consecutive d are `inner` apart. */
static void softmax_tile(float *y, const float *x, int64_t D, int64_t inner, int64_t B,
                         int is_log) {
    float m[LT_SOFTMAX_BLOCK], s[LT_SOFTMAX_BLOCK];
    for (int64_t j = 0; j < B; j++) {
        m[j] = -INFINITY;
        s[j] = 0.0f;
    }
    for (int64_t d = 0; d < D; d++) {
        const float *xr = x + d * inner;
#pragma omp simd
        for (int64_t j = 0; j < B; j++) m[j] = xr[j] > m[j] ? xr[j] : m[j];
    }
    for (int64_t j = 0; j < B; j++)
        if (m[j] == -INFINITY) m[j] = 0.0f;
    if (is_log) {
        for (int64_t d = 0; d < D; d++) {
            const float *xr = x + d * inner;
#pragma omp simd
            for (int64_t j = 0; j < B; j++) s[j] += exp_fast(xr[j] - m[j]);
        }
        for (int64_t j = 0; j < B; j++) m[j] += logf(s[j]);
        for (int64_t d = 0; d < D; d++) {
            const float *xr = x + d * inner;
            float *yr = y + d * inner;
#pragma omp simd
            for (int64_t j = 0; j < B; j++) yr[j] = xr[j] - m[j];
        }
    } else {
        for (int64_t d = 0; d < D; d++) {
            const float *xr = x + d * inner;
            float *yr = y + d * inner;
#pragma omp simd
            for (int64_t j = 0; j < B; j++) {
                yr[j] = exp_fast(xr[j] - m[j]);
                s[j] += yr[j];
            }
        }
        for (int64_t j = 0; j < B; j++) s[j] = 1.0f / s[j];
        for (int64_t d = 0; d < D; d++) {
            float *yr = y + d * inner;
#pragma omp simd
            for (int64_t j = 0; j < B; j++) yr[j] *= s[j];
        }
    }
}

lt_status lt_softmax_forward(const lt_context *ctx, float *y, const float *x, int64_t outer,
                             int64_t D, int64_t inner, int is_log) {
    if (bad_sizes(outer, D, inner)) return LT_EARG;
    const int nt = act_threads(ctx, outer * D * inner);
    if (inner == 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t o = 0; o < outer; o++) softmax_row(y + o * D, x + o * D, D, is_log);
        return LT_OK;
    }
    const int64_t nb = (inner + LT_SOFTMAX_BLOCK - 1) / LT_SOFTMAX_BLOCK;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t t = 0; t < outer * nb; t++) {
        const int64_t o = t / nb, i0 = (t % nb) * LT_SOFTMAX_BLOCK;
        const int64_t B = inner - i0 < LT_SOFTMAX_BLOCK ? inner - i0 : LT_SOFTMAX_BLOCK;
        const int64_t off = o * D * inner + i0;
        softmax_tile(y + off, x + off, D, inner, B, is_log);
    }
    return LT_OK;
}

lt_status lt_softmax_forward_naive(float *y, const float *x, int64_t outer, int64_t D,
                                   int64_t inner, int is_log) {
    if (bad_sizes(outer, D, inner)) return LT_EARG;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xc = x + o * D * inner + i;
            float *yc = y + o * D * inner + i;
            double m = -INFINITY, s = 0.0;
            for (int64_t d = 0; d < D; d++)
                if (xc[d * inner] > m) m = xc[d * inner];
            if (m == -INFINITY) m = 0.0;
            for (int64_t d = 0; d < D; d++) s += exp(xc[d * inner] - m);
            for (int64_t d = 0; d < D; d++)
                yc[d * inner] = (float)(is_log ? xc[d * inner] - m - log(s)
                                            : exp(xc[d * inner] - m) / s);
        }
    return LT_OK;
}

lt_status lt_softmax_backward(const lt_context *ctx, float *dx, const float *dy, const float *y,
                              int64_t outer, int64_t D, int64_t inner, int is_log) {
    if (bad_sizes(outer, D, inner)) return LT_EARG;
    const int nt = act_threads(ctx, outer * D * inner);
    const int64_t BS = inner < LT_SOFTMAX_BLOCK ? inner : LT_SOFTMAX_BLOCK;
    const int64_t nb = BS > 0 ? (inner + BS - 1) / BS : 0;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t t = 0; t < outer * nb; t++) {
        const int64_t o = t / nb, i0 = (t % nb) * BS;
        const int64_t B = inner - i0 < BS ? inner - i0 : BS;
        const int64_t off = o * D * inner + i0;
        const float *g = dy + off, *yy = y + off;
        float *d = dx + off;
        float acc[LT_SOFTMAX_BLOCK];
        for (int64_t j = 0; j < B; j++) acc[j] = 0.0f;
        /* acc = sum_D(dy * y) for softmax, sum_D(dy) for log_softmax */
        for (int64_t k = 0; k < D; k++) {
            const float *gr = g + k * inner, *yr = yy + k * inner;
            if (is_log) {
#pragma omp simd
                for (int64_t j = 0; j < B; j++) acc[j] += gr[j];
            } else {
#pragma omp simd
                for (int64_t j = 0; j < B; j++) acc[j] += gr[j] * yr[j];
            }
        }
        for (int64_t k = 0; k < D; k++) {
            const float *gr = g + k * inner, *yr = yy + k * inner;
            float *dr = d + k * inner;
            if (is_log) {
#pragma omp simd
                for (int64_t j = 0; j < B; j++) dr[j] += gr[j] - exp_fast(yr[j]) * acc[j];
            } else {
#pragma omp simd
                for (int64_t j = 0; j < B; j++) dr[j] += yr[j] * (gr[j] - acc[j]);
            }
        }
    }
    return LT_OK;
}

lt_status lt_softmax_backward_naive(float *dx, const float *dy, const float *y,
                                    int64_t outer, int64_t D, int64_t inner, int is_log) {
    if (bad_sizes(outer, D, inner)) return LT_EARG;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const int64_t base = o * D * inner + i;
            double acc = 0.0;
            for (int64_t d = 0; d < D; d++) {
                const int64_t k = base + d * inner;
                acc += is_log ? (double)dy[k] : (double)dy[k] * y[k];
            }
            for (int64_t d = 0; d < D; d++) {
                const int64_t k = base + d * inner;
                dx[k] += (float)(is_log ? dy[k] - exp(y[k]) * acc : y[k] * (dy[k] - acc));
            }
        }
    return LT_OK;
}

/* ------------------------------------------------------------------ labels */

lt_status lt_labels_forward(const lt_context *ctx, int32_t *labels, const float *x, int64_t outer,
                            int64_t D, int64_t inner) {
    if (bad_sizes(outer, D, inner) || D > INT32_MAX) return LT_EARG;
    const int nt = act_threads(ctx, outer * D * inner);
    const int64_t BS = inner < LT_SOFTMAX_BLOCK ? inner : LT_SOFTMAX_BLOCK;
    const int64_t nb = BS > 0 ? (inner + BS - 1) / BS : 0;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t t = 0; t < outer * nb; t++) {
        const int64_t o = t / nb, i0 = (t % nb) * BS;
        const int64_t B = inner - i0 < BS ? inner - i0 : BS;
        const float *xb = x + o * D * inner + i0;
        int32_t *lb = labels + o * inner + i0;
        float best[LT_SOFTMAX_BLOCK];
        for (int64_t j = 0; j < B; j++) {
            best[j] = -INFINITY;
            lb[j] = 0;
        }
        for (int64_t d = 0; d < D; d++) {
            const float *xr = xb + d * inner;
            for (int64_t j = 0; j < B; j++)
                if (xr[j] > best[j]) {
                    best[j] = xr[j];
                    lb[j] = (int32_t)d;
                }
        }
    }
    return LT_OK;
}

lt_status lt_labels_forward_naive(int32_t *labels, const float *x, int64_t outer, int64_t D,
                                  int64_t inner) {
    if (bad_sizes(outer, D, inner) || D > INT32_MAX) return LT_EARG;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int32_t arg = 0;
            float best = -INFINITY;
            for (int64_t d = 0; d < D; d++) {
                float v = x[(o * D + d) * inner + i];
                if (v > best) {
                    best = v;
                    arg = (int32_t)d;
                }
            }
            labels[o * inner + i] = arg;
        }
    return LT_OK;
}
