-- SegNet (Badrinarayanan et al. 2017, "SegNet: A Deep Convolutional Encoder-Decoder
-- Architecture for Image Segmentation"): a VGG16-BN encoder (13 3x3 convs + BN + ReLU in five
-- stages, each followed by a 2x2 max pooling that keeps its indices) and a mirrored decoder
-- that max-unpools with those indices (no learned upsampling, no skip features) followed by
-- 3x3 convs + BN + ReLU; the last conv gives the class logits (no BN, no ReLU).
--
--   local SegNet = require "lunet.models.segnet"
--   local model = SegNet{in_channels = 3, num_classes = 11}      -- 29,449,355 parameters
--   local logits = model(x)                                      -- N x 11 x H x W
--
-- Options: num_classes (required), in_channels = 3, base = 64 (VGG16 widths base, 2, 4, 8, 8
-- times base; smaller for CPU training and tests).
-- Any H and W: each unpooling restores the size before its pooling (output_size), so odd sizes
-- work (the floor pooling's last row or column gets zeros, then the convs fill it); inputs
-- under 32 pixels high or wide are first zero-padded at the bottom/right to 32 (five poolings)
-- and the logits cropped back.
-- State-dict names follow delta-onera/segnet_pytorch (conv11, bn11, ..., conv53, bn53, then
-- conv53d, bn53d, ..., conv12d, bn12d, conv11d), so its checkpoints load directly; the encoder
-- is the shared VGG16-BN block of models/vgg.lua.
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"
local shared = require "lunet.models.shared"
local vgg = require "lunet.models.vgg"

local F = nn.functional
local format, max = string.format, math.max

local SegNet = nn.Module:extend("SegNet")

local known = { "in_channels", "num_classes", "base" }

local function configure(opts)
  local fn = "SegNet"
  opts = E.options(opts, fn, known)
  local o = { in_channels = opts.in_channels or 3, num_classes = opts.num_classes, base = opts.base or 64 }
  for _, k in ipairs { "in_channels", "num_classes", "base" } do o[k] = common.int(fn, k, o[k], 1) end
  return o
end

-- The decoder layers, in the reference's order: {name, cin, cout, has_bn}.
local function decoder_layers(o)
  local w, list = vgg.widths(o.base), {}
  for s = 5, 1, -1 do
    for j = vgg.DEPTHS[s], 1, -1 do
      local cout = w[s]
      if j == 1 then cout = s == 1 and o.num_classes or w[s - 1] end
      list[#list + 1] = { format("%d%dd", s, j), w[s], cout, not (s == 1 and j == 1), s }
    end
  end
  return list
end

local function count(o)
  local n = vgg.count(o.in_channels, o.base, true)
  for _, l in ipairs(decoder_layers(o)) do
    n = n + shared.conv(l[2], l[3], 3) + (l[4] and shared.bn(l[3]) or 0)
  end
  return n
end

--- SegNet.count_parameters(opts) -> the number of parameters SegNet(opts) would have.
function SegNet.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

function SegNet:__init(opts)
  local o = configure(opts)
  common.check_parameters("SegNet", count(o), format("base %d", o.base))
  self.config = o
  self.encoder_stages = vgg.build(self, {
    in_channels = o.in_channels, base = o.base, batch_norm = true,
    conv_name = function(s, j) return format("conv%d%d", s, j) end,
    bn_name = function(s, j) return format("bn%d%d", s, j) end,
  })
  local dec = {}
  for _, l in ipairs(decoder_layers(o)) do
    local conv = nn.Conv2d(l[2], l[3], 3, { padding = 1 })
    self["conv" .. l[1]] = conv
    local bn
    if l[4] then
      bn = nn.BatchNorm2d(l[3])
      self["bn" .. l[1]] = bn
    end
    local st = dec[l[5]] or {}
    st[#st + 1] = { conv = conv, bn = bn }
    dec[l[5]] = st
  end
  self.decoder_stages = dec
end

function SegNet:forward(x)
  local o = self.config
  shared.check_input("SegNet", x, o.in_channels)
  local H, W = x:size(3), x:size(4)
  local ph, pw = max(0, 32 - H), max(0, 32 - W)
  if ph > 0 or pw > 0 then x = F.pad(x, { 0, pw, 0, ph }) end
  local idx, sizes = {}, {}
  for s = 1, 5 do
    x = vgg.run_stage(self.encoder_stages[s], x)
    sizes[s] = { x:size(3), x:size(4) }
    x, idx[s] = F.max_pool2d(x, { kernel = 2, stride = 2, return_indices = true })
  end
  for s = 5, 1, -1 do
    x = F.max_unpool2d(x, idx[s], { kernel = 2, stride = 2, output_size = sizes[s] })
    for _, l in ipairs(self.decoder_stages[s]) do
      x = l.conv(x)
      if l.bn then x = F.relu(l.bn(x)) end
    end
  end
  if ph > 0 or pw > 0 then x = x:narrow(3, 1, H):narrow(4, 1, W) end
  return x
end

function SegNet:extra_repr()
  local o = self.config
  return format("in_channels=%d, num_classes=%d, base=%d", o.in_channels, o.num_classes, o.base)
end

return SegNet
