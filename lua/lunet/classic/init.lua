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
local type, pcall, select, pairs, tostring = type, pcall, select, pairs, tostring
local is_tensor = core.is_tensor

local M = {}

-- Runs a core function, raising its message (which names the public function) at the user's
-- line.
local function call(f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then E.raise(tostring(r[2])) end
  return table.unpack(r, 2, r.n)
end

local function need_tensor(fn, what, x)
  if not is_tensor(x) then E.fail(fn, "%s must be a tensor, got %s", what, E.typename(x)) end
  return x
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
  return call(K.edt, mask, sp, opts.return_indices and true or false, false, fn)
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
