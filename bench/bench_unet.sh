#!/bin/sh
# The benchmark U-Net training step and eval forward, lunet beside PyTorch in one run, on
# the same shapes and thread budget (THREADS, default 2; STEPS, default 10). OpenBLAS's
# core-type override is unset for both, as the machine's notes say for benchmarks. PyTorch
# runs with its best setting (bench/torch_unet.py header: OPENBLAS_NUM_THREADS=1).
# The two sides alternate RUNS times (default 2) and each keeps its fastest figures: on a
# shared machine the least disturbed run is the fairest one. The load average is printed
# beside every run. CLOCK=cpu times both sides in process CPU time (with THREADS=1 the figure
# a loaded machine disturbs least). CONV_ALGO=direct (or gemm, batched, winograd) forces
# lunet's conv algorithm (default auto: Winograd on most 3x3 layers).
cd "$(dirname "$0")/.." || exit 1
T=${THREADS:-2}
S=${STEPS:-10}
R=${RUNS:-2}
TORCH=bench/torch_unet.py
have_torch=0
if [ -f "$TORCH" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=1; fi
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
lua_all="" torch_all=""
run=1
while [ "$run" -le "$R" ]; do
  lua_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE lua5.4 bench/unet.lua --threads "$T" --steps "$S") || exit 1
  echo "lunet:   $lua_out  (load $(load))"
  lua_all="$lua_all$lua_out
"
  if [ $have_torch = 1 ]; then
    torch_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$TORCH" "$T" 8 128 "$S") || exit 1
    echo "pytorch: $torch_out  (load $(load))"
    torch_all="$torch_all$torch_out
"
  fi
  run=$((run + 1))
done
if [ $have_torch = 1 ]; then
  lua5.4 - "$lua_all" "$torch_all" <<'LUA'
local function best(s, k)
  local m
  for v in s:gmatch('"' .. k .. '": ([%d.]+)') do
    v = tonumber(v)
    if not m or v < m then m = v end
  end
  return m
end
print("best of each side:")
for _, k in ipairs { "train_step_ms", "eval_fwd_ms", "maxrss_mb" } do
  local a, b = best(arg[1], k), best(arg[2], k)
  print(string.format("%-14s lunet %8.1f  pytorch %8.1f  ratio %.2f", k, a, b, a / b))
end
local fl, sg = tonumber(arg[1]:match('"train_gflop": ([%d.]+)')), 0
for v in arg[1]:gmatch('"sgemm_gflops": ([%d.]+)') do sg = math.max(sg, tonumber(v)) end
if fl and sg > 0 then
  local ms = best(arg[1], "train_step_ms")
  print(string.format("lunet's best step: %.1f GFLOP (direct-convolution count) in %.1f ms = %.1f "
    .. "effective GFLOP/s, %.0f%% of the SGEMM rate measured beside it (%.1f GFLOP/s, 1024^3, same "
    .. "threads); effective: the 3x3 layers run Winograd F(4x4,3x3), which does up to 4x fewer "
    .. "multiplications than the count, so this may exceed 100%%", fl, ms, fl / ms * 1e3,
    100 * fl / ms * 1e3 / sg, sg))
end
LUA
else
  echo "pytorch: not measured (needs bench/torch_unet.py and python3-torch)"
fi
