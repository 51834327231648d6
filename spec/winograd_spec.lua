-- Winograd convolution (csrc/lt_winograd.c): F(4x4,3x3) and F(2x2,3x3) forward passes, input
-- and weight gradients against the naive direct-loop kernels (double accumulation), on random
-- shapes (odd sizes, partial tiles, batch 1, channel counts that are not multiples of 16,
-- with and without bias, padding 0 to 3: the input gradient's padding 2 - p is then negative),
-- at every ISA level the CPU has, on one and two
-- threads (the per-thread-block and the shared-block paths); the error bound of issue 13
-- point 8 (max relative error <= 1e-4) on every conv layer of the benchmark U-Net
-- (bench/kernels.lua's list); gradcheck with Winograd forced; the AUTO dispatch.
local lunet = require "lunet"
local core = require "lunet.core"
local F = require "lunet.nn.functional"
local nn = core.nn

-- the bound asserted on the benchmark shapes, and on the random ones
local BOUND = 1e-4

local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local rel_err, with = H.rel_err, H.with_conv
local LEVELS = H.isa_levels()

local check = H.check_conv_vs_naive

describe("Winograd convolution", function()
  it("conv_set_algo accepts winograd and winograd_f2 and returns the previous name", function()
    local prev = nn.conv_set_algo("winograd")
    assert.are.equal("winograd", nn.conv_set_algo("winograd_f2"))
    assert.are.equal("winograd_f2", nn.conv_set_algo(prev))
    assert.has_error(function() nn.conv_set_algo("winograd6") end)
  end)

  for _, level in ipairs(LEVELS) do
    for _, algo in ipairs({ "winograd", "winograd_f2" }) do
      it(algo .. " matches the naive kernels on 12 random shapes at ISA level " .. level, function()
        math.randomseed(level == "generic" and 3 or level == "avx2" and 4 or 5)
        lunet.manual_seed(21)
        local rng = math.random
        for k = 1, 12 do
          local c = {
            n = k <= 4 and 1 or rng(1, 3), cin = rng(1, 21), cout = rng(1, 19),
            h = rng(1, 19), w = rng(1, 23), padding = rng(0, 3), bias = rng(0, 1) == 1,
          }
          if c.h + 2 * c.padding >= 3 and c.w + 2 * c.padding >= 3 then
            check(c, algo, level, 1, BOUND)
          end
        end
      end)
    end
  end

  it("the fixed edge cases: 1x1 outputs, a single partial tile, sizes one past a tile", function()
    lunet.manual_seed(5)
    local cases = {
      { n = 1, cin = 1, cout = 1, h = 3, w = 3, padding = 0, bias = true },
      { n = 2, cin = 3, cout = 2, h = 1, w = 1, padding = 1, bias = false },
      { n = 1, cin = 5, cout = 7, h = 5, w = 5, padding = 1, bias = true },
      { n = 1, cin = 17, cout = 15, h = 9, w = 13, padding = 1, bias = true },
      { n = 3, cin = 2, cout = 33, h = 2, w = 40, padding = 2, bias = false },
      -- one 4x4 tile per row: 8 channels per vector in the narrow-image packing (forced
      -- "winograd" runs F(2x2) below 4 pixels), and 7 tiles per row
      { n = 2, cin = 20, cout = 18, h = 6, w = 4, padding = 1, bias = true },
      { n = 1, cin = 9, cout = 17, h = 6, w = 28, padding = 1, bias = true },
      { n = 2, cin = 19, cout = 3, h = 7, w = 4, padding = 0, bias = false },
    }
    for _, algo in ipairs({ "winograd", "winograd_f2" }) do
      for _, c in ipairs(cases) do check(c, algo, nil, 1, BOUND) end
    end
  end)

  it("two threads: blocks of tiles per thread, and blocks shared by the threads", function()
    lunet.manual_seed(6)
    -- 2 x 10 x 10 = 200 tiles: one block per thread; 9 tiles of 96 channels: shared block
    local cases = {
      { n = 2, cin = 32, cout = 24, h = 39, w = 37, padding = 1, bias = true },
      { n = 1, cin = 96, cout = 80, h = 11, w = 12, padding = 1, bias = true },
      { n = 1, cin = 40, cout = 72, h = 50, w = 21, padding = 0, bias = false },
    }
    for _, c in ipairs(cases) do
      check(c, "winograd", nil, 2, BOUND)
      check(c, "winograd_f2", nil, 2, BOUND)
    end
  end)

  it("stays within 1e-4 of the naive kernel on every benchmark U-Net conv layer", function()
    -- bench/kernels.lua's 3x3 layers (batch 1: every image is tiled and summed alike, so the
    -- error per image does not depend on the batch); the transposed convs and the 1x1 head
    -- never run Winograd
    local LAYERS = {
      { 3, 128, 16 }, { 16, 128, 16 }, { 16, 64, 32 }, { 32, 64, 32 }, { 32, 32, 64 },
      { 64, 32, 64 }, { 64, 16, 128 }, { 128, 16, 128 }, { 128, 8, 256 }, { 256, 8, 256 },
      { 256, 16, 128 }, { 128, 32, 64 }, { 64, 64, 32 }, { 32, 128, 16 },
    }
    lunet.manual_seed(7)
    local worst = 0
    for _, l in ipairs(LAYERS) do
      local c = { n = 1, cin = l[1], h = l[2], w = l[2], cout = l[3], padding = 1, bias = true }
      local ey, ex, ew = check(c, "winograd", nil, nil, BOUND)
      worst = math.max(worst, ey, ex, ew)
    end
    -- F(4x4,3x3) measured 3e-6 to 1.3e-5 here: below the bound, but 10-30x the direct
    -- kernels' 1e-7 to 7e-7
    assert(worst > 0 and worst <= BOUND)
  end)

  it("conv_transpose2d 3x3 stride 1 (its forward and backward run the same kernels)", function()
    lunet.manual_seed(8)
    local x, w, b = lunet.randn(2, 20, 13, 11), lunet.randn(20, 18, 3, 3), lunet.randn(18)
    local opts = { padding = 1 }
    local yref = nn.conv_transpose2d_forward_naive(x, w, b, opts)
    local gy = lunet.randn(yref:shape())
    local dxref = nn.conv_transpose2d_backward_naive(gy, x, w, opts)
    with("winograd", nil, nil, function()
      assert(rel_err(nn.conv_transpose2d_forward(x, w, b, opts), yref) <= BOUND)
      local dx = nn.conv_transpose2d_backward(gy, x, w, opts)
      assert(rel_err(dx, dxref) <= BOUND)
    end)
  end)

  it("gradcheck through F.conv2d with Winograd forced", function()
    lunet.manual_seed(9)
    for _, algo in ipairs({ "winograd", "winograd_f2" }) do
      with(algo, nil, nil, function()
        local x, w, b = lunet.randn(2, 3, 7, 6), lunet.randn(4, 3, 3, 3), lunet.randn(4)
        for _, t in ipairs({ x, w, b }) do t:requires_grad(true) end
        -- the conv is linear in each input (the others fixed), so central differences are
        -- exact for any step up to rounding; a step of 0.25 instead of 1e-3 keeps the float32
        -- rounding of the transformed tiles (up to ~1e-5 of the output's scale, 10-30x the
        -- direct kernel's) from dominating the numeric derivative
        assert(lunet.gradcheck(function(xx, ww, bb) return F.conv2d(xx, ww, bb, { padding = 1 }) end,
          { x, w, b }, { eps = 0.25 }))
      end)
    end
  end)

  it("AUTO runs Winograd on the U-Net's 3x3 layers from 16x16 up (AVX-512 CPUs)", function()
    if core.isa() ~= "avx512" then return end
    lunet.manual_seed(10)
    local x, w, b = lunet.randn(2, 32, 16, 16), lunet.randn(32, 32, 3, 3), lunet.randn(32)
    local gy = lunet.randn(2, 32, 16, 16)
    local y1, dx1, dw1, y2, dx2, dw2
    with("auto", nil, nil, function()
      y1 = nn.conv2d_forward(x, w, b, { padding = 1 })
      dx1, dw1 = nn.conv2d_backward(gy, x, w, { padding = 1 })
    end)
    with("winograd", nil, nil, function()
      y2 = nn.conv2d_forward(x, w, b, { padding = 1 })
      dx2, dw2 = nn.conv2d_backward(gy, x, w, { padding = 1 })
    end)
    assert.are.same(y2:tolist(), y1:tolist())
    assert.are.same(dx2:tolist(), dx1:tolist())
    assert.are.same(dw2:tolist(), dw1:tolist())
  end)
end)
