/* lt_classic.h: classical (non-learned) segmentation kernels behind lunet.classic: connected
 * components, region properties, the exact Euclidean distance transform, marker watershed,
 * thresholds, gradient filters, Canny, morphology and k-means. Plain C, no Lua.
 *
 *   int64_t dims[3] = {1, h, w};                 // every image is D x H x W (D = 1 for 2-D)
 *   int32_t *ids = malloc(h * w * sizeof *ids);
 *   int64_t count;
 *   lt_status st = lt_classic_label(ids, &count, &mask, dims, 2);   // mask: an lt_tensor
 *
 * Images are contiguous, row-major, D x H x W with D = 1 for a 2-D image; a kernel that reads
 * an lt_tensor accepts uint8, int32 and float32 unless it says otherwise. Kernels allocate
 * their own temporaries (LT_ENOMEM) and check every size (LT_EOVERFLOW); none recurses.
 */
#ifndef LT_CLASSIC_H
#define LT_CLASSIC_H

#include <stdint.h>
#include "lt_core.h"

/* ---- connected components (lt_classic_label.c) ---- */
/* Labels the connected regions of equal nonzero value of in (D x H x W; dims[0] = 1 for 2-D):
 * out gets 0 for background and 1..count numbered in raster order of each region's first
 * pixel (scikit-image's measure.label numbering). connectivity 1 joins face neighbours, 2
 * also edge (2-D: corner) neighbours, 3 (3-D only) all 26. LT_EOVERFLOW when the image has
 * 2^31 or more pixels (ids are int32). */
lt_status lt_classic_label(int32_t *out, int64_t *count, const lt_tensor *in, const int64_t dims[3],
                           int connectivity);
/* The same by breadth-first flood fill from each unvisited pixel (the reference). */
lt_status lt_classic_label_naive(int32_t *out, int64_t *count, const lt_tensor *in,
                                 const int64_t dims[3], int connectivity);

/* Per-label statistics of an int32 label image (0 = background, ids 1..maxlabel): area[k],
 * bbox[k*6 + 0..2] the smallest (z, y, x), bbox[k*6 + 3..5] the largest, sum[k*3 + 0..2] the
 * coordinate sums; arrays sized maxlabel + 1 (index = label), zero-filled by the caller.
 * LT_EARG for a negative label or one above maxlabel. */
lt_status lt_classic_regionprops(int64_t *area, int64_t *bbox, double *sum, const int32_t *labels,
                                 const int64_t dims[3], int64_t maxlabel);

/* ---- Euclidean distance transform (lt_classic_edt.c) ---- */
/* dist[i] = Euclidean distance (with spacing[d] per axis, D x H x W order) from pixel i to the
 * nearest pixel where in is zero; 0 on zeros. Exact, linear time (Felzenszwalb-Huttenlocher
 * lower envelopes, one pass per axis). An image with no zero gets +inf everywhere. idx (may
 * be NULL) gets, for each pixel, the flat index of that nearest zero (-1 when there is none).
 * Uses up to lt_ctx_num_threads(ctx) threads. */
lt_status lt_classic_edt(lt_context *ctx, float *dist, int64_t *idx, const lt_tensor *in,
                         const int64_t dims[3], const double spacing[3]);
/* The brute-force O(N * zeros) reference: same outputs (idx: the first nearest zero in
 * raster order). */
lt_status lt_classic_edt_naive(float *dist, int64_t *idx, const lt_tensor *in, const int64_t dims[3],
                               const double spacing[3]);

/* ---- watershed (lt_classic_watershed.c) ---- */
/* Marker-based watershed by priority flood, as scikit-image's segmentation.watershed computes
 * it (the same binary heap ordered by elevation, then insertion age; neighbours visited in
 * scikit-image's order): out (int32, D x H x W) starts as a copy of markers (0 = unlabeled),
 * pixels where mask is 0 stay 0 (mask may be NULL), and every reachable pixel gets the id of
 * the basin that floods it. compactness > 0 gives the compact watershed (elevation plus
 * compactness times the distance to the marker's seed pixel). elev: float32 values. */
lt_status lt_classic_watershed(int32_t *out, const float *elev, const int32_t *markers,
                               const uint8_t *mask, const int64_t dims[3], int connectivity,
                               double compactness);
/* The reference: the same flood with a linear scan for the smallest (value, age) instead of a
 * heap; equal to the fast one whenever no two seeds with equal elevation compete. O(N^2). */
lt_status lt_classic_watershed_naive(int32_t *out, const float *elev, const int32_t *markers,
                                     const uint8_t *mask, const int64_t dims[3], int connectivity,
                                     double compactness);

/* The neighbour offsets (dz, dy, dx) of a connectivity in scikit-image's visiting order
 * (distance from the centre, then its argsort order); returns their count (<= 26).
 * 2-D images (dims[0] == 1) use the 2-D neighbourhoods. */
int lt_classic_neighbors(int off[26][3], int ndim, int connectivity);

#endif
