-- One training step (forward + backward + Adam) and one eval forward, timed, for the two
-- U-Nets the GEMM benchmark's shapes come from, on random data:
--   --model fashion: ../shared/bench/fashion_torch.py's net (28x28x1, base 16, depth 3, batch
--                    norm, 11 classes, cross-entropy, Adam 2e-3, batch 64)
--   --model unet:    bench/unet.lua's net (128x128x3, base 16, depth 5, batch norm, BCE, Adam,
--                    batch 8)
--   --model tux:     the Tux Paint demo's net (examples/demo.lua: 3 channels, base 16, depth 4,
--                    batch norm, 2 classes) at 64x64, cross-entropy, Adam, batch 8
--                    (bench/tux_step_torch.py is the same in PyTorch)
-- --clock cpu times in process CPU time (meaningful with --threads 1 on a shared machine: time
-- preempted by other processes does not count), wall (default) in monotonic time. Prints the
-- best step over --steps (after 2 warm-up steps) as one JSON line.
-- usage: lua5.4 bench/step.lua [--model fashion|unet|tux] [--threads N] [--steps N] [--clock wall|cpu]
local lunet = require "lunet"
local nn = require "lunet.nn"
local UNet = require "lunet.models.unet"

local F = nn.functional
local opts = { model = "fashion", threads = 2, steps = 10, clock = "wall" }
local i = 1
while i <= #arg do
  local key, v = arg[i]:match("^%-%-(%w+)$"), arg[i + 1]
  if not key or opts[key] == nil or v == nil or (type(opts[key]) == "number" and not tonumber(v)) then
    io.stderr:write("usage: lua5.4 bench/step.lua [--model fashion|unet|tux] [--threads N] [--steps N] [--clock wall|cpu]\n")
    os.exit(2)
  end
  opts[key] = type(opts[key]) == "number" and math.tointeger(tonumber(v)) or v
  i = i + 2
end
local clock = opts.clock == "cpu" and os.clock or lunet.now

lunet.set_num_threads(opts.threads)
lunet.manual_seed(0)
local model, x, y, loss_fn
if opts.model == "unet" then
  model = UNet { in_channels = 3, num_classes = 1, base = 16, depth = 5, norm = "batch" }
  x = lunet.randn(8, 3, 128, 128)
  y = lunet.rand(8, 1, 128, 128):gt(0.5):to("float32")
  loss_fn = F.binary_cross_entropy_with_logits
elseif opts.model == "tux" then
  model = UNet { in_channels = 3, num_classes = 2, base = 16, depth = 4, norm = "batch" }
  x = lunet.rand(8, 3, 64, 64)
  y = lunet.randint(0, 2, { 8, 64, 64 })
  loss_fn = nn.CrossEntropyLoss {}
else
  model = UNet { in_channels = 1, num_classes = 11, base = 16, depth = 3, norm = "batch" }
  x = lunet.rand(64, 1, 28, 28)
  y = lunet.randint(0, 11, { 64, 28, 28 })
  loss_fn = nn.CrossEntropyLoss {}
end
local opt = lunet.optim.Adam(model:parameters(), { lr = 2e-3 })

local function step()
  opt:zero_grad()
  local loss = loss_fn(model(x), y)
  loss:backward()
  opt:step()
end

local function best(fn)
  for _ = 1, 2 do fn() end
  local t = math.huge
  for _ = 1, opts.steps do
    local t0 = clock()
    fn()
    t = math.min(t, clock() - t0)
  end
  return t * 1e3
end

model:train()
local train_ms = best(step)
model:eval()
local eval_ms = lunet.no_grad(function() return best(function() model(x) end) end)
print(string.format('{"model": "%s", "threads": %d, "clock": "%s", "train_step_ms": %.1f, "eval_fwd_ms": %.1f}',
  opts.model, opts.threads, opts.clock, train_ms, eval_ms))
