/* lt_crf.c: dense CRF mean-field inference (Krähenbühl & Koltun 2011) with Potts
 * compatibility, a smoothness kernel on positions and an appearance kernel on positions and
 * colours, both filtered on a permutohedral lattice (Adams et al. 2010), and the exact
 * O(N^2) reference. */
#include "lt_crf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

lt_crf_opts lt_crf_defaults(void) {
    /* DeepLab-LargeFOV's published dense CRF parameters */
    lt_crf_opts o = {10, 3.0, 3.0, 4.0, 121.0, 5.0, 1e-8};
    return o;
}

/* ---- permutohedral lattice ---- */

typedef struct {
    int d;              /* feature dimensions */
    int64_t n;          /* points */
    int64_t m;          /* lattice vertices */
    int32_t *offset;    /* (n, d+1) vertex of each simplex corner */
    float *bary;        /* (n, d+1) barycentric weights */
    int32_t *nb;        /* (d+1, m, 2) blur neighbours; m = the zero row when absent */
    int64_t *vstart;    /* (m+1) the corners of vertex v: vpoint/vbary[vstart[v]..vstart[v+1]) */
    int32_t *vpoint;    /* (n (d+1)) point of each corner, grouped by vertex */
    float *vbary;       /* (n (d+1)) its barycentric weight */
} lattice;

static void lattice_free(lattice *L) {
    free(L->vstart);
    free(L->vpoint);
    free(L->vbary);
    free(L->offset);
    free(L->bary);
    free(L->nb);
    memset(L, 0, sizeof *L);
}

/* Open-addressing hash of d-dimensional int32 keys -> vertex index, load <= 1/2 (doubles as
 * it fills). A slot holds the index + 1 (0: empty) and 32 bits of the key's hash, so a probe
 * reads the key itself only when the hashes agree. */
typedef struct {
    int d;
    int64_t cap, n, max;  /* cap: power of two; max: most keys (every point's corners) */
    uint64_t *slot;       /* (hash >> 32) << 32 | (index + 1) */
    int32_t *keys;        /* (max, d) */
} khash;

static uint64_t khash_of(const int32_t *k, int d) {
    uint64_t h = 0;
    for (int i = 0; i < d; i++) h = (h + (uint64_t)(uint32_t)k[i]) * 0x9E3779B97F4A7C15u;
    /* murmur3's finaliser: the table index takes the low bits, which must depend on all keys */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 33);
}

static void khash_put(uint64_t *slot, int64_t cap, uint64_t h, uint64_t v) {
    uint64_t i = h & (uint64_t)(cap - 1);
    while (slot[i]) i = (i + 1) & (uint64_t)(cap - 1);
    slot[i] = v;
}

/* Doubles the table; 0 when out of memory. */
static int khash_grow(khash *H) {
    int64_t cap = H->cap * 2;
    uint64_t *slot = calloc((size_t)cap, sizeof *slot);
    if (!slot) return 0;
    for (int64_t i = 0; i < H->cap; i++)
        if (H->slot[i]) {
            int64_t idx = (int64_t)(H->slot[i] & 0xffffffffu) - 1;
            khash_put(slot, cap, khash_of(H->keys + idx * H->d, H->d), H->slot[i]);
        }
    free(H->slot);
    H->slot = slot;
    H->cap = cap;
    return 1;
}

/* Index of key; inserted when create, else -1. -2 when growing the table failed. */
static int32_t khash_find(khash *H, const int32_t *k, int create) {
    uint64_t h = khash_of(k, H->d), tag = h >> 32 << 32;
    uint64_t i = h & (uint64_t)(H->cap - 1);
    for (;;) {
        uint64_t sv = H->slot[i];
        if (!sv) {
            if (!create) return -1;
            if (2 * (H->n + 1) > H->cap) {
                if (!khash_grow(H)) return -2;
                return khash_find(H, k, create);
            }
            memcpy(H->keys + H->n * H->d, k, (size_t)H->d * sizeof *k);
            H->slot[i] = tag | (uint64_t)(H->n + 1);
            return (int32_t)H->n++;
        }
        if ((sv & ~(uint64_t)0xffffffffu) == tag) {
            const int32_t *ks = H->keys + ((int64_t)(sv & 0xffffffffu) - 1) * H->d;
            int same = 1;
            for (int t = 0; t < H->d; t++) same &= ks[t] == k[t];
            if (same) return (int32_t)((sv & 0xffffffffu) - 1);
        }
        i = (i + 1) & (uint64_t)(H->cap - 1);
    }
}

/* Builds the lattice of n points with d features each (feat (n, d), already divided by their
 * standard deviations), as Krähenbühl's permutohedral.cpp: elevation onto the hyperplane,
 * the enclosing simplex, barycentric weights, and the blur neighbours of every vertex. */
static lt_status lattice_init(lattice *L, const float *feat, int d, int64_t n) {
    memset(L, 0, sizeof *L);
    L->d = d;
    L->n = n;
    int64_t corners = n * (d + 1);
    if (corners > INT32_MAX / 2) return LT_EOVERFLOW;
    for (int64_t i = 0; i < n * d; i++)   /* int32 lattice coordinates; NaN refused too */
        if (!(fabs((double)feat[i]) <= LT_CRF_MAX_FEATURE)) return LT_EARG;
    khash H = {d, 1024, 0, corners, NULL, NULL};
    H.slot = calloc((size_t)H.cap, sizeof *H.slot);
    H.keys = malloc((size_t)(corners * d) * sizeof *H.keys);
    L->offset = malloc((size_t)corners * sizeof *L->offset);
    L->bary = malloc((size_t)corners * sizeof *L->bary);
    if (!H.slot || !H.keys || !L->offset || !L->bary) {
        free(H.slot);
        free(H.keys);
        lattice_free(L);
        return LT_ENOMEM;
    }
    double scale[16], elev[17], bary[18];
    int32_t rem0[17], rank[17], key[17], canon[17 * 17];
    double inv_std = sqrt(2.0 / 3.0) * (d + 1), down = 1.0 / (d + 1);
    for (int i = 0; i < d; i++) scale[i] = inv_std / sqrt((double)((i + 1) * (i + 2)));
    for (int i = 0; i <= d; i++) {
        for (int j = 0; j <= d - i; j++) canon[i * (d + 1) + j] = i;
        for (int j = d - i + 1; j <= d; j++) canon[i * (d + 1) + j] = i - (d + 1);
    }
    for (int64_t p = 0; p < n; p++) {
        const float *f = feat + p * d;
        double sm = 0;
        for (int j = d; j > 0; j--) {
            double cf = (double)f[j - 1] * scale[j - 1];
            elev[j] = sm - j * cf;
            sm += cf;
        }
        elev[0] = sm;
        int sum = 0;
        for (int i = 0; i <= d; i++) {
            double v = down * elev[i];
            double up = ceil(v) * (d + 1), dn = floor(v) * (d + 1);
            rem0[i] = (int32_t)(up - elev[i] < elev[i] - dn ? up : dn);
            sum += rem0[i];
        }
        sum /= d + 1;
        for (int i = 0; i <= d; i++) rank[i] = 0;
        for (int i = 0; i < d; i++) {
            double di = elev[i] - rem0[i];
            for (int j = i + 1; j <= d; j++)
                if (di < elev[j] - rem0[j]) rank[i]++; else rank[j]++;
        }
        for (int i = 0; i <= d; i++) {
            rank[i] += sum;
            if (rank[i] < 0) {
                rank[i] += d + 1;
                rem0[i] += d + 1;
            } else if (rank[i] > d) {
                rank[i] -= d + 1;
                rem0[i] -= d + 1;
            }
        }
        for (int i = 0; i <= d + 1; i++) bary[i] = 0;
        for (int i = 0; i <= d; i++) {
            double v = (elev[i] - rem0[i]) * down;
            bary[d - rank[i]] += v;
            bary[d - rank[i] + 1] -= v;
        }
        bary[0] += 1.0 + bary[d + 1];
        for (int r = 0; r <= d; r++) {
            for (int i = 0; i < d; i++) key[i] = rem0[i] + canon[r * (d + 1) + rank[i]];
            int32_t v = khash_find(&H, key, 1);
            if (v < 0) {
                free(H.slot);
                free(H.keys);
                lattice_free(L);
                return LT_ENOMEM;
            }
            L->offset[p * (d + 1) + r] = v;
            L->bary[p * (d + 1) + r] = (float)bary[r];
        }
    }
    L->m = H.n;
    L->nb = malloc((size_t)((d + 1) * L->m * 2) * sizeof *L->nb);
    if (!L->nb) {
        free(H.slot);
        free(H.keys);
        lattice_free(L);
        return LT_ENOMEM;
    }
    int32_t n1[17], n2[17];
    for (int j = 0; j <= d; j++)
        for (int64_t v = 0; v < L->m; v++) {
            const int32_t *k = H.keys + v * d;
            for (int i = 0; i < d; i++) n1[i] = k[i] + 1, n2[i] = k[i] - 1;
            if (j < d) n1[j] = k[j] - d, n2[j] = k[j] + d;
            int32_t a = khash_find(&H, n1, 0), b = khash_find(&H, n2, 0);
            L->nb[(j * L->m + v) * 2] = a < 0 ? (int32_t)L->m : a;
            L->nb[(j * L->m + v) * 2 + 1] = b < 0 ? (int32_t)L->m : b;
        }
    free(H.slot);
    free(H.keys);
    /* the corners grouped by vertex, so that splatting gathers (parallel over vertices) */
    L->vstart = calloc((size_t)(L->m + 1), sizeof *L->vstart);
    L->vpoint = malloc((size_t)corners * sizeof *L->vpoint);
    L->vbary = malloc((size_t)corners * sizeof *L->vbary);
    int64_t *fill = malloc((size_t)(L->m + 1) * sizeof *fill);
    if (!L->vstart || !L->vpoint || !L->vbary || !fill) {
        free(fill);
        lattice_free(L);
        return LT_ENOMEM;
    }
    for (int64_t c = 0; c < corners; c++) L->vstart[L->offset[c] + 1]++;
    for (int64_t v = 0; v < L->m; v++) L->vstart[v + 1] += L->vstart[v];
    memcpy(fill, L->vstart, (size_t)(L->m + 1) * sizeof *fill);
    for (int64_t c = 0; c < corners; c++) {
        int64_t at = fill[L->offset[c]]++;
        L->vpoint[at] = (int32_t)(c / (d + 1));
        L->vbary[at] = L->bary[c];
    }
    free(fill);
    return LT_OK;
}

/* Krähenbühl's lattice output (with his alpha) is, away from borders, the exact sum
 * sum_j exp(-|f_i - f_j|^2 / 2) in_j times a constant gain that depends on d only. Measured
 * on 20000 (d = 2) and 200000 (d = 5) uniform random points, 600 interior points each: 0.8820
 * (sd 0.0034) and 0.7041 (sd 0.0052). lunet divides it out, so the weights w_m mean what they
 * mean in the paper's energy (and in lt_dense_crf_naive); other d keep Krähenbühl's scale. */
static double lattice_gain(int d) {
    return d == 2 ? 0.8820 : d == 5 ? 0.7041 : 1.0;
}

/* out (n, k) = lattice filter of in (n, k): splat, blur along the d+1 lattice directions
 * with [0.5, 1, 0.5], slice, times Krähenbühl's alpha = 1 / (1 + 2^-d) over the gain above.
 * v1, v2: (m+1, k). */
static void lattice_filter(int nt, const lattice *L, float *out, const float *in, int64_t k,
                           float *v1, float *v2) {
    int d = L->d;
    int64_t m = L->m, n = L->n;
    memset(v1 + m * k, 0, (size_t)k * sizeof *v1);
    memset(v2 + m * k, 0, (size_t)k * sizeof *v2);
    /* splat, as a gather over each vertex's corners */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t v = 0; v < m; v++) {
        float *y = v1 + v * k;
        for (int64_t c = 0; c < k; c++) y[c] = 0;
        for (int64_t e = L->vstart[v]; e < L->vstart[v + 1]; e++) {
            float b = L->vbary[e];
            const float *x = in + (int64_t)L->vpoint[e] * k;
            for (int64_t c = 0; c < k; c++) y[c] += b * x[c];
        }
    }
    float *src = v1, *dst = v2;
    for (int j = 0; j <= d; j++) {
        const int32_t *nb = L->nb + (int64_t)j * m * 2;
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t v = 0; v < m; v++) {
            const float *o = src + v * k, *a = src + (int64_t)nb[2 * v] * k,
                        *b = src + (int64_t)nb[2 * v + 1] * k;
            float *y = dst + v * k;
            for (int64_t c = 0; c < k; c++) y[c] = o[c] + 0.5f * (a[c] + b[c]);
        }
        float *t = src; src = dst; dst = t;
    }
    float alpha = (float)(1.0 / (1.0 + pow(2.0, -d)) / lattice_gain(d));
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t p = 0; p < n; p++) {
        float *y = out + p * k;
        for (int64_t c = 0; c < k; c++) y[c] = 0;
        for (int r = 0; r <= d; r++) {
            float b = L->bary[p * (d + 1) + r] * alpha;
            const float *x = src + (int64_t)L->offset[p * (d + 1) + r] * k;
            for (int64_t c = 0; c < k; c++) y[c] += b * x[c];
        }
    }
}

/* ---- mean field ---- */

static lt_status check_args(const lt_tensor *q, const lt_tensor *labels, const lt_tensor *probs,
                            const lt_tensor *rgb, const lt_crf_opts *o) {
    if (o->iterations < 0 || !(o->pos_xy_std > 0) || !(o->bi_xy_std > 0) || !(o->bi_rgb_std > 0) ||
        !isfinite(o->pos_w) || !isfinite(o->bi_w) || !(o->eps > 0))
        return LT_EARG;
    if (probs->dtype != LT_FLOAT32 || q->dtype != LT_FLOAT32 ||
        (rgb->dtype != LT_UINT8 && rgb->dtype != LT_FLOAT32) || (labels && labels->dtype != LT_INT32))
        return LT_EDTYPE;
    if (probs->ndim != 3 || rgb->ndim != 3 || rgb->size[0] != 3 || rgb->size[1] != probs->size[1] ||
        rgb->size[2] != probs->size[2] || q->ndim != 3)
        return LT_ESHAPE;
    for (int i = 0; i < 3; i++)
        if (q->size[i] != probs->size[i]) return LT_ESHAPE;
    if (labels && (labels->ndim != 2 || labels->size[0] != probs->size[1] ||
                   labels->size[1] != probs->size[2]))
        return LT_ESHAPE;
    return LT_OK;
}

/* Features (n, 5) x/bxy, y/bxy, r/brgb, g/brgb, b/brgb and (n, 2) x/pxy, y/pxy; colours on
 * the 0..255 scale. */
static void make_features(float *fb, float *fp, const lt_tensor *rgb, int64_t h, int64_t w,
                          const lt_crf_opts *o) {
    int64_t n = h * w;
    double cs = rgb->dtype == LT_UINT8 ? 1.0 : 255.0;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            int64_t i = y * w + x;
            float *f = fb + i * 5;
            f[0] = (float)((double)x / o->bi_xy_std);
            f[1] = (float)((double)y / o->bi_xy_std);
            for (int c = 0; c < 3; c++) {
                double v = rgb->dtype == LT_UINT8 ? (double)lt_u8(rgb)[c * n + i]
                                                  : (double)lt_f32(rgb)[c * n + i];
                f[2 + c] = (float)(v * cs / o->bi_rgb_std);
            }
            fp[i * 2] = (float)((double)x / o->pos_xy_std);
            fp[i * 2 + 1] = (float)((double)y / o->pos_xy_std);
        }
}

/* Rows of kp floats (k rounded up to 8: whole vectors in the lattice loops); the padding
 * columns of q stay 0, so filtering them costs nothing wrong. */

/* un (n, kp) = -log(max(p, eps)). */
static void init_unary(float *un, const lt_tensor *probs, int64_t n, int64_t k, int64_t kp,
                       double eps) {
    const float *p = lt_f32(probs);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < kp; c++) {
            double v = c < k ? p[c * n + i] : 1.0;
            un[i * kp + c] = (float)-log(v > eps ? v : eps);
        }
}

/* q_i = softmax(-un_i + msg_i) over the k labels (in float; terms below e^-80 of the largest
 * are 0); the padding columns are set to 0. */
static void softmax_update(int nt, float *q, const float *un, const float *msg, int64_t n,
                           int64_t k, int64_t kp) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float *y = q + i * kp;
        const float *u = un + i * kp, *g = msg ? msg + i * kp : NULL;
        float mx = -HUGE_VALF, s = 0;
        for (int64_t c = 0; c < k; c++) {
            float v = -u[c] + (g ? g[c] : 0.0f);
            y[c] = v;
            mx = v > mx ? v : mx;
        }
        for (int64_t c = 0; c < k; c++) {
            float t = y[c] - mx;
            float e = t > -80.0f ? expf(t) : 0.0f;
            y[c] = e;
            s += e;
        }
        float inv = 1.0f / s;
        for (int64_t c = 0; c < k; c++) y[c] *= inv;
        for (int64_t c = k; c < kp; c++) y[c] = 0;
    }
}

static void write_out(lt_tensor *q, lt_tensor *labels, const float *qn, int64_t n, int64_t k,
                      int64_t kp) {
    float *out = lt_f32(q);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < k; c++) out[c * n + i] = qn[i * kp + c];
    if (labels) {
        int32_t *lab = lt_i32(labels);
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            for (int64_t c = 1; c < k; c++)
                if (qn[i * kp + c] > qn[i * kp + best]) best = c;
            lab[i] = (int32_t)best;
        }
    }
}

static lt_status crf_run(lt_context *ctx, lt_tensor *q, lt_tensor *labels, const lt_tensor *probs,
                         const lt_tensor *rgb, const lt_crf_opts *o, int naive) {
    lt_status st = check_args(q, labels, probs, rgb, o);
    if (st != LT_OK) return st;
    int64_t k = probs->size[0], h = probs->size[1], w = probs->size[2], n, nk;
    int64_t kp = (k + 7) / 8 * 8;
    if (lt_mul_ovf(h, w, &n) || lt_mul_ovf(n, kp, &nk)) return LT_EOVERFLOW;
    if (nk == 0) return LT_OK;
    if (naive && n > 46340) return LT_EARG;   /* the reference is for small images */
    int nt = lt_ctx_num_threads(ctx);
    float *un = malloc((size_t)nk * sizeof *un), *qn = malloc((size_t)nk * sizeof *qn);
    float *msg = malloc((size_t)nk * sizeof *msg), *tmp = malloc((size_t)nk * sizeof *tmp);
    float *fb = malloc((size_t)(n * 5) * sizeof *fb), *fp = malloc((size_t)(n * 2) * sizeof *fp);
    lattice lb = {0}, lp = {0};
    float *v1 = NULL, *v2 = NULL;
    if (!un || !qn || !msg || !tmp || !fb || !fp) {
        st = LT_ENOMEM;
        goto done;
    }
    make_features(fb, fp, rgb, h, w, o);
    init_unary(un, probs, n, k, kp, o->eps);
    softmax_update(nt, qn, un, NULL, n, k, kp);
    if (!naive && o->iterations > 0) {
        if ((st = lattice_init(&lb, fb, 5, n)) != LT_OK) goto done;
        if ((st = lattice_init(&lp, fp, 2, n)) != LT_OK) goto done;
        int64_t mm = lb.m > lp.m ? lb.m : lp.m, sz;
        if (lt_mul_ovf(mm + 1, kp, &sz)) {
            st = LT_EOVERFLOW;
            goto done;
        }
        v1 = malloc((size_t)sz * sizeof *v1);
        v2 = malloc((size_t)sz * sizeof *v2);
        if (!v1 || !v2) {
            st = LT_ENOMEM;
            goto done;
        }
    }
    float wp = (float)o->pos_w, wb = (float)o->bi_w;
    for (int64_t it = 0; it < o->iterations; it++) {
        if (naive) {
            /* exact: msg_i = sum_{j != i} (wp kp(i, j) + wb kb(i, j)) q_j */
            for (int64_t i = 0; i < n; i++) {
                double acc[64] = {0};
                double *a = k <= 64 ? acc : NULL;
                float *mi = msg + i * kp;
                for (int64_t c = 0; c < kp; c++) mi[c] = 0;
                for (int64_t j = 0; j < n; j++) {
                    if (j == i) continue;
                    double db = 0, dp = 0;
                    for (int t = 0; t < 5; t++) {
                        double e = (double)fb[i * 5 + t] - (double)fb[j * 5 + t];
                        db += e * e;
                    }
                    for (int t = 0; t < 2; t++) {
                        double e = (double)fp[i * 2 + t] - (double)fp[j * 2 + t];
                        dp += e * e;
                    }
                    double kw = o->pos_w * exp(-0.5 * dp) + o->bi_w * exp(-0.5 * db);
                    for (int64_t c = 0; c < k; c++) {
                        if (a) a[c] += kw * qn[j * kp + c];
                        else mi[c] += (float)(kw * qn[j * kp + c]);
                    }
                }
                if (a)
                    for (int64_t c = 0; c < k; c++) mi[c] = (float)a[c];
            }
        } else {
            lattice_filter(nt, &lp, msg, qn, kp, v1, v2);
            lattice_filter(nt, &lb, tmp, qn, kp, v1, v2);
#pragma omp parallel for num_threads(nt) schedule(static)
            for (int64_t i = 0; i < nk; i++)
                msg[i] = wp * (msg[i] - qn[i]) + wb * (tmp[i] - qn[i]);
        }
        softmax_update(nt, qn, un, msg, n, k, kp);
    }
    write_out(q, labels, qn, n, k, kp);
done:
    lattice_free(&lb);
    lattice_free(&lp);
    free(un);
    free(qn);
    free(msg);
    free(tmp);
    free(fb);
    free(fp);
    free(v1);
    free(v2);
    return st;
}

lt_status lt_dense_crf(lt_context *ctx, lt_tensor *q, lt_tensor *labels, const lt_tensor *probs,
                       const lt_tensor *rgb, const lt_crf_opts *o) {
    return crf_run(ctx, q, labels, probs, rgb, o, 0);
}

lt_status lt_dense_crf_naive(lt_context *ctx, lt_tensor *q, lt_tensor *labels,
                             const lt_tensor *probs, const lt_tensor *rgb, const lt_crf_opts *o) {
    return crf_run(ctx, q, labels, probs, rgb, o, 1);
}
