-- lunet.nn.functional norm part: batch_norm, group_norm, dropout, dropout2d.
-- Thin autograd wrappers over the raw kernels in core.nn (csrc/lua_norm.c); argument
-- checking and error messages live in C. PyTorch 1.13 semantics, 1-based dims.
local core = require "lunet.core"
local ag = require "lunet.autograd"

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
