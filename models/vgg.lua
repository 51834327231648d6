-- VGG16 (Simonyan & Zisserman 2015) convolution stack, shared by SegNet (VGG16-BN encoder)
-- and the FCNs (VGG16 with fc6/fc7 as convolutions). Not a model of its own: it registers the
-- 13 3x3 convolutions (and batch norms) on the model that owns them, under that model's
-- reference names, so each model's state dict reads as its reference code's.
--
--   local vgg = require "lunet.models.vgg"
--   self.stages = vgg.build(self, {in_channels = 3, base = 64, batch_norm = true,
--     conv_name = function(s, j) return "conv" .. s .. j end,     -- SegNet: conv11, bn11, ...
--     bn_name = function(s, j) return "bn" .. s .. j end})
--   for s = 1, 5 do x = vgg.run_stage(self.stages[s], x) ... end   -- conv (+BN) + ReLU each
--   vgg.count(3, 64, true)   -- 14,723,136 parameters (VGG16-BN convolutions)
--
-- Stages: 2, 2, 3, 3, 3 convolutions of base, 2 base, 4 base, 8 base, 8 base channels
-- (base = 64 as published), each 3x3 with padding 1 (first_padding for the very first one:
-- FCN pads it by 100) and bias, followed by BatchNorm2d when batch_norm. Pooling is the
-- caller's (SegNet keeps indices, FCN uses ceil mode).
local nn = require "lunet.nn"

local F = nn.functional
local ipairs = ipairs

local M = {}

M.DEPTHS = { 2, 2, 3, 3, 3 }

-- Channel widths of VGG16's five stages for a first-stage width base (64 in the paper).
function M.widths(base) return { base, 2 * base, 4 * base, 8 * base, 8 * base } end

-- Registers the convolutions on owner (in stage order, conv before its BN); returns the list
-- of stages, each a list of {conv = , bn = } (plain tables: the modules are owner's fields).
function M.build(owner, o)
  local w, c = M.widths(o.base), o.in_channels
  local stages = {}
  for s = 1, 5 do
    local stage = {}
    for j = 1, M.DEPTHS[s] do
      local pad = (s == 1 and j == 1 and o.first_padding) or 1
      local conv = nn.Conv2d(c, w[s], 3, { padding = pad })
      owner[o.conv_name(s, j)] = conv
      local bn
      if o.batch_norm then
        bn = nn.BatchNorm2d(w[s])
        owner[o.bn_name(s, j)] = bn
      end
      stage[j] = { conv = conv, bn = bn }
      c = w[s]
    end
    stages[s] = stage
  end
  return stages
end

-- conv (+ BN) + ReLU for every layer of a stage.
function M.run_stage(stage, x)
  for _, l in ipairs(stage) do
    x = l.conv(x)
    if l.bn then x = l.bn(x) end
    x = F.relu(x)
  end
  return x
end

-- Parameters of the 13 convolutions (+ batch norms), in floating point.
function M.count(cin, base, batch_norm)
  local w, c, n = M.widths(base), cin, 0
  for s = 1, 5 do
    for _ = 1, M.DEPTHS[s] do
      n = n + c * w[s] * 9 + w[s] + (batch_norm and 2 * w[s] or 0)
      c = w[s]
    end
  end
  return n
end

return M
