-- DeepLabv3+ (Chen et al. 2018, "Encoder-Decoder with Atrous Separable Convolution for
-- Semantic Image Segmentation") on a dilated ResNet encoder built in Lua:
--   encoder   ResNet-18/34/50 (models/resnet.lua); for output stride 16 layer4 trades its
--             stride for dilation 2, for output stride 8 layer3 and layer4 use dilation 2, 4
--   ASPP      on the encoder output: a 1x1 conv, three 3x3 atrous depthwise-separable convs
--             (rates 6/12/18 at output stride 16, 12/24/36 at 8) and an image-pooling branch
--             (global average, 1x1 conv, upsampled back), each 256 channels + BN + ReLU;
--             concatenated and projected by a 1x1 conv + BN + ReLU + dropout 0.5
--   decoder   the ASPP output upsampled (bilinear, ~4x) to the layer1 features (stride 4),
--             concatenated with their 48-channel 1x1 projection, two 3x3 depthwise-separable
--             convs of 256 channels (+ BN + ReLU), a 1x1 classifier, and a ~4x bilinear
--             upsampling to the input size
--
--   local DeepLab = require "lunet.models.deeplabv3plus"
--   local model = DeepLab{num_classes = 21, backbone = "resnet18", output_stride = 16}
--   local logits = model(x)                      -- (N, num_classes, H, W) for any H, W
--
-- Options: num_classes (required), in_channels = 3, backbone = "resnet18" | "resnet34" |
-- "resnet50", encoder_width = 64 (the ResNet's base width: smaller for CPU training and tests;
-- ImageNet weights need 64), output_stride = 16 | 8, aspp_rates = {6, 12, 18} (doubled for output stride 8),
-- aspp_channels = 256, aspp_dropout = 0.5, separable = true (false: plain 3x3 convs in the
-- ASPP and the decoder, as DeepLabv3), low_level_channels = 48, decoder_channels = 256,
-- align_corners = false (of every bilinear upsampling).
-- At most common.MAX_PARAMETERS (1e9) parameters (DeepLab.count_parameters(opts) counts
-- without building); aspp_rates: at most 16 rates, each at most 4096. Training needs a batch
-- of 2 or more: the image-pooling branch's batch norm sees one value per channel per image
-- (PyTorch raises there too).
-- Depthwise-separable conv = depthwise 3x3 (groups = channels, dilated in the ASPP) then
-- pointwise 1x1, no bias, no norm in between (as segmentation_models_pytorch).
-- Parameters for 21 classes (any output stride): resnet18 12,334,437; resnet34 22,442,597;
-- resnet50 26,682,725.
--
-- State-dict names: encoder.* as torchvision's ResNet (so ImageNet weights load with
-- index_base = 0 into model.encoder, strict = false), aspp.convs.<1..5>, aspp.project,
-- decoder.low (the 48-channel projection), decoder.fuse, classifier.
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local resnet = require "lunet.models.resnet"
local common = require "lunet.models.common"

local F = nn.functional
local tostring, ipairs = tostring, ipairs
local format = string.format
local cat = lunet.cat

-- Depthwise 3x3 (dilated) then pointwise 1x1, neither with bias.
local SeparableConv2d = nn.Module:extend("SeparableConv2d")
function SeparableConv2d:__init(cin, cout, dilation)
  self.depthwise = nn.Conv2d(cin, cin, 3, { padding = dilation, dilation = dilation, groups = cin,
                                            bias = false })
  self.pointwise = nn.Conv2d(cin, cout, 1, { bias = false })
end
function SeparableConv2d:forward(x) return self.pointwise(self.depthwise(x)) end

local function conv3x3_bn_relu(cin, cout, dilation, separable)
  local conv = separable and SeparableConv2d(cin, cout, dilation)
      or nn.Conv2d(cin, cout, 3, { padding = dilation, dilation = dilation, bias = false })
  return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU())
end

local function conv1x1_bn_relu(cin, cout)
  return nn.Sequential(nn.Conv2d(cin, cout, 1, { bias = false }), nn.BatchNorm2d(cout), nn.ReLU())
end

-- Image pooling: global average, 1x1 conv + BN + ReLU, upsampled back to the input size.
local ASPPPooling = nn.Module:extend("ASPPPooling")
function ASPPPooling:__init(cin, cout)
  self.pool = nn.AdaptiveAvgPool2d(1)
  self.conv = conv1x1_bn_relu(cin, cout)
end
function ASPPPooling:forward(x)
  local y = self.conv(self.pool(x))
  -- from 1x1 every interpolation is a broadcast
  return y:expand(y:size(1), y:size(2), x:size(3), x:size(4))
end

local ASPP = nn.Module:extend("ASPP")
function ASPP:__init(cin, cout, rates, separable, dropout)
  self.convs = nn.ModuleList()
  self.convs:append(conv1x1_bn_relu(cin, cout))
  for _, r in ipairs(rates) do self.convs:append(conv3x3_bn_relu(cin, cout, r, separable)) end
  self.convs:append(ASPPPooling(cin, cout))
  self.project = nn.Sequential(nn.Conv2d(cout * (#rates + 2), cout, 1, { bias = false }),
                               nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(dropout))
  self.rates = rates
end
function ASPP:forward(x)
  local outs = {}
  for i, branch in ipairs(self.convs) do outs[i] = branch(x) end
  return self.project(cat(outs, 2))
end
function ASPP:extra_repr()
  local r = {}
  for i, v in ipairs(self.rates) do r[i] = tostring(v) end
  return "rates={" .. table.concat(r, ", ") .. "}"
end

local Decoder = nn.Module:extend("Decoder")
function Decoder:__init(c_aspp, c_low_in, c_low, c_out, separable)
  self.low = conv1x1_bn_relu(c_low_in, c_low)
  self.fuse = nn.Sequential(conv3x3_bn_relu(c_aspp + c_low, c_out, 1, separable),
                            conv3x3_bn_relu(c_out, c_out, 1, separable))
end
function Decoder:forward(high, low, align_corners)
  high = F.interpolate(high, { size = { low:size(3), low:size(4) }, mode = "bilinear",
                               align_corners = align_corners })
  return self.fuse(cat({ high, self.low(low) }, 2))
end

local known = { "in_channels", "num_classes", "backbone", "output_stride", "aspp_rates", "aspp_channels",
                "aspp_dropout", "separable", "encoder_width", "low_level_channels", "decoder_channels",
                "align_corners" }

local DeepLab = nn.Module:extend("DeepLabV3Plus")

-- The checked configuration of opts, defaults filled in.
local function configure(opts)
  local fn = "DeepLabV3Plus"
  opts = E.options(opts, fn, known)
  local o = {
    in_channels = opts.in_channels or 3, num_classes = opts.num_classes,
    backbone = opts.backbone or "resnet18", output_stride = opts.output_stride or 16,
    aspp_channels = opts.aspp_channels or 256, aspp_dropout = opts.aspp_dropout or 0.5,
    separable = opts.separable ~= false, low_level_channels = opts.low_level_channels or 48,
    decoder_channels = opts.decoder_channels or 256, align_corners = opts.align_corners or false,
    encoder_width = opts.encoder_width or 64,
  }
  for _, k in ipairs { "in_channels", "num_classes", "aspp_channels", "low_level_channels",
                       "decoder_channels", "encoder_width" } do
    o[k] = common.int(fn, k, o[k], 1)
  end
  E.choice(fn, "backbone", o.backbone, { "resnet18", "resnet34", "resnet50" })
  if o.output_stride ~= 8 and o.output_stride ~= 16 then
    E.fail(fn, "output_stride must be 8 or 16, got %s", E.show(o.output_stride))
  end
  if opts.separable ~= nil and type(opts.separable) ~= "boolean" then
    E.fail(fn, "separable must be a boolean, got %s", E.show(opts.separable))
  end
  local rates = opts.aspp_rates
  if rates == nil then
    rates = o.output_stride == 16 and { 6, 12, 18 } or { 12, 24, 36 }
  end
  common.int_list(fn, "aspp_rates", rates, 1, DeepLab.MAX_RATE, 16, "dilation rates")
  o.aspp_rates = rates
  common.dropout(fn, "aspp_dropout", o.aspp_dropout)
  if type(o.align_corners) ~= "boolean" then
    E.fail(fn, "align_corners must be a boolean, got %s", E.show(o.align_corners))
  end
  return o
end
DeepLab.MAX_RATE = 4096

local BACKBONES = { resnet18 = 18, resnet34 = 34, resnet50 = 50 }

-- Parameters of the configuration o (as num_parameters counts them), in floating point.
local function count(o)
  local n, ch = resnet.count_resnet(BACKBONES[o.backbone], o.in_channels, o.encoder_width)
  local A, R = o.aspp_channels, #o.aspp_rates
  local function c1(cin, cout) return cin * cout + 2 * cout end            -- 1x1 conv + BN
  local function c3(cin, cout)                                             -- 3x3 (separable) + BN
    if o.separable then return cin * 9 + cin * cout + 2 * cout end
    return cin * cout * 9 + 2 * cout
  end
  n = n + c1(ch[4], A) + R * c3(ch[4], A) + c1(ch[4], A) + c1(A * (R + 2), A)
  local L, D = o.low_level_channels, o.decoder_channels
  n = n + c1(ch[1], L) + c3(A + L, D) + c3(D, D)
  return n + D * o.num_classes + o.num_classes
end

--- DeepLab.count_parameters(opts) -> the number of parameters DeepLab(opts) would have.
function DeepLab.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

function DeepLab:__init(opts)
  local o = configure(opts)
  local depth = BACKBONES[o.backbone]
  common.check_parameters("DeepLabV3Plus", count(o), format("%s with encoder_width %d, aspp_channels %d and "
    .. "decoder_channels %d", o.backbone, o.encoder_width, o.aspp_channels, o.decoder_channels))
  self.config = o

  self.encoder = resnet.ResNet { depth = depth, in_channels = o.in_channels, width = o.encoder_width,
                                 output_stride = o.output_stride }
  local ch = self.encoder.channels
  self.aspp = ASPP(ch[4], o.aspp_channels, o.aspp_rates, o.separable, o.aspp_dropout)
  self.decoder = Decoder(o.aspp_channels, ch[1], o.low_level_channels, o.decoder_channels, o.separable)
  self.classifier = nn.Conv2d(o.decoder_channels, o.num_classes, 1)
end

function DeepLab:forward(x)
  local o = self.config
  if not lunet.is_tensor(x) or x:dim() ~= 4 then
    E.fail("DeepLabV3Plus", "input must be a 4-d tensor (N, C, H, W), got %s",
      lunet.is_tensor(x) and "[" .. table.concat(x:shape(), ", ") .. "]" or E.typename(x))
  end
  if x:size(2) ~= o.in_channels then
    E.fail("DeepLabV3Plus", "input has %d channels, the model expects %d", x:size(2), o.in_channels)
  end
  if self.training and x:size(1) < 2 then
    E.fail("DeepLabV3Plus", "training needs a batch of 2 or more images, got %d: batch norm in the ASPP "
      .. "image-pooling branch sees one value per channel per image (use model:eval() for single images)",
      x:size(1))
  end
  local H, W = x:size(3), x:size(4)
  local feats = self.encoder(x)
  local y = self.decoder(self.aspp(feats[4]), feats[1], o.align_corners)
  y = self.classifier(y)
  return F.interpolate(y, { size = { H, W }, mode = "bilinear", align_corners = o.align_corners })
end

function DeepLab:extra_repr()
  local o = self.config
  return format("backbone=%s, output_stride=%d, in_channels=%d, num_classes=%d", o.backbone,
    o.output_stride, o.in_channels, o.num_classes)
end

return DeepLab
