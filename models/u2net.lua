-- U^2-Net (Qin et al. 2020, "U^2-Net: Going Deeper with Nested U-Structure for Salient Object
-- Detection"): a U-Net of residual U-blocks (RSU). RSU-L (L = 7, 6, 5, 4) is a small U-Net of
-- height L inside a residual connection: an input conv, L - 1 encoder convs with L - 2
-- ceil-mode 2x2 max poolings, a dilation-2 bottom conv, L - 1 decoder convs on the
-- concatenated skips with bilinear upsampling, plus the input conv's output. RSU-4F keeps
-- the resolution and dilates (1, 2, 4, 8) instead of pooling. Every conv is 3x3 + BN + ReLU
-- (REBNCONV). The outer U has six encoder stages (RSU7, 6, 5, 4, 4F, 4F, with ceil-mode
-- poolings between them) and five decoder stages; each decoder stage and the last encoder
-- stage gives a 3x3 side output (d1..d6, upsampled to d1's size) and a 1x1 conv fuses them
-- into d0.
--
--   local U2Net = require "lunet.models.u2net"
--   local model = U2Net{variant = "small"}        -- U2NETP: 1,131,181 parameters
--   local out = model(x)    -- training: {d0, d1, ..., d6, main = d0}; eval: d0 (N x 1 x H x W)
--
-- Options: variant = "full" (U2NET, 44,009,869 parameters for 3 -> 1) | "small" (U2NETP,
-- 1,131,181), in_channels = 3, num_classes = 1 (saliency: one logit channel), side_outputs =
-- true (training mode returns all seven outputs, see models/shared.lua; false: d0 only),
-- base = 16 (full: mid / out channels of the stages are multiples of it, as published),
-- mid_channels = 16 and out_channels = 64 (small), for reduced CPU or test configurations.
-- Outputs are logits (the reference applies a sigmoid in forward and trains with BCELoss;
-- here the loss is BCEWithLogitsLoss, the same BCE on each of the seven outputs, summed, as
-- lunet.train.fit does by default). Metrics and predict use the fused d0.
-- Any H and W: the ceil-mode poolings and the upsampling to each skip's size handle odd
-- sizes, and every output has the input size. In training mode a batch of one image needs
-- H or W above 32 (the deepest batch norm sees 1/32 of the input).
-- State-dict names follow xuebinqin/U-2-Net model/u2net.py (stage1.rebnconvin.conv_s1.weight,
-- stage1d.rebnconv1d.bn_s1.running_var, side1.weight, outconv.bias, ...), so its published
-- checkpoints (u2net.pth, u2netp.pth) load with load_state_dict(sd).
local lunet = require "lunet"
local E = require "lunet.errors"
local nn = require "lunet.nn"
local common = require "lunet.models.common"
local shared = require "lunet.models.shared"

local F = nn.functional
local cat, format = lunet.cat, string.format

local function up_like(x, ref)
  if x:size(3) == ref:size(3) and x:size(4) == ref:size(4) then return x end
  return F.interpolate(x, { size = { ref:size(3), ref:size(4) }, mode = "bilinear", align_corners = false })
end

local REBNCONV = nn.Module:extend("REBNCONV")
function REBNCONV:__init(cin, cout, dirate)
  self.conv_s1 = nn.Conv2d(cin, cout, 3, { padding = dirate, dilation = dirate })
  self.bn_s1 = nn.BatchNorm2d(cout)
  self.relu_s1 = nn.ReLU()
end
-- relu(bn(conv(x))), the batch norm and ReLU as one autograd node (models/common.lua)
function REBNCONV:forward(x) return common.bn_relu(self.bn_s1, self.relu_s1, self.conv_s1(x)) end

-- RSU-L, L = height in 4..7.
local RSU = nn.Module:extend("RSU")
function RSU:__init(height, cin, mid, cout)
  self.height = height
  self.rebnconvin = REBNCONV(cin, cout, 1)
  self.rebnconv1 = REBNCONV(cout, mid, 1)
  for i = 2, height - 1 do
    self["pool" .. (i - 1)] = nn.MaxPool2d(2, { stride = 2, ceil_mode = true })
    self["rebnconv" .. i] = REBNCONV(mid, mid, 1)
  end
  self["rebnconv" .. height] = REBNCONV(mid, mid, 2)
  for i = height - 1, 2, -1 do self["rebnconv" .. i .. "d"] = REBNCONV(2 * mid, mid, 1) end
  self.rebnconv1d = REBNCONV(2 * mid, cout, 1)
end
function RSU:forward(x)
  local L = self.height
  local hxin = self.rebnconvin(x)
  local hs = { self.rebnconv1(hxin) }
  for i = 2, L - 1 do hs[i] = self["rebnconv" .. i](self["pool" .. (i - 1)](hs[i - 1])) end
  local hd = self["rebnconv" .. L](hs[L - 1])
  for i = L - 1, 1, -1 do
    hd = self["rebnconv" .. i .. "d"](cat({ hd, hs[i] }, 2))
    if i > 1 then hd = up_like(hd, hs[i - 1]) end
  end
  return hd + hxin
end
function RSU:extra_repr() return "height=" .. self.height end

-- RSU-4F: dilations instead of pooling.
local RSU4F = nn.Module:extend("RSU4F")
function RSU4F:__init(cin, mid, cout)
  self.rebnconvin = REBNCONV(cin, cout, 1)
  self.rebnconv1 = REBNCONV(cout, mid, 1)
  self.rebnconv2 = REBNCONV(mid, mid, 2)
  self.rebnconv3 = REBNCONV(mid, mid, 4)
  self.rebnconv4 = REBNCONV(mid, mid, 8)
  self.rebnconv3d = REBNCONV(2 * mid, mid, 4)
  self.rebnconv2d = REBNCONV(2 * mid, mid, 2)
  self.rebnconv1d = REBNCONV(2 * mid, cout, 1)
end
function RSU4F:forward(x)
  local hxin = self.rebnconvin(x)
  local hx1 = self.rebnconv1(hxin)
  local hx2 = self.rebnconv2(hx1)
  local hx3 = self.rebnconv3(hx2)
  local hx4 = self.rebnconv4(hx3)
  local hx3d = self.rebnconv3d(cat({ hx4, hx3 }, 2))
  local hx2d = self.rebnconv2d(cat({ hx3d, hx2 }, 2))
  return self.rebnconv1d(cat({ hx2d, hx1 }, 2)) + hxin
end

local function rsu(h, cin, mid, cout)
  if h == 0 then return RSU4F(cin, mid, cout) end
  return RSU(h, cin, mid, cout)
end

-- Stage tables {height (0 = RSU-4F), in, mid, out}: six encoder stages, five decoder stages
-- (stage5d first).
local function stages(o)
  local enc, dec
  if o.variant == "full" then
    local b = o.base
    enc = { { 7, o.in_channels, 2 * b, 4 * b }, { 6, 4 * b, 2 * b, 8 * b }, { 5, 8 * b, 4 * b, 16 * b },
            { 4, 16 * b, 8 * b, 32 * b }, { 0, 32 * b, 16 * b, 32 * b }, { 0, 32 * b, 16 * b, 32 * b } }
    dec = { { 0, 64 * b, 16 * b, 32 * b }, { 4, 64 * b, 8 * b, 16 * b }, { 5, 32 * b, 4 * b, 8 * b },
            { 6, 16 * b, 2 * b, 4 * b }, { 7, 8 * b, b, 4 * b } }
  else
    local m, c = o.mid_channels, o.out_channels
    enc = { { 7, o.in_channels, m, c }, { 6, c, m, c }, { 5, c, m, c }, { 4, c, m, c }, { 0, c, m, c }, { 0, c, m, c } }
    dec = { { 0, 2 * c, m, c }, { 4, 2 * c, m, c }, { 5, 2 * c, m, c }, { 6, 2 * c, m, c }, { 7, 2 * c, m, c } }
  end
  return enc, dec
end

local U2Net = nn.Module:extend("U2Net")

local known = { "variant", "in_channels", "num_classes", "side_outputs", "base", "mid_channels", "out_channels" }

local function configure(opts)
  local fn = "U2Net"
  opts = E.options(opts, fn, known)
  local o = {
    variant = opts.variant or "full", in_channels = opts.in_channels or 3, num_classes = opts.num_classes or 1,
    side_outputs = opts.side_outputs, base = opts.base or 16, mid_channels = opts.mid_channels or 16,
    out_channels = opts.out_channels or 64,
  }
  E.choice(fn, "variant", o.variant, { "full", "small" })
  for _, k in ipairs { "in_channels", "num_classes", "base", "mid_channels", "out_channels" } do
    o[k] = common.int(fn, k, o[k], 1)
  end
  if o.variant == "full" and (opts.mid_channels ~= nil or opts.out_channels ~= nil) then
    E.fail(fn, "mid_channels and out_channels are options of variant \"small\"; the full variant's widths "
      .. "are multiples of base (got variant \"full\")")
  end
  if o.variant == "small" and opts.base ~= nil then
    E.fail(fn, "base is an option of variant \"full\"; the small variant takes mid_channels and out_channels")
  end
  -- keep only the widths of the variant (self.config rebuilds the model: predict.load_model)
  if o.variant == "full" then o.mid_channels, o.out_channels = nil, nil else o.base = nil end
  if o.side_outputs == nil then o.side_outputs = true end
  if type(o.side_outputs) ~= "boolean" then
    E.fail(fn, "side_outputs must be a boolean, got %s", E.show(o.side_outputs))
  end
  return o
end

-- Parameters of the configuration o, in floating point.
local function count(o)
  local function rebn(cin, cout) return cin * cout * 9 + cout + 2 * cout end
  local function rsu_count(h, cin, mid, cout)
    if h == 0 then
      return rebn(cin, cout) + rebn(cout, mid) + 3 * rebn(mid, mid) + 2 * rebn(2 * mid, mid) + rebn(2 * mid, cout)
    end
    return rebn(cin, cout) + rebn(cout, mid) + (h - 1) * rebn(mid, mid) + (h - 2) * rebn(2 * mid, mid)
        + rebn(2 * mid, cout)
  end
  local enc, dec = stages(o)
  local n = 0
  for _, s in ipairs(enc) do n = n + rsu_count(s[1], s[2], s[3], s[4]) end
  for _, s in ipairs(dec) do n = n + rsu_count(s[1], s[2], s[3], s[4]) end
  local C = o.num_classes
  local side_in = { dec[5][4], dec[4][4], dec[3][4], dec[2][4], dec[1][4], enc[6][4] }
  for _, c in ipairs(side_in) do n = n + c * C * 9 + C end
  return n + 6 * C * C + C
end

--- U2Net.count_parameters(opts) -> the number of parameters U2Net(opts) would have.
function U2Net.count_parameters(opts)
  local n = count(configure(opts))
  return math.tointeger(n) or n
end

-- fit's default loss weights over the seven outputs (the paper's recipe: the same BCE on each, summed).
U2Net.deep_supervision_weights = { 1, 1, 1, 1, 1, 1, 1 }

function U2Net:__init(opts)
  local o = configure(opts)
  common.check_parameters("U2Net", count(o), format("variant %s with these widths", o.variant))
  self.config = o
  local enc, dec = stages(o)
  for i, s in ipairs(enc) do
    self["stage" .. i] = rsu(s[1], s[2], s[3], s[4])
    if i < 6 then self[format("pool%d%d", i, i + 1)] = nn.MaxPool2d(2, { stride = 2, ceil_mode = true }) end
  end
  for i, s in ipairs(dec) do self["stage" .. (6 - i) .. "d"] = rsu(s[1], s[2], s[3], s[4]) end
  local C = o.num_classes
  local side_in = { dec[5][4], dec[4][4], dec[3][4], dec[2][4], dec[1][4], enc[6][4] }
  for i, c in ipairs(side_in) do self["side" .. i] = nn.Conv2d(c, C, 3, { padding = 1 }) end
  self.outconv = nn.Conv2d(6 * C, C, 1)
end

--- model:forward_all(x) -> {d0, d1, ..., d6, main = d0} in any mode (logits, input size).
function U2Net:forward_all(x)
  local o = self.config
  shared.check_input("U2Net", x, o.in_channels)
  if self.training then common.check_bn_input("U2Net", x, 32, "stage6") end
  local enc = {}
  local hx = x
  for i = 1, 6 do
    hx = self["stage" .. i](hx)
    enc[i] = hx
    if i < 6 then hx = self[format("pool%d%d", i, i + 1)](hx) end
  end
  local dec = { [6] = enc[6] }
  local hd = enc[6]
  for s = 5, 1, -1 do
    hd = self["stage" .. s .. "d"](cat({ up_like(hd, enc[s]), enc[s] }, 2))
    dec[s] = hd
  end
  local d1 = self.side1(dec[1])
  local ds = { d1 }
  for s = 2, 6 do ds[s] = up_like(self["side" .. s](dec[s]), d1) end
  local d0 = self.outconv(cat(ds, 2))
  return shared.outputs(self, { d0, ds[1], ds[2], ds[3], ds[4], ds[5], ds[6] }, 1, true)
end

function U2Net:forward(x)
  local outs = self:forward_all(x)
  if self.training and self.config.side_outputs then return outs end
  return outs.main
end

function U2Net:extra_repr()
  local o = self.config
  return format("variant=%s, in_channels=%d, num_classes=%d", o.variant, o.in_channels, o.num_classes)
end

return U2Net
