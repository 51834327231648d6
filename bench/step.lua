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
-- --balance 1 reads every thread's CPU ticks (utime + stime from /proc/self/task/*/stat, Linux
-- only) just before and just after the timed training steps (after the warm-up) and adds them to
-- the JSON line as "train_ticks" (one entry per thread, main thread first, then the others in
-- decreasing order): with N threads, the main thread's ticks minus the workers' is the time spent
-- while the workers slept (serial code: Lua, autograd bookkeeping, kernels without a parallel
-- region) or waited for an unevenly split region.
-- --eval 0 skips the eval forward (prints eval_fwd_ms 0): for profiling the training step alone.
-- usage: lua5.4 bench/step.lua [--model fashion|unet|tux] [--threads N] [--steps N] [--clock wall|cpu] [--balance 0|1] [--eval 0|1]
local lunet = require "lunet"
local nn = require "lunet.nn"
local UNet = require "lunet.models.unet"

local F = nn.functional
local opts = { model = "fashion", threads = 2, steps = 10, clock = "wall", balance = 0, eval = 1 }
local i = 1
while i <= #arg do
  local key, v = arg[i]:match("^%-%-(%w+)$"), arg[i + 1]
  if not key or opts[key] == nil or v == nil or (type(opts[key]) == "number" and not tonumber(v)) then
    io.stderr:write("usage: lua5.4 bench/step.lua [--model fashion|unet|tux] [--threads N] [--steps N] [--clock wall|cpu] [--balance 0|1] [--eval 0|1]\n")
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

-- This process's id (read by the Lua process itself: in a popen'ed command /proc/self is the child).
local function self_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = tonumber(f:read("a"):match("^(%d+)"))
  f:close()
  return pid
end

-- Per-thread CPU ticks {tid = ticks} of this process (fields 14 and 15 of /proc/<pid>/task/<tid>/stat,
-- counted from the state field after the ")" that ends the command name).
local function thread_ticks()
  local ticks, pid = {}, self_pid()
  local ls = assert(io.popen("ls /proc/" .. pid .. "/task 2>/dev/null"))
  local tids = ls:read("a")
  ls:close()
  for tid in tids:gmatch("%d+") do
    local f = io.open("/proc/" .. pid .. "/task/" .. tid .. "/stat")
    if f then
      local fields = {}
      for w in f:read("a"):match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = w end
      f:close()
      ticks[tonumber(tid)] = tonumber(fields[12]) + tonumber(fields[13])
    end
  end
  return ticks
end

local function best(fn, on_start, on_end)
  for _ = 1, 2 do fn() end
  if on_start then on_start() end
  local t = math.huge
  for _ = 1, opts.steps do
    local t0 = clock()
    fn()
    t = math.min(t, clock() - t0)
  end
  if on_end then on_end() end
  return t * 1e3
end

model:train()
local ticks0, train_ticks
local train_ms = best(step, opts.balance ~= 0 and function() ticks0 = thread_ticks() end or nil,
  opts.balance ~= 0 and function()
    local ticks1 = thread_ticks()
    -- Threads started during the steps count from zero; threads gone by the end are not counted.
    local pid = self_pid()
    local main, others = (ticks1[pid] or 0) - (ticks0[pid] or 0), {}
    for tid, t in pairs(ticks1) do
      if tid ~= pid then others[#others + 1] = t - (ticks0[tid] or 0) end
    end
    table.sort(others, function(a, b) return a > b end)
    train_ticks = { main }
    for _, t in ipairs(others) do train_ticks[#train_ticks + 1] = t end
  end or nil)
model:eval()
local eval_ms = opts.eval ~= 0 and lunet.no_grad(function() return best(function() model(x) end) end) or 0
print(string.format('{"model": "%s", "threads": %d, "clock": "%s", "train_step_ms": %.1f, "eval_fwd_ms": %.1f%s}',
  opts.model, opts.threads, opts.clock, train_ms, eval_ms,
  train_ticks and string.format(', "steps": %d, "train_ticks": [%s]', opts.steps, table.concat(train_ticks, ", ")) or ""))
