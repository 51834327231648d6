-- lunet.classic.superpixels: SLIC superpixels and Felzenszwalb's graph segmentation, as
-- scikit-image 0.19 computes them (C kernels in csrc/lt_slic.c, csrc/lt_felzenszwalb.c;
-- core.classic_seg.*). lunet.classic merges these functions in.
--
--   local classic = require "lunet.classic"
--   local sp = classic.slic(rgb, {n_segments = 200, compactness = 10})   -- int32 H x W, ids 1..
--   local seg, n = classic.felzenszwalb(rgb, {scale = 100, min_size = 50}) -- ids 0..n-1
local core = require "lunet.core"
local E = require "lunet.errors"

local K = core.classic_seg

local M = {}

local call = E.call

--- slic(image, {n_segments=100, compactness=10, max_num_iter=10, sigma=0, start_label=1,
--- enforce_connectivity=true, convert2lab=nil, min_size_factor=0.5, max_size_factor=3}) ->
--- labels: SLIC superpixels (Achanta et al., TPAMI 2012) with the semantics of
--- skimage.segmentation.slic (0.19). image: 3 x H x W RGB or C x H x W or H x W, uint8 (read
--- as value/255) or float32. As scikit-image: the image is shifted and scaled to [0, 1] (over
--- all channels), converted to CIELAB when it has 3 channels (convert2lab=nil) or when
--- convert2lab=true (then 3 channels are required), smoothed by a Gaussian of sigma (scipy's
--- "reflect" border, truncated at 4 sigma), seeded on skimage's regular grid, then max_num_iter
--- k-means steps in (colour / compactness, position / grid step) space, each centre searching a
--- window of +-2 grid steps. enforce_connectivity relabels disconnected pieces in raster order
--- and merges pieces smaller than min_size_factor x the mean segment size into the previous
--- neighbour (with scikit-image's flood-fill cap of max_size_factor x the mean size). Returns
--- int32 H x W labels from start_label (0 or 1). On uint8 input the labels equal
--- scikit-image's exactly (spec/classic_sp_spec.lua; float32 input is computed in double where
--- scikit-image uses float32, so rare ties may differ). The assignment step runs on lunet's
--- threads with results identical to the serial loop.
function M.slic(image, opts)
  return call(K.slic, image, opts)
end

--- felzenszwalb(image, {scale=1, sigma=0.8, min_size=20}) -> labels, count: Felzenszwalb and
--- Huttenlocher's graph-based segmentation (IJCV 2004) as skimage.segmentation.felzenszwalb
--- (0.19): image C x H x W or H x W, uint8 (value/255) or float32; Gaussian smoothing of sigma,
--- 8-neighbour edges weighted by the Euclidean colour distance, merges in increasing weight while
--- the weight is below both segments' internal difference + (scale/255) / size, then segments
--- smaller than min_size merged along the sorted edges. Labels are int32 0..count-1, numbered
--- in raster order of each segment's first pixel like scikit-image's. Equal edge weights are
--- taken in scikit-image's edge order (a stable sort), where numpy's unstable argsort may take
--- another: on images with many exactly equal weights (sigma = 0 on flat colours) the
--- segmentation can differ from scikit-image's (the spec states the measured fraction).
function M.felzenszwalb(image, opts)
  return call(K.felzenszwalb, image, opts)
end

return M
