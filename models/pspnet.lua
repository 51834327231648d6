-- PSPNet (Zhao et al. 2017, "Pyramid Scene Parsing Network") as hszhao/semseg builds it: a
-- dilated ResNet-50 with the "deep base" stem (three 3x3 convs instead of the 7x7; layer3 and
-- layer4 trade their strides for dilations 2 and 4, output stride 8), a pyramid pooling module
-- (PPM: for each bin size 1, 2, 3, 6 an adaptive average pooling, a 1x1 conv to 2048 / 4 = 512
-- channels + BN + ReLU, upsampled back and concatenated with its input), a head (3x3 conv to
-- 512 + BN + ReLU + Dropout2d 0.1 + 1x1 classifier) and, for training, an auxiliary head of the
-- same form on layer3 (256 channels). Logits are upsampled bilinearly (align_corners = true,
-- as the reference) to the input size.
--
--   local PSPNet = require "lunet.models.pspnet"
--   local model = PSPNet{num_classes = 21}                   -- 46,716,373 parameters
--   local model = PSPNet{num_classes = 21, aux = true}       -- 49,081,578 (with the aux head)
--   local out = model(x)   -- eval: N x 21 x H x W; training with aux: {main, aux, main = main}
--
-- Options: num_classes (required), in_channels = 3, backbone = "resnet50" (or "resnet18" /
-- "resnet34", the same stem and dilations on basic blocks), encoder_width = 64 (the ResNet's
-- base width), output_stride = 8 | 16, bins = {1, 2, 3, 6}, head_channels = 512, dropout = 0.1,
-- aux = false, aux_channels = 256, align_corners = true.
-- With aux = true the training-mode output is the list {main, aux} (models/shared.lua), and
-- lunet.train.fit weights the loss {1, 0.4} by default (model.deep_supervision_weights: the
-- reference's aux_weight); metrics and predict use the main output.
-- Any H and W (the reference asserts H = W = 8k + 1 and then returns that same size; here any
-- size is upsampled back to itself). Training needs a batch of 2 or more images: the PPM's
-- 1x1 bin has one value per channel per image (PyTorch raises there too).
-- State-dict names follow semseg's PSPNet: layer0.1 (conv1), layer0.2 (bn1), layer0.4, layer0.5,
-- layer0.7, layer0.8 (the stem as one Sequential with its ReLUs and max pool), layer1..layer4 as
-- torchvision, ppm.features.1..4.{2,3}, cls.{1,2,5}, aux.{1,2,5} (1-based; its checkpoints load
-- with index_base = 0). The encoder is the shared ResNet of models/resnet.lua (deep_stem = true).
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"
local shared = require "lunet.models.shared"
local resnet = require "lunet.models.resnet"

local F = nn.functional
local format, concat = string.format, table.concat

local PPM = nn.Module:extend("PPM")
function PPM:__init(cin, red, bins, align_corners)
  self.features = nn.ModuleList()
  for _, b in ipairs(bins) do
    self.features:append(nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(cin, red, 1, { bias = false }),
                                       nn.BatchNorm2d(red), nn.ReLU()))
  end
  self.align_corners = align_corners
end
function PPM:forward(x)
  local out = { x }
  local size = { x:size(3), x:size(4) }
  for i, f in ipairs(self.features) do
    local y = f(x)
    if y:size(3) == 1 and y:size(4) == 1 then
      out[i + 1] = y:expand(y:size(1), y:size(2), size[1], size[2])
    else
      out[i + 1] = F.interpolate(y, { size = size, mode = "bilinear", align_corners = self.align_corners })
    end
  end
  return lunet.cat(out, 2)
end

local function head(cin, mid, classes, p)
  return nn.Sequential(nn.Conv2d(cin, mid, 3, { padding = 1, bias = false }), nn.BatchNorm2d(mid), nn.ReLU(),
                       nn.Dropout2d(p), nn.Conv2d(mid, classes, 1))
end

local PSPNet = nn.Module:extend("PSPNet")

local known = { "in_channels", "num_classes", "backbone", "encoder_width", "output_stride", "bins",
                "head_channels", "dropout", "aux", "aux_channels", "align_corners" }
local DEPTH = { resnet18 = 18, resnet34 = 34, resnet50 = 50 }
PSPNet.MAX_BIN = 4096

local function configure(opts)
  local fn = "PSPNet"
  opts = E.options(opts, fn, known)
  local o = {
    in_channels = opts.in_channels or 3, num_classes = opts.num_classes, backbone = opts.backbone or "resnet50",
    encoder_width = opts.encoder_width or 64, output_stride = opts.output_stride or 8,
    bins = opts.bins or { 1, 2, 3, 6 }, head_channels = opts.head_channels or 512, dropout = opts.dropout or 0.1,
    aux = opts.aux or false, aux_channels = opts.aux_channels or 256, align_corners = opts.align_corners,
  }
  for _, k in ipairs { "in_channels", "num_classes", "encoder_width", "head_channels", "aux_channels" } do
    o[k] = common.int(fn, k, o[k], 1)
  end
  E.choice(fn, "backbone", o.backbone, { "resnet18", "resnet34", "resnet50" })
  if o.output_stride ~= 8 and o.output_stride ~= 16 then
    E.fail(fn, "output_stride must be 8 or 16, got %s", E.show(o.output_stride))
  end
  common.int_list(fn, "bins", o.bins, 1, PSPNet.MAX_BIN, 16, "bin sizes")
  common.dropout(fn, "dropout", o.dropout)
  if type(o.aux) ~= "boolean" then E.fail(fn, "aux must be a boolean, got %s", E.show(o.aux)) end
  if o.align_corners == nil then o.align_corners = true end
  if type(o.align_corners) ~= "boolean" then
    E.fail(fn, "align_corners must be a boolean, got %s", E.show(o.align_corners))
  end
  return o
end

local function count(o)
  local n, ch = resnet.count_resnet(DEPTH[o.backbone], o.in_channels, o.encoder_width, true)
  local c4, nb = ch[4], #o.bins
  local red = c4 // nb
  n = n + nb * (c4 * red + 2 * red)
  local C, Hd = o.num_classes, o.head_channels
  n = n + (c4 + nb * red) * Hd * 9 + 2 * Hd + Hd * C + C
  if o.aux then
    local A = o.aux_channels
    n = n + ch[3] * A * 9 + 2 * A + A * C + C
  end
  return n
end

--- PSPNet.count_parameters(opts) -> the number of parameters PSPNet(opts) would have.
function PSPNet.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

-- fit's default loss weights for {main, aux} (semseg's aux_weight 0.4).
PSPNet.deep_supervision_weights = { 1, 0.4 }

function PSPNet:__init(opts)
  local o = configure(opts)
  common.check_parameters("PSPNet", count(o), format("%s with encoder_width %d and head_channels %d",
    o.backbone, o.encoder_width, o.head_channels))
  self.config = o
  local enc = resnet.ResNet { depth = DEPTH[o.backbone], in_channels = o.in_channels, width = o.encoder_width,
                              output_stride = o.output_stride, deep_stem = true }
  self.layer0 = nn.Sequential(enc.conv1, enc.bn1, nn.ReLU(), enc.conv2, enc.bn2, nn.ReLU(), enc.conv3, enc.bn3,
                              nn.ReLU(), enc.maxpool)
  for i = 1, 4 do self["layer" .. i] = enc["layer" .. i] end
  local ch = enc.channels
  local red = ch[4] // #o.bins
  self.ppm = PPM(ch[4], red, o.bins, o.align_corners)
  self.cls = head(ch[4] + #o.bins * red, o.head_channels, o.num_classes, o.dropout)
  if o.aux then self.aux = head(ch[3], o.aux_channels, o.num_classes, o.dropout) end
end

--- model:forward_all(x) -> {main, aux, main = main} (aux only with aux = true), in any mode.
function PSPNet:forward_all(x)
  local o = self.config
  shared.check_input("PSPNet", x, o.in_channels)
  if self.training and x:size(1) < 2 then
    E.fail("PSPNet", "training needs a batch of 2 or more images, got %d: batch norm in the pyramid pooling's "
      .. "1x1 bin sees one value per channel per image (use model:eval() for single images)", x:size(1))
  end
  local H, W = x:size(3), x:size(4)
  local function up(y)
    return F.interpolate(y, { size = { H, W }, mode = "bilinear", align_corners = o.align_corners })
  end
  x = self.layer2(self.layer1(self.layer0(x)))
  local x3 = self.layer3(x)
  local outs = { up(self.cls(self.ppm(self.layer4(x3)))) }
  if self.aux then outs[2] = up(self.aux(x3)) end
  return shared.outputs(self, outs, 1, true)
end

function PSPNet:forward(x)
  local outs = self:forward_all(x)
  if self.training and self.aux then return outs end
  return outs.main
end

function PSPNet:extra_repr()
  local o = self.config
  local b = {}
  for i, v in ipairs(o.bins) do b[i] = tostring(v) end
  return format("backbone=%s, output_stride=%d, bins={%s}, num_classes=%d%s", o.backbone, o.output_stride,
    concat(b, ", "), o.num_classes, o.aux and ", aux=true" or "")
end

return PSPNet
