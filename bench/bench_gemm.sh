#!/bin/sh
# SGEMM benchmark on the GEMM shapes of the convolutions (bench/gemm.lua lists them): lunet's
# own SGEMM on each ISA the CPU has, OpenBLAS with its core type unset (its own pick for this
# CPU), forced to Prescott (what OpenBLAS 0.3.21 runs on a CPU it does not recognise) and to
# SkylakeX, and PyTorch's torch.mm when /usr/bin/python3 has torch; GFLOP/s, same thread count.
# THREADS (default "1 2"; with more than one thread lunet runs its split entry, "auto");
# RUNS (default 2): the sides alternate and each keeps its best figure. One thread is timed in
# process CPU time (preemption by other processes on a shared machine does not count), more
# threads in wall-clock time. Load average printed. With more than one thread lunet is also
# run with OMP_WAIT_POLICY=PASSIVE ("-passive"): on a machine loaded by other processes, a
# libgomp thread spinning at the end of a split GEMM can hold its core while its partner waits
# for one, and a split GEMM then takes a scheduler slice (the demo sets PASSIVE for the same
# reason); OpenBLAS's own threads yield while they wait.
cd "$(dirname "$0")/.." || exit 1
LUA=${LUA:-lua5.4}
R=${RUNS:-2}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
have_torch=0
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=1; fi
[ $have_torch = 1 ] || echo "(PyTorch not found: no torch column)"
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
for T in ${THREADS:-1 2}; do
  impls="isas,openblas"
  [ "$T" -gt 1 ] && impls="auto,openblas"
  files=""
  run=1
  while [ "$run" -le "$R" ]; do
    echo "threads $T, run $run: load average $(load)"
    f="$dir/t$T.r$run"
    env -u OPENBLAS_CORETYPE "$LUA" bench/gemm.lua measure "$impls" "$T" > "$f.lunet" || exit 1
    if [ "$T" -gt 1 ]; then   # libgomp's idle workers sleep instead of spinning (see below)
      env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY=PASSIVE "$LUA" bench/gemm.lua measure auto "$T" \
        > "$f.passive" || exit 1
      files="$files,$f.passive"
    fi
    OPENBLAS_CORETYPE=Prescott "$LUA" bench/gemm.lua measure openblas "$T" > "$f.prescott" || exit 1
    OPENBLAS_CORETYPE=SkylakeX "$LUA" bench/gemm.lua measure openblas "$T" > "$f.skx" || exit 1
    files="$files,$f.lunet,$f.prescott,$f.skx"
    if [ $have_torch = 1 ]; then
      "$LUA" bench/gemm.lua shapes | env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS="$T" \
        /usr/bin/python3 bench/gemm_torch.py "$T" > "$f.torch" || echo "gemm_torch.py failed"
      files="$files,$f.torch"
    fi
    run=$((run + 1))
  done
  echo "load average after: $(load)"
  echo "== $T thread(s): lt-* lunet (lt_gemm ISA), ob-* OpenBLAS (OPENBLAS_CORETYPE unset = default)"
  "$LUA" bench/gemm.lua report "${files#,}"
done
