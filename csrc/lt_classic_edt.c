/* lt_classic_edt.c: the exact Euclidean distance transform (scipy.ndimage's
 * distance_transform_edt semantics) in linear time: a two-way scan along the first axis, then
 * Felzenszwalb-Huttenlocher lower envelopes of parabolas along each further axis; and the
 * brute-force reference. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "lt_classic.h"

static inline int is_zero(const lt_tensor *in, const void *data, int64_t i) {
    switch (in->dtype) {
    case LT_UINT8: return ((const uint8_t *)data)[i] == 0;
    case LT_INT32: return ((const int32_t *)data)[i] == 0;
    default: return ((const float *)data)[i] == 0.0f;
    }
}

/* The two-way scan along the first non-trivial axis, for `outer` blocks of len rows of `inner`
 * contiguous columns (base of block o: o * len * inner): g gets (s * rows to the nearest zero
 * in the same column)^2 or inf, ia that zero's row (-1: none). Rows are walked in order with
 * all columns at once (contiguous), threads splitting the columns. */
static void scan_axis(double *g, int32_t *ia, const uint8_t *zero, int64_t outer, int64_t len,
                      int64_t inner, double s, int nt) {
    int64_t chunk = 256;
    int64_t nchunks = (inner + chunk - 1) / chunk;
    #pragma omp parallel for num_threads(nt) schedule(static) if (outer * len * inner > 65536)
    for (int64_t oc = 0; oc < outer * nchunks; oc++) {
        int64_t o = oc / nchunks, c0 = (oc % nchunks) * chunk;
        int64_t c1 = c0 + chunk < inner ? c0 + chunk : inner;
        int32_t last[256];
        int64_t base = o * len * inner;
        for (int64_t c = c0; c < c1; c++) last[c - c0] = -1;
        for (int64_t k = 0; k < len; k++) {
            const uint8_t *zr = zero + base + k * inner;
            double *gr = g + base + k * inner;
            for (int64_t c = c0; c < c1; c++) {
                if (zr[c]) last[c - c0] = (int32_t)k;
                int32_t l = last[c - c0];
                double d = l < 0 ? INFINITY : s * (double)(k - l);
                gr[c] = d * d;
            }
            if (ia) {
                int32_t *ir = ia + base + k * inner;
                for (int64_t c = c0; c < c1; c++) ir[c] = last[c - c0];
            }
        }
        for (int64_t c = c0; c < c1; c++) last[c - c0] = -1;
        for (int64_t k = len - 1; k >= 0; k--) {
            const uint8_t *zr = zero + base + k * inner;
            double *gr = g + base + k * inner;
            int32_t *ir = ia ? ia + base + k * inner : NULL;
            for (int64_t c = c0; c < c1; c++) {
                if (zr[c]) last[c - c0] = (int32_t)k;
                int32_t l = last[c - c0];
                if (l < 0) continue;
                double d = s * (double)(l - k);
                if (d * d < gr[c]) {
                    gr[c] = d * d;
                    if (ir) ir[c] = l;
                }
            }
        }
    }
}

/* One Felzenszwalb-Huttenlocher pass along an axis: lines of length len at stride `stride`,
 * starting at base = o * len * stride + c for o < outer, c < stride. ia[3]: the per-axis
 * coordinates of each pixel's nearest zero so far (NULL entries are not tracked); axis is the
 * one this pass resolves. work: per-thread buffers of 4 * len + 1 doubles + 4 * len ints. */
static void envelope_axis(double *g, int32_t *ia[3], int axis, int64_t outer, int64_t len,
                          int64_t stride, double s, double *work, int32_t *iwork, int nt) {
    double s2 = s * s;
    #pragma omp parallel for num_threads(nt) schedule(static) if (outer * stride > 64)
    for (int64_t oc = 0; oc < outer * stride; oc++) {
        int t = omp_get_thread_num();
        double *f = work + (size_t)t * (size_t)(3 * len + 1);
        double *z = f + len;                    /* len + 1 boundaries */
        double *dout = z + len + 1;
        int32_t *v = iwork + (size_t)t * (size_t)(5 * len);
        int32_t *arg = v + len;
        int32_t *old = arg + len;               /* 3 * len: saved coordinates of the line */
        int64_t o = oc / stride, c = oc % stride;
        int64_t base = o * len * stride + c;
        for (int64_t k = 0; k < len; k++) f[k] = g[base + k * stride];
        int64_t nv = 0;
        for (int64_t q = 0; q < len; q++) {
            if (!(f[q] < INFINITY)) continue;
            double fq = f[q] + s2 * (double)q * (double)q;
            while (nv > 0) {
                int64_t p = v[nv - 1];
                double x = (fq - (f[p] + s2 * (double)p * (double)p)) / (2.0 * s2 * (double)(q - p));
                if (x <= z[nv - 1]) nv--;
                else { z[nv] = x; break; }
            }
            if (nv == 0) z[0] = -INFINITY;
            v[nv++] = (int32_t)q;
            z[nv] = INFINITY;
        }
        if (nv == 0) {
            for (int64_t q = 0; q < len; q++) { dout[q] = INFINITY; arg[q] = -1; }
        } else {
            int64_t k = 0;
            for (int64_t q = 0; q < len; q++) {
                while (z[k + 1] < (double)q) k++;
                int64_t p = v[k];
                double dq = s * (double)(q - p);
                dout[q] = dq * dq + f[p];
                arg[q] = (int32_t)p;
            }
        }
        for (int a = 0; a < 3; a++) {
            if (!ia[a] || a == axis) continue;
            int32_t *src = old + a * len;
            for (int64_t k = 0; k < len; k++) src[k] = ia[a][base + k * stride];
            for (int64_t q = 0; q < len; q++)
                ia[a][base + q * stride] = arg[q] < 0 ? -1 : src[arg[q]];
        }
        for (int64_t q = 0; q < len; q++) {
            g[base + q * stride] = dout[q];
            if (ia[axis]) ia[axis][base + q * stride] = arg[q];
        }
    }
}

lt_status lt_classic_edt(lt_context *ctx, float *dist, int64_t *idx, const lt_tensor *in,
                         const int64_t dims[3], const double spacing[3]) {
    int64_t n, len = 1;
    if (dims[0] < 0 || dims[1] < 0 || dims[2] < 0) return LT_EARG;
    if (lt_mul_ovf(dims[0], dims[1], &n) || lt_mul_ovf(n, dims[2], &n)) return LT_EOVERFLOW;
    if (n == 0) return LT_OK;
    if (n >= INT32_MAX) return LT_EOVERFLOW;
    const void *data = lt_data(in);
    if (data == NULL) return LT_EFREED;
    for (int a = 0; a < 3; a++) if (dims[a] > len) len = dims[a];
    int nt = lt_ctx_num_threads(ctx);
    if (nt < 1) nt = 1;
    const int64_t D = dims[0], H = dims[1], W = dims[2];
    /* the scan runs along axis 0 for a volume, along axis 1 for an image (D = 1) */
    int first = D > 1 ? 0 : 1;
    double *g = malloc((size_t)n * sizeof *g);
    double *work = malloc((size_t)nt * (size_t)(3 * len + 1) * sizeof *work);
    int32_t *iwork = malloc((size_t)nt * (size_t)(5 * len) * sizeof *iwork);
    int32_t *ia[3] = {NULL, NULL, NULL};
    lt_status st = LT_OK;
    if (!g || !work || !iwork) st = LT_ENOMEM;
    if (idx && st == LT_OK)
        for (int a = first; a < 3; a++)
            if (!(ia[a] = malloc((size_t)n * sizeof(int32_t)))) st = LT_ENOMEM;
    uint8_t *zero = NULL;
    if (st == LT_OK && !(zero = malloc((size_t)n))) st = LT_ENOMEM;
    if (st == LT_OK) {
        #pragma omp parallel for num_threads(nt) schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) zero[i] = (uint8_t)is_zero(in, data, i);
        if (first == 0) scan_axis(g, ia[0], zero, 1, D, H * W, spacing[0], nt);
        else scan_axis(g, ia[1], zero, D, H, W, spacing[1], nt);
        if (first == 0) envelope_axis(g, ia, 1, D, H, W, spacing[1], work, iwork, nt);
        envelope_axis(g, ia, 2, D * H, W, 1, spacing[2], work, iwork, nt);
        #pragma omp parallel for num_threads(nt) schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) dist[i] = (float)sqrt(g[i]);
        if (idx) {
            for (int64_t i = 0; i < n; i++) {
                int64_t z = first == 0 ? ia[0][i] : 0;
                int64_t y = ia[1][i], x = ia[2][i];
                idx[i] = (y < 0 || x < 0 || z < 0) ? -1 : (z * H + y) * W + x;
            }
        }
    }
    free(g); free(work); free(iwork); free(zero);
    for (int a = 0; a < 3; a++) free(ia[a]);
    return st;
}

lt_status lt_classic_edt_naive(float *dist, int64_t *idx, const lt_tensor *in, const int64_t dims[3],
                               const double spacing[3]) {
    int64_t n;
    if (lt_mul_ovf(dims[0], dims[1], &n) || lt_mul_ovf(n, dims[2], &n)) return LT_EOVERFLOW;
    const void *data = lt_data(in);
    if (n > 0 && data == NULL) return LT_EFREED;
    const int64_t H = dims[1], W = dims[2];
    for (int64_t i = 0; i < n; i++) {
        double best = INFINITY;
        int64_t bj = -1;
        int64_t zi = i / (H * W), yi = (i / W) % H, xi = i % W;
        for (int64_t j = 0; j < n; j++) {
            if (!is_zero(in, data, j)) continue;
            double dz = spacing[0] * (double)(j / (H * W) - zi);
            double dy = spacing[1] * (double)((j / W) % H - yi);
            double dx = spacing[2] * (double)(j % W - xi);
            double d = dz * dz + dy * dy + dx * dx;
            if (d < best) { best = d; bj = j; }
        }
        dist[i] = (float)sqrt(best);
        if (idx) idx[i] = bj;
    }
    return LT_OK;
}
