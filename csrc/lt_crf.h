/* lt_crf.h: the fully connected CRF of Krähenbühl & Koltun (NIPS 2011) with Potts
 * compatibility, solved by mean-field iterations whose Gaussian filtering runs on a
 * permutohedral lattice (Adams, Baek & Davis, Eurographics 2010). No Lua here.
 *
 *   lt_crf_opts o = lt_crf_defaults();   // DeepLab's: 10 iterations, bi 4/121/5, pos 3/3
 *   // q (K, H, W) f32 out, labels (H, W) int32 out (or NULL);
 *   // probs (K, H, W) f32, rgb (3, H, W) uint8 (0..255) or f32 (0..1), all contiguous
 *   if (lt_dense_crf(ctx, &q, &labels, &probs, &rgb, &o) != LT_OK) { ... }
 */
#ifndef LT_CRF_H
#define LT_CRF_H

#include "lt_core.h"

typedef struct {
    int64_t iterations;   /* mean-field iterations (>= 0) */
    double pos_w;         /* weight of the smoothness kernel exp(-|p_i - p_j|^2 / 2 pos_xy_std^2) */
    double pos_xy_std;
    double bi_w;          /* weight of the appearance kernel, positions and colours (0..255) */
    double bi_xy_std;
    double bi_rgb_std;
    double eps;           /* unary = -log(max(p, eps)) */
} lt_crf_opts;

lt_crf_opts lt_crf_defaults(void);

/* The largest feature magnitude (position / xy_std, colour on 0..255 / bi_rgb_std) the lattice
 * takes: its integer coordinates are about 25 times the features, so larger ones (a tiny std)
 * would overflow int32; lt_dense_crf returns LT_EARG for them. */
#define LT_CRF_MAX_FEATURE 1e6

/* Mean field: Q = softmax(-U); each iteration
 *   Q_i(l) <- softmax_l(-U_i(l) + sum_m w_m sum_{j != i} k_m(f_i, f_j) Q_j(l))
 * (Potts: the sum over labels l' != l of w k Q_j(l') differs from -w k Q_j(l) by a constant).
 * lt_dense_crf filters with the permutohedral lattice (Krähenbühl's: the lattice's output,
 * which approximates the sum over all j with unit peak, minus the point's own Q_i);
 * lt_dense_crf_naive sums the exact kernels over all pairs, O(N^2 K): the reference.
 * LT_EARG (bad options, or a feature beyond LT_CRF_MAX_FEATURE), LT_ESHAPE, LT_EDTYPE, LT_EOVERFLOW, LT_ENOMEM. */
lt_status lt_dense_crf(lt_context *ctx, lt_tensor *q, lt_tensor *labels, const lt_tensor *probs,
                       const lt_tensor *rgb, const lt_crf_opts *o);
lt_status lt_dense_crf_naive(lt_context *ctx, lt_tensor *q, lt_tensor *labels,
                             const lt_tensor *probs, const lt_tensor *rgb, const lt_crf_opts *o);

#endif
