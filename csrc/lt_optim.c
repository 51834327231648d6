/* lt_optim.c: the fused Adam / AdamW update (see lt_optim.h). One pass over p, g, m, v
 * (and vmax) instead of the seven tensor operations of the Lua update, with the same
 * float32 roundings: every scalar is rounded to float as the tensor methods round theirs. */
#include "lt_optim.h"
#include "lt_isa.h"

#include <math.h>

/* Below this many elements the update runs on one thread: forking costs more. */
#define LT_OPTIM_PAR_MIN 65536

typedef struct {
    float decay, wd, b1, omb1, b2, omb2, sqbc2, eps, neg_step;
    int wd_on, amsgrad, maximize, decoupled;
} adam_consts;

static int adam_consts_of(const lt_adam_params *o, int64_t step, adam_consts *k) {
    if (!o || step < 1) return 0;
    const double bc1 = 1.0 - pow(o->beta1, (double)step);
    const double bc2 = 1.0 - pow(o->beta2, (double)step);
    k->decay = (float)(1.0 - o->lr * o->weight_decay);
    k->wd = (float)o->weight_decay;
    k->b1 = (float)o->beta1;
    k->omb1 = (float)(1.0 - o->beta1);
    k->b2 = (float)o->beta2;
    k->omb2 = (float)(1.0 - o->beta2);
    k->sqbc2 = (float)sqrt(bc2);
    k->eps = (float)o->eps;
    k->neg_step = (float)-(o->lr / bc1);
    k->wd_on = o->weight_decay != 0.0;
    k->amsgrad = o->amsgrad;
    k->maximize = o->maximize;
    k->decoupled = o->decoupled;
    return 1;
}

/* One element: the Lua update's operations in its order (grad:neg, p:mul_ or grad:add_(p,
 * wd), m:mul_(b1):add_(g, 1 - b1), v:mul_(b2):addcmul_(g, g, 1 - b2), vmax:maximum(v),
 * sqrt(.):div_(sqrt(bc2)):add_(eps), p:addcdiv_(m, denom, -step_size)). */
static inline void adam_elem(float *p, const float *g, float *m, float *v, float *vmax,
                             int64_t i, const adam_consts *k) {
    float gi = g[i];
    if (k->maximize) gi = -gi;
    float pi = p[i];
    if (k->decoupled)
        pi = pi * k->decay;
    else if (k->wd_on)
        gi = gi + k->wd * pi;
    float mi = m[i] * k->b1;
    mi = mi + k->omb1 * gi;
    float vi = v[i] * k->b2;
    vi = vi + k->omb2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float d = vi;
    if (k->amsgrad) {
        const float w = vmax[i];
        d = (w > vi || w != w) ? w : vi;   /* NaN propagates, as maximum */
        vmax[i] = d;
    }
    const float denom = sqrtf(d) / k->sqbc2 + k->eps;
    p[i] = pi + k->neg_step * mi / denom;
}

static inline LT_ISA_INLINE void adam_range_body(float *p, const float *g, float *m, float *v,
                                                 float *vmax, int64_t lo, int64_t hi,
                                                 const adam_consts *k) {
    for (int64_t i = lo; i < hi; i++) adam_elem(p, g, m, v, vmax, i, k);
}
LT_ISA_VARIANTS(adam_range,
                (float *p, const float *g, float *m, float *v, float *vmax, int64_t lo,
                 int64_t hi, const adam_consts *k),
                (p, g, m, v, vmax, lo, hi, k))

lt_status lt_adam_update(const lt_context *ctx, float *p, const float *g, float *m, float *v,
                         float *vmax, int64_t n, int64_t step, const lt_adam_params *o) {
    adam_consts k;
    if (n < 0 || !adam_consts_of(o, step, &k) || (o->amsgrad && !vmax)) return LT_EARG;
    if (n == 0) return LT_OK;
    const int isa = lt_ctx_isa(ctx);
    const int nt = n >= LT_OPTIM_PAR_MIN ? lt_ctx_num_threads(ctx) : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo, hi;
        lt_isa_chunk(n, t, nt, &lo, &hi);
        if (hi > lo) adam_range_isa[isa](p, g, m, v, vmax, lo, hi, &k);
    }
    return LT_OK;
}

lt_status lt_adam_update_naive(float *p, const float *g, float *m, float *v, float *vmax,
                               int64_t n, int64_t step, const lt_adam_params *o) {
    if (n < 0 || !o || step < 1 || (o->amsgrad && !vmax)) return LT_EARG;
    const double bc1 = 1.0 - pow(o->beta1, (double)step);
    const double bc2 = 1.0 - pow(o->beta2, (double)step);
    for (int64_t i = 0; i < n; i++) {
        float gi = o->maximize ? -g[i] : g[i];
        if (o->decoupled)
            p[i] = p[i] * (float)(1.0 - o->lr * o->weight_decay);
        else if (o->weight_decay != 0.0)
            gi = gi + (float)o->weight_decay * p[i];
        m[i] = m[i] * (float)o->beta1 + (float)(1.0 - o->beta1) * gi;
        v[i] = v[i] * (float)o->beta2 + (float)(1.0 - o->beta2) * gi * gi;
        float d = v[i];
        if (o->amsgrad) {
            if (!(vmax[i] > d || vmax[i] != vmax[i])) vmax[i] = d;
            d = vmax[i];
        }
        const float denom = sqrtf(d) / (float)sqrt(bc2) + (float)o->eps;
        p[i] = p[i] + (float)-(o->lr / bc1) * m[i] / denom;
    }
    return LT_OK;
}
