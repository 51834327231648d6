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
-- State-dict names mirror the PyTorch benchmark model (../shared/bench/torch_unet.py):
-- down.<level>.<layer>, up.<level>, dec.<level>.<layer>, head; with index_base = 0 a
-- state dict from that PyTorch model loads directly (norm = "batch").
local lunet = require "lunet"
local nn = require "lunet.nn"

local F = nn.functional
local error, tostring = error, tostring

local UNet = nn.Module:extend("UNet")

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
  return nn.Sequential(table.unpack(layers))
end

local known = { in_channels = true, num_classes = true, base = true, depth = true, up = true,
                norm = true, groups = true, dropout = true }

function UNet:__init(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not known[k] then error("UNet: unknown option '" .. tostring(k) .. "'", 3) end
  end
  local o = {
    in_channels = opts.in_channels, num_classes = opts.num_classes, base = opts.base or 64,
    depth = opts.depth or 5, up = opts.up or "transpose", norm = opts.norm,
    groups = opts.groups or 8, dropout = opts.dropout or 0,
  }
  for _, k in ipairs { "in_channels", "num_classes", "base", "depth", "groups" } do
    local v = o[k]
    if math.type(v) ~= "integer" or v < 1 then
      error("UNet: " .. k .. " must be a positive integer, got " .. tostring(v), 3)
    end
  end
  if o.depth < 2 then error("UNet: depth must be at least 2, got " .. o.depth, 3) end
  if o.up ~= "transpose" and o.up ~= "bilinear" then
    error("UNet: up must be \"transpose\" or \"bilinear\", got " .. tostring(o.up), 3)
  end
  if o.norm ~= nil and o.norm ~= "batch" and o.norm ~= "group" then
    error("UNet: norm must be nil, \"batch\" or \"group\", got " .. tostring(o.norm), 3)
  end
  if type(o.dropout) ~= "number" or o.dropout < 0 or o.dropout >= 1 then
    error("UNet: dropout must be in [0, 1), got " .. tostring(o.dropout), 3)
  end
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
    error("UNet: input must be a 4-d tensor (N, C, H, W)", 2)
  end
  if x:size(2) ~= o.in_channels then
    error(("UNet: input has %d channels, the model expects %d"):format(x:size(2), o.in_channels), 2)
  end
  local H, W = x:size(3), x:size(4)
  local m = 1 << (o.depth - 1)
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
