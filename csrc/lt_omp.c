/* lt_omp.c: the OpenMP runtime, loaded by lunet itself so that its wait policy is lunet's.
 *
 * libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, in its own constructor. Its default
 * has every idle worker spin up to 300000 pause instructions (milliseconds on current x86)
 * after each parallel region before sleeping, and lunet's training step is a long series of
 * short regions with serial Lua in between: on a 2-core machine the workers spent more than
 * half of the step's CPU time spinning, and on a loaded machine the spinning workers took
 * the cores the master thread needed (a 3-4x slower step). Setting the variable from
 * lunet's code comes too late once libgomp is mapped, so core.so is linked WITHOUT libgomp
 * (the Makefile links without -fopenmp): its constructor sets OMP_WAIT_POLICY=passive
 * (threads sleep on a futex as soon as they are idle) unless the user set OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT, then dlopens libgomp and binds the few GOMP entry points the compiled
 * OpenMP code calls to the forwarders below (hidden: they serve core.so's own calls only).
 * When the host process already loaded libgomp, its settings stay (the same library is
 * returned). When libgomp cannot be loaded at all, the forwarders run every region on the
 * calling thread alone (correct results, one thread). */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

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
    int ok;   /* every entry point bound (else the serial fallbacks run) */
} gomp;
/* The core's one writable global, once-initialised: ONLY the constructor lt_omp_load below
 * writes it, when core.so is mapped (before any Lua state, context or thread of lunet's
 * exists); every other function here only reads it. spec/context_spec.lua allows this one
 * symbol in its nm check and checks this file: no write to gomp outside lt_omp_load. */

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
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        setenv("OMP_WAIT_POLICY", "passive", 0);
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

/* the forwarders, with libgomp's own signatures (GCC's OpenMP ABI) */
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
    if (gomp.ok) {
        gomp.parallel(fn, data, nthreads, flags);
        return;
    }
    (void)nthreads;
    (void)flags;
    fn(data);
}

void GOMP_barrier(void) {
    if (gomp.ok) gomp.barrier();
}

void GOMP_critical_name_start(void **pptr) {
    if (gomp.ok) gomp.critical_name_start(pptr);
}

void GOMP_critical_name_end(void **pptr) {
    if (gomp.ok) gomp.critical_name_end(pptr);
}

void GOMP_loop_end_nowait(void) {
    if (gomp.ok) gomp.loop_end_nowait();
}

/* serially the one thread takes the whole iteration space at once */
_Bool GOMP_loop_nonmonotonic_dynamic_start(long start, long end, long incr, long chunk,
                                           long *istart, long *iend) {
    if (gomp.ok) return gomp.loop_dyn_start(start, end, incr, chunk, istart, iend);
    *istart = start;
    *iend = end;
    return start != end;
}

_Bool GOMP_loop_nonmonotonic_dynamic_next(long *istart, long *iend) {
    if (gomp.ok) return gomp.loop_dyn_next(istart, iend);
    (void)istart;
    (void)iend;
    return 0;
}

/* serially nothing nests where it matters: a nested region also runs on the one thread */
int omp_get_active_level(void) { return gomp.ok ? gomp.get_active_level() : 0; }

int omp_get_num_threads(void) { return gomp.ok ? gomp.get_num_threads() : 1; }

int omp_get_thread_num(void) { return gomp.ok ? gomp.get_thread_num() : 0; }

/* releases the pool's threads (lua_workers.c before fork); serially there is none */
int omp_pause_resource_all(int kind) { return gomp.ok ? gomp.pause_resource_all(kind) : 0; }
