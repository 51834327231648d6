-- lunet.nn.functional.fused: forward/backward pairs that record two ops as ONE autograd node,
-- so the intermediate tensor is released at once instead of staying alive until backward
-- (the volume models use them: at 64^3 each intermediate of a 32-channel layer is 64 MB).
-- Not part of F; the values and gradients are exactly those of the two ops in sequence.
--   fused.bn_relu(x, running_mean, running_var, weight, bias, opts) = relu(F.batch_norm(...))
--   fused.bn_relu2d(...): the same, for 2-D nets (no collection in the backward)
--   fused.conv_transpose3d_cat(x, w, b, skip, opts) = cat({F.conv_transpose3d(x, w, b, opts), skip}, 2)
local core = require "lunet.core"
local ag = require "lunet.autograd"

local nn, raw = core.nn, core.methods
local collectgarbage = collectgarbage
local M = {}

-- Tensors of at least this many elements (4 MB) make the backward passes release memory.
local BIG = 1 << 20

-- The blocks cached since the previous release back to the system, then a full collection
-- whose freed blocks stay in the context's block cache until the next release: the
-- gradients of this node and of the convolution behind it (the same sizes as the
-- activations just freed) reuse them instead of faulting in fresh zeroed pages, while the
-- cache never holds more than one interval's garbage (64^3 U-Net step: 6% less CPU time
-- than emptying after the collection, peak RSS 1429 MB instead of 1365 MB, PyTorch 1579).
local function release()
  core.empty_cache()
  collectgarbage()
end

-- relu(batch_norm(x, ...)) as one node; release: collect before the backward of a big x
-- (the volume models' memory bound; see release above).
local function bn_relu(x, running_mean, running_var, weight, bias, opts, release_big)
  local r, mean, invstd = nn.batch_norm_relu_forward(x, running_mean, running_var, weight, bias, opts)
  if ag.needs_grad(x, weight, bias) then
    local training = opts ~= nil and opts.training or false
    -- inputs x [, weight] [, bias]; the backward returns gx, gweight, gbias in that order
    local inputs, has_w = { x }, weight ~= nil
    if has_w then inputs[2] = weight end
    if bias ~= nil then inputs[#inputs + 1] = bias end
    ag.record(r, inputs, function(g)
      -- The tape has released the activations of the layers behind this one, but Lua's
      -- collector lets such garbage grow to about the live size before a full cycle: with
      -- volumes (tens of MB per tensor) that doubles the peak memory of a backward pass.
      -- Collect them before allocating this layer's gradients (which reuse their blocks);
      -- the cycle costs a traversal of the Lua objects, not of tensor bytes.
      if release_big and raw.numel(x) >= BIG then release() end
      local gx, gw, gb = nn.batch_norm_relu_backward(g, r, x, mean, invstd, weight, bias, training)
      if has_w then return gx, gw, gb end
      return gx, gb
    end, "bn_relu")
  end
  return r
end

--- fused.bn_relu(x, running_mean, running_var, weight, bias, opts): relu(batch_norm(x, ...))
-- with F.batch_norm's arguments and options, saving only x, the output and the statistics.
-- One kernel pass each way (core.nn.batch_norm_relu_forward / _backward): the normalised
-- tensor and the relu's gradient are never made. The backward of an x of 2^20 elements or
-- more first returns the garbage of the layers above to the system (the volume models).
function M.bn_relu(x, running_mean, running_var, weight, bias, opts)
  return bn_relu(x, running_mean, running_var, weight, bias, opts, true)
end

--- fused.bn_relu2d(x, running_mean, running_var, weight, bias, opts): fused.bn_relu without
-- the collection before the backward (the 2-D nets: their tensors are small enough for
-- the block cache to recycle; BatchNorm2d:forward_relu).
function M.bn_relu2d(x, running_mean, running_var, weight, bias, opts)
  return bn_relu(x, running_mean, running_var, weight, bias, opts, false)
end

--- fused.conv_transpose3d_cat(x, w, b, skip, opts): cat({conv_transpose3d(x, w, b, opts), skip}, 2)
-- (the up-convolution and skip concatenation of a 3-D U-Net), saving x, w, b and skip only.
function M.conv_transpose3d_cat(x, w, b, skip, opts)
  local u = nn.conv_transpose3d_forward(x, w, b, opts)
  local out = core.cat({ u, skip }, 2)
  local cu = raw.size(u, 2)
  raw.free(u)
  if ag.needs_grad(x, w, skip, b) then
    local inputs = { x, w, skip }
    if b ~= nil then inputs[4] = b end
    ag.record(out, inputs, function(g)
      -- the layers above this up-convolution are done: return their activations first
      if raw.numel(g) >= BIG then release() end
      local gu = raw.contiguous(raw.narrow(g, 2, 1, cu))
      local gs = raw.contiguous(raw.narrow(g, 2, cu + 1, raw.size(skip, 2)))
      local gx, gw, gb = nn.conv_transpose3d_backward(gu, x, w, opts, ag.tracked(x), ag.tracked(w),
        b ~= nil and ag.tracked(b))
      return gx, gw, gs, gb
    end, "conv_transpose3d_cat")
  end
  return out
end

return M
