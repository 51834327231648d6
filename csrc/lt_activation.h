/* lt_activation.h: pointwise activations, softmax / log_softmax over one dim and the
 * logits -> labels argmax (float32, contiguous buffers, no Lua).
 *
 *   // softmax over the channels of x (N, C, H, W): outer = N, D = C, inner = H * W
 *   lt_softmax_forward(ctx, y, x, N, C, H * W, 0);
 *   lt_softmax_backward(ctx, dx, dy, y, N, C, H * W, 0);   // dx += ..., zero it first
 *   lt_activation_backward(ctx, dx, dy, NULL, y, n, LT_ACT_RELU, 0);   // dx = ... (any dx)
 *
 * Softmax kernels see the tensor as (outer, D, inner) and reduce over D. The fast ones
 * work on blocks of the inner dim at once (for NCHW over C, rows of pixels stay
 * contiguous and vectorise); the naive ones reduce one (outer, inner) column at a time.
 * The softmax backward kernels ADD into dx; lt_activation_backward WRITES dx (every element,
 * so dx may be uninitialised). The fast kernels split the work over ctx's thread budget.
 */
#ifndef LT_ACTIVATION_H
#define LT_ACTIVATION_H

#include <stdint.h>
#include "lt_core.h"

typedef enum {
    LT_ACT_RELU = 0,
    LT_ACT_LEAKY_RELU,
    LT_ACT_SIGMOID,
    LT_ACT_TANH
} lt_act;

/* y = act(x); slope is used by LT_ACT_LEAKY_RELU only. */
lt_status lt_activation_forward(const lt_context *ctx,
                                float *y,                // (n)
                                const float *x,          // (n)
                                int64_t n, lt_act act, float slope);
/* dx = dy * act'(.) (written, not added): relu, sigmoid and tanh use the output y; leaky_relu uses x. */
lt_status lt_activation_backward(const lt_context *ctx,
                                 float *dx,              // (n)
                                 const float *dy,        // (n)
                                 const float *x,         // (n), leaky_relu only (else may be NULL)
                                 const float *y,         // (n), relu/sigmoid/tanh (else may be NULL)
                                 int64_t n, lt_act act, float slope);

/* is_log = 0: y = softmax(x) over D; is_log = 1: y = log_softmax(x). Numerically stable (the
 * max over D is subtracted first). */
lt_status lt_softmax_forward(const lt_context *ctx,
                             float *y,                   // (outer, D, inner)
                             const float *x,             // (outer, D, inner)
                             int64_t outer, int64_t D, int64_t inner, int is_log);
lt_status lt_softmax_forward_naive(float *y, const float *x, int64_t outer, int64_t D,
                                   int64_t inner, int is_log);
/* y is the forward output. softmax: dx += y * (dy - sum_D(dy * y));
 * log_softmax: dx += dy - exp(y) * sum_D(dy). */
lt_status lt_softmax_backward(const lt_context *ctx,
                              float *dx,                 // (outer, D, inner)
                              const float *dy,           // (outer, D, inner)
                              const float *y,            // (outer, D, inner)
                              int64_t outer, int64_t D, int64_t inner, int is_log);
lt_status lt_softmax_backward_naive(float *dx, const float *dy, const float *y,
                                    int64_t outer, int64_t D, int64_t inner, int is_log);

/* labels[o, i] = argmax over D of x[o, :, i] (0-based, first maximum wins, NaN skipped). */
lt_status lt_labels_forward(const lt_context *ctx,
                            int32_t *labels,             // (outer, inner)
                            const float *x,              // (outer, D, inner)
                            int64_t outer, int64_t D, int64_t inner);
lt_status lt_labels_forward_naive(int32_t *labels, const float *x, int64_t outer, int64_t D,
                                  int64_t inner);

#endif
