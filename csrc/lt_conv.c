/* lt_conv.c: conv2d and conv_transpose2d kernels and their naive direct-loop references.
 * Fast paths: unit-stride convs run direct kernels (forward, input gradient as the
 * flipped-weight conv of the padded output gradient, and weight gradient) on blocks of output
 * rows, in AVX-512 (16-wide, rows of any width with a masked last vector) where the CPU has
 * it, else AVX2/FMA (8-wide, rows a multiple of 8 wide), chosen at run time (lt_conv_set_isa
 * forces one, for the spec); "same" unit-stride convs on small maps run the plane kernels
 * (AVX-512: each channel plane read as one flat pixel run, the padding taps masked off; see
 * "small-plane kernels" below); everything else runs im2col + SGEMM (lunet's lt_gemm, OpenBLAS
 * on CPUs without AVX2) per (image, group), or, for small images, batched: one GEMM over the
 * columns of several images (see "batched im2col + GEMM" below); transposed convs are the
 * adjoints, kernel == stride ones scatter the GEMM straight into the output. OpenMP spreads
 * the blocks/items over the context's thread budget with the GEMMs single-threaded inside;
 * scratch buffers and the algorithm / ISA choice come from the context too. */
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <cblas.h>
#include "lt_conv.h"
#include "lt_gemm.h"
#include "lt_isa.h"
#include "lt_norm.h"
#include "lt_winograd.h"

/* ---------------------------------------------------------------- dims */

/* The per-image GEMM dimensions are passed to BLAS as int. */
static int gemm_sizes_fit(const lt_conv2d_dims *d) {
    const int64_t lim = INT32_MAX;
    int64_t po, pi, k;
    return !lt_mul_ovf(d->oh, d->ow, &po) && po <= lim && !lt_mul_ovf(d->h, d->w, &pi) &&
           pi <= lim && !lt_mul_ovf(d->cin / d->groups, d->kh, &k) && !lt_mul_ovf(k, d->kw, &k) &&
           k <= lim && d->cout <= lim;
}

/* Dilated kernel extent d * (k - 1) + 1 and padded size n + 2 * p (LT_EOVERFLOW if either
 * does not fit in int64). */
static lt_status extents(int64_t n, int64_t p, int64_t k, int64_t dil, int64_t *padded,
                         int64_t *ek) {
    if (lt_mul_ovf(dil, k - 1, ek) || lt_add_ovf(*ek, 1, ek)) return LT_EOVERFLOW;
    if (padded && (lt_mul_ovf(p, 2, padded) || lt_add_ovf(*padded, n, padded))) return LT_EOVERFLOW;
    return LT_OK;
}

lt_status lt_conv2d_dims_init(lt_conv2d_dims *d, int64_t n, int64_t cin, int64_t h, int64_t w,
                              int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                              int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups) {
    if (n < 0 || cin <= 0 || h <= 0 || w <= 0 || cout <= 0 || kh <= 0 || kw <= 0 || sh <= 0 ||
        sw <= 0 || dh <= 0 || dw <= 0 || ph < 0 || pw < 0 || groups <= 0 || cin % groups ||
        cout % groups)
        return LT_EARG;
    int64_t hp, wp, ekh, ekw;
    if (extents(h, ph, kh, dh, &hp, &ekh) != LT_OK || extents(w, pw, kw, dw, &wp, &ekw) != LT_OK)
        return LT_EOVERFLOW;
    if (hp < ekh || wp < ekw) return LT_ESHAPE;
    d->n = n; d->cin = cin; d->h = h; d->w = w;
    d->cout = cout; d->kh = kh; d->kw = kw;
    d->sh = sh; d->sw = sw; d->ph = ph; d->pw = pw; d->dh = dh; d->dw = dw; d->groups = groups;
    d->oh = (hp - ekh) / sh + 1;
    d->ow = (wp - ekw) / sw + 1;
    return gemm_sizes_fit(d) ? LT_OK : LT_EOVERFLOW;
}

/* (in - 1) * s - 2 * p + ek + op: the transposed conv's output size, overflow-checked. */
static lt_status convt_out(int64_t in, int64_t s, int64_t p, int64_t ek, int64_t op,
                           int64_t *out) {
    int64_t p2;
    if (lt_mul_ovf(in - 1, s, out) || lt_add_ovf(*out, ek, out) || lt_add_ovf(*out, op, out) ||
        lt_mul_ovf(p, 2, &p2) || lt_sub_ovf(*out, p2, out))
        return LT_EOVERFLOW;
    return LT_OK;
}

lt_status lt_conv_transpose2d_dims_init(lt_conv2d_dims *d, int64_t n, int64_t cin, int64_t h,
                                        int64_t w, int64_t cout, int64_t kh, int64_t kw,
                                        int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                        int64_t oph, int64_t opw, int64_t dh, int64_t dw,
                                        int64_t groups) {
    if (n < 0 || cin <= 0 || h <= 0 || w <= 0 || cout <= 0 || kh <= 0 || kw <= 0 || sh <= 0 ||
        sw <= 0 || dh <= 0 || dw <= 0 || ph < 0 || pw < 0 || oph < 0 || opw < 0 ||
        groups <= 0 || cin % groups || cout % groups)
        return LT_EARG;
    if ((oph >= sh && oph >= dh) || (opw >= sw && opw >= dw)) return LT_EARG;
    int64_t ekh, ekw, oh, ow;
    if (extents(0, 0, kh, dh, NULL, &ekh) != LT_OK || extents(0, 0, kw, dw, NULL, &ekw) != LT_OK ||
        convt_out(h, sh, ph, ekh, oph, &oh) != LT_OK || convt_out(w, sw, pw, ekw, opw, &ow) != LT_OK)
        return LT_EOVERFLOW;
    if (oh <= 0 || ow <= 0) return LT_ESHAPE;
    /* the adjoint convolution: (N, cout, oh, ow) -> (N, cin, h, w) */
    d->n = n; d->cin = cout; d->h = oh; d->w = ow;
    d->cout = cin; d->kh = kh; d->kw = kw; d->oh = h; d->ow = w;
    d->sh = sh; d->sw = sw; d->ph = ph; d->pw = pw; d->dh = dh; d->dw = dw; d->groups = groups;
    return gemm_sizes_fit(d) ? LT_OK : LT_EOVERFLOW;
}

/* Bytes of a + b * c floats (scratch sizes), or 0 when that overflows size_t / int64. */
static size_t floats_bytes(int64_t a, int64_t b, int64_t c) {
    int64_t n;
    if (lt_mul_ovf(b, c, &n) || lt_add_ovf(n, a, &n) || lt_mul_ovf(n, (int64_t)sizeof(float), &n) ||
        n < 0 || (uint64_t)n > (uint64_t)SIZE_MAX - 128)
        return 0;
    return (size_t)n;
}

/* ---------------------------------------------------------------- helpers */

/* Output columns ox in [*lo, *hi) read input column ox*s + off inside [0, w). */
static void valid_range(int64_t off, int64_t s, int64_t w, int64_t ow, int64_t *lo,
                        int64_t *hi) {
    int64_t l = off >= 0 ? 0 : -off / s + (-off % s != 0);   /* ceil(-off / s), no overflow */
    int64_t h = (w - 1 - off) < 0 ? 0 : (w - 1 - off) / s + 1;
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l; *hi = h;
}

/* col rows ci0*kh*kw .. ci1*kh*kw-1 (row stride ld, the first row is channel ci0's) = the
 * patches of x (c, H, W) for output rows oy0..oy1-1, (oy1-oy0)*OW columns each */
static void im2col_ld(float *col, int64_t ld, const float *x, int64_t ci0, int64_t ci1,
                      const lt_conv2d_dims *d, int64_t oy0, int64_t oy1) {
    const int64_t H = d->h, W = d->w, OW = d->ow;
    /* unit stride with output rows as wide as the input ('same' convolutions): the rows of
     * one tap are one shifted copy of the input plane, its wrapped edge columns zeroed after */
    const int same = d->sh == 1 && d->sw == 1 && W == OW;
    for (int64_t ci = ci0; ci < ci1; ci++)
        for (int64_t ky = 0; ky < d->kh; ky++)
            for (int64_t kx = 0; kx < d->kw; kx++) {
                float *row = col + (((ci - ci0) * d->kh + ky) * d->kw + kx) * ld;
                const int64_t xoff = kx * d->dw - d->pw;
                int64_t lo, hi;
                valid_range(xoff, d->sw, W, OW, &lo, &hi);
                if (same) {
                    /* output rows oy read input row oy + yoff, inside [0, H) for [ya, yb) */
                    const int64_t yoff = ky * d->dh - d->ph;
                    int64_t ya = -yoff > oy0 ? -yoff : oy0, yb = H - yoff < oy1 ? H - yoff : oy1;
                    if (yb < ya || lo == hi) yb = ya = oy1;
                    if (ya > oy0) memset(row, 0, (size_t)((ya - oy0) * OW) * sizeof(float));
                    if (yb < oy1)
                        memset(row + (yb - oy0) * OW, 0, (size_t)((oy1 - yb) * OW) * sizeof(float));
                    if (yb > ya) {
                        float *r = row + (ya - oy0) * OW;
                        const float *xr = x + (ci * H + ya + yoff) * W + xoff;
                        const int64_t n = (yb - ya) * OW - lo - (OW - hi);
                        memcpy(r + lo, xr + lo, (size_t)n * sizeof(float));
                        if (lo > 0 || hi < OW)
                            for (int64_t y = 0; y < yb - ya; y++) {
                                for (int64_t ox = 0; ox < lo; ox++) r[y * OW + ox] = 0.0f;
                                for (int64_t ox = hi; ox < OW; ox++) r[y * OW + ox] = 0.0f;
                            }
                    }
                    continue;
                }
                for (int64_t oy = oy0; oy < oy1; oy++) {
                    float *r = row + (oy - oy0) * OW;
                    const int64_t iy = oy * d->sh - d->ph + ky * d->dh;
                    if (iy < 0 || iy >= H || lo == hi) {
                        memset(r, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *xr = x + (ci * H + iy) * W + xoff;
                    if (lo > 0) memset(r, 0, (size_t)lo * sizeof(float));
                    if (d->sw == 1) memcpy(r + lo, xr + lo, (size_t)(hi - lo) * sizeof(float));
                    else
                        for (int64_t ox = lo; ox < hi; ox++) r[ox] = xr[ox * d->sw];
                    if (hi < OW) memset(r + hi, 0, (size_t)(OW - hi) * sizeof(float));
                }
            }
}

/* col (c*kh*kw, (oy1-oy0)*OW) = patches of x (c, H, W) for output rows oy0..oy1-1 */
static void im2col_rows(float *col, const float *x, int64_t c, const lt_conv2d_dims *d,
                        int64_t oy0, int64_t oy1) {
    im2col_ld(col, (oy1 - oy0) * d->ow, x, 0, c, d, oy0, oy1);
}

static void im2col(float *col, const float *x, int64_t c, const lt_conv2d_dims *d) {
    im2col_rows(col, x, c, d, 0, d->oh);
}

/* Output rows per weight-gradient chunk: keeps the column block near 512 KB (in L2). */
static int64_t chunk_rows(const lt_conv2d_dims *d, int64_t K) {
    int64_t r = (int64_t)(512 * 1024 / sizeof(float)) / (K * d->ow);
    if (r < 1) r = 1;
    if (r > d->oh) r = d->oh;
    return r;
}

/* x (c, H, W) channels ci0..ci1-1 += the patches in col rows ci0*kh*kw .. (row stride ld,
 * the first row is channel ci0's) of output rows oy0..oy1-1 */
static void col2im_ld(float *x, const float *col, int64_t ld, int64_t ci0, int64_t ci1,
                      const lt_conv2d_dims *d, int64_t oy0, int64_t oy1) {
    const int64_t H = d->h, W = d->w, OW = d->ow;
    for (int64_t ci = ci0; ci < ci1; ci++)
        for (int64_t ky = 0; ky < d->kh; ky++)
            for (int64_t kx = 0; kx < d->kw; kx++) {
                const float *row = col + (((ci - ci0) * d->kh + ky) * d->kw + kx) * ld;
                const int64_t xoff = kx * d->dw - d->pw;
                int64_t lo, hi;
                valid_range(xoff, d->sw, W, OW, &lo, &hi);
                for (int64_t oy = oy0; oy < oy1; oy++) {
                    const int64_t iy = oy * d->sh - d->ph + ky * d->dh;
                    if (iy < 0 || iy >= H) continue;
                    const float *r = row + (oy - oy0) * OW;
                    float *xr = x + (ci * H + iy) * W + xoff;
                    if (d->sw == 1)
                        for (int64_t ox = lo; ox < hi; ox++) xr[ox] += r[ox];
                    else
                        for (int64_t ox = lo; ox < hi; ox++) xr[ox * d->sw] += r[ox];
                }
            }
}

/* x (c, H, W) += the patches in col (c*kh*kw, OH*OW) */
static void col2im_add(float *x, const float *col, int64_t c, const lt_conv2d_dims *d) {
    col2im_ld(x, col, d->oh * d->ow, 0, c, d, 0, d->oh);
}

/* db (c) += sum over images and pixels of t (n, c, hw). The channels are split over the
 * threads (each channel summed by one thread in a fixed order: the same bits for any thread
 * count) from 32K elements (128 KB, ~10 us on one core): with the former 1M threshold every
 * bias gradient of the Fashion-MNIST U-Net (at most 64 x 16 x 28 x 28 = 800K) ran on the main
 * thread alone while the worker slept (2.7% of the main thread's samples in the 2-thread
 * step, none in the worker's). */
static void bias_grad(const lt_context *ctx, float *db, const float *t, int64_t n, int64_t c,
                      int64_t hw) {
    lt_channel_sums_add(ctx, db, t, n, c, hw);   /* csrc/lt_norm.c: vectorised per ISA level */
}

/* out (n, c, hw) += b (c) */
static void bias_add(float *out, const float *b, int64_t n, int64_t c, int64_t hw) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            float *p = out + (i * c + ch) * hw;
            const float v = b[ch];
            for (int64_t j = 0; j < hw; j++) p[j] += v;
        }
}

/* 1x1 kernels with unit stride and no padding read the input as its own column matrix. */
static int is_pointwise(const lt_conv2d_dims *d) {
    return d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->ph == 0 && d->pw == 0 &&
           d->oh == d->h && d->ow == d->w;
}

/* Work split: with at least as many (image, group) items as threads, items are handed out
 * to OpenMP threads one at a time (dynamic: a thread the OS preempts does not hold up the
 * others) with single-threaded BLAS inside; else one thread here and OpenBLAS threads.
 * Calls under SMALL_FLOPS run on one thread: waking a second one costs more than it saves,
 * and on a busy machine it may not get a core for a whole scheduler slice. */
#define SMALL_FLOPS 1.6e7
typedef struct { int nt; int saved_blas; } par_plan;

/* OpenBLAS instead of lt_gemm: on CPUs without AVX2, or when the context's ISA level is
 * forced down to generic (LUNET_ISA=generic, lunet.core.set_isa) */
static int gemm_generic(const lt_context *ctx) {
    return lt_gemm_best_isa() == LT_GEMM_GENERIC || lt_ctx_isa(ctx) == LT_ISA_GENERIC;
}

/* GEMM ISA: the one the spec forces with conv_set_isa, else the best */
static int gemm_isa_of(const lt_context *ctx) {
    const int isa = lt_ctx_conv_isa(ctx);
    return isa == LT_CONV_ISA_AVX2 ? LT_GEMM_AVX2 : isa == LT_CONV_ISA_AVX512 ? LT_GEMM_AVX512
                                                                             : LT_GEMM_AUTO;
}

static par_plan plan_begin(const lt_context *ctx, int64_t items, double flops) {
    par_plan p;
    int t = lt_ctx_num_threads(ctx);
    if (t < 1) t = 1;
    p.saved_blas = 0;
    p.nt = 1;
    if (t > 1 && (items >= t || flops < SMALL_FLOPS)) {
        if (items >= t && flops >= SMALL_FLOPS) p.nt = t;
        /* only OpenBLAS (CPUs without AVX2) needs its own pool quiet inside the team */
        if (gemm_generic(ctx)) {
            p.saved_blas = openblas_get_num_threads();
            if (p.saved_blas != 1) openblas_set_num_threads(1);
        }
    }
    return p;
}

static void plan_end(par_plan p) {
    if (p.saved_blas > 1) openblas_set_num_threads(p.saved_blas);
}

/* lunet's packed SGEMM (lt_gemm.c: AVX-512 or AVX2 kernels, faster here than OpenBLAS, which
 * falls back to SSE3 kernels on CPUs it does not know): on this thread inside a team, split
 * over the thread budget when one large GEMM runs alone. OpenBLAS on CPUs without AVX2, or
 * if lt_gemm cannot allocate its packing buffers. */
static void sgemm(const lt_context *ctx, int ta, int tb, int64_t m, int64_t n, int64_t k,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc) {
    const int nt = omp_get_active_level() == 0 && 2.0 * (double)m * (double)n * (double)k >= SMALL_FLOPS
                       ? lt_ctx_num_threads(ctx) : 1;
    if (!gemm_generic(ctx) &&
        lt_gemm_parallel(nt, gemm_isa_of(ctx), ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc) == LT_OK)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* ---------------------------------------------------------------- direct stride-1 kernel */

/* Unit-stride convolutions whose output width is a multiple of 8 run a direct kernel on a
 * zero-padded copy of the input: no column matrix, MR output channels x 16 (or 8) pixels
 * of one output row per register tile (AVX2/FMA, chosen at run time). The input gradient
 * of such a convolution is the same kernel on the padded output gradient with the weights
 * transposed and flipped. */
#define MR 6
#define MRZ 8   /* AVX-512: 8 channels x 32 pixels, 16 zmm accumulators */

/* The choices live in the context (one per Lua state); the CPU probe keeps no state of its
 * own: __builtin_cpu_supports reads the table libgcc fills before any constructor runs. */
lt_status lt_conv_set_algo(lt_context *ctx, int algo) {
    if (algo != LT_CONV_AUTO && algo != LT_CONV_GEMM && algo != LT_CONV_DIRECT &&
        algo != LT_CONV_BATCHED && algo != LT_CONV_WINOGRAD && algo != LT_CONV_WINOGRAD_F2 &&
        algo != LT_CONV_PLANE)
        return LT_EARG;
    lt_ctx_set_conv_algo(ctx, algo);
    return LT_OK;
}

int lt_conv_get_algo(const lt_context *ctx) { return lt_ctx_conv_algo(ctx); }

static int have_avx2(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int have_avx512(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    return have_avx2() && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

int lt_conv_isa_supported(int isa) {
    return isa == LT_CONV_ISA_AVX2 ? have_avx2() : isa == LT_CONV_ISA_AVX512 ? have_avx512() : 0;
}

lt_status lt_conv_set_isa(lt_context *ctx, int isa) {
    if (!lt_conv_isa_supported(isa)) return LT_EARG;
    lt_ctx_set_conv_isa(ctx, isa);
    return LT_OK;
}

/* ISA of the direct kernels: the context's -1 means the best the CPU has (AVX-512 when
 * present) */
int lt_conv_get_isa(const lt_context *ctx) {
    const int isa = lt_ctx_conv_isa(ctx);
    if (isa >= 0) return isa;
    return have_avx512() ? LT_CONV_ISA_AVX512 : LT_CONV_ISA_AVX2;
}

static int use_avx512(const lt_context *ctx) { return lt_conv_get_isa(ctx) == LT_CONV_ISA_AVX512; }

/* The direct kernel on output rows ow wide runs AVX-512 tiles of MRZ channels, else AVX2
 * tiles of MR channels; the weights are packed for the tile height used. */
static int use_z(const lt_context *ctx, int64_t ow) { (void)ow; return use_avx512(ctx); }
static int64_t tile_mr(const lt_context *ctx, int64_t ow) { return use_z(ctx, ow) ? MRZ : MR; }

/* Can the direct kernel compute the conv (N, ci, H, W) -> (N, co, oh, ow) of d? */
static int direct_fits(const lt_context *ctx, const lt_conv2d_dims *d, int64_t co, int64_t oww) {
    const int algo = lt_ctx_conv_algo(ctx);
    if (algo == LT_CONV_GEMM || algo == LT_CONV_BATCHED || !have_avx2() || d->sh != 1 ||
        d->sw != 1 || (oww % 8 && !use_avx512(ctx)))
        return 0;
    if (algo == LT_CONV_DIRECT) return 1;
    /* measured on the U-Net shapes (one thread, CPU time): the direct forward / input
     * gradient runs at 90-106 GFLOP/s on 14- to 128-wide rows, ahead of im2col + GEMM; the
     * direct weight gradient (conv_bwd_split) wins over im2col + GEMM only with few output
     * channels (<= 16: the column matrix is reused by few of them) or rows from 96 wide. With
     * fewer than 4 output channels per group (depthwise) most of the MR-row register tile
     * would idle; but an ungrouped conv with 1-3 output channels (U^2-Net's side outputs)
     * still runs 4-10x faster direct than as im2col + a one-row GEMM (forward, dw). */
    return (co >= 4 || (d->groups == 1 && co == d->cout)) && oww >= 8;
}

/* wp[cb][ci][ky][kx][mr] for the (co_n, ci_n, kh, kw) weights of one group (mr: MR or MRZ
 * channels per tile); adjoint packs the weights of the input-gradient conv:
 * wp(c, o, ky, kx) = w(o, c, kh-1-ky, kw-1-kx). */
static void pack_block(float *wp, const float *w, int64_t co_n, int64_t ci_n, int64_t kh,
                       int64_t kw, int adjoint, int64_t cb, int64_t mr) {
    const int64_t kk = kh * kw;
    for (int64_t ci = 0; ci < ci_n; ci++)
        for (int64_t k = 0; k < kk; k++)
            for (int64_t r = 0; r < mr; r++) {
                const int64_t co = cb * mr + r;
                float v = 0.0f;
                if (co < co_n)
                    v = adjoint ? w[(ci * co_n + co) * kk + (kk - 1 - k)]
                                : w[(co * ci_n + ci) * kk + k];
                wp[((cb * ci_n + ci) * kk + k) * mr + r] = v;
            }
}

/* Packs the weights of all groups (G groups of (co_n, ci_n, kh, kw) weights, packed blocks
 * wsz floats apart). Serial: a worksharing loop here would add a barrier per call, and on a
 * busy machine every barrier may wait a scheduler slice for a preempted thread. */
static void pack_weights(float *wp, const float *w, int64_t G, int64_t wsz, int64_t co_n,
                         int64_t ci_n, int64_t kh, int64_t kw, int adjoint, int64_t mr) {
    const int64_t nb = (co_n + mr - 1) / mr;
    for (int64_t u = 0; u < G * nb; u++)
        pack_block(wp + (u / nb) * wsz, w + (u / nb) * co_n * ci_n * kh * kw, co_n, ci_n, kh, kw,
                   adjoint, u % nb, mr);
}

/* tb (c, nr, wp) = rows y0 .. y0+nr-1 of x (c, h, w) zero-padded by pt rows on top and pl
 * columns on the left (and zeros up to wp on the right, and below the last row) */
static void pad_block(float *tb, const float *x, int64_t c, int64_t h, int64_t w, int64_t pt,
                      int64_t pl, int64_t wp, int64_t y0, int64_t nr) {
    const int64_t pr = wp - w - pl;
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t r = 0; r < nr; r++) {
            float *dst = tb + (ci * nr + r) * wp;
            const int64_t sy = y0 + r - pt;
            if (sy < 0 || sy >= h) {
                memset(dst, 0, (size_t)wp * sizeof(float));
                continue;
            }
            if (pl) memset(dst, 0, (size_t)pl * sizeof(float));
            memcpy(dst + pl, x + (ci * h + sy) * w, (size_t)w * sizeof(float));
            if (pr) memset(dst + pl + w, 0, (size_t)pr * sizeof(float));
        }
}

typedef struct {
    int64_t cin, hp, wp;       /* padded input (cin, hp, wp) */
    int64_t cout, oh, ow;      /* output (cout, oh, ow) */
    int64_t kh, kw, dh, dw;
    int64_t plane;             /* output channel stride (the full oh * ow) */
} direct_dims;

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* One output row y of MR channels (nco of them stored) starting at out (row 0 of channel 0).
 * The accumulators are named variables: GCC spills arrays of vectors to the stack. */
#define FMA_ROW(r, v0, v1) do { if ((r) < NRC) { const __m256 b_ = _mm256_broadcast_ss(wk + (r)); \
        a##r##0 = _mm256_fmadd_ps(b_, v0, a##r##0); a##r##1 = _mm256_fmadd_ps(b_, v1, a##r##1); } } while (0)
#define FMA_ROW1(r, v0) do { if ((r) < NRC) \
        a##r##0 = _mm256_fmadd_ps(_mm256_broadcast_ss(wk + (r)), v0, a##r##0); } while (0)
#define STORE2(r) do { if ((r) < NRC) { float *o_ = out + (r) * plane + y * q->ow + x0; \
        __m256 s0_ = a##r##0, s1_ = a##r##1; \
        if (accumulate) { s0_ = _mm256_add_ps(s0_, _mm256_loadu_ps(o_)); \
                          s1_ = _mm256_add_ps(s1_, _mm256_loadu_ps(o_ + 8)); } \
        if (bias) { const __m256 bb_ = _mm256_set1_ps(bias[r]); \
                    s0_ = _mm256_add_ps(s0_, bb_); s1_ = _mm256_add_ps(s1_, bb_); } \
        _mm256_storeu_ps(o_, s0_); _mm256_storeu_ps(o_ + 8, s1_); } } while (0)
#define STORE1(r) do { if ((r) < NRC) { float *o_ = out + (r) * plane + y * q->ow + x0; \
        __m256 s0_ = a##r##0; \
        if (accumulate) s0_ = _mm256_add_ps(s0_, _mm256_loadu_ps(o_)); \
        if (bias) s0_ = _mm256_add_ps(s0_, _mm256_set1_ps(bias[r])); \
        _mm256_storeu_ps(o_, s0_); } } while (0)

/* The taps of one (ci, ky) input row: generic kw, or kw = 3 unrolled. */
#define TAPS2(KW) for (int64_t kx = 0; kx < (KW); kx++) { \
        const __m256 v0 = _mm256_loadu_ps(row + kx * dw), v1 = _mm256_loadu_ps(row + kx * dw + off1); \
        const float *wk = wr + kx * MR; \
        FMA_ROW(0, v0, v1); FMA_ROW(1, v0, v1); FMA_ROW(2, v0, v1); \
        FMA_ROW(3, v0, v1); FMA_ROW(4, v0, v1); FMA_ROW(5, v0, v1); }
#define TAPS1(KW) for (int64_t kx = 0; kx < (KW); kx++) { \
        const __m256 v0 = _mm256_loadu_ps(row + kx * dw); \
        const float *wk = wr + kx * MR; \
        FMA_ROW1(0, v0); FMA_ROW1(1, v0); FMA_ROW1(2, v0); \
        FMA_ROW1(3, v0); FMA_ROW1(4, v0); FMA_ROW1(5, v0); }

/* rows = cin*kh input rows per tile: row r = (ci, ky) starts at xp + ci*hp*wp + ky*dh*wp
 * (relative to the tile), its weights at wpb + r*kw*MR. */
#define ROW_LOOP(TAPS, KW) do { \
        const float *base = xp + y * q->wp + x0; \
        const float *wr = wpb; \
        for (int64_t ci = 0; ci < q->cin; ci++, base += chan) { \
            const float *row = base; \
            for (int64_t ky = 0; ky < q->kh; ky++, row += rstep, wr += (KW) * MR) { TAPS(KW) } \
        } } while (0)

/* NRC (a constant after inlining) output channels are computed and stored: the tail block
 * of a channel count that is not a multiple of MR runs a narrower tile. */
__attribute__((target("avx2,fma"), always_inline))
static inline void direct_row_n(float *out, const float *xp, const float *wpb, const float *bias,
                                int64_t y, const direct_dims *q, int accumulate, const int NRC) {
    const int64_t plane = q->plane, kw = q->kw, dw = q->dw;
    const int64_t chan = q->hp * q->wp, rstep = q->dh * q->wp;
    /* 16 pixels of row y; on 8-wide images rows y and y + 1 (the second half of a tile is
     * then the next input row, and the next output row follows at o + 8) */
    const int two_rows = q->ow == 8 && y + 1 < q->oh;
    const int64_t off1 = two_rows ? q->wp : 8, wend = two_rows ? 16 : q->ow;
    int64_t x0 = 0;
    for (; x0 + 16 <= wend; x0 += 16) {
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
        __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
        if (kw == 3) ROW_LOOP(TAPS2, 3);
        else ROW_LOOP(TAPS2, kw);
        STORE2(0); STORE2(1); STORE2(2); STORE2(3); STORE2(4); STORE2(5);
    }
    if (two_rows) return;
    for (; x0 + 8 <= q->ow; x0 += 8) {
        __m256 a00 = _mm256_setzero_ps(), a10 = a00, a20 = a00, a30 = a00, a40 = a00, a50 = a00;
        if (kw == 3) ROW_LOOP(TAPS1, 3);
        else ROW_LOOP(TAPS1, kw);
        STORE1(0); STORE1(1); STORE1(2); STORE1(3); STORE1(4); STORE1(5);
    }
}

#define DIRECT_ROW_K(k) \
    __attribute__((target("avx2,fma"))) \
    static void direct_row_##k(float *out, const float *xp, const float *wpb, \
                               const float *bias, int64_t y, const direct_dims *q, int accumulate) { \
        direct_row_n(out, xp, wpb, bias, y, q, accumulate, k); }
DIRECT_ROW_K(1) DIRECT_ROW_K(2) DIRECT_ROW_K(3) DIRECT_ROW_K(4) DIRECT_ROW_K(5) DIRECT_ROW_K(6)

static void direct_row(float *out, const float *xp, const float *wpb, const float *bias,
                       int64_t y, int nco, const direct_dims *q, int accumulate) {
    switch (nco) {
    case 1: direct_row_1(out, xp, wpb, bias, y, q, accumulate); break;
    case 2: direct_row_2(out, xp, wpb, bias, y, q, accumulate); break;
    case 3: direct_row_3(out, xp, wpb, bias, y, q, accumulate); break;
    case 4: direct_row_4(out, xp, wpb, bias, y, q, accumulate); break;
    case 5: direct_row_5(out, xp, wpb, bias, y, q, accumulate); break;
    default: direct_row_6(out, xp, wpb, bias, y, q, accumulate); break;
    }
}

__attribute__((target("avx2,fma")))
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define DW_FMA(r) do { const __m256 g_ = _mm256_loadu_ps(d##r + o); \
        a##r##0 = _mm256_fmadd_ps(g_, v0, a##r##0); a##r##1 = _mm256_fmadd_ps(g_, v1, a##r##1); \
        a##r##2 = _mm256_fmadd_ps(g_, v2, a##r##2); } while (0)
#define DW_STORE(r) do { if ((r) < nco) { float *t_ = dst + (r) * wco; \
        t_[0] += hsum8(a##r##0); t_[1] += hsum8(a##r##1); t_[2] += hsum8(a##r##2); } } while (0)

/* Weight gradient of a unit-stride 3-wide kernel for one image and group:
 * dw (cout, cin, kh, 3) += sum over pixels of dy (cout, oh, ow) * shifted rows of xp
 * (cin, hp, wp). Register tile: 4 output channels x 3 taps, 8 pixels per lane group;
 * the pixels are walked in chunks of about 1024 so the dy rows stay in L1. */
__attribute__((target("avx2,fma")))
static void direct_dw_image(float *dw, const float *dy, const float *xp, const direct_dims *q) {
    const int64_t ow = q->ow, plane = q->plane, chan = q->hp * q->wp, wco = q->cin * q->kh * 3;
    const int64_t dd = q->dw;
    int64_t rows = 1024 / ow;
    if (rows < 1) rows = 1;
    for (int64_t y0 = 0; y0 < q->oh; y0 += rows) {
        const int64_t y1 = y0 + rows < q->oh ? y0 + rows : q->oh;
        for (int64_t cb = 0; cb < q->cout; cb += 4) {
            const int nco = q->cout - cb < 4 ? (int)(q->cout - cb) : 4;
            const float *d0 = dy + cb * plane;
            const float *d1 = dy + (cb + (nco > 1 ? 1 : 0)) * plane;
            const float *d2 = dy + (cb + (nco > 2 ? 2 : 0)) * plane;
            const float *d3 = dy + (cb + (nco > 3 ? 3 : 0)) * plane;
            for (int64_t ci = 0; ci < q->cin; ci++)
                for (int64_t ky = 0; ky < q->kh; ky++) {
                    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00;
                    __m256 a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00;
                    __m256 a32 = a00;
                    for (int64_t y = y0; y < y1; y++) {
                        const float *xr = xp + ci * chan + (y + ky * q->dh) * q->wp;
                        for (int64_t x = 0, o = y * ow; x < ow; x += 8, o += 8) {
                            const __m256 v0 = _mm256_loadu_ps(xr + x);
                            const __m256 v1 = _mm256_loadu_ps(xr + x + dd);
                            const __m256 v2 = _mm256_loadu_ps(xr + x + 2 * dd);
                            DW_FMA(0); DW_FMA(1); DW_FMA(2); DW_FMA(3);
                        }
                    }
                    float *dst = dw + ((cb * q->cin + ci) * q->kh + ky) * 3;
                    DW_STORE(0); DW_STORE(1); DW_STORE(2); DW_STORE(3);
                }
        }
    }
}

/* AVX-512 variants (16-wide zmm, chosen at run time when the CPU has AVX-512F and the ISA
 * switch allows it): the same register tiles as above with twice the pixels per vector.
 * Forward / input gradient: MRZ channels x 32 pixels (two rows on 16-wide images), then
 * 16-pixel tiles, then an 8-pixel masked tail; 8-wide images keep the AVX2 kernel. */
#define FMA_ROWZ(r, v0, v1) do { if ((r) < NRC) { const __m512 b_ = _mm512_set1_ps(wk[r]); \
        a##r##0 = _mm512_fmadd_ps(b_, v0, a##r##0); a##r##1 = _mm512_fmadd_ps(b_, v1, a##r##1); } } while (0)
#define FMA_ROWZ1(r, v0) do { if ((r) < NRC) \
        a##r##0 = _mm512_fmadd_ps(_mm512_set1_ps(wk[r]), v0, a##r##0); } while (0)
#define STOREZ2(r) do { if ((r) < NRC) { float *o_ = out + (r) * plane + y * q->ow + x0; \
        __m512 s0_ = a##r##0, s1_ = a##r##1; \
        if (accumulate) { s0_ = _mm512_add_ps(s0_, _mm512_loadu_ps(o_)); \
                          s1_ = _mm512_add_ps(s1_, _mm512_loadu_ps(o_ + 16)); } \
        if (bias) { const __m512 bb_ = _mm512_set1_ps(bias[r]); \
                    s0_ = _mm512_add_ps(s0_, bb_); s1_ = _mm512_add_ps(s1_, bb_); } \
        _mm512_storeu_ps(o_, s0_); _mm512_storeu_ps(o_ + 16, s1_); } } while (0)
#define STOREZ1(r) do { if ((r) < NRC) { float *o_ = out + (r) * plane + y * q->ow + x0; \
        __m512 s0_ = a##r##0; \
        if (accumulate) s0_ = _mm512_add_ps(s0_, _mm512_maskz_loadu_ps(m, o_)); \
        if (bias) s0_ = _mm512_add_ps(s0_, _mm512_set1_ps(bias[r])); \
        _mm512_mask_storeu_ps(o_, m, s0_); } } while (0)
#define TAPSZ2(KW) for (int64_t kx = 0; kx < (KW); kx++) { \
        const __m512 v0 = _mm512_loadu_ps(row + kx * dw), v1 = _mm512_loadu_ps(row + kx * dw + off1); \
        const float *wk = wr + kx * MRZ; \
        FMA_ROWZ(0, v0, v1); FMA_ROWZ(1, v0, v1); FMA_ROWZ(2, v0, v1); FMA_ROWZ(3, v0, v1); \
        FMA_ROWZ(4, v0, v1); FMA_ROWZ(5, v0, v1); FMA_ROWZ(6, v0, v1); FMA_ROWZ(7, v0, v1); }
#define TAPSZ1(KW) for (int64_t kx = 0; kx < (KW); kx++) { \
        const __m512 v0 = _mm512_maskz_loadu_ps(m, row + kx * dw); \
        const float *wk = wr + kx * MRZ; \
        FMA_ROWZ1(0, v0); FMA_ROWZ1(1, v0); FMA_ROWZ1(2, v0); FMA_ROWZ1(3, v0); \
        FMA_ROWZ1(4, v0); FMA_ROWZ1(5, v0); FMA_ROWZ1(6, v0); FMA_ROWZ1(7, v0); }
#define ROW_LOOPZ(TAPS, KW) do { \
        const float *base = xp + y * q->wp + x0; \
        const float *wr = wpb; \
        for (int64_t ci = 0; ci < q->cin; ci++, base += chan) { \
            const float *row = base; \
            for (int64_t ky = 0; ky < q->kh; ky++, row += rstep, wr += (KW) * MRZ) { TAPS(KW) } \
        } } while (0)

/* two 8-float rows, at p and p + stride, as one zmm */
__attribute__((target("avx512f"), always_inline))
static inline __m512 load_rows8(const float *p, int64_t stride) {
    const __m512d lo = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(p)));
    return _mm512_castpd_ps(_mm512_insertf64x4(lo, _mm256_castps_pd(_mm256_loadu_ps(p + stride)), 1));
}
#define TAPSZ4(KW) for (int64_t kx = 0; kx < (KW); kx++) { \
        const __m512 v0 = load_rows8(row + kx * dw, q->wp); \
        const __m512 v1 = load_rows8(row + kx * dw + 2 * q->wp, q->wp); \
        const float *wk = wr + kx * MRZ; \
        FMA_ROWZ(0, v0, v1); FMA_ROWZ(1, v0, v1); FMA_ROWZ(2, v0, v1); FMA_ROWZ(3, v0, v1); \
        FMA_ROWZ(4, v0, v1); FMA_ROWZ(5, v0, v1); FMA_ROWZ(6, v0, v1); FMA_ROWZ(7, v0, v1); }

/* Output row y (rows y, y + 1 on 16-wide images while two are left; rows y .. y + 3 on 8-wide
 * ones while four are left, else all the remaining ones, one by one). */
__attribute__((target("avx512f"), always_inline))
static inline void direct_row_z(float *out, const float *xp, const float *wpb, const float *bias,
                                int64_t y, const direct_dims *q, int accumulate, const int NRC) {
    const int64_t plane = q->plane, kw = q->kw, dw = q->dw;
    const int64_t chan = q->hp * q->wp, rstep = q->dh * q->wp;
    if (q->ow == 8 && y + 4 <= q->oh) {
        const int64_t x0 = 0;
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
        __m512 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
        __m512 a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        if (kw == 3) ROW_LOOPZ(TAPSZ4, 3);
        else ROW_LOOPZ(TAPSZ4, kw);
        STOREZ2(0); STOREZ2(1); STOREZ2(2); STOREZ2(3);
        STOREZ2(4); STOREZ2(5); STOREZ2(6); STOREZ2(7);
        return;
    }
    const int64_t ylast = q->ow == 8 ? q->oh : y + 1;
    for (; y < ylast; y++) {
        const int two_rows = q->ow == 16 && y + 1 < q->oh;
        const int64_t off1 = two_rows ? q->wp : 16, wend = two_rows ? 32 : q->ow;
        int64_t x0 = 0;
        for (; x0 + 32 <= wend; x0 += 32) {
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00;
            __m512 a21 = a00, a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
            __m512 a60 = a00, a61 = a00, a70 = a00, a71 = a00;
            if (kw == 3) ROW_LOOPZ(TAPSZ2, 3);
            else ROW_LOOPZ(TAPSZ2, kw);
            STOREZ2(0); STOREZ2(1); STOREZ2(2); STOREZ2(3);
            STOREZ2(4); STOREZ2(5); STOREZ2(6); STOREZ2(7);
        }
        if (two_rows) return;
        for (; x0 < q->ow; x0 += 16) {
            const __mmask16 m = (__mmask16)(q->ow - x0 >= 16 ? 0xFFFFu : (1u << (q->ow - x0)) - 1u);
            __m512 a00 = _mm512_setzero_ps(), a10 = a00, a20 = a00, a30 = a00, a40 = a00;
            __m512 a50 = a00, a60 = a00, a70 = a00;
            if (kw == 3) ROW_LOOPZ(TAPSZ1, 3);
            else ROW_LOOPZ(TAPSZ1, kw);
            STOREZ1(0); STOREZ1(1); STOREZ1(2); STOREZ1(3);
            STOREZ1(4); STOREZ1(5); STOREZ1(6); STOREZ1(7);
        }
    }
}

#define DIRECT_ROW_Z(k) \
    __attribute__((target("avx512f"))) \
    static void direct_row_z##k(float *out, const float *xp, const float *wpb, \
                                const float *bias, int64_t y, const direct_dims *q, int accumulate) { \
        direct_row_z(out, xp, wpb, bias, y, q, accumulate, k); }
DIRECT_ROW_Z(1) DIRECT_ROW_Z(2) DIRECT_ROW_Z(3) DIRECT_ROW_Z(4) DIRECT_ROW_Z(5) DIRECT_ROW_Z(6)
DIRECT_ROW_Z(7) DIRECT_ROW_Z(8)

static void direct_row_512(float *out, const float *xp, const float *wpb, const float *bias,
                           int64_t y, int nco, const direct_dims *q, int accumulate) {
    switch (nco) {
    case 1: direct_row_z1(out, xp, wpb, bias, y, q, accumulate); break;
    case 2: direct_row_z2(out, xp, wpb, bias, y, q, accumulate); break;
    case 3: direct_row_z3(out, xp, wpb, bias, y, q, accumulate); break;
    case 4: direct_row_z4(out, xp, wpb, bias, y, q, accumulate); break;
    case 5: direct_row_z5(out, xp, wpb, bias, y, q, accumulate); break;
    case 6: direct_row_z6(out, xp, wpb, bias, y, q, accumulate); break;
    case 7: direct_row_z7(out, xp, wpb, bias, y, q, accumulate); break;
    default: direct_row_z8(out, xp, wpb, bias, y, q, accumulate); break;
    }
}

/* Weight gradient with 16-pixel vectors (any output width: a masked last vector per row):
 * register tile of 8 output channels x 3 taps (24 zmm accumulators); pixels in chunks of
 * about 1024 (fewer horizontal sums per pixel; the 8 channels of dy rows, 32 KB, stay in L1 /
 * L2). Else as direct_dw_image. */
#define DWZ_FMA(r) do { if ((r) < NCO) { const __m512 g_ = _mm512_loadu_ps(d##r + o); \
        a##r##0 = _mm512_fmadd_ps(g_, v0, a##r##0); a##r##1 = _mm512_fmadd_ps(g_, v1, a##r##1); \
        a##r##2 = _mm512_fmadd_ps(g_, v2, a##r##2); } } while (0)
#define DWZ_FMAM(r) do { if ((r) < NCO) { const __m512 g_ = _mm512_maskz_loadu_ps(m, d##r + o); \
        a##r##0 = _mm512_fmadd_ps(g_, v0, a##r##0); a##r##1 = _mm512_fmadd_ps(g_, v1, a##r##1); \
        a##r##2 = _mm512_fmadd_ps(g_, v2, a##r##2); } } while (0)
#define DWZ_STORE(r) do { if ((r) < NCO) { float *t_ = dst + (r) * wco; \
        t_[0] += _mm512_reduce_add_ps(a##r##0); t_[1] += _mm512_reduce_add_ps(a##r##1); \
        t_[2] += _mm512_reduce_add_ps(a##r##2); } } while (0)

__attribute__((target("avx512f"), always_inline))
static inline void dw_tile_z(float *dst, const float *dy, const float *xp, const direct_dims *q,
                             int64_t y0, int64_t y1, int64_t cb, int64_t ci, int64_t ky,
                             const int NCO) {
    const int64_t ow = q->ow, plane = q->plane, chan = q->hp * q->wp, wco = q->cin * q->kh * 3;
    const int64_t dd = q->dw;
    /* channels past NCO alias channel cb (never read) */
#define DWZ_PTR(r) const float *d##r = dy + (cb + ((r) < NCO ? (r) : 0)) * plane
    DWZ_PTR(0); DWZ_PTR(1); DWZ_PTR(2); DWZ_PTR(3); DWZ_PTR(4); DWZ_PTR(5); DWZ_PTR(6); DWZ_PTR(7);
#undef DWZ_PTR
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    __m512 a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00;
    __m512 a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
    for (int64_t y = y0; y < y1; y++) {
        const float *xr = xp + ci * chan + (y + ky * q->dh) * q->wp;
        int64_t x = 0, o = y * ow;
        for (; x + 16 <= ow; x += 16, o += 16) {
            const __m512 v0 = _mm512_loadu_ps(xr + x);
            const __m512 v1 = _mm512_loadu_ps(xr + x + dd);
            const __m512 v2 = _mm512_loadu_ps(xr + x + 2 * dd);
            DWZ_FMA(0); DWZ_FMA(1); DWZ_FMA(2); DWZ_FMA(3);
            DWZ_FMA(4); DWZ_FMA(5); DWZ_FMA(6); DWZ_FMA(7);
        }
        if (x < ow) {   /* masked tail: rows of any width (lanes past ow load zeros) */
            const __mmask16 m = (__mmask16)((1u << (ow - x)) - 1u);
            const __m512 v0 = _mm512_maskz_loadu_ps(m, xr + x);
            const __m512 v1 = _mm512_maskz_loadu_ps(m, xr + x + dd);
            const __m512 v2 = _mm512_maskz_loadu_ps(m, xr + x + 2 * dd);
            DWZ_FMAM(0); DWZ_FMAM(1); DWZ_FMAM(2); DWZ_FMAM(3);
            DWZ_FMAM(4); DWZ_FMAM(5); DWZ_FMAM(6); DWZ_FMAM(7);
        }
    }
    DWZ_STORE(0); DWZ_STORE(1); DWZ_STORE(2); DWZ_STORE(3);
    DWZ_STORE(4); DWZ_STORE(5); DWZ_STORE(6); DWZ_STORE(7);
}

#define DW_TILE_Z(k) \
    __attribute__((target("avx512f"))) \
    static void dw_tile_z##k(float *dst, const float *dy, const float *xp, const direct_dims *q, \
                             int64_t y0, int64_t y1, int64_t cb, int64_t ci, int64_t ky) { \
        dw_tile_z(dst, dy, xp, q, y0, y1, cb, ci, ky, k); }
DW_TILE_Z(1) DW_TILE_Z(2) DW_TILE_Z(3) DW_TILE_Z(4) DW_TILE_Z(5) DW_TILE_Z(6) DW_TILE_Z(7)
DW_TILE_Z(8)

static void direct_dw_image_512(float *dw, const float *dy, const float *xp, const direct_dims *q) {
    static void (*const tiles[8])(float *, const float *, const float *, const direct_dims *,
                                  int64_t, int64_t, int64_t, int64_t, int64_t) = {
        dw_tile_z1, dw_tile_z2, dw_tile_z3, dw_tile_z4, dw_tile_z5, dw_tile_z6, dw_tile_z7,
        dw_tile_z8 };
    int64_t rows = 1024 / q->ow;
    if (rows < 1) rows = 1;
    for (int64_t y0 = 0; y0 < q->oh; y0 += rows) {
        const int64_t y1 = y0 + rows < q->oh ? y0 + rows : q->oh;
        for (int64_t cb = 0; cb < q->cout; cb += 8) {
            const int64_t nco = q->cout - cb < 8 ? q->cout - cb : 8;
            for (int64_t ci = 0; ci < q->cin; ci++)
                for (int64_t ky = 0; ky < q->kh; ky++)
                    tiles[nco - 1](dw + ((cb * q->cin + ci) * q->kh + ky) * 3, dy, xp, q, y0, y1,
                                   cb, ci, ky);
        }
    }
}
#else
static void direct_row(float *out, const float *xp, const float *wpb, const float *bias,
                       int64_t y, int nco, const direct_dims *q, int accumulate) {
    (void)out; (void)xp; (void)wpb; (void)bias; (void)y; (void)nco; (void)q; (void)accumulate;
}
static void direct_dw_image(float *dw, const float *dy, const float *xp, const direct_dims *q) {
    (void)dw; (void)dy; (void)xp; (void)q;
}
static void direct_row_512(float *out, const float *xp, const float *wpb, const float *bias,
                           int64_t y, int nco, const direct_dims *q, int accumulate) {
    direct_row(out, xp, wpb, bias, y, nco, q, accumulate);
}
static void direct_dw_image_512(float *dw, const float *dy, const float *xp, const direct_dims *q) {
    direct_dw_image(dw, dy, xp, q);
}
#endif

/* ---------------------------------------------------------------- small-plane kernels */

/* "Same" unit-stride convolutions (the output plane is the input plane: 3x3 padding 1, 5x5
 * padding 2, ...) on small maps with AVX-512 read each channel plane as one flat run of H*W
 * pixels, 16 per zmm (an 8x8 plane is 4 vectors, 7x7 is 4 with 15 lanes idle, 14x14 is 13):
 * tap (ky, kx) of output pixel p reads input pixel p + (ky*dh - ph)*W + kx*dw - pw, one
 * unaligned load at a constant offset, with the lanes whose tap falls in the padding (or past
 * the plane) masked off (a zeroing masked load never faults on masked lanes). No padded
 * copy, no lanes spent on padding columns, and rows 7, 14 or 28 wide pack the vectors as
 * densely as 16-wide ones. Forward and input gradient (the same kernel on dy with the
 * adjoint weights): register tile of 8 output channels x 3 vectors or 6 x 4 (24 accumulators);
 * weight gradient: 8 output channels x 3 taps, summed over the pixels of a chunk of images. */
/* Register tiles: PNC8 channels x 3 vectors (channel counts that are multiples of 8), or PNC6
 * channels x 4 vectors (planes of 4 vectors: 7x7, 8x8); last vectors one at a time. */
#define PNC8 8
#define PNC6 6

typedef struct {
    int64_t cin, cout, h, w, kh, kw, dh, dw, ph, pw;
    int64_t P, nvec, kk;
    const uint16_t *mask;   /* mask[v * kk + k]: the lanes of vector v whose tap k is inside */
} plane_dims;

/* channels per tile for q: 6 on planes of 4 vectors unless the channels come in 8s */
static int64_t plane_mr(int64_t nvec, int64_t cout) {
    return nvec == 4 && cout % 8 ? PNC6 : PNC8;
}

#if defined(__GNUC__) && defined(__x86_64__)
#define PL_FMA(r) do { if ((r) < NRC) { const __m512 b_ = _mm512_set1_ps(wk[r]); \
        a##r##0 = _mm512_fmadd_ps(b_, x0, a##r##0); \
        if (NV > 1) a##r##1 = _mm512_fmadd_ps(b_, x1, a##r##1); \
        if (NV > 2) a##r##2 = _mm512_fmadd_ps(b_, x2, a##r##2); \
        if (NV > 3) a##r##3 = _mm512_fmadd_ps(b_, x3, a##r##3); } } while (0)
#define PL_ST1(r, v) do { const int64_t p_ = (v0 + (v)) * 16; \
        const __mmask16 t_ = (__mmask16)(P - p_ >= 16 ? 0xFFFFu : (1u << (P - p_)) - 1u); \
        float *o_ = out + (r) * P + p_; __m512 s_ = a##r##v; \
        if (accumulate) s_ = _mm512_add_ps(s_, _mm512_maskz_loadu_ps(t_, o_)); \
        if (bias) s_ = _mm512_add_ps(s_, _mm512_set1_ps(bias[r])); \
        _mm512_mask_storeu_ps(o_, t_, s_); } while (0)
#define PL_ST(r) do { if ((r) < NRC) { PL_ST1(r, 0); \
        if (NV > 1) { PL_ST1(r, 1); } \
        if (NV > 2) { PL_ST1(r, 2); } \
        if (NV > 3) { PL_ST1(r, 3); } } } while (0)

/* Output vectors v0 .. v0+NV-1 of NRC channels (weights packed MR per (tap, input channel)):
 * out (NRC, P) [+]= conv [+ bias]. */
__attribute__((target("avx512f"), always_inline))
static inline void plane_tile(float *out, const float *x, const float *wpb, const float *bias,
                              const plane_dims *q, int64_t v0, int accumulate, const int NRC,
                              const int NV, const int MR_) {
    const int64_t P = q->P, kk = q->kk, cin = q->cin;
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00;
    __m512 a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    __m512 a30 = a00, a31 = a00, a32 = a00, a33 = a00, a40 = a00, a41 = a00;
    __m512 a42 = a00, a43 = a00, a50 = a00, a51 = a00, a52 = a00, a53 = a00;
    __m512 a60 = a00, a61 = a00, a62 = a00, a63 = a00, a70 = a00, a71 = a00;
    __m512 a72 = a00, a73 = a00;
    for (int64_t k = 0; k < kk; k++) {
        const int64_t ky = k / q->kw, kx = k % q->kw;
        const int64_t off = (ky * q->dh - q->ph) * q->w + kx * q->dw - q->pw;
        const uint16_t *mk = q->mask + v0 * kk + k;
        const __mmask16 m0 = mk[0], m1 = NV > 1 ? mk[kk] : 0, m2 = NV > 2 ? mk[2 * kk] : 0;
        const __mmask16 m3 = NV > 3 ? mk[3 * kk] : 0;
        /* the address of the first lane: may lie before x when the lane is masked off */
        const intptr_t base = (intptr_t)(x + v0 * 16) + (intptr_t)(off * (int64_t)sizeof(float));
        const float *wk = wpb + k * cin * MR_;
        #pragma GCC unroll 4   /* measured 4-5% faster than the plain loop */
        for (int64_t ci = 0; ci < cin; ci++, wk += MR_) {
            const float *xb = (const float *)(base + (intptr_t)(ci * P * (int64_t)sizeof(float)));
            const __m512 x0 = _mm512_maskz_loadu_ps(m0, xb);
            __m512 x1 = x0, x2 = x0, x3 = x0;
            if (NV > 1) x1 = _mm512_maskz_loadu_ps(m1, xb + 16);
            if (NV > 2) x2 = _mm512_maskz_loadu_ps(m2, xb + 32);
            if (NV > 3) x3 = _mm512_maskz_loadu_ps(m3, xb + 48);
            PL_FMA(0); PL_FMA(1); PL_FMA(2); PL_FMA(3); PL_FMA(4); PL_FMA(5); PL_FMA(6); PL_FMA(7);
        }
    }
    PL_ST(0); PL_ST(1); PL_ST(2); PL_ST(3); PL_ST(4); PL_ST(5); PL_ST(6); PL_ST(7);
}

typedef void (*plane_tile_fn)(float *, const float *, const float *, const float *,
                              const plane_dims *, int64_t, int);
#define PLANE_TILE(c, nv, mr) \
    __attribute__((target("avx512f"))) \
    static void plane_tile_##mr##_##nv##_##c(float *out, const float *x, const float *wpb, \
                                             const float *bias, const plane_dims *q, int64_t v0, \
                                             int accumulate) { \
        plane_tile(out, x, wpb, bias, q, v0, accumulate, c, nv, mr); }
#define PLANE_TILES(nv, mr) PLANE_TILE(1, nv, mr) PLANE_TILE(2, nv, mr) PLANE_TILE(3, nv, mr) \
    PLANE_TILE(4, nv, mr) PLANE_TILE(5, nv, mr) PLANE_TILE(6, nv, mr)
PLANE_TILES(3, 8) PLANE_TILES(1, 8) PLANE_TILES(4, 6) PLANE_TILES(1, 6)
PLANE_TILE(7, 3, 8) PLANE_TILE(8, 3, 8) PLANE_TILE(7, 1, 8) PLANE_TILE(8, 1, 8)
#define PLANE_LIST(nv, mr) plane_tile_##mr##_##nv##_1, plane_tile_##mr##_##nv##_2, \
    plane_tile_##mr##_##nv##_3, plane_tile_##mr##_##nv##_4, plane_tile_##mr##_##nv##_5, \
    plane_tile_##mr##_##nv##_6

/* out (nco, P) [+]= conv of x (q->cin, P) with packed block wpb [+ bias]: every vector */
static void plane_block(float *out, const float *x, const float *wpb, const float *bias,
                        const plane_dims *q, int nco, int64_t mr, int accumulate) {
    static const plane_tile_fn t8[PNC8] = { PLANE_LIST(3, 8), plane_tile_8_3_7, plane_tile_8_3_8 };
    static const plane_tile_fn t8s[PNC8] = { PLANE_LIST(1, 8), plane_tile_8_1_7, plane_tile_8_1_8 };
    static const plane_tile_fn t6[PNC6] = { PLANE_LIST(4, 6) };
    static const plane_tile_fn t6s[PNC6] = { PLANE_LIST(1, 6) };
    const plane_tile_fn full = mr == PNC8 ? t8[nco - 1] : t6[nco - 1];
    const plane_tile_fn one = mr == PNC8 ? t8s[nco - 1] : t6s[nco - 1];
    const int64_t nv = mr == PNC8 ? 3 : 4;
    int64_t v = 0;
    for (; v + nv <= q->nvec; v += nv) full(out, x, wpb, bias, q, v, accumulate);
    for (; v < q->nvec; v++) one(out, x, wpb, bias, q, v, accumulate);
}

/* Weight gradient tile: dst[r * wco + t] += sum over the images i0..i1-1 and the plane of
 * dy (channel cb + r) x (channel ci shifted by tap k0 + t), r < NCO, t < 3. */
#define PW_FMA(r) do { if ((r) < NCO) { \
        const __m512 g_ = _mm512_maskz_loadu_ps(mt, dyi + ((r) * q->P)); \
        a##r##0 = _mm512_fmadd_ps(g_, x0, a##r##0); a##r##1 = _mm512_fmadd_ps(g_, x1, a##r##1); \
        a##r##2 = _mm512_fmadd_ps(g_, x2, a##r##2); } } while (0)
#define PW_ST(r) do { if ((r) < NCO) { float *t_ = dst + (r) * wco; \
        const float s0_ = _mm512_reduce_add_ps(a##r##0), s1_ = _mm512_reduce_add_ps(a##r##1); \
        const float s2_ = _mm512_reduce_add_ps(a##r##2); \
        if (add) { t_[0] += s0_; t_[1] += s1_; t_[2] += s2_; } \
        else { t_[0] = s0_; t_[1] = s1_; t_[2] = s2_; } } } while (0)

__attribute__((target("avx512f"), always_inline))
static inline void plane_dw_tile(float *dst, const float *dy, const float *x, const plane_dims *q,
                                 int64_t dys, int64_t xs, int64_t i0, int64_t i1, int64_t k0,
                                 int64_t wco, int add, const int NCO) {
    const int64_t P = q->P, kk = q->kk;
    int64_t offs[3];
    for (int t = 0; t < 3; t++) {
        const int64_t ky = (k0 + t) / q->kw, kx = (k0 + t) % q->kw;
        offs[t] = ((ky * q->dh - q->ph) * q->w + kx * q->dw - q->pw) * (int64_t)sizeof(float);
    }
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    __m512 a40 = a00, a41 = a00, a42 = a00, a50 = a00, a51 = a00, a52 = a00;
    __m512 a60 = a00, a61 = a00, a62 = a00, a70 = a00, a71 = a00, a72 = a00;
    for (int64_t i = i0; i < i1; i++) {
        const float *xi = x + i * xs;
        #pragma GCC unroll 2
        for (int64_t v = 0; v < q->nvec; v++) {
            const int64_t p = v * 16;
            const __mmask16 mt = (__mmask16)(P - p >= 16 ? 0xFFFFu : (1u << (P - p)) - 1u);
            const uint16_t *mk = q->mask + v * kk + k0;
            const intptr_t xb = (intptr_t)(xi + p);
            const __m512 x0 = _mm512_maskz_loadu_ps(mk[0], (const float *)(xb + (intptr_t)offs[0]));
            const __m512 x1 = _mm512_maskz_loadu_ps(mk[1], (const float *)(xb + (intptr_t)offs[1]));
            const __m512 x2 = _mm512_maskz_loadu_ps(mk[2], (const float *)(xb + (intptr_t)offs[2]));
            const float *dyi = dy + i * dys + p;
            PW_FMA(0); PW_FMA(1); PW_FMA(2); PW_FMA(3); PW_FMA(4); PW_FMA(5); PW_FMA(6); PW_FMA(7);
        }
    }
    PW_ST(0); PW_ST(1); PW_ST(2); PW_ST(3); PW_ST(4); PW_ST(5); PW_ST(6); PW_ST(7);
}

#define PLANE_DW_TILE(c) \
    __attribute__((target("avx512f"))) \
    static void plane_dw_tile_##c(float *dst, const float *dy, const float *x, const plane_dims *q, \
                                  int64_t dys, int64_t xs, int64_t i0, int64_t i1, int64_t k0, \
                                  int64_t wco, int add) { \
        plane_dw_tile(dst, dy, x, q, dys, xs, i0, i1, k0, wco, add, c); }
PLANE_DW_TILE(1) PLANE_DW_TILE(2) PLANE_DW_TILE(3) PLANE_DW_TILE(4) PLANE_DW_TILE(5)
PLANE_DW_TILE(6) PLANE_DW_TILE(7) PLANE_DW_TILE(8)

static void plane_dw_run(float *dst, const float *dy, const float *x, const plane_dims *q,
                         int64_t dys, int64_t xs, int64_t i0, int64_t i1, int64_t k0, int64_t wco,
                         int add, int nco) {
    typedef void (*tile_fn)(float *, const float *, const float *, const plane_dims *, int64_t,
                            int64_t, int64_t, int64_t, int64_t, int64_t, int);
    static const tile_fn tiles[8] = { plane_dw_tile_1, plane_dw_tile_2, plane_dw_tile_3,
                                      plane_dw_tile_4, plane_dw_tile_5, plane_dw_tile_6,
                                      plane_dw_tile_7, plane_dw_tile_8 };
    tiles[nco - 1](dst, dy, x, q, dys, xs, i0, i1, k0, wco, add);
}
#else
static void plane_block(float *out, const float *x, const float *wpb, const float *bias,
                        const plane_dims *q, int nco, int64_t mr, int accumulate) {
    (void)out; (void)x; (void)wpb; (void)bias; (void)q; (void)nco; (void)mr; (void)accumulate;
}
static void plane_dw_run(float *dst, const float *dy, const float *x, const plane_dims *q,
                         int64_t dys, int64_t xs, int64_t i0, int64_t i1, int64_t k0, int64_t wco,
                         int add, int nco) {
    (void)dst; (void)dy; (void)x; (void)q; (void)dys; (void)xs; (void)i0; (void)i1; (void)k0;
    (void)wco; (void)add; (void)nco;
}
#endif


/* out (cout, oh, ow) [+]= conv(xp, packed weights) [+ bias] for one image and group.
 * Deep inputs are reduced in chunks of input channels whose rows and weights fit in L1
 * (~24 KB per 16-pixel tile); later chunks accumulate into the output. */
static void direct_image(const lt_context *ctx, float *out, const float *xp, const float *wp,
                         const float *bias, const direct_dims *q, int accumulate) {
    const int z = use_z(ctx, q->ow);
    const int64_t mr = z ? MRZ : MR;
    const int64_t nb = (q->cout + mr - 1) / mr, plane = q->plane, kk = q->kh * q->kw;
    const int64_t wblock = q->cin * kk * mr, chan = q->hp * q->wp;
    /* AVX-512 tiles are 32 pixels, AVX2 ones 16: rows narrower than a tile go 2 or 4 at once */
    const int64_t tile = z ? 32 : 16;
    const int64_t ystep = z ? (q->ow == 8 ? 4 : q->ow == 16 ? 2 : 1) : q->ow < tile ? tile / q->ow : 1;
    int64_t cc = 24576 / (int64_t)sizeof(float) / (q->kh * (tile + (q->kw - 1) * q->dw) + kk * mr);
    if (cc < 8) cc = 8;
    if (cc >= q->cin) cc = q->cin;
    cc = (q->cin + (q->cin + cc - 1) / cc - 1) / ((q->cin + cc - 1) / cc);   /* equal chunks */
    direct_dims qc = *q;
    for (int64_t y = 0; y < q->oh; y += ystep)
        for (int64_t c0 = 0; c0 < q->cin; c0 += cc) {
            qc.cin = c0 + cc < q->cin ? cc : q->cin - c0;
            for (int64_t cb = 0; cb < nb; cb++) {
                const int64_t nco = q->cout - cb * mr < mr ? q->cout - cb * mr : mr;
                (z ? direct_row_512 : direct_row)(out + cb * mr * plane, xp + c0 * chan,
                                                  wp + cb * wblock + c0 * kk * mr,
                                                  bias && c0 == 0 ? bias + cb * mr : NULL, y,
                                                  (int)nco, &qc, accumulate || c0 > 0);
            }
        }
}

/* Output rows per block of direct_block: the block's padded input stays near 256 KB. */
static int64_t direct_block_rows(const direct_dims *q) {
    const int64_t halo = q->dh * (q->kh - 1);
    int64_t rb = (int64_t)(256 * 1024 / sizeof(float)) / (q->cin * q->wp) - halo;
    if (rb < 2) rb = 2;
    if (rb > q->oh) rb = q->oh;
    const int64_t nblk = (q->oh + rb - 1) / rb;
    return (q->oh + nblk - 1) / nblk;   /* blocks of equal height */
}

static int64_t direct_block_size(const direct_dims *q) {
    return q->cin * (direct_block_rows(q) + q->dh * (q->kh - 1)) * q->wp;
}

static int64_t packed_size(int64_t co_n, int64_t ci_n, int64_t kh, int64_t kw, int64_t mr) {
    return (co_n + mr - 1) / mr * mr * ci_n * kh * kw;
}

/* ---------------------------------------------------------------- fast kernels */

/* Output rows y0..y1-1 of the direct conv of one image and group: x (q->cin, h, w), zero-padded
 * by pt rows / pl columns to q's (hp, wp) in tb when padded, else read in place. */
static void direct_block(const lt_context *ctx, float *out, const float *x, int64_t h, int64_t w,
                         int64_t pt, int64_t pl, int padded, const float *wpk, const float *bias,
                         const direct_dims *q, int accumulate, float *tb, int64_t y0, int64_t y1) {
    direct_dims qb = *q;
    qb.oh = y1 - y0;
    if (padded) {
        const int64_t nr = y1 - y0 + q->dh * (q->kh - 1);
        pad_block(tb, x, q->cin, h, w, pt, pl, q->wp, y0, nr);
        qb.hp = nr;
        direct_image(ctx, out + y0 * q->ow, tb, wpk, bias, &qb, accumulate);
    } else {
        direct_image(ctx, out + y0 * q->ow, x + y0 * q->wp, wpk, bias, &qb, accumulate);
    }
}

/* The weight gradient from output rows y0..y1-1 (see direct_block for the input). */
static void direct_dw_block(const lt_context *ctx, float *dw, const float *dy, const float *x,
                            int64_t h, int64_t w, int64_t pt, int64_t pl, int padded,
                            const direct_dims *q, float *tb, int64_t y0, int64_t y1) {
    void (*const kern)(float *, const float *, const float *, const direct_dims *) =
        use_avx512(ctx) ? direct_dw_image_512 : direct_dw_image;
    direct_dims qb = *q;
    qb.oh = y1 - y0;
    if (padded) {
        const int64_t nr = y1 - y0 + q->dh * (q->kh - 1);
        pad_block(tb, x, q->cin, h, w, pt, pl, q->wp, y0, nr);
        qb.hp = nr;
        kern(dw, dy + y0 * q->ow, tb, &qb);
    } else {
        kern(dw, dy + y0 * q->ow, x + y0 * q->wp, &qb);
    }
}

/* ---------------------------------------------------------------- batched im2col + GEMM */

/* Small images (the deep layers of a U-Net: 16x16, 8x8 and smaller) leave per-image GEMMs
 * short in one dimension: P = OH*OW columns for the output and input gradient, P steps of k
 * for the weight gradient, so packing and the C tile loads dominate. The batched path runs
 * one GEMM per group and chunk of the flattened (image, output row) space, the columns of
 * several images side by side: y_chunk (coutg, L) = w_g (coutg, K) col (K, L),
 * dcol (K, L) = w_g^T dy_chunk, dw_g += dy_chunk col^T with L = rows * OW up to N*P. The
 * chunk's output rows gather from / scatter to the NCHW tensors in one copy pass. The GEMMs
 * split over the thread budget by columns of C (each element of dw summed by one thread in a
 * fixed order: reproducible); the copy passes split over channels. */


/* C = op(A) op(B) + beta C on up to nt threads (this one when called inside a team) */
static void bgemm(const lt_context *ctx, int nt, int ta, int tb, int64_t m, int64_t n, int64_t k,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc) {
    if (!gemm_generic(ctx) &&
        lt_gemm_parallel(nt, gemm_isa_of(ctx), ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c,
                         ldc) == LT_OK)
        return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* Flattened output rows (of N*OH) per chunk: the column matrix (K x rows*OW) plus the
 * output block (coutg x rows*OW) near 1 MB, so that they are still in L2 when the GEMM reads
 * them, but at least 256 columns (the GEMM's k-block); chunks of equal height. Forced BATCHED
 * (the spec) cuts three chunks, which split images between rows. */
static int64_t batch_rows(const lt_context *ctx, const lt_conv2d_dims *d, int64_t K,
                          int64_t coutg) {
    const int64_t total = d->n * d->oh;
    if (lt_ctx_conv_algo(ctx) == LT_CONV_BATCHED) return total > 3 ? (total + 2) / 3 : 1;
    int64_t per_row, r = 1;
    if (!lt_mul_ovf(K + coutg, d->ow, &per_row))
        r = (int64_t)(1 << 20) / (int64_t)sizeof(float) / per_row;
    const int64_t rmin = (256 + d->ow - 1) / d->ow;
    if (r < rmin) r = rmin;
    if (r > total) r = total;
    const int64_t nch = (total + r - 1) / r;
    return (total + nch - 1) / nch;
}

/* Whole images per chunk when the chunks are handed to the threads one by one (each runs
 * its chunk's copies and single-threaded GEMMs with no barrier in between): the images of
 * batch_rows' chunk, at most ceil(N / nt) so every thread gets work. 0 (the chunks' GEMMs
 * split over the threads instead) with one thread, fewer images than threads, or forced
 * BATCHED (which cuts chunks inside images). */
static int64_t batch_images(const lt_context *ctx, const lt_conv2d_dims *d, int64_t rows, int nt) {
    if (nt <= 1 || d->n < nt || lt_ctx_conv_algo(ctx) == LT_CONV_BATCHED) return 0;
    int64_t imgs = (rows + d->oh - 1) / d->oh;
    const int64_t cap = (d->n + nt - 1) / nt;
    return imgs < cap ? imgs : cap;
}

/* The pieces of chunk [r0, r1) of flattened rows: image i, its rows oy0..oy1-1, at column
 * off of the chunk's matrices. Iterate with seg_first / seg_next. */
typedef struct { int64_t i, oy0, oy1, off; } seg;

static int seg_first(seg *s, int64_t r0, int64_t r1, const lt_conv2d_dims *d) {
    s->i = r0 / d->oh;
    s->oy0 = r0 - s->i * d->oh;
    s->oy1 = r1 - s->i * d->oh < d->oh ? r1 - s->i * d->oh : d->oh;
    s->off = 0;
    return r1 > r0;
}

static int seg_next(seg *s, int64_t r1, const lt_conv2d_dims *d) {
    s->off += (s->oy1 - s->oy0) * d->ow;
    s->i++;
    if (s->i * d->oh >= r1) return 0;
    s->oy0 = 0;
    s->oy1 = r1 - s->i * d->oh < d->oh ? r1 - s->i * d->oh : d->oh;
    return 1;
}

/* col (K, L) = the patches of group g's input channels for chunk [r0, r1); x (N, Cin, H, W) */
static void chunk_im2col(float *col, int64_t L, const float *x, int64_t g, int64_t cing,
                         const lt_conv2d_dims *d, int64_t r0, int64_t r1, int nt) {
    const int64_t kk = d->kh * d->kw, HW = d->h * d->w;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t ci = 0; ci < cing; ci++) {
        seg s;
        for (int ok = seg_first(&s, r0, r1, d); ok; ok = seg_next(&s, r1, d))
            im2col_ld(col + ci * kk * L + s.off, L, x + (s.i * d->cin + g * cing) * HW, ci, ci + 1,
                      d, s.oy0, s.oy1);
    }
}

/* t (coutg, L) = the output-shaped tensor y (N, Cout, OH, OW)'s group g rows of the chunk */
static void chunk_gather(float *t, int64_t L, const float *y, int64_t g, int64_t coutg,
                         const lt_conv2d_dims *d, int64_t r0, int64_t r1, int nt) {
    const int64_t P = d->oh * d->ow;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t co = 0; co < coutg; co++) {
        seg s;
        for (int ok = seg_first(&s, r0, r1, d); ok; ok = seg_next(&s, r1, d))
            memcpy(t + co * L + s.off, y + (s.i * d->cout + g * coutg + co) * P + s.oy0 * d->ow,
                   (size_t)((s.oy1 - s.oy0) * d->ow) * sizeof(float));
    }
}

/* y's group g rows of the chunk = [y +] t [+ b] */
static void chunk_scatter(float *y, const float *t, int64_t L, const float *b, int accumulate,
                          int64_t g, int64_t coutg, const lt_conv2d_dims *d, int64_t r0,
                          int64_t r1, int nt) {
    const int64_t P = d->oh * d->ow;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t co = 0; co < coutg; co++) {
        const float bv = b ? b[g * coutg + co] : 0.0f;
        seg s;
        for (int ok = seg_first(&s, r0, r1, d); ok; ok = seg_next(&s, r1, d)) {
            float *o = y + (s.i * d->cout + g * coutg + co) * P + s.oy0 * d->ow;
            const float *src = t + co * L + s.off;
            const int64_t len = (s.oy1 - s.oy0) * d->ow;
            if (accumulate)
                for (int64_t j = 0; j < len; j++) o[j] += src[j] + bv;
            else
                for (int64_t j = 0; j < len; j++) o[j] = src[j] + bv;
        }
    }
}

/* dx's group g channels += the patches in dcol (K, L) of the chunk */
static void chunk_col2im(float *dx, const float *dcol, int64_t L, int64_t g, int64_t cing,
                         const lt_conv2d_dims *d, int64_t r0, int64_t r1, int nt) {
    const int64_t kk = d->kh * d->kw, HW = d->h * d->w;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t ci = 0; ci < cing; ci++) {
        seg s;
        for (int ok = seg_first(&s, r0, r1, d); ok; ok = seg_next(&s, r1, d))
            col2im_ld(dx + (s.i * d->cin + g * cing) * HW, dcol + ci * kk * L + s.off, L, ci,
                      ci + 1, d, s.oy0, s.oy1);
    }
}

/* Threads for a batched call of this many FLOPs */
static int batched_threads(const lt_context *ctx, double flops) {
    const int t = lt_ctx_num_threads(ctx);
    return flops >= SMALL_FLOPS && t > 1 ? t : 1;
}

/* Which kernels run batched: all of them with LT_CONV_BATCHED, none with GEMM or DIRECT;
 * AUTO: small images (measured on the U-Net shapes, see bench/bench_kernels.sh) */
enum { BATCH_FWD, BATCH_DX, BATCH_DW };
static int use_batched(const lt_context *ctx, const lt_conv2d_dims *d, int which) {
    const int algo = lt_ctx_conv_algo(ctx);
    if (algo == LT_CONV_BATCHED) return 1;
    if ((algo != LT_CONV_AUTO && algo != LT_CONV_WINOGRAD && algo != LT_CONV_WINOGRAD_F2) ||
        gemm_generic(ctx))
        return 0;
    const int64_t P = d->oh * d->ow, cing = d->cin / d->groups, coutg = d->cout / d->groups;
    const int64_t K = cing * d->kh * d->kw;
    if (cing < 8 || coutg < 8 || is_pointwise(d)) return 0;
    /* measured one thread, CPU time, on the U-Net and Fashion-MNIST shapes: the weight
     * gradient of deep layers (K >= 1024) from 16x16 down is 3-5% faster batched than in
     * per-image GEMMs (the Fashion 14x14 and 7x7 layers, K 288-576, are 10% slower); the input
     * gradient from 8x8 down 2-3% faster; the forward pass from 8x8 down runs fastest as
     * per-image GEMMs (n = 64 columns still fill the tiles) except at 4x4 and below */
    if (which == BATCH_DW) return P <= 256 && K >= 1024;
    if (which == BATCH_DX) return P <= 64;
    return P <= 16;
}

/* out = [out +] conv(x, w) [+ b], batched (see above) */
static lt_status batched_fwd(lt_context *ctx, float *out, const float *x, const float *w,
                             const float *b, const lt_conv2d_dims *d, int accumulate) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kh * d->kw, total = d->n * d->oh;
    if (total == 0 || d->ow == 0) return LT_OK;
    const int64_t rows = batch_rows(ctx, d, K, coutg);
    const size_t nb = floats_bytes(0, K + coutg, rows * d->ow);
    if (!nb) return LT_EOVERFLOW;
    float *col = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nb);
    if (!col) return LT_ENOMEM;
    const int nt = batched_threads(ctx, 2.0 * (double)(d->n * d->cout * d->oh * d->ow) * (double)K);
    const int64_t imgs = batch_images(ctx, d, rows, nt);
    if (imgs) {   /* whole-image chunks, one thread each */
        const int64_t rr = imgs * d->oh, nch = (d->n + imgs - 1) / imgs;
        const int64_t per = (K + coutg) * rr * d->ow;
        const size_t nbt = floats_bytes(0, nt, per);
        if (!nbt) return LT_EOVERFLOW;
        float *buf = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nbt);
        if (!buf) return LT_ENOMEM;
        #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t c = 0; c < nch; c++) {
            float *cb = buf + (int64_t)omp_get_thread_num() * per;
            const int64_t r0 = c * rr, r1 = r0 + rr < total ? r0 + rr : total;
            const int64_t L = (r1 - r0) * d->ow;
            for (int64_t g = 0; g < G; g++) {
                chunk_im2col(cb, L, x, g, cing, d, r0, r1, 1);
                bgemm(ctx, 1, 0, 0, coutg, L, K, w + g * coutg * K, K, cb, L, 0.0f, cb + K * L, L);
                chunk_scatter(out, cb + K * L, L, b, accumulate, g, coutg, d, r0, r1, 1);
            }
        }
        return LT_OK;
    }
    for (int64_t r0 = 0; r0 < total; r0 += rows) {
        const int64_t r1 = r0 + rows < total ? r0 + rows : total, L = (r1 - r0) * d->ow;
        float *t = col + K * L;
        for (int64_t g = 0; g < G; g++) {
            chunk_im2col(col, L, x, g, cing, d, r0, r1, nt);
            bgemm(ctx, nt, 0, 0, coutg, L, K, w + g * coutg * K, K, col, L, 0.0f, t, L);
            chunk_scatter(out, t, L, b, accumulate, g, coutg, d, r0, r1, nt);
        }
    }
    return LT_OK;
}

/* dx += conv^T(dy, w), dw += dy (x) patches (either may be NULL), batched. (dw^T = col
 * dy_chunk^T, which packs only dy_chunk, measured slower: the transpose back to dw costs
 * more than the packing it saves.) */
static lt_status batched_bwd(lt_context *ctx, float *dx, float *dw, const float *dy,
                             const float *x, const float *w, const lt_conv2d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kh * d->kw, total = d->n * d->oh;
    if (total == 0 || d->ow == 0 || (!dx && !dw)) return LT_OK;
    const int64_t rows = batch_rows(ctx, d, K, coutg);
    const size_t nb = floats_bytes(0, K + coutg, rows * d->ow);
    if (!nb) return LT_EOVERFLOW;
    float *col = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nb);
    if (!col) return LT_ENOMEM;
    const int nt = batched_threads(ctx, 2.0 * (double)(d->n * d->cout * d->oh * d->ow) * (double)K);
    const int64_t imgs = batch_images(ctx, d, rows, nt);
    if (imgs) {
        /* whole-image chunks (col2im adds no halo across chunks), handed out dynamically in
         * nslot fixed runs; each run sums its weight gradient into its own accumulator (run 0
         * into dw), added in run order at the end: reproducible, as in conv_bwd_split */
        const int64_t rr = imgs * d->oh, nch = (d->n + imgs - 1) / imgs, wn = d->cout * K;
        const int64_t per = (K + coutg) * rr * d->ow;
        const int64_t nslot = dw ? (nch < 2 * nt ? nch : 2 * nt) : nch;
        const size_t nbt = floats_bytes(0, nt, per);
        if (!nbt) return LT_EOVERFLOW;
        float *buf = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nbt), *dwacc = NULL;
        if (!buf) return LT_ENOMEM;
        if (dw && nslot > 1) {
            const size_t nacc = floats_bytes(0, nslot - 1, wn);
            if (!nacc) return LT_EOVERFLOW;
            dwacc = lt_ctx_scratch(ctx, LT_SCRATCH_CONV_ACC, nacc);
            if (!dwacc) return LT_ENOMEM;
            memset(dwacc, 0, nacc);
        }
        #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t sl = 0; sl < nslot; sl++) {
            float *cb = buf + (int64_t)omp_get_thread_num() * per;
            float *acc = dw ? (sl == 0 ? dw : dwacc + (sl - 1) * wn) : NULL;
            for (int64_t c = sl * nch / nslot; c < (sl + 1) * nch / nslot; c++) {
                const int64_t r0 = c * rr, r1 = r0 + rr < total ? r0 + rr : total;
                const int64_t L = (r1 - r0) * d->ow;
                float *t = cb + K * L;
                for (int64_t g = 0; g < G; g++) {
                    chunk_gather(t, L, dy, g, coutg, d, r0, r1, 1);
                    if (acc) {
                        chunk_im2col(cb, L, x, g, cing, d, r0, r1, 1);
                        bgemm(ctx, 1, 0, 1, coutg, K, L, t, L, cb, L, 1.0f, acc + g * coutg * K, K);
                    }
                    if (dx) {
                        bgemm(ctx, 1, 1, 0, K, L, coutg, w + g * coutg * K, K, t, L, 0.0f, cb, L);
                        chunk_col2im(dx, cb, L, g, cing, d, r0, r1, 1);
                    }
                }
            }
        }
        if (dwacc)
            for (int64_t sl = 0; sl < nslot - 1; sl++) {
                const float *a = dwacc + sl * wn;
                for (int64_t j = 0; j < wn; j++) dw[j] += a[j];
            }
        return LT_OK;
    }
    for (int64_t r0 = 0; r0 < total; r0 += rows) {
        const int64_t r1 = r0 + rows < total ? r0 + rows : total, L = (r1 - r0) * d->ow;
        float *t = col + K * L;
        for (int64_t g = 0; g < G; g++) {
            chunk_gather(t, L, dy, g, coutg, d, r0, r1, nt);
            if (dw) {
                chunk_im2col(col, L, x, g, cing, d, r0, r1, nt);
                bgemm(ctx, nt, 0, 1, coutg, K, L, t, L, col, L, 1.0f, dw + g * coutg * K, K);
            }
            if (dx) {
                bgemm(ctx, nt, 1, 0, K, L, coutg, w + g * coutg * K, K, t, L, 0.0f, col, L);
                chunk_col2im(dx, col, L, g, cing, d, r0, r1, nt);
            }
        }
    }
    return LT_OK;
}

/* Can the plane kernels compute d: AVX-512, unit stride, a "same" conv (output plane = input
 * plane, so the input gradient is a same conv too), not 1x1 (the GEMMs read those in place);
 * the weight gradient runs taps 3 at a time (kh*kw a multiple of 3). */
static int plane_fits(const lt_context *ctx, const lt_conv2d_dims *d, int which) {
    const int algo = lt_ctx_conv_algo(ctx);
    if (algo == LT_CONV_GEMM || algo == LT_CONV_BATCHED || !have_avx512() || !use_avx512(ctx) ||
        d->sh != 1 || d->sw != 1 || d->oh != d->h || d->ow != d->w || is_pointwise(d))
        return 0;
    return which != BATCH_DW || (d->kh * d->kw) % 3 == 0;
}

/* AUTO: measured with bench/small_layers.lua (one thread, CPU time, AVX-512, 3x3 convs, 1 to
 * 64 channels): the plane kernels run at 80-105 GFLOP/s, 1.1-1.8x faster than the direct and
 * im2col + GEMM kernels on the Fashion-MNIST U-Net's 28x28 and 14x14 layers (batch 64); at 7x7
 * (49 of 64 lanes busy) the input gradient is 1.1x faster, the forward pass 1.05x and the
 * weight gradient 1.25x slower than the GEMMs. Where Winograd applies it is faster (see
 * below): use_plane returns 0 there. Checked before Winograd (conv_fwd, conv_bwd). */
static int use_winograd(const lt_context *ctx, const lt_conv2d_dims *d, int which);
static int use_plane(const lt_context *ctx, const lt_conv2d_dims *d, int which) {
    if (!plane_fits(ctx, d, which)) return 0;
    if (lt_ctx_conv_algo(ctx) == LT_CONV_PLANE) return 1;
    if (lt_ctx_conv_algo(ctx) != LT_CONV_AUTO || lt_ctx_isa(ctx) != LT_ISA_AVX512) return 0;
    const int64_t P = d->oh * d->ow, cing = d->cin / d->groups, coutg = d->cout / d->groups;
    if (P > 1024 || cing > 64 || coutg > 64 || (which != BATCH_DX && P <= 64)) return 0;
    /* with the narrow-image Winograd transforms that put consecutive tile rows into one vector
     * (2026-12-06) Winograd measured faster wherever winograd_wins takes it, 16-channel sides
     * included (1 thread, CPU time, best of 40: 16 -> 32 at 14x14, batch 64: forward 0.80 vs
     * 1.13 ms plane, input gradient 0.89 vs 1.11, weight gradient 0.84 vs 1.31; 16 -> 16 at
     * 14x14 and 16x16, batch 8: 0.07 vs 0.08-0.11 ms each; 16 -> 16 at 7x7, batch 64: forward
     * 0.16 vs 0.18, weight gradient 0.18 vs 0.21) */
    return !use_winograd(ctx, d, which);
}

/* mask[v * kk + k] = the lanes of the plane's vector v (pixels 16v .. 16v+15) whose tap k
 * reads inside the input plane (and which lie inside the plane) */
static void plane_masks(uint16_t *mask, const plane_dims *q) {
    for (int64_t v = 0; v < q->nvec; v++)
        for (int64_t k = 0; k < q->kk; k++) {
            const int64_t oy = k / q->kw * q->dh - q->ph, ox = k % q->kw * q->dw - q->pw;
            unsigned m = 0;
            for (int64_t l = 0; l < 16; l++) {
                const int64_t p = v * 16 + l, y = p / q->w + oy, xx = p % q->w + ox;
                if (p < q->P && y >= 0 && y < q->h && xx >= 0 && xx < q->w) m |= 1u << l;
            }
            mask[v * q->kk + k] = (uint16_t)m;
        }
}

static plane_dims plane_geometry(const lt_conv2d_dims *d, int64_t cin, int64_t cout) {
    plane_dims q;
    q.cin = cin; q.cout = cout; q.h = d->h; q.w = d->w; q.kh = d->kh; q.kw = d->kw;
    q.dh = d->dh; q.dw = d->dw; q.ph = d->ph; q.pw = d->pw;
    q.P = d->h * d->w; q.nvec = (q.P + 15) / 16; q.kk = d->kh * d->kw; q.mask = NULL;
    return q;
}

/* out [+]= conv(x, w) [+ b] (adjoint = 0) or dx += conv^T(dy, w) (adjoint = 1: x is dy, out is
 * dx, the weights flipped and transposed; for a same conv the adjoint has the same padding). Work
 * units: (image, group, block of mr output channels), handed out dynamically. */
static lt_status plane_fwd(lt_context *ctx, float *out, const float *x, const float *w,
                           const float *b, const lt_conv2d_dims *d, int accumulate, int adjoint) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    plane_dims q = plane_geometry(d, adjoint ? coutg : cing, adjoint ? cing : coutg);
    const int64_t kk = q.kk, P = q.P, mr = plane_mr(q.nvec, q.cout), ncb = (q.cout + mr - 1) / mr;
    const int64_t wblk = mr * q.cin * kk, wsz = ncb * wblk, units = d->n * G * ncb;
    const int64_t cx = adjoint ? d->cout : d->cin, cy = adjoint ? d->cin : d->cout;
    if (units == 0 || P == 0) return LT_OK;
    /* packed weights wp[g][cb][k][ci][mr], then the masks */
    int64_t mfl;
    if (lt_mul_ovf(q.nvec, kk, &mfl)) return LT_EOVERFLOW;
    const size_t nb = floats_bytes(mfl / 2 + 1, G, wsz);
    if (!nb) return LT_EOVERFLOW;
    float *wp = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nb);
    if (!wp) return LT_ENOMEM;
    uint16_t *mask = (uint16_t *)(wp + G * wsz);
    plane_masks(mask, &q);
    q.mask = mask;
    const int64_t K = cing * coutg * kk;
    for (int64_t g = 0; g < G; g++)
        for (int64_t cb = 0; cb < ncb; cb++)
            for (int64_t k = 0; k < kk; k++)
                for (int64_t ci = 0; ci < q.cin; ci++)
                    for (int64_t r = 0; r < mr; r++) {
                        const int64_t co = cb * mr + r;
                        float v = 0.0f;
                        if (co < q.cout)
                            v = adjoint ? w[g * K + (ci * cing + co) * kk + (kk - 1 - k)]
                                        : w[g * K + (co * cing + ci) * kk + k];
                        wp[g * wsz + cb * wblk + (k * q.cin + ci) * mr + r] = v;
                    }
    par_plan pl = plan_begin(ctx, units, 2.0 * (double)(d->n * d->cout * P) * (double)(cing * kk));
    #pragma omp parallel for num_threads(pl.nt) schedule(dynamic, 1)
    for (int64_t u = 0; u < units; u++) {
        const int64_t cb = u % ncb, it = u / ncb, i = it / G, g = it % G;
        const int64_t nco = q.cout - cb * mr < mr ? q.cout - cb * mr : mr;
        plane_block(out + (i * cy + g * q.cout + cb * mr) * P, x + (i * cx + g * q.cin) * P,
                    wp + g * wsz + cb * wblk, b ? b + g * q.cout + cb * mr : NULL, &q, (int)nco, mr,
                    accumulate);
    }
    plan_end(pl);
    return LT_OK;
}

/* dw (Cout, Cin/G, kh, kw) += dy (x) shifted x over the batch (= with set). Work units: (group, block of 8
 * output channels, run of input channels), each summing its own dw elements over every image
 * in a fixed order (reproducible, no accumulators); images in chunks whose 8 dy planes stay in
 * L2 while the unit's input channels and taps go by. */
static lt_status plane_dw(lt_context *ctx, float *dw, const float *dy, const float *x,
                          const lt_conv2d_dims *d, int set) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    plane_dims q = plane_geometry(d, cing, coutg);
    const int64_t kk = q.kk, P = q.P, ncb = (coutg + 7) / 8;
    if (d->n == 0 || P == 0) {
        if (set) memset(dw, 0, (size_t)(d->cout * cing * kk) * sizeof(float));
        return LT_OK;
    }
    int64_t mfl;
    if (lt_mul_ovf(q.nvec, kk, &mfl)) return LT_EOVERFLOW;
    const size_t nb = floats_bytes(0, 1, mfl / 2 + 1);
    if (!nb) return LT_EOVERFLOW;
    uint16_t *mask = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nb);
    if (!mask) return LT_ENOMEM;
    plane_masks(mask, &q);
    q.mask = mask;
    const double flops = 2.0 * (double)(d->n * d->cout * P) * (double)(cing * kk);
    const int t = lt_ctx_num_threads(ctx) > 1 && flops >= SMALL_FLOPS ? lt_ctx_num_threads(ctx) : 1;
    int64_t nr = (4 * t + G * ncb - 1) / (G * ncb);   /* runs of input channels per block */
    if (nr > cing) nr = cing;
    if (nr < 1) nr = 1;
    const int64_t units = G * ncb * nr;
    int64_t chunk = 8192 / P;
    if (chunk < 1) chunk = 1;
    par_plan pl = plan_begin(ctx, units, flops);
    #pragma omp parallel for num_threads(pl.nt) schedule(dynamic, 1)
    for (int64_t u = 0; u < units; u++) {
        const int64_t r = u % nr, gb = u / nr, g = gb / ncb, cb = (gb % ncb) * 8;
        const int64_t nco = coutg - cb < 8 ? coutg - cb : 8;
        const int64_t c0 = r * cing / nr, c1 = (r + 1) * cing / nr;
        for (int64_t i0 = 0; i0 < d->n; i0 += chunk) {
            const int64_t i1 = i0 + chunk < d->n ? i0 + chunk : d->n;
            for (int64_t ci = c0; ci < c1; ci++)
                for (int64_t k0 = 0; k0 < kk; k0 += 3)
                    plane_dw_run(dw + ((g * coutg + cb) * cing + ci) * kk + k0,
                                 dy + (g * coutg + cb) * P, x + (g * cing + ci) * P, &q,
                                 d->cout * P, d->cin * P, i0, i1, k0, cing * kk, !set || i0 > 0,
                                 (int)nco);
        }
    }
    plan_end(pl);
    return LT_OK;
}

/* ---------------------------------------------------------------- Winograd dispatch */

/* AUTO: where Winograd F(4x4,3x3) beat the direct / im2col kernels. Measured on the U-Net
 * layers (batch 8, one thread, CPU time, AVX-512): forward 1.2x (16->16 at 128x128) to 2x
 * (32->32 at 64x64, 128->64 at 32x32) faster, weight gradient 1.4x to 2.3x, from 16x16 up
 * with 16 channels or more on both sides. At 8x8 (32 tiles: the weight transforms, (Cout x
 * Cin) x 36 each, weigh as much as the GEMMs) the weight gradient is 1.3x faster, the
 * 256->256 forward and the 256->128 input gradient 1.1-1.2x, but the 128->256 forward 1.2x
 * slower (more output channels to transform back than the GEMMs save); with 3 input channels
 * the weight gradient is 2.8x slower. The transforms are vectorised for AVX-512 only: with
 * AVX2 (or forced AVX2) AUTO keeps the direct kernels. */
static int winograd_wins(const lt_context *ctx, const lt_conv2d_dims *d, int which) {
    const int64_t ci = which == BATCH_DX ? d->cout : d->cin, co = which == BATCH_DX ? d->cin : d->cout;
    const int64_t oh = which == BATCH_DX ? d->h : d->oh, ow = which == BATCH_DX ? d->w : d->ow;
    if (!use_avx512(ctx) || lt_ctx_isa(ctx) != LT_ISA_AVX512 || ci < 16 || co < 16 || oh < 4 ||
        ow < 4)
        return 0;
    /* the transformed weights, 36 x Cout x Cin floats of scratch: at most 64 MB (1024 x 448) */
    if ((double)ci * (double)co * 36.0 * 4.0 > 64.0 * 1024 * 1024) return 0;
    /* Every pass at 7x7 and up, widening convs included (enc5a 128 -> 256 at 8x8, batch 8, one
     * thread, CPU time: forward 1.86 ms vs 2.96 batched GEMM, forward+backward 6.29 vs 7.72;
     * 32 -> 64 and 64 -> 128 at 8x8 and 12x12 likewise; 16 -> 32 at 8x8 a tie). At 7x7 (2 x 2
     * tiles of 4x4, 49 of 64 outputs used; 2026-12-06, 1 thread, CPU time, best of 60): the
     * Fashion U-Net's 64 -> 64 at batch 64 forward / input / weight gradient 1.12 / 1.13 / 1.19
     * ms vs 2.73 / 2.78 / 2.93 GEMM and plane, 32 -> 64 0.65 / 0.70 / 0.67 vs 1.38 / 1.39 /
     * 1.46; at batch 8 64 -> 64 input gradient 0.18 vs 0.36. From 4x4 to 6x6 (at most 36
     * outputs of 64) the forward pass and the weight gradient still win (32 -> 64 at 6x6,
     * batch 8: forward 0.10 vs 0.18 ms, 16 -> 32 at 6x6, batch 64: weight gradient 0.25 vs
     * 0.37; 16 -> 32 at 4x4, batch 8: a tie), but the input gradient loses to the plane kernel
     * with 16 channels on a side or little work (16 -> 16 at 5x5, batch 64: 0.15 vs 0.095 ms;
     * 32 -> 32 at 5x5, batch 8: 0.062 vs 0.051) and wins from 32 channels on both sides over
     * 16 K image-channel-channel triples (32 -> 32 at 4x4, batch 64: 0.15 vs 0.18; 64 -> 64 at
     * 6x6, batch 8: 0.18 vs 0.27). */
    if (which == BATCH_DX && (oh < 7 || ow < 7) &&
        (ci < 32 || co < 32 || (double)d->n * (double)ci * (double)co < 16384.0))
        return 0;
    return 1;
}

/* Winograd (lt_winograd.c) for 3x3 stride-1 dilation-1 single-group convs: the output tile
 * size m (4: F(4x4,3x3), 2: F(2x2,3x3)) or 0 for the other kernels. Forced with WINOGRAD /
 * WINOGRAD_F2; AUTO where it measured faster (bench/bench_kernels.sh). which: BATCH_FWD,
 * BATCH_DX or BATCH_DW (the forward pass, input gradient, weight gradient). */
static int use_winograd(const lt_context *ctx, const lt_conv2d_dims *d, int which) {
    const int algo = lt_ctx_conv_algo(ctx);
    if (!lt_winograd_fits(d)) return 0;
    /* outputs (forward) / inputs (input gradient) narrower than 4 waste most of a 4x4 tile */
    const int64_t oh = which == BATCH_DX ? d->h : d->oh, ow = which == BATCH_DX ? d->w : d->ow;
    const int tile = oh < 4 || ow < 4 ? 2 : 4;
    if (algo == LT_CONV_WINOGRAD) return tile;
    if (algo == LT_CONV_WINOGRAD_F2) return 2;
    if (algo != LT_CONV_AUTO || gemm_generic(ctx)) return 0;
    return winograd_wins(ctx, d, which) ? tile : 0;
}

/* out (N, Cout, OH, OW) = [out +] conv(x, w) [+ b]. The direct kernel's work units are blocks
 * of output rows of one (image, group), so one image also spreads over the threads. */
static lt_status conv_fwd(lt_context *ctx, float *out, const float *x, const float *w,
                          const float *b, const lt_conv2d_dims *d, int accumulate) {
    /* the plane kernels first: where AUTO picks them they measured faster than Winograd */
    if (use_plane(ctx, d, BATCH_FWD)) return plane_fwd(ctx, out, x, w, b, d, accumulate, 0);
    const int wino = use_winograd(ctx, d, BATCH_FWD);
    if (wino) return lt_winograd_forward(ctx, out, x, w, b, d, wino, accumulate);
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kh * d->kw, P = d->oh * d->ow, HW = d->h * d->w;
    const int64_t items = d->n * G;
    const int pointwise = is_pointwise(d);
    /* from 8x8 down the per-image GEMMs are faster than the direct kernel (AUTO) */
    const int direct = !pointwise && direct_fits(ctx, d, coutg, d->ow) &&
                       (P > 64 || lt_ctx_conv_algo(ctx) == LT_CONV_DIRECT);
    const int padded = direct && (d->ph || d->pw);
    const int64_t hp = d->h + 2 * d->ph, wpd = d->w + 2 * d->pw;
    const int64_t mr = tile_mr(ctx, d->ow);
    const int64_t wsz = direct ? packed_size(coutg, cing, d->kh, d->kw, mr) : 0;
    const direct_dims q = { cing, hp, wpd, coutg, d->oh, d->ow, d->kh, d->kw, d->dh, d->dw, P };
    const int64_t per = direct ? (padded ? direct_block_size(&q) : 0) : pointwise ? 0 : K * P;
    const int64_t rb = direct ? direct_block_rows(&q) : d->oh, nblk = (d->oh + rb - 1) / rb;
    const int64_t units = items * nblk;
    if (items == 0 || P == 0) return LT_OK;
    if (use_batched(ctx, d, BATCH_FWD)) return batched_fwd(ctx, out, x, w, b, d, accumulate);
    /* a 1x1 head to one output channel is memory-bound: its FLOPs weigh 8x (see conv_bwd_split;
     * each image's output is computed alone: the same bits for any thread count) */
    par_plan pl = plan_begin(ctx, units, 2.0 * (double)(d->n * d->cout * P) * (double)K *
                                             (pointwise && coutg == 1 ? 8.0 : 1.0));
    float *buf = NULL;
    if (G * wsz + per > 0) {
        const size_t nb = floats_bytes(G * wsz, pl.nt, per);
        if (!nb) { plan_end(pl); return LT_EOVERFLOW; }
        buf = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nb);
        if (!buf) { plan_end(pl); return LT_ENOMEM; }
    }
    if (direct) pack_weights(buf, w, G, wsz, coutg, cing, d->kh, d->kw, 0, mr);
    #pragma omp parallel num_threads(pl.nt)
    {
        #pragma omp for schedule(dynamic, 1) nowait   /* the region's end is the barrier */
        for (int64_t u = 0; u < units; u++) {
            const int64_t it = u / nblk, i = it / G, g = it % G;
            const float *xg = x + (i * d->cin + g * cing) * HW;
            float *og = out + (i * d->cout + g * coutg) * P;
            float *tb = buf ? buf + G * wsz + (int64_t)omp_get_thread_num() * per : NULL;
            if (direct) {
                const int64_t y0 = (u % nblk) * rb, y1 = y0 + rb < d->oh ? y0 + rb : d->oh;
                direct_block(ctx, og, xg, d->h, d->w, d->ph, d->pw, padded, buf + g * wsz,
                             b && !accumulate ? b + g * coutg : NULL, &q, accumulate, tb, y0, y1);
                continue;
            }
            const float *col = xg;
            if (!pointwise) {
                im2col(tb, xg, cing, d);
                col = tb;
            }
            float beta = accumulate ? 1.0f : 0.0f;
            if (b && !accumulate) {
                for (int64_t co = 0; co < coutg; co++) {
                    float *r = og + co * P;
                    const float v = b[g * coutg + co];
                    for (int64_t j = 0; j < P; j++) r[j] = v;
                }
                beta = 1.0f;
            }
            sgemm(ctx, 0, 0, coutg, P, K, w + g * coutg * K, K, col, P, beta, og, P);
        }
    }
    plan_end(pl);
    if (b && accumulate) bias_add(out, b, d->n, d->cout, P);
    return LT_OK;
}

/* A 1x1 convolution to one output channel (a segmentation head): the GEMMs would be a
 * rank-1 update (dx) and a matrix-vector product padded to a 48-column panel (dw); these
 * loops read and write each element once (memory-bound; measured 2x faster on the U-Net head).
 * dx (K, P) += w (K) dy (P);  dw (K) += x (K, P) dy (P). */
static inline LT_ISA_INLINE void head_dx_body(float *dx, const float *w, const float *dy,
                                              int64_t K, int64_t P) {
    for (int64_t k = 0; k < K; k++) {
        float *r = dx + k * P;
        const float v = w[k];
        for (int64_t p = 0; p < P; p++) r[p] += v * dy[p];
    }
}
LT_ISA_VARIANTS(head_dx, (float *dx, const float *w, const float *dy, int64_t K, int64_t P),
                (dx, w, dy, K, P))

static inline LT_ISA_INLINE void head_dw_body(float *dw, const float *x, const float *dy,
                                              int64_t K, int64_t P) {
    for (int64_t k = 0; k < K; k++) {
        const float *r = x + k * P;
        float acc = 0.0f;
        #pragma omp simd reduction(+ : acc)   /* vector partial sums (float order differs) */
        for (int64_t p = 0; p < P; p++) acc += r[p] * dy[p];
        dw[k] += acc;
    }
}
LT_ISA_VARIANTS(head_dw, (float *dw, const float *x, const float *dy, int64_t K, int64_t P),
                (dw, x, dy, K, P))

/* dx (N, Cin, H, W) += conv^T(dy, w); dw += dy (x) patches; either may be NULL. The weight
 * gradient goes to per-run accumulators, summed in run order at the end; the direct
 * kernels' units are blocks of rows, as in conv_fwd. */
static lt_status conv_bwd_split(lt_context *ctx, float *dx, float *dw, const float *dy,
                                const float *x, const float *w, const lt_conv2d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kh * d->kw, P = d->oh * d->ow, HW = d->h * d->w;
    const int64_t items = d->n * G, wn = d->cout * K;
    const int pointwise = is_pointwise(d);
    const int64_t qh = d->dh * (d->kh - 1) - d->ph, qw = d->dw * (d->kw - 1) - d->pw;
    const int ddirect = dx && !pointwise && qh >= 0 && qw >= 0 && direct_fits(ctx, d, cing, d->w);
    /* padded dy: (coutg, h + dh*(kh-1), w + dw*(kw-1)); the bottom/right pads exceed qh/qw
     * when the conv is the adjoint of a transposed conv with output padding */
    const int64_t hq = d->h + d->dh * (d->kh - 1), wq = d->w + d->dw * (d->kw - 1);
    const int64_t qb = hq - d->oh - qh, qr = wq - d->ow - qw;
    const int ypadded = ddirect && (qh || qw || qb || qr);
    const int64_t mr = tile_mr(ctx, d->w);
    const int64_t wsz = ddirect ? packed_size(cing, coutg, d->kh, d->kw, mr) : 0;
    const int dwdirect = dw && !pointwise && d->kw == 3 && (d->ow % 8 == 0 || use_avx512(ctx)) &&
                         direct_fits(ctx, d, coutg, d->ow) &&
                         ((coutg <= 16 && d->ow >= 16) || d->ow >= 96 ||
                          lt_ctx_conv_algo(ctx) == LT_CONV_DIRECT);
    const int xpadded = dwdirect && (d->ph || d->pw);
    const int64_t hp = d->h + 2 * d->ph, wpd = d->w + 2 * d->pw;
    const int64_t rows = chunk_rows(d, K);
    const direct_dims q = { coutg, hq, wq, cing, d->h, d->w, d->kh, d->kw, d->dh, d->dw, HW };
    const direct_dims qd = { cing, hp, wpd, coutg, d->oh, d->ow, d->kh, d->kw, d->dh, d->dw, P };
    int64_t per = 0;
    if (!pointwise && dx && !ddirect) per = K * P;
    if (!pointwise && dw && !dwdirect && K * rows * d->ow > per) per = K * rows * d->ow;
    if (ypadded && direct_block_size(&q) > per) per = direct_block_size(&q);
    if (xpadded && direct_block_size(&qd) > per) per = direct_block_size(&qd);
    const int64_t rbx = ddirect ? direct_block_rows(&q) : d->h, nbx = (d->h + rbx - 1) / rbx;
    const int64_t rbw = dwdirect ? direct_block_rows(&qd) : d->oh, nbw = (d->oh + rbw - 1) / rbw;
    const int64_t ux = dx ? items * nbx : 0, uw = dw ? items * nbw : 0;
    if (items == 0 || P == 0 || (!dx && !dw)) return LT_OK;
    /* a 1x1 head to one output channel is memory-bound (each element read or written once per
     * 2 FLOPs): its FLOPs weigh 8x against SMALL_FLOPS, so that the U-Net's 16 -> 1 head
     * (8 x 128 x 128, 4.2 MFLOP, ~1.6 ms per step) no longer runs on the main thread alone */
    const int head = pointwise && coutg == 1;
    par_plan pl = plan_begin(ctx, ux > uw ? ux : uw,
                             2.0 * (double)(d->n * d->cout * P) * (double)K * (head ? 8.0 : 1.0));
    float *buf = NULL, *dwacc = NULL;
    if (G * wsz + per > 0) {
        const size_t nb = floats_bytes(G * wsz, pl.nt, per);
        if (!nb) { plan_end(pl); return LT_EOVERFLOW; }
        buf = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nb);
        if (!buf) { plan_end(pl); return LT_ENOMEM; }
    }
    /* the weight-gradient units are split into nslot fixed runs of consecutive units, each
     * summed in order into its own accumulator (run 0 into dw) and the accumulators added in
     * run order at the end: dw does not depend on which thread took which run, so the runs
     * can be handed out dynamically (a thread the OS preempts does not hold the others up
     * with a statically assigned share) and dw stays bitwise reproducible */
    /* (a head's dw: one run, as on one thread: the same bits for any thread count, while its
     * dx units are shared) */
    const int64_t nslot = pl.nt > 1 && !head ? (uw < 2 * pl.nt ? uw : 2 * pl.nt) : 1;
    if (dw && nslot > 1) {
        const size_t nacc = floats_bytes(0, nslot - 1, wn);
        if (!nacc) { plan_end(pl); return LT_EOVERFLOW; }
        dwacc = lt_ctx_scratch(ctx, LT_SCRATCH_CONV_ACC, nacc);
        if (!dwacc) { plan_end(pl); return LT_ENOMEM; }
        memset(dwacc, 0, nacc);
    }
    if (ddirect) pack_weights(buf, w, G, wsz, cing, coutg, d->kh, d->kw, 1, mr);
    /* one worksharing loop (one barrier): units [0, uw) are weight-gradient blocks, the rest
     * input-gradient blocks; they write disjoint memory */
    /* one weight-gradient unit: block u of (image, group) summed into this thread's acc */
#define WEIGHT_UNIT(uu)                                                                        \
    do {                                                                                       \
        const int64_t u = (uu), it = u / nbw, i = it / G, g = it % G;                          \
        const float *dyg = dy + (i * d->cout + g * coutg) * P;                                 \
        const float *xg = x + (i * d->cin + g * cing) * HW;                                    \
        float *acc = acc0 + g * coutg * K;                                                     \
        if (dwdirect) {                                                                        \
            const int64_t y0 = (u % nbw) * rbw, y1 = y0 + rbw < d->oh ? y0 + rbw : d->oh;      \
            direct_dw_block(ctx, acc, dyg, xg, d->h, d->w, d->ph, d->pw, xpadded, &qd, c, y0,  \
                            y1);                                                       \
        } else if (pointwise && coutg == 1) {                                                  \
            /* one output channel (a 1x1 head): dw (K) += x (K, P) dy (P), dot products */     \
            head_dw_isa[lt_ctx_isa(ctx)](acc, xg, dyg, K, P);                                  \
        } else if (pointwise) {                                                                \
            sgemm(ctx, 0, 1, coutg, K, P, dyg, P, xg, P, 1.0f, acc, K);                        \
        } else {                                                                               \
            for (int64_t oy0 = 0; oy0 < d->oh; oy0 += rows) {                                  \
                const int64_t oy1 = oy0 + rows < d->oh ? oy0 + rows : d->oh;                   \
                const int64_t pc = (oy1 - oy0) * d->ow;                                        \
                im2col_rows(c, xg, cing, d, oy0, oy1);                                         \
                sgemm(ctx, 0, 1, coutg, K, pc, dyg + oy0 * d->ow, P, c, pc, 1.0f, acc, K);     \
            }                                                                                  \
        }                                                                                      \
    } while (0)
    #pragma omp parallel num_threads(pl.nt)
    {
        const int tid = omp_get_thread_num();
        float *c = buf ? buf + G * wsz + (int64_t)tid * per : NULL;
        /* the weight-gradient runs first (the longest units), then the input-gradient
         * units, all shared dynamically (nowait: the region's end is the barrier) */
        #pragma omp for schedule(dynamic, 1) nowait
        for (int64_t s = 0; s < (dw ? nslot : 0); s++) {
            float *acc0 = s == 0 ? dw : dwacc + (s - 1) * wn;
            for (int64_t uu = s * uw / nslot; uu < (s + 1) * uw / nslot; uu++) WEIGHT_UNIT(uu);
        }
        #pragma omp for schedule(dynamic, 1) nowait
        for (int64_t uu = uw; uu < uw + ux; uu++) {
            {
                const int64_t u = uu - uw, it = u / nbx, i = it / G, g = it % G;
                const float *dyg = dy + (i * d->cout + g * coutg) * P;
                float *dxg = dx + (i * d->cin + g * cing) * HW;
                if (ddirect) {
                    const int64_t y0 = (u % nbx) * rbx, y1 = y0 + rbx < d->h ? y0 + rbx : d->h;
                    direct_block(ctx, dxg, dyg, d->oh, d->ow, qh, qw, ypadded, buf + g * wsz, NULL,
                                 &q, 1, c, y0, y1);
                } else if (pointwise && coutg == 1) {
                    head_dx_isa[lt_ctx_isa(ctx)](dxg, w + g * K, dyg, K, P);
                } else if (pointwise) {
                    sgemm(ctx, 1, 0, K, P, coutg, w + g * coutg * K, K, dyg, P, 1.0f, dxg, P);
                } else {
                    sgemm(ctx, 1, 0, K, P, coutg, w + g * coutg * K, K, dyg, P, 0.0f, c, P);
                    col2im_add(dxg, c, cing, d);
                }
            }
        }
    }
#undef WEIGHT_UNIT
    plan_end(pl);
    if (dwacc)
        for (int64_t s = 0; s < nslot - 1; s++) {
            const float *a = dwacc + s * wn;
            for (int64_t j = 0; j < wn; j++) dw[j] += a[j];
        }
    return LT_OK;
}

/* dx += conv^T(dy, w), dw += dy (x) patches: each gradient batched or split per image */
static lt_status conv_bwd(lt_context *ctx, float *dx, float *dw, const float *dy, const float *x,
                          const float *w, const lt_conv2d_dims *d, int set) {
    /* the plane kernels first (see conv_fwd); with set they overwrite dx / dw, the other
     * kernels add into them (zeroed here first) */
    if (dx && use_plane(ctx, d, BATCH_DX)) {
        const lt_status sp = plane_fwd(ctx, dx, dy, w, NULL, d, !set, 1);
        if (sp != LT_OK || !dw) return sp;
        dx = NULL;
    }
    if (dw && use_plane(ctx, d, BATCH_DW)) {
        const lt_status sp = plane_dw(ctx, dw, dy, x, d, set);
        if (sp != LT_OK || !dx) return sp;
        dw = NULL;
    }
    if (set && dw) memset(dw, 0, (size_t)(d->cout * (d->cin / d->groups) * d->kh * d->kw) * sizeof(float));
    /* Winograd's input gradient overwrites dx with set: no serial zero-fill of dx first (it
     * was 1.9% of the main thread's samples in the 2-thread Tux step, none in the worker's) */
    const int wino = dx ? use_winograd(ctx, d, BATCH_DX) : 0;
    if (wino) {
        const lt_status sw = lt_winograd_backward_data(ctx, dx, dy, w, d, wino, !set);
        if (sw != LT_OK || !dw) return sw;
        dx = NULL;
    }
    if (set && dx) memset(dx, 0, (size_t)(d->n * d->cin * d->h * d->w) * sizeof(float));
    const int winw = dw ? use_winograd(ctx, d, BATCH_DW) : 0;
    if (winw) {
        const lt_status sw = lt_winograd_backward_weight(ctx, dw, dy, x, d, winw);
        if (sw != LT_OK || !dx) return sw;
        dw = NULL;
    }
    const int bx = dx && use_batched(ctx, d, BATCH_DX), bw = dw && use_batched(ctx, d, BATCH_DW);
    lt_status st = LT_OK;
    if (bx || bw) st = batched_bwd(ctx, bx ? dx : NULL, bw ? dw : NULL, dy, x, w, d);
    if (st == LT_OK && ((dx && !bx) || (dw && !bw)))
        st = conv_bwd_split(ctx, bx ? NULL : dx, bw ? NULL : dw, dy, x, w, d);
    return st;
}

lt_status lt_conv2d_forward(lt_context *ctx, float *out, const float *x, const float *w,
                            const float *b, const lt_conv2d_dims *d) {
    return conv_fwd(ctx, out, x, w, b, d, 0);
}

lt_status lt_conv2d_backward(lt_context *ctx, float *dx, float *dw, float *db, const float *dout,
                             const float *x, const float *w, const lt_conv2d_dims *d) {
    if (db) bias_grad(ctx, db, dout, d->n, d->cout, d->oh * d->ow);
    return conv_bwd(ctx, dx, dw, dout, x, w, d, 0);
}

lt_status lt_conv2d_backward_set(lt_context *ctx, float *dx, float *dw, float *db,
                                 const float *dout, const float *x, const float *w,
                                 const lt_conv2d_dims *d) {
    if (db) {
        memset(db, 0, (size_t)d->cout * sizeof(float));
        bias_grad(ctx, db, dout, d->n, d->cout, d->oh * d->ow);
    }
    return conv_bwd(ctx, dx, dw, dout, x, w, d, 1);
}

/* Transposed convs whose kernel equals the stride (no padding, dilation or output padding),
 * like U-Net's 2x2 stride-2 up-convolutions, write every output pixel exactly once: the
 * GEMM's columns are scattered straight into the output with the bias, with no zeroing and
 * no read-modify-write (d: the adjoint conv's dims). */
static int is_tiling(const lt_conv2d_dims *d) {
    return d->kh == d->sh && d->kw == d->sw && d->ph == 0 && d->pw == 0 &&
           (d->kh == 1 || d->dh == 1) && (d->kw == 1 || d->dw == 1) &&
           d->h == d->oh * d->sh && d->w == d->ow * d->sw;
}

static lt_status convt_tiling_fwd(lt_context *ctx, float *out, const float *x, const float *w,
                                  const float *b, const lt_conv2d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kh * d->kw, P = d->oh * d->ow, HW = d->h * d->w;
    const int64_t items = d->n * G;
    if (items == 0) return LT_OK;
    /* input rows per GEMM chunk: the chunk's columns stay near 256 KB (in L2) */
    int64_t rows = (int64_t)(256 * 1024 / sizeof(float)) / (K * d->ow);
    if (rows < 1) rows = 1;
    if (rows > d->oh) rows = d->oh;
    par_plan pl = plan_begin(ctx, items, 2.0 * (double)(d->n * d->cout * P) * (double)K);
    int64_t per;
    if (lt_mul_ovf(K, rows, &per) || lt_mul_ovf(per, d->ow, &per)) { plan_end(pl); return LT_EOVERFLOW; }
    const size_t nb = floats_bytes(0, pl.nt, per);
    if (!nb) { plan_end(pl); return LT_EOVERFLOW; }
    float *buf = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nb);
    if (!buf) { plan_end(pl); return LT_ENOMEM; }
    #pragma omp parallel for num_threads(pl.nt) schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
        const int64_t i = it / G, g = it % G;
        float *t = buf + (int64_t)omp_get_thread_num() * K * rows * d->ow;
        for (int64_t y0 = 0; y0 < d->oh; y0 += rows) {
            const int64_t y1 = y0 + rows < d->oh ? y0 + rows : d->oh, pc = (y1 - y0) * d->ow;
            /* t (cing*kh*kw, pc) = w_g^T x_g[rows y0..y1) */
            sgemm(ctx, 1, 0, K, pc, coutg, w + g * coutg * K, K,
                  x + (i * d->cout + g * coutg) * P + y0 * d->ow, P, 0.0f, t, pc);
            for (int64_t c = 0; c < cing; c++) {
                float *oc = out + (i * d->cin + g * cing + c) * HW;
                const float bv = b ? b[g * cing + c] : 0.0f;
                for (int64_t ky = 0; ky < d->kh; ky++)
                    for (int64_t kx = 0; kx < d->kw; kx++) {
                        const float *r = t + ((c * d->kh + ky) * d->kw + kx) * pc;
                        for (int64_t y = y0; y < y1; y++) {
                            float *o = oc + (y * d->sh + ky) * d->w + kx;
                            const float *ry = r + (y - y0) * d->ow;
                            for (int64_t xx = 0; xx < d->ow; xx++) o[xx * d->sw] = ry[xx] + bv;
                        }
                    }
            }
        }
    }
    plan_end(pl);
    return LT_OK;
}

lt_status lt_conv_transpose2d_forward(lt_context *ctx, float *out, const float *x, const float *w,
                                      const float *b, const lt_conv2d_dims *d) {
    if (is_tiling(d) && lt_ctx_conv_algo(ctx) != LT_CONV_GEMM)
        return convt_tiling_fwd(ctx, out, x, w, b, d);
    memset(out, 0, (size_t)(d->n * d->cin * d->h * d->w) * sizeof(float));
    lt_status st = conv_bwd(ctx, out, NULL, x, NULL, w, d, 0);
    if (st == LT_OK && b) bias_add(out, b, d->n, d->cin, d->h * d->w);
    return st;
}

/* Backward of a tiling transposed conv: the columns of dout (a space-to-depth rearrangement,
 * built once per block of rows) feed both GEMMs: dx (N, cout, oh, ow) += w_g cols and
 * dw += x_g cols^T (per-run accumulators). d: the adjoint conv's dims. */
static lt_status convt_tiling_bwd(lt_context *ctx, float *dx, float *dw, const float *dout,
                                  const float *x, const float *w, const lt_conv2d_dims *d) {
    const int64_t G = d->groups, cing = d->cin / G, coutg = d->cout / G;
    const int64_t K = cing * d->kh * d->kw, P = d->oh * d->ow, HW = d->h * d->w;
    const int64_t items = d->n * G, wn = d->cout * K, rows = chunk_rows(d, K);
    if (items == 0 || (!dx && !dw)) return LT_OK;
    par_plan pl = plan_begin(ctx, items, 2.0 * (double)(d->n * d->cout * P) * (double)K);
    int64_t per;
    if (lt_mul_ovf(K, rows, &per) || lt_mul_ovf(per, d->ow, &per)) { plan_end(pl); return LT_EOVERFLOW; }
    const size_t nb = floats_bytes(0, pl.nt, per);
    if (!nb) { plan_end(pl); return LT_EOVERFLOW; }
    float *buf = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, nb);
    if (!buf) { plan_end(pl); return LT_ENOMEM; }
    /* fixed runs of images, each summed into its own dw accumulator, handed out dynamically
     * and added in run order (reproducible dw; see conv_bwd) */
    const int64_t nslot = pl.nt > 1 ? (items < 2 * pl.nt ? items : 2 * pl.nt) : 1;
    float *dwacc = NULL;
    if (dw && nslot > 1) {
        const size_t nacc = floats_bytes(0, nslot - 1, wn);
        if (!nacc) { plan_end(pl); return LT_EOVERFLOW; }
        dwacc = lt_ctx_scratch(ctx, LT_SCRATCH_CONV_ACC, nacc);
        if (!dwacc) { plan_end(pl); return LT_ENOMEM; }
        memset(dwacc, 0, nacc);
    }
    #pragma omp parallel for num_threads(pl.nt) schedule(dynamic, 1)
    for (int64_t s = 0; s < nslot; s++) {
        const int tid = omp_get_thread_num();
        float *c = buf + (int64_t)tid * K * rows * d->ow;
        for (int64_t it = s * items / nslot; it < (s + 1) * items / nslot; it++) {
            const int64_t i = it / G, g = it % G;
            const float *og = dout + (i * d->cin + g * cing) * HW;    /* (cing, h, w) */
            const float *xg = x + (i * d->cout + g * coutg) * P;      /* (coutg, oh, ow) */
            float *dxg = dx ? dx + (i * d->cout + g * coutg) * P : NULL;
            float *acc = dw ? (s == 0 ? dw : dwacc + (s - 1) * wn) + g * coutg * K : NULL;
            for (int64_t oy0 = 0; oy0 < d->oh; oy0 += rows) {
                const int64_t oy1 = oy0 + rows < d->oh ? oy0 + rows : d->oh;
                const int64_t pc = (oy1 - oy0) * d->ow;
                im2col_rows(c, og, cing, d, oy0, oy1);
                if (dxg)
                    sgemm(ctx, 0, 0, coutg, pc, K, w + g * coutg * K, K, c, pc, 1.0f,
                          dxg + oy0 * d->ow, P);
                if (acc) sgemm(ctx, 0, 1, coutg, K, pc, xg + oy0 * d->ow, P, c, pc, 1.0f, acc, K);
            }
        }
    }
    plan_end(pl);
    if (dwacc)
        for (int64_t s = 0; s < nslot - 1; s++) {
            const float *a = dwacc + s * wn;
            for (int64_t j = 0; j < wn; j++) dw[j] += a[j];
        }
    return LT_OK;
}

lt_status lt_conv_transpose2d_backward(lt_context *ctx, float *dx, float *dw, float *db,
                                       const float *dout, const float *x, const float *w,
                                       const lt_conv2d_dims *d) {
    if (db) bias_grad(ctx, db, dout, d->n, d->cin, d->h * d->w);
    if (is_tiling(d) && lt_ctx_conv_algo(ctx) != LT_CONV_GEMM)
        return convt_tiling_bwd(ctx, dx, dw, dout, x, w, d);
    lt_status st = LT_OK;
    if (dx) st = conv_fwd(ctx, dx, dout, w, NULL, d, 1);
    if (st == LT_OK && dw) st = conv_bwd(ctx, NULL, dw, x, dout, NULL, d, 0);
    return st;
}

/* ---------------------------------------------------------------- naive references */

static void naive_fwd(float *out, const float *x, const float *w, const float *b,
                      const lt_conv2d_dims *d, int accumulate) {
    const int64_t cing = d->cin / d->groups, coutg = d->cout / d->groups;
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t co = 0; co < d->cout; co++) {
            const int64_t g = co / coutg;
            for (int64_t oy = 0; oy < d->oh; oy++)
                for (int64_t ox = 0; ox < d->ow; ox++) {
                    float *o = out + ((i * d->cout + co) * d->oh + oy) * d->ow + ox;
                    double s = accumulate ? *o : 0.0;
                    if (b) s += b[co];
                    for (int64_t ci = 0; ci < cing; ci++)
                        for (int64_t ky = 0; ky < d->kh; ky++) {
                            const int64_t iy = oy * d->sh - d->ph + ky * d->dh;
                            if (iy < 0 || iy >= d->h) continue;
                            for (int64_t kx = 0; kx < d->kw; kx++) {
                                const int64_t ix = ox * d->sw - d->pw + kx * d->dw;
                                if (ix < 0 || ix >= d->w) continue;
                                s += (double)x[((i * d->cin + g * cing + ci) * d->h + iy) * d->w + ix] *
                                     w[((co * cing + ci) * d->kh + ky) * d->kw + kx];
                            }
                        }
                    *o = (float)s;
                }
        }
}

/* dx += conv^T(dy, w), gathered per input element */
static void naive_bwd_data(float *dx, const float *dy, const float *w, const lt_conv2d_dims *d) {
    const int64_t cing = d->cin / d->groups, coutg = d->cout / d->groups;
    for (int64_t i = 0; i < d->n; i++)
        for (int64_t c = 0; c < d->cin; c++) {
            const int64_t g = c / cing, cl = c % cing;
            for (int64_t iy = 0; iy < d->h; iy++)
                for (int64_t ix = 0; ix < d->w; ix++) {
                    double s = 0;
                    for (int64_t co = g * coutg; co < (g + 1) * coutg; co++)
                        for (int64_t ky = 0; ky < d->kh; ky++) {
                            const int64_t ty = iy + d->ph - ky * d->dh;
                            if (ty < 0 || ty % d->sh) continue;
                            const int64_t oy = ty / d->sh;
                            if (oy >= d->oh) continue;
                            for (int64_t kx = 0; kx < d->kw; kx++) {
                                const int64_t tx = ix + d->pw - kx * d->dw;
                                if (tx < 0 || tx % d->sw) continue;
                                const int64_t ox = tx / d->sw;
                                if (ox >= d->ow) continue;
                                s += (double)dy[((i * d->cout + co) * d->oh + oy) * d->ow + ox] *
                                     w[((co * cing + cl) * d->kh + ky) * d->kw + kx];
                            }
                        }
                    dx[((i * d->cin + c) * d->h + iy) * d->w + ix] += (float)s;
                }
        }
}

/* dw += sum over images and output pixels of dy * x patch */
static void naive_bwd_weight(float *dw, const float *dy, const float *x, const lt_conv2d_dims *d) {
    const int64_t cing = d->cin / d->groups, coutg = d->cout / d->groups;
    for (int64_t co = 0; co < d->cout; co++) {
        const int64_t g = co / coutg;
        for (int64_t ci = 0; ci < cing; ci++)
            for (int64_t ky = 0; ky < d->kh; ky++)
                for (int64_t kx = 0; kx < d->kw; kx++) {
                    double s = 0;
                    for (int64_t i = 0; i < d->n; i++)
                        for (int64_t oy = 0; oy < d->oh; oy++) {
                            const int64_t iy = oy * d->sh - d->ph + ky * d->dh;
                            if (iy < 0 || iy >= d->h) continue;
                            for (int64_t ox = 0; ox < d->ow; ox++) {
                                const int64_t ix = ox * d->sw - d->pw + kx * d->dw;
                                if (ix < 0 || ix >= d->w) continue;
                                s += (double)dy[((i * d->cout + co) * d->oh + oy) * d->ow + ox] *
                                     x[((i * d->cin + g * cing + ci) * d->h + iy) * d->w + ix];
                            }
                        }
                    dw[((co * cing + ci) * d->kh + ky) * d->kw + kx] += (float)s;
                }
    }
}

static void naive_bias_grad(float *db, const float *t, int64_t n, int64_t c, int64_t hw) {
    for (int64_t ch = 0; ch < c; ch++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < hw; j++) s += t[(i * c + ch) * hw + j];
        db[ch] += (float)s;
    }
}

lt_status lt_conv2d_forward_naive(float *out, const float *x, const float *w, const float *b,
                                  const lt_conv2d_dims *d) {
    naive_fwd(out, x, w, b, d, 0);
    return LT_OK;
}

lt_status lt_conv2d_backward_naive(float *dx, float *dw, float *db, const float *dout,
                                   const float *x, const float *w, const lt_conv2d_dims *d) {
    if (db) naive_bias_grad(db, dout, d->n, d->cout, d->oh * d->ow);
    if (dx) naive_bwd_data(dx, dout, w, d);
    if (dw) naive_bwd_weight(dw, dout, x, d);
    return LT_OK;
}

lt_status lt_conv_transpose2d_forward_naive(float *out, const float *x, const float *w,
                                            const float *b, const lt_conv2d_dims *d) {
    memset(out, 0, (size_t)(d->n * d->cin * d->h * d->w) * sizeof(float));
    naive_bwd_data(out, x, w, d);
    if (b) bias_add(out, b, d->n, d->cin, d->h * d->w);
    return LT_OK;
}

lt_status lt_conv_transpose2d_backward_naive(float *dx, float *dw, float *db,
                                             const float *dout, const float *x,
                                             const float *w, const lt_conv2d_dims *d) {
    if (db) naive_bias_grad(db, dout, d->n, d->cin, d->h * d->w);
    if (dx) naive_fwd(dx, dout, w, NULL, d, 1);
    if (dw) naive_bwd_weight(dw, x, dout, d);
    return LT_OK;
}
