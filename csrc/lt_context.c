/* lt_context.c: the core context (see lt_context.h): atomic refcount, thread budget, conv
 * choices, scratch slots, the last range error (lt_core.h), and the storage block cache with
 * its mutex and statistics. */
#include "lt_context.h"
#include "lt_conv.h"
#include "lt_core.h"
#include "lt_isa.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OpenBLAS's own control; declared here to avoid depending on its header layout. */
void openblas_set_num_threads(int num_threads);

/* The block cache: free lists per size class. Classes are 64 kB and up, four per power of
 * two, so a request wastes at most 25%. Blocks keep their class capacity. */
#define CACHE_MIN ((size_t)65536)
#define CACHE_CLASSES 160

typedef struct cached_block {
    struct cached_block *next;
} cached_block;

struct lt_context {
    long refcount;                         /* atomic */
    int num_threads;
    int conv_algo, conv_isa;
    int isa;                               /* LT_ISA_*: the level of the multiversioned kernels */
    struct { void *p; size_t n; } scratch[LT_SCRATCH_SLOTS];
    lt_gc_pacing gc;
    lt_range_error range;                  /* the last LT_ERANGE (lt_range_fail) */
    /* the cache: everything below under lock, except live (atomic) */
    pthread_mutex_t lock;
    cached_block *head[CACHE_CLASSES];
    size_t bytes, limit;
    uint64_t hits, misses;
    size_t live;                           /* atomic: bytes of storage blocks in use */
};

lt_context *lt_context_new(void) {
    lt_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    if (pthread_mutex_init(&ctx->lock, NULL) != 0) {
        free(ctx);
        return NULL;
    }
    ctx->refcount = 1;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    ctx->num_threads = n > 0 ? (n > 1024 ? 1024 : (int)n) : 1;
    ctx->conv_algo = 0;                    /* LT_CONV_AUTO */
    ctx->conv_isa = -1;
    lt_ctx_set_isa(ctx, lt_isa_default(NULL));
    ctx->limit = (size_t)1 << 30;
    ctx->gc.full_threshold = (size_t)64 << 20;
    return ctx;
}

void lt_context_retain(lt_context *ctx) {
    if (ctx) __atomic_add_fetch(&ctx->refcount, 1, __ATOMIC_RELAXED);
}

void lt_context_release(lt_context *ctx) {
    if (!ctx || __atomic_sub_fetch(&ctx->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    lt_ctx_scratch_free(ctx);
    lt_ctx_cache_empty(ctx);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

/* ---- settings ---- */

int lt_ctx_num_threads(const lt_context *ctx) {
    return ctx->num_threads;
}

/* OpenBLAS's own threads serve only the generic level (CPUs without AVX2, or forced): lunet's
 * GEMM runs everything else on lunet's OpenMP team. Elsewhere OpenBLAS stays at one thread, so
 * that setting the budget does not start its pool (whose idle threads spin with sched_yield for
 * 0.1 s after each start). */
static void blas_threads(const lt_context *ctx) {
    const int n = ctx->isa == LT_ISA_GENERIC ? ctx->num_threads : 1;
    openblas_set_num_threads(n);
    if (n == 1) lt_omp_blas_pool_stop();   /* the call above starts it */
}

void lt_ctx_set_num_threads(lt_context *ctx, int n) {
    if (n < 1) n = 1;
    ctx->num_threads = n;
    blas_threads(ctx);
}

/* ---- ISA level (lt_isa.h) ---- */

int lt_isa_cpu(void) { return lt_isa_probe(); }

static const char *const isa_names[LT_ISA_LEVELS] = { "generic", "avx2", "avx512" };

const char *lt_isa_name(int level) {
    return level >= 0 && level < LT_ISA_LEVELS ? isa_names[level] : NULL;
}

int lt_isa_parse(const char *name) {
    for (int i = 0; name && i < LT_ISA_LEVELS; i++)
        if (strcmp(name, isa_names[i]) == 0) return i;
    return -1;
}

int lt_isa_default(int *bad) {
    const int cpu = lt_isa_cpu();
    const char *env = getenv("LUNET_ISA");
    if (env && !*env) env = NULL;   /* LUNET_ISA= counts as unset */
    const int want = env ? lt_isa_parse(env) : cpu;
    if (bad) *bad = env != NULL && want < 0;
    return want >= 0 && want < cpu ? want : cpu;
}

int lt_ctx_isa(const lt_context *ctx) { return ctx->isa; }

/* The direct convolution kernels have AVX2 and AVX-512 variants only: GENERIC runs the AVX2
 * ones when the CPU has AVX2 (lt_conv.c's choice for CPUs without it stays its own). */
int lt_ctx_set_isa(lt_context *ctx, int level) {
    if (level < 0 || level >= LT_ISA_LEVELS || level > lt_isa_cpu()) return -1;
    const int was = ctx->isa;
    ctx->isa = level;
    ctx->conv_isa = level == LT_ISA_AVX512 ? LT_CONV_ISA_AVX512 : LT_CONV_ISA_AVX2;
    if (!lt_conv_isa_supported(ctx->conv_isa)) ctx->conv_isa = -1;
    if (ctx->num_threads > 1 && (was == LT_ISA_GENERIC) != (level == LT_ISA_GENERIC))
        blas_threads(ctx);
    return 0;
}

int lt_ctx_conv_algo(const lt_context *ctx) { return ctx->conv_algo; }
void lt_ctx_set_conv_algo(lt_context *ctx, int algo) { ctx->conv_algo = algo; }
int lt_ctx_conv_isa(const lt_context *ctx) { return ctx->conv_isa; }
void lt_ctx_set_conv_isa(lt_context *ctx, int isa) { ctx->conv_isa = isa; }

lt_gc_pacing *lt_ctx_gc_pacing(lt_context *ctx) { return &ctx->gc; }

/* ---- the last range error (lt_core.h) ---- */

const lt_range_error *lt_last_range_error(const lt_context *ctx) { return &ctx->range; }

lt_status lt_range_fail(lt_context *ctx, double v, lt_dtype dt, int ndim, const int64_t *size,
                        int64_t i) {
    if (!ctx) return LT_ERANGE;
    lt_range_error *r = &ctx->range;
    r->value = v;
    r->dtype = dt;
    r->ndim = ndim < 0 ? -1 : ndim;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t sz = size[d] > 0 ? size[d] : 1;
        r->pos[d] = i % sz + 1;
        i /= sz;
    }
    return LT_ERANGE;
}

/* ---- scratch ---- */

void *lt_ctx_scratch(lt_context *ctx, int slot, size_t nbytes) {
    if (slot < 0 || slot >= LT_SCRATCH_SLOTS) return NULL;
    if (ctx->scratch[slot].p && ctx->scratch[slot].n >= nbytes) return ctx->scratch[slot].p;
    if (nbytes > SIZE_MAX - 128) return NULL;
    size_t alloc = ((nbytes + 63) & ~(size_t)63) + 64;
    void *p = aligned_alloc(64, alloc);
    if (!p) return NULL;
    free(ctx->scratch[slot].p);
    ctx->scratch[slot].p = p;
    ctx->scratch[slot].n = alloc;
    return p;
}

void lt_ctx_scratch_free(lt_context *ctx) {
    for (int i = 0; i < LT_SCRATCH_SLOTS; i++) {
        free(ctx->scratch[i].p);
        ctx->scratch[i].p = NULL;
        ctx->scratch[i].n = 0;
    }
}

/* ---- block cache ---- */

/* Size class of a request (>= CACHE_MIN) and its capacity. */
static int size_class(size_t n, size_t *cap) {
    int e = 0;
    while (((size_t)1 << (e + 1)) <= n - 1) e++;   /* 2^e <= n-1 < 2^(e+1) */
    size_t base = (size_t)1 << e, step = base / 4;
    size_t k = (n - base + step - 1) / step;           /* 1..4 quarter steps above 2^e */
    if (k == 0) k = 1;
    *cap = base + k * step;
    int c = (e - 16) * 4 + (int)k - 1;
    return c >= 0 && c < CACHE_CLASSES ? c : -1;
}

void *lt_ctx_block_alloc(lt_context *ctx, size_t nbytes, int zero, size_t *cap_out) {
    size_t cap = nbytes;
    int c = nbytes >= CACHE_MIN ? size_class(nbytes, &cap) : -1;
    if (c < 0) cap = nbytes;
    if (c >= 0) {
        pthread_mutex_lock(&ctx->lock);
        cached_block *b = ctx->head[c];
        if (b) {
            ctx->head[c] = b->next;
            ctx->bytes -= cap;
            ctx->hits++;
        } else {
            ctx->misses++;
        }
        pthread_mutex_unlock(&ctx->lock);
        if (b) {
            if (zero) memset(b, 0, nbytes);
            __atomic_add_fetch(&ctx->live, cap, __ATOMIC_RELAXED);
            *cap_out = cap;
            return b;
        }
    }
    void *p = NULL;
    if (c >= 0) {
        if (posix_memalign(&p, 64, cap) != 0) return NULL;
        if (zero) memset(p, 0, nbytes);
    } else {
        /* small blocks: plain malloc (aligned by the caller), which glibc packs well */
        p = zero ? calloc(1, nbytes + 64) : malloc(nbytes + 64);
        if (!p) return NULL;
    }
    __atomic_add_fetch(&ctx->live, cap, __ATOMIC_RELAXED);
    *cap_out = cap;
    return p;
}

void lt_ctx_block_free(lt_context *ctx, void *p, size_t cap) {
    if (!p) return;
    __atomic_sub_fetch(&ctx->live, cap, __ATOMIC_RELAXED);
    size_t c2;
    int c = cap >= CACHE_MIN ? size_class(cap, &c2) : -1;
    if (c >= 0 && c2 == cap) {
        pthread_mutex_lock(&ctx->lock);
        if (ctx->bytes + cap <= ctx->limit) {
            cached_block *b = p;
            b->next = ctx->head[c];
            ctx->head[c] = b;
            ctx->bytes += cap;
            p = NULL;
        }
        pthread_mutex_unlock(&ctx->lock);
    }
    free(p);
}

/* The capacity of class c (size_class's inverse): 2^e + k * 2^e / 4. */
static size_t class_cap(int c) {
    const size_t base = (size_t)1 << (c / 4 + 16);
    return base + (size_t)(c % 4 + 1) * (base / 4);
}

/* Unlinks the cached blocks while holding the lock, frees them after it. */
static void cache_trim(lt_context *ctx, size_t keep) {
    cached_block *drop = NULL;
    pthread_mutex_lock(&ctx->lock);
    for (int c = CACHE_CLASSES - 1; c >= 0 && ctx->bytes > keep; c--) {
        const size_t cap = class_cap(c);
        while (ctx->head[c] && ctx->bytes > keep) {
            cached_block *b = ctx->head[c];
            ctx->head[c] = b->next;
            ctx->bytes -= cap;
            b->next = drop;
            drop = b;
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    while (drop) {
        cached_block *next = drop->next;
        free(drop);
        drop = next;
    }
}

void lt_ctx_cache_empty(lt_context *ctx) {
    cache_trim(ctx, 0);
}

void lt_ctx_cache_set_limit(lt_context *ctx, size_t bytes) {
    pthread_mutex_lock(&ctx->lock);
    ctx->limit = bytes;
    pthread_mutex_unlock(&ctx->lock);
    cache_trim(ctx, bytes);
}

size_t lt_ctx_cache_bytes(lt_context *ctx) {
    pthread_mutex_lock(&ctx->lock);
    size_t b = ctx->bytes;
    pthread_mutex_unlock(&ctx->lock);
    return b;
}

size_t lt_ctx_live_bytes(const lt_context *ctx) {
    return __atomic_load_n(&ctx->live, __ATOMIC_RELAXED);
}

void lt_ctx_cache_stats(lt_context *ctx, lt_cache_stats *out) {
    pthread_mutex_lock(&ctx->lock);
    out->cached_bytes = ctx->bytes;
    out->limit = ctx->limit;
    out->hits = ctx->hits;
    out->misses = ctx->misses;
    pthread_mutex_unlock(&ctx->lock);
    out->live_bytes = lt_ctx_live_bytes(ctx);
}
