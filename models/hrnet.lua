-- HRNetV2 for semantic segmentation (Wang et al. 2020, "Deep High-Resolution Representation
-- Learning for Visual Recognition"), as the reference HRNet-Semantic-Segmentation code builds
-- it:
--   stem      two 3x3 stride-2 convs (64 channels) with BN + ReLU: 1/4 resolution
--   stage 1   bottleneck blocks (4 x 64 planes -> 256 channels)
--   stages 2-4  2 / 3 / 4 parallel branches of widths C, 2C, 4C, 8C at 1/4 ... 1/32,
--             made of 1 / 4 / 3 modules; a module runs 4 basic blocks on each branch, then
--             fuses: every output branch is the ReLU of the sum of all branches brought to
--             its resolution (strided 3x3 conv + BN chains downwards, 1x1 conv + BN then
--             bilinear upsampling upwards). A transition before each stage adapts the
--             channels and opens the new lowest-resolution branch with a 3x3 stride-2 conv.
--   head      all branches upsampled to 1/4 and concatenated (15C channels), 1x1 conv + BN +
--             ReLU, 1x1 classifier, bilinear upsampling to the input size.
--
--   local HRNet = require "lunet.models.hrnet"
--   local model = HRNet{width = 18, num_classes = 19}           -- HRNetV2-W18
--   local small = HRNet{width = 18, small = true, num_classes = 2} -- one module per stage
--   local logits = model(x)                      -- (N, num_classes, H, W) for any H, W
--
-- Options: num_classes (required), in_channels = 3, width = 18 (C: 18, 32 and 48 are the
-- published models; any positive integer works), small = false | true | "v1" | "v2",
-- align_corners = false (of every bilinear upsampling; the reference's master branch uses
-- false, its pytorch-v1.1 branch a config default of true), final_kernel = 1 | 3 (the
-- classifier's kernel, FINAL_CONV_KERNEL), and, to override the layout, stem_channels = 64,
-- stage1_blocks, stage1_planes, modules = {stage2, stage3, stage4} and blocks (basic blocks
-- per branch).
-- Layouts (the reference's configs):
--   default    stage 1: 4 bottlenecks of 64 planes; modules 1 / 4 / 3; 4 blocks per branch
--   small="v1" (or true), the reference's w18_small_v1 (whose width is 16): stage 1: one
--              bottleneck of 32 planes; modules 1 / 1 / 1; 2 blocks per branch
--   small="v2" the reference's w18_small_v2: stage 1: 2 bottlenecks of 64 planes; modules
--              1 / 3 / 2; 2 blocks per branch
-- Parameters for 19 classes, counted as the reference does (parameters, not BN running
-- statistics): W18 9,636,163; W32 29,538,355; W48 65,847,763; small v1 at width 16:
-- 1,540,995 (3 input channels).
-- Bounds: at most 64 modules per stage, blocks per branch and stage-1 blocks, and
-- common.MAX_PARAMETERS (1e9) parameters (HRNet.count_parameters(opts) counts without
-- building). In training mode an input whose 1/32 branch is 1 x 1 for a batch of one image
-- is refused with the smallest input that works (batch norm needs two values per channel).
-- Weights start from lunet's (PyTorch's) default initialisation; the reference draws convs
-- from N(0, 0.001) before loading ImageNet weights.
--
-- State-dict names are the reference's (conv1, bn1, conv2, bn2, layer1.<i>...,
-- transition<k>.<i>, stage<k>.<m>.branches.<b>.<i>.conv1, stage<k>.<m>.fuse_layers.<i>.<j>...,
-- last_layer.1 / .2 / .4), so its checkpoints load with index_base = 0. Where the reference
-- holds None (a transition that keeps a branch, fuse_layers[i][i]) this model holds an
-- Identity, which has no state and keeps the numbering.
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local resnet = require "lunet.models.resnet"
local common = require "lunet.models.common"

local F = nn.functional
local type, ipairs, getmetatable = type, ipairs, getmetatable
local format = string.format
local cat = lunet.cat

local function conv_bn(cin, cout, k, stride, relu)
  local layers = { nn.Conv2d(cin, cout, k, { stride = stride, padding = k // 2, bias = false }),
                   nn.BatchNorm2d(cout) }
  if relu then layers[3] = nn.ReLU() end
  return nn.Sequential(layers)
end

---------------------------------------------------------------------------------------------
-- one multi-resolution module: branches, then fusion
---------------------------------------------------------------------------------------------
local HRModule = nn.Module:extend("HighResolutionModule")

-- channels: widths of the branches (input = output, basic blocks); nblocks per branch.
function HRModule:__init(channels, nblocks, align_corners)
  local nb = #channels
  self.num_branches = nb
  self.align_corners = align_corners
  self.branches = nn.ModuleList()
  for b = 1, nb do
    self.branches:append((resnet.make_layer(resnet.BasicBlock, channels[b], channels[b], nblocks)))
  end
  if nb == 1 then return end
  self.fuse_layers = nn.ModuleList()
  for i = 1, nb do
    local row = nn.ModuleList()
    for j = 1, nb do
      if j > i then                          -- lower resolution: 1x1 conv + BN, upsampled later
        row:append(conv_bn(channels[j], channels[i], 1, 1, false))
      elseif j == i then
        row:append(nn.Identity())
      else                                   -- higher resolution: i - j strided 3x3 convs
        local chain = nn.Sequential()
        for k = 1, i - j do
          local last = k == i - j
          chain:append(conv_bn(channels[j], last and channels[i] or channels[j], 3, 2, not last))
        end
        row:append(chain)
      end
    end
    self.fuse_layers:append(row)
  end
  self.relu = nn.ReLU()
end

-- xs: list of branch tensors (highest resolution first); returns the fused list.
function HRModule:forward(xs)
  local nb = self.num_branches
  local ys = {}
  for b = 1, nb do ys[b] = self.branches[b](xs[b]) end
  if nb == 1 then return ys end
  local out = {}
  for i = 1, nb do
    local row = self.fuse_layers[i]
    local h, w = ys[i]:size(3), ys[i]:size(4)
    local acc = ys[i]
    for j = 1, nb do
      if j > i then
        acc = acc + F.interpolate(row[j](ys[j]), { size = { h, w }, mode = "bilinear",
                                                   align_corners = self.align_corners })
      elseif j < i then
        acc = acc + row[j](ys[j])
      end
    end
    out[i] = self.relu(acc)
  end
  return out
end

function HRModule:extra_repr()
  return format("%d branches", self.num_branches)
end

-- A Sequential of modules whose forward passes the branch list along.
local Stage = nn.Module:extend("Stage")
function Stage:forward(xs)
  for _, m in ipairs(self) do xs = m(xs) end
  return xs
end

---------------------------------------------------------------------------------------------
-- the network
---------------------------------------------------------------------------------------------
local LAYOUTS = {
  full = { stage1_blocks = 4, stage1_planes = 64, modules = { 1, 4, 3 }, blocks = 4 },
  v1 = { stage1_blocks = 1, stage1_planes = 32, modules = { 1, 1, 1 }, blocks = 2 },
  v2 = { stage1_blocks = 2, stage1_planes = 64, modules = { 1, 3, 2 }, blocks = 2 },
}

local known = { "in_channels", "num_classes", "width", "small", "align_corners", "final_kernel",
                "stem_channels", "stage1_blocks", "stage1_planes", "modules", "blocks" }

local HRNet = nn.Module:extend("HRNet")
HRNet.MAX_REPEAT = 64   -- modules per stage, blocks per branch, stage-1 blocks

-- The checked configuration of opts, defaults filled in.
local function configure(opts)
  local fn = "HRNet"
  opts = E.options(opts, fn, known)
  local small = opts.small
  local layout
  if small == nil or small == false then layout = LAYOUTS.full
  elseif small == true or small == "v1" then layout = LAYOUTS.v1
  elseif small == "v2" then layout = LAYOUTS.v2
  else E.fail(fn, "small must be false, true, 'v1' or 'v2', got %s", E.show(small)) end
  local o = {
    in_channels = opts.in_channels or 3, num_classes = opts.num_classes, width = opts.width or 18,
    small = small or false, align_corners = opts.align_corners or false,
    final_kernel = opts.final_kernel or 1, stem_channels = opts.stem_channels or 64,
    stage1_blocks = opts.stage1_blocks or layout.stage1_blocks,
    stage1_planes = opts.stage1_planes or layout.stage1_planes,
    modules = opts.modules or layout.modules, blocks = opts.blocks or layout.blocks,
  }
  for _, k in ipairs { "in_channels", "num_classes", "width", "stem_channels", "stage1_planes" } do
    o[k] = common.int(fn, k, o[k], 1)
  end
  for _, k in ipairs { "stage1_blocks", "blocks" } do o[k] = common.int(fn, k, o[k], 1, HRNet.MAX_REPEAT) end
  if type(o.modules) ~= "table" or getmetatable(o.modules) ~= nil or #o.modules ~= 3 then
    E.fail(fn, "modules must be a list of 3 module counts (stages 2, 3, 4), got %s", E.show(o.modules))
  end
  for i = 1, 3 do common.int(fn, format("modules[%d]", i), o.modules[i], 1, HRNet.MAX_REPEAT) end
  if o.final_kernel ~= 1 and o.final_kernel ~= 3 then
    E.fail(fn, "final_kernel must be 1 or 3, got %s", E.show(o.final_kernel))
  end
  if type(o.align_corners) ~= "boolean" then
    E.fail(fn, "align_corners must be a boolean, got %s", E.show(o.align_corners))
  end
  return o
end

-- Parameters of the configuration o (as num_parameters counts them), in floating point.
local function count(o)
  local function conv_bn(cin, cout, k) return cin * cout * k * k + 2 * cout end
  local c0 = o.stem_channels
  local n = o.in_channels * c0 * 9 + 2 * c0 + c0 * c0 * 9 + 2 * c0
  local k1, c1 = resnet.count_layer(resnet.Bottleneck, c0, o.stage1_planes, o.stage1_blocks, 1)
  n = n + k1
  local pre, C = { c1 }, o.width
  for s = 2, 4 do
    local cur = {}
    for b = 1, s do cur[b] = C * 2.0 ^ (b - 1) end
    for b = 1, s do                      -- transition
      if b <= #pre then
        if cur[b] ~= pre[b] then n = n + conv_bn(pre[b], cur[b], 3) end
      else
        n = n + conv_bn(pre[#pre], cur[b], 3)
      end
    end
    local m = 0                          -- one module: branches, then fusion
    for b = 1, s do m = m + resnet.count_layer(resnet.BasicBlock, cur[b], cur[b], o.blocks, 1) end
    for i = 1, s do
      for j = 1, s do
        if j > i then m = m + conv_bn(cur[j], cur[i], 1)
        elseif j < i then m = m + (i - j - 1) * conv_bn(cur[j], cur[j], 3) + conv_bn(cur[j], cur[i], 3) end
      end
    end
    n = n + o.modules[s - 1] * m
    pre = cur
  end
  local last = 0
  for _, c in ipairs(pre) do last = last + c end
  local k = o.final_kernel
  return n + last * last + last + 2 * last + last * o.num_classes * k * k + o.num_classes
end

--- HRNet.count_parameters(opts) -> the number of parameters HRNet(opts) would have.
function HRNet.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

function HRNet:__init(opts)
  local o = configure(opts)
  common.check_parameters("HRNet", count(o), format("width %d with stem_channels %d and stage1_planes %d",
    o.width, o.stem_channels, o.stage1_planes))
  self.config = o

  -- stem and stage 1
  local c0 = o.stem_channels
  self.conv1 = nn.Conv2d(o.in_channels, c0, 3, { stride = 2, padding = 1, bias = false })
  self.bn1 = nn.BatchNorm2d(c0)
  self.conv2 = nn.Conv2d(c0, c0, 3, { stride = 2, padding = 1, bias = false })
  self.bn2 = nn.BatchNorm2d(c0)
  self.relu = nn.ReLU()
  local c1
  self.layer1, c1 = resnet.make_layer(resnet.Bottleneck, c0, o.stage1_planes, o.stage1_blocks)

  -- stages 2..4, each after a transition
  local pre = { c1 }
  local C = o.width
  for s = 2, 4 do
    local cur = {}
    for b = 1, s do cur[b] = C * (1 << (b - 1)) end
    local trans = nn.ModuleList()
    for b = 1, s do
      if b <= #pre then
        trans:append(cur[b] ~= pre[b] and conv_bn(pre[b], cur[b], 3, 1, true) or nn.Identity())
      else                                   -- new branch(es) from the lowest resolution
        local chain = nn.Sequential()
        for k = 1, b - #pre do
          local cout = k == b - #pre and cur[b] or pre[#pre]
          chain:append(conv_bn(pre[#pre], cout, 3, 2, true))
        end
        trans:append(chain)
      end
    end
    self["transition" .. (s - 1)] = trans
    local stage = Stage()
    for _ = 1, o.modules[s - 1] do stage:append(HRModule(cur, o.blocks, o.align_corners)) end
    self["stage" .. s] = stage
    pre = cur
  end

  -- head
  local last = 0
  for _, c in ipairs(pre) do last = last + c end
  local k = o.final_kernel
  self.last_layer = nn.Sequential(
    nn.Conv2d(last, last, 1), nn.BatchNorm2d(last), nn.ReLU(),
    nn.Conv2d(last, o.num_classes, k, { padding = k // 2 }))
end
Stage.append = nn.Sequential.append

function HRNet:forward(x)
  local o = self.config
  if not lunet.is_tensor(x) or x:dim() ~= 4 then
    E.fail("HRNet", "input must be a 4-d tensor (N, C, H, W), got %s",
      lunet.is_tensor(x) and "[" .. table.concat(x:shape(), ", ") .. "]" or E.typename(x))
  end
  if x:size(2) ~= o.in_channels then
    E.fail("HRNet", "input has %d channels, the model expects %d", x:size(2), o.in_channels)
  end
  if self.training then common.check_bn_input("HRNet", x, 32, "the lowest-resolution branch") end
  local H, W = x:size(3), x:size(4)
  x = self.relu(self.bn1(self.conv1(x)))
  x = self.relu(self.bn2(self.conv2(x)))
  local xs = { self.layer1(x) }
  for s = 2, 4 do
    local trans, ins = self["transition" .. (s - 1)], {}
    for b = 1, s do
      -- kept branches take their own input, new ones the lowest resolution
      ins[b] = trans[b](xs[b] or xs[#xs])
    end
    xs = self["stage" .. s](ins)
  end
  local h, w = xs[1]:size(3), xs[1]:size(4)
  local up = { xs[1] }
  for b = 2, #xs do
    up[b] = F.interpolate(xs[b], { size = { h, w }, mode = "bilinear", align_corners = o.align_corners })
  end
  x = self.last_layer(cat(up, 2))
  return F.interpolate(x, { size = { H, W }, mode = "bilinear", align_corners = o.align_corners })
end

function HRNet:extra_repr()
  local o = self.config
  return format("width=%d%s, in_channels=%d, num_classes=%d", o.width,
    o.small and (", small=" .. tostring(o.small)) or "", o.in_channels, o.num_classes)
end

return HRNet
