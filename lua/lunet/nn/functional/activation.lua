-- lunet.nn.functional activation part: relu, leaky_relu, sigmoid, tanh, softmax,
-- log_softmax and labels (logits -> class ids). Autograd wrappers over core.nn kernels
-- (csrc/lua_norm.c, csrc/lt_activation.c); dims are 1-based, negative from the end.
local core = require "lunet.core"
local ag = require "lunet.autograd"
local E = require "lunet.errors"

local nn = core.nn
local M = {}

-- An op whose backward needs its output y (relu, sigmoid, tanh).
local function by_output(fwd, bwd)
  return function(x)
    local y = fwd(x)
    if ag.needs_grad(x) then
      ag.record(y, { x }, function(g) return bwd(g, y) end)
    end
    return y
  end
end

--- max(x, 0); the gradient at 0 is 0, as PyTorch.
M.relu = by_output(nn.relu_forward, nn.relu_backward)
--- 1 / (1 + exp(-x))
M.sigmoid = by_output(nn.sigmoid_forward, nn.sigmoid_backward)
--- tanh(x)
M.tanh = by_output(nn.tanh_forward, nn.tanh_backward)

--- x where x > 0, slope * x elsewhere (slope defaults to 0.01, PyTorch's negative_slope).
function M.leaky_relu(x, slope)
  local y = nn.leaky_relu_forward(x, slope)
  if ag.needs_grad(x) then
    ag.record(y, { x }, function(g) return nn.leaky_relu_backward(g, x, slope) end)
  end
  return y
end

--- PReLU: max(0, x) + weight * min(0, x); weight has 1 element (shared) or one per channel
-- (dim 2 of x, or dim 1 of a 1-D x), as PyTorch's F.prelu.
function M.prelu(x, weight)
  if not core.is_tensor(x) then E.fail("prelu", "x must be a tensor, got %s", E.typename(x)) end
  if not core.is_tensor(weight) then
    E.fail("prelu", "weight must be a tensor, got %s", E.typename(weight))
  end
  local k = weight:numel()
  local w = weight
  if k ~= 1 then
    local c = x:dim() >= 2 and x:size(2) or x:size(1)
    if weight:dim() ~= 1 or k ~= c then
      E.fail("prelu", "weight has %d elements, expected 1 or the %d channels of x [%s]",
        k, c, table.concat(x:shape(), ", "))
    end
    if x:dim() >= 2 then
      local shape = { 1, c }
      for _ = 3, x:dim() do shape[#shape + 1] = 1 end
      w = weight:reshape(table.unpack(shape))
    end
  else
    w = weight:reshape(1)
  end
  return M.relu(x) - M.relu(-x) * w
end

local function softmax_with(fwd, bwd)
  return function(x, d)
    local y = fwd(x, d)
    if ag.needs_grad(x) then
      ag.record(y, { x }, function(g) return bwd(g, y, d) end)
    end
    return y
  end
end

--- softmax over dim d (required; 1-based, negative from the end), numerically stable.
M.softmax = softmax_with(nn.softmax_forward, nn.softmax_backward)
--- log(softmax(x, d)) computed as x - max - log(sum(exp(x - max))).
M.log_softmax = softmax_with(nn.log_softmax_forward, nn.log_softmax_backward)

--- Class ids from logits (N, C, ...): argmax over dim 2 as int32 values 0..C-1 (N, ...).
-- Not differentiable. Unlike logits:argmax(2), which gives 1-based positions.
function M.labels(logits)
  return nn.labels(logits)
end

return M
