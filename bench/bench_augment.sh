#!/bin/sh
# bench/bench_augment.sh: images/s of the typical augmentation pipeline (flip, rotate, crop
# 224, brightness/contrast, normalize on 256x256 RGB + mask) in lunet.transforms and in the
# same steps with OpenCV (python3-opencv), same thread count, one run each, and the ratio.
# THREADS (default 1) and SECONDS_PER_RUN (default 3) override the settings.
cd "$(dirname "$0")/.." || exit 1
threads=${THREADS:-1}
secs=${SECONDS_PER_RUN:-3}
lua=${LUA:-lua5.4}
: "${LUA_PATH:=$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;}"
: "${LUA_CPATH:=$PWD/build/?.so;;}"
export LUA_PATH LUA_CPATH
l=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" "$lua" bench/augment.lua "$threads" "$secs") || exit 1
c=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" /usr/bin/python3 bench/augment_cv.py "$threads" "$secs") || exit 1
lv=${l#lunet }
cv=${c#opencv }
awk -v l="$lv" -v c="$cv" -v t="$threads" 'BEGIN {
  printf "augment 256x256 RGB+mask (flip, rotate, crop 224, brightness/contrast, normalize), %d thread(s)\n", t
  printf "  lunet  %8.1f images/s\n  opencv %8.1f images/s\n  ratio lunet/opencv %.2f\n", l, c, l / c }'
