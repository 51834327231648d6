-- Winograd F(4x4,3x3) on narrow images (outputs of 4 to 28 pixels: 1 to 7 tiles per tile
-- row), where the AVX-512 transforms put consecutive tile rows of a block (of one or several
-- images, cut anywhere by the block's ends) into one vector: every width, paddings 0 to 3 and
-- a padding of 13 (left edges shifted past half a vector; the input gradient's 2 - p is
-- negative), blocks that end mid-row; each against the
-- naive direct-loop kernels at every ISA level the CPU has, on one and two threads. The
-- relative error bound of the benchmark shapes (1e-4) holds on the Fashion-MNIST U-Net's
-- 28x28, 14x14 and 7x7 layers. AUTO's choices on AVX-512 CPUs: Winograd from 7x7 up (16-channel
-- sides included), the plane kernel for the input gradient of small planes with few channels.
local lunet = require "lunet"
local core = require "lunet.core"
local nn = core.nn

local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local with = H.with_conv
local LEVELS = H.isa_levels()

local check = H.check_conv_vs_naive

describe("Winograd on narrow images", function()
  for _, level in ipairs(LEVELS) do
    for _, threads in ipairs({ 1, 2 }) do
      it(string.format("matches the naive kernels at every width 4 .. 28 at %s, %d thread(s)",
        level, threads), function()
        math.randomseed(60 + #level + threads)
        lunet.manual_seed(61 + threads)
        local rng = math.random
        for ow = 4, 28 do
          local p = math.min(ow % 4, (ow + 1) // 2)   -- output width w + 2p - 2 = ow
          check({ n = rng(1, 3), cin = rng(1, 9), cout = rng(1, 9), h = rng(2, 30),
            w = ow + 2 - 2 * p, padding = p, bias = rng(0, 1) == 1 }, "winograd", level, threads)
        end
        -- padding 13: rows and columns wholly in the padding, left edges 13 lanes in
        check({ n = 2, cin = 3, cout = 5, h = 3, w = 2, padding = 13, bias = true },
          "winograd", level, threads)
      end)
    end
  end

  it("blocks of tiles that end inside a tile row (28x28, 12x12; 7 and 3 tiles per row)", function()
    lunet.manual_seed(62)
    -- 32 + 32 channels: blocks of 80 tiles or fewer (L2-sized; two threads halve them),
    -- neither a multiple of 7 nor of 3
    for _, threads in ipairs({ 1, 2 }) do
      check({ n = 8, cin = 32, cout = 32, h = 28, w = 28, padding = 1, bias = true },
        "winograd", nil, threads)
      check({ n = 16, cin = 32, cout = 32, h = 12, w = 12, padding = 1, bias = false },
        "winograd", nil, threads)
    end
  end)

  it("stays within 1e-4 of the naive kernels on the Fashion-MNIST U-Net's layers", function()
    lunet.manual_seed(63)
    -- (cin, size, cout) at batch 64 as in bench/small_layers.lua
    for _, L in ipairs({ { 16, 28, 16 }, { 32, 28, 16 }, { 16, 14, 32 }, { 64, 14, 32 },
                         { 32, 7, 64 }, { 64, 7, 64 } }) do
      check({ n = 64, cin = L[1], cout = L[3], h = L[2], w = L[2], padding = 1, bias = true },
        "winograd", nil, 2)
    end
  end)

  -- the results of AUTO and of a forced algorithm are the same bits when AUTO picked it
  local function same_as(algo, n, cin, size, cout, want)
    lunet.manual_seed(64)
    local x, w, b = lunet.randn(n, cin, size, size), lunet.randn(cout, cin, 3, 3), lunet.randn(cout)
    local gy = lunet.randn(n, cout, size, size)
    local r = {}
    for _, a in ipairs({ "auto", algo }) do
      with(a, nil, 1, function()
        local y = nn.conv2d_forward(x, w, b, { padding = 1 })
        local dx = nn.conv2d_backward(gy, x, w, { padding = 1 }, true, false, false)
        local _, dw = nn.conv2d_backward(gy, x, w, { padding = 1 }, false, true, false)
        r[a] = { y:tolist(), dx:tolist(), dw:tolist() }
      end)
    end
    for k, what in ipairs({ "forward", "input gradient", "weight gradient" }) do
      if want[k] then
        assert.are.same(r[algo][k], r.auto[k], string.format("%s %d -> %d at %dx%d, batch %d: AUTO is not %s",
          what, cin, cout, size, size, n, algo))
      end
    end
  end

  it("AUTO runs Winograd at 7x7 and on 16-channel sides of 14x14 (AVX-512 CPUs)", function()
    if core.isa() ~= "avx512" then return end
    same_as("winograd", 4, 32, 7, 64, { true, true, true })
    same_as("winograd", 4, 16, 14, 32, { true, true, true })
    same_as("winograd", 4, 32, 6, 32, { true, false, true })   -- 6x6: forward, weight gradient
  end)

  it("AUTO keeps the plane kernel for small planes' input gradients with few channels", function()
    if core.isa() ~= "avx512" then return end
    same_as("plane", 8, 16, 5, 16, { false, true, false })
  end)
end)
