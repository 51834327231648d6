-- conv2d with 1-3 output channels (U^2-Net's side outputs, segmentation heads): in AUTO mode
-- the ungrouped stride-1 ones run the direct kernel (csrc/lt_conv.c direct_fits), forward,
-- input gradient and weight gradient; checked against the naive reference on random shapes
-- (dilation, padding, odd widths, 1-3 output channels) at every ISA the CPU has.
local lunet = require "lunet"
local core = require "lunet.core"
local nn = core.nn

local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local maxrel, isas = H.maxrel, H.conv_isa_levels

describe("conv2d with few output channels", function()
  for _, level in ipairs(isas()) do
    it(level[1] .. ": forward and both gradients match the naive reference on random shapes", function()
      local prev_level = core.set_isa(level[1])
      local prev_isa = level[2] and nn.conv_set_isa(level[2])
      local ok, err = pcall(function()
        math.randomseed(7)
        lunet.manual_seed(7)
        local R = math.random
        for case = 1, 40 do
          local n, cin = R(1, 3), R(1, 20)
          local cout = R(1, 3)
          local k = ({ 1, 3, 3, 5 })[R(1, 4)]
          local dil = ({ 1, 1, 2, 4 })[R(1, 4)]
          local pad = R(0, dil * (k - 1) // 2 + 1)
          local h = R(dil * (k - 1) + 1, 20)
          local w = ({ 8, 16, 24, 13, 37, 5 })[R(1, 6)]
          if w < dil * (k - 1) + 1 - 2 * pad then w = dil * (k - 1) + 1 end
          local x = lunet.randn(n, cin, h, w)
          local wt = lunet.randn(cout, cin, k, k)
          local b = lunet.randn(cout)
          local opts = { padding = pad, dilation = dil }
          local what = string.format("case %d: x [%d, %d, %d, %d], w [%d, %d, %d, %d], padding %d, dilation %d",
            case, n, cin, h, w, cout, cin, k, k, pad, dil)
          local y = nn.conv2d_forward(x, wt, b, opts)
          local yr = nn.conv2d_forward_naive(x, wt, b, opts)
          assert(maxrel(y, yr) < 1e-5, what .. ": forward differs by " .. maxrel(y, yr))
          local gy = lunet.randn(table.unpack(y:shape()))
          local gx, gw, gb = nn.conv2d_backward(gy, x, wt, opts, true, true, true)
          local rx, rw, rb = nn.conv2d_backward_naive(gy, x, wt, opts, true, true, true)
          assert(maxrel(gx, rx) < 1e-5, what .. ": input gradient differs by " .. maxrel(gx, rx))
          assert(maxrel(gw, rw) < 1e-5, what .. ": weight gradient differs by " .. maxrel(gw, rw))
          assert(maxrel(gb, rb) < 1e-5, what .. ": bias gradient differs by " .. maxrel(gb, rb))
        end
      end)
      if level[2] then nn.conv_set_isa(prev_isa) end
      core.set_isa(prev_level)
      if not ok then error(err, 0) end
    end)
  end

  it("U^2-Net's side output conv (64 -> 1, 3x3) passes gradcheck", function()
    lunet.manual_seed(3)
    local F = lunet.nn.functional
    local x = lunet.randn(2, 5, 9, 16)
    local w = lunet.randn(1, 5, 3, 3)
    local b = lunet.randn(1)
    for _, t in ipairs { x, w, b } do t:requires_grad(true) end
    local ok, msg = lunet.gradcheck(function(a, c, d) return F.conv2d(a, c, d, { padding = 1 }) end, { x, w, b },
      { eps = 1e-3, atol = 2e-3, rtol = 1e-2 })
    assert(ok, msg)
  end)
end)
