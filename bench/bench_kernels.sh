#!/bin/sh
# Kernel benchmark: the conv, transposed-conv and max-pool layer shapes of the benchmark U-Net
# (bench/torch_unet.py), lunet vs PyTorch side by side, forward and forward+backward,
# 2 threads, OpenBLAS overrides unset. PyTorch runs in its best setting (OPENBLAS_NUM_THREADS=1,
# torch threads 2). Each side runs twice, alternating, and keeps its fastest time per layer (the
# machine may be shared). CONV_ISA=avx2|avx512 forces the direct conv kernels' ISA,
# CONV_ALGO=direct|gemm|batched|winograd|winograd_f2 the conv algorithm (default auto). Without
# /usr/bin/python3 + torch only the lunet column is printed. THREADS (default 2) sets both
# sides' thread budget; CLOCK=cpu times both in process CPU time (with THREADS=1 the figure
# a machine loaded by other jobs disturbs least).
cd "$(dirname "$0")/.." || exit 1
T=${THREADS:-2}
export CLOCK=${CLOCK:-wall}
LUA=${LUA:-lua5.4}
REPS=${REPS:-10}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
have_torch=0
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=1; fi
[ $have_torch = 1 ] || echo "(PyTorch not found: lunet times only)"
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
echo "load average before: $(load) (on a busy machine both columns run slow and jitter)"
for run in 1 2; do
  if [ $have_torch = 1 ]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
      /usr/bin/python3 bench/torch_kernels.py "$T" "$REPS" > "$dir/torch$run" || echo "torch_kernels.py failed"
  fi
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$LUA" bench/kernels.lua measure "$dir/lunet$run" "$REPS" "$T" ||
    { echo "kernels.lua failed"; exit 1; }
done
echo "load average after: $(load)"
"$LUA" bench/kernels.lua report "$dir/torch1,$dir/torch2" "$dir/lunet1,$dir/lunet2" "$REPS" "$T"
