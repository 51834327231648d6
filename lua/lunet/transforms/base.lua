-- lunet.transforms.base: the Transform class shared by every augmentation, option checking
-- (unknown keys, p, ranges) and the random draws, all from one generator per call chain.
local core = require "lunet.core"

local W = core.warp
local type, error, pairs, ipairs, tostring, setmetatable = type, error, pairs, ipairs, tostring, setmetatable
local string_format, concat, math_floor = string.format, table.concat, math.floor

local B = {}

-- A context travels through one call: ctx.rng = {generator = g or nil} (nil: the default
-- generator of lunet.manual_seed), ctx.ignore_index from Compose{ignore_index=}.
-- B.sample_rng: set by the DataLoader while it produces a sample ({generator = that
-- sample's stream}); Compose and lone transforms then draw from it, not their own generator.
B.sample_rng = nil
function B.uniform(ctx, a, b)
  local u = W.uniform(ctx.rng)
  if a == nil then return u end
  return a + (b - a) * u
end

function B.randint(ctx, a, b) return W.randint(a, b, ctx.rng) end

-- Python's round(): half to even (torchvision's RandomResizedCrop uses it).
function B.round_even(x)
  local f = math_floor(x)
  local d = x - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then f = f + 1 end
  return f
end

local function fmt(v)
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = fmt(x) end
    for k, x in pairs(v) do
      if type(k) ~= "number" then parts[#parts + 1] = tostring(k) .. "=" .. fmt(x) end
    end
    return "{" .. concat(parts, ", ") .. "}"
  end
  if type(v) == "string" then return string_format("%q", v) end
  return tostring(v)
end
B.fmt = fmt

------------------------------------------------------------------------ the class

local Transform = {}
Transform.__index = Transform
B.Transform = Transform

-- Draws the p-coin (always, so the stream of draws does not depend on p) and applies.
function Transform:maybe(s, ctx)
  if B.uniform(ctx) < self.p then return self:apply(s, ctx) end
  return s
end

-- Mask fill: fill_mask, else the transform's or Compose's ignore_index, else 0.
function Transform:mask_fill(ctx)
  if self.fill_mask ~= nil then return self.fill_mask end
  if self.ignore_index ~= nil then return self.ignore_index end
  if ctx.ignore_index ~= nil then return ctx.ignore_index end
  return 0
end

-- A transform called on its own: tf{image=, mask=} with the default generator.
function Transform:__call(sample)
  local s = B.check_sample(sample, self.name, 2)
  return B.finish(self:maybe(s, { rng = B.sample_rng or {} }), sample)
end

function Transform:__tostring()
  local keys = {}
  for k in pairs(self.opts) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local parts = {}
  for i, v in ipairs(self.opts) do parts[i] = fmt(v) end
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. fmt(self.opts[k]) end
  return self.name .. "{" .. concat(parts, ", ") .. "}"
end

-- B.new(name, opts, spec): spec.keys = allowed option names (p always allowed),
-- spec.positional = names for opts[1], opts[2], ..., spec.list = true to accept any
-- positional entries (Compose's transforms), spec.defaults = default values.
-- Unknown keys and a bad p raise "Name: ..." at the caller of the constructor.
function B.new(name, opts, spec)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error(string_format("%s: options must be a table, got %s", name, type(opts)), 3)
  end
  local allowed = { p = true }
  for _, k in ipairs(spec.keys or {}) do allowed[k] = true end
  local positional = spec.positional or {}
  for k in pairs(opts) do
    if type(k) == "number" then
      if not positional[k] and not spec.list then
        error(string_format("%s: unexpected positional option %d", name, k), 3)
      end
    elseif not allowed[k] then
      error(string_format("%s: unknown option '%s'", name, tostring(k)), 3)
    end
  end
  local self = setmetatable({ name = name, opts = opts }, Transform)
  for k, v in pairs(spec.defaults or {}) do self[k] = v end
  for i, k in ipairs(positional) do
    if opts[i] ~= nil then
      if opts[k] ~= nil then error(string_format("%s: %s given twice", name, k), 3) end
      self[k] = opts[i]
    end
  end
  for k, v in pairs(opts) do
    if type(k) == "string" then self[k] = v end
  end
  local p = self.p
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    error(string_format("%s: p must be a number in [0, 1], got %s", name, tostring(p)), 3)
  end
  return self
end

-- Option value checks, raising at the constructor's caller (level 4 from here).
function B.number(name, key, v, lo)
  if type(v) ~= "number" or v ~= v or (lo and v < lo) then
    error(string_format("%s: %s must be a number%s, got %s", name, key,
      lo and (" >= " .. tostring(lo)) or "", fmt(v)), 4)
  end
  return v
end

function B.int(name, key, v, lo)
  if type(v) ~= "number" or v ~= math_floor(v) or (lo and v < lo) then
    error(string_format("%s: %s must be an integer%s, got %s", name, key,
      lo and (" >= " .. tostring(lo)) or "", fmt(v)), 4)
  end
  return math_floor(v)
end

-- A range option: a number x gives {-x, x} (symmetric) or {x, x} (fixed), a table {a, b}
-- with a <= b is taken as is.
function B.range(name, key, v, symmetric)
  if type(v) == "number" then
    if symmetric then return { -math.abs(v), math.abs(v) } end
    return { v, v }
  end
  if type(v) == "table" and type(v[1]) == "number" and type(v[2]) == "number" and v[3] == nil
     and v[1] <= v[2] then
    return { v[1], v[2] }
  end
  error(string_format("%s: %s must be a number or a range {lo, hi} with lo <= hi, got %s",
    name, key, fmt(v)), 4)
end

local interp_names = { bilinear = "bilinear", linear = "bilinear", nearest = "nearest", area = "area" }
function B.interp(name, v, allow_area)
  local r = interp_names[v]
  if not r or (r == "area" and not allow_area) then
    error(string_format("%s: interpolation must be %s, got %s", name,
      allow_area and '"bilinear", "area" or "nearest"' or '"bilinear" or "nearest"', fmt(v)), 4)
  end
  return r
end

local borders = { constant = true, reflect = true, replicate = true }
function B.border(name, v)
  if not borders[v] then
    error(string_format('%s: border_mode must be "constant", "reflect" or "replicate", got %s',
      name, fmt(v)), 4)
  end
  return v
end

------------------------------------------------------------------------ samples

local function shape_str(t) return "[" .. concat(t:shape(), ", ") .. "]" end

-- Validates {image=, mask=} and returns a fresh working table (other keys are copied).
function B.check_sample(sample, name, level)
  level = (level or 1) + 1
  if type(sample) ~= "table" or core.is_tensor(sample) then
    error(name .. ": sample must be a table {image=, mask=}, got " .. type(sample), level)
  end
  local img, mask = sample.image, sample.mask
  if not core.is_tensor(img) or img:dim() ~= 3 or (img:dtype() ~= "uint8" and img:dtype() ~= "float32") then
    error(string_format("%s: image must be a 3-D (C, H, W) uint8 or float32 tensor, got %s", name,
      core.is_tensor(img) and (img:dtype() .. " " .. shape_str(img)) or type(img)), level)
  end
  if mask ~= nil then
    if not core.is_tensor(mask) or mask:dim() ~= 2 or (mask:dtype() ~= "int32" and mask:dtype() ~= "uint8") then
      error(string_format("%s: mask must be a 2-D (H, W) int32 or uint8 tensor, got %s", name,
        core.is_tensor(mask) and (mask:dtype() .. " " .. shape_str(mask)) or type(mask)), level)
    end
    if mask:size(1) ~= img:size(2) or mask:size(2) ~= img:size(3) then
      error(string_format("%s: image is %dx%d but mask is %dx%d", name, img:size(2), img:size(3),
        mask:size(1), mask:size(2)), level)
    end
  end
  local s = {}
  for k, v in pairs(sample) do s[k] = v end
  return s
end

function B.finish(s) return s end

-- Applies f to the image and, with the mask interpolation/fill, to the mask.
function B.spatial(s, fimg, fmask)
  s.image = fimg(s.image)
  if s.mask ~= nil then s.mask = fmask(s.mask) end
  return s
end

return B
