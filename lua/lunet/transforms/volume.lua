-- lunet.transforms.volume: augmentations of 3-D volumes and their label volumes together
-- (MONAI's dictionary transforms, in lunet.transforms' style: p=, one generator per chain).
--
--   local T = require "lunet.transforms"
--   local tf = T.Compose{
--     T.RandomCropPad3d{size = {32, 48, 48}},                 -- random patch, padded if small
--     T.Flip3d{axis = 1}, T.Flip3d{axis = 2}, T.Flip3d{axis = 3},
--     T.RandomRotate90_3d{plane = {2, 3}},
--     T.Affine3d{rotate = 15, scale = {0.9, 1.1}},            -- trilinear image, nearest labels
--     T.RandomGamma3d{gamma = {0.7, 1.5}}, T.GaussNoise3d{std = 0.05},
--     seed = 1}
--   local out = tf{image = vol, mask = labels}   -- vol C x D x H x W, labels D x H x W
--
-- Samples: image C x D x H x W (float32, or uint8 for the spatial transforms), mask D x H x W
-- int32/uint8 (optional; any other keys pass through). Axes are named by their 1-based
-- spatial index: 1 = D, 2 = H, 3 = W (the mask's dims; the image's are one further). Spatial
-- transforms move image and mask together; the mask is resampled with nearest and filled
-- with fill_mask (default: ignore_index of the transform or Compose, else 0), so it holds
-- only its own labels or that fill. Intensity transforms never touch the mask.
-- RandomCropByPosNegLabel3d with num_samples > 1 returns a list of samples; the transforms
-- after it in a Compose apply to each.
local core = require "lunet.core"
local E = require "lunet.errors"
local B = require "lunet.transforms.base"

local V = {}
local type, ipairs, pairs, setmetatable = type, ipairs, pairs, setmetatable
local floor, min, max, cos, sin, rad, huge = math.floor, math.min, math.max, math.cos, math.sin,
  math.rad, math.huge

local lunet_mod
local function L()
  if not lunet_mod then lunet_mod = require "lunet" end
  return lunet_mod
end

local function shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

------------------------------------------------------------------------ samples

--- check_sample(sample, name) -> a fresh working table of a volume sample {image = C x D x H x
--- W float32/uint8, mask = D x H x W int32/uint8 (optional)}; raises "name: ..." otherwise.
function V.check_sample(sample, name)
  if type(sample) ~= "table" or B.is_tensor(sample) then
    E.fail(name, "sample must be a table {image=, mask=}, got %s", E.typename(sample))
  end
  local img, mask = sample.image, sample.mask
  if not B.is_tensor(img) or img:dim() ~= 4 or (img:dtype() ~= "uint8" and img:dtype() ~= "float32") then
    E.fail(name, "image must be a 4-D (C, D, H, W) uint8 or float32 tensor, got %s",
      B.is_tensor(img) and (img:dtype() .. " " .. shape_str(img)) or E.typename(img))
  end
  if mask ~= nil then
    if not B.is_tensor(mask) or mask:dim() ~= 3 or (mask:dtype() ~= "int32" and mask:dtype() ~= "uint8") then
      E.fail(name, "mask must be a 3-D (D, H, W) int32 or uint8 tensor, got %s",
        B.is_tensor(mask) and (mask:dtype() .. " " .. shape_str(mask)) or E.typename(mask))
    end
    for i = 1, 3 do
      if mask:size(i) ~= img:size(i + 1) then
        E.fail(name, "image is %s but mask is %s (D x H x W must match)", shape_str(img), shape_str(mask))
      end
    end
  end
  local s = {}
  for k, v in pairs(sample) do s[k] = v end
  return s
end

-- Volume transforms: a Transform whose lone call checks a volume sample.
local VT = setmetatable({}, { __index = B.Transform })
VT.__index = VT
VT.__tostring = B.Transform.__tostring
function VT:__call(sample)
  local s = V.check_sample(sample, self.name)
  return self:maybe(s, { rng = B.sample_rng or {} })
end

-- Errors raised under a volume transform by the tensor constructors or kernels ("full: cannot
-- allocate ...", whatever calls it: the transform or Compose) are re-raised naming the
-- transform, at the user's line; the transform's own errors pass unchanged.
function VT:maybe(s, ctx)
  local r = table.pack(pcall(B.Transform.maybe, self, s, ctx))
  if r[1] then return table.unpack(r, 2, r.n) end
  local msg = tostring(r[2])
  if msg:find(self.name .. ": ", 1, true) then error(r[2], 0) end
  E.raise(self.name .. ": " .. msg)
end

-- fill values must fit the tensor they pad (uint8 0..255, int32 integers, float32 any).
local function check_fill(name, key, v, x, what)
  local dt = x:dtype()
  local ok = dt == "float32" or (math.type(v) == "integer" or (v == math.floor(v)))
    and (dt == "uint8" and v >= 0 and v <= 255 or dt == "int32" and v >= -2147483648 and v <= 2147483647)
  if not ok then E.fail(name, "%s %s does not fit the %s %s", key, B.show(v), dt, what) end
  return v
end

local MAX_VOXELS = 1 << 31

local function new(name, opts, spec)
  return setmetatable(B.new(name, opts, spec), VT)
end

local function spatial(s, fimg, fmask)
  s.image = fimg(s.image, 1)
  if s.mask ~= nil then s.mask = fmask(s.mask, 0) end
  return s
end

local AXES = { d = 1, h = 2, w = 3, [1] = 1, [2] = 2, [3] = 3 }
local function axis_of(name, key, v)
  local a = AXES[v]
  if not a then E.fail(name, "%s must be 1, 2, 3 (or \"d\", \"h\", \"w\"), got %s", key, B.show(v)) end
  return a
end

local function mask_key(extra)
  local k = { "fill_mask", "ignore_index" }
  for _, v in ipairs(extra) do k[#k + 1] = v end
  return k
end

local function check_mask_opts(self)
  if self.fill_mask ~= nil then self.fill_mask = B.int(self.name, "fill_mask", self.fill_mask) end
  if self.ignore_index ~= nil then self.ignore_index = B.int(self.name, "ignore_index", self.ignore_index) end
end

-- {d, h, w} of integers >= 1 from a number or a table of 3
local function size3(name, key, v)
  local t = type(v) == "table" and not B.is_tensor(v) and v or { v, v, v }
  if #t ~= 3 then E.fail(name, "%s must be a number or {d, h, w}, got %s", key, B.show(v)) end
  local out = {}
  for i = 1, 3 do out[i] = B.int(name, key .. "[" .. i .. "]", t[i], 1, B.MAX_SIDE) end
  if out[1] * out[2] * out[3] > MAX_VOXELS then
    E.fail(name, "%s {%d, %d, %d} has %d voxels, more than the limit of %d", key, out[1], out[2], out[3],
      out[1] * out[2] * out[3], MAX_VOXELS)
  end
  return out
end

------------------------------------------------------------------------ flips, rot90

--- Flip3d{axis=1, p=0.5}: mirrors image and mask along one spatial axis (1 = D, 2 = H, 3 = W,
--- or "d", "h", "w"); compose three for MONAI's RandFlipd on every axis.
function V.Flip3d(opts)
  local self = new("Flip3d", opts, { keys = { "axis" }, defaults = { p = 0.5, axis = 1 } })
  self.axis = axis_of(self.name, "axis", self.axis)
  function self.apply(t, s)
    return spatial(s, function(x, off) return x:flip(t.axis + off) end,
                      function(x, off) return x:flip(t.axis + off) end)
  end
  return self
end

-- numpy.rot90(x, k, axes=(a, b)) for 0-based-free dims a, b of a tensor
local function rot90(x, k, a, b)
  k = k % 4
  if k == 0 then return x end
  if k == 2 then return x:flip(a):flip(b) end
  if k == 1 then return x:flip(b):transpose(a, b):contiguous() end
  return x:transpose(a, b):flip(b):contiguous()
end

--- RandomRotate90_3d{plane={2, 3}, p=0.5}: turns by k * 90 degrees (k uniform in 0..3) in the
--- plane of two spatial axes, as numpy.rot90(x, k, axes=plane) (MONAI RandRotate90d with
--- spatial_axes). A turn in a plane of unequal sides swaps them.
function V.RandomRotate90_3d(opts)
  local self = new("RandomRotate90_3d", opts, { keys = { "plane" }, defaults = { p = 0.5, plane = { 2, 3 } } })
  local pl = self.plane
  if type(pl) ~= "table" or #pl ~= 2 then
    E.fail(self.name, "plane must be two spatial axes {a, b}, got %s", B.show(pl))
  end
  self.a, self.b = axis_of(self.name, "plane[1]", pl[1]), axis_of(self.name, "plane[2]", pl[2])
  if self.a == self.b then E.fail(self.name, "plane must name two different axes, got %s", B.show(pl)) end
  function self.apply(t, s, ctx)
    local k = B.randint(ctx, 0, 3)
    local f = function(x, off) return rot90(x, k, t.a + off, t.b + off) end
    return spatial(s, f, f)
  end
  return self
end

------------------------------------------------------------------------ crops and pads

-- Crops (start >= 0) and pads (start < 0 or beyond the end) a tensor's last three dims to
-- size at offsets start (0-based, may be negative), filling with fill.
local function crop_pad(x, start, size, fill)
  local lead = x:dim() - 3
  local inside = true
  for i = 1, 3 do
    if start[i] < 0 or start[i] + size[i] > x:size(lead + i) then inside = false end
  end
  if inside then
    local v = x
    for i = 1, 3 do v = v:narrow(lead + i, start[i] + 1, size[i]) end
    return v:contiguous()
  end
  local shape = x:shape()
  for i = 1, 3 do shape[lead + i] = size[i] end
  local out = L().full(shape, fill, { dtype = x:dtype() })
  local src, dst = x, out
  for i = 1, 3 do
    local n = x:size(lead + i)
    local a, b = max(start[i], 0), min(start[i] + size[i], n)   -- source range [a, b)
    if b <= a then return out end
    src = src:narrow(lead + i, a + 1, b - a)
    dst = dst:narrow(lead + i, a - start[i] + 1, b - a)
  end
  dst:copy_(src)
  return out
end
V.crop_pad = crop_pad

-- Start offsets that pad symmetrically where the volume is smaller than size (MONAI's
-- SpatialPad: diff // 2 before) and leave the rest to the caller.
local function pad_start(n, size)
  if n >= size then return nil end
  return -((size - n) // 2)
end

local function crop_sample(self, s, ctx, start, size)
  local fm = self:mask_fill(ctx)
  check_fill(self.name, "fill", self.fill, s.image, "image")
  if s.mask ~= nil then check_fill(self.name, "fill_mask", fm, s.mask, "mask") end
  return spatial(s, function(x) return crop_pad(x, start, size, self.fill) end,
                    function(x) return crop_pad(x, start, size, fm) end)
end

--- RandomCropPad3d{size={d, h, w}, fill=0, fill_mask=, p=1}: a random patch of the given size
--- (offsets uniform per axis); axes smaller than the patch are padded symmetrically with
--- fill (image) / fill_mask (mask) first (MONAI's SpatialPad + RandSpatialCrop).
function V.RandomCropPad3d(opts)
  local self = new("RandomCropPad3d", opts, { keys = mask_key { "size", "fill" },
                                             positional = { "size" }, defaults = { p = 1, fill = 0 } })
  if self.size == nil then E.fail(self.name, "size is required ({d, h, w})") end
  self.size = size3(self.name, "size", self.size)
  B.number(self.name, "fill", self.fill)
  check_mask_opts(self)
  function self.apply(t, s, ctx)
    local start = {}
    for i = 1, 3 do
      local n = s.image:size(i + 1)
      start[i] = pad_start(n, t.size[i]) or B.randint(ctx, 0, n - t.size[i])
    end
    return crop_sample(t, s, ctx, start, t.size)
  end
  return self
end

--- RandomCropByPosNegLabel3d{size={d, h, w}, pos=1, neg=1, num_samples=1, fill=0, fill_mask=,
--- p=1}: foreground-biased patches (MONAI's RandCropByPosNegLabeld): for each of num_samples
--- patches, with probability pos / (pos + neg) the centre is a uniformly drawn foreground
--- voxel (mask > 0, the mask's fill excluded), else a background voxel (mask == 0); the
--- centre is then moved so the patch lies inside the (padded) volume. Volumes smaller than the
--- patch are padded symmetrically first. Without foreground (or background) voxels the other
--- kind is used. Needs a mask. num_samples = 1 returns a sample, more a list of samples.
function V.RandomCropByPosNegLabel3d(opts)
  local name = "RandomCropByPosNegLabel3d"
  local self = new(name, opts, { keys = mask_key { "size", "pos", "neg", "num_samples", "fill" },
                                 positional = { "size" },
                                 defaults = { p = 1, pos = 1, neg = 1, num_samples = 1, fill = 0 } })
  if self.size == nil then E.fail(name, "size is required ({d, h, w})") end
  self.size = size3(name, "size", self.size)
  B.number(name, "pos", self.pos, 0)
  B.number(name, "neg", self.neg, 0)
  if self.pos + self.neg <= 0 then E.fail(name, "pos + neg must be > 0, got %s and %s", B.show(self.pos), B.show(self.neg)) end
  self.num_samples = B.int(name, "num_samples", self.num_samples, 1, 1024)
  B.number(name, "fill", self.fill)
  check_mask_opts(self)
  function self.apply(t, s, ctx)
    if s.mask == nil then E.fail(name, "needs a mask in the sample") end
    local fm = t:mask_fill(ctx)
    -- pad to at least the patch first
    local pstart, psize, need = {}, {}, false
    for i = 1, 3 do
      local n = s.mask:size(i)
      pstart[i] = pad_start(n, t.size[i]) or 0
      psize[i] = max(n, t.size[i])
      need = need or pstart[i] ~= 0
    end
    if need then s = crop_sample(t, s, ctx, pstart, psize) end
    local D, H, W = s.mask:size(1), s.mask:size(2), s.mask:size(3)
    local flat = s.mask:reshape(D * H * W)
    local m = flat:to("int32")
    local fg_mask = m:gt(0)
    if fm ~= 0 then fg_mask = fg_mask * m:ne(fm) end
    local fgf = fg_mask:to("float32")
    local bgf = m:eq(0):to("float32")
    local nfg, nbg = fgf:sum():item(), bgf:sum():item()
    -- a uniformly drawn voxel of a selection: argmax of uniform noise inside it (0-based)
    local function draw(sel)
      local u = L().rand({ D * H * W }, { generator = ctx.rng and ctx.rng.generator })
      return (u * sel + sel - 1):argmax(1):item() - 1
    end
    local ratio = t.pos / (t.pos + t.neg)
    local out = {}
    for k = 1, t.num_samples do
      local use_fg = B.uniform(ctx) < ratio
      if use_fg and nfg == 0 then use_fg = false end
      if not use_fg and nbg == 0 then use_fg = nfg > 0 end
      local c
      if (use_fg and nfg == 0) or (not use_fg and nbg == 0) then
        c = { D // 2, H // 2, W // 2 }
      else
        local i = draw(use_fg and fgf or bgf)
        c = { i // (H * W), (i // W) % H, i % W }
      end
      local start = {}
      local dims = { D, H, W }
      for a = 1, 3 do
        -- MONAI: start = centre - size // 2, moved inside the volume
        start[a] = min(max(c[a] - t.size[a] // 2, 0), dims[a] - t.size[a])
      end
      local one = {}
      for key, v in pairs(s) do one[key] = v end
      out[k] = crop_sample(t, one, ctx, start, t.size)
    end
    if t.num_samples == 1 then return out[1] end
    return out
  end
  return self
end

------------------------------------------------------------------------ affine

-- 3 x 3 rotation about the D, H and W axes (degrees), acting on (z, y, x) coordinates.
local function rotation(ad, ah, aw)
  local function mul(a, b)
    local r = {}
    for i = 1, 3 do
      r[i] = {}
      for j = 1, 3 do r[i][j] = a[i][1] * b[1][j] + a[i][2] * b[2][j] + a[i][3] * b[3][j] end
    end
    return r
  end
  local cd, sd = cos(rad(ad)), sin(rad(ad))
  local ch, sh = cos(rad(ah)), sin(rad(ah))
  local cw, sw = cos(rad(aw)), sin(rad(aw))
  local Rd = { { 1, 0, 0 }, { 0, cd, -sd }, { 0, sd, cd } }      -- in the (H, W) plane
  local Rh = { { ch, 0, sw and sh }, { 0, 1, 0 }, { -sh, 0, ch } } -- in the (D, W) plane
  Rh[1][3] = sh
  local Rw = { { cw, -sw, 0 }, { sw, cw, 0 }, { 0, 0, 1 } }      -- in the (D, H) plane
  return mul(mul(Rd, Rh), Rw)
end
V.rotation = rotation

--- vol_affine(x, m, {size, interpolation="trilinear"|"nearest", fill=0, naive=false}) -> the
--- C x D x H x W tensor x resampled at m * (z, y, x, 1) (m: 12 numbers, rows of the 3 x 4 map
--- from output voxel to input voxel, 0-based voxel centres); output size {d, h, w} (default:
--- x's). Trilinear (float32; uint8 is converted and rounded back) counts neighbours outside
--- as fill; nearest (any dtype) copies voxels or fill (csrc/lt_vol_warp.c).
function V.vol_affine(x, m, opts)
  local fn = "vol_affine"
  opts = E.options(opts, fn, { "size", "interpolation", "fill", "naive" })
  if not B.is_tensor(x) or x:dim() ~= 4 then
    E.fail(fn, "x must be a C x D x H x W tensor, got %s", B.is_tensor(x) and shape_str(x) or E.typename(x))
  end
  if type(m) ~= "table" or #m ~= 12 then E.fail(fn, "m must be a table of 12 numbers, got %s", B.show(m)) end
  for i = 1, 12 do B.number(fn, "m[" .. i .. "]", m[i]) end
  local size = opts.size and size3(fn, "size", opts.size) or { x:size(2), x:size(3), x:size(4) }
  local interp = opts.interpolation or "trilinear"
  E.choice(fn, "interpolation", interp, { "trilinear", "nearest" })
  local fill = opts.fill == nil and 0 or B.number(fn, "fill", opts.fill)
  if opts.naive ~= nil and type(opts.naive) ~= "boolean" then
    E.fail(fn, "naive must be a boolean, got %s", B.show(opts.naive))
  end
  local linear = interp == "trilinear"
  if linear and x:dtype() ~= "float32" and x:dtype() ~= "uint8" then
    E.fail(fn, "trilinear resampling needs a float32 or uint8 image, got %s", x:dtype())
  end
  if not (linear and x:dtype() == "uint8") then check_fill(fn, "fill", fill, x, "tensor") end
  local shape = { x:size(1), size[1], size[2], size[3] }
  if x:numel() == 0 or size[1] * size[2] * size[3] == 0 then
    -- nothing to sample (every output voxel is outside) or nothing to write
    return L().full(shape, linear and x:dtype() == "uint8" and math.max(0, math.min(255, math.floor(fill + 0.5))) or fill,
      { dtype = x:dtype() })
  end
  local function run(...)
    local ok, y = pcall(core.vol.affine, ...)
    if not ok then E.raise((tostring(y):gsub("^vol%.affine: ", fn .. ": "))) end
    return y
  end
  if linear and x:dtype() == "uint8" then
    local y = run(x:to("float32"), size, m, true, fill, opts.naive)
    return (y + 0.5):floor():clamp(0, 255):to("uint8")
  end
  return run(x, size, m, linear, fill, opts.naive)
end

--- Affine3d{rotate=0, scale=1, translate=0, interpolation="trilinear", fill=0, fill_mask=,
--- p=0.5}: random rotation about the volume centre ((n - 1) / 2 per axis): rotate = a limit in
--- degrees for all three axes (angle uniform in [-a, a]), or {ad, ah, aw} with a limit or a
--- {lo, hi} range per axis (ad turns in the H-W plane, ah in D-W, aw in D-H); scale = a
--- number (fixed) or {lo, hi} isotropic zoom (> 1 enlarges); translate = voxels, a number
--- (uniform in [-t, t] per axis) or {td, th, tw}. Output has the input's size; the image is
--- resampled trilinearly (or nearest), the mask with nearest (MONAI's RandAffined with
--- mode=("bilinear", "nearest"), padding_mode="zeros").
function V.Affine3d(opts)
  local name = "Affine3d"
  local self = new(name, opts, { keys = mask_key { "rotate", "scale", "translate", "interpolation", "fill" },
                                 defaults = { p = 0.5, rotate = 0, scale = 1, translate = 0,
                                              interpolation = "trilinear", fill = 0 } })
  local function per_axis(key, v)
    local list = type(v) == "table" and not B.is_tensor(v) and #v == 3 and v or { v, v, v }
    local r = {}
    for i = 1, 3 do r[i] = B.range(name, key, list[i], true) end
    return r
  end
  self.rot = per_axis("rotate", self.rotate)
  self.trans = per_axis("translate", self.translate)
  self.zoom = B.range(name, "scale", self.scale, false, 1e-3, 1e3)
  E.choice(name, "interpolation", self.interpolation, { "trilinear", "nearest" })
  B.number(name, "fill", self.fill)
  check_mask_opts(self)
  function self.apply(t, s, ctx)
    local a = {}
    for i = 1, 3 do a[i] = B.uniform(ctx, t.rot[i][1], t.rot[i][2]) end
    local z = B.uniform(ctx, t.zoom[1], t.zoom[2])
    local tr = {}
    for i = 1, 3 do tr[i] = B.uniform(ctx, t.trans[i][1], t.trans[i][2]) end
    local R = rotation(a[1], a[2], a[3])
    -- output p -> input R^T (p - c - tr) / z + c
    local c = { (s.image:size(2) - 1) / 2, (s.image:size(3) - 1) / 2, (s.image:size(4) - 1) / 2 }
    local m = {}
    for i = 1, 3 do
      local off = c[i]
      for j = 1, 3 do
        local rij = R[j][i] / z
        m[(i - 1) * 4 + j] = rij
        off = off - rij * (c[j] + tr[j])
      end
      m[(i - 1) * 4 + 4] = off
    end
    local fm = t:mask_fill(ctx)
    if s.image:dtype() ~= "uint8" or t.interpolation == "nearest" then check_fill(name, "fill", t.fill, s.image, "image") end
    if s.mask ~= nil then check_fill(name, "fill_mask", fm, s.mask, "mask") end
    if s.image:numel() == 0 then return s end
    return spatial(s,
      function(x) return V.vol_affine(x, m, { interpolation = t.interpolation, fill = t.fill }) end,
      function(x) return V.vol_affine(x:unsqueeze(1), m, { interpolation = "nearest", fill = fm }):squeeze(1) end)
  end
  return self
end

------------------------------------------------------------------------ intensity

local function need_float(name, s)
  if s.image:dtype() ~= "float32" then
    E.fail(name, "image must be float32, got %s (convert with :to(\"float32\") or image.to_float)", s.image:dtype())
  end
end

--- ScaleIntensity3d{minv=0, maxv=1, p=1}: rescales the image linearly so its minimum becomes
--- minv and its maximum maxv (MONAI ScaleIntensity); a constant image becomes minv.
function V.ScaleIntensity3d(opts)
  local name = "ScaleIntensity3d"
  local self = new(name, opts, { keys = { "minv", "maxv" }, defaults = { p = 1, minv = 0, maxv = 1 } })
  B.number(name, "minv", self.minv)
  B.number(name, "maxv", self.maxv)
  function self.apply(t, s)
    need_float(name, s)
    if s.image:numel() == 0 then return s end
    local lo, hi = s.image:min():item(), s.image:max():item()
    if hi > lo then
      s.image = (s.image - lo) * ((t.maxv - t.minv) / (hi - lo)) + t.minv
    else
      s.image = L().full(s.image:shape(), t.minv)
    end
    return s
  end
  return self
end

--- ShiftIntensity3d{offsets=0.1, p=0.5}: adds an offset uniform in [-o, o] (or {lo, hi})
--- (MONAI RandShiftIntensity).
function V.ShiftIntensity3d(opts)
  local name = "ShiftIntensity3d"
  local self = new(name, opts, { keys = { "offsets" }, defaults = { p = 0.5, offsets = 0.1 } })
  self.range = B.range(name, "offsets", self.offsets, true)
  function self.apply(t, s, ctx)
    need_float(name, s)
    s.image = s.image + B.uniform(ctx, t.range[1], t.range[2])
    return s
  end
  return self
end

--- RandomScaleIntensity3d{factors=0.1, p=0.5}: multiplies by 1 + f, f uniform in [-f, f] (or
--- {lo, hi}) (MONAI RandScaleIntensity).
function V.RandomScaleIntensity3d(opts)
  local name = "RandomScaleIntensity3d"
  local self = new(name, opts, { keys = { "factors" }, defaults = { p = 0.5, factors = 0.1 } })
  self.range = B.range(name, "factors", self.factors, true)
  function self.apply(t, s, ctx)
    need_float(name, s)
    s.image = s.image * (1 + B.uniform(ctx, t.range[1], t.range[2]))
    return s
  end
  return self
end

--- RandomGamma3d{gamma={0.7, 1.5}, p=0.5}: contrast change of MONAI's RandAdjustContrast:
--- out = ((x - min) / (max - min + 1e-7)) ^ g * (max - min) + min with g uniform in gamma.
function V.RandomGamma3d(opts)
  local name = "RandomGamma3d"
  local self = new(name, opts, { keys = { "gamma" }, defaults = { p = 0.5, gamma = { 0.7, 1.5 } } })
  self.range = B.range(name, "gamma", self.gamma, false, 1e-3, 1e3)
  function self.apply(t, s, ctx)
    need_float(name, s)
    local g = B.uniform(ctx, t.range[1], t.range[2])
    if s.image:numel() == 0 then return s end
    local lo, hi = s.image:min():item(), s.image:max():item()
    local r = hi - lo
    s.image = ((s.image - lo) / (r + 1e-7)):pow(g) * r + lo
    return s
  end
  return self
end

--- GaussNoise3d{mean=0, std=0.1, p=0.5}: adds N(mean, sigma^2) noise with sigma uniform in
--- [0, std] (MONAI RandGaussianNoise with sample_std=True), from the chain's generator.
function V.GaussNoise3d(opts)
  local name = "GaussNoise3d"
  local self = new(name, opts, { keys = { "mean", "std" }, defaults = { p = 0.5, mean = 0, std = 0.1 } })
  B.number(name, "mean", self.mean)
  B.number(name, "std", self.std, 0)
  function self.apply(t, s, ctx)
    need_float(name, s)
    local sd = B.uniform(ctx, 0, t.std)
    local noise = L().randn(s.image:shape(), { generator = ctx.rng and ctx.rng.generator })
    s.image = s.image + noise * sd + t.mean
    return s
  end
  return self
end

return V
