/* lt_felzenszwalb.c: Felzenszwalb's graph segmentation on the 8-neighbour pixel graph, as
 * scikit-image computes it: Gaussian smoothing, Euclidean colour costs, merges in increasing
 * cost order while the cost is below both segments' internal difference + scale / size, then
 * a pass merging segments smaller than min_size. */
#include "lt_felzenszwalb.h"
#include "lt_slic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Edge e of the (H, W) grid in scikit-image's order: right (H x (W-1)), down ((H-1) x W),
 * down-right and up-right ((H-1) x (W-1) each); a is the pixel scikit-image lists first. */
static void edge_ends(int64_t e, int64_t h, int64_t w, int64_t *a, int64_t *b) {
    int64_t nr = h * (w - 1), nd = (h - 1) * w, nq = (h - 1) * (w - 1);
    if (e < nr) {
        int64_t y = e / (w - 1), x = e % (w - 1);
        *a = y * w + x + 1, *b = y * w + x;
        return;
    }
    e -= nr;
    if (e < nd) {
        int64_t y = e / w, x = e % w;
        *a = (y + 1) * w + x, *b = y * w + x;
        return;
    }
    e -= nd;
    int64_t y = (e % nq) / (w - 1), x = (e % nq) % (w - 1);
    if (e < nq)
        *a = (y + 1) * w + x + 1, *b = y * w + x;
    else
        *a = y * w + x + 1, *b = (y + 1) * w + x;
}

static int64_t find_root(int64_t *forest, int64_t n) {
    while (forest[n] != n) {
        forest[n] = forest[forest[n]];   /* path halving: roots do not change */
        n = forest[n];
    }
    return n;
}

/* The smaller index becomes the root (scikit-image's join_trees). */
static int64_t join(int64_t *forest, int64_t r0, int64_t r1) {
    if (r0 < r1) {
        forest[r1] = r0;
        return r0;
    }
    forest[r0] = r1;
    return r1;
}

/* Stable LSD radix sort of idx[0..n) by keys[idx] (unsigned 64-bit), 16 bits a pass;
 * passes whose digit is the same for every key are skipped. tmp: n entries. */
static lt_status radix_sort(uint32_t *idx, uint32_t *tmp, const uint64_t *keys, int64_t n) {
    int64_t *hist = calloc(4 * 65536, sizeof *hist);
    if (!hist) return LT_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = keys[i];
        for (int p = 0; p < 4; p++) hist[p * 65536 + ((k >> (16 * p)) & 0xffff)]++;
    }
    for (int64_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    for (int p = 0; p < 4; p++) {
        int64_t *hp = hist + p * 65536, sum = 0;
        int trivial = 0;
        for (int d = 0; d < 65536; d++) {
            if (hp[d] == n) trivial = 1;
            int64_t c = hp[d];
            hp[d] = sum;
            sum += c;
        }
        if (trivial) continue;
        for (int64_t i = 0; i < n; i++) {
            uint32_t j = idx[i];
            tmp[hp[(keys[j] >> (16 * p)) & 0xffff]++] = j;
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
    free(hist);
    return LT_OK;
}

typedef struct { double cost; uint32_t e; } cost_edge;

static int cmp_cost_edge(const void *pa, const void *pb) {
    const cost_edge *a = pa, *b = pb;
    if (a->cost != b->cost) return a->cost < b->cost ? -1 : 1;
    return a->e < b->e ? -1 : a->e > b->e;
}

static lt_status fz_run(lt_context *ctx, lt_tensor *labels, const lt_tensor *img,
                        const lt_felzenszwalb_opts *o, int64_t *count, int naive) {
    if (!(o->scale > 0) || !(o->sigma >= 0) || o->min_size < 0 || labels->dtype != LT_INT32 ||
        (img->dtype != LT_UINT8 && img->dtype != LT_FLOAT32) || (img->ndim != 2 && img->ndim != 3))
        return LT_EARG;
    int64_t c = img->ndim == 3 ? img->size[0] : 1;
    int64_t h = img->size[img->ndim - 2], w = img->size[img->ndim - 1], n, nc;
    *count = 0;
    if (lt_mul_ovf(h, w, &n) || lt_mul_ovf(n, c, &nc)) return LT_EOVERFLOW;
    if (n == 0) return LT_OK;
    int64_t ne = h * (w - 1) + (h - 1) * w + 2 * (h - 1) * (w - 1);
    if (ne > (int64_t)UINT32_MAX) return LT_EOVERFLOW;
    lt_status st = LT_OK;
    double *x = malloc((size_t)nc * sizeof *x);
    int64_t *forest = malloc((size_t)n * sizeof *forest);
    int64_t *size = malloc((size_t)n * sizeof *size);
    double *cint = calloc((size_t)n, sizeof *cint);
    uint64_t *keys = malloc((size_t)(ne > 0 ? ne : 1) * sizeof *keys);
    uint32_t *order = malloc((size_t)(ne > 0 ? ne : 1) * sizeof *order);
    if (!x || !forest || !size || !cint || !keys || !order) {
        st = LT_ENOMEM;
        goto done;
    }
    if (img->dtype == LT_UINT8) {
        const uint8_t *s = lt_u8(img);
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < n; i++) x[i * c + ch] = s[ch * n + i] / 255.0;
    } else {
        const float *s = lt_f32(img);
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t i = 0; i < n; i++) x[i * c + ch] = (double)s[ch * n + i];
    }
    if ((st = lt_gaussian_hwc(x, h, w, c, o->sigma, o->sigma)) != LT_OK) goto done;
    int nt = lt_ctx_num_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t e = 0; e < ne; e++) {
        int64_t a, b;
        edge_ends(e, h, w, &a, &b);
        double s = 0;
        for (int64_t ch = 0; ch < c; ch++) {
            double d = x[a * c + ch] - x[b * c + ch];
            s += d * d;
        }
        double cost = sqrt(s);
        memcpy(&keys[e], &cost, sizeof cost);   /* costs >= +0: bit order = value order */
    }
    if (naive) {
        cost_edge *ce = malloc((size_t)(ne > 0 ? ne : 1) * sizeof *ce);
        if (!ce) {
            st = LT_ENOMEM;
            goto done;
        }
        for (int64_t e = 0; e < ne; e++) {
            memcpy(&ce[e].cost, &keys[e], sizeof(double));
            ce[e].e = (uint32_t)e;
        }
        qsort(ce, (size_t)ne, sizeof *ce, cmp_cost_edge);
        for (int64_t e = 0; e < ne; e++) order[e] = ce[e].e;
        free(ce);
    } else {
        uint32_t *tmp = malloc((size_t)(ne > 0 ? ne : 1) * sizeof *tmp);
        if (!tmp) {
            st = LT_ENOMEM;
            goto done;
        }
        st = radix_sort(order, tmp, keys, ne);
        free(tmp);
        if (st != LT_OK) goto done;
    }
    for (int64_t i = 0; i < n; i++) forest[i] = i, size[i] = 1;
    double scale = o->scale / 255.0;
    for (int64_t k = 0; k < ne; k++) {
        int64_t a, b;
        edge_ends(order[k], h, w, &a, &b);
        int64_t r0 = find_root(forest, a), r1 = find_root(forest, b);
        if (r0 == r1) continue;
        double cost;
        memcpy(&cost, &keys[order[k]], sizeof cost);
        /* scikit-image keeps the internal differences in C floats */
        float in0 = (float)(cint[r0] + scale / (double)size[r0]);
        float in1 = (float)(cint[r1] + scale / (double)size[r1]);
        if (cost < (double)(in0 < in1 ? in0 : in1)) {
            int64_t r = join(forest, r0, r1);
            size[r] = size[r0] + size[r1];
            cint[r] = cost;
        }
    }
    for (int64_t k = 0; k < ne; k++) {
        int64_t a, b;
        edge_ends(order[k], h, w, &a, &b);
        int64_t r0 = find_root(forest, a), r1 = find_root(forest, b);
        if (r0 == r1) continue;
        if (size[r0] < o->min_size || size[r1] < o->min_size) {
            int64_t r = join(forest, r0, r1);
            size[r] = size[r0] + size[r1];
        }
    }
    /* roots are the smallest index of their segment: number them in raster order */
    int32_t *out = lt_i32(labels);
    int64_t next = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = find_root(forest, i);
        if (r == i) {
            size[i] = next++;   /* size[] reused as the root's label */
            out[i] = (int32_t)size[i];
        } else {
            out[i] = out[r];    /* r < i was numbered already */
        }
    }
    *count = next;
done:
    free(x);
    free(forest);
    free(size);
    free(cint);
    free(keys);
    free(order);
    return st;
}

lt_status lt_felzenszwalb(lt_context *ctx, lt_tensor *labels, const lt_tensor *img,
                          const lt_felzenszwalb_opts *o, int64_t *count) {
    return fz_run(ctx, labels, img, o, count, 0);
}

lt_status lt_felzenszwalb_naive(lt_context *ctx, lt_tensor *labels, const lt_tensor *img,
                                const lt_felzenszwalb_opts *o, int64_t *count) {
    return fz_run(ctx, labels, img, o, count, 1);
}
