/* lt_omp.c: lunet's own OpenMP runtime, the few GOMP entry points the compiled OpenMP code of
 * core.so calls (GCC's OpenMP ABI), so that how idle threads wait is lunet's.
 *
 * Why not libgomp: a training step is a long series of short parallel regions with serial
 * Lua in between (the Fashion-MNIST step: about 80 regions in 50 ms, with gaps from a few
 * microseconds to milliseconds between them). libgomp's
 * default has every idle worker spin up to 300000 pause instructions after each region
 * (more than half of a 2-core step's CPU time was spinning, and on a loaded machine the
 * spinning workers took the cores the master thread needed); its passive policy sleeps at
 * once, and then every region pays a futex wake-up and the worker's scheduling latency
 * (20-80 us in a VM) before the second thread starts: the Fashion step took 10% longer.
 * Neither can be chosen from inside lunet once libgomp is mapped, and a fixed spin count
 * (GOMP_SPINCOUNT) either wastes more than 5% of the samples or gives the wake-ups back.
 *
 * This runtime:
 * - Each thread that starts a region with more than one thread (a "master": the Lua state's
 *   thread) owns a team of worker threads, created on first use and joined when the thread
 *   exits (a pthread key's destructor) or on omp_pause_resource_all (before fork).
 * - A region of n threads is n slots. The master publishes the region, runs slot 0, then
 *   claims any slot no worker has claimed yet and runs it itself: a worker that is still
 *   waking up does not hold the region back, and a region that is shorter than a wake-up
 *   runs on the master alone. A slot that reaches a barrier waits for the other slots
 *   (which workers then run); regions without barriers may run any of their slots on any
 *   thread, one after the other (omp_get_thread_num is the slot).
 * - Waiting (workers between regions, the master for the last slot, barriers) spins for a
 *   bounded time and then sleeps on a futex. The spin is paid from a per-thread budget that
 *   grows at 4% of the time the thread works (so its spinning is at most about 4% of its
 *   samples, however the regions are spaced and however loaded the machine is), holds at most
 *   200 us, and one wait spins at most 60 us: the short gaps (the kernels of one layer, one
 *   after the other) are crossed without a sleep, the long ones (Lua) sleep.
 * - schedule(dynamic) loops hand out chunks from a ring of counters, one per worksharing
 *   construct, tagged with the construct's sequence number in the region (nowait loops may
 *   run ahead of each other); `critical` is a spin lock on the name's pointer.
 * - Nested regions run on their calling thread as a team of one, like libgomp's default.
 *
 * LUNET_OPENMP=libgomp in the environment (read once, when core.so is mapped) loads libgomp
 * instead and forwards every entry point to it (for comparisons); lunet then sets
 * OMP_WAIT_POLICY=passive unless the user set it or GOMP_SPINCOUNT. That setting also holds
 * for a libgomp another library of the process loads. lunet.distributed's core links its own
 * copy of this file (its teams are its own; its regions are the synchronised batch norm's). */
#define _DEFAULT_SOURCE   /* syscall */
#include <dlfcn.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lt_context.h"

#define HIDDEN __attribute__((visibility("hidden")))

typedef void (*region_fn)(void *);

static struct {
    void (*parallel)(region_fn, void *, unsigned, unsigned);
    void (*barrier)(void);
    void (*critical_name_start)(void **);
    void (*critical_name_end)(void **);
    void (*loop_end_nowait)(void);
    _Bool (*loop_dyn_start)(long, long, long, long, long *, long *);
    _Bool (*loop_dyn_next)(long *, long *);
    int (*get_active_level)(void);
    int (*get_num_threads)(void);
    int (*get_thread_num)(void);
    int (*pause_resource_all)(int);
    int ok;           /* LUNET_OPENMP=libgomp and every entry point bound: forward to libgomp */
    int key_ok;       /* key below created: teams are joined when their master thread exits */
    pthread_key_t key;
    int ncpu;         /* the team size of a region that asks for none */
    void (*blas_shutdown)(void);   /* OpenBLAS's blas_thread_shutdown_, or NULL */
    double spin_share, spin_burst, spin_max;   /* the spin budget (see wait_change) */
} gomp;
/* The core's one writable global, once-initialised: ONLY the constructor lt_omp_load below
 * writes it, when core.so is mapped (before any Lua state, context or thread of lunet's
 * exists); every other function here only reads it. spec/context_spec.lua allows this one
 * symbol (and the thread-local state `me` below) in its nm check and checks this file: no
 * write to gomp outside lt_omp_load. */


/* ------------------------------------------------------------------ time, futex, spinning */

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void futex_wait(_Atomic unsigned *addr, unsigned val) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic unsigned *addr) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ teams */

#define MAX_TEAM 1024   /* lt_context caps the thread budget at 1024 */
#define WS_RING 8       /* dynamic loops of one region that may be in flight at once */

typedef struct team team;

typedef struct {
    team *t;
    unsigned seen;   /* the region generation the worker was created after */
    pthread_t tid;
} worker;

struct team {
    /* the region: written by the master before it publishes the claim word (release) and
     * read by a thread only after its claim of a slot succeeded (acquire) */
    region_fn fn;
    void *data;
    /* gen << 32 | nth << 16 | next unclaimed slot */
    _Alignas(64) _Atomic uint64_t claim;
    /* the region generation, the futex word idle workers sleep on */
    _Alignas(64) _Atomic unsigned gen;
    _Atomic unsigned gen_sleepers;
    _Atomic unsigned quit;
    /* slots finished in the current region, the futex word the master sleeps on */
    _Alignas(64) _Atomic unsigned done;
    _Atomic unsigned done_sleepers;
    /* the barrier */
    _Alignas(64) _Atomic unsigned bar_gen;
    _Atomic unsigned bar_count;
    _Atomic unsigned bar_sleepers;
    /* schedule(dynamic) loops: tag (the construct's 1-based sequence number) << 32 | chunks
     * handed out */
    _Alignas(64) _Atomic uint64_t ws[WS_RING];
    unsigned mgen;   /* the master's copy of gen */
    int nworkers;
    worker *w[MAX_TEAM];
};

/* A thread's place: the innermost region it runs a slot of (t NULL: none, or a team of one),
 * its slot and the team size, whether an enclosing region is active (more than one thread),
 * the dynamic loop it is in, its spin budget, and the team it owns as a master. */
typedef struct {
    team *t;
    int id, nth, active;
    unsigned ws;               /* worksharing constructs met in this slot */
    long lstart, lend, lincr, lchunk, lcount;
    double tokens, last;       /* spin budget: ns it may still spin; when last topped up */
    team *own;
} thread_state;

static __thread thread_state me;

#ifdef LT_OMP_STATS   /* development counters, printed at exit: make CFLAGS="-g -DLT_OMP_STATS" */
#include <stdio.h>
static _Atomic long st_regions, st_wakes, st_sleeps, st_stolen, st_spin_ns;
__attribute__((destructor)) static void st_print(void) {
    fprintf(stderr, "lt_omp: %ld regions, %ld wake-ups, %ld sleeps, %ld slots run by the master, "
            "%.1f ms spinning\n", (long)st_regions, (long)st_wakes, (long)st_sleeps,
            (long)st_stolen, (double)st_spin_ns / 1e6);
}
#define STAT(x) (x)
#else
#define STAT(x) ((void)0)
#endif

/* Waits until *addr != val. Spins while the thread's budget lasts, then sleeps on the futex;
 * *sleepers counts the sleepers so that a waker skips the system call when none sleeps. The
 * budget grows at spin_share of the time the thread works (outside this function: its
 * spinning is then at most that share of its samples, whatever the team size or the load)
 * up to spin_burst ns, and one wait spins at most spin_max ns. Not inlined: a profile shows
 * the spinning as this function's samples. */
__attribute__((noinline)) static void wait_change(_Atomic unsigned *addr, unsigned val,
                                                  _Atomic unsigned *sleepers) {
    if (atomic_load_explicit(addr, memory_order_acquire) != val) return;
    const double t0 = now_ns();
    me.tokens += (t0 - me.last) * gomp.spin_share;
    if (me.tokens > gomp.spin_burst) me.tokens = gomp.spin_burst;
    me.last = t0;
    const double limit = me.tokens < gomp.spin_max ? me.tokens : gomp.spin_max;
    if (limit > 0) {
        for (unsigned i = 1;; i++) {
            cpu_relax();
            if (atomic_load_explicit(addr, memory_order_acquire) != val) break;
            if ((i & 15) == 0 && now_ns() - t0 >= limit) break;
        }
        const double t1 = now_ns();
        STAT(st_spin_ns += (long)(t1 - t0));
        me.tokens -= t1 - t0;
        me.last = t1;
    }
    int slept = 0;
    while (atomic_load_explicit(addr, memory_order_acquire) == val) {
        atomic_fetch_add(sleepers, 1);
        if (atomic_load(addr) == val) {
            STAT(st_sleeps++);
            futex_wait(addr, val);
            slept = 1;
        }
        atomic_fetch_sub(sleepers, 1);
    }
    if (slept) me.last = now_ns();   /* the budget grows with the time spent working only */
}

/* runs fn(data) on this thread as slot id of nth in team t (NULL: a team of one) with the
 * given active level, then restores the thread's place (its spin budget keeps what the
 * region's barriers spent) */
static void run_as(team *t, int id, int nth, int active, region_fn fn, void *data) {
    const thread_state saved = me;
    me.t = t;
    me.id = id;
    me.nth = nth;
    me.active = active;
    me.ws = 0;
    fn(data);
    const double tokens = me.tokens, last = me.last;
    me = saved;
    me.tokens = tokens;
    me.last = last;
}

/* runs slot id of the current region of t (nth slots) on this thread */
static void run_slot(team *t, int id, int nth) { run_as(t, id, nth, 1, t->fn, t->data); }

/* claims and runs unclaimed slots of region generation g; returns how many it ran */
static int run_slots(team *t, unsigned g) {
    int ran = 0;
    uint64_t v = atomic_load_explicit(&t->claim, memory_order_acquire);
    for (;;) {
        const int nth = (int)(v >> 16 & 0xffff), s = (int)(v & 0xffff);
        if ((unsigned)(v >> 32) != g || s >= nth) return ran;
        if (!atomic_compare_exchange_weak_explicit(&t->claim, &v, v + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        run_slot(t, s, nth);
        ran++;
        if (atomic_fetch_add(&t->done, 1) + 1 == (unsigned)nth && atomic_load(&t->done_sleepers))
            futex_wake(&t->done);
        v = atomic_load_explicit(&t->claim, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    worker *self = arg;
    team *t = self->t;
    unsigned seen = self->seen;
    me.last = now_ns();
    for (;;) {
        wait_change(&t->gen, seen, &t->gen_sleepers);
        seen = atomic_load_explicit(&t->gen, memory_order_acquire);
        if (atomic_load(&t->quit)) return NULL;
        run_slots(t, seen);
    }
}

/* stops and joins t's workers and frees t (joined: when the threads still exist) */
static void team_free(team *t, int joined) {
    if (!t) return;
    atomic_store(&t->quit, 1);
    atomic_fetch_add(&t->gen, 1);
    futex_wake(&t->gen);
    for (int i = 0; i < t->nworkers; i++) {
        if (joined) pthread_join(t->w[i]->tid, NULL);
        free(t->w[i]);
    }
    free(t);
}

/* the calling thread's team with at least want workers if it can (fewer if threads cannot
 * be created), or NULL */
static team *team_get(int want) {
    team *t = me.own;
    if (!t) {
        t = aligned_alloc(64, sizeof *t);
        if (!t) return NULL;
        memset(t, 0, sizeof *t);
        me.own = t;
        if (gomp.key_ok) pthread_setspecific(gomp.key, t);
    }
    /* workers start with every signal blocked: signals (Ctrl-C) go to the Lua state's
     * thread, whose handlers expect to run there */
    sigset_t all, old;
    sigfillset(&all);
    const int masked = t->nworkers < want && pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    while (t->nworkers < want && t->nworkers < MAX_TEAM - 1) {
        worker *w = malloc(sizeof *w);
        if (!w) break;
        w->t = t;
        w->seen = t->mgen;
        if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
            free(w);
            break;
        }
        t->w[t->nworkers++] = w;
    }
    if (masked) pthread_sigmask(SIG_SETMASK, &old, NULL);
    return t;
}

static void team_destructor(void *p) { team_free(p, 1); }

/* the child of a fork has none of the parent's workers: forget the team (its memory is the
 * parent's copy) so that the next region creates new ones */
static void after_fork_child(void) {
    team_free(me.own, 0);
    me.own = NULL;
    if (gomp.key_ok) pthread_setspecific(gomp.key, NULL);
}

/* ------------------------------------------------------------------ loading */

static double env_num(const char *name, double dflt, double lo, double hi) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    const double v = strtod(s, &end);
    return *end == '\0' && v >= lo && v <= hi ? v : dflt;
}

static void *sym(void *h, const char *name, int *ok) {
    void *p = dlsym(h, name);
    if (!p) *ok = 0;
    return p;
}

/* runs when core.so is mapped, before any call into it */
__attribute__((constructor)) static void lt_omp_load(void) {
#define BIND(field, name)                                                                      \
    do {                                                                                       \
        void *p_ = sym(h, name, &ok);                                                          \
        memcpy(&gomp.field, &p_, sizeof p_);                                                   \
    } while (0)
    /* a libgomp of the process (lunet.distributed's, or LUNET_OPENMP=libgomp below) sleeps
     * when idle unless the user chose otherwise */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        setenv("OMP_WAIT_POLICY", "passive", 0);
    const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    gomp.ncpu = ncpu > 0 ? (ncpu < MAX_TEAM ? (int)ncpu : MAX_TEAM) : 1;
    /* the spin budget (LUNET_SPIN_SHARE 0..1, LUNET_SPIN_MAX_US: for measurements) */
    gomp.spin_share = env_num("LUNET_SPIN_SHARE", 0.04, 0.0, 1.0);
    gomp.spin_max = env_num("LUNET_SPIN_MAX_US", 60.0, 0.0, 1e6) * 1e3;
    gomp.spin_burst = gomp.spin_max > 200e3 ? gomp.spin_max : 200e3;
    gomp.key_ok = pthread_key_create(&gomp.key, team_destructor) == 0;
    pthread_atfork(NULL, NULL, after_fork_child);
    /* OpenBLAS (pthread build) starts its own pool when it is loaded, before this constructor
     * (and again on openblas_set_num_threads), and its idle threads spin with sched_yield for
     * about 0.1 s: on a 2-core machine they took a core from lunet's first regions. lunet
     * calls it single-threaded inside its own regions, and threaded only at the generic ISA
     * level (lt_context.c): stop the pool now; OpenBLAS starts it again on its first threaded
     * call. */
    void *bs = dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    memcpy(&gomp.blas_shutdown, &bs, sizeof bs);
    if (gomp.blas_shutdown) gomp.blas_shutdown();
    const char *rt = getenv("LUNET_OPENMP");
    if (!rt || strcmp(rt, "libgomp") != 0) return;
    void *h = dlopen("libgomp.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    int ok = 1;
    BIND(parallel, "GOMP_parallel");
    BIND(barrier, "GOMP_barrier");
    BIND(critical_name_start, "GOMP_critical_name_start");
    BIND(critical_name_end, "GOMP_critical_name_end");
    BIND(loop_end_nowait, "GOMP_loop_end_nowait");
    BIND(loop_dyn_start, "GOMP_loop_nonmonotonic_dynamic_start");
    BIND(loop_dyn_next, "GOMP_loop_nonmonotonic_dynamic_next");
    BIND(get_active_level, "omp_get_active_level");
    BIND(get_num_threads, "omp_get_num_threads");
    BIND(get_thread_num, "omp_get_thread_num");
    BIND(pause_resource_all, "omp_pause_resource_all");
    gomp.ok = ok;   /* the handle stays open: core.so is never unloaded (-z nodelete) */
#undef BIND
}

HIDDEN void lt_omp_blas_pool_stop(void) {
    if (gomp.blas_shutdown) gomp.blas_shutdown();
}

/* ------------------------------------------------------------------ the entry points */

HIDDEN void GOMP_parallel(region_fn fn, void *data, unsigned nthreads, unsigned flags);
HIDDEN void GOMP_barrier(void);
HIDDEN void GOMP_critical_name_start(void **pptr);
HIDDEN void GOMP_critical_name_end(void **pptr);
HIDDEN void GOMP_loop_end_nowait(void);
HIDDEN _Bool GOMP_loop_nonmonotonic_dynamic_start(long start, long end, long incr, long chunk,
                                                  long *istart, long *iend);
HIDDEN _Bool GOMP_loop_nonmonotonic_dynamic_next(long *istart, long *iend);
HIDDEN int omp_get_active_level(void);
HIDDEN int omp_get_num_threads(void);
HIDDEN int omp_get_thread_num(void);
HIDDEN int omp_pause_resource_all(int kind);   /* kind: omp_pause_resource_t */

void GOMP_parallel(region_fn fn, void *data, unsigned nthreads, unsigned flags) {
    (void)flags;   /* proc_bind: threads are not pinned */
    if (gomp.ok) {
        gomp.parallel(fn, data, nthreads, flags);
        return;
    }
    int n = nthreads == 0 ? gomp.ncpu : nthreads > MAX_TEAM ? MAX_TEAM : (int)nthreads;
    team *t = n > 1 && !me.active ? team_get(n - 1) : NULL;
    if (t && n > t->nworkers + 1) n = t->nworkers + 1;
    if (!t || n == 1) {
        /* a team of one: nested in an active region, one thread asked for, or no workers */
        run_as(NULL, 0, 1, me.active, fn, data);
        return;
    }
    if (me.last == 0) me.last = now_ns();
    t->fn = fn;
    t->data = data;
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    for (int i = 0; i < WS_RING; i++) atomic_store_explicit(&t->ws[i], 0, memory_order_relaxed);
    const unsigned g = ++t->mgen;
    /* slot 0 is the master's; the release publishes fn, data, done and the ring */
    atomic_store_explicit(&t->claim, (uint64_t)g << 32 | (uint64_t)n << 16 | 1,
                          memory_order_release);
    atomic_store(&t->gen, g);
    STAT(st_regions++);
    if (atomic_load(&t->gen_sleepers)) {
        STAT(st_wakes++);
        futex_wake(&t->gen);
    }
    run_slot(t, 0, n);
    atomic_fetch_add(&t->done, 1);
    const int stolen = run_slots(t, g);   /* the slots no worker has claimed yet */
    STAT(st_stolen += stolen);
    (void)stolen;
    for (unsigned d; (d = atomic_load_explicit(&t->done, memory_order_acquire)) != (unsigned)n;)
        wait_change(&t->done, d, &t->done_sleepers);
}

void GOMP_barrier(void) {
    if (gomp.ok) {
        gomp.barrier();
        return;
    }
    team *t = me.t;
    if (!t) return;
    const unsigned g = atomic_load(&t->bar_gen);
    if (atomic_fetch_add(&t->bar_count, 1) + 1 == (unsigned)me.nth) {
        atomic_store(&t->bar_count, 0);
        atomic_store(&t->bar_gen, g + 1);
        if (atomic_load(&t->bar_sleepers)) futex_wake(&t->bar_gen);
    } else {
        wait_change(&t->bar_gen, g, &t->bar_sleepers);
    }
}

/* `critical(name)`: *pptr (GCC's per-name pointer) is the lock word: NULL free, else held */
void GOMP_critical_name_start(void **pptr) {
    if (gomp.ok) {
        gomp.critical_name_start(pptr);
        return;
    }
    _Atomic(void *) *lock = (_Atomic(void *) *)pptr;
    void *expect = NULL;
    for (unsigned i = 1; !atomic_compare_exchange_weak(lock, &expect, (void *)lock); i++) {
        expect = NULL;
        if (i % 64 == 0) sched_yield(); else cpu_relax();
    }
}

void GOMP_critical_name_end(void **pptr) {
    if (gomp.ok) {
        gomp.critical_name_end(pptr);
        return;
    }
    atomic_store((_Atomic(void *) *)pptr, NULL);
}

void GOMP_loop_end_nowait(void) {
    if (gomp.ok) gomp.loop_end_nowait();
}

/* the next chunk of the current dynamic loop: chunks are numbered, the ring word of the
 * construct counts those handed out; a word tagged with a later construct means this one is
 * exhausted (a thread moves on only after the loop gave it nothing more), one tagged with an
 * earlier construct is free (every thread has left that one) */
_Bool GOMP_loop_nonmonotonic_dynamic_next(long *istart, long *iend) {
    if (gomp.ok) return gomp.loop_dyn_next(istart, iend);
    if (!me.t) return 0;   /* a team of one took the whole loop in _start */
    _Atomic uint64_t *w = &me.t->ws[me.ws % WS_RING];
    const uint64_t tag = me.ws;
    const long nchunks = me.lcount / me.lchunk + (me.lcount % me.lchunk != 0);
    uint64_t v = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        const uint64_t vt = v >> 32;
        if (vt > tag) return 0;
        const uint64_t c = vt == tag ? (v & 0xffffffffu) : 0;
        if ((long)c >= nchunks) return 0;
        if (atomic_compare_exchange_weak_explicit(w, &v, tag << 32 | (c + 1), memory_order_relaxed,
                                                  memory_order_relaxed)) {
            const long first = (long)c * me.lchunk, left = me.lcount - first;
            *istart = me.lstart + first * me.lincr;
            *iend = left <= me.lchunk ? me.lend : *istart + me.lchunk * me.lincr;
            return 1;
        }
    }
}

_Bool GOMP_loop_nonmonotonic_dynamic_start(long start, long end, long incr, long chunk,
                                           long *istart, long *iend) {
    if (gomp.ok) return gomp.loop_dyn_start(start, end, incr, chunk, istart, iend);
    if (!me.t) {
        *istart = start;
        *iend = end;
        return start != end;
    }
    const long count = incr > 0 ? (end > start ? (end - start - 1) / incr + 1 : 0)
                                : (start > end ? (start - end - 1) / -incr + 1 : 0);
    if (chunk < 1) chunk = 1;
    /* the ring counts chunks in 32 bits */
    if (count / chunk >= 0x7fffffffL) chunk = count / 0x40000000L + 1;
    me.lstart = start;
    me.lend = end;
    me.lincr = incr;
    me.lchunk = chunk;
    me.lcount = count;
    me.ws++;
    return GOMP_loop_nonmonotonic_dynamic_next(istart, iend);
}

int omp_get_active_level(void) {
    if (gomp.ok) return gomp.get_active_level();
    return me.active;
}

int omp_get_num_threads(void) {
    if (gomp.ok) return gomp.get_num_threads();
    return me.t ? me.nth : 1;
}

int omp_get_thread_num(void) {
    if (gomp.ok) return gomp.get_thread_num();
    return me.t ? me.id : 0;
}

/* stops the calling thread's workers (lua_workers.c before fork); the next region starts new
 * ones */
int omp_pause_resource_all(int kind) {
    if (gomp.ok) return gomp.pause_resource_all(kind);
    if (me.active) return -1;   /* not from inside a region */
    team_free(me.own, 1);
    me.own = NULL;
    if (gomp.key_ok) pthread_setspecific(gomp.key, NULL);
    return 0;
}
