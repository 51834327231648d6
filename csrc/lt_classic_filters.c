/* lt_classic_filters.c: edge filters (Sobel, Scharr, Prewitt, Laplace) and the Canny detector,
 * with scikit-image's scaling, scipy.ndimage's border modes and its summation order (so binary
 * results such as Canny's edges match exactly). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "lt_classic.h"

lt_status lt_classic_as_float(double *out, const lt_tensor *img) {
    int64_t n = lt_numel(img);
    const void *d = lt_data(img);
    if (n > 0 && d == NULL) return LT_EFREED;
    if (img->dtype == LT_UINT8) {
        const double s = 1.0 / 255.0;          /* img_as_float multiplies by 1 / imax */
        for (int64_t i = 0; i < n; i++) out[i] = (double)((const uint8_t *)d)[i] * s;
    } else if (img->dtype == LT_FLOAT32) {
        for (int64_t i = 0; i < n; i++) out[i] = ((const float *)d)[i];
    } else {
        return LT_EDTYPE;
    }
    return LT_OK;
}

/* scipy.ndimage 'reflect' (half-sample symmetric: d c b a | a b c d | d c b a). */
static inline int64_t mirror(int64_t i, int64_t n) {
    if (n == 1) return 0;
    int64_t period = 2 * n;
    i %= period;
    if (i < 0) i += period;
    return i >= n ? period - 1 - i : i;
}

/* Rounds to float32 when f32 (a float32 array stores each result). */
static inline double rnd(double x, int f32) { return f32 ? (double)(float)x : x; }

/* The mask rule of skimage.filters: zero outside the mask eroded by a 3 x 3 square, with the
 * outside of the image counting as background. */
static void apply_mask(float *out, const uint8_t *mask, int64_t H, int64_t W) {
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            int keep = 1;
            for (int64_t dy = -1; dy <= 1 && keep; dy++)
                for (int64_t dx = -1; dx <= 1 && keep; dx++) {
                    int64_t yy = y + dy, xx = x + dx;
                    if (yy < 0 || xx < 0 || yy >= H || xx >= W || !mask[yy * W + xx]) keep = 0;
                }
            if (!keep) out[y * W + x] = 0.0f;
        }
}

static lt_status check_image(const lt_tensor *img, int64_t *H, int64_t *W) {
    if (img->ndim != 2) return LT_ESHAPE;
    if (img->dtype != LT_UINT8 && img->dtype != LT_FLOAT32) return LT_EDTYPE;
    *H = img->size[0];
    *W = img->size[1];
    int64_t n;
    if (lt_mul_ovf(*H, *W, &n) || (uint64_t)n > SIZE_MAX / (4 * sizeof(double))) return LT_EOVERFLOW;
    if (n > 0 && lt_data(img) == NULL) return LT_EFREED;
    return LT_OK;
}

/* The pixel as img_as_float reads it (uint8 * (1 / 255), float32 as is). */
static inline double pix(const void *d, int f32, int64_t i) {
    return f32 ? (double)((const float *)d)[i] : (double)((const uint8_t *)d)[i] * (1.0 / 255.0);
}

/* The nonzero taps of ndi.convolve(image, K) for a 3 x 3 kernel K (row-major): correlation
 * with the flipped kernel, its nonzero entries in raster order (NI_Correlate's order). */
static int taps(const double *K, double *w, int *oy, int *ox) {
    int m = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double v = K[(2 - i) * 3 + (2 - j)];
            if (fabs(v) > 2.220446049250313e-16) { w[m] = v; oy[m] = i - 1; ox[m] = j - 1; m++; }
        }
    return m;
}

/* Up to two 3 x 3 convolutions (mode 'reflect') of one image at once, row by row: the three
 * source rows are widened to doubles with their mirrored end pixels (img_as_float values), and
 * each tap is one vectorisable pass adding into per-row accumulators, so every output sums its
 * taps from 0 in NI_Correlate's order. g0 only (m1 == 0) is written as is; with m1 > 0 the result
 * is sqrt((g0^2 + g1^2) / 2), rounding each stored array to float32 when f32 (as scikit-image's
 * float32 arrays). Rows run in parallel for large images. */
static lt_status conv_rows(float *out, const void *d, int f32, int64_t H, int64_t W, const double *w0,
                           const int *oy0, const int *ox0, int m0, const double *w1, const int *oy1,
                           const int *ox1, int m1, int nt) {
    if (nt < 1) nt = 1;
    int par = H * W > (1 << 20) && nt > 1;
    int nbuf = par ? nt : 1;
    int64_t PW = W + 2;
    double *buf = malloc((size_t)nbuf * (size_t)(3 * PW + 2 * W) * sizeof *buf);
    if (!buf) return LT_ENOMEM;
    #pragma omp parallel for num_threads(nt) schedule(static) if (par)
    for (int64_t y = 0; y < H; y++) {
        double *b = buf + (size_t)(par ? omp_get_thread_num() : 0) * (size_t)(3 * PW + 2 * W);
        double *rows[3] = {b, b + PW, b + 2 * PW};
        double *t0 = b + 3 * PW, *t1 = t0 + W;
        int64_t src[3] = {mirror(y - 1, H), y, mirror(y + 1, H)};
        for (int r = 0; r < 3; r++) {
            double *dst = rows[r] + 1;
            if (f32) {
                const float *p = (const float *)d + src[r] * W;
                for (int64_t x = 0; x < W; x++) dst[x] = p[x];
            } else {
                const uint8_t *p = (const uint8_t *)d + src[r] * W;
                for (int64_t x = 0; x < W; x++) dst[x] = (double)p[x] * (1.0 / 255.0);
            }
            dst[-1] = dst[mirror(-1, W)];
            dst[W] = dst[mirror(W, W)];
        }
        for (int64_t x = 0; x < W; x++) t0[x] = 0.0;
        for (int k = 0; k < m0; k++) {
            const double *s = rows[oy0[k] + 1] + 1 + ox0[k];
            double wk = w0[k];
            for (int64_t x = 0; x < W; x++) t0[x] += s[x] * wk;
        }
        float *o = out + y * W;
        if (m1 == 0) {
            for (int64_t x = 0; x < W; x++) o[x] = (float)t0[x];
            continue;
        }
        for (int64_t x = 0; x < W; x++) t1[x] = 0.0;
        for (int k = 0; k < m1; k++) {
            const double *s = rows[oy1[k] + 1] + 1 + ox1[k];
            double wk = w1[k];
            for (int64_t x = 0; x < W; x++) t1[x] += s[x] * wk;
        }
        if (f32) {
            const float r2 = (float)sqrt(2.0);
            for (int64_t x = 0; x < W; x++) {
                float a = (float)t0[x], c = (float)t1[x];
                float acc = 0.0f + a * a;
                acc = acc + c * c;
                o[x] = sqrtf(acc) / r2;
            }
        } else {
            const double r2 = sqrt(2.0);
            for (int64_t x = 0; x < W; x++) {
                double acc = 0.0 + t0[x] * t0[x];
                acc = acc + t1[x] * t1[x];
                o[x] = (float)(sqrt(acc) / r2);
            }
        }
    }
    free(buf);
    return LT_OK;
}

lt_status lt_classic_edges(lt_context *ctx, float *out, const lt_tensor *img, const uint8_t *mask,
                           lt_edge_kind kind, int axis) {
    int64_t H, W;
    lt_status st = check_image(img, &H, &W);
    if (st != LT_OK) return st;
    if (axis < -1 || axis > 1) return LT_EARG;
    static const double smooth_sobel[3] = {0.25, 0.5, 0.25};
    static const double smooth_scharr[3] = {3.0 / 16, 10.0 / 16, 3.0 / 16};
    static const double smooth_prewitt[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3};
    static const double edge[3] = {1, 0, -1};
    const double *s = kind == LT_EDGE_SOBEL ? smooth_sobel : kind == LT_EDGE_SCHARR ? smooth_scharr : smooth_prewitt;
    double K[2][9], w[2][9];
    int oy[2][9], ox[2][9], m[2];
    for (int dd = 0; dd < 2; dd++) {
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) K[dd][i * 3 + j] = dd == 0 ? edge[i] * s[j] : s[i] * edge[j];
        m[dd] = taps(K[dd], w[dd], oy[dd], ox[dd]);
    }
    int nt = lt_ctx_num_threads(ctx);
    int f32 = img->dtype == LT_FLOAT32;
    const void *d = lt_data(img);
    if (axis >= 0) st = conv_rows(out, d, f32, H, W, w[axis], oy[axis], ox[axis], m[axis], NULL, NULL, NULL, 0, nt);
    else st = conv_rows(out, d, f32, H, W, w[0], oy[0], ox[0], m[0], w[1], oy[1], ox[1], m[1], nt);
    if (st == LT_OK && mask) apply_mask(out, mask, H, W);
    return st;
}

lt_status lt_classic_laplace(lt_context *ctx, float *out, const lt_tensor *img, const uint8_t *mask) {
    int64_t H, W;
    lt_status st = check_image(img, &H, &W);
    if (st != LT_OK) return st;
    static const double K[9] = {0, -1, 0, -1, 4, -1, 0, -1, 0};
    double w[9];
    int oy[9], ox[9];
    int m = taps(K, w, oy, ox);
    st = conv_rows(out, lt_data(img), img->dtype == LT_FLOAT32, H, W, w, oy, ox, m, NULL, NULL, NULL, 0,
                   lt_ctx_num_threads(ctx));
    if (st == LT_OK && mask) apply_mask(out, mask, H, W);
    return st;
}

/* ---- Canny ---- */

/* numpy's pairwise summation (add.reduce of a contiguous double array: the first element,
 * plus the pairwise sum of the rest with 8 accumulators below 128 elements). */
static double pairwise(const double *a, int64_t n) {
    if (n < 8) {
        double r = 0.0;
        for (int64_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        int64_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    int64_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(a, n2) + pairwise(a + n2, n - n2);
}

/* scipy.ndimage's Gaussian kernel (truncate 4): radius int(4 sigma + 0.5), weights
 * exp(-0.5 / sigma^2 * x^2) / their numpy sum. Returns the radius; w has 2 * radius + 1. */
static int64_t gauss_kernel(double *w, double sigma, int64_t radius) {
    double s2 = sigma * sigma;
    for (int64_t i = -radius; i <= radius; i++) w[i + radius] = exp(-0.5 / s2 * (double)(i * i));
    int64_t m = 2 * radius + 1;
    double sum = w[0] + pairwise(w + 1, m - 1);
    for (int64_t i = 0; i < m; i++) w[i] /= sum;
    return radius;
}

/* correlate1d with a symmetric kernel (fw centred, radius r) along axis (0: rows, 1: columns),
 * mode 'constant' 0 (border = 0) or 'reflect' (border = 1); NI_Correlate1D's symmetric sum:
 * x[0] * w[0] + sum over j = -r..-1 of (x[j] + x[-j]) * w[j]. sym = -1: antisymmetric
 * (x[j] - x[-j]). out may not alias in. */
static void correlate1d(double *out, const double *in, int64_t H, int64_t W, int axis, const double *fw,
                        int64_t r, int sym, int reflect, int f32, int nt) {
    #pragma omp parallel for num_threads(nt) schedule(static) if (H * W > 65536 && nt > 1)
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            int64_t len = axis == 0 ? H : W, pos = axis == 0 ? y : x;
            double t = in[y * W + x] * fw[0];
            /* taps with both sides outside the line add exact zeros (mode constant): skipped */
            int64_t reach = pos > len - 1 - pos ? pos : len - 1 - pos;
            int64_t jr = reflect || r <= reach ? r : reach;
            for (int64_t j = -jr; j < 0; j++) {
                int64_t a = pos + j, b = pos - j;
                double va, vb;
                if (reflect) { a = mirror(a, len); b = mirror(b, len); }
                if (a < 0 || a >= len) va = 0.0;
                else va = axis == 0 ? in[a * W + x] : in[y * W + a];
                if (b < 0 || b >= len) vb = 0.0;
                else vb = axis == 0 ? in[b * W + x] : in[y * W + b];
                t += (sym > 0 ? va + vb : va - vb) * fw[j];
            }
            out[y * W + x] = rnd(t, f32);
        }
}

static void gaussian2d(double *out, double *tmp, const double *in, int64_t H, int64_t W, const double *w,
                       int64_t r, double sigma, int f32, int nt) {
    if (!(sigma > 1e-15)) {
        for (int64_t i = 0; i < H * W; i++) out[i] = in[i];
        return;
    }
    correlate1d(tmp, in, H, W, 0, w + r, r, 1, 0, f32, nt);
    correlate1d(out, tmp, H, W, 1, w + r, r, 1, 0, f32, nt);
}

/* numpy.percentile(a, q) with the default linear method, a sorted ascending (n values). */
static double percentile_sorted(const double *a, int64_t n, double q) {
    double quant = q / 100.0;
    double vi = (double)n * quant + (1.0 + quant * (1.0 - 1.0 - 1.0)) - 1.0;
    double prev = floor(vi);
    int64_t pi = (int64_t)prev, ni = pi + 1;
    if (pi < 0) pi = 0;
    if (pi > n - 1) pi = n - 1;
    if (ni < 0) ni = 0;
    if (ni > n - 1) ni = n - 1;
    double gamma = vi - prev;
    double a0 = a[pi], b0 = a[ni], diff = b0 - a0;
    if (gamma >= 0.5) return b0 - diff * (1.0 - gamma);
    return a0 + diff * gamma;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

lt_status lt_classic_canny(lt_context *ctx, uint8_t *out, const lt_tensor *img, const uint8_t *mask,
                           double sigma, double low, double high, int use_quantiles) {
    int nt = ctx ? lt_ctx_num_threads(ctx) : 1;
    if (nt < 1) nt = 1;
    int64_t H, W;
    lt_status st = check_image(img, &H, &W);
    if (st != LT_OK) return st;
    if (!(sigma >= 0) || !isfinite(sigma)) return LT_EARG;
    int64_t n = H * W;
    int f32 = img->dtype == LT_FLOAT32;
    double rr = 4.0 * sigma + 0.5;
    if (rr > 1e6) return LT_EARG;
    int64_t radius = (int64_t)rr;
    double *buf = malloc((size_t)n * 7 * sizeof *buf);
    double *w = malloc((size_t)(2 * radius + 1) * sizeof *w);
    uint8_t *emask = malloc((size_t)n), *lm = malloc((size_t)n);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!buf || !w || !emask || !lm || !ids) { st = LT_ENOMEM; goto done; }
    double *x = buf, *tmp = buf + n, *sm = buf + 2 * n, *bl = buf + 3 * n, *is = buf + 4 * n,
           *js = buf + 5 * n, *mag = buf + 6 * n;
    gauss_kernel(w, sigma, radius);
    /* _preprocess: the masked image and the mask smoothed alike; smoothed / (bleed + eps) */
    lt_classic_as_float(x, img);
    for (int64_t i = 0; i < n; i++) if (mask && !mask[i]) x[i] = 0.0;
    gaussian2d(sm, tmp, x, H, W, w, radius, sigma, f32, nt);
    for (int64_t i = 0; i < n; i++) x[i] = mask ? (double)(mask[i] != 0) : 1.0;
    gaussian2d(bl, tmp, x, H, W, w, radius, sigma, 0, nt);
    for (int64_t i = 0; i < n; i++) sm[i] = rnd(sm[i] / (bl[i] + 2.220446049250313e-16), f32);
    for (int64_t y = 0; y < H; y++)
        for (int64_t xx = 0; xx < W; xx++) {
            int keep;
            if (!mask) keep = y > 0 && xx > 0 && y < H - 1 && xx < W - 1;
            else {
                keep = 1;
                for (int64_t dy = -1; dy <= 1 && keep; dy++)
                    for (int64_t dx = -1; dx <= 1 && keep; dx++) {
                        int64_t a = y + dy, b = xx + dx;
                        if (a < 0 || b < 0 || a >= H || b >= W || !mask[a * W + b]) keep = 0;
                    }
            }
            emask[y * W + xx] = (uint8_t)keep;
        }
    /* ndi.sobel: [-1, 0, 1] along the axis, then [1, 2, 1] along the other, reflected borders */
    static const double d3[3] = {-1, 0, 1}, s3[3] = {1, 2, 1};
    correlate1d(tmp, sm, H, W, 1, d3 + 1, 1, -1, 1, f32, nt);
    correlate1d(js, tmp, H, W, 0, s3 + 1, 1, 1, 1, f32, nt);
    correlate1d(tmp, sm, H, W, 0, d3 + 1, 1, -1, 1, f32, nt);
    correlate1d(is, tmp, H, W, 1, s3 + 1, 1, 1, 1, f32, nt);
    for (int64_t i = 0; i < n; i++) mag[i] = rnd(hypot(is[i], js[i]), f32);
    if (use_quantiles) {
        memcpy(tmp, mag, (size_t)n * sizeof *tmp);
        qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
        low = percentile_sorted(tmp, n, 100.0 * low);
        high = percentile_sorted(tmp, n, 100.0 * high);
    }
    if (f32) { low = (float)low; high = (float)high; }
    /* non-maximum suppression, the four passes of _get_local_maxima in their order (a later
     * pass overwrites an earlier one for pixels in both) */
    memset(lm, 0, (size_t)n);
    for (int pass = 0; pass < 4; pass++)
        for (int64_t y = 1; y < H - 1; y++)
            for (int64_t xx = 1; xx < W - 1; xx++) {
                int64_t i = y * W + xx;
                if (!emask[i] || !(mag[i] > 0)) continue;
                double ai = fabs(is[i]), aj = fabs(js[i]);
                int horiz = ai >= aj, vert = ai <= aj;
                int up = is[i] >= 0, down = is[i] <= 0, right = js[i] >= 0, left = js[i] <= 0;
                int in;
                int64_t p1, p2, m1, m2;   /* c1/c2 neighbours of the plus and minus sides */
                double wv;
                if (pass == 0) {
                    in = ((up && right) || (down && left)) && horiz;
                    p1 = i + W; p2 = i + W + 1; m1 = i - W; m2 = i - W - 1; wv = aj / ai;
                } else if (pass == 1) {
                    in = ((up && right) || (down && left)) && vert;
                    p1 = i + 1; p2 = i + W + 1; m1 = i - 1; m2 = i - W - 1; wv = ai / aj;
                } else if (pass == 2) {
                    in = ((down && right) || (up && left)) && vert;
                    p1 = i + 1; p2 = i - W + 1; m1 = i - 1; m2 = i + W - 1; wv = ai / aj;
                } else {
                    in = ((down && right) || (up && left)) && horiz;
                    p1 = i - W; p2 = i - W + 1; m1 = i + W; m2 = i + W - 1; wv = aj / ai;
                }
                if (!in) continue;
                wv = rnd(wv, f32);
                double om = rnd(1.0 - wv, f32);
                double cp = rnd(rnd(mag[p2] * wv, f32) + rnd(mag[p1] * om, f32), f32);
                double cm = rnd(rnd(mag[m2] * wv, f32) + rnd(mag[m1] * om, f32), f32);
                lm[i] = (uint8_t)(cp <= mag[i] && cm <= mag[i]);
            }
    /* hysteresis: 8-connected components of the low mask that hold a high pixel */
    for (int64_t i = 0; i < n; i++) lm[i] = (uint8_t)(lm[i] && mag[i] >= low);
    {
        lt_tensor t;
        memset(&t, 0, sizeof t);
        lt_storage s;
        memset(&s, 0, sizeof s);
        s.data = lm;
        t.storage = &s;
        t.ndim = 2; t.dtype = LT_UINT8; t.size[0] = H; t.size[1] = W; t.stride[0] = W; t.stride[1] = 1;
        int64_t dims[3] = {1, H, W}, count = 0;
        st = lt_classic_label(ids, &count, &t, dims, 2);
        if (st != LT_OK) goto done;
        uint8_t *good = calloc((size_t)count + 1, 1);
        if (!good) { st = LT_ENOMEM; goto done; }
        for (int64_t i = 0; i < n; i++) if (lm[i] && mag[i] >= high) good[ids[i]] = 1;
        for (int64_t i = 0; i < n; i++) out[i] = (uint8_t)(ids[i] && good[ids[i]]);
        free(good);
    }
done:
    free(buf); free(w); free(emask); free(lm); free(ids);
    return st;
}
