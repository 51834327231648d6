/* lt_classic_threshold.c: global (Otsu, multi-Otsu) and local (Niblack, Sauvola) thresholds
 * with scikit-image's histogram and arithmetic (float32 where it computes in float32). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_classic.h"

lt_status lt_classic_histogram(int64_t *counts, double *centers, int64_t *nbins, const lt_tensor *img) {
    int64_t n = lt_numel(img);
    const void *data = lt_data(img);
    if (n == 0) return LT_EARG;
    if (data == NULL) return LT_EFREED;
    if (img->dtype == LT_UINT8) {
        const uint8_t *p = data;
        int lo = 255, hi = 0;
        for (int64_t i = 0; i < n; i++) { if (p[i] < lo) lo = p[i]; if (p[i] > hi) hi = p[i]; }
        if (!counts) { *nbins = hi - lo + 1; return LT_OK; }
        int64_t c[256] = {0};
        for (int64_t i = 0; i < n; i++) c[p[i]]++;
        for (int v = lo; v <= hi; v++) { counts[v - lo] = c[v]; centers[v - lo] = v; }
        *nbins = hi - lo + 1;
        return LT_OK;
    }
    if (img->dtype != LT_FLOAT32) return LT_EDTYPE;
    const float *p = data;
    float lo = p[0], hi = p[0];
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(p[i])) return LT_EARG;
        if (p[i] < lo) lo = p[i];
        if (p[i] > hi) hi = p[i];
    }
    if (!counts) return LT_OK;   /* *nbins is the caller's */
    int64_t nb = *nbins;
    double first = lo, last = hi;
    if (first == last) { first -= 0.5; last += 0.5; }
    /* numpy.linspace in double, then cast to float32 (the edges' dtype is the image's) */
    float *edges = malloc((size_t)(nb + 1) * sizeof *edges);
    if (!edges) return LT_ENOMEM;
    double step = (last - first) / (double)nb;
    for (int64_t k = 0; k < nb; k++) edges[k] = (float)((double)k * step + first);
    edges[nb] = (float)last;
    float fe = (float)first;
    double norm = (double)nb / (double)((float)last - fe);
    memset(counts, 0, (size_t)nb * sizeof *counts);
    for (int64_t i = 0; i < n; i++) {
        float x = p[i];
        int64_t b = (int64_t)((double)(x - fe) * norm);
        if (b >= nb) b = nb - 1;
        if (b < 0) b = 0;
        if (x < edges[b] && b > 0) b--;
        if (b != nb - 1 && x >= edges[b + 1]) b++;
        counts[b]++;
    }
    for (int64_t k = 0; k < nb; k++) centers[k] = (double)((edges[k] + edges[k + 1]) / 2.0f);
    free(edges);
    return LT_OK;
}

/* Histogram into freshly allocated arrays (*counts, *centers: free both). */
static lt_status histogram_alloc(int64_t **counts, double **centers, int64_t *nb, const lt_tensor *img,
                                 int64_t nbins) {
    *counts = NULL; *centers = NULL;
    *nb = nbins;
    lt_status st = lt_classic_histogram(NULL, NULL, nb, img);
    if (st != LT_OK) return st;
    *counts = malloc((size_t)*nb * sizeof **counts);
    *centers = malloc((size_t)*nb * sizeof **centers);
    if (!*counts || !*centers) { free(*counts); free(*centers); *counts = NULL; *centers = NULL; return LT_ENOMEM; }
    st = lt_classic_histogram(*counts, *centers, nb, img);
    if (st != LT_OK) { free(*counts); free(*centers); *counts = NULL; *centers = NULL; }
    return st;
}

static int constant_image(const lt_tensor *img, double *v) {
    int64_t n = lt_numel(img);
    if (img->dtype == LT_UINT8) {
        const uint8_t *p = lt_u8(img);
        for (int64_t i = 1; i < n; i++) if (p[i] != p[0]) return 0;
        *v = p[0];
    } else {
        const float *p = lt_f32(img);
        for (int64_t i = 1; i < n; i++) if (p[i] != p[0]) return 0;
        *v = p[0];
    }
    return 1;
}

lt_status lt_classic_otsu(double *thresh, const lt_tensor *img, int64_t nbins) {
    if (lt_numel(img) == 0) return LT_EARG;
    if (lt_data(img) == NULL) return LT_EFREED;
    if (img->dtype != LT_UINT8 && img->dtype != LT_FLOAT32) return LT_EDTYPE;
    if (constant_image(img, thresh)) return LT_OK;
    int64_t *c, nb;
    double *bc;
    lt_status st = histogram_alloc(&c, &bc, &nb, img, nbins);
    if (st != LT_OK) return st;
    /* weight1 = cumsum(counts), mean1 = cumsum(counts * centers) / weight1; the same from the
     * right for class 2; variance12[i] = w1[i] * w2[i + 1] * (m1[i] - m2[i + 1])^2 */
    double *m2 = malloc((size_t)nb * sizeof *m2);
    int64_t *w2 = malloc((size_t)nb * sizeof *w2);
    if (!m2 || !w2) { free(m2); free(w2); free(c); free(bc); return LT_ENOMEM; }
    int64_t w = 0;
    double s = 0;
    for (int64_t i = nb - 1; i >= 0; i--) {
        w += c[i];
        s += (double)c[i] * bc[i];
        w2[i] = w;
        m2[i] = s / (double)w;
    }
    int64_t w1 = 0, best = 0;
    double s1 = 0, vbest = -1;
    for (int64_t i = 0; i + 1 < nb; i++) {
        w1 += c[i];
        s1 += (double)c[i] * bc[i];
        double m1 = s1 / (double)w1, d = m1 - m2[i + 1];
        double v = (double)(w1 * w2[i + 1]) * (d * d);
        if (v > vbest || (v != v && vbest == vbest)) {   /* argmax: the first maximum; NaN wins */
            if (v != v) { best = i; break; }
            vbest = v;
            best = i;
        }
    }
    *thresh = bc[best];
    free(m2); free(w2); free(c); free(bc);
    return LT_OK;
}

/* scikit-image's lookup table entry var(i, j) in float32 (var(0, 0) is never set there: 0). */
static inline float var_btw(const float *P, const float *S, int64_t i, int64_t j) {
    if (i == 0) {
        if (j == 0 || !(P[j] > 0)) return 0;
        return (S[j] * S[j]) / P[j];
    }
    float p = P[j] - P[i - 1];
    if (!(p > 0)) return 0;
    float s = S[j] - S[i - 1];
    return (s * s) / p;
}

lt_status lt_classic_multiotsu(double *thresh, const lt_tensor *img, int classes, int64_t nbins) {
    if (lt_numel(img) == 0 || classes < 2) return LT_EARG;
    if (lt_data(img) == NULL) return LT_EFREED;
    if (img->dtype != LT_UINT8 && img->dtype != LT_FLOAT32) return LT_EDTYPE;
    int64_t *c, nb;
    double *bc;
    lt_status st = histogram_alloc(&c, &bc, &nb, img, nbins);
    if (st != LT_OK) return st;
    int64_t total = 0, nvalues = 0;
    for (int64_t i = 0; i < nb; i++) total += c[i];
    float *prob = malloc((size_t)nb * sizeof *prob);
    float *P = malloc((size_t)nb * sizeof *P), *S = malloc((size_t)nb * sizeof *S);
    int64_t tc = classes - 1;
    int64_t *cur = malloc((size_t)tc * sizeof *cur), *bestidx = malloc((size_t)tc * sizeof *bestidx);
    if (!prob || !P || !S || !cur || !bestidx) { st = LT_ENOMEM; goto done; }
    for (int64_t i = 0; i < nb; i++) {
        prob[i] = (float)((double)c[i] / (double)total);
        if (prob[i] != 0) nvalues++;
    }
    if (nvalues < classes) { st = LT_EARG; goto done; }
    if (nvalues == classes) {
        int64_t m = 0;
        for (int64_t i = 0; i < nb && m < tc; i++) if (prob[i] > 0) thresh[m++] = bc[i];
        goto done;
    }
    /* the search visits C(nb - 1, tc) threshold tuples: refuse more than 2^31 (minutes) */
    {
        double combos = 1;
        for (int64_t j = 0; j < tc; j++) combos = combos * (double)(nb - 1 - j) / (double)(j + 1);
        if (combos > 2147483648.0) { st = LT_ERANGE; goto done; }
    }
    /* scikit-image's _set_var_btwcls_lut moments (first_moment[0] = prob[0] as there) and its
     * between-class variance var(i, j) = S(i..j)^2 / P(i..j), var(0, 0) = 0 */
    P[0] = prob[0];
    S[0] = prob[0];
    for (int64_t i = 1; i < nb; i++) {
        P[i] = P[i - 1] + prob[i];
        S[i] = S[i - 1] + (float)i * prob[i];
    }
#define VAR(i, j) var_btw(P, S, (i), (j))
    /* every increasing tuple cur[0] < ... < cur[tc-1], cur[k] in [k, nb - tc + k - 1], in the
     * nested-loop order of the recursive search; the first strict maximum wins */
    for (int64_t k = 0; k < tc; k++) cur[k] = k;
    float smax = 0;
    int found = 0;
    for (;;) {
        float sigma = VAR(0, cur[0]) + VAR(cur[tc - 1] + 1, nb - 1);
        for (int64_t k = 0; k + 1 < tc; k++) sigma += VAR(cur[k] + 1, cur[k + 1]);
        if (sigma > smax) { smax = sigma; memcpy(bestidx, cur, (size_t)tc * sizeof *cur); found = 1; }
        int64_t k = tc - 1;
        while (k >= 0 && cur[k] + 1 >= nb - tc + k) k--;
        if (k < 0) break;
        cur[k]++;
        for (int64_t j = k + 1; j < tc; j++) cur[j] = cur[j - 1] + 1;
    }
#undef VAR
    if (!found) for (int64_t k = 0; k < tc; k++) bestidx[k] = 0;   /* skimage: np.empty, unset */
    for (int64_t k = 0; k < tc; k++) thresh[k] = bc[bestidx[k]];
done:
    free(prob); free(P); free(S); free(cur); free(bestidx); free(c); free(bc);
    return st;
}

/* numpy.pad's 'reflect' index (mirror without repeating the edge) for i in any range. */
static inline int64_t reflect_index(int64_t i, int64_t n) {
    if (n == 1) return 0;
    int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i >= n ? period - i : i;
}

lt_status lt_classic_local_threshold(float *out, const lt_tensor *img, int64_t wy, int64_t wx, double k,
                                     double r, int sauvola) {
    if (img->ndim != 2) return LT_ESHAPE;
    if (wy < 1 || wx < 1 || wy % 2 == 0 || wx % 2 == 0) return LT_EARG;
    const int64_t H = img->size[0], W = img->size[1];
    int64_t PH, PW, np_;
    if (lt_add_ovf(H, wy, &PH) || lt_add_ovf(W, wx, &PW) || lt_mul_ovf(PH, PW, &np_)) return LT_EOVERFLOW;
    if ((uint64_t)np_ > SIZE_MAX / (2 * sizeof(double))) return LT_EOVERFLOW;
    const void *data = lt_data(img);
    if (H * W > 0 && data == NULL) return LT_EFREED;
    if (img->dtype != LT_UINT8 && img->dtype != LT_FLOAT32) return LT_EDTYPE;
    int f32 = img->dtype == LT_FLOAT32;
    /* padded image (reflect, (w // 2 + 1, w // 2) per axis) and its square, in the float type
     * scikit-image uses (float64 for uint8, float32 for float32), then float64 integrals
     * (cumsum along axis 0, then axis 1) */
    double *I = malloc((size_t)np_ * sizeof *I), *I2 = malloc((size_t)np_ * sizeof *I2);
    if (!I || !I2) { free(I); free(I2); return LT_ENOMEM; }
    int64_t py = wy / 2 + 1, px = wx / 2 + 1;
    for (int64_t y = 0; y < PH; y++) {
        int64_t sy = reflect_index(y - py, H);
        for (int64_t x = 0; x < PW; x++) {
            int64_t i = sy * W + reflect_index(x - px, W);
            double v;
            if (f32) {
                float f = ((const float *)data)[i];
                v = f;
                I2[y * PW + x] = (double)(f * f);
            } else {
                v = ((const uint8_t *)data)[i];
                I2[y * PW + x] = v * v;
            }
            I[y * PW + x] = v;
        }
    }
    for (int64_t y = 1; y < PH; y++)
        for (int64_t x = 0; x < PW; x++) {
            I[y * PW + x] += I[(y - 1) * PW + x];
            I2[y * PW + x] += I2[(y - 1) * PW + x];
        }
    for (int64_t y = 0; y < PH; y++)
        for (int64_t x = 1; x < PW; x++) {
            I[y * PW + x] += I[y * PW + x - 1];
            I2[y * PW + x] += I2[y * PW + x - 1];
        }
    double area = (double)(wy * wx);
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            int64_t a = y * PW + x, b = a + wx, c = a + wy * PW, d = c + wx;
            double sm = I[a] - I[b] - I[c] + I[d];
            double sq = I2[a] - I2[b] - I2[c] + I2[d];
            double t;
            if (f32) {
                float m = (float)sm / (float)area, g2 = (float)sq / (float)area;
                float var = g2 - m * m;
                float s = sqrtf(var > 0 ? var : 0);
                t = sauvola ? (double)(m * (1.0f + (float)k * ((s / (float)r) - 1.0f)))
                            : (double)(m - (float)k * s);
            } else {
                double m = sm / area, g2 = sq / area;
                double var = g2 - m * m;
                double s = sqrt(var > 0 ? var : 0);
                t = sauvola ? m * (1 + k * ((s / r) - 1)) : m - k * s;
            }
            out[y * W + x] = (float)t;
        }
    free(I); free(I2);
    return LT_OK;
}

lt_status lt_classic_local_threshold_naive(float *out, const lt_tensor *img, int64_t wy, int64_t wx,
                                           double k, double r, int sauvola) {
    if (img->ndim != 2) return LT_ESHAPE;
    if (wy < 1 || wx < 1 || wy % 2 == 0 || wx % 2 == 0) return LT_EARG;
    if (img->dtype != LT_UINT8 && img->dtype != LT_FLOAT32) return LT_EDTYPE;
    const int64_t H = img->size[0], W = img->size[1];
    const void *data = lt_data(img);
    if (H * W > 0 && data == NULL) return LT_EFREED;
    int f32 = img->dtype == LT_FLOAT32;
    double area = (double)(wy * wx);
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            double sm = 0, sq = 0;
            for (int64_t dy = -(wy / 2); dy <= wy / 2; dy++)
                for (int64_t dx = -(wx / 2); dx <= wx / 2; dx++) {
                    int64_t i = reflect_index(y + dy, H) * W + reflect_index(x + dx, W);
                    double v = f32 ? (double)((const float *)data)[i] : (double)((const uint8_t *)data)[i];
                    sm += v;
                    sq += v * v;
                }
            double m = sm / area, var = sq / area - m * m;
            double sd = sqrt(var > 0 ? var : 0);
            out[y * W + x] = (float)(sauvola ? m * (1 + k * ((sd / r) - 1)) : m - k * sd);
        }
    return LT_OK;
}
