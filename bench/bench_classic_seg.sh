#!/bin/sh
# bench/bench_classic_seg.sh: lunet.classic.slic / felzenszwalb against scikit-image on a real
# photo (Pascal VOC 2011_000025.jpg from Debian's labelme-examples, resized to 512x512 and
# 2048x2048 by scikit-image), and lunet.classic.dense_crf on 512x512 with 21 classes (no
# reference installed: pydensecrf is not packaged). lunet and scikit-image run alternately,
# ROUNDS times (default 2), each run the best of REPS (default 3; 1 at 2048) in-process;
# the best wall time of all rounds is compared, with the CPU time of that run (all threads)
# beside it. lunet uses THREADS threads (default 2; scikit-image's kernels are single-threaded).
cd "$(dirname "$0")/.." || exit 1
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
reps=${REPS:-3}
lua=${LUA:-lua5.4}
: "${LUA_PATH:=$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;}"
: "${LUA_CPATH:=$PWD/build/?.so;;}"
export LUA_PATH LUA_CPATH
src=/usr/share/doc/labelme-examples/examples/semantic_segmentation/data_annotated/2011_000025.jpg
if [ ! -f "$src" ] || ! /usr/bin/python3 -c "import skimage" 2>/dev/null; then
  echo "classic_seg: not measured (needs labelme-examples and python3-skimage)"
  exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$src" "$tmp" <<'PY' || exit 1
import sys
import numpy as np
from skimage import io
from skimage.transform import resize
im = io.imread(sys.argv[1])[:, :, :3]
for n in (512, 2048):
    io.imsave(f"{sys.argv[2]}/img{n}.png", (resize(im, (n, n), order=1) * 255).round().astype(np.uint8),
              check_contrast=False)
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in 512 2048; do
  r=$reps
  [ "$n" = 2048 ] && r=1
  crf=""
  [ "$n" = 512 ] && crf=crf
  : >"$tmp/l$n"; : >"$tmp/s$n"
  i=0
  while [ $i -lt "$rounds" ]; do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" "$lua" bench/classic_seg.lua \
      "$tmp/img$n.png" "$r" "$threads" $crf >>"$tmp/l$n" || exit 1
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 /usr/bin/python3 bench/classic_seg_skimage.py \
      "$tmp/img$n.png" "$r" >>"$tmp/s$n" || exit 1
    i=$((i + 1))
  done
  for f in slic felzenszwalb dense_crf; do
    l=$(grep "^$f " "$tmp/l$n" | sort -k3 -g | head -1)
    s=$(grep "^$f " "$tmp/s$n" | sort -k3 -g | head -1)
    [ -z "$l" ] && continue
    if [ -z "$s" ]; then
      echo "$l" | awk -v t="$threads" '{ printf "%-13s %4dx%-4d lunet %7.3f s (CPU %7.3f s, %d thr), labels up to %s; no reference\n", $1, $2, $2, $3, $4, t, $5 }'
    else
      echo "$l $s" | awk -v t="$threads" '{ printf "%-13s %4dx%-4d lunet %7.3f s (CPU %7.3f s, %d thr) segments %s | scikit-image %7.3f s (CPU %7.3f s) segments %s | time ratio lunet/skimage %.2f (CPU %.2f)\n", $1, $2, $2, $3, $4, t, $5, $8, $9, $10, $3 / $8, $4 / $9 }'
    fi
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
