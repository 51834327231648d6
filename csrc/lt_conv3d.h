/* lt_conv3d.h: 3-D convolution and transposed convolution kernels (float32, N x C x D x H x W,
 * PyTorch 1.13 semantics and weight layouts), forward and backward, fast (vol2col + lunet's
 * SGEMM) and naive reference versions. No Lua here.
 *
 *   lt_conv3d_dims d;
 *   const int64_t k[3] = {3, 3, 3}, s[3] = {1, 1, 1}, p[3] = {1, 1, 1}, dl[3] = {1, 1, 1};
 *   // x (2, 16, 8, 8, 8), w (32, 16, 3, 3, 3): y (2, 32, 8, 8, 8)
 *   lt_status st = lt_conv3d_dims_init(&d, 2, 16, 8, 8, 8, 32, k, s, p, dl, 1);
 *   st = lt_conv3d_forward(ctx, y, x, w, b, &d);              // b may be NULL
 *   st = lt_conv3d_backward(ctx, dx, dw, db, dy, x, w, &d);   // each of dx, dw, db may be NULL
 *
 * All buffers are contiguous float32. Forward kernels overwrite their output; backward
 * kernels ADD into the gradient buffers (zero them first). Kernels return LT_ENOMEM when the
 * scratch cannot grow, LT_EOVERFLOW when its byte count does not fit, and never print.
 * The fast kernels parallelise themselves over up to lt_ctx_num_threads(ctx) OpenMP threads
 * and use ctx's scratch slots LT_SCRATCH_CONV and LT_SCRATCH_CONV_ACC.
 *
 * Work (all GEMMs are lunet's SGEMM, lt_gemm.h, one per thread and column block, with the
 * micro-kernels of the context's convolution ISA, or OpenBLAS at ISA level generic):
 * - 3x3x3 kernels with unit strides and dilations, one group, and at least 16 channels on
 *   both sides (the U-Net's layers): Winograd F(2x2x2, 3x3x3), 64 GEMMs (one per transformed
 *   position) over blocks of up to 96 2x2x2 output tiles of the whole batch, for the forward
 *   (a block per thread), the input gradient (the gather convolution below, from the
 *   transform of the unflipped weight) and the weight gradient (the adjoint transforms; each
 *   position summed by one thread, so dw does not depend on the thread count); batches of at
 *   most 256 tiles (8^3 volumes) are one block with the 64 GEMMs split over the threads. Relative error against the naive kernels about 1e-6 (the
 *   spec bounds it by 1e-4 on the U-Net's channel counts). The context's convolution algorithm (lt_conv_set_algo) forces it: LT_CONV_DIRECT
 *   takes Winograd for every 3x3x3 unit-stride, unit-dilation, one-group shape, LT_CONV_GEMM
 *   never; other values choose as described here.
 * - unit depth stride, kd > 1 (the 3x3x3 layers): an output plane is the sum over depth taps a
 *   of W_a (Cout/g, Cin/g * kh * kw) times the 2-D columns of input plane oz - pd + a * dd;
 *   each input plane's columns (blocks of whole output rows, >= 192 columns) are built once
 *   and serve the kd output planes that read them. The weight gradient reuses them the same
 *   way (W_a^T += cols dy^T, the long side as the GEMM's M).
 * - other shapes: vol2col blocks of whole output rows, one GEMM with the whole weight each.
 * - 1x1x1 convolutions with unit stride and no padding use the input as the column matrix.
 * - input gradient with unit strides: a gather convolution of dy with the spatially flipped,
 *   per-group transposed weight (padding dilation * (k - 1) - padding), accumulated into dx;
 *   with larger strides: col = W^T dy per block and col2vol, over slabs of output depth
 *   planes, even slabs first, then odd ones: slabs are thick enough that two slabs of one
 *   parity never touch the same input voxel, so no locks and no per-thread copies of dx.
 * - weight gradients go to per-thread accumulators over static runs of units, summed in
 *   thread order: reproducible for a given thread count.
 *
 * A transposed convolution is stored, as in lt_conv.h, as the dims of the convolution that
 * maps its output back to its input (n, cin = Cout, d/h/w = output size, cout = Cin,
 * od/oh/ow = input size); the weight layout (Cin, Cout/groups, kd, kh, kw) then coincides. */
#ifndef LT_CONV3D_H
#define LT_CONV3D_H

#include <stdint.h>
#include "lt_core.h"

typedef struct lt_conv3d_dims {
    int64_t n, cin, d, h, w;        /* input (N, Cin, D, H, W) */
    int64_t cout, kd, kh, kw;       /* weight (Cout, Cin/groups, kd, kh, kw) */
    int64_t od, oh, ow;             /* output (N, Cout, OD, OH, OW) */
    int64_t sd, sh, sw, pd, ph, pw, dd, dh, dw, groups;
} lt_conv3d_dims;

/* Fills d and computes od, oh, ow (overflow-checked). LT_EARG on non-positive sizes, stride,
 * dilation or groups, negative padding, groups not dividing cin and cout; LT_ESHAPE when the
 * dilated kernel is larger than the padded input; LT_EOVERFLOW when a size overflows int64.
 * k, s, p, dl are {d, h, w} triples. */
lt_status lt_conv3d_dims_init(lt_conv3d_dims *d, int64_t n, int64_t cin, int64_t id, int64_t ih,
                              int64_t iw, int64_t cout, const int64_t k[3], const int64_t s[3],
                              const int64_t p[3], const int64_t dl[3], int64_t groups);

/* Transposed: x (n, cin, id, ih, iw), w (cin, cout/groups, k...), output padding op (each
 * smaller than its stride or its dilation). Output size per dim
 * (in - 1) * s - 2 * p + dl * (k - 1) + op + 1; LT_ESHAPE when not positive. Stores the
 * adjoint convolution's dims (see above). */
lt_status lt_conv_transpose3d_dims_init(lt_conv3d_dims *d, int64_t n, int64_t cin, int64_t id,
                                        int64_t ih, int64_t iw, int64_t cout, const int64_t k[3],
                                        const int64_t s[3], const int64_t p[3],
                                        const int64_t op[3], const int64_t dl[3],
                                        int64_t groups);

/* ---- convolution ---- */
lt_status lt_conv3d_forward(lt_context *ctx,
                            float *out,          // (N, Cout, OD, OH, OW)
                            const float *x,      // (N, Cin, D, H, W)
                            const float *w,      // (Cout, Cin/groups, kd, kh, kw)
                            const float *b,      // (Cout) or NULL
                            const lt_conv3d_dims *d);
lt_status lt_conv3d_backward(lt_context *ctx,
                             float *dx,          // (N, Cin, D, H, W) or NULL
                             float *dw,          // (Cout, Cin/groups, kd, kh, kw) or NULL
                             float *db,          // (Cout) or NULL
                             const float *dout,  // (N, Cout, OD, OH, OW)
                             const float *x,     // (N, Cin, D, H, W), needed for dw
                             const float *w,     // needed for dx
                             const lt_conv3d_dims *d);

/* ---- transposed convolution (d from lt_conv_transpose3d_dims_init) ---- */
lt_status lt_conv_transpose3d_forward(lt_context *ctx,
                                      float *out,       // (N, d->cin, d->d, d->h, d->w)
                                      const float *x,   // (N, d->cout, d->od, d->oh, d->ow)
                                      const float *w,   // (d->cout, d->cin/groups, kd, kh, kw)
                                      const float *b,   // (d->cin) or NULL
                                      const lt_conv3d_dims *d);
lt_status lt_conv_transpose3d_backward(lt_context *ctx,
                                       float *dx,         // x's shape or NULL
                                       float *dw,         // w's shape or NULL
                                       float *db,         // (d->cin) or NULL
                                       const float *dout, // (N, d->cin, d->d, d->h, d->w)
                                       const float *x, const float *w,
                                       const lt_conv3d_dims *d);

/* ---- naive references (direct loops, double accumulators), same contracts ---- */
lt_status lt_conv3d_forward_naive(float *out, const float *x, const float *w, const float *b,
                                  const lt_conv3d_dims *d);
lt_status lt_conv3d_backward_naive(float *dx, float *dw, float *db, const float *dout,
                                   const float *x, const float *w, const lt_conv3d_dims *d);
lt_status lt_conv_transpose3d_forward_naive(float *out, const float *x, const float *w,
                                            const float *b, const lt_conv3d_dims *d);
lt_status lt_conv_transpose3d_backward_naive(float *dx, float *dw, float *db,
                                             const float *dout, const float *x,
                                             const float *w, const lt_conv3d_dims *d);

#endif
