#!/bin/sh
# A/B of the training step between two builds of lunet (say main's and this branch's), to see
# what the GEMM change does to whole steps: bench/step.lua for both models, the two builds
# alternating RUNS times (default 3), best figure of each kept, load average printed.
# One thread is timed in process CPU time (robust on a shared machine), two in wall time.
# OMP_WAIT_POLICY and the rest of the environment are inherited (OPENBLAS_CORETYPE unset).
# Extra environment for the A side only: A_ENV (e.g. A_ENV=OPENBLAS_CORETYPE=Prescott).
# CFGS picks the configurations (default "fashion 1 cpu,unet 1 cpu,fashion 2 wall,unet 2 wall").
# usage: sh bench/gemm_step_ab.sh A_BUILD_DIR B_BUILD_DIR     (dirs holding lunet/core.so)
cd "$(dirname "$0")/.." || exit 1
[ $# -eq 2 ] || { echo "usage: sh bench/gemm_step_ab.sh A_BUILD_DIR B_BUILD_DIR"; exit 2; }
A=$1 B=$2 R=${RUNS:-3}
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;"
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# CFGS: "model threads clock" triples separated by commas
CFGS=${CFGS:-"fashion 1 cpu,unet 1 cpu,fashion 2 wall,unet 2 wall"}
echo "$CFGS" | tr ',' '\n' > "$out/cfgs"
while read -r m t c; do
  set -- "$m" "$t" "$c"
  run=1
  while [ "$run" -le "$R" ]; do
    for side in A B; do
      dir=$A; envs=${A_ENV:-}
      [ $side = B ] && { dir=$B; envs=""; }
      r=$(env -u OPENBLAS_CORETYPE $envs LUA_PATH="$LP" LUA_CPATH="$dir/?.so;;" \
            lua5.4 bench/step.lua --model "$1" --threads "$2" --clock "$3" --steps 5) || exit 1
      echo "$side $r (load $(load))"
      echo "$r" >> "$out/$side.$1.$2"
    done
    run=$((run + 1))
  done
done < "$out/cfgs"
echo "best of each (train step ms, eval forward ms):"
for f in "$out"/A.*; do
  key=${f#"$out"/A.}
  a=$(sed 's/.*"train_step_ms": \([0-9.]*\), "eval_fwd_ms": \([0-9.]*\).*/\1 \2/' "$f" | awk 'NR == 1 || $1 < t {t = $1} NR == 1 || $2 < e {e = $2} END {print t, e}')
  b=$(sed 's/.*"train_step_ms": \([0-9.]*\), "eval_fwd_ms": \([0-9.]*\).*/\1 \2/' "$out/B.$key" | awk 'NR == 1 || $1 < t {t = $1} NR == 1 || $2 < e {e = $2} END {print t, e}')
  echo "$key: A $a   B $b" | awk '{printf "%-10s A train %7.1f eval %7.1f   B train %7.1f eval %7.1f   B/A train %.2f\n", $1, $3, $4, $6, $7, $6/$3}'
done
