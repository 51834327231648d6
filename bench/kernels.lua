-- lunet side of bench/bench_kernels.sh: times F.conv2d / F.conv_transpose2d (and
-- F.max_pool2d when it exists) on every layer shape of the benchmark U-Net (batch 8,
-- 128x128x3, base 16, depth 5), forward and forward+backward through autograd.
-- usage: lua5.4 bench/kernels.lua measure OUT [REPS] [THREADS]   writes "name fwd_ms fwdbwd_ms" lines
--        lua5.4 bench/kernels.lua report TORCH_FILES LUNET_FILES   prints the side-by-side table
-- (FILES are comma-separated; each layer takes the minimum over the files, i.e. over runs made
-- at different times, as on a shared machine the least disturbed run is the fairest one).
local lunet = require "lunet"
local F = require "lunet.nn.functional"
local core = require "lunet.core"

-- CLOCK=cpu: process CPU time (os.clock), else wall time
local clock = os.getenv("CLOCK") == "cpu" and os.clock or core.nn.wallclock
local mode = arg[1]
local reps, threads = tonumber(arg[3]) or 10, tonumber(arg[4]) or 2
if mode == "report" then threads = tonumber(arg[5]) or 2 end
if mode ~= "measure" and mode ~= "report" then
  io.stderr:write("usage: kernels.lua measure OUT [REPS] [THREADS] | report TORCH_FILES LUNET_FILES\n")
  os.exit(2)
end
lunet.set_num_threads(threads)
lunet.manual_seed(0)
-- CONV_ISA=avx2|avx512 forces the direct kernels' instruction set (default: the best one)
if mode == "measure" and os.getenv("CONV_ISA") then core.nn.conv_set_isa(os.getenv("CONV_ISA")) end
-- CONV_ALGO=auto|gemm|direct|batched|winograd|winograd_f2 forces the conv algorithm (default
-- auto: Winograd on the 3x3 layers where it measured faster, else direct or im2col + GEMM)
if mode == "measure" and os.getenv("CONV_ALGO") then core.nn.conv_set_algo(os.getenv("CONV_ALGO")) end

local N = 8
-- name, kind, cin, size, cout, k, stride, input needs grad (same list as torch_kernels.py)
local LAYERS = {
  { "enc1a", "conv", 3, 128, 16, 3, 1, false }, { "enc1b", "conv", 16, 128, 16, 3, 1, true },
  { "enc2a", "conv", 16, 64, 32, 3, 1, true }, { "enc2b", "conv", 32, 64, 32, 3, 1, true },
  { "enc3a", "conv", 32, 32, 64, 3, 1, true }, { "enc3b", "conv", 64, 32, 64, 3, 1, true },
  { "enc4a", "conv", 64, 16, 128, 3, 1, true }, { "enc4b", "conv", 128, 16, 128, 3, 1, true },
  { "enc5a", "conv", 128, 8, 256, 3, 1, true }, { "enc5b", "conv", 256, 8, 256, 3, 1, true },
  { "up1", "convT", 256, 8, 128, 2, 2, true },
  { "dec1a", "conv", 256, 16, 128, 3, 1, true }, { "dec1b", "conv", 128, 16, 128, 3, 1, true },
  { "up2", "convT", 128, 16, 64, 2, 2, true },
  { "dec2a", "conv", 128, 32, 64, 3, 1, true }, { "dec2b", "conv", 64, 32, 64, 3, 1, true },
  { "up3", "convT", 64, 32, 32, 2, 2, true },
  { "dec3a", "conv", 64, 64, 32, 3, 1, true }, { "dec3b", "conv", 32, 64, 32, 3, 1, true },
  { "up4", "convT", 32, 64, 16, 2, 2, true },
  { "dec4a", "conv", 32, 128, 16, 3, 1, true }, { "dec4b", "conv", 16, 128, 16, 3, 1, true },
  { "head", "conv", 16, 128, 1, 1, 1, true },
  { "pool1", "pool", 16, 128, 16, 2, 2, true }, { "pool2", "pool", 32, 64, 32, 2, 2, true },
  { "pool3", "pool", 64, 32, 64, 2, 2, true }, { "pool4", "pool", 128, 16, 128, 2, 2, true },
}

-- "name fwd fb" lines of comma-separated files, minimum per layer and column
local function read_results(paths)
  local t = {}
  for path in (paths or ""):gmatch("[^,]+") do
    local f = io.open(path)
    if f then
      for line in f:lines() do
        local name, a, b = line:match("^(%S+)%s+(%S+)%s+(%S+)")
        a, b = tonumber(a), tonumber(b)
        if name and a and b then
          local old = t[name]
          t[name] = old and { math.min(old[1], a), math.min(old[2], b) } or { a, b }
        end
      end
      f:close()
    end
  end
  return t
end

-- fastest of reps timings after two warm-up calls: on a shared machine the minimum is the
-- run least disturbed by other processes (torch_kernels.py does the same)
local function best(fn)
  fn(); fn()
  local t = math.huge
  for _ = 1, reps do
    local t0 = clock(); fn()
    t = math.min(t, clock() - t0)
  end
  return t * 1e3
end

-- f() runs the layer; inputs are the tensors whose .grad the backward fills
local function make(kind, cin, size, cout, k, stride, xgrad)
  local x = lunet.randn(N, cin, size, size)
  if xgrad then x:requires_grad(true) end
  if kind == "pool" then
    return function() return F.max_pool2d(x, { kernel = k, stride = stride }) end, { x }
  end
  local w, b, f
  if kind == "conv" then
    w, b = lunet.randn(cout, cin, k, k), lunet.randn(cout)
    local opts = { padding = (k - 1) // 2, stride = stride }
    f = function() return F.conv2d(x, w, b, opts) end
  else
    w, b = lunet.randn(cin, cout, k, k), lunet.randn(cout)
    local opts = { stride = stride }
    f = function() return F.conv_transpose2d(x, w, b, opts) end
  end
  w:requires_grad(true); b:requires_grad(true)
  return f, { x, w, b }
end

local function sgemm_rate()
  local n = 1024
  local a, b = lunet.randn(n, n), lunet.randn(n, n)
  local ms = best(function() return a:matmul(b) end)
  return 2 * n * n * n / ms / 1e6
end

local function flops_of(kind, cin, size, cout, k)
  if kind == "pool" then return 0 end
  return 2 * N * cout * size * size * cin * k * k   -- same count for conv and transposed conv
end

if mode == "measure" then
  local out = assert(io.open(arg[2], "w"))
  -- negated, so that the minimum over runs is the best rate
  out:write(string.format("sgemm %.3f 0\n", -sgemm_rate()))
  for _, L in ipairs(LAYERS) do
    local name, kind, cin, size, cout, k, stride, xgrad = table.unpack(L)
    if kind ~= "pool" or F.max_pool2d then
      local f, inputs = make(kind, cin, size, cout, k, stride, xgrad)
      local fwd = best(function() return lunet.no_grad(f) end)
      local g = lunet.randn(f():shape())
      local fb = best(function()
        for _, t in ipairs(inputs) do t.grad = nil end
        f():backward(g)
      end)
      out:write(string.format("%s %.3f %.3f\n", name, fwd, fb))
      out:flush()
      collectgarbage()
    end
  end
  out:close()
  os.exit(0)
end

local torch, mine = read_results(arg[2]), read_results(arg[3])
local gemm = mine.sgemm and -mine.sgemm[1] or 0 / 0
print(string.format("U-Net layer shapes, batch %d, %d threads; OpenBLAS SGEMM 1024^3: %.1f GFLOP/s",
  N, threads, gemm))
print("fwd+bwd = forward, then backward through autograd (input gradient except enc1a);")
print("GF/s = lunet GFLOP/s (fwd+bwd counts 3x the forward FLOPs, 2x for enc1a), %sg = of the SGEMM rate;")
print("  both effective: FLOPs of direct convolution, so layers running Winograd (fewer multiplications)")
print("  may exceed 100%")
print(string.format("times (%s clock): minimum over the repetitions of two runs made at different times, each side",
  os.getenv("CLOCK") == "cpu" and "CPU" or "wall"))
print(string.format("%-6s %-25s | %8s %8s %6s %6s %5s | %8s %8s %6s %6s %5s", "layer", "shape",
  "lunet", "torch", "ratio", "GF/s", "%sg", "lunet", "torch", "ratio", "GF/s", "%sg"))
print(string.format("%-6s %-25s | %-38s | %-38s", "", "", "forward (ms)", "forward+backward (ms)"))
local tot = { conv = { 0, 0, 0, 0, 0 }, pool = { 0, 0, 0, 0, 0 } }
local function ratio(a, b) return a and b and b > 0 and string.format("%6.2f", a / b) or "     -" end
local function ms(v) return v and string.format("%8.2f", v) or "       -" end
for _, L in ipairs(LAYERS) do
  local name, kind, cin, size, cout, k, stride, xgrad = table.unpack(L)
  local m, tt = mine[name], torch[name] or {}
  if m then
    local fwd, fb = m[1], m[2]
    local flops = flops_of(kind, cin, size, cout, k)
    local function rate(v)
      return flops > 0 and string.format("%6.1f %4.0f%%", v, 100 * v / gemm) or "     -     -"
    end
    local shape = kind == "pool" and string.format("pool %d %dx%d k%d", cin, size, size, k)
      or string.format("%s %d->%d %dx%d k%d s%d", kind, cin, cout, size, size, k, stride)
    print(string.format("%-6s %-25s | %s %s %s %s | %s %s %s %s", name, shape,
      ms(fwd), ms(tt[1]), ratio(fwd, tt[1]), rate(flops / fwd / 1e6),
      ms(fb), ms(tt[2]), ratio(fb, tt[2]), rate(flops * (xgrad and 3 or 2) / fb / 1e6)))
    local acc = tot[kind == "pool" and "pool" or "conv"]
    acc[1], acc[2] = acc[1] + fwd, acc[2] + fb
    if tt[1] then acc[3], acc[4], acc[5] = acc[3] + tt[1], acc[4] + tt[2], acc[5] + 1 end
  end
end
local function total(label, a)
  local t1, t2 = a[5] > 0 and a[3] or nil, a[5] > 0 and a[4] or nil
  print(string.format("%-32s | %s %s %s %12s | %s %s %s", label, ms(a[1]), ms(t1), ratio(a[1], t1), "",
    ms(a[2]), ms(t2), ratio(a[2], t2)))
end
total("total conv + transposed conv", tot.conv)
if tot.pool[1] > 0 then
  total("total max pools", tot.pool)
  local all = {}
  for i = 1, 5 do all[i] = tot.conv[i] + tot.pool[i] end
  total("total all layers", all)
else
  print("(F.max_pool2d not available: pool shapes skipped)")
end
