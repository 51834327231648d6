/* fuzz/include/omp.h: the fuzz targets build lunet without OpenMP (single-threaded, so a
 * crash replays deterministically, and Debian's clang needs no libomp): these stand in for
 * the few OpenMP runtime calls the core makes. */
#ifndef LT_FUZZ_OMP_H
#define LT_FUZZ_OMP_H
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }
static inline int omp_get_active_level(void) { return 0; }
typedef enum omp_pause_resource_t { omp_pause_soft = 1, omp_pause_hard = 2 } omp_pause_resource_t;
static inline int omp_pause_resource_all(omp_pause_resource_t kind) { (void)kind; return 0; }
#endif
