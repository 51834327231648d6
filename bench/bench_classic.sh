#!/bin/sh
# bench/bench_classic.sh: lunet.classic beside scikit-image / scipy (python3-skimage) on 512x512
# and 2048x2048 images (skimage's camera.png, tiled; RGB astronaut.png for k-means): for each
# size, ROUNDS rounds alternate one lunet process (bench/classic.lua) and one scikit-image
# process (bench/classic_skimage.py), each timing every operation best of REPS calls; the best
# over the rounds is printed with the ratio lunet/skimage, by wall clock and by process CPU
# time (all threads; steadier on a shared machine). lunet gets 2 threads (OpenMP), scikit-image
# runs as it is. SIZES (default "512 2048"), ROUNDS (3), REPS (3) and ONLY (an op name
# substring) override the settings.
cd "$(dirname "$0")/.." || exit 1
sizes=${SIZES:-"512 2048"}
rounds=${ROUNDS:-3}
reps=${REPS:-3}
only=${ONLY:-}
lua=${LUA:-lua5.4}
: "${LUA_PATH:=$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;}"
: "${LUA_CPATH:=$PWD/build/?.so;;}"
export LUA_PATH LUA_CPATH
if ! /usr/bin/python3 -c "import skimage, scipy" 2>/dev/null; then
  echo "classic: scikit-image not measured (needs python3-skimage: apt-get install python3-skimage)"
  exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $sizes; do
  r=1
  while [ "$r" -le "$rounds" ]; do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2 "$lua" bench/classic.lua "$s" "$reps" $only \
      >> "$tmp/lunet_$s" || exit 1
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/classic_skimage.py "$s" "$reps" $only \
      >> "$tmp/sk_$s" || exit 1
    r=$((r + 1))
  done
  echo "classic ops on ${s}x${s}, best of $rounds rounds x $reps calls (ms); ratio < 1: lunet faster"
  awk -v size="$s" '
    FNR == 1 { f++ }
    f == 1 { if (!($1 in lw) || $2 < lw[$1]) lw[$1] = $2; if (!($1 in lc) || $3 < lc[$1]) lc[$1] = $3
             if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
    f == 2 { if (!($1 in sw) || $2 < sw[$1]) sw[$1] = $2; if (!($1 in sc) || $3 < sc[$1]) sc[$1] = $3 }
    END {
      printf "  %-24s %10s %10s %7s   %10s %10s %7s\n", "op", "lunet wall", "skim wall", "ratio", "lunet cpu", "skim cpu", "ratio"
      for (i = 1; i <= n; i++) { k = order[i]
        printf "  %-24s %10.2f %10.2f %7.2f   %10.2f %10.2f %7.2f\n", k, lw[k] * 1000, sw[k] * 1000, lw[k] / sw[k],
               lc[k] * 1000, sc[k] * 1000, lc[k] / sc[k] }
    }' "$tmp/lunet_$s" "$tmp/sk_$s"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
