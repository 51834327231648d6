/* lt_core.h: the lunet C core. Tensors (strided views over refcounted storage),
 * dtypes, status codes and the elementwise/reduction/matmul kernels. No Lua here.
 *
 *   lt_context *ctx = lt_context_new();            // thread budget, scratch, block cache
 *   int64_t sz[2] = {2, 3};
 *   lt_tensor a, b, c;
 *   lt_tensor_init(ctx, &a, LT_FLOAT32, 2, sz);   // allocates contiguous storage
 *   lt_tensor_init(ctx, &b, LT_FLOAT32, 2, sz);
 *   lt_tensor_init(ctx, &c, LT_FLOAT32, 2, sz);
 *   lt_fill(ctx, &a, 1.0); lt_fill(ctx, &b, 2.0);
 *   if (lt_binary(ctx, &c, &a, &b, LT_OP_ADD) != LT_OK) { ... }  // c = a + b
 *   lt_tensor_release(&a); lt_tensor_release(&b); lt_tensor_release(&c);
 *   lt_context_release(ctx);
 *
 * Kernels never print, exit or abort: they return an lt_status; the binding turns a
 * status into a Lua error. A kernel that needs the thread budget, scratch buffers or the
 * conv choices takes the context first; then outputs, then inputs, then options. There is
 * no writable process-wide state (lt_context.h): kernels on different contexts may run in
 * different threads at once.
 */
#ifndef LT_CORE_H
#define LT_CORE_H

#include <stddef.h>
#include <stdint.h>
#include "lt_context.h"

#define LT_MAXDIM 8

typedef enum {
    LT_FLOAT32 = 0,
    LT_INT32 = 1,
    LT_UINT8 = 2
} lt_dtype;

typedef enum {
    LT_OK = 0,
    LT_ENOMEM,     /* allocation failed */
    LT_ESHAPE,     /* shapes do not fit together */
    LT_EDTYPE,     /* dtype not supported by this kernel */
    LT_EARG,       /* invalid argument value */
    LT_EFREED,     /* storage was released with free() */
    LT_EINDEX,     /* index out of range */
    LT_EOVERFLOW,  /* a size, count, stride, offset or byte count overflows int64 */
    LT_ERANGE      /* a value does not fit the destination dtype (out of range, NaN or inf):
                    * lt_last_range_error(ctx) tells which value and where */
} lt_status;

/* Overflow-checked int64 arithmetic for every size, element count, stride, offset and byte
 * count: each returns 1 (and leaves *out unspecified) when the exact result does not fit.
 *     int64_t n;
 *     if (lt_mul_ovf(h, w, &n) || lt_mul_ovf(n, c, &n)) return LT_EOVERFLOW; */
static inline int lt_mul_ovf(int64_t a, int64_t b, int64_t *out) { return __builtin_mul_overflow(a, b, out); }
static inline int lt_add_ovf(int64_t a, int64_t b, int64_t *out) { return __builtin_add_overflow(a, b, out); }
static inline int lt_sub_ovf(int64_t a, int64_t b, int64_t *out) { return __builtin_sub_overflow(a, b, out); }

/* Validates a shape: LT_EARG for a negative size, LT_EOVERFLOW when the element count, the
 * contiguous strides (the product of the sizes with zeros counted as ones) or the byte count
 * at elsize bytes per element does not fit int64. *numel (may be NULL) gets the count. Every
 * tensor that exists passed this check, so lt_numel never wraps and numel * elsize fits. */
lt_status lt_shape_numel(int ndim, const int64_t *size, size_t elsize, int64_t *numel);

/* Conversions into int32/uint8 are checked, like PyTorch's scalar conversions: a value fits
 * when it is finite and, truncated toward zero, lies in the dtype's range (float32 takes any
 * value: out-of-range magnitudes round to inf as IEEE does). */
int lt_fits(double v, lt_dtype dt);
/* Details of the last LT_ERANGE a kernel returned through a context: the value, and its
 * position (ndim 1-based indices into the tensor named by the function; ndim = -1 for a
 * scalar). The record is the context's (no process-wide or thread-local state): every
 * kernel that can return LT_ERANGE takes the context first, and the caller reads the record
 * from the same context right after the call. A fresh context's record is all zeros. */
typedef struct lt_range_error {
    double value;
    lt_dtype dtype;    /* the dtype it did not fit */
    int ndim;
    int64_t pos[LT_MAXDIM];
} lt_range_error;
const lt_range_error *lt_last_range_error(const lt_context *ctx);
/* Records in ctx (when not NULL) a range error for the flat row-major index i of a tensor of
 * shape (ndim, size), or for a scalar (ndim = -1); returns LT_ERANGE. */
lt_status lt_range_fail(lt_context *ctx, double v, lt_dtype dt, int ndim, const int64_t *size,
                        int64_t i);

/* Storage: one allocation shared by every view of it, from a context's block cache. The
 * refcount is atomic and the storage holds a reference to its context, so a storage may be
 * retained and released from any thread or Lua state, also after the context's owner is
 * gone (the block goes back to its own context). Data is 64-byte aligned. free() releases
 * data at once (data = NULL) while views still hold the struct; it is not synchronised with
 * other threads using the data. */
typedef struct lt_storage {
    void *data;        /* 64-byte aligned, inside base */
    void *base;        /* what was allocated */
    size_t nbytes;
    size_t capacity;   /* bytes allocated (the cache's size class) */
    long refcount;     /* atomic (__atomic builtins) */
    lt_context *ctx;   /* retained: the cache the block returns to */
} lt_storage;

/* A tensor is a strided view: element (i0..in-1) lives at
 * data + (offset + sum_k i_k * stride[k]) * elsize. Sizes and strides in elements. */
typedef struct lt_tensor {
    lt_storage *storage;
    int64_t offset;
    int ndim;
    lt_dtype dtype;
    int64_t size[LT_MAXDIM];
    int64_t stride[LT_MAXDIM];
} lt_tensor;

const char *lt_dtype_name(lt_dtype dt);
size_t lt_dtype_size(lt_dtype dt);
const char *lt_status_str(lt_status st);

/* ---- storage and tensor lifetime ---- */
/* Blocks of 64 kB and more come from ctx's bounded cache (lt_ctx_cache_*). */
lt_storage *lt_storage_new(lt_context *ctx, size_t nbytes);         /* zero-filled; NULL on failure */
lt_storage *lt_storage_new_uninit(lt_context *ctx, size_t nbytes);  /* contents undefined */
void lt_storage_retain(lt_storage *s);
void lt_storage_release(lt_storage *s);
void lt_storage_free_data(lt_storage *s);           /* explicit early release */

/* Allocates zeroed contiguous storage for the given shape (checked with lt_shape_numel:
 * LT_EARG, LT_EOVERFLOW, or LT_ENOMEM). On failure t->storage is NULL. */
lt_status lt_tensor_init(lt_context *ctx, lt_tensor *t, lt_dtype dt, int ndim, const int64_t *size);
/* The same without zeroing, for outputs a kernel overwrites completely. */
lt_status lt_tensor_init_uninit(lt_context *ctx, lt_tensor *t, lt_dtype dt, int ndim,
                                const int64_t *size);
/* Makes dst a view of src's storage with src's geometry (retains storage). */
void lt_tensor_view_of(lt_tensor *dst, const lt_tensor *src);
void lt_tensor_release(lt_tensor *t);

int64_t lt_numel(const lt_tensor *t);
int lt_is_contiguous(const lt_tensor *t);
void lt_contiguous_strides(int ndim, const int64_t *size, int64_t *stride);
/* Pointer to element 0 of the view (data + offset). NULL if freed. */
void *lt_data(const lt_tensor *t);
static inline float *lt_f32(const lt_tensor *t) { return (float *)lt_data(t); }
static inline int32_t *lt_i32(const lt_tensor *t) { return (int32_t *)lt_data(t); }
static inline uint8_t *lt_u8(const lt_tensor *t) { return (uint8_t *)lt_data(t); }

/* Element at a flat row-major index of the view, as double / set from double. lt_set_flat
 * is the unchecked store: it saturates values that do not fit (NaN -> 0) and is for kernels
 * that clamp on purpose (image warps); checked code tests lt_fits first. */
double lt_get_flat(const lt_tensor *t, int64_t i);
void lt_set_flat(lt_tensor *t, int64_t i, double v);

/* ---- view geometry (metadata only, callers validate arguments; 0-based dims) ---- */
void lt_view_permute(lt_tensor *t, const int *perm);
void lt_view_transpose(lt_tensor *t, int d1, int d2);
void lt_view_narrow(lt_tensor *t, int d, int64_t start, int64_t len);
void lt_view_select(lt_tensor *t, int d, int64_t i);
void lt_view_unsqueeze(lt_tensor *t, int d);
void lt_view_squeeze(lt_tensor *t, int d);          /* d must have size 1 */
/* Reshape without copying if the strides allow; returns 0 when a copy is needed. The new
 * shape must be valid (lt_shape_numel) with t's element count. */
int lt_view_reshape(lt_tensor *t, int ndim, const int64_t *size);
/* Broadcast t to shape (ndim >= t->ndim, ndim <= LT_MAXDIM); LT_ESHAPE if incompatible,
 * LT_EARG for a negative size, LT_EOVERFLOW if the shape fails lt_shape_numel. */
lt_status lt_view_expand(lt_tensor *t, int ndim, const int64_t *size);

/* Broadcast shape of a and b into out (PyTorch rules): LT_ESHAPE, or LT_EOVERFLOW when
 * the broadcast shape's element count overflows (lt_shape_numel with elsize 4). */
lt_status lt_broadcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb,
                             int *nout, int64_t *sout);

/* ---- copies and fills ---- */
/* Same element count, any dtypes. Conversions that can lose range (float32 -> int32/uint8,
 * int32 -> uint8) scan src first: LT_ERANGE (lt_last_range_error(ctx)) and nothing written. */
lt_status lt_copy(lt_context *ctx, lt_tensor *dst, const lt_tensor *src);
/* First value of src (row-major) that does not fit dt: LT_ERANGE recorded with its position
 * in src, or LT_OK. Cheap no-op for conversions that always fit (to float32, uint8 -> int32). */
lt_status lt_convert_check(lt_context *ctx, const lt_tensor *src, lt_dtype dt);
/* LT_ERANGE (nothing written) when v does not fit dst's dtype. */
lt_status lt_fill(lt_context *ctx, lt_tensor *dst, double v);
lt_status lt_flip(lt_context *ctx, lt_tensor *out, const lt_tensor *in, const int *dims, int ndims);
/* out[.., j, ..] = in[.., idx[j], ..] along dim d; idx 0-based int32/int64 values. */
lt_status lt_index_select(lt_context *ctx, lt_tensor *out, const lt_tensor *in, int d, const lt_tensor *idx);
lt_status lt_index_add(lt_context *ctx, lt_tensor *out, int d, const lt_tensor *idx, const lt_tensor *src);
lt_status lt_gather(lt_tensor *out, const lt_tensor *in, int d, const lt_tensor *idx);
lt_status lt_scatter_add(lt_context *ctx, lt_tensor *out, int d, const lt_tensor *idx, const lt_tensor *src);

/* ---- elementwise (broadcasting; out has the broadcast shape) ----
 * Integer outputs are checked: a result that does not fit out's dtype (u8 200 + 100, int32
 * overflow) returns LT_ERANGE with its position in out; out is then partly written. */
typedef enum {
    LT_OP_ADD, LT_OP_SUB, LT_OP_MUL, LT_OP_DIV, LT_OP_POW, LT_OP_MAX, LT_OP_MIN,
    LT_OP_EQ, LT_OP_NE, LT_OP_GT, LT_OP_GE, LT_OP_LT, LT_OP_LE
} lt_binop;
typedef enum {
    LT_OP_NEG, LT_OP_EXP, LT_OP_LOG, LT_OP_SQRT, LT_OP_ABS, LT_OP_RELU, LT_OP_SIGMOID,
    LT_OP_TANH, LT_OP_SIGN, LT_OP_FLOOR, LT_OP_CEIL, LT_OP_ROUND, LT_OP_RECIPROCAL,
    LT_OP_SQUARE, LT_OP_SIN, LT_OP_COS, LT_OP_LOG1P, LT_OP_EXPM1
} lt_unop;

/* a or b may be NULL with the scalar used instead. Comparison ops write uint8. */
lt_status lt_binary(lt_context *ctx, lt_tensor *out, const lt_tensor *a, const lt_tensor *b,
              lt_binop op);
lt_status lt_binary_scalar(lt_context *ctx, lt_tensor *out, const lt_tensor *a, double s,
                     lt_binop op, int scalar_first);
lt_status lt_unary(lt_context *ctx, lt_tensor *out, const lt_tensor *a, lt_unop op);
lt_status lt_clamp(lt_context *ctx, lt_tensor *out, const lt_tensor *a, double lo, double hi);
lt_status lt_where(lt_context *ctx, lt_tensor *out, const lt_tensor *cond, const lt_tensor *a,
             const lt_tensor *b);
/* out += alpha * a (shapes equal); the gradient accumulator. */
lt_status lt_axpy(lt_context *ctx, lt_tensor *out, double alpha, const lt_tensor *a);

/* ---- reductions over one dim (d, 0-based) or all (d < 0); out pre-shaped ---- */
typedef enum { LT_RED_SUM, LT_RED_MEAN, LT_RED_MAX, LT_RED_MIN, LT_RED_PROD } lt_redop;
/* idx (int32, 0-based) receives argmax/argmin positions for MAX/MIN when not NULL. */
lt_status lt_reduce(lt_context *ctx, lt_tensor *out, lt_tensor *idx, const lt_tensor *in, int d, lt_redop op);
/* Sum in double over all elements of a*b (same shape), for gradcheck. */
double lt_dot64(const lt_tensor *a, const lt_tensor *b);
/* Sum `in` down to the (broadcast-compatible) shape of out. */
lt_status lt_sum_to(lt_context *ctx, lt_tensor *out, const lt_tensor *in);

/* ---- matmul: (.., n, k) x (.., k, m) -> (.., n, m), batch dims broadcast; float32.
 * LT_EOVERFLOW when a matrix dimension exceeds BLAS's int; LT_EARG when a matrix is not
 * BLAS-addressable (no unit stride, or a leading dimension beyond int): pass copies. ---- */
lt_status lt_matmul(const lt_context *ctx, lt_tensor *out, const lt_tensor *a, const lt_tensor *b);
/* Plain row-major sgemm helper used by kernels: C = alpha*op(A)*op(B) + beta*C, split over
 * ctx's thread budget when large and called outside a parallel region. */
void lt_sgemm(const lt_context *ctx, int transa, int transb, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ---- random numbers: xoshiro256** with splitmix64 seeding ---- */
typedef struct lt_rng { uint64_t s[4]; } lt_rng;
void lt_rng_seed(lt_rng *g, uint64_t seed);
uint64_t lt_rng_next(lt_rng *g);
double lt_rng_uniform(lt_rng *g);                      /* [0, 1), 53 bits */
float lt_rng_uniformf(lt_rng *g);                      /* [0, 1), 24 bits */
int64_t lt_rng_below(lt_rng *g, int64_t n);            /* uniform in [0, n) */
void lt_rng_fill_uniform(lt_rng *g, float *out, int64_t n, float lo, float hi);
void lt_rng_fill_normal(lt_rng *g, float *out, int64_t n, float mean, float std);

#endif
