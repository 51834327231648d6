-- The 3-D U-Net benchmark in lunet (bench/torch_unet3d.py is the PyTorch side): 1 input
-- channel, 64^3 patches, base 16, depth 4 (Çiçek et al.'s blocks: 1->16->32, 32->32->64,
-- 64->64->128, 128->128->256, transposed-conv up), batch 2, 2 classes, cross entropy, Adam.
-- usage: lua5.4 bench/unet3d.lua layers|step [--threads N] [--reps N] [--steps N] [--size N]
--   layers: every layer shape of the model, forward and backward timed separately (best of
--           reps, wall and CPU ms); one line per layer "name fwd_ms bwd_ms fwd_cpu bwd_cpu gflop";
--           ONLY="enc3a,bota" in the environment keeps only the layers named by their first word
--   step:   the whole training step (forward, backward, Adam), best of steps after one warm-up,
--           and the peak RSS of a process that did nothing else; one JSON line
local lunet = require "lunet"
local nn = require "lunet.nn"
local core = require "lunet.core"

local F = nn.functional
local mode = arg[1]
local opts = { threads = 2, reps = 3, steps = 3, size = 64 }
local i = 2
while i <= #arg do
  local key = arg[i]:match("^%-%-(%w+)$")
  if not key or opts[key] == nil or not tonumber(arg[i + 1]) then mode = nil break end
  opts[key] = math.tointeger(tonumber(arg[i + 1]))
  i = i + 2
end
if mode ~= "layers" and mode ~= "step" then
  io.stderr:write("usage: lua5.4 bench/unet3d.lua layers|step [--threads N] [--reps N] [--steps N] [--size N]\n")
  os.exit(2)
end

local wall = core.nn.wallclock
local function maxrss_mb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) // 1024 end
  end
end

lunet.set_num_threads(opts.threads)
lunet.manual_seed(0)
local N, S = 2, opts.size

-- time f() -> wall ms, cpu ms
local function timed(f)
  local c0, w0 = os.clock(), wall()
  f()
  return (wall() - w0) * 1e3, (os.clock() - c0) * 1e3
end

if mode == "layers" then
  local R = function(...) return lunet.randn(...) end
  local layers = {}
  local function conv(name, cin, cout, s)
    layers[#layers + 1] = { name, function()
      local x, w, b = R(N, cin, s, s, s):requires_grad(true), R(cout, cin, 3, 3, 3):requires_grad(true),
        R(cout):requires_grad(true)
      return function() return F.conv3d(x, w, b, { padding = 1 }) end, 2 * N * cin * cout * 27 * s ^ 3
    end }
  end
  local function up(name, c, s)
    layers[#layers + 1] = { name, function()
      local x, w, b = R(N, c, s, s, s):requires_grad(true), R(c, c, 2, 2, 2):requires_grad(true), R(c):requires_grad(true)
      return function() return F.conv_transpose3d(x, w, b, { stride = 2 }) end, 2 * N * c * c * 8 * s ^ 3
    end }
  end
  local q = S // 8
  conv("enc1a 1->16 @64", 1, 16, S); conv("enc1b 16->32 @64", 16, 32, S)
  conv("enc2a 32->32 @32", 32, 32, S // 2); conv("enc2b 32->64 @32", 32, 64, S // 2)
  conv("enc3a 64->64 @16", 64, 64, S // 4); conv("enc3b 64->128 @16", 64, 128, S // 4)
  conv("bota 128->128 @8", 128, 128, q); conv("botb 128->256 @8", 128, 256, q)
  up("up3 256 @8->16", 256, q); conv("dec3a 384->128 @16", 384, 128, S // 4); conv("dec3b 128->128 @16", 128, 128, S // 4)
  up("up2 128 @16->32", 128, S // 4); conv("dec2a 192->64 @32", 192, 64, S // 2); conv("dec2b 64->64 @32", 64, 64, S // 2)
  up("up1 64 @32->64", 64, S // 2); conv("dec1a 96->32 @64", 96, 32, S); conv("dec1b 32->32 @64", 32, 32, S)
  layers[#layers + 1] = { "head 1x1x1 32->2 @64", function()
    local x, w, b = R(N, 32, S, S, S):requires_grad(true), R(2, 32, 1, 1, 1):requires_grad(true), R(2):requires_grad(true)
    return function() return F.conv3d(x, w, b) end, 2 * N * 32 * 2 * S ^ 3
  end }
  layers[#layers + 1] = { "maxpool2 32ch @64", function()
    local x = R(N, 32, S, S, S):requires_grad(true)
    return function() return F.max_pool3d(x, { kernel = 2 }) end, 0
  end }
  layers[#layers + 1] = { "batchnorm 32ch @64", function()
    local x, w, b = R(N, 32, S, S, S):requires_grad(true), lunet.ones(32):requires_grad(true), lunet.zeros(32):requires_grad(true)
    local rm, rv = lunet.zeros(32), lunet.ones(32)
    return function() return F.batch_norm(x, rm, rv, w, b, { training = true }) end, 0
  end }
  layers[#layers + 1] = { "relu 32ch @64", function()
    local x = R(N, 32, S, S, S):requires_grad(true)
    return function() return F.relu(x) end, 0
  end }
  -- ONLY="enc3a,bota": just the layers whose first word is listed (for profiling)
  local only = os.getenv("ONLY")
  local keep = {}
  for w in (only or ""):gmatch("[^,%s]+") do keep[w] = true end
  local warm = false
  for _, l in ipairs(layers) do
    if only and not keep[l[1]:match("^%S+")] then goto continue end
    local f, flop = l[2]()
    if not warm then   -- one untimed pass: the first layer measured no longer pays the warm-up
      local y = f()
      y:backward(lunet.ones(table.unpack(y:shape())))
      y = nil
      collectgarbage()
      warm = true
    end
    local bf, bb, cf, cb = math.huge, math.huge, 0, 0
    for _ = 1, opts.reps do
      local y
      local fw, fc = timed(function() y = f() end)
      local gy = lunet.ones(table.unpack(y:shape()))
      local bw, bc = timed(function() y:backward(gy) end)
      if fw + bw < bf + bb then bf, bb, cf, cb = fw, bw, fc, bc end
      y, gy = nil, nil
      collectgarbage()
    end
    print(string.format("%-24s %9.1f %9.1f %9.1f %9.1f %8.2f", l[1], bf, bb, cf, cb, flop / 1e9))
    ::continue::
  end
else
  local model = lunet.models.unet3d { in_channels = 1, num_classes = 2, base = 16, depth = 4 }
  local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-3 })
  local x = lunet.randn(N, 1, S, S, S)
  local y = lunet.randint(0, 2, { N, S, S, S }):to("int32")
  local function step()
    opt:zero_grad()
    local loss = F.cross_entropy(model(x), y)
    loss:backward()
    opt:step()
  end
  model:train()
  step()
  local best, best_cpu = math.huge, math.huge
  for _ = 1, opts.steps do
    local w, c = timed(step)
    if w < best then best, best_cpu = w, c end
  end
  print(string.format('{"side": "lunet", "threads": %d, "params": %d, "train_step_ms": %.1f, '
    .. '"train_step_cpu_ms": %.1f, "maxrss_mb": %d}', opts.threads, model:num_parameters(), best,
    best_cpu, maxrss_mb()))
end
