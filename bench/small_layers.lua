-- Per-kernel timing of the small-map convolutions (the Fashion-MNIST U-Net's layers at 28x28,
-- 14x14 and 7x7, batch 64; the benchmark U-Net's 8x8 to 32x32 layers and the Tux Paint net's,
-- batch 8): forward, input
-- gradient (dx) and weight gradient (dw) timed separately through lunet.core.nn, with the
-- FLOP count and GFLOP/s of each. bench/small_layers_torch.py is the PyTorch twin (the same
-- lines, times from aten.convolution / convolution_backward with one output mask each).
-- usage: lua5.4 bench/small_layers.lua [THREADS] [REPS] [ALGO] [FILTER]
--   ALGO: auto (default), gemm, direct, batched, winograd, plane (core.nn.conv_set_algo)
--   FILTER: a Lua pattern on the layer names (default: all)
-- CLOCK=cpu times process CPU time (os.clock), else wall time; the best of REPS after a
-- warm-up call is kept. Prints "name kind ms gflops" lines.
local lunet = require "lunet"
local core = require "lunet.core"
local nn = core.nn

local threads, reps = tonumber(arg[1]) or 1, tonumber(arg[2]) or 10
local algo, filter = arg[3] or "auto", arg[4] or ""
local clock = os.getenv("CLOCK") == "cpu" and os.clock or nn.wallclock
lunet.set_num_threads(threads)
lunet.manual_seed(0)
nn.conv_set_algo(algo)
if os.getenv("CONV_ISA") then nn.conv_set_isa(os.getenv("CONV_ISA")) end

-- name, batch, cin, size, cout (3x3, padding 1, stride 1); dx of the first layer is unused
local LAYERS = {
  { "f28_1_16", 64, 1, 28, 16, false }, { "f28_16_16", 64, 16, 28, 16, true },
  { "f28_32_16", 64, 32, 28, 16, true },
  { "f14_16_32", 64, 16, 14, 32, true }, { "f14_32_32", 64, 32, 14, 32, true },
  { "f14_64_32", 64, 64, 14, 32, true },
  { "f7_32_64", 64, 32, 7, 64, true }, { "f7_64_64", 64, 64, 7, 64, true },
  { "u8_128_256", 8, 128, 8, 256, true }, { "u8_256_256", 8, 256, 8, 256, true },
  -- the Tux Paint demo net (batch 8, 64x64 in) and the benchmark U-Net's 32x32 and 16x16 layers
  { "t64_3_16", 8, 3, 64, 16, false },
  { "t64_16_16", 8, 16, 64, 16, true },
  { "t64_32_16", 8, 32, 64, 16, true },
  { "t32_16_32", 8, 16, 32, 32, true },
  { "t32_32_32", 8, 32, 32, 32, true },
  { "t32_64_32", 8, 64, 32, 32, true },
  { "t16_32_64", 8, 32, 16, 64, true },
  { "t16_64_64", 8, 64, 16, 64, true },
  { "t16_128_64", 8, 128, 16, 64, true },
  { "t8_64_128", 8, 64, 8, 128, true },
  { "t8_128_128", 8, 128, 8, 128, true },
  { "u32_32_64", 8, 32, 32, 64, true },
  { "u32_64_64", 8, 64, 32, 64, true },
  { "u32_128_64", 8, 128, 32, 64, true },
  { "u16_64_128", 8, 64, 16, 128, true },
  { "u16_128_128", 8, 128, 16, 128, true },
  { "u16_256_128", 8, 256, 16, 128, true },
}

local function best(fn)
  fn()
  local t = math.huge
  for _ = 1, reps do
    local t0 = clock(); fn(); t = math.min(t, clock() - t0)
  end
  return t * 1e3
end

local opts = { padding = 1 }
for _, L in ipairs(LAYERS) do
  local name, n, ci, s, co, needdx = table.unpack(L)
  if name:match(filter) then
    local x = lunet.randn { n, ci, s, s }
    local w = lunet.randn { co, ci, 3, 3 } * (1 / math.sqrt(ci * 9))
    local gy = lunet.randn { n, co, s, s }
    local flops = 2.0 * n * co * s * s * ci * 9
    local tf = best(function() return nn.conv2d_forward(x, w, nil, opts) end)
    local tx = needdx and best(function() return nn.conv2d_backward(gy, x, w, opts, true, false, false) end)
    local tw = best(function() return nn.conv2d_backward(gy, x, w, opts, false, true, false) end)
    local function line(kind, t)
      if t then print(string.format("%-12s %-3s %8.3f %7.1f", name, kind, t, flops / t * 1e-6)) end
    end
    line("fwd", tf); line("dx", tx); line("dw", tw)
    io.stdout:flush()
  end
end
