/* lt_vol_warp.c: affine resampling of (C, D, H, W) volumes, trilinear or nearest, with a
 * naive twin that evaluates every output voxel through lt_get_flat / lt_set_flat. */
#include "lt_vol_warp.h"

#include <math.h>
#include <string.h>

static lt_status vol_check(const lt_tensor *out, const lt_tensor *in, int linear, double fill) {
    if (in->ndim != 4 || out->ndim != 4 || in->size[0] != out->size[0]) return LT_ESHAPE;
    if (in->dtype != out->dtype) return LT_EDTYPE;
    if (linear && in->dtype != LT_FLOAT32) return LT_EDTYPE;
    if (!lt_is_contiguous(in) || !lt_is_contiguous(out)) return LT_EARG;
    if (lt_data(in) == NULL || lt_data(out) == NULL) return LT_EFREED;
    if (!lt_fits(fill, in->dtype)) return LT_ERANGE;
    return LT_OK;
}

/* The source position of output voxel (z, y, x): shared by both kernels so they agree. */
static inline void src_pos(const double m[12], int64_t z, int64_t y, int64_t x, double p[3]) {
    double fz = (double)z, fy = (double)y, fx = (double)x;
    for (int r = 0; r < 3; r++)
        p[r] = m[4 * r] * fz + m[4 * r + 1] * fy + m[4 * r + 2] * fx + m[4 * r + 3];
}

/* Neighbour index along an axis of n voxels, -1 outside. */
static inline int64_t inside(int64_t i, int64_t n) { return i >= 0 && i < n ? i : -1; }

/* Trilinear value of plane (D, H, W) at p, neighbours outside counted as fill. */
static inline double trilinear(const float *v, int64_t D, int64_t H, int64_t W, const double p[3],
                               double fill) {
    double fz = floor(p[0]), fy = floor(p[1]), fx = floor(p[2]);
    if (!(fz > -2.0 && fz < (double)D + 1 && fy > -2.0 && fy < (double)H + 1 &&
          fx > -2.0 && fx < (double)W + 1))
        return fill;
    int64_t z0 = (int64_t)fz, y0 = (int64_t)fy, x0 = (int64_t)fx;
    double tz = p[0] - fz, ty = p[1] - fy, tx = p[2] - fx;
    double acc = 0.0;
    for (int a = 0; a < 2; a++) {
        int64_t z = inside(z0 + a, D);
        double wz = a ? tz : 1.0 - tz;
        for (int b = 0; b < 2; b++) {
            int64_t y = inside(y0 + b, H);
            double wy = b ? ty : 1.0 - ty;
            for (int c = 0; c < 2; c++) {
                int64_t x = inside(x0 + c, W);
                double wx = c ? tx : 1.0 - tx;
                double s = (z < 0 || y < 0 || x < 0) ? fill : (double)v[(z * H + y) * W + x];
                acc += wz * wy * wx * s;
            }
        }
    }
    return acc;
}

/* Flat index of the nearest voxel (round half up), or -1 outside. */
static inline int64_t nearest(int64_t D, int64_t H, int64_t W, const double p[3]) {
    double rz = floor(p[0] + 0.5), ry = floor(p[1] + 0.5), rx = floor(p[2] + 0.5);
    if (!(rz >= 0 && rz < (double)D && ry >= 0 && ry < (double)H && rx >= 0 && rx < (double)W))
        return -1;
    return ((int64_t)rz * H + (int64_t)ry) * W + (int64_t)rx;
}

lt_status lt_vol_affine(const lt_context *ctx, lt_tensor *out, const lt_tensor *in,
                        const double m[12], int linear, double fill) {
    lt_status st = vol_check(out, in, linear, fill);
    if (st != LT_OK) return st;
    int64_t C = in->size[0], D = in->size[1], H = in->size[2], W = in->size[3];
    int64_t Do = out->size[1], Ho = out->size[2], Wo = out->size[3];
    int64_t plane = D * H * W, oplane = Do * Ho * Wo;
    if (C == 0 || oplane == 0) return LT_OK;
    size_t es = lt_dtype_size(in->dtype);
    const unsigned char *src = (const unsigned char *)lt_data(in);
    unsigned char *dst = (unsigned char *)lt_data(out);
    /* the fill as a value of the dtype (checked by vol_check) */
    unsigned char fillv[4];
    if (in->dtype == LT_FLOAT32) { float f = (float)fill; memcpy(fillv, &f, 4); }
    else if (in->dtype == LT_INT32) { int32_t f = (int32_t)fill; memcpy(fillv, &f, 4); }
    else fillv[0] = (uint8_t)fill;
    int nt = lt_ctx_num_threads(ctx);
    if (C * oplane < 32768) nt = 1;
    #pragma omp parallel for num_threads(nt) schedule(static) collapse(2)
    for (int64_t c = 0; c < C; c++)
        for (int64_t z = 0; z < Do; z++) {
            for (int64_t y = 0; y < Ho; y++)
                for (int64_t x = 0; x < Wo; x++) {
                    double p[3];
                    src_pos(m, z, y, x, p);
                    int64_t o = c * oplane + (z * Ho + y) * Wo + x;
                    if (linear) {
                        const float *v = (const float *)src + c * plane;
                        ((float *)dst)[o] = (float)trilinear(v, D, H, W, p, fill);
                    } else {
                        int64_t i = plane ? nearest(D, H, W, p) : -1;
                        memcpy(dst + (size_t)o * es, i < 0 ? fillv : src + (size_t)(c * plane + i) * es, es);
                    }
                }
        }
    return LT_OK;
}

lt_status lt_vol_affine_naive(lt_tensor *out, const lt_tensor *in, const double m[12], int linear,
                              double fill) {
    lt_status st = vol_check(out, in, linear, fill);
    if (st != LT_OK) return st;
    int64_t C = in->size[0], D = in->size[1], H = in->size[2], W = in->size[3];
    int64_t Do = out->size[1], Ho = out->size[2], Wo = out->size[3];
    for (int64_t c = 0; c < C; c++)
        for (int64_t z = 0; z < Do; z++)
            for (int64_t y = 0; y < Ho; y++)
                for (int64_t x = 0; x < Wo; x++) {
                    double p[3];
                    src_pos(m, z, y, x, p);
                    int64_t o = ((c * Do + z) * Ho + y) * Wo + x;
                    if (linear) {
                        /* the 8 neighbours one by one, each weight written out */
                        double fz = floor(p[0]), fy = floor(p[1]), fx = floor(p[2]);
                        double acc = fill;
                        if (fz > -2.0 && fz < (double)D + 1 && fy > -2.0 && fy < (double)H + 1 &&
                            fx > -2.0 && fx < (double)W + 1) {
                            acc = 0.0;
                            for (int k = 0; k < 8; k++) {
                                int a = k >> 2, b = (k >> 1) & 1, cc = k & 1;
                                double zz = fz + a, yy = fy + b, xx = fx + cc;
                                double w = (a ? p[0] - fz : 1.0 - (p[0] - fz)) *
                                           (b ? p[1] - fy : 1.0 - (p[1] - fy)) *
                                           (cc ? p[2] - fx : 1.0 - (p[2] - fx));
                                double s = fill;
                                if (zz >= 0 && zz < (double)D && yy >= 0 && yy < (double)H &&
                                    xx >= 0 && xx < (double)W)
                                    s = lt_get_flat(in, ((c * D + (int64_t)zz) * H + (int64_t)yy) * W +
                                                            (int64_t)xx);
                                acc += w * s;
                            }
                        }
                        lt_set_flat(out, o, (double)(float)acc);
                    } else {
                        double rz = floor(p[0] + 0.5), ry = floor(p[1] + 0.5), rx = floor(p[2] + 0.5);
                        double v = fill;
                        if (rz >= 0 && rz < (double)D && ry >= 0 && ry < (double)H && rx >= 0 &&
                            rx < (double)W)
                            v = lt_get_flat(in, ((c * D + (int64_t)rz) * H + (int64_t)ry) * W + (int64_t)rx);
                        lt_set_flat(out, o, v);
                    }
                }
    return LT_OK;
}
