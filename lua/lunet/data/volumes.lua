-- lunet.data.volumes: a synthetic volumetric segmentation task made by the code (no files):
-- ellipsoids and tubes in noisy volumes with a smooth intensity bias field and a contrast
-- that varies from volume to volume, so that intensity alone does not tell the classes apart
-- (both are brighter than the background by amounts drawn from the same range): the shape
-- does. Deterministic for a seed on every machine (lunet.Generator).
--
--   local ds = lunet.data.volumes{n = 64, size = {32, 32, 32}, seed = 1}
--   local s = ds:get(1)     -- {image = 1 x 32 x 32 x 32 float32, mask = 32 x 32 x 32 int32}
local E = require "lunet.errors"
local dataset = require "lunet.data.dataset"

local M = {}
local floor, sqrt, cos, sin, pi = math.floor, math.sqrt, math.cos, math.sin, math.pi

local lunet_mod
local function L()
  if not lunet_mod then lunet_mod = require "lunet" end
  return lunet_mod
end

M.CLASSES = { "background", "ellipsoid", "tube" }
-- Limits of volumes{}: voxels of one volume (e.g. 512 x 512 x 128) and of the whole data set.
M.MAX_VOLUME_VOXELS = 1 << 25
M.MAX_VOXELS = 1 << 28

-- coordinate grids z, y, x (D x H x W float32, voxel units)
local function grids(D, H, W)
  local l = L()
  local z = l.arange(0, D):float():reshape(D, 1, 1):expand(D, H, W)
  local y = l.arange(0, H):float():reshape(1, H, 1):expand(D, H, W)
  local x = l.arange(0, W):float():reshape(1, 1, W):expand(D, H, W)
  return z, y, x
end

-- a random rotation (3 x 3) from a uniform unit quaternion
local function random_rotation(g)
  local u1, u2, u3 = g:uniform(), g:uniform(), g:uniform()
  local a, b = sqrt(1 - u1), sqrt(u1)
  local q0, q1, q2, q3 = a * sin(2 * pi * u2), a * cos(2 * pi * u2), b * sin(2 * pi * u3), b * cos(2 * pi * u3)
  return {
    { 1 - 2 * (q2 * q2 + q3 * q3), 2 * (q1 * q2 - q0 * q3), 2 * (q1 * q3 + q0 * q2) },
    { 2 * (q1 * q2 + q0 * q3), 1 - 2 * (q1 * q1 + q3 * q3), 2 * (q2 * q3 - q0 * q1) },
    { 2 * (q1 * q3 - q0 * q2), 2 * (q2 * q3 + q0 * q1), 1 - 2 * (q1 * q1 + q2 * q2) },
  }
end

-- uint8 mask of a rotated ellipsoid with centre c and radii r
local function ellipsoid(z, y, x, c, r, R)
  local dz, dy, dx = z - c[1], y - c[2], x - c[3]
  local acc
  for i = 1, 3 do
    local q = dz * R[i][1] + dy * R[i][2] + dx * R[i][3]
    local t = (q / r[i]):pow(2)
    acc = acc and acc + t or t
  end
  return acc:le(1)
end

-- uint8 mask of the voxels within radius of the segment a-b
local function tube(z, y, x, a, b, radius)
  local v = { b[1] - a[1], b[2] - a[2], b[3] - a[3] }
  local len2 = v[1] * v[1] + v[2] * v[2] + v[3] * v[3]
  local pz, py, px = z - a[1], y - a[2], x - a[3]
  local t = ((pz * v[1] + py * v[2] + px * v[3]) / len2):clamp(0, 1)
  local d2 = (pz - t * v[1]):pow(2) + (py - t * v[2]):pow(2) + (px - t * v[3]):pow(2)
  return d2:le(radius * radius)
end

-- one volume: image (1, D, H, W) float32, mask (D, H, W) int32
local function make_one(g, D, H, W, o)
  local l = L()
  local z, y, x = grids(D, H, W)
  local mask = l.zeros({ D, H, W }, { dtype = "int32" })
  local m = math.min(D, H, W)
  local function point(margin)
    return { g:uniform(margin, D - 1 - margin), g:uniform(margin, H - 1 - margin), g:uniform(margin, W - 1 - margin) }
  end
  -- ellipsoids: radii 0.12 .. 0.28 of the smallest side, flattened or elongated at random
  local ne = g:random(o.ellipsoids[1], o.ellipsoids[2])
  for _ = 1, ne do
    local er = o.ellipsoid_radius
    local r = { g:uniform(er[1], er[2]) * m, g:uniform(er[1], er[2]) * m, g:uniform(er[1], er[2]) * m }
    local e = ellipsoid(z, y, x, point(0.15 * m), r, random_rotation(g))
    mask = l.where(e, l.full({}, 1, { dtype = "int32" }), mask)
  end
  -- tubes: polylines of 2 segments through the volume, radius 0.07 .. 0.1 of the smallest side
  local nt = g:random(o.tubes[1], o.tubes[2])
  for _ = 1, nt do
    local radius = g:uniform(o.tube_radius[1], o.tube_radius[2]) * m
    local p0, p1, p2 = point(0), point(0.2 * m), point(0)
    local t = tube(z, y, x, p0, p1, radius) + tube(z, y, x, p1, p2, radius)
    mask = l.where(t:gt(0), l.full({}, 2, { dtype = "int32" }), mask)
  end
  -- intensities: both classes brighter than the background by amounts from one range
  local c1, c2 = g:uniform(o.contrast[1], o.contrast[2]), g:uniform(o.contrast[1], o.contrast[2])
  local mf = mask:float()
  local img = mf:eq(1):float() * c1 + mf:eq(2):float() * c2
  -- texture inside objects and noise everywhere
  local sigma = g:uniform(o.noise[1], o.noise[2])
  img = img + l.randn({ D, H, W }, { generator = g }) * sigma
  -- a smooth multiplicative bias field: 1 + sum of three random low-frequency cosines
  local bias = l.ones({ D, H, W })
  for _ = 1, 3 do
    local k = { g:uniform(-1, 1), g:uniform(-1, 1), g:uniform(-1, 1) }
    local phase = g:uniform(0, 2 * pi)
    local arg = z * (pi * k[1] / D) + y * (pi * k[2] / H) + x * (pi * k[3] / W) + phase
    bias = bias + arg:cos() * (o.bias * g:uniform(0.5, 1))
  end
  img = img * bias + g:uniform(-0.3, 0.3)   -- and a random offset
  return img:reshape(1, D, H, W):contiguous(), mask
end

local function range_opt(fn, name, v, lo, hi, int)
  if type(v) == "number" then v = { v, v } end
  if type(v) ~= "table" or #v ~= 2 then E.fail(fn, "%s must be a number or {lo, hi}, got %s", name, E.show(v)) end
  local a = int and E.integer(fn, name .. "[1]", v[1], lo, hi) or E.number(fn, name .. "[1]", v[1], lo, hi)
  local b = int and E.integer(fn, name .. "[2]", v[2], lo, hi) or E.number(fn, name .. "[2]", v[2], lo, hi)
  if a > b then E.fail(fn, "%s must have lo <= hi, got {%s, %s}", name, E.show(a), E.show(b)) end
  return { a, b }
end

--- volumes{n=32, size={32, 32, 32}, seed=0, ellipsoids={1, 3}, tubes={1, 3},
--- ellipsoid_radius={0.12, 0.28}, tube_radius={0.07, 0.1}, contrast={0.5, 1.2}, noise={0.1,
--- 0.25}, bias=0.15, transform=} -> TensorDataset of n synthetic volumes: image N x 1 x D x H
--- x W float32, mask N x D x H x W int32 with classes 0 background, 1 ellipsoid (randomly
--- rotated, radii from ellipsoid_radius times the smallest side), 2 tube (2-segment polylines,
--- radius from tube_radius times the smallest side; drawn over ellipsoids). Each volume
--- draws the number of objects, the brightness of each class above the background (from
--- `contrast`, independently, so classes overlap in intensity), Gaussian noise of a standard
--- deviation from `noise`, a multiplicative bias field 1 + three random low-frequency cosines
--- of amplitude up to `bias`, and an offset in [-0.3, 0.3]. Same seed, same data on every
--- machine. lunet.data.volumes.CLASSES names the classes. At most MAX_VOLUME_VOXELS (2^25) voxels
--- per volume and MAX_VOXELS (2^28) in all: the data set is built in memory.
function M.volumes(opts)
  local fn = "data.volumes"
  opts = E.options(opts, fn, { "n", "size", "seed", "ellipsoids", "tubes", "ellipsoid_radius", "tube_radius",
                               "contrast", "noise", "bias", "transform" })
  local n = E.integer(fn, "n", opts.n or 32, 1, 100000)
  local size = opts.size or { 32, 32, 32 }
  if type(size) == "number" then size = { size, size, size } end
  if type(size) ~= "table" or #size ~= 3 then E.fail(fn, "size must be a number or {d, h, w}, got %s", E.show(size)) end
  local D = E.integer(fn, "size[1]", size[1], 8, 1024)
  local H = E.integer(fn, "size[2]", size[2], 8, 1024)
  local W = E.integer(fn, "size[3]", size[3], 8, 1024)
  -- everything is built in memory: the per-volume temporaries (coordinate grids, masks, bias
  -- field: about 20 float32 volumes) and the n images + masks (8 bytes a voxel, twice while
  -- stacked); beyond these limits the process would be killed for memory instead
  if D * H * W > M.MAX_VOLUME_VOXELS then
    E.fail(fn, "size {%d, %d, %d} has %d voxels, more than the limit of %d per volume", D, H, W, D * H * W,
      M.MAX_VOLUME_VOXELS)
  end
  if n * D * H * W > M.MAX_VOXELS then
    E.fail(fn, "n = %d volumes of %d x %d x %d are %d voxels, more than the limit of %d in all (%d GiB of "
      .. "images and masks)", n, D, H, W, n * D * H * W, M.MAX_VOXELS, M.MAX_VOXELS * 8 >> 30)
  end
  local o = {
    ellipsoids = range_opt(fn, "ellipsoids", opts.ellipsoids or { 1, 3 }, 0, 64, true),
    tubes = range_opt(fn, "tubes", opts.tubes or { 1, 3 }, 0, 64, true),
    contrast = range_opt(fn, "contrast", opts.contrast or { 0.5, 1.2 }, -100, 100),
    noise = range_opt(fn, "noise", opts.noise or { 0.1, 0.25 }, 0, 100),
    bias = E.number(fn, "bias", opts.bias or 0.15, 0, 0.5),
    ellipsoid_radius = range_opt(fn, "ellipsoid_radius", opts.ellipsoid_radius or { 0.12, 0.28 }, 0.01, 1),
    tube_radius = range_opt(fn, "tube_radius", opts.tube_radius or { 0.07, 0.1 }, 0.01, 1),
  }
  local seed = E.integer(fn, "seed", opts.seed or 0, 0)
  local tf = opts.transform
  local mt = (type(tf) == "table" or type(tf) == "userdata") and getmetatable(tf)
  if tf ~= nil and type(tf) ~= "function" and not (type(mt) == "table" and mt.__call) then
    E.fail(fn, "transform must be callable, got %s", E.typename(tf))
  end
  local g = L().Generator(seed)
  local imgs, masks = {}, {}
  L().no_grad(function()
    for i = 1, n do imgs[i], masks[i] = make_one(g, D, H, W, o) end
  end)
  return dataset.TensorDataset{ image = L().stack(imgs), mask = L().stack(masks), transform = opts.transform }
end

return M
