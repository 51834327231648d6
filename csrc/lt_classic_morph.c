/* lt_classic_morph.c: binary and grayscale erosion / dilation by any odd footprint in 2-D and
 * 3-D (scikit-image's conventions), by run decomposition and sliding min/max; and the direct
 * reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_classic.h"

/* scipy.ndimage 'reflect' (half-sample symmetric). */
static inline int64_t mirror(int64_t i, int64_t n) {
    if (n == 1) return 0;
    int64_t period = 2 * n;
    i %= period;
    if (i < 0) i += period;
    return i >= n ? period - 1 - i : i;
}

static lt_status check(const int64_t dims[3], const int64_t fdims[3], int64_t *n, int64_t *fn) {
    for (int a = 0; a < 3; a++) {
        if (dims[a] < 0 || fdims[a] < 1) return LT_EARG;
        if (fdims[a] % 2 == 0) return LT_EARG;
    }
    if (lt_mul_ovf(dims[0], dims[1], n) || lt_mul_ovf(*n, dims[2], n)) return LT_EOVERFLOW;
    if (lt_mul_ovf(fdims[0], fdims[1], fn) || lt_mul_ovf(*fn, fdims[2], fn)) return LT_EOVERFLOW;
    return LT_OK;
}

lt_status lt_classic_morph_naive(float *out, const float *in, const int64_t dims[3], const uint8_t *fp,
                                 const int64_t fdims[3], int dilate, int binary) {
    int64_t n, fn;
    lt_status st = check(dims, fdims, &n, &fn);
    if (st != LT_OK) return st;
    const int64_t D = dims[0], H = dims[1], W = dims[2];
    const int64_t cz = fdims[0] / 2, cy = fdims[1] / 2, cx = fdims[2] / 2;
    float empty = binary ? (dilate ? 0.0f : 1.0f) : (dilate ? -INFINITY : INFINITY);
    for (int64_t z = 0; z < D; z++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++) {
                float acc = empty;
                for (int64_t k = 0; k < fn; k++) {
                    if (!fp[k]) continue;
                    int64_t oz = k / (fdims[1] * fdims[2]) - cz, oy = (k / fdims[2]) % fdims[1] - cy,
                            ox = k % fdims[2] - cx;
                    if (binary && dilate) { oz = -oz; oy = -oy; ox = -ox; }
                    int64_t zz = z + oz, yy = y + oy, xx = x + ox;
                    float v;
                    if (zz < 0 || yy < 0 || xx < 0 || zz >= D || yy >= H || xx >= W) {
                        if (binary) v = dilate ? 0.0f : 1.0f;
                        else v = in[(mirror(zz, D) * H + mirror(yy, H)) * W + mirror(xx, W)];
                    } else {
                        v = in[(zz * H + yy) * W + xx];
                    }
                    if (dilate ? v > acc : v < acc) acc = v;
                    else if (v != v) acc = v;   /* NaN propagates like numpy's min/max */
                }
                out[(z * H + y) * W + x] = acc;
            }
    return LT_OK;
}

/* One run of a footprint row: offsets (dz, dy) and columns dx in [a, a + len - 1]. */
typedef struct { int64_t dz, dy, a, len; } run;

static inline float pick(float a, float b, int mx) {
    if (a != a || b != b) return a != a ? a : b;
    return mx ? (a > b ? a : b) : (a < b ? a : b);
}

/* The footprint member at (z, y, x) of the (flipped when flip) footprint. */
static inline int member(const uint8_t *fp, int64_t FZ, int64_t FY, int64_t FX, int64_t z, int64_t y,
                         int64_t x, int flip) {
    if (flip) return fp[((FZ - 1 - z) * FY + (FY - 1 - y)) * FX + (FX - 1 - x)] != 0;
    return fp[(z * FY + y) * FX + x] != 0;
}

static inline uint8_t pick8(uint8_t a, uint8_t b, int mx) { return mx ? (a > b ? a : b) : (a < b ? a : b); }

#define MORPH_IMPL(NAME, SLIDE, T, PICK)\
static void SLIDE(T *s, const T *p, int64_t L, int64_t w, int mx, T *g, T *h) {                    \
    if (w == 1) { memcpy(s, p, (size_t)L * sizeof *s); return; }                                   \
    for (int64_t b = 0; b < L; b += w) {                                                           \
        int64_t e = b + w < L ? b + w : L;                                                         \
        g[b] = p[b];                                                                               \
        for (int64_t i = b + 1; i < e; i++) g[i] = PICK(g[i - 1], p[i], mx);                       \
        h[e - 1] = p[e - 1];                                                                       \
        for (int64_t i = e - 2; i >= b; i--) h[i] = PICK(h[i + 1], p[i], mx);                      \
    }                                                                                              \
    for (int64_t x = 0; x + w <= L; x++) s[x] = PICK(h[x], g[x + w - 1], mx);                      \
}                                                                                                  \
lt_status NAME(T *out, const T *in, const int64_t dims[3], const uint8_t *fp,                      \
                           const int64_t fdims[3], int dilate, int binary) {                       \
    int64_t n, fn;                                                                                 \
    lt_status st = check(dims, fdims, &n, &fn);                                                    \
    if (st != LT_OK) return st;                                                                    \
    const int64_t D = dims[0], H = dims[1], W = dims[2];                                           \
    const int64_t FZ = fdims[0], FY = fdims[1], FX = fdims[2];                                     \
    const int64_t cz = FZ / 2, cy = FY / 2, cx = FX / 2;                                           \
    if (sizeof(T) == 1 && !binary) { return LT_EDTYPE; }   /* uint8: binary only */                \
    T empty = (T)(binary ? (dilate ? 0 : 1) : (dilate ? -INFINITY : INFINITY));                    \
    int flip = binary && dilate;                                                                   \
    /* runs of the (possibly reflected) footprint */                                               \
    int64_t nr = 0, maxr = FZ * FY * ((FX + 1) / 2);                                               \
    run *runs = malloc((size_t)maxr * sizeof *runs);                                               \
    if (!runs) return LT_ENOMEM;                                                                   \
    for (int64_t kz = 0; kz < FZ; kz++)                                                            \
        for (int64_t ky = 0; ky < FY; ky++) {                                                      \
            int64_t kx = 0;                                                                        \
            while (kx < FX) {                                                                      \
                if (!member(fp, FZ, FY, FX, kz, ky, kx, flip)) { kx++; continue; }                                       \
                int64_t s = kx;                                                                    \
                while (kx < FX && member(fp, FZ, FY, FX, kz, ky, kx, flip)) kx++;                                        \
                runs[nr].dz = kz - cz; runs[nr].dy = ky - cy; runs[nr].a = s - cx; runs[nr].len = kx - s;\
                nr++;                                                                              \
            }                                                                                      \
        }                                                                                          \
    /* padded rows: PW = W + 2 cx; a padded row of source row (z, y) is built on demand */         \
    int64_t PW = W + 2 * cx;                                                                       \
    T *acc = out;                                                                                  \
    for (int64_t i = 0; i < n; i++) acc[i] = empty;                                                \
    T *prow = malloc((size_t)PW * sizeof *prow), *srow = malloc((size_t)PW * sizeof *srow);        \
    T *g = malloc((size_t)PW * sizeof *g), *h = malloc((size_t)PW * sizeof *h);                    \
    uint8_t *done = malloc((size_t)(nr > 0 ? nr : 1));                                             \
    if (!prow || !srow || !g || !h || !done) { st = LT_ENOMEM; goto end; }                         \
    memset(done, 0, (size_t)(nr > 0 ? nr : 1));                                                    \
    T border = (T)(dilate ? 0 : 1);                                                                \
    /* one pass per distinct run length: slide over every source row once, then fold the slid row  \
     * into every output row that reads it through a run of that length */                         \
    for (int64_t r0 = 0; r0 < nr; r0++) {                                                          \
        if (done[r0]) continue;                                                                    \
        int64_t w = runs[r0].len;                                                                  \
        /* source rows range over the padded volume in z and y */                                  \
        for (int64_t sz = -cz; sz < D + cz; sz++)                                                  \
            for (int64_t sy = -cy; sy < H + cy; sy++) {                                            \
                int outside = sz < 0 || sy < 0 || sz >= D || sy >= H;                              \
                /* any run of this length that maps this source row into the output? */            \
                int used = 0;                                                                      \
                for (int64_t r = r0; r < nr && !used; r++) {                                       \
                    if (runs[r].len != w) continue;                                                \
                    int64_t z = sz - runs[r].dz, y = sy - runs[r].dy;                              \
                    if (z >= 0 && z < D && y >= 0 && y < H) used = 1;                              \
                }                                                                                  \
                if (!used) continue;                                                               \
                if (binary && outside) {                                                           \
                    for (int64_t x = 0; x < PW; x++) srow[x] = border;                             \
                } else {                                                                           \
                    const T *src = in + ((binary ? sz : mirror(sz, D)) * H + (binary ? sy : mirror(sy, H))) * W;\
                    for (int64_t x = 0; x < PW; x++) {                                             \
                        int64_t xx = x - cx;                                                       \
                        if (xx >= 0 && xx < W) prow[x] = src[xx];                                  \
                        else prow[x] = binary ? border : src[mirror(xx, W)];                       \
                    }                                                                              \
                    SLIDE(srow, prow, PW, w, dilate, g, h);                                        \
                }                                                                                  \
                for (int64_t r = r0; r < nr; r++) {                                                \
                    if (runs[r].len != w) continue;                                                \
                    int64_t z = sz - runs[r].dz, y = sy - runs[r].dy;                              \
                    if (z < 0 || z >= D || y < 0 || y >= H) continue;                              \
                    T *o = acc + (z * H + y) * W;                                                  \
                    /* output x reads source columns x + a .. x + a + w - 1: padded index x + a + cx */\
                    const T *s = srow + runs[r].a + cx;                                            \
                    for (int64_t x = 0; x < W; x++) o[x] = PICK(o[x], s[x], dilate);               \
                }                                                                                  \
            }                                                                                      \
        for (int64_t r = r0; r < nr; r++) if (runs[r].len == w) done[r] = 1;                       \
    }                                                                                              \
end:                                                                                               \
    free(runs); free(prow); free(srow); free(g); free(h); free(done);                              \
    return st;                                                                                     \
}                                                                                                  \

MORPH_IMPL(lt_classic_morph, slide_f32, float, pick)
MORPH_IMPL(lt_classic_morph_u8, slide_u8, uint8_t, pick8)
