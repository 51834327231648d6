#!/bin/sh
# bench/bench_distributed.sh: data-parallel scaling on this machine with lunet.distributed. The
# benchmark U-Net training step (bench/unet.lua shapes: 128x128x3, base 16, depth 5, batch 8
# per process) in 1 process x 2 threads, then in 2 processes x 1 thread under mpirun with
# DistributedDataParallel (plain batch norm, then SyncBatchNorm), and the throughput ratio
# (images/s of the 2 processes / images/s of the 1; the goal is >= 0.95). Then the time of one
# all-reduce of the model's gradients (1.94 M floats) over shared memory and over TCP on
# loopback, with the bus bandwidth 2(p-1)/p * bytes / time. The sides alternate RUNS times
# (default 2) and each keeps its best run (the machine is shared); STEPS (default 10) steps
# per run, median step. OMP_WAIT_POLICY=PASSIVE for every process (idle OpenMP workers must
# not spin on the cores the other rank needs).
cd "$(dirname "$0")/.." || exit 1
S=${STEPS:-10}
R=${RUNS:-2}
: "${LUA_PATH:=$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;}"
: "${LUA_CPATH:=$PWD/build/?.so;;}"
export LUA_PATH LUA_CPATH OMP_WAIT_POLICY=PASSIVE
if ! command -v mpirun >/dev/null 2>&1; then
  echo "distributed: not measured (needs mpirun: apt-get install openmpi-bin libopenmpi-dev)"
  exit 0
fi
if [ ! -f build/lunet/distributed/core.so ]; then
  echo "distributed: not measured (build/lunet/distributed/core.so is not built: install libopenmpi-dev, then make)"
  exit 0
fi
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
MPI="mpirun --allow-run-as-root --oversubscribe -np 2 -x LUA_PATH -x LUA_CPATH -x OMP_WAIT_POLICY"
CLEAN="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
all=""
run=1
while [ "$run" -le "$R" ]; do
  one=$($CLEAN lua5.4 bench/distributed.lua --threads 2 --steps "$S") || exit 1
  echo "1 x 2 threads:        $one  (load $(load))"
  two=$($CLEAN $MPI lua5.4 bench/distributed.lua --threads 1 --steps "$S" --allreduce 20) || exit 1
  echo "2 x 1 thread, DDP:    $two  (load $(load))"
  sync=$($CLEAN $MPI lua5.4 bench/distributed.lua --threads 1 --steps "$S" --sync) || exit 1
  echo "2 x 1 thread, +SyncBN: $sync  (load $(load))"
  tcp=$($CLEAN $MPI --mca btl tcp,self lua5.4 bench/distributed.lua --threads 1 --steps 2 --allreduce 10) || exit 1
  echo "TCP loopback:         $tcp  (load $(load))"
  all="$all
one $one
two $two
sync $sync
tcp $tcp"
  run=$((run + 1))
done
lua5.4 - "$all" <<'LUA'
local function best(tag, key, larger)
  local m
  for line in arg[1]:gmatch("[^\n]+") do
    if line:sub(1, #tag + 1) == tag .. " " then
      local v = tonumber(line:match('"' .. key .. '": ([%d.]+)'))
      if v and (not m or (larger and v > m) or (not larger and v < m)) then m = v end
    end
  end
  return m
end
local one, two, sync = best("one", "images_per_s", true), best("two", "images_per_s", true), best("sync", "images_per_s", true)
print("best of each side:")
print(string.format("  1 process x 2 threads          %7.1f images/s (step %.0f ms, batch 8)", one, best("one", "step_ms")))
print(string.format("  2 processes x 1 thread, DDP    %7.1f images/s (step %.0f ms, batch 8 each)  ratio %.2f (goal >= 0.95)",
  two, best("two", "step_ms"), two / one))
print(string.format("  same with SyncBatchNorm        %7.1f images/s (step %.0f ms)  ratio %.2f", sync, best("sync", "step_ms"), sync / one))
print(string.format("  all-reduce of the gradients (%d floats), shared memory: %.2f ms bucketed as DDP does, "
  .. "%.2f ms as one buffer (bus bandwidth %.2f GB/s)", best("two", "floats"), best("two", "allreduce_ms"),
  best("two", "allreduce_flat_ms"), best("two", "busbw_gbs", true)))
print(string.format("  the same over TCP on loopback: %.2f ms bucketed, %.2f ms as one buffer (bus bandwidth %.2f GB/s)",
  best("tcp", "allreduce_ms"), best("tcp", "allreduce_flat_ms"), best("tcp", "busbw_gbs", true)))
LUA
