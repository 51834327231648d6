/* lt_conv.h: 2-D convolution and transposed convolution kernels (float32, NCHW, PyTorch
 * semantics and weight layouts), forward and backward, fast and naive reference versions.
 *
 *   lt_conv2d_dims d;
 *   // x (2, 4, 9, 7), w (6, 4/2, 3, 3), groups 2, stride 2, padding 1, dilation 1
 *   lt_status st = lt_conv2d_dims_init(&d, 2, 4, 9, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2);
 *   // d.oh == 5, d.ow == 4
 *   st = lt_conv2d_forward(ctx, y, x, w, b, &d);            // y (2, 6, 5, 4), b may be NULL
 *   st = lt_conv2d_backward(ctx, dx, dw, db, dy, x, w, &d); // each of dx, dw, db may be NULL
 *
 * All buffers are contiguous float32. Forward kernels overwrite their output; backward
 * kernels ADD into the gradient buffers (zero them first). Every kernel returns an
 * lt_status (LT_ENOMEM when the scratch buffers cannot grow, LT_EOVERFLOW when their byte
 * count would not fit in size_t) and never prints. The fast kernels parallelise themselves
 * (OpenMP, up to lt_ctx_num_threads(ctx) threads) and use ctx's scratch slots
 * LT_SCRATCH_CONV and LT_SCRATCH_CONV_ACC and its algorithm / ISA choice: one thread at a
 * time per context, any number of contexts at once.
 *
 * A transposed convolution is the adjoint of a convolution: its dims are described by
 * lt_conv_transpose2d_dims_init with the transposed layer's own names (x (N, Cin, H, W),
 * w (Cin, Cout/groups, kh, kw), output (N, Cout, OH, OW) with
 * OH = (H-1)*sh - 2*ph + dh*(kh-1) + oph + 1), and stored as the dims of the convolution
 * that maps the transposed output back to its input (n, cin = Cout, h = OH, w = OW,
 * cout = Cin, oh = H, ow = W); the weight layouts then coincide. */
#ifndef LT_CONV_H
#define LT_CONV_H

#include <stdint.h>
#include "lt_core.h"

typedef struct lt_conv2d_dims {
    int64_t n, cin, h, w;      /* input (N, Cin, H, W) */
    int64_t cout, kh, kw;      /* weight (Cout, Cin/groups, kh, kw) */
    int64_t oh, ow;            /* output (N, Cout, OH, OW) */
    int64_t sh, sw, ph, pw, dh, dw, groups;
} lt_conv2d_dims;

/* Fills d and computes oh, ow (all size arithmetic overflow-checked). LT_EARG on
 * non-positive sizes/stride/dilation/groups, negative padding or groups not dividing cin
 * and cout; LT_ESHAPE when the dilated kernel is larger than the padded input;
 * LT_EOVERFLOW when the padded input or the dilated kernel overflows int64, or a per-image
 * GEMM size (a plane, a weight row, a channel count) exceeds INT32_MAX.
 * (The binding checks first, with messages.) */
lt_status lt_conv2d_dims_init(lt_conv2d_dims *d, int64_t n, int64_t cin, int64_t h, int64_t w,
                              int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                              int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups);

/* Transposed conv: x (N, cin, H, W), w (cin, cout/groups, kh, kw), output padding oph, opw.
 * Stores the adjoint convolution's dims (see above). LT_EARG also when the output padding
 * is not smaller than the stride or the dilation, LT_ESHAPE when the output is empty,
 * LT_EOVERFLOW as lt_conv2d_dims_init (the output size formula included). */
lt_status lt_conv_transpose2d_dims_init(lt_conv2d_dims *d, int64_t n, int64_t cin, int64_t h,
                                        int64_t w, int64_t cout, int64_t kh, int64_t kw,
                                        int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                                        int64_t oph, int64_t opw, int64_t dh, int64_t dw,
                                        int64_t groups);

/* Algorithm choice of a context's fast kernels (the spec forces each one to compare it with
 * the naive reference): AUTO picks per shape; DIRECT uses the direct kernel wherever it
 * applies (unit stride, output width a multiple of 8, AVX2); GEMM always uses im2col +
 * SGEMM per image; BATCHED always uses im2col + one SGEMM over the columns of several images
 * (the GEMM in the ISA forced with lt_conv_set_isa, else the best); WINOGRAD runs every 3x3
 * stride-1 dilation-1 single-group forward pass, input and weight gradient as Winograd F(4x4,3x3)
 * (F(2x2,3x3) on outputs smaller than 4 pixels in a direction; lt_winograd.h), WINOGRAD_F2
 * always as F(2x2,3x3), everything else as AUTO; PLANE runs the small-plane kernels (AVX-512,
 * "same" unit-stride convs: the plane read as one flat pixel run, padding taps masked off)
 * wherever they apply, everything else as AUTO. set returns LT_EARG for another value. */
enum { LT_CONV_AUTO = 0, LT_CONV_GEMM = 1, LT_CONV_DIRECT = 2, LT_CONV_BATCHED = 3,
       LT_CONV_WINOGRAD = 4, LT_CONV_WINOGRAD_F2 = 5, LT_CONV_PLANE = 6 };
lt_status lt_conv_set_algo(lt_context *ctx, int algo);
int lt_conv_get_algo(const lt_context *ctx);

/* Instruction set of a context's direct kernels: AVX-512 (16-wide, the default where the
 * CPU has AVX-512F) or AVX2/FMA (8-wide; 8-wide rows always use it). set returns LT_EARG
 * when the CPU lacks the ISA; get returns the one in use. The spec tests both where
 * available. */
enum { LT_CONV_ISA_AVX2 = 0, LT_CONV_ISA_AVX512 = 1 };
int lt_conv_isa_supported(int isa);
lt_status lt_conv_set_isa(lt_context *ctx, int isa);
int lt_conv_get_isa(const lt_context *ctx);

/* ---- convolution ---- */
lt_status lt_conv2d_forward(lt_context *ctx,
                            float *out,          // (N, Cout, OH, OW)
                            const float *x,      // (N, Cin, H, W)
                            const float *w,      // (Cout, Cin/groups, kh, kw)
                            const float *b,      // (Cout) or NULL
                            const lt_conv2d_dims *d);
lt_status lt_conv2d_backward(lt_context *ctx,
                             float *dx,          // (N, Cin, H, W) or NULL
                             float *dw,          // (Cout, Cin/groups, kh, kw) or NULL
                             float *db,          // (Cout) or NULL
                             const float *dout,  // (N, Cout, OH, OW)
                             const float *x,     // (N, Cin, H, W), needed for dw
                             const float *w,     // (Cout, Cin/groups, kh, kw), needed for dx
                             const lt_conv2d_dims *d);
/* The same with dx, dw, db uninitialised on entry: they are overwritten (the kernels that
 * write every element skip the zero fill and the read-back; the others zero them first). */
lt_status lt_conv2d_backward_set(lt_context *ctx, float *dx, float *dw, float *db,
                                 const float *dout, const float *x, const float *w,
                                 const lt_conv2d_dims *d);

/* ---- transposed convolution (d from lt_conv_transpose2d_dims_init) ---- */
lt_status lt_conv_transpose2d_forward(lt_context *ctx,
                                      float *out,       // (N, d->cin, d->h, d->w)
                                      const float *x,   // (N, d->cout, d->oh, d->ow)
                                      const float *w,   // (d->cout, d->cin/groups, kh, kw)
                                      const float *b,   // (d->cin) or NULL
                                      const lt_conv2d_dims *d);
lt_status lt_conv_transpose2d_backward(lt_context *ctx,
                                       float *dx,         // (N, d->cout, d->oh, d->ow) or NULL
                                       float *dw,         // weight shape or NULL
                                       float *db,         // (d->cin) or NULL
                                       const float *dout, // (N, d->cin, d->h, d->w)
                                       const float *x,    // (N, d->cout, d->oh, d->ow)
                                       const float *w,
                                       const lt_conv2d_dims *d);

/* ---- naive references (direct loops, double accumulators), same contracts ---- */
lt_status lt_conv2d_forward_naive(float *out, const float *x, const float *w, const float *b,
                                  const lt_conv2d_dims *d);
lt_status lt_conv2d_backward_naive(float *dx, float *dw, float *db, const float *dout,
                                   const float *x, const float *w, const lt_conv2d_dims *d);
lt_status lt_conv_transpose2d_forward_naive(float *out, const float *x, const float *w,
                                            const float *b, const lt_conv2d_dims *d);
lt_status lt_conv_transpose2d_backward_naive(float *dx, float *dw, float *db,
                                             const float *dout, const float *x,
                                             const float *w, const lt_conv2d_dims *d);

#endif
