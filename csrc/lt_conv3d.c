/* lt_conv3d.c: 3-D convolution and transposed convolution, forward and backward: vol2col
 * blocks + lunet's SGEMM (lt_gemm.h), and the naive direct-loop references (see lt_conv3d.h). */
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <cblas.h>
#include "lt_conv3d.h"
#include "lt_context.h"
#include "lt_gemm.h"
#include "lt_isa.h"
#include "lt_conv.h"

/* Target size of one thread's vol2col block, in floats (256 kB: it stays in L2 between the
 * vol2col pass that writes it and the GEMM that packs it). */
#define COL_FLOATS (64 * 1024)
/* Below this many FLOPs a call runs on one thread (a team costs more than it saves). */
#define SMALL_FLOPS 4.0e6

/* ---------------------------------------------------------------- dims */

static int dims_fit(const lt_conv3d_dims *d) {
    int64_t t;
    const int64_t G = d->groups;
    return !(lt_mul_ovf(d->d, d->h, &t) || lt_mul_ovf(t, d->w, &t) || lt_mul_ovf(t, d->cin, &t) ||
             lt_mul_ovf(t, d->n, &t) || lt_mul_ovf(d->od, d->oh, &t) ||
             lt_mul_ovf(t, d->ow, &t) || lt_mul_ovf(t, d->cout, &t) || lt_mul_ovf(t, d->n, &t) ||
             lt_mul_ovf(d->kd, d->kh, &t) || lt_mul_ovf(t, d->kw, &t) ||
             lt_mul_ovf(t, d->cin / G, &t) || lt_mul_ovf(t, d->cout, &t));
}

static int bad_params(const int64_t k[3], const int64_t s[3], const int64_t p[3],
                      const int64_t dl[3]) {
    for (int i = 0; i < 3; i++)
        if (k[i] < 1 || s[i] < 1 || dl[i] < 1 || p[i] < 0) return 1;
    return 0;
}

lt_status lt_conv3d_dims_init(lt_conv3d_dims *d, int64_t n, int64_t cin, int64_t id, int64_t ih,
                              int64_t iw, int64_t cout, const int64_t k[3], const int64_t s[3],
                              const int64_t p[3], const int64_t dl[3], int64_t groups) {
    if (n < 1 || cin < 1 || id < 1 || ih < 1 || iw < 1 || cout < 1 || groups < 1 ||
        bad_params(k, s, p, dl) || cin % groups || cout % groups)
        return LT_EARG;
    const int64_t in[3] = { id, ih, iw };
    int64_t out[3];
    for (int i = 0; i < 3; i++) {
        int64_t ek, ip;
        if (lt_mul_ovf(dl[i], k[i] - 1, &ek) || lt_add_ovf(ek, 1, &ek) ||
            lt_mul_ovf(p[i], 2, &ip) || lt_add_ovf(ip, in[i], &ip))
            return LT_EOVERFLOW;
        if (ip < ek) return LT_ESHAPE;
        out[i] = (ip - ek) / s[i] + 1;
    }
    d->n = n; d->cin = cin; d->d = id; d->h = ih; d->w = iw;
    d->cout = cout; d->kd = k[0]; d->kh = k[1]; d->kw = k[2];
    d->od = out[0]; d->oh = out[1]; d->ow = out[2];
    d->sd = s[0]; d->sh = s[1]; d->sw = s[2];
    d->pd = p[0]; d->ph = p[1]; d->pw = p[2];
    d->dd = dl[0]; d->dh = dl[1]; d->dw = dl[2];
    d->groups = groups;
    return dims_fit(d) ? LT_OK : LT_EOVERFLOW;
}

lt_status lt_conv_transpose3d_dims_init(lt_conv3d_dims *d, int64_t n, int64_t cin, int64_t id,
                                        int64_t ih, int64_t iw, int64_t cout, const int64_t k[3],
                                        const int64_t s[3], const int64_t p[3],
                                        const int64_t op[3], const int64_t dl[3],
                                        int64_t groups) {
    if (n < 1 || cin < 1 || id < 1 || ih < 1 || iw < 1 || cout < 1 || groups < 1 ||
        bad_params(k, s, p, dl) || cin % groups || cout % groups)
        return LT_EARG;
    const int64_t in[3] = { id, ih, iw };
    int64_t out[3];
    for (int i = 0; i < 3; i++) {
        if (op[i] < 0 || (op[i] >= s[i] && op[i] >= dl[i])) return LT_EARG;
        int64_t o, ek, p2;
        if (lt_mul_ovf(in[i] - 1, s[i], &o) || lt_mul_ovf(dl[i], k[i] - 1, &ek) ||
            lt_add_ovf(o, ek, &o) || lt_add_ovf(o, op[i] + 1, &o) || lt_mul_ovf(p[i], 2, &p2) ||
            lt_sub_ovf(o, p2, &o))
            return LT_EOVERFLOW;
        if (o < 1) return LT_ESHAPE;
        out[i] = o;
    }
    /* the adjoint convolution: (N, cout, out) -> (N, cin, in) */
    d->n = n; d->cin = cout; d->d = out[0]; d->h = out[1]; d->w = out[2];
    d->cout = cin; d->kd = k[0]; d->kh = k[1]; d->kw = k[2];
    d->od = id; d->oh = ih; d->ow = iw;
    d->sd = s[0]; d->sh = s[1]; d->sw = s[2];
    d->pd = p[0]; d->ph = p[1]; d->pw = p[2];
    d->dd = dl[0]; d->dh = dl[1]; d->dw = dl[2];
    d->groups = groups;
    return dims_fit(d) ? LT_OK : LT_EOVERFLOW;
}

/* ---------------------------------------------------------------- helpers */

/* Bytes of a * b floats, or 0 when that overflows. */
static size_t floats_bytes(int64_t a, int64_t b) {
    int64_t n;
    if (lt_mul_ovf(a, b, &n) || lt_mul_ovf(n, (int64_t)sizeof(float), &n) || n < 0 ||
        (uint64_t)n > (uint64_t)SIZE_MAX - 128)
        return 0;
    return (size_t)n;
}

static int64_t round16(int64_t v) { return (v + 15) / 16 * 16; }

/* Output columns ox in [*lo, *hi) read input column ox * s + off inside [0, w). */
static void valid_range(int64_t off, int64_t s, int64_t w, int64_t ow, int64_t *lo,
                        int64_t *hi) {
    int64_t l = off >= 0 ? 0 : -off / s + (-off % s != 0);
    int64_t h = (w - 1 - off) < 0 ? 0 : (w - 1 - off) / s + 1;
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l; *hi = h;
}

static int is_pointwise(const lt_conv3d_dims *d) {
    return d->kd == 1 && d->kh == 1 && d->kw == 1 && d->sd == 1 && d->sh == 1 && d->sw == 1 &&
           d->pd == 0 && d->ph == 0 && d->pw == 0;
}

/* Columns per block: whole output rows (multiples of OW), about COL_FLOATS of K-row column
 * matrix but at least MIN_COLS columns (the GEMM's rate drops below ~200), at most S. */
#define MIN_COLS 192
static int64_t block_cols(int64_t K, int64_t S, int64_t ow) {
    int64_t t = COL_FLOATS / (K > 0 ? K : 1);
    if (t < MIN_COLS) t = MIN_COLS;
    int64_t nb = (t + ow / 2) / ow * ow;
    if (nb < ow) nb = ow;
    return nb < S ? nb : S;
}

/* vol2col (add = 0) or col2vol (add = 1) for the whole output rows [r0, r1) (row = oz * OH +
 * oy) of one image's group x (cing, D, H, W): column j, row ((c * kd + a) * kh + b) * kw + e
 * of col (K, (r1 - r0) * OW) holds x[c, oz*sd - pd + a*dd, oy*sh - ph + b*dh, ox*sw - pw + e*dw]
 * (0 outside) for the output position r0 * OW + j. col2vol adds the columns back. */
static void vol_cols(float *col, float *x, int64_t cing, const lt_conv3d_dims *d, int64_t r0,
                     int64_t r1, int add) {
    const int64_t ow = d->ow, nb = (r1 - r0) * ow, hw = d->h * d->w;
    int64_t r = 0;
    for (int64_t c = 0; c < cing; c++)
        for (int64_t a = 0; a < d->kd; a++)
            for (int64_t bb = 0; bb < d->kh; bb++)
                for (int64_t e = 0; e < d->kw; e++, r++) {
                    float *dst = col + r * nb;
                    float *xc = x + c * d->d * hw;
                    const int64_t offz = a * d->dd - d->pd, offy = bb * d->dh - d->ph;
                    const int64_t offx = e * d->dw - d->pw;
                    int64_t lo, hi;
                    valid_range(offx, d->sw, d->w, ow, &lo, &hi);
                    int64_t oz = r0 / d->oh, oy = r0 - oz * d->oh;
                    for (int64_t row = r0; row < r1; row++) {
                        float *o = dst + (row - r0) * ow;
                        const int64_t iz = oz * d->sd + offz, iy = oy * d->sh + offy;
                        if (iz < 0 || iz >= d->d || iy < 0 || iy >= d->h) {
                            if (!add) memset(o, 0, (size_t)ow * sizeof(float));
                        } else {
                            float *src = xc + (iz * d->h + iy) * d->w + offx;
                            if (!add) {
                                for (int64_t ox = 0; ox < lo; ox++) o[ox] = 0.0f;
                                if (d->sw == 1)
                                    memcpy(o + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
                                else
                                    for (int64_t ox = lo; ox < hi; ox++) o[ox] = src[ox * d->sw];
                                for (int64_t ox = hi; ox < ow; ox++) o[ox] = 0.0f;
                            } else if (d->sw == 1) {
                                for (int64_t ox = lo; ox < hi; ox++) src[ox] += o[ox];
                            } else {
                                for (int64_t ox = lo; ox < hi; ox++) src[ox * d->sw] += o[ox];
                            }
                        }
                        if (++oy == d->oh) { oy = 0; oz++; }
                    }
                }
}

/* The GEMM ISA for ctx: the convolution ISA the context forces (lt_conv_set_isa: the specs
 * run AVX2 on an AVX-512 CPU), else the best; -1 (OpenBLAS) on CPUs without AVX2 or when the
 * context's ISA level is generic (LUNET_ISA=generic, lunet.core.set_isa). */
static int gemm_isa(const lt_context *ctx) {
    if (lt_gemm_best_isa() == LT_GEMM_GENERIC || lt_ctx_isa(ctx) == LT_ISA_GENERIC) return -1;
    const int isa = lt_ctx_conv_isa(ctx);
    return isa == LT_CONV_ISA_AVX2 ? LT_GEMM_AVX2
         : isa == LT_CONV_ISA_AVX512 ? LT_GEMM_AVX512 : lt_gemm_best_isa();
}

/* C = A B (+ beta C) on the calling thread: lunet's SGEMM, OpenBLAS (see gemm_isa). */
static void gemm(const lt_context *ctx, int ta, int tb, int64_t m, int64_t n, int64_t k,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc, void *scratch) {
    const int isa = gemm_isa(ctx);
    if (isa >= 0 &&
        lt_gemm(isa, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc, scratch) == LT_OK)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* Floats of GEMM scratch for the products of shapes {coutg, K, nb} in any order. */
static int64_t gemm_floats(const lt_context *ctx, int64_t coutg, int64_t K, int64_t nb) {
    const int gi = gemm_isa(ctx), isa = gi >= 0 ? gi : LT_GEMM_AUTO;
    size_t a = lt_gemm_scratch_size(isa, coutg, nb, K);
    size_t b = lt_gemm_scratch_size(isa, coutg, K, nb);
    size_t c = lt_gemm_scratch_size(isa, K, nb, coutg);
    size_t e = lt_gemm_scratch_size(isa, K, coutg, nb);
    if (b > a) a = b;
    if (c > a) a = c;
    if (e > a) a = e;
    return round16((int64_t)(a / sizeof(float)) + 1);
}

/* The team size: 1 inside a parallel region or for small work. OpenBLAS (the fallback on
 * CPUs without AVX2) keeps its own pool quiet inside the team. */
typedef struct { int nt, saved_blas; } team;

static team team_begin(const lt_context *ctx, int64_t units, double flops) {
    team t = { 1, 0 };
    int n = lt_ctx_num_threads(ctx);
    if (n > 1 && omp_get_active_level() == 0 && flops >= SMALL_FLOPS && units > 1) {
        t.nt = units < n ? (int)units : n;
        if (gemm_isa(ctx) < 0) {
            t.saved_blas = openblas_get_num_threads();
            if (t.saved_blas != 1) openblas_set_num_threads(1);
        }
    }
    return t;
}

static void team_end(team t) {
    if (t.saved_blas > 1) openblas_set_num_threads(t.saved_blas);
}

/* Per-thread scratch of `per` floats each for nt threads (64-byte aligned slices). */
static float *thread_scratch(lt_context *ctx, int slot, int nt, int64_t per, lt_status *st) {
    const size_t nb = floats_bytes(per, nt);
    if (!nb) { *st = LT_EOVERFLOW; return NULL; }
    float *buf = lt_ctx_scratch(ctx, slot, nb);
    if (!buf) *st = LT_ENOMEM;
    return buf;
}

/* ---------------------------------------------------------------- fast kernels */

/* 2-D columns of input plane iz for the output rows [y0, y1) of every output plane: row
 * (c * kh + b) * kw + e of col (cing * kh * kw, (y1 - y0) * OW) holds
 * x[c, iz, oy*sh - ph + b*dh, ox*sw - pw + e*dw] (0 outside). */
static void plane_cols(float *col, const float *x, int64_t cing, const lt_conv3d_dims *d,
                       int64_t iz, int64_t y0, int64_t y1) {
    const int64_t ow = d->ow, nb = (y1 - y0) * ow, V = d->d * d->h * d->w;
    int64_t r = 0;
    for (int64_t c = 0; c < cing; c++) {
        const float *xp = x + c * V + iz * d->h * d->w;
        for (int64_t bb = 0; bb < d->kh; bb++)
            for (int64_t e = 0; e < d->kw; e++, r++) {
                float *dst = col + r * nb;
                const int64_t offy = bb * d->dh - d->ph, offx = e * d->dw - d->pw;
                int64_t lo, hi;
                valid_range(offx, d->sw, d->w, ow, &lo, &hi);
                for (int64_t oy = y0; oy < y1; oy++) {
                    float *o = dst + (oy - y0) * ow;
                    const int64_t iy = oy * d->sh + offy;
                    if (iy < 0 || iy >= d->h) {
                        memset(o, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    const float *src = xp + iy * d->w + offx;
                    for (int64_t ox = 0; ox < lo; ox++) o[ox] = 0.0f;
                    if (d->sw == 1)
                        memcpy(o + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int64_t ox = lo; ox < hi; ox++) o[ox] = src[ox * d->sw];
                    for (int64_t ox = hi; ox < ow; ox++) o[ox] = 0.0f;
                }
            }
    }
}

/* The number of row blocks of an output plane for conv_fwd_planes / conv_bwd_weight_planes:
 * blocks of about block_cols columns but at least minc (or the whole plane), the rows spread
 * evenly over them. The weight gradient takes longer blocks (DW_MIN_COLS): its GEMM sums over
 * the columns into a (K2, Cout/g) accumulator that is read and written once per call, so a
 * longer sum moves less (384->128 at 16^3: 7% less CPU time than with 192 columns), while the
 * forward GEMMs (Cout/g rows) were measured slower with longer blocks at 32^3. */
#define DW_MIN_COLS 512
static int64_t row_blocks(int64_t K2, const lt_conv3d_dims *d, int64_t minc) {
    int64_t t = block_cols(K2, d->oh * d->ow, d->ow);
    if (t < minc) t = minc < d->oh * d->ow ? minc : d->oh * d->ow;
    int64_t rb = t / d->ow;
    if (rb < 1) rb = 1;
    return (d->oh + rb - 1) / rb;
}

/* ---------------------------------------------------------------- Winograd F(2x2x2, 3x3x3)
 *
 * For 3x3x3 convolutions with unit strides and dilations and one group. A 2x2x2 output tile
 * is A^T [ (G g G^T) . (B^T d B) ] A per dimension, d the 4x4x4 input patch at 2 * tile -
 * padding (zero outside), with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1],
 * so the channel sums become 64 GEMMs, one per transformed position xi:
 *   M[xi] (Cout, tiles) = U[xi] (Cout, Cin) V[xi] (Cin, tiles),
 * 64 multiply-adds per tile and channel pair instead of 216. The weight gradient is the
 * adjoint: dW[xi] (Cout, Cin) += (A dy A^T)[xi] (Cout, tiles) V[xi]^T, then G^T . G per
 * dimension back to 3x3x3. Tiles run in blocks of up to WINO_TILES over the whole batch, so
 * small volumes still give GEMMs of many columns. The forward runs each block on one thread
 * (its V and M stay in that core's cache; no barrier per block). The weight gradient splits
 * each block's transforms over the team by groups of 16 tiles (the lanes of the vectorised
 * transforms) and its 64 GEMMs by xi, so every xi is summed by one thread in block order.
 * Batches of at most WINO_SMALL_TILES tiles (the U-Net's 8^3 layers: 128) are one block, in
 * the forward too: transforms split by groups, GEMMs by xi. The input gradient (the gather
 * convolution with the flipped kernel) uses the transform of w itself, transposed and read at
 * the flipped positions (wino_flip_xi). Layouts keep xi next to the innermost dimension:
 * U (Cout, 64, Cin), V (Cin, 64, tiles), M and Dy (Cout, 64, tiles), the weight-gradient
 * accumulator (Cout, 64, Cin): a transform writes one contiguous run per channel, and the
 * GEMMs read U[xi], V[xi] and M[xi] with leading dimensions 64 times as long. Rows of fewer
 * than WL tiles (a group of lanes spans rows, planes or images) gather their patches with
 * clamped offsets and selects (win_gather_v) instead of a bounds test per element. */
#define WL 16                          /* tiles per transform call (vector lanes) */

typedef struct {
    int64_t tz, ty, tx, per;   /* tiles per dimension and per image */
    int64_t nt;                /* tiles in the batch */
} wtiles;

static int wino_shape(const lt_conv3d_dims *d) {
    return d->kd == 3 && d->kh == 3 && d->kw == 3 && d->sd == 1 && d->sh == 1 && d->sw == 1 &&
           d->dd == 1 && d->dh == 1 && d->dw == 1 && d->groups == 1;
}

/* The Winograd kernels serve a conv when forced (conv_set_algo "direct") or, in AUTO, for
 * enough channels on both sides that the transforms are paid for; never when forced to
 * "gemm". */
static int use_wino(const lt_context *ctx, const lt_conv3d_dims *d) {
    if (!wino_shape(d)) return 0;
    const int algo = lt_ctx_conv_algo(ctx);
    if (algo == LT_CONV_DIRECT) return 1;
    if (algo != LT_CONV_AUTO) return 0;
    return d->cin >= 16 && d->cout >= 16;
}

static wtiles wino_tiles(const lt_conv3d_dims *d) {
    wtiles t;
    t.tz = (d->od + 1) / 2; t.ty = (d->oh + 1) / 2; t.tx = (d->ow + 1) / 2;
    t.per = t.tz * t.ty * t.tx;
    t.nt = d->n * t.per;
    return t;
}

/* Tiles per block: WINO_TILES (V and M of a block then stay near the core: 64 * (Cin + Cout)
 * floats per tile), at most the batch's tiles rounded up to whole lane groups. Measured on
 * the 3-D U-Net shapes (Zen 4, 1 MB L2): 48 and 144 tiles were slower than 96, and sizing
 * the block to 4 or 12 MB instead was up to 2x slower at 64 channels. */
#define WINO_TILES 96
static int64_t wino_block(int64_t ntiles) {
    const int64_t all = (ntiles + WL - 1) / WL * WL;
    return WINO_TILES < all ? WINO_TILES : all;
}

/* Tiles per block when each thread of nt runs whole blocks: WINO_TILES, or 80 or 64 when that
 * spreads the blocks more evenly over the threads (the slowest thread's tiles, rounded to
 * whole blocks, at least 10% fewer); for fewer than nt * WINO_TILES tiles, the tiles split
 * evenly over the threads in whole lane groups. */
static int64_t wino_block_split(int64_t ntiles, int nt) {
    if (ntiles < nt * WINO_TILES) {
        const int64_t per = (ntiles + nt - 1) / nt;
        return (per + WL - 1) / WL * WL;
    }
    int64_t best = WINO_TILES, cost = ((ntiles + WINO_TILES - 1) / WINO_TILES + nt - 1) / nt * WINO_TILES;
    for (int64_t c = 80; c >= 64; c -= 16) {
        const int64_t k = ((ntiles + c - 1) / c + nt - 1) / nt * c;
        if (k * 10 < cost * 9) { best = c; cost = k; }
    }
    return best;
}

/* *out = 64 * a * b rounded up to 16 (floats of a transformed block); 1 on overflow. */
static int wino_floats(int64_t a, int64_t b, int64_t *out) {
    int64_t t;
    if (lt_mul_ovf(a, b, &t) || lt_mul_ovf(t, 64, &t) || t > INT64_MAX - 16) return 1;
    *out = round16(t);
    return 0;
}

/* One lane's tile: image, patch origin (tile * 2 - padding) and output origin. */
typedef struct { int64_t n, z, y, x; } wlane;

static int wino_lanes(wlane *ln, const wtiles *tl, int64_t t, int64_t tend) {
    int nl = 0;
    for (; nl < WL && t < tend; nl++, t++) {
        const int64_t n = t / tl->per, r = t - n * tl->per;
        const int64_t z = r / (tl->ty * tl->tx), r2 = r - z * tl->ty * tl->tx;
        const int64_t y = r2 / tl->tx;
        ln[nl].n = n; ln[nl].z = 2 * z; ln[nl].y = 2 * y; ln[nl].x = 2 * (r2 - y * tl->tx);
    }
    return nl;
}

/* B^T on the lines r0..r3 of WL lanes, in place. */
#define WIN_BT(r0, r1, r2, r3)                                                                  \
    for (int l = 0; l < WL; l++) {                                                              \
        const float d0 = (r0)[l], d1 = (r1)[l], d2 = (r2)[l], d3 = (r3)[l];                     \
        (r0)[l] = d0 - d2; (r1)[l] = d1 + d2; (r2)[l] = d2 - d1; (r3)[l] = d1 - d3;             \
    }

/* p[64][WL] (index (i * 4 + j) * 4 + k) -> B^T along k, j and i, stored to v + xi * xs
 * (nl lanes). */
static inline LT_ISA_INLINE void win_in_tf_body(float *restrict p, float *restrict v, int64_t xs,
                                                int nl) {
    for (int q = 0; q < 16; q++) {
        float *r = p + q * 4 * WL;
        WIN_BT(r, r + WL, r + 2 * WL, r + 3 * WL)
    }
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++) {
            float *r = p + (i * 16 + k) * WL;
            WIN_BT(r, r + 4 * WL, r + 8 * WL, r + 12 * WL)
        }
    for (int q = 0; q < 16; q++) {
        float *r = p + q * WL;
        WIN_BT(r, r + 16 * WL, r + 32 * WL, r + 48 * WL)
    }
    if (nl == WL)
        for (int k = 0; k < 64; k++)
            for (int l = 0; l < WL; l++) v[k * xs + l] = p[k * WL + l];
    else
        for (int k = 0; k < 64; k++)
            for (int l = 0; l < nl; l++) v[k * xs + l] = p[k * WL + l];
}
LT_ISA_VARIANTS(win_in_tf, (float *restrict p, float *restrict v, int64_t xs, int nl),
                (p, v, xs, nl))

/* The 4x4x4 patches of WL tiles side by side in one row of tiles: lane l's patch starts at
 * src + 2 * l (rows hw and W apart), columns outside [lo, hi) of the RS the row covers are
 * zero (padding: their loads stay inside the caller's buffer, their values are discarded);
 * gathered with stride-2 vector loads, then as win_in_tf. */
static inline LT_ISA_INLINE void win_in_row_body(const float *restrict src, int64_t hw,
                                                 int64_t W, int lo, int hi, float *restrict p,
                                                 float *restrict v, int64_t xs) {
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            const float *r = src + a * hw + b * W;
            float *o = p + (a * 16 + b * 4) * WL;
            for (int e = 0; e < 4; e++)
                for (int l = 0; l < WL; l++) {
                    const float t = r[2 * l + e];
                    o[e * WL + l] = (2 * l + e >= lo && 2 * l + e < hi) ? t : 0.0f;
                }
        }
    win_in_tf_body(p, v, xs, WL);
}
LT_ISA_VARIANTS(win_in_row, (const float *restrict src, int64_t hw, int64_t W, int lo, int hi,
                             float *restrict p, float *restrict v, int64_t xs),
                (src, hw, W, lo, hi, p, v, xs))

/* The 16 rows (a, b) of RS = 2 * WL + 2 columns the patches of a row of WL tiles cover, from
 * channel plane xc (D, H, W) at origin (z0, y0, x0), zero outside; columns [lo, hi) are
 * inside the row. Branch-free selects (masked loads), no library calls. */
#define RS (2 * WL + 2)
static inline LT_ISA_INLINE void win_stage_body(float *restrict stage, const float *restrict xc,
                                                int64_t z0, int64_t y0, int64_t x0, int64_t D,
                                                int64_t H, int64_t W, int64_t lo, int64_t hi) {
    for (int r = 0; r < 16; r++) {
        float *o = stage + r * RS;
        const int64_t iz = z0 + r / 4, iy = y0 + r % 4;
        if (iz < 0 || iz >= D || iy < 0 || iy >= H) {
            for (int k = 0; k < RS; k++) o[k] = 0.0f;
            continue;
        }
        const float *src = xc + (iz * H + iy) * W + x0;
        for (int k = 0; k < RS; k++) o[k] = (k >= lo && k < hi) ? src[k] : 0.0f;
    }
}
LT_ISA_VARIANTS(win_stage, (float *restrict stage, const float *restrict xc, int64_t z0,
                            int64_t y0, int64_t x0, int64_t D, int64_t H, int64_t W, int64_t lo,
                            int64_t hi), (stage, xc, z0, y0, x0, D, H, W, lo, hi))

/* m[64][WL] (read from src + xi * xs, nl lanes) -> y[8][WL] (index (p * 2 + q) * 2 + r):
 * A^T along k, j and i. */
static inline LT_ISA_INLINE void win_out_tf_body(const float *restrict src, int64_t xs, int nl,
                                                 float *restrict y) {
    float m[64 * WL], t1[32 * WL], t2[16 * WL];
    if (nl == WL)
        for (int k = 0; k < 64; k++)
            for (int l = 0; l < WL; l++) m[k * WL + l] = src[k * xs + l];
    else
        for (int k = 0; k < 64; k++)
            for (int l = 0; l < WL; l++) m[k * WL + l] = l < nl ? src[k * xs + l] : 0.0f;
    for (int q = 0; q < 16; q++) {   /* along k: (i, j, k) -> (i, j, r) */
        const float *a = m + q * 4 * WL;
        for (int l = 0; l < WL; l++) {
            t1[(q * 2) * WL + l] = a[l] + a[WL + l] + a[2 * WL + l];
            t1[(q * 2 + 1) * WL + l] = a[WL + l] - a[2 * WL + l] - a[3 * WL + l];
        }
    }
    for (int i = 0; i < 4; i++)      /* along j: (i, j, r) -> (i, q, r) */
        for (int r = 0; r < 2; r++) {
            const float *a = t1 + (i * 8 + r) * WL;
            for (int l = 0; l < WL; l++) {
                t2[((i * 2) * 2 + r) * WL + l] = a[l] + a[2 * WL + l] + a[4 * WL + l];
                t2[((i * 2 + 1) * 2 + r) * WL + l] = a[2 * WL + l] - a[4 * WL + l] - a[6 * WL + l];
            }
        }
    for (int q = 0; q < 4; q++) {    /* along i: (i, q, r) -> (p, q, r) */
        const float *a = t2 + q * WL;
        for (int l = 0; l < WL; l++) {
            y[q * WL + l] = a[l] + a[4 * WL + l] + a[8 * WL + l];
            y[(4 + q) * WL + l] = a[4 * WL + l] - a[8 * WL + l] - a[12 * WL + l];
        }
    }
}
LT_ISA_VARIANTS(win_out_tf, (const float *restrict src, int64_t xs, int nl, float *restrict y),
                (src, xs, nl, y))

/* g[8][WL] (a 2x2x2 output-gradient tile) -> p[64][WL]: A along r, q and p
 * (u0, u1) -> (u0, u0 + u1, u0 - u1, -u1), stored to v + xi * xs (nl lanes). */
static inline LT_ISA_INLINE void win_dy_tf_body(const float *restrict g, float *restrict p,
                                                float *restrict v, int64_t xs, int nl) {
    float t1[16 * WL], t2[32 * WL];
    for (int q = 0; q < 4; q++) {    /* along r: (p, q, r) -> (p, q, k) */
        const float *a = g + q * 2 * WL;
        float *o = t1 + q * 4 * WL;
        for (int l = 0; l < WL; l++) {
            const float u0 = a[l], u1 = a[WL + l];
            o[l] = u0; o[WL + l] = u0 + u1; o[2 * WL + l] = u0 - u1; o[3 * WL + l] = -u1;
        }
    }
    for (int pp = 0; pp < 2; pp++)   /* along q: (p, q, k) -> (p, j, k) */
        for (int k = 0; k < 4; k++) {
            const float *a = t1 + (pp * 8 + k) * WL;
            float *o = t2 + (pp * 16 + k) * WL;
            for (int l = 0; l < WL; l++) {
                const float u0 = a[l], u1 = a[4 * WL + l];
                o[l] = u0; o[4 * WL + l] = u0 + u1; o[8 * WL + l] = u0 - u1; o[12 * WL + l] = -u1;
            }
        }
    for (int q = 0; q < 16; q++) {   /* along p: (p, j, k) -> (i, j, k) */
        const float *a = t2 + q * WL;
        float *o = p + q * WL;
        for (int l = 0; l < WL; l++) {
            const float u0 = a[l], u1 = a[16 * WL + l];
            o[l] = u0; o[16 * WL + l] = u0 + u1; o[32 * WL + l] = u0 - u1; o[48 * WL + l] = -u1;
        }
    }
    if (nl == WL)
        for (int k = 0; k < 64; k++)
            for (int l = 0; l < WL; l++) v[k * xs + l] = p[k * WL + l];
    else
        for (int k = 0; k < 64; k++)
            for (int l = 0; l < nl; l++) v[k * xs + l] = p[k * WL + l];
}
LT_ISA_VARIANTS(win_dy_tf, (const float *restrict g, float *restrict p, float *restrict v,
                            int64_t xs, int nl), (g, p, v, xs, nl))

/* U (R, 64, n2) [r][xi] = G g G^T of the 3x3x3 kernels g at w + r * rs + c * ls (c < n2),
 * for one r, WL kernels c at a time (the lanes): G maps (g0, g1, g2) to
 * (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2). For w (Cout, Cin, 3, 3, 3): r = co,
 * rs = 27 Cin, ls = 27 gives U (Cout, 64, Cin); r = ci, rs = 27, ls = 27 Cin gives the
 * transposed U (Cin, 64, Cout). */
static inline LT_ISA_INLINE void win_w_tf_body(float *restrict U, const float *restrict w,
                                               int64_t n2, int64_t rs, int64_t ls, int64_t r) {
    float g[27 * WL], a[36 * WL], b[48 * WL], u[64 * WL];
    const int64_t xs = n2;
    for (int64_t c0 = 0; c0 < n2; c0 += WL) {
        const int nl = n2 - c0 < WL ? (int)(n2 - c0) : WL;
        const float *src = w + r * rs + c0 * ls;
        for (int t = 0; t < 27; t++)
            for (int l = 0; l < WL; l++) g[t * WL + l] = l < nl ? src[l * ls + t] : 0.0f;
        for (int q = 0; q < 9; q++)   /* along i: (a, b, c) -> (i, b, c) */
            for (int l = 0; l < WL; l++) {
                const float g0 = g[q * WL + l], g1 = g[(9 + q) * WL + l], g2 = g[(18 + q) * WL + l];
                a[q * WL + l] = g0; a[(9 + q) * WL + l] = 0.5f * (g0 + g1 + g2);
                a[(18 + q) * WL + l] = 0.5f * (g0 - g1 + g2); a[(27 + q) * WL + l] = g2;
            }
        for (int i = 0; i < 4; i++)   /* along j: (i, b, c) -> (i, j, c) */
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < WL; l++) {
                    const float g0 = a[(i * 9 + k) * WL + l], g1 = a[(i * 9 + 3 + k) * WL + l];
                    const float g2 = a[(i * 9 + 6 + k) * WL + l];
                    b[(i * 12 + k) * WL + l] = g0; b[(i * 12 + 3 + k) * WL + l] = 0.5f * (g0 + g1 + g2);
                    b[(i * 12 + 6 + k) * WL + l] = 0.5f * (g0 - g1 + g2); b[(i * 12 + 9 + k) * WL + l] = g2;
                }
        for (int q = 0; q < 16; q++)  /* along k: (i, j, c) -> (i, j, k) */
            for (int l = 0; l < WL; l++) {
                const float g0 = b[(q * 3) * WL + l], g1 = b[(q * 3 + 1) * WL + l];
                const float g2 = b[(q * 3 + 2) * WL + l];
                u[(q * 4) * WL + l] = g0; u[(q * 4 + 1) * WL + l] = 0.5f * (g0 + g1 + g2);
                u[(q * 4 + 2) * WL + l] = 0.5f * (g0 - g1 + g2); u[(q * 4 + 3) * WL + l] = g2;
            }
        float *dst = U + r * 64 * n2 + c0;
        if (nl == WL)   /* whole vectors (a variable count would become a memcpy call per row) */
            for (int k = 0; k < 64; k++)
                for (int l = 0; l < WL; l++) dst[k * xs + l] = u[k * WL + l];
        else
            for (int k = 0; k < 64; k++)
                for (int l = 0; l < nl; l++) dst[k * xs + l] = u[k * WL + l];
    }
}
LT_ISA_VARIANTS(win_w_tf, (float *restrict U, const float *restrict w, int64_t n2, int64_t rs,
                           int64_t ls, int64_t r), (U, w, n2, rs, ls, r))

/* dw (Cout, Cin, 3, 3, 3) += G^T acc G per dimension for the output channel co, acc
 * (64, Cout, Cin), WL input channels at a time: (u0..u3) -> (u0 + (u1 + u2) / 2,
 * (u1 - u2) / 2, (u1 + u2) / 2 + u3). */
static inline LT_ISA_INLINE void win_w_back_body(float *restrict dw, const float *restrict acc,
                                                 int64_t cin, int64_t co) {
    float u[64 * WL], a[48 * WL], b[36 * WL];
    const int64_t xs = cin;
    for (int64_t c0 = 0; c0 < cin; c0 += WL) {
        const int nl = cin - c0 < WL ? (int)(cin - c0) : WL;
        const float *src = acc + co * 64 * cin + c0;
        for (int k = 0; k < 64; k++)
            for (int l = 0; l < WL; l++) u[k * WL + l] = l < nl ? src[k * xs + l] : 0.0f;
        for (int q = 0; q < 16; q++)  /* along k: (i, j, k) -> (i, j, c) */
            for (int l = 0; l < WL; l++) {
                const float u0 = u[(q * 4) * WL + l], u1 = u[(q * 4 + 1) * WL + l];
                const float u2 = u[(q * 4 + 2) * WL + l], u3 = u[(q * 4 + 3) * WL + l];
                a[(q * 3) * WL + l] = u0 + 0.5f * (u1 + u2); a[(q * 3 + 1) * WL + l] = 0.5f * (u1 - u2);
                a[(q * 3 + 2) * WL + l] = 0.5f * (u1 + u2) + u3;
            }
        for (int i = 0; i < 4; i++)   /* along j: (i, j, c) -> (i, b, c) */
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < WL; l++) {
                    const float u0 = a[(i * 12 + k) * WL + l], u1 = a[(i * 12 + 3 + k) * WL + l];
                    const float u2 = a[(i * 12 + 6 + k) * WL + l], u3 = a[(i * 12 + 9 + k) * WL + l];
                    b[(i * 9 + k) * WL + l] = u0 + 0.5f * (u1 + u2);
                    b[(i * 9 + 3 + k) * WL + l] = 0.5f * (u1 - u2);
                    b[(i * 9 + 6 + k) * WL + l] = 0.5f * (u1 + u2) + u3;
                }
        float *dst = dw + (co * cin + c0) * 27;
        for (int q = 0; q < 9; q++)   /* along i: (i, b, c) -> (a, b, c), added into dw */
            for (int l = 0; l < nl; l++) {
                const float u0 = b[q * WL + l], u1 = b[(9 + q) * WL + l];
                const float u2 = b[(18 + q) * WL + l], u3 = b[(27 + q) * WL + l];
                dst[l * 27 + q] += u0 + 0.5f * (u1 + u2);
                dst[l * 27 + 9 + q] += 0.5f * (u1 - u2);
                dst[l * 27 + 18 + q] += 0.5f * (u1 + u2) + u3;
            }
    }
}
LT_ISA_VARIANTS(win_w_back, (float *restrict dw, const float *restrict acc, int64_t cin,
                             int64_t co), (dw, acc, cin, co))

/* p[64][WL] = the 4x4x4 patches of channel c (x is (N, C, D, H, W)) of the nl lanes,
 * origins lane - padding, zero outside and in the unused lanes. */
static void win_gather(float *restrict p, const float *x, const lt_conv3d_dims *d, int64_t c,
                       const wlane *ln, int nl) {
    const int64_t H = d->h, W = d->w, hw = H * W, V = d->d * hw;
    for (int l = 0; l < nl; l++) {
        const int64_t z0 = ln[l].z - d->pd, y0 = ln[l].y - d->ph, x0 = ln[l].x - d->pw;
        const float *xc = x + (ln[l].n * d->cin + c) * V;
        if (z0 >= 0 && y0 >= 0 && x0 >= 0 && z0 + 4 <= d->d && y0 + 4 <= H && x0 + 4 <= W) {
            const float *s = xc + z0 * hw + y0 * W + x0;
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) {
                    const float *r = s + a * hw + b * W;
                    float *o = p + (a * 16 + b * 4) * WL + l;
                    o[0] = r[0]; o[WL] = r[1]; o[2 * WL] = r[2]; o[3 * WL] = r[3];
                }
        } else {
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++)
                    for (int e = 0; e < 4; e++) {
                        const int64_t iz = z0 + a, iy = y0 + b, ix = x0 + e;
                        const int in = iz >= 0 && iz < d->d && iy >= 0 && iy < H && ix >= 0 && ix < W;
                        p[(a * 16 + b * 4 + e) * WL + l] = in ? xc[iz * hw + iy * W + ix] : 0.0f;
                    }
        }
    }
    for (int l = nl; l < WL; l++)
        for (int k = 0; k < 64; k++) p[k * WL + l] = 0.0f;
}

/* win_gather with vector gathers, for lanes anywhere (rows of fewer than WL tiles: a group
 * spans several tile rows, planes or images): p[(r * 4 + e) * WL + l] = xc[zy[r][l] + xo[e][l]]
 * where mzy[r][l] & mx[e][l], else 0. The offsets are of coordinates clamped into the volume,
 * so every load is inside x (no bounds test per element; the lanes outside are selected to
 * zero); int32 (the caller checks that x's element count fits). */
static inline LT_ISA_INLINE void win_gather_v_body(float *restrict p, const float *restrict xc,
                                                   const int32_t *restrict zy,
                                                   const int32_t *restrict xo,
                                                   const int32_t *restrict mzy,
                                                   const int32_t *restrict mx) {
    for (int r = 0; r < 16; r++)
        for (int e = 0; e < 4; e++)
            for (int l = 0; l < WL; l++) {
                const float v = xc[zy[r * WL + l] + xo[e * WL + l]];
                p[(r * 4 + e) * WL + l] = (mzy[r * WL + l] & mx[e * WL + l]) ? v : 0.0f;
            }
}
LT_ISA_VARIANTS(win_gather_v, (float *restrict p, const float *restrict xc,
                               const int32_t *restrict zy, const int32_t *restrict xo,
                               const int32_t *restrict mzy, const int32_t *restrict mx),
                (p, xc, zy, xo, mzy, mx))

/* The tables of win_gather_v for the nl lanes (the rest: offset 0, outside). */
static void win_gather_tables(const lt_conv3d_dims *d, const wlane *ln, int nl, int32_t *zy,
                              int32_t *xo, int32_t *mzy, int32_t *mx) {
    const int64_t H = d->h, W = d->w, hw = H * W, V = d->d * hw;
    for (int l = 0; l < WL; l++) {
        const int64_t z0 = l < nl ? ln[l].z - d->pd : 0, y0 = l < nl ? ln[l].y - d->ph : 0;
        const int64_t x0 = l < nl ? ln[l].x - d->pw : 0, nb = l < nl ? ln[l].n * d->cin * V : 0;
        for (int a = 0; a < 4; a++) {
            const int64_t iz = z0 + a, zc = iz < 0 ? 0 : iz >= d->d ? d->d - 1 : iz;
            for (int b = 0; b < 4; b++) {
                const int64_t iy = y0 + b, yc = iy < 0 ? 0 : iy >= H ? H - 1 : iy;
                zy[(a * 4 + b) * WL + l] = (int32_t)(nb + zc * hw + yc * W);
                mzy[(a * 4 + b) * WL + l] =
                    l < nl && iz >= 0 && iz < d->d && iy >= 0 && iy < H ? -1 : 0;
            }
            const int64_t ix = x0 + a, xc = ix < 0 ? 0 : ix >= W ? W - 1 : ix;
            xo[a * WL + l] = (int32_t)xc;
            mx[a * WL + l] = ix >= 0 && ix < W ? -1 : 0;
        }
    }
}

/* The input transform of the lanes' tiles for every input channel: V (64, Cin, ldv), the
 * lanes at column col. */
static void win_input(const lt_context *ctx, float *V, int64_t ldv, int64_t col, const float *x,
                      const lt_conv3d_dims *d, const wlane *ln, int nl) {
    float p[64 * WL] __attribute__((aligned(64)));
    const int isa = lt_ctx_isa(ctx);
    const int64_t xs = ldv;
    /* lanes side by side in one row of tiles: the vector gather, straight from x when every
     * patch is inside it, else from a zero-padded copy of the 16 rows the patches cover */
    int row = 1;
    for (int l = 1; row && l < nl; l++)
        row = ln[l].n == ln[0].n && ln[l].z == ln[0].z && ln[l].y == ln[0].y &&
              ln[l].x == ln[0].x + 2 * l;
    if (row) {
        const int64_t z0 = ln[0].z - d->pd, y0 = ln[0].y - d->ph, x0 = ln[0].x - d->pw;
        const int64_t hw = d->h * d->w, vol = d->d * hw;
        const float *xn = x + ln[0].n * d->cin * vol;
        const int64_t lo = x0 < 0 ? -x0 : 0, hi = d->w - x0 < RS ? d->w - x0 : RS;
        /* straight from x when the patches' rows are inside it; columns clipped by the
         * padding are read (from the neighbouring rows: the whole span must lie inside x)
         * and zeroed */
        const int64_t first = ln[0].n * d->cin * vol + z0 * hw + y0 * d->w + x0;
        const int64_t last = first + (d->cin - 1) * vol + 3 * hw + 3 * d->w + RS - 1;
        if (nl == WL && z0 >= 0 && y0 >= 0 && z0 + 4 <= d->d && y0 + 4 <= d->h && lo < hi &&
            first >= 0 && last < d->n * d->cin * vol) {
            const float *s0 = x + first;
            for (int64_t c = 0; c < d->cin; c++)
                win_in_row_isa[isa](s0 + c * vol, hw, d->w, (int)lo, (int)hi, p,
                                    V + c * 64 * ldv + col, xs);
            return;
        }
        float stage[16 * RS];
        for (int64_t c = 0; c < d->cin; c++) {
            win_stage_isa[isa](stage, xn + c * vol, z0, y0, x0, d->d, d->h, d->w, lo, hi);
            if (nl == WL)
                win_in_row_isa[isa](stage, 4 * RS, RS, 0, RS, p, V + c * 64 * ldv + col, xs);
            else {   /* the last, partial group: the scalar store of nl lanes */
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++)
                        for (int e = 0; e < 4; e++)
                            for (int l = 0; l < WL; l++)
                                p[(a * 16 + b * 4 + e) * WL + l] =
                                    l < nl ? stage[(a * 4 + b) * RS + 2 * l + e] : 0.0f;
                win_in_tf_isa[isa](p, V + c * 64 * ldv + col, xs, nl);
            }
        }
        return;
    }
    int64_t cnt;
    if (lt_mul_ovf(d->n * d->cin, d->d * d->h * d->w, &cnt) || cnt > INT32_MAX) {
        for (int64_t c = 0; c < d->cin; c++) {
            win_gather(p, x, d, c, ln, nl);
            win_in_tf_isa[isa](p, V + c * 64 * ldv + col, xs, nl);
        }
        return;
    }
    int32_t zy[16 * WL] __attribute__((aligned(64))), mzy[16 * WL] __attribute__((aligned(64)));
    int32_t xo[4 * WL] __attribute__((aligned(64))), mx[4 * WL] __attribute__((aligned(64)));
    win_gather_tables(d, ln, nl, zy, xo, mzy, mx);
    const int64_t vol = d->d * d->h * d->w;
    for (int64_t c = 0; c < d->cin; c++) {
        win_gather_v_isa[isa](p, x + c * vol, zy, xo, mzy, mx);
        win_in_tf_isa[isa](p, V + c * 64 * ldv + col, xs, nl);
    }
}

/* win_out_tf for WL tiles side by side in one row of tiles, written to o (the first tile's
 * output origin; planes ohw and rows ow apart) as interleaved vector stores: nz x ny x 2 x WL
 * outputs (nz, ny: 1 or 2, clipped at the output's end), o = bias + y or o += y. */
static inline LT_ISA_INLINE void win_out_row_body(const float *restrict src, int64_t xs,
                                                  float *restrict o, int64_t ohw, int64_t ow,
                                                  int nz, int ny, float bias, int accumulate) {
    float y[8 * WL];
    win_out_tf_body(src, xs, WL, y);
    for (int pz = 0; pz < nz; pz++)
        for (int q = 0; q < ny; q++) {
            float *r = o + pz * ohw + q * ow;
            const float *y0 = y + (pz * 2 + q) * 2 * WL, *y1 = y0 + WL;
            if (accumulate)
                for (int l = 0; l < WL; l++) { r[2 * l] += y0[l]; r[2 * l + 1] += y1[l]; }
            else
                for (int l = 0; l < WL; l++) { r[2 * l] = bias + y0[l]; r[2 * l + 1] = bias + y1[l]; }
        }
}
LT_ISA_VARIANTS(win_out_row, (const float *restrict src, int64_t xs, float *restrict o,
                              int64_t ohw, int64_t ow, int nz, int ny, float bias,
                              int accumulate), (src, xs, o, ohw, ow, nz, ny, bias, accumulate))

/* out (N, Cout, OD, OH, OW) [+]= the output transform of M (64, Cout, ldm) at column col for
 * the lanes' tiles (bias b added when not accumulating; NULL: none). */
static void win_output(const lt_context *ctx, float *out, const float *M, int64_t ldm,
                       int64_t col, const float *b, int accumulate, const lt_conv3d_dims *d,
                       const wlane *ln, int nl) {
    float y[8 * WL] __attribute__((aligned(64)));
    const int isa = lt_ctx_isa(ctx);
    const int64_t xs = ldm, ohw = d->oh * d->ow, S = d->od * ohw;
    int row = nl == WL && ln[0].x + 2 * WL <= d->ow;
    for (int l = 1; row && l < WL; l++)
        row = ln[l].n == ln[0].n && ln[l].z == ln[0].z && ln[l].y == ln[0].y &&
              ln[l].x == ln[0].x + 2 * l;
    if (row) {   /* whole tiles side by side: interleaved vector stores */
        const int nz = ln[0].z + 2 <= d->od ? 2 : 1, ny = ln[0].y + 2 <= d->oh ? 2 : 1;
        float *o0 = out + ln[0].n * d->cout * S + ln[0].z * ohw + ln[0].y * d->ow + ln[0].x;
        for (int64_t co = 0; co < d->cout; co++)
            win_out_row_isa[isa](M + co * 64 * ldm + col, xs, o0 + co * S, ohw, d->ow, nz, ny,
                                 (b && !accumulate) ? b[co] : 0.0f, accumulate);
        return;
    }
    for (int64_t co = 0; co < d->cout; co++) {
        win_out_tf_isa[isa](M + co * 64 * ldm + col, xs, nl, y);
        const float bias = (b && !accumulate) ? b[co] : 0.0f;
        for (int l = 0; l < nl; l++) {
            float *o = out + (ln[l].n * d->cout + co) * S;
            if (ln[l].z + 2 <= d->od && ln[l].y + 2 <= d->oh && ln[l].x + 2 <= d->ow) {
                float *t = o + ln[l].z * ohw + ln[l].y * d->ow + ln[l].x;
                for (int k = 0; k < 8; k++) {
                    float *e = t + (k / 4) * ohw + ((k / 2) % 2) * d->ow + k % 2;
                    *e = (accumulate ? *e : bias) + y[k * WL + l];
                }
                continue;
            }
            for (int pz = 0; pz < 2; pz++) {
                const int64_t oz = ln[l].z + pz;
                if (oz >= d->od) break;
                for (int q = 0; q < 2; q++) {
                    const int64_t oy = ln[l].y + q;
                    if (oy >= d->oh) break;
                    for (int r = 0; r < 2; r++) {
                        const int64_t ox = ln[l].x + r;
                        if (ox >= d->ow) break;
                        float *t = o + oz * ohw + oy * d->ow + ox;
                        const float v = y[((pz * 2 + q) * 2 + r) * WL + l];
                        *t = accumulate ? *t + v : bias + v;
                    }
                }
            }
        }
    }
}

/* The output-gradient transform A dy A^T of the lanes' tiles for every output channel:
 * Dy (64, Cout, ldv) at column col (zero where a tile reaches past the output). */
static void win_dyin(const lt_context *ctx, float *Dy, int64_t ldv, int64_t col,
                     const float *dy, const lt_conv3d_dims *d, const wlane *ln, int nl) {
    float g[8 * WL] __attribute__((aligned(64))), p[64 * WL] __attribute__((aligned(64)));
    const int isa = lt_ctx_isa(ctx);
    const int64_t xs = ldv, ohw = d->oh * d->ow, S = d->od * ohw;
    for (int64_t co = 0; co < d->cout; co++) {
        for (int l = 0; l < WL; l++) {
            const float *s = l < nl ? dy + (ln[l].n * d->cout + co) * S : NULL;
            for (int k = 0; k < 8; k++) {
                const int64_t oz = l < nl ? ln[l].z + k / 4 : 0, oy = l < nl ? ln[l].y + (k / 2) % 2 : 0;
                const int64_t ox = l < nl ? ln[l].x + k % 2 : 0;
                g[k * WL + l] = (s && oz < d->od && oy < d->oh && ox < d->ow)
                                    ? s[oz * ohw + oy * d->ow + ox] : 0.0f;
            }
        }
        win_dy_tf_isa[isa](g, p, Dy + co * 64 * ldv + col, xs, nl);
    }
}

/* The transformed position of the spatially flipped kernel: G maps a reversed (g2, g1, g0) to
 * the transform of (g0, g1, g2) with positions 0 and 3 swapped, so U_flip[i][j][k] =
 * U[f(i)][f(j)][f(k)], f = (3, 1, 2, 0). */
static int64_t wino_flip_xi(int64_t xi) {
    static const int64_t f[4] = { 3, 1, 2, 0 };
    return (f[xi / 16] * 4 + f[(xi / 4) % 4]) * 4 + f[xi % 4];
}

/* At most this many tiles in the batch (8^3 volumes, batch 2: 128): one block of all tiles,
 * the transforms split over the team by groups of WL tiles and the 64 GEMMs by position (each
 * GEMM runs once, over every tile, and its weight panel is packed once instead of once per
 * thread), two barriers per call. */
#define WINO_SMALL_TILES 256

/* out = conv(x, w) + b (or += conv(x, w) when accumulate) by Winograd (see above). flip: w is
 * the weight (Cin, Cout, 3, 3, 3) of the convolution whose input gradient this is (the gather
 * convolution of conv_bwd_data_gather, d its dims): the GEMMs take its transform transposed,
 * at the flipped positions, so no flipped copy of w is made. */
static lt_status wino_fwd(lt_context *ctx, float *out, const float *x, const float *w,
                          const float *b, const lt_conv3d_dims *d, int accumulate, int flip) {
    const int64_t cin = d->cin, cout = d->cout;
    const wtiles tl = wino_tiles(d);
    team t = team_begin(ctx, (tl.nt + WL - 1) / WL,
                        2.0 * (double)(d->n * cout * d->od * d->oh * d->ow) * (double)(cin * 27));
    const int nt = t.nt, small = tl.nt <= WINO_SMALL_TILES;
    const int64_t nT = small ? (tl.nt + WL - 1) / WL * WL : wino_block_split(tl.nt, nt);
    const int64_t nblk = (tl.nt + nT - 1) / nT;
    const int64_t nbuf = small ? 1 : nt;   /* V and M: one shared block, or one per thread */
    int64_t uf, vf, mf, per, all, gs = gemm_floats(ctx, cout, cin, nT), g_all;
    if (wino_floats(cout, cin, &uf) || wino_floats(cin, nT, &vf) || wino_floats(cout, nT, &mf) ||
        lt_add_ovf(vf, mf, &per) || lt_mul_ovf(per, nbuf, &all) || lt_add_ovf(all, uf, &all) ||
        lt_mul_ovf(gs, nt, &g_all) || lt_add_ovf(all, g_all, &all))
        { team_end(t); return LT_EOVERFLOW; }
    lt_status st = LT_OK;
    float *buf = thread_scratch(ctx, LT_SCRATCH_CONV, 1, all, &st);
    if (!buf) { team_end(t); return st; }
    float *U = buf, *G0 = U + uf + nbuf * per;
    #pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float *Vb = U + uf + (small ? 0 : (int64_t)tid * per), *Mb = Vb + vf;
        float *gsc = G0 + (int64_t)tid * gs;
        const int isa = lt_ctx_isa(ctx);
        /* U (Cout, 64, Cin) of this convolution: w's transform, or for flip w's transposed */
        #pragma omp for schedule(static) nowait
        for (int64_t co = 0; co < cout; co++)
            win_w_tf_isa[isa](U, w, cin, flip ? 27 : 27 * cin, flip ? 27 * cout : 27, co);
        if (small) {
            /* one block: transforms by groups, GEMMs by position, inverse transforms by groups */
            const int64_t ng = nT / WL;
            #pragma omp for schedule(static)
            for (int64_t gi = 0; gi < ng; gi++) {
                wlane ln[WL];
                const int nl = wino_lanes(ln, &tl, gi * WL, tl.nt);
                win_input(ctx, Vb, nT, gi * WL, x, d, ln, nl);
            }
            #pragma omp for schedule(static)
            for (int64_t xi = 0; xi < 64; xi++) {
                const int64_t ux = flip ? wino_flip_xi(xi) : xi;
                gemm(ctx, 0, 0, cout, tl.nt, cin, U + ux * cin, 64 * cin, Vb + xi * nT, 64 * nT,
                     0.0f, Mb + xi * nT, 64 * nT, gsc);
            }
            #pragma omp for schedule(static)
            for (int64_t gi = 0; gi < ng; gi++) {
                wlane ln[WL];
                const int nl = wino_lanes(ln, &tl, gi * WL, tl.nt);
                win_output(ctx, out, Mb, nT, gi * WL, b, accumulate, d, ln, nl);
            }
        } else {
            #pragma omp barrier   /* U complete */
            /* each block of tiles on one thread: transforms, 64 GEMMs, inverse transforms */
            #pragma omp for schedule(dynamic, 1) nowait
            for (int64_t k = 0; k < nblk; k++) {
                const int64_t t0 = k * nT, nb = t0 + nT < tl.nt ? nT : tl.nt - t0;
                const int64_t ng = (nb + WL - 1) / WL;
                for (int64_t gi = 0; gi < ng; gi++) {
                    wlane ln[WL];
                    const int nl = wino_lanes(ln, &tl, t0 + gi * WL, t0 + nb);
                    win_input(ctx, Vb, nT, gi * WL, x, d, ln, nl);
                }
                for (int64_t xi = 0; xi < 64; xi++) {
                    const int64_t ux = flip ? wino_flip_xi(xi) : xi;
                    gemm(ctx, 0, 0, cout, nb, cin, U + ux * cin, 64 * cin, Vb + xi * nT,
                         64 * nT, 0.0f, Mb + xi * nT, 64 * nT, gsc);
                }
                for (int64_t gi = 0; gi < ng; gi++) {
                    wlane ln[WL];
                    const int nl = wino_lanes(ln, &tl, t0 + gi * WL, t0 + nb);
                    win_output(ctx, out, Mb, nT, gi * WL, b, accumulate, d, ln, nl);
                }
            }
        }
    }
    team_end(t);
    return LT_OK;
}

/* dw += the weight gradient by Winograd: per block of tiles V = B^T x B and Dy = A dy A^T,
 * acc[xi] (Cout, Cin) += Dy[xi] V[xi]^T (each xi summed by one thread over the blocks in
 * order: the result does not depend on the thread count), then G^T acc G into dw. */
static lt_status wino_bwd_weight(lt_context *ctx, float *dw, const float *dy, const float *x,
                                 const lt_conv3d_dims *d) {
    const int64_t cin = d->cin, cout = d->cout;
    const wtiles tl = wino_tiles(d);
    const int64_t nT = tl.nt <= WINO_SMALL_TILES ? (tl.nt + WL - 1) / WL * WL : wino_block(tl.nt);
    int64_t af, vf, mf, all;
    const int64_t gs = gemm_floats(ctx, cout, cin, nT);
    if (wino_floats(cout, cin, &af) || wino_floats(cin, nT, &vf) || wino_floats(cout, nT, &mf))
        return LT_EOVERFLOW;
    team t = team_begin(ctx, 64, 2.0 * (double)(d->n * cout * d->od * d->oh * d->ow) * (double)(cin * 27));
    const int nt = t.nt;
    lt_status st = LT_OK;
    if (lt_mul_ovf(gs, nt, &all) || lt_add_ovf(all, vf, &all) || lt_add_ovf(all, mf, &all))
        { team_end(t); return LT_EOVERFLOW; }
    float *buf = thread_scratch(ctx, LT_SCRATCH_CONV, 1, all, &st);
    if (!buf) { team_end(t); return st; }
    float *acc = thread_scratch(ctx, LT_SCRATCH_CONV_ACC, 1, af, &st);
    if (!acc) { team_end(t); return st; }
    float *Vb = buf, *Db = Vb + vf;
    #pragma omp parallel num_threads(nt)
    {
        float *gsc = Db + mf + (int64_t)omp_get_thread_num() * gs;
        for (int64_t t0 = 0; t0 < tl.nt; t0 += nT) {
            const int64_t nb = t0 + nT < tl.nt ? nT : tl.nt - t0, ng = (nb + WL - 1) / WL;
            #pragma omp for schedule(static)
            for (int64_t gi = 0; gi < ng; gi++) {
                wlane ln[WL];
                const int nl = wino_lanes(ln, &tl, t0 + gi * WL, t0 + nb);
                win_input(ctx, Vb, nT, gi * WL, x, d, ln, nl);
                win_dyin(ctx, Db, nT, gi * WL, dy, d, ln, nl);
            }
            #pragma omp for schedule(static)
            for (int64_t xi = 0; xi < 64; xi++)
                gemm(ctx, 0, 1, cout, cin, nb, Db + xi * nT, 64 * nT, Vb + xi * nT, 64 * nT,
                     t0 ? 1.0f : 0.0f, acc + xi * cin, 64 * cin, gsc);
        }
        #pragma omp for schedule(static)
        for (int64_t co = 0; co < cout; co++) win_w_back_isa[lt_ctx_isa(ctx)](dw, acc, cin, co);
    }
    team_end(t);
    return LT_OK;
}

/* conv_fwd for unit depth stride and kd > 1: an output plane is the sum over the depth taps a
 * of W_a (Cout/g, Cin/g * kh * kw) times the 2-D columns of input plane oz - pd + a * dd, and
 * each input plane's columns serve kd output planes, so they are built once (a ring of
 * (kd - 1) * dd + 1 planes per thread) instead of kd times as in vol2col. Units are blocks of
 * output rows of one (image, group), walking all output planes. */
static lt_status conv_fwd_planes(lt_context *ctx, float *out, const float *x, const float *w,
                                 const float *b, const lt_conv3d_dims *d, int accumulate) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K2 = cing * d->kh * d->kw, kd = d->kd, K = K2 * kd;
    const int64_t S = d->od * d->oh * d->ow, V = d->d * d->h * d->w;
    const int64_t R = (kd - 1) * d->dd + 1;   /* input planes one output plane reads */
    const int64_t rb = (d->oh + row_blocks(K2, d, MIN_COLS) - 1) / row_blocks(K2, d, MIN_COLS);
    const int64_t nrb = (d->oh + rb - 1) / rb, units = d->n * G * nrb, nb = rb * d->ow;
    const int64_t colf = round16(K2 * nb);
    const int64_t per = R * colf + gemm_floats(ctx, coutg, K2, nb);
    /* the weight as (Cout, kd, Cin/g * kh * kw): W_a is a (Cout/g, K2) block with row stride K */
    const size_t wbytes = floats_bytes(d->cout, K);
    if (!wbytes) return LT_EOVERFLOW;
    float *wr = malloc(wbytes);
    if (!wr) return LT_ENOMEM;
    const int64_t khw = d->kh * d->kw;
    for (int64_t co = 0; co < d->cout; co++)
        for (int64_t c = 0; c < cing; c++)
            for (int64_t a = 0; a < kd; a++)
                memcpy(wr + co * K + a * K2 + c * khw, w + co * K + (c * kd + a) * khw,
                       (size_t)khw * sizeof(float));
    team t = team_begin(ctx, units, 2.0 * (double)(d->n * d->cout * S) * (double)K);
    lt_status st = LT_OK;
    float *buf = thread_scratch(ctx, LT_SCRATCH_CONV, t.nt, per, &st);
    if (!buf) { team_end(t); free(wr); return st; }
    #pragma omp parallel for num_threads(t.nt) schedule(dynamic, 1)
    for (int64_t u = 0; u < units; u++) {
        const int64_t it = u / nrb, i = it / G, g = it % G;
        const int64_t y0 = (u % nrb) * rb, y1 = y0 + rb < d->oh ? y0 + rb : d->oh;
        const int64_t ncol = (y1 - y0) * d->ow;
        float *tb = buf + (int64_t)omp_get_thread_num() * per;
        float *gs = tb + R * colf;
        const float *xg = x + (i * d->cin + g * cing) * V;
        const float *wg = wr + g * coutg * K;
        int64_t have[64];   /* input plane held in each ring slot (R <= 64 checked below) */
        for (int64_t k = 0; k < R; k++) have[k] = -1;
        for (int64_t oz = 0; oz < d->od; oz++) {
            float *og = out + (i * d->cout + g * coutg) * S + oz * d->oh * d->ow + y0 * d->ow;
            float beta = accumulate ? 1.0f : 0.0f;
            if (b && !accumulate) {
                for (int64_t co = 0; co < coutg; co++) {
                    float *r = og + co * S;
                    const float v = b[g * coutg + co];
                    for (int64_t j = 0; j < ncol; j++) r[j] = v;
                }
                beta = 1.0f;
            }
            int any = 0;
            for (int64_t a = 0; a < kd; a++) {
                const int64_t iz = oz - d->pd + a * d->dd;
                if (iz < 0 || iz >= d->d) continue;
                float *col = tb + (iz % R) * colf;
                if (have[iz % R] != iz) {
                    plane_cols(col, xg, cing, d, iz, y0, y1);
                    have[iz % R] = iz;
                }
                gemm(ctx, 0, 0, coutg, ncol, K2, wg + a * K2, K, col, ncol, any ? 1.0f : beta, og, S, gs);
                any = 1;
            }
            if (!any && beta == 0.0f)   /* every tap in the depth padding */
                for (int64_t co = 0; co < coutg; co++)
                    memset(og + co * S, 0, (size_t)ncol * sizeof(float));
        }
    }
    team_end(t);
    free(wr);
    return LT_OK;
}

/* out (N, Cout, S) = conv(x, w) [+ b], or += conv(x, w) when accumulate (b unused). */
static lt_status conv_fwd(lt_context *ctx, float *out, const float *x, const float *w,
                          const float *b, const lt_conv3d_dims *d, int accumulate) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kd * d->kh * d->kw, S = d->od * d->oh * d->ow;
    const int64_t V = d->d * d->h * d->w;
    const int pw = is_pointwise(d);
    if (use_wino(ctx, d)) return wino_fwd(ctx, out, x, w, b, d, accumulate, 0);
    if (!pw && d->sd == 1 && d->kd > 1 && (d->kd - 1) * d->dd + 1 <= 64)
        return conv_fwd_planes(ctx, out, x, w, b, d, accumulate);
    const int64_t nb = pw ? (S < 4096 ? S : 4096) : block_cols(K, S, d->ow);
    const int64_t nblk = (S + nb - 1) / nb, units = d->n * G * nblk;
    const int64_t colf = pw ? 0 : round16(K * nb);
    const int64_t per = colf + gemm_floats(ctx, coutg, K, nb);
    team t = team_begin(ctx, units, 2.0 * (double)(d->n * d->cout * S) * (double)K);
    lt_status st = LT_OK;
    float *buf = thread_scratch(ctx, LT_SCRATCH_CONV, t.nt, per, &st);
    if (!buf) { team_end(t); return st; }
    #pragma omp parallel for num_threads(t.nt) schedule(dynamic, 1)
    for (int64_t u = 0; u < units; u++) {
        const int64_t it = u / nblk, i = it / G, g = it % G;
        const int64_t p0 = (u % nblk) * nb, p1 = p0 + nb < S ? p0 + nb : S;
        float *tb = buf + (int64_t)omp_get_thread_num() * per;
        const float *xg = x + (i * d->cin + g * cing) * V;
        float *og = out + (i * d->cout + g * coutg) * S + p0;
        float beta = accumulate ? 1.0f : 0.0f;
        if (b && !accumulate) {
            for (int64_t co = 0; co < coutg; co++) {
                float *r = og + co * S;
                const float v = b[g * coutg + co];
                for (int64_t j = 0; j < p1 - p0; j++) r[j] = v;
            }
            beta = 1.0f;
        }
        const float *col = xg + p0;
        int64_t ldb = S;
        if (!pw) {
            vol_cols(tb, (float *)xg, cing, d, p0 / d->ow, p1 / d->ow, 0);
            col = tb;
            ldb = p1 - p0;
        }
        gemm(ctx, 0, 0, coutg, p1 - p0, K, w + g * coutg * K, K, col, ldb, beta, og, S, tb + colf);
    }
    team_end(t);
    return LT_OK;
}

/* dx (N, Cin, V) += conv^T(dy, w). Units are slabs of T output depth planes of one
 * (image, group); (T + 1) * sd > (kd - 1) * dd makes slabs j and j + 2 read disjoint input
 * planes, so the even slabs run first, then the odd ones, without write conflicts. */
static lt_status conv_bwd_data(lt_context *ctx, float *dx, const float *dy, const float *w,
                               const lt_conv3d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kd * d->kh * d->kw, S = d->od * d->oh * d->ow;
    const int64_t V = d->d * d->h * d->w, ohw = d->oh * d->ow;
    const int pw = is_pointwise(d);
    int64_t T = ((d->kd - 1) * d->dd + 1 + d->sd - 1) / d->sd - 1;
    if (T < 1) T = 1;
    if (pw) T = d->od;   /* no overlap at all: whole images */
    const int64_t nslab = (d->od + T - 1) / T;
    const int64_t nb = pw ? (S < 4096 ? S : 4096) : block_cols(K, T * ohw, d->ow);
    const int64_t colf = pw ? 0 : round16(K * nb);
    const int64_t per = colf + gemm_floats(ctx, coutg, K, nb);
    const int64_t items = d->n * G;
    team t = team_begin(ctx, items * ((nslab + 1) / 2),
                        2.0 * (double)(d->n * d->cout * S) * (double)K);
    lt_status st = LT_OK;
    float *buf = thread_scratch(ctx, LT_SCRATCH_CONV, t.nt, per, &st);
    if (!buf) { team_end(t); return st; }
    #pragma omp parallel num_threads(t.nt)
    {
        float *tb = buf + (int64_t)omp_get_thread_num() * per;
        for (int64_t phase = 0; phase < 2; phase++) {
            const int64_t ns = (nslab - phase + 1) / 2;   /* slabs phase, phase + 2, ... */
            #pragma omp for schedule(dynamic, 1) nowait
            for (int64_t u = 0; u < items * ns; u++) {
                const int64_t it = u / ns, i = it / G, g = it % G;
                const int64_t slab = phase + 2 * (u % ns);
                const int64_t z1 = (slab + 1) * T < d->od ? (slab + 1) * T : d->od;
                const int64_t s0 = slab * T * ohw, s1 = z1 * ohw;
                const float *dyg = dy + (i * d->cout + g * coutg) * S;
                float *dxg = dx + (i * d->cin + g * cing) * V;
                for (int64_t p0 = s0; p0 < s1; p0 += nb) {
                    const int64_t p1 = p0 + nb < s1 ? p0 + nb : s1;
                    if (pw) {
                        gemm(ctx, 1, 0, K, p1 - p0, coutg, w + g * coutg * K, K, dyg + p0, S, 1.0f,
                             dxg + p0, V, tb + colf);
                    } else {
                        gemm(ctx, 1, 0, K, p1 - p0, coutg, w + g * coutg * K, K, dyg + p0, S, 0.0f,
                             tb, p1 - p0, tb + colf);
                        vol_cols(tb, dxg, cing, d, p0 / d->ow, p1 / d->ow, 1);
                    }
                }
            }
            #pragma omp barrier   /* the odd slabs wait for the even ones */
        }
    }
    team_end(t);
    return LT_OK;
}

/* dx += conv^T(dy, w) for unit strides as a gather: the convolution of dy with the weight
 * flipped in space and transposed per group, padding dilation * (k - 1) - padding (negative
 * values crop; vol_cols checks every tap), accumulated into dx by conv_fwd. Its GEMM has
 * Cin/g rows and Cout/g * kd * kh * kw depth, where the scatter form would have Cout/g depth
 * and a col2vol pass. The flipped weight lives in the LT_SCRATCH_CONV_ACC slot. */
static lt_status conv_bwd_data_gather(lt_context *ctx, float *dx, const float *dy,
                                      const float *w, const lt_conv3d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t k3 = d->kd * d->kh * d->kw;
    lt_conv3d_dims q = *d;
    q.cin = d->cout; q.d = d->od; q.h = d->oh; q.w = d->ow;
    q.cout = d->cin; q.od = d->d; q.oh = d->h; q.ow = d->w;
    q.pd = d->dd * (d->kd - 1) - d->pd;
    q.ph = d->dh * (d->kh - 1) - d->ph;
    q.pw = d->dw * (d->kw - 1) - d->pw;
    if (use_wino(ctx, &q)) return wino_fwd(ctx, dx, dy, w, NULL, &q, 1, 1);
    lt_status st = LT_OK;
    float *wt = thread_scratch(ctx, LT_SCRATCH_CONV_ACC, 1, round16(d->cout * cing * k3), &st);
    if (!wt) return st;
    /* wt (G, cing, coutg, k3) [t] = w (G, coutg, cing, k3) [k3 - 1 - t] */
    for (int64_t g = 0; g < G; g++)
        for (int64_t c = 0; c < cing; c++)
            for (int64_t co = 0; co < coutg; co++) {
                const float *src = w + ((g * coutg + co) * cing + c) * k3;
                float *dst = wt + ((g * cing + c) * coutg + co) * k3;
                for (int64_t t = 0; t < k3; t++) dst[t] = src[k3 - 1 - t];
            }
    return conv_fwd(ctx, dx, dy, wt, NULL, &q, 1);
}

/* conv_bwd_weight for unit depth stride and kd > 1, with conv_fwd_planes' plane columns:
 * W_a^T (K2, Cout/g) += cols(input plane oz - pd + a * dd) dy(plane oz)^T, each input plane's
 * columns built once per row block. Per-thread accumulators (G, kd, K2, Cout/g) over static
 * runs of units, summed in thread order and permuted into dw. */
static lt_status conv_bwd_weight_planes(lt_context *ctx, float *dw, const float *dy,
                                        const float *x, const lt_conv3d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K2 = cing * d->kh * d->kw, kd = d->kd, K = K2 * kd;
    const int64_t S = d->od * d->oh * d->ow, V = d->d * d->h * d->w;
    const int64_t wn = d->cout * K, wpad = round16(wn), khw = d->kh * d->kw;
    const int64_t R = (kd - 1) * d->dd + 1;
    const int64_t rb = (d->oh + row_blocks(K2, d, DW_MIN_COLS) - 1) / row_blocks(K2, d, DW_MIN_COLS);
    const int64_t nrb = (d->oh + rb - 1) / rb, units = d->n * G * nrb, nb = rb * d->ow;
    const int64_t colf = round16(K2 * nb);
    const int64_t per = R * colf + gemm_floats(ctx, coutg, K2, nb);
    team t = team_begin(ctx, units, 2.0 * (double)(d->n * d->cout * S) * (double)K);
    lt_status st = LT_OK;
    float *buf = thread_scratch(ctx, LT_SCRATCH_CONV, t.nt, per, &st);
    if (!buf) { team_end(t); return st; }
    float *acc = thread_scratch(ctx, LT_SCRATCH_CONV_ACC, t.nt, wpad, &st);
    if (!acc) { team_end(t); return st; }
    memset(acc, 0, floats_bytes(t.nt, wpad));
    const int nt = t.nt;
    #pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float *tb = buf + (int64_t)tid * per;
        float *gs = tb + R * colf;
        float *a0 = acc + (int64_t)tid * wpad;
        const int64_t u0 = units * tid / nt, u1 = units * (tid + 1) / nt;
        for (int64_t u = u0; u < u1; u++) {
            const int64_t it = u / nrb, i = it / G, g = it % G;
            const int64_t y0 = (u % nrb) * rb, y1 = y0 + rb < d->oh ? y0 + rb : d->oh;
            const int64_t ncol = (y1 - y0) * d->ow;
            const float *xg = x + (i * d->cin + g * cing) * V;
            int64_t have[64];
            for (int64_t k = 0; k < R; k++) have[k] = -1;
            for (int64_t oz = 0; oz < d->od; oz++) {
                const float *dyg = dy + (i * d->cout + g * coutg) * S + oz * d->oh * d->ow + y0 * d->ow;
                for (int64_t a = 0; a < kd; a++) {
                    const int64_t iz = oz - d->pd + a * d->dd;
                    if (iz < 0 || iz >= d->d) continue;
                    float *col = tb + (iz % R) * colf;
                    if (have[iz % R] != iz) {
                        plane_cols(col, xg, cing, d, iz, y0, y1);
                        have[iz % R] = iz;
                    }
                    gemm(ctx, 0, 1, K2, coutg, ncol, col, ncol, dyg, S, 1.0f,
                         a0 + (g * kd + a) * K2 * coutg, coutg, gs);
                }
            }
        }
    }
    for (int k = 1; k < nt; k++) {
        const float *a = acc + (int64_t)k * wpad;
        for (int64_t j = 0; j < wn; j++) acc[j] += a[j];
    }
    /* acc (G, kd, K2 = (c, khw), coutg) -> dw (G * coutg, cing, kd, khw) */
    for (int64_t g = 0; g < G; g++)
        for (int64_t a = 0; a < kd; a++)
            for (int64_t c = 0; c < cing; c++)
                for (int64_t j = 0; j < khw; j++) {
                    const float *src = acc + ((g * kd + a) * K2 + c * khw + j) * coutg;
                    for (int64_t co = 0; co < coutg; co++)
                        dw[((g * coutg + co) * cing + c) * kd * khw + a * khw + j] += src[co];
                }
    team_end(t);
    return LT_OK;
}

/* dw (Cout, K) += sum over images and positions of dy (x) vol2col(x), computed transposed:
 * dw^T (K, Cout/g) per group = col (K, nb) dy^T (the GEMM runs faster with the long K side as
 * its M). Each thread sums a static run of units into its own accumulator; the accumulators
 * are added in thread order and transposed into dw, so dw is reproducible for a given thread
 * count. */
static lt_status conv_bwd_weight(lt_context *ctx, float *dw, const float *dy, const float *x,
                                 const lt_conv3d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kd * d->kh * d->kw, S = d->od * d->oh * d->ow;
    const int64_t V = d->d * d->h * d->w, wn = d->cout * K, wpad = round16(wn);
    const int pw = is_pointwise(d);
    if (use_wino(ctx, d)) return wino_bwd_weight(ctx, dw, dy, x, d);
    if (!pw && d->sd == 1 && d->kd > 1 && (d->kd - 1) * d->dd + 1 <= 64)
        return conv_bwd_weight_planes(ctx, dw, dy, x, d);
    const int64_t nb = pw ? (S < 4096 ? S : 4096) : block_cols(K, S, d->ow);
    const int64_t nblk = (S + nb - 1) / nb, units = d->n * G * nblk;
    const int64_t colf = pw ? 0 : round16(K * nb);
    const int64_t per = colf + gemm_floats(ctx, coutg, K, nb);
    team t = team_begin(ctx, units, 2.0 * (double)(d->n * d->cout * S) * (double)K);
    lt_status st = LT_OK;
    float *buf = thread_scratch(ctx, LT_SCRATCH_CONV, t.nt, per, &st);
    if (!buf) { team_end(t); return st; }
    float *acc = thread_scratch(ctx, LT_SCRATCH_CONV_ACC, t.nt, wpad, &st);
    if (!acc) { team_end(t); return st; }
    memset(acc, 0, floats_bytes(t.nt, wpad));
    const int nt = t.nt;
    #pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num();
        float *tb = buf + (int64_t)tid * per;
        float *a0 = acc + (int64_t)tid * wpad;   /* (G, K, coutg) */
        const int64_t u0 = units * tid / nt, u1 = units * (tid + 1) / nt;
        for (int64_t u = u0; u < u1; u++) {
            const int64_t it = u / nblk, i = it / G, g = it % G;
            const int64_t p0 = (u % nblk) * nb, p1 = p0 + nb < S ? p0 + nb : S;
            const float *xg = x + (i * d->cin + g * cing) * V;
            const float *dyg = dy + (i * d->cout + g * coutg) * S + p0;
            const float *col = xg + p0;
            int64_t lda = S;
            if (!pw) {
                vol_cols(tb, (float *)xg, cing, d, p0 / d->ow, p1 / d->ow, 0);
                col = tb;
                lda = p1 - p0;
            }
            gemm(ctx, 0, 1, K, coutg, p1 - p0, col, lda, dyg, S, 1.0f, a0 + g * K * coutg, coutg,
                 tb + colf);
        }
    }
    for (int k = 1; k < nt; k++) {
        const float *a = acc + (int64_t)k * wpad;
        for (int64_t j = 0; j < wn; j++) acc[j] += a[j];
    }
    for (int64_t g = 0; g < G; g++)
        for (int64_t co = 0; co < coutg; co++) {
            float *r = dw + (g * coutg + co) * K;
            const float *a = acc + g * K * coutg + co;
            for (int64_t k = 0; k < K; k++) r[k] += a[k * coutg];
        }
    team_end(t);
    return LT_OK;
}

/* db (C) += sums of dy (N, C, S) over N and S: 16 float lanes per run of 4096 values (the
 * lane loop vectorises without reassociation), the lanes and runs summed in double. */
#define BIAS_LANES 16
static void bias_grad(const lt_context *ctx, float *db, const float *dy, int64_t n, int64_t c,
                      int64_t s) {
    const int nt = (double)n * (double)c * (double)s >= 1e6 ? lt_ctx_num_threads(ctx) : 1;
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t ch = 0; ch < c; ch++) {
        double acc = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *r = dy + (i * c + ch) * s;
            for (int64_t j0 = 0; j0 < s; j0 += 4096) {
                const int64_t j1 = j0 + 4096 < s ? j0 + 4096 : s;
                const int64_t jv = j0 + (j1 - j0) / BIAS_LANES * BIAS_LANES;
                float lane[BIAS_LANES] = { 0.0f };
                for (int64_t j = j0; j < jv; j += BIAS_LANES)
                    for (int l = 0; l < BIAS_LANES; l++) lane[l] += r[j + l];
                for (int64_t j = jv; j < j1; j++) acc += r[j];
                for (int l = 0; l < BIAS_LANES; l++) acc += lane[l];
            }
        }
        db[ch] += (float)acc;
    }
}

/* out (N, C, S) = b broadcast over N and S (or zero). */
static void fill_bias(const lt_context *ctx, float *out, const float *b, int64_t n, int64_t c,
                      int64_t s) {
    const int nt = (double)n * (double)c * (double)s >= 1e6 ? lt_ctx_num_threads(ctx) : 1;
    #pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < n * c; r++) {
        float *o = out + r * s;
        const float v = b ? b[r % c] : 0.0f;
        for (int64_t j = 0; j < s; j++) o[j] = v;
    }
}

lt_status lt_conv3d_forward(lt_context *ctx, float *out, const float *x, const float *w,
                            const float *b, const lt_conv3d_dims *d) {
    return conv_fwd(ctx, out, x, w, b, d, 0);
}

lt_status lt_conv3d_backward(lt_context *ctx, float *dx, float *dw, float *db, const float *dout,
                             const float *x, const float *w, const lt_conv3d_dims *d) {
    lt_status st = LT_OK;
    if (db) bias_grad(ctx, db, dout, d->n, d->cout, d->od * d->oh * d->ow);
    if (dw) st = conv_bwd_weight(ctx, dw, dout, x, d);
    if (st == LT_OK && dx)
        st = (d->sd == 1 && d->sh == 1 && d->sw == 1) ? conv_bwd_data_gather(ctx, dx, dout, w, d)
                                                       : conv_bwd_data(ctx, dx, dout, w, d);
    return st;
}

lt_status lt_conv_transpose3d_forward(lt_context *ctx, float *out, const float *x, const float *w,
                                      const float *b, const lt_conv3d_dims *d) {
    fill_bias(ctx, out, b, d->n, d->cin, d->d * d->h * d->w);
    return (d->sd == 1 && d->sh == 1 && d->sw == 1) ? conv_bwd_data_gather(ctx, out, x, w, d)
                                                    : conv_bwd_data(ctx, out, x, w, d);
}

lt_status lt_conv_transpose3d_backward(lt_context *ctx, float *dx, float *dw, float *db,
                                       const float *dout, const float *x, const float *w,
                                       const lt_conv3d_dims *d) {
    lt_status st = LT_OK;
    if (db) bias_grad(ctx, db, dout, d->n, d->cin, d->d * d->h * d->w);
    /* the adjoint conv's weight gradient with its input dout and its output gradient x */
    if (dw) st = conv_bwd_weight(ctx, dw, x, dout, d);
    if (st == LT_OK && dx) st = conv_fwd(ctx, dx, dout, w, NULL, d, 1);
    return st;
}

/* ---------------------------------------------------------------- naive references */

/* The input offset of tap (a, b, e) for output (oz, oy, ox), or -1 when outside (padding). */
static int64_t tap(const lt_conv3d_dims *d, int64_t oz, int64_t oy, int64_t ox, int64_t a,
                   int64_t b, int64_t e) {
    const int64_t iz = oz * d->sd - d->pd + a * d->dd, iy = oy * d->sh - d->ph + b * d->dh;
    const int64_t ix = ox * d->sw - d->pw + e * d->dw;
    if (iz < 0 || iz >= d->d || iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) return -1;
    return (iz * d->h + iy) * d->w + ix;
}

/* out = conv(x, w) + b (accumulate: out += conv(x, w)). */
static void naive_fwd(float *out, const float *x, const float *w, const float *b,
                      const lt_conv3d_dims *d, int accumulate) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t k3 = d->kd * d->kh * d->kw, V = d->d * d->h * d->w;
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t co = 0; co < d->cout; co++) {
            const int64_t g = co / coutg;
            for (int64_t oz = 0; oz < d->od; oz++)
                for (int64_t oy = 0; oy < d->oh; oy++)
                    for (int64_t ox = 0; ox < d->ow; ox++) {
                        double acc = (b && !accumulate) ? b[co] : 0.0;
                        for (int64_t c = 0; c < cing; c++)
                            for (int64_t a = 0; a < d->kd; a++)
                                for (int64_t bb = 0; bb < d->kh; bb++)
                                    for (int64_t e = 0; e < d->kw; e++) {
                                        const int64_t o = tap(d, oz, oy, ox, a, bb, e);
                                        if (o < 0) continue;
                                        acc += (double)x[(i * d->cin + g * cing + c) * V + o] *
                                               w[((co * cing + c) * d->kd + a) * d->kh * d->kw +
                                                 bb * d->kw + e];
                                    }
                        float *y = out + (((i * d->cout + co) * d->od + oz) * d->oh + oy) * d->ow + ox;
                        *y = accumulate ? *y + (float)acc : (float)acc;
                    }
        }
    (void)k3;
}

/* dx += conv^T(dy, w), dw += dy (x) x: double buffers, added at the end. */
static lt_status naive_bwd(float *dx, float *dw, const float *dy, const float *x,
                           const float *w, const lt_conv3d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t k3 = d->kd * d->kh * d->kw, V = d->d * d->h * d->w;
    const int64_t nx = d->n * d->cin * V, nw = d->cout * cing * k3;
    double *ax = dx ? calloc((size_t)nx, sizeof(double)) : NULL;
    double *aw = dw ? calloc((size_t)nw, sizeof(double)) : NULL;
    if ((dx && !ax) || (dw && !aw)) { free(ax); free(aw); return LT_ENOMEM; }
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t co = 0; co < d->cout; co++) {
            const int64_t g = co / coutg;
            for (int64_t oz = 0; oz < d->od; oz++)
                for (int64_t oy = 0; oy < d->oh; oy++)
                    for (int64_t ox = 0; ox < d->ow; ox++) {
                        const double gy =
                            dy[(((i * d->cout + co) * d->od + oz) * d->oh + oy) * d->ow + ox];
                        for (int64_t c = 0; c < cing; c++)
                            for (int64_t a = 0; a < d->kd; a++)
                                for (int64_t bb = 0; bb < d->kh; bb++)
                                    for (int64_t e = 0; e < d->kw; e++) {
                                        const int64_t o = tap(d, oz, oy, ox, a, bb, e);
                                        if (o < 0) continue;
                                        const int64_t xi = (i * d->cin + g * cing + c) * V + o;
                                        const int64_t wi = ((co * cing + c) * d->kd + a) * d->kh * d->kw +
                                                           bb * d->kw + e;
                                        if (ax) ax[xi] += gy * w[wi];
                                        if (aw) aw[wi] += gy * x[xi];
                                    }
                    }
        }
    for (int64_t j = 0; ax && j < nx; j++) dx[j] += (float)ax[j];
    for (int64_t j = 0; aw && j < nw; j++) dw[j] += (float)aw[j];
    free(ax);
    free(aw);
    return LT_OK;
}

static void naive_bias_grad(float *db, const float *dy, int64_t n, int64_t c, int64_t s) {
    for (int64_t ch = 0; ch < c; ch++) {
        double acc = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < s; j++) acc += dy[(i * c + ch) * s + j];
        db[ch] += (float)acc;
    }
}

lt_status lt_conv3d_forward_naive(float *out, const float *x, const float *w, const float *b,
                                  const lt_conv3d_dims *d) {
    naive_fwd(out, x, w, b, d, 0);
    return LT_OK;
}

lt_status lt_conv3d_backward_naive(float *dx, float *dw, float *db, const float *dout,
                                   const float *x, const float *w, const lt_conv3d_dims *d) {
    if (db) naive_bias_grad(db, dout, d->n, d->cout, d->od * d->oh * d->ow);
    return (dx || dw) ? naive_bwd(dx, dw, dout, x, w, d) : LT_OK;
}

lt_status lt_conv_transpose3d_forward_naive(float *out, const float *x, const float *w,
                                            const float *b, const lt_conv3d_dims *d) {
    const int64_t s = d->d * d->h * d->w;
    for (int64_t r = 0; r < d->n * d->cin; r++)
        for (int64_t j = 0; j < s; j++) out[r * s + j] = b ? b[r % d->cin] : 0.0f;
    return naive_bwd(out, NULL, x, NULL, w, d);
}

lt_status lt_conv_transpose3d_backward_naive(float *dx, float *dw, float *db,
                                             const float *dout, const float *x,
                                             const float *w, const lt_conv3d_dims *d) {
    if (db) naive_bias_grad(db, dout, d->n, d->cin, d->d * d->h * d->w);
    lt_status st = dw ? naive_bwd(NULL, dw, x, dout, w, d) : LT_OK;
    if (st == LT_OK && dx) naive_fwd(dx, dout, w, NULL, d, 1);
    return st;
}
