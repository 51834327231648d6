-- lunet.transforms.base: the Transform class shared by every augmentation, option checking
-- (unknown keys, p, ranges) and the random draws, all from one generator per call chain.
local core = require "lunet.core"
local E = require "lunet.errors"

local W = core.warp
local type, pairs, ipairs, tostring, setmetatable, getmetatable = type, pairs, ipairs, tostring, setmetatable,
  getmetatable
local string_format, concat, math_floor, huge = string.format, table.concat, math.floor, math.huge

local B = {}

-- Errors of every transform go through lunet.errors: raised at the user's line.
B.fail = E.fail

-- Largest height/width a transform produces or pads to (Resize, crops, PadIfNeeded), and
-- bounds on the options whose cost grows with their value (CoarseDropout's holes,
-- GridDistortion's steps, GaussianBlur's kernel): values beyond them are refused.
B.MAX_SIDE = 65536
B.MAX_HOLES = 10000
B.MAX_STEPS = 1024
B.MAX_KERNEL = 4095

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

-- A value as __tostring shows it (strings quoted for Lua).
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

-- A value as error messages show it (lunet.errors' style; tables element by element).
local function show(v)
  if type(v) == "table" and not core.is_tensor(v) and getmetatable(v) == nil then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = show(x) end
    for k, x in pairs(v) do
      if type(k) ~= "number" then parts[#parts + 1] = tostring(k) .. "=" .. show(x) end
    end
    return "{" .. concat(parts, ", ") .. "}"
  end
  return E.show(v)
end
B.show = show

B.is_tensor = core.is_tensor

function B.is_generator(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return type(mt) == "table" and mt.__name == "lunet.Generator"
end

local function finite(v) return type(v) == "number" and v == v and v > -huge and v < huge end
B.finite = finite

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
  local s = B.check_sample(sample, self.name)
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
-- Unknown keys (with lunet.errors' did-you-mean) and a bad p raise "Name: ..." at the
-- user's line.
function B.new(name, opts, spec)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" or core.is_tensor(opts) then
    E.fail(name, "options must be a table, got %s", E.typename(opts))
  end
  local allowed = { "p" }
  for _, k in ipairs(spec.keys or {}) do allowed[#allowed + 1] = k end
  local positional = spec.positional or {}
  local named = {}
  for k, v in pairs(opts) do
    if math.type(k) == "integer" and k >= 1 then
      if not positional[k] and not spec.list then
        E.fail(name, "unexpected positional option %d", k)
      end
    else
      named[k] = v
    end
  end
  E.options(named, name, allowed)
  local self = setmetatable({ name = name, opts = opts }, Transform)
  for k, v in pairs(spec.defaults or {}) do self[k] = v end
  for i, k in ipairs(positional) do
    if opts[i] ~= nil then
      if opts[k] ~= nil then E.fail(name, "%s given twice", k) end
      self[k] = opts[i]
    end
  end
  for k, v in pairs(opts) do
    if type(k) == "string" then self[k] = v end
  end
  E.number(name, "p", self.p, 0, 1)
  return self
end

-- Option value checks, raising at the user's line. number: a finite number in [lo, hi]
-- (either bound may be nil).
function B.number(name, key, v, lo, hi)
  if not finite(v) or (lo and v < lo) or (hi and v > hi) then
    local want = ""
    if lo and hi then want = string_format(" in [%s, %s]", E.show(lo), E.show(hi))
    elseif lo then want = " >= " .. E.show(lo)
    elseif hi then want = " <= " .. E.show(hi) end
    E.fail(name, "%s must be a finite number%s, got %s", key, want, show(v))
  end
  return v
end

function B.int(name, key, v, lo, hi)
  return E.integer(name, key, v, lo, hi)
end

function B.bool(name, key, v)
  if type(v) ~= "boolean" then E.fail(name, "%s must be a boolean, got %s", key, show(v)) end
  return v
end

-- A range option: a number x gives {-x, x} (symmetric, x >= 0) or {x, x} (fixed), a table
-- {a, b} with a <= b is taken as is; every value finite, and the range within [lo, hi]
-- when those are given.
function B.range(name, key, v, symmetric, lo, hi)
  local r
  if finite(v) and not (symmetric and v < 0) then
    if symmetric then r = { -v, v } else r = { v, v } end
  elseif type(v) == "table" and getmetatable(v) == nil and finite(v[1]) and finite(v[2]) and v[3] == nil
     and v[1] <= v[2] then
    r = { v[1], v[2] }
  else
    E.fail(name, "%s must be a %s or a range {lo, hi} with lo <= hi, got %s", key,
      symmetric and "number >= 0" or "number", show(v))
  end
  if (lo and r[1] < lo) or (hi and r[2] > hi) then
    local want = lo and hi and string_format("within [%s, %s]", E.show(lo), E.show(hi))
        or lo and ">= " .. E.show(lo) or "<= " .. E.show(hi)
    E.fail(name, "%s must be %s, got %s", key, want, show(v))
  end
  return r
end

local interp_names = { bilinear = "bilinear", linear = "bilinear", nearest = "nearest", area = "area" }
function B.interp(name, v, allow_area)
  local r = interp_names[v]
  if not r or (r == "area" and not allow_area) then
    E.fail(name, "interpolation must be %s, got %s",
      allow_area and "'bilinear', 'area' or 'nearest'" or "'bilinear' or 'nearest'", show(v))
  end
  return r
end

function B.border(name, v)
  return E.choice(name, "border_mode", v, { "constant", "reflect", "replicate" })
end

------------------------------------------------------------------------ samples

local function shape_str(t) return "[" .. concat(t:shape(), ", ") .. "]" end

-- Validates {image=, mask=} and returns a fresh working table (other keys are copied).
function B.check_sample(sample, name)
  if type(sample) ~= "table" or core.is_tensor(sample) then
    E.fail(name, "sample must be a table {image=, mask=}, got %s", E.typename(sample))
  end
  local img, mask = sample.image, sample.mask
  if not core.is_tensor(img) or img:dim() ~= 3 or (img:dtype() ~= "uint8" and img:dtype() ~= "float32") then
    E.fail(name, "image must be a 3-D (C, H, W) uint8 or float32 tensor, got %s",
      core.is_tensor(img) and (img:dtype() .. " " .. shape_str(img)) or E.typename(img))
  end
  if mask ~= nil then
    if not core.is_tensor(mask) or mask:dim() ~= 2 or (mask:dtype() ~= "int32" and mask:dtype() ~= "uint8") then
      E.fail(name, "mask must be a 2-D (H, W) int32 or uint8 tensor, got %s",
        core.is_tensor(mask) and (mask:dtype() .. " " .. shape_str(mask)) or E.typename(mask))
    end
    if mask:size(1) ~= img:size(2) or mask:size(2) ~= img:size(3) then
      E.fail(name, "image is %dx%d but mask is %dx%d", img:size(2), img:size(3), mask:size(1), mask:size(2))
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
