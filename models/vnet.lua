-- V-Net (Milletari, Navab and Ahmadi 2016, "V-Net: Fully Convolutional Neural Networks for
-- Volumetric Medical Image Segmentation"): residual stages of 5x5x5 convolutions with batch
-- norm and PReLU, 2x2x2 stride-2 convolutions down and 2x2x2 stride-2 transposed
-- convolutions up, skip concatenation on the way up. The stage at level k has min(k, 3)
-- convolutions on both sides (the paper's 1, 2, 3, 3, 3 down and 3, 3, 2, 1 up); every stage
-- adds its input to its output (the input stage adds the input channels repeated to `base`).
-- Module names and order follow the well-known mattmacy/vnet.pytorch structure (in_tr,
-- down_tr, up_tr, out_tr; LUConv = conv1, bn1, relu1), rebuilt with the paper's conv counts,
-- PReLU everywhere (one weight per channel), ordinary BatchNorm3d (eval mode uses the
-- running statistics) and logits out (no softmax).
--
--   local VNet = require "lunet.models.vnet"
--   local model = VNet{in_channels = 1, num_classes = 2}
--   local logits = model(x)          -- x (N, 1, D, H, W) -> (N, 2, D, H, W)
--
-- Options: in_channels = 1, num_classes = 2, base = 16 (channels of level 1, doubling per
-- level; a multiple of in_channels), depth = 5 (levels, the bottleneck included), norm =
-- "batch" | "group" | "instance" | "none", groups = 8 (group norm).
-- D, H and W must be multiples of 2^(depth-1) (16 by default); other sizes are refused with
-- the nearest sizes that work. The paper's configuration (1 -> 2 classes, base 16, depth 5)
-- has 65,191,134 parameters (PyTorch's count of the twin in spec/ref/gen_volume_models.py).
-- State-dict names: in_tr.*, down_tr.<i>.*, up_tr.<i>.*, out_tr.* (index_base = 0 loads the
-- twin's state dict).
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"
local UNet3D = require "lunet.models.unet3d"

local format = string.format

local VNet = nn.Module:extend("VNet")
VNet.MAX_DEPTH = 8

local function configure(opts)
  local fn = "VNet"
  local o = common.volume_options(fn, opts, { in_channels = 1, num_classes = 2, base = 16, depth = 5 },
    VNet.MAX_DEPTH)
  if o.base % o.in_channels ~= 0 then
    E.fail(fn, "base (%d) must be a multiple of in_channels (%d): the input stage adds the input "
      .. "repeated to base channels", o.base, o.in_channels)
  end
  return o
end

local function norm_layer(o, c) return common.volume_norm("VNet", o, c) or nn.Identity() end

local function nconvs(k) return math.min(k, 3) end

-- Parameter count (as num_parameters counts it).
local function count(o)
  local nb = o.norm == "none" and 0 or 2
  local function conv(cin, cout, k) return cin * cout * k ^ 3 + cout end
  local function lu(c) return c + conv(c, c, 5) + nb * c end   -- relu1, conv1, bn1
  local c1 = o.base
  local n = conv(o.in_channels, c1, 5) + nb * c1 + c1           -- in_tr
  local c = c1
  for k = 2, o.depth do
    local out = 2 * c
    n = n + conv(c, out, 2) + nb * out + 2 * out + nconvs(k) * lu(out)
    c = out
  end
  for k = o.depth - 1, 1, -1 do
    local out = 2 * o.base * 2.0 ^ (k - 1)
    local half = out / 2
    n = n + conv(c, half, 2) + nb * half + half + out + nconvs(k) * lu(out)
    c = out
  end
  return n + conv(c, o.num_classes, 5) + nb * o.num_classes + conv(o.num_classes, o.num_classes, 1)
    + o.num_classes
end

--- VNet.count_parameters(opts) -> the number of parameters VNet(opts) would have.
function VNet.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

-- LUConv: PReLU(norm(conv5(x))), mattmacy's member order relu1, conv1, bn1.
local LUConv = nn.Module:extend("LUConv")
function LUConv:__init(c, o)
  self.relu1 = nn.PReLU(c)
  self.conv1 = nn.Conv3d(c, c, 5, { padding = 2 })
  self.bn1 = norm_layer(o, c)
end
function LUConv:forward(x) return self.relu1(self.bn1(self.conv1(x))) end

local function ops(c, n, o)
  local list = {}
  for i = 1, n do list[i] = LUConv(c, o) end
  return nn.Sequential(table.unpack(list))
end

-- Input stage: PReLU(norm(conv5(x)) + x repeated to c channels).
local InputTransition = nn.Module:extend("InputTransition")
function InputTransition:__init(cin, c, o)
  self.conv1 = nn.Conv3d(cin, c, 5, { padding = 2 })
  self.bn1 = norm_layer(o, c)
  self.relu1 = nn.PReLU(c)
  self.repeats = c // cin
end
function InputTransition:forward(x)
  local out = self.bn1(self.conv1(x))
  local copies = {}
  for i = 1, self.repeats do copies[i] = x end
  return self.relu1(out + lunet.cat(copies, 2))
end

-- Down stage: down = PReLU(norm(conv2x2x2 stride 2 (x))); PReLU(ops(down) + down).
local DownTransition = nn.Module:extend("DownTransition")
function DownTransition:__init(cin, n, o)
  local c = 2 * cin
  self.down_conv = nn.Conv3d(cin, c, 2, { stride = 2 })
  self.bn1 = norm_layer(o, c)
  self.relu1 = nn.PReLU(c)
  self.relu2 = nn.PReLU(c)
  self.ops = ops(c, n, o)
end
function DownTransition:forward(x)
  local down = self.relu1(self.bn1(self.down_conv(x)))
  return self.relu2(self.ops(down) + down)
end

-- Up stage: up = PReLU(norm(transposed conv (x))) with cout/2 channels, cat with the skip
-- (cout/2 channels), PReLU(ops(cat) + cat).
local UpTransition = nn.Module:extend("UpTransition")
function UpTransition:__init(cin, cout, n, o)
  local half = cout // 2
  self.up_conv = nn.ConvTranspose3d(cin, half, 2, { stride = 2 })
  self.bn1 = norm_layer(o, half)
  self.relu1 = nn.PReLU(half)
  self.relu2 = nn.PReLU(cout)
  self.ops = ops(cout, n, o)
end
function UpTransition:forward(x, skip)
  local out = self.relu1(self.bn1(self.up_conv(x)))
  local xcat = lunet.cat({ out, skip }, 2)
  return self.relu2(self.ops(xcat) + xcat)
end

-- Output stage: conv2(PReLU(norm(conv5(x)))), mattmacy's member order conv1, bn1, conv2, relu1.
local OutputTransition = nn.Module:extend("OutputTransition")
function OutputTransition:__init(cin, classes, o)
  self.conv1 = nn.Conv3d(cin, classes, 5, { padding = 2 })
  self.bn1 = norm_layer(o, classes)
  self.conv2 = nn.Conv3d(classes, classes, 1)
  self.relu1 = nn.PReLU(classes)
end
function OutputTransition:forward(x) return self.conv2(self.relu1(self.bn1(self.conv1(x)))) end

function VNet:__init(opts)
  local o = configure(opts)
  common.check_parameters("VNet", count(o), format("base %d with depth %d", o.base, o.depth))
  self.config = o
  self.in_tr = InputTransition(o.in_channels, o.base, o)
  self.down_tr = nn.ModuleList()
  local c = o.base
  for k = 2, o.depth do
    self.down_tr:append(DownTransition(c, nconvs(k), o))
    c = 2 * c
  end
  self.up_tr = nn.ModuleList()
  for k = o.depth - 1, 1, -1 do
    local out = 2 * o.base * (1 << (k - 1))
    self.up_tr:append(UpTransition(c, out, nconvs(k), o))
    c = out
  end
  self.out_tr = OutputTransition(c, o.num_classes, o)
end

function VNet:forward(x)
  local o = self.config
  UNet3D.check_input("VNet", x, o, 1 << (o.depth - 1), self.training)
  local skips = { self.in_tr(x) }
  for k = 2, o.depth do skips[k] = self.down_tr[k - 1](skips[k - 1]) end
  x = skips[o.depth]
  for j = 1, o.depth - 1 do
    x = self.up_tr[j](x, skips[o.depth - j])
  end
  return self.out_tr(x)
end

return VNet
