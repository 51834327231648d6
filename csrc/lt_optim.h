/* lt_optim.h: optimizer updates over flat float32 buffers (no Lua).
 *
 *   lt_adam_params o = { .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8 };
 *   lt_adam_update(ctx, p, g, m, v, NULL, n, 7, &o);   // step 7 of one parameter
 *
 * lt_adam_update is PyTorch 1.13's single-tensor Adam / AdamW step for one parameter, the
 * same float32 operations in the same order as lunet.optim's Lua update (the reference the
 * specs compare with); lt_adam_update_naive is the plain loop of the same formulas.
 */
#ifndef LT_OPTIM_H
#define LT_OPTIM_H

#include <stdint.h>
#include "lt_core.h"

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int amsgrad;     /* vmax = max(vmax, v) and the denominator uses vmax */
    int maximize;    /* the gradient is negated */
    int decoupled;   /* AdamW: p *= 1 - lr * weight_decay instead of g += weight_decay * p */
} lt_adam_params;

/*   g' = (maximize ? -g : g) [+ weight_decay * p unless decoupled]
 *   m = beta1 * m + (1 - beta1) * g';  v = beta2 * v + (1 - beta2) * g' * g'
 *   p = p - lr / (1 - beta1^step) * m / (sqrt(v or vmax) / sqrt(1 - beta2^step) + eps)
 * step >= 1 (the count after this update); vmax may be NULL unless amsgrad. */
lt_status lt_adam_update(const lt_context *ctx,
                         float *p,                  // (n) updated in place
                         const float *g,            // (n)
                         float *m, float *v,        // (n), (n) exp_avg, exp_avg_sq
                         float *vmax,               // (n) max_exp_avg_sq, or NULL
                         int64_t n, int64_t step, const lt_adam_params *o);
lt_status lt_adam_update_naive(float *p, const float *g, float *m, float *v, float *vmax,
                               int64_t n, int64_t step, const lt_adam_params *o);

/* One parameter of a multi-tensor update: its buffers (as lt_adam_update's), length and step. */
typedef struct {
    float *p;
    const float *g;
    float *m, *v, *vmax;   /* vmax NULL unless amsgrad */
    int64_t n, step;
} lt_adam_tensor;

/* lt_adam_update of each of the count tensors, in ONE parallel region over their
 * concatenated elements (a model's many small tensors cost one fork, not one each, and the
 * threads share the big ones evenly). The same results as lt_adam_update tensor by tensor.
 * Checks every entry first (LT_EARG: n < 0, step < 1, amsgrad without vmax; LT_EOVERFLOW:
 * the total length) and then updates, so an error changes nothing. */
lt_status lt_adam_update_multi(const lt_context *ctx, const lt_adam_tensor *ts, int64_t count,
                               const lt_adam_params *o);

#endif
