-- lunet.classic: classical (non-learned) segmentation, as scikit-image and scipy.ndimage compute
-- it. Tensors in, tensors out: gray images are H x W (uint8, int32 or float32); the functions
-- scikit-image also runs on volumes (label, distance_transform_edt, watershed, the morphology)
-- take D x H x W too. Kernels live in csrc/lt_classic*.c (core.classic.*).
--
--   local classic = require "lunet.classic"
--   local ids, n = classic.label(mask)                         -- int32 ids 1..n, 0 background
--   local dist = classic.distance_transform_edt(mask)          -- float32 distance to the nearest 0
--   local seeds = classic.label(dist:gt(8))
--   local cells = classic.watershed(-dist, seeds, {mask = mask})
--
-- Conventions: label ids are data (0 = background, 1..n); coordinates in results (bounding
-- boxes, centroids, nearest-zero indices) are 1-based like every lunet position. Where a result
-- depends on ties the docs say how they are broken.
local core = require "lunet.core"
local E = require "lunet.errors"

local K = core.classic
local type, pairs = type, pairs
local is_tensor = core.is_tensor

local M = {}

-- Runs a core function, raising its message (which names the public function) at the user's
-- line.
local call = E.call

local function need_tensor(fn, what, x)
  if not is_tensor(x) then E.fail(fn, "%s must be a tensor, got %s", what, E.typename(x)) end
  return x
end

local function boolean(fn, what, v)
  if v ~= nil and type(v) ~= "boolean" then E.fail(fn, "%s must be a boolean, got %s", what, E.show(v)) end
  return v == true
end

local function finite(fn, what, v)
  E.number(fn, what, v)
  if v == math.huge or v == -math.huge then E.fail(fn, "%s must be finite, got %s", what, E.show(v)) end
  return v
end

local function connectivity(fn, opts, x)
  if opts.connectivity == nil then return nil end
  local nd = x:dim()
  return E.integer(fn, "connectivity", opts.connectivity, 1, (nd == 2 or nd == 3) and nd or 3)
end

-- ---------------------------------------------------------------------------------------
-- Connected components

--- label(mask, {connectivity}): connected-component labelling as scikit-image's
--- measure.label with background 0: returns int32 ids (0 for zero pixels, 1..count for the
--- regions of equal nonzero value, numbered in raster order of each region's first pixel, so
--- the ids equal scikit-image's) and count. mask: H x W or D x H x W, any dtype (a 0/1 mask,
--- or a label image whose touching regions of different values stay apart). connectivity: 1
--- (4 / 6 neighbours), 2 (8 in 2-D, 18 in 3-D), 3 (26, 3-D only); default the full
--- neighbourhood (2 in 2-D, 3 in 3-D) as scikit-image. Union-find, no recursion.
function M.label(mask, opts)
  local fn = "label"
  opts = E.options(opts, fn, { "connectivity" })
  need_tensor(fn, "mask", mask)
  return call(K.label, mask, connectivity(fn, opts, mask), false, fn)
end

--- regionprops(labels): per-label statistics of an int32/uint8 label image (0 = background,
--- 2-D or 3-D) as a list ordered by label, one entry per label present: {label, area (pixel
--- count), bbox = {r0, c0, r1, c1} (1-based, inclusive; {z0, r0, c0, z1, r1, c1} in 3-D),
--- centroid = {r, c} (1-based mean coordinate)}. Like scikit-image's measure.regionprops
--- (whose bbox is 0-based with exclusive ends). Labels above the pixel count raise.
function M.regionprops(labels)
  need_tensor("regionprops", "labels", labels)
  return call(K.regionprops, labels, "regionprops")
end

-- ---------------------------------------------------------------------------------------
-- Distance transform

--- distance_transform_edt(mask, {spacing, return_indices}): exact Euclidean distance of
--- every nonzero pixel to the nearest zero pixel (zeros get 0), as
--- scipy.ndimage.distance_transform_edt: float32, H x W or D x H x W, linear time
--- (Felzenszwalb-Huttenlocher lower envelopes, one pass per axis, threaded). spacing: a number
--- or one positive number per axis ({sy, sx} / {sz, sy, sx}), default 1. return_indices=true
--- also returns an int32 tensor ndim x (shape) with the 1-based coordinates of the nearest
--- zero (ties may pick a different zero at the same distance than scipy). A mask without any
--- zero gives inf everywhere (and indices 0), where scipy returns meaningless values.
function M.distance_transform_edt(mask, opts)
  local fn = "distance_transform_edt"
  opts = E.options(opts, fn, { "spacing", "return_indices" })
  need_tensor(fn, "mask", mask)
  local sp = opts.spacing
  if sp ~= nil then
    local nd = mask:dim()
    if type(sp) == "number" then
      E.number(fn, "spacing", sp, 0)
      local t = {}
      for i = 1, nd do t[i] = sp end
      sp = t
    elseif type(sp) == "table" then
      if #sp ~= nd then
        E.fail(fn, "spacing must have one entry per axis of mask (%d), got %d", nd, #sp)
      end
      for i = 1, nd do E.number(fn, ("spacing[%d]"):format(i), sp[i], 0) end
    else
      E.fail(fn, "spacing must be a number or a table of numbers, got %s", E.typename(sp))
    end
    for i = 1, #sp do
      if not (sp[i] > 0 and sp[i] < math.huge) then
        E.fail(fn, "spacing[%d] must be a finite number > 0, got %s", i, E.show(sp[i]))
      end
    end
  end
  return call(K.edt, mask, sp, boolean(fn, "return_indices", opts.return_indices), false, fn)
end

-- ---------------------------------------------------------------------------------------
-- Watershed

--- watershed(elevation, markers, {mask, connectivity, compactness}): marker-controlled
--- watershed as scikit-image's segmentation.watershed: a priority flood from the nonzero
--- markers (int32/uint8 ids, same shape as elevation) over elevation (H x W or D x H x W, any
--- dtype, read as float32), lowest first, ties broken by insertion age exactly as
--- scikit-image's heap does, so the result equals scikit-image's. mask: pixels where it is 0
--- stay 0 (markers there are dropped). connectivity: 1 (default) or the full neighbourhood
--- (2, or 3 in 3-D). compactness > 0 (default 0): compact watershed (elevation plus
--- compactness times the Euclidean distance to the seed pixel). Returns int32 ids.
function M.watershed(elevation, markers, opts)
  local fn = "watershed"
  opts = E.options(opts, fn, { "mask", "connectivity", "compactness" })
  need_tensor(fn, "elevation", elevation)
  need_tensor(fn, "markers", markers)
  if opts.mask ~= nil then need_tensor(fn, "mask", opts.mask) end
  local c = opts.compactness == nil and 0 or E.number(fn, "compactness", opts.compactness, 0)
  if c == math.huge then E.fail(fn, "compactness must be finite, got inf") end
  return call(K.watershed, elevation, markers, opts.mask, connectivity(fn, opts, elevation) or 1, c,
              false, fn)
end

-- ---------------------------------------------------------------------------------------
-- Thresholds

local function gray(fn, x)
  need_tensor(fn, "image", x)
  return x
end

--- threshold_otsu(image, {nbins}): Otsu's global threshold as scikit-image's
--- filters.threshold_otsu (a number; pixels > it are foreground). image: H x W uint8 (its
--- histogram counts every integer from min to max, nbins unused) or float32 (nbins equal bins
--- over [min, max], default 256, float32 bin centers as numpy). A constant image returns its
--- value; NaN or inf raises.
function M.threshold_otsu(image, opts)
  local fn = "threshold_otsu"
  opts = E.options(opts, fn, { "nbins" })
  gray(fn, image)
  local nb = opts.nbins == nil and 256 or E.integer(fn, "nbins", opts.nbins, 2, 1 << 24)
  return call(K.otsu, image, nb, fn)
end

--- threshold_multiotsu(image, {classes, nbins}): the classes - 1 thresholds (an ascending Lua
--- list) of multi-level Otsu, as scikit-image's filters.threshold_multiotsu (the same float32
--- exhaustive search, so equal results). classes: 2..64, default 3; the search visits
--- C(bins - 1, classes - 1) threshold tuples and raises beyond 2^31 (6 classes over 256 bins);
--- nbins as threshold_otsu. An image with fewer distinct values than classes raises.
function M.threshold_multiotsu(image, opts)
  local fn = "threshold_multiotsu"
  opts = E.options(opts, fn, { "classes", "nbins" })
  gray(fn, image)
  local classes = opts.classes == nil and 3 or E.integer(fn, "classes", opts.classes, 2, 64)
  local nb = opts.nbins == nil and 256 or E.integer(fn, "nbins", opts.nbins, 2, 1 << 24)
  return call(K.multiotsu, image, classes, nb, fn)
end

local function window(fn, w)
  if w == nil then return 15, 15 end
  local a, b
  if type(w) == "table" then
    if #w ~= 2 then E.fail(fn, "window_size must be a number or a {height, width} pair, got %d entries", #w) end
    a, b = w[1], w[2]
  else
    a, b = w, w
  end
  a = E.integer(fn, "window_size", a, 1)
  b = E.integer(fn, "window_size", b, 1)
  if a % 2 == 0 or b % 2 == 0 then
    E.fail(fn, "window_size must be odd, got %s", type(w) == "table" and ("{" .. a .. ", " .. b .. "}") or E.show(w))
  end
  return a, b
end

--- threshold_niblack(image, {window_size = 15, k = 0.2}): Niblack's local threshold image
--- m - k * s, m and s the mean and standard deviation over a window_size window (an odd number,
--- or an odd {height, width} pair) with mirrored borders, as scikit-image's
--- filters.threshold_niblack (float32 H x W; uint8 images keep their 0..255 scale).
-- The local thresholds pad the image by the window (two float64 planes of the padded size):
-- windows that would pad beyond max(2^28 pixels, 4 x the image) are refused (a window of
-- 40001 on any image asked for 25 GB, and the process was killed for memory).
local function check_window(fn, image, wy, wx)
  if image:dim() ~= 2 then return end
  local h, w = image:size(1), image:size(2)
  local padded = (h + wy + 0.0) * (w + wx)   -- in float: no 64-bit wrap for huge windows
  local limit = math.max(1 << 28, 4 * h * w)
  if padded > limit then
    E.fail(fn, "window_size {%d, %d} is too large for a %d x %d image: the padded image would have %.0f pixels, "
      .. "more than the limit of %d", wy, wx, h, w, padded, limit)
  end
end

function M.threshold_niblack(image, opts)
  local fn = "threshold_niblack"
  opts = E.options(opts, fn, { "window_size", "k" })
  gray(fn, image)
  local wy, wx = window(fn, opts.window_size)
  check_window(fn, image, wy, wx)
  local k = opts.k == nil and 0.2 or finite(fn, "k", opts.k)
  return call(K.local_threshold, image, wy, wx, k, 1, false, fn)
end

--- threshold_sauvola(image, {window_size = 15, k = 0.2, r}): Sauvola's local threshold image
--- m * (1 + k * (s / r - 1)) as scikit-image's filters.threshold_sauvola; r defaults to half the
--- dtype's range as there (127.5 for uint8, 1 for float32).
function M.threshold_sauvola(image, opts)
  local fn = "threshold_sauvola"
  opts = E.options(opts, fn, { "window_size", "k", "r" })
  gray(fn, image)
  local wy, wx = window(fn, opts.window_size)
  check_window(fn, image, wy, wx)
  local k = opts.k == nil and 0.2 or finite(fn, "k", opts.k)
  local r = opts.r
  if r == nil then r = image:dtype() == "uint8" and 127.5 or 1.0 else E.number(fn, "r", r) end
  if r == 0 or r ~= r or r == math.huge or r == -math.huge then E.fail(fn, "r must be a finite nonzero number, got %s", E.show(r)) end
  return call(K.local_threshold, image, wy, wx, k, r, true, fn)
end

-- ---------------------------------------------------------------------------------------
-- Edge filters

local function edge_filter(fn, kind, image, opts)
  opts = E.options(opts, fn, kind == 3 and { "mask" } or { "mask", "axis" })
  gray(fn, image)
  local axis = -1
  if opts.axis ~= nil then axis = E.integer(fn, "axis", opts.axis, 1, 2) - 1 end
  if opts.mask ~= nil then need_tensor(fn, "mask", opts.mask) end
  return call(K.edges, image, kind, axis, opts.mask, fn)
end

--- sobel(image, {mask, axis}): Sobel gradient magnitude as scikit-image's filters.sobel:
--- sqrt((gy^2 + gx^2) / 2) with the kernels normalised as there ([1, 2, 1] / 4 smoothing),
--- mirrored borders (scipy 'reflect'), uint8 scaled to [0, 1] first. axis = 1 (rows) or 2
--- (columns): the signed derivative along that axis instead. mask: zero outside the mask eroded by
--- a 3 x 3 square. float32 H x W.
function M.sobel(image, opts) return edge_filter("sobel", 0, image, opts) end

--- scharr(image, {mask, axis}): as sobel with Scharr's smoothing [3, 10, 3] / 16
--- (filters.scharr).
function M.scharr(image, opts) return edge_filter("scharr", 1, image, opts) end

--- prewitt(image, {mask, axis}): as sobel with Prewitt's smoothing [1, 1, 1] / 3
--- (filters.prewitt).
function M.prewitt(image, opts) return edge_filter("prewitt", 2, image, opts) end

--- laplace(image, {mask}): the discrete Laplacian [[0, -1, 0], [-1, 4, -1], [0, -1, 0]] with
--- mirrored borders as scikit-image's filters.laplace (ksize 3), uint8 scaled to [0, 1].
function M.laplace(image, opts) return edge_filter("laplace", 3, image, opts) end

--- canny(image, {sigma = 1, low_threshold, high_threshold, use_quantiles = false, mask}): Canny
--- edges as scikit-image's feature.canny (uint8 0/1 H x W): Gaussian smoothing (zero borders,
--- normalised by the equally smoothed mask), Sobel gradients, non-maximum suppression with
--- interpolation, hysteresis by 8-connected components. Thresholds are in the image's own
--- scale (0..255 for uint8, default 0.1 and 0.2 of the dtype maximum) or, with use_quantiles,
--- quantiles in [0, 1] of the gradient magnitude. low_threshold must not exceed high_threshold.
function M.canny(image, opts)
  local fn = "canny"
  opts = E.options(opts, fn, { "sigma", "low_threshold", "high_threshold", "use_quantiles", "mask" })
  gray(fn, image)
  local sigma = opts.sigma == nil and 1.0 or E.number(fn, "sigma", opts.sigma, 0, 1e5)
  local q = boolean(fn, "use_quantiles", opts.use_quantiles)
  local dmax = image:dtype() == "uint8" and 255 or 1
  local lo, hi = opts.low_threshold, opts.high_threshold
  if lo == nil then lo = 0.1
  elseif q then lo = E.number(fn, "low_threshold", lo, 0, 1)
  else lo = E.number(fn, "low_threshold", lo) / dmax end
  if hi == nil then hi = 0.2
  elseif q then hi = E.number(fn, "high_threshold", hi, 0, 1)
  else hi = E.number(fn, "high_threshold", hi) / dmax end
  if hi < lo then
    E.fail(fn, "low_threshold (%s) must not exceed high_threshold (%s)", E.show(opts.low_threshold or lo), E.show(opts.high_threshold or hi))
  end
  if opts.mask ~= nil then need_tensor(fn, "mask", opts.mask) end
  return call(K.canny, image, sigma, lo, hi, q, opts.mask, fn)
end

-- ---------------------------------------------------------------------------------------
-- Morphology

local function footprint(fn, what, r, lo)
  return E.integer(fn, what, r, lo, 4096)
end

--- disk(radius): the uint8 (2r+1) x (2r+1) disk footprint x^2 + y^2 <= r^2
--- (skimage.morphology.disk).
function M.disk(radius)
  local r = footprint("disk", "radius", radius, 0)
  local n = 2 * r + 1
  local t = {}
  for y = -r, r do for x = -r, r do t[#t + 1] = (x * x + y * y <= r * r) and 1 or 0 end end
  return core.tensor(t, { dtype = "uint8", shape = { n, n } })
end

--- square(width): the uint8 width x width footprint of ones (skimage.morphology.square); width
--- must be odd for the morphology here (a centred footprint).
function M.square(width)
  local w = footprint("square", "width", width, 1)
  return core.ones({ w, w }, { dtype = "uint8" })
end

--- ball(radius): the uint8 3-D ball footprint x^2 + y^2 + z^2 <= r^2 (skimage.morphology.ball).
function M.ball(radius)
  local r = footprint("ball", "radius", radius, 0)
  if r > 256 then E.fail("ball", "radius must be at most 256, got %d", r) end
  local n = 2 * r + 1
  local t = {}
  for z = -r, r do for y = -r, r do for x = -r, r do
    t[#t + 1] = (x * x + y * y + z * z <= r * r) and 1 or 0
  end end end
  return core.tensor(t, { dtype = "uint8", shape = { n, n, n } })
end

--- cube(width): the uint8 width^3 footprint of ones (skimage.morphology.cube).
function M.cube(width)
  local w = footprint("cube", "width", width, 1)
  if w > 1024 then E.fail("cube", "width must be at most 1024, got %d", w) end
  return core.ones({ w, w, w }, { dtype = "uint8" })
end

local function morph(fn, op, image, fp, opts)
  opts = E.options(opts, fn, { "mode" })
  need_tensor(fn, "image", image)
  local nd = image:dim()
  if fp == nil then
    -- scikit-image's default: the cross (connectivity 1)
    if nd == 3 then fp = M.ball(1) else fp = M.disk(1) end
  else
    need_tensor(fn, "footprint", fp)
  end
  local mode = opts.mode
  if mode == nil then mode = image:dtype() == "uint8" and "binary" or "gray"
  else E.choice(fn, "mode", mode, { "binary", "gray" }) end
  if mode == "gray" and image:dtype() == "uint8" then
    return call(K.morph, image:float(), fp, op, false, false, fn):to("uint8")
  end
  return call(K.morph, image, fp, op, mode == "binary", false, fn)
end

--- erode(image, footprint, {mode}): erosion. The dtype chooses the kind (mode overrides it):
--- uint8 -> binary (nonzero = foreground; a uint8 0/1 result), as skimage.morphology.
--- binary_erosion (pixels outside the image count as foreground); float32 / int32 -> grayscale
--- (minimum over the footprint, mirrored borders; the same dtype back), as
--- skimage.morphology.erosion. mode = "gray" on uint8 gives a grayscale uint8 result; mode =
--- "binary" on float treats nonzero as foreground. footprint: a uint8 tensor with odd sizes
--- (disk, square, ball, cube or any), default the cross; H x W or D x H x W images.
function M.erode(image, fp, opts) return morph("erode", "erode", image, fp, opts) end

--- dilate(image, footprint, {mode}): dilation, binary (as binary_dilation: the reflected
--- footprint, outside = background) or grayscale (maximum, as skimage.morphology.dilation);
--- dtype rule as erode.
function M.dilate(image, fp, opts) return morph("dilate", "dilate", image, fp, opts) end

--- opening(image, footprint, {mode}): dilate(erode(image)), as skimage's binary_opening /
--- opening; dtype rule as erode.
function M.opening(image, fp, opts) return morph("opening", "open", image, fp, opts) end

--- closing(image, footprint, {mode}): erode(dilate(image)), as skimage's binary_closing /
--- closing; dtype rule as erode.
function M.closing(image, fp, opts) return morph("closing", "close", image, fp, opts) end

-- ---------------------------------------------------------------------------------------
-- k-means

--- kmeans(x, k, {seed = 0, iters = 300, tol = 1e-4, n_init = 1}): Lloyd's k-means of the rows of
--- an N x F tensor (any dtype, read as float32) into k clusters (1 <= k <= N): greedy k-means++
--- seeding from seed, at most iters iterations, stopping when the squared center shift is
--- <= tol times the mean feature variance (scikit-learn's rule); n_init runs (seeds seed,
--- seed + 1, ...) keep the lowest inertia. Returns int32 labels 0..k-1 (N), float32 centers
--- (k x F), the inertia and the iteration count. Deterministic for a seed on any thread count.
function M.kmeans(x, k, opts)
  local fn = "kmeans"
  opts = E.options(opts, fn, { "seed", "iters", "tol", "n_init" })
  need_tensor(fn, "x", x)
  k = E.integer(fn, "k", k, 1)
  local seed = opts.seed == nil and 0 or E.integer(fn, "seed", opts.seed)
  local iters = opts.iters == nil and 300 or E.integer(fn, "iters", opts.iters, 1)
  local tol = opts.tol == nil and 1e-4 or E.number(fn, "tol", opts.tol, 0)
  local n_init = opts.n_init == nil and 1 or E.integer(fn, "n_init", opts.n_init, 1, 1000)
  return call(K.kmeans, x, k, seed, iters, tol, n_init, fn)
end

--- pixel_features(image, {xy = 0}): the per-pixel feature matrix for kmeans: (H*W) x C float32
--- of the channel values (C x H x W, or H x W for C = 1; uint8 scaled to [0, 1]) in raster
--- order, plus two columns xy * row / (H - 1) and xy * col / (W - 1) when xy > 0 (position
--- weight, as in SLIC-like colour+position clustering). Reshape kmeans labels with
--- labels:view(H, W).
function M.pixel_features(image, opts)
  local fn = "pixel_features"
  opts = E.options(opts, fn, { "xy" })
  need_tensor(fn, "image", image)
  local xy = opts.xy == nil and 0 or E.number(fn, "xy", opts.xy, 0)
  if xy == math.huge then E.fail(fn, "xy must be finite, got inf") end
  return call(K.pixel_features, image, xy, fn)
end

-- ---------------------------------------------------------------------------------------
-- Part-2 submodules (superpixels, CRF): merged in when their files are installed.

for _, name in ipairs { "lunet.classic.superpixels", "lunet.classic.crf" } do
  if package.searchpath(name, package.path) then
    local sub = require(name)
    for k, v in pairs(sub) do
      if type(v) == "function" then
        if M[k] ~= nil then error(("lunet.classic: %s defines '%s', which lunet.classic already has"):format(name, k)) end
        M[k] = v
      end
    end
  end
end

return M
