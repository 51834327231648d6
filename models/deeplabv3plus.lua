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
-- Depthwise-separable conv = depthwise 3x3 (groups = channels, dilated in the ASPP) then
-- pointwise 1x1, no bias, no norm in between (as segmentation_models_pytorch).
-- Parameters for 21 classes (any output stride): resnet18 12,334,437; resnet34 22,442,597;
-- resnet50 26,682,725.
--
-- State-dict names: encoder.* as torchvision's ResNet (so ImageNet weights load with
-- index_base = 0 into model.encoder, strict = false), aspp.convs.<1..5>, aspp.project,
-- decoder.low (the 48-channel projection), decoder.fuse, classifier.
local lunet = require "lunet"
local nn = require "lunet.nn"
local resnet = require "lunet.models.resnet"

local F = nn.functional
local error, tostring, type, pairs, ipairs = error, tostring, type, pairs, ipairs
local mtype, format = math.type, string.format
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

local BACKBONES = { resnet18 = 18, resnet34 = 34, resnet50 = 50 }

local known = { in_channels = true, num_classes = true, backbone = true, output_stride = true,
                aspp_rates = true, aspp_channels = true, aspp_dropout = true, separable = true,
                encoder_width = true,
                low_level_channels = true, decoder_channels = true, align_corners = true }

local function check_int(k, v, min)
  if mtype(v) ~= "integer" or v < min then
    error(format("DeepLabV3Plus: %s must be an integer >= %d, got %s", k, min, tostring(v)), 4)
  end
end

local DeepLab = nn.Module:extend("DeepLabV3Plus")

function DeepLab:__init(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not known[k] then error("DeepLabV3Plus: unknown option '" .. tostring(k) .. "'", 3) end
  end
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
    check_int(k, o[k], 1)
  end
  local depth = BACKBONES[o.backbone]
  if depth == nil then
    error("DeepLabV3Plus: backbone must be \"resnet18\", \"resnet34\" or \"resnet50\", got "
      .. tostring(o.backbone), 3)
  end
  if o.output_stride ~= 8 and o.output_stride ~= 16 then
    error("DeepLabV3Plus: output_stride must be 8 or 16, got " .. tostring(o.output_stride), 3)
  end
  local rates = opts.aspp_rates
  if rates == nil then
    rates = o.output_stride == 16 and { 6, 12, 18 } or { 12, 24, 36 }
  end
  if type(rates) ~= "table" or #rates == 0 then
    error("DeepLabV3Plus: aspp_rates must be a non-empty list of dilation rates, got " .. tostring(rates), 3)
  end
  for _, r in ipairs(rates) do check_int("aspp_rates entries", r, 1) end
  o.aspp_rates = rates
  if type(o.aspp_dropout) ~= "number" or o.aspp_dropout < 0 or o.aspp_dropout >= 1 then
    error("DeepLabV3Plus: aspp_dropout must be in [0, 1), got " .. tostring(o.aspp_dropout), 3)
  end
  if type(o.align_corners) ~= "boolean" then
    error("DeepLabV3Plus: align_corners must be a boolean, got " .. tostring(o.align_corners), 3)
  end
  self.config = o

  self.encoder = resnet.ResNet { depth = depth, in_channels = o.in_channels, width = o.encoder_width,
                                 output_stride = o.output_stride }
  local ch = self.encoder.channels
  self.aspp = ASPP(ch[4], o.aspp_channels, rates, o.separable, o.aspp_dropout)
  self.decoder = Decoder(o.aspp_channels, ch[1], o.low_level_channels, o.decoder_channels, o.separable)
  self.classifier = nn.Conv2d(o.decoder_channels, o.num_classes, 1)
end

function DeepLab:forward(x)
  local o = self.config
  if not lunet.is_tensor(x) or x:dim() ~= 4 then
    error("DeepLabV3Plus: input must be a 4-d tensor (N, C, H, W)", 2)
  end
  if x:size(2) ~= o.in_channels then
    error(format("DeepLabV3Plus: input has %d channels, the model expects %d", x:size(2), o.in_channels), 2)
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
