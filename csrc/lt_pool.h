/* lt_pool.h: 2-D pooling kernels on float32 planes: max / average / adaptive pooling and
 * max unpooling ("bed of nails"), forward and backward. No Lua here.
 *
 *   lt_pool2d_geom g = { .planes = N * C, .ih = 8, .iw = 8, .kh = 2, .kw = 2, .sh = 2, .sw = 2,
 *                        .ph = 0, .pw = 0, .dh = 1, .dw = 1 };
 *   if (lt_pool2d_outsize(&g, 0) != LT_OK) { ... }        // fills g.oh, g.ow (4, 4)
 *   lt_max_pool2d_forward(ctx, y, idx, x, &g);             // y, idx: (N*C, 4, 4)
 *   lt_max_pool2d_backward(ctx, gx, gy, idx, &g);          // gx += scatter of gy
 *
 * Every tensor is a contiguous stack of `planes` H x W planes (N*C of an NCHW tensor).
 * Indices (int32) are POSITIONS INSIDE ONE INPUT PLANE, 1-BASED as everywhere in lunet:
 * element (h, w) of a plane of width W (0-based h, w) has index h * W + w + 1. This is
 * PyTorch's flat H*W index plus one; max_unpool2d consumes the same convention.
 * Semantics follow PyTorch 1.13 (CPU): padding counts as -inf for max pooling, a NaN wins,
 * ties keep the first position in row-major window order; average pooling divides by the
 * window clipped to the padded input (count_include_pad) or to the input, or by an override.
 * Backward kernels ADD into the gradient buffer; forward kernels write every output.
 * Work is split over planes with OpenMP (up to lt_ctx_num_threads(ctx) threads).
 */
#ifndef LT_POOL_H
#define LT_POOL_H

#include <stdint.h>
#include "lt_core.h"

typedef struct lt_pool2d_geom {
    int64_t planes;          /* N * C */
    int64_t ih, iw;          /* input plane */
    int64_t oh, ow;          /* output plane (lt_pool2d_outsize fills them) */
    int64_t kh, kw;          /* kernel */
    int64_t sh, sw;          /* stride */
    int64_t ph, pw;          /* zero / -inf padding on each side */
    int64_t dh, dw;          /* dilation (max pooling only; 1 for average pooling) */
} lt_pool2d_geom;

/* PyTorch's pooling_output_shape for both dims: floor (or ceil with ceil_mode, dropping a
 * last window that would start in the right padding). LT_ESHAPE when a size is < 1,
 * LT_EOVERFLOW when the padded input, the dilated kernel or the last window's end does
 * not fit in int64 (every later window computation then fits). A dilation along a dim
 * whose kernel size is 1 plays no part and is set to 1. */
lt_status lt_pool2d_outsize(lt_pool2d_geom *g, int ceil_mode);

/* idx may be NULL (inference: no indices kept). The 2x2 stride-2 unpadded case takes a
 * specialised path; _naive is the plain reference used by the specs. */
lt_status lt_max_pool2d_forward(const lt_context *ctx,
                                float *out, int32_t *idx, const float *in,  // (P, OH, OW) x2, (P, IH, IW)
                                const lt_pool2d_geom *g);
lt_status lt_max_pool2d_forward_naive(const lt_context *ctx,
                                      float *out, int32_t *idx, const float *in,
                                      const lt_pool2d_geom *g);
/* Scatters dout into din through 1-based plane indices (max_pool2d, adaptive_max_pool2d).
 * n_out = elements per output plane, n_in = elements per input plane. LT_EINDEX if an
 * index is outside [1, n_in]. */
lt_status lt_max_pool2d_backward(const lt_context *ctx,
                                 float *din, const float *dout, const int32_t *idx,  // (P, n_in), (P, n_out) x2
                                 int64_t planes, int64_t n_out, int64_t n_in);

/* The same, but din is WRITTEN (each plane zeroed then scattered into, inside the parallel
 * loop while it is in cache) instead of added to: for a fresh, unzeroed gradient. */
lt_status lt_max_pool2d_backward_set(const lt_context *ctx,
                                     float *din, const float *dout, const int32_t *idx,
                                     int64_t planes, int64_t n_out, int64_t n_in);

/* divisor <= 0: no override. */
lt_status lt_avg_pool2d_forward(const lt_context *ctx,
                                float *out, const float *in, const lt_pool2d_geom *g,  // (P, OH, OW), (P, IH, IW)
                                int count_include_pad, int64_t divisor);
lt_status lt_avg_pool2d_backward(const lt_context *ctx,
                                 float *din, const float *dout, const lt_pool2d_geom *g,  // (P, IH, IW), (P, OH, OW)
                                 int count_include_pad, int64_t divisor);

/* Adaptive pooling: output cell (o) covers input [floor(o*I/O), ceil((o+1)*I/O)).
 * LT_EOVERFLOW when O * I + O does not fit in int64 (either dim). */
lt_status lt_adaptive_avg_pool2d_forward(const lt_context *ctx,
                                         float *out, const float *in,  // (P, OH, OW), (P, IH, IW)
                                         int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow);
lt_status lt_adaptive_avg_pool2d_backward(const lt_context *ctx,
                                          float *din, const float *dout,  // (P, IH, IW), (P, OH, OW)
                                          int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow);
/* idx may be NULL; backward is lt_max_pool2d_backward. */
lt_status lt_adaptive_max_pool2d_forward(const lt_context *ctx,
                                         float *out, int32_t *idx, const float *in,  // (P, OH, OW) x2, (P, IH, IW)
                                         int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow);

/* 1 if some index in idx[0..n) is outside [1, limit] (the first one's value goes to *bad and
 * its flat 0-based position to *pos; either may be NULL), else 0. */
int lt_pool_check_indices(const int32_t *idx, int64_t n, int64_t limit, int32_t *bad,
                          int64_t *pos);

/* Max unpooling: out plane zeroed, then out[idx - 1] = in (a later duplicate wins).
 * n_in = elements per input (and indices) plane, n_out = elements per output plane.
 * LT_EINDEX (nothing written) when an index is outside [1, n_out]. */
lt_status lt_max_unpool2d_forward(const lt_context *ctx,
                                  float *out, const float *in, const int32_t *idx,  // (P, n_out), (P, n_in) x2
                                  int64_t planes, int64_t n_in, int64_t n_out);
/* din += dout gathered at the indices. */
lt_status lt_max_unpool2d_backward(const lt_context *ctx,
                                   float *din, const float *dout, const int32_t *idx,  // (P, n_in), (P, n_out), (P, n_in)
                                   int64_t planes, int64_t n_in, int64_t n_out);

#endif
