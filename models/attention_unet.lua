-- Attention U-Net (Oktay et al. 2018, "Attention U-Net: Learning Where to Look for the
-- Pancreas") as LeeJunHyun/Image_Segmentation's AttU_Net: a U-Net of conv blocks (3x3 conv +
-- BN + ReLU, twice; 64, 128, 256, 512, 1024 channels, 2x2 max pooling), whose decoder
-- upsamples (nearest 2x, then 3x3 conv + BN + ReLU), gates each skip with an additive
-- attention block (psi = sigmoid(BN(1x1(ReLU(BN(1x1 g) + BN(1x1 x))))), skip * psi, with
-- F_int = half the skip's channels), concatenates gated skip and upsampled features, and ends
-- with a 1x1 classifier.
--
--   local AttUNet = require "lunet.models.attention_unet"
--   local model = AttUNet{in_channels = 3, num_classes = 1}     -- 34,878,573 parameters
--   local logits = model(x)                                     -- N x 1 x H x W, any H, W
--
-- Options: num_classes (required), in_channels = 3, base = 64 (channels base * 1, 2, 4, 8, 16;
-- at least 2).
-- Any H and W: the input is zero-padded at the bottom/right to a multiple of 16 and the logits
-- are cropped back. In training mode a batch of one image needs H or W above 16.
-- model:attention_maps(x) returns the four gates psi (Att5, Att4, Att3, Att2: N x 1 x h x w at
-- 1/8 .. 1/1 of the input padded to a multiple of 16) of a forward of x.
-- State-dict names follow the reference: Conv1.conv.1.weight (Conv1.conv.0 in PyTorch), Up5.up.2
-- (conv after the upsampling), Att5.W_g.1, Att5.psi.2, Up_conv5.conv.4, Conv_1x1, ...
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"
local shared = require "lunet.models.shared"

local F = nn.functional
local cat, format = lunet.cat, string.format

local ConvBlock = nn.Module:extend("conv_block")
function ConvBlock:__init(cin, cout)
  self.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, { padding = 1 }), nn.BatchNorm2d(cout), nn.ReLU(),
                            nn.Conv2d(cout, cout, 3, { padding = 1 }), nn.BatchNorm2d(cout), nn.ReLU())
end
function ConvBlock:forward(x) return self.conv(x) end

local UpConv = nn.Module:extend("up_conv")
function UpConv:__init(cin, cout)
  self.up = nn.Sequential(nn.Upsample { scale_factor = 2, mode = "nearest" }, nn.Conv2d(cin, cout, 3, { padding = 1 }),
                          nn.BatchNorm2d(cout), nn.ReLU())
end
function UpConv:forward(x) return self.up(x) end

local AttentionBlock = nn.Module:extend("Attention_block")
function AttentionBlock:__init(fg, fl, fint)
  self.W_g = nn.Sequential(nn.Conv2d(fg, fint, 1), nn.BatchNorm2d(fint))
  self.W_x = nn.Sequential(nn.Conv2d(fl, fint, 1), nn.BatchNorm2d(fint))
  self.psi = nn.Sequential(nn.Conv2d(fint, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())
  self.relu = nn.ReLU()
end
-- Returns the gated skip and the gate.
function AttentionBlock:forward(g, x)
  local psi = self.psi(self.relu(self.W_g(g) + self.W_x(x)))
  return x * psi, psi
end

local AttUNet = nn.Module:extend("AttU_Net")
AttUNet.zoo_name = "attention_unet"   -- lunet.models.attention_unet (predict.save_model records it)

local known = { "in_channels", "num_classes", "base" }

local function configure(opts)
  local fn = "AttU_Net"
  opts = E.options(opts, fn, known)
  local o = { in_channels = opts.in_channels or 3, num_classes = opts.num_classes, base = opts.base or 64 }
  for _, k in ipairs { "in_channels", "num_classes" } do o[k] = common.int(fn, k, o[k], 1) end
  o.base = common.int(fn, "base", o.base, 2)   -- the attention blocks have base / 2 channels
  return o
end

local function filters(b) return { b, 2 * b, 4 * b, 8 * b, 16 * b } end

local function count(o)
  local f = filters(o.base)
  local function block(cin, c) return cin * c * 9 + 3 * c + c * c * 9 + 3 * c end
  local n = block(o.in_channels, f[1])
  for i = 2, 5 do n = n + block(f[i - 1], f[i]) end
  for i = 5, 2, -1 do
    local c, fi = f[i - 1], f[i - 1] // 2
    n = n + f[i] * c * 9 + 3 * c                           -- up_conv
    n = n + 2 * (c * fi + 3 * fi) + fi + 1 + 2             -- attention: W_g, W_x, psi (conv + BN(1))
    n = n + block(f[i], c)                                 -- Up_conv
  end
  return n + f[1] * o.num_classes + o.num_classes
end

--- AttUNet.count_parameters(opts) -> the number of parameters AttUNet(opts) would have.
function AttUNet.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

function AttUNet:__init(opts)
  local o = configure(opts)
  common.check_parameters("AttU_Net", count(o), format("base %d", o.base))
  self.config = o
  local f = filters(o.base)
  self.Conv1 = ConvBlock(o.in_channels, f[1])
  for i = 2, 5 do self["Conv" .. i] = ConvBlock(f[i - 1], f[i]) end
  for i = 5, 2, -1 do
    self["Up" .. i] = UpConv(f[i], f[i - 1])
    self["Att" .. i] = AttentionBlock(f[i - 1], f[i - 1], f[i - 1] // 2)
    self["Up_conv" .. i] = ConvBlock(f[i], f[i - 1])
  end
  self.Conv_1x1 = nn.Conv2d(f[1], o.num_classes, 1)
end

-- The logits and the four attention gates (Att5 .. Att2).
local function run(self, x)
  local o = self.config
  shared.check_input("AttU_Net", x, o.in_channels)
  if self.training then common.check_bn_input("AttU_Net", x, 16, "Conv5") end
  local H, W = x:size(3), x:size(4)
  local ph, pw = (-H) % 16, (-W) % 16
  if ph > 0 or pw > 0 then x = F.pad(x, { 0, pw, 0, ph }) end
  local xs = { self.Conv1(x) }
  for i = 2, 5 do xs[i] = self["Conv" .. i](F.max_pool2d(xs[i - 1], { kernel = 2 })) end
  local d, gates = xs[5], {}
  for i = 5, 2, -1 do
    d = self["Up" .. i](d)
    local s, psi = self["Att" .. i](d, xs[i - 1])
    gates[#gates + 1] = psi
    d = self["Up_conv" .. i](cat({ s, d }, 2))
  end
  d = self.Conv_1x1(d)
  if ph > 0 or pw > 0 then d = d:narrow(3, 1, H):narrow(4, 1, W) end
  return d, gates
end

function AttUNet:forward(x) return (run(self, x)) end

--- model:attention_maps(x) -> the four gates psi of a forward of x (Att5, Att4, Att3, Att2:
--- N x 1 x h x w at 1/8, 1/4, 1/2, 1/1 of the input padded to a multiple of 16).
function AttUNet:attention_maps(x)
  local _, gates = run(self, x)
  return gates
end

function AttUNet:extra_repr()
  local o = self.config
  return format("in_channels=%d, num_classes=%d, base=%d", o.in_channels, o.num_classes, o.base)
end

return AttUNet
