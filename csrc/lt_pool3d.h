/* lt_pool3d.h: 3-D pooling and resampling kernels on stacks of float32 D x H x W volumes
 * (N*C of an N x C x D x H x W tensor): max / average / adaptive average pooling and nearest /
 * trilinear interpolation, forward and backward. No Lua here.
 *
 *   lt_pool3d_geom g = { .planes = N * C, .id = 8, .ih = 8, .iw = 8, .kd = 2, .kh = 2, .kw = 2,
 *                        .sd = 2, .sh = 2, .sw = 2, .dd = 1, .dh = 1, .dw = 1 };
 *   if (lt_pool3d_outsize(&g, 0) != LT_OK) { ... }     // fills od, oh, ow (4, 4, 4)
 *   lt_max_pool3d_forward(ctx, y, idx, x, &g);          // y, idx: (N*C, 4, 4, 4)
 *   // backward: lt_max_pool2d_backward(ctx, gx, gy, idx, N*C, 64, 512) (lt_pool.h, any plane)
 *
 * Indices (int32) are 1-BASED positions inside one input volume: element (z, y, x) (0-based)
 * of a D x H x W volume has index (z * H + y) * W + x + 1, PyTorch's flat index plus one.
 * Max unpooling and the max-pool backward scatter are plane-generic and live in lt_pool.h.
 * Semantics follow PyTorch 1.13 on the CPU (padding is -inf for max pooling, a NaN wins,
 * ties keep the first window position; average pooling divides by the window clipped to the
 * padded input (count_include_pad) or to the input, or by an override; interpolation uses
 * the index arithmetic of lt_resample.h per dim). Backward kernels ADD into the gradient
 * buffer. Work is split over volumes with OpenMP. */
#ifndef LT_POOL3D_H
#define LT_POOL3D_H

#include <stdint.h>
#include "lt_core.h"

typedef struct lt_pool3d_geom {
    int64_t planes;              /* N * C */
    int64_t id, ih, iw;          /* input volume */
    int64_t od, oh, ow;          /* output volume (lt_pool3d_outsize fills it) */
    int64_t kd, kh, kw;          /* kernel */
    int64_t sd, sh, sw;          /* stride */
    int64_t pd, ph, pw;          /* padding on each side */
    int64_t dd, dh, dw;          /* dilation (1 for average pooling) */
} lt_pool3d_geom;

/* PyTorch's pooling_output_shape per dim (floor, or ceil with ceil_mode dropping a last
 * window that starts in the right padding). LT_EARG for non-positive kernel, stride or
 * dilation or negative padding, LT_ESHAPE when an output size is < 1, LT_EOVERFLOW when a
 * window computation would not fit in int64. */
lt_status lt_pool3d_outsize(lt_pool3d_geom *g, int ceil_mode);

/* idx may be NULL. The 2x2x2 stride-2 unpadded case takes a specialised path. */
lt_status lt_max_pool3d_forward(const lt_context *ctx,
                                float *out, int32_t *idx, const float *in,  // (P, OD, OH, OW) x2, (P, ID, IH, IW)
                                const lt_pool3d_geom *g);
lt_status lt_max_pool3d_forward_naive(float *out, int32_t *idx, const float *in,
                                      const lt_pool3d_geom *g);

/* divisor <= 0: no override. */
lt_status lt_avg_pool3d_forward(const lt_context *ctx,
                                float *out, const float *in, const lt_pool3d_geom *g,
                                int count_include_pad, int64_t divisor);
lt_status lt_avg_pool3d_forward_naive(float *out, const float *in, const lt_pool3d_geom *g,
                                      int count_include_pad, int64_t divisor);
lt_status lt_avg_pool3d_backward(const lt_context *ctx,
                                 float *din, const float *dout, const lt_pool3d_geom *g,
                                 int count_include_pad, int64_t divisor);

/* Adaptive average pooling: output cell o covers input [floor(o*I/O), ceil((o+1)*I/O)) per
 * dim. in/out are {d, h, w}. LT_EOVERFLOW when O * I + O does not fit in int64. */
lt_status lt_adaptive_avg_pool3d_forward(const lt_context *ctx, float *out, const float *in,
                                         int64_t planes, const int64_t isz[3],
                                         const int64_t osz[3]);
/* Reference: every output cell's window summed in double, bounds recomputed per cell. */
lt_status lt_adaptive_avg_pool3d_forward_naive(float *out, const float *in, int64_t planes,
                                               const int64_t isz[3], const int64_t osz[3]);
lt_status lt_adaptive_avg_pool3d_backward(const lt_context *ctx, float *din, const float *dout,
                                          int64_t planes, const int64_t isz[3],
                                          const int64_t osz[3]);

/* Interpolation: scale[k] > 0 is the user's scale factor of dim k (the source step is then
 * 1 / scale), 0 takes in / out. Nearest: src = min(floor(dst * step), in - 1). Trilinear:
 * align_corners maps corner voxel centres, else voxel areas (clamped at 0). The trilinear
 * kernels tabulate (OD + OH + OW) entries (malloc'd; LT_ENOMEM if that fails). */
lt_status lt_upsample_nearest3d_forward(const lt_context *ctx, float *out, const float *in,
                                        int64_t planes, const int64_t isz[3],
                                        const int64_t osz[3], const double scale[3]);
/* Reference: the source index recomputed for every output voxel. */
lt_status lt_upsample_nearest3d_forward_naive(float *out, const float *in, int64_t planes,
                                              const int64_t isz[3], const int64_t osz[3],
                                              const double scale[3]);
lt_status lt_upsample_nearest3d_backward(const lt_context *ctx, float *din, const float *dout,
                                         int64_t planes, const int64_t isz[3],
                                         const int64_t osz[3], const double scale[3]);
lt_status lt_upsample_trilinear3d_forward(const lt_context *ctx, float *out, const float *in,
                                          int64_t planes, const int64_t isz[3],
                                          const int64_t osz[3], int align_corners,
                                          const double scale[3]);
/* Reference: source coordinates recomputed for every output voxel, eight taps summed. */
lt_status lt_upsample_trilinear3d_forward_naive(float *out, const float *in, int64_t planes,
                                                const int64_t isz[3], const int64_t osz[3],
                                                int align_corners, const double scale[3]);
lt_status lt_upsample_trilinear3d_backward(const lt_context *ctx, float *din, const float *dout,
                                           int64_t planes, const int64_t isz[3],
                                           const int64_t osz[3], int align_corners,
                                           const double scale[3]);

#endif
