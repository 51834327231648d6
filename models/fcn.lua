-- Fully convolutional networks (Long, Shelhamer & Darrell 2015, "Fully Convolutional Networks
-- for Semantic Segmentation"): VGG16 with its classifier turned into convolutions (fc6: 7x7,
-- 4096; fc7: 1x1, 4096; each + ReLU + Dropout2d 0.5), a 1x1 class scorer, and learned
-- upsampling by bias-free transposed convolutions: FCN-32s upsamples the scores 32x in one
-- step; FCN-16s adds the scores of pool4 (1/16) after a 2x upsampling, then 16x; FCN-8s also
-- adds pool3's (1/8), then 8x. conv1_1 is padded by 100 pixels so that any input size reaches
-- fc6 with room to spare; each score map is cropped at the offsets of the reference (19 for
-- 32s; 5 and 27 for 16s; 5, 9 and 31 for 8s) so that the logits align with the input pixels.
--
--   local FCN = require "lunet.models.fcn"
--   local model = FCN{variant = 8, num_classes = 21}             -- 134,489,759 parameters
--   local logits = model(x)                                      -- N x 21 x H x W, any H, W
--
-- Options: num_classes (required), variant = 8 | 16 | 32 (default 8), in_channels = 3,
-- base = 64 (VGG16 widths base, 2, 4, 8, 8 times base), fc_channels = 4096 (fc6 / fc7),
-- dropout = 0.5 (Dropout2d after fc6 and fc7). Parameters for 21 classes: FCN-32s 136,152,917;
-- FCN-16s 134,815,994; FCN-8s 134,489,759.
-- Initialisation: as the reference does around its VGG16 weights, the score layers start at
-- zero and the transposed convolutions at bilinear interpolation kernels (so an untrained
-- FCN-8s upsamples its scores smoothly); the VGG16 and fc layers have PyTorch's default
-- initialisation (load ImageNet VGG16 weights for the paper's results).
-- State-dict names follow wkentaro/pytorch-fcn (conv1_1 ... conv5_3, fc6, fc7, score_fr,
-- score_pool3, score_pool4, upscore2, upscore8, upscore_pool4 / upscore16 / upscore), so its
-- checkpoints load directly; the convolutions are the shared VGG16 block of models/vgg.lua.
-- The input is padded by 100 on every side in conv1_1: compute and memory grow with
-- (H + 198) x (W + 198) at full resolution.
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"
local shared = require "lunet.models.shared"
local vgg = require "lunet.models.vgg"

local F = nn.functional
local format, abs = string.format, math.abs

local FCN = nn.Module:extend("FCN")

local known = { "variant", "in_channels", "num_classes", "base", "fc_channels", "dropout" }

local function configure(opts)
  local fn = "FCN"
  opts = E.options(opts, fn, known)
  local o = { variant = opts.variant or 8, in_channels = opts.in_channels or 3, num_classes = opts.num_classes,
              base = opts.base or 64, fc_channels = opts.fc_channels or 4096, dropout = opts.dropout or 0.5 }
  if o.variant ~= 8 and o.variant ~= 16 and o.variant ~= 32 then
    E.fail(fn, "variant must be 8, 16 or 32, got %s", E.show(o.variant))
  end
  for _, k in ipairs { "in_channels", "num_classes", "base", "fc_channels" } do o[k] = common.int(fn, k, o[k], 1) end
  common.dropout(fn, "dropout", o.dropout)
  return o
end

local function count(o)
  local w, C, fc = vgg.widths(o.base), o.num_classes, o.fc_channels
  local n = vgg.count(o.in_channels, o.base, false)
  n = n + shared.conv(w[5], fc, 7) + shared.conv(fc, fc, 1) + shared.conv(fc, C, 1)
  if o.variant == 32 then return n + C * C * 64 * 64 end
  n = n + shared.conv(w[4], C, 1) + C * C * 4 * 4
  if o.variant == 16 then return n + C * C * 32 * 32 end
  return n + shared.conv(w[3], C, 1) + C * C * 16 * 16 + C * C * 4 * 4
end

--- FCN.count_parameters(opts) -> the number of parameters FCN(opts) would have.
function FCN.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

-- The reference's get_upsampling_weight: a bilinear kernel on the diagonal (class c to c).
local function bilinear_(deconv)
  local w = deconv.weight
  local C, k = w:size(1), w:size(3)
  local factor = (k + 1) // 2
  local center = (k % 2 == 1) and (factor - 1) or (factor - 0.5)
  local filt = {}
  for i = 0, k - 1 do
    local row = {}
    for j = 0, k - 1 do row[j + 1] = (1 - abs(i - center) / factor) * (1 - abs(j - center) / factor) end
    filt[i + 1] = row
  end
  local kernel = lunet.tensor(filt)
  lunet.no_grad(function()
    w:fill_(0)
    for c = 1, math.min(C, w:size(2)) do w:select(1, c):select(1, c):copy_(kernel) end
  end)
end

local function zero_(conv)
  lunet.no_grad(function()
    conv.weight:fill_(0)
    conv.bias:fill_(0)
  end)
end

function FCN:__init(opts)
  local o = configure(opts)
  common.check_parameters("FCN", count(o), format("base %d with fc_channels %d", o.base, o.fc_channels))
  self.config = o
  self.stages = vgg.build(self, {
    in_channels = o.in_channels, base = o.base, batch_norm = false, first_padding = 100,
    conv_name = function(s, j) return format("conv%d_%d", s, j) end,
  })
  local w, C, fc = vgg.widths(o.base), o.num_classes, o.fc_channels
  self.fc6 = nn.Conv2d(w[5], fc, 7)
  self.drop6 = nn.Dropout2d(o.dropout)
  self.fc7 = nn.Conv2d(fc, fc, 1)
  self.drop7 = nn.Dropout2d(o.dropout)
  self.score_fr = nn.Conv2d(fc, C, 1)
  zero_(self.score_fr)
  local function up(k, s)
    local m = nn.ConvTranspose2d(C, C, k, { stride = s, bias = false })
    bilinear_(m)
    return m
  end
  if o.variant == 32 then
    self.upscore = up(64, 32)
  elseif o.variant == 16 then
    self.score_pool4 = nn.Conv2d(w[4], C, 1)
    self.upscore2 = up(4, 2)
    self.upscore16 = up(32, 16)
  else
    self.score_pool3 = nn.Conv2d(w[3], C, 1)
    self.score_pool4 = nn.Conv2d(w[4], C, 1)
    self.upscore2 = up(4, 2)
    self.upscore8 = up(16, 8)
    self.upscore_pool4 = up(4, 2)
  end
  if self.score_pool3 then zero_(self.score_pool3) end
  if self.score_pool4 then zero_(self.score_pool4) end
end

-- x[:, :, off:off+h, off:off+w] (0-based off, as the reference writes it).
local function crop(x, off, h, w) return x:narrow(3, off + 1, h):narrow(4, off + 1, w) end

function FCN:forward(x)
  local o = self.config
  shared.check_input("FCN", x, o.in_channels)
  local H, W = x:size(3), x:size(4)
  local h = x
  local pools = {}
  for s = 1, 5 do
    h = F.max_pool2d(vgg.run_stage(self.stages[s], h), { kernel = 2, stride = 2, ceil_mode = true })
    pools[s] = h
  end
  h = self.drop6(F.relu(self.fc6(h)))
  h = self.drop7(F.relu(self.fc7(h)))
  h = self.score_fr(h)
  if o.variant == 32 then return crop(self.upscore(h), 19, H, W):contiguous() end
  local u = self.upscore2(h)
  h = u + crop(self.score_pool4(pools[4]), 5, u:size(3), u:size(4))
  if o.variant == 16 then return crop(self.upscore16(h), 27, H, W):contiguous() end
  u = self.upscore_pool4(h)
  h = u + crop(self.score_pool3(pools[3]), 9, u:size(3), u:size(4))
  return crop(self.upscore8(h), 31, H, W):contiguous()
end

function FCN:extra_repr()
  local o = self.config
  return format("variant=%ds, in_channels=%d, num_classes=%d", o.variant, o.in_channels, o.num_classes)
end

return FCN
