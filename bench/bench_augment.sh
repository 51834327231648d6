#!/bin/sh
# bench/bench_augment.sh: images/s of the typical augmentation pipeline (flip, rotate, crop
# 224, brightness/contrast, normalize on 256x256 RGB + mask) in lunet.transforms and in the
# same steps with OpenCV (python3-opencv), same thread count, one run each, and the ratio.
# THREADS (default 1) and SECONDS_PER_RUN (default 3) override the settings. Throughput is
# by wall clock; the CPU-time line (process CPU seconds, all threads) is steadier on a
# shared machine and equals the wall figure on an idle one with 1 thread.
cd "$(dirname "$0")/.." || exit 1
threads=${THREADS:-1}
secs=${SECONDS_PER_RUN:-3}
lua=${LUA:-lua5.4}
: "${LUA_PATH:=$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;}"
: "${LUA_CPATH:=$PWD/build/?.so;;}"
export LUA_PATH LUA_CPATH
l=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" "$lua" bench/augment.lua "$threads" "$secs") || exit 1
if ! /usr/bin/python3 -c "import cv2" 2>/dev/null; then
  echo "augment 256x256 RGB+mask, $threads thread(s): lunet $(echo "$l" | cut -d' ' -f2) images/s;" \
    "OpenCV not measured (needs python3-opencv: apt-get install python3-opencv)"
  exit 0
fi
c=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" /usr/bin/python3 bench/augment_cv.py "$threads" "$secs") || exit 1
echo "$l $c" | awk -v t="$threads" '{
  printf "augment 256x256 RGB+mask (flip, rotate, crop 224, brightness/contrast, normalize), %d thread(s)\n", t
  printf "  wall clock: lunet %8.1f images/s, opencv %8.1f images/s, ratio lunet/opencv %.2f\n", $2, $5, $2 / $5
  printf "  CPU time:   lunet %8.1f images/s, opencv %8.1f images/s, ratio lunet/opencv %.2f\n", $3, $6, $3 / $6 }'
