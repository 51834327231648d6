#!/bin/sh
# Overlap-tile prediction of a SIZE x SIZE image (default 2048) with the benchmark U-Net
# (bench/torch_unet.py's: base 16, depth 5, BN), lunet's model:predict on the fused model
# (TILE, OVERLAP, BATCH tiles per forward; defaults 544, 32, 4) beside PyTorch's eval forward
# on the whole image, same thread budget (THREADS, default 2), both with OpenBLAS's core-type
# override unset and PyTorch with OPENBLAS_NUM_THREADS=1 (its best setting here). The two
# alternate RUNS times (default 3), each process keeping its best of 3 calls; the best of all
# is compared. The load average is printed beside every run.
cd "$(dirname "$0")/.." || exit 1
T=${THREADS:-2}; SIZE=${SIZE:-2048}; TILE=${TILE:-544}; OV=${OVERLAP:-32}; B=${BATCH:-4}; R=${RUNS:-3}
export LUA_PATH="lua/?.lua;lua/?/init.lua;build/lua/?.lua;build/lua/?/init.lua;;"
export LUA_CPATH="build/?.so;;"
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1
lb="" tb=""
run=1
while [ "$run" -le "$R" ]; do
  l=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE lua5.4 bench/predict.lua --threads "$T" --size "$SIZE" \
      --tile "$TILE" --overlap "$OV" --batch "$B" --runs 3) || exit 1
  echo "lunet:   $l  (load $(load))"
  lb="$lb $(echo "$l" | sed 's/.*"lunet_predict_ms": \([0-9.]*\).*/\1/')"
  if [ $have_torch = 1 ]; then
    t=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_predict.py "$T" "$SIZE" 3) || exit 1
    echo "pytorch: $t  (load $(load))"
    tb="$tb $(echo "$t" | sed 's/.*"torch_whole_ms": \([0-9.]*\).*/\1/')"
  fi
  run=$((run + 1))
done
best() { echo "$1" | tr ' ' '\n' | grep . | sort -g | head -1; }
L=$(best "$lb")
if [ $have_torch = 1 ]; then
  P=$(best "$tb")
  echo "best: lunet tiled predict $L ms, PyTorch whole-image forward $P ms, ratio $(echo "$L $P" | awk '{printf "%.2f", $1 / $2}')"
else
  echo "best: lunet tiled predict $L ms (PyTorch not installed: apt-get install python3-torch)"
fi
