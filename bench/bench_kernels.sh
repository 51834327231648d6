#!/bin/sh
# Kernel benchmark: the conv, transposed-conv and max-pool layer shapes of the benchmark U-Net
# (../shared/bench/torch_unet.py), lunet vs PyTorch side by side, forward and forward+backward,
# 2 threads, OpenBLAS overrides unset. PyTorch runs in its best setting (OPENBLAS_NUM_THREADS=1,
# torch threads 2); without /usr/bin/python3 + torch only the lunet column is printed.
cd "$(dirname "$0")/.." || exit 1
LUA=${LUA:-lua5.4}
REPS=${REPS:-10}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "== bench_kernels: U-Net layer shapes, lunet vs PyTorch =="
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
    /usr/bin/python3 bench/torch_kernels.py 2 "$REPS" > "$tmp" || echo "torch_kernels.py failed"
else
  echo "(PyTorch not found: lunet times only)"
fi
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$LUA" bench/kernels.lua "$tmp" "$REPS" 2
