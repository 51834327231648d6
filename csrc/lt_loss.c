/* lt_loss.c: loss kernels (see lt_loss.h): fused cross-entropy with its naive reference,
 * BCE with logits, channel log-softmax, one-hot, Lovasz weights. No Lua here. */
#include "lt_loss.h"
#include "lt_isa.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Pixels handled together by the fused kernels: the C loop is outermost inside a block
 * so each class row is read with unit stride. */
enum { CE_BLOCK = 64 };

int64_t lt_loss_find_bad_label(const int32_t *target, int64_t n, int64_t C,
                               int64_t ignore_index, int has_ignore) {
    for (int64_t i = 0; i < n; i++) {
        int64_t y = target[i];
        if (has_ignore && y == ignore_index) continue;
        if (y < 0 || y >= C) return i;
    }
    return -1;
}

static int ce_ignored(int64_t y, const lt_ce_opts *o) {
    return o->has_ignore && y == o->ignore_index;
}

static double ce_weight_total(const float *weight, int64_t C) {
    double W = 0.0;
    for (int64_t c = 0; c < C; c++) W += weight ? (double)weight[c] : 1.0;
    return W;
}

/* Sum of w[y] over non-ignored pixels: the denominator of the mean. */
static double ce_weight_sum(const int32_t *target, const float *weight, int64_t n,
                            const lt_ce_opts *o) {
    double ws = 0.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t y = target[i];
        if (ce_ignored(y, o)) continue;
        ws += weight ? (double)weight[y] : 1.0;
    }
    return ws;
}

/* Per block of pixels: row max and log-sum-exp over classes. */
static void ce_block_lse(float *lse /* (B) */, const float *z /* (C, S) at block start */,
                         int64_t C, int64_t S, int64_t B) {
    float mx[CE_BLOCK], se[CE_BLOCK];
    for (int64_t j = 0; j < B; j++) mx[j] = z[j];
    for (int64_t c = 1; c < C; c++) {
        const float *zc = z + c * S;
        for (int64_t j = 0; j < B; j++) mx[j] = zc[j] > mx[j] ? zc[j] : mx[j];
    }
    for (int64_t j = 0; j < B; j++) se[j] = 0.0f;
    for (int64_t c = 0; c < C; c++) {
        const float *zc = z + c * S;
        for (int64_t j = 0; j < B; j++) se[j] += expf(zc[j] - mx[j]);
    }
    for (int64_t j = 0; j < B; j++) lse[j] = mx[j] + logf(se[j]);
}

/* Per block of pixels: sum_c w_c z_c (the label-smoothing term; w_c = 1 without weights). */
static void ce_block_wz(float *wz /* (B) */, const float *z /* (C, S) at block start */,
                        const float *weight, int64_t C, int64_t S, int64_t B) {
    for (int64_t j = 0; j < B; j++) wz[j] = 0.0f;
    for (int64_t c = 0; c < C; c++) {
        const float *zc = z + c * S;
        const float wc = weight ? weight[c] : 1.0f;
        for (int64_t j = 0; j < B; j++) wz[j] += wc * zc[j];
    }
}

lt_status lt_cross_entropy_forward(const lt_context *ctx, float *out, const float *logits,
                                   const int32_t *target, const float *weight, int64_t N, int64_t C,
                                   int64_t S, const lt_ce_opts *o) {
    if (N < 0 || C < 1 || S < 0) return LT_EARG;
    const int64_t nb = (S + CE_BLOCK - 1) / CE_BLOCK;
    const double eps = o->label_smoothing;
    const double W = ce_weight_total(weight, C);
    /* per-block partial sums, added in a fixed order: the result does not depend on the
     * number of threads */
    double *part = NULL;
    if (o->reduction != LT_LOSS_NONE) {
        part = malloc(sizeof *part * (size_t)(N * nb > 0 ? N * nb : 1));
        if (!part) return LT_ENOMEM;
    }
#pragma omp parallel for num_threads(lt_ctx_num_threads(ctx)) schedule(static)
    for (int64_t blk = 0; blk < N * nb; blk++) {
        const int64_t n = blk / nb, s0 = (blk % nb) * CE_BLOCK;
        const int64_t B = S - s0 < CE_BLOCK ? S - s0 : CE_BLOCK;
        const float *z = logits + n * C * S + s0;
        const int32_t *y = target + n * S + s0;
        float lse[CE_BLOCK], wz[CE_BLOCK];
        ce_block_lse(lse, z, C, S, B);
        if (eps > 0.0) ce_block_wz(wz, z, weight, C, S, B);
        double bsum = 0.0;
        for (int64_t j = 0; j < B; j++) {
            double l = 0.0;
            if (!ce_ignored(y[j], o)) {
                const int64_t yj = y[j];
                const double wy = weight ? (double)weight[yj] : 1.0;
                l = (1.0 - eps) * wy * ((double)lse[j] - (double)z[yj * S + j]);
                if (eps > 0.0) l += eps / (double)C * (W * (double)lse[j] - (double)wz[j]);
            }
            if (o->reduction == LT_LOSS_NONE) out[n * S + s0 + j] = (float)l;
            else bsum += l;
        }
        if (part) part[blk] = bsum;
    }
    if (part) {
        double lsum = 0.0;
        for (int64_t blk = 0; blk < N * nb; blk++) lsum += part[blk];
        free(part);
        if (o->reduction == LT_LOSS_SUM) out[0] = (float)lsum;
        else out[0] = (float)(lsum / ce_weight_sum(target, weight, N * S, o));
    }
    return LT_OK;
}

lt_status lt_cross_entropy_backward(const lt_context *ctx, float *dlogits, const float *dout,
                                    const float *logits, const int32_t *target, const float *weight,
                                    int64_t N, int64_t C, int64_t S, const lt_ce_opts *o) {
    if (N < 0 || C < 1 || S < 0) return LT_EARG;
    const int64_t nb = (S + CE_BLOCK - 1) / CE_BLOCK;
    const float eps = o->label_smoothing;
    const float W = (float)ce_weight_total(weight, C);
    float gscale = 1.0f;   /* scalar dout (divided by the mean's denominator) */
    if (o->reduction == LT_LOSS_SUM) gscale = dout[0];
    else if (o->reduction == LT_LOSS_MEAN)
        gscale = (float)((double)dout[0] / ce_weight_sum(target, weight, N * S, o));
#pragma omp parallel for num_threads(lt_ctx_num_threads(ctx)) schedule(static)
    for (int64_t blk = 0; blk < N * nb; blk++) {
        const int64_t n = blk / nb, s0 = (blk % nb) * CE_BLOCK;
        const int64_t B = S - s0 < CE_BLOCK ? S - s0 : CE_BLOCK;
        const float *z = logits + n * C * S + s0;
        float *dz = dlogits + n * C * S + s0;
        const int32_t *y = target + n * S + s0;
        float lse[CE_BLOCK], a[CE_BLOCK], b[CE_BLOCK];
        ce_block_lse(lse, z, C, S, B);
        /* dl/dz_c = g * [ a * p_c - (1-eps) w_y [c == y] - eps/C w_c ],
         * a = (1-eps) w_y + eps/C W, g the incoming gradient (0 for ignored pixels). */
        for (int64_t j = 0; j < B; j++) {
            float g = o->reduction == LT_LOSS_NONE ? dout[n * S + s0 + j] : gscale;
            if (ce_ignored(y[j], o)) g = 0.0f;
            const float wy = g == 0.0f ? 0.0f : (weight ? weight[y[j]] : 1.0f);
            b[j] = g;
            a[j] = g * ((1.0f - eps) * wy + eps / (float)C * W);
        }
        for (int64_t c = 0; c < C; c++) {
            const float *zc = z + c * S;
            float *dzc = dz + c * S;
            const float sw = eps / (float)C * (weight ? weight[c] : 1.0f);
            for (int64_t j = 0; j < B; j++)
                dzc[j] += a[j] * expf(zc[j] - lse[j]) - b[j] * sw;
        }
        for (int64_t j = 0; j < B; j++) {
            if (b[j] == 0.0f) continue;
            const int64_t yj = y[j];
            const float wy = weight ? weight[yj] : 1.0f;
            dz[yj * S + j] -= b[j] * (1.0f - eps) * wy;
        }
    }
    return LT_OK;
}

/* exp(x) for x <= 0 (x = z - max(z) of a softmax), in float arithmetic that vectorises
 * (expf is a libm call per element): Cephes' expf, n = round(x / ln 2) by the 1.5 * 2^23
 * trick, x - n ln 2 in two parts, a degree-6 polynomial, 2^n put into the exponent bits.
 * No branch or select (they keep SSE/AVX2 loops scalar): below -87, where expf is tiny or
 * denormal, the result's bits are masked to 0 (whatever the wrapped exponent gave); NaN
 * stays NaN. Within 1 ulp of glibc's expf on every float of [-87, 0] (checked
 * exhaustively when written). */
static inline LT_ISA_INLINE float ce_exp_neg(float x) {
    const float magic = 12582912.0f;    /* 1.5 * 2^23: t's low mantissa bits hold n */
    const float t = x * 1.44269504088896341f + magic;
    const float n = t - magic;
    const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = p * r * r + r + 1.0f;
    uint32_t tb, mb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&mb, &magic, sizeof mb);
    const uint32_t pb = (tb - mb + 127u) << 23;   /* 2^n for n in [-126, 0] */
    float pw;
    memcpy(&pw, &pb, sizeof pw);
    const float v = e * pw;
    uint32_t vb;
    memcpy(&vb, &v, sizeof vb);
    vb &= (uint32_t)0 - (uint32_t)!(x < -87.0f);   /* all ones, or 0 below -87 */
    float out;
    memcpy(&out, &vb, sizeof out);
    return out;
}

/* One class row of a block: e = exp(z - mx) (kept in the gradient buffer), se += e. */
static inline LT_ISA_INLINE void ce_exp_row_body(float *e, const float *zc, const float *mx,
                                                 float *se, int64_t B) {
#pragma omp simd
    for (int64_t j = 0; j < B; j++) {
        const float v = ce_exp_neg(zc[j] - mx[j]);
        e[j] = v;
        se[j] += v;
    }
}
LT_ISA_VARIANTS(ce_exp_row, (float *e, const float *zc, const float *mx, float *se, int64_t B),
                (e, zc, mx, se, B))

/* Forward and backward in one pass over the logits (the training step's loss): the loss
 * as lt_cross_entropy_forward and grad = dl/dlogits for dout = 1, WRITTEN (not added).
 * Each class row of a block is exponentiated once (exp(z - max) kept in grad, summed, then
 * scaled to the gradient) where the separate kernels take three exponentials per logit (the
 * forward's log-sum-exp, the backward's log-sum-exp and softmax). Mean and sum only. */
lt_status lt_cross_entropy_forward_grad(const lt_context *ctx, float *out, float *grad,
                                        const float *logits, const int32_t *target,
                                        const float *weight, int64_t N, int64_t C, int64_t S,
                                        const lt_ce_opts *o) {
    if (N < 0 || C < 1 || S < 0 || o->reduction == LT_LOSS_NONE) return LT_EARG;
    const int64_t nb = (S + CE_BLOCK - 1) / CE_BLOCK;
    const double eps = o->label_smoothing;
    const float feps = o->label_smoothing;
    const double W = ce_weight_total(weight, C);
    const double ws = o->reduction == LT_LOSS_MEAN ? ce_weight_sum(target, weight, N * S, o) : 1.0;
    const float gscale = (float)(1.0 / ws);   /* as the backward's dout / ws with dout = 1 */
    double *part = malloc(sizeof *part * (size_t)(N * nb > 0 ? N * nb : 1));
    if (!part) return LT_ENOMEM;
    const int isa = lt_ctx_isa(ctx);
#pragma omp parallel for num_threads(N * C * S >= 32768 ? lt_ctx_num_threads(ctx) : 1) schedule(static)
    for (int64_t blk = 0; blk < N * nb; blk++) {
        const int64_t n = blk / nb, s0 = (blk % nb) * CE_BLOCK;
        const int64_t B = S - s0 < CE_BLOCK ? S - s0 : CE_BLOCK;
        const float *z = logits + n * C * S + s0;
        float *dz = grad + n * C * S + s0;
        const int32_t *y = target + n * S + s0;
        float mx[CE_BLOCK], se[CE_BLOCK], wz[CE_BLOCK], a[CE_BLOCK], b[CE_BLOCK];
        for (int64_t j = 0; j < B; j++) mx[j] = z[j];
        for (int64_t c = 1; c < C; c++) {
            const float *zc = z + c * S;
            for (int64_t j = 0; j < B; j++) mx[j] = zc[j] > mx[j] ? zc[j] : mx[j];
        }
        for (int64_t j = 0; j < B; j++) se[j] = 0.0f;
        for (int64_t c = 0; c < C; c++) ce_exp_row_isa[isa](dz + c * S, z + c * S, mx, se, B);
        if (eps > 0.0) ce_block_wz(wz, z, weight, C, S, B);
        double bsum = 0.0;
        for (int64_t j = 0; j < B; j++) {
            const float lse = mx[j] + logf(se[j]);
            float g = 0.0f, wy = 0.0f;
            if (!ce_ignored(y[j], o)) {
                const int64_t yj = y[j];
                wy = weight ? weight[yj] : 1.0f;
                double l = (1.0 - eps) * (double)wy * ((double)lse - (double)z[yj * S + j]);
                if (eps > 0.0) l += eps / (double)C * (W * (double)lse - (double)wz[j]);
                bsum += l;
                g = gscale;
            }
            /* dl/dz_c = g * [ (a' p_c) - (1-eps) w_y [c == y] - eps/C w_c ], p_c = e_c / se */
            b[j] = g;
            a[j] = g * ((1.0f - feps) * wy + feps / (float)C * (float)W) / se[j];
        }
        for (int64_t c = 0; c < C; c++) {
            float *dzc = dz + c * S;
            const float sw = feps / (float)C * (weight ? weight[c] : 1.0f);
            for (int64_t j = 0; j < B; j++) dzc[j] = a[j] * dzc[j] - b[j] * sw;
        }
        for (int64_t j = 0; j < B; j++) {
            if (b[j] == 0.0f) continue;
            const int64_t yj = y[j];
            const float wy = weight ? weight[yj] : 1.0f;
            dz[yj * S + j] -= b[j] * (1.0f - feps) * wy;
        }
        part[blk] = bsum;
    }
    double lsum = 0.0;
    for (int64_t blk = 0; blk < N * nb; blk++) lsum += part[blk];
    free(part);
    out[0] = (float)(o->reduction == LT_LOSS_SUM ? lsum : lsum / ws);
    return LT_OK;
}

/* ---- naive reference: one pixel at a time, in double ---- */

static double ce_pixel_lse(const float *z, int64_t C, int64_t S) {
    double mx = z[0], se = 0.0;
    for (int64_t c = 1; c < C; c++) mx = z[c * S] > mx ? z[c * S] : mx;
    for (int64_t c = 0; c < C; c++) se += exp((double)z[c * S] - mx);
    return mx + log(se);
}

lt_status lt_cross_entropy_forward_naive(float *out, const float *logits, const int32_t *target,
                                         const float *weight, int64_t N, int64_t C, int64_t S,
                                         const lt_ce_opts *o) {
    if (N < 0 || C < 1 || S < 0) return LT_EARG;
    double lsum = 0.0, wsum = 0.0;
    const double eps = o->label_smoothing;
    for (int64_t n = 0; n < N; n++)
        for (int64_t s = 0; s < S; s++) {
            const float *z = logits + n * C * S + s;
            const int64_t y = target[n * S + s];
            double l = 0.0;
            if (!ce_ignored(y, o)) {
                const double lse = ce_pixel_lse(z, C, S);
                const double wy = weight ? weight[y] : 1.0;
                double smooth = 0.0;
                for (int64_t c = 0; c < C; c++)
                    smooth += (weight ? weight[c] : 1.0) * (lse - z[c * S]);
                l = (1.0 - eps) * wy * (lse - z[y * S]) + eps / (double)C * smooth;
                wsum += wy;
            }
            if (o->reduction == LT_LOSS_NONE) out[n * S + s] = (float)l;
            lsum += l;
        }
    if (o->reduction == LT_LOSS_SUM) out[0] = (float)lsum;
    else if (o->reduction == LT_LOSS_MEAN) out[0] = (float)(lsum / wsum);
    return LT_OK;
}

lt_status lt_cross_entropy_backward_naive(float *dlogits, const float *dout, const float *logits,
                                          const int32_t *target, const float *weight,
                                          int64_t N, int64_t C, int64_t S, const lt_ce_opts *o) {
    if (N < 0 || C < 1 || S < 0) return LT_EARG;
    const double eps = o->label_smoothing;
    double wsum = 0.0;
    for (int64_t i = 0; i < N * S; i++)
        if (!ce_ignored(target[i], o)) wsum += weight ? weight[target[i]] : 1.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t s = 0; s < S; s++) {
            const float *z = logits + n * C * S + s;
            float *dz = dlogits + n * C * S + s;
            const int64_t y = target[n * S + s];
            if (ce_ignored(y, o)) continue;
            double g = o->reduction == LT_LOSS_NONE ? dout[n * S + s] : dout[0];
            if (o->reduction == LT_LOSS_MEAN) g /= wsum;
            const double lse = ce_pixel_lse(z, C, S);
            const double wy = weight ? weight[y] : 1.0;
            double Wt = 0.0;
            for (int64_t k = 0; k < C; k++) Wt += weight ? weight[k] : 1.0;
            for (int64_t c = 0; c < C; c++) {
                const double p = exp((double)z[c * S] - lse);
                const double wc = weight ? weight[c] : 1.0;
                /* smoothing term: eps/C * sum_k w_k (p_c - [c == k]) = eps/C (W p_c - w_c) */
                const double d = (1.0 - eps) * wy * (p - (c == y ? 1.0 : 0.0))
                                 + eps / (double)C * (Wt * p - wc);
                dz[c * S] += (float)(g * d);
            }
        }
    return LT_OK;
}

/* ---- BCE with logits ---- */

static inline float softplus_neg(float x) {   /* log(1 + exp(-x)), stable */
    return log1pf(expf(-fabsf(x))) + (x < 0.0f ? -x : 0.0f);
}

lt_status lt_bce_logits_forward(const lt_context *ctx, float *out, const float *x, const float *t,
                                const float *pw, const float *w, int64_t n) {
#pragma omp parallel for num_threads(lt_ctx_num_threads(ctx)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float p = pw ? pw[i] : 1.0f;
        const float l = (1.0f - t[i]) * x[i] + (1.0f + (p - 1.0f) * t[i]) * softplus_neg(x[i]);
        out[i] = w ? w[i] * l : l;
    }
    return LT_OK;
}

lt_status lt_bce_logits_backward(const lt_context *ctx, float *dx, const float *dout,
                                 const float *x, const float *t, const float *pw, const float *w,
                                 int64_t n) {
#pragma omp parallel for num_threads(lt_ctx_num_threads(ctx)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float p = pw ? pw[i] : 1.0f;
        const float sneg = 1.0f / (1.0f + expf(x[i]));   /* sigmoid(-x) */
        const float d = (1.0f - t[i]) - (1.0f + (p - 1.0f) * t[i]) * sneg;
        dx[i] += dout[i] * (w ? w[i] : 1.0f) * d;
    }
    return LT_OK;
}

/* ---- log-softmax over C ---- */

lt_status lt_loss_log_softmax_forward(const lt_context *ctx, float *out, const float *in, int64_t N,
                                      int64_t C, int64_t S) {
    if (N < 0 || C < 1 || S < 0) return LT_EARG;
    const int64_t nb = (S + CE_BLOCK - 1) / CE_BLOCK;
#pragma omp parallel for num_threads(lt_ctx_num_threads(ctx)) schedule(static)
    for (int64_t blk = 0; blk < N * nb; blk++) {
        const int64_t n = blk / nb, s0 = (blk % nb) * CE_BLOCK;
        const int64_t B = S - s0 < CE_BLOCK ? S - s0 : CE_BLOCK;
        float lse[CE_BLOCK];
        ce_block_lse(lse, in + n * C * S + s0, C, S, B);
        for (int64_t c = 0; c < C; c++) {
            const float *zc = in + n * C * S + c * S + s0;
            float *oc = out + n * C * S + c * S + s0;
            for (int64_t j = 0; j < B; j++) oc[j] = zc[j] - lse[j];
        }
    }
    return LT_OK;
}

lt_status lt_loss_log_softmax_backward(const lt_context *ctx, float *din, const float *dout,
                                       const float *out, int64_t N, int64_t C, int64_t S) {
    if (N < 0 || C < 1 || S < 0) return LT_EARG;
    const int64_t nb = (S + CE_BLOCK - 1) / CE_BLOCK;
#pragma omp parallel for num_threads(lt_ctx_num_threads(ctx)) schedule(static)
    for (int64_t blk = 0; blk < N * nb; blk++) {
        const int64_t n = blk / nb, s0 = (blk % nb) * CE_BLOCK;
        const int64_t B = S - s0 < CE_BLOCK ? S - s0 : CE_BLOCK;
        const int64_t base = n * C * S + s0;
        float sg[CE_BLOCK];
        for (int64_t j = 0; j < B; j++) sg[j] = 0.0f;
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < B; j++) sg[j] += dout[base + c * S + j];
        for (int64_t c = 0; c < C; c++) {
            const int64_t k = base + c * S;
            for (int64_t j = 0; j < B; j++)
                din[k + j] += dout[k + j] - expf(out[k + j]) * sg[j];
        }
    }
    return LT_OK;
}

/* ---- one-hot ---- */

lt_status lt_one_hot(float *out, float *valid, const int32_t *target, int64_t N, int64_t C,
                     int64_t S, int64_t ignore_index, int has_ignore) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t s = 0; s < S; s++) {
            const int64_t y = target[n * S + s];
            const int ign = has_ignore && y == ignore_index;
            if (valid) valid[n * S + s] = ign ? 0.0f : 1.0f;
            if (ign) continue;
            if (y < 0 || y >= C) return LT_EINDEX;
            out[n * C * S + y * S + s] = 1.0f;
        }
    return LT_OK;
}

/* ---- Lovasz ---- */

typedef struct { float e; int64_t i; } lovasz_item;

static int lovasz_cmp(const void *pa, const void *pb) {   /* error descending, index ascending */
    const lovasz_item *a = pa, *b = pb;
    if (a->e > b->e) return -1;
    if (a->e < b->e) return 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* items[0..P) hold (error, position); fg[k] the ground truth of item k's position.
 * Writes scale * lovasz_grad(sorted fg) to G at each position. */
static void lovasz_group(float *G, lovasz_item *items, const float *fgval, int64_t P,
                         double scale) {
    qsort(items, (size_t)P, sizeof *items, lovasz_cmp);
    double gts = 0.0;
    for (int64_t k = 0; k < P; k++) gts += fgval[items[k].i];
    double cum_fg = 0.0, cum_bg = 0.0, prev = 0.0;
    for (int64_t k = 0; k < P; k++) {
        const double f = fgval[items[k].i];
        cum_fg += f;
        cum_bg += 1.0 - f;
        const double jac = 1.0 - (gts - cum_fg) / (gts + cum_bg);
        G[items[k].i] = (float)(scale * (jac - prev));
        prev = jac;
    }
}

lt_status lt_lovasz_softmax_weights(float *G, const float *err, const int32_t *target, int64_t N,
                                    int64_t C, int64_t S, int64_t ignore_index, int has_ignore,
                                    int per_image) {
    const int64_t groups = per_image ? N : 1, gn = per_image ? 1 : N;
    const int64_t P = gn * S;
    lovasz_item *items = malloc(sizeof *items * (size_t)(P > 0 ? P : 1));
    float *fg = malloc(sizeof *fg * (size_t)(N * C * S > 0 ? N * C * S : 1));
    if (!items || !fg) { free(items); free(fg); return LT_ENOMEM; }
    for (int64_t i = 0; i < N * C * S; i++) G[i] = 0.0f;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++)
                fg[(n * C + c) * S + s] = target[n * S + s] == c ? 1.0f : 0.0f;
    for (int64_t g = 0; g < groups; g++) {
        /* classes present among the group's valid pixels */
        int64_t present = 0;
        for (int64_t c = 0; c < C; c++) {
            int found = 0;
            for (int64_t n = g * gn; n < (g + 1) * gn && !found; n++)
                for (int64_t s = 0; s < S; s++) {
                    const int64_t y = target[n * S + s];
                    if (y == c && !(has_ignore && y == ignore_index)) { found = 1; break; }
                }
            present += found;
        }
        if (present == 0) continue;   /* smp: mean of no classes is 0 */
        const double scale = 1.0 / (double)present / (double)groups;
        for (int64_t c = 0; c < C; c++) {
            int64_t k = 0, nfg = 0;
            for (int64_t n = g * gn; n < (g + 1) * gn; n++)
                for (int64_t s = 0; s < S; s++) {
                    const int64_t y = target[n * S + s];
                    if (has_ignore && y == ignore_index) continue;
                    const int64_t pos = (n * C + c) * S + s;
                    items[k].e = err[pos];
                    items[k].i = pos;
                    nfg += y == c;
                    k++;
                }
            if (nfg == 0) continue;
            lovasz_group(G, items, fg, k, scale);
        }
    }
    free(items);
    free(fg);
    return LT_OK;
}

lt_status lt_lovasz_hinge_weights(float *G, const float *err, const float *labels, int64_t N,
                                  int64_t S, float ignore_value, int has_ignore, int per_image) {
    const int64_t groups = per_image ? N : 1, gs = per_image ? S : N * S;
    lovasz_item *items = malloc(sizeof *items * (size_t)(gs > 0 ? gs : 1));
    if (!items) return LT_ENOMEM;
    for (int64_t i = 0; i < N * S; i++) G[i] = 0.0f;
    for (int64_t g = 0; g < groups; g++) {
        int64_t k = 0;
        for (int64_t i = g * gs; i < (g + 1) * gs; i++) {
            if (has_ignore && labels[i] == ignore_value) continue;
            items[k].e = err[i];
            items[k].i = i;
            k++;
        }
        if (k > 0) lovasz_group(G, items, labels, k, 1.0 / (double)groups);
    }
    free(items);
    return LT_OK;
}
