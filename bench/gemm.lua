-- lunet side of bench/bench_gemm.sh: GFLOP/s of lunet's SGEMM (each ISA the CPU has) and of
-- OpenBLAS's cblas_sgemm on the GEMM shapes of the benchmark U-Net's and of the Fashion-MNIST
-- U-Net's convolutions, as lt_conv.c calls them (recorded from one training step of
-- bench/unet.lua and bench/fashion_step.lua: im2col forward NN, input-gradient TN, weight-gradient
-- NT over chunks of output rows, transposed-conv tiling GEMMs, the 1x1 heads).
-- usage: lua5.4 bench/gemm.lua shapes                      the shape list (gemm_torch.py reads it)
--        lua5.4 bench/gemm.lua measure IMPLS [THREADS]     "shape column gflops" lines
--        lua5.4 bench/gemm.lua report FILES                the table (best figure over FILES)
-- IMPLS: comma-separated lunet ISAs (auto, avx512, avx2, generic; "isas" = every one this CPU
-- has) and "openblas" (labelled with OPENBLAS_CORETYPE, "default" when unset).
local mode = arg[1]

-- name, transa, transb, m, n, k, lda, ldb, ldc, beta; calls per training step in the comment
local SHAPES = {
  -- benchmark U-Net (128x128x3, base 16, depth 5, batch 8): weight gradients of the 16x16 and
  -- 8x8 convs (not direct there), transposed-conv tiling GEMMs, 1x1 head
  { "u_dw16a", 0, 1, 128, 2304, 48, 256, 48, 2304, 1 },     -- dec1a dW: 40 calls / step
  { "u_dw16b", 0, 1, 128, 1152, 112, 256, 112, 1152, 1 },   -- enc4/dec1b dW
  { "u_dw8a", 0, 1, 256, 2304, 56, 64, 56, 2304, 1 },       -- enc5b dW
  { "u_dw8b", 0, 1, 256, 1152, 64, 64, 64, 1152, 1 },       -- enc5a dW
  { "u_up3f", 1, 0, 64, 1024, 32, 64, 4096, 1024, 0 },      -- up convT forward (32x32)
  { "u_up2f", 1, 0, 128, 512, 64, 128, 1024, 512, 0 },
  { "u_up1f", 1, 0, 512, 64, 256, 512, 64, 64, 0 },
  { "u_up2b", 1, 0, 256, 256, 128, 256, 256, 256, 0 },
  { "u_dw16c", 0, 1, 128, 576, 224, 256, 224, 576, 1 },
  { "u_up4w", 0, 1, 32, 64, 2048, 4096, 2048, 64, 1 },      -- up4 convT dW
  { "u_up4x", 0, 0, 32, 2048, 64, 64, 2048, 4096, 1 },      -- up4 convT dX
  { "u_head", 0, 0, 1, 16384, 16, 16, 16384, 16384, 1 },    -- 1x1 head forward
  -- Fashion-MNIST U-Net (28x28x1, base 16, depth 3, batch 64): im2col everywhere (28, 14, 7
  -- are not multiples of 8)
  { "f_fw28a", 0, 0, 16, 784, 144, 144, 784, 784, 1 },      -- forward 28x28, 16 -> 16
  { "f_fw28b", 0, 0, 16, 784, 288, 288, 784, 784, 1 },      -- forward 28x28, 32 -> 16
  { "f_fw14a", 0, 0, 32, 196, 288, 288, 196, 196, 1 },
  { "f_fw14b", 0, 0, 32, 196, 576, 576, 196, 196, 1 },
  { "f_fw7a", 0, 0, 64, 49, 576, 576, 49, 49, 1 },
  { "f_fw7b", 0, 0, 64, 49, 288, 288, 49, 49, 1 },
  { "f_dx28", 1, 0, 144, 784, 16, 144, 784, 784, 0 },      -- input gradient columns
  { "f_dx14", 1, 0, 288, 196, 32, 288, 196, 196, 0 },
  { "f_dx14b", 1, 0, 576, 196, 32, 576, 196, 196, 0 },
  { "f_dx7", 1, 0, 576, 49, 64, 576, 49, 49, 0 },
  { "f_dw28", 0, 1, 16, 144, 784, 784, 784, 144, 1 },       -- weight gradients
  { "f_dw28c", 0, 1, 16, 288, 448, 784, 448, 288, 1 },
  { "f_dw14", 0, 1, 32, 288, 196, 196, 196, 288, 1 },
  { "f_dw7", 0, 1, 64, 576, 49, 49, 49, 576, 1 },
  { "f_head", 0, 0, 11, 784, 16, 16, 784, 784, 1 },
}

if mode == "shapes" then
  for _, s in ipairs(SHAPES) do print(table.concat(s, " ")) end
  return
end

if mode == "report" then
  local best, cols, seen = {}, {}, {}
  for path in (arg[2] or ""):gmatch("[^,]+") do
    local f = io.open(path)
    if f then
      for line in f:lines() do
        local name, col, v = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
        v = tonumber(v)
        if v then
          if not seen[col] then seen[col] = true; cols[#cols + 1] = col end
          best[name] = best[name] or {}
          best[name][col] = math.max(best[name][col] or 0, v)
        end
      end
      f:close()
    end
  end
  local head = string.format("%-8s %-2s %5s %6s %5s", "shape", "op", "m", "n", "k")
  for _, c in ipairs(cols) do head = head .. string.format(" %9s", c:sub(1, 9)) end
  print(head .. "   (GFLOP/s; best run)")
  local sums = {}
  for _, s in ipairs(SHAPES) do
    local b = best[s[1]]
    if b then
      local line = string.format("%-8s %s%s %5d %6d %5d", s[1], s[2] == 1 and "T" or "N",
        s[3] == 1 and "T" or "N", s[4], s[5], s[6])
      for _, c in ipairs(cols) do
        line = line .. (b[c] and string.format(" %9.1f", b[c]) or string.format(" %9s", "-"))
        if b[c] then sums[c] = (sums[c] or 0) + math.log(b[c]) end
      end
      print(line)
    end
  end
  local line = string.format("%-8s %-2s %5s %6s %5s", "geomean", "", "", "", "")
  for _, c in ipairs(cols) do
    local cnt = 0
    for _, s in ipairs(SHAPES) do if best[s[1]] and best[s[1]][c] then cnt = cnt + 1 end end
    line = line .. string.format(" %9.1f", math.exp((sums[c] or 0) / math.max(cnt, 1)))
  end
  print(line)
  print("columns: " .. table.concat(cols, ", "))
  return
end

if mode ~= "measure" then
  io.stderr:write("usage: lua5.4 bench/gemm.lua shapes | measure IMPLS [THREADS] | report FILES\n")
  os.exit(2)
end

local lunet = require "lunet"
local core = require "lunet.core"
local G = core.gemm
local threads = tonumber(arg[3]) or 1
-- one thread: process CPU time (os.clock), so time spent preempted by other processes on a
-- shared machine does not count; more threads: wall-clock time
local clock = threads == 1 and os.clock or core.nn.wallclock
lunet.set_num_threads(threads)        -- OpenBLAS's pool and lunet's budget
lunet.manual_seed(0)
local impls = {}
for name in (arg[2] or "isas"):gmatch("[^,]+") do
  if name == "isas" then
    for _, isa in ipairs(G.isas()) do impls[#impls + 1] = isa end
  else
    impls[#impls + 1] = name
  end
end
local coretype = os.getenv("OPENBLAS_CORETYPE") or "default"

-- best batch (each at least 10 ms) over 0.25 s (of the clock above) and at least 5 batches, after a warm-up call:
-- on a shared machine the least disturbed batch is the fairest figure
local function gflops(s, impl)
  local _, ta, tb, m, n, k, lda, ldb, ldc, beta = table.unpack(s)
  local a = lunet.randn(((ta == 1) and k or m) * lda)
  local b = lunet.randn(((tb == 1) and n or k) * ldb)
  local c = lunet.zeros(m * ldc)
  local o = { m = m, n = n, k = k, transa = ta == 1, transb = tb == 1, lda = lda, ldb = ldb,
              ldc = ldc, beta = beta * 1.0, impl = impl, threads = threads }
  G.sgemm(c, a, b, o)
  local best, batches, t_end = math.huge, 0, clock() + 0.25
  repeat
    local reps, t0 = 0, clock()
    repeat
      G.sgemm(c, a, b, o)
      reps = reps + 1
    until clock() - t0 > 0.01
    best = math.min(best, (clock() - t0) / reps)
    batches = batches + 1
  until batches >= 5 and clock() > t_end
  return 2 * m * n * k / best / 1e9
end

for _, s in ipairs(SHAPES) do
  for _, impl in ipairs(impls) do
    local col = impl == "openblas" and ("ob-" .. coretype:lower()) or ("lt-" .. impl)
    if impl ~= "openblas" and (os.getenv("OMP_WAIT_POLICY") or ""):lower() == "passive" then
      col = col .. "-passive"
    end
    print(string.format("%s %s %.2f", s[1], col, gflops(s, impl)))
    io.stdout:flush()
  end
end
