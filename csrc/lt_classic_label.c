/* lt_classic_label.c: connected-component labelling (union-find over raster order, and the
 * flood-fill reference), region statistics, and the neighbourhood tables shared with the
 * watershed. */
#include <stdlib.h>
#include <string.h>

#include "lt_classic.h"

/* scikit-image's neighbour orders (morphology._util._offsets_to_raveled_neighbors: sorted by
 * distance from the centre with numpy's argsort), as (dz, dy, dx). */
static const int nb2_1[4][3] = {{0, -1, 0}, {0, 0, -1}, {0, 0, 1}, {0, 1, 0}};
static const int nb2_2[8][3] = {{0, -1, 0}, {0, 0, -1}, {0, 0, 1}, {0, 1, 0},
                                {0, -1, -1}, {0, -1, 1}, {0, 1, -1}, {0, 1, 1}};
static const int nb3_1[6][3] = {{-1, 0, 0}, {0, -1, 0}, {0, 0, -1}, {0, 0, 1}, {0, 1, 0}, {1, 0, 0}};
static const int nb3_2[18][3] = {
    {1, 0, 0}, {-1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}, {1, 0, -1}, {1, -1, 0},
    {0, 1, 1}, {0, 1, -1}, {-1, -1, 0}, {0, -1, 1}, {0, -1, -1}, {-1, 1, 0}, {-1, 0, 1},
    {-1, 0, -1}, {1, 0, 1}, {1, 1, 0}};
static const int nb3_3[26][3] = {
    {0, 1, 0}, {-1, 0, 0}, {0, 0, 1}, {0, 0, -1}, {1, 0, 0}, {0, -1, 0}, {0, 1, 1}, {0, 1, -1},
    {1, 1, 0}, {0, -1, 1}, {0, -1, -1}, {-1, 1, 0}, {1, 0, 1}, {-1, 0, 1}, {-1, 0, -1},
    {-1, -1, 0}, {1, 0, -1}, {1, -1, 0}, {1, 1, -1}, {-1, -1, -1}, {1, -1, -1}, {-1, 1, 1},
    {-1, 1, -1}, {-1, -1, 1}, {1, -1, 1}, {1, 1, 1}};

int lt_classic_neighbors(int off[26][3], int ndim, int connectivity) {
    const int (*t)[3];
    int n;
    if (ndim == 2) {
        if (connectivity <= 1) { t = nb2_1; n = 4; } else { t = nb2_2; n = 8; }
    } else {
        if (connectivity <= 1) { t = nb3_1; n = 6; }
        else if (connectivity == 2) { t = nb3_2; n = 18; }
        else { t = nb3_3; n = 26; }
    }
    for (int k = 0; k < n; k++) for (int j = 0; j < 3; j++) off[k][j] = t[k][j];
    return n;
}

/* The value of pixel i as a double-free comparable key (exact for every dtype). */
static inline int same_value(const lt_tensor *in, const void *data, int64_t i, int64_t j) {
    switch (in->dtype) {
    case LT_UINT8: return ((const uint8_t *)data)[i] == ((const uint8_t *)data)[j];
    case LT_INT32: return ((const int32_t *)data)[i] == ((const int32_t *)data)[j];
    default: {
        float a = ((const float *)data)[i], b = ((const float *)data)[j];
        return a == b || (a != a && b != b);   /* NaN joins NaN, like any other nonzero value */
    }
    }
}

static inline int nonzero(const lt_tensor *in, const void *data, int64_t i) {
    switch (in->dtype) {
    case LT_UINT8: return ((const uint8_t *)data)[i] != 0;
    case LT_INT32: return ((const int32_t *)data)[i] != 0;
    default: return ((const float *)data)[i] != 0.0f;
    }
}

/* Neighbours that come earlier in raster order (the half of the neighbourhood a forward scan
 * has already seen). */
static int prior_neighbors(int off[13][3], int ndim, int connectivity) {
    int all[26][3];
    int n = lt_classic_neighbors(all, ndim, connectivity), m = 0;
    for (int k = 0; k < n; k++) {
        const int *o = all[k];
        int before = o[0] < 0 || (o[0] == 0 && (o[1] < 0 || (o[1] == 0 && o[2] < 0)));
        if (before) { off[m][0] = o[0]; off[m][1] = o[1]; off[m][2] = o[2]; m++; }
    }
    return m;
}

static lt_status check_dims(const int64_t dims[3], int64_t *n) {
    if (dims[0] < 0 || dims[1] < 0 || dims[2] < 0) return LT_EARG;
    if (lt_mul_ovf(dims[0], dims[1], n) || lt_mul_ovf(*n, dims[2], n)) return LT_EOVERFLOW;
    if (*n >= INT32_MAX) return LT_EOVERFLOW;
    return LT_OK;
}

static inline int32_t uf_find(int32_t *parent, int32_t i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* Joins the sets of a and b; returns the common root (the smaller index). */
static inline int32_t uf_union(int32_t *parent, int32_t a, int32_t b) {
    int32_t ra = uf_find(parent, a), rb = uf_find(parent, b);
    if (ra == rb) return ra;
    if (ra < rb) { parent[rb] = ra; return ra; }
    parent[ra] = rb;
    return rb;
}

#define EQ_INT(a, b) ((a) == (b))
#define EQ_FLT(a, b) ((a) == (b) || ((a) != (a) && (b) != (b)))
/* Run-based 2-D labelling: the maximal runs of equal nonzero value in each row, unions
 * between runs of consecutive rows that touch (overlap, or meet at a corner for 8-connectivity)
 * and hold the same value, then each run's label (roots are the first run of their region in
 * raster order, so the numbering is scikit-image's) filled into out. Far fewer unions than pixels
 * on real masks. Returns the count, or -1 when out of memory. */
#define RUNS2D(NAME, T, EQ_EXPR)                                                                 \
static int64_t NAME(int32_t *out, const T *v, int64_t H, int64_t W, int conn8) {                 \
    int64_t cap = 1024, nr = 0;                                                                  \
    int32_t *x0 = malloc((size_t)cap * sizeof *x0), *x1 = malloc((size_t)cap * sizeof *x1);      \
    int32_t *par = malloc((size_t)cap * sizeof *par);                                            \
    int64_t *rowstart = malloc((size_t)(H + 1) * sizeof *rowstart);                              \
    int64_t count = -1;                                                                          \
    if (!x0 || !x1 || !par || !rowstart) goto done;                                              \
    for (int64_t y = 0; y < H; y++) {                                                            \
        const T *row = v + y * W;                                                                \
        rowstart[y] = nr;                                                                        \
        int64_t pr = y > 0 ? rowstart[y - 1] : 0, pe = nr;   /* runs of the previous row */      \
        int64_t x = 0;                                                                           \
        while (x < W) {                                                                          \
            T c = row[x];                                                                        \
            if (!(c != 0)) { x++; continue; }                                                    \
            int64_t s = x;                                                                       \
            while (x < W && EQ_EXPR(row[x], c)) x++;                                             \
            if (nr == cap) {                                                                     \
                int64_t nc = cap * 2;                                                            \
                int32_t *a = realloc(x0, (size_t)nc * sizeof *a);                                \
                if (!a) goto done;                                                               \
                x0 = a;                                                                          \
                a = realloc(x1, (size_t)nc * sizeof *a);                                         \
                if (!a) goto done;                                                               \
                x1 = a;                                                                          \
                a = realloc(par, (size_t)nc * sizeof *a);                                        \
                if (!a) goto done;                                                               \
                par = a;                                                                         \
                cap = nc;                                                                        \
            }                                                                                    \
            int32_t r = (int32_t)nr++;                                                           \
            x0[r] = (int32_t)s; x1[r] = (int32_t)x; par[r] = r;                                  \
            /* previous-row runs touching [s, x): skip those ending before s (minus 1 for 8) */  \
            int64_t lo = s - conn8, hi = x + conn8;   /* touch if p.x0 < hi and p.x1 > lo */     \
            while (pr < pe && x1[pr] <= lo) pr++;                                                \
            for (int64_t q = pr; q < pe && x0[q] < hi; q++) {                                    \
                if (!EQ_EXPR(v[(y - 1) * W + x0[q]], c)) continue;                               \
                uf_union(par, r, (int32_t)q);                                                    \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    rowstart[H] = nr;                                                                            \
    {                                                                                            \
        int32_t next = 0;                                                                        \
        for (int64_t r = 0; r < nr; r++) {                                                       \
            int32_t p = par[r];                                                                  \
            par[r] = p == (int32_t)r ? ++next : par[p];   /* par[p] (p < r) is final */        \
        }                                                                                        \
        count = next;                                                                            \
    }                                                                                            \
    for (int64_t y = 0; y < H; y++) {                                                            \
        int32_t *o = out + y * W;                                                                \
        int64_t x = 0;                                                                           \
        for (int64_t r = rowstart[y]; r < rowstart[y + 1]; r++) {                                \
            for (; x < x0[r]; x++) o[x] = 0;                                                     \
            int32_t l = par[r];                                                                  \
            for (; x < x1[r]; x++) o[x] = l;                                                     \
        }                                                                                        \
        for (; x < W; x++) o[x] = 0;                                                             \
    }                                                                                            \
done:                                                                                            \
    free(x0); free(x1); free(par); free(rowstart);                                               \
    return count;                                                                                \
}

RUNS2D(runs2d_u8, uint8_t, EQ_INT)
RUNS2D(runs2d_i32, int32_t, EQ_INT)
RUNS2D(runs2d_f32, float, EQ_FLT)

lt_status lt_classic_label(int32_t *out, int64_t *count, const lt_tensor *in, const int64_t dims[3],
                           int connectivity) {
    int64_t n;
    lt_status st = check_dims(dims, &n);
    if (st != LT_OK) return st;
    const void *data = lt_data(in);
    if (n > 0 && data == NULL) return LT_EFREED;
    const int64_t D = dims[0], H = dims[1], W = dims[2];
    if (D == 1) {
        int64_t c;
        if (in->dtype == LT_UINT8) c = runs2d_u8(out, data, H, W, connectivity >= 2);
        else if (in->dtype == LT_INT32) c = runs2d_i32(out, data, H, W, connectivity >= 2);
        else c = runs2d_f32(out, data, H, W, connectivity >= 2);
        if (c < 0) return LT_ENOMEM;
        *count = c;
        return LT_OK;
    }
    /* volumes: parent is the out array itself during the first pass; roots are the smallest
     * index of their set (linking the larger root below the smaller), so the second pass
     * numbers regions in raster order of their first pixel. */
    int off[13][3];
    int m = prior_neighbors(off, 3, connectivity);
    int32_t *parent = out;
    {
        for (int64_t z = 0; z < D; z++)
            for (int64_t y = 0; y < H; y++) {
                int64_t row = (z * H + y) * W;
                for (int64_t x = 0; x < W; x++) {
                    int64_t i = row + x;
                    if (!nonzero(in, data, i)) { parent[i] = -1; continue; }
                    int32_t root = (int32_t)i;
                    parent[i] = root;
                    for (int k = 0; k < m; k++) {
                        int64_t zz = z + off[k][0], yy = y + off[k][1], xx = x + off[k][2];
                        if (zz < 0 || yy < 0 || xx < 0 || xx >= W || yy >= H) continue;
                        int64_t j = (zz * H + yy) * W + xx;
                        if (parent[j] < 0 || !same_value(in, data, i, j)) continue;
                        int32_t rj = uf_find(parent, (int32_t)j);
                        int32_t ri = uf_find(parent, root);
                        if (ri == rj) continue;
                        if (ri < rj) { parent[rj] = ri; root = ri; }
                        else { parent[ri] = rj; root = rj; }
                    }
                }
            }
    }
    /* Every parent index is <= its node's (links and path halving only point to smaller
     * indices), so in raster order a node's parent already holds its final label. */
    int32_t next = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t p = parent[i];
        if (p < 0) out[i] = 0;
        else if (p == (int32_t)i) out[i] = ++next;
        else out[i] = out[p];
    }
    *count = next;
    return LT_OK;
}

lt_status lt_classic_label_naive(int32_t *out, int64_t *count, const lt_tensor *in,
                                 const int64_t dims[3], int connectivity) {
    int64_t n;
    lt_status st = check_dims(dims, &n);
    if (st != LT_OK) return st;
    const void *data = lt_data(in);
    if (n > 0 && data == NULL) return LT_EFREED;
    int off[26][3];
    int m = lt_classic_neighbors(off, dims[0] == 1 ? 2 : 3, connectivity);
    const int64_t H = dims[1], W = dims[2], D = dims[0];
    int64_t *queue = malloc((size_t)(n > 0 ? n : 1) * sizeof *queue);
    if (!queue) return LT_ENOMEM;
    memset(out, 0, (size_t)n * sizeof *out);
    int32_t next = 0;
    for (int64_t s = 0; s < n; s++) {
        if (out[s] != 0 || !nonzero(in, data, s)) continue;
        int64_t head = 0, tail = 0;
        out[s] = ++next;
        queue[tail++] = s;
        while (head < tail) {
            int64_t i = queue[head++];
            int64_t z = i / (H * W), y = (i / W) % H, x = i % W;
            for (int k = 0; k < m; k++) {
                int64_t zz = z + off[k][0], yy = y + off[k][1], xx = x + off[k][2];
                if (zz < 0 || yy < 0 || xx < 0 || zz >= D || yy >= H || xx >= W) continue;
                int64_t j = (zz * H + yy) * W + xx;
                if (out[j] != 0 || !nonzero(in, data, j) || !same_value(in, data, i, j)) continue;
                out[j] = next;
                queue[tail++] = j;
            }
        }
    }
    free(queue);
    *count = next;
    return LT_OK;
}

lt_status lt_classic_regionprops(int64_t *area, int64_t *bbox, double *sum, const int32_t *labels,
                                 const int64_t dims[3], int64_t maxlabel) {
    const int64_t D = dims[0], H = dims[1], W = dims[2];
    for (int64_t z = 0; z < D; z++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                int64_t l = labels[(z * H + y) * W + x];
                if (l == 0) continue;
                if (l < 0 || l > maxlabel) return LT_EARG;
                int64_t *b = bbox + l * 6;
                if (area[l] == 0) {
                    b[0] = b[3] = z; b[1] = b[4] = y; b[2] = b[5] = x;
                } else {
                    if (z < b[0]) b[0] = z;
                    if (z > b[3]) b[3] = z;
                    if (y < b[1]) b[1] = y;
                    if (y > b[4]) b[4] = y;
                    if (x < b[2]) b[2] = x;
                    if (x > b[5]) b[5] = x;
                }
                area[l]++;
                sum[l * 3] += (double)z;
                sum[l * 3 + 1] += (double)y;
                sum[l * 3 + 2] += (double)x;
            }
    return LT_OK;
}
