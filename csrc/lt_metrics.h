/* lt_metrics.h: evaluation kernels of lunet.metrics, plain C (no Lua): confusion-matrix
 * counting, exact Euclidean distance transform, 4-connected boundaries, Hausdorff/HD95,
 * saliency measures (MAE, F, S, E) and one-to-one instance matching.
 *
 *   int64_t cm[3 * 3] = {0};
 *   lt_label_fault fault;
 *   // target (2, 64, 64) int32 labels 0..2 or 255; pred same shape int32/uint8
 *   if (lt_confusion_forward(ctx, cm, &pred, &target, 3, 1, 255, 0, &fault) == LT_EINDEX) {
 *       // fault.value is the first label outside 0..2 (fault.in_pred says where)
 *   }
 *   double hd95[2];
 *   lt_hausdorff_forward(ctx, hd95, &pred_mask, &target_mask, 1.0, 1.0, 95.0);
 *
 * Counts are int64; distances and scores are double. Masks and label maps are int32 or
 * uint8 tensors, contiguous (the binding makes them so); mask pixels are "on" when nonzero.
 * Kernels return an lt_status, never print or abort. Every optimised kernel has a naive
 * twin (suffix _naive) that the specs compare it against.
 */
#ifndef LT_METRICS_H
#define LT_METRICS_H

#include <stdint.h>
#include "lt_core.h"

/* The first label outside 0..C-1 (and not the ignore value), for a precise error. */
typedef struct lt_label_fault {
    int64_t value;     /* the offending label */
    int64_t index;     /* flat element index in target (pixel index) */
    int in_pred;       /* 1: found in pred, 0: found in target */
} lt_label_fault;

/* ---- confusion matrix ----
 * cm (nimg, C, C) += counts, row = target class, column = predicted class.
 * target: labels (N, H, W) or (H, W), int32/uint8, contiguous.
 * pred:   labels with target's shape (int32/uint8), or float32 logits (N, C, H, W) /
 *         (C, H, W) whose argmax over the class dim (first maximum wins) is the label.
 * per_image: nimg = N (1 for an H x W target), else nimg = 1 (everything summed).
 * Pixels whose target equals ignore_index (when has_ignore) are skipped entirely.
 * Returns LT_EINDEX with *fault filled (cm untouched) on a label outside 0..C-1. */
lt_status lt_confusion_forward(const lt_context *ctx,
                               int64_t *cm, const lt_tensor *pred, const lt_tensor *target,
                               int num_classes, int has_ignore, int64_t ignore_index,
                               int per_image, lt_label_fault *fault);
lt_status lt_confusion_forward_naive(int64_t *cm, const lt_tensor *pred, const lt_tensor *target,
                                     int num_classes, int has_ignore, int64_t ignore_index,
                                     int per_image, lt_label_fault *fault);

/* ---- distance transform ----
 * out (H, W): squared Euclidean distance from each pixel to the nearest seed pixel,
 * with pixel spacing (sy, sx); +inf everywhere when there is no seed. seed (H, W): 0/1.
 * Felzenszwalb & Huttenlocher (2012) lower envelope of parabolas, columns then rows:
 * exact, O(H W). */
lt_status lt_edt_sq(const lt_context *ctx,
                    double *out, const uint8_t *seed, int64_t H, int64_t W, double sy, double sx);
lt_status lt_edt_sq_naive(double *out, const uint8_t *seed, int64_t H, int64_t W,
                          double sy, double sx);

/* out (H, W) = mask & ~erode4(mask): on pixels with a 4-neighbour off; pixels outside the
 * image count as off (scipy.ndimage.binary_erosion with border_value=0). */
void lt_boundary4(uint8_t *out, const uint8_t *mask, int64_t H, int64_t W);

/* ---- Hausdorff ----
 * out (nimg): symmetric Hausdorff distance between the boundaries of pred and target
 * masks (N, H, W) or (H, W) (int32/uint8, nonzero = on). percentile < 0: the larger of the
 * two directed maxima; else the larger of the two directed percentiles (numpy "linear"
 * interpolation, as MONAI). One boundary empty: +inf; both empty: NaN. */
lt_status lt_hausdorff_forward(const lt_context *ctx,
                               double *out, const lt_tensor *pred, const lt_tensor *target,
                               double sy, double sx, double percentile);
/* Same result by brute force over all boundary pairs (for the specs). */
lt_status lt_hausdorff_forward_naive(double *out, const lt_tensor *pred, const lt_tensor *target,
                                     double sy, double sx, double percentile);

/* ---- volumes and surface distances ----
 * out (D, H, W): squared Euclidean distance to the nearest seed voxel with spacing (sd, sh,
 * sw), +inf without seeds; separable exact EDT (one lower envelope pass per axis). */
lt_status lt_edt3_sq(const lt_context *ctx, double *out, const uint8_t *seed, int64_t D, int64_t H,
                     int64_t W, double sd, double sh, double sw);
lt_status lt_edt3_sq_naive(double *out, const uint8_t *seed, int64_t D, int64_t H, int64_t W,
                           double sd, double sh, double sw);
/* out (D, H, W) = mask & ~erode6(mask) (voxels outside the volume are off). */
void lt_boundary6(uint8_t *out, const uint8_t *mask, int64_t D, int64_t H, int64_t W);
/* Boundary distances between pred and target masks (int32/uint8, nonzero = on, same shape):
 * vol = 1: (D, H, W) or (N, D, H, W) with 6-connected boundaries and spacing {sd, sh, sw};
 * vol = 0: (H, W) or (N, H, W) with 4-connected boundaries and spacing {-, sh, sw}. For each
 * item: hd (may be NULL) as lt_hausdorff_forward (percentile < 0: maximum), nsd (may be NULL)
 * the normalized surface distance (MONAI compute_surface_dice): boundary voxels of either
 * mask within `tolerance` of the other boundary over all boundary voxels; one boundary empty:
 * hd +inf, nsd 0; both empty: NaN. */
lt_status lt_surface_forward(const lt_context *ctx, double *hd, double *nsd, const lt_tensor *pred,
                             const lt_tensor *target, int vol, const double spacing[3],
                             double percentile, double tolerance);
lt_status lt_surface_forward_naive(double *hd, double *nsd, const lt_tensor *pred,
                                   const lt_tensor *target, int vol, const double spacing[3],
                                   double percentile, double tolerance);

/* ---- saliency (one map: sal (n) float32 in [0, 1], mask (n) int32/uint8 nonzero = fg) ---- */
double lt_sal_mae(const float *sal, const lt_tensor *mask, int64_t off, int64_t n);
/* adaptive F at threshold min(2 mean(sal), 1) (sal >= thr is fg) and max F over the 256
 * thresholds of floor(255 sal) >= t; curve (256, may be NULL) gets F for t = 255..0. */
void lt_sal_fmeasure(double *adaptive, double *maxf, double *curve, const float *sal,
                     const lt_tensor *mask, int64_t off, int64_t n, double beta2);
/* S-measure (Fan et al. ICCV 2017) of an (H, W) map, PySODMetrics conventions. */
double lt_sal_smeasure(const float *sal, const lt_tensor *mask, int64_t off, int64_t H, int64_t W,
                       double alpha);
/* E-measure (Fan et al. IJCAI 2018): adaptive (threshold min(2 mean, 1)), mean and max over
 * the 256 thresholds of floor(255 sal) >= t, PySODMetrics conventions. */
void lt_sal_emeasure(double *adaptive, double *mean, double *maxe, const float *sal,
                     const lt_tensor *mask, int64_t off, int64_t n);

/* ---- instances ----
 * pred_ids, gt_ids (n) int32/uint8 at element offset off: 0 = background, other values are
 * instance ids (any positive value, not necessarily consecutive). For each threshold t,
 * one-to-one greedy matching by decreasing IoU among pairs with IoU >= t (ties: lower pred
 * id, then lower gt id) gives tp[k], fp[k] (unmatched predictions), fn[k] (unmatched
 * ground truth) and iou_sum[k] (sum of matched IoUs). For t > 0.5 greedy equals every
 * other one-to-one matching because each object has at most one partner with IoU > 0.5.
 * LT_EINDEX when an id is negative; LT_ENOMEM on allocation failure. */
lt_status lt_match_instances(int64_t *tp, int64_t *fp, int64_t *fn, double *iou_sum,
                             const lt_tensor *pred_ids, const lt_tensor *gt_ids, int64_t off,
                             int64_t n, const double *thresholds, int nthr);
/* Same counts from a dense IoU table and an O(P G) scan per match (for the specs). */
lt_status lt_match_instances_naive(int64_t *tp, int64_t *fp, int64_t *fn, double *iou_sum,
                                   const lt_tensor *pred_ids, const lt_tensor *gt_ids, int64_t off,
                                   int64_t n, const double *thresholds, int nthr);

#endif
