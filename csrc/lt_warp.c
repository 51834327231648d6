/* lt_warp.c: the resampling and pixel kernels of lunet.transforms (see lt_warp.h).
 * Bit-level behaviour follows OpenCV 4 (warpAffine, remap, resize, cvtColor HSV). */
#include "lt_warp.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum {
    BLK = 256,           /* pixels of an output row processed per block */
    AB_BITS = 10,        /* warpAffine coordinate precision (OpenCV AB_BITS) */
    INTER_BITS = 5,      /* bilinear sub-pixel precision: 1/32 pixel */
    INTER_TAB = 1 << INTER_BITS,
    W_BITS = 2 * INTER_BITS  /* bilinear weights are (32-a)*(32-b) etc.: units of 1/1024 */
};

/* ---- geometry and dtype helpers ---- */

typedef struct { int64_t c, h, w; } geom;

static lt_status get_geom(const lt_tensor *t, geom *g) {
    if (!t->storage || !lt_data(t)) return LT_EFREED;
    if (t->ndim == 2) { g->c = 1; g->h = t->size[0]; g->w = t->size[1]; }
    else if (t->ndim == 3) { g->c = t->size[0]; g->h = t->size[1]; g->w = t->size[2]; }
    else return LT_ESHAPE;
    if (!lt_is_contiguous(t)) return LT_EARG;
    return LT_OK;
}

/* out and in: same dtype, same number of planes. */
static lt_status pair_geom(const lt_tensor *out, const lt_tensor *in, geom *go, geom *gi) {
    lt_status st = get_geom(out, go);
    if (st != LT_OK) return st;
    st = get_geom(in, gi);
    if (st != LT_OK) return st;
    if (out->dtype != in->dtype) return LT_EDTYPE;
    if (go->c != gi->c) return LT_ESHAPE;
    return LT_OK;
}

/* Threads for `work` element-operations: at least 128K per thread (OpenCV's grain is 64K
 * pixels per stripe). Smaller jobs (a 3x256x256 warp) run on one thread: a fork/join costs
 * little on an idle machine, but a barrier waiting on a descheduled worker costs ms. */
static int nthreads_for(const lt_context *ctx, int64_t work) {
    int nt = lt_ctx_num_threads(ctx);
    int64_t by_work = work >> 17;
    if (by_work < nt) nt = by_work < 1 ? 1 : (int)by_work;
    return nt;
}

static inline uint8_t sat_u8(double v) {   /* NaN -> 0 (never an undefined conversion) */
    v = nearbyint(v);
    return (uint8_t)(v >= 255 ? 255 : v >= 0 ? v : 0);
}
static inline uint8_t sat_u8i(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }
static inline uint8_t sat_u8f(float v) {
    v = nearbyintf(v);
    return (uint8_t)(v >= 255.f ? 255.f : v >= 0.f ? v : 0.f);
}
/* cvRound into the int range (saturate_cast<int>(double)). */
static inline int64_t sat_int(double v) {
    if (!(v > -2147483648.0)) return INT32_MIN;   /* also NaN */
    if (v >= 2147483647.0) return INT32_MAX;
    return (int64_t)nearbyint(v);
}

/* The fill value as the dtype's bit pattern (uint8 in the low byte). */
static uint32_t fill_bits(lt_dtype dt, double fill) {
    uint32_t bits = 0;
    if (dt == LT_UINT8) {
        bits = sat_u8(fill);
    } else if (dt == LT_INT32) {
        double v = nearbyint(fill);
        int32_t i = v <= -2147483648.0 ? INT32_MIN : v >= 2147483647.0 ? INT32_MAX
                  : v == v ? (int32_t)v : 0;
        memcpy(&bits, &i, 4);
    } else {
        float f = (float)fill;
        memcpy(&bits, &f, 4);
    }
    return bits;
}

static inline int64_t border_idx(int64_t p, int64_t n, lt_border b) {
    if (p >= 0 && p < n) return p;
    if (b == LT_BORDER_CONSTANT || n <= 0) return -1;
    if (b == LT_BORDER_REPLICATE) return p < 0 ? 0 : n - 1;
    if (n == 1) return 0;
    int64_t period = 2 * (n - 1);
    p %= period;
    if (p < 0) p += period;
    return p >= n ? period - p : p;
}

int64_t lt_border_index(int64_t p, int64_t n, lt_border b) { return border_idx(p, n, b); }

void lt_affine_invert(double inv[6], const double m[6]) {
    double d = m[0] * m[4] - m[1] * m[3];
    d = d != 0 ? 1. / d : 0.;
    double a11 = m[4] * d, a22 = m[0] * d, a12 = -m[1] * d, a21 = -m[3] * d;
    inv[0] = a11; inv[1] = a12; inv[2] = -a11 * m[2] - a12 * m[5];
    inv[3] = a21; inv[4] = a22; inv[5] = -a21 * m[2] - a22 * m[5];
}

/* ---- the shared sampler ---- */

/* Bilinear taps of a pixel near or beyond the border: element offsets into a plane and
 * weights in 1/1024; taps outside under the constant border get weight 0 and their weight
 * moves to wf (the fill's share). */
typedef struct { int64_t o[4]; int32_t w[4]; int32_t wf; } lin_tap;

/* Sampling plan of one block of output pixels. Pixels whose four taps are inside use the
 * top-left offset o[i] and weights w[i]; the nb others are listed in bidx with full taps. */
typedef struct {
    int64_t o[BLK];
    int32_t w[BLK][4];
    int32_t bidx[BLK];
    lin_tap bt[BLK];
    int nb;
} lin_plan;

/* X, Y in 1/32 pixel. A branch-free pass over all pixels, then the border ones. */
static void lin_plan_make(lin_plan *pl, const int64_t *X, const int64_t *Y, int64_t n, int64_t H,
                          int64_t W, lt_border b) {
    uint8_t border[BLK];
    int nb = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t sx = X[i] >> INTER_BITS, sy = Y[i] >> INTER_BITS;     /* floor */
        int32_t ax = (int32_t)(X[i] & (INTER_TAB - 1)), ay = (int32_t)(Y[i] & (INTER_TAB - 1));
        pl->w[i][0] = (INTER_TAB - ax) * (INTER_TAB - ay);
        pl->w[i][1] = ax * (INTER_TAB - ay);
        pl->w[i][2] = (INTER_TAB - ax) * ay;
        pl->w[i][3] = ax * ay;
        int inside = (uint64_t)sx < (uint64_t)(W - 1) && (uint64_t)sy < (uint64_t)(H - 1);
        pl->o[i] = inside ? sy * W + sx : 0;
        border[i] = (uint8_t)!inside;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!border[i]) continue;
        int64_t sx = X[i] >> INTER_BITS, sy = Y[i] >> INTER_BITS;
        lin_tap *t = &pl->bt[nb];
        pl->bidx[nb++] = (int32_t)i;
        t->wf = 0;
        for (int k = 0; k < 4; k++) {
            t->w[k] = pl->w[i][k];
            int64_t ix = border_idx(sx + (k & 1), W, b), iy = border_idx(sy + (k >> 1), H, b);
            if (ix < 0 || iy < 0) {
                t->o[k] = 0;
                t->wf += t->w[k];
                t->w[k] = 0;
            } else {
                t->o[k] = iy * W + ix;
            }
        }
    }
    pl->nb = nb;
}

/* interior: whether the plane has 2x2 neighbourhoods at all (else every pixel is border).
 * The interior sum is taken row by row, (p00*(32-ax) + p01*ax)*(32-ay) + (...)*ay, which
 * equals the sum of the four 1/1024 weights times the pixels exactly. */
static void lin_apply_u8(uint8_t *dst, const uint8_t *src, const lin_plan *pl, int64_t n,
                         int64_t W, int interior, int32_t fill) {
    if (interior && pl->nb < n) {
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *p = src + pl->o[i];
            int32_t ax = pl->w[i][1] + pl->w[i][3];   /* = 32 * ax */
            int32_t ay = pl->w[i][2] + pl->w[i][3];   /* = 32 * ay */
            int32_t r0 = (p[0] << INTER_BITS) + (p[1] - p[0]) * (ax >> INTER_BITS);
            int32_t r1 = (p[W] << INTER_BITS) + (p[W + 1] - p[W]) * (ax >> INTER_BITS);
            int32_t s = (r0 << INTER_BITS) + (r1 - r0) * (ay >> INTER_BITS);
            dst[i] = (uint8_t)((s + (1 << (W_BITS - 1))) >> W_BITS);
        }
    }
    for (int k = 0; k < pl->nb; k++) {
        const lin_tap *t = &pl->bt[k];
        int32_t s = t->w[0] * src[t->o[0]] + t->w[1] * src[t->o[1]] + t->w[2] * src[t->o[2]] +
                    t->w[3] * src[t->o[3]] + t->wf * fill;
        dst[pl->bidx[k]] = (uint8_t)((s + (1 << (W_BITS - 1))) >> W_BITS);
    }
}

static void lin_apply_f32(float *dst, const float *src, const lin_plan *pl, int64_t n, int64_t W,
                          int interior, float fill) {
    const float sc = 1.f / (float)(1 << W_BITS);   /* exact: weights are k/1024 */
    if (interior && pl->nb < n) {
        for (int64_t i = 0; i < n; i++) {
            const float *p = src + pl->o[i];
            const int32_t *w = pl->w[i];
            dst[i] = p[0] * ((float)w[0] * sc) + p[1] * ((float)w[1] * sc) +
                     p[W] * ((float)w[2] * sc) + p[W + 1] * ((float)w[3] * sc);
        }
    }
    for (int k = 0; k < pl->nb; k++) {
        const lin_tap *t = &pl->bt[k];
        float v = src[t->o[0]] * ((float)t->w[0] * sc) + src[t->o[1]] * ((float)t->w[1] * sc) +
                  src[t->o[2]] * ((float)t->w[2] * sc) + src[t->o[3]] * ((float)t->w[3] * sc);
        if (t->wf) v += fill * ((float)t->wf * sc);
        dst[pl->bidx[k]] = v;
    }
}

/* Nearest offsets (-1: fill). */
static void nn_plan_make(int64_t *o, const int64_t *X, const int64_t *Y, int64_t n, int64_t H,
                         int64_t W, lt_border b) {
    for (int64_t i = 0; i < n; i++) {
        int64_t sx = X[i], sy = Y[i];
        if (sx >= 0 && sx < W && sy >= 0 && sy < H) {
            o[i] = sy * W + sx;
        } else {
            int64_t ix = border_idx(sx, W, b), iy = border_idx(sy, H, b);
            o[i] = (ix < 0 || iy < 0) ? -1 : iy * W + ix;
        }
    }
}

static void nn_apply(void *dst, const void *src, const int64_t *o, int64_t n, size_t es,
                     uint32_t fbits) {
    if (es == 1) {
        uint8_t *d = dst; const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++) d[i] = o[i] < 0 ? (uint8_t)fbits : s[o[i]];
    } else {
        uint32_t *d = dst; const uint32_t *s = src;
        for (int64_t i = 0; i < n; i++) d[i] = o[i] < 0 ? fbits : s[o[i]];
    }
}

/* Source coordinates of output pixels (y, x0 .. x0+n-1): 1/32 pixel for linear, whole
 * pixels for nearest. */
typedef void (*coord_fn)(const void *ctx, int64_t y, int64_t x0, int64_t n, int64_t *X,
                         int64_t *Y);

static lt_status resample(const lt_context *ctx, lt_tensor *out, const lt_tensor *in,
                          lt_interp interp, lt_border border, double fill, coord_fn coords,
                          const void *cc) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    if (interp == LT_INTERP_LINEAR && in->dtype == LT_INT32) return LT_EDTYPE;
    if (interp != LT_INTERP_LINEAR && interp != LT_INTERP_NEAREST) return LT_EARG;
    if (go.h * go.w == 0 || go.c == 0) return LT_OK;
    if (gi.h * gi.w == 0) border = LT_BORDER_CONSTANT;  /* nothing to reflect: all fill */
    const int64_t C = go.c, Ho = go.h, Wo = go.w, H = gi.h, W = gi.w;
    const int interior = H >= 2 && W >= 2;
    const size_t es = lt_dtype_size(in->dtype);
    const char *src = lt_data(in);
    char *dst = lt_data(out);
    const uint32_t fbits = fill_bits(in->dtype, fill);
    const int32_t fill_i = sat_u8(fill);
    const float fill_f = (float)fill;
    const int nt = nthreads_for(ctx, C * Ho * Wo);
    lin_plan *plans = NULL;
    if (interp == LT_INTERP_LINEAR && !(plans = malloc((size_t)nt * sizeof *plans))) return LT_ENOMEM;
    #pragma omp parallel num_threads(nt)
    {
        lin_plan *pl = plans ? plans + omp_get_thread_num() : NULL;
        int64_t X[BLK], Y[BLK], o[BLK];
        #pragma omp for schedule(static)
        for (int64_t y = 0; y < Ho; y++) {
            for (int64_t x0 = 0; x0 < Wo; x0 += BLK) {
                int64_t n = Wo - x0 < BLK ? Wo - x0 : BLK;
                coords(cc, y, x0, n, X, Y);
                if (interp == LT_INTERP_NEAREST) {
                    nn_plan_make(o, X, Y, n, H, W, border);
                    for (int64_t c = 0; c < C; c++)
                        nn_apply(dst + ((c * Ho + y) * Wo + x0) * (int64_t)es,
                                 src + c * H * W * (int64_t)es, o, n, es, fbits);
                } else if (pl && in->dtype == LT_UINT8 && interior) {
                    /* uint8: all channels per pixel (the plan is read once) */
                    lin_plan_make(pl, X, Y, n, H, W, border);
                    const uint8_t *s8 = (const uint8_t *)src;
                    uint8_t *d8 = (uint8_t *)dst + y * Wo + x0;
                    const int64_t HW = H * W, HWo = Ho * Wo;
                    for (int64_t i = 0; i < n; i++) {
                        const int32_t *w = pl->w[i];
                        const uint8_t *p = s8 + pl->o[i];
                        for (int64_t c = 0; c < C; c++, p += HW) {
                            int32_t v = w[0] * p[0] + w[1] * p[1] + w[2] * p[W] + w[3] * p[W + 1];
                            d8[c * HWo + i] = (uint8_t)((v + (1 << (W_BITS - 1))) >> W_BITS);
                        }
                    }
                    for (int64_t c = 0; c < C; c++)
                        for (int k = 0; k < pl->nb; k++) {
                            const lin_tap *t = &pl->bt[k];
                            const uint8_t *sc = s8 + c * HW;
                            int32_t v = t->w[0] * sc[t->o[0]] + t->w[1] * sc[t->o[1]] + t->w[2] * sc[t->o[2]] +
                                        t->w[3] * sc[t->o[3]] + t->wf * fill_i;
                            d8[c * HWo + pl->bidx[k]] = (uint8_t)((v + (1 << (W_BITS - 1))) >> W_BITS);
                        }
                } else if (pl) {
                    lin_plan_make(pl, X, Y, n, H, W, border);
                    for (int64_t c = 0; c < C; c++) {
                        if (in->dtype == LT_UINT8)
                            lin_apply_u8((uint8_t *)dst + (c * Ho + y) * Wo + x0,
                                         (const uint8_t *)src + c * H * W, pl, n, W, interior, fill_i);
                        else
                            lin_apply_f32((float *)(void *)dst + (c * Ho + y) * Wo + x0,
                                          (const float *)(const void *)src + c * H * W, pl, n, W,
                                          interior, fill_f);
                    }
                }
            }
        }
    }
    free(plans);
    return LT_OK;
}

/* ---- affine warp ---- */

typedef struct { const double *m; const int64_t *adelta, *bdelta; int nearest; } warp_ctx;

static void warp_coords(const void *vctx, int64_t y, int64_t x0, int64_t n, int64_t *X,
                        int64_t *Y) {
    const warp_ctx *c = vctx;
    const double *m = c->m;
    int64_t rd = c->nearest ? (1 << AB_BITS) / 2 : (1 << AB_BITS) / INTER_TAB / 2;
    int sh = c->nearest ? AB_BITS : AB_BITS - INTER_BITS;
    int64_t X0 = sat_int((m[1] * (double)y + m[2]) * (1 << AB_BITS)) + rd;
    int64_t Y0 = sat_int((m[4] * (double)y + m[5]) * (1 << AB_BITS)) + rd;
    for (int64_t i = 0; i < n; i++) {
        X[i] = (X0 + c->adelta[x0 + i]) >> sh;
        Y[i] = (Y0 + c->bdelta[x0 + i]) >> sh;
    }
}

lt_status lt_warp_affine(const lt_context *ctx, lt_tensor *out, const lt_tensor *in,
                         const double minv[6], lt_interp interp, lt_border border, double fill) {
    geom go;
    lt_status st = get_geom(out, &go);
    if (st != LT_OK) return st;
    int64_t Wo = go.w;
    int64_t *delta = malloc((size_t)(2 * (Wo > 0 ? Wo : 1)) * sizeof *delta);
    if (!delta) return LT_ENOMEM;
    for (int64_t x = 0; x < Wo; x++) {
        delta[x] = sat_int(minv[0] * (double)x * (1 << AB_BITS));
        delta[Wo + x] = sat_int(minv[3] * (double)x * (1 << AB_BITS));
    }
    warp_ctx wc = {minv, delta, delta + Wo, interp == LT_INTERP_NEAREST};
    st = resample(ctx, out, in, interp, border, fill, warp_coords, &wc);
    free(delta);
    return st;
}

/* Reference: one pixel at a time, straight from the definition (same quantisation). */
lt_status lt_warp_affine_naive(lt_tensor *out, const lt_tensor *in, const double minv[6],
                               lt_interp interp, lt_border border, double fill) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    if (interp == LT_INTERP_LINEAR && in->dtype == LT_INT32) return LT_EDTYPE;
    if (interp != LT_INTERP_LINEAR && interp != LT_INTERP_NEAREST) return LT_EARG;
    int nearest = interp == LT_INTERP_NEAREST;
    int64_t H = gi.h, W = gi.w;
    if (H * W == 0) border = LT_BORDER_CONSTANT;
    for (int64_t c = 0; c < go.c; c++)
        for (int64_t y = 0; y < go.h; y++)
            for (int64_t x = 0; x < go.w; x++) {
                int64_t rd = nearest ? 512 : 16;
                int64_t X = sat_int((minv[1] * (double)y + minv[2]) * 1024) + rd +
                            sat_int(minv[0] * (double)x * 1024);
                int64_t Y = sat_int((minv[4] * (double)y + minv[5]) * 1024) + rd +
                            sat_int(minv[3] * (double)x * 1024);
                int64_t oi = (c * go.h + y) * go.w + x;
                if (nearest) {
                    int64_t ix = lt_border_index(X >> 10, W, border);
                    int64_t iy = lt_border_index(Y >> 10, H, border);
                    double v = (ix < 0 || iy < 0) ? fill : lt_get_flat(in, (c * H + iy) * W + ix);
                    if (in->dtype == LT_UINT8) v = sat_u8(v);
                    lt_set_flat(out, oi, v);
                    continue;
                }
                X >>= 5; Y >>= 5;
                int64_t sx = X >> 5, sy = Y >> 5, ax = X & 31, ay = Y & 31;
                double acc = 0;
                int64_t iacc = 0;
                for (int k = 0; k < 4; k++) {
                    int64_t wx = (k & 1) ? ax : 32 - ax, wy = (k >> 1) ? ay : 32 - ay;
                    int64_t ix = lt_border_index(sx + (k & 1), W, border);
                    int64_t iy = lt_border_index(sy + (k >> 1), H, border);
                    double v = (ix < 0 || iy < 0) ? fill : lt_get_flat(in, (c * H + iy) * W + ix);
                    if (in->dtype == LT_UINT8) iacc += wx * wy * (int64_t)sat_u8(v);
                    else acc += (double)(float)v * (double)(wx * wy) / 1024.0;
                }
                lt_set_flat(out, oi, in->dtype == LT_UINT8 ? (double)((iacc + 512) >> 10) : acc);
            }
    return LT_OK;
}

/* ---- remap ---- */

typedef struct { const float *mx, *my; int64_t wo; int nearest; } remap_ctx;

static void remap_coords(const void *vctx, int64_t y, int64_t x0, int64_t n, int64_t *X,
                         int64_t *Y) {
    const remap_ctx *c = vctx;
    const float *mx = c->mx + y * c->wo + x0, *my = c->my + y * c->wo + x0;
    double s = c->nearest ? 1.0 : (double)INTER_TAB;
    for (int64_t i = 0; i < n; i++) {
        X[i] = sat_int((double)mx[i] * s);
        Y[i] = sat_int((double)my[i] * s);
    }
}

lt_status lt_remap(const lt_context *ctx, lt_tensor *out, const lt_tensor *in,
                   const lt_tensor *mapx, const lt_tensor *mapy, lt_interp interp, lt_border border,
                   double fill) {
    geom go, gx, gy;
    lt_status st = get_geom(out, &go);
    if (st == LT_OK) st = get_geom(mapx, &gx);
    if (st == LT_OK) st = get_geom(mapy, &gy);
    if (st != LT_OK) return st;
    if (mapx->dtype != LT_FLOAT32 || mapy->dtype != LT_FLOAT32) return LT_EDTYPE;
    if (gx.c != 1 || gy.c != 1 || gx.h != go.h || gx.w != go.w || gy.h != go.h || gy.w != go.w)
        return LT_ESHAPE;
    remap_ctx rc = {lt_f32(mapx), lt_f32(mapy), go.w, interp == LT_INTERP_NEAREST};
    return resample(ctx, out, in, interp, border, fill, remap_coords, &rc);
}

/* ---- resize ---- */

/* Linear coefficient of dst index d on one axis as cv::resize (area_mode: INTER_AREA
 * when enlarging): source index ofs and fraction alpha towards ofs + 1. */
static void lin_coef1(int64_t d, int64_t dsize, int64_t ssize, int area_mode, int64_t *ofs,
                      float *alpha) {
    double inv_scale = (double)dsize / (double)ssize, scale = 1. / inv_scale;
    float f;
    int64_t s;
    if (!area_mode) {
        f = (float)(((double)d + 0.5) * scale - 0.5);
        s = (int64_t)floorf(f);
        f -= (float)s;
    } else {
        s = (int64_t)floor((double)d * scale);
        f = (float)((double)(d + 1) - (double)(s + 1) * inv_scale);
        f = f <= 0 ? 0.f : f - floorf(f);
    }
    if (s < 0) { f = 0; s = 0; }
    if (s >= ssize - 1) { f = 0; s = ssize - 1; }
    *ofs = s;
    *alpha = f;
}

static void linear_coefs(int64_t dsize, int64_t ssize, int area_mode, int64_t *ofs, float *alpha) {
    for (int64_t d = 0; d < dsize; d++) lin_coef1(d, dsize, ssize, area_mode, &ofs[d], &alpha[d]);
}

/* Area taps of one axis (cv::computeResizeAreaTab): for each dst index, a run of source
 * indices starting at first[d] with weights wt[start[d] .. start[d+1]). */
static int64_t area_tab(int64_t dsize, int64_t ssize, int64_t *first, int64_t *start, double *wt) {
    double scale = (double)ssize / (double)dsize;
    int64_t k = 0;
    for (int64_t d = 0; d < dsize; d++) {
        double f1 = (double)d * scale, f2 = f1 + scale;
        double cell = fmin(scale, (double)ssize - f1);
        int64_t s1 = (int64_t)ceil(f1), s2 = (int64_t)floor(f2);
        if (s2 > ssize - 1) s2 = ssize - 1;
        if (s1 > s2) s1 = s2;
        start[d] = k;
        first[d] = s1;
        if ((double)s1 - f1 > 1e-3) { first[d] = s1 - 1; wt[k++] = ((double)s1 - f1) / cell; }
        for (int64_t s = s1; s < s2; s++) wt[k++] = 1.0 / cell;
        if (f2 - (double)s2 > 1e-3) wt[k++] = fmin(fmin(f2 - (double)s2, 1.), cell) / cell;
    }
    start[dsize] = k;
    return k;
}

static lt_status resize_area(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, geom go,
                             geom gi) {
    const int64_t C = go.c, Ho = go.h, Wo = go.w, H = gi.h, W = gi.w;
    size_t ni = (size_t)(Ho + Wo + 2);
    int64_t *ix = malloc(ni * 2 * sizeof *ix);
    double *wt = malloc((size_t)(H + W + 2 * Ho + 2 * Wo + 4) * sizeof *wt);
    if (!ix || !wt) { free(ix); free(wt); return LT_ENOMEM; }
    int64_t *yfirst = ix, *ystart = ix + Ho, *xfirst = ix + 2 * Ho + 1, *xstart = xfirst + Wo;
    double *yw = wt;
    int64_t ny = area_tab(Ho, H, yfirst, ystart, yw);
    double *xw = wt + ny;
    area_tab(Wo, W, xfirst, xstart, xw);
    const int u8 = in->dtype == LT_UINT8;
    const uint8_t *s8 = u8 ? lt_u8(in) : NULL;
    const float *sf = u8 ? NULL : lt_f32(in);
    const int nt = nthreads_for(ctx, C * H * W);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < Ho; y++)
            for (int64_t x = 0; x < Wo; x++) {
                double acc = 0;
                for (int64_t ky = ystart[y]; ky < ystart[y + 1]; ky++) {
                    int64_t row = (c * H + yfirst[y] + ky - ystart[y]) * W + xfirst[x];
                    double r = 0;
                    for (int64_t kx = xstart[x]; kx < xstart[x + 1]; kx++) {
                        int64_t i = row + kx - xstart[x];
                        r += xw[kx] * (u8 ? (double)s8[i] : (double)sf[i]);
                    }
                    acc += yw[ky] * r;
                }
                int64_t oi = (c * Ho + y) * Wo + x;
                if (u8) lt_u8(out)[oi] = sat_u8(acc);
                else lt_f32(out)[oi] = (float)acc;
            }
    free(ix);
    free(wt);
    return LT_OK;
}

static lt_status resize_nearest(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, geom go,
                                geom gi) {
    const int64_t C = go.c, Ho = go.h, Wo = go.w, H = gi.h, W = gi.w;
    int64_t *xo = malloc((size_t)(Wo > 0 ? Wo : 1) * sizeof *xo);
    if (!xo) return LT_ENOMEM;
    double fx = 1. / ((double)Wo / (double)W), fy = 1. / ((double)Ho / (double)H);
    for (int64_t x = 0; x < Wo; x++) {
        int64_t s = (int64_t)floor((double)x * fx);
        xo[x] = s < W - 1 ? s : W - 1;
    }
    const size_t es = lt_dtype_size(in->dtype);
    const char *src = lt_data(in);
    char *dst = lt_data(out);
    const int nt = nthreads_for(ctx, C * Ho * Wo);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < Ho; y++) {
            int64_t sy = (int64_t)floor((double)y * fy);
            if (sy > H - 1) sy = H - 1;
            const char *s = src + ((c * H + sy) * W) * (int64_t)es;
            char *d = dst + ((c * Ho + y) * Wo) * (int64_t)es;
            if (es == 1) for (int64_t x = 0; x < Wo; x++) d[x] = s[xo[x]];
            else for (int64_t x = 0; x < Wo; x++)
                memcpy(d + x * 4, s + xo[x] * 4, 4);
        }
    free(xo);
    return LT_OK;
}

static lt_status resize_linear(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, geom go,
                               geom gi, int area_mode) {
    const int64_t C = go.c, Ho = go.h, Wo = go.w, H = gi.h, W = gi.w;
    int64_t *ofs = malloc((size_t)(Ho + Wo) * sizeof *ofs);
    float *al = malloc((size_t)(Ho + Wo) * sizeof *al);
    if (!ofs || !al) { free(ofs); free(al); return LT_ENOMEM; }
    int64_t *xo = ofs, *yo = ofs + Wo;
    float *xa = al, *ya = al + Wo;
    linear_coefs(Wo, W, area_mode, xo, xa);
    linear_coefs(Ho, H, area_mode, yo, ya);
    const int u8 = in->dtype == LT_UINT8;
    const int nt = nthreads_for(ctx, C * Ho * Wo);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < Ho; y++) {
            int64_t sy0 = yo[y], sy1 = sy0 + 1 < H ? sy0 + 1 : H - 1;
            for (int64_t x0 = 0; x0 < Wo; x0 += BLK) {
                int64_t n = Wo - x0 < BLK ? Wo - x0 : BLK;
                if (u8) {
                    const uint8_t *r0 = lt_u8(in) + (c * H + sy0) * W, *r1 = lt_u8(in) + (c * H + sy1) * W;
                    uint8_t *d = lt_u8(out) + (c * Ho + y) * Wo + x0;
                    int32_t b0 = (int32_t)nearbyintf((1.f - ya[y]) * 2048.f);
                    int32_t b1 = (int32_t)nearbyintf(ya[y] * 2048.f);
                    for (int64_t i = 0; i < n; i++) {
                        int64_t x = x0 + i, s0 = xo[x], s1 = s0 + 1 < W ? s0 + 1 : W - 1;
                        int32_t a0 = (int32_t)nearbyintf((1.f - xa[x]) * 2048.f);
                        int32_t a1 = (int32_t)nearbyintf(xa[x] * 2048.f);
                        int32_t h0 = r0[s0] * a0 + r0[s1] * a1, h1 = r1[s0] * a0 + r1[s1] * a1;
                        /* OpenCV's vector path: (b*(h>>4))>>16 per row, then round >> 2 */
                        int32_t v = (((b0 * (h0 >> 4)) >> 16) + ((b1 * (h1 >> 4)) >> 16) + 2) >> 2;
                        d[i] = sat_u8i(v);
                    }
                } else {
                    const float *r0 = lt_f32(in) + (c * H + sy0) * W, *r1 = lt_f32(in) + (c * H + sy1) * W;
                    float *d = lt_f32(out) + (c * Ho + y) * Wo + x0;
                    float b0 = 1.f - ya[y], b1 = ya[y];
                    for (int64_t i = 0; i < n; i++) {
                        int64_t x = x0 + i, s0 = xo[x], s1 = s0 + 1 < W ? s0 + 1 : W - 1;
                        float a0 = 1.f - xa[x], a1 = xa[x];
                        d[i] = b0 * (r0[s0] * a0 + r0[s1] * a1) + b1 * (r1[s0] * a0 + r1[s1] * a1);
                    }
                }
            }
        }
    free(ofs);
    free(al);
    return LT_OK;
}

lt_status lt_resize(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, lt_interp interp) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    if (interp != LT_INTERP_NEAREST && in->dtype == LT_INT32) return LT_EDTYPE;
    if (go.c * go.h * go.w == 0) return LT_OK;
    if (gi.h * gi.w == 0) return LT_ESHAPE;
    if (interp == LT_INTERP_NEAREST) return resize_nearest(ctx, out, in, go, gi);
    if (interp == LT_INTERP_AREA && go.h <= gi.h && go.w <= gi.w) return resize_area(ctx, out, in, go, gi);
    if (interp != LT_INTERP_LINEAR && interp != LT_INTERP_AREA) return LT_EARG;
    return resize_linear(ctx, out, in, go, gi, interp == LT_INTERP_AREA);
}

/* Reference: per output pixel, from the same coefficient definitions. */
lt_status lt_resize_naive(lt_tensor *out, const lt_tensor *in, lt_interp interp) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    if (interp != LT_INTERP_NEAREST && in->dtype == LT_INT32) return LT_EDTYPE;
    if (go.c * go.h * go.w == 0) return LT_OK;
    if (gi.h * gi.w == 0) return LT_ESHAPE;
    if (interp == LT_INTERP_AREA && go.h <= gi.h && go.w <= gi.w) {
        /* box average with fractional edge cells, straight from the overlap of intervals */
        double sx = (double)gi.w / (double)go.w, sy = (double)gi.h / (double)go.h;
        for (int64_t c = 0; c < go.c; c++)
            for (int64_t y = 0; y < go.h; y++)
                for (int64_t x = 0; x < go.w; x++) {
                    double acc = 0;
                    double y1 = (double)y * sy, y2 = fmin(y1 + sy, (double)gi.h);
                    double x1 = (double)x * sx, x2 = fmin(x1 + sx, (double)gi.w);
                    for (int64_t i = (int64_t)floor(y1); i < gi.h && (double)i < y2; i++)
                        for (int64_t j = (int64_t)floor(x1); j < gi.w && (double)j < x2; j++) {
                            double oy = fmin(y2, (double)i + 1) - fmax(y1, (double)i);
                            double ox = fmin(x2, (double)j + 1) - fmax(x1, (double)j);
                            if (oy <= 1e-3 || ox <= 1e-3) continue;
                            acc += oy * ox * lt_get_flat(in, (c * gi.h + i) * gi.w + j);
                        }
                    acc /= (y2 - y1) * (x2 - x1);
                    lt_set_flat(out, (c * go.h + y) * go.w + x,
                                in->dtype == LT_UINT8 ? (double)sat_u8(acc) : acc);
                }
        return LT_OK;
    }
    if (interp != LT_INTERP_LINEAR && interp != LT_INTERP_AREA && interp != LT_INTERP_NEAREST)
        return LT_EARG;
    int area_mode = interp == LT_INTERP_AREA;
    double fxs = 1. / ((double)go.w / (double)gi.w), fys = 1. / ((double)go.h / (double)gi.h);
    for (int64_t y = 0; y < go.h; y++)
        for (int64_t x = 0; x < go.w; x++) {
            int64_t xofs, yofs;
            float xa, ya;
            lin_coef1(x, go.w, gi.w, area_mode, &xofs, &xa);
            lin_coef1(y, go.h, gi.h, area_mode, &yofs, &ya);
            for (int64_t c = 0; c < go.c; c++) {
                int64_t oi = (c * go.h + y) * go.w + x;
                if (interp == LT_INTERP_NEAREST) {
                    int64_t sx = (int64_t)floor((double)x * fxs), sy = (int64_t)floor((double)y * fys);
                    if (sx > gi.w - 1) sx = gi.w - 1;
                    if (sy > gi.h - 1) sy = gi.h - 1;
                    lt_set_flat(out, oi, lt_get_flat(in, (c * gi.h + sy) * gi.w + sx));
                    continue;
                }
                int64_t x1 = xofs + 1 < gi.w ? xofs + 1 : gi.w - 1;
                int64_t y1 = yofs + 1 < gi.h ? yofs + 1 : gi.h - 1;
                double p00 = lt_get_flat(in, (c * gi.h + yofs) * gi.w + xofs);
                double p01 = lt_get_flat(in, (c * gi.h + yofs) * gi.w + x1);
                double p10 = lt_get_flat(in, (c * gi.h + y1) * gi.w + xofs);
                double p11 = lt_get_flat(in, (c * gi.h + y1) * gi.w + x1);
                if (in->dtype == LT_UINT8) {
                    int32_t a0 = (int32_t)nearbyintf((1.f - xa) * 2048.f), a1 = (int32_t)nearbyintf(xa * 2048.f);
                    int32_t b0 = (int32_t)nearbyintf((1.f - ya) * 2048.f), b1 = (int32_t)nearbyintf(ya * 2048.f);
                    int32_t h0 = (int32_t)p00 * a0 + (int32_t)p01 * a1;
                    int32_t h1 = (int32_t)p10 * a0 + (int32_t)p11 * a1;
                    int32_t v = (((b0 * (h0 >> 4)) >> 16) + ((b1 * (h1 >> 4)) >> 16) + 2) >> 2;
                    lt_set_flat(out, oi, (double)sat_u8i(v));
                } else {
                    float a0 = 1.f - xa, b0 = 1.f - ya;
                    float v = b0 * ((float)p00 * a0 + (float)p01 * xa) + ya * ((float)p10 * a0 + (float)p11 * xa);
                    lt_set_flat(out, oi, (double)v);
                }
            }
        }
    return LT_OK;
}

/* ---- crops, pads, flips, rotations by 90 degrees (element copies, any dtype) ---- */

lt_status lt_crop_pad(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, int64_t top,
                      int64_t left, lt_border border, double fill) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    const int64_t C = go.c, Ho = go.h, Wo = go.w, H = gi.h, W = gi.w;
    if (H * W == 0) border = LT_BORDER_CONSTANT;
    const size_t es = lt_dtype_size(in->dtype);
    const uint32_t fbits = fill_bits(in->dtype, fill);
    const char *src = lt_data(in);
    char *dst = lt_data(out);
    /* columns [xa, xb) of the output read in-range source columns directly */
    int64_t xa = -left > 0 ? -left : 0, xb = W - left < Wo ? W - left : Wo;
    if (xb < xa) xb = xa;
    const int nt = nthreads_for(ctx, C * Ho * Wo);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < Ho; y++) {
            char *d = dst + ((c * Ho + y) * Wo) * (int64_t)es;
            int64_t sy = border_idx(top + y, H, border);
            if (sy < 0) {
                for (int64_t x = 0; x < Wo; x++) memcpy(d + x * (int64_t)es, &fbits, es);
                continue;
            }
            const char *s = src + ((c * H + sy) * W) * (int64_t)es;
            if (xb > xa) memcpy(d + xa * (int64_t)es, s + (xa + left) * (int64_t)es, (size_t)(xb - xa) * es);
            for (int64_t x = 0; x < Wo; x++) {
                if (x == xa && xb > xa) { x = xb - 1; continue; }
                int64_t sx = border_idx(left + x, W, border);
                if (sx < 0) memcpy(d + x * (int64_t)es, &fbits, es);
                else memcpy(d + x * (int64_t)es, s + sx * (int64_t)es, es);
            }
        }
    return LT_OK;
}

lt_status lt_flip_hw(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, int horizontal) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    if (go.h != gi.h || go.w != gi.w) return LT_ESHAPE;
    const int64_t C = gi.c, H = gi.h, W = gi.w;
    const size_t es = lt_dtype_size(in->dtype);
    const char *src = lt_data(in);
    char *dst = lt_data(out);
    const int nt = nthreads_for(ctx, C * H * W);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++) {
            char *d = dst + ((c * H + y) * W) * (int64_t)es;
            if (!horizontal) {
                memcpy(d, src + ((c * H + H - 1 - y) * W) * (int64_t)es, (size_t)W * es);
            } else if (es == 1) {
                const uint8_t *s = (const uint8_t *)src + (c * H + y) * W;
                for (int64_t x = 0; x < W; x++) ((uint8_t *)d)[x] = s[W - 1 - x];
            } else {
                const uint32_t *s = (const uint32_t *)(const void *)src + (c * H + y) * W;
                for (int64_t x = 0; x < W; x++) ((uint32_t *)(void *)d)[x] = s[W - 1 - x];
            }
        }
    return LT_OK;
}

lt_status lt_rot90(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, int k) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    k &= 3;
    const int64_t C = gi.c, H = gi.h, W = gi.w;
    if ((k & 1) ? (go.h != W || go.w != H) : (go.h != H || go.w != W)) return LT_ESHAPE;
    const int64_t Ho = go.h, Wo = go.w;
    const size_t es = lt_dtype_size(in->dtype);
    const char *src = lt_data(in);
    char *dst = lt_data(out);
    const int nt = nthreads_for(ctx, C * H * W);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++) {
                int64_t sy, sx;                        /* numpy.rot90(a, k)[i, j] */
                if (k == 0) { sy = i; sx = j; }
                else if (k == 1) { sy = j; sx = W - 1 - i; }
                else if (k == 2) { sy = H - 1 - i; sx = W - 1 - j; }
                else { sy = H - 1 - j; sx = i; }
                memcpy(dst + ((c * Ho + i) * Wo + j) * (int64_t)es,
                       src + ((c * H + sy) * W + sx) * (int64_t)es, es);
            }
    return LT_OK;
}

lt_status lt_fill_rect(lt_tensor *t, int64_t y0, int64_t x0, int64_t h, int64_t w, double v) {
    geom g;
    lt_status st = get_geom(t, &g);
    if (st != LT_OK) return st;
    int64_t y1 = y0 + h < g.h ? y0 + h : g.h, x1 = x0 + w < g.w ? x0 + w : g.w;
    if (y0 < 0) y0 = 0;
    if (x0 < 0) x0 = 0;
    const size_t es = lt_dtype_size(t->dtype);
    const uint32_t fbits = fill_bits(t->dtype, v);
    char *d = lt_data(t);
    for (int64_t c = 0; c < g.c; c++)
        for (int64_t y = y0; y < y1; y++)
            for (int64_t x = x0; x < x1; x++)
                memcpy(d + ((c * g.h + y) * g.w + x) * (int64_t)es, &fbits, es);
    return LT_OK;
}

/* ---- gaussian blur ---- */

/* cv::getGaussianKernel(n, sigma, CV_64F) */
static void gaussian_kernel(double *k, int n, double sigma) {
    static const double small[4][7] = {
        {1.},
        {0.25, 0.5, 0.25},
        {0.0625, 0.25, 0.375, 0.25, 0.0625},
        {0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125}};
    int fixed = n % 2 == 1 && n <= 7 && sigma <= 0;
    double s = sigma > 0 ? sigma : ((n - 1) * 0.5 - 1) * 0.3 + 0.8;
    double scale2 = -0.5 / (s * s), sum = 0;
    for (int i = 0; i < n; i++) {
        double x = i - (n - 1) * 0.5;
        k[i] = fixed ? small[n >> 1][i] : exp(scale2 * x * x);
        sum += k[i];
    }
    for (int i = 0; i < n; i++) k[i] /= sum;
}

/* Separable: a horizontal pass into a float buffer, then a vertical pass that accumulates
 * whole rows (contiguous, vectorisable). Sums in float. */
lt_status lt_gaussian_blur(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, int kx,
                           int ky, double sigmax, double sigmay) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    if (in->dtype == LT_INT32) return LT_EDTYPE;
    if (go.h != gi.h || go.w != gi.w) return LT_ESHAPE;
    if (kx < 1 || ky < 1 || kx % 2 == 0 || ky % 2 == 0) return LT_EARG;
    const int64_t C = gi.c, H = gi.h, W = gi.w;
    if (C * H * W == 0) return LT_OK;
    const int nt = nthreads_for(ctx, C * H * W * (kx + ky) / 8);
    double *kd = malloc((size_t)(kx + ky) * sizeof *kd);
    float *kf = malloc((size_t)(kx + ky) * sizeof *kf);
    float *tmp = malloc((size_t)(C * H * W) * sizeof *tmp);
    float *rows = malloc((size_t)(nt * W) * sizeof *rows);
    if (!kd || !kf || !tmp || !rows) { free(kd); free(kf); free(tmp); free(rows); return LT_ENOMEM; }
    gaussian_kernel(kd, kx, sigmax);
    gaussian_kernel(kd + kx, ky, sigmay > 0 ? sigmay : sigmax);
    for (int i = 0; i < kx + ky; i++) kf[i] = (float)kd[i];
    const float *kxv = kf, *kyv = kf + kx;
    const int u8 = in->dtype == LT_UINT8;
    const int64_t rx = kx / 2, ry = ky / 2;
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++) {
            int64_t row = (c * H + y) * W;
            float *t = tmp + row;
            for (int64_t x = 0; x < W; x++) t[x] = 0.f;
            for (int64_t i = 0; i < kx; i++) {
                /* t[x] += k[i] * src[x + i - rx] for the x whose tap is inside */
                int64_t d = i - rx, xa = d < 0 ? -d : 0, xb = d > 0 ? W - d : W;
                float k = kxv[i];
                if (u8) {
                    const uint8_t *sp = lt_u8(in) + row + d;
                    for (int64_t x = xa; x < xb; x++) t[x] += k * (float)sp[x];
                } else {
                    const float *sp = lt_f32(in) + row + d;
                    for (int64_t x = xa; x < xb; x++) t[x] += k * sp[x];
                }
                for (int64_t x = 0; x < W; x++) {                   /* taps outside */
                    if (x == xa && xb > xa) { x = xb - 1; continue; }
                    int64_t sx = border_idx(x + d, W, LT_BORDER_REFLECT);
                    t[x] += k * (u8 ? (float)lt_u8(in)[row + sx] : lt_f32(in)[row + sx]);
                }
            }
        }
    #pragma omp parallel num_threads(nt)
    {
        float *acc = rows + (int64_t)omp_get_thread_num() * W;
        #pragma omp for schedule(static) collapse(2)
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < H; y++) {
                for (int64_t x = 0; x < W; x++) acc[x] = 0.f;
                for (int64_t i = 0; i < ky; i++) {
                    const float *t = tmp + (c * H + border_idx(y + i - ry, H, LT_BORDER_REFLECT)) * W;
                    float k = kyv[i];
                    for (int64_t x = 0; x < W; x++) acc[x] += k * t[x];
                }
                int64_t o = (c * H + y) * W;
                if (u8) for (int64_t x = 0; x < W; x++) lt_u8(out)[o + x] = sat_u8f(acc[x]);
                else for (int64_t x = 0; x < W; x++) lt_f32(out)[o + x] = acc[x];
            }
    }
    free(kd);
    free(kf);
    free(tmp);
    free(rows);
    return LT_OK;
}

/* Reference: the 2-D sum of kx[j] * ky[i] * in over the window, in double. */
lt_status lt_gaussian_blur_naive(lt_tensor *out, const lt_tensor *in, int kx, int ky,
                                 double sigmax, double sigmay) {
    geom go, gi;
    lt_status st = pair_geom(out, in, &go, &gi);
    if (st != LT_OK) return st;
    if (in->dtype == LT_INT32) return LT_EDTYPE;
    if (go.h != gi.h || go.w != gi.w) return LT_ESHAPE;
    if (kx < 1 || ky < 1 || kx % 2 == 0 || ky % 2 == 0) return LT_EARG;
    double *k = malloc((size_t)(kx + ky) * sizeof *k);
    if (!k) return LT_ENOMEM;
    gaussian_kernel(k, kx, sigmax);
    gaussian_kernel(k + kx, ky, sigmay > 0 ? sigmay : sigmax);
    for (int64_t c = 0; c < gi.c; c++)
        for (int64_t y = 0; y < gi.h; y++)
            for (int64_t x = 0; x < gi.w; x++) {
                double acc = 0;
                for (int i = 0; i < ky; i++)
                    for (int j = 0; j < kx; j++) {
                        int64_t sy = border_idx(y + i - ky / 2, gi.h, LT_BORDER_REFLECT);
                        int64_t sx = border_idx(x + j - kx / 2, gi.w, LT_BORDER_REFLECT);
                        acc += k[kx + i] * k[j] * lt_get_flat(in, (c * gi.h + sy) * gi.w + sx);
                    }
                lt_set_flat(out, (c * gi.h + y) * gi.w + x, in->dtype == LT_UINT8 ? (double)sat_u8(acc) : acc);
            }
    free(k);
    return LT_OK;
}

/* ---- pixel (colour) ops ---- */

static lt_status same_shape_pair(const lt_tensor *out, const lt_tensor *in, geom *g) {
    geom go;
    lt_status st = pair_geom(out, in, &go, g);
    if (st != LT_OK) return st;
    if (go.h != g->h || go.w != g->w) return LT_ESHAPE;
    if (in->dtype == LT_INT32) return LT_EDTYPE;
    return LT_OK;
}

static void apply_lut(const lt_context *ctx, uint8_t *d, const uint8_t *s, int64_t n,
                      const uint8_t lut[256]) {
    const int nt = nthreads_for(ctx, n / 4);
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) d[i] = lut[s[i]];
}

lt_status lt_pixel_affine(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, double alpha,
                          double beta) {
    geom g;
    lt_status st = same_shape_pair(out, in, &g);
    if (st != LT_OK) return st;
    int64_t n = g.c * g.h * g.w;
    if (in->dtype == LT_UINT8) {
        uint8_t lut[256];
        for (int i = 0; i < 256; i++) lut[i] = sat_u8(i * alpha + beta);
        apply_lut(ctx, lt_u8(out), lt_u8(in), n, lut);
    } else {
        const float *s = lt_f32(in);
        float *d = lt_f32(out), a = (float)alpha, b = (float)beta;
        const int nt = nthreads_for(ctx, n / 4);
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++) d[i] = s[i] * a + b;
    }
    return LT_OK;
}

lt_status lt_pixel_gamma(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, double gamma,
                         double maxv) {
    geom g;
    lt_status st = same_shape_pair(out, in, &g);
    if (st != LT_OK) return st;
    if (!(maxv > 0)) return LT_EARG;
    int64_t n = g.c * g.h * g.w;
    if (in->dtype == LT_UINT8) {
        uint8_t lut[256];
        for (int i = 0; i < 256; i++) lut[i] = sat_u8(pow(i / maxv, gamma) * maxv);
        apply_lut(ctx, lt_u8(out), lt_u8(in), n, lut);
    } else {
        const float *s = lt_f32(in);
        float *d = lt_f32(out), gm = (float)gamma, mv = (float)maxv;
        const int nt = nthreads_for(ctx, n / 16);
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++) d[i] = powf(fmaxf(s[i], 0.f) / mv, gm) * mv;
    }
    return LT_OK;
}

/* OpenCV HSV2RGB for one pixel, h scaled to [0, 6) by hscale; s, v in [0, 1] (v any scale). */
static void hsv2rgb(float h, float s, float v, float hscale, float *r, float *g, float *b) {
    static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    if (s == 0) { *r = *g = *b = v; return; }
    h *= hscale;
    if (!(h >= 0 && h < 6)) {   /* the same as adding / subtracting 6 until in [0, 6) */
        h = fmodf(h, 6.f);
        if (h < 0) h += 6;
    }
    int sector = h >= 0 && h < 6 ? (int)floorf(h) : 0;   /* NaN (from NaN pixels): sector 0 */
    h -= (float)sector;
    if (sector < 0 || sector >= 6) { sector = 0; h = 0; }
    float tab[4] = {v, v * (1.f - s), v * (1.f - s * h), v * (1.f - s * (1.f - h))};
    *b = tab[sector_data[sector][0]];
    *g = tab[sector_data[sector][1]];
    *r = tab[sector_data[sector][2]];
}

lt_status lt_hsv_shift(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, double hue,
                       double sat, double val) {
    geom g;
    lt_status st = same_shape_pair(out, in, &g);
    if (st != LT_OK) return st;
    if (g.c != 3) return LT_ESHAPE;
    const int64_t n = g.h * g.w;
    const int nt = nthreads_for(ctx, n);
    if (in->dtype == LT_UINT8) {
        static const int hsv_shift = 12;
        int sdiv[256], hdiv[256];
        sdiv[0] = hdiv[0] = 0;
        for (int i = 1; i < 256; i++) {
            sdiv[i] = (int)nearbyint((double)(255 << hsv_shift) / (1. * i));
            hdiv[i] = (int)nearbyint((double)(180 << hsv_shift) / (6. * i));
        }
        /* hue only matters modulo 180, and shifts beyond +-255 saturate: both reduced first
         * so the int conversions are defined for any finite value */
        int dh = (int)fmod(nearbyint(hue), 180.0);
        int ds = (int)nearbyint(fmin(fmax(sat, -512.0), 512.0));
        int dv = (int)nearbyint(fmin(fmax(val, -512.0), 512.0));
        const uint8_t *R = lt_u8(in), *G = R + n, *B = G + n;
        uint8_t *oR = lt_u8(out), *oG = oR + n, *oB = oG + n;
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            int r = R[i], gg = G[i], b = B[i];
            int v = b > gg ? b : gg, vmin = b < gg ? b : gg;
            if (r > v) v = r;
            if (r < vmin) vmin = r;
            int diff = v - vmin;
            int vr = v == r ? -1 : 0, vg = v == gg ? -1 : 0;
            int s = (diff * sdiv[v] + (1 << (hsv_shift - 1))) >> hsv_shift;
            int h = (vr & (gg - b)) + (~vr & ((vg & (b - r + 2 * diff)) + ((~vg) & (r - gg + 4 * diff))));
            h = (h * hdiv[diff] + (1 << (hsv_shift - 1))) >> hsv_shift;
            h += h < 0 ? 180 : 0;
            h = ((h + dh) % 180 + 180) % 180;
            s = sat_u8i(s + ds);
            v = sat_u8i(v + dv);
            float fr, fg, fb;
            hsv2rgb((float)h, (float)s * (1.f / 255.f), (float)v * (1.f / 255.f), 6.f / 180.f, &fr, &fg, &fb);
            oR[i] = sat_u8f(fr * 255.f);
            oG[i] = sat_u8f(fg * 255.f);
            oB[i] = sat_u8f(fb * 255.f);
        }
    } else {
        const float *R = lt_f32(in), *G = R + n, *B = G + n;
        float *oR = lt_f32(out), *oG = oR + n, *oB = oG + n;
        float dh = (float)hue, ds = (float)sat, dv = (float)val;
        #pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            float r = R[i], gg = G[i], b = B[i];
            float v = fmaxf(r, fmaxf(gg, b)), vmin = fminf(r, fminf(gg, b));
            float diff = v - vmin;
            float s = diff / (fabsf(v) + 1.1920929e-07f);
            float k = 60.f / (diff + 1.1920929e-07f), h;
            if (v == r) h = (gg - b) * k;
            else if (v == gg) h = (b - r) * k + 120.f;
            else h = (r - gg) * k + 240.f;
            if (h < 0) h += 360.f;
            h = fmodf(h + dh, 360.f);
            if (h < 0) h += 360.f;
            s = fminf(fmaxf(s + ds, 0.f), 1.f);
            v = fmaxf(v + dv, 0.f);
            hsv2rgb(h, s, v, 6.f / 360.f, &oR[i], &oG[i], &oB[i]);
        }
    }
    return LT_OK;
}

lt_status lt_normalize(const lt_context *ctx, lt_tensor *out, const lt_tensor *in,
                       const double *mean, const double *std) {
    geom go, gi;
    lt_status st = get_geom(out, &go);
    if (st == LT_OK) st = get_geom(in, &gi);
    if (st != LT_OK) return st;
    if (out->dtype != LT_FLOAT32 || in->dtype == LT_INT32) return LT_EDTYPE;
    if (go.c != gi.c || go.h != gi.h || go.w != gi.w) return LT_ESHAPE;
    const int64_t C = gi.c, n = gi.h * gi.w;
    for (int64_t c = 0; c < C; c++) if (std[c] == 0) return LT_EARG;
    const int nt = nthreads_for(ctx, C * n / 4);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t i0 = 0; i0 < n; i0 += 4096) {
            float m = (float)mean[c], inv = (float)(1.0 / std[c]);
            int64_t i1 = i0 + 4096 < n ? i0 + 4096 : n;
            float *d = lt_f32(out) + c * n;
            if (in->dtype == LT_UINT8) {
                const uint8_t *s = lt_u8(in) + c * n;
                for (int64_t i = i0; i < i1; i++) d[i] = ((float)s[i] - m) * inv;
            } else {
                const float *s = lt_f32(in) + c * n;
                for (int64_t i = i0; i < i1; i++) d[i] = (s[i] - m) * inv;
            }
        }
    return LT_OK;
}

lt_status lt_add_noise(const lt_context *ctx, lt_tensor *out, const lt_tensor *in,
                       const lt_tensor *noise) {
    geom g, gn;
    lt_status st = same_shape_pair(out, in, &g);
    if (st == LT_OK) st = get_geom(noise, &gn);
    if (st != LT_OK) return st;
    if (noise->dtype != LT_FLOAT32) return LT_EDTYPE;
    if (noise->ndim != 3 || (gn.c != 1 && gn.c != g.c) || gn.h != g.h || gn.w != g.w) return LT_ESHAPE;
    const int64_t C = g.c, n = g.h * g.w;
    const int shared = gn.c == 1;
    const int nt = nthreads_for(ctx, C * n / 4);
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t i0 = 0; i0 < n; i0 += 4096) {
            int64_t i1 = i0 + 4096 < n ? i0 + 4096 : n;
            const float *z = lt_f32(noise) + (shared ? 0 : c * n);
            if (in->dtype == LT_UINT8) {
                const uint8_t *s = lt_u8(in) + c * n;
                uint8_t *d = lt_u8(out) + c * n;
                for (int64_t i = i0; i < i1; i++) d[i] = sat_u8f((float)s[i] + z[i]);
            } else {
                const float *s = lt_f32(in) + c * n;
                float *d = lt_f32(out) + c * n;
                for (int64_t i = i0; i < i1; i++) d[i] = s[i] + z[i];
            }
        }
    return LT_OK;
}
