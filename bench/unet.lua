-- The benchmark U-Net of bench/torch_unet.py in lunet: 128x128x3 input, base 16,
-- depth 5, conv-BN-ReLU blocks, transposed-conv up, BCE with logits, Adam, batch 8.
-- Prints one JSON line: train_step_ms (forward + backward + Adam), eval_fwd_ms, maxrss_mb.
-- usage: lua5.4 bench/unet.lua [--threads N] [--steps N] [--batch N] [--size N]
local lunet = require "lunet"
local nn = require "lunet.nn"
local UNet = require "lunet.models.unet"

local F = nn.functional
-- CLOCK=cpu in the environment: process CPU time (meaningful with --threads 1 on a shared
-- machine), else wall time
local now = os.getenv("CLOCK") == "cpu" and os.clock or lunet.now
-- CONV_ALGO=direct|gemm|batched|winograd|winograd_f2 forces the conv algorithm (default auto;
-- "direct" runs the direct kernels wherever they apply, never Winograd)
if os.getenv("CONV_ALGO") then require("lunet.core").nn.conv_set_algo(os.getenv("CONV_ALGO")) end
local opts = { threads = 2, steps = 10, batch = 8, size = 128 }
local i = 1
while i <= #arg do
  local key = arg[i]:match("^%-%-(%w+)$")
  if not key or opts[key] == nil or not tonumber(arg[i + 1]) then
    io.stderr:write("usage: lua5.4 bench/unet.lua [--threads N] [--steps N] [--batch N] [--size N]\n")
    os.exit(2)
  end
  opts[key] = math.tointeger(tonumber(arg[i + 1]))
  i = i + 2
end

local function maxrss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) // 1024 end
  end
end

lunet.set_num_threads(opts.threads)
lunet.manual_seed(0)
local model = UNet { in_channels = 3, num_classes = 1, base = 16, depth = 5, norm = "batch" }
local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-3 })
local x = lunet.randn(opts.batch, 3, opts.size, opts.size)
local y = lunet.rand(opts.batch, 1, opts.size, opts.size):gt(0.5):to("float32")

local function step()
  opt:zero_grad()
  local loss = F.binary_cross_entropy_with_logits(model(x), y)
  loss:backward()
  opt:step()
end

model:train()
for _ = 1, 2 do step() end
local t0 = now()
for _ = 1, opts.steps do step() end
local train_ms = (now() - t0) / opts.steps * 1e3

model:eval()
local eval_ms = lunet.no_grad(function()
  for _ = 1, 2 do model(x) end
  local t1 = now()
  for _ = 1, opts.steps do model(x) end
  return (now() - t1) / opts.steps * 1e3
end)

-- the floor: train FLOPs (3x the forward's 2 x mult-adds of lunet.summary: forward, input
-- and weight gradient) over the SGEMM rate measured here, same threads and clock (best of 5
-- 1024^3 products). The FLOPs are those of direct convolution: where a layer runs Winograd
-- (fewer multiplications) the fraction is an "effective" one and may exceed 1.
local summary = lunet.summary or require "lunet.summary"
if type(summary) == "table" then summary = summary.summary end
local _, _, totals = summary(model, { opts.batch, 3, opts.size, opts.size }, { print = false })
local train_gflop = 3 * 2 * totals.flops / 1e9
local a, b = lunet.randn(1024, 1024), lunet.randn(1024, 1024)
a:matmul(b)
local sg = math.huge
for _ = 1, 5 do
  local t = now()
  a:matmul(b)
  sg = math.min(sg, now() - t)
end
local sgemm = 2 * 1024 ^ 3 / sg / 1e9
print(string.format('{"lunet": "%s", "threads": %d, "batch": %d, "size": %d, "params": %d, '
  .. '"train_step_ms": %.1f, "eval_fwd_ms": %.1f, "maxrss_mb": %d, "train_gflop": %.1f, '
  .. '"sgemm_gflops": %.1f, "effective_sgemm_fraction": %.3f}', lunet._VERSION, opts.threads,
  opts.batch, opts.size, model:num_parameters(), train_ms, eval_ms, maxrss_mb(), train_gflop,
  sgemm, train_gflop / (train_ms / 1e3) / sgemm))
