-- Winograd F(4x4, 3x3) on the wide images of the benchmark U-Net's kind, in several blocks of
-- tiles: the blocks are a multiple of 48 tiles (the AVX-512 GEMM's panel width; 80 rounded to
-- 96, 160 to 144), split evenly on two threads, with partial last blocks and tile rows cut by
-- the block ends; the AVX-512 wide-image transforms that transform each row as it is loaded and
-- store each column as it is finished (input, output and output-gradient transforms). Forward, input and
-- weight gradients against the naive direct-loop kernels (relative error <= 1e-4) at every ISA
-- level the CPU has, on one and two threads, with and without bias.
local lunet = require "lunet"

local BOUND = 1e-4

local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local LEVELS = H.isa_levels()

-- the same call twice must give the same bits (block boundaries do not depend on timing)
local function check(c, level, threads)
  H.check_conv_vs_naive(c, "winograd", level, threads, BOUND, true)
end

-- tile counts: 2 x 16 x 16 = 512 (blocks of 144 on one thread, 128 on two), 3 x 10 x 10 = 300
-- (blocks of 96: 80 rounded up), 1 x 32 x 32 = 1024 at 128x128 (the benchmark U-Net's first
-- layer's shape at batch 1), odd sizes whose tile rows end inside a vector of 16 tiles
local SHAPES = {
  { n = 2, cin = 16, cout = 16, h = 64, w = 64, padding = 1, bias = false },
  { n = 3, cin = 32, cout = 32, h = 40, w = 40, padding = 1, bias = true },
  { n = 1, cin = 16, cout = 16, h = 128, w = 128, padding = 1, bias = false },
  { n = 2, cin = 24, cout = 8, h = 37, w = 75, padding = 1, bias = true },
  { n = 1, cin = 8, cout = 20, h = 50, w = 131, padding = 0, bias = false },
}

describe("Winograd in blocks of a multiple of 48 tiles", function()
  for _, level in ipairs(LEVELS) do
    for _, threads in ipairs({ 1, 2 }) do
      it(string.format("matches the naive kernels on multi-block wide shapes at %s, %d thread(s)",
        level, threads), function()
        lunet.manual_seed(90 + threads)
        for _, c in ipairs(SHAPES) do check(c, level, threads) end
      end)
    end
  end
end)
