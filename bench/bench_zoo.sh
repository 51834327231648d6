#!/bin/sh
# U^2-Net small and UNet++ (128x128x3, batch 4): training step (forward + backward + Adam) and
# eval forward, lunet beside its PyTorch twins (bench/torch_zoo.py: the modules of
# spec/ref/gen_models_more.py) in one run, with the same thread budget (THREADS, default 2).
# OpenBLAS's core-type override is unset for both; PyTorch runs in its best setting
# (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(THREADS)). The two sides alternate RUNS times
# (default 3) per model and each keeps its fastest figures (best of RUNS: on a shared machine
# the least disturbed run is the fairest); the load average is printed beside every run.
# CLOCK=cpu times both sides in process CPU time (with THREADS=1 the figure a loaded machine
# disturbs least).
cd "$(dirname "$0")/.." || exit 1
T=${THREADS:-2}
S=${STEPS:-5}
R=${RUNS:-3}
TORCH=bench/torch_zoo.py
have_torch=0
if [ -f "$TORCH" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=1; fi
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
status=0
for model in u2net unetpp; do
  echo "-- $model (128x128x3, batch 4, $T threads, best of $R)"
  lua_all="" torch_all=""
  run=1
  while [ "$run" -le "$R" ]; do
    lua_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE lua5.4 bench/zoo.lua --model "$model" --threads "$T" --steps "$S") || exit 1
    echo "lunet:   $lua_out  (load $(load))"
    lua_all="$lua_all$lua_out
"
    if [ $have_torch = 1 ]; then
      torch_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$TORCH" "$model" "$T" 4 128 "$S") || exit 1
      echo "pytorch: $torch_out  (load $(load))"
      torch_all="$torch_all$torch_out
"
    fi
    run=$((run + 1))
  done
  if [ $have_torch = 1 ]; then
    lua5.4 - "$model" "$lua_all" "$torch_all" <<'LUA'
local function best(s, k)
  local m
  for v in s:gmatch('"' .. k .. '": ([%d.]+)') do
    v = tonumber(v)
    if not m or v < m then m = v end
  end
  return m
end
print("best of each side (" .. arg[1] .. "):")
for _, k in ipairs { "train_step_ms", "eval_fwd_ms", "maxrss_mb" } do
  local a, b = best(arg[2], k), best(arg[3], k)
  print(string.format("%-14s lunet %8.1f  pytorch %8.1f  ratio %.2f", k, a, b, a / b))
end
LUA
  else
    echo "pytorch: not measured (needs bench/torch_zoo.py and python3-torch)"
  fi
done
exit $status
