-- lunet.nn.functional conv part: conv2d and conv_transpose2d with PyTorch 1.13 semantics
-- and weight layouts, recorded on the autograd tape. Kernels: csrc/lt_conv.c.
--   F.conv2d(x, w, b, {stride=1, padding=0, dilation=1, groups=1})
--   F.conv_transpose2d(x, w, b, {stride=1, padding=0, output_padding=0, dilation=1, groups=1})
--   F.conv3d(x, w, b, {stride=1, padding=0, dilation=1, groups=1})
--   F.conv_transpose3d(x, w, b, {stride=1, padding=0, output_padding=0, dilation=1, groups=1})
-- x is (N, C, H, W) or unbatched (C, H, W); b may be nil; each option is a number or an
-- {h, w} pair. The bias may be left out entirely: F.conv2d(x, w, {padding=1}).
-- The 3-D ops take (N, C, D, H, W) or unbatched (C, D, H, W), weights (Cout, Cin/groups, kd,
-- kh, kw) (transposed: (Cin, Cout/groups, kd, kh, kw)) and {d, h, w} triples (csrc/lt_conv3d.c).
local core = require "lunet.core"
local ag = require "lunet.autograd"

local type = type
local nn = core.nn
local needs_grad, record = ag.needs_grad, ag.record

local M = {}

-- A plain table in the bias position is the options table (tensors are userdata).
local function split_args(b, opts)
  if type(b) == "table" and opts == nil then return nil, b end
  return b, opts
end

local function make(forward, backward)
  return function(x, w, b, opts)
    b, opts = split_args(b, opts)
    local y = forward(x, w, b, opts)
    local gx, gw, gb = needs_grad(x), needs_grad(w), b ~= nil and needs_grad(b)
    if gx or gw or gb then
      record(y, { x, w, b }, function(gout)
        return backward(gout, x, w, opts, gx, gw, gb)
      end)
    end
    return y
  end
end

M.conv2d = make(nn.conv2d_forward, nn.conv2d_backward)
M.conv_transpose2d = make(nn.conv_transpose2d_forward, nn.conv_transpose2d_backward)
M.conv3d = make(nn.conv3d_forward, nn.conv3d_backward)
M.conv_transpose3d = make(nn.conv_transpose3d_forward, nn.conv_transpose3d_backward)

return M
