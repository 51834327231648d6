/* lt_pool.c: max / average / adaptive pooling and max unpooling on stacks of float32
 * planes, forward and backward (see lt_pool.h for the index convention and semantics). */
#include "lt_pool.h"
#include "lt_context.h"
#include "lt_isa.h"

#include <math.h>
#include <string.h>

/* Parallelise over planes only when there is enough work to pay for the threads. */
#define LT_POOL_PAR_MIN 32768

static int pool_threads(const lt_context *ctx, int64_t work) {
    return work >= LT_POOL_PAR_MIN ? lt_ctx_num_threads(ctx) : 1;
}

/* PyTorch's pooling_output_shape for one dim, overflow-checked:
 *   out = div_rtn(in + 2p - d(k-1) - 1 + (ceil ? s - 1 : 0), s) + 1, minus one with ceil_mode
 *   when the last window would start in the right padding ((out - 1) * s >= in + p).
 * The ceil_mode rounding is done as a ceiling division (no s - 1 added: no overflow). */
static lt_status pool_outsize1(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                               int ceil_mode, int64_t *out) {
    int64_t num, ek, last;
    if (lt_mul_ovf(d, k - 1, &ek) || lt_add_ovf(ek, 1, &ek) || lt_mul_ovf(p, 2, &num) ||
        lt_add_ovf(num, in, &num) || lt_sub_ovf(num, ek, &num))
        return LT_EOVERFLOW;
    int64_t q = num / s, r = num % s;                 /* truncated toward zero */
    if (ceil_mode) { if (r > 0) q++; }                /* ceiling */
    else if (r < 0) q--;                              /* floor */
    int64_t o = q + 1;
    if (ceil_mode && o >= 1 && (lt_mul_ovf(o - 1, s, &last) || last >= in + p)) o--;
    /* the kernels compute the last window's end (o - 1) * s - p + ek: it must fit too */
    if (o >= 1 && (lt_mul_ovf(o - 1, s, &last) || lt_sub_ovf(last, p, &last) ||
                   lt_add_ovf(last, ek, &last)))
        return LT_EOVERFLOW;
    *out = o;
    return LT_OK;
}

lt_status lt_pool2d_outsize(lt_pool2d_geom *g, int ceil_mode) {
    if (g->kh < 1 || g->kw < 1 || g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 ||
        g->ph < 0 || g->pw < 0)
        return LT_EARG;
    /* one tap: the dilation plays no part (and the kernels' h += dh could overflow) */
    if (g->kh == 1) g->dh = 1;
    if (g->kw == 1) g->dw = 1;
    lt_status st = pool_outsize1(g->ih, g->kh, g->sh, g->ph, g->dh, ceil_mode, &g->oh);
    if (st == LT_OK) st = pool_outsize1(g->iw, g->kw, g->sw, g->pw, g->dw, ceil_mode, &g->ow);
    if (st != LT_OK) return st;
    return (g->oh < 1 || g->ow < 1) ? LT_ESHAPE : LT_OK;
}

/* ---- max pooling ---- */

/* One plane, any geometry: PyTorch's cpu_max_pool loop. */
static void max_pool_plane(float *out, int32_t *idx, const float *in, const lt_pool2d_geom *g) {
    for (int64_t oh = 0; oh < g->oh; oh++) {
        for (int64_t ow = 0; ow < g->ow; ow++) {
            int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
            int64_t h1 = h0 + (g->kh - 1) * g->dh + 1, w1 = w0 + (g->kw - 1) * g->dw + 1;
            if (h1 > g->ih) h1 = g->ih;
            if (w1 > g->iw) w1 = g->iw;
            /* first tap inside: h0 + ceil(-h0 / dh) * dh (<= h0 + dilated kernel: fits) */
            if (h0 < 0) h0 += (-h0 / g->dh + (-h0 % g->dh != 0)) * g->dh;
            if (w0 < 0) w0 += (-w0 / g->dw + (-w0 % g->dw != 0)) * g->dw;
            /* PyTorch's index for a window that holds no input cell (possible with
             * dilation): the flat position of its first tap, kept inside the plane */
            int64_t best = h0 * g->iw + w0;
            if (best >= g->ih * g->iw) best = g->ih * g->iw - 1;
            float m = -INFINITY;
            for (int64_t h = h0; h < h1; h += g->dh) {
                for (int64_t w = w0; w < w1; w += g->dw) {
                    float v = in[h * g->iw + w];
                    if (v > m || isnan(v)) { m = v; best = h * g->iw + w; }
                }
            }
            out[oh * g->ow + ow] = m;
            if (idx) idx[oh * g->ow + ow] = (int32_t)(best + 1);
        }
    }
}

/* mask ? x : y for a mask of 0 or -1, on the bits (GCC makes a branch of a float ?:) */
static inline LT_ISA_INLINE float sel_f32(int32_t mask, float x, float y) {
    uint32_t xb, yb;
    memcpy(&xb, &x, sizeof xb);
    memcpy(&yb, &y, sizeof yb);
    const uint32_t r = (xb & (uint32_t)mask) | (yb & ~(uint32_t)mask);
    float f;
    memcpy(&f, &r, sizeof f);
    return f;
}

/* 2x2 window, stride 2, no padding, no dilation: two input rows per output row. The
 * window's maximum is taken without branches (selects, vectorised per ISA level): on real
 * data the comparisons are unpredictable, and the branchy loop spent most of its time in
 * mispredictions (3x the time of a copy of the input). Same rule as max_pool_plane: a tap
 * replaces the running maximum when it is greater or NaN (the last NaN wins), so ties go to
 * the first tap in row-major order.
 * One output row: o[ow] = the maximum of r0[2ow], r0[2ow+1], r1[2ow], r1[2ow+1] and ix[ow]
 * its 1-based plane index (base + offset in the window); ix may be NULL. */
static inline LT_ISA_INLINE void mp2x2_row(float *restrict o, int32_t *restrict ix,
                                           const float *restrict r0, const float *restrict r1,
                                           int64_t n, int32_t base, int32_t down) {
    if (!ix) {
#pragma omp simd
        for (int64_t ow = 0; ow < n; ow++) {
            const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
            float m = a;
            m = sel_f32(-((b > m) | (b != b)), b, m);
            m = sel_f32(-((c > m) | (c != c)), c, m);
            m = sel_f32(-((d > m) | (d != d)), d, m);
            o[ow] = m;
        }
        return;
    }
#pragma omp simd
    for (int64_t ow = 0; ow < n; ow++) {
        const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        const int32_t p = base + 2 * (int32_t)ow;
        float m = a;
        int32_t k = p;
        /* masks of the comparisons (0 or -1) and bit selects: no branch in the scalar
         * epilogue (rows shorter than a vector never reach the vector body) */
        const int32_t tb = -((b > m) | (b != b));
        m = sel_f32(tb, b, m);
        k = (k & ~tb) | ((p + 1) & tb);
        const int32_t tc = -((c > m) | (c != c));
        m = sel_f32(tc, c, m);
        k = (k & ~tc) | ((p + down) & tc);
        const int32_t td = -((d > m) | (d != d));
        m = sel_f32(td, d, m);
        k = (k & ~td) | ((p + down + 1) & td);
        o[ow] = m;
        ix[ow] = k;
    }
}

/* A row shorter than 16 outputs: through buffers of 16 (copied in, the unused tail zero),
 * so the select form runs as a vector loop of fixed length instead of its scalar epilogue
 * (compare-and-branch code mispredicts on real data, and the scalar select costs more). */
static inline LT_ISA_INLINE void mp2x2_row_short(float *o, int32_t *ix, const float *r0,
                                                 const float *r1, int64_t n, int32_t base,
                                                 int32_t down) {
    float a0[32] = {0}, a1[32] = {0}, ob[16];
    int32_t ib[16];
    for (int64_t i = 0; i < 2 * n; i++) {
        a0[i] = r0[i];
        a1[i] = r1[i];
    }
    /* indices relative to the row (base 1: the unused lanes cannot overflow), then moved */
    mp2x2_row(ob, ix ? ib : NULL, a0, a1, 16, 1, down);
    for (int64_t i = 0; i < n; i++) o[i] = ob[i];
    if (ix)
        for (int64_t i = 0; i < n; i++) ix[i] = base - 1 + ib[i];
}

/* One plane: out (oh, ow), idx (oh, ow) or NULL, in (ih, iw). */
static inline LT_ISA_INLINE void mp2x2_plane_body(float *out, int32_t *idx, const float *in,
                                                  int64_t oh_n, int64_t ow_n, int64_t iw) {
    for (int64_t oh = 0; oh < oh_n; oh++) {
        const float *r0 = in + 2 * oh * iw;
        if (ow_n < 16)
            mp2x2_row_short(out + oh * ow_n, idx ? idx + oh * ow_n : NULL, r0, r0 + iw, ow_n,
                            (int32_t)(2 * oh * iw + 1), (int32_t)iw);
        else
            mp2x2_row(out + oh * ow_n, idx ? idx + oh * ow_n : NULL, r0, r0 + iw, ow_n,
                      (int32_t)(2 * oh * iw + 1), (int32_t)iw);
    }
}
LT_ISA_VARIANTS(mp2x2_plane,
                (float *out, int32_t *idx, const float *in, int64_t oh_n, int64_t ow_n, int64_t iw),
                (out, idx, in, oh_n, ow_n, iw))

lt_status lt_max_pool2d_forward_naive(const lt_context *ctx, float *out, int32_t *idx,
                                      const float *in, const lt_pool2d_geom *g) {
    if (g->ih * g->iw > INT32_MAX) return LT_EARG;
    const int64_t ni = g->ih * g->iw, no = g->oh * g->ow;
    #pragma omp parallel for num_threads(pool_threads(ctx, g->planes * ni)) schedule(static)
    for (int64_t p = 0; p < g->planes; p++)
        max_pool_plane(out + p * no, idx ? idx + p * no : NULL, in + p * ni, g);
    return LT_OK;
}

lt_status lt_max_pool2d_forward(const lt_context *ctx, float *out, int32_t *idx, const float *in,
                                const lt_pool2d_geom *g) {
    if (g->ih * g->iw > INT32_MAX) return LT_EARG;
    const int fast = g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 &&
                     g->pw == 0 && g->dh == 1 && g->dw == 1 && 2 * g->oh <= g->ih &&
                     2 * g->ow <= g->iw;
    const int64_t ni = g->ih * g->iw, no = g->oh * g->ow;
    const int isa = lt_ctx_isa(ctx);
    #pragma omp parallel for num_threads(pool_threads(ctx, g->planes * ni)) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        if (fast)
            mp2x2_plane_isa[isa](out + p * no, idx ? idx + p * no : NULL, in + p * ni, g->oh,
                                 g->ow, g->iw);
        else
            max_pool_plane(out + p * no, idx ? idx + p * no : NULL, in + p * ni, g);
    }
    return LT_OK;
}

int lt_pool_check_indices(const int32_t *idx, int64_t n, int64_t limit, int32_t *bad,
                          int64_t *pos) {
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 1 || idx[i] > limit) {
            if (bad) *bad = idx[i];
            if (pos) *pos = i;
            return 1;
        }
    }
    return 0;
}

/* din[plane] (+)= the scatter of dout[plane] at idx; set: each plane zeroed first, inside the
 * parallel loop (no serial fill of the whole gradient before it) */
static lt_status max_pool_scatter(const lt_context *ctx, float *din, const float *dout,
                                  const int32_t *idx, int64_t planes, int64_t n_out, int64_t n_in,
                                  int set) {
    if (lt_pool_check_indices(idx, planes * n_out, n_in, NULL, NULL)) return LT_EINDEX;
    #pragma omp parallel for num_threads(pool_threads(ctx, planes * (set ? n_in : n_out))) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *gi = din + p * n_in;
        const float *go = dout + p * n_out;
        const int32_t *ix = idx + p * n_out;
        if (set) memset(gi, 0, (size_t)n_in * sizeof(float));
        for (int64_t i = 0; i < n_out; i++) gi[ix[i] - 1] += go[i];
    }
    return LT_OK;
}

lt_status lt_max_pool2d_backward(const lt_context *ctx, float *din, const float *dout,
                                 const int32_t *idx, int64_t planes, int64_t n_out, int64_t n_in) {
    return max_pool_scatter(ctx, din, dout, idx, planes, n_out, n_in, 0);
}

lt_status lt_max_pool2d_backward_set(const lt_context *ctx, float *din, const float *dout,
                                     const int32_t *idx, int64_t planes, int64_t n_out,
                                     int64_t n_in) {
    return max_pool_scatter(ctx, din, dout, idx, planes, n_out, n_in, 1);
}

/* ---- average pooling (PyTorch's cpu_avg_pool) ---- */

typedef struct avg_window { int64_t h0, h1, w0, w1; double div; } avg_window;

/* Window of output cell (oh, ow) clipped to the input; div == 0 means an empty window. */
static avg_window avg_window_of(const lt_pool2d_geom *g, int64_t oh, int64_t ow,
                                int count_include_pad, int64_t divisor) {
    avg_window a;
    a.h0 = oh * g->sh - g->ph;
    a.w0 = ow * g->sw - g->pw;
    a.h1 = a.h0 + g->kh < g->ih + g->ph ? a.h0 + g->kh : g->ih + g->ph;
    a.w1 = a.w0 + g->kw < g->iw + g->pw ? a.w0 + g->kw : g->iw + g->pw;
    const double pool_size = (double)(a.h1 - a.h0) * (double)(a.w1 - a.w0);   /* may pass 2^63 */
    if (a.h0 < 0) a.h0 = 0;
    if (a.w0 < 0) a.w0 = 0;
    if (a.h1 > g->ih) a.h1 = g->ih;
    if (a.w1 > g->iw) a.w1 = g->iw;
    if (a.h0 >= a.h1 || a.w0 >= a.w1) { a.div = 0; return a; }
    if (divisor > 0) a.div = (double)divisor;
    else a.div = count_include_pad ? pool_size : (double)(a.h1 - a.h0) * (double)(a.w1 - a.w0);
    return a;
}

lt_status lt_avg_pool2d_forward(const lt_context *ctx, float *out, const float *in,
                                const lt_pool2d_geom *g, int count_include_pad, int64_t divisor) {
    const int64_t ni = g->ih * g->iw, no = g->oh * g->ow;
    #pragma omp parallel for num_threads(pool_threads(ctx, g->planes * ni)) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        const float *x = in + p * ni;
        float *y = out + p * no;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            for (int64_t ow = 0; ow < g->ow; ow++) {
                avg_window a = avg_window_of(g, oh, ow, count_include_pad, divisor);
                float s = 0.0f;
                if (a.div != 0) {
                    for (int64_t h = a.h0; h < a.h1; h++)
                        for (int64_t w = a.w0; w < a.w1; w++) s += x[h * g->iw + w];
                    s /= (float)a.div;
                }
                y[oh * g->ow + ow] = s;
            }
        }
    }
    return LT_OK;
}

lt_status lt_avg_pool2d_backward(const lt_context *ctx, float *din, const float *dout,
                                 const lt_pool2d_geom *g, int count_include_pad, int64_t divisor) {
    const int64_t ni = g->ih * g->iw, no = g->oh * g->ow;
    #pragma omp parallel for num_threads(pool_threads(ctx, g->planes * ni)) schedule(static)
    for (int64_t p = 0; p < g->planes; p++) {
        float *gx = din + p * ni;
        const float *gy = dout + p * no;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            for (int64_t ow = 0; ow < g->ow; ow++) {
                avg_window a = avg_window_of(g, oh, ow, count_include_pad, divisor);
                if (a.div == 0) continue;
                float v = gy[oh * g->ow + ow] / (float)a.div;
                for (int64_t h = a.h0; h < a.h1; h++)
                    for (int64_t w = a.w0; w < a.w1; w++) gx[h * g->iw + w] += v;
            }
        }
    }
    return LT_OK;
}

/* ---- adaptive pooling ---- */

static int64_t ad_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
/* ad_start / ad_end compute up to out * in + out - 1: LT_EOVERFLOW when that does not fit. */
static lt_status ad_fits(int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
    int64_t a, b;
    if (oh < 1 || ow < 1 || ih < 0 || iw < 0) return LT_EARG;
    if (lt_mul_ovf(oh, ih, &a) || lt_add_ovf(a, oh, &a) || lt_mul_ovf(ow, iw, &b) ||
        lt_add_ovf(b, ow, &b))
        return LT_EOVERFLOW;
    return LT_OK;
}
static int64_t ad_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

lt_status lt_adaptive_avg_pool2d_forward(const lt_context *ctx, float *out, const float *in,
                                         int64_t planes, int64_t ih, int64_t iw, int64_t oh,
                                         int64_t ow) {
    lt_status st = ad_fits(ih, iw, oh, ow);
    if (st != LT_OK) return st;
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel for num_threads(pool_threads(ctx, planes * ni)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in + p * ni;
        float *y = out + p * no;
        for (int64_t i = 0; i < oh; i++) {
            int64_t h0 = ad_start(i, ih, oh), h1 = ad_end(i, ih, oh);
            for (int64_t j = 0; j < ow; j++) {
                int64_t w0 = ad_start(j, iw, ow), w1 = ad_end(j, iw, ow);
                float s = 0.0f;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) s += x[h * iw + w];
                y[i * ow + j] = s / (float)((h1 - h0) * (w1 - w0));
            }
        }
    }
    return LT_OK;
}

lt_status lt_adaptive_avg_pool2d_backward(const lt_context *ctx, float *din, const float *dout,
                                          int64_t planes, int64_t ih, int64_t iw, int64_t oh,
                                          int64_t ow) {
    lt_status st = ad_fits(ih, iw, oh, ow);
    if (st != LT_OK) return st;
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel for num_threads(pool_threads(ctx, planes * ni)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *gx = din + p * ni;
        const float *gy = dout + p * no;
        for (int64_t i = 0; i < oh; i++) {
            int64_t h0 = ad_start(i, ih, oh), h1 = ad_end(i, ih, oh);
            for (int64_t j = 0; j < ow; j++) {
                int64_t w0 = ad_start(j, iw, ow), w1 = ad_end(j, iw, ow);
                float v = gy[i * ow + j] / (float)((h1 - h0) * (w1 - w0));
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) gx[h * iw + w] += v;
            }
        }
    }
    return LT_OK;
}

lt_status lt_adaptive_max_pool2d_forward(const lt_context *ctx, float *out, int32_t *idx,
                                         const float *in, int64_t planes, int64_t ih, int64_t iw,
                                         int64_t oh, int64_t ow) {
    lt_status st = ad_fits(ih, iw, oh, ow);
    if (st != LT_OK) return st;
    if (ih * iw > INT32_MAX) return LT_EARG;
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel for num_threads(pool_threads(ctx, planes * ni)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in + p * ni;
        float *y = out + p * no;
        for (int64_t i = 0; i < oh; i++) {
            int64_t h0 = ad_start(i, ih, oh), h1 = ad_end(i, ih, oh);
            for (int64_t j = 0; j < ow; j++) {
                int64_t w0 = ad_start(j, iw, ow), w1 = ad_end(j, iw, ow);
                int64_t best = h0 * iw + w0;
                float m = -INFINITY;
                for (int64_t h = h0; h < h1; h++) {
                    for (int64_t w = w0; w < w1; w++) {
                        float v = x[h * iw + w];
                        if (v > m || isnan(v)) { m = v; best = h * iw + w; }
                    }
                }
                y[i * ow + j] = m;
                if (idx) idx[p * no + i * ow + j] = (int32_t)(best + 1);
            }
        }
    }
    return LT_OK;
}

/* ---- max unpooling ---- */

lt_status lt_max_unpool2d_forward(const lt_context *ctx, float *out, const float *in,
                                  const int32_t *idx, int64_t planes, int64_t n_in, int64_t n_out) {
    if (lt_pool_check_indices(idx, planes * n_in, n_out, NULL, NULL)) return LT_EINDEX;
    #pragma omp parallel for num_threads(pool_threads(ctx, planes * n_out)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *y = out + p * n_out;
        const float *x = in + p * n_in;
        const int32_t *ix = idx + p * n_in;
        memset(y, 0, (size_t)n_out * sizeof(float));
        for (int64_t i = 0; i < n_in; i++) y[ix[i] - 1] = x[i];
    }
    return LT_OK;
}

lt_status lt_max_unpool2d_backward(const lt_context *ctx, float *din, const float *dout,
                                   const int32_t *idx, int64_t planes, int64_t n_in,
                                   int64_t n_out) {
    if (lt_pool_check_indices(idx, planes * n_in, n_out, NULL, NULL)) return LT_EINDEX;
    #pragma omp parallel for num_threads(pool_threads(ctx, planes * n_in)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *gx = din + p * n_in;
        const float *gy = dout + p * n_out;
        const int32_t *ix = idx + p * n_in;
        for (int64_t i = 0; i < n_in; i++) gx[i] += gy[ix[i] - 1];
    }
    return LT_OK;
}
