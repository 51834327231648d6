/* lt_pool3d.c: 3-D max / average / adaptive average pooling and nearest / trilinear
 * interpolation on stacks of volumes, forward and backward (see lt_pool3d.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lt_pool3d.h"

#define PAR_MIN 32768

static int nthreads(const lt_context *ctx, int64_t work) {
    return work >= PAR_MIN ? lt_ctx_num_threads(ctx) : 1;
}

/* ---------------------------------------------------------------- geometry */

static lt_status outsize1(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, int ceil_mode,
                          int64_t *out) {
    int64_t num, ek, last;
    if (lt_mul_ovf(d, k - 1, &ek) || lt_add_ovf(ek, 1, &ek) || lt_mul_ovf(p, 2, &num) ||
        lt_add_ovf(num, in, &num) || lt_sub_ovf(num, ek, &num))
        return LT_EOVERFLOW;
    int64_t q = num / s, r = num % s;
    if (ceil_mode) { if (r > 0) q++; }
    else if (r < 0) q--;
    int64_t o = q + 1;
    if (ceil_mode && o >= 1 && (lt_mul_ovf(o - 1, s, &last) || last >= in + p)) o--;
    if (o >= 1 && (lt_mul_ovf(o - 1, s, &last) || lt_sub_ovf(last, p, &last) ||
                   lt_add_ovf(last, ek, &last)))
        return LT_EOVERFLOW;
    *out = o;
    return LT_OK;
}

lt_status lt_pool3d_outsize(lt_pool3d_geom *g, int ceil_mode) {
    if (g->kd < 1 || g->kh < 1 || g->kw < 1 || g->sd < 1 || g->sh < 1 || g->sw < 1 ||
        g->dd < 1 || g->dh < 1 || g->dw < 1 || g->pd < 0 || g->ph < 0 || g->pw < 0)
        return LT_EARG;
    if (g->kd == 1) g->dd = 1;
    if (g->kh == 1) g->dh = 1;
    if (g->kw == 1) g->dw = 1;
    lt_status st = outsize1(g->id, g->kd, g->sd, g->pd, g->dd, ceil_mode, &g->od);
    if (st == LT_OK) st = outsize1(g->ih, g->kh, g->sh, g->ph, g->dh, ceil_mode, &g->oh);
    if (st == LT_OK) st = outsize1(g->iw, g->kw, g->sw, g->pw, g->dw, ceil_mode, &g->ow);
    if (st != LT_OK) return st;
    return (g->od < 1 || g->oh < 1 || g->ow < 1) ? LT_ESHAPE : LT_OK;
}

/* ---------------------------------------------------------------- max pooling */

/* First tap inside [0, ...): start + ceil(-start / dil) * dil. */
static int64_t first_in(int64_t start, int64_t dil) {
    return start < 0 ? start + (-start / dil + (-start % dil != 0)) * dil : start;
}

/* One volume, any geometry: PyTorch's max_pool3d_with_indices_single_out_frame loop. */
static void max_volume(float *out, int32_t *idx, const float *in, const lt_pool3d_geom *g) {
    const int64_t hw = g->ih * g->iw;
    for (int64_t oz = 0; oz < g->od; oz++)
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t z0 = oz * g->sd - g->pd, y0 = oy * g->sh - g->ph, x0 = ox * g->sw - g->pw;
                int64_t z1 = z0 + (g->kd - 1) * g->dd + 1, y1 = y0 + (g->kh - 1) * g->dh + 1;
                int64_t x1 = x0 + (g->kw - 1) * g->dw + 1;
                if (z1 > g->id) z1 = g->id;
                if (y1 > g->ih) y1 = g->ih;
                if (x1 > g->iw) x1 = g->iw;
                z0 = first_in(z0, g->dd);
                y0 = first_in(y0, g->dh);
                x0 = first_in(x0, g->dw);
                int64_t best = z0 * hw + y0 * g->iw + x0;
                float m = -INFINITY;
                for (int64_t z = z0; z < z1; z += g->dd)
                    for (int64_t y = y0; y < y1; y += g->dh)
                        for (int64_t x = x0; x < x1; x += g->dw) {
                            const int64_t k = z * hw + y * g->iw + x;
                            const float v = in[k];
                            if (v > m || isnan(v)) { m = v; best = k; }
                        }
                const int64_t o = (oz * g->oh + oy) * g->ow + ox;
                out[o] = m;
                if (idx) idx[o] = (int32_t)(best + 1);
            }
}

/* 2x2x2, stride 2, no padding, every window inside the volume. */
static void max_volume_222(float *out, int32_t *idx, const float *in, const lt_pool3d_geom *g) {
    const int64_t hw = g->ih * g->iw, W = g->iw;
    for (int64_t oz = 0; oz < g->od; oz++)
        for (int64_t oy = 0; oy < g->oh; oy++) {
            const int64_t base = (2 * oz) * hw + (2 * oy) * W;
            float *o = out + (oz * g->oh + oy) * g->ow;
            int32_t *io = idx ? idx + (oz * g->oh + oy) * g->ow : NULL;
            for (int64_t ox = 0; ox < g->ow; ox++) {
                const int64_t p = base + 2 * ox;
                const int64_t taps[8] = { p, p + 1, p + W, p + W + 1, p + hw, p + hw + 1,
                                          p + hw + W, p + hw + W + 1 };
                float m = in[p];
                int64_t best = p;
                for (int t = 1; t < 8; t++) {
                    const float v = in[taps[t]];
                    if (v > m || isnan(v)) { m = v; best = taps[t]; }
                }
                /* a NaN in the first tap stays unless a later NaN replaces it, as PyTorch */
                o[ox] = m;
                if (io) io[ox] = (int32_t)(best + 1);
            }
        }
}

lt_status lt_max_pool3d_forward(const lt_context *ctx, float *out, int32_t *idx, const float *in,
                                const lt_pool3d_geom *g) {
    const int64_t vi = g->id * g->ih * g->iw, vo = g->od * g->oh * g->ow;
    const int fast = g->kd == 2 && g->kh == 2 && g->kw == 2 && g->sd == 2 && g->sh == 2 &&
                     g->sw == 2 && g->pd == 0 && g->ph == 0 && g->pw == 0 &&
                     2 * g->od <= g->id && 2 * g->oh <= g->ih && 2 * g->ow <= g->iw;
    #pragma omp parallel for num_threads(nthreads(ctx, g->planes * vi)) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        if (fast) max_volume_222(out + p * vo, idx ? idx + p * vo : NULL, in + p * vi, g);
        else max_volume(out + p * vo, idx ? idx + p * vo : NULL, in + p * vi, g);
    }
    return LT_OK;
}

/* Reference: every tap of the dilated window, bounds-checked one by one. */
lt_status lt_max_pool3d_forward_naive(float *out, int32_t *idx, const float *in,
                                      const lt_pool3d_geom *g) {
    const int64_t vi = g->id * g->ih * g->iw, vo = g->od * g->oh * g->ow;
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t oz = 0; oz < g->od; oz++)
            for (int64_t oy = 0; oy < g->oh; oy++)
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    float m = -INFINITY;
                    int64_t best = -1;
                    for (int64_t a = 0; a < g->kd; a++)
                        for (int64_t b = 0; b < g->kh; b++)
                            for (int64_t c = 0; c < g->kw; c++) {
                                const int64_t z = oz * g->sd - g->pd + a * g->dd;
                                const int64_t y = oy * g->sh - g->ph + b * g->dh;
                                const int64_t x = ox * g->sw - g->pw + c * g->dw;
                                if (z < 0 || z >= g->id || y < 0 || y >= g->ih || x < 0 ||
                                    x >= g->iw)
                                    continue;
                                const int64_t k = (z * g->ih + y) * g->iw + x;
                                const float v = in[p * vi + k];
                                if (best < 0) best = k;   /* the default: first tap inside */
                                if (v > m || isnan(v)) { m = v; best = k; }
                            }
                    const int64_t o = p * vo + (oz * g->oh + oy) * g->ow + ox;
                    out[o] = m;
                    if (idx) idx[o] = (int32_t)(best + 1);
                }
    return LT_OK;
}

/* ---------------------------------------------------------------- average pooling */

/* Window of output (oz, oy, ox) clipped to the input, and its divisor. */
typedef struct { int64_t z0, z1, y0, y1, x0, x1; double div; } avg_win;

static int64_t clip_dim(int64_t o, int64_t k, int64_t s, int64_t p, int64_t in, int64_t *a,
                        int64_t *b) {
    int64_t s0 = o * s - p, e = s0 + k;
    if (e > in + p) e = in + p;
    const int64_t padded = e - s0;
    if (s0 < 0) s0 = 0;
    if (e > in) e = in;
    *a = s0;
    *b = e;
    return padded;
}

static avg_win avg_window(const lt_pool3d_geom *g, int64_t oz, int64_t oy, int64_t ox, int cip,
                          int64_t divisor) {
    avg_win w;
    const int64_t pz = clip_dim(oz, g->kd, g->sd, g->pd, g->id, &w.z0, &w.z1);
    const int64_t py = clip_dim(oy, g->kh, g->sh, g->ph, g->ih, &w.y0, &w.y1);
    const int64_t px = clip_dim(ox, g->kw, g->sw, g->pw, g->iw, &w.x0, &w.x1);
    if (divisor > 0) w.div = (double)divisor;
    else if (cip) w.div = (double)pz * (double)py * (double)px;
    else w.div = (double)(w.z1 - w.z0) * (double)(w.y1 - w.y0) * (double)(w.x1 - w.x0);
    return w;
}

static int win_empty(const avg_win *w) {
    return w->z0 >= w->z1 || w->y0 >= w->y1 || w->x0 >= w->x1;
}

lt_status lt_avg_pool3d_forward(const lt_context *ctx, float *out, const float *in,
                                const lt_pool3d_geom *g, int count_include_pad, int64_t divisor) {
    const int64_t vi = g->id * g->ih * g->iw, vo = g->od * g->oh * g->ow, hw = g->ih * g->iw;
    #pragma omp parallel for num_threads(nthreads(ctx, g->planes * vi)) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *src = in + p * vi;
        float *dst = out + p * vo;
        for (int64_t oz = 0; oz < g->od; oz++)
            for (int64_t oy = 0; oy < g->oh; oy++)
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    const avg_win w = avg_window(g, oz, oy, ox, count_include_pad, divisor);
                    float s = 0.0f;
                    if (!win_empty(&w))
                        for (int64_t z = w.z0; z < w.z1; z++)
                            for (int64_t y = w.y0; y < w.y1; y++) {
                                const float *r = src + z * hw + y * g->iw;
                                for (int64_t x = w.x0; x < w.x1; x++) s += r[x];
                            }
                    dst[(oz * g->oh + oy) * g->ow + ox] =
                        win_empty(&w) ? 0.0f : (float)((double)s / w.div);
                }
    }
    return LT_OK;
}

/* Reference: every tap of the window, bounds-checked, in double. */
lt_status lt_avg_pool3d_forward_naive(float *out, const float *in, const lt_pool3d_geom *g,
                                      int count_include_pad, int64_t divisor) {
    const int64_t vi = g->id * g->ih * g->iw, vo = g->od * g->oh * g->ow;
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t oz = 0; oz < g->od; oz++)
            for (int64_t oy = 0; oy < g->oh; oy++)
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    double s = 0.0;
                    int64_t inside = 0, padded = 0;
                    for (int64_t a = 0; a < g->kd; a++)
                        for (int64_t b = 0; b < g->kh; b++)
                            for (int64_t c = 0; c < g->kw; c++) {
                                const int64_t z = oz * g->sd - g->pd + a;
                                const int64_t y = oy * g->sh - g->ph + b;
                                const int64_t x = ox * g->sw - g->pw + c;
                                if (z >= g->id + g->pd || y >= g->ih + g->ph || x >= g->iw + g->pw)
                                    continue;   /* beyond the padded input */
                                padded++;
                                if (z < 0 || z >= g->id || y < 0 || y >= g->ih || x < 0 ||
                                    x >= g->iw)
                                    continue;
                                inside++;
                                s += in[p * vi + (z * g->ih + y) * g->iw + x];
                            }
                    const double div = divisor > 0 ? (double)divisor
                                       : count_include_pad ? (double)padded : (double)inside;
                    out[p * vo + (oz * g->oh + oy) * g->ow + ox] =
                        inside ? (float)(s / div) : 0.0f;
                }
    return LT_OK;
}

lt_status lt_avg_pool3d_backward(const lt_context *ctx, float *din, const float *dout,
                                 const lt_pool3d_geom *g, int count_include_pad, int64_t divisor) {
    const int64_t vi = g->id * g->ih * g->iw, vo = g->od * g->oh * g->ow, hw = g->ih * g->iw;
    #pragma omp parallel for num_threads(nthreads(ctx, g->planes * vi)) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        float *dst = din + p * vi;
        const float *src = dout + p * vo;
        for (int64_t oz = 0; oz < g->od; oz++)
            for (int64_t oy = 0; oy < g->oh; oy++)
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    const avg_win w = avg_window(g, oz, oy, ox, count_include_pad, divisor);
                    if (win_empty(&w)) continue;
                    const float v = (float)((double)src[(oz * g->oh + oy) * g->ow + ox] / w.div);
                    for (int64_t z = w.z0; z < w.z1; z++)
                        for (int64_t y = w.y0; y < w.y1; y++) {
                            float *r = dst + z * hw + y * g->iw;
                            for (int64_t x = w.x0; x < w.x1; x++) r[x] += v;
                        }
                }
    }
    return LT_OK;
}

/* ---------------------------------------------------------------- adaptive average */

static int64_t ad_start(int64_t o, int64_t in, int64_t out) { return o * in / out; }
static int64_t ad_end(int64_t o, int64_t in, int64_t out) {
    return ((o + 1) * in + out - 1) / out;
}

static int ad_ovf(const int64_t isz[3], const int64_t osz[3]) {
    for (int k = 0; k < 3; k++) {
        int64_t t;
        if (lt_mul_ovf(isz[k], osz[k], &t) || lt_add_ovf(t, osz[k] + isz[k], &t)) return 1;
    }
    return 0;
}

static void adaptive_volume(float *dst, const float *src, const float *gsrc, float *gdst,
                            const int64_t isz[3], const int64_t osz[3]) {
    const int64_t hw = isz[1] * isz[2];
    for (int64_t oz = 0; oz < osz[0]; oz++) {
        const int64_t z0 = ad_start(oz, isz[0], osz[0]), z1 = ad_end(oz, isz[0], osz[0]);
        for (int64_t oy = 0; oy < osz[1]; oy++) {
            const int64_t y0 = ad_start(oy, isz[1], osz[1]), y1 = ad_end(oy, isz[1], osz[1]);
            for (int64_t ox = 0; ox < osz[2]; ox++) {
                const int64_t x0 = ad_start(ox, isz[2], osz[2]), x1 = ad_end(ox, isz[2], osz[2]);
                const int64_t o = (oz * osz[1] + oy) * osz[2] + ox;
                const double cnt = (double)((z1 - z0) * (y1 - y0) * (x1 - x0));
                if (src) {
                    float s = 0.0f;
                    for (int64_t z = z0; z < z1; z++)
                        for (int64_t y = y0; y < y1; y++)
                            for (int64_t x = x0; x < x1; x++) s += src[z * hw + y * isz[2] + x];
                    dst[o] = (float)((double)s / cnt);
                } else {
                    const float v = (float)((double)gsrc[o] / cnt);
                    for (int64_t z = z0; z < z1; z++)
                        for (int64_t y = y0; y < y1; y++)
                            for (int64_t x = x0; x < x1; x++) gdst[z * hw + y * isz[2] + x] += v;
                }
            }
        }
    }
}

lt_status lt_adaptive_avg_pool3d_forward(const lt_context *ctx, float *out, const float *in,
                                         int64_t planes, const int64_t isz[3],
                                         const int64_t osz[3]) {
    if (ad_ovf(isz, osz)) return LT_EOVERFLOW;
    const int64_t vi = isz[0] * isz[1] * isz[2], vo = osz[0] * osz[1] * osz[2];
    #pragma omp parallel for num_threads(nthreads(ctx, planes * vi)) schedule(static)
    for (int64_t p = 0; p < planes; p++)
        adaptive_volume(out + p * vo, in + p * vi, NULL, NULL, isz, osz);
    return LT_OK;
}

lt_status lt_adaptive_avg_pool3d_forward_naive(float *out, const float *in, int64_t planes,
                                               const int64_t isz[3], const int64_t osz[3]) {
    if (ad_ovf(isz, osz)) return LT_EOVERFLOW;
    const int64_t vi = isz[0] * isz[1] * isz[2], vo = osz[0] * osz[1] * osz[2];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o = 0; o < vo; o++) {
            const int64_t oz = o / (osz[1] * osz[2]), oy = o / osz[2] % osz[1], ox = o % osz[2];
            double s = 0.0;
            int64_t n = 0;
            for (int64_t z = oz * isz[0] / osz[0]; z * osz[0] < (oz + 1) * isz[0]; z++)
                for (int64_t y = oy * isz[1] / osz[1]; y * osz[1] < (oy + 1) * isz[1]; y++)
                    for (int64_t x = ox * isz[2] / osz[2]; x * osz[2] < (ox + 1) * isz[2]; x++) {
                        s += in[p * vi + (z * isz[1] + y) * isz[2] + x];
                        n++;
                    }
            out[p * vo + o] = (float)(s / (double)n);
        }
    return LT_OK;
}

lt_status lt_adaptive_avg_pool3d_backward(const lt_context *ctx, float *din, const float *dout,
                                          int64_t planes, const int64_t isz[3],
                                          const int64_t osz[3]) {
    if (ad_ovf(isz, osz)) return LT_EOVERFLOW;
    const int64_t vi = isz[0] * isz[1] * isz[2], vo = osz[0] * osz[1] * osz[2];
    #pragma omp parallel for num_threads(nthreads(ctx, planes * vi)) schedule(static)
    for (int64_t p = 0; p < planes; p++)
        adaptive_volume(NULL, NULL, dout + p * vo, din + p * vi, isz, osz);
    return LT_OK;
}

/* ---------------------------------------------------------------- interpolation */

/* PyTorch's compute_scales_value<float>. */
static float step_of(double scale, int64_t in, int64_t out) {
    return scale > 0.0 ? (float)(1.0 / scale) : (float)in / (float)out;
}

static int64_t nearest_src(int64_t dst, int64_t in, float step) {
    const int64_t s = (int64_t)floorf((float)dst * step);
    return s < in - 1 ? s : in - 1;
}

/* Source index of every output coordinate of the three dims (one table, OD + OH + OW). */
static int64_t *nearest_tables(const int64_t isz[3], const int64_t osz[3], const double scale[3]) {
    int64_t *t = malloc((size_t)(osz[0] + osz[1] + osz[2]) * sizeof(int64_t));
    if (!t) return NULL;
    int64_t *p = t;
    for (int k = 0; k < 3; k++) {
        const float st = step_of(scale[k], isz[k], osz[k]);
        for (int64_t o = 0; o < osz[k]; o++) *p++ = nearest_src(o, isz[k], st);
    }
    return t;
}

static lt_status nearest_run(const lt_context *ctx, float *out, const float *in, int64_t planes,
                             const int64_t isz[3], const int64_t osz[3], const double scale[3],
                             int backward) {
    int64_t *t = nearest_tables(isz, osz, scale);
    if (!t) return LT_ENOMEM;
    const int64_t *tz = t, *ty = t + osz[0], *tx = ty + osz[1];
    const int64_t vi = isz[0] * isz[1] * isz[2], vo = osz[0] * osz[1] * osz[2];
    #pragma omp parallel for num_threads(nthreads(ctx, planes * vo)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        for (int64_t oz = 0; oz < osz[0]; oz++)
            for (int64_t oy = 0; oy < osz[1]; oy++) {
                const int64_t src = p * vi + (tz[oz] * isz[1] + ty[oy]) * isz[2];
                const int64_t dst = p * vo + (oz * osz[1] + oy) * osz[2];
                if (!backward)
                    for (int64_t ox = 0; ox < osz[2]; ox++) out[dst + ox] = in[src + tx[ox]];
                else   /* out is din, in is dout */
                    for (int64_t ox = 0; ox < osz[2]; ox++) out[src + tx[ox]] += in[dst + ox];
            }
    }
    free(t);
    return LT_OK;
}

lt_status lt_upsample_nearest3d_forward(const lt_context *ctx, float *out, const float *in,
                                        int64_t planes, const int64_t isz[3],
                                        const int64_t osz[3], const double scale[3]) {
    return nearest_run(ctx, out, in, planes, isz, osz, scale, 0);
}

lt_status lt_upsample_nearest3d_forward_naive(float *out, const float *in, int64_t planes,
                                              const int64_t isz[3], const int64_t osz[3],
                                              const double scale[3]) {
    const int64_t vi = isz[0] * isz[1] * isz[2], vo = osz[0] * osz[1] * osz[2];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o = 0; o < vo; o++) {
            const int64_t od[3] = { o / (osz[1] * osz[2]), o / osz[2] % osz[1], o % osz[2] };
            int64_t src[3];
            for (int k = 0; k < 3; k++)
                src[k] = nearest_src(od[k], isz[k], step_of(scale[k], isz[k], osz[k]));
            out[p * vo + o] = in[p * vi + (src[0] * isz[1] + src[1]) * isz[2] + src[2]];
        }
    return LT_OK;
}

lt_status lt_upsample_nearest3d_backward(const lt_context *ctx, float *din, const float *dout,
                                         int64_t planes, const int64_t isz[3],
                                         const int64_t osz[3], const double scale[3]) {
    return nearest_run(ctx, din, dout, planes, isz, osz, scale, 1);
}

/* PyTorch's area_pixel_compute_scale<float>. */
static float linear_step(int64_t in, int64_t out, int align_corners, double scale) {
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return step_of(scale, in, out);
}

typedef struct { int64_t i0, i1; float l0, l1; } lin_tap;

/* PyTorch's compute_source_index_and_lambda<float> for one output coordinate. */
static lin_tap linear_src(int64_t dst, int64_t in, int64_t out, float step, int align_corners) {
    lin_tap t;
    if (out == in) {
        t.i0 = t.i1 = dst;
        t.l0 = 1.0f;
        t.l1 = 0.0f;
        return t;
    }
    float real;
    if (align_corners) {
        real = step * (float)dst;
    } else {
        real = (float)((double)step * ((double)dst + 0.5) - 0.5);
        if (real < 0.0f) real = 0.0f;
    }
    int64_t k = (int64_t)real;
    if (k > in - 1) k = in - 1;
    t.i0 = k;
    t.i1 = k + (k < in - 1 ? 1 : 0);
    t.l1 = real - (float)k;
    t.l0 = 1.0f - t.l1;
    return t;
}

static lin_tap *linear_tables(const int64_t isz[3], const int64_t osz[3], int ac,
                              const double scale[3]) {
    lin_tap *t = malloc((size_t)(osz[0] + osz[1] + osz[2]) * sizeof(lin_tap));
    if (!t) return NULL;
    lin_tap *p = t;
    for (int k = 0; k < 3; k++) {
        const float st = linear_step(isz[k], osz[k], ac, scale[k]);
        for (int64_t o = 0; o < osz[k]; o++) *p++ = linear_src(o, isz[k], osz[k], st, ac);
    }
    return t;
}

lt_status lt_upsample_trilinear3d_forward(const lt_context *ctx, float *out, const float *in,
                                          int64_t planes, const int64_t isz[3],
                                          const int64_t osz[3], int align_corners,
                                          const double scale[3]) {
    lin_tap *t = linear_tables(isz, osz, align_corners, scale);
    if (!t) return LT_ENOMEM;
    const lin_tap *tz = t, *ty = t + osz[0], *tx = ty + osz[1];
    const int64_t vi = isz[0] * isz[1] * isz[2], vo = osz[0] * osz[1] * osz[2];
    const int64_t W = isz[2], HW = isz[1] * isz[2];
    #pragma omp parallel for num_threads(nthreads(ctx, planes * vo)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *src = in + p * vi;
        for (int64_t oz = 0; oz < osz[0]; oz++)
            for (int64_t oy = 0; oy < osz[1]; oy++) {
                const lin_tap z = tz[oz], y = ty[oy];
                const float *r00 = src + z.i0 * HW + y.i0 * W, *r01 = src + z.i0 * HW + y.i1 * W;
                const float *r10 = src + z.i1 * HW + y.i0 * W, *r11 = src + z.i1 * HW + y.i1 * W;
                const float w00 = z.l0 * y.l0, w01 = z.l0 * y.l1, w10 = z.l1 * y.l0,
                            w11 = z.l1 * y.l1;
                float *dst = out + p * vo + (oz * osz[1] + oy) * osz[2];
                for (int64_t ox = 0; ox < osz[2]; ox++) {
                    const lin_tap x = tx[ox];
                    dst[ox] = w00 * (x.l0 * r00[x.i0] + x.l1 * r00[x.i1]) +
                              w01 * (x.l0 * r01[x.i0] + x.l1 * r01[x.i1]) +
                              w10 * (x.l0 * r10[x.i0] + x.l1 * r10[x.i1]) +
                              w11 * (x.l0 * r11[x.i0] + x.l1 * r11[x.i1]);
                }
            }
    }
    free(t);
    return LT_OK;
}

lt_status lt_upsample_trilinear3d_forward_naive(float *out, const float *in, int64_t planes,
                                                const int64_t isz[3], const int64_t osz[3],
                                                int align_corners, const double scale[3]) {
    float st[3];
    for (int k = 0; k < 3; k++) st[k] = linear_step(isz[k], osz[k], align_corners, scale[k]);
    const int64_t vi = isz[0] * isz[1] * isz[2], vo = osz[0] * osz[1] * osz[2];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oz = 0; oz < osz[0]; oz++)
            for (int64_t oy = 0; oy < osz[1]; oy++)
                for (int64_t ox = 0; ox < osz[2]; ox++) {
                    const lin_tap z = linear_src(oz, isz[0], osz[0], st[0], align_corners);
                    const lin_tap y = linear_src(oy, isz[1], osz[1], st[1], align_corners);
                    const lin_tap x = linear_src(ox, isz[2], osz[2], st[2], align_corners);
                    const int64_t zi[2] = { z.i0, z.i1 }, yi[2] = { y.i0, y.i1 },
                                  xi[2] = { x.i0, x.i1 };
                    const double zl[2] = { z.l0, z.l1 }, yl[2] = { y.l0, y.l1 },
                                 xl[2] = { x.l0, x.l1 };
                    double s = 0.0;
                    for (int a = 0; a < 2; a++)
                        for (int b = 0; b < 2; b++)
                            for (int c = 0; c < 2; c++)
                                s += zl[a] * yl[b] * xl[c] *
                                     in[p * vi + (zi[a] * isz[1] + yi[b]) * isz[2] + xi[c]];
                    out[p * vo + (oz * osz[1] + oy) * osz[2] + ox] = (float)s;
                }
    return LT_OK;
}

lt_status lt_upsample_trilinear3d_backward(const lt_context *ctx, float *din, const float *dout,
                                           int64_t planes, const int64_t isz[3],
                                           const int64_t osz[3], int align_corners,
                                           const double scale[3]) {
    lin_tap *t = linear_tables(isz, osz, align_corners, scale);
    if (!t) return LT_ENOMEM;
    const lin_tap *tz = t, *ty = t + osz[0], *tx = ty + osz[1];
    const int64_t vi = isz[0] * isz[1] * isz[2], vo = osz[0] * osz[1] * osz[2];
    const int64_t W = isz[2], HW = isz[1] * isz[2];
    #pragma omp parallel for num_threads(nthreads(ctx, planes * vo)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *dst = din + p * vi;
        for (int64_t oz = 0; oz < osz[0]; oz++)
            for (int64_t oy = 0; oy < osz[1]; oy++) {
                const lin_tap z = tz[oz], y = ty[oy];
                float *r00 = dst + z.i0 * HW + y.i0 * W, *r01 = dst + z.i0 * HW + y.i1 * W;
                float *r10 = dst + z.i1 * HW + y.i0 * W, *r11 = dst + z.i1 * HW + y.i1 * W;
                const float w00 = z.l0 * y.l0, w01 = z.l0 * y.l1, w10 = z.l1 * y.l0,
                            w11 = z.l1 * y.l1;
                const float *g = dout + p * vo + (oz * osz[1] + oy) * osz[2];
                for (int64_t ox = 0; ox < osz[2]; ox++) {
                    const lin_tap x = tx[ox];
                    const float v0 = g[ox] * x.l0, v1 = g[ox] * x.l1;
                    r00[x.i0] += w00 * v0; r00[x.i1] += w00 * v1;
                    r01[x.i0] += w01 * v0; r01[x.i1] += w01 * v1;
                    r10[x.i0] += w10 * v0; r10[x.i1] += w10 * v1;
                    r11[x.i0] += w11 * v0; r11[x.i1] += w11 * v1;
                }
            }
    }
    free(t);
    return LT_OK;
}
