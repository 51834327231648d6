/* lt_resample.h: resampling and padding kernels on stacks of float32 planes: nearest and
 * bilinear up/down-sampling (F.interpolate) and 2-D padding (F.pad), forward and backward.
 * No Lua here.
 *
 *   // x: (N*C, 8, 8) -> y: (N*C, 16, 16), PyTorch's interpolate(scale_factor=2, bilinear)
 *   lt_upsample_bilinear2d_forward(ctx, y, x, N * C, 8, 8, 16, 16, 0, 2.0, 2.0);
 *   int64_t pads[4] = {1, 1, 2, 2};                         // left, right, top, bottom
 *   lt_pad2d_forward(ctx, z, x, N * C, 8, 8, pads, LT_PAD_REFLECT, 0.0f);  // z: (N*C, 12, 10)
 *
 * Semantics follow PyTorch 1.13 on the CPU, including its float arithmetic:
 * - scale_h / scale_w are the user's scale factors (> 0) when the output size came from
 *   scale_factor without recompute_scale_factor, else 0; the source step is then
 *   1 / scale, otherwise in / out (both as float).
 * - nearest: src = min(floor(dst * step), in - 1), PyTorch's generic (NCHW) rule. PyTorch's
 *   channels-last path (which a contiguous tensor takes when C == 1 or H * W == 1) and its
 *   backward instead copy exactly when out == in or out == 2 * in: pass scale 0 for such a
 *   dim to get that (the binding does, for C == 1 or H * W == 1).
 * - bilinear: align_corners = 1 maps corner pixel centres (step (in - 1) / (out - 1));
 *   align_corners = 0 maps pixel areas (src = step * (dst + 0.5) - 0.5, clamped at 0).
 * - pad: constant (negative sizes crop), reflect (pad < size, edge not repeated),
 *   replicate (edge repeated), circular (pad <= size, wraps around).
 * Backward kernels ADD into din. Work is split over planes with OpenMP.
 */
#ifndef LT_RESAMPLE_H
#define LT_RESAMPLE_H

#include <stdint.h>
#include "lt_core.h"

lt_status lt_upsample_nearest2d_forward(const lt_context *ctx,
                                        float *out, const float *in,  // (P, OH, OW), (P, IH, IW)
                                        int64_t planes, int64_t ih, int64_t iw,
                                        int64_t oh, int64_t ow, double scale_h, double scale_w);
lt_status lt_upsample_nearest2d_backward(const lt_context *ctx,
                                         float *din, const float *dout,  // (P, IH, IW), (P, OH, OW)
                                         int64_t planes, int64_t ih, int64_t iw,
                                         int64_t oh, int64_t ow, double scale_h, double scale_w);

/* Separable: source rows/columns and weights are tabulated once per call (a small
 * (OH + OW) * 24-byte table, malloc'd and freed inside; LT_ENOMEM if that fails). */
lt_status lt_upsample_bilinear2d_forward(const lt_context *ctx,
                                         float *out, const float *in,  // (P, OH, OW), (P, IH, IW)
                                         int64_t planes, int64_t ih, int64_t iw,
                                         int64_t oh, int64_t ow, int align_corners,
                                         double scale_h, double scale_w);
/* Reference: recomputes source coordinates for every output pixel. */
lt_status lt_upsample_bilinear2d_forward_naive(float *out, const float *in,
                                               int64_t planes, int64_t ih, int64_t iw,
                                               int64_t oh, int64_t ow, int align_corners,
                                               double scale_h, double scale_w);
lt_status lt_upsample_bilinear2d_backward(const lt_context *ctx,
                                          float *din, const float *dout,  // (P, IH, IW), (P, OH, OW)
                                          int64_t planes, int64_t ih, int64_t iw,
                                          int64_t oh, int64_t ow, int align_corners,
                                          double scale_h, double scale_w);

typedef enum {
    LT_PAD_CONSTANT = 0,
    LT_PAD_REFLECT,
    LT_PAD_REPLICATE,
    LT_PAD_CIRCULAR
} lt_pad_mode;

/* Output plane size for pads {left, right, top, bottom}; LT_EARG when the mode's limits
 * are broken (negative pad outside constant mode, reflect pad >= size, circular pad > size,
 * an empty input plane outside constant mode), LT_EOVERFLOW when a size overflows int64
 * and LT_ESHAPE when the output would be empty. */
lt_status lt_pad2d_outsize(int64_t ih, int64_t iw, const int64_t pad[4], lt_pad_mode mode,
                           int64_t *oh, int64_t *ow);
lt_status lt_pad2d_forward(const lt_context *ctx,
                           float *out, const float *in,  // (P, OH, OW), (P, IH, IW)
                           int64_t planes, int64_t ih, int64_t iw, const int64_t pad[4],
                           lt_pad_mode mode, float value);
lt_status lt_pad2d_backward(const lt_context *ctx,
                            float *din, const float *dout,  // (P, IH, IW), (P, OH, OW)
                            int64_t planes, int64_t ih, int64_t iw, const int64_t pad[4],
                            lt_pad_mode mode);

#endif
