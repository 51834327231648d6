/* lt_tensor.c: storage lifetime, shape validation (every tensor's element count and byte
 * size fit int64), tensor geometry (views), strided copies and fills with checked dtype
 * conversions, index_select/gather and their adjoints. Blocks come from the context's
 * cache (lt_context.c). */
#include "lt_core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>   /* fuzz builds (no OpenMP): fuzz/include/omp.h */

#include "lt_context.h"
#include "lt_isa.h"

const char *lt_dtype_name(lt_dtype dt) {
    switch (dt) {
    case LT_FLOAT32: return "float32";
    case LT_INT32: return "int32";
    case LT_UINT8: return "uint8";
    }
    return "?";
}

size_t lt_dtype_size(lt_dtype dt) {
    return dt == LT_UINT8 ? 1 : 4;
}

const char *lt_status_str(lt_status st) {
    switch (st) {
    case LT_OK: return "ok";
    case LT_ENOMEM: return "out of memory";
    case LT_ESHAPE: return "shape mismatch";
    case LT_EDTYPE: return "unsupported dtype";
    case LT_EARG: return "invalid argument";
    case LT_EFREED: return "tensor storage was released with free()";
    case LT_EINDEX: return "index out of range";
    case LT_EOVERFLOW: return "size overflows 64-bit arithmetic";
    case LT_ERANGE: return "value cannot be converted to the destination dtype without overflow";
    }
    return "unknown error";
}

/* ---- storage ---- */

static lt_storage *storage_new(lt_context *ctx, size_t nbytes, int zero) {
    if (!ctx) return NULL;
    lt_storage *s = malloc(sizeof *s);
    if (!s) return NULL;
    /* Empty tensors get a real (tiny) block too: data == NULL means "freed". */
    if (nbytes > SIZE_MAX / 2) { free(s); return NULL; }
    size_t cap;
    s->base = lt_ctx_block_alloc(ctx, nbytes ? nbytes : 1, zero, &cap);
    if (!s->base) { free(s); return NULL; }
    s->data = (void *)(((uintptr_t)s->base + 63) & ~(uintptr_t)63);
    s->nbytes = nbytes;
    s->capacity = cap;
    s->refcount = 1;
    s->ctx = ctx;
    lt_context_retain(ctx);
    return s;
}

lt_storage *lt_storage_new(lt_context *ctx, size_t nbytes) {
    return storage_new(ctx, nbytes, 1);
}

lt_storage *lt_storage_new_uninit(lt_context *ctx, size_t nbytes) {
    return storage_new(ctx, nbytes, 0);
}

void lt_storage_retain(lt_storage *s) {
    if (s) __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
}

/* The last release (acquire-release: every thread's writes to the data happen before the
 * block is reused) returns the block to its context and drops the storage's reference. */
void lt_storage_release(lt_storage *s) {
    if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    lt_context *ctx = s->ctx;
    lt_ctx_block_free(ctx, s->base, s->capacity);
    free(s);
    lt_context_release(ctx);
}

void lt_storage_free_data(lt_storage *s) {
    if (!s) return;
    lt_ctx_block_free(s->ctx, s->base, s->capacity);
    s->data = s->base = NULL;
    s->nbytes = 0;
}

/* ---- shapes and checked conversions ---- */

lt_status lt_shape_numel(int ndim, const int64_t *size, size_t elsize, int64_t *numel) {
    if (ndim < 0 || ndim > LT_MAXDIM) return LT_EARG;
    int64_t n = 1, span = 1; /* span: the product with zeros as ones (the outer stride) */
    for (int d = 0; d < ndim; d++)
        if (size[d] < 0) return LT_EARG;
    for (int d = 0; d < ndim; d++) {
        if (lt_mul_ovf(span, size[d] > 0 ? size[d] : 1, &span)) return LT_EOVERFLOW;
        n *= size[d]; /* n <= span: cannot overflow once span did not */
    }
    int64_t bytes;
    if (lt_mul_ovf(span, (int64_t)(elsize ? elsize : 1), &bytes)) return LT_EOVERFLOW;
    if (numel) *numel = n;
    return LT_OK;
}

int lt_fits(double v, lt_dtype dt) {
    switch (dt) {
    case LT_FLOAT32: return 1;
    case LT_INT32: return v > -2147483649.0 && v < 2147483648.0;  /* false for NaN */
    case LT_UINT8: return v > -1.0 && v < 256.0;
    }
    return 0;
}

/* lt_last_range_error and lt_range_fail are in lt_context.c: the record is the context's. */

/* Can a value of dtype `from` fail to fit `to`? */
static int lossy(lt_dtype from, lt_dtype to) {
    if (to == LT_FLOAT32 || from == to) return 0;
    if (from == LT_UINT8) return 0;           /* uint8 -> int32 */
    return 1;                                  /* float32 -> int, int32 -> uint8 */
}

/* ---- tensor ---- */

void lt_contiguous_strides(int ndim, const int64_t *size, int64_t *stride) {
    /* valid shapes (lt_shape_numel) never overflow; saturate rather than wrap otherwise */
    int64_t st = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = st;
        if (lt_mul_ovf(st, size[d] > 0 ? size[d] : 1, &st)) st = INT64_MAX;
    }
}

static lt_status tensor_init(lt_context *ctx, lt_tensor *t, lt_dtype dt, int ndim,
                             const int64_t *size, int zero) {
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    size_t es = lt_dtype_size(dt);
    int64_t n;
    lt_status st = lt_shape_numel(ndim, size, es, &n);
    if (st != LT_OK) return st;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->size[d] = size[d];
    lt_contiguous_strides(ndim, t->size, t->stride);
    if ((uint64_t)n > SIZE_MAX / es / 2) return LT_ENOMEM;
    t->storage = storage_new(ctx, (size_t)n * es, zero);
    return t->storage ? LT_OK : LT_ENOMEM;
}

lt_status lt_tensor_init(lt_context *ctx, lt_tensor *t, lt_dtype dt, int ndim, const int64_t *size) {
    return tensor_init(ctx, t, dt, ndim, size, 1);
}

lt_status lt_tensor_init_uninit(lt_context *ctx, lt_tensor *t, lt_dtype dt, int ndim,
                                const int64_t *size) {
    return tensor_init(ctx, t, dt, ndim, size, 0);
}

void lt_tensor_view_of(lt_tensor *dst, const lt_tensor *src) {
    *dst = *src;
    lt_storage_retain(dst->storage);
}

void lt_tensor_release(lt_tensor *t) {
    lt_storage_release(t->storage);
    t->storage = NULL;
}

int64_t lt_numel(const lt_tensor *t) {
    /* every tensor's shape passed lt_shape_numel; saturate rather than wrap regardless */
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        if (lt_mul_ovf(n, t->size[d], &n)) return INT64_MAX;
    return n;
}

int lt_is_contiguous(const lt_tensor *t) {
    int64_t st = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->size[d] == 1) continue;
        if (t->stride[d] != st) return 0;
        st *= t->size[d];
    }
    return 1;
}

void *lt_data(const lt_tensor *t) {
    if (!t->storage || !t->storage->data) return NULL;
    return (char *)t->storage->data + (size_t)t->offset * lt_dtype_size(t->dtype);
}

/* Offset (in elements, relative to lt_data) of the flat row-major index i of the view. */
static int64_t flat_offset(const lt_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t sz = t->size[d];
        off += (i % sz) * t->stride[d];
        i /= sz;
    }
    return off;
}

static inline double load_as_double(const void *base, lt_dtype dt, int64_t off) {
    switch (dt) {
    case LT_FLOAT32: return ((const float *)base)[off];
    case LT_INT32: return ((const int32_t *)base)[off];
    case LT_UINT8: return ((const uint8_t *)base)[off];
    }
    return 0;
}

static inline void store_from_double(void *base, lt_dtype dt, int64_t off, double v) {
    switch (dt) {
    case LT_FLOAT32: ((float *)base)[off] = (float)v; break;
    case LT_INT32:
        /* truncation toward zero like a C cast, saturated to the type's range */
        if (v != v) v = 0;
        if (v > 2147483647.0) v = 2147483647.0;
        if (v < -2147483648.0) v = -2147483648.0;
        ((int32_t *)base)[off] = (int32_t)v;
        break;
    case LT_UINT8: {
        if (v != v) v = 0;
        if (v < 0) v = 0;
        if (v > 255) v = 255;
        ((uint8_t *)base)[off] = (uint8_t)v;
        break;
    }
    }
}

double lt_get_flat(const lt_tensor *t, int64_t i) {
    return load_as_double(lt_data(t), t->dtype, flat_offset(t, i));
}

void lt_set_flat(lt_tensor *t, int64_t i, double v) {
    store_from_double(lt_data(t), t->dtype, flat_offset(t, i), v);
}

/* ---- views ---- */

void lt_view_permute(lt_tensor *t, const int *perm) {
    int64_t size[LT_MAXDIM], stride[LT_MAXDIM];
    for (int d = 0; d < t->ndim; d++) {
        size[d] = t->size[perm[d]];
        stride[d] = t->stride[perm[d]];
    }
    memcpy(t->size, size, sizeof size);
    memcpy(t->stride, stride, sizeof stride);
}

void lt_view_transpose(lt_tensor *t, int d1, int d2) {
    int64_t s = t->size[d1];
    t->size[d1] = t->size[d2];
    t->size[d2] = s;
    s = t->stride[d1];
    t->stride[d1] = t->stride[d2];
    t->stride[d2] = s;
}

void lt_view_narrow(lt_tensor *t, int d, int64_t start, int64_t len) {
    t->offset += start * t->stride[d];
    t->size[d] = len;
}

void lt_view_select(lt_tensor *t, int d, int64_t i) {
    t->offset += i * t->stride[d];
    for (int k = d; k < t->ndim - 1; k++) {
        t->size[k] = t->size[k + 1];
        t->stride[k] = t->stride[k + 1];
    }
    t->ndim--;
}

void lt_view_unsqueeze(lt_tensor *t, int d) {
    for (int k = t->ndim; k > d; k--) {
        t->size[k] = t->size[k - 1];
        t->stride[k] = t->stride[k - 1];
    }
    t->size[d] = 1;
    /* the stride of a size-1 dim is never used to address; keep PyTorch's value when it fits */
    int64_t s = 1;
    if (d < t->ndim && lt_mul_ovf(t->stride[d + 1], t->size[d + 1], &s)) s = 0;
    t->stride[d] = s;
    t->ndim++;
}

void lt_view_squeeze(lt_tensor *t, int d) {
    for (int k = d; k < t->ndim - 1; k++) {
        t->size[k] = t->size[k + 1];
        t->stride[k] = t->stride[k + 1];
    }
    t->ndim--;
}

/* Computes strides for viewing t (ndim_old) as the new shape without copying, following
 * PyTorch's computeStride: chunks of old dims that are contiguous among themselves. */
int lt_view_reshape(lt_tensor *t, int ndim, const int64_t *size) {
    int64_t newstride[LT_MAXDIM];
    int64_t numel = lt_numel(t);
    if (ndim < 0 || ndim > LT_MAXDIM) return 0;
    if (numel == 0 || t->ndim == 0) {
        lt_contiguous_strides(ndim, size, newstride);
    } else {
        int view_d = ndim - 1;
        int64_t chunk_base_stride = t->stride[t->ndim - 1];
        int64_t tensor_numel = 1, view_numel = 1, prod;
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (lt_mul_ovf(tensor_numel, t->size[d], &tensor_numel)) return 0;
            if (d == 0 || (t->size[d - 1] != 1 &&
                           (lt_mul_ovf(tensor_numel, chunk_base_stride, &prod) ||
                            t->stride[d - 1] != prod))) {
                while (view_d >= 0 && (view_numel < tensor_numel || size[view_d] == 1)) {
                    if (lt_mul_ovf(view_numel, chunk_base_stride, &newstride[view_d]) ||
                        lt_mul_ovf(view_numel, size[view_d], &view_numel))
                        return 0;
                    view_d--;
                }
                if (view_numel != tensor_numel) return 0;
                if (d > 0) {
                    chunk_base_stride = t->stride[d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if (view_d != -1) return 0;
    }
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        t->size[d] = size[d];
        t->stride[d] = newstride[d];
    }
    return 1;
}

lt_status lt_view_expand(lt_tensor *t, int ndim, const int64_t *size) {
    if (ndim < t->ndim || ndim > LT_MAXDIM) return LT_ESHAPE;
    for (int d = 0; d < ndim; d++)
        if (size[d] < 0) return LT_EARG;
    int64_t nsize[LT_MAXDIM] = {0}, nstride[LT_MAXDIM] = {0};
    int lead = ndim - t->ndim;
    for (int d = ndim - 1; d >= 0; d--) {
        int od = d - lead;
        if (od >= 0) {
            if (t->size[od] == size[d]) {
                nsize[d] = size[d];
                nstride[d] = t->stride[od];
            } else if (t->size[od] == 1) {
                nsize[d] = size[d];
                nstride[d] = 0;
            } else {
                return LT_ESHAPE;
            }
        } else {
            nsize[d] = size[d];
            nstride[d] = 0;
        }
    }
    lt_status st = lt_shape_numel(ndim, nsize, lt_dtype_size(t->dtype), NULL);
    if (st != LT_OK) return st;
    t->ndim = ndim;
    memcpy(t->size, nsize, sizeof nsize);
    memcpy(t->stride, nstride, sizeof nstride);
    return LT_OK;
}

lt_status lt_broadcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb,
                             int *nout, int64_t *sout) {
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int ia = na - n + i, ib = nb - n + i;
        int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
        if (a == b || b == 1) sout[i] = a;
        else if (a == 1) sout[i] = b;
        else return LT_ESHAPE;
    }
    *nout = n;
    return lt_shape_numel(n, sout, 1, NULL) == LT_OK ? LT_OK : LT_EOVERFLOW;
}

/* ---- strided iteration ---- */

/* Iterates a multi-index over `size` (ndim dims), keeping up to 4 running offsets.
 * The innermost dim is handled by the caller's loop for speed. */
typedef struct {
    int ndim;
    int64_t size[LT_MAXDIM];
    int64_t idx[LT_MAXDIM];
    int64_t stride[4][LT_MAXDIM];
    int64_t off[4];
    int nt;
} lt_iter;

static void iter_init(lt_iter *it, int ndim, const int64_t *size, int nt,
                      const lt_tensor *const *ts) {
    memset(it, 0, sizeof *it);
    it->ndim = ndim;
    it->nt = nt;
    for (int d = 0; d < ndim; d++) it->size[d] = size[d];
    for (int k = 0; k < nt; k++) {
        int lead = ndim - ts[k]->ndim;
        for (int d = 0; d < ndim; d++) {
            int od = d - lead;
            it->stride[k][d] = (od >= 0 && ts[k]->size[od] != 1) ? ts[k]->stride[od] : 0;
        }
    }
}

/* Advances all but the last dimension; returns 0 when done. */
static int iter_next_outer(lt_iter *it) {
    for (int d = it->ndim - 2; d >= 0; d--) {
        it->idx[d]++;
        for (int k = 0; k < it->nt; k++) it->off[k] += it->stride[k][d];
        if (it->idx[d] < it->size[d]) return 1;
        for (int k = 0; k < it->nt; k++) it->off[k] -= it->stride[k][d] * it->size[d];
        it->idx[d] = 0;
    }
    return 0;
}

/* Merges dimensions the iteration can walk as one: a dim of size 1, and an outer dim whose
 * every stride is the inner one's stride times its size (a narrowed or contiguous block).
 * Same visiting order; afterwards the innermost run is as long as the layouts allow (a
 * narrow along the channels of an NCHW tensor iterates in runs of C' * H * W elements,
 * not rows of W). Keeps at least one dim. */
static void iter_coalesce(lt_iter *it) {
    int j = it->ndim - 1;   /* the output dim being grown, written from the innermost out */
    while (j > 0 && it->size[j] == 1) j--;
    int out = it->ndim - 1;
    it->size[out] = it->size[j];
    for (int k = 0; k < it->nt; k++) it->stride[k][out] = it->stride[k][j];
    for (int d = j - 1; d >= 0; d--) {
        if (it->size[d] == 1) continue;
        int merge = 1;
        for (int k = 0; k < it->nt; k++)
            if (it->stride[k][d] != it->stride[k][out] * it->size[out]) merge = 0;
        if (merge) {
            it->size[out] *= it->size[d];
        } else {
            out--;
            it->size[out] = it->size[d];
            for (int k = 0; k < it->nt; k++) it->stride[k][out] = it->stride[k][d];
        }
    }
    /* shift the dims [out, ndim) down to [0, ndim - out) */
    const int nd = it->ndim - out;
    for (int d = 0; d < nd; d++) {
        it->size[d] = it->size[out + d];
        for (int k = 0; k < it->nt; k++) it->stride[k][d] = it->stride[k][out + d];
    }
    it->ndim = nd;
}

lt_status lt_convert_check(lt_context *ctx, const lt_tensor *src, lt_dtype dt) {
    if (!lossy(src->dtype, dt)) return LT_OK;
    int64_t n = lt_numel(src);
    if (n == 0) return LT_OK;
    if (!lt_data(src)) return LT_EFREED;
    const char *sb = lt_data(src);
    if (src->ndim == 0) {
        double v = load_as_double(sb, src->dtype, 0);
        return lt_fits(v, dt) ? LT_OK : lt_range_fail(ctx, v, dt, 0, src->size, 0);
    }
    const lt_tensor *ts[1] = {src};
    lt_iter it;
    iter_init(&it, src->ndim, src->size, 1, ts);
    int64_t inner = it.size[it.ndim - 1], ss = it.stride[0][it.ndim - 1], row = 0;
    do {
        if (src->dtype == LT_FLOAT32) {
            const float *p = (const float *)sb + it.off[0];
            int bad = 0;
            for (int64_t i = 0; i < inner; i++) bad |= !lt_fits(p[i * ss], dt);
            if (bad)
                for (int64_t i = 0; i < inner; i++)
                    if (!lt_fits(p[i * ss], dt))
                        return lt_range_fail(ctx, p[i * ss], dt, src->ndim, src->size, row * inner + i);
        } else {
            for (int64_t i = 0; i < inner; i++) {
                double v = load_as_double(sb, src->dtype, it.off[0] + i * ss);
                if (!lt_fits(v, dt)) return lt_range_fail(ctx, v, dt, src->ndim, src->size, row * inner + i);
            }
        }
        row++;
    } while (iter_next_outer(&it));
    return LT_OK;
}

/* Copies of at least this many elements (1 MB of floats) use the context's threads. */
#define LT_COPY_PAR_MIN (1 << 18)

static int copy_threads(const lt_context *ctx, int64_t n) {
    return n >= LT_COPY_PAR_MIN ? lt_ctx_num_threads(ctx) : 1;
}

lt_status lt_copy(lt_context *ctx, lt_tensor *dst, const lt_tensor *src) {
    if (!lt_data(dst) || !lt_data(src)) return LT_EFREED;
    if (lt_numel(dst) != lt_numel(src)) return LT_ESHAPE;
    int64_t n = lt_numel(dst);
    if (n == 0) return LT_OK;
    lt_status cs = lt_convert_check(ctx, src, dst->dtype);
    if (cs != LT_OK) return cs;
    /* distinct storages cannot overlap: big copies are split over the context's threads
     * (on one storage memmove's overlap rule is kept: one thread) */
    const int nt = dst->storage != src->storage ? copy_threads(ctx, n) : 1;
    if (dst->dtype == src->dtype && lt_is_contiguous(dst) && lt_is_contiguous(src)) {
        const size_t es = lt_dtype_size(dst->dtype);
        char *d = lt_data(dst);
        const char *sp = lt_data(src);
        if (nt == 1) {
            memmove(d, sp, (size_t)n * es);
            return LT_OK;
        }
#pragma omp parallel num_threads(nt)
        {
            int64_t lo, hi;
            lt_isa_chunk(n, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            if (hi > lo) memcpy(d + (size_t)lo * es, sp + (size_t)lo * es, (size_t)(hi - lo) * es);
        }
        return LT_OK;
    }
    /* iterate over dst's shape; src is read in its own row-major order */
    if (dst->ndim == src->ndim &&
        memcmp(dst->size, src->size, sizeof(int64_t) * (size_t)dst->ndim) == 0 && dst->ndim > 0) {
        const lt_tensor *ts[2] = {dst, src};
        lt_iter it;
        iter_init(&it, dst->ndim, dst->size, 2, ts);
        iter_coalesce(&it);   /* same order, as few and long runs as the strides allow */
        int64_t inner = it.size[it.ndim - 1], sd = it.stride[0][it.ndim - 1],
                ss = it.stride[1][it.ndim - 1];
        char *db = lt_data(dst);
        const char *sb = lt_data(src);
        if (nt > 1 && it.ndim == 2 && sd == 1 && ss == 1 && dst->dtype == LT_FLOAT32 &&
            src->dtype == LT_FLOAT32) {
            /* rows of contiguous runs (a slice of a concatenation, a narrowed gradient): the
             * rows split over the threads */
            const int64_t rows = it.size[0], rd = it.stride[0][0], rs = it.stride[1][0];
            float *d0 = (float *)db + it.off[0];
            const float *s0 = (const float *)sb + it.off[1];
#pragma omp parallel for num_threads(nt) schedule(static)
            for (int64_t r = 0; r < rows; r++)
                memcpy(d0 + r * rd, s0 + r * rs, (size_t)inner * sizeof(float));
            return LT_OK;
        }
        do {
            if (dst->dtype == LT_FLOAT32 && src->dtype == LT_FLOAT32) {
                float *d = (float *)db + it.off[0];
                const float *s = (const float *)sb + it.off[1];
                if (sd == 1 && ss == 1)   /* dst and src are distinct storages or equal runs */
                    memmove(d, s, (size_t)inner * sizeof(float));
                else
                    for (int64_t i = 0; i < inner; i++) d[i * sd] = s[i * ss];
            } else {
                for (int64_t i = 0; i < inner; i++)
                    store_from_double(db, dst->dtype, it.off[0] + i * sd,
                                      load_as_double(sb, src->dtype, it.off[1] + i * ss));
            }
        } while (iter_next_outer(&it));
        return LT_OK;
    }
    for (int64_t i = 0; i < n; i++) lt_set_flat(dst, i, lt_get_flat(src, i));
    return LT_OK;
}

lt_status lt_fill(lt_context *ctx, lt_tensor *dst, double v) {
    if (!lt_fits(v, dst->dtype)) return lt_range_fail(ctx, v, dst->dtype, -1, NULL, 0);
    if (!lt_data(dst)) return lt_numel(dst) == 0 ? LT_OK : LT_EFREED;
    int64_t n = lt_numel(dst);
    if (n == 0) return LT_OK;
    if (lt_is_contiguous(dst) && dst->dtype == LT_FLOAT32) {
        float *d = lt_f32(dst), f = (float)v;
        for (int64_t i = 0; i < n; i++) d[i] = f;
        return LT_OK;
    }
    for (int64_t i = 0; i < n; i++) lt_set_flat(dst, i, v);
    return LT_OK;
}

lt_status lt_flip(lt_context *ctx, lt_tensor *out, const lt_tensor *in, const int *dims, int ndims) {
    lt_tensor v = *in;
    for (int k = 0; k < ndims; k++) {
        int d = dims[k];
        if (v.size[d] > 0) {
            v.offset += (v.size[d] - 1) * v.stride[d];
            v.stride[d] = -v.stride[d];
        }
    }
    return lt_copy(ctx, out, &v);
}

static int64_t index_value(const lt_tensor *idx, int64_t j) {
    return (int64_t)lt_get_flat(idx, j);
}

/* out has in's shape with size[d] = numel(idx). idx values are 0-based, already checked. */
lt_status lt_index_select(lt_context *ctx, lt_tensor *out, const lt_tensor *in, int d, const lt_tensor *idx) {
    int64_t m = lt_numel(idx);
    for (int64_t j = 0; j < m; j++) {
        int64_t k = index_value(idx, j);
        if (k < 0 || k >= in->size[d]) return LT_EINDEX;
        lt_tensor s = *in, o = *out;
        lt_view_select(&s, d, k);
        lt_view_select(&o, d, j);
        lt_status st = lt_copy(ctx, &o, &s);
        if (st != LT_OK) return st;
    }
    return LT_OK;
}

/* out[.., idx[j], ..] += src[.., j, ..]: the adjoint of index_select. */
lt_status lt_index_add(lt_context *ctx, lt_tensor *out, int d, const lt_tensor *idx, const lt_tensor *src) {
    int64_t m = lt_numel(idx);
    for (int64_t j = 0; j < m; j++) {
        int64_t k = index_value(idx, j);
        if (k < 0 || k >= out->size[d]) return LT_EINDEX;
        lt_tensor s = *src, o = *out;
        lt_view_select(&s, d, j);
        lt_view_select(&o, d, k);
        lt_status st = lt_axpy(ctx, &o, 1.0, &s);
        if (st != LT_OK) return st;
    }
    return LT_OK;
}

/* Walks the multi-index of idx's shape; for each, the position along d is idx's value. */
static lt_status gather_scatter(lt_context *ctx, lt_tensor *out, const lt_tensor *in, int d, const lt_tensor *idx,
                                int scatter) {
    int64_t n = lt_numel(idx);
    int64_t pos[LT_MAXDIM];
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i;
        for (int k = idx->ndim - 1; k >= 0; k--) {
            pos[k] = r % idx->size[k];
            r /= idx->size[k];
        }
        int64_t v = index_value(idx, i);
        const lt_tensor *big = scatter ? out : in;
        if (v < 0 || v >= big->size[d]) return LT_EINDEX;
        int64_t obig = 0, osmall = 0;
        const lt_tensor *small = scatter ? in : out;
        for (int k = 0; k < idx->ndim; k++) {
            obig += (k == d ? v : pos[k]) * big->stride[k];
            osmall += pos[k] * small->stride[k];
        }
        if (scatter) {
            double a = load_as_double(lt_data(out), out->dtype, obig);
            double sum = a + load_as_double(lt_data(in), in->dtype, osmall);
            if (!lt_fits(sum, out->dtype)) {
                int64_t at[LT_MAXDIM];
                for (int k = 0; k < idx->ndim; k++) at[k] = k == d ? v : pos[k];
                int64_t flat = 0; /* row-major index of the element of out that overflowed */
                for (int k = 0; k < out->ndim; k++) flat = flat * out->size[k] + at[k];
                return lt_range_fail(ctx, sum, out->dtype, out->ndim, out->size, flat);
            }
            store_from_double(lt_data(out), out->dtype, obig, sum);
        } else {
            store_from_double(lt_data(out), out->dtype, osmall,
                              load_as_double(lt_data(in), in->dtype, obig));
        }
    }
    return LT_OK;
}

lt_status lt_gather(lt_tensor *out, const lt_tensor *in, int d, const lt_tensor *idx) {
    return gather_scatter(NULL, out, in, d, idx, 0);   /* never LT_ERANGE */
}

lt_status lt_scatter_add(lt_context *ctx, lt_tensor *out, int d, const lt_tensor *idx, const lt_tensor *src) {
    return gather_scatter(ctx, out, src, d, idx, 1);
}
