/* lt_classic_watershed.c: marker-based watershed by priority flood, step for step as
 * scikit-image's segmentation.watershed (_watershed_cy.pyx with heap_general.pxi): the same
 * binary heap ordered by (elevation, insertion age), the same neighbour order, labelling at push
 * time (plain) or at pop time (compact); and a linear-scan reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_classic.h"

typedef struct {
    double value;
    int32_t age;       /* int32 as in scikit-image's Heapitem */
    int64_t index;
    int64_t source;
} ws_item;

typedef struct {
    ws_item *a;
    int64_t items, space;
} ws_heap;

static inline int smaller(const ws_item *a, const ws_item *b) {
    if (a->value != b->value) return a->value < b->value;
    return a->age < b->age;
}

static int heap_push(ws_heap *h, const ws_item *e) {
    if (h->items == h->space) {
        int64_t ns;
        if (lt_mul_ovf(h->space, 2, &ns) || (uint64_t)ns > SIZE_MAX / sizeof(ws_item)) return 0;
        ws_item *na = realloc(h->a, (size_t)ns * sizeof *na);
        if (!na) return 0;
        h->a = na;
        h->space = ns;
    }
    int64_t child = h->items++;
    h->a[child] = *e;
    while (child > 0) {
        int64_t parent = (child + 1) / 2 - 1;
        if (!smaller(&h->a[child], &h->a[parent])) break;
        ws_item t = h->a[parent]; h->a[parent] = h->a[child]; h->a[child] = t;
        child = parent;
    }
    return 1;
}

static void heap_pop(ws_heap *h, ws_item *dest) {
    *dest = h->a[0];
    h->items--;
    if (h->items == 0) return;
    h->a[0] = h->a[h->items];
    int64_t i = 0, smallest = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = 2 * i + 2;
        if (l >= h->items) break;
        if (smaller(&h->a[l], &h->a[i])) smallest = l;
        if (r < h->items && smaller(&h->a[r], &h->a[smallest])) smallest = r;
        if (smallest == i) break;
        ws_item t = h->a[i]; h->a[i] = h->a[smallest]; h->a[smallest] = t;
        i = smallest;
    }
}

/* The queue of the reference: an unordered list scanned for the smallest (value, age). */
static int list_pop(ws_heap *h, ws_item *dest) {
    int64_t best = 0;
    for (int64_t k = 1; k < h->items; k++)
        if (smaller(&h->a[k], &h->a[best])) best = k;
    *dest = h->a[best];
    memmove(h->a + best, h->a + best + 1, (size_t)(h->items - best - 1) * sizeof *h->a);
    h->items--;
    return 1;
}

static lt_status flood(int32_t *out, const float *elev, const int32_t *markers, const uint8_t *mask,
                       const int64_t dims[3], int connectivity, double compactness, int naive) {
    const int64_t D = dims[0], H = dims[1], W = dims[2];
    int64_t n;
    if (D < 0 || H < 0 || W < 0) return LT_EARG;
    if (lt_mul_ovf(D, H, &n) || lt_mul_ovf(n, W, &n)) return LT_EOVERFLOW;
    int off[26][3];
    int nb = lt_classic_neighbors(off, D == 1 ? 2 : 3, connectivity);
    int compact = compactness > 0;
    ws_heap h = {NULL, 0, 1000};
    h.a = malloc((size_t)h.space * sizeof *h.a);
    if (!h.a) return LT_ENOMEM;
    lt_status st = LT_OK;
    for (int64_t i = 0; i < n; i++) out[i] = (mask && !mask[i]) ? 0 : markers[i];
    ws_item e, ne;
    for (int64_t i = 0; i < n && st == LT_OK; i++) {
        if (!out[i]) continue;
        e.value = (double)elev[i]; e.age = 0; e.index = i; e.source = i;
        if (!heap_push(&h, &e)) st = LT_ENOMEM;
    }
    int64_t age = 1;
    while (st == LT_OK && h.items > 0) {
        if (naive) list_pop(&h, &e);
        else heap_pop(&h, &e);
        if (compact) {
            if (out[e.index] && e.index != e.source) continue;
            out[e.index] = out[e.source];
        }
        int64_t z = e.index / (H * W), y = (e.index / W) % H, x = e.index % W;
        int64_t sz = 0, sy = 0, sx = 0;
        if (compact) { sz = e.source / (H * W); sy = (e.source / W) % H; sx = e.source % W; }
        for (int k = 0; k < nb; k++) {
            int64_t zz = z + off[k][0], yy = y + off[k][1], xx = x + off[k][2];
            if (zz < 0 || yy < 0 || xx < 0 || zz >= D || yy >= H || xx >= W) continue;
            int64_t j = (zz * H + yy) * W + xx;
            if (mask && !mask[j]) continue;
            if (out[j]) continue;
            age++;
            ne.value = (double)elev[j];
            if (compact) {
                double dz = (double)(zz - sz), dy = (double)(yy - sy), dx = (double)(xx - sx);
                ne.value += compactness * sqrt(dz * dz + dy * dy + dx * dx);
            } else {
                out[j] = out[e.index];
            }
            ne.age = (int32_t)age;
            ne.index = j;
            ne.source = e.source;
            if (!heap_push(&h, &ne)) { st = LT_ENOMEM; break; }
        }
    }
    free(h.a);
    return st;
}

/* The plain (non-compact) flood on padded arrays, as scikit-image runs it: a one-pixel border of
 * mask 0 around the image, so neighbours are flat offsets with no bounds tests. Heap items are
 * 16 bytes: (elevation, age) packed in one integer key whose order is the (double value, age)
 * order of scikit-image's comparison (float32 bits mapped to an unsigned order, -0 as +0; an
 * elevation with NaN takes the general path), and the pixel. The binary heap is scikit-image's
 * (a hole moved instead of swaps: the same comparisons, the same positions), the neighbour order
 * is its: the same result as flood(). */
typedef struct {
    uint64_t key;
    int64_t index;
} ws_key;

static inline uint64_t order_bits(float f) {
    uint32_t u;
    if (f == 0.0f) f = 0.0f;
    memcpy(&u, &f, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return (uint64_t)u << 32;
}

static lt_status flood_plain(int32_t *out, const float *elev, const int32_t *markers, const uint8_t *mask,
                             const int64_t dims[3], int connectivity) {
    const int64_t D = dims[0], H = dims[1], W = dims[2];
    int is3 = D > 1;
    int64_t PD = is3 ? D + 2 : 1, PH = H + 2, PW = W + 2, pn, n = D * H * W;
    if (lt_mul_ovf(PD, PH, &pn) || lt_mul_ovf(pn, PW, &pn)) return LT_EOVERFLOW;
    for (int64_t i = 0; i < n; i++)
        if (elev[i] != elev[i]) return flood(out, elev, markers, mask, dims, connectivity, 0, 0);
    if (pn >= INT32_MAX) return flood(out, elev, markers, mask, dims, connectivity, 0, 0);
    int off[26][3];
    int nb = lt_classic_neighbors(off, is3 ? 3 : 2, connectivity);
    int64_t noff[26];
    for (int k = 0; k < nb; k++) noff[k] = (off[k][0] * PH + off[k][1]) * PW + off[k][2];
    int32_t *po = calloc((size_t)pn, sizeof *po);
    uint8_t *pm = calloc((size_t)pn, 1);
    uint64_t *pk = malloc((size_t)pn * sizeof *pk);
    int64_t space = 1024, items = 0;
    ws_key *a = malloc((size_t)space * sizeof *a);
    lt_status st = LT_OK;
    if (!po || !pm || !pk || !a) { st = LT_ENOMEM; goto end; }
    for (int64_t z = 0; z < D; z++)
        for (int64_t y = 0; y < H; y++) {
            int64_t src = (z * H + y) * W, dst = ((z + (is3 ? 1 : 0)) * PH + y + 1) * PW + 1;
            for (int64_t x = 0; x < W; x++) {
                int m = mask ? mask[src + x] != 0 : 1;
                pm[dst + x] = (uint8_t)m;
                po[dst + x] = m ? markers[src + x] : 0;
                pk[dst + x] = order_bits(elev[src + x]);
            }
        }
    #define PUSH(KEY, IDX) do {                                                               \
        if (items == space) {                                                                 \
            if (space > INT64_MAX / 2 / (int64_t)sizeof(ws_key)) { st = LT_ENOMEM; goto end; } \
            ws_key *na = realloc(a, (size_t)space * 2 * sizeof *na);                          \
            if (!na) { st = LT_ENOMEM; goto end; }                                            \
            a = na; space *= 2;                                                               \
        }                                                                                     \
        uint64_t k_ = (KEY);                                                                  \
        int64_t child = items++;                                                              \
        while (child > 0) {                                                                   \
            int64_t parent = (child + 1) / 2 - 1;                                             \
            if (!(k_ < a[parent].key)) break;                                                 \
            a[child] = a[parent];                                                             \
            child = parent;                                                                   \
        }                                                                                     \
        a[child].key = k_;                                                                    \
        a[child].index = (IDX);                                                               \
    } while (0)
    /* markers in raster order of the padded image (= of the image), age 0 */
    for (int64_t i = 0; i < pn; i++)
        if (po[i]) PUSH(pk[i], i);
    uint64_t age = 1;
    while (items > 0) {
        int64_t idx = a[0].index;
        items--;
        if (items > 0) {
            ws_key mv = a[items];
            int64_t i = 0;
            for (;;) {
                int64_t l = 2 * i + 1, r = l + 1, smallest = i;
                if (l >= items) break;
                uint64_t sk = mv.key;
                if (a[l].key < sk) { smallest = l; sk = a[l].key; }
                if (r < items && a[r].key < sk) smallest = r;
                if (smallest == i) break;
                a[i] = a[smallest];
                i = smallest;
            }
            a[i] = mv;
        }
        int32_t lab = po[idx];
        for (int k = 0; k < nb; k++) {
            int64_t j = idx + noff[k];
            if (!pm[j] || po[j]) continue;
            age++;
            po[j] = lab;
            PUSH(pk[j] | (age & 0xffffffffu), j);
        }
    }
    #undef PUSH
    for (int64_t z = 0; z < D; z++)
        for (int64_t y = 0; y < H; y++) {
            int64_t src = ((z + (is3 ? 1 : 0)) * PH + y + 1) * PW + 1, dst = (z * H + y) * W;
            memcpy(out + dst, po + src, (size_t)W * sizeof *out);
        }
end:
    free(po); free(pm); free(pk); free(a);
    return st;
}

lt_status lt_classic_watershed(int32_t *out, const float *elev, const int32_t *markers,
                               const uint8_t *mask, const int64_t dims[3], int connectivity,
                               double compactness) {
    if (!(compactness > 0)) return flood_plain(out, elev, markers, mask, dims, connectivity);
    return flood(out, elev, markers, mask, dims, connectivity, compactness, 0);
}

lt_status lt_classic_watershed_general(int32_t *out, const float *elev, const int32_t *markers,
                                       const uint8_t *mask, const int64_t dims[3], int connectivity,
                                       double compactness) {
    return flood(out, elev, markers, mask, dims, connectivity, compactness, 0);
}

lt_status lt_classic_watershed_naive(int32_t *out, const float *elev, const int32_t *markers,
                                     const uint8_t *mask, const int64_t dims[3], int connectivity,
                                     double compactness) {
    return flood(out, elev, markers, mask, dims, connectivity, compactness, 1);
}
