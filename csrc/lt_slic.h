/* lt_slic.h: SLIC superpixels (Achanta et al. 2012) as scikit-image 0.19 computes them
 * (skimage.segmentation.slic), and the scipy-style Gaussian filter the classical kernels
 * share. No Lua here.
 *
 *   lt_slic_opts o = lt_slic_defaults();          // n_segments 100, compactness 10, ...
 *   o.n_segments = 200;
 *   // labels: (H, W) int32; img: (3, H, W) or (H, W), uint8 or float32, contiguous
 *   if (lt_slic(ctx, &labels, &img, &o) != LT_OK) { ... }
 */
#ifndef LT_SLIC_H
#define LT_SLIC_H

#include "lt_core.h"

typedef struct {
    int64_t n_segments;       /* approximate number of superpixels (>= 1) */
    double compactness;       /* > 0: colour vs space balance */
    int64_t max_num_iter;     /* k-means iterations (>= 0) */
    double sigma;             /* Gaussian pre-smoothing (>= 0, 0 = none) */
    int start_label;          /* 0 or 1 */
    int enforce_connectivity; /* relabel disconnected pieces, merge small ones */
    int convert2lab;          /* -1: when C == 3; 0: never; 1: always (C must be 3) */
    double min_size_factor;   /* pieces below this fraction of the mean size are merged */
    double max_size_factor;   /* the flood fill stops at this multiple (scikit-image's cap) */
} lt_slic_opts;

lt_slic_opts lt_slic_defaults(void);

/* labels (H, W) int32 <- img (C, H, W) or (H, W), uint8 (/255) or float32, contiguous.
 * LT_EARG for invalid options (convert2lab = 1 with C != 3), LT_ENOMEM. The assignment step
 * runs row-parallel on the context's threads; lt_slic_naive is the same algorithm in
 * scikit-image's loop order (centre by centre, one thread), kept as the reference: both
 * give identical labels. */
lt_status lt_slic(lt_context *ctx, lt_tensor *labels, const lt_tensor *img, const lt_slic_opts *o);
lt_status lt_slic_naive(lt_context *ctx, lt_tensor *labels, const lt_tensor *img,
                        const lt_slic_opts *o);

/* In-place Gaussian filter of an interleaved (H, W, C) double image over H and W, as
 * scipy.ndimage.gaussian_filter(mode="reflect", truncate=4) with sigma (sy, sx, 0): radius
 * int(4 sigma + 0.5), weights exp(-x^2 / 2 sigma^2) normalised, symmetric pairs summed
 * first. A sigma of 0 skips that axis. LT_ENOMEM. */
lt_status lt_gaussian_hwc(double *img, int64_t h, int64_t w, int64_t c, double sy, double sx);

#endif
