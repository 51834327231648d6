/* lt_vol_warp.h: 3-D resampling for the volume transforms (lunet.transforms RandAffine3d):
 * an affine map from output voxels to input voxels, trilinear for images and nearest for
 * label volumes. No Lua.
 *
 *   double m[12] = {1, 0, 0, 0.5,  0, 1, 0, 0,  0, 0, 1, 0};   // (z, y, x, 1) rows
 *   lt_vol_affine(ctx, &out, &in, m, 1, 0.0);   // out (C, Do, Ho, Wo) reads in at m * p
 *
 * in and out are contiguous (C, D, H, W) with the same C and dtype. Voxel centres sit at
 * integer coordinates (align_corners = True in PyTorch terms): output voxel (z, y, x) reads
 * the input at (z', y', x') = m * (z, y, x, 1). Trilinear (float32 only) weighs the 8
 * neighbours and counts a neighbour outside the volume as `fill`; nearest (any dtype) takes
 * the voxel at round-half-up coordinates or `fill` outside, so a resampled label volume holds
 * only source values and the fill. Results do not depend on the thread count, and the fast
 * kernel equals its naive twin exactly (same arithmetic, per voxel).
 */
#ifndef LT_VOL_WARP_H
#define LT_VOL_WARP_H

#include "lt_core.h"

lt_status lt_vol_affine(const lt_context *ctx, lt_tensor *out, const lt_tensor *in,
                        const double m[12], int linear, double fill);
lt_status lt_vol_affine_naive(lt_tensor *out, const lt_tensor *in, const double m[12], int linear,
                              double fill);

#endif
