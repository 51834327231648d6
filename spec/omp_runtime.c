/* omp_runtime: checks lunet's OpenMP runtime (csrc/lt_omp.c) on the constructs core.so's
 * kernels use, built by spec/omp_spec.lua with -fopenmp at compile time and linked against
 * lt_omp.o instead of libgomp (as core.so is):
 *   parallel regions of 1..MAXT threads (more than the cores), static and dynamic loops,
 *   chains of nowait dynamic loops (more than the runtime's ring of loop counters), barriers,
 *   critical sections, nested regions (a team of one), omp_get_active_level, many short
 *   regions in a row, and two master threads running their own teams at the same time.
 * Prints "omp_runtime: ok" and exits 0, or names the first check that failed and exits 1. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 6
#define N 10007

static int fail(const char *what, long got, long want) {
    fprintf(stderr, "omp_runtime: %s: got %ld, want %ld\n", what, got, want);
    exit(1);
}

/* every iteration of a static loop runs once, on threads 0..nt-1 */
static void check_static(int nt) {
    int *hits = calloc(N, sizeof *hits), team = 0;
    if (!hits) fail("calloc", 0, 1);
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int i = 0; i < N; i++) {
        hits[i]++;
        if (i == 0) team = omp_get_num_threads();
    }
    for (int i = 0; i < N; i++)
        if (hits[i] != 1) fail("static loop: hits of an iteration", hits[i], 1);
    if (team != nt) fail("static loop: omp_get_num_threads", team, nt);
    free(hits);
}

/* dynamic loops (chunks 1 and 7, increasing and decreasing), a chain of 20 nowait loops with
 * no barrier between them, then a barrier and a check by every thread */
static void check_dynamic(int nt) {
    int (*hits)[N] = calloc(20, sizeof *hits);
    if (!hits) fail("calloc", 0, 1);
    long sum = 0;
    int bad = 0;
    #pragma omp parallel num_threads(nt) reduction(+ : sum)
    {
        for (int k = 0; k < 20; k++) {
            if (k % 3 == 2) {
                #pragma omp for schedule(dynamic, 7) nowait
                for (int i = N - 1; i >= 0; i--) {
                    #pragma omp atomic
                    hits[k][i]++;
                    sum += i;
                }
            } else {
                #pragma omp for schedule(dynamic, 1) nowait
                for (int i = 0; i < N; i += 1 + k % 2) {
                    #pragma omp atomic
                    hits[k][i]++;
                    sum += i;
                }
            }
        }
        #pragma omp barrier
        for (int k = 0; k < 20; k++)
            for (int i = 0; i < N; i++) {
                int h;
                #pragma omp atomic read
                h = hits[k][i];
                const int want = (k % 3 == 2 || k % 2 == 0 || i % 2 == 0) ? 1 : 0;
                if (h != want) {
                    #pragma omp atomic write
                    bad = 1;
                }
            }
    }
    if (bad) fail("dynamic loops: an iteration ran other than once", bad, 0);
    long want = 0;
    for (int k = 0; k < 20; k++)
        for (int i = 0; i < N; i += (k % 3 == 2) ? 1 : 1 + k % 2) want += i;
    if (sum != want) fail("dynamic loops: sum of the iterations", sum, want);
    free(hits);
}

/* barriers order phases: each thread writes its slot, all read all, repeatedly */
static void check_barrier(int nt) {
    int slot[MAXT] = {0}, bad = 0;
    #pragma omp parallel num_threads(nt)
    {
        const int id = omp_get_thread_num(), n = omp_get_num_threads();
        for (int round = 1; round <= 200; round++) {
            __atomic_store_n(&slot[id], round, __ATOMIC_RELAXED);
            #pragma omp barrier
            for (int j = 0; j < n; j++) {
                if (__atomic_load_n(&slot[j], __ATOMIC_RELAXED) != round) {
                    #pragma omp atomic write
                    bad = round;
                }
            }
            #pragma omp barrier
        }
    }
    if (bad) fail("barrier: a thread read a slot from another round", bad, 0);
}

static void check_critical_nested(int nt) {
    long count = 0;
    int inner_team = 0, inner_level = -1, outer_level = -1;
    #pragma omp parallel num_threads(nt)
    {
        for (int i = 0; i < 1000; i++) {
            #pragma omp critical(omp_runtime_count)
            count++;
        }
        if (omp_get_thread_num() == 0) {
            #pragma omp atomic write
            outer_level = omp_get_active_level();
            #pragma omp parallel num_threads(4)
            {
                #pragma omp atomic write
                inner_team = omp_get_num_threads();
                #pragma omp atomic write
                inner_level = omp_get_active_level();
            }
        }
    }
    if (count != 1000L * nt) fail("critical: increments", count, 1000L * nt);
    if (outer_level != (nt > 1)) fail("omp_get_active_level in a region", outer_level, nt > 1);
    /* nested in an active region: a team of one; in a team of one: a team of its own */
    if (inner_team != (nt > 1 ? 1 : 4)) fail("a nested region's team size", inner_team, nt > 1 ? 1 : 4);
    if (inner_level != 1) fail("omp_get_active_level in a nested region", inner_level, 1);
    if (omp_get_active_level() != 0) fail("omp_get_active_level outside", omp_get_active_level(), 0);
}

/* many short regions: every one completes with every slot run once */
static void check_many(int nt, int regions) {
    long total = 0;
    for (int r = 0; r < regions; r++) {
        int ran[MAXT] = {0};
        #pragma omp parallel num_threads(nt)
        ran[omp_get_thread_num()]++;
        for (int j = 0; j < nt; j++) total += ran[j];
    }
    if (total != (long)regions * nt) fail("short regions: slots run", total, (long)regions * nt);
}

static void check_all(void) {
    for (int nt = 1; nt <= MAXT; nt++) {
        check_static(nt);
        check_dynamic(nt);
        check_barrier(nt);
        check_critical_nested(nt);
        check_many(nt, 2000);
    }
}

static void *master(void *arg) {
    (void)arg;
    check_all();
    return NULL;
}

int main(void) {
    check_all();
    /* two more masters, each with its own team, at the same time */
    pthread_t a, b;
    if (pthread_create(&a, NULL, master, NULL) || pthread_create(&b, NULL, master, NULL))
        fail("pthread_create", 1, 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    check_many(2, 20000);
    puts("omp_runtime: ok");
    return 0;
}
