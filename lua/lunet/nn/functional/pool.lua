-- lunet.nn.functional.pool: pooling, unpooling, resampling and padding (autograd-aware),
-- with PyTorch 1.13's semantics on float32 (N, C, H, W) or (C, H, W) tensors.
--
--   local y, idx = F.max_pool2d(x, {kernel = 2, return_indices = true})
--   local up = F.max_unpool2d(y, idx, {kernel = 2, output_size = x:shape()})
--   local z = F.interpolate(x, {scale_factor = 2, mode = "bilinear", align_corners = false})
--   local p = F.pad(x, {1, 1, 2, 2}, {mode = "reflect"})       -- left, right, top, bottom
--
-- Indices (max_pool2d / adaptive_max_pool2d with return_indices, max_unpool2d) are int32
-- 1-BASED positions inside one H*W input plane: element (h, w) (1-based) of a plane of
-- width W has index (h - 1) * W + w, i.e. PyTorch's flat index plus one.
-- Options (defaults as PyTorch):
--   max_pool2d(x, {kernel, stride = kernel, padding = 0, dilation = 1, ceil_mode = false,
--                  return_indices = false})                      -> y [, indices]
--   avg_pool2d(x, {kernel, stride = kernel, padding = 0, ceil_mode = false,
--                  count_include_pad = true, divisor_override = nil})
--   max_unpool2d(x, indices, {kernel, stride = kernel, padding = 0, output_size = nil})
--     output_size is {h, w} or a full {n, c, h, w}; default (in - 1) * stride - 2 * pad + kernel
--   adaptive_avg_pool2d(x, size), adaptive_max_pool2d(x, size, {return_indices = false})
--     size is a number or {h, w}
--   interpolate(x, {size = | scale_factor = , mode = "nearest" | "bilinear",
--                   align_corners = false (bilinear only), recompute_scale_factor = false})
--     x must be 4-D. With scale_factor the output is floor(in * scale_factor) and, unless
--     recompute_scale_factor, the kernel steps by 1 / scale_factor, as PyTorch does.
--     "nearest" is PyTorch's legacy nearest: src = floor(dst * step).
--   pad(x, {left, right [, top, bottom]}, {mode = "constant" | "reflect" | "replicate" |
--           "circular", value = 0 (constant only)})
--     pads the last two dims of a tensor with >= 2 dims; negative sizes crop (constant).
-- Kernel sizes, strides, paddings and dilations are a number or a pair {h, w}.
--
-- Volumes (N, C, D, H, W) or unbatched (C, D, H, W), sizes a number or a triple {d, h, w};
-- indices are int32 1-based positions inside one D*H*W input volume (csrc/lt_pool3d.c):
--   max_pool3d(x, {kernel, stride = kernel, padding = 0, dilation = 1, ceil_mode = false,
--                  return_indices = false})                      -> y [, indices]
--   avg_pool3d(x, {kernel, stride = kernel, padding = 0, ceil_mode = false,
--                  count_include_pad = true, divisor_override = nil})
--   max_unpool3d(x, indices, {kernel, stride = kernel, padding = 0, output_size = nil})
--   adaptive_avg_pool3d(x, size)
--   interpolate(x, {...}) with 5-D x: mode = "nearest" | "trilinear" (align_corners for
--     trilinear), size / scale_factor a number or {d, h, w}.
local core = require "lunet.core"
local ag = require "lunet.autograd"
local E = require "lunet.errors"
local type, pairs = type, pairs

local nn = core.nn
local M = {}

local function copy_opts(opts)
  if type(opts) ~= "table" then return opts end
  local c = {}
  for k, v in pairs(opts) do c[k] = v end
  return c
end

local function flag(opts, key)
  return type(opts) == "table" and opts[key] == true
end

-- The pooling functions of both ranks (name: "max_pool2d", "max_pool3d", ...) record the
-- backward kernel core.nn[name .. "_backward"].
local function max_pool_with(name)
  local fwd, bwd = nn[name], nn[name .. "_backward"]
  return function(x, opts)
    local grad = ag.needs_grad(x)
    local want = flag(opts, "return_indices")
    local y, idx = fwd(x, opts, grad or want)
    if grad then
      ag.record(y, { x }, function(gy) return bwd(gy, idx, x) end, name)
    end
    if want then return y, idx end
    return y
  end
end

local function avg_pool_with(name)
  local fwd, bwd = nn[name], nn[name .. "_backward"]
  return function(x, opts)
    local y = fwd(x, opts)
    if ag.needs_grad(x) then
      local o = copy_opts(opts)
      ag.record(y, { x }, function(gy) return bwd(gy, x, o) end, name)
    end
    return y
  end
end

local function max_unpool_with(name)
  local fwd, bwd = nn[name], nn[name .. "_backward"]
  return function(x, indices, opts)
    local y = fwd(x, indices, opts)
    if ag.needs_grad(x) then
      ag.record(y, { x }, function(gy) return bwd(gy, indices, x) end, name)
    end
    return y
  end
end

local function adaptive_avg_pool_with(name)
  local fwd, bwd = nn[name], nn[name .. "_backward"]
  return function(x, size)
    local y = fwd(x, size)
    if ag.needs_grad(x) then
      ag.record(y, { x }, function(gy) return bwd(gy, x) end, name)
    end
    return y
  end
end

M.max_pool2d = max_pool_with("max_pool2d")
M.avg_pool2d = avg_pool_with("avg_pool2d")
M.max_unpool2d = max_unpool_with("max_unpool2d")
M.adaptive_avg_pool2d = adaptive_avg_pool_with("adaptive_avg_pool2d")
M.max_pool3d = max_pool_with("max_pool3d")
M.avg_pool3d = avg_pool_with("avg_pool3d")
M.max_unpool3d = max_unpool_with("max_unpool3d")
M.adaptive_avg_pool3d = adaptive_avg_pool_with("adaptive_avg_pool3d")

local ADAPTIVE_MAX_OPTS = { "return_indices" }

function M.adaptive_max_pool2d(x, size, opts)
  opts = E.options(opts, "adaptive_max_pool2d", ADAPTIVE_MAX_OPTS)
  if opts.return_indices ~= nil and type(opts.return_indices) ~= "boolean" then
    E.fail("adaptive_max_pool2d", "return_indices must be a boolean, got %s", E.show(opts.return_indices))
  end
  local grad = ag.needs_grad(x)
  local want = flag(opts, "return_indices")
  local y, idx = nn.adaptive_max_pool2d(x, size, grad or want)
  if grad then
    ag.record(y, { x }, function(gy)
      return nn.max_pool2d_backward(gy, idx, x)
    end, "adaptive_max_pool2d")
  end
  if want then return y, idx end
  return y
end

function M.interpolate(x, opts)
  local vol = core.is_tensor(x) and x:dim() == 5
  local y = (vol and nn.interpolate3d or nn.interpolate)(x, opts)
  if ag.needs_grad(x) then
    local o = copy_opts(opts)
    local back = vol and nn.interpolate3d_backward or nn.interpolate_backward
    ag.record(y, { x }, function(gy)
      return back(gy, x, o)
    end, "interpolate")
  end
  return y
end

function M.pad(x, pads, opts)
  local y = nn.pad(x, pads, opts)
  if ag.needs_grad(x) then
    local p, o = copy_opts(pads), copy_opts(opts)
    ag.record(y, { x }, function(gy)
      return nn.pad_backward(gy, x, p, o)
    end, "pad")
  end
  return y
end

return M
