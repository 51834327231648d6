/* lt_loss.h: loss kernels for segmentation (plain C, no Lua): fused cross-entropy over
 * (N, C, S) logits with class weights, ignore_index and label smoothing; binary
 * cross-entropy with logits; a channel log-softmax; one-hot encoding; Lovasz weights.
 *
 *   // logits (2, 3, 16) = N, C, H*W; target (2, 16) int32 class ids in 0..2 or 255
 *   lt_ce_opts o = { 255, 1, 0.1f, LT_LOSS_MEAN };
 *   float loss;
 *   if (lt_cross_entropy_forward(ctx, &loss, logits, target, NULL, 2, 3, 16, &o) != LT_OK) { ... }
 *   memset(dlogits, 0, sizeof(float) * 2 * 3 * 16);
 *   float one = 1.0f;
 *   lt_cross_entropy_backward(ctx, dlogits, &one, logits, target, NULL, 2, 3, 16, &o);
 *
 * Every kernel takes contiguous buffers; (N, C, S) means N images, C classes, S pixels
 * (H*W or any flattened trailing dims). Backward kernels ADD into gradient buffers.
 */
#ifndef LT_LOSS_H
#define LT_LOSS_H

#include <stdint.h>
#include "lt_core.h"

typedef enum { LT_LOSS_NONE = 0, LT_LOSS_MEAN = 1, LT_LOSS_SUM = 2 } lt_loss_reduction;

typedef struct {
    int64_t ignore_index;        /* label value that contributes nothing */
    int has_ignore;              /* 0: every label must be in 0..C-1 */
    float label_smoothing;       /* in [0, 1] */
    lt_loss_reduction reduction;
} lt_ce_opts;

/* First position (flat index) of a label outside 0..C-1 that is not the ignore value,
 * or -1 when all labels are valid. */
int64_t lt_loss_find_bad_label(const int32_t *target, int64_t n, int64_t C,
                               int64_t ignore_index, int has_ignore);

/* Cross-entropy as PyTorch: per pixel
 *   l = (1-eps) * w[y] * (lse - z_y) + eps/C * sum_c w[c] * (lse - z_c),   0 if ignored;
 * "mean" divides the sum by the sum of w[y] over non-ignored pixels (NaN when there are
 * none, as PyTorch), "sum" sums, "none" writes one value per pixel.
 * out: (N, S) for LT_LOSS_NONE, else (1). Labels must be valid (lt_loss_find_bad_label). */
lt_status lt_cross_entropy_forward(const lt_context *ctx,
                                   float *out, const float *logits /* (N, C, S) */,
                                   const int32_t *target /* (N, S) */,
                                   const float *weight /* (C) or NULL */,
                                   int64_t N, int64_t C, int64_t S, const lt_ce_opts *o);
/* dlogits += dl/dlogits * dout; dout: (N, S) for LT_LOSS_NONE, else (1). */
lt_status lt_cross_entropy_backward(const lt_context *ctx,
                                    float *dlogits /* (N, C, S) */, const float *dout,
                                    const float *logits /* (N, C, S) */,
                                    const int32_t *target /* (N, S) */,
                                    const float *weight /* (C) or NULL */,
                                    int64_t N, int64_t C, int64_t S, const lt_ce_opts *o);
/* Forward and backward in one pass (reduction MEAN or SUM only, else LT_EARG): out (1) the
 * loss as lt_cross_entropy_forward, grad (N, C, S) = dl/dlogits for dout = 1, overwritten
 * (not added to): each logit is exponentiated once. */
lt_status lt_cross_entropy_forward_grad(const lt_context *ctx,
                                        float *out, float *grad /* (N, C, S) */,
                                        const float *logits /* (N, C, S) */,
                                        const int32_t *target /* (N, S) */,
                                        const float *weight /* (C) or NULL */,
                                        int64_t N, int64_t C, int64_t S, const lt_ce_opts *o);
/* Reference versions: one pixel at a time, in double. */
lt_status lt_cross_entropy_forward_naive(float *out, const float *logits, const int32_t *target,
                                         const float *weight, int64_t N, int64_t C, int64_t S,
                                         const lt_ce_opts *o);
lt_status lt_cross_entropy_backward_naive(float *dlogits, const float *dout, const float *logits,
                                          const int32_t *target, const float *weight,
                                          int64_t N, int64_t C, int64_t S, const lt_ce_opts *o);

/* Binary cross-entropy with logits, elementwise over n values:
 *   l = w * [ (1-t) x + (1 + (pw-1) t) softplus(-x) ]
 * pw, w: n values each (already broadcast) or NULL (= 1). out: (n). */
lt_status lt_bce_logits_forward(const lt_context *ctx,
                                float *out, const float *x, const float *t, const float *pw,
                                const float *w, int64_t n);
/* dx += dout * w * [ (1-t) - (1 + (pw-1) t) sigmoid(-x) ] */
lt_status lt_bce_logits_backward(const lt_context *ctx,
                                 float *dx, const float *dout, const float *x, const float *t,
                                 const float *pw, const float *w, int64_t n);

/* log-softmax over the C axis of (N, C, S). */
lt_status lt_loss_log_softmax_forward(const lt_context *ctx,
                                      float *out /* (N, C, S) */, const float *in /* (N, C, S) */,
                                      int64_t N, int64_t C, int64_t S);
/* din += dout - exp(out) * sum_c dout */
lt_status lt_loss_log_softmax_backward(const lt_context *ctx,
                                       float *din /* (N, C, S) */, const float *dout,
                                       const float *out, int64_t N, int64_t C, int64_t S);

/* out (N, C, S) = 1 where target == c (0 for ignored pixels); valid (N, S) or NULL
 * receives 1 for non-ignored pixels. Labels must be valid. */
lt_status lt_one_hot(float *out, float *valid, const int32_t *target /* (N, S) */,
                     int64_t N, int64_t C, int64_t S, int64_t ignore_index, int has_ignore);

/* Lovasz-softmax (Berman et al., as segmentation_models_pytorch): err (N, C, S) holds
 * |fg_c - p_c|; G receives constant weights such that loss = sum(G * err): for every
 * class present among the non-ignored pixels of a group (the whole batch, or one image
 * when per_image), the Lovasz gradient of the sorted errors, divided by the number of
 * present classes (and by N when per_image). Returns LT_ENOMEM on failure. */
lt_status lt_lovasz_softmax_weights(float *G /* (N, C, S) */, const float *err /* (N, C, S) */,
                                    const int32_t *target /* (N, S) */, int64_t N, int64_t C,
                                    int64_t S, int64_t ignore_index, int has_ignore,
                                    int per_image);
/* Lovasz-hinge: err (N, S) = 1 - x * (2 y - 1), labels (N, S) in {0, 1} (or the ignore
 * value); loss = sum(G * relu(err)). */
lt_status lt_lovasz_hinge_weights(float *G /* (N, S) */, const float *err /* (N, S) */,
                                  const float *labels /* (N, S) */, int64_t N, int64_t S,
                                  float ignore_value, int has_ignore, int per_image);

#endif
