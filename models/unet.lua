-- U-Net (Ronneberger et al. 2015) with "same" padding, as most reimplementations build it:
-- `depth` levels of two 3x3 convolutions (+ optional norm) + ReLU, 2x2 max pooling down,
-- 2x2 stride-2 transposed convolutions (or bilinear x2 + 1x1 conv) up, skip concatenation,
-- and a 1x1 classifier.
--
--   local UNet = require "lunet.models.unet"
--   local model = UNet{in_channels = 3, num_classes = 2, base = 16, depth = 5, norm = "batch"}
--   local logits = model(x)                      -- (N, num_classes, H, W) for any H, W
--
-- Options: in_channels (required), num_classes (required), base = 64 (channels at level 1,
-- doubling per level), depth = 5 (levels, including the bottleneck), up = "transpose" |
-- "bilinear", norm = nil | "batch" | "group", groups = 8 (for group norm), dropout = 0
-- (Dropout2d after the bottleneck block, as the paper's "drop-out layers at the end of the
-- contracting path").
-- When H or W is not a multiple of 2^(depth-1) the input is zero-padded at the bottom/right
-- and the logits are cropped back, so every skip concatenation fits.
--
-- State-dict names mirror the PyTorch benchmark model (bench/torch_unet.py):
-- down.<level>.<layer>, up.<level>, dec.<level>.<layer>, head; with index_base = 0 a
-- state dict from that PyTorch model loads directly (norm = "batch").
-- Bounds: depth <= 13 (a pooling factor of 4096), and at most common.MAX_PARAMETERS
-- (1e9) parameters; UNet.count_parameters(opts) gives the count without building the model.
-- In training mode with norm = "batch", the 1 x 1 bottleneck of a batch of one image is
-- refused with the smallest input that works (H or W above 2^(depth-1)).
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"

local F = nn.functional

local UNet = nn.Module:extend("UNet")

-- A block runs batch norm + ReLU as one autograd node and one kernel pass each way
-- (common.FusedSequential: children, names and values as a plain Sequential).
local Block = common.FusedSequential

local function block(cin, cout, o)
  local layers = { nn.Conv2d(cin, cout, 3, { padding = 1 }) }
  local function norm(c)
    if o.norm == "batch" then layers[#layers + 1] = nn.BatchNorm2d(c)
    elseif o.norm == "group" then layers[#layers + 1] = nn.GroupNorm(math.min(o.groups, c), c) end
  end
  norm(cout)
  layers[#layers + 1] = nn.ReLU()
  layers[#layers + 1] = nn.Conv2d(cout, cout, 3, { padding = 1 })
  norm(cout)
  layers[#layers + 1] = nn.ReLU()
  return Block(table.unpack(layers))
end

local known = { "in_channels", "num_classes", "base", "depth", "up", "norm", "groups", "dropout" }
UNet.MAX_DEPTH = 13

-- The checked configuration of opts, defaults filled in.
local function configure(opts)
  local fn = "UNet"
  opts = E.options(opts, fn, known)
  local o = {
    in_channels = opts.in_channels, num_classes = opts.num_classes, base = opts.base or 64,
    depth = opts.depth or 5, up = opts.up or "transpose", norm = opts.norm,
    groups = opts.groups or 8, dropout = opts.dropout or 0,
  }
  for _, k in ipairs { "in_channels", "num_classes", "base", "groups" } do
    o[k] = common.int(fn, k, o[k], 1)
  end
  o.depth = common.int(fn, "depth", o.depth, 2, UNet.MAX_DEPTH)
  E.choice(fn, "up", o.up, { "transpose", "bilinear" })
  if o.norm ~= nil then E.choice(fn, "norm", o.norm, { "batch", "group" }) end
  common.dropout(fn, "dropout", o.dropout)
  return o
end

-- Parameters of the configuration o (as num_parameters counts them), in floating point.
local function count(o)
  local function conv(cin, cout, k) return cin * cout * k * k + cout end
  local function block_count(cin, cout)
    local norm = o.norm and 2 * cout or 0
    return conv(cin, cout, 3) + norm + conv(cout, cout, 3) + norm
  end
  local ch = {}
  for k = 1, o.depth do ch[k] = o.base * 2.0 ^ (k - 1) end
  local n, c = 0, o.in_channels
  for k = 1, o.depth do
    n = n + block_count(c, ch[k])
    c = ch[k]
  end
  for k = o.depth - 1, 1, -1 do
    n = n + (o.up == "transpose" and conv(c, ch[k], 2) or conv(c, ch[k], 1))
    n = n + block_count(2 * ch[k], ch[k])
    c = ch[k]
  end
  return n + conv(c, o.num_classes, 1)
end

--- UNet.count_parameters(opts) -> the number of parameters UNet(opts) would have.
function UNet.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

function UNet:__init(opts)
  local o = configure(opts)
  common.check_parameters("UNet", count(o), string.format("base %d with depth %d", o.base, o.depth))
  self.config = o

  local ch = {}
  for k = 1, o.depth do ch[k] = o.base * 2 ^ (k - 1) // 1 end
  self.down = nn.ModuleList()
  local c = o.in_channels
  for k = 1, o.depth do
    self.down:append(block(c, ch[k], o))
    c = ch[k]
  end
  if o.dropout > 0 then self.drop = nn.Dropout2d(o.dropout) end
  self.up = nn.ModuleList()
  self.dec = nn.ModuleList()
  for k = o.depth - 1, 1, -1 do
    if o.up == "transpose" then
      self.up:append(nn.ConvTranspose2d(c, ch[k], 2, { stride = 2 }))
    else
      self.up:append(nn.Sequential(nn.Upsample { scale_factor = 2, mode = "bilinear", align_corners = false },
                                   nn.Conv2d(c, ch[k], 1)))
    end
    self.dec:append(block(2 * ch[k], ch[k], o))
    c = ch[k]
  end
  self.head = nn.Conv2d(c, o.num_classes, 1)
end

function UNet:forward(x)
  local o = self.config
  if not lunet.is_tensor(x) or x:dim() ~= 4 then
    E.fail("UNet", "input must be a 4-d tensor (N, C, H, W), got %s",
      lunet.is_tensor(x) and "[" .. table.concat(x:shape(), ", ") .. "]" or E.typename(x))
  end
  if x:size(2) ~= o.in_channels then
    E.fail("UNet", "input has %d channels, the model expects %d", x:size(2), o.in_channels)
  end
  local H, W = x:size(3), x:size(4)
  local m = 1 << (o.depth - 1)
  if self.training and o.norm == "batch" then
    common.check_bn_input("UNet", x, m, "the bottleneck")
  end
  local ph, pw = (-H) % m, (-W) % m
  if ph > 0 or pw > 0 then x = F.pad(x, { 0, pw, 0, ph }) end
  local skips = {}
  for k = 1, o.depth do
    x = self.down[k](x)
    if k < o.depth then
      skips[k] = x
      x = F.max_pool2d(x, { kernel = 2 })
    end
  end
  if self.drop then x = self.drop(x) end
  for j = 1, o.depth - 1 do
    x = self.up[j](x)
    x = lunet.cat({ x, skips[o.depth - j] }, 2)
    x = self.dec[j](x)
  end
  x = self.head(x)
  if ph > 0 or pw > 0 then x = x:narrow(3, 1, H):narrow(4, 1, W) end
  return x
end

return UNet
