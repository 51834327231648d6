-- FC-DenseNet, "The One Hundred Layers Tiramisu" (Jegou et al. 2017): a U-shaped network of
-- dense blocks.
--   dense layer      BN - ReLU - 3x3 conv (growth channels) - dropout
--   dense block      n layers, each fed the concatenation of the block input and all the
--                    previous layers' outputs
--   transition down  BN - ReLU - 1x1 conv - dropout - 2x2 max pooling
--   transition up    3x3 stride-2 transposed conv applied to the NEW features of the previous
--                    block only (not to its input), cropped to the skip and concatenated to it
-- The down path keeps the block input (x + new features); the bottleneck and the up blocks
-- pass on only their new features, except the last up block, whose full output feeds the 1x1
-- classifier.
--
--   local Tiramisu = require "lunet.models.tiramisu"
--   local model = Tiramisu{variant = 103, in_channels = 3, num_classes = 11}
--   local logits = model(x)                      -- (N, num_classes, H, W) for any H, W
--
-- Options: in_channels = 3, num_classes (required), variant = 56 | 67 | 103 (default 103),
-- growth (12 / 16 / 16 by variant), dropout = 0.2 (Dropout2d, as the reference PyTorch
-- implementation), first_conv = 48, and for custom networks down_blocks = {layers per down
-- block}, up_blocks = {layers per up block} (default: down_blocks reversed), bottleneck =
-- layers in the bottleneck block. Parameters for 11 classes: 56: 1,376,795;
-- 67: 3,463,243; 103: 9,322,091 (the paper reports 1.5M, 3.5M, 9.4M).
-- Bounds: at most 12 down blocks of at most 256 layers, and common.MAX_PARAMETERS (1e9)
-- parameters (Tiramisu.count_parameters(opts) counts without building). In training mode the
-- 1 x 1 bottleneck of a batch of one image is refused with the smallest input that works.
-- Any H and W work: when H or W is not a multiple of 2^(number of down blocks) the input is
-- zero-padded at the bottom/right and the logits are cropped back (as U-Net here does). The
-- transposed conv gives 2h + 1 rows (and columns), center-cropped to the skip as the reference
-- implementation does.
--
-- State-dict names mirror the reference PyTorch implementation (bfortuner/pytorch_tiramisu):
-- firstconv, denseBlocksDown.<i>.layers.<j>.{norm,conv}, transDownBlocks.<i>.{norm,conv},
-- bottleneck.bottleneck.layers.<j>, transUpBlocks.<i>.convTrans, denseBlocksUp.<i>...,
-- finalConv; with index_base = 0 its state dicts load directly. The model returns logits
-- (that implementation ends with a LogSoftmax; losses here take logits).
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"

local F = nn.functional
local ipairs = ipairs
local format = string.format
local cat = lunet.cat

-- BN - ReLU - 3x3 conv - dropout; gives `growth` new channels.
local DenseLayer = nn.Module:extend("DenseLayer")
function DenseLayer:__init(cin, growth, p)
  self.norm = nn.BatchNorm2d(cin)
  self.relu = nn.ReLU()
  self.conv = nn.Conv2d(cin, growth, 3, { padding = 1 })
  self.drop = nn.Dropout2d(p)
end
function DenseLayer:forward(x)
  return self.drop(self.conv(self.relu(self.norm(x))))
end

-- n dense layers. forward returns the input and all new features concatenated, or only the
-- new features when the block was built with new_only (bottleneck and up path).
local DenseBlock = nn.Module:extend("DenseBlock")
function DenseBlock:__init(cin, growth, n, p, new_only)
  self.new_only = new_only
  self.layers = nn.ModuleList()
  for i = 0, n - 1 do self.layers:append(DenseLayer(cin + i * growth, growth, p)) end
end
function DenseBlock:forward(x)
  local new = {}
  for i, layer in ipairs(self.layers) do
    local out = layer(x)
    new[i] = out
    x = cat({ x, out }, 2)
  end
  if self.new_only then return cat(new, 2) end
  return x
end
function DenseBlock:extra_repr()
  return format("%d layers%s", #self.layers, self.new_only and ", new features only" or "")
end

-- BN - ReLU - 1x1 conv - dropout - 2x2 max pooling.
local TransitionDown = nn.Module:extend("TransitionDown")
function TransitionDown:__init(c, p)
  self.norm = nn.BatchNorm2d(c)
  self.relu = nn.ReLU()
  self.conv = nn.Conv2d(c, c, 1)
  self.drop = nn.Dropout2d(p)
  self.maxpool = nn.MaxPool2d(2)
end
function TransitionDown:forward(x)
  return self.maxpool(self.drop(self.conv(self.relu(self.norm(x)))))
end

-- 3x3 stride-2 transposed conv, center crop to the skip, concatenation [up, skip].
local TransitionUp = nn.Module:extend("TransitionUp")
function TransitionUp:__init(cin, cout)
  self.convTrans = nn.ConvTranspose2d(cin, cout, 3, { stride = 2 })
end
function TransitionUp:forward(x, skip)
  local out = self.convTrans(x)
  local h, w = skip:size(3), skip:size(4)
  local top, left = (out:size(3) - h) // 2, (out:size(4) - w) // 2
  out = out:narrow(3, top + 1, h):narrow(4, left + 1, w)
  return cat({ out, skip }, 2)
end

-- The reference implementation wraps the bottleneck block in a Sequential named "bottleneck".
local Bottleneck = nn.Module:extend("Bottleneck")
function Bottleneck:__init(cin, growth, n, p)
  self.bottleneck = DenseBlock(cin, growth, n, p, true)
end
function Bottleneck:forward(x) return self.bottleneck(x) end

local VARIANTS = {
  [56] = { growth = 12, down = { 4, 4, 4, 4, 4 }, bottleneck = 4 },
  [67] = { growth = 16, down = { 5, 5, 5, 5, 5 }, bottleneck = 5 },
  [103] = { growth = 16, down = { 4, 5, 7, 10, 12 }, bottleneck = 15 },
}

local known = { "in_channels", "num_classes", "variant", "growth", "dropout", "first_conv", "down_blocks",
                "up_blocks", "bottleneck" }

local Tiramisu = nn.Module:extend("FCDenseNet")
Tiramisu.MAX_BLOCKS = 12    -- down blocks: a pooling factor of at most 4096
Tiramisu.MAX_LAYERS = 256   -- layers per dense block

-- The checked configuration of opts, defaults filled in.
local function configure(opts)
  local fn = "Tiramisu"
  opts = E.options(opts, fn, known)
  local variant = opts.variant or 103
  local v = VARIANTS[variant]
  if v == nil then
    E.fail(fn, "variant must be 56, 67 or 103, got %s", E.show(variant))
  end
  local o = {
    variant = variant, in_channels = opts.in_channels or 3, num_classes = opts.num_classes,
    growth = opts.growth or v.growth, dropout = opts.dropout or 0.2,
    first_conv = opts.first_conv or 48, down_blocks = opts.down_blocks or v.down,
    bottleneck = opts.bottleneck or v.bottleneck,
  }
  for _, k in ipairs { "in_channels", "num_classes", "growth", "first_conv" } do
    o[k] = common.int(fn, k, o[k], 1)
  end
  o.bottleneck = common.int(fn, "bottleneck", o.bottleneck, 1, Tiramisu.MAX_LAYERS)
  common.int_list(fn, "down_blocks", o.down_blocks, 1, Tiramisu.MAX_LAYERS, Tiramisu.MAX_BLOCKS, "layer counts")
  local up = opts.up_blocks
  if up == nil then
    up = {}
    for i = #o.down_blocks, 1, -1 do up[#up + 1] = o.down_blocks[i] end
  end
  common.int_list(fn, "up_blocks", up, 1, Tiramisu.MAX_LAYERS, Tiramisu.MAX_BLOCKS, "layer counts")
  if #up ~= #o.down_blocks then
    E.fail(fn, "up_blocks has %d entries, down_blocks %d", #up, #o.down_blocks)
  end
  o.up_blocks = up
  common.dropout(fn, "dropout", o.dropout)
  return o
end

-- Parameters of the configuration o (as num_parameters counts them), in floating point.
local function count(o)
  local g = o.growth
  local function dense(cin, n)          -- n dense layers: BN + 3x3 conv (bias) each
    local total = 0
    for i = 0, n - 1 do
      local c = cin + i * g
      total = total + 2 * c + c * g * 9 + g
    end
    return total
  end
  local n = o.in_channels * o.first_conv * 9 + o.first_conv
  local c, skips = o.first_conv, {}
  for _, k in ipairs(o.down_blocks) do
    n = n + dense(c, k)
    c = c + g * k
    table.insert(skips, 1, c)
    n = n + 2 * c + c * c + c            -- transition down: BN + 1x1 conv
  end
  n = n + dense(c, o.bottleneck)
  local prev = g * o.bottleneck
  for i, k in ipairs(o.up_blocks) do
    n = n + prev * prev * 9 + prev      -- transition up: 3x3 transposed conv
    c = prev + skips[i]
    n = n + dense(c, k)
    prev = g * k
    c = c + prev
  end
  return n + c * o.num_classes + o.num_classes
end

--- Tiramisu.count_parameters(opts) -> the number of parameters Tiramisu(opts) would have.
function Tiramisu.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

function Tiramisu:__init(opts)
  local o = configure(opts)
  common.check_parameters("Tiramisu", count(o), format("growth %d with first_conv %d and %d down blocks",
    o.growth, o.first_conv, #o.down_blocks))
  self.config = o
  local up = o.up_blocks

  local g, p = o.growth, o.dropout
  self.firstconv = nn.Conv2d(o.in_channels, o.first_conv, 3, { padding = 1 })
  local c = o.first_conv
  local skips = {}                          -- channels of the skips, deepest first
  self.denseBlocksDown = nn.ModuleList()
  self.transDownBlocks = nn.ModuleList()
  for _, n in ipairs(o.down_blocks) do
    self.denseBlocksDown:append(DenseBlock(c, g, n, p, false))
    c = c + g * n
    table.insert(skips, 1, c)
    self.transDownBlocks:append(TransitionDown(c, p))
  end
  self.bottleneck = Bottleneck(c, g, o.bottleneck, p)
  local prev = g * o.bottleneck             -- new features handed to the next transition up
  self.transUpBlocks = nn.ModuleList()
  self.denseBlocksUp = nn.ModuleList()
  for i, n in ipairs(up) do
    self.transUpBlocks:append(TransitionUp(prev, prev))
    c = prev + skips[i]
    local last = i == #up
    self.denseBlocksUp:append(DenseBlock(c, g, n, p, not last))
    prev = g * n
    c = c + prev
  end
  self.finalConv = nn.Conv2d(c, o.num_classes, 1)
end

function Tiramisu:forward(x)
  local o = self.config
  if not lunet.is_tensor(x) or x:dim() ~= 4 then
    E.fail("Tiramisu", "input must be a 4-d tensor (N, C, H, W), got %s",
      lunet.is_tensor(x) and "[" .. table.concat(x:shape(), ", ") .. "]" or E.typename(x))
  end
  if x:size(2) ~= o.in_channels then
    E.fail("Tiramisu", "input has %d channels, the model expects %d", x:size(2), o.in_channels)
  end
  -- pad to a multiple of 2^(number of poolings) so that small inputs survive the poolings
  local H, W = x:size(3), x:size(4)
  local m = 1 << #self.denseBlocksDown
  if self.training then common.check_bn_input("Tiramisu", x, m, "the bottleneck") end
  local ph, pw = (-H) % m, (-W) % m
  if ph > 0 or pw > 0 then x = F.pad(x, { 0, pw, 0, ph }) end
  x = self.firstconv(x)
  local skips = {}
  for i, block in ipairs(self.denseBlocksDown) do
    x = block(x)
    skips[i] = x
    x = self.transDownBlocks[i](x)
  end
  x = self.bottleneck(x)
  local n = #skips
  for i, block in ipairs(self.denseBlocksUp) do
    x = self.transUpBlocks[i](x, skips[n + 1 - i])
    x = block(x)
  end
  x = self.finalConv(x)
  if ph > 0 or pw > 0 then x = x:narrow(3, 1, H):narrow(4, 1, W) end
  return x
end

function Tiramisu:extra_repr()
  local o = self.config
  return format("variant=%d, growth=%d, in_channels=%d, num_classes=%d", o.variant, o.growth,
    o.in_channels, o.num_classes)
end

return Tiramisu
