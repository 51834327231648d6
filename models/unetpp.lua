-- UNet++ (Zhou et al. 2018, "UNet++: A Nested U-Net Architecture for Medical Image
-- Segmentation") as 4uiiurz1/pytorch-nested-unet's NestedUNet: nodes X(i, j) at depth i = 0..4
-- and column j; X(i, 0) is the encoder (2x2 max pooling between depths), X(i, j) for j >= 1 a
-- VGG block (3x3 conv + BN + ReLU, twice) on the concatenation of X(i, 0..j-1) and X(i+1, j-1)
-- upsampled 2x (bilinear, align_corners = true). Filters 32, 64, 128, 256, 512. Without deep
-- supervision a 1x1 conv on X(0, 4) gives the logits; with it, four 1x1 convs on X(0, 1..4).
--
--   local UNetPP = require "lunet.models.unetpp"
--   local model = UNetPP{num_classes = 1}                              -- 9,163,329 parameters
--   local model = UNetPP{num_classes = 1, deep_supervision = true}     -- 9,163,428
--   local out = model(x)   -- training with deep supervision: {o1, o2, o3, o4, main = o4}; else o4
--
-- Options: num_classes (required), in_channels = 3, base = 32 (filters base * 1, 2, 4, 8, 16),
-- deep_supervision = false. With deep supervision the training-mode output is the list of the
-- four heads (models/shared.lua) and lunet.train.fit averages the loss over them by default
-- (model.deep_supervision_weights = 1/4 each, as the reference's training script); metrics and
-- predict use the last head (X(0, 4)), as the reference's evaluation does.
-- Any H and W: the input is zero-padded at the bottom/right to a multiple of 16 and the logits
-- are cropped back. In training mode a batch of one image needs H or W above 16.
-- State-dict names follow the reference: conv0_0.conv1.weight, conv0_0.bn1.running_mean, ...,
-- conv0_4.bn2.bias, final.weight (or final1..final4).
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"
local shared = require "lunet.models.shared"

local F = nn.functional
local cat, format = lunet.cat, string.format

local VGGBlock = nn.Module:extend("VGGBlock")
function VGGBlock:__init(cin, mid, cout)
  self.relu = nn.ReLU()
  self.conv1 = nn.Conv2d(cin, mid, 3, { padding = 1 })
  self.bn1 = nn.BatchNorm2d(mid)
  self.conv2 = nn.Conv2d(mid, cout, 3, { padding = 1 })
  self.bn2 = nn.BatchNorm2d(cout)
end
-- each batch norm and its ReLU run as one autograd node (models/common.lua)
function VGGBlock:forward(x)
  local bn_relu = common.bn_relu
  return bn_relu(self.bn2, self.relu, self.conv2(bn_relu(self.bn1, self.relu, self.conv1(x))))
end

local UNetPP = nn.Module:extend("NestedUNet")
UNetPP.zoo_name = "unetpp"   -- lunet.models.unetpp (predict.save_model records it)

local known = { "in_channels", "num_classes", "base", "deep_supervision" }

local function configure(opts)
  local fn = "NestedUNet"
  opts = E.options(opts, fn, known)
  local o = { in_channels = opts.in_channels or 3, num_classes = opts.num_classes, base = opts.base or 32,
              deep_supervision = opts.deep_supervision or false }
  for _, k in ipairs { "in_channels", "num_classes", "base" } do o[k] = common.int(fn, k, o[k], 1) end
  if type(o.deep_supervision) ~= "boolean" then
    E.fail(fn, "deep_supervision must be a boolean, got %s", E.show(o.deep_supervision))
  end
  return o
end

local function filters(b) return { b, 2 * b, 4 * b, 8 * b, 16 * b } end

local function count(o)
  local f = filters(o.base)
  local function block(cin, c) return cin * c * 9 + c + 2 * c + c * c * 9 + c + 2 * c end
  local n = 0
  for i = 0, 4 do n = n + block(i == 0 and o.in_channels or f[i], f[i + 1]) end
  for j = 1, 4 do
    for i = 0, 4 - j do n = n + block(f[i + 1] * j + f[i + 2], f[i + 1]) end
  end
  local head = f[1] * o.num_classes + o.num_classes
  return n + (o.deep_supervision and 4 * head or head)
end

--- UNetPP.count_parameters(opts) -> the number of parameters UNetPP(opts) would have.
function UNetPP.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

-- fit's default loss weights over the four heads (the reference averages their losses).
UNetPP.deep_supervision_weights = { 0.25, 0.25, 0.25, 0.25 }

function UNetPP:__init(opts)
  local o = configure(opts)
  common.check_parameters("NestedUNet", count(o), format("base %d", o.base))
  self.config = o
  local f = filters(o.base)
  for i = 0, 4 do self[format("conv%d_0", i)] = VGGBlock(i == 0 and o.in_channels or f[i], f[i + 1], f[i + 1]) end
  for j = 1, 4 do
    for i = 0, 4 - j do
      self[format("conv%d_%d", i, j)] = VGGBlock(f[i + 1] * j + f[i + 2], f[i + 1], f[i + 1])
    end
  end
  if o.deep_supervision then
    for k = 1, 4 do self["final" .. k] = nn.Conv2d(f[1], o.num_classes, 1) end
  else
    self.final = nn.Conv2d(f[1], o.num_classes, 1)
  end
end

local function up(x)
  return F.interpolate(x, { scale_factor = 2, mode = "bilinear", align_corners = true })
end

--- model:forward_all(x) -> {o1, o2, o3, o4, main = o4} with deep supervision ({o4, main = o4}
--- without), in any mode.
function UNetPP:forward_all(x)
  local o = self.config
  shared.check_input("NestedUNet", x, o.in_channels)
  if self.training then common.check_bn_input("NestedUNet", x, 16, "conv4_0") end
  local H, W = x:size(3), x:size(4)
  local ph, pw = (-H) % 16, (-W) % 16
  if ph > 0 or pw > 0 then x = F.pad(x, { 0, pw, 0, ph }) end
  local X = {}
  local function key(i, j) return i * 5 + j end
  X[key(0, 0)] = self.conv0_0(x)
  for i = 1, 4 do
    X[key(i, 0)] = self[format("conv%d_0", i)](F.max_pool2d(X[key(i - 1, 0)], { kernel = 2 }))
    for j = 1, i do
      local r = i - j
      local ins = {}
      for k = 0, j - 1 do ins[#ins + 1] = X[key(r, k)] end
      ins[#ins + 1] = up(X[key(r + 1, j - 1)])
      X[key(r, j)] = self[format("conv%d_%d", r, j)](cat(ins, 2))
    end
  end
  local function crop(y)
    if ph > 0 or pw > 0 then return y:narrow(3, 1, H):narrow(4, 1, W) end
    return y
  end
  if o.deep_supervision then
    local outs = {}
    for k = 1, 4 do outs[k] = crop(self["final" .. k](X[key(0, k)])) end
    return shared.outputs(self, outs, 4, true)
  end
  return shared.outputs(self, { crop(self.final(X[key(0, 4)])) }, 1, true)
end

function UNetPP:forward(x)
  local outs = self:forward_all(x)
  if self.training and self.config.deep_supervision then return outs end
  return outs.main
end

function UNetPP:extra_repr()
  local o = self.config
  return format("in_channels=%d, num_classes=%d, base=%d%s", o.in_channels, o.num_classes, o.base,
    o.deep_supervision and ", deep_supervision=true" or "")
end

return UNetPP
