/* lt_winograd.h: Winograd convolution F(4x4, 3x3) and F(2x2, 3x3) for 3x3 convolutions with
 * unit stride, unit dilation and one group (float32, NCHW, PyTorch semantics): the forward
 * pass, the input gradient (the flipped, transposed-weight convolution of dy) and the weight
 * gradient.
 *
 *   lt_conv2d_dims d;   // x (8, 64, 32, 32), w (64, 64, 3, 3), padding 1
 *   lt_conv2d_dims_init(&d, 8, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1);
 *   if (lt_winograd_fits(&d)) {
 *       st = lt_winograd_forward(ctx, y, x, w, b, &d, 4, 0);   // y (8, 64, 32, 32) = conv + b
 *       st = lt_winograd_backward_data(ctx, dx, dy, w, &d, 4, 1); // dx (8, 64, 32, 32) += ...
 *       st = lt_winograd_backward_weight(ctx, dw, dy, x, &d, 4); // dw (64, 64, 3, 3) += ...
 *   }
 *
 * Method (Lavin & Gray 2016): the output is cut into m x m tiles (partial tiles at the right
 * and bottom edges), each computed from an (m+2) x (m+2) input tile: V = B^T d B per input
 * channel and tile (zero padding applied while the tile is read: no padded copy), U = G g G^T
 * per weight (in double, rounded once), then for each of the (m+2)^2 transform positions one
 * GEMM M (Cout, tiles) = U (Cout, Cin) V (Cin, tiles) with lunet's packed SGEMM (lt_gemm.h),
 * then Y = A^T M A per output channel and tile with the bias added (or accumulated into the
 * output). Tiles are processed in blocks whose transformed tiles fill 3/4 of the core's L2
 * (sysconf; 768 KB on Zen 4); blocks go to the context's threads (OpenMP) one by one, or, when
 * there are too few of them, the threads share each block's transforms and GEMMs. The weight
 * gradient sums dU = (A dY A^T) (B^T d B)^T over the tiles, per transform position, then
 * dw += G^T dU G. Scratch: ctx's LT_SCRATCH_CONV. The AVX-512 level has vectorised F(4x4)
 * transforms (16 tiles per vector); the others run C loops (correct, not fast: lt_conv.c's
 * AUTO only picks Winograd with AVX-512).
 * An m x m output tile needs (m+2)^2 multiplications per (input, output) channel pair instead
 * of 9 m^2: 2.25x fewer for m = 2, 4x fewer for m = 4, at the price of a larger rounding error
 * (the transforms' coefficients reach 8 for m = 4: 3e-6 to 1.3e-5 of the output's scale on
 * the U-Net layers against 1e-7 to 7e-7 direct; spec/winograd_spec.lua asserts <= 1e-4).
 * Returns LT_EARG for dims that do not fit or m not 2 or 4, LT_ENOMEM / LT_EOVERFLOW for the
 * scratch; never prints. */
#ifndef LT_WINOGRAD_H
#define LT_WINOGRAD_H

#include "lt_core.h"
#include "lt_conv.h"

/* 1 when d is a 3x3, stride-1, dilation-1, single-group convolution. */
int lt_winograd_fits(const lt_conv2d_dims *d);

/* out (N, Cout, OH, OW) = [out +] conv(x, w) [+ b]; m: output tile size (2 or 4). */
lt_status lt_winograd_forward(lt_context *ctx,
                              float *out,         // (N, Cout, OH, OW)
                              const float *x,     // (N, Cin, H, W)
                              const float *w,     // (Cout, Cin, 3, 3)
                              const float *b,     // (Cout) or NULL
                              const lt_conv2d_dims *d, int m, int accumulate);

/* dx (N, Cin, H, W) = [dx +] conv^T(dy, w): the 3x3 convolution of dy with the weights
 * flipped and transposed, padded by 2 - padding (reads outside dy are zeros). accumulate = 0
 * writes every element of dx (no zero-fill needed beforehand). */
lt_status lt_winograd_backward_data(lt_context *ctx,
                                    float *dx,          // (N, Cin, H, W)
                                    const float *dy,    // (N, Cout, OH, OW)
                                    const float *w,     // (Cout, Cin, 3, 3)
                                    const lt_conv2d_dims *d, int m, int accumulate);

/* dw (Cout, Cin, 3, 3) += the weight gradient sum over images and pixels of dy (x) patches of
 * x, as dU = sum over tiles of (A dY A^T) (B^T d B)^T per transform position, then
 * dw += G^T dU G. */
lt_status lt_winograd_backward_weight(lt_context *ctx,
                                      float *dw,          // (Cout, Cin, 3, 3)
                                      const float *dy,    // (N, Cout, OH, OW)
                                      const float *x,     // (N, Cin, H, W)
                                      const lt_conv2d_dims *d, int m);

#endif
