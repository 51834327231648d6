-- lunet.classic.crf: the fully connected CRF of Krähenbühl & Koltun (NIPS 2011) as DeepLab
-- uses it to refine a network's softmax output (C kernel in csrc/lt_crf.c;
-- core.classic_seg.dense_crf). lunet.classic merges dense_crf in.
--
--   local probs = F.softmax(model(x), 2)[1]             -- K x H x W
--   local q, labels = classic.dense_crf(probs, rgb)      -- rgb 3 x H x W uint8
local core = require "lunet.core"
local E = require "lunet.errors"

local K = core.classic_seg

local M = {}

local call = E.call

--- dense_crf(probs, rgb, {iterations=10, pos_w=3, pos_xy_std=3, bi_w=4, bi_xy_std=121,
--- bi_rgb_std=5, eps=1e-8}) -> q, labels: mean-field inference in the fully connected CRF of
--- Krähenbühl & Koltun ("Efficient Inference in Fully Connected CRFs with Gaussian Edge
--- Potentials", NIPS 2011) with Potts compatibility. probs: K x H x W float32 probabilities (a
--- softmax output; unary = -log(max(p, eps))); rgb: 3 x H x W, uint8 (0..255) or float32 in
--- [0, 1] (scaled by 255, so bi_rgb_std is on the 0..255 scale). Pairwise kernels: the
--- smoothness kernel pos_w exp(-|p_i - p_j|^2 / 2 pos_xy_std^2) and the appearance kernel bi_w
--- exp(-|p_i - p_j|^2 / 2 bi_xy_std^2 - |I_i - I_j|^2 / 2 bi_rgb_std^2) (p in pixels). Each
--- iteration sets Q_i(l) = softmax_l(-U_i(l) + sum_m w_m sum_{j != i} k_m(i, j) Q_j(l)). The
--- defaults are DeepLab-LargeFOV's published CRF parameters (Chen et al., DeepLab v1/v2 README:
--- bi_w = 4, bi_xy_std = 121, bi_rgb_std = 5, pos_w = 3, pos_xy_std = 3, 10 mean-field
--- iterations). The Gaussian filtering runs on a permutohedral lattice (Adams, Baek & Davis,
--- "Fast High-Dimensional Filtering Using the Permutohedral Lattice", Eurographics 2010), as in
--- Krähenbühl's implementation (splat, blur [1/2, 1, 1/2] along the d+1 lattice axes, slice),
--- with its output divided by the lattice's measured gain (0.882 for the 2-D, 0.704 for the
--- 5-D kernel) so that it approximates the exact kernel sums; the point's own term is removed
--- by subtracting Q_i. Cost O(N K) per iteration: 512 x 512 with 21 classes in under a second
--- on 2 cores (bench/bench_classic_seg.sh). Returns q (K x H x W float32, the refined
--- probabilities) and labels (H x W int32, argmax of q, ties to the lower class id).
function M.dense_crf(probs, rgb, opts)
  return call(K.dense_crf, probs, rgb, opts)
end

return M
