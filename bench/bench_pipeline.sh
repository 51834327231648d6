#!/bin/sh
# bench/bench_pipeline.sh: images/s of the whole input pipeline — JPEG decode of 256x256
# photos (+ PNG masks), flip, rotate, random crop 224, brightness/contrast, normalize, batch
# 16 — through lunet's DataLoader (bench/pipeline.lua) and PyTorch's DataLoader running the
# same steps with PIL + numpy (bench/pipeline_torch.py), at num_workers 0, 1 and 2. The runs
# alternate (lunet, PyTorch, for each worker count, ROUNDS times); the table keeps the best
# of each, and the load average is printed beside every run (the machine may be shared).
# Beside images/s by wall clock, each run reports images per CPU second (its own and its
# workers' user + system time): on a loaded machine the wall figure only shows the share of
# the cores the run got, while the CPU figure shows what the pipeline costs; on an idle
# machine N workers approach N times the CPU figure.
# The photos are Tux Paint composites made by bench/pipeline_data.lua (Debian
# tuxpaint-stamps-default), written as JPEG by image.save or, where it writes PNG only, by
# bench/pipeline_jpeg.py (python3-pil). Without python3-torch the PyTorch column is skipped.
# Workers are persistent on both sides (forked once per run). ROUNDS (default 3), EPOCHS
# per run (default 3) and N_IMAGES (default 256) override.
cd "$(dirname "$0")/.." || exit 1
lua=${LUA:-lua5.4}
py=/usr/bin/python3
rounds=${ROUNDS:-3}
epochs=${EPOCHS:-3}
n=${N_IMAGES:-256}
: "${LUA_PATH:=$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;}"
: "${LUA_CPATH:=$PWD/build/?.so;;}"
export LUA_PATH LUA_CPATH
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

have_py() { [ -x "$py" ] && "$py" -c "import $1" 2>/dev/null; }

wrote=$("$lua" bench/pipeline_data.lua "$dir" "$n") || exit 1
if [ "$wrote" != jpeg ]; then
  if ! have_py PIL; then
    echo "bench_pipeline: image.save writes PNG only here and python3-pil is missing to write the JPEGs" \
         "(apt-get install python3-pil); skipped"
    exit 0
  fi
  "$py" bench/pipeline_jpeg.py "$dir" || exit 1
fi
torch=1
for mod in torch:python3-torch PIL:python3-pil numpy:python3-numpy; do
  if ! have_py "${mod%%:*}"; then
    echo "bench_pipeline: ${mod#*:} is not installed (apt-get install ${mod#*:}): the PyTorch column is skipped"
    torch=0
    break
  fi
done

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "input pipeline: $n JPEG photos 256x256 + PNG masks, flip, rotate, crop 224, brightness/contrast," \
     "normalize, batch 16, $epochs epochs per run, persistent workers; $(nproc) cores ($cpu)"
runs="$dir/runs"
: > "$runs"
for r in $(seq "$rounds"); do
  for w in 0 1 2; do
    l=$(env -u OPENBLAS_CORETYPE "$lua" bench/pipeline.lua "$dir" "$w" "$epochs") || exit 1
    echo "$l" >> "$runs"
    printf "  round %d: %-36s load %s\n" "$r" "$(echo "$l" | awk '{printf "%s %s %7.1f img/s %7.1f img/CPU-s", $1, $2, $3, $4}')" \
           "$(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "$torch" = 1 ]; then
      t=$(env -u OPENBLAS_CORETYPE "$py" bench/pipeline_torch.py "$dir" "$w" "$epochs") || exit 1
      echo "$t" >> "$runs"
      printf "  round %d: %-36s load %s\n" "$r" "$(echo "$t" | awk '{printf "%s %s %7.1f img/s %7.1f img/CPU-s", $1, $2, $3, $4}')" \
             "$(cut -d' ' -f1-3 /proc/loadavg)"
    fi
  done
done
awk -v torch="$torch" '
  { if ($3 > best[$1, $2]) best[$1, $2] = $3; if ($4 > cbest[$1, $2]) cbest[$1, $2] = $4 }
  END {
    printf "best of each: images/s by wall clock (images per CPU second)\n"
    printf "  %-11s %17s %17s %13s %11s\n", "num_workers", "lunet", "PyTorch", "lunet/PyTorch", "lunet vs 0"
    for (w = 0; w <= 2; w++) {
      l = best["lunet", w]; t = best["torch", w]
      printf "  %-11d %7.1f (%7.1f) %17s %13s %10.2fx\n", w, l, cbest["lunet", w],
             torch ? sprintf("%7.1f (%7.1f)", t, cbest["torch", w]) : "-",
             torch ? sprintf("%.2f", l / t) : "-", l / best["lunet", 0]
    }
  }' "$runs"
