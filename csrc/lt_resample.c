/* lt_resample.c: nearest / bilinear resampling and 2-D padding on stacks of float32
 * planes, forward and backward, with PyTorch 1.13's index arithmetic (see lt_resample.h). */
#include "lt_resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#define LT_RESAMPLE_PAR_MIN 32768

static int rs_threads(const lt_context *ctx, int64_t work) {
    return work >= LT_RESAMPLE_PAR_MIN ? lt_ctx_num_threads(ctx) : 1;
}

/* PyTorch's compute_scales_value<float>: the source step per output pixel. */
static float step_of(double scale, int64_t in, int64_t out) {
    return scale > 0.0 ? (float)(1.0 / scale) : (float)in / (float)out;
}

/* ---- nearest ---- */

static int64_t nearest_src(int64_t dst, int64_t in, float step) {
    int64_t s = (int64_t)floorf((float)dst * step);
    return s < in - 1 ? s : in - 1;
}

lt_status lt_upsample_nearest2d_forward(const lt_context *ctx, float *out, const float *in,
                                        int64_t planes, int64_t ih, int64_t iw, int64_t oh,
                                        int64_t ow, double scale_h, double scale_w) {
    if (ih < 1 || iw < 1 || oh < 1 || ow < 1) return LT_ESHAPE;
    const float sth = step_of(scale_h, ih, oh), stw = step_of(scale_w, iw, ow);
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel for num_threads(rs_threads(ctx, planes * no)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in + p * ni;
        float *y = out + p * no;
        for (int64_t i = 0; i < oh; i++) {
            const float *xr = x + nearest_src(i, ih, sth) * iw;
            float *yr = y + i * ow;
            for (int64_t j = 0; j < ow; j++) yr[j] = xr[nearest_src(j, iw, stw)];
        }
    }
    return LT_OK;
}

lt_status lt_upsample_nearest2d_backward(const lt_context *ctx, float *din, const float *dout,
                                         int64_t planes, int64_t ih, int64_t iw, int64_t oh,
                                         int64_t ow, double scale_h, double scale_w) {
    if (ih < 1 || iw < 1 || oh < 1 || ow < 1) return LT_ESHAPE;
    const float sth = step_of(scale_h, ih, oh), stw = step_of(scale_w, iw, ow);
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel for num_threads(rs_threads(ctx, planes * no)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *gx = din + p * ni;
        const float *gy = dout + p * no;
        for (int64_t i = 0; i < oh; i++) {
            float *gxr = gx + nearest_src(i, ih, sth) * iw;
            const float *gyr = gy + i * ow;
            for (int64_t j = 0; j < ow; j++) gxr[nearest_src(j, iw, stw)] += gyr[j];
        }
    }
    return LT_OK;
}

/* ---- bilinear ---- */

/* PyTorch's area_pixel_compute_scale<float>. */
static float linear_step(int64_t in, int64_t out, int align_corners, double scale) {
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return step_of(scale, in, out);
}

/* PyTorch's compute_source_index_and_lambda<float> for one output coordinate. */
static void linear_src(int64_t dst, int64_t in, int64_t out, float step, int align_corners,
                       int64_t *i0, int64_t *i1, float *l0, float *l1) {
    if (out == in) {
        *i0 = *i1 = dst;
        *l0 = 1.0f;
        *l1 = 0.0f;
        return;
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
    *i0 = k;
    *i1 = k + (k < in - 1 ? 1 : 0);
    *l1 = real - (float)k;
    *l0 = 1.0f - *l1;
}

typedef struct linear_tab { int64_t i0, i1; float l0, l1; } linear_tab;

static void linear_table(linear_tab *t, int64_t in, int64_t out, int align_corners, double scale) {
    float step = linear_step(in, out, align_corners, scale);
    for (int64_t d = 0; d < out; d++)
        linear_src(d, in, out, step, align_corners, &t[d].i0, &t[d].i1, &t[d].l0, &t[d].l1);
}

/* Horizontal pass of one source row: t[j] = l0 * r[i0] + l1 * r[i1] over the column table. */
static void linear_row(float *t, const float *r, const linear_tab *tw, int64_t ow) {
    for (int64_t j = 0; j < ow; j++) t[j] = tw[j].l0 * r[tw[j].i0] + tw[j].l1 * r[tw[j].i1];
}

/* Each source row is interpolated horizontally once into a two-row cache (upsampling reads
 * every row for about oh / ih output rows), then output rows blend two cached rows in a
 * vectorisable loop. The arithmetic is the reference's, term for term:
 * lh0 * (lw0 * a + lw1 * b) + lh1 * (lw0 * c + lw1 * d). */
lt_status lt_upsample_bilinear2d_forward(const lt_context *ctx, float *out, const float *in,
                                         int64_t planes, int64_t ih, int64_t iw, int64_t oh,
                                         int64_t ow, int align_corners, double scale_h,
                                         double scale_w) {
    if (ih < 1 || iw < 1 || oh < 1 || ow < 1) return LT_ESHAPE;
    const int nt = rs_threads(ctx, planes * oh * ow);
    int64_t nb, rows;
    /* the tables, then two cached rows of ow floats per thread */
    if (lt_add_ovf(oh, ow, &nb) || lt_mul_ovf(nb, (int64_t)sizeof(linear_tab), &nb) ||
        lt_mul_ovf(ow, 2 * (int64_t)nt, &rows) || lt_mul_ovf(rows, (int64_t)sizeof(float), &rows) ||
        lt_add_ovf(nb, rows, &rows))
        return LT_EOVERFLOW;
    linear_tab *th = malloc((size_t)rows);
    if (!th) return LT_ENOMEM;
    linear_tab *tw = th + oh;
    float *cache = (float *)(void *)((char *)th + nb);
    linear_table(th, ih, oh, align_corners, scale_h);
    linear_table(tw, iw, ow, align_corners, scale_w);
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel num_threads(nt)
    {
        float *slot[2] = { cache + (int64_t)omp_get_thread_num() * 2 * ow, NULL };
        slot[1] = slot[0] + ow;
        #pragma omp for schedule(static)
        for (int64_t p = 0; p < planes; p++) {
            const float *x = in + p * ni;
            float *y = out + p * no;
            int64_t held[2] = { -1, -1 };   /* source row in each slot */
            for (int64_t i = 0; i < oh; i++) {
                const int64_t a = th[i].i0, b = th[i].i1;
                int sa = held[0] == a ? 0 : held[1] == a ? 1 : -1;
                if (sa < 0) {   /* a goes to the slot not holding b */
                    sa = held[0] == b ? 1 : 0;
                    linear_row(slot[sa], x + a * iw, tw, ow);
                    held[sa] = a;
                }
                int sb = held[0] == b ? 0 : held[1] == b ? 1 : -1;
                if (sb < 0) {
                    sb = 1 - sa;
                    linear_row(slot[sb], x + b * iw, tw, ow);
                    held[sb] = b;
                }
                const float lh0 = th[i].l0, lh1 = th[i].l1;
                const float *restrict t0 = slot[sa], *restrict t1 = slot[sb];
                float *restrict yr = y + i * ow;
                for (int64_t j = 0; j < ow; j++) yr[j] = lh0 * t0[j] + lh1 * t1[j];
            }
        }
    }
    free(th);
    return LT_OK;
}

lt_status lt_upsample_bilinear2d_forward_naive(float *out, const float *in, int64_t planes,
                                               int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                                               int align_corners, double scale_h,
                                               double scale_w) {
    if (ih < 1 || iw < 1 || oh < 1 || ow < 1) return LT_ESHAPE;
    const float sth = linear_step(ih, oh, align_corners, scale_h);
    const float stw = linear_step(iw, ow, align_corners, scale_w);
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in + p * ih * iw;
        for (int64_t i = 0; i < oh; i++) {
            for (int64_t j = 0; j < ow; j++) {
                int64_t h0, h1, w0, w1;
                float lh0, lh1, lw0, lw1;
                linear_src(i, ih, oh, sth, align_corners, &h0, &h1, &lh0, &lh1);
                linear_src(j, iw, ow, stw, align_corners, &w0, &w1, &lw0, &lw1);
                out[(p * oh + i) * ow + j] =
                    lh0 * (lw0 * x[h0 * iw + w0] + lw1 * x[h0 * iw + w1]) +
                    lh1 * (lw0 * x[h1 * iw + w0] + lw1 * x[h1 * iw + w1]);
            }
        }
    }
    return LT_OK;
}

lt_status lt_upsample_bilinear2d_backward(const lt_context *ctx, float *din, const float *dout,
                                          int64_t planes, int64_t ih, int64_t iw, int64_t oh,
                                          int64_t ow, int align_corners, double scale_h,
                                          double scale_w) {
    if (ih < 1 || iw < 1 || oh < 1 || ow < 1) return LT_ESHAPE;
    int64_t nt;
    if (lt_add_ovf(oh, ow, &nt) || lt_mul_ovf(nt, (int64_t)sizeof(linear_tab), &nt))
        return LT_EOVERFLOW;
    linear_tab *th = malloc((size_t)nt);
    if (!th) return LT_ENOMEM;
    linear_tab *tw = th + oh;
    linear_table(th, ih, oh, align_corners, scale_h);
    linear_table(tw, iw, ow, align_corners, scale_w);
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel for num_threads(rs_threads(ctx, planes * no)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *gx = din + p * ni;
        const float *gy = dout + p * no;
        for (int64_t i = 0; i < oh; i++) {
            float *r0 = gx + th[i].i0 * iw, *r1 = gx + th[i].i1 * iw;
            const float lh0 = th[i].l0, lh1 = th[i].l1;
            const float *gyr = gy + i * ow;
            for (int64_t j = 0; j < ow; j++) {
                const linear_tab c = tw[j];
                const float g = gyr[j];
                r0[c.i0] += lh0 * c.l0 * g;
                r0[c.i1] += lh0 * c.l1 * g;
                r1[c.i0] += lh1 * c.l0 * g;
                r1[c.i1] += lh1 * c.l1 * g;
            }
        }
    }
    free(th);
    return LT_OK;
}

/* ---- padding ---- */

/* Source coordinate of output coordinate o along a dim of size n padded by `before`;
 * -1 when it falls into constant padding. */
static int64_t pad_src(int64_t o, int64_t before, int64_t n, lt_pad_mode mode) {
    int64_t i = o - before;
    switch (mode) {
    case LT_PAD_REFLECT:
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
        return i;
    case LT_PAD_REPLICATE:
        return i < 0 ? 0 : (i >= n ? n - 1 : i);
    case LT_PAD_CIRCULAR:
        return ((i % n) + n) % n;
    case LT_PAD_CONSTANT:
    default:
        return (i < 0 || i >= n) ? -1 : i;
    }
}

lt_status lt_pad2d_outsize(int64_t ih, int64_t iw, const int64_t pad[4], lt_pad_mode mode,
                           int64_t *oh, int64_t *ow) {
    const int64_t size[4] = {iw, iw, ih, ih};
    if (mode != LT_PAD_CONSTANT) {
        for (int k = 0; k < 4; k++) {
            if (pad[k] < 0) return LT_EARG;
            if (mode == LT_PAD_REFLECT && pad[k] >= size[k]) return LT_EARG;
            if (mode == LT_PAD_CIRCULAR && pad[k] > size[k]) return LT_EARG;
        }
    }
    if (lt_add_ovf(ih, pad[2], oh) || lt_add_ovf(*oh, pad[3], oh) || lt_add_ovf(iw, pad[0], ow) ||
        lt_add_ovf(*ow, pad[1], ow))
        return LT_EOVERFLOW;
    if (*oh < 1 || *ow < 1) return LT_ESHAPE;
    /* the kernels map output o to input o - before: that must fit for o in [0, out) */
    int64_t last;
    if (lt_sub_ovf(*ow - 1, pad[0], &last) || lt_sub_ovf(0, pad[0], &last) ||
        lt_sub_ovf(*oh - 1, pad[2], &last) || lt_sub_ovf(0, pad[2], &last))
        return LT_EOVERFLOW;
    if (mode != LT_PAD_CONSTANT && (ih < 1 || iw < 1)) return LT_EARG;   /* nothing to copy */
    return LT_OK;
}

lt_status lt_pad2d_forward(const lt_context *ctx, float *out, const float *in, int64_t planes,
                           int64_t ih, int64_t iw, const int64_t pad[4], lt_pad_mode mode,
                           float value) {
    int64_t oh, ow;
    lt_status st = lt_pad2d_outsize(ih, iw, pad, mode, &oh, &ow);
    if (st != LT_OK) return st;
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel for num_threads(rs_threads(ctx, planes * no)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in + p * ni;
        float *y = out + p * no;
        for (int64_t i = 0; i < oh; i++) {
            int64_t si = pad_src(i, pad[2], ih, mode);
            float *yr = y + i * ow;
            if (si < 0) {
                for (int64_t j = 0; j < ow; j++) yr[j] = value;
                continue;
            }
            const float *xr = x + si * iw;
            for (int64_t j = 0; j < ow; j++) {
                int64_t sj = pad_src(j, pad[0], iw, mode);
                yr[j] = sj < 0 ? value : xr[sj];
            }
        }
    }
    return LT_OK;
}

lt_status lt_pad2d_backward(const lt_context *ctx, float *din, const float *dout, int64_t planes,
                            int64_t ih, int64_t iw, const int64_t pad[4], lt_pad_mode mode) {
    int64_t oh, ow;
    lt_status st = lt_pad2d_outsize(ih, iw, pad, mode, &oh, &ow);
    if (st != LT_OK) return st;
    const int64_t ni = ih * iw, no = oh * ow;
    #pragma omp parallel for num_threads(rs_threads(ctx, planes * no)) schedule(static)
    for (int64_t p = 0; p < planes; p++) {
        float *gx = din + p * ni;
        const float *gy = dout + p * no;
        for (int64_t i = 0; i < oh; i++) {
            int64_t si = pad_src(i, pad[2], ih, mode);
            if (si < 0) continue;
            float *gxr = gx + si * iw;
            const float *gyr = gy + i * ow;
            for (int64_t j = 0; j < ow; j++) {
                int64_t sj = pad_src(j, pad[0], iw, mode);
                if (sj >= 0) gxr[sj] += gyr[j];
            }
        }
    }
    return LT_OK;
}
