-- 3-D U-Net (Çiçek et al. 2016, "3D U-Net: Learning Dense Volumetric Segmentation from Sparse
-- Annotation"): per level two 3x3x3 convolutions, each followed by batch norm and ReLU, the
-- second one doubling the channels (32 -> 64 at level 1 of the paper); 2x2x2 max pooling
-- down; 2x2x2 stride-2 transposed convolutions up (keeping the channel count, 512 -> 512 in
-- the paper), concatenation with the skip, two 3x3x3 convolutions; a 1x1x1 classifier.
-- Convolutions use "same" padding (as wolny/pytorch-3dunet and most reimplementations; the
-- paper's are unpadded), so the logits have the input's size.
--
--   local UNet3D = require "lunet.models.unet3d"
--   local model = UNet3D{in_channels = 1, num_classes = 3, base = 16, depth = 4}
--   local logits = model(x)          -- x (N, 1, D, H, W) -> (N, 3, D, H, W)
--
-- Options: in_channels = 3, num_classes = 3 (the paper's configuration), base = 32 (the
-- first convolution's channels; level k has base * 2^(k-1) and 2 * base * 2^(k-1)),
-- depth = 4 (levels, the bottleneck included), norm = "batch" | "group" | "instance" |
-- "none", groups = 8 (group norm: min(groups, channels) groups).
-- D, H and W must be multiples of 2^(depth-1) (8 by default); other sizes are refused with
-- the nearest sizes that work.
-- Parameters of the paper's configuration: 19,075,523 (PyTorch's count; the paper's
-- 19,069,955 leaves out the 4,672 batch-norm affine parameters and the 896 biases of the
-- up-convolutions). State-dict names: encoders.<level>.<layer>, ups.<level>,
-- decoders.<level>.<layer>, head (index_base = 0 loads the PyTorch twin of
-- spec/ref/gen_volume_models.py).
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"

local F = nn.functional
local format = string.format

local UNet3D = nn.Module:extend("UNet3D")
UNet3D.MAX_DEPTH = 8

local function configure(opts)
  return common.volume_options("UNet3D", opts, { in_channels = 3, num_classes = 3, base = 32, depth = 4 },
    UNet3D.MAX_DEPTH)
end

local function norm_layer(o, c) return common.volume_norm("UNet3D", o, c) end

-- A block runs batch norm + ReLU as one autograd node (BatchNorm3d:forward_relu through
-- common.FusedSequential): the normalised tensors are not kept for backward, as PyTorch does
-- not keep them either.
local Block = common.FusedSequential

-- conv(cin -> mid) [norm] ReLU conv(mid -> cout) [norm] ReLU
local function block(cin, mid, cout, o)
  local layers = { nn.Conv3d(cin, mid, 3, { padding = 1 }) }
  layers[#layers + 1] = norm_layer(o, mid)
  layers[#layers + 1] = nn.ReLU()
  layers[#layers + 1] = nn.Conv3d(mid, cout, 3, { padding = 1 })
  layers[#layers + 1] = norm_layer(o, cout)
  layers[#layers + 1] = nn.ReLU()
  return Block(table.unpack(layers))
end

-- Channels: enc[k] = {first conv, second conv} of level k.
local function plan(o)
  local enc = {}
  for k = 1, o.depth do
    local c = o.base * 2.0 ^ (k - 1)
    enc[k] = { c, 2 * c }
  end
  return enc
end

local function count(o)
  local norm = o.norm == "none" and 0 or 2
  local function conv(cin, cout, k) return cin * cout * k ^ 3 + cout end
  local function block_count(cin, mid, cout)
    return conv(cin, mid, 3) + norm * mid + conv(mid, cout, 3) + norm * cout
  end
  local enc = plan(o)
  local n, c = 0, o.in_channels
  for k = 1, o.depth do
    n = n + block_count(c, enc[k][1], enc[k][2])
    c = enc[k][2]
  end
  for k = o.depth - 1, 1, -1 do
    n = n + conv(c, c, 2)
    local s = enc[k][2]
    n = n + block_count(c + s, s, s)
    c = s
  end
  return n + conv(c, o.num_classes, 1)
end

--- UNet3D.count_parameters(opts) -> the number of parameters UNet3D(opts) would have.
function UNet3D.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

function UNet3D:__init(opts)
  local o = configure(opts)
  common.check_parameters("UNet3D", count(o), format("base %d with depth %d", o.base, o.depth))
  self.config = o
  local enc = plan(o)
  self.encoders = nn.ModuleList()
  local c = o.in_channels
  for k = 1, o.depth do
    local mid, out = enc[k][1] // 1, enc[k][2] // 1
    self.encoders:append(block(c, mid, out, o))
    c = out
  end
  self.ups = nn.ModuleList()
  self.decoders = nn.ModuleList()
  for k = o.depth - 1, 1, -1 do
    local s = enc[k][2] // 1
    self.ups:append(nn.ConvTranspose3d(c, c, 2, { stride = 2 }))
    self.decoders:append(block(c + s, s, s, o))
    c = s
  end
  self.head = nn.Conv3d(c, o.num_classes, 1)
end

-- Checks x (N, C, D, H, W) against the configuration; m = 2^(depth-1).
local function check_input(fn, x, o, m, training)
  if not lunet.is_tensor(x) or x:dim() ~= 5 then
    E.fail(fn, "input must be a 5-d tensor (N, C, D, H, W), got %s",
      lunet.is_tensor(x) and "[" .. table.concat(x:shape(), ", ") .. "]" or E.typename(x))
  end
  if x:size(2) ~= o.in_channels then
    E.fail(fn, "input has %d channels, the model expects %d", x:size(2), o.in_channels)
  end
  if x:dtype() ~= "float32" then
    E.fail(fn, "input must be float32, got %s (use :to(\"float32\"))", x:dtype())
  end
  if x:numel() == 0 then
    E.fail(fn, "input [%s] is empty (a zero-size dim)", table.concat(x:shape(), ", "))
  end
  local d, h, w = x:size(3), x:size(4), x:size(5)
  if d % m ~= 0 or h % m ~= 0 or w % m ~= 0 then
    local function near(v) return math.max(m, v // m * m) end
    E.fail(fn, "input size %dx%dx%d (D x H x W) must be a multiple of %d in each dim (depth %d "
      .. "pools %d times); pad or crop it, e.g. to %dx%dx%d", d, h, w, m, o.depth, o.depth - 1,
      near(d), near(h), near(w))
  end
  local cells = (d // m) * (h // m) * (w // m)
  if training and o.norm == "batch" and x:size(1) * cells < 2 then
    E.fail(fn, "input %dx%dx%d is too small to train with a batch of 1: batch norm at the "
      .. "bottleneck (1/%d of the input, here 1x1x1) needs more than one value per channel (use "
      .. "a larger input, a batch of 2 or more, or model:eval())", d, h, w, m)
  end
  if o.norm == "instance" and cells < 2 then
    E.fail(fn, "input %dx%dx%d is too small for instance norm: the bottleneck (1/%d of the "
      .. "input) has a single voxel", d, h, w, m)
  end
end
UNet3D.check_input = check_input

function UNet3D:forward(x)
  local o = self.config
  check_input("UNet3D", x, o, 1 << (o.depth - 1), self.training)
  local skips = {}
  for k = 1, o.depth do
    x = self.encoders[k](x)
    if k < o.depth then
      skips[k] = x
      x = F.max_pool3d(x, { kernel = 2 })
    end
  end
  for j = 1, o.depth - 1 do
    x = self.ups[j]:forward_cat(x, skips[o.depth - j])   -- cat({up(x), skip}, 2)
    skips[o.depth - j] = nil
    x = self.decoders[j](x)
  end
  return self.head(x)
end

return UNet3D
