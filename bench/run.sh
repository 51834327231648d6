#!/bin/sh
# make bench: runs every bench/bench_*.sh in order. Each prints lunet and its reference
# side by side (same shapes, same thread budget) with the ratio.
cd "$(dirname "$0")/.." || exit 1
status=0
for b in bench/bench_*.sh; do
  [ -f "$b" ] || continue
  echo "== $b"
  sh "$b" || status=1
done
exit $status
