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
 * their own temporaries (LT_ENOMEM) and check every size (LT_EOVERFLOW); none recurses over
 * pixels (the only recursion, numpy's pairwise sum of a Gaussian kernel, is log-deep).
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
 * 2^31 or more pixels (ids are int32). 2-D images go by runs (unions between touching runs
 * of consecutive rows), volumes by pixels (union-find over the earlier neighbours). */
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
/* The general path, which the compact watershed takes: scikit-image's heap item by item (32-byte
 * items with the seed pixel, coordinates and bounds tests). The plain watershed's fast path
 * (padded flat offsets, packed integer keys) must equal it exactly, ties included. */
lt_status lt_classic_watershed_general(int32_t *out, const float *elev, const int32_t *markers,
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

/* ---- thresholds (lt_classic_threshold.c) ---- */
/* scikit-image's histogram of an image (exposure.histogram, source_range 'image'): integer
 * dtype (uint8) counts every integer from min to max (*nbins = max - min + 1, centers
 * the integers), float32 uses nbins equal bins over [min, max] as numpy.histogram (float32 edges
 * and centers). counts (int64) and centers (double) must hold *nbins entries: call with
 * counts = NULL first to get *nbins. LT_EARG for NaN/inf values in a float image. */
lt_status lt_classic_histogram(int64_t *counts, double *centers, int64_t *nbins, const lt_tensor *img);
/* Otsu's threshold (filters.threshold_otsu with nbins = 256): the bin center maximising the
 * between-class variance; a constant image gives its value. */
lt_status lt_classic_otsu(double *thresh, const lt_tensor *img, int64_t nbins);
/* Multi-Otsu (filters.threshold_multiotsu): classes - 1 thresholds into thresh, by the same
 * float32 exhaustive search (its lookup-table variant); LT_EARG when the image has fewer than
 * `classes` distinct values, LT_ERANGE when the search would visit more than 2^31 tuples
 * (C(bins - 1, classes - 1)). */
lt_status lt_classic_multiotsu(double *thresh, const lt_tensor *img, int classes, int64_t nbins);
/* Local mean and standard deviation over a wy x wx window (odd sizes) with reflected borders,
 * as scikit-image's _mean_std, then the Niblack (m - k s) or Sauvola (m (1 + k (s / r - 1)))
 * threshold image into out. sauvola selects the formula. */
lt_status lt_classic_local_threshold(float *out, const lt_tensor *img, int64_t wy, int64_t wx, double k,
                                     double r, int sauvola);

/* The reference: direct window sums in double (no integral images); equal to the fast one up to
 * rounding. */
lt_status lt_classic_local_threshold_naive(float *out, const lt_tensor *img, int64_t wy, int64_t wx,
                                           double k, double r, int sauvola);

/* ---- edge filters (lt_classic_filters.c) ---- */
typedef enum { LT_EDGE_SOBEL, LT_EDGE_SCHARR, LT_EDGE_PREWITT } lt_edge_kind;
/* skimage.filters.sobel / scharr / prewitt on an H x W image (uint8 scaled to [0, 1] as
 * img_as_float, float32 as is): the gradient magnitude
 * sqrt((gy^2 + gx^2) / 2) (axis = -1) or the signed response along axis 0 or 1, with reflected
 * borders (scipy 'reflect'). mask (may be NULL): the result is zeroed outside the mask eroded by
 * a 3 x 3 square (pixels outside the image count as outside the mask). */
lt_status lt_classic_edges(lt_context *ctx, float *out, const lt_tensor *img, const uint8_t *mask,
                           lt_edge_kind kind, int axis);
/* skimage.filters.laplace (ksize 3): convolution with [[0,-1,0],[-1,4,-1],[0,-1,0]], reflected
 * borders, the same mask rule. */
lt_status lt_classic_laplace(lt_context *ctx, float *out, const lt_tensor *img, const uint8_t *mask);
/* skimage.feature.canny: Gaussian smoothing (sigma, zero borders, normalised by the smoothed
 * mask), Sobel gradients, non-maximum suppression with interpolation, hysteresis between the
 * low and high thresholds (on the image scaled as img_as_float; use_quantiles: thresholds are
 * quantiles of the gradient magnitude) by 8-connected components. out: 0/1. The smoothing and
 * gradients run on up to lt_ctx_num_threads(ctx) threads (ctx may be NULL: one). */
lt_status lt_classic_canny(lt_context *ctx, uint8_t *out, const lt_tensor *img, const uint8_t *mask,
                           double sigma, double low, double high, int use_quantiles);
/* The image as double in scikit-image's img_as_float scale (uint8 / 255, float32 as
 * is; these kernels take uint8 or float32 images) into out (H * W). */
lt_status lt_classic_as_float(double *out, const lt_tensor *img);

/* ---- morphology (lt_classic_morph.c) ---- */
/* Erosion (dilate = 0) or dilation (dilate = 1) of a D x H x W float32 volume (D = 1 for 2-D)
 * by a footprint fp (fdims, every size odd, centred; nonzero = member):
 *   gray (binary = 0), as skimage.morphology.erosion / dilation: out[p] = min (max) of in[p + o]
 *     over the footprint offsets o, reflected borders (scipy 'reflect');
 *   binary (binary = 1, in holds 0/1), as skimage.morphology.binary_erosion / binary_dilation
 *     (scipy's): erosion = min of in[p + o] with the outside counting as 1, dilation = max of
 *     in[p - o] (the reflected footprint) with the outside counting as 0.
 * An empty footprint gives +inf (erosion) / -inf (dilation) in gray mode, 1 / 0 in binary mode.
 * Each footprint row is split into runs; each distinct run length is one sliding min/max pass
 * (van Herk / Gil-Werman, 3 comparisons per pixel), so a disk of radius r costs O(N r). */
lt_status lt_classic_morph(float *out, const float *in, const int64_t dims[3], const uint8_t *fp,
                           const int64_t fdims[3], int dilate, int binary);
/* The same on uint8 0/1 images, binary mode only (LT_EDTYPE otherwise): 4x less memory
 * traffic than float32 for masks. */
lt_status lt_classic_morph_u8(uint8_t *out, const uint8_t *in, const int64_t dims[3], const uint8_t *fp,
                              const int64_t fdims[3], int dilate, int binary);
/* The direct O(N |footprint|) reference. */
lt_status lt_classic_morph_naive(float *out, const float *in, const int64_t dims[3], const uint8_t *fp,
                                 const int64_t fdims[3], int dilate, int binary);

/* ---- k-means (lt_classic_kmeans.c) ---- */
/* Lloyd's k-means on n points of f float32 features (x: n x f, row-major) into k clusters:
 * k-means++ seeding (greedy, 2 + floor(ln k) candidates per step, as scikit-learn) from a
 * splitmix64 stream of seed, at most iters iterations, stopping when the total squared center
 * shift is <= tol times the mean per-feature variance (scikit-learn's rule); n_init restarts
 * (seeds seed, seed + 1, ...) keep the lowest inertia. An emptied cluster takes the point
 * farthest from its center. labels: 0..k-1 (int32); centers: k x f; *inertia the sum of squared
 * distances; *n_iter the iterations of the kept run. LT_EARG for k < 1, k > n, or a non-finite
 * value in x. Squared distances in float32 (features transposed to columns, vectorised);
 * assignment runs on up to lt_ctx_num_threads(ctx) threads (deterministic). */
lt_status lt_classic_kmeans(lt_context *ctx, int32_t *labels, float *centers, double *inertia,
                            int64_t *n_iter, const float *x, int64_t n, int64_t f, int64_t k,
                            uint64_t seed, int64_t iters, double tol, int64_t n_init);
