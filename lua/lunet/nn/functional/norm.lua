-- lunet.nn.functional norm part: batch_norm, group_norm, instance_norm, dropout, dropout2d.
-- Thin autograd wrappers over the raw kernels in core.nn (csrc/lua_norm.c); argument
-- checking and error messages live in C. PyTorch 1.13 semantics, 1-based dims.
local core = require "lunet.core"
local ag = require "lunet.autograd"
local E = require "lunet.errors"

local nn = core.nn
local ipairs, unpack = ipairs, table.unpack
local M = {}

-- Records out's backward for the non-nil inputs among x, w, b; back(g) returns
-- gx, gw, gb (nil where there is no input).
local function record3(out, x, w, b, back)
  local inputs, slots = {}, {}
  if x ~= nil then inputs[#inputs + 1] = x; slots[#slots + 1] = 1 end
  if w ~= nil then inputs[#inputs + 1] = w; slots[#slots + 1] = 2 end
  if b ~= nil then inputs[#inputs + 1] = b; slots[#slots + 1] = 3 end
  if not ag.needs_grad(unpack(inputs, 1, #inputs)) then return end
  ag.record(out, inputs, function(g)
    local grads = { back(g) }
    local res = {}
    for i, s in ipairs(slots) do res[i] = grads[s] end
    return unpack(res, 1, #slots)
  end)
end

--- Batch normalisation over dim 2 of x (N, C, ...).
-- opts: training (false), momentum (0.1), eps (1e-5). In training the batch statistics
-- are used and running_mean / running_var (may be nil) are updated in place with the
-- unbiased batch variance, as PyTorch; in eval the running statistics are used.
function M.batch_norm(x, running_mean, running_var, weight, bias, opts)
  -- the kernel checks opts (keys, types, ranges) before anything is read here
  local y, mean, invstd = nn.batch_norm_forward(x, running_mean, running_var, weight, bias, opts)
  local training = opts ~= nil and opts.training or false
  record3(y, x, weight, bias, function(g)
    return nn.batch_norm_backward(g, x, mean, invstd, weight, bias, training)
  end)
  return y
end

--- Group normalisation: channels of x (N, C, ...) split into `groups` groups of C / groups
-- consecutive channels; statistics per sample and group. opts: eps (1e-5).
function M.group_norm(x, groups, weight, bias, opts)
  local y, mean, invstd = nn.group_norm_forward(x, groups, weight, bias, opts)
  record3(y, x, weight, bias, function(g)
    return nn.group_norm_backward(g, x, mean, invstd, groups, weight, bias)
  end)
  return y
end

local INSTANCE_OPTS = { "running_mean", "running_var", "weight", "bias", "use_input_stats",
                        "momentum", "eps" }

local function opt_tensor(fn, o, key)
  local v = o[key]
  if v ~= nil and not core.is_tensor(v) then
    E.fail(fn, "%s must be a tensor, got %s", key, E.typename(v))
  end
  return v
end

--- Instance normalisation of x (N, C, ...) (PyTorch's F.instance_norm, InstanceNorm1d/2d/3d):
-- each (sample, channel) normalised over its spatial elements.
-- opts: running_mean, running_var (C, updated in place with the batch average of the
-- per-instance mean and unbiased variance when given), weight, bias (C), use_input_stats
-- (true; false normalises with the running statistics), momentum (0.1), eps (1e-5).
function M.instance_norm(x, opts)
  local fn = "instance_norm"
  opts = E.options(opts, fn, INSTANCE_OPTS)
  if not core.is_tensor(x) then E.fail(fn, "x must be a tensor, got %s", E.typename(x)) end
  if x:dim() < 3 then
    E.fail(fn, "x must have at least 3 dims (N, C, spatial...), got [%s]", table.concat(x:shape(), ", "))
  end
  local rm, rv = opt_tensor(fn, opts, "running_mean"), opt_tensor(fn, opts, "running_var")
  local w, b = opt_tensor(fn, opts, "weight"), opt_tensor(fn, opts, "bias")
  local use = opts.use_input_stats
  if use == nil then use = true end
  if type(use) ~= "boolean" then E.fail(fn, "use_input_stats must be a boolean, got %s", E.show(use)) end
  local eps = E.number(fn, "eps", opts.eps == nil and 1e-5 or opts.eps, 0, math.huge)
  local momentum = E.number(fn, "momentum", opts.momentum == nil and 0.1 or opts.momentum, 0, 1)
  if (rm == nil) ~= (rv == nil) then
    E.fail(fn, "give both running_mean and running_var, or neither")
  end
  if not use then
    if rm == nil then E.fail(fn, "running_mean and running_var are required when use_input_stats is false") end
    return M.batch_norm(x, rm, rv, w, b, { training = false, eps = eps })
  end
  local n, c = x:size(1), x:size(2)
  local s = x:numel() // (n * c)
  if s <= 1 then
    E.fail(fn, "expected more than 1 spatial element when training, got x [%s]", table.concat(x:shape(), ", "))
  end
  local y = M.group_norm(x, c, w, b, { eps = eps })
  if rm ~= nil then
    ag.no_grad(function()
      -- per-instance mean and unbiased variance: batch statistics of x viewed as (1, N*C, S)
      local tm, tv = core.zeros(n * c), core.ones(n * c)
      nn.batch_norm_forward(x:detach():reshape(1, n * c, s), tm, tv, nil, nil,
        { training = true, momentum = 1, eps = eps })
      if rm:numel() ~= c or rv:numel() ~= c then
        E.fail(fn, "running_mean / running_var have %d / %d elements, expected %d (x [%s])",
          rm:numel(), rv:numel(), c, table.concat(x:shape(), ", "))
      end
      rm:copy_(rm * (1 - momentum) + tm:reshape(n, c):mean(1) * momentum)
      rv:copy_(rv * (1 - momentum) + tv:reshape(n, c):mean(1) * momentum)
    end)
  end
  return y
end

local function dropout_with(kernel)
  return function(x, opts)
    local y, mask = kernel(x, opts)
    if mask ~= nil and ag.needs_grad(x) then
      ag.record(y, { x }, function(g) return nn.dropout_backward(g, mask) end)
    end
    return y
  end
end

--- Dropout: zeroes each element with probability p and scales the rest by 1 / (1 - p).
-- opts: p (0.5), training (true), generator (default: lunet's global generator).
-- Returns x itself when not training or p = 0.
M.dropout = dropout_with(nn.dropout_forward)

--- Dropout2d: zeroes whole channels (N, C planes) of a 4-D (or 3-D N, C, L) x.
M.dropout2d = dropout_with(nn.dropout2d_forward)

return M
