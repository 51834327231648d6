/* lt_metrics.c: evaluation kernels of lunet.metrics (see lt_metrics.h for the contracts).
 * Confusion counting, exact EDT, boundaries, Hausdorff, saliency measures, instance matching. */
#include "lt_metrics.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Label / mask element i of a contiguous int32 or uint8 buffer. */
static inline int64_t lab_at(const void *p, lt_dtype dt, int64_t i) {
    return dt == LT_UINT8 ? (int64_t)((const uint8_t *)p)[i] : (int64_t)((const int32_t *)p)[i];
}

static int is_label_dtype(lt_dtype dt) { return dt == LT_INT32 || dt == LT_UINT8; }

/* ------------------------------------------------------------------------------------------ */
/* confusion matrix                                                                            */

typedef struct cm_geom {
    int64_t nimg;      /* images in the target (1 for H x W) */
    int64_t hw;        /* pixels per image */
    int logits;        /* pred is float32 logits with a class dim */
} cm_geom;

static lt_status cm_check(cm_geom *g, const lt_tensor *pred, const lt_tensor *target, int C) {
    if (C < 1) return LT_EARG;
    if (!is_label_dtype(target->dtype)) return LT_EDTYPE;
    if (target->ndim != 2 && target->ndim != 3) return LT_ESHAPE;
    if (!lt_is_contiguous(target) || !lt_is_contiguous(pred)) return LT_EARG;
    if (lt_data(target) == NULL || lt_data(pred) == NULL) return LT_EFREED;
    g->nimg = target->ndim == 3 ? target->size[0] : 1;
    g->hw = target->size[target->ndim - 2] * target->size[target->ndim - 1];
    if (pred->dtype == LT_FLOAT32) {
        int cdim = target->ndim == 3 ? 1 : 0;
        if (pred->ndim != target->ndim + 1 || pred->size[cdim] != C) return LT_ESHAPE;
        for (int d = 0, e = 0; d < pred->ndim; d++) {
            if (d == cdim) continue;
            if (pred->size[d] != target->size[e++]) return LT_ESHAPE;
        }
        g->logits = 1;
    } else if (is_label_dtype(pred->dtype)) {
        if (pred->ndim != target->ndim) return LT_ESHAPE;
        for (int d = 0; d < pred->ndim; d++)
            if (pred->size[d] != target->size[d]) return LT_ESHAPE;
        g->logits = 0;
    } else {
        return LT_EDTYPE;
    }
    return LT_OK;
}

/* First label outside 0..C-1 (target first, then pred at non-ignored pixels). */
static lt_status cm_validate(const cm_geom *g, const lt_tensor *pred, const lt_tensor *target,
                             int C, int has_ignore, int64_t ignore_index, lt_label_fault *fault) {
    const void *t = lt_data(target);
    const void *p = lt_data(pred);
    int64_t total = g->nimg * g->hw;
    for (int64_t i = 0; i < total; i++) {
        int64_t v = lab_at(t, target->dtype, i);
        if (has_ignore && v == ignore_index) continue;
        if (v < 0 || v >= C) {
            if (fault) { fault->value = v; fault->index = i; fault->in_pred = 0; }
            return LT_EINDEX;
        }
    }
    if (g->logits) return LT_OK;
    for (int64_t i = 0; i < total; i++) {
        if (has_ignore && lab_at(t, target->dtype, i) == ignore_index) continue;
        int64_t v = lab_at(p, pred->dtype, i);
        if (v < 0 || v >= C) {
            if (fault) { fault->value = v; fault->index = i; fault->in_pred = 1; }
            return LT_EINDEX;
        }
    }
    return LT_OK;
}

/* Predicted class of pixel i of image n (one pixel at a time: the naive path). */
static inline int64_t cm_pred(const cm_geom *g, const lt_tensor *pred, const void *p, int C,
                              int64_t n, int64_t i) {
    if (!g->logits) return lab_at(p, pred->dtype, n * g->hw + i);
    const float *x = (const float *)p + n * (int64_t)C * g->hw + i;   // (C, HW) slice
    float best = x[0];
    int64_t arg = 0;
    for (int64_t c = 1; c < C; c++) {
        float v = x[c * g->hw];
        if (v > best) { best = v; arg = c; }
    }
    return arg;
}

/* Counts flat pixels [p0, p1) into cm (per_image: cm is (nimg, C, C), else (C, C)),
 * one pixel at a time. */
static void cm_count_naive(int64_t *cm, const cm_geom *g, const lt_tensor *pred,
                           const lt_tensor *target, int C, int has_ignore, int64_t ignore_index,
                           int per_image, int64_t p0, int64_t p1) {
    const void *t = lt_data(target);
    const void *p = lt_data(pred);
    int64_t n = p0 / g->hw, i = p0 % g->hw;
    int64_t *m = cm + (per_image ? n * C * C : 0);
    for (int64_t q = p0; q < p1; q++) {
        int64_t tv = lab_at(t, target->dtype, q);
        if (!(has_ignore && tv == ignore_index))
            m[tv * C + cm_pred(g, pred, p, C, n, i)]++;
        if (++i == g->hw) {
            i = 0; n++;
            if (per_image) m += (int64_t)C * C;
        }
    }
}

enum { CM_BLOCK = 256 };

/* Same counts; logits are argmaxed a block of pixels at a time, class by class, so every
 * class plane is read sequentially (vectorisable) instead of C strided loads per pixel. */
static void cm_count(int64_t *cm, const cm_geom *g, const lt_tensor *pred, const lt_tensor *target,
                     int C, int has_ignore, int64_t ignore_index, int per_image,
                     int64_t p0, int64_t p1) {
    if (!g->logits) {
        cm_count_naive(cm, g, pred, target, C, has_ignore, ignore_index, per_image, p0, p1);
        return;
    }
    const void *t = lt_data(target);
    const float *lg = (const float *)lt_data(pred);
    float best[CM_BLOCK];
    int32_t arg[CM_BLOCK];
    for (int64_t q = p0; q < p1;) {
        int64_t n = q / g->hw, i = q % g->hw;
        int64_t len = p1 - q;
        if (len > g->hw - i) len = g->hw - i;
        if (len > CM_BLOCK) len = CM_BLOCK;
        const float *x = lg + n * (int64_t)C * g->hw + i;   // (C, HW) slice at pixel i
        for (int64_t j = 0; j < len; j++) { best[j] = x[j]; arg[j] = 0; }
        for (int32_t c = 1; c < C; c++) {
            const float *xc = x + c * g->hw;
            for (int64_t j = 0; j < len; j++) {
                int gt = xc[j] > best[j];
                best[j] = gt ? xc[j] : best[j];
                arg[j] = gt ? c : arg[j];
            }
        }
        int64_t *m = cm + (per_image ? n * C * C : 0);
        for (int64_t j = 0; j < len; j++) {
            int64_t tv = lab_at(t, target->dtype, q + j);
            if (!(has_ignore && tv == ignore_index)) m[tv * C + arg[j]]++;
        }
        q += len;
    }
}

lt_status lt_confusion_forward_naive(int64_t *cm, const lt_tensor *pred, const lt_tensor *target,
                                     int num_classes, int has_ignore, int64_t ignore_index,
                                     int per_image, lt_label_fault *fault) {
    cm_geom g;
    lt_status st = cm_check(&g, pred, target, num_classes);
    if (st != LT_OK) return st;
    st = cm_validate(&g, pred, target, num_classes, has_ignore, ignore_index, fault);
    if (st != LT_OK) return st;
    cm_count_naive(cm, &g, pred, target, num_classes, has_ignore, ignore_index, per_image, 0,
                   g.nimg * g.hw);
    return LT_OK;
}

lt_status lt_confusion_forward(const lt_context *ctx, int64_t *cm, const lt_tensor *pred,
                               const lt_tensor *target, int num_classes, int has_ignore,
                               int64_t ignore_index, int per_image, lt_label_fault *fault) {
    cm_geom g;
    lt_status st = cm_check(&g, pred, target, num_classes);
    if (st != LT_OK) return st;
    st = cm_validate(&g, pred, target, num_classes, has_ignore, ignore_index, fault);
    if (st != LT_OK) return st;
    int64_t total = g.nimg * g.hw;
    int64_t C = num_classes;
    int64_t cells, all;
    if (lt_mul_ovf(per_image ? g.nimg : 1, C * C, &cells)) return LT_EOVERFLOW;
    int nt = lt_ctx_num_threads(ctx);
    if (nt > 1 && total >= 65536 && !lt_mul_ovf(cells, nt, &all) && all <= ((int64_t)1 << 23)) {
        int64_t *local = (int64_t *)calloc((size_t)all, sizeof(int64_t));
        if (local != NULL) {
            int64_t chunk = (total + nt - 1) / nt;
            #pragma omp parallel for num_threads(nt) schedule(static)
            for (int k = 0; k < nt; k++) {
                int64_t a = k * chunk, b = a + chunk < total ? a + chunk : total;
                if (a < b)
                    cm_count(local + k * cells, &g, pred, target, num_classes, has_ignore,
                             ignore_index, per_image, a, b);
            }
            for (int k = 0; k < nt; k++)
                for (int64_t j = 0; j < cells; j++) cm[j] += local[k * cells + j];
            free(local);
            return LT_OK;
        }
    }
    cm_count(cm, &g, pred, target, num_classes, has_ignore, ignore_index, per_image, 0, total);
    return LT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* exact Euclidean distance transform (Felzenszwalb & Huttenlocher)                           */

/* d[q] = min_v w (q - v)^2 + f[v] over finite f[v]; +inf if none. v (n), z (n + 1) scratch. */
static void edt_1d(double *d, const double *f, int64_t n, double w, int64_t *v, double *z) {
    int64_t k = -1;
    for (int64_t q = 0; q < n; q++) {
        if (f[q] == INFINITY) continue;
        double fq = f[q] + w * (double)q * (double)q;
        double s = -INFINITY;
        while (k >= 0) {
            int64_t p = v[k];
            s = (fq - (f[p] + w * (double)p * (double)p)) / (2.0 * w * (double)(q - p));
            if (s <= z[k]) k--;
            else break;
        }
        k++;
        v[k] = q;
        z[k] = k == 0 ? -INFINITY : s;
        z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (int64_t q = 0; q < n; q++) d[q] = INFINITY;
        return;
    }
    k = 0;
    for (int64_t q = 0; q < n; q++) {
        while (z[k + 1] < (double)q) k++;
        double dq = (double)(q - v[k]);
        d[q] = w * dq * dq + f[v[k]];
    }
}

lt_status lt_edt_sq(const lt_context *ctx, double *out, const uint8_t *seed, int64_t H, int64_t W,
                    double sy, double sx) {
    if (H < 0 || W < 0 || !(sy > 0) || !(sx > 0)) return LT_EARG;
    if (H == 0 || W == 0) return LT_OK;
    int64_t L = H > W ? H : W;
    int nt = lt_ctx_num_threads(ctx);
    if (H * W < 16384) nt = 1;
    int failed = 0;
    #pragma omp parallel num_threads(nt)
    {
        /* per thread: f (L), d (L), v (L), z (L + 1) */
        double *f = (double *)malloc((size_t)L * sizeof(double));
        double *d = (double *)malloc((size_t)L * sizeof(double));
        int64_t *v = (int64_t *)malloc((size_t)L * sizeof(int64_t));
        double *z = (double *)malloc((size_t)(L + 1) * sizeof(double));
        int ok = f && d && v && z;
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        /* columns: distance along y to the nearest seed in the same column */
        #pragma omp for schedule(static)
        for (int64_t x = 0; x < W; x++) {
            if (!ok) continue;
            for (int64_t y = 0; y < H; y++) f[y] = seed[y * W + x] ? 0.0 : INFINITY;
            edt_1d(d, f, H, sy * sy, v, z);
            for (int64_t y = 0; y < H; y++) out[y * W + x] = d[y];
        }
        /* rows: combine the column distances along x */
        #pragma omp for schedule(static)
        for (int64_t y = 0; y < H; y++) {
            if (!ok) continue;
            memcpy(f, out + y * W, (size_t)W * sizeof(double));
            edt_1d(out + y * W, f, W, sx * sx, v, z);
        }
        free(f); free(d); free(v); free(z);
    }
    return failed ? LT_ENOMEM : LT_OK;
}

lt_status lt_edt_sq_naive(double *out, const uint8_t *seed, int64_t H, int64_t W,
                          double sy, double sx) {
    if (H < 0 || W < 0 || !(sy > 0) || !(sx > 0)) return LT_EARG;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            double best = INFINITY;
            for (int64_t yy = 0; yy < H; yy++)
                for (int64_t xx = 0; xx < W; xx++) {
                    if (!seed[yy * W + xx]) continue;
                    double dy = sy * (double)(y - yy), dx = sx * (double)(x - xx);
                    double dd = dy * dy + dx * dx;
                    if (dd < best) best = dd;
                }
            out[y * W + x] = best;
        }
    return LT_OK;
}

void lt_boundary4(uint8_t *out, const uint8_t *mask, int64_t H, int64_t W) {
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            int64_t i = y * W + x;
            if (!mask[i]) { out[i] = 0; continue; }
            int inner = y > 0 && y < H - 1 && x > 0 && x < W - 1 &&
                        mask[i - W] && mask[i + W] && mask[i - 1] && mask[i + 1];
            out[i] = (uint8_t)!inner;
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Hausdorff                                                                                  */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* max (pct < 0) or numpy-"linear" percentile of d[0..n-1] (n > 0); sorts d. */
static double hd_reduce(double *d, int64_t n, double pct) {
    if (pct < 0) {
        double m = d[0];
        for (int64_t i = 1; i < n; i++) if (d[i] > m) m = d[i];
        return m;
    }
    qsort(d, (size_t)n, sizeof(double), cmp_double);
    double idx = pct / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(idx);
    if (lo >= n - 1) return d[n - 1];
    double t = idx - (double)lo, a = d[lo], b = d[lo + 1], diff = b - a;
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

static lt_status hd_check(const lt_tensor *pred, const lt_tensor *target, double sy, double sx,
                          int64_t *nimg, int64_t *H, int64_t *W) {
    if (!is_label_dtype(pred->dtype) || !is_label_dtype(target->dtype)) return LT_EDTYPE;
    if (pred->ndim != target->ndim || (target->ndim != 2 && target->ndim != 3)) return LT_ESHAPE;
    for (int d = 0; d < pred->ndim; d++)
        if (pred->size[d] != target->size[d]) return LT_ESHAPE;
    if (!lt_is_contiguous(pred) || !lt_is_contiguous(target)) return LT_EARG;
    if (lt_data(pred) == NULL || lt_data(target) == NULL) return LT_EFREED;
    if (!(sy > 0) || !(sx > 0)) return LT_EARG;
    *nimg = target->ndim == 3 ? target->size[0] : 1;
    *H = target->size[target->ndim - 2];
    *W = target->size[target->ndim - 1];
    return LT_OK;
}

static void to_mask(uint8_t *m, const lt_tensor *t, int64_t off, int64_t n) {
    const void *p = lt_data(t);
    for (int64_t i = 0; i < n; i++) m[i] = lab_at(p, t->dtype, off + i) != 0;
}

static lt_status hausdorff_impl(const lt_context *ctx, double *out, const lt_tensor *pred,
                                const lt_tensor *target, double sy, double sx, double percentile,
                                int naive) {
    int64_t nimg, H, W;
    lt_status st = hd_check(pred, target, sy, sx, &nimg, &H, &W);
    if (st != LT_OK) return st;
    int64_t hw = H * W;
    if (hw == 0) {
        for (int64_t n = 0; n < nimg; n++) out[n] = NAN;
        return LT_OK;
    }
    uint8_t *mp = (uint8_t *)malloc((size_t)hw), *mt = (uint8_t *)malloc((size_t)hw);
    uint8_t *bp = (uint8_t *)malloc((size_t)hw), *bt = (uint8_t *)malloc((size_t)hw);
    double *dt = (double *)malloc((size_t)hw * sizeof(double));
    double *ds = (double *)malloc((size_t)hw * sizeof(double));
    if (!mp || !mt || !bp || !bt || !dt || !ds) {
        free(mp); free(mt); free(bp); free(bt); free(dt); free(ds);
        return LT_ENOMEM;
    }
    st = LT_OK;
    for (int64_t n = 0; n < nimg && st == LT_OK; n++) {
        to_mask(mp, pred, n * hw, hw);
        to_mask(mt, target, n * hw, hw);
        lt_boundary4(bp, mp, H, W);
        lt_boundary4(bt, mt, H, W);
        int64_t np = 0, ntg = 0;
        for (int64_t i = 0; i < hw; i++) { np += bp[i]; ntg += bt[i]; }
        if (np == 0 || ntg == 0) {
            out[n] = (np == 0 && ntg == 0) ? NAN : INFINITY;
            continue;
        }
        double dir[2];
        for (int side = 0; side < 2; side++) {
            const uint8_t *from = side == 0 ? bp : bt;     /* points measured */
            const uint8_t *to = side == 0 ? bt : bp;       /* seeds */
            int64_t k = 0;
            if (!naive) {
                st = lt_edt_sq(ctx, dt, to, H, W, sy, sx);
                if (st != LT_OK) break;
                for (int64_t i = 0; i < hw; i++)
                    if (from[i]) ds[k++] = sqrt(dt[i]);
            } else {
                for (int64_t i = 0; i < hw; i++) {
                    if (!from[i]) continue;
                    double best = INFINITY;
                    for (int64_t j = 0; j < hw; j++) {
                        if (!to[j]) continue;
                        double dy = sy * (double)(i / W - j / W), dx = sx * (double)(i % W - j % W);
                        double dd = dy * dy + dx * dx;
                        if (dd < best) best = dd;
                    }
                    ds[k++] = sqrt(best);
                }
            }
            dir[side] = hd_reduce(ds, k, percentile);
        }
        if (st == LT_OK) out[n] = dir[0] > dir[1] ? dir[0] : dir[1];
    }
    free(mp); free(mt); free(bp); free(bt); free(dt); free(ds);
    return st;
}

lt_status lt_hausdorff_forward(const lt_context *ctx, double *out, const lt_tensor *pred,
                               const lt_tensor *target, double sy, double sx, double percentile) {
    return hausdorff_impl(ctx, out, pred, target, sy, sx, percentile, 0);
}

lt_status lt_hausdorff_forward_naive(double *out, const lt_tensor *pred, const lt_tensor *target,
                                     double sy, double sx, double percentile) {
    return hausdorff_impl(NULL, out, pred, target, sy, sx, percentile, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* saliency                                                                                   */

static const double SAL_EPS = DBL_EPSILON;   /* np.spacing(1) */

double lt_sal_mae(const float *sal, const lt_tensor *mask, int64_t off, int64_t n) {
    const void *m = lt_data(mask);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double g = lab_at(m, mask->dtype, off + i) != 0 ? 1.0 : 0.0;
        s += fabs((double)sal[i] - g);
    }
    return n > 0 ? s / (double)n : NAN;
}

static double sal_mean(const float *sal, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)sal[i];
    return n > 0 ? s / (double)n : 0.0;
}

static inline int sal_bin(float v) {
    int b = (int)((double)v * 255.0);    /* (pred * 255).astype(uint8) */
    return b < 0 ? 0 : (b > 255 ? 255 : b);
}

/* fg_hist/bg_hist (256): histogram of floor(255 sal) over mask fg / bg pixels. */
static int64_t sal_hist(int64_t *fg_hist, int64_t *bg_hist, const float *sal, const lt_tensor *mask,
                        int64_t off, int64_t n) {
    const void *m = lt_data(mask);
    int64_t nfg = 0;
    memset(fg_hist, 0, 256 * sizeof(int64_t));
    memset(bg_hist, 0, 256 * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        int b = sal_bin(sal[i]);
        if (lab_at(m, mask->dtype, off + i) != 0) { fg_hist[b]++; nfg++; }
        else bg_hist[b]++;
    }
    return nfg;
}

void lt_sal_fmeasure(double *adaptive, double *maxf, double *curve, const float *sal,
                     const lt_tensor *mask, int64_t off, int64_t n, double beta2) {
    const void *m = lt_data(mask);
    /* adaptive threshold */
    double thr = 2.0 * sal_mean(sal, n);
    if (thr > 1.0) thr = 1.0;
    int64_t inter = 0, npred = 0, ngt = 0;
    for (int64_t i = 0; i < n; i++) {
        int g = lab_at(m, mask->dtype, off + i) != 0;
        int p = (double)sal[i] >= thr;
        npred += p; ngt += g; inter += p && g;
    }
    if (inter == 0) {
        *adaptive = 0.0;
    } else {
        double pre = (double)inter / (double)npred, rec = (double)inter / (double)ngt;
        *adaptive = (1.0 + beta2) * pre * rec / (beta2 * pre + rec);
    }
    /* 256 thresholds, t = 255 down to 0 */
    int64_t fg_hist[256], bg_hist[256];
    sal_hist(fg_hist, bg_hist, sal, mask, off, n);
    int64_t tp = 0, pp = 0;
    double T = ngt > 0 ? (double)ngt : 1.0, best = 0.0;
    for (int k = 0; k < 256; k++) {
        tp += fg_hist[255 - k];
        pp += fg_hist[255 - k] + bg_hist[255 - k];
        double pre = (double)tp / (double)(pp > 0 ? pp : 1), rec = (double)tp / T;
        double num = (1.0 + beta2) * pre * rec;
        double den = num == 0.0 ? 1.0 : beta2 * pre + rec;
        double f = num / den;
        if (curve) curve[k] = f;
        if (k == 0 || f > best) best = f;
    }
    *maxf = best;
}

/* PySODMetrics Smeasure.s_object: x = values at the selected pixels. */
static double s_object(const float *sal, const void *m, lt_dtype mdt, int64_t off, int64_t n,
                       int fg) {
    double s = 0.0;
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) {
        if ((lab_at(m, mdt, off + i) != 0) != fg) continue;
        s += fg ? (double)sal[i] : 1.0 - (double)sal[i];
        cnt++;
    }
    if (cnt == 0) return 0.0;
    double mean = s / (double)cnt, ss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if ((lab_at(m, mdt, off + i) != 0) != fg) continue;
        double v = (fg ? (double)sal[i] : 1.0 - (double)sal[i]) - mean;
        ss += v * v;
    }
    double sd = cnt > 1 ? sqrt(ss / (double)(cnt - 1)) : 0.0;
    return 2.0 * mean / (mean * mean + 1.0 + sd + SAL_EPS);
}

/* PySODMetrics Smeasure.ssim over the block rows [y0, y1) x cols [x0, x1). */
static double s_ssim(const float *sal, const void *m, lt_dtype mdt, int64_t off, int64_t W,
                     int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
    int64_t N = (y1 - y0) * (x1 - x0);
    if (N <= 0) return 0.0;
    double sx = 0.0, sg = 0.0;
    for (int64_t y = y0; y < y1; y++)
        for (int64_t x = x0; x < x1; x++) {
            sx += (double)sal[y * W + x];
            sg += lab_at(m, mdt, off + y * W + x) != 0 ? 1.0 : 0.0;
        }
    double mx = sx / (double)N, my = sg / (double)N;
    double vx = 0.0, vy = 0.0, cxy = 0.0;
    for (int64_t y = y0; y < y1; y++)
        for (int64_t x = x0; x < x1; x++) {
            double a = (double)sal[y * W + x] - mx;
            double b = (lab_at(m, mdt, off + y * W + x) != 0 ? 1.0 : 0.0) - my;
            vx += a * a; vy += b * b; cxy += a * b;
        }
    double dn = N > 1 ? (double)(N - 1) : 1.0;
    vx /= dn; vy /= dn; cxy /= dn;
    double alpha = 4.0 * mx * my * cxy;
    double beta = (mx * mx + my * my) * (vx + vy);
    if (alpha != 0.0) return alpha / (beta + SAL_EPS);
    return beta == 0.0 ? 1.0 : 0.0;
}

double lt_sal_smeasure(const float *sal, const lt_tensor *mask, int64_t off, int64_t H, int64_t W,
                       double alpha) {
    const void *m = lt_data(mask);
    lt_dtype mdt = mask->dtype;
    int64_t n = H * W, nfg = 0;
    double sy = 0.0, sxx = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (lab_at(m, mdt, off + i) != 0) {
            nfg++;
            sy += (double)(i / W);
            sxx += (double)(i % W);
        }
    if (n == 0) return NAN;
    if (nfg == 0) return 1.0 - sal_mean(sal, n);
    if (nfg == n) return sal_mean(sal, n);
    double u = (double)nfg / (double)n;
    double obj = u * s_object(sal, m, mdt, off, n, 1) + (1.0 - u) * s_object(sal, m, mdt, off, n, 0);
    /* centroid: mean 0-based position rounded half to even, plus one (PySODMetrics) */
    int64_t x = (int64_t)nearbyint(sxx / (double)nfg) + 1;
    int64_t y = (int64_t)nearbyint(sy / (double)nfg) + 1;
    if (x > W) x = W;
    if (y > H) y = H;
    double area = (double)n;
    double w1 = (double)(x * y) / area;
    double w2 = (double)(y * (W - x)) / area;
    double w3 = (double)((H - y) * x) / area;
    double w4 = 1.0 - w1 - w2 - w3;
    double reg = w1 * s_ssim(sal, m, mdt, off, W, 0, y, 0, x) +
                 w2 * s_ssim(sal, m, mdt, off, W, 0, y, x, W) +
                 w3 * s_ssim(sal, m, mdt, off, W, y, H, 0, x) +
                 w4 * s_ssim(sal, m, mdt, off, W, y, H, x, W);
    double sm = alpha * obj + (1.0 - alpha) * reg;
    return sm > 0.0 ? sm : 0.0;
}

/* Enhanced-alignment sum for a binarisation with fg_fg predicted-fg pixels on gt fg and
 * fg_bg predicted-fg pixels on gt bg (PySODMetrics Emeasure.cal_em_with_threshold). */
static double em_value(int64_t fg_fg, int64_t fg_bg, int64_t gt_fg, int64_t size) {
    int64_t pred_fg = fg_fg + fg_bg, pred_bg = size - pred_fg;
    double sum;
    if (gt_fg == 0) {
        sum = (double)pred_bg;
    } else if (gt_fg == size) {
        sum = (double)pred_fg;
    } else {
        int64_t bg_fg = gt_fg - fg_fg, bg_bg = pred_bg - bg_fg;
        double mp = (double)pred_fg / (double)size, mg = (double)gt_fg / (double)size;
        double pf = 1.0 - mp, pb = 0.0 - mp, gf = 1.0 - mg, gb = 0.0 - mg;
        double parts[4] = {(double)fg_fg, (double)fg_bg, (double)bg_fg, (double)bg_bg};
        double a[4] = {pf, pf, pb, pb}, b[4] = {gf, gb, gf, gb};
        sum = 0.0;
        for (int k = 0; k < 4; k++) {
            double align = 2.0 * (a[k] * b[k]) / (a[k] * a[k] + b[k] * b[k] + SAL_EPS);
            double enh = (align + 1.0) * (align + 1.0) / 4.0;
            sum += enh * parts[k];
        }
    }
    return sum / ((double)size - 1.0 + SAL_EPS);
}

void lt_sal_emeasure(double *adaptive, double *mean, double *maxe, const float *sal,
                     const lt_tensor *mask, int64_t off, int64_t n) {
    const void *m = lt_data(mask);
    double thr = 2.0 * sal_mean(sal, n);
    if (thr > 1.0) thr = 1.0;
    int64_t fg_fg = 0, fg_bg = 0, gt_fg = 0;
    for (int64_t i = 0; i < n; i++) {
        int g = lab_at(m, mask->dtype, off + i) != 0;
        int p = (double)sal[i] >= thr;
        gt_fg += g;
        if (p) { if (g) fg_fg++; else fg_bg++; }
    }
    *adaptive = em_value(fg_fg, fg_bg, gt_fg, n);
    int64_t fg_hist[256], bg_hist[256];
    sal_hist(fg_hist, bg_hist, sal, mask, off, n);
    int64_t a = 0, b = 0;
    double s = 0.0, best = 0.0;
    for (int k = 0; k < 256; k++) {
        a += fg_hist[255 - k];
        b += bg_hist[255 - k];
        double e = em_value(a, b, gt_fg, n);
        s += e;
        if (k == 0 || e > best) best = e;
    }
    *mean = s / 256.0;
    *maxe = best;
}

/* ------------------------------------------------------------------------------------------ */
/* instances                                                                                  */

typedef struct inst_pair { int64_t p, g; double iou; } inst_pair;

static int cmp_pair(const void *a, const void *b) {
    const inst_pair *x = (const inst_pair *)a, *y = (const inst_pair *)b;
    if (x->iou != y->iou) return x->iou > y->iou ? -1 : 1;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return (x->g > y->g) - (x->g < y->g);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct positive ids of t[off .. off+n) into *ids (malloc'd), count in *k. */
static lt_status inst_ids(int64_t **ids, int64_t *k, const lt_tensor *t, int64_t off, int64_t n) {
    const void *p = lt_data(t);
    int64_t cnt = 0;
    int64_t *buf = (int64_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (!buf) return LT_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = lab_at(p, t->dtype, off + i);
        if (v < 0) { free(buf); return LT_EINDEX; }
        if (v > 0) buf[cnt++] = v;
    }
    qsort(buf, (size_t)cnt, sizeof(int64_t), cmp_i64);
    int64_t u = 0;
    for (int64_t i = 0; i < cnt; i++)
        if (u == 0 || buf[u - 1] != buf[i]) buf[u++] = buf[i];
    *ids = buf;
    *k = u;
    return LT_OK;
}

static int64_t inst_find(const int64_t *ids, int64_t k, int64_t v) {
    int64_t lo = 0, hi = k - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ids[mid] == v) return mid;
        if (ids[mid] < v) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

/* Greedy one-to-one matching over pairs sorted by decreasing IoU, for each threshold. */
static lt_status inst_match(int64_t *tp, int64_t *fp, int64_t *fn, double *iou_sum,
                            inst_pair *pairs, int64_t npairs, int64_t P, int64_t G,
                            const double *thr, int nthr) {
    qsort(pairs, (size_t)npairs, sizeof(inst_pair), cmp_pair);
    uint8_t *used = (uint8_t *)malloc((size_t)(P + G + 1));
    if (!used) return LT_ENOMEM;
    for (int t = 0; t < nthr; t++) {
        memset(used, 0, (size_t)(P + G + 1));
        int64_t m = 0;
        double s = 0.0;
        for (int64_t q = 0; q < npairs && pairs[q].iou >= thr[t]; q++) {
            if (used[pairs[q].p] || used[P + pairs[q].g]) continue;
            used[pairs[q].p] = used[P + pairs[q].g] = 1;
            m++;
            s += pairs[q].iou;
        }
        tp[t] = m; fp[t] = P - m; fn[t] = G - m; iou_sum[t] = s;
    }
    free(used);
    return LT_OK;
}

static lt_status inst_check(const lt_tensor *a, const lt_tensor *b, int64_t off, int64_t n) {
    if (!is_label_dtype(a->dtype) || !is_label_dtype(b->dtype)) return LT_EDTYPE;
    if (!lt_is_contiguous(a) || !lt_is_contiguous(b)) return LT_EARG;
    if (lt_data(a) == NULL || lt_data(b) == NULL) return LT_EFREED;
    if (off < 0 || n < 0 || off + n > lt_numel(a) || off + n > lt_numel(b)) return LT_ESHAPE;
    return LT_OK;
}

lt_status lt_match_instances(int64_t *tp, int64_t *fp, int64_t *fn, double *iou_sum,
                             const lt_tensor *pred_ids, const lt_tensor *gt_ids, int64_t off,
                             int64_t n, const double *thresholds, int nthr) {
    lt_status st = inst_check(pred_ids, gt_ids, off, n);
    if (st != LT_OK) return st;
    int64_t *pid = NULL, *gid = NULL, P = 0, G = 0;
    int64_t *area_p = NULL, *area_g = NULL, *keys = NULL;
    inst_pair *pairs = NULL;
    st = inst_ids(&pid, &P, pred_ids, off, n);
    if (st == LT_OK) st = inst_ids(&gid, &G, gt_ids, off, n);
    if (st != LT_OK) goto done;
    area_p = (int64_t *)calloc((size_t)(P + 1), sizeof(int64_t));
    area_g = (int64_t *)calloc((size_t)(G + 1), sizeof(int64_t));
    keys = (int64_t *)malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (!area_p || !area_g || !keys) { st = LT_ENOMEM; goto done; }
    {
        const void *pp = lt_data(pred_ids), *gp = lt_data(gt_ids);
        int64_t nk = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t a = lab_at(pp, pred_ids->dtype, off + i), b = lab_at(gp, gt_ids->dtype, off + i);
            int64_t ia = a > 0 ? inst_find(pid, P, a) : -1, ib = b > 0 ? inst_find(gid, G, b) : -1;
            if (ia >= 0) area_p[ia]++;
            if (ib >= 0) area_g[ib]++;
            if (ia >= 0 && ib >= 0) keys[nk++] = ia * G + ib;
        }
        qsort(keys, (size_t)nk, sizeof(int64_t), cmp_i64);
        int64_t npairs = 0;
        for (int64_t i = 0; i < nk; i++)
            if (i == 0 || keys[i] != keys[i - 1]) npairs++;
        pairs = (inst_pair *)malloc((size_t)(npairs > 0 ? npairs : 1) * sizeof(inst_pair));
        if (!pairs) { st = LT_ENOMEM; goto done; }
        int64_t q = -1;
        for (int64_t i = 0; i < nk; i++) {
            if (i == 0 || keys[i] != keys[i - 1]) {
                q++;
                pairs[q].p = keys[i] / G;
                pairs[q].g = keys[i] % G;
                pairs[q].iou = 0.0;      /* intersection count for now */
            }
            pairs[q].iou += 1.0;
        }
        for (int64_t k = 0; k < npairs; k++) {
            double inter = pairs[k].iou;
            pairs[k].iou = inter / ((double)(area_p[pairs[k].p] + area_g[pairs[k].g]) - inter);
        }
        st = inst_match(tp, fp, fn, iou_sum, pairs, npairs, P, G, thresholds, nthr);
    }
done:
    free(pid); free(gid); free(area_p); free(area_g); free(keys);
    free(pairs);
    return st;
}

lt_status lt_match_instances_naive(int64_t *tp, int64_t *fp, int64_t *fn, double *iou_sum,
                                   const lt_tensor *pred_ids, const lt_tensor *gt_ids, int64_t off,
                                   int64_t n, const double *thresholds, int nthr) {
    lt_status st = inst_check(pred_ids, gt_ids, off, n);
    if (st != LT_OK) return st;
    int64_t *pid = NULL, *gid = NULL, P = 0, G = 0;
    double *iou = NULL;
    uint8_t *used = NULL;
    st = inst_ids(&pid, &P, pred_ids, off, n);
    if (st == LT_OK) st = inst_ids(&gid, &G, gt_ids, off, n);
    if (st != LT_OK) goto done;
    int64_t pg;   /* P, G <= n: the table is quadratic in the instance counts */
    if (lt_mul_ovf(P, G, &pg) || lt_add_ovf(pg, 1, &pg)) { st = LT_EOVERFLOW; goto done; }
    iou = (double *)calloc((size_t)pg, sizeof(double));
    used = (uint8_t *)malloc((size_t)(P + G + 1));
    if (!iou || !used) { st = LT_ENOMEM; goto done; }
    {
        const void *pp = lt_data(pred_ids), *gp = lt_data(gt_ids);
        for (int64_t a = 0; a < P; a++)
            for (int64_t b = 0; b < G; b++) {
                int64_t inter = 0, uni = 0;
                for (int64_t i = 0; i < n; i++) {
                    int ina = lab_at(pp, pred_ids->dtype, off + i) == pid[a];
                    int inb = lab_at(gp, gt_ids->dtype, off + i) == gid[b];
                    inter += ina && inb;
                    uni += ina || inb;
                }
                iou[a * G + b] = inter > 0 ? (double)inter / (double)uni : 0.0;
            }
        for (int t = 0; t < nthr; t++) {
            memset(used, 0, (size_t)(P + G + 1));
            int64_t m = 0;
            double s = 0.0;
            for (;;) {   /* repeatedly take the best unused pair (first in (p, g) order on ties) */
                int64_t ba = -1, bb = -1;
                double best = -1.0;
                for (int64_t a = 0; a < P; a++)
                    for (int64_t b = 0; b < G; b++) {
                        double v = iou[a * G + b];
                        if (used[a] || used[P + b] || v <= 0.0 || v < thresholds[t]) continue;
                        if (v > best) { best = v; ba = a; bb = b; }
                    }
                if (ba < 0) break;
                used[ba] = used[P + bb] = 1;
                m++;
                s += best;
            }
            tp[t] = m; fp[t] = P - m; fn[t] = G - m; iou_sum[t] = s;
        }
    }
done:
    free(pid); free(gid); free(iou); free(used);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* volumes: 3-D distance transform, 6-connected boundaries, surface distances                 */

/* One pass of the separable EDT along an axis of n voxels (stride s) for every line: lines
 * are numbered 0..nlines-1 and line l starts at base(l). f_in NULL: the seed mask is the
 * input (0 at seeds, +inf elsewhere). */
static lt_status edt3_pass(const lt_context *ctx, double *out, const uint8_t *seed, int64_t D,
                           int64_t H, int64_t W, int axis, double sp) {
    int64_t n = axis == 0 ? D : axis == 1 ? H : W;
    int64_t s = axis == 0 ? H * W : axis == 1 ? W : 1;
    int64_t nlines = D * H * W / n;
    int nt = lt_ctx_num_threads(ctx);
    if (D * H * W < 16384) nt = 1;
    int failed = 0;
    #pragma omp parallel num_threads(nt)
    {
        double *f = (double *)malloc((size_t)n * sizeof(double));
        double *d = (double *)malloc((size_t)n * sizeof(double));
        int64_t *v = (int64_t *)malloc((size_t)n * sizeof(int64_t));
        double *z = (double *)malloc((size_t)(n + 1) * sizeof(double));
        int ok = f && d && v && z;
        if (!ok) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int64_t l = 0; l < nlines; l++) {
            if (!ok) continue;
            int64_t base;
            if (axis == 0) base = l;                                /* l = y * W + x */
            else if (axis == 1) base = (l / W) * H * W + l % W;     /* l = z * W + x */
            else base = l * W;                                      /* l = z * H + y */
            for (int64_t q = 0; q < n; q++)
                f[q] = seed ? (seed[base + q * s] ? 0.0 : INFINITY) : out[base + q * s];
            edt_1d(d, f, n, sp * sp, v, z);
            for (int64_t q = 0; q < n; q++) out[base + q * s] = d[q];
        }
        free(f); free(d); free(v); free(z);
    }
    return failed ? LT_ENOMEM : LT_OK;
}

lt_status lt_edt3_sq(const lt_context *ctx, double *out, const uint8_t *seed, int64_t D, int64_t H,
                     int64_t W, double sd, double sh, double sw) {
    if (D < 0 || H < 0 || W < 0 || !(sd > 0) || !(sh > 0) || !(sw > 0)) return LT_EARG;
    if (D == 0 || H == 0 || W == 0) return LT_OK;
    lt_status st = edt3_pass(ctx, out, seed, D, H, W, 0, sd);
    if (st == LT_OK) st = edt3_pass(ctx, out, NULL, D, H, W, 1, sh);
    if (st == LT_OK) st = edt3_pass(ctx, out, NULL, D, H, W, 2, sw);
    return st;
}

lt_status lt_edt3_sq_naive(double *out, const uint8_t *seed, int64_t D, int64_t H, int64_t W,
                           double sd, double sh, double sw) {
    if (D < 0 || H < 0 || W < 0 || !(sd > 0) || !(sh > 0) || !(sw > 0)) return LT_EARG;
    int64_t n = D * H * W;
    for (int64_t i = 0; i < n; i++) {
        double best = INFINITY;
        for (int64_t j = 0; j < n; j++) {
            if (!seed[j]) continue;
            double dz = sd * (double)(i / (H * W) - j / (H * W));
            double dy = sh * (double)((i / W) % H - (j / W) % H);
            double dx = sw * (double)(i % W - j % W);
            double dd = dz * dz + dy * dy + dx * dx;
            if (dd < best) best = dd;
        }
        out[i] = best;
    }
    return LT_OK;
}

void lt_boundary6(uint8_t *out, const uint8_t *mask, int64_t D, int64_t H, int64_t W) {
    int64_t hw = H * W;
    for (int64_t z = 0; z < D; z++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                int64_t i = z * hw + y * W + x;
                if (!mask[i]) { out[i] = 0; continue; }
                int inner = z > 0 && z < D - 1 && y > 0 && y < H - 1 && x > 0 && x < W - 1 &&
                            mask[i - hw] && mask[i + hw] && mask[i - W] && mask[i + W] &&
                            mask[i - 1] && mask[i + 1];
                out[i] = (uint8_t)!inner;
            }
}

static lt_status surf_check(const lt_tensor *pred, const lt_tensor *target, int vol,
                            const double sp[3], int64_t *nimg, int64_t *D, int64_t *H, int64_t *W) {
    if (!is_label_dtype(pred->dtype) || !is_label_dtype(target->dtype)) return LT_EDTYPE;
    int lo = vol ? 3 : 2;
    if (pred->ndim != target->ndim || (target->ndim != lo && target->ndim != lo + 1)) return LT_ESHAPE;
    for (int d = 0; d < pred->ndim; d++)
        if (pred->size[d] != target->size[d]) return LT_ESHAPE;
    if (!lt_is_contiguous(pred) || !lt_is_contiguous(target)) return LT_EARG;
    if (lt_data(pred) == NULL || lt_data(target) == NULL) return LT_EFREED;
    if (!(sp[1] > 0) || !(sp[2] > 0) || (vol && !(sp[0] > 0))) return LT_EARG;
    int nd = target->ndim;
    *nimg = nd == lo + 1 ? target->size[0] : 1;
    *D = vol ? target->size[nd - 3] : 1;
    *H = target->size[nd - 2];
    *W = target->size[nd - 1];
    return LT_OK;
}

/* Distances from every `from` boundary voxel to the nearest `to` boundary voxel into ds
 * (count *k); exact EDT or brute force. */
static lt_status directed(const lt_context *ctx, double *ds, int64_t *k, double *dt,
                          const uint8_t *from, const uint8_t *to, int64_t D, int64_t H, int64_t W,
                          const double sp[3], int naive) {
    int64_t n = D * H * W;
    *k = 0;
    if (!naive) {
        lt_status st = lt_edt3_sq(ctx, dt, to, D, H, W, sp[0], sp[1], sp[2]);
        if (st != LT_OK) return st;
        for (int64_t i = 0; i < n; i++)
            if (from[i]) ds[(*k)++] = sqrt(dt[i]);
        return LT_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!from[i]) continue;
        double best = INFINITY;
        for (int64_t j = 0; j < n; j++) {
            if (!to[j]) continue;
            double dz = sp[0] * (double)(i / (H * W) - j / (H * W));
            double dy = sp[1] * (double)((i / W) % H - (j / W) % H);
            double dx = sp[2] * (double)(i % W - j % W);
            double dd = dz * dz + dy * dy + dx * dx;
            if (dd < best) best = dd;
        }
        ds[(*k)++] = sqrt(best);
    }
    return LT_OK;
}

static lt_status surface_impl(const lt_context *ctx, double *hd, double *nsd, const lt_tensor *pred,
                              const lt_tensor *target, int vol, const double spacing[3],
                              double percentile, double tolerance, int naive) {
    int64_t nimg, D, H, W;
    double sp[3] = {vol ? spacing[0] : 1.0, spacing[1], spacing[2]};
    lt_status st = surf_check(pred, target, vol, sp, &nimg, &D, &H, &W);
    if (st != LT_OK) return st;
    if (nsd && !(tolerance >= 0)) return LT_EARG;
    int64_t n = D * H * W;
    if (n == 0) {
        for (int64_t i = 0; i < nimg; i++) {
            if (hd) hd[i] = NAN;
            if (nsd) nsd[i] = NAN;
        }
        return LT_OK;
    }
    uint8_t *mp = (uint8_t *)malloc((size_t)n), *mt = (uint8_t *)malloc((size_t)n);
    uint8_t *bp = (uint8_t *)malloc((size_t)n), *bt = (uint8_t *)malloc((size_t)n);
    double *dt = (double *)malloc((size_t)n * sizeof(double));
    double *d1 = (double *)malloc((size_t)n * sizeof(double));
    double *d2 = (double *)malloc((size_t)n * sizeof(double));
    if (!mp || !mt || !bp || !bt || !dt || !d1 || !d2) {
        free(mp); free(mt); free(bp); free(bt); free(dt); free(d1); free(d2);
        return LT_ENOMEM;
    }
    for (int64_t i = 0; i < nimg && st == LT_OK; i++) {
        to_mask(mp, pred, i * n, n);
        to_mask(mt, target, i * n, n);
        if (vol) {
            lt_boundary6(bp, mp, D, H, W);
            lt_boundary6(bt, mt, D, H, W);
        } else {
            lt_boundary4(bp, mp, H, W);
            lt_boundary4(bt, mt, H, W);
        }
        int64_t np = 0, ntg = 0;
        for (int64_t j = 0; j < n; j++) { np += bp[j]; ntg += bt[j]; }
        if (np == 0 || ntg == 0) {
            /* MONAI: distances to an empty boundary are inf; both empty: NaN */
            if (hd) hd[i] = (np == 0 && ntg == 0) ? NAN : INFINITY;
            if (nsd) nsd[i] = (np == 0 && ntg == 0) ? NAN : 0.0;
            continue;
        }
        int64_t k1, k2;
        st = directed(ctx, d1, &k1, dt, bp, bt, D, H, W, sp, naive);
        if (st == LT_OK) st = directed(ctx, d2, &k2, dt, bt, bp, D, H, W, sp, naive);
        if (st != LT_OK) break;
        if (nsd) {
            int64_t good = 0;
            for (int64_t j = 0; j < k1; j++) good += d1[j] <= tolerance;
            for (int64_t j = 0; j < k2; j++) good += d2[j] <= tolerance;
            nsd[i] = (double)good / (double)(k1 + k2);
        }
        if (hd) {
            double a = hd_reduce(d1, k1, percentile), b = hd_reduce(d2, k2, percentile);
            hd[i] = a > b ? a : b;
        }
    }
    free(mp); free(mt); free(bp); free(bt); free(dt); free(d1); free(d2);
    return st;
}

lt_status lt_surface_forward(const lt_context *ctx, double *hd, double *nsd, const lt_tensor *pred,
                             const lt_tensor *target, int vol, const double spacing[3],
                             double percentile, double tolerance) {
    return surface_impl(ctx, hd, nsd, pred, target, vol, spacing, percentile, tolerance, 0);
}

lt_status lt_surface_forward_naive(double *hd, double *nsd, const lt_tensor *pred,
                                   const lt_tensor *target, int vol, const double spacing[3],
                                   double percentile, double tolerance) {
    return surface_impl(NULL, hd, nsd, pred, target, vol, spacing, percentile, tolerance, 1);
}
