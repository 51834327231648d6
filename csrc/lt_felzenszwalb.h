/* lt_felzenszwalb.h: Felzenszwalb & Huttenlocher's graph-based segmentation (IJCV 2004) as
 * scikit-image 0.19 computes it (skimage.segmentation.felzenszwalb). No Lua here.
 *
 *   lt_felzenszwalb_opts o = {1.0, 0.8, 20};   // scale, sigma, min_size
 *   int64_t count;
 *   // labels (H, W) int32 <- img (C, H, W) or (H, W), uint8 or float32, contiguous
 *   if (lt_felzenszwalb(ctx, &labels, &img, &o, &count) != LT_OK) { ... }
 */
#ifndef LT_FELZENSZWALB_H
#define LT_FELZENSZWALB_H

#include "lt_core.h"

typedef struct {
    double scale;       /* > 0: larger gives larger segments (on the 0..255 scale) */
    double sigma;       /* >= 0: Gaussian pre-smoothing */
    int64_t min_size;   /* >= 0: segments below this are merged in a second pass */
} lt_felzenszwalb_opts;

/* labels 0..count-1 numbered in raster order of each segment's first pixel (scikit-image's
 * numbering). The 8-neighbour edges are sorted by a stable LSD radix sort on the cost's
 * bits (ties keep scikit-image's edge order: right, down, down-right, up-right); the merges
 * run on a union-find whose roots are the smallest pixel index. lt_felzenszwalb_naive sorts
 * with qsort on (cost, edge index) and is the reference: both give identical labels.
 * LT_EARG, LT_EOVERFLOW (more than 2^32 - 1 edges), LT_ENOMEM. */
lt_status lt_felzenszwalb(lt_context *ctx, lt_tensor *labels, const lt_tensor *img,
                          const lt_felzenszwalb_opts *o, int64_t *count);
lt_status lt_felzenszwalb_naive(lt_context *ctx, lt_tensor *labels, const lt_tensor *img,
                                const lt_felzenszwalb_opts *o, int64_t *count);

#endif
