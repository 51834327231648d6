-- lunet.transforms: joint image + mask augmentation in the manner of albumentations.
--
--   local T = require "lunet.transforms"
--   local tf = T.Compose{ T.HorizontalFlip{}, T.Rotate{limit = 30}, T.RandomCrop{224, 224},
--                         T.RandomBrightnessContrast{}, T.Normalize{}, seed = 42, ignore_index = 255 }
--   local out = tf{image = img, mask = mask}   -- img uint8/float32 C×H×W, mask int32/uint8 H×W
--
-- Every transform has p= (probability, as albumentations); the p-coin is drawn even when
-- p is 1, so the stream of random draws is fixed by the pipeline and the seed alone. All
-- draws of one Compose come from its generator (seed= or generator=, else the default
-- generator of lunet.manual_seed): same seed, same output on any machine.
-- Spatial transforms (HorizontalFlip, VerticalFlip, RandomRotate90, Rotate, Affine,
-- RandomCrop, CenterCrop, RandomResizedCrop, Resize, PadIfNeeded, ElasticTransform,
-- GridDistortion) move image and mask together; the mask always uses nearest and fills
-- with fill_mask (default: ignore_index when set on the transform or on Compose, else 0),
-- so it only holds its own labels or that fill. Pixel transforms (RandomBrightnessContrast,
-- RandomGamma, GaussNoise, GaussianBlur, HueSaturationValue, CoarseDropout, Normalize,
-- ToFloat) never touch the mask (CoarseDropout only with fill_mask).
-- Geometry follows OpenCV: pixel centres at integers, rotation about ((W-1)/2, (H-1)/2),
-- positive angles counter-clockwise; border_mode "constant" | "reflect" (OpenCV
-- BORDER_REFLECT_101, PyTorch "reflect") | "replicate". Agreement with OpenCV 4 (spec/ref):
-- warpAffine (Rotate, Affine, flips, crops, pads) and remap are bit-exact for uint8 and
-- within 1e-5 for float32; resize is within 1 level for uint8 (OpenCV's vector and scalar
-- paths round differently) and 1e-4 for float32; nearest resize is exact. GaussianBlur uses
-- exact gaussian weights where OpenCV 4 rounds its kernel to 1/256 steps.
-- Transforms return a new sample table; tensors no transform touched are passed through.
-- Volumes (C x D x H x W image, D x H x W mask): Flip3d, RandomRotate90_3d, RandomCropPad3d,
-- RandomCropByPosNegLabel3d, Affine3d and the intensity transforms *3d of transforms/volume.lua;
-- Compose checks a sample with a 4-D image as a volume.
local E = require "lunet.errors"
local B = require "lunet.transforms.base"
local S = require "lunet.transforms.spatial"
local P = require "lunet.transforms.pixel"
local Vol = require "lunet.transforms.volume"   -- v3d: volume transforms (C x D x H x W + D x H x W)

local setmetatable, ipairs, type, tostring = setmetatable, ipairs, type, tostring
local concat = table.concat

local M = {}
for k, v in pairs(S) do if type(v) == "function" and k:match("^%u") then M[k] = v end end
for k, v in pairs(P) do M[k] = v end
for k, v in pairs(Vol) do if type(v) == "function" and k:match("^%u") then M[k] = v end end
M.vol_affine = Vol.vol_affine

local function is_transform(t)
  return type(t) == "table" and type(t.apply) == "function" and type(t.maybe) == "function"
end

local function collect(name, opts)
  local list = {}
  for i, t in ipairs(opts) do
    if not is_transform(t) then
      E.fail(name, "element %d is not a transform (got %s)", i, E.typename(t))
    end
    list[i] = t
  end
  return list
end

local Compose = setmetatable({}, { __index = B.Transform })
Compose.__index = Compose
Compose.__tostring = function(self)
  local parts = {}
  for i, t in ipairs(self.transforms) do parts[i] = tostring(t) end
  return self.name .. "{" .. concat(parts, ", ") .. "}"
end

-- Nested in another Compose or OneOf: apply the children with the outer generator.
function Compose:apply(s, ctx)
  for _, t in ipairs(self.transforms) do
    if s.image == nil and s[1] ~= nil then   -- a list of samples (RandomCropByPosNegLabel3d)
      for i = 1, #s do s[i] = t:maybe(s[i], ctx) end
    else
      s = t:maybe(s, ctx)
    end
  end
  return s
end

function Compose:__call(sample)
  local img = type(sample) == "table" and sample.image
  local s = (B.is_tensor(img) and img:dim() == 4) and Vol.check_sample(sample, self.name)
    or B.check_sample(sample, self.name)
  return self:maybe(s, { rng = B.sample_rng or self.rng, ignore_index = self.ignore_index })
end

-- Compose{t1, t2, ..., seed=, generator=, ignore_index=, p=1}
function M.Compose(opts)
  local name = "Compose"
  if type(opts) ~= "table" or B.is_tensor(opts) then
    E.fail(name, "expects a table of transforms, got %s", E.typename(opts))
  end
  local self = B.new(name, opts, { keys = { "seed", "generator", "ignore_index" }, defaults = { p = 1 },
                                   list = true })
  self.transforms = collect(name, opts)
  if self.seed ~= nil and self.generator ~= nil then
    E.fail(name, "give seed or generator, not both")
  end
  if self.seed ~= nil then
    B.int(name, "seed", self.seed, 0)
    self.generator = require("lunet").Generator(self.seed)
  elseif self.generator ~= nil and not B.is_generator(self.generator) then
    E.fail(name, "generator must be a lunet.Generator, got %s", E.typename(self.generator))
  end
  if self.ignore_index ~= nil then B.int(name, "ignore_index", self.ignore_index) end
  self.rng = { generator = self.generator }
  return setmetatable(self, Compose)
end

-- OneOf{t1, t2, ..., p=0.5}: applies one child, chosen with probability proportional to the
-- children's p (the chosen one is applied without its own coin).
function M.OneOf(opts)
  local name = "OneOf"
  if type(opts) ~= "table" or B.is_tensor(opts) then
    E.fail(name, "expects a table of transforms, got %s", E.typename(opts))
  end
  local self = B.new(name, opts, { defaults = { p = 0.5 },
                                   list = true })
  self.transforms = collect(name, opts)
  local total = 0
  for _, t in ipairs(self.transforms) do total = total + t.p end
  function self.apply(t, s, ctx)
    if total <= 0 then return s end
    local u, acc = B.uniform(ctx) * total, 0
    for _, c in ipairs(t.transforms) do
      acc = acc + c.p
      if u < acc then return c:apply(s, ctx) end
    end
    return t.transforms[#t.transforms]:apply(s, ctx)
  end
  return self
end

M.rotation_matrix = S.rotation_matrix
return M
