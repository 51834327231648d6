#!/bin/sh
# The Fashion-MNIST training step (bench/step.lua --model fashion: 64x1x28x28, 3-level U-Net
# base 16, batch norm, cross-entropy, Adam) and eval forward, lunet beside PyTorch
# (bench/fashion_step_torch.py, the same net and shapes), THREADS (default 2) threads, the
# two sides alternating RUNS times (default 3), best figure of each side kept (on a shared
# machine the least disturbed run is the fairest one), load average printed beside every run.
# OpenBLAS's core-type override is unset for both; PyTorch runs with OPENBLAS_NUM_THREADS=1.
# CLOCK=cpu times both sides in process CPU time (with THREADS=1 the figure a loaded machine
# disturbs least); MODEL=tux runs the Tux Paint demo's net instead (bench/bench_tux.sh).
cd "$(dirname "$0")/.." || exit 1
M=${MODEL:-fashion}
C=${CLOCK:-wall}
T=${THREADS:-2}
S=${STEPS:-10}
R=${RUNS:-3}
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;"
have_torch=0
if /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=1; fi
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
lua_all="" torch_all=""
run=1
while [ "$run" -le "$R" ]; do
  lua_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LUA_PATH="$LP" LUA_CPATH="$PWD/build/?.so;;" \
    lua5.4 bench/step.lua --model "$M" --threads "$T" --steps "$S" --clock "$C") || exit 1
  echo "lunet:   $lua_out  (load $(load))"
  lua_all="$lua_all$lua_out
"
  if [ $have_torch = 1 ]; then
    torch_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
      /usr/bin/python3 "bench/${M}_step_torch.py" "$T" "$S" "$C") || exit 1
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
for _, k in ipairs { "train_step_ms", "eval_fwd_ms" } do
  local a, b = best(arg[1], k), best(arg[2], k)
  print(string.format("%-14s lunet %8.1f  pytorch %8.1f  ratio %.2f", k, a, b, a / b))
end
LUA
else
  echo "pytorch: not measured (needs python3-torch)"
fi
