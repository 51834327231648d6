-- Per-thread CPU time during the timed training steps of bench/step.lua at 2 threads: a
-- load-robust measure of two-thread scaling. The main thread's ticks minus the worker's are
-- work done while the worker slept (serial code: Lua, autograd bookkeeping, kernels without a
-- parallel region or under their work threshold) or waited at the end of an unevenly split
-- region. Time the machine's other processes take from us does not count in either.
-- Caveat: on a loaded machine (load average at or above the core count) the scheduler preempts
-- the busy main thread more than the often-sleeping worker, and the dynamically shared loops
-- hand the worker the main thread's units meanwhile, so the worker's ticks catch up and hide
-- the serial time. Then compare per-symbol samples per thread instead (symbols with samples on
-- the main thread only are serial code), e.g.
--   perf record -F 1999 -o p.data -- lua5.4 bench/step.lua --model fashion --steps 30 --eval 0
--   perf report -i p.data --sort pid,symbol --stdio
-- usage: lua5.4 bench/thread_balance.lua [fashion|tux|unet ...] [--steps N] [--threads N]
-- prints per model: ticks (1/100 s) of the main thread and of each other thread, the worker's
-- share of the main thread's ticks, and the per-step serial time (main - busiest worker).
local models, steps, threads = {}, 20, 2
local i = 1
while i <= #arg do
  if arg[i] == "--steps" then steps = math.tointeger(tonumber(arg[i + 1])); i = i + 2
  elseif arg[i] == "--threads" then threads = math.tointeger(tonumber(arg[i + 1])); i = i + 2
  elseif arg[i]:match("^%a+$") then models[#models + 1] = arg[i]; i = i + 1
  else
    io.stderr:write("usage: lua5.4 bench/thread_balance.lua [fashion|tux|unet ...] [--steps N] [--threads N]\n")
    os.exit(2)
  end
end
if not steps or not threads then
  io.stderr:write("thread_balance: --steps and --threads take integers\n")
  os.exit(2)
end
if #models == 0 then models = { "fashion", "tux", "unet" } end
local lua = arg[-1] or "lua5.4"
for _, model in ipairs(models) do
  local cmd = string.format("%s bench/step.lua --model %s --threads %d --steps %d --balance 1",
    lua, model, threads, steps)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  local ticks = out:match('"train_ticks": %[([^%]]*)%]')
  if not ticks then
    io.stderr:write("thread_balance: no train_ticks from: " .. cmd .. "\n" .. out)
    os.exit(1)
  end
  local t = {}
  for v in ticks:gmatch("%d+") do t[#t + 1] = tonumber(v) end
  local worker = t[2] or 0
  print(string.format("%-8s steps %d  ticks main %d  others %s  worker/main %.2f  serial %.1f ms/step  (%s)",
    model, steps, t[1], table.concat(t, " ", 2), t[1] > 0 and worker / t[1] or 0,
    (t[1] - worker) * 10 / steps, out:match('"train_step_ms": [%d.]+')))
end
