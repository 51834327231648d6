-- The small-plane convolution kernels (csrc/lt_conv.c plane_fwd / plane_dw: AVX-512, "same"
-- unit-stride convs read as one flat run of H*W pixels with the padding taps masked off):
-- forward, input gradient and weight gradient against the naive reference on random shapes
-- (odd sizes, 1x1 to 5x5 kernels, dilation, groups, batch 1 and more, 1 and 2 threads) with the
-- algorithm forced to "plane" and in AUTO, at every ISA level the CPU has (AVX-512, AVX2 forced,
-- generic: the plane kernels run only with AVX-512, the others fall back to the direct / GEMM
-- paths, checked the same way). Shapes the plane kernels do not take (stride 2, valid
-- padding) must fall back with the algorithm forced.
local lunet = require "lunet"
local core = require "lunet.core"
local nn = core.nn

local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local maxrel, levels = H.maxrel, H.conv_isa_levels

-- runs fn with the ISA level, conv algorithm and thread count set, restoring them after
local function with(level, algo, threads, fn)
  local pl = core.set_isa(level[1])
  local pi = level[2] and nn.conv_set_isa(level[2])
  local pa, pt = nn.conv_set_algo(algo), lunet.get_num_threads()
  lunet.set_num_threads(threads)
  local ok, err = pcall(fn)
  lunet.set_num_threads(pt)
  nn.conv_set_algo(pa)
  if level[2] then nn.conv_set_isa(pi) end
  core.set_isa(pl)
  if not ok then error(err, 0) end
end

-- compares forward (with and without bias) and the three gradients with the naive kernels
local function check(n, cin, h, w, cout, k, opts, what)
  local g = opts.groups or 1
  local x = lunet.randn(n, cin, h, w)
  local wt = lunet.randn(cout, cin // g, k, k)
  local b = lunet.randn(cout)
  local y, yr = nn.conv2d_forward(x, wt, b, opts), nn.conv2d_forward_naive(x, wt, b, opts)
  assert(maxrel(y, yr) < 1e-5, what .. ": forward differs by " .. maxrel(y, yr))
  local y0, y0r = nn.conv2d_forward(x, wt, nil, opts), nn.conv2d_forward_naive(x, wt, nil, opts)
  assert(maxrel(y0, y0r) < 1e-5, what .. ": forward without bias differs by " .. maxrel(y0, y0r))
  local gy = lunet.randn(table.unpack(y:shape()))
  local gx, gw, gb = nn.conv2d_backward(gy, x, wt, opts, true, true, true)
  local rx, rw, rb = nn.conv2d_backward_naive(gy, x, wt, opts, true, true, true)
  assert(maxrel(gx, rx) < 1e-5, what .. ": input gradient differs by " .. maxrel(gx, rx))
  assert(maxrel(gw, rw) < 1e-5, what .. ": weight gradient differs by " .. maxrel(gw, rw))
  assert(maxrel(gb, rb) < 1e-5, what .. ": bias gradient differs by " .. maxrel(gb, rb))
  -- each gradient alone (the kernels split the work differently when only one is wanted)
  local ox = nn.conv2d_backward(gy, x, wt, opts, true, false, false)
  assert(maxrel(ox, rx) < 1e-5, what .. ": input gradient alone differs by " .. maxrel(ox, rx))
  local _, ow = nn.conv2d_backward(gy, x, wt, opts, false, true, false)
  assert(maxrel(ow, rw) < 1e-5, what .. ": weight gradient alone differs by " .. maxrel(ow, rw))
end

describe("small-plane conv kernels", function()
  it("conv_set_algo accepts plane and returns the previous name", function()
    local prev = nn.conv_set_algo("plane")
    assert.are.equal("plane", nn.conv_set_algo("auto"))
    nn.conv_set_algo(prev)
  end)

  for _, level in ipairs(levels()) do
    for _, algo in ipairs { "plane", "auto" } do
      for _, threads in ipairs { 1, 2 } do
        it(string.format("%s, %s, %d thread(s): same convs on random shapes match the naive reference",
          level[1], algo, threads), function()
          with(level, algo, threads, function()
            math.randomseed(11 + threads)
            lunet.manual_seed(11 + threads)
            local R = math.random
            for case = 1, 14 do
              local k = ({ 1, 3, 3, 3, 5 })[R(1, 5)]
              local dil = ({ 1, 1, 2 })[R(1, 3)]
              local g = ({ 1, 1, 1, 2 })[R(1, 4)]
              local n, h, w = R(1, 3), R(1, 19), R(1, 19)
              local cin, cout = g * R(1, 10), g * R(1, 14)
              local pad = dil * (k - 1) // 2
              local opts = { padding = pad, dilation = dil, groups = g }
              check(n, cin, h, w, cout, k, opts, string.format(
                "case %d: x [%d, %d, %d, %d], w [%d, %d, %d, %d], padding %d, dilation %d, groups %d",
                case, n, cin, h, w, cout, cin // g, k, k, pad, dil, g))
            end
          end)
        end)
      end
    end

    it(level[1] .. ": the Fashion-MNIST U-Net's layer shapes (AUTO, 2 threads) match the naive reference", function()
      with(level, "auto", 2, function()
        lunet.manual_seed(5)
        for _, s in ipairs { { 1, 28, 16 }, { 16, 28, 16 }, { 32, 28, 16 }, { 16, 14, 32 }, { 32, 14, 32 },
                             { 64, 14, 32 }, { 32, 7, 64 }, { 64, 7, 64 }, { 64, 8, 64 } } do
          local cin, hw, cout = s[1], s[2], s[3]
          check(3, cin, hw, hw, cout, 3, { padding = 1 },
            string.format("x [3, %d, %d, %d], w [%d, %d, 3, 3]", cin, hw, hw, cout, cin))
        end
      end)
    end)

    it(level[1] .. ": tiny planes and taps far outside them (plane forced, 2 threads)", function()
      with(level, "plane", 2, function()
        lunet.manual_seed(13)
        check(2, 3, 1, 1, 5, 3, { padding = 1 }, "1x1 plane, 3x3 kernel")
        check(1, 4, 2, 2, 9, 5, { padding = 6, dilation = 3 }, "2x2 plane, 5x5 kernel dilation 3")
        check(3, 2, 1, 40, 8, 3, { padding = 1 }, "1x40 plane")
        check(2, 5, 33, 1, 17, 3, { padding = 1 }, "33x1 plane")
        check(1, 70, 4, 4, 3, 3, { padding = 1 }, "70 input channels, 3 output channels")
        check(5, 9, 16, 16, 24, 3, { padding = 1, groups = 3 }, "16x16, 3 groups")
      end)
    end)

    it(level[1] .. ": shapes the plane kernels do not take fall back with plane forced", function()
      with(level, "plane", 2, function()
        lunet.manual_seed(9)
        check(2, 5, 11, 9, 7, 3, { padding = 1, stride = 2 }, "stride 2")
        check(2, 5, 11, 9, 7, 3, { padding = 0 }, "no padding")
        check(2, 5, 11, 9, 7, 3, { padding = 2 }, "padding 2 with a 3x3 kernel")
        check(2, 5, 11, 9, 7, 5, { padding = { 2, 1 } }, "padding {2, 1} with a 5x5 kernel")
        check(1, 6, 10, 10, 4, 1, { padding = 0 }, "1x1")
      end)
    end)
  end

  it("the plane kernels pass gradcheck (3x3, padding 1, 2 groups)", function()
    local F = lunet.nn.functional
    local prev = nn.conv_set_algo("plane")
    lunet.manual_seed(3)
    local x = lunet.randn(2, 4, 5, 7)
    local w = lunet.randn(6, 2, 3, 3)
    local b = lunet.randn(6)
    for _, t in ipairs { x, w, b } do t:requires_grad(true) end
    local ok, msg = lunet.gradcheck(function(a, c, d) return F.conv2d(a, c, d, { padding = 1, groups = 2 }) end,
      { x, w, b }, { eps = 1e-3, atol = 2e-3, rtol = 1e-2 })
    nn.conv_set_algo(prev)
    assert(ok, msg)
  end)
end)
