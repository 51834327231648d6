-- U^2-Net small (U2NETP) and UNet++ (filters 32..512) in lunet, the models of bench/torch_zoo.py:
-- 128x128x3 input, batch 4, Adam, BCE with logits (U^2-Net: summed over its seven outputs,
-- the paper's recipe; UNet++: deep supervision off, the reference's default).
-- Prints one JSON line: train_step_ms (forward + backward + Adam), eval_fwd_ms, maxrss_mb.
-- usage: lua5.4 bench/zoo.lua --model u2net|unetpp [--threads N] [--steps N] [--batch N] [--size N]
local lunet = require "lunet"
local nn = require "lunet.nn"
local train = require "lunet.train"

local F = nn.functional
-- CLOCK=cpu in the environment: process CPU time (meaningful with --threads 1 on a shared
-- machine), else wall time
local now = os.getenv("CLOCK") == "cpu" and os.clock or lunet.now
local opts = { threads = 2, steps = 5, batch = 4, size = 128, model = "u2net" }
local i = 1
while i <= #arg do
  local key = arg[i]:match("^%-%-(%w+)$")
  local v = arg[i + 1]
  if not key or opts[key] == nil or v == nil or (key ~= "model" and not tonumber(v)) then
    io.stderr:write("usage: lua5.4 bench/zoo.lua --model u2net|unetpp [--threads N] [--steps N] [--batch N] [--size N]\n")
    os.exit(2)
  end
  opts[key] = key == "model" and v or math.tointeger(tonumber(v))
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
local model
if opts.model == "u2net" then model = lunet.models.u2net { variant = "small" }
elseif opts.model == "unetpp" then model = lunet.models.unetpp { num_classes = 1 }
else io.stderr:write("bench/zoo.lua: --model must be u2net or unetpp\n"); os.exit(2) end
local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-3 })
local x = lunet.randn(opts.batch, 3, opts.size, opts.size)
local y = lunet.rand(opts.batch, 1, opts.size, opts.size):gt(0.5):to("float32")
local bce = function(logits, t) return F.binary_cross_entropy_with_logits(logits, t) end

local function step()
  opt:zero_grad()
  local loss = train.deep_supervision_loss(bce, model(x), y)
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

print(string.format('{"lunet": "%s", "model": "%s", "threads": %d, "batch": %d, "size": %d, "params": %d, '
  .. '"train_step_ms": %.1f, "eval_fwd_ms": %.1f, "maxrss_mb": %d}', lunet._VERSION, opts.model, opts.threads,
  opts.batch, opts.size, model:num_parameters(), train_ms, eval_ms, maxrss_mb()))
