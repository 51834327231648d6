/* lt_context.h: the core's mutable state, one context per user (the Lua binding makes one
 * per lua_State). It holds the thread budget, the ISA level (lt_isa.h), the convolution
 * algorithm and ISA choice, the kernels' scratch buffers, the storage block cache with its
 * statistics, the last range error (lt_core.h), and counters the binding uses to pace its
 * garbage collector. Nothing in the core is process-wide and
 * writable, so two contexts may be used from two threads at once. No Lua here.
 *
 *   lt_context *ctx = lt_context_new();           // refcount 1: the owner's reference
 *   if (!ctx) return LT_ENOMEM;
 *   lt_ctx_set_num_threads(ctx, 1);
 *   lt_tensor x;
 *   lt_tensor_init(ctx, &x, LT_FLOAT32, 2, size); // the storage retains ctx
 *   lt_unary(ctx, &x, &x, LT_OP_RELU);
 *   lt_context_release(ctx);                      // the owner is done ...
 *   lt_tensor_release(&x);                        // ... the last storage frees the context
 *
 * Threads: a context is used by one thread at a time for running kernels (its scratch
 * buffers and settings are not locked), like a lua_State. What other threads may do at any
 * time: retain and release the context (atomic refcount) and release storages allocated
 * through it (the block cache and the live-byte count are under the context's mutex or
 * atomic). A storage can therefore be handed to another thread or Lua state and released
 * there, even after its context's owner is gone.
 *
 * OpenBLAS keeps ONE thread count for the whole process: lt_ctx_set_num_threads also sets
 * it (openblas_set_num_threads: the budget for a context at the generic ISA level, whose
 * GEMMs are OpenBLAS's, else 1), so the last call from any context wins for OpenBLAS, while
 * lunet's own OpenMP loops and GEMM follow each context's budget. Hosts that run several
 * contexts in several threads should give each context 1 thread. */
#ifndef LT_CONTEXT_H
#define LT_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct lt_context lt_context;

/* A new context (refcount 1) with num_threads = the online CPUs, conv algorithm AUTO, conv
 * ISA the best the CPU has, empty scratch and cache (limit 1 GiB); NULL when out of memory. */
lt_context *lt_context_new(void);
void lt_context_retain(lt_context *ctx);
/* Drops one reference; the last one frees the scratch, the cached blocks and the context. */
void lt_context_release(lt_context *ctx);

/* ---- thread budget: lunet's OpenMP loops and GEMM use up to n threads (n >= 1) ---- */
int lt_ctx_num_threads(const lt_context *ctx);
/* Clamps n to >= 1; also openblas_set_num_threads(n), which is per process (see above). */
void lt_ctx_set_num_threads(lt_context *ctx, int n);
/* stops OpenBLAS's idle thread pool if it runs (csrc/lt_omp.c; OpenBLAS restarts it on its
 * next threaded call) */
void lt_omp_blas_pool_stop(void);

/* ---- convolution choices (lt_conv.h's LT_CONV_* and LT_CONV_ISA_*; lt_conv_set_algo and
 * lt_conv_set_isa validate them). isa -1: the best the CPU has. ---- */
int lt_ctx_conv_algo(const lt_context *ctx);
void lt_ctx_set_conv_algo(lt_context *ctx, int algo);
int lt_ctx_conv_isa(const lt_context *ctx);
void lt_ctx_set_conv_isa(lt_context *ctx, int isa);

/* ---- ISA level of the multiversioned kernels (lt_isa.h's LT_ISA_*): a new context takes
 * lt_isa_default() (the CPU's best, or lower through LUNET_ISA). Setting a level also sets
 * the convolution ISA (AVX-512 for LT_ISA_AVX512, else AVX2: the direct convolution kernels
 * have no baseline variant). set returns -1 (nothing changed) for a level out of range or
 * above the CPU's, else 0. ---- */
int lt_ctx_isa(const lt_context *ctx);
int lt_ctx_set_isa(lt_context *ctx, int level);

/* ---- scratch: grow-only 64-byte aligned buffers reused across kernel calls, one per slot.
 * A slot's buffer stays valid until the next call for the same slot with a larger size. ---- */
enum {
    LT_SCRATCH_CONV = 0,       /* conv: column matrices, padded inputs, packed weights */
    LT_SCRATCH_CONV_ACC = 1,   /* conv: per-thread weight-gradient accumulators */
    LT_SCRATCH_NORM = 2,       /* lua_norm.c: double accumulators of group_norm_backward */
    LT_SCRATCH_SLOTS = 3
};
void *lt_ctx_scratch(lt_context *ctx, int slot, size_t nbytes);   /* NULL on failure */
void lt_ctx_scratch_free(lt_context *ctx);                        /* frees every slot */

/* ---- storage block cache: blocks of 64 kB and more are recycled (training loops allocate
 * the same sizes every step; fresh pages cost a page fault and a clear each), up to the
 * limit in bytes (default 1 GiB). Thread-safe. ---- */
typedef struct {
    size_t live_bytes;     /* storage blocks in use (their capacities) */
    size_t cached_bytes;   /* free blocks held for reuse */
    size_t limit;          /* the most the cache holds */
    uint64_t hits;         /* allocations served from the cache */
    uint64_t misses;       /* cacheable allocations that went to the system allocator */
} lt_cache_stats;
void lt_ctx_cache_stats(lt_context *ctx, lt_cache_stats *out);
size_t lt_ctx_cache_bytes(lt_context *ctx);
size_t lt_ctx_live_bytes(const lt_context *ctx);
void lt_ctx_cache_set_limit(lt_context *ctx, size_t bytes);     /* trims the cache to fit */
void lt_ctx_cache_empty(lt_context *ctx);
/* The allocator behind lt_storage (lt_tensor.c): a block of at least nbytes, with 64 bytes
 * of slack for alignment below CACHE_MIN; *cap receives the capacity to pass back to
 * lt_ctx_block_free. zero: the first nbytes are zeroed. NULL when out of memory. */
void *lt_ctx_block_alloc(lt_context *ctx, size_t nbytes, int zero, size_t *cap);
void lt_ctx_block_free(lt_context *ctx, void *p, size_t cap);

/* ---- counters the binding keeps for its collector pacing (lua_tensor.c report_bytes);
 * the core never reads them. Starts zeroed with full_threshold = 64 MiB. ---- */
typedef struct {
    size_t pending, since_full, full_threshold;
} lt_gc_pacing;
lt_gc_pacing *lt_ctx_gc_pacing(lt_context *ctx);

#endif
