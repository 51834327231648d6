/* lt_winograd.c: Winograd F(4x4,3x3) / F(2x2,3x3) convolution (forward, input and weight
 * gradients) for 3x3 stride-1 convolutions: tile transforms here, the GEMMs in lt_gemm.c
 * (see lt_winograd.h).
 * The transforms are compiled per ISA level (lt_isa.h) and vectorise across the tiles of a row. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <omp.h>
#include "lt_winograd.h"
#include "lt_context.h"
#include "lt_gemm.h"
#include "lt_isa.h"

/* Geometry of one Winograd convolution: output pixel (oy, ox), tap (ky, kx) reads input pixel
 * (oy - pt + ky, ox - pl + kx), zero outside the input. */
typedef struct {
    int64_t n, ci, h, w;      /* input (N, ci, H, W) */
    int64_t co, oh, ow;       /* output (N, co, OH, OW) */
    int64_t pt, pl;
    int64_t th, tw, tiles;    /* tile rows / columns per image; N * th * tw */
    int64_t us;               /* plane stride of the transformed weights U (a*a planes (co, ci)) */
    int64_t vps, mps;         /* plane strides of a block's V (ci, vld) and M (co, nb) planes */
    int64_t vld, mld;         /* row strides of V and M: 16 floats past the block's tiles, so
                               * that narrow tile rows may be stored with whole vectors */
} wgeom;

int lt_winograd_fits(const lt_conv2d_dims *d) {
    return d->kh == 3 && d->kw == 3 && d->sh == 1 && d->sw == 1 && d->dh == 1 && d->dw == 1 &&
           d->groups == 1;
}

/* ---------------------------------------------------------------- 1-D transforms */

/* r = B^T d (a = M + 2 values, strides rs / ds) */
static inline LT_ISA_INLINE void bt1(float *r, int64_t rs, const float *d, int64_t ds, const int M) {
    if (M == 4) {
        const float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds],
                    d5 = d[5 * ds];
        const float p = d4 - d2, q = d3 - d1;
        r[0] = 4.0f * d0 - 5.0f * d2 + d4;
        r[rs] = (d3 + d4) - 4.0f * (d1 + d2);
        r[2 * rs] = (d4 - d3) + 4.0f * (d1 - d2);
        r[3 * rs] = p + 2.0f * q;
        r[4 * rs] = p - 2.0f * q;
        r[5 * rs] = 4.0f * d1 - 5.0f * d3 + d5;
    } else {
        const float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];
        r[0] = d0 - d2;
        r[rs] = d1 + d2;
        r[2 * rs] = d2 - d1;
        r[3 * rs] = d1 - d3;
    }
}

/* o = A^T m (M values from a = M + 2) */
static inline LT_ISA_INLINE void at1(float *o, int64_t os, const float *m, int64_t ms, const int M) {
    if (M == 4) {
        const float m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms],
                    m5 = m[5 * ms];
        const float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        o[0] = m0 + s12 + s34;
        o[os] = d12 + 2.0f * d34;
        o[2 * os] = s12 + 4.0f * s34;
        o[3 * os] = d12 + 8.0f * d34 + m5;
    } else {
        const float m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms];
        o[0] = m0 + m1 + m2;
        o[os] = m1 - m2 - m3;
    }
}

/* u = G g (double: the weight transform is rounded once) */
static inline LT_ISA_INLINE void g1(double *u, int64_t us, const double *g, int64_t gs,
                                    const int M) {
    const double g0 = g[0], g1v = g[gs], g2 = g[2 * gs];
    if (M == 4) {
        const double s6 = 1.0 / 6.0, a = g0 * (1.0 / 24.0) + g2 * s6, bb = g1v * (1.0 / 12.0);
        u[0] = g0 * 0.25;
        u[us] = -(g0 + g1v + g2) * s6;
        u[2 * us] = -(g0 - g1v + g2) * s6;
        u[3 * us] = a + bb;
        u[4 * us] = a - bb;
        u[5 * us] = g2;
    } else {
        u[0] = g0;
        u[us] = (g0 + g1v + g2) * 0.5;
        u[2 * us] = (g0 - g1v + g2) * 0.5;
        u[3 * us] = g2;
    }
}

/* ---------------------------------------------------------------- weight transform */

/* g1 on 16 lanes: u[r * us][l] = (G g)[r] of g[k * gs][l] (vectorises across l) */
static inline LT_ISA_INLINE void g1v(double (*u)[16], int us, double (*g)[16], int gs,
                                     const int M) {
    for (int l = 0; l < 16; l++) {
        double gl[3], ul[6];
        gl[0] = g[0][l]; gl[1] = g[gs][l]; gl[2] = g[2 * gs][l];
        g1(ul, 1, gl, 1, M);
        for (int r = 0; r < M + 2; r++) u[r * us][l] = ul[r];
    }
}

/* U[xi][o][c] (a*a, co, ci) = G g G^T of the 3x3 kernel g of (output o, input c): w (co, ci,
 * 3, 3), or with adjoint w (ci, co, 3, 3) flipped: g(ky, kx) = w[c][o][2-ky][2-kx]. In double,
 * rounded once; the loop over c vectorises (stores contiguous in c). Output channels [o0, o1). */
static inline LT_ISA_INLINE void weight_tf_body(float *U, int64_t ustride, const float *w,
                                                int64_t co, int64_t ci, int adjoint, int M,
                                                int64_t o0, int64_t o1) {
    const int64_t A = M + 2;
    /* g[k] of (o, c) at w[gb + c * gs + k * gk]; 16 channels c at a time into ub, then one
     * cache line per transform position (the planes lie ustride apart) */
    for (int64_t o = o0; o < o1; o++) {
        const int64_t gb = adjoint ? o * 9 + 8 : o * ci * 9, gs = adjoint ? co * 9 : 9;
        const int64_t gk = adjoint ? -1 : 1;
        float *uo = U + o * ci;
        for (int64_t c0 = 0; c0 < ci; c0 += 16) {
            const int64_t nc = ci - c0 < 16 ? ci - c0 : 16;
            double g[9][16], t[18][16], u[36][16];
            float ub[36][16];
            for (int k = 0; k < 9; k++)
                for (int64_t cc = 0; cc < 16; cc++)
                    g[k][cc] = cc < nc ? (double)w[gb + (c0 + cc) * gs + k * gk] : 0.0;
            for (int k = 0; k < 3; k++) g1v(t + k, 3, g + k, 3, M);          /* t = G g */
            for (int r = 0; r < A; r++) g1v(u + r * A, 1, t + r * 3, 1, M);  /* u = t G^T */
            for (int k = 0; k < A * A; k++)
                for (int cc = 0; cc < 16; cc++) ub[k][cc] = (float)u[k][cc];
            for (int64_t k = 0; k < A * A; k++)
                memcpy(uo + k * ustride + c0, ub[k], (size_t)nc * sizeof(float));
        }
    }
}

static inline LT_ISA_INLINE void weight_tf4_body(float *U, int64_t us, const float *w, int64_t co,
                                                 int64_t ci, int adjoint, int64_t o0, int64_t o1) {
    weight_tf_body(U, us, w, co, ci, adjoint, 4, o0, o1);
}
static inline LT_ISA_INLINE void weight_tf2_body(float *U, int64_t us, const float *w, int64_t co,
                                                 int64_t ci, int adjoint, int64_t o0, int64_t o1) {
    weight_tf_body(U, us, w, co, ci, adjoint, 2, o0, o1);
}
LT_ISA_VARIANTS(weight_tf4, (float *U, int64_t us, const float *w, int64_t co, int64_t ci,
                             int adjoint, int64_t o0, int64_t o1), (U, us, w, co, ci, adjoint, o0, o1))
LT_ISA_VARIANTS(weight_tf2, (float *U, int64_t us, const float *w, int64_t co, int64_t ci,
                             int adjoint, int64_t o0, int64_t o1), (U, us, w, co, ci, adjoint, o0, o1))



/* ---------------------------------------------------------------- tile iteration */

/* Tiles are numbered (image, tile row, tile column) row-major. A block [t0, t1) is walked in
 * runs of one tile row: image i, row ty, columns [tx0, tx1), at block offset off. */
typedef struct { int64_t i, ty, tx0, tx1, off; } wrun;

static int run_first(wrun *r, const wgeom *g, int64_t t0, int64_t t1) {
    if (t0 >= t1) return 0;
    const int64_t per = g->th * g->tw;
    r->i = t0 / per;
    r->ty = (t0 - r->i * per) / g->tw;
    r->tx0 = t0 - r->i * per - r->ty * g->tw;
    r->tx1 = g->tw - r->tx0 < t1 - t0 ? g->tw : r->tx0 + (t1 - t0);
    r->off = 0;
    return 1;
}

static int run_next(wrun *r, const wgeom *g, int64_t t0, int64_t t1) {
    r->off += r->tx1 - r->tx0;
    if (t0 + r->off >= t1) return 0;
    if (++r->ty == g->th) { r->ty = 0; r->i++; }
    r->tx0 = 0;
    r->tx1 = g->tw < t1 - t0 - r->off ? g->tw : t1 - t0 - r->off;
    return 1;
}

/* Columns tx of a tile row whose input columns ix0 = tx*M - pl .. ix0 + A - 1 lie inside
 * [0, W): [*lo, *hi) clipped to [tx0, tx1) (empty when none). */
static void inner_cols(int64_t pl, int64_t W, int64_t M, int64_t tx0, int64_t tx1, int64_t *lo,
                       int64_t *hi) {
    int64_t a = pl <= 0 ? 0 : (pl + M - 1) / M;                 /* tx*M >= pl */
    int64_t b = W - (M + 2) + pl < 0 ? 0 : (W - (M + 2) + pl) / M + 1;   /* tx*M + A - pl <= W */
    if (a < tx0) a = tx0;
    if (b > tx1) b = tx1;
    if (b < a) b = a;
    *lo = a; *hi = b;
}

/* A block's runs cut into pieces of at most `room` tiles, in order (the narrow-image AVX-512
 * transforms fill groups of 16 lanes = 16 consecutive tiles of the block, a run split where a
 * group ends): cur_take gives the next piece as a run (off: its first tile's block offset). */
typedef struct { wrun r; int64_t cx; int ok; } wcur;

static void cur_first(wcur *c, const wgeom *g, int64_t t0, int64_t t1) {
    c->r.i = c->r.ty = c->r.tx0 = c->r.tx1 = c->r.off = 0;
    c->ok = run_first(&c->r, g, t0, t1);
    c->cx = c->r.tx0;
}

static int cur_take(wcur *c, const wgeom *g, int64_t t0, int64_t t1, int64_t room, wrun *p) {
    if (!c->ok) return 0;
    *p = c->r;
    p->tx0 = c->cx;
    p->tx1 = c->r.tx1 - c->cx <= room ? c->r.tx1 : c->cx + room;
    p->off = c->r.off + (c->cx - c->r.tx0);
    if (p->tx1 == c->r.tx1) {
        c->ok = run_next(&c->r, g, t0, t1);
        c->cx = c->r.tx0;
    } else {
        c->cx = p->tx1;
    }
    return 1;
}

/* ---------------------------------------------------------------- input transform */

/* V[xi][c][t - t0] (a*a, ci, nb) = B^T d B for channels [c0, c1) and tiles [t0, t1) of
 * x (N, ci, H, W). */
static inline LT_ISA_INLINE void in_tf_body(float *V, const float *x, const wgeom *g, int64_t t0,
                                            int64_t t1, int64_t c0, int64_t c1, const int M) {
    const int A = M + 2;
    const int64_t vs = g->vps, H = g->h, W = g->w;
    for (int64_t c = c0; c < c1; c++) {
        wrun r = { 0, 0, 0, 0, 0 };
        for (int ok = run_first(&r, g, t0, t1); ok; ok = run_next(&r, g, t0, t1)) {
            const float *xc = x + (r.i * g->ci + c) * H * W;
            float *v = V + c * g->vld + r.off - r.tx0;      /* indexed by tx */
            const int64_t iy0 = r.ty * M - g->pt;
            int64_t lo = r.tx0, hi = r.tx0;
            if (iy0 >= 0 && iy0 + A <= H) inner_cols(g->pl, W, M, r.tx0, r.tx1, &lo, &hi);
            /* inner tiles: straight loads, vectorised across tx */
            const int64_t base = iy0 * W - g->pl;
            for (int64_t tx = lo; tx < hi; tx++) {
                float d[36], t[36], u[36];
                for (int k = 0; k < A; k++)
                    for (int j = 0; j < A; j++) d[k * A + j] = xc[base + k * W + tx * M + j];
                for (int j = 0; j < A; j++) bt1(t + j, A, d + j, A, M);
                for (int k = 0; k < A; k++) bt1(u + k * A, 1, t + k * A, 1, M);
                for (int k = 0; k < A * A; k++) v[k * vs + tx] = u[k];
            }
            /* edge tiles: reads outside the image are zeros */
            for (int64_t tx = r.tx0; tx < r.tx1; tx++) {
                if (tx == lo && hi > lo) { tx = hi - 1; continue; }
                float d[36], t[36], u[36];
                const int64_t ix0 = tx * M - g->pl;
                for (int k = 0; k < A; k++) {
                    const int64_t iy = iy0 + k;
                    for (int j = 0; j < A; j++) {
                        const int64_t ix = ix0 + j;
                        d[k * A + j] = iy >= 0 && iy < H && ix >= 0 && ix < W ? xc[iy * W + ix] : 0.0f;
                    }
                }
                for (int j = 0; j < A; j++) bt1(t + j, A, d + j, A, M);
                for (int k = 0; k < A; k++) bt1(u + k * A, 1, t + k * A, 1, M);
                for (int k = 0; k < A * A; k++) v[k * vs + tx] = u[k];
            }
        }
    }
}

static inline LT_ISA_INLINE void in_tf4_body(float *V, const float *x, const wgeom *g, int64_t t0,
                                             int64_t t1, int64_t c0, int64_t c1) {
    in_tf_body(V, x, g, t0, t1, c0, c1, 4);
}
static inline LT_ISA_INLINE void in_tf2_body(float *V, const float *x, const wgeom *g, int64_t t0,
                                             int64_t t1, int64_t c0, int64_t c1) {
    in_tf_body(V, x, g, t0, t1, c0, c1, 2);
}
LT_ISA_VARIANTS(in_tf4, (float *V, const float *x, const wgeom *g, int64_t t0, int64_t t1,
                         int64_t c0, int64_t c1), (V, x, g, t0, t1, c0, c1))
LT_ISA_VARIANTS(in_tf2, (float *V, const float *x, const wgeom *g, int64_t t0, int64_t t1,
                         int64_t c0, int64_t c1), (V, x, g, t0, t1, c0, c1))

/* ---------------------------------------------------------------- output transform */

/* out[i][o] tile = [out +] A^T M A [+ b[o]] for output channels [o0, o1) and tiles [t0, t1);
 * Mt[xi][o][t - t0] (a*a, co, nb); partial tiles store their pixels inside (OH, OW). */
static inline LT_ISA_INLINE void out_tf_body(float *out, const float *Mt, const float *b,
                                             const wgeom *g, int64_t t0, int64_t t1, int64_t o0,
                                             int64_t o1, int accumulate, const int M) {
    const int A = M + 2;
    const int64_t ms = g->mps, OH = g->oh, OW = g->ow;
    for (int64_t o = o0; o < o1; o++) {
        const float bv = b ? b[o] : 0.0f;
        wrun r = { 0, 0, 0, 0, 0 };
        for (int ok = run_first(&r, g, t0, t1); ok; ok = run_next(&r, g, t0, t1)) {
            float *oc = out + (r.i * g->co + o) * OH * OW;
            const float *mm = Mt + o * g->mld + r.off - r.tx0;   /* indexed by tx */
            const int64_t oy0 = r.ty * M;
            const int full_rows = oy0 + M <= OH;
            int64_t hi = r.tx1;
            if (!full_rows) hi = r.tx0;
            else if (hi * M > OW) hi = OW / M;   /* full tiles: tx*M + M <= OW */
            if (hi < r.tx0) hi = r.tx0;
            float *orow = oc + oy0 * OW;
            for (int64_t tx = r.tx0; tx < hi; tx++) {
                float m[36], t[24], y[16];
                for (int k = 0; k < A * A; k++) m[k] = mm[k * ms + tx];
                for (int j = 0; j < A; j++) at1(t + j, A, m + j, A, M);    /* t (M, A) */
                for (int k = 0; k < M; k++) at1(y + k * M, 1, t + k * A, 1, M);
                for (int k = 0; k < M; k++)
                    for (int j = 0; j < M; j++) {
                        float *p = orow + k * OW + tx * M + j;
                        *p = accumulate ? *p + y[k * M + j] + bv : y[k * M + j] + bv;
                    }
            }
            for (int64_t tx = hi; tx < r.tx1; tx++) {
                float m[36], t[24], y[16];
                for (int k = 0; k < A * A; k++) m[k] = mm[k * ms + tx];
                for (int j = 0; j < A; j++) at1(t + j, A, m + j, A, M);
                for (int k = 0; k < M; k++) at1(y + k * M, 1, t + k * A, 1, M);
                for (int k = 0; k < M && oy0 + k < OH; k++)
                    for (int j = 0; j < M && tx * M + j < OW; j++) {
                        float *p = orow + k * OW + tx * M + j;
                        *p = accumulate ? *p + y[k * M + j] + bv : y[k * M + j] + bv;
                    }
            }
        }
    }
}

static inline LT_ISA_INLINE void out_tf4_body(float *out, const float *Mt, const float *b,
                                              const wgeom *g, int64_t t0, int64_t t1, int64_t o0,
                                              int64_t o1, int accumulate) {
    out_tf_body(out, Mt, b, g, t0, t1, o0, o1, accumulate, 4);
}
static inline LT_ISA_INLINE void out_tf2_body(float *out, const float *Mt, const float *b,
                                              const wgeom *g, int64_t t0, int64_t t1, int64_t o0,
                                              int64_t o1, int accumulate) {
    out_tf_body(out, Mt, b, g, t0, t1, o0, o1, accumulate, 2);
}
LT_ISA_VARIANTS(out_tf4, (float *out, const float *Mt, const float *b, const wgeom *g, int64_t t0,
                          int64_t t1, int64_t o0, int64_t o1, int accumulate),
                (out, Mt, b, g, t0, t1, o0, o1, accumulate))
LT_ISA_VARIANTS(out_tf2, (float *out, const float *Mt, const float *b, const wgeom *g, int64_t t0,
                          int64_t t1, int64_t o0, int64_t o1, int accumulate),
                (out, Mt, b, g, t0, t1, o0, o1, accumulate))

/* ---------------------------------------------------------------- weight-gradient transforms */

/* v = A y: the adjoint of the output transform (M values to a = M + 2) */
static inline LT_ISA_INLINE void a1(float *v, int64_t vs, const float *y, int64_t ys, const int M) {
    if (M == 4) {
        const float y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
        const float e = y0 + y2, f = y1 + y3, e4 = y0 + 4.0f * y2, f2 = 2.0f * y1 + 8.0f * y3;
        v[0] = y0;
        v[vs] = e + f;
        v[2 * vs] = e - f;
        v[3 * vs] = e4 + f2;
        v[4 * vs] = e4 - f2;
        v[5 * vs] = y3;
    } else {
        const float y0 = y[0], y1 = y[ys];
        v[0] = y0;
        v[vs] = y0 + y1;
        v[2 * vs] = y0 - y1;
        v[3 * vs] = -y1;
    }
}

/* dM[xi][o][t - t0] (a*a, co, nb) = A dY A^T of the M x M output-gradient tiles of dy
 * (N, co, OH, OW) (zeros past the output's edges), output channels [o0, o1). */
static inline LT_ISA_INLINE void dy_tf_body(float *dM, const float *dy, const wgeom *g,
                                            int64_t t0, int64_t t1, int64_t o0, int64_t o1,
                                            const int M) {
    const int A = M + 2;
    const int64_t ms = g->mps, OH = g->oh, OW = g->ow;
    for (int64_t o = o0; o < o1; o++) {
        wrun r = { 0, 0, 0, 0, 0 };
        for (int ok = run_first(&r, g, t0, t1); ok; ok = run_next(&r, g, t0, t1)) {
            const float *yc = dy + (r.i * g->co + o) * OH * OW;
            float *v = dM + o * g->mld + r.off - r.tx0;
            const int64_t oy0 = r.ty * M;
            for (int64_t tx = r.tx0; tx < r.tx1; tx++) {
                float y[16], t[24], u[36];
                for (int k = 0; k < M; k++)
                    for (int j = 0; j < M; j++) {
                        const int64_t oy = oy0 + k, ox = tx * M + j;
                        y[k * M + j] = oy < OH && ox < OW ? yc[oy * OW + ox] : 0.0f;
                    }
                for (int j = 0; j < M; j++) a1(t + j, M, y + j, M, M);       /* t (A, M) */
                for (int k = 0; k < A; k++) a1(u + k * A, 1, t + k * M, 1, M);
                for (int k = 0; k < A * A; k++) v[k * ms + tx] = u[k];
            }
        }
    }
}
static inline LT_ISA_INLINE void dy_tf4_body(float *dM, const float *dy, const wgeom *g,
                                             int64_t t0, int64_t t1, int64_t o0, int64_t o1) {
    dy_tf_body(dM, dy, g, t0, t1, o0, o1, 4);
}
static inline LT_ISA_INLINE void dy_tf2_body(float *dM, const float *dy, const wgeom *g,
                                             int64_t t0, int64_t t1, int64_t o0, int64_t o1) {
    dy_tf_body(dM, dy, g, t0, t1, o0, o1, 2);
}
LT_ISA_VARIANTS(dy_tf4, (float *dM, const float *dy, const wgeom *g, int64_t t0, int64_t t1,
                         int64_t o0, int64_t o1), (dM, dy, g, t0, t1, o0, o1))
LT_ISA_VARIANTS(dy_tf2, (float *dM, const float *dy, const wgeom *g, int64_t t0, int64_t t1,
                         int64_t o0, int64_t o1), (dM, dy, g, t0, t1, o0, o1))

/* w = G^T u (a = M + 2 values to 3), double */
static void gt1(double *w, int64_t ws, const double *u, int64_t us, int M) {
    if (M == 4) {
        const double u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us], u4 = u[4 * us],
                     u5 = u[5 * us];
        const double s6 = 1.0 / 6.0;
        w[0] = u0 * 0.25 - (u1 + u2) * s6 + (u3 + u4) * (1.0 / 24.0);
        w[ws] = (u2 - u1) * s6 + (u3 - u4) * (1.0 / 12.0);
        w[2 * ws] = (u3 + u4 - u1 - u2) * s6 + u5;
    } else {
        const double u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us];
        w[0] = u0 + (u1 + u2) * 0.5;
        w[ws] = (u1 - u2) * 0.5;
        w[2 * ws] = (u1 + u2) * 0.5 + u3;
    }
}

/* dw (co, ci, 3, 3) += G^T dU G for output channels [o0, o1); dU[xi][o][c] planes us apart */
static void weight_grad_tf(float *dw, const float *dU, int64_t us, int64_t co, int64_t ci, int M,
                           int64_t o0, int64_t o1) {
    const int64_t A = M + 2;
    (void)co;
    for (int64_t o = o0; o < o1; o++)
        for (int64_t c = 0; c < ci; c++) {
            double u[36], t[18], w9[9];
            for (int64_t k = 0; k < A * A; k++) u[k] = (double)dU[k * us + o * ci + c];
            for (int64_t j = 0; j < A; j++) gt1(t + j, A, u + j, A, M);      /* t (3, A) */
            for (int k = 0; k < 3; k++) gt1(w9 + k * 3, 1, t + k * A, 1, M);
            float *dst = dw + (o * ci + c) * 9;
            for (int k = 0; k < 9; k++) dst[k] += (float)w9[k];
        }
}

/* ISA level of the transforms and of the GEMM: the context's level, lowered to AVX2 when the
 * convolution ISA is forced to AVX2 (lt_conv_set_isa); generic levels run lt_gemm's plain C
 * kernels. */
typedef struct { int level, gemm; } wisa;

static wisa isa_of(const lt_context *ctx) {
    wisa s;
    s.level = lt_ctx_isa(ctx);
    if (lt_gemm_best_isa() == LT_GEMM_GENERIC) s.level = LT_ISA_GENERIC;
    if (s.level == LT_ISA_AVX512 && lt_ctx_conv_isa(ctx) == LT_CONV_ISA_AVX2) s.level = LT_ISA_AVX2;
    s.gemm = s.level == LT_ISA_GENERIC ? LT_GEMM_GENERIC
             : s.level == LT_ISA_AVX2  ? LT_GEMM_AVX2
                                       : LT_GEMM_AUTO;
    return s;
}

/* ---------------------------------------------------------------- AVX-512 F(4x4,3x3) transforms */

/* 16 tiles of a tile row per vector (lane l: tile tx + l). Input: each of the tile row's 6 input
 * rows is read straight from x, its 64 + 2 floats with masked loads where they cross the
 * image's left or right edge (zeros outside; no staging copy), and de-interleaved into the 6
 * column phases (phase j, lane l = column 4 (tx + l) + j). Output: the 4 phases of an output row
 * are interleaved back into 64 contiguous pixels, stored with masks (partial tiles, the block's
 * last tiles). Narrow images (at most 7 tiles per row) put 16 consecutive tiles of the
 * block (of any tile rows) into one vector (lanes = the block's tiles in order), staged
 * through the row buffers rb (WINO_RB floats per thread). */
/* floats of a thread's row buffers for the AVX-512 narrow-image transforms (in_tf4_packed) */
#define WINO_RS 96
#define WINO_RB (12 * WINO_RS)

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define TZ __attribute__((target("avx512f")))
#define TZI __attribute__((target("avx512f"), always_inline)) static inline

/* P[j][l] = p[4 l + j], j < 4, for the 64 floats at p */
TZI void deint4(const float *p, __m512 *P0, __m512 *P1, __m512 *P2, __m512 *P3) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 z0 = _mm512_loadu_ps(p), z1 = _mm512_loadu_ps(p + 16);
    const __m512 z2 = _mm512_loadu_ps(p + 32), z3 = _mm512_loadu_ps(p + 48);
    const __m512 e01 = _mm512_permutex2var_ps(z0, ev, z1), o01 = _mm512_permutex2var_ps(z0, od, z1);
    const __m512 e23 = _mm512_permutex2var_ps(z2, ev, z3), o23 = _mm512_permutex2var_ps(z2, od, z3);
    *P0 = _mm512_permutex2var_ps(e01, ev, e23);
    *P2 = _mm512_permutex2var_ps(e01, od, e23);
    *P1 = _mm512_permutex2var_ps(o01, ev, o23);
    *P3 = _mm512_permutex2var_ps(o01, od, o23);
}

/* the inverse: z[q] (64 floats) with z[4 l + j] = P[j][l] */
TZI void inter4(__m512 P0, __m512 P1, __m512 P2, __m512 P3, __m512 *z) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 e01 = _mm512_permutex2var_ps(P0, lo, P2), e23 = _mm512_permutex2var_ps(P0, hi, P2);
    const __m512 o01 = _mm512_permutex2var_ps(P1, lo, P3), o23 = _mm512_permutex2var_ps(P1, hi, P3);
    z[0] = _mm512_permutex2var_ps(e01, lo, o01);
    z[1] = _mm512_permutex2var_ps(e01, hi, o01);
    z[2] = _mm512_permutex2var_ps(e23, lo, o23);
    z[3] = _mm512_permutex2var_ps(e23, hi, o23);
}

/* lanes 0..14 = v[1..15], lane 15 = s */
TZI __m512 shift_in(__m512 v, float s) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(s)),
                                                   _mm512_castps_si512(v), 1));
}

TZI void bt6z(__m512 *r, int rs, const __m512 *d, int ds) {
    const __m512 d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    const __m512 p = _mm512_sub_ps(d4, d2), q = _mm512_sub_ps(d3, d1);
    r[0] = _mm512_fnmadd_ps(five, d2, _mm512_fmadd_ps(four, d0, d4));
    r[rs] = _mm512_fnmadd_ps(four, _mm512_add_ps(d1, d2), _mm512_add_ps(d3, d4));
    r[2 * rs] = _mm512_fmadd_ps(four, _mm512_sub_ps(d1, d2), _mm512_sub_ps(d4, d3));
    r[3 * rs] = _mm512_fmadd_ps(two, q, p);
    r[4 * rs] = _mm512_fnmadd_ps(two, q, p);
    r[5 * rs] = _mm512_fnmadd_ps(five, d3, _mm512_fmadd_ps(four, d1, d5));
}

TZI void at6z(__m512 *o, int os, const __m512 *m, int ms) {
    const __m512 m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms], m5 = m[5 * ms];
    const __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);
    const __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);
    o[0] = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
    o[os] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d34, d12);
    o[2 * os] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s34, s12);
    o[3 * os] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d34, d12), m5);
}

static __mmask16 lanes(int64_t n) {
    return (__mmask16)(n >= 16 ? 0xFFFFu : n <= 0 ? 0u : (1u << n) - 1u);
}

/* Narrow images (tile rows of at most 7 tiles: 28 pixels wide and less): the block's tiles go
 * 16 at a time into one vector, lane l = tile off + l, whatever tile rows (of one or several
 * images) they come from: a group is the pieces of consecutive runs (tile rows, cut where the
 * block or the group ends; cur_take), and every transform position is one store of 16 tiles,
 * a whole aligned 64-byte line (against one store per channel when channels shared the
 * vector, 7 tiles each at 28x28). Pieces are staged in rb (WINO_RB floats: two (6, 96) row
 * buffers): a piece whose first lane is l0 puts its 4 ntx + 2 padded input columns at float
 * 4 l0 of rb (deinterleaved into the column phases 0-3) and, shifted left by 4, of rb2 (phases
 * 0-1 of rb2 are the phases 4-5, the columns 4 and 5 of each tile: its own piece's, also at
 * the piece's last tile). */

/* Where a run's segment, seg[q] = row[ix0 + q] for q < 32 (zeros outside [0, W)), lies in
 * its input rows: set once per run, read for each of its 6 rows (load_seg). No address before
 * the row is formed: a left edge loads from the row's start and moves the lanes up. */
typedef struct {
    int mode;                /* 0: all zeros, 1: masked loads at ix0, 2: left edge, 3: scalar */
    __mmask16 m0, m1;        /* the masks of the two 16-float loads */
    int64_t ix0, W;
    __m512i ilo, ihi;        /* mode 2: the lane moves */
} segspan;

TZI void seg_span(segspan *sp, int64_t W, int64_t ix0) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    sp->ix0 = ix0;
    sp->W = W;
    sp->ilo = sp->ihi = _mm512_setzero_si512();
    if (ix0 >= W || ix0 <= -32) {
        sp->mode = 0;
        sp->m0 = sp->m1 = 0;
    } else if (ix0 >= 0) {
        sp->mode = 1;
        sp->m0 = lanes(W - ix0);
        sp->m1 = lanes(W - ix0 - 16);
    } else if (ix0 > -16) {
        const __m512i sh = _mm512_set1_epi32((int)-ix0);
        sp->mode = 2;
        sp->m0 = lanes(W);
        sp->m1 = lanes(W - 16);
        sp->ilo = _mm512_sub_epi32(iota, sh);
        sp->ihi = _mm512_sub_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(16)), sh);
    } else {   /* padding of 16 and more */
        sp->mode = 3;
        sp->m0 = sp->m1 = 0;
    }
}

/* lo, hi = seg[0..15], seg[16..31] of the row xr (NULL: a zero row) */
TZI void load_seg(__m512 *lo, __m512 *hi, const float *xr, const segspan *sp) {
    if (!xr || sp->mode == 0) {
        *lo = *hi = _mm512_setzero_ps();
    } else if (sp->mode == 1) {
        *lo = _mm512_maskz_loadu_ps(sp->m0, xr + sp->ix0);
        *hi = sp->m1 ? _mm512_maskz_loadu_ps(sp->m1, xr + sp->ix0 + 16) : _mm512_setzero_ps();
    } else if (sp->mode == 2) {
        const __m512 a = _mm512_maskz_loadu_ps(sp->m0, xr);
        const __m512 c = sp->m1 ? _mm512_maskz_loadu_ps(sp->m1, xr + 16) : _mm512_setzero_ps();
        *lo = _mm512_maskz_permutexvar_ps((__mmask16)~lanes(-sp->ix0), sp->ilo, a);
        *hi = _mm512_permutex2var_ps(a, sp->ihi, c);
    } else {
        float t[32];
        for (int64_t q = 0; q < 32; q++)
            t[q] = sp->ix0 + q >= 0 && sp->ix0 + q < sp->W ? xr[sp->ix0 + q] : 0.0f;
        *lo = _mm512_loadu_ps(t);
        *hi = _mm512_loadu_ps(t + 16);
    }
}

/* P0, P1 = phases 0 and 1 of the 64 floats at p (P[j][l] = p[4 l + j]) */
TZI void deint4_01(const float *p, __m512 *P0, __m512 *P1) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 z0 = _mm512_loadu_ps(p), z1 = _mm512_loadu_ps(p + 16);
    const __m512 z2 = _mm512_loadu_ps(p + 32), z3 = _mm512_loadu_ps(p + 48);
    const __m512 e01 = _mm512_permutex2var_ps(z0, ev, z1), o01 = _mm512_permutex2var_ps(z0, od, z1);
    const __m512 e23 = _mm512_permutex2var_ps(z2, ev, z3), o23 = _mm512_permutex2var_ps(z2, od, z3);
    *P0 = _mm512_permutex2var_ps(e01, ev, e23);
    *P1 = _mm512_permutex2var_ps(o01, ev, o23);
}

TZ static void in_tf4_packed(float *V, const float *x, const wgeom *g, int64_t t0, int64_t t1,
                             int64_t c0, int64_t c1, float *rb) {
    const int64_t vs = g->vps, H = g->h, W = g->w, rs = WINO_RS;
    float *rb2 = rb + 6 * rs;
    /* the lanes past a group's last run read what earlier groups left (never stored) */
    memset(rb, 0, WINO_RB * sizeof(float));
    for (int64_t c = c0; c < c1; c++) {
        float *vc = V + c * g->vld;
        wcur cu;
        cur_first(&cu, g, t0, t1);
        for (int64_t off = 0; cu.ok; off += 16) {
            int64_t nl = 0;
            wrun r;
            while (nl < 16 && cur_take(&cu, g, t0, t1, 16 - nl, &r)) {
                const float *xc = x + (r.i * g->ci + c) * H * W;
                segspan sp;
                seg_span(&sp, W, 4 * r.tx0 - g->pl);
                for (int k = 0; k < 6; k++) {
                    const int64_t iy = r.ty * 4 - g->pt + k;
                    __m512 lo, hi;
                    const float *xr = iy >= 0 && iy < H ? xc + iy * W : NULL;
                    /* the next channel's same rows (as in in_tf4_z: each plane is a short run
                     * the hardware prefetcher would miss) */
                    if (xr && c + 1 < c1) {
                        const int64_t a = sp.ix0 < 0 ? 0 : sp.ix0;
                        _mm_prefetch((const char *)(xr + H * W + a), _MM_HINT_T0);
                        if (W - a > 16)
                            _mm_prefetch((const char *)(xr + H * W + a + 16), _MM_HINT_T0);
                    }
                    load_seg(&lo, &hi, xr, &sp);
                    float *d1 = rb + k * rs + 4 * nl, *d2 = rb2 + k * rs + 4 * nl;
                    _mm512_storeu_ps(d1, lo);
                    _mm512_storeu_ps(d1 + 16, hi);
                    const __m512i li = _mm512_castps_si512(lo), hv = _mm512_castps_si512(hi);
                    _mm512_storeu_ps(d2, _mm512_castsi512_ps(_mm512_alignr_epi32(hv, li, 4)));
                    const __m512i h4 = _mm512_alignr_epi32(_mm512_setzero_si512(), hv, 4);
                    _mm512_storeu_ps(d2 + 16, _mm512_castsi512_ps(h4));
                }
                nl += r.tx1 - r.tx0;
            }
            __m512 D[36], T[36];
            for (int k = 0; k < 6; k++) {
                __m512 *d = D + k * 6;
                deint4(rb + k * rs, d, d + 1, d + 2, d + 3);
                deint4_01(rb2 + k * rs, d + 4, d + 5);
            }
            for (int j = 0; j < 6; j++) bt6z(T + j, 6, D + j, 6);
            for (int k = 0; k < 6; k++) bt6z(D + k * 6, 1, T + k * 6, 1);
            if (nl == 16)   /* whole 64-byte lines (V's rows and planes are 64-byte aligned) */
                for (int k = 0; k < 36; k++) _mm512_storeu_ps(vc + k * vs + off, D[k]);
            else
                for (int k = 0; k < 36; k++)
                    _mm512_mask_storeu_ps(vc + k * vs + off, lanes(nl), D[k]);
        }
    }
}

/* Where the 66 floats an input row contributes to 16 tiles (columns ix0 .. ix0 + 65) lie inside
 * the row [0, W): per 16-float vector v the lanes [a, b) that are inside (masked loads, expanded
 * past the left edge so that no address before the row is formed), and the two last floats. */
typedef struct {
    __mmask16 m[4];
    int64_t off[4];   /* float offset from the row start of the vector's first loaded lane */
    int shift[4];     /* the valid lanes start at this lane (left edge): loaded from lane 0
                       * at off, then moved up */
    int full;         /* all 66 inside: plain loads at off[0] */
    int64_t s64, s65; /* offsets of the two last floats, -1 when outside */
} rowspan;

static void row_span(rowspan *sp, int64_t ix0, int64_t W) {
    const int64_t lo = ix0 < 0 ? -ix0 : 0, hi = W - ix0;   /* valid offsets q: [lo, hi) */
    sp->full = lo == 0 && hi >= 66;
    for (int v = 0; v < 4; v++) {
        const int64_t a = lo - 16 * v > 0 ? lo - 16 * v : 0;
        const int64_t b = hi - 16 * v < 16 ? hi - 16 * v : 16;
        if (b <= a) {
            sp->m[v] = 0;
            sp->off[v] = 0;
            sp->shift[v] = 0;
            continue;
        }
        sp->m[v] = (__mmask16)(lanes(b) & ~lanes(a));
        sp->off[v] = ix0 + 16 * v + a;
        sp->shift[v] = (int)a;
    }
    sp->s64 = lo <= 64 && 64 < hi ? ix0 + 64 : -1;
    sp->s65 = lo <= 65 && 65 < hi ? ix0 + 65 : -1;
}

/* D[0..5] = the 6 column phases of 16 tiles from input row xr (NULL: a zero row) */
TZI void in_row16(__m512 *d, const float *xr, const rowspan *sp) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    if (!xr) {
        for (int j = 0; j < 6; j++) d[j] = _mm512_setzero_ps();
        return;
    }
    __m512 z[4];
    float s64, s65;
    if (sp->full) {
        const float *p = xr + sp->off[0];
        for (int v = 0; v < 4; v++) z[v] = _mm512_loadu_ps(p + 16 * v);
        s64 = p[64];
        s65 = p[65];
    } else {
        for (int v = 0; v < 4; v++) {
            if (!sp->shift[v]) {
                z[v] = _mm512_maskz_loadu_ps(sp->m[v], xr + sp->off[v]);
                continue;
            }
            /* lanes [a, b) from the row's start: loaded into lanes [0, b - a), moved up */
            const int a = sp->shift[v];
            const __m512i idx = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                                                   10, 11, 12, 13, 14, 15),
                                                 _mm512_set1_epi32(a));
            z[v] = _mm512_maskz_permutexvar_ps(sp->m[v], idx,
                                               _mm512_maskz_loadu_ps((__mmask16)(sp->m[v] >> a),
                                                                     xr + sp->off[v]));
        }
        s64 = sp->s64 >= 0 ? xr[sp->s64] : 0.0f;
        s65 = sp->s65 >= 0 ? xr[sp->s65] : 0.0f;
    }
    const __m512 e01 = _mm512_permutex2var_ps(z[0], ev, z[1]), o01 = _mm512_permutex2var_ps(z[0], od, z[1]);
    const __m512 e23 = _mm512_permutex2var_ps(z[2], ev, z[3]), o23 = _mm512_permutex2var_ps(z[2], od, z[3]);
    d[0] = _mm512_permutex2var_ps(e01, ev, e23);
    d[2] = _mm512_permutex2var_ps(e01, od, e23);
    d[1] = _mm512_permutex2var_ps(o01, ev, o23);
    d[3] = _mm512_permutex2var_ps(o01, od, o23);
    d[4] = shift_in(d[0], s64);
    d[5] = shift_in(d[1], s65);
}

/* Tile rows of 8 tiles and more: each input row is read straight from x with masked loads (no
 * staging copy), 16 tiles per vector. */
TZ static void in_tf4_z(float *V, const float *x, const wgeom *g, int64_t t0, int64_t t1,
                        int64_t c0, int64_t c1, float *rb) {
    const int64_t vs = g->vps, H = g->h, W = g->w;
    if (g->tw <= 7) {
        in_tf4_packed(V, x, g, t0, t1, c0, c1, rb);
        return;
    }
    for (int64_t c = c0; c < c1; c++) {
        wrun r = { 0, 0, 0, 0, 0 };
        for (int ok = run_first(&r, g, t0, t1); ok; ok = run_next(&r, g, t0, t1)) {
            const float *xc = x + (r.i * g->ci + c) * H * W;
            const float *rows[6];
            for (int k = 0; k < 6; k++) {
                const int64_t iy = r.ty * 4 - g->pt + k;
                rows[k] = iy >= 0 && iy < H ? xc + iy * W : NULL;
            }
            float *v = V + c * g->vld + r.off - r.tx0;
            for (int64_t tx = r.tx0; tx < r.tx1; tx += 16) {
                const __mmask16 mk = lanes(r.tx1 - tx);
                rowspan sp;
                row_span(&sp, 4 * tx - g->pl, W);
                /* the same rows of the next channel (hardware prefetch restarts on each
                 * channel plane: these short row runs would miss) */
                if (c + 1 < c1) {
                    const int64_t a = 4 * tx - g->pl < 0 ? 0 : 4 * tx - g->pl;
                    const int64_t e = 4 * tx - g->pl + 66 > W ? W : 4 * tx - g->pl + 66;
                    for (int k = 0; k < 6; k++)
                        if (rows[k])
                            for (int64_t q = a; q < e; q += 16)
                                _mm_prefetch((const char *)(rows[k] + H * W + q), _MM_HINT_T0);
                }
                /* rows first (each row's 6 phases transformed as soon as loaded), then
                 * each column transformed and stored: 36 results live instead of 72, half the
                 * stack spills (measured: ~15% less time in this transform at 128x128) */
                __m512 T[36];
                for (int k = 0; k < 6; k++) {
                    __m512 d[6];
                    in_row16(d, rows[k], &sp);
                    bt6z(T + k * 6, 1, d, 1);
                }
                for (int j = 0; j < 6; j++) {
                    __m512 r6[6];
                    bt6z(r6, 1, T + j, 6);
                    for (int i = 0; i < 6; i++)
                        _mm512_mask_storeu_ps(v + (i * 6 + j) * vs + tx, mk, r6[i]);
                }
            }
        }
    }
}

/* Narrow outputs (tile rows of at most 7 tiles) as in in_tf4_packed: 16 consecutive tiles of
 * the block per vector (one load per transform position); the 4 output rows of the group are
 * interleaved into zb and each piece's pixels stored with masks. */
TZ static void out_tf4_packed(float *out, const float *Mt, const float *b, const wgeom *g,
                              int64_t t0, int64_t t1, int64_t o0, int64_t o1, int accumulate) {
    const int64_t ms = g->mps, OH = g->oh, OW = g->ow;
    for (int64_t o = o0; o < o1; o++) {
        const __m512 bv = _mm512_set1_ps(b ? b[o] : 0.0f);
        const float *mo = Mt + o * g->mld;
        wcur cu;
        cur_first(&cu, g, t0, t1);
        for (int64_t off = 0; cu.ok; off += 16) {
            wrun rr[16];
            int nr = 0;
            int64_t nl = 0;
            while (nl < 16 && cur_take(&cu, g, t0, t1, 16 - nl, rr + nr)) {
                const int64_t ntx = rr[nr].tx1 - rr[nr].tx0;
                rr[nr++].off = nl;   /* the piece's first lane */
                nl += ntx;
            }
            const __mmask16 mk = lanes(nl);
            __m512 t[24], y[16];
            for (int i = 0; i < 6; i++) {   /* rows first, as in out_tf4_z */
                __m512 r6[6];
                for (int j = 0; j < 6; j++)
                    r6[j] = _mm512_maskz_loadu_ps(mk, mo + (i * 6 + j) * ms + off);
                at6z(t + i * 4, 1, r6, 1);
            }
            for (int j = 0; j < 4; j++) at6z(y + j, 4, t + j, 4);
            float zb[4][64];
            for (int k = 0; k < 4; k++) {
                __m512 z[4];
                inter4(y[k * 4], y[k * 4 + 1], y[k * 4 + 2], y[k * 4 + 3], z);
                for (int q = 0; q < 4; q++) _mm512_storeu_ps(zb[k] + 16 * q, z[q]);
            }
            for (int j = 0; j < nr; j++) {
                const wrun *u = rr + j;
                const int64_t oy0 = u->ty * 4;
                int64_t valid = OW - 4 * u->tx0;   /* pixels of each output row from 4 tx0 */
                if (valid > 4 * (u->tx1 - u->tx0)) valid = 4 * (u->tx1 - u->tx0);
                float *oc = out + (u->i * g->co + o) * OH * OW + 4 * u->tx0;
                for (int k = 0; k < 4 && oy0 + k < OH; k++) {
                    const float *src = zb[k] + 4 * u->off;
                    float *p = oc + (oy0 + k) * OW;
                    for (int64_t q = 0; q < valid; q += 16) {
                        const __mmask16 sm = lanes(valid - q);
                        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(sm, src + q), bv);
                        if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(sm, p + q));
                        _mm512_mask_storeu_ps(p + q, sm, v);
                    }
                }
            }
        }
    }
}

TZ static void out_tf4_z(float *out, const float *Mt, const float *b, const wgeom *g, int64_t t0,
                         int64_t t1, int64_t o0, int64_t o1, int accumulate) {
    const int64_t ms = g->mps, OH = g->oh, OW = g->ow;
    if (g->tw <= 7) {
        out_tf4_packed(out, Mt, b, g, t0, t1, o0, o1, accumulate);
        return;
    }
    for (int64_t o = o0; o < o1; o++) {
        const __m512 bv = _mm512_set1_ps(b ? b[o] : 0.0f);
        wrun r = { 0, 0, 0, 0, 0 };
        for (int ok = run_first(&r, g, t0, t1); ok; ok = run_next(&r, g, t0, t1)) {
            float *oc = out + (r.i * g->co + o) * OH * OW;
            const float *mm = Mt + o * g->mld + r.off - r.tx0;
            const int64_t oy0 = r.ty * 4;
            for (int64_t tx = r.tx0; tx < r.tx1; tx += 16) {
                const __mmask16 mk = lanes(r.tx1 - tx);
                int64_t valid = OW - 4 * tx;   /* pixels of the output row from column 4 tx */
                if (valid > 4 * (r.tx1 - tx)) valid = 4 * (r.tx1 - tx);
                __m512 t[24], y[16];
                /* rows first: each row of 6 positions loaded and reduced to 4 (24 live
                 * instead of 36 + 24: fewer stack spills), then the columns */
                for (int i = 0; i < 6; i++) {
                    __m512 r6[6];
                    for (int j = 0; j < 6; j++)
                        r6[j] = _mm512_maskz_loadu_ps(mk, mm + (i * 6 + j) * ms + tx);
                    at6z(t + i * 4, 1, r6, 1);
                }
                for (int j = 0; j < 4; j++) at6z(y + j, 4, t + j, 4);
                for (int k = 0; k < 4 && oy0 + k < OH; k++) {
                    __m512 z[4];
                    inter4(y[k * 4], y[k * 4 + 1], y[k * 4 + 2], y[k * 4 + 3], z);
                    float *p = oc + (oy0 + k) * OW + 4 * tx;
                    for (int q = 0; q < 4; q++) {
                        const __mmask16 sm = lanes(valid - 16 * q);
                        if (!sm) break;
                        __m512 v = _mm512_add_ps(z[q], bv);
                        if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(sm, p + 16 * q));
                        _mm512_mask_storeu_ps(p + 16 * q, sm, v);
                    }
                }
            }
        }
    }
}

/* v = A y on vectors (4 to 6) */
TZI void a6z(__m512 *v, int vs, const __m512 *y, int ys) {
    const __m512 y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
    const __m512 e = _mm512_add_ps(y0, y2), f = _mm512_add_ps(y1, y3);
    const __m512 e4 = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), y2, y0);
    const __m512 f2 = _mm512_fmadd_ps(_mm512_set1_ps(8.0f), y3, _mm512_add_ps(y1, y1));
    v[0] = y0;
    v[vs] = _mm512_add_ps(e, f);
    v[2 * vs] = _mm512_sub_ps(e, f);
    v[3 * vs] = _mm512_add_ps(e4, f2);
    v[4 * vs] = _mm512_sub_ps(e4, f2);
    v[5 * vs] = y3;
}

/* P[j][l] = row[4 l + j] for 16 tiles of a dy row with `valid` pixels (zeros after) */
TZI void deint4_masked(const float *p, int64_t valid, __m512 *P) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 z0 = _mm512_maskz_loadu_ps(lanes(valid), p);
    const __m512 z1 = _mm512_maskz_loadu_ps(lanes(valid - 16), p + 16);
    const __m512 z2 = _mm512_maskz_loadu_ps(lanes(valid - 32), p + 32);
    const __m512 z3 = _mm512_maskz_loadu_ps(lanes(valid - 48), p + 48);
    const __m512 e01 = _mm512_permutex2var_ps(z0, ev, z1), o01 = _mm512_permutex2var_ps(z0, od, z1);
    const __m512 e23 = _mm512_permutex2var_ps(z2, ev, z3), o23 = _mm512_permutex2var_ps(z2, od, z3);
    P[0] = _mm512_permutex2var_ps(e01, ev, e23);
    P[2] = _mm512_permutex2var_ps(e01, od, e23);
    P[1] = _mm512_permutex2var_ps(o01, ev, o23);
    P[3] = _mm512_permutex2var_ps(o01, od, o23);
}

/* Narrow outputs: 16 consecutive dy tiles of the block per vector as in in_tf4_packed, each
 * piece's rows staged in yb at float 4 l0 (zeros past the output's edges) */
TZ static void dy_tf4_packed(float *dM, const float *dy, const wgeom *g, int64_t t0, int64_t t1,
                             int64_t o0, int64_t o1) {
    const int64_t ms = g->mps, OH = g->oh, OW = g->ow;
    float yb[4][WINO_RS];
    memset(yb, 0, sizeof yb);
    for (int64_t o = o0; o < o1; o++) {
        float *vo = dM + o * g->mld;
        wcur cu;
        cur_first(&cu, g, t0, t1);
        for (int64_t off = 0; cu.ok; off += 16) {
            int64_t nl = 0;
            wrun r;
            while (nl < 16 && cur_take(&cu, g, t0, t1, 16 - nl, &r)) {
                const int64_t ntx = r.tx1 - r.tx0, oy0 = r.ty * 4;
                int64_t valid = OW - 4 * r.tx0;
                if (valid > 4 * ntx) valid = 4 * ntx;
                const float *yc = dy + (r.i * g->co + o) * OH * OW + 4 * r.tx0;
                for (int k = 0; k < 4; k++) {
                    /* 32 floats: the run's 4 ntx <= 28 and zeros (or the next run's, which
                     * that run's own stores overwrite) */
                    float *dst = yb[k] + 4 * nl;
                    __m512 lo = _mm512_setzero_ps(), hi = lo;
                    if (oy0 + k < OH) {
                        const float *src = yc + (oy0 + k) * OW;
                        lo = _mm512_maskz_loadu_ps(lanes(valid), src);
                        if (valid > 16) hi = _mm512_maskz_loadu_ps(lanes(valid - 16), src + 16);
                    }
                    _mm512_storeu_ps(dst, lo);
                    _mm512_storeu_ps(dst + 16, hi);
                }
                nl += ntx;
            }
            __m512 Y[16], T[24], U[36];
            for (int k = 0; k < 4; k++) deint4(yb[k], Y + k * 4, Y + k * 4 + 1, Y + k * 4 + 2, Y + k * 4 + 3);
            for (int j = 0; j < 4; j++) a6z(T + j, 4, Y + j, 4);
            for (int k = 0; k < 6; k++) a6z(U + k * 6, 1, T + k * 4, 1);
            const __mmask16 mk = lanes(nl);
            for (int k = 0; k < 36; k++) _mm512_mask_storeu_ps(vo + k * ms + off, mk, U[k]);
        }
    }
}

TZ static void dy_tf4_z(float *dM, const float *dy, const wgeom *g, int64_t t0, int64_t t1,
                        int64_t o0, int64_t o1) {
    const int64_t ms = g->mps, OH = g->oh, OW = g->ow;
    if (g->tw <= 7) {
        dy_tf4_packed(dM, dy, g, t0, t1, o0, o1);
        return;
    }
    for (int64_t o = o0; o < o1; o++) {
        wrun r = { 0, 0, 0, 0, 0 };
        for (int ok = run_first(&r, g, t0, t1); ok; ok = run_next(&r, g, t0, t1)) {
            const float *yc = dy + (r.i * g->co + o) * OH * OW;
            float *v = dM + o * g->mld + r.off - r.tx0;
            const int64_t oy0 = r.ty * 4;
            for (int64_t tx = r.tx0; tx < r.tx1; tx += 16) {
                const __mmask16 mk = lanes(r.tx1 - tx);
                int64_t valid = OW - 4 * tx;
                if (valid > 4 * (r.tx1 - tx)) valid = 4 * (r.tx1 - tx);
                if (o + 1 < o1)   /* the next channel's same rows, as in in_tf4_z */
                    for (int k = 0; k < 4 && oy0 + k < OH; k++)
                        for (int64_t q = 0; q < valid; q += 16)
                            _mm_prefetch((const char *)(yc + OH * OW + (oy0 + k) * OW + 4 * tx + q),
                                         _MM_HINT_T0);
                /* rows first (each dy row's 4 phases expanded to 6 as soon as loaded: 24
                 * live), then each column expanded and stored, as in in_tf4_z */
                __m512 T[24];
                for (int k = 0; k < 4; k++) {
                    __m512 Y[4];
                    if (oy0 + k < OH) deint4_masked(yc + (oy0 + k) * OW + 4 * tx, valid, Y);
                    else Y[0] = Y[1] = Y[2] = Y[3] = _mm512_setzero_ps();
                    a6z(T + k * 6, 1, Y, 1);                                /* T (4, 6) */
                }
                for (int j = 0; j < 6; j++) {
                    __m512 r6[6];
                    a6z(r6, 1, T + j, 6);
                    for (int i = 0; i < 6; i++)
                        _mm512_mask_storeu_ps(v + (i * 6 + j) * ms + tx, mk, r6[i]);
                }
            }
        }
    }
}

/* G g on vectors (3 to 6), float: the AVX-512 weight transform runs in float (its rounding,
 * ~1e-7 of each weight, is far below the transform's own ~3e-6) */
TZI void g6z(__m512 *u, int us, const __m512 *g, int gs) {
    const __m512 g0 = g[0], g1v = g[gs], g2 = g[2 * gs];
    const __m512 s6 = _mm512_set1_ps(-1.0f / 6.0f);
    const __m512 a = _mm512_fmadd_ps(g0, _mm512_set1_ps(1.0f / 24.0f),
                                     _mm512_mul_ps(g2, _mm512_set1_ps(1.0f / 6.0f)));
    const __m512 bb = _mm512_mul_ps(g1v, _mm512_set1_ps(1.0f / 12.0f));
    const __m512 e = _mm512_add_ps(g0, g2);
    u[0] = _mm512_mul_ps(g0, _mm512_set1_ps(0.25f));
    u[us] = _mm512_mul_ps(_mm512_add_ps(e, g1v), s6);
    u[2 * us] = _mm512_mul_ps(_mm512_sub_ps(e, g1v), s6);
    u[3 * us] = _mm512_add_ps(a, bb);
    u[4 * us] = _mm512_sub_ps(a, bb);
    u[5 * us] = g2;
}

/* G^T u on vectors (6 to 3) */
TZI void gt6z(__m512 *w, int ws, const __m512 *u, int us) {
    const __m512 u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us], u4 = u[4 * us], u5 = u[5 * us];
    const __m512 s6 = _mm512_set1_ps(1.0f / 6.0f);
    const __m512 p12 = _mm512_add_ps(u1, u2), p34 = _mm512_add_ps(u3, u4);
    w[0] = _mm512_fmadd_ps(p34, _mm512_set1_ps(1.0f / 24.0f),
                           _mm512_fnmadd_ps(p12, s6, _mm512_mul_ps(u0, _mm512_set1_ps(0.25f))));
    w[ws] = _mm512_fmadd_ps(_mm512_sub_ps(u3, u4), _mm512_set1_ps(1.0f / 12.0f),
                            _mm512_mul_ps(_mm512_sub_ps(u2, u1), s6));
    w[2 * ws] = _mm512_fmadd_ps(_mm512_sub_ps(p34, p12), s6, u5);
}

/* weight_tf for M = 4, 16 input channels per vector (the kernels gathered) */
TZ static void weight_tf4_z(float *U, int64_t us, const float *w, int64_t co, int64_t ci,
                            int adjoint, int64_t o0, int64_t o1) {
    const int64_t gs = adjoint ? co * 9 : 9;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                             11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)gs));
    for (int64_t o = o0; o < o1; o++) {
        const int64_t gb = adjoint ? o * 9 + 8 : o * ci * 9, gk = adjoint ? -1 : 1;
        float *uo = U + o * ci;
        for (int64_t c0 = 0; c0 < ci; c0 += 16) {
            const __mmask16 mk = lanes(ci - c0);
            __m512 g[9], t[18], u[36];
            for (int k = 0; k < 9; k++)
                g[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, idx,
                                                w + gb + c0 * gs + k * gk, 4);
            for (int k = 0; k < 3; k++) g6z(t + k, 3, g + k, 3);          /* t (6, 3) = G g */
            for (int r = 0; r < 6; r++) g6z(u + r * 6, 1, t + r * 3, 1);  /* u = t G^T */
            for (int k = 0; k < 36; k++) _mm512_mask_storeu_ps(uo + k * us + c0, mk, u[k]);
        }
    }
}

/* weight_grad_tf for M = 4 */
TZ static void weight_grad_tf4_z(float *dw, const float *dU, int64_t us, int64_t ci, int64_t o0,
                                 int64_t o1) {
    for (int64_t o = o0; o < o1; o++)
        for (int64_t c0 = 0; c0 < ci; c0 += 16) {
            const int64_t nc = ci - c0 < 16 ? ci - c0 : 16;
            const __mmask16 mk = lanes(nc);
            __m512 u[36], t[18], w9[9];
            float buf[9][16];
            for (int k = 0; k < 36; k++) u[k] = _mm512_maskz_loadu_ps(mk, dU + k * us + o * ci + c0);
            for (int j = 0; j < 6; j++) gt6z(t + j, 6, u + j, 6);       /* t (3, 6) */
            for (int k = 0; k < 3; k++) gt6z(w9 + k * 3, 1, t + k * 6, 1);
            for (int k = 0; k < 9; k++) _mm512_storeu_ps(buf[k], w9[k]);
            for (int64_t c = 0; c < nc; c++) {
                float *dst = dw + (o * ci + c0 + c) * 9;
                for (int k = 0; k < 9; k++) dst[k] += buf[k][c];
            }
        }
}
#define WINO_Z 1
#else
#define WINO_Z 0
static void in_tf4_z(float *V, const float *x, const wgeom *g, int64_t t0, int64_t t1,
                     int64_t c0, int64_t c1, float *rb) {
    (void)rb;
    in_tf4_isa[0](V, x, g, t0, t1, c0, c1);
}
static void out_tf4_z(float *out, const float *Mt, const float *b, const wgeom *g, int64_t t0,
                      int64_t t1, int64_t o0, int64_t o1, int accumulate) {
    out_tf4_isa[0](out, Mt, b, g, t0, t1, o0, o1, accumulate);
}
static void dy_tf4_z(float *dM, const float *dy, const wgeom *g, int64_t t0, int64_t t1,
                     int64_t o0, int64_t o1) {
    dy_tf4_isa[0](dM, dy, g, t0, t1, o0, o1);
}
static void weight_tf4_z(float *U, int64_t us, const float *w, int64_t co, int64_t ci,
                         int adjoint, int64_t o0, int64_t o1) {
    weight_tf4_isa[0](U, us, w, co, ci, adjoint, o0, o1);
}
static void weight_grad_tf4_z(float *dw, const float *dU, int64_t us, int64_t ci, int64_t o0,
                              int64_t o1) {
    (void)dw; (void)dU; (void)us; (void)ci; (void)o0; (void)o1;
}
#endif

/* the transforms of tile size M at the ISA level: AVX-512 F(4x4) kernels, else the C ones */
static void in_tf(const wisa *is, int M, float *V, const float *x, const wgeom *g, int64_t t0,
                  int64_t t1, int64_t c0, int64_t c1, float *rb) {
    if (M == 4 && is->level == LT_ISA_AVX512 && WINO_Z) in_tf4_z(V, x, g, t0, t1, c0, c1, rb);
    else (M == 4 ? in_tf4_isa : in_tf2_isa)[is->level](V, x, g, t0, t1, c0, c1);
}

static void out_tf(const wisa *is, int M, float *out, const float *Mt, const float *b,
                   const wgeom *g, int64_t t0, int64_t t1, int64_t o0, int64_t o1, int accumulate) {
    if (M == 4 && is->level == LT_ISA_AVX512 && WINO_Z)
        out_tf4_z(out, Mt, b, g, t0, t1, o0, o1, accumulate);
    else (M == 4 ? out_tf4_isa : out_tf2_isa)[is->level](out, Mt, b, g, t0, t1, o0, o1, accumulate);
}

static void dy_tf(const wisa *is, int M, float *dM, const float *dy, const wgeom *g, int64_t t0,
                  int64_t t1, int64_t o0, int64_t o1) {
    if (M == 4 && is->level == LT_ISA_AVX512 && WINO_Z) dy_tf4_z(dM, dy, g, t0, t1, o0, o1);
    else (M == 4 ? dy_tf4_isa : dy_tf2_isa)[is->level](dM, dy, g, t0, t1, o0, o1);
}

static void weight_tf(float *U, int64_t us, const float *w, int64_t co, int64_t ci, int adjoint,
                      int M, int nt, int level) {
    #pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num(), n = omp_get_num_threads();
        const int64_t o0 = co * tid / n, o1 = co * (tid + 1) / n;
        /* the gather's int32 offsets reach 15 * 9 * co (adjoint) */
        if (M == 4 && level == LT_ISA_AVX512 && WINO_Z && co <= INT32_MAX / 160)
            weight_tf4_z(U, us, w, co, ci, adjoint, o0, o1);
        else
            (M == 4 ? weight_tf4_isa : weight_tf2_isa)[level](U, us, w, co, ci, adjoint, o0, o1);
    }
}

/* ---------------------------------------------------------------- driver */

/* floats rounded up to 64 bytes */
static int64_t rnd16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* Plane stride (floats) of n floats: a multiple of 16 whose 64-byte line count is odd, so that
 * the a*a = 36 planes a transform writes (reads) at once start in 36 different L1 sets instead
 * of aliasing modulo 4 KB (a power-of-two stride would put all of them in one or two sets). */
static int64_t plane_stride(int64_t n) {
    int64_t p = rnd16(n);
    if ((p / 16) % 2 == 0) p += 16;
    return p;
}

/* Scratch of a block: V (a*a planes of (ci, T)) and Mt (a*a planes of (co, T)) floats, the
 * planes g->vps / g->mps apart (set here); of a thread: lt_gemm's panels and the padded input
 * row buffers of the AVX-512 narrow-image input transform (WINO_RB). -1 on overflow. */
static int64_t block_floats(wgeom *g, int64_t A2, int64_t T) {
    int64_t v, m, s;
    if (lt_mul_ovf(g->ci, T, &v) || lt_mul_ovf(g->co, T, &m) || v > INT64_MAX - 32 ||
        m > INT64_MAX - 32)
        return -1;
    if (lt_mul_ovf(g->ci, rnd16(T) + 16, &v)) return -1;
    if (lt_mul_ovf(g->co, rnd16(T) + 16, &m)) return -1;
    g->vld = g->mld = rnd16(T) + 16;
    g->vps = plane_stride(v);
    g->mps = plane_stride(m);
    if (lt_mul_ovf(A2, g->vps, &v) || lt_mul_ovf(A2, g->mps, &m) || lt_add_ovf(v, m, &s))
        return -1;
    return s;
}

static int64_t thread_floats(const wgeom *g, int64_t T, int gisa) {
    const size_t gs = lt_gemm_scratch_size(gisa, g->co, T, g->ci);
    if (gs > (size_t)INT64_MAX / 2) return -1;
    return rnd16((int64_t)(gs / sizeof(float)) + 16) + WINO_RB;
}

/* One block of tiles [t0, t1) on the calling thread: buf holds the block (block_floats), then
 * the thread's own floats (thread_floats). */
static lt_status run_block(float *out, const float *x, const float *U, const float *b,
                           const wgeom *g, int M, int accumulate, int64_t t0, int64_t t1,
                           float *buf, int64_t gfl, wisa is) {
    const int64_t A2 = (M + 2) * (M + 2), nb = t1 - t0;
    float *V = buf, *Mt = buf + A2 * g->vps;
    float *gs = Mt + A2 * g->mps, *rb = gs + gfl;
    in_tf(&is, M, V, x, g, t0, t1, 0, g->ci, rb);
    for (int64_t k = 0; k < A2; k++) {
        const lt_status st = lt_gemm(is.gemm, 0, 0, g->co, nb, g->ci, 1.0f, U + k * g->us,
                                     g->ci, V + k * g->vps, g->vld, 0.0f, Mt + k * g->mps, g->mld,
                                     gs);
        if (st != LT_OK) return st;
    }
    out_tf(&is, M, out, Mt, b, g, t0, t1, 0, g->co, accumulate);
    return LT_OK;
}

/* The same block shared by nt threads: input transform split over input channels, the a*a
 * GEMMs handed out one by one, the output transform split over output channels. priv: the
 * threads' own floats (tper each; lt_gemm's panels first, gfl of them). */
static lt_status run_block_team(float *out, const float *x, const float *U, const float *b,
                                const wgeom *g, int M, int accumulate, int64_t t0, int64_t t1,
                                float *buf, float *priv, int64_t tper, int64_t gfl, int nt,
                                wisa is) {
    const int64_t A2 = (M + 2) * (M + 2), nb = t1 - t0;
    float *V = buf, *Mt = buf + A2 * g->vps;
    int failed = 0;
    #pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num(), n = omp_get_num_threads();
        float *gs = priv + (int64_t)tid * tper, *rb = gs + gfl;
        int64_t lo = g->ci * tid / n, hi = g->ci * (tid + 1) / n;
        in_tf(&is, M, V, x, g, t0, t1, lo, hi, rb);
        #pragma omp barrier
        #pragma omp for schedule(dynamic, 1) nowait
        for (int64_t k = 0; k < A2; k++) {
            const lt_status st = lt_gemm(is.gemm, 0, 0, g->co, nb, g->ci, 1.0f,
                                         U + k * g->us, g->ci, V + k * g->vps, g->vld,
                                         0.0f, Mt + k * g->mps, g->mld, gs);
            if (st != LT_OK) {
                #pragma omp atomic write
                failed = 1;
            }
        }
        #pragma omp barrier
        lo = g->co * tid / n;
        hi = g->co * (tid + 1) / n;
        out_tf(&is, M, out, Mt, b, g, t0, t1, lo, hi, accumulate);
    }
    return failed ? LT_ENOMEM : LT_OK;
}

/* Below this many FLOPs of the direct convolution one thread runs it (as lt_conv.c). */
#define WINO_SMALL_FLOPS 1.6e7
/* Bytes of the transformed tiles of a block: 3/4 of this CPU's L2 (per core) as the C
 * library reports it (glibc asks CPUID: 1 MB on Zen 4, 1.25-2 MB on recent Intel cores), so
 * that they are still in L2 when the GEMMs read them; 384 KB when unknown, at most 3 MB. */
static int64_t block_bytes(void) {
    long l2 = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    if (l2 <= 0) l2 = 512 * 1024;
    if (l2 > 4 * 1024 * 1024) l2 = 4 * 1024 * 1024;
    return (int64_t)l2 / 4 * 3;
}

/* The output tiles (th x tw per image, tiles over the batch) of g and the threads worth
 * using on them (one below WINO_SMALL_FLOPS). */
static lt_status wino_tiles(const lt_context *ctx, wgeom *g, int M, int *nt) {
    g->th = (g->oh + M - 1) / M;
    g->tw = (g->ow + M - 1) / M;
    if (lt_mul_ovf(g->th, g->tw, &g->tiles) || lt_mul_ovf(g->tiles, g->n, &g->tiles))
        return LT_EOVERFLOW;
    const double flops = 18.0 * (double)g->n * (double)g->oh * (double)g->ow * (double)g->co *
                         (double)g->ci;
    *nt = lt_ctx_num_threads(ctx);
    if (*nt < 1 || flops < WINO_SMALL_FLOPS) *nt = 1;
    return LT_OK;
}

/* wino_tiles, then the block size *T: the tiles whose transformed input and output (a*a
 * planes of ci + co floats each) fill 3/4 of the L2, clamped to [lo, hi], a multiple of 16 */
static lt_status wino_plan(lt_context *ctx, wgeom *g, int M, int64_t lo, int64_t hi, int *nt,
                           int64_t *T) {
    const lt_status st = wino_tiles(ctx, g, M, nt);
    if (st != LT_OK) return st;
    const int64_t per_tile = (M + 2) * (M + 2) * (g->ci + g->co) * (int64_t)sizeof(float);
    const int64_t t = block_bytes() / per_tile;
    *T = t < lo ? lo : t > hi ? hi : t / 16 * 16;
    return LT_OK;
}

static lt_status wino_run(lt_context *ctx, float *out, const float *x, const float *w,
                          int adjoint, const float *b, wgeom *g, int M, int accumulate) {
    if (M != 2 && M != 4) return LT_EARG;
    const int64_t A2 = (M + 2) * (M + 2);
    int nt = 1;
    int64_t T = 0;   /* block size: L2-sized, at least 48 tiles (one AVX-512 GEMM panel) */
    const lt_status tst = wino_plan(ctx, g, M, 48, 768, &nt, &T);
    if (tst != LT_OK) return tst;
    if (g->tiles == 0) return LT_OK;
    const wisa is = isa_of(ctx);
    /* the nearest multiple of 48 tiles (the AVX-512 GEMM's panel width): 160 tiles ran three
     * 48-column panels and a 16-column one per plane GEMM (measured: the 128x128 16-channel
     * forward about 8% faster in CPU time with 144) */
    T = (T + 24) / 48 * 48;
    int team = 0;
    if (nt > 1) {
        if (g->tiles >= 2 * (int64_t)nt * 48) {
            const int64_t even = rnd16((g->tiles + 2 * nt - 1) / (2 * nt));
            if (even < T) T = even;
        } else {
            team = 1;   /* too few tiles for a block each: the threads share each block */
            T = g->tiles;
        }
    }
    if (T > g->tiles) T = g->tiles;
    const int64_t nblk = (g->tiles + T - 1) / T;
    /* scratch: U, then a block and a thread's floats per thread (team: one block) */
    const int64_t bfl = block_floats(g, A2, T), tper = thread_floats(g, T, is.gemm);
    const int64_t gfl = rnd16((int64_t)(lt_gemm_scratch_size(is.gemm, g->co, T, g->ci) / sizeof(float)) + 16);
    int64_t nu, total, part;
    if (bfl < 0 || tper < 0 || lt_mul_ovf(g->co, g->ci, &nu)) return LT_EOVERFLOW;
    const int64_t us = rnd16(nu) + 16;   /* plane stride of U: planes not 4 KB-aliased */
    if (lt_mul_ovf(us, A2, &nu)) return LT_EOVERFLOW;
    g->us = us;
    if (team ? lt_mul_ovf(tper, nt, &part) || lt_add_ovf(part, bfl, &total)
             : lt_add_ovf(bfl, tper, &part) || lt_mul_ovf(part, nt, &total))
        return LT_EOVERFLOW;
    if (lt_add_ovf(total, nu, &total) || lt_mul_ovf(total, (int64_t)sizeof(float), &total) ||
        (uint64_t)total > (uint64_t)SIZE_MAX - 128)
        return LT_EOVERFLOW;
    float *U = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, (size_t)total);
    if (!U) return LT_ENOMEM;
    float *bufs = U + nu;
    /* the weight transforms split over output channels: one thread below 64 x 64 channel
     * pairs (~1 MFLOP, tens of microseconds): a static half of a few microseconds of work
     * would keep the main thread waiting for the worker's wake-up (each channel is
     * transformed alone: the same bits for any split) */
    weight_tf(U, us, w, g->co, g->ci, adjoint, M, g->co * g->ci >= 4096 ? nt : 1, is.level);
    if (team) {
        for (int64_t k = 0; k < nblk; k++) {
            const int64_t t0 = k * T, t1 = t0 + T < g->tiles ? t0 + T : g->tiles;
            const lt_status st = run_block_team(out, x, U, b, g, M, accumulate, t0, t1, bufs,
                                                bufs + bfl, tper, gfl, nt, is);
            if (st != LT_OK) return st;
        }
        return LT_OK;
    }
    int failed = 0;
    #pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t k = 0; k < nblk; k++) {
        const int64_t t0 = k * T, t1 = t0 + T < g->tiles ? t0 + T : g->tiles;
        float *buf = bufs + (int64_t)omp_get_thread_num() * (bfl + tper);
        if (run_block(out, x, U, b, g, M, accumulate, t0, t1, buf, gfl, is) != LT_OK) {
            #pragma omp atomic write
            failed = 1;
        }
    }
    return failed ? LT_ENOMEM : LT_OK;
}

lt_status lt_winograd_forward(lt_context *ctx, float *out, const float *x, const float *w,
                              const float *b, const lt_conv2d_dims *d, int m, int accumulate) {
    if (!lt_winograd_fits(d)) return LT_EARG;
    wgeom g = { d->n, d->cin, d->h, d->w, d->cout, d->oh, d->ow, d->ph, d->pw, 0, 0, 0, 0, 0, 0, 0, 0 };
    return wino_run(ctx, out, x, w, 0, b, &g, m, accumulate);
}

lt_status lt_winograd_backward_data(lt_context *ctx, float *dx, const float *dy, const float *w,
                                    const lt_conv2d_dims *d, int m, int accumulate) {
    if (!lt_winograd_fits(d)) return LT_EARG;
    /* dx (iy) = sum over taps k' = 2 - ky of dy (iy - (2 - ph) + k') w' */
    wgeom g = { d->n, d->cout, d->oh, d->ow, d->cin, d->h, d->w, 2 - d->ph, 2 - d->pw, 0, 0, 0, 0, 0, 0, 0, 0 };
    return wino_run(ctx, dx, dy, w, 1, NULL, &g, m, accumulate ? 1 : 0);
}

/* dw (Cout, Cin, 3, 3) += the weight gradient: for each block of tiles (shared by the
 * threads) V = B^T d B of x and dM = A dY A^T of dy, then per transform position
 * dU (Cout, Cin) += dM (Cout, tiles) V^T (tiles, Cin) (the positions handed out to the
 * threads: each dU plane is summed by one thread, block after block, in a fixed order:
 * reproducible), and at the end dw += G^T dU G. With several threads the blocks alternate
 * between two buffers: a thread may transform block b + 1 while the other still multiplies
 * block b, so one barrier per block (transforms done) is enough instead of two (the Fashion
 * step called ~220 barriers per step, most of them here, each a futex sleep and wake-up with
 * OMP_WAIT_POLICY=passive). */
lt_status lt_winograd_backward_weight(lt_context *ctx, float *dw, const float *dy, const float *x,
                                      const lt_conv2d_dims *d, int m) {
    if (!lt_winograd_fits(d)) return LT_EARG;
    if (m != 2 && m != 4) return LT_EARG;
    wgeom gg = { d->n, d->cin, d->h, d->w, d->cout, d->oh, d->ow, d->ph, d->pw, 0, 0, 0, 0, 0, 0, 0, 0 };
    wgeom *g = &gg;
    const int M = m;
    const int64_t A2 = (M + 2) * (M + 2);
    int nt = 1;
    int64_t T = 0;
    const lt_status tst = wino_plan(ctx, g, M, 64, 1024, &nt, &T);
    if (tst != LT_OK) return tst;
    if (g->tiles == 0) return LT_OK;
    const wisa is = isa_of(ctx);
    if (T > g->tiles) T = g->tiles;
    const int64_t nblk = (g->tiles + T - 1) / T;
    /* scratch: dU (A2 planes us apart), the block (V, dM), per thread: GEMM panels, rows */
    int64_t nu, bfl = block_floats(g, A2, T), tper, total;
    const size_t gsz = lt_gemm_scratch_size(is.gemm, g->co, g->ci, T);
    const int64_t gfl = rnd16((int64_t)(gsz / sizeof(float)) + 16);
    if (bfl < 0 || gsz > (size_t)INT64_MAX / 2 || lt_add_ovf(gfl, WINO_RB, &tper) ||
        lt_mul_ovf(g->co, g->ci, &nu))
        return LT_EOVERFLOW;
    const int64_t us = rnd16(nu) + 16;
    /* two block buffers when several threads share the blocks (see above) */
    const int64_t nbuf = nt > 1 && nblk > 1 ? 2 : 1;
    int64_t bufs;
    if (lt_mul_ovf(bfl, nbuf, &bufs)) return LT_EOVERFLOW;
    if (lt_mul_ovf(us, A2, &nu) || lt_mul_ovf(tper, nt, &total) || lt_add_ovf(total, bufs, &total) ||
        lt_add_ovf(total, nu, &total) || lt_mul_ovf(total, (int64_t)sizeof(float), &total) ||
        (uint64_t)total > (uint64_t)SIZE_MAX - 128)
        return LT_EOVERFLOW;
    float *dU = lt_ctx_scratch(ctx, LT_SCRATCH_CONV, (size_t)total);
    if (!dU) return LT_ENOMEM;
    float *V0 = dU + nu, *priv = V0 + bufs;
    int failed = 0;
    #pragma omp parallel num_threads(nt)
    {
        const int tid = omp_get_thread_num(), n = omp_get_num_threads();
        float *gs = priv + (int64_t)tid * tper, *rb = gs + gfl;
        for (int64_t blk = 0; blk < nblk; blk++) {
            const int64_t t0 = blk * T, t1 = t0 + T < g->tiles ? t0 + T : g->tiles, nb = t1 - t0;
            /* block blk's buffer: the other one may still be read by the GEMMs of block blk - 1
             * on another thread; the one of block blk - 2 is free (every thread passed the
             * barrier of block blk - 1 after its GEMMs of block blk - 2) */
            float *V = V0 + (blk % nbuf) * bfl, *dM = V + A2 * g->vps;
            in_tf(&is, M, V, x, g, t0, t1, g->ci * tid / n, g->ci * (tid + 1) / n, rb);
            dy_tf(&is, M, dM, dy, g, t0, t1, g->co * tid / n, g->co * (tid + 1) / n);
            #pragma omp barrier
            /* static: position k always goes to the same thread (summation order fixed) */
            #pragma omp for schedule(static) nowait
            for (int64_t k = 0; k < A2; k++) {
                const lt_status st = lt_gemm(is.gemm, 0, 1, g->co, g->ci, nb, 1.0f,
                                             dM + k * g->mps, g->mld, V + k * g->vps, g->vld,
                                             blk == 0 ? 0.0f : 1.0f, dU + k * us, g->ci, gs);
                if (st != LT_OK) {
                    #pragma omp atomic write
                    failed = 1;
                }
            }
            if (nbuf == 1) {
                #pragma omp barrier
            }
        }
        /* every dU plane complete before the output channels' transforms read them */
        if (nbuf == 2) {
            #pragma omp barrier
        }
        if (M == 4 && is.level == LT_ISA_AVX512 && WINO_Z)
            weight_grad_tf4_z(dw, dU, us, g->ci, g->co * tid / n, g->co * (tid + 1) / n);
        else
            weight_grad_tf(dw, dU, us, g->co, g->ci, M, g->co * tid / n, g->co * (tid + 1) / n);
    }
    return failed ? LT_ENOMEM : LT_OK;
}
