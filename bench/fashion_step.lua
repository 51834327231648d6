-- The Fashion-MNIST training step of ../shared/bench/fashion_torch.py in lunet on random data:
-- 28x28x1 input, 3-level U-Net base 16 with batch norm, 11 classes, cross-entropy, Adam,
-- batch 64. Prints one JSON line: train_step_ms (forward + backward + Adam), eval_fwd_ms.
-- usage: lua5.4 bench/fashion_step.lua [--threads N] [--steps N]
local lunet = require "lunet"
local nn = require "lunet.nn"
local UNet = require "lunet.models.unet"

local opts = { threads = 2, steps = 20 }
local i = 1
while i <= #arg do
  local key = arg[i]:match("^%-%-(%w+)$")
  if not key or opts[key] == nil or not tonumber(arg[i + 1]) then
    io.stderr:write("usage: lua5.4 bench/fashion_step.lua [--threads N] [--steps N]\n")
    os.exit(2)
  end
  opts[key] = math.tointeger(tonumber(arg[i + 1]))
  i = i + 2
end

lunet.set_num_threads(opts.threads)
lunet.manual_seed(0)
local model = UNet { in_channels = 1, num_classes = 11, base = 16, depth = 3, norm = "batch" }
local opt = lunet.optim.Adam(model:parameters(), { lr = 2e-3 })
local loss_fn = nn.CrossEntropyLoss {}
local x = lunet.rand(64, 1, 28, 28)
local y = lunet.randint(0, 11, { 64, 28, 28 })

local function step()
  opt:zero_grad()
  local loss = loss_fn(model(x), y)
  loss:backward()
  opt:step()
end

model:train()
for _ = 1, 2 do step() end
local t0 = lunet.now()
for _ = 1, opts.steps do step() end
local train_ms = (lunet.now() - t0) / opts.steps * 1e3
model:eval()
local eval_ms = lunet.no_grad(function()
  for _ = 1, 2 do model(x) end
  local t1 = lunet.now()
  for _ = 1, opts.steps do model(x) end
  return (lunet.now() - t1) / opts.steps * 1e3
end)
print(string.format('{"threads": %d, "train_step_ms": %.1f, "eval_fwd_ms": %.1f}', opts.threads,
  train_ms, eval_ms))
