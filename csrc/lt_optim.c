/* lt_optim.c: the fused Adam / AdamW update (see lt_optim.h). One pass over p, g, m, v
 * (and vmax) instead of the seven tensor operations of the Lua update, with the same
 * float32 roundings: every scalar is rounded to float as the tensor methods round theirs. */
#include "lt_optim.h"
#include "lt_isa.h"

#include <math.h>
#if defined(__SSE__)
#include <immintrin.h>
#endif

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

/* Square roots of buf[0, n) in place, correctly rounded as sqrtf. sqrtf itself does not
 * vectorise (it may set errno); the SSE instruction is the same IEEE square root. */
static inline __attribute__((always_inline)) void sqrt_buf(float *buf, int64_t n) {
    int64_t i = 0;
#if defined(__SSE__)
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(buf + i, _mm_sqrt_ps(_mm_loadu_ps(buf + i)));
#endif
    for (; i < n; i++) buf[i] = sqrtf(buf[i]);
}

/* The Lua update's operations in its order (grad:neg, p:mul_ or grad:add_(p, wd),
 * m:mul_(b1):add_(g, 1 - b1), v:mul_(b2):addcmul_(g, g, 1 - b2), vmax:maximum(v),
 * sqrt(.):div_(sqrt(bc2)):add_(eps), p:addcdiv_(m, denom, -step_size)) over [lo, hi), in
 * chunks of ADAM_CHUNK: the moments first, the square roots, then the parameters.
 * sgn (1 or -1: maximize) and decay (1 unless decoupled) multiply exactly; wd_on and amsgrad
 * are constants at each call site below, so the loops are branch-free vector loops. */
#define ADAM_CHUNK 512
static inline __attribute__((always_inline)) void
adam_loop(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
          float *restrict vmax, int64_t lo, int64_t hi, const adam_consts *k, int wd_on,
          int amsgrad) {
    const float sgn = k->maximize ? -1.0f : 1.0f, decay = k->decoupled ? k->decay : 1.0f;
    const float wd = k->wd, b1 = k->b1, omb1 = k->omb1, b2 = k->b2, omb2 = k->omb2;
    const float sqbc2 = k->sqbc2, eps = k->eps, neg_step = k->neg_step;
    float buf[ADAM_CHUNK];
    for (int64_t c0 = lo; c0 < hi; c0 += ADAM_CHUNK) {
        const int64_t n = hi - c0 < ADAM_CHUNK ? hi - c0 : ADAM_CHUNK;
        float *restrict pc = p + c0, *restrict mc = m + c0, *restrict vc = v + c0;
        const float *restrict gc = g + c0;
        float *restrict wc = amsgrad ? vmax + c0 : NULL;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float gi = gc[i] * sgn;
            if (wd_on) gi = gi + wd * (pc[i] * decay);
            float mi = mc[i] * b1;
            mi = mi + omb1 * gi;
            float vi = vc[i] * b2;
            vi = vi + omb2 * gi * gi;
            mc[i] = mi;
            vc[i] = vi;
            float d = vi;
            if (amsgrad) {
                const float w = wc[i];
                d = (w > vi || w != w) ? w : vi;   /* NaN propagates, as maximum */
                wc[i] = d;
            }
            buf[i] = d;
        }
        sqrt_buf(buf, n);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float denom = buf[i] / sqbc2 + eps;
            pc[i] = pc[i] * decay + neg_step * mc[i] / denom;
        }
    }
}

static inline LT_ISA_INLINE void adam_range_body(float *p, const float *g, float *m, float *v,
                                                 float *vmax, int64_t lo, int64_t hi,
                                                 const adam_consts *k) {
    /* weight decay is added to the gradient only in Adam (AdamW decays p through decay) */
    const int wd_on = k->wd_on && !k->decoupled;
    if (wd_on) {
        if (k->amsgrad) adam_loop(p, g, m, v, vmax, lo, hi, k, 1, 1);
        else adam_loop(p, g, m, v, vmax, lo, hi, k, 1, 0);
    } else {
        if (k->amsgrad) adam_loop(p, g, m, v, vmax, lo, hi, k, 0, 1);
        else adam_loop(p, g, m, v, vmax, lo, hi, k, 0, 0);
    }
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

lt_status lt_adam_update_multi(const lt_context *ctx, const lt_adam_tensor *ts, int64_t count,
                               const lt_adam_params *o) {
    if (count < 0 || (count > 0 && !ts) || !o) return LT_EARG;
    int64_t total = 0;
    for (int64_t k = 0; k < count; k++) {
        if (ts[k].n < 0 || ts[k].step < 1 || (o->amsgrad && !ts[k].vmax)) return LT_EARG;
        if (lt_add_ovf(total, ts[k].n, &total)) return LT_EOVERFLOW;
    }
    if (total == 0) return LT_OK;
    const int isa = lt_ctx_isa(ctx);
    const int nt = total >= LT_OPTIM_PAR_MIN ? lt_ctx_num_threads(ctx) : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        int64_t lo, hi;   /* this thread's range of the concatenated elements */
        lt_isa_chunk(total, t, nt, &lo, &hi);
        int64_t off = 0;   /* first element of tensor k in the concatenation */
        for (int64_t k = 0; k < count && off < hi; off += ts[k].n, k++) {
            const int64_t a = lo > off ? lo - off : 0;
            const int64_t b = hi - off < ts[k].n ? hi - off : ts[k].n;
            if (b <= a) continue;
            adam_consts kc;
            adam_consts_of(o, ts[k].step, &kc);   /* step >= 1: checked above */
            adam_range_isa[isa](ts[k].p, ts[k].g, ts[k].m, ts[k].v, ts[k].vmax, a, b, &kc);
        }
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
