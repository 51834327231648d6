-- Stacked hourglass network (Newell, Yang & Deng 2016, "Stacked Hourglass Networks for Human
-- Pose Estimation") as bearpaw/pytorch-pose's hg: a stem (7x7 stride-2 conv + BN + ReLU,
-- residual, 2x2 max pool, two residuals) to 1/4 resolution and 2 * features channels, then
-- `stacks` hourglasses. An hourglass of depth 4 recurses: up = residuals(x), low = residuals(
-- maxpool(x)), inner hourglass (or residuals at the bottom), residuals, nearest 2x upsampling,
-- up + low. Residuals are pre-activation bottlenecks (BN + ReLU + conv: 1x1, 3x3, 1x1, with
-- bias; expansion 2). Each stack ends with residuals, a 1x1 conv + BN + ReLU and a 1x1 scorer;
-- between stacks the features and the scores are mapped back by 1x1 convs and added (the
-- intermediate supervision of the paper).
--
--   local Hourglass = require "lunet.models.hourglass"
--   local model = Hourglass{stacks = 2, num_classes = 16}     -- 6,730,912 parameters
--   local out = model(x)   -- training: {stack 1, stack 2, main = stack 2}; eval: the last stack
--
-- Options: num_classes (required; 16 heatmaps for MPII), stacks = 2, blocks = 1 (residuals per
-- step), in_channels = 3, features = 128 (the hourglass's bottleneck planes; channels between
-- blocks are 2 * features), depth = 4, upsample = false.
-- Output size: as the reference, scores at 1/4 of the input (heatmaps); the input is first
-- zero-padded at the bottom/right to a multiple of 4 * 2^depth (64) and the scores cropped to
-- ceil(H / 4) x ceil(W / 4). upsample = true instead upsamples them bilinearly to H x W (logits
-- at the input size, for segmentation).
-- Several outputs: with stacks > 1 the training-mode output is the list of every stack's
-- scores (models/shared.lua); lunet.train.fit sums the loss over them by default (the
-- reference's recipe); metrics and predict use the last stack.
-- State-dict names follow the reference: conv1, bn1, layer1.1.conv1 (layer1.0 in PyTorch),
-- hg.1.hg.1.1.1.bn1 (hg.0.hg.0.0.0), res, fc (fc.1.1 = conv, fc.1.2 = BN), score, fc_, score_.
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"
local shared = require "lunet.models.shared"

local F = nn.functional
local format = string.format

local Bottleneck = nn.Module:extend("HGBottleneck")
function Bottleneck:__init(inplanes, planes, downsample)
  self.bn1 = nn.BatchNorm2d(inplanes)
  self.conv1 = nn.Conv2d(inplanes, planes, 1)
  self.bn2 = nn.BatchNorm2d(planes)
  self.conv2 = nn.Conv2d(planes, planes, 3, { padding = 1 })
  self.bn3 = nn.BatchNorm2d(planes)
  self.conv3 = nn.Conv2d(planes, 2 * planes, 1)
  self.relu = nn.ReLU()
  if downsample then self.downsample = downsample end
end
function Bottleneck:forward(x)
  local out = self.conv1(self.relu(self.bn1(x)))
  out = self.conv2(self.relu(self.bn2(out)))
  out = self.conv3(self.relu(self.bn3(out)))
  return out + (self.downsample and self.downsample(x) or x)
end

-- n bottlenecks from inplanes to 2 * planes (a 1x1 conv downsample when they differ).
local function residual(inplanes, planes, n)
  local ds
  if inplanes ~= 2 * planes then ds = nn.Sequential(nn.Conv2d(inplanes, 2 * planes, 1)) end
  local seq = nn.Sequential(Bottleneck(inplanes, planes, ds))
  for _ = 2, n do seq:append(Bottleneck(2 * planes, planes)) end
  return seq
end

local HourglassModule = nn.Module:extend("Hourglass")
function HourglassModule:__init(blocks, planes, depth)
  self.depth = depth
  self.hg = nn.ModuleList()
  for i = 1, depth do
    local res = nn.ModuleList()
    for _ = 1, (i == 1) and 4 or 3 do res:append(residual(2 * planes, planes, blocks)) end
    self.hg:append(res)
  end
end
local function hg_forward(self, n, x)
  local level = self.hg[n]
  local up1 = level[1](x)
  local low1 = level[2](F.max_pool2d(x, { kernel = 2, stride = 2 }))
  local low2 = n > 1 and hg_forward(self, n - 1, low1) or level[4](low1)
  local low3 = level[3](low2)
  return up1 + F.interpolate(low3, { scale_factor = 2, mode = "nearest" })
end
function HourglassModule:forward(x) return hg_forward(self, self.depth, x) end
function HourglassModule:extra_repr() return "depth=" .. self.depth end

local HourglassNet = nn.Module:extend("HourglassNet")
HourglassNet.zoo_name = "hourglass"   -- lunet.models.hourglass (predict.save_model records it)

local known = { "in_channels", "num_classes", "stacks", "blocks", "features", "depth", "upsample" }
HourglassNet.MAX_DEPTH = 10

local function configure(opts)
  local fn = "HourglassNet"
  opts = E.options(opts, fn, known)
  local o = { in_channels = opts.in_channels or 3, num_classes = opts.num_classes, stacks = opts.stacks or 2,
              blocks = opts.blocks or 1, features = opts.features or 128, depth = opts.depth or 4,
              upsample = opts.upsample or false }
  for _, k in ipairs { "in_channels", "num_classes", "stacks", "blocks" } do o[k] = common.int(fn, k, o[k], 1) end
  o.features = common.int(fn, "features", o.features, 2)
  if o.features % 2 ~= 0 then E.fail(fn, "features must be even (the stem has features / 2 channels), got %d", o.features) end
  o.depth = common.int(fn, "depth", o.depth, 1, HourglassNet.MAX_DEPTH)
  if type(o.upsample) ~= "boolean" then E.fail(fn, "upsample must be a boolean, got %s", E.show(o.upsample)) end
  return o
end

local function count(o)
  local function bott(cin, p, ds)
    local n = 2 * cin + cin * p + p + 2 * p + 9 * p * p + p + 2 * p + 2 * p * p + 2 * p
    if ds then n = n + cin * 2 * p + 2 * p end
    return n
  end
  local function res(cin, p, b) return bott(cin, p, cin ~= 2 * p) + (b - 1) * bott(2 * p, p, false) end
  local f, C = o.features, o.num_classes
  local inp = f // 2
  local n = o.in_channels * inp * 49 + inp + 2 * inp
  n = n + res(inp, inp, 1) + res(2 * inp, 2 * inp, 1) + res(4 * inp, f, 1)
  local ch = 2 * f
  local per_hg = (3 * o.depth + 1) * res(ch, f, o.blocks)
  local stack = per_hg + res(ch, f, o.blocks) + ch * ch + ch + 2 * ch + ch * C + C
  return n + o.stacks * stack + (o.stacks - 1) * (ch * ch + ch + C * ch + ch)
end

--- HourglassNet.count_parameters(opts) -> the number of parameters HourglassNet(opts) would have.
function HourglassNet.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

-- (no deep_supervision_weights: fit then sums every stack's loss, the reference's recipe)

function HourglassNet:__init(opts)
  local o = configure(opts)
  common.check_parameters("HourglassNet", count(o), format("%d stacks of %d blocks with features %d",
    o.stacks, o.blocks, o.features))
  self.config = o
  local f, C = o.features, o.num_classes
  local inp = f // 2
  self.conv1 = nn.Conv2d(o.in_channels, inp, 7, { stride = 2, padding = 3 })
  self.bn1 = nn.BatchNorm2d(inp)
  self.relu = nn.ReLU()
  self.layer1 = residual(inp, inp, 1)
  self.layer2 = residual(2 * inp, 2 * inp, 1)
  self.layer3 = residual(4 * inp, f, 1)
  self.maxpool = nn.MaxPool2d(2, { stride = 2 })
  local ch = 2 * f
  -- one assignment each: the order of registration is the state dict's order
  self.hg = nn.ModuleList()
  self.res = nn.ModuleList()
  self.fc = nn.ModuleList()
  self.score = nn.ModuleList()
  self.fc_ = nn.ModuleList()
  self.score_ = nn.ModuleList()
  for i = 1, o.stacks do
    self.hg:append(HourglassModule(o.blocks, f, o.depth))
    self.res:append(residual(ch, f, o.blocks))
    self.fc:append(nn.Sequential(nn.Conv2d(ch, ch, 1), nn.BatchNorm2d(ch), nn.ReLU()))
    self.score:append(nn.Conv2d(ch, C, 1))
    if i < o.stacks then
      self.fc_:append(nn.Conv2d(ch, ch, 1))
      self.score_:append(nn.Conv2d(C, ch, 1))
    end
  end
end

--- model:forward_all(x) -> {stack 1, ..., stack S, main = stack S}, in any mode.
function HourglassNet:forward_all(x)
  local o = self.config
  shared.check_input("HourglassNet", x, o.in_channels)
  local m = 4 << o.depth
  if self.training then common.check_bn_input("HourglassNet", x, m, "the hourglass bottom") end
  local H, W = x:size(3), x:size(4)
  local ph, pw = (-H) % m, (-W) % m
  if ph > 0 or pw > 0 then x = F.pad(x, { 0, pw, 0, ph }) end
  local oh, ow = (H + 3) // 4, (W + 3) // 4
  x = self.relu(self.bn1(self.conv1(x)))
  x = self.layer3(self.layer2(self.maxpool(self.layer1(x))))
  local outs = {}
  for i = 1, o.stacks do
    local y = self.fc[i](self.res[i](self.hg[i](x)))
    local s = self.score[i](y)
    local out = s
    if ph > 0 or pw > 0 then out = out:narrow(3, 1, oh):narrow(4, 1, ow) end
    if o.upsample then out = F.interpolate(out, { size = { H, W }, mode = "bilinear", align_corners = false }) end
    outs[i] = out
    if i < o.stacks then x = x + self.fc_[i](y) + self.score_[i](s) end
  end
  return shared.outputs(self, outs, o.stacks, true)
end

function HourglassNet:forward(x)
  local outs = self:forward_all(x)
  if self.training and self.config.stacks > 1 then return outs end
  return outs.main
end

function HourglassNet:extra_repr()
  local o = self.config
  return format("stacks=%d, blocks=%d, num_classes=%d%s", o.stacks, o.blocks, o.num_classes,
    o.upsample and ", upsample=true" or "")
end

return HourglassNet
