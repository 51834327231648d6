-- Winograd convolution on images wide enough (29 pixels and more: 8 tiles and more per tile
-- row) for the AVX-512 input transform that reads the input rows straight from the tensor
-- with masked loads (left and right edges, paddings 0 to 3, widths one past a vector of 16
-- tiles), and on the 36 transform planes whose strides are padded against L1 aliasing (block
-- sizes at and past the L2 block); each against the naive direct-loop kernels at every ISA
-- level the CPU has, on one and two threads. AUTO's choice of Winograd at 8x8.
local lunet = require "lunet"
local core = require "lunet.core"
local nn = core.nn

local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local with = H.with_conv
local LEVELS = H.isa_levels()

local check = H.check_conv_vs_naive

describe("Winograd on wide images", function()
  for _, level in ipairs(LEVELS) do
    for _, threads in ipairs({ 1, 2 }) do
      it(string.format("matches the naive kernels on 10 random wide shapes at %s, %d thread(s)",
        level, threads), function()
        math.randomseed(40 + #level + threads)
        lunet.manual_seed(41 + threads)
        local rng = math.random
        for k = 1, 10 do
          -- widths 29 .. 140: 8 to 35 tiles per row, one or more 16-tile vectors, partial
          -- last vectors; paddings 0 .. 3 (the input gradient's 2 - p: 2 .. -1)
          local c = {
            n = rng(1, 2), cin = rng(1, 20), cout = rng(1, 20), h = rng(3, 11),
            w = k == 1 and 69 or k == 2 and 66 or rng(29, 140), padding = (k - 1) % 4,
            bias = rng(0, 1) == 1,
          }
          check(c, "winograd", level, threads)
        end
      end)
    end
  end

  it("rows of 7 tiles (two channels per vector in the narrow-image path)", function()
    lunet.manual_seed(45)
    -- outputs 25 .. 28 pixels wide: 7 tiles per row; odd channel counts leave one channel
    -- alone in the last vector; paddings 0 .. 3 (the input gradient's 2 - p: 2 .. -1)
    for p = 0, 3 do
      for _, threads in ipairs({ 1, 2 }) do
        check({ n = 2, cin = 5, cout = 3, h = 13, w = 28 - 2 * p + (p % 2), padding = p,
          bias = p % 2 == 0 }, "winograd", nil, threads)
      end
    end
    check({ n = 8, cin = 3, cout = 4, h = 100, w = 27, padding = 1, bias = true }, "winograd", nil, 1)
  end)

  it("many blocks of tiles (planes of different strides, a partial last block)", function()
    lunet.manual_seed(43)
    -- 3 x 25 x 17 = 1275 tiles of 4x4 with 4 channels: several L2-sized blocks
    check({ n = 3, cin = 4, cout = 5, h = 99, w = 67, padding = 1, bias = true }, "winograd", nil, 1)
    check({ n = 3, cin = 4, cout = 5, h = 99, w = 67, padding = 1, bias = true }, "winograd", nil, 2)
    -- narrow rows (5 tiles, several channels per vector, stored as whole vectors into padded
    -- rows) over several blocks: 8 x 30 x 5 = 1200 tiles
    check({ n = 8, cin = 4, cout = 3, h = 120, w = 20, padding = 1, bias = false }, "winograd", nil, 1)
    check({ n = 8, cin = 4, cout = 3, h = 120, w = 20, padding = 1, bias = false }, "winograd", nil, 2)
  end)

  it("AUTO runs Winograd on 8x8 layers that widen the channels (AVX-512 CPUs)", function()
    if core.isa() ~= "avx512" then return end
    lunet.manual_seed(44)
    local x, w, b = lunet.randn(2, 32, 8, 8), lunet.randn(64, 32, 3, 3), lunet.randn(64)
    local gy = lunet.randn(2, 64, 8, 8)
    local r = {}
    for _, algo in ipairs({ "auto", "winograd" }) do
      with(algo, nil, 1, function()
        local y = nn.conv2d_forward(x, w, b, { padding = 1 })
        local dx, dw = nn.conv2d_backward(gy, x, w, { padding = 1 })
        r[algo] = { y:tolist(), dx:tolist(), dw:tolist() }
      end)
    end
    assert.are.same(r.winograd, r.auto)
  end)
end)
