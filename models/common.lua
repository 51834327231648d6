-- lunet.models.common: checks shared by the model zoo (not a model): the parameter budget a
-- configuration must fit before anything is allocated, and the smallest input that trains
-- with batch norm. Errors go through lunet.errors, so they point at the user's line.
--
--   local common = require "lunet.models.common"
--   common.check_parameters("UNet", n)      -- raises beyond common.MAX_PARAMETERS
--   common.check_bn_input("UNet", x, 16, "the bottleneck")  -- in training mode
local E = require "lunet.errors"
local nn = require "lunet.nn"

local format = string.format

local M = {}

-- Configurations above this many parameters (4 GB of float32 weights, 16 GB with Adam's
-- state) are refused: the published models have at most 66M, and a mistyped depth or width
-- would otherwise allocate until the system runs out of memory.
M.MAX_PARAMETERS = 1000000000

-- 1234567 -> "1,234,567" (n a non-negative number, exact below 2^53).
function M.count_str(n)
  if n >= 2 ^ 53 then return format("%.3g", n) end
  local s = format("%.0f", n):reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (s:gsub("^,", ""))
end

-- Raises "Name: this configuration has N parameters (X GB of float32 weights), more than
-- the limit of 1,000,000,000 (what)" when n is above MAX_PARAMETERS; what describes the
-- options that made it so.
function M.check_parameters(fn, n, what)
  if n > M.MAX_PARAMETERS then
    E.fail(fn, "%s gives %s parameters (%.1f GB of float32 weights), more than the limit of %s",
      what, M.count_str(n), n * 4 / 1e9, M.count_str(M.MAX_PARAMETERS))
  end
  return n
end

-- In training mode batch norm needs more than one value per channel. x is the input
-- (N, C, H, W); the deepest batch norm of the model sees ceil(H / factor) x ceil(W / factor)
-- positions per image (where names it). Raises, naming the smallest input that works, when
-- that is one value per channel.
function M.check_bn_input(fn, x, factor, where)
  local n, h, w = x:size(1), x:size(3), x:size(4)
  local hb, wb = (h + factor - 1) // factor, (w + factor - 1) // factor
  if n * hb * wb < 2 then
    E.fail(fn, "input %dx%d is too small to train with a batch of 1: batch norm at %s (1/%d of the "
      .. "input, here 1x1) needs more than one value per channel, so H or W must be at least %d (or use "
      .. "a batch of 2 or more, or model:eval())", h, w, where, factor, factor + 1)
  end
end

-- The largest value of an integer option without its own bound (channel counts, widths,
-- classes, repeats): far above any real model, and low enough that the parameter counts of
-- every configuration stay far from 2^63 (1e18 channels wrapped them to negative counts that
-- passed the budget check, then the allocation failed naming zeros).
M.MAX_INT = 1 << 20

-- An integer option in [lo, hi] (hi nil: at most MAX_INT).
function M.int(fn, key, v, lo, hi)
  v = E.integer(fn, key, v, lo, hi)
  if hi == nil and v > M.MAX_INT then
    E.fail(fn, "%s must be at most %d, got %s", key, M.MAX_INT, E.show(v))
  end
  return v
end

-- The options of the 3-D encoder-decoders (unet3d, vnet): in_channels, num_classes, base,
-- depth (2..max_depth), norm ("batch" | "group" | "instance" | "none") and groups (for
-- group norm); defaults: a table of the first four.
function M.volume_options(fn, opts, defaults, max_depth)
  opts = E.options(opts, fn, { "in_channels", "num_classes", "base", "depth", "norm", "groups" })
  local o = {
    in_channels = opts.in_channels or defaults.in_channels, num_classes = opts.num_classes or defaults.num_classes,
    base = opts.base or defaults.base, depth = opts.depth or defaults.depth, norm = opts.norm or "batch",
    groups = opts.groups or 8,
  }
  for _, k in ipairs { "in_channels", "num_classes", "base", "groups" } do
    o[k] = M.int(fn, k, o[k], 1)
  end
  o.depth = M.int(fn, "depth", o.depth, 2, max_depth)
  E.choice(fn, "norm", o.norm, { "batch", "group", "instance", "none" })
  return o
end

-- The normalisation layer of c channels for volume_options' norm (nil for "none"); group norm
-- uses min(groups, c) groups, which must divide c.
function M.volume_norm(fn, o, c)
  local nn = require "lunet.nn"
  if o.norm == "batch" then return nn.BatchNorm3d(c) end
  if o.norm == "group" then
    local g = math.min(o.groups, c)
    if c % g ~= 0 then
      E.fail(fn, "norm \"group\" with groups %d cannot split %d channels (min(groups, channels) "
        .. "must divide every normalised channel count)", o.groups, c)
    end
    return nn.GroupNorm(g, c)
  end
  if o.norm == "instance" then return nn.InstanceNorm3d(c, { affine = true }) end
  return nil
end

-- A dropout probability in [0, 1).
function M.dropout(fn, key, v)
  if type(v) ~= "number" or not (v >= 0 and v < 1) then
    E.fail(fn, "%s must be a number in [0, 1), got %s", key, E.show(v))
  end
  return v
end

-- A non-empty list of at most max_len integers in [lo, hi].
function M.int_list(fn, key, v, lo, hi, max_len, what)
  if type(v) ~= "table" or getmetatable(v) ~= nil or #v == 0 or #v > max_len then
    local got = (type(v) == "table" and getmetatable(v) == nil) and format("a list of %d", #v) or E.show(v)
    E.fail(fn, "%s must be a list of 1 to %d %s, got %s", key, max_len, what, got)
  end
  for i = 1, #v do E.integer(fn, format("%s[%d]", key, i), v[i], lo, hi) end
  return v
end

-- True when m's forward is its class's own: not replaced on the instance by lunet.summary,
-- Module:fuse or a user's tracing wrapper (which must see the call).
local function plain(m) return rawget(rawget(m, "_attrs"), "forward") == nil end

-- relu(bn(x)) for a BatchNorm2d module bn and a ReLU module relu, as one autograd node
-- (lunet.nn.functional.fused.bn_relu): the normalised tensor is not kept alive for backward,
-- and the backward of a big x first collects the garbage of the layers above (UNet++ at
-- 128x128, batch 4: peak RSS 850 MB instead of 1380 MB for 2-4% more time). Values,
-- gradients and running statistics are those of relu(bn(x)). Inputs bn would refuse, and
-- wrapped modules, take the plain path through both modules.
function M.bn_relu(bn, relu, x)
  if not bn.forward_relu or relu.__name ~= "ReLU" or not plain(bn) or not plain(relu) then
    return relu(bn(x))
  end
  return bn:forward_relu(x, true)   -- forward_relu takes the plain path on input bn refuses
end

-- A Sequential (same class name, children and state-dict names) whose batch norm + ReLU
-- pairs run as one autograd node and one kernel pass each way (BatchNorm2d/3d:forward_relu).
-- A child whose forward is wrapped on the instance is called as it is.
M.FusedSequential = nn.Sequential:extend("Sequential")
function M.FusedSequential:forward(x)
  local mods = rawget(self, "_modules")
  local i = 1
  while mods[i] ~= nil do
    local m, nxt = mods[i], mods[i + 1]
    if m.forward_relu and nxt ~= nil and nxt.__name == "ReLU" and plain(m) and plain(nxt) then
      x = m:forward_relu(x)
      i = i + 2
    else
      x = m(x)
      i = i + 1
    end
  end
  return x
end

return M
