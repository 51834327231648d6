-- lunet.transforms.pixel: transforms that change pixel values of the image only; the mask
-- is passed through untouched (CoarseDropout fills it only when fill_mask is given).
-- uint8 results are rounded and saturated; float32 images are not clipped.
local core = require "lunet.core"
local E = require "lunet.errors"
local B = require "lunet.transforms.base"

local W = core.warp
local type, ipairs, tostring, getmetatable = type, ipairs, tostring, getmetatable
local math_sqrt, math_floor = math.sqrt, math.floor

local P = {}
local check_stats

local function is_u8(img) return img:dtype() == "uint8" end

-- RandomBrightnessContrast{brightness_limit=0.2, contrast_limit=0.2, brightness_by_max=true}:
-- alpha = 1 + uniform(contrast range), beta = uniform(brightness range) (drawn in that
-- order); out = img * alpha + beta * max (max = 255 for uint8, 1 for float32; with
-- brightness_by_max=false, the image mean instead of max).
function P.RandomBrightnessContrast(opts)
  local name = "RandomBrightnessContrast"
  local self = B.new(name, opts, {
    keys = { "brightness_limit", "contrast_limit", "brightness_by_max" },
    defaults = { p = 0.5, brightness_limit = 0.2, contrast_limit = 0.2, brightness_by_max = true } })
  self.brightness_limit = B.range(name, "brightness_limit", self.brightness_limit, true)
  self.contrast_limit = B.range(name, "contrast_limit", self.contrast_limit, true)
  B.bool(name, "brightness_by_max", self.brightness_by_max)
  function self.apply(t, s, ctx)
    local alpha = 1 + B.uniform(ctx, t.contrast_limit[1], t.contrast_limit[2])
    local beta = B.uniform(ctx, t.brightness_limit[1], t.brightness_limit[2])
    local img = s.image
    local scale
    if t.brightness_by_max then
      scale = is_u8(img) and 255 or 1
    else
      scale = img:to("float32"):mean():item()
    end
    s.image = W.pixel_affine(img, alpha, beta * scale)
    return s
  end
  return self
end

-- RandomGamma{gamma_limit={80, 120}}: gamma = uniform(gamma_limit) / 100,
-- out = max * (img / max) ^ gamma (max 255 for uint8, 1 for float32).
function P.RandomGamma(opts)
  local name = "RandomGamma"
  local self = B.new(name, opts, { keys = { "gamma_limit" }, defaults = { p = 0.5, gamma_limit = { 80, 120 } } })
  self.gamma_limit = B.range(name, "gamma_limit", self.gamma_limit, false)
  if self.gamma_limit[1] <= 0 then
    E.fail(name, "gamma_limit must be > 0, got %s", B.show(self.opts.gamma_limit))
  end
  function self.apply(t, s, ctx)
    local g = B.uniform(ctx, t.gamma_limit[1], t.gamma_limit[2]) / 100
    s.image = W.pixel_gamma(s.image, g, is_u8(s.image) and 255 or 1)
    return s
  end
  return self
end

-- GaussNoise{var_limit={10, 50}, mean=0, per_channel=true}: adds N(mean, sqrt(var)) with
-- var uniform in var_limit, in the image's own units (uint8: 0..255).
function P.GaussNoise(opts)
  local name = "GaussNoise"
  local self = B.new(name, opts, { keys = { "var_limit", "mean", "per_channel" },
                                   defaults = { p = 0.5, var_limit = { 10, 50 }, mean = 0, per_channel = true } })
  self.var_limit = B.range(name, "var_limit", self.var_limit, false, 0)
  B.number(name, "mean", self.mean)
  B.bool(name, "per_channel", self.per_channel)
  function self.apply(t, s, ctx)
    local sd = math_sqrt(B.uniform(ctx, t.var_limit[1], t.var_limit[2]))
    s.image = W.gauss_noise(s.image, t.mean, sd, t.per_channel, ctx.rng)
    return s
  end
  return self
end

-- GaussianBlur{blur_limit={3, 7}, sigma_limit=0}: odd kernel size uniform among the odd
-- values of blur_limit, sigma uniform in sigma_limit (0: derived from the size as OpenCV).
function P.GaussianBlur(opts)
  local name = "GaussianBlur"
  local self = B.new(name, opts, { keys = { "blur_limit", "sigma_limit" },
                                   defaults = { p = 0.5, blur_limit = { 3, 7 }, sigma_limit = 0 } })
  local bl = B.range(name, "blur_limit", self.blur_limit, false, 0, B.MAX_KERNEL)
  self.sizes = {}
  for k = math_floor(bl[1]), math_floor(bl[2]) do
    if k % 2 == 1 then self.sizes[#self.sizes + 1] = k end
  end
  if #self.sizes == 0 then
    E.fail(name, "blur_limit must contain an odd kernel size, got %s", B.show(self.blur_limit))
  end
  self.sigma_limit = B.range(name, "sigma_limit", self.sigma_limit, false, 0)
  function self.apply(t, s, ctx)
    local k = t.sizes[B.randint(ctx, 1, #t.sizes)]
    local sigma = B.uniform(ctx, t.sigma_limit[1], t.sigma_limit[2])
    s.image = W.gaussian_blur(s.image, k, k, sigma, sigma)
    return s
  end
  return self
end

-- HueSaturationValue{hue_shift_limit=20, sat_shift_limit=30, val_shift_limit=20}: shifts in
-- OpenCV uint8 HSV units (hue 0..180, saturation and value 0..255) for any dtype; for
-- float32 images (RGB in [0, 1]) the hue shift is doubled (degrees) and the others / 255.
function P.HueSaturationValue(opts)
  local name = "HueSaturationValue"
  local self = B.new(name, opts, { keys = { "hue_shift_limit", "sat_shift_limit", "val_shift_limit" },
                                   defaults = { p = 0.5, hue_shift_limit = 20, sat_shift_limit = 30,
                                                val_shift_limit = 20 } })
  self.hue_shift_limit = B.range(name, "hue_shift_limit", self.hue_shift_limit, true)
  self.sat_shift_limit = B.range(name, "sat_shift_limit", self.sat_shift_limit, true)
  self.val_shift_limit = B.range(name, "val_shift_limit", self.val_shift_limit, true)
  function self.apply(t, s, ctx)
    local img = s.image
    if img:size(1) ~= 3 then
      E.fail(name, "image must have 3 channels (RGB), got %d", img:size(1))
    end
    local h = B.uniform(ctx, t.hue_shift_limit[1], t.hue_shift_limit[2])
    local sat = B.uniform(ctx, t.sat_shift_limit[1], t.sat_shift_limit[2])
    local v = B.uniform(ctx, t.val_shift_limit[1], t.val_shift_limit[2])
    if not is_u8(img) then h, sat, v = 2 * h, sat / 255, v / 255 end
    s.image = W.hsv_shift(img, h, sat, v)
    return s
  end
  return self
end

-- CoarseDropout{max_holes=8, max_height=8, max_width=8, min_holes=max_holes,
-- min_height=max_height, min_width=max_width, fill=0, fill_mask=}: rectangles filled with
-- fill in the image (and with fill_mask in the mask when given). Sizes below 1 are
-- fractions of the image size, larger ones pixels (clamped to the image). At most
-- B.MAX_HOLES (10000) holes and B.MAX_SIDE (65536) pixels per size.
function P.CoarseDropout(opts)
  local name = "CoarseDropout"
  local self = B.new(name, opts, {
    keys = { "max_holes", "max_height", "max_width", "min_holes", "min_height", "min_width", "fill", "fill_mask" },
    defaults = { p = 0.5, max_holes = 8, max_height = 8, max_width = 8, fill = 0 } })
  self.max_holes = B.int(name, "max_holes", self.max_holes, 0, B.MAX_HOLES)
  self.min_holes = B.int(name, "min_holes", self.min_holes or self.max_holes, 0, B.MAX_HOLES)
  for _, k in ipairs { "max_height", "max_width" } do B.number(name, k, self[k], 0, B.MAX_SIDE) end
  self.min_height = B.number(name, "min_height", self.min_height or self.max_height, 0, B.MAX_SIDE)
  self.min_width = B.number(name, "min_width", self.min_width or self.max_width, 0, B.MAX_SIDE)
  for _, k in ipairs { "height", "width", "holes" } do
    local lo, hi = self["min_" .. k], self["max_" .. k]
    if lo > hi then E.fail(name, "min_%s (%s) must not exceed max_%s (%s)", k, B.show(lo), k, B.show(hi)) end
  end
  B.number(name, "fill", self.fill)
  if self.fill_mask ~= nil then self.fill_mask = B.int(name, "fill_mask", self.fill_mask) end
  local function px(v, size)
    if v < 1 and v > 0 then return math_floor(v * size) end
    return math_floor(v)
  end
  function self.apply(t, s, ctx)
    local H, Wd = s.image:size(2), s.image:size(3)
    local n = B.randint(ctx, t.min_holes, t.max_holes)
    local img = W.crop_pad(s.image, 0, 0, H, Wd)
    local mask = (t.fill_mask ~= nil and s.mask ~= nil) and W.crop_pad(s.mask, 0, 0, H, Wd) or nil
    for _ = 1, n do
      local hh = math.min(H, B.randint(ctx, px(t.min_height, H), px(t.max_height, H)))
      local ww = math.min(Wd, B.randint(ctx, px(t.min_width, Wd), px(t.max_width, Wd)))
      local y0, x0 = B.randint(ctx, 0, H - hh), B.randint(ctx, 0, Wd - ww)
      W.fill_rect(img, y0, x0, hh, ww, t.fill)
      if mask then W.fill_rect(mask, y0, x0, hh, ww, t.fill_mask) end
    end
    s.image = img
    if mask then s.mask = mask end
    return s
  end
  return self
end

local function channel_values(name, key, v, c)
  if type(v) == "number" then return v end
  if type(v) ~= "table" or (#v ~= 1 and #v ~= c) then
    E.fail(name, "%s has %s values, image has %d channels", key, type(v) == "table" and tostring(#v) or "no", c)
  end
  return v
end

local function scaled(v, f)
  if type(v) == "number" then return v * f end
  local r = {}
  for i, x in ipairs(v) do r[i] = x * f end
  return r
end

-- mean / std of Normalize: a number or a non-empty list of finite numbers; std values > 0.
check_stats = function(name, key, v, positive)
  local list = type(v) == "table" and getmetatable(v) == nil and v or nil
  if not (B.finite(v) or (list and #list > 0)) then
    E.fail(name, "%s must be a number or a list of numbers (one per channel), got %s", key, B.show(v))
  end
  for i = 1, list and #list or 1 do
    local x = list and list[i] or v
    local what = list and string.format("%s[%d]", key, i) or key
    if not B.finite(x) then E.fail(name, "%s must be a finite number, got %s", what, B.show(x)) end
    if positive and not (x > 0) then E.fail(name, "%s must be > 0, got %s", what, B.show(x)) end
  end
end

-- Normalize{mean={0.485, 0.456, 0.406}, std={0.229, 0.224, 0.225}, max_pixel_value=255}:
-- float32 (img - mean * max_pixel_value) / (std * max_pixel_value); p defaults to 1.
function P.Normalize(opts)
  local name = "Normalize"
  local self = B.new(name, opts, { keys = { "mean", "std", "max_pixel_value" },
                                   defaults = { p = 1, mean = { 0.485, 0.456, 0.406 },
                                                std = { 0.229, 0.224, 0.225 }, max_pixel_value = 255 } })
  B.number(name, "max_pixel_value", self.max_pixel_value)
  if not (self.max_pixel_value > 0) then
    E.fail(name, "max_pixel_value must be > 0, got %s", B.show(self.max_pixel_value))
  end
  check_stats(name, "mean", self.mean, false)
  check_stats(name, "std", self.std, true)
  function self.apply(t, s)
    local c = s.image:size(1)
    local mean = channel_values(name, "mean", t.mean, c)
    local std = channel_values(name, "std", t.std, c)
    s.image = W.normalize(s.image, scaled(mean, t.max_pixel_value), scaled(std, t.max_pixel_value))
    return s
  end
  return self
end

-- ToFloat{max_value=}: float32 img / max_value (default 255 for uint8, 1 for float32).
function P.ToFloat(opts)
  local name = "ToFloat"
  local self = B.new(name, opts, { keys = { "max_value" }, defaults = { p = 1 } })
  if self.max_value ~= nil then
    B.number(name, "max_value", self.max_value)
    if not (self.max_value > 0) then E.fail(name, "max_value must be > 0, got %s", B.show(self.max_value)) end
  end
  function self.apply(t, s)
    local m = t.max_value or (is_u8(s.image) and 255 or 1)
    s.image = W.normalize(s.image, 0, m)
    return s
  end
  return self
end

return P
