-- Residual building blocks and a ResNet encoder (He et al. 2016) for the segmentation models:
-- HRNet uses BasicBlock and Bottleneck, DeepLabv3+ the dilated encoder.
--
--   local resnet = require "lunet.models.resnet"
--   local enc = resnet.ResNet{depth = 18, in_channels = 3, output_stride = 16}
--   local feats = enc(x)      -- {layer1 (1/4), layer2 (1/8), layer3, layer4} outputs
--   enc.channels              -- {64, 128, 256, 512} (x4 for depth 50)
--
-- Blocks: BasicBlock(inplanes, planes, {stride = 1, dilation = 1, downsample = nil}) (two 3x3
-- convs, expansion 1) and Bottleneck(inplanes, planes, {...}) (1x1, 3x3, 1x1 to 4 * planes),
-- each conv without bias and followed by BatchNorm2d, the residual added before the last
-- ReLU. make_layer(block, inplanes, planes, n, {stride, dilation}) stacks n blocks, the first
-- with a 1x1 conv + BN `downsample` when the shape changes, and returns the Sequential and its
-- output channels.
-- ResNet options: depth = 18 | 34 | 50, in_channels = 3, width = 64 (channels of the stem and
-- layer1; layers 2-4 double it each; smaller widths for CPU training and fast tests),
-- output_stride = 32 | 16 | 8. For
-- output stride 16 (8) the stride of layer4 (layer3 and layer4) is replaced by dilation 2
-- (2 and 4) in every 3x3 conv of the layer, as segmentation_models_pytorch does.
-- Names follow torchvision (conv1, bn1, layer1.1.conv1, layer1.1.downsample.1, ...), so its
-- ImageNet state dicts load with index_base = 0 (the fc layer is absent: strict = false).
-- At most common.MAX_PARAMETERS (1e9) parameters; M.count_resnet / M.count_layer give counts
-- without building. In training mode an input whose layer4 output is 1 x 1 for a batch of
-- one image is refused (batch norm needs more than one value per channel).
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"

local format, ipairs = string.format, ipairs

local M = {}

local function conv3x3(cin, cout, stride, dilation)
  return nn.Conv2d(cin, cout, 3, { stride = stride, padding = dilation, dilation = dilation, bias = false })
end

local BasicBlock = nn.Module:extend("BasicBlock")
BasicBlock.expansion = 1
-- The options of a block: stride, dilation (integers >= 1) and downsample (a module).
local function block_opts(fn, inplanes, planes, opts)
  opts = E.options(opts, fn, { "stride", "dilation", "downsample" })
  common.int(fn, "inplanes", inplanes, 1)
  common.int(fn, "planes", planes, 1)
  if opts.stride ~= nil then common.int(fn, "stride", opts.stride, 1) end
  if opts.dilation ~= nil then common.int(fn, "dilation", opts.dilation, 1) end
  if opts.downsample ~= nil and not nn.Module.is_module(opts.downsample) then
    E.fail(fn, "downsample must be a module, got %s", E.typename(opts.downsample))
  end
  return opts
end

function BasicBlock:__init(inplanes, planes, opts)
  opts = block_opts("BasicBlock", inplanes, planes, opts)
  local d = opts.dilation or 1
  self.conv1 = conv3x3(inplanes, planes, opts.stride or 1, d)
  self.bn1 = nn.BatchNorm2d(planes)
  self.relu = nn.ReLU()
  self.conv2 = conv3x3(planes, planes, 1, d)
  self.bn2 = nn.BatchNorm2d(planes)
  if opts.downsample then self.downsample = opts.downsample end
end
function BasicBlock:forward(x)
  local out = self.relu(self.bn1(self.conv1(x)))
  out = self.bn2(self.conv2(out))
  local residual = self.downsample and self.downsample(x) or x
  return self.relu(out + residual)
end
M.BasicBlock = BasicBlock

local Bottleneck = nn.Module:extend("Bottleneck")
Bottleneck.expansion = 4
function Bottleneck:__init(inplanes, planes, opts)
  opts = block_opts("Bottleneck", inplanes, planes, opts)
  self.conv1 = nn.Conv2d(inplanes, planes, 1, { bias = false })
  self.bn1 = nn.BatchNorm2d(planes)
  self.conv2 = conv3x3(planes, planes, opts.stride or 1, opts.dilation or 1)
  self.bn2 = nn.BatchNorm2d(planes)
  self.conv3 = nn.Conv2d(planes, planes * 4, 1, { bias = false })
  self.bn3 = nn.BatchNorm2d(planes * 4)
  self.relu = nn.ReLU()
  if opts.downsample then self.downsample = opts.downsample end
end
function Bottleneck:forward(x)
  local out = self.relu(self.bn1(self.conv1(x)))
  out = self.relu(self.bn2(self.conv2(out)))
  out = self.bn3(self.conv3(out))
  local residual = self.downsample and self.downsample(x) or x
  return self.relu(out + residual)
end
M.Bottleneck = Bottleneck

-- Parameters of one block, and of make_layer's n blocks (conv weights without bias, BN
-- weight and bias), in floating point.
local function count_block(block, inplanes, planes, downsample)
  local n
  if block == BasicBlock then
    n = inplanes * planes * 9 + 2 * planes + planes * planes * 9 + 2 * planes
  else
    n = inplanes * planes + 2 * planes + planes * planes * 9 + 2 * planes + planes * 4 * planes + 8 * planes
  end
  if downsample then
    local out = planes * block.expansion
    n = n + inplanes * out + 2 * out
  end
  return n
end

function M.count_layer(block, inplanes, planes, n, stride)
  if block ~= BasicBlock and block ~= Bottleneck then
    E.fail("count_layer", "block must be resnet.BasicBlock or resnet.Bottleneck, got %s", E.typename(block))
  end
  common.int("count_layer", "inplanes", inplanes, 1)
  common.int("count_layer", "planes", planes, 1)
  common.int("count_layer", "n", n, 1)
  if stride ~= nil then common.int("count_layer", "stride", stride, 1) end
  local out = planes * block.expansion
  local total = count_block(block, inplanes, planes, (stride or 1) ~= 1 or inplanes ~= out)
  return total + (n - 1) * count_block(block, out, planes, false), out
end

-- n blocks; returns the Sequential and its output channels.
function M.make_layer(block, inplanes, planes, n, opts)
  if block ~= BasicBlock and block ~= Bottleneck then
    E.fail("make_layer", "block must be resnet.BasicBlock or resnet.Bottleneck, got %s", E.typename(block))
  end
  common.int("make_layer", "n", n, 1)
  opts = E.options(opts, "make_layer", { "stride", "dilation" })
  local stride, dilation = opts.stride or 1, opts.dilation or 1
  local out = planes * block.expansion
  local downsample
  if stride ~= 1 or inplanes ~= out then
    downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, { stride = stride, bias = false }),
                               nn.BatchNorm2d(out))
  end
  local layer = nn.Sequential(block(inplanes, planes, { stride = stride, dilation = dilation,
                                                        downsample = downsample }))
  for _ = 2, n do layer:append(block(out, planes, { dilation = dilation })) end
  return layer, out
end

local DEPTHS = {
  [18] = { BasicBlock, { 2, 2, 2, 2 } },
  [34] = { BasicBlock, { 3, 4, 6, 3 } },
  [50] = { Bottleneck, { 3, 4, 6, 3 } },
}

--- count_resnet(depth, in_channels, width) -> parameters of ResNet{depth=, in_channels=,
--- width=} (the output stride changes dilations, not shapes), and its output channels.
function M.count_resnet(depth, cin, w)
  local spec = DEPTHS[depth]
  if spec == nil then E.fail("count_resnet", "depth must be 18, 34 or 50, got %s", E.show(depth)) end
  common.int("count_resnet", "in_channels", cin, 1)
  common.int("count_resnet", "width", w, 1)
  local n = cin * w * 49 + 2 * w
  local c, channels = w, {}
  for i, planes in ipairs { w, 2 * w, 4 * w, 8 * w } do
    local k
    k, c = M.count_layer(spec[1], c, planes, spec[2][i], i == 1 and 1 or 2)
    n = n + k
    channels[i] = c
  end
  return n, channels
end

local ResNet = nn.Module:extend("ResNet")
function ResNet:__init(opts)
  local fn = "ResNet"
  opts = E.options(opts, fn, { "depth", "in_channels", "width", "output_stride" })
  local depth, os_ = opts.depth or 18, opts.output_stride or 32
  local spec = DEPTHS[depth]
  if spec == nil then E.fail(fn, "depth must be 18, 34 or 50, got %s", E.show(depth)) end
  if os_ ~= 8 and os_ ~= 16 and os_ ~= 32 then
    E.fail(fn, "output_stride must be 8, 16 or 32, got %s", E.show(os_))
  end
  local cin = common.int(fn, "in_channels", opts.in_channels or 3, 1)
  local w = common.int(fn, "width", opts.width or 64, 1)
  common.check_parameters(fn, (M.count_resnet(depth, cin, w)), format("depth %d with width %d", depth, w))
  self.depth, self.output_stride, self.width, self.in_channels = depth, os_, w, cin
  self.conv1 = nn.Conv2d(cin, w, 7, { stride = 2, padding = 3, bias = false })
  self.bn1 = nn.BatchNorm2d(w)
  self.relu = nn.ReLU()
  self.maxpool = nn.MaxPool2d(3, { stride = 2, padding = 1 })
  -- per layer: stride, dilation
  local sd = { { 1, 1 }, { 2, 1 }, { 2, 1 }, { 2, 1 } }
  if os_ <= 16 then sd[4] = { 1, 2 } end
  if os_ == 8 then sd[3] = { 1, 2 }; sd[4] = { 1, 4 } end
  local block, counts = spec[1], spec[2]
  local c, channels = w, {}
  for i, planes in ipairs { w, 2 * w, 4 * w, 8 * w } do
    local layer
    layer, c = M.make_layer(block, c, planes, counts[i], { stride = sd[i][1], dilation = sd[i][2] })
    self["layer" .. i] = layer
    channels[i] = c
  end
  self.channels = channels
end

-- Returns the outputs of layer1..layer4 (strides 4, 8, and 16/32 or 8/8 with dilation).
function ResNet:forward(x)
  if not lunet.is_tensor(x) or x:dim() ~= 4 then
    E.fail("ResNet", "input must be a 4-d tensor (N, C, H, W), got %s",
      lunet.is_tensor(x) and "[" .. table.concat(x:shape(), ", ") .. "]" or E.typename(x))
  end
  if x:size(2) ~= self.in_channels then
    E.fail("ResNet", "input has %d channels, the model expects %d", x:size(2), self.in_channels)
  end
  if self.training then common.check_bn_input("ResNet", x, self.output_stride, "layer4") end
  x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
  local feats = {}
  for i = 1, 4 do
    x = self["layer" .. i](x)
    feats[i] = x
  end
  return feats
end
function ResNet:extra_repr()
  local s = format("depth=%d, output_stride=%d", self.depth, self.output_stride)
  if self.width ~= 64 then s = s .. ", width=" .. self.width end
  return s
end
M.ResNet = ResNet

return M
