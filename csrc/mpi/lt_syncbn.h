/* lt_syncbn.h: the per-rank halves of synchronised batch norm (no MPI, no Lua). Each rank
 * computes per-channel statistics of its part of the batch; the binding gathers them from
 * every rank, combines them here into the global mean and variance, and in the backward
 * all-reduces the two per-channel sums the closed-form gradient needs.
 *
 *   double st[3 * C];                                   // (C, 3): count, mean, M2
 *   lt_syncbn_local_stats(st, x, N, C, S, 1);           // x (N, C, S)
 *   ... all-gather st from W ranks into all (W, C, 3) ...
 *   lt_syncbn_combine(mean, var, &M, all, W, C);        // global, biased var; M = count
 *   // backward, with the same mean/invstd:
 *   double sums[2 * C];
 *   lt_syncbn_backward_reduce(sums, dw, db, dy, x, mean, invstd, N, C, S, 1);
 *   ... all-reduce (sum) sums over the ranks ...
 *   lt_syncbn_backward_input(dx, dy, x, mean, invstd, w, sums, M, N, C, S, 1);
 *
 * Sums are in double. The formulas and roundings are those of lt_batch_norm_* in
 * csrc/lt_norm.c, so one rank holding the whole batch reproduces BatchNorm2d. nthreads is
 * the caller's thread budget (OpenMP over channels from 32768 elements on).
 */
#ifndef LT_SYNCBN_H
#define LT_SYNCBN_H

#include <stdint.h>
#include "../lt_core.h"

/* stats[3c] = N * S, stats[3c + 1] = mean, stats[3c + 2] = sum of squared deviations
 * from that mean (one pass of shifted sums); a rank with N = 0 contributes count 0. */
lt_status lt_syncbn_local_stats(double *stats,                    // (C, 3)
                                const float *x,                   // (N, C, S)
                                int64_t N, int64_t C, int64_t S, int nthreads);

/* Combines the W ranks' stats in rank order (Chan, Golub and LeVeque's pairwise update) into
 * the mean and the biased variance; *count receives the total count of a channel. */
lt_status lt_syncbn_combine(float *mean, float *var,             // (C), (C)
                            int64_t *count,
                            const double *all,                    // (W, C, 3)
                            int W, int64_t C);

/* running = (1 - momentum) * running + momentum * batch value, the variance unbiased with
 * the global count M (var * M / (M - 1)), as lt_batch_norm_update_running. Either running
 * pointer may be NULL. */
void lt_syncbn_update_running(float *running_mean, float *running_var,  // (C), (C)
                              const float *mean, const float *var,      // (C), (C)
                              int64_t C, int64_t M, double momentum);

/* sums[2c] = sum(dy), sums[2c + 1] = sum(dy * (x - mean)) over this rank's part; dw and db
 * (may be NULL) receive this rank's weight and bias gradients: sum(dy * xhat), sum(dy). */
lt_status lt_syncbn_backward_reduce(double *sums,                 // (C, 2)
                                    float *dw, float *db,         // (C), (C) or NULL
                                    const float *dy, const float *x,   // (N, C, S)
                                    const float *mean, const float *invstd,  // (C), (C)
                                    int64_t N, int64_t C, int64_t S, int nthreads);

/* dx = w * invstd * (dy - sum(dy) / M - (x - mean) * invstd^2 * sum(dy * (x - mean)) / M)
 * with the sums over every rank and M the global count per channel. w may be NULL. */
lt_status lt_syncbn_backward_input(float *dx,                     // (N, C, S)
                                   const float *dy, const float *x,   // (N, C, S)
                                   const float *mean, const float *invstd, const float *w,
                                   const double *sums,            // (C, 2), global
                                   int64_t M, int64_t N, int64_t C, int64_t S, int nthreads);

#endif
