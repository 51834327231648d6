/* lt_math.c: broadcasting elementwise ops, reductions along a dimension, matmul on
 * OpenBLAS, and the xoshiro256** generator. Float32 has fast contiguous paths; int32 and
 * uint8 go through a generic double-valued path (exact for their ranges) whose results are
 * checked against the output dtype (LT_ERANGE with the first failing position). */
#include "lt_core.h"
#include "lt_gemm.h"
#include "lt_isa.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include <omp.h>   /* fuzz builds (no OpenMP): fuzz/include/omp.h */

/* ---- generic strided walk over a broadcast shape with up to 4 operands ---- */

typedef struct {
    int ndim;
    int64_t size[LT_MAXDIM];
    int64_t stride[4][LT_MAXDIM];
} walk;

static void walk_init(walk *w, int ndim, const int64_t *size, int nt, const lt_tensor *const *ts) {
    memset(w, 0, sizeof *w);
    int64_t st[4][LT_MAXDIM];
    for (int k = 0; k < nt; k++) {
        int lead = ts[k] ? ndim - ts[k]->ndim : 0;
        for (int d = 0; d < ndim; d++) {
            int od = d - lead;
            st[k][d] = (ts[k] && od >= 0 && ts[k]->size[od] != 1) ? ts[k]->stride[od] : 0;
        }
    }
    /* drop size-1 dims, then merge neighbours that are contiguous for every operand, so
     * the innermost loop is as long as possible (a contiguous tensor becomes one dim) */
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        if (size[d] == 1) continue;
        int merge = n > 0;
        for (int k = 0; k < nt && merge; k++)
            if (w->stride[k][n - 1] != st[k][d] * size[d]) merge = 0;
        if (merge) {
            w->size[n - 1] *= size[d];
            for (int k = 0; k < nt; k++) w->stride[k][n - 1] = st[k][d];
        } else {
            w->size[n] = size[d];
            for (int k = 0; k < nt; k++) w->stride[k][n] = st[k][d];
            n++;
        }
    }
    if (n == 0) {
        w->size[0] = 1;
        n = 1;
    }
    w->ndim = n;
}

/* Rows of the walk: the innermost dim is the row; OMP_ROWS parallelises the loop that
 * follows when the element count n is large, over ctx's thread budget. */
#define ROW_LEN(w) ((w).size[(w).ndim - 1])
#define OMP_ROWS _Pragma("omp parallel for schedule(static) if(n >= 262144) num_threads(lt_ctx_num_threads(ctx))")

/* Offsets of operand k for the flat row-major index i of the walk. */
static inline int64_t walk_off(const walk *w, int k, int64_t i) {
    int64_t off = 0;
    for (int d = w->ndim - 1; d >= 0; d--) {
        int64_t sz = w->size[d];
        off += (i % sz) * w->stride[k][d];
        i /= sz;
    }
    return off;
}

static inline double ld(const void *b, lt_dtype dt, int64_t off) {
    switch (dt) {
    case LT_FLOAT32: return ((const float *)b)[off];
    case LT_INT32: return ((const int32_t *)b)[off];
    case LT_UINT8: return ((const uint8_t *)b)[off];
    }
    return 0;
}

/* Checked store: returns 0 (and stores nothing) when v does not fit the dtype. */
static inline int st(void *b, lt_dtype dt, int64_t off, double v) {
    switch (dt) {
    case LT_FLOAT32: ((float *)b)[off] = (float)v; return 1;
    case LT_INT32:
        if (!(v > -2147483649.0 && v < 2147483648.0)) return 0;
        ((int32_t *)b)[off] = (int32_t)v;
        return 1;
    case LT_UINT8:
        if (!(v > -1.0 && v < 256.0)) return 0;
        ((uint8_t *)b)[off] = (uint8_t)v;
        return 1;
    }
    return 0;
}

/* The first value of a (possibly parallel) loop that did not fit the output dtype: the
 * smallest flat row-major index of the output. Only the failing path takes the lock. */
typedef struct {
    int64_t at;
    double v;
} range_bad;
#define RANGE_BAD_INIT {INT64_MAX, 0.0}

static void note_bad(range_bad *b, int64_t at, double v) {
    _Pragma("omp critical(lt_range_bad)")
    {
        if (at < b->at) {
            b->at = at;
            b->v = v;
        }
    }
}

static lt_status bad_status(lt_context *ctx, const range_bad *b, const lt_tensor *out) {
    if (b->at == INT64_MAX) return LT_OK;
    return lt_range_fail(ctx, b->v, out->dtype, out->ndim, out->size, b->at);
}

static inline double binop_d(lt_binop op, double a, double b, int integer) {
    switch (op) {
    case LT_OP_ADD: return a + b;
    case LT_OP_SUB: return a - b;
    case LT_OP_MUL: return a * b;
    case LT_OP_DIV:
        if (integer) return b == 0 ? 0 : floor(a / b); /* floor division like torch.div(rounding_mode='floor') */
        return a / b;
    case LT_OP_POW: return pow(a, b);
    case LT_OP_MAX: return a > b || a != a ? a : b;
    case LT_OP_MIN: return a < b || a != a ? a : b;
    case LT_OP_EQ: return a == b;
    case LT_OP_NE: return a != b;
    case LT_OP_GT: return a > b;
    case LT_OP_GE: return a >= b;
    case LT_OP_LT: return a < b;
    case LT_OP_LE: return a <= b;
    }
    return 0;
}

static inline float binop_f(lt_binop op, float a, float b) {
    switch (op) {
    case LT_OP_ADD: return a + b;
    case LT_OP_SUB: return a - b;
    case LT_OP_MUL: return a * b;
    case LT_OP_DIV: return a / b;
    case LT_OP_POW: return powf(a, b);
    case LT_OP_MAX: return a > b || a != a ? a : b;
    case LT_OP_MIN: return a < b || a != a ? a : b;
    default: return (float)binop_d(op, a, b, 0);
    }
}

static int is_compare(lt_binop op) {
    return op >= LT_OP_EQ;
}

/* The float32 loops: contiguous same-shape, contiguous with scalar, and general strided. */
static inline LT_ISA_INLINE void binary_f32_body(float *o, const float *a, const float *b, int64_t n,
                                                lt_binop op) {
    switch (op) {
    case LT_OP_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i]; break;
    case LT_OP_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - b[i]; break;
    case LT_OP_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i]; break;
    case LT_OP_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i] / b[i]; break;
    default: for (int64_t i = 0; i < n; i++) o[i] = binop_f(op, a[i], b[i]); break;
    }
}

LT_ISA_VARIANTS(binary_f32, (float *o, const float *a, const float *b, int64_t n, lt_binop op),
                (o, a, b, n, op))

static inline LT_ISA_INLINE void binary_f32_scalar_body(float *o, const float *a, float s, int64_t n,
                                                       lt_binop op, int sf) {
    if (sf) {
        for (int64_t i = 0; i < n; i++) o[i] = binop_f(op, s, a[i]);
        return;
    }
    switch (op) {
    case LT_OP_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + s; break;
    case LT_OP_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - s; break;
    case LT_OP_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i] * s; break;
    case LT_OP_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i] / s; break;
    default: for (int64_t i = 0; i < n; i++) o[i] = binop_f(op, a[i], s); break;
    }
}
LT_ISA_VARIANTS(binary_f32_scalar,
                (float *o, const float *a, float s, int64_t n, lt_binop op, int sf),
                (o, a, s, n, op, sf))

static int same_shape(const lt_tensor *a, const lt_tensor *b) {
    return a->ndim == b->ndim && memcmp(a->size, b->size, sizeof(int64_t) * (size_t)a->ndim) == 0;
}

lt_status lt_binary(lt_context *ctx, lt_tensor *out, const lt_tensor *a, const lt_tensor *b,
              lt_binop op) {
    if (!lt_data(out) || !lt_data(a) || !lt_data(b)) return lt_numel(out) ? LT_EFREED : LT_OK;
    int64_t n = lt_numel(out);
    if (n == 0) return LT_OK;
    const int isa = lt_ctx_isa(ctx);
    if (out->dtype == LT_FLOAT32 && a->dtype == LT_FLOAT32 && b->dtype == LT_FLOAT32 &&
        lt_is_contiguous(out)) {
        if (lt_is_contiguous(a) && lt_is_contiguous(b) && same_shape(a, b) && same_shape(a, out)) {
            float *o = lt_f32(out);
            const float *x = lt_f32(a), *y = lt_f32(b);
            int64_t chunk = 16384, nchunks = (n + chunk - 1) / chunk;
            OMP_ROWS
            for (int64_t c = 0; c < nchunks; c++) {
                int64_t lo = c * chunk, len = n - lo < chunk ? n - lo : chunk;
                binary_f32_isa[isa](o + lo, x + lo, y + lo, len, op);
            }
            return LT_OK;
        }
        /* row-broadcast fast path: inner dim contiguous for both (e.g. bias over NCHW) */
        const lt_tensor *ts[3] = {out, a, b};
        walk w;
        walk_init(&w, out->ndim, out->size, 3, ts);
        int64_t inner = w.size[w.ndim - 1];
        int64_t sa = w.stride[1][w.ndim - 1], sb = w.stride[2][w.ndim - 1];
        float *o = lt_f32(out);
        const float *pa = lt_f32(a), *pb = lt_f32(b);
        int64_t rows = n / inner;
        OMP_ROWS
        for (int64_t r = 0; r < rows; r++) {
            int64_t i0 = r * inner;
            int64_t oa = walk_off(&w, 1, i0), ob = walk_off(&w, 2, i0);
            float *orow = o + i0;
            if (sa == 1 && sb == 1) binary_f32_isa[isa](orow, pa + oa, pb + ob, inner, op);
            else if (sa == 1 && sb == 0) binary_f32_scalar_isa[isa](orow, pa + oa, pb[ob], inner, op, 0);
            else if (sa == 0 && sb == 1) binary_f32_scalar_isa[isa](orow, pb + ob, pa[oa], inner, op, 1);
            else
                for (int64_t i = 0; i < inner; i++) orow[i] = binop_f(op, pa[oa + i * sa], pb[ob + i * sb]);
        }
        return LT_OK;
    }
    const lt_tensor *ts[3] = {out, a, b};
    walk w;
    walk_init(&w, out->ndim, out->size, 3, ts);
    int integer = a->dtype != LT_FLOAT32 && b->dtype != LT_FLOAT32 && !is_compare(op);
    void *o = lt_data(out);
    const void *pa = lt_data(a), *pb = lt_data(b);
    int64_t inner = ROW_LEN(w), rows = n / inner;
    int64_t so = w.stride[0][w.ndim - 1], sa = w.stride[1][w.ndim - 1], sb = w.stride[2][w.ndim - 1];
    lt_dtype da = a->dtype, db = b->dtype, dout = out->dtype;
    range_bad bad = RANGE_BAD_INIT;
    OMP_ROWS
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r * inner;
        int64_t oo = walk_off(&w, 0, i0), oa = walk_off(&w, 1, i0), ob = walk_off(&w, 2, i0);
        if (da == LT_UINT8 && db == LT_UINT8 && dout == LT_UINT8) {
            const uint8_t *x = (const uint8_t *)pa + oa, *y = (const uint8_t *)pb + ob;
            uint8_t *z = (uint8_t *)o + oo;
            for (int64_t i = 0; i < inner; i++) {
                double v = binop_d(op, x[i * sa], y[i * sb], integer);
                if (!(v > -1.0 && v < 256.0)) {
                    note_bad(&bad, i0 + i, v);
                    break;
                }
                z[i * so] = (uint8_t)v;
            }
        } else if (da == LT_INT32 && db == LT_INT32 && dout == LT_INT32 && op <= LT_OP_MUL) {
            const int32_t *x = (const int32_t *)pa + oa, *y = (const int32_t *)pb + ob;
            int32_t *z = (int32_t *)o + oo;
            for (int64_t i = 0; i < inner; i++) {
                int64_t u = x[i * sa], v = y[i * sb];
                int64_t res = op == LT_OP_ADD ? u + v : op == LT_OP_SUB ? u - v : u * v;
                if (res > INT32_MAX || res < INT32_MIN) {
                    note_bad(&bad, i0 + i, (double)res);
                    break;
                }
                z[i * so] = (int32_t)res;
            }
        } else {
            for (int64_t i = 0; i < inner; i++) {
                double x = ld(pa, da, oa + i * sa), y = ld(pb, db, ob + i * sb);
                double v = binop_d(op, x, y, integer);
                if (!st(o, dout, oo + i * so, v)) {
                    note_bad(&bad, i0 + i, v);
                    break;
                }
            }
        }
    }
    return bad_status(ctx, &bad, out);
}

lt_status lt_binary_scalar(lt_context *ctx, lt_tensor *out, const lt_tensor *a, double s,
                     lt_binop op, int scalar_first) {
    if (!lt_data(out) || !lt_data(a)) return lt_numel(out) ? LT_EFREED : LT_OK;
    int64_t n = lt_numel(out);
    if (n == 0) return LT_OK;
    if (out->dtype == LT_FLOAT32 && a->dtype == LT_FLOAT32 && lt_is_contiguous(out) &&
        lt_is_contiguous(a)) {
        binary_f32_scalar_isa[lt_ctx_isa(ctx)](lt_f32(out), lt_f32(a), (float)s, n, op, scalar_first);
        return LT_OK;
    }
    const lt_tensor *ts[2] = {out, a};
    walk w;
    walk_init(&w, out->ndim, out->size, 2, ts);
    int integer = a->dtype != LT_FLOAT32 && out->dtype != LT_FLOAT32 && !is_compare(op);
    void *o = lt_data(out);
    const void *pa = lt_data(a);
    int64_t inner = ROW_LEN(w), rows = n / inner;
    int64_t so = w.stride[0][w.ndim - 1], sa = w.stride[1][w.ndim - 1];
    lt_dtype da = a->dtype, dout = out->dtype;
    range_bad bad = RANGE_BAD_INIT;
    OMP_ROWS
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r * inner, oo = walk_off(&w, 0, i0), oa = walk_off(&w, 1, i0);
        if (da == LT_UINT8 && dout == LT_UINT8 && is_compare(op)) {
            const uint8_t *x = (const uint8_t *)pa + oa;
            uint8_t *z = (uint8_t *)o + oo;
            for (int64_t i = 0; i < inner; i++)
                z[i * so] = (uint8_t)(scalar_first ? binop_d(op, s, x[i * sa], 0) : binop_d(op, x[i * sa], s, 0));
        } else if (da == LT_FLOAT32 && dout == LT_FLOAT32) {
            const float *x = (const float *)pa + oa;
            float *z = (float *)o + oo;
            float fs = (float)s;
            for (int64_t i = 0; i < inner; i++)
                z[i * so] = scalar_first ? binop_f(op, fs, x[i * sa]) : binop_f(op, x[i * sa], fs);
        } else {
            for (int64_t i = 0; i < inner; i++) {
                double x = ld(pa, da, oa + i * sa);
                double v = scalar_first ? binop_d(op, s, x, integer) : binop_d(op, x, s, integer);
                if (!st(o, dout, oo + i * so, v)) {
                    note_bad(&bad, i0 + i, v);
                    break;
                }
            }
        }
    }
    return bad_status(ctx, &bad, out);
}

static inline double unop_d(lt_unop op, double x) {
    switch (op) {
    case LT_OP_NEG: return -x;
    case LT_OP_EXP: return exp(x);
    case LT_OP_LOG: return log(x);
    case LT_OP_SQRT: return sqrt(x);
    case LT_OP_ABS: return fabs(x);
    case LT_OP_RELU: return x > 0 ? x : 0;
    case LT_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case LT_OP_TANH: return tanh(x);
    case LT_OP_SIGN: return (x > 0) - (x < 0);
    case LT_OP_FLOOR: return floor(x);
    case LT_OP_CEIL: return ceil(x);
    case LT_OP_ROUND: return nearbyint(x);
    case LT_OP_RECIPROCAL: return 1.0 / x;
    case LT_OP_SQUARE: return x * x;
    case LT_OP_SIN: return sin(x);
    case LT_OP_COS: return cos(x);
    case LT_OP_LOG1P: return log1p(x);
    case LT_OP_EXPM1: return expm1(x);
    }
    return 0;
}

static inline LT_ISA_INLINE void unary_f32_body(float *o, const float *a, int64_t n, lt_unop op) {
    switch (op) {
    case LT_OP_NEG: for (int64_t i = 0; i < n; i++) o[i] = -a[i]; break;
    case LT_OP_EXP: for (int64_t i = 0; i < n; i++) o[i] = expf(a[i]); break;
    case LT_OP_LOG: for (int64_t i = 0; i < n; i++) o[i] = logf(a[i]); break;
    case LT_OP_SQRT: for (int64_t i = 0; i < n; i++) o[i] = sqrtf(a[i]); break;
    case LT_OP_ABS: for (int64_t i = 0; i < n; i++) o[i] = fabsf(a[i]); break;
    case LT_OP_RELU: for (int64_t i = 0; i < n; i++) o[i] = a[i] > 0 ? a[i] : 0; break;
    case LT_OP_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float x = a[i];
            o[i] = x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
        }
        break;
    case LT_OP_TANH: for (int64_t i = 0; i < n; i++) o[i] = tanhf(a[i]); break;
    case LT_OP_SQUARE: for (int64_t i = 0; i < n; i++) o[i] = a[i] * a[i]; break;
    default: for (int64_t i = 0; i < n; i++) o[i] = (float)unop_d(op, a[i]); break;
    }
}
LT_ISA_VARIANTS(unary_f32, (float *o, const float *a, int64_t n, lt_unop op), (o, a, n, op))

lt_status lt_unary(lt_context *ctx, lt_tensor *out, const lt_tensor *a, lt_unop op) {
    if (!lt_data(out) || !lt_data(a)) return lt_numel(out) ? LT_EFREED : LT_OK;
    int64_t n = lt_numel(out);
    if (n == 0) return LT_OK;
    if (out->dtype == LT_FLOAT32 && a->dtype == LT_FLOAT32 && lt_is_contiguous(out) &&
        lt_is_contiguous(a)) {
        unary_f32_isa[lt_ctx_isa(ctx)](lt_f32(out), lt_f32(a), n, op);
        return LT_OK;
    }
    const lt_tensor *ts[2] = {out, a};
    walk w;
    walk_init(&w, out->ndim, out->size, 2, ts);
    int64_t inner = ROW_LEN(w), rows = n / inner;
    int64_t so = w.stride[0][w.ndim - 1], sa = w.stride[1][w.ndim - 1];
    void *o = lt_data(out);
    const void *pa = lt_data(a);
    range_bad bad = RANGE_BAD_INIT;
    OMP_ROWS
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r * inner, oo = walk_off(&w, 0, i0), oa = walk_off(&w, 1, i0);
        for (int64_t i = 0; i < inner; i++) {
            double v = unop_d(op, ld(pa, a->dtype, oa + i * sa));
            if (!st(o, out->dtype, oo + i * so, v)) {
                note_bad(&bad, i0 + i, v);
                break;
            }
        }
    }
    return bad_status(ctx, &bad, out);
}

lt_status lt_clamp(lt_context *ctx, lt_tensor *out, const lt_tensor *a, double lo, double hi) {
    if (!lt_data(out) || !lt_data(a)) return lt_numel(out) ? LT_EFREED : LT_OK;
    int64_t n = lt_numel(out);
    if (n == 0) return LT_OK;
    const lt_tensor *ts[2] = {out, a};
    walk w;
    walk_init(&w, out->ndim, out->size, 2, ts);
    int64_t inner = ROW_LEN(w), rows = n / inner;
    int64_t so = w.stride[0][w.ndim - 1], sa = w.stride[1][w.ndim - 1];
    void *o = lt_data(out);
    const void *pa = lt_data(a);
    range_bad bad = RANGE_BAD_INIT;
    OMP_ROWS
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r * inner, oo = walk_off(&w, 0, i0), oa = walk_off(&w, 1, i0);
        for (int64_t i = 0; i < inner; i++) {
            double x = ld(pa, a->dtype, oa + i * sa);
            if (x < lo) x = lo;
            if (x > hi) x = hi;
            if (!st(o, out->dtype, oo + i * so, x)) {
                note_bad(&bad, i0 + i, x);
                break;
            }
        }
    }
    return bad_status(ctx, &bad, out);
}

lt_status lt_where(lt_context *ctx, lt_tensor *out, const lt_tensor *cond, const lt_tensor *a,
             const lt_tensor *b) {
    if (!lt_data(out) || !lt_data(cond) || !lt_data(a) || !lt_data(b))
        return lt_numel(out) ? LT_EFREED : LT_OK;
    int64_t n = lt_numel(out);
    if (n == 0) return LT_OK;
    const lt_tensor *ts[4] = {out, cond, a, b};
    walk w;
    walk_init(&w, out->ndim, out->size, 4, ts);
    int64_t inner = ROW_LEN(w), rows = n / inner;
    int64_t s0 = w.stride[0][w.ndim - 1], s1 = w.stride[1][w.ndim - 1], s2 = w.stride[2][w.ndim - 1],
            s3 = w.stride[3][w.ndim - 1];
    void *o = lt_data(out);
    const void *pc = lt_data(cond), *pa = lt_data(a), *pb = lt_data(b);
    range_bad bad = RANGE_BAD_INIT;
    OMP_ROWS
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r * inner;
        int64_t o0 = walk_off(&w, 0, i0), o1 = walk_off(&w, 1, i0), o2 = walk_off(&w, 2, i0),
                o3 = walk_off(&w, 3, i0);
        for (int64_t i = 0; i < inner; i++) {
            int c = ld(pc, cond->dtype, o1 + i * s1) != 0;
            double v = c ? ld(pa, a->dtype, o2 + i * s2) : ld(pb, b->dtype, o3 + i * s3);
            if (!st(o, out->dtype, o0 + i * s0, v)) {
                note_bad(&bad, i0 + i, v);
                break;
            }
        }
    }
    return bad_status(ctx, &bad, out);
}

static inline LT_ISA_INLINE void axpy_f32_body(float *o, const float *x, float al, int64_t n) {
    for (int64_t i = 0; i < n; i++) o[i] += al * x[i];
}
LT_ISA_VARIANTS(axpy_f32, (float *o, const float *x, float al, int64_t n), (o, x, al, n))

lt_status lt_axpy(lt_context *ctx, lt_tensor *out, double alpha, const lt_tensor *a) {
    if (!lt_data(out) || !lt_data(a)) return lt_numel(out) ? LT_EFREED : LT_OK;
    if (lt_numel(out) != lt_numel(a)) return LT_ESHAPE;
    int64_t n = lt_numel(out);
    if (out->dtype == LT_FLOAT32 && a->dtype == LT_FLOAT32 && lt_is_contiguous(out) &&
        lt_is_contiguous(a) && same_shape(out, a)) {
        axpy_f32_isa[lt_ctx_isa(ctx)](lt_f32(out), lt_f32(a), (float)alpha, n);
        return LT_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = lt_get_flat(out, i) + alpha * lt_get_flat(a, i);
        if (!lt_fits(v, out->dtype)) return lt_range_fail(ctx, v, out->dtype, out->ndim, out->size, i);
        lt_set_flat(out, i, v);
    }
    return LT_OK;
}

/* ---- reductions ---- */

/* View `in` as (outer, len, inner) around dim d; requires nothing of the strides. */
lt_status lt_reduce(lt_context *ctx, lt_tensor *out, lt_tensor *idx, const lt_tensor *in, int d, lt_redop op) {
    if (!lt_data(in) && lt_numel(in)) return LT_EFREED;
    int64_t n = lt_numel(in);
    if (d < 0) {
        /* all elements: pairwise-safe accumulation in double */
        double acc = op == LT_RED_PROD ? 1.0 : 0.0;
        int64_t best = 0;
        if (op == LT_RED_MAX || op == LT_RED_MIN) {
            if (n == 0) return LT_EARG;
            acc = lt_get_flat(in, 0);
        }
        if (in->dtype == LT_FLOAT32 && lt_is_contiguous(in) && (op == LT_RED_SUM || op == LT_RED_MEAN)) {
            const float *p = lt_f32(in);
            for (int64_t i = 0; i < n; i++) acc += p[i];
        } else {
            for (int64_t i = 0; i < n; i++) {
                double v = lt_get_flat(in, i);
                switch (op) {
                case LT_RED_SUM: case LT_RED_MEAN: acc += v; break;
                case LT_RED_PROD: acc *= v; break;
                case LT_RED_MAX: if (v > acc || (v != v && acc == acc)) { acc = v; best = i; } break;
                case LT_RED_MIN: if (v < acc || (v != v && acc == acc)) { acc = v; best = i; } break;
                }
            }
        }
        if (op == LT_RED_MEAN) acc = n ? acc / (double)n : NAN;
        if (!lt_fits(acc, out->dtype)) return lt_range_fail(ctx, acc, out->dtype, out->ndim, out->size, 0);
        lt_set_flat(out, 0, acc);
        if (idx) lt_set_flat(idx, 0, (double)best);
        return LT_OK;
    }
    int64_t len = in->size[d];
    if (len == 0 && (op == LT_RED_MAX || op == LT_RED_MIN)) return LT_EARG;
    /* iterate output positions: all dims of in except d, row-major */
    int64_t outer_n = len ? n / len : 0;
    if (len == 0) {
        outer_n = lt_numel(out);
    }
    int64_t sd = in->stride[d];
    lt_tensor rest = *in; /* in with dim d removed, for offsets */
    lt_view_select(&rest, d, 0);
    const void *base = lt_data(in);
    int fast = in->dtype == LT_FLOAT32;
    for (int64_t o = 0; o < outer_n; o++) {
        /* offset of (o) in rest */
        int64_t r = o, off = 0;
        for (int k = rest.ndim - 1; k >= 0; k--) {
            off += (r % rest.size[k]) * rest.stride[k];
            r /= rest.size[k];
        }
        off += rest.offset - in->offset;
        double acc = op == LT_RED_PROD ? 1.0 : 0.0;
        int64_t best = 0;
        if (op == LT_RED_MAX || op == LT_RED_MIN) acc = ld(base, in->dtype, off);
        if (fast && (op == LT_RED_SUM || op == LT_RED_MEAN)) {
            const float *p = (const float *)base + off;
            for (int64_t i = 0; i < len; i++) acc += p[i * sd];
        } else {
            for (int64_t i = 0; i < len; i++) {
                double v = ld(base, in->dtype, off + i * sd);
                switch (op) {
                case LT_RED_SUM: case LT_RED_MEAN: acc += v; break;
                case LT_RED_PROD: acc *= v; break;
                case LT_RED_MAX: if (v > acc || (v != v && acc == acc)) { acc = v; best = i; } break;
                case LT_RED_MIN: if (v < acc || (v != v && acc == acc)) { acc = v; best = i; } break;
                }
            }
        }
        if (op == LT_RED_MEAN) acc = len ? acc / (double)len : NAN;
        if (!lt_fits(acc, out->dtype)) return lt_range_fail(ctx, acc, out->dtype, out->ndim, out->size, o);
        lt_set_flat(out, o, acc);
        if (idx) lt_set_flat(idx, o, (double)best);
    }
    return LT_OK;
}

double lt_dot64(const lt_tensor *a, const lt_tensor *b) {
    int64_t n = lt_numel(a);
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += lt_get_flat(a, i) * lt_get_flat(b, i);
    return acc;
}

/* out (shape S) = sum of in (shape broadcast of S) over the broadcast dims. */
lt_status lt_sum_to(lt_context *ctx, lt_tensor *out, const lt_tensor *in) {
    if (!lt_data(out) || !lt_data(in)) return lt_numel(out) ? LT_EFREED : LT_OK;
    lt_status s = lt_fill(ctx, out, 0);
    if (s != LT_OK) return s;
    int64_t n = lt_numel(in);
    if (n == 0) return LT_OK;
    const lt_tensor *ts[2] = {out, in};
    walk w;
    walk_init(&w, in->ndim, in->size, 2, ts);
    if (out->dtype == LT_FLOAT32 && in->dtype == LT_FLOAT32) {
        float *o = lt_f32(out);
        const float *p = lt_f32(in);
        int64_t inner = ROW_LEN(w);
        int64_t so = w.stride[0][w.ndim - 1], si = w.stride[1][w.ndim - 1];
        for (int64_t r = 0; r < n / inner; r++) {
            int64_t i0 = r * inner;
            int64_t oo = walk_off(&w, 0, i0), oi = walk_off(&w, 1, i0);
            if (so == 0) {
                double acc = 0;
                for (int64_t i = 0; i < inner; i++) acc += p[oi + i * si];
                o[oo] += (float)acc;
            } else {
                for (int64_t i = 0; i < inner; i++) o[oo + i * so] += p[oi + i * si];
            }
        }
        return LT_OK;
    }
    int64_t inner = ROW_LEN(w), rows = n / inner;
    int64_t so = w.stride[0][w.ndim - 1], si = w.stride[1][w.ndim - 1];
    for (int64_t r = 0; r < rows; r++) {
        int64_t i0 = r * inner, oo = walk_off(&w, 0, i0), oi = walk_off(&w, 1, i0);
        for (int64_t i = 0; i < inner; i++) {
            double v = ld(lt_data(out), out->dtype, oo + i * so) + ld(lt_data(in), in->dtype, oi + i * si);
            if (!st(lt_data(out), out->dtype, oo + i * so, v)) /* out is contiguous: offset = position */
                return lt_is_contiguous(out) ? lt_range_fail(ctx, v, out->dtype, out->ndim, out->size, oo + i * so)
                                             : lt_range_fail(ctx, v, out->dtype, -1, NULL, 0);
        }
    }
    return LT_OK;
}

/* ---- matmul ---- */

void lt_sgemm(const lt_context *ctx, int transa, int transb, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    /* lunet's SGEMM (lt_gemm.c) at the context's level (AVX2 or AVX-512), split over the
     * thread budget from 16 MFLOP; OpenBLAS at the generic level or if lt_gemm cannot
     * allocate */
    const int nt = omp_get_active_level() == 0 && 2.0 * m * (double)n * k >= 1.6e7 ? lt_ctx_num_threads(ctx) : 1;
    const int level = lt_ctx_isa(ctx);   /* the context's ISA level caps lt_gemm's */
    const int gisa = level == LT_ISA_AVX512 ? LT_GEMM_AVX512 : LT_GEMM_AVX2;
    if (level != LT_ISA_GENERIC && lt_gemm_isa_supported(gisa) &&
        lt_gemm_parallel(nt, gisa, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) == LT_OK)
        return;
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans,
                m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* A matrix operand given as a 2-D strided view: usable by BLAS directly when one of its
 * strides is 1 (row-major or transposed). */
static int blas_layout(int64_t s0, int64_t s1, int64_t rows, int64_t cols, int *trans, int *ld) {
    if (s0 > INT32_MAX || s1 > INT32_MAX || s0 < 0 || s1 < 0) return 0; /* BLAS's int ld */
    if (s1 == 1 && (s0 >= (cols > 1 ? cols : 1) || rows == 1)) {
        *trans = 0;
        *ld = (int)(s0 > 0 ? s0 : (cols > 0 ? cols : 1));
        if (*ld < cols) *ld = (int)cols;
        return 1;
    }
    if (s0 == 1 && (s1 >= (rows > 1 ? rows : 1) || cols == 1)) {
        *trans = 1;
        *ld = (int)(s1 > 0 ? s1 : (rows > 0 ? rows : 1));
        if (*ld < rows) *ld = (int)rows;
        return 1;
    }
    return 0;
}

/* out (.., n, m) contiguous float32; a (.., n, k), b (.., k, m) any strides; batch dims of a
 * and b broadcast to out's. Operands whose matrices are not BLAS-addressable are made so by the
 * caller (the binding passes contiguous copies then). */
lt_status lt_matmul(const lt_context *ctx, lt_tensor *out, const lt_tensor *a, const lt_tensor *b) {
    if (!lt_data(out) || !lt_data(a) || !lt_data(b)) return lt_numel(out) ? LT_EFREED : LT_OK;
    int on = out->ndim;
    int64_t n = out->size[on - 2], m = out->size[on - 1], k = a->size[a->ndim - 1];
    int64_t batch = 1;
    for (int d = 0; d < on - 2; d++) batch *= out->size[d]; /* out is a valid tensor */
    /* BLAS takes int sizes and leading dimensions */
    if (n > INT32_MAX || m > INT32_MAX || k > INT32_MAX) return LT_EOVERFLOW;
    int ta, tb, lda, ldb;
    if (!blas_layout(a->stride[a->ndim - 2], a->stride[a->ndim - 1], n, k, &ta, &lda)) return LT_EARG;
    if (!blas_layout(b->stride[b->ndim - 2], b->stride[b->ndim - 1], k, m, &tb, &ldb)) return LT_EARG;
    if (n == 0 || m == 0) return LT_OK;
    /* batch offsets by walking the leading dims */
    lt_tensor ab = *a, bb = *b;
    ab.ndim -= 2;
    bb.ndim -= 2;
    const lt_tensor *ts[2] = {&ab, &bb};
    walk w;
    walk_init(&w, on - 2, out->size, 2, ts);
    for (int64_t i = 0; i < batch; i++) {
        const float *pa = lt_f32(a) + (on > 2 ? walk_off(&w, 0, i) : 0);
        const float *pb = lt_f32(b) + (on > 2 ? walk_off(&w, 1, i) : 0);
        float *po = lt_f32(out) + i * n * m;
        if (k == 0) {
            memset(po, 0, sizeof(float) * (size_t)(n * m));
            continue;
        }
        lt_sgemm(ctx, ta, tb, (int)n, (int)m, (int)k, 1.0f, pa, lda, pb, ldb, 0.0f, po, (int)m);
    }
    return LT_OK;
}

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void lt_rng_seed(lt_rng *g, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) g->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t lt_rng_next(lt_rng *g) {
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double lt_rng_uniform(lt_rng *g) {
    return (double)(lt_rng_next(g) >> 11) * 0x1.0p-53;
}

float lt_rng_uniformf(lt_rng *g) {
    return (float)(lt_rng_next(g) >> 40) * 0x1.0p-24f;
}

int64_t lt_rng_below(lt_rng *g, int64_t n) {
    if (n <= 1) return 0;
    uint64_t un = (uint64_t)n;
    uint64_t limit = UINT64_MAX - UINT64_MAX % un;
    uint64_t r;
    do r = lt_rng_next(g); while (r >= limit);
    return (int64_t)(r % un);
}

void lt_rng_fill_uniform(lt_rng *g, float *out, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) out[i] = lo + (hi - lo) * lt_rng_uniformf(g);
}

/* Box-Muller in double; both values of a pair are used, the odd tail takes one. */
void lt_rng_fill_normal(lt_rng *g, float *out, int64_t n, float mean, float std) {
    const double two_pi = 6.283185307179586476925286766559;
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - lt_rng_uniform(g), u2 = lt_rng_uniform(g);
        double r = sqrt(-2.0 * log(u1));
        out[i] = (float)(mean + std * r * cos(two_pi * u2));
        if (i + 1 < n) out[i + 1] = (float)(mean + std * r * sin(two_pi * u2));
    }
}
