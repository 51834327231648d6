/* lt_warp.h: resampling and pixel kernels behind lunet.transforms (affine warps, remaps,
 * resizes, crops/pads, flips, blurs, colour ops) on C×H×W images and H×W masks. No Lua.
 *
 *   double m[6] = {1, 0, -2.5, 0, 1, 1};   // inverse map: dst (x, y) reads src at m * (x, y, 1)
 *   lt_warp_affine(ctx, &out, &img, m, LT_INTERP_LINEAR, LT_BORDER_CONSTANT, 0.0);
 *
 * Tensors are contiguous; an image is (C, H, W) uint8 or float32, a mask (H, W) uint8 or
 * int32 (one plane). Linear, area and colour kernels need uint8 or float32; nearest copies
 * elements of any dtype, so a resampled mask only ever holds source values or the fill.
 * Coordinates follow OpenCV: pixel centres at integers, bilinear positions quantised to
 * 1/32 pixel and uint8 results computed in fixed point exactly as cv::warpAffine/remap,
 * so warps of uint8 images equal OpenCV's bit for bit. These are augmentation kernels
 * (no autograd), hence no _forward/_backward pairs; each fast kernel that has a naive
 * twin (lt_*_naive) gives identical results (area resize and blur: within 1 uint8
 * level / float rounding, as the twins sum in another order or precision). Results never depend on the thread count.
 */
#ifndef LT_WARP_H
#define LT_WARP_H

#include "lt_core.h"

typedef enum {
    LT_BORDER_CONSTANT = 0,    /* fill value outside */
    LT_BORDER_REFLECT = 1,     /* gfedcb|abcdefgh|gfedcba (OpenCV BORDER_REFLECT_101, PyTorch "reflect") */
    LT_BORDER_REPLICATE = 2    /* aaaaaa|abcdefgh|hhhhhhh */
} lt_border;

typedef enum {
    LT_INTERP_NEAREST = 0,
    LT_INTERP_LINEAR = 1,
    LT_INTERP_AREA = 2         /* resize only */
} lt_interp;

/* Index of coordinate p in [0, n) under the border rule; -1 for constant outside. */
int64_t lt_border_index(int64_t p, int64_t n, lt_border b);

/* Inverts a forward 2x3 affine matrix exactly as cv::invertAffineTransform. */
void lt_affine_invert(double inv[6], const double m[6]);

/* out (C, Ho, Wo) = in (C, H, W) sampled at minv * (x, y, 1) (minv: dst -> src, as
 * cv::warpAffine with WARP_INVERSE_MAP). Nearest: any dtype. fill is saturated to the dtype. */
lt_status lt_warp_affine(const lt_context *ctx,
                         lt_tensor *out, const lt_tensor *in, const double minv[6],
                         lt_interp interp, lt_border border, double fill);
lt_status lt_warp_affine_naive(lt_tensor *out, const lt_tensor *in, const double minv[6],
                               lt_interp interp, lt_border border, double fill);

/* out (C, Ho, Wo) = in sampled at (mapx, mapy) (float32 (Ho, Wo) each), as cv::remap. */
lt_status lt_remap(const lt_context *ctx,
                   lt_tensor *out, const lt_tensor *in, const lt_tensor *mapx,
                   const lt_tensor *mapy, lt_interp interp, lt_border border, double fill);

/* out (C, Ho, Wo) = in (C, H, W) resized as cv::resize: LINEAR (half-pixel centres, edge
 * clamped; uint8 in 11-bit fixed point), AREA (box average when shrinking), NEAREST
 * (src = floor(dst * in/out)). */
lt_status lt_resize(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, lt_interp interp);
lt_status lt_resize_naive(lt_tensor *out, const lt_tensor *in, lt_interp interp);

/* out (C, Ho, Wo)[y][x] = in[top + y][left + x], outside handled by the border rule.
 * Crops (inside) and pads (outside) in one kernel; any dtype. */
lt_status lt_crop_pad(const lt_context *ctx,
                      lt_tensor *out, const lt_tensor *in, int64_t top, int64_t left,
                      lt_border border, double fill);

/* Flips the last dim (horizontal != 0) or the row dim; any dtype. */
lt_status lt_flip_hw(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, int horizontal);
/* Rotates by k*90 degrees counter-clockwise (numpy.rot90 over H, W); k in 0..3; any dtype. */
lt_status lt_rot90(const lt_context *ctx, lt_tensor *out, const lt_tensor *in, int k);

/* Separable gaussian blur, kernel kx by ky (odd), sigmas as cv::getGaussianKernel
 * (sigmay <= 0: sigmax as OpenCV; sigma <= 0: derived from the size), border
 * reflect-101; sums in float, uint8 rounds. */
lt_status lt_gaussian_blur(const lt_context *ctx,
                           lt_tensor *out, const lt_tensor *in, int kx, int ky,
                           double sigmax, double sigmay);
lt_status lt_gaussian_blur_naive(lt_tensor *out, const lt_tensor *in, int kx, int ky,
                                 double sigmax, double sigmay);

/* out = in * alpha + beta (uint8: rounded, saturated; float32: not clipped). */
lt_status lt_pixel_affine(const lt_context *ctx,
                          lt_tensor *out, const lt_tensor *in, double alpha, double beta);
/* out = maxv * (in / maxv) ^ gamma (uint8 via a rounded table; float32 clamps below at 0). */
lt_status lt_pixel_gamma(const lt_context *ctx,
                         lt_tensor *out, const lt_tensor *in, double gamma, double maxv);
/* RGB (3, H, W): shift hue, add to saturation and value, as OpenCV HSV (uint8: H in
 * [0, 180), S and V in [0, 255], shifts rounded; float32: H in degrees, S and V in [0, 1]). */
lt_status lt_hsv_shift(const lt_context *ctx,
                       lt_tensor *out, const lt_tensor *in, double hue, double sat, double val);
/* out (float32, C, H, W) = (in - mean[c]) * (1 / std[c]). */
lt_status lt_normalize(const lt_context *ctx,
                       lt_tensor *out, const lt_tensor *in, const double *mean, const double *std);
/* out = in + noise; noise float32 (C, H, W) or (1, H, W) (shared by channels). uint8 saturates. */
lt_status lt_add_noise(const lt_context *ctx,
                       lt_tensor *out, const lt_tensor *in, const lt_tensor *noise);
/* Sets t[:, y0:y0+h, x0:x0+w] (clipped to t) to v, in place; any dtype. */
lt_status lt_fill_rect(lt_tensor *t, int64_t y0, int64_t x0, int64_t h, int64_t w, double v);

#endif
