-- lunet.transforms.spatial: transforms that move pixels. The image is resampled with its
-- interpolation; the mask with nearest and its own fill, so it only ever holds its own
-- labels or the mask fill value (fill_mask, else ignore_index, else 0).
local core = require "lunet.core"
local E = require "lunet.errors"
local B = require "lunet.transforms.base"

local W = core.warp
local type, pairs = type, pairs
local math_cos, math_sin, math_tan, math_rad, math_exp, math_log, math_sqrt, math_ceil, math_floor, math_max, math_min =
  math.cos, math.sin, math.tan, math.rad, math.exp, math.log, math.sqrt, math.ceil, math.floor, math.max, math.min

local S = {}

local WARP_KEYS = { "interpolation", "border_mode", "fill", "fill_mask", "ignore_index" }
local function keys(extra)
  local k = {}
  for _, v in ipairs(WARP_KEYS) do k[#k + 1] = v end
  for _, v in ipairs(extra) do k[#k + 1] = v end
  return k
end

-- Checks the interpolation/border/fill options shared by the warping transforms.
local function check_warp_opts(self)
  local name = self.name
  self.interpolation = B.interp(name, self.interpolation)
  self.border_mode = B.border(name, self.border_mode)
  B.number(name, "fill", self.fill)
  if self.fill_mask ~= nil then self.fill_mask = B.int(name, "fill_mask", self.fill_mask) end
  if self.ignore_index ~= nil then self.ignore_index = B.int(name, "ignore_index", self.ignore_index) end
end

-- Warps image and mask with the forward 2x3 matrix m (as cv2.warpAffine).
local function warp_sample(self, s, ctx, m)
  s.image = W.warp_affine(s.image, m, { interpolation = self.interpolation,
                                        border = self.border_mode, fill = self.fill })
  if s.mask ~= nil then
    s.mask = W.warp_affine(s.mask, m, { interpolation = "nearest", border = self.border_mode,
                                        fill = self:mask_fill(ctx) })
  end
  return s
end

local function remap_sample(self, s, ctx, mx, my)
  s.image = W.remap(s.image, mx, my, { interpolation = self.interpolation,
                                       border = self.border_mode, fill = self.fill })
  if s.mask ~= nil then
    s.mask = W.remap(s.mask, mx, my, { interpolation = "nearest", border = self.border_mode,
                                       fill = self:mask_fill(ctx) })
  end
  return s
end

-- cv2.getRotationMatrix2D(center, angle, scale): positive angles turn counter-clockwise.
local function rotation_matrix(cx, cy, angle, scale)
  local args = { cx, cy, angle, scale }
  for i = 1, 4 do
    local v = args[i]
    if not B.finite(v) then
      E.fail("rotation_matrix", "%s must be a finite number, got %s", ({ "cx", "cy", "angle", "scale" })[i], B.show(v))
    end
  end
  local a = math_cos(math_rad(angle)) * scale
  local b = math_sin(math_rad(angle)) * scale
  return { a, b, (1 - a) * cx - b * cy, -b, a, b * cx + (1 - a) * cy }
end
S.rotation_matrix = rotation_matrix

------------------------------------------------------------------------ flips, rot90

function S.HorizontalFlip(opts)
  local self = B.new("HorizontalFlip", opts, { defaults = { p = 0.5 } })
  function self.apply(_, s)
    return B.spatial(s, function(x) return W.flip(x, true) end, function(x) return W.flip(x, true) end)
  end
  return self
end

function S.VerticalFlip(opts)
  local self = B.new("VerticalFlip", opts, { defaults = { p = 0.5 } })
  function self.apply(_, s)
    return B.spatial(s, function(x) return W.flip(x, false) end, function(x) return W.flip(x, false) end)
  end
  return self
end

-- Turns by k * 90 degrees counter-clockwise, k uniform in 0..3 (numpy.rot90).
function S.RandomRotate90(opts)
  local self = B.new("RandomRotate90", opts, { defaults = { p = 0.5 } })
  function self.apply(_, s, ctx)
    local k = B.randint(ctx, 0, 3)
    return B.spatial(s, function(x) return W.rot90(x, k) end, function(x) return W.rot90(x, k) end)
  end
  return self
end

------------------------------------------------------------------------ rotate, affine

-- Rotate{limit=90, interpolation="bilinear", border_mode="constant", fill=0, fill_mask=}:
-- angle uniform in [-limit, limit] (or {lo, hi}) degrees about the image centre
-- ((W-1)/2, (H-1)/2), output the same size, as cv2.warpAffine.
function S.Rotate(opts)
  local self = B.new("Rotate", opts, {
    keys = keys { "limit" },
    defaults = { p = 0.5, limit = 90, interpolation = "bilinear", border_mode = "constant", fill = 0 } })
  self.limit = B.range(self.name, "limit", self.limit, true)
  check_warp_opts(self)
  function self.apply(t, s, ctx)
    local angle = B.uniform(ctx, t.limit[1], t.limit[2])
    local h, w = s.image:size(2), s.image:size(3)
    return warp_sample(t, s, ctx, rotation_matrix((w - 1) / 2, (h - 1) / 2, angle, 1))
  end
  return self
end

-- {x=range, y=range} from a number (fixed), {lo, hi}, or {x=..., y=...}.
local function xy_range(name, key, v, default)
  if type(v) == "table" and (v.x ~= nil or v.y ~= nil) then
    for k in pairs(v) do
      if k ~= "x" and k ~= "y" then
        E.fail(name, "%s accepts only the keys x and y, got %s", key, B.show(k))
      end
    end
    return { x = B.range(name, key .. ".x", v.x == nil and default or v.x, false),
             y = B.range(name, key .. ".y", v.y == nil and default or v.y, false) }
  end
  local r = B.range(name, key, v, false)
  return { x = r, y = r }
end

-- Affine{scale=1, translate_percent=0 | translate_px=0, rotate=0, shear=0, keep_ratio=false,
-- interpolation=, border_mode="constant", fill=0, fill_mask=}: a number is a fixed value,
-- {lo, hi} a uniform range, {x=, y=} per axis (scale, translate, shear). Matrix about the
-- centre c: x' = R * Shear * Scale * (x - c) + c + t; rotate and shear in degrees,
-- rotation counter-clockwise as Rotate.
function S.Affine(opts)
  local name = "Affine"
  local self = B.new(name, opts, {
    keys = keys { "scale", "translate_percent", "translate_px", "rotate", "shear", "keep_ratio" },
    defaults = { p = 0.5, scale = 1, rotate = 0, shear = 0, keep_ratio = false,
                 interpolation = "bilinear", border_mode = "constant", fill = 0 } })
  if self.translate_percent ~= nil and self.translate_px ~= nil then
    E.fail(name, "give translate_percent or translate_px, not both")
  end
  B.bool(name, "keep_ratio", self.keep_ratio)
  self.scale = xy_range(name, "scale", self.scale, 1)
  for _, r in pairs(self.scale) do
    if r[1] <= 0 then E.fail(name, "scale must be > 0, got %s", B.show(self.opts.scale)) end
  end
  self.shear = xy_range(name, "shear", self.shear, 0)
  for _, r in pairs(self.shear) do
    if r[1] <= -90 or r[2] >= 90 then
      E.fail(name, "shear must lie strictly between -90 and 90 degrees, got %s", B.show(self.opts.shear))
    end
  end
  self.rotate = B.range(name, "rotate", self.rotate, false)
  if self.translate_px ~= nil then
    self.translate = xy_range(name, "translate_px", self.translate_px, 0)
    self.translate_unit = "px"
  else
    self.translate = xy_range(name, "translate_percent", self.translate_percent or 0, 0)
    self.translate_unit = "percent"
  end
  check_warp_opts(self)
  function self.apply(t, s, ctx)
    local h, w = s.image:size(2), s.image:size(3)
    local sx = B.uniform(ctx, t.scale.x[1], t.scale.x[2])
    local sy = t.keep_ratio and sx or B.uniform(ctx, t.scale.y[1], t.scale.y[2])
    local tx = B.uniform(ctx, t.translate.x[1], t.translate.x[2])
    local ty = B.uniform(ctx, t.translate.y[1], t.translate.y[2])
    if t.translate_unit == "percent" then tx, ty = tx * w, ty * h end
    local angle = B.uniform(ctx, t.rotate[1], t.rotate[2])
    local shx = math_tan(math_rad(B.uniform(ctx, t.shear.x[1], t.shear.x[2])))
    local shy = math_tan(math_rad(B.uniform(ctx, t.shear.y[1], t.shear.y[2])))
    local c, sn = math_cos(math_rad(angle)), math_sin(math_rad(angle))
    -- A = R * Shear * Scale with R = [c sn; -sn c], Shear = [1 shx; shy 1]
    local r11, r12 = c + sn * shy, c * shx + sn
    local r21, r22 = -sn + c * shy, -sn * shx + c
    local a11, a12, a21, a22 = r11 * sx, r12 * sy, r21 * sx, r22 * sy
    local cx, cy = (w - 1) / 2, (h - 1) / 2
    local m = { a11, a12, cx + tx - a11 * cx - a12 * cy,
                a21, a22, cy + ty - a21 * cx - a22 * cy }
    return warp_sample(t, s, ctx, m)
  end
  return self
end

------------------------------------------------------------------------ crops, resize, pad

local function crop_sample(s, y0, x0, h, w)
  return B.spatial(s, function(x) return W.crop_pad(x, y0, x0, h, w) end,
                      function(x) return W.crop_pad(x, y0, x0, h, w) end)
end

local function check_crop(name, s, h, w)
  local H, Wd = s.image:size(2), s.image:size(3)
  if h > H or w > Wd then
    E.fail(name, "crop %dx%d is larger than the image %dx%d", h, w, H, Wd)
  end
  return H, Wd
end

local function hw_transform(name, opts, defaults, extra)
  local self = B.new(name, opts, { keys = { "height", "width", table.unpack(extra or {}) },
                                   positional = { "height", "width" }, defaults = defaults })
  if self.height == nil or self.width == nil then
    E.fail(name, "height and width are required")
  end
  self.height = B.int(name, "height", self.height, 1, B.MAX_SIDE)
  self.width = B.int(name, "width", self.width, 1, B.MAX_SIDE)
  return self
end

-- RandomCrop{height, width}: a crop at a uniform position (p defaults to 1).
function S.RandomCrop(opts)
  local self = hw_transform("RandomCrop", opts, { p = 1 })
  function self.apply(t, s, ctx)
    local H, Wd = check_crop(t.name, s, t.height, t.width)
    local y0 = B.randint(ctx, 0, H - t.height)
    local x0 = B.randint(ctx, 0, Wd - t.width)
    return crop_sample(s, y0, x0, t.height, t.width)
  end
  return self
end

-- CenterCrop{height, width}: top-left at ((H - h) // 2, (W - w) // 2).
function S.CenterCrop(opts)
  local self = hw_transform("CenterCrop", opts, { p = 1 })
  function self.apply(t, s)
    local H, Wd = check_crop(t.name, s, t.height, t.width)
    return crop_sample(s, (H - t.height) // 2, (Wd - t.width) // 2, t.height, t.width)
  end
  return self
end

local function resize_sample(s, h, w, interp)
  return B.spatial(s, function(x) return W.resize(x, h, w, { interpolation = interp }) end,
                      function(x) return W.resize(x, h, w, { interpolation = "nearest" }) end)
end

-- Resize{height, width, interpolation="bilinear"|"area"|"nearest"}: as cv2.resize; the mask
-- uses nearest (src = floor(dst * in / out)).
function S.Resize(opts)
  local self = hw_transform("Resize", opts, { p = 1, interpolation = "bilinear" }, { "interpolation" })
  self.interpolation = B.interp(self.name, self.interpolation, true)
  function self.apply(t, s)
    return resize_sample(s, t.height, t.width, t.interpolation)
  end
  return self
end

-- RandomResizedCrop{size, scale={0.08, 1}, ratio={3/4, 4/3}, interpolation="bilinear"}: the
-- crop box is drawn as torchvision's (10 tries, then a centre crop), then resized to size
-- (a number or {height, width}).
function S.RandomResizedCrop(opts)
  local name = "RandomResizedCrop"
  local self = B.new(name, opts, { keys = { "size", "scale", "ratio", "interpolation" },
                                   positional = { "size" },
                                   defaults = { p = 1, scale = { 0.08, 1 }, ratio = { 3 / 4, 4 / 3 },
                                                interpolation = "bilinear" } })
  local size = self.size
  if type(size) == "number" then size = { size, size } end
  if type(size) ~= "table" or #size ~= 2 then
    E.fail(name, "size must be a number or {height, width}, got %s", B.show(self.size))
  end
  self.out_h = B.int(name, "size", size[1], 1, B.MAX_SIDE)
  self.out_w = B.int(name, "size", size[2], 1, B.MAX_SIDE)
  self.scale = B.range(name, "scale", self.scale, false, 0, 1)
  self.ratio = B.range(name, "ratio", self.ratio, false)
  if self.scale[2] <= 0 then E.fail(name, "scale must reach above 0, got %s", B.show(self.opts.scale)) end
  if self.ratio[1] <= 0 then E.fail(name, "ratio must be > 0, got %s", B.show(self.opts.ratio)) end
  self.interpolation = B.interp(name, self.interpolation, true)
  function self.apply(t, s, ctx)
    local H, Wd = s.image:size(2), s.image:size(3)
    local area = H * Wd
    local lr1, lr2 = math_log(t.ratio[1]), math_log(t.ratio[2])
    local y0, x0, h, w
    for _ = 1, 10 do
      local target = area * B.uniform(ctx, t.scale[1], t.scale[2])
      local ar = math_exp(B.uniform(ctx, lr1, lr2))
      local cw = B.round_even(math_sqrt(target * ar))
      local ch = B.round_even(math_sqrt(target / ar))
      if cw > 0 and cw <= Wd and ch > 0 and ch <= H then
        y0, x0, h, w = B.randint(ctx, 0, H - ch), B.randint(ctx, 0, Wd - cw), ch, cw
        break
      end
    end
    if not y0 then
      local in_ratio = Wd / H
      if in_ratio < t.ratio[1] then
        w = Wd; h = B.round_even(w / t.ratio[1])
      elseif in_ratio > t.ratio[2] then
        h = H; w = B.round_even(h * t.ratio[2])
      else
        w, h = Wd, H
      end
      h, w = math_max(1, math_min(h, H)), math_max(1, math_min(w, Wd))
      y0, x0 = (H - h) // 2, (Wd - w) // 2
    end
    crop_sample(s, y0, x0, h, w)
    return resize_sample(s, t.out_h, t.out_w, t.interpolation)
  end
  return self
end

-- PadIfNeeded{min_height=, min_width=, border_mode="constant", fill=0, fill_mask=,
-- position="center"}: pads up to at least min_height x min_width (p defaults to 1).
-- Centre: top = (min_h - H) // 2, the rest at the bottom (same for left/right).
function S.PadIfNeeded(opts)
  local name = "PadIfNeeded"
  local self = B.new(name, opts, {
    keys = { "min_height", "min_width", "border_mode", "fill", "fill_mask", "ignore_index", "position" },
    positional = { "min_height", "min_width" },
    defaults = { p = 1, border_mode = "constant", fill = 0, position = "center" } })
  if self.min_height ~= nil then self.min_height = B.int(name, "min_height", self.min_height, 1, B.MAX_SIDE) end
  if self.min_width ~= nil then self.min_width = B.int(name, "min_width", self.min_width, 1, B.MAX_SIDE) end
  self.border_mode = B.border(name, self.border_mode)
  B.number(name, "fill", self.fill)
  if self.fill_mask ~= nil then self.fill_mask = B.int(name, "fill_mask", self.fill_mask) end
  if self.ignore_index ~= nil then self.ignore_index = B.int(name, "ignore_index", self.ignore_index) end
  E.choice(name, "position", self.position, { "center", "top_left", "top_right", "bottom_left", "bottom_right" })
  function self.apply(t, s, ctx)
    local H, Wd = s.image:size(2), s.image:size(3)
    local dh = math_max(0, (t.min_height or 0) - H)
    local dw = math_max(0, (t.min_width or 0) - Wd)
    if dh == 0 and dw == 0 then return s end
    local top, left = dh // 2, dw // 2
    local pos = t.position
    if pos == "top_left" or pos == "top_right" then top = 0 end
    if pos == "bottom_left" or pos == "bottom_right" then top = dh end
    if pos == "top_left" or pos == "bottom_left" then left = 0 end
    if pos == "top_right" or pos == "bottom_right" then left = dw end
    local h, w = H + dh, Wd + dw
    s.image = W.crop_pad(s.image, -top, -left, h, w, { border = t.border_mode, fill = t.fill })
    if s.mask ~= nil then
      s.mask = W.crop_pad(s.mask, -top, -left, h, w, { border = t.border_mode, fill = t:mask_fill(ctx) })
    end
    return s
  end
  return self
end

------------------------------------------------------------------------ elastic, grid

-- ElasticTransform{alpha=1, sigma=50, interpolation="bilinear", border_mode="reflect",
-- fill=0, fill_mask=}: displacement fields dx, dy = alpha * gaussian_blur(uniform(-1, 1))
-- with a (2*ceil(3*sigma)+1)-wide kernel (at most 2*max(H, W)+1), then remap. The cost
-- grows with sigma: ~15 ms for sigma=6 at 256x256, ~200 ms for the default sigma=50.
function S.ElasticTransform(opts)
  local name = "ElasticTransform"
  local self = B.new(name, opts, {
    keys = keys { "alpha", "sigma" },
    defaults = { p = 0.5, alpha = 1, sigma = 50, interpolation = "bilinear",
                 border_mode = "reflect", fill = 0 } })
  B.number(name, "alpha", self.alpha)
  B.number(name, "sigma", self.sigma)
  if not (self.sigma > 0) then E.fail(name, "sigma must be > 0, got %s", B.show(self.sigma)) end
  check_warp_opts(self)
  function self.apply(t, s, ctx)
    local H, Wd = s.image:size(2), s.image:size(3)
    local k = math_min(2 * math_ceil(3 * t.sigma) + 1, 2 * math_max(H, Wd) + 1, 4095)
    local mx, my = W.elastic_maps(H, Wd, t.alpha, t.sigma, k, ctx.rng)
    return remap_sample(t, s, ctx, mx, my)
  end
  return self
end

-- Source coordinates along one axis of GridDistortion (albumentations' construction: cell
-- size size // num_steps, cell i stretched by steps[i]; the last cell runs to the edge).
local function grid_axis(size, num_steps, steps)
  local step = size // num_steps
  local xs, prev = {}, 0
  for idx = 0, num_steps do
    local start = idx * step
    local stop, cur = start + step, nil
    if idx == num_steps or stop > size then
      stop, cur = size, size
    else
      cur = prev + step * steps[idx + 1]
    end
    local n = stop - start
    for i = 0, n - 1 do
      xs[start + i + 1] = n == 1 and prev or prev + (cur - prev) * i / (n - 1)
    end
    prev = cur
  end
  return xs
end

-- GridDistortion{num_steps=5, distort_limit=0.3, interpolation="bilinear",
-- border_mode="reflect", fill=0, fill_mask=}: each of the num_steps+1 cells per axis is
-- stretched by 1 + uniform(-limit, limit) (x steps drawn before y steps), then remap.
function S.GridDistortion(opts)
  local name = "GridDistortion"
  local self = B.new(name, opts, {
    keys = keys { "num_steps", "distort_limit" },
    defaults = { p = 0.5, num_steps = 5, distort_limit = 0.3, interpolation = "bilinear",
                 border_mode = "reflect", fill = 0 } })
  self.num_steps = B.int(name, "num_steps", self.num_steps, 1, B.MAX_STEPS)
  self.distort_limit = B.range(name, "distort_limit", self.distort_limit, true, -1, 1)
  check_warp_opts(self)
  function self.apply(t, s, ctx)
    local H, Wd = s.image:size(2), s.image:size(3)
    local lo, hi = t.distort_limit[1], t.distort_limit[2]
    local xsteps, ysteps = {}, {}
    for i = 1, t.num_steps + 1 do xsteps[i] = 1 + B.uniform(ctx, lo, hi) end
    for i = 1, t.num_steps + 1 do ysteps[i] = 1 + B.uniform(ctx, lo, hi) end
    local mx, my = W.grid_maps(grid_axis(Wd, t.num_steps, xsteps), grid_axis(H, t.num_steps, ysteps))
    return remap_sample(t, s, ctx, mx, my)
  end
  return self
end

return S
