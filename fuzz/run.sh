#!/bin/sh
# fuzz/run.sh BUILD SECONDS|replay TARGET...: runs each libFuzzer target of BUILD for SECONDS
# (new inputs go to BUILD/corpus/TARGET; the committed seeds in fuzz/corpus/TARGET are only
# read), or with "replay" runs each once over its committed corpus. Prints one line per
# target and fails if any target reported a crash, leak, timeout, out-of-memory or
# sanitizer error (its log and the input that triggered it are kept in BUILD).
build="$1"; secs="$2"; shift 2
status=0
for t in "$@"; do
  bin="$build/fuzz_$t"
  seeds="fuzz/corpus/$t"
  log="$build/$t.log"
  mkdir -p "$build/corpus/$t" "$build/artifacts"
  dict=""
  [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
  if [ "$secs" = replay ]; then
    # shellcheck disable=SC2086
    "$bin" -runs=0 -rss_limit_mb=2048 -timeout=60 -artifact_prefix="$build/artifacts/$t-" \
      "$seeds" > "$log" 2>&1
  else
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t-" $dict "$build/corpus/$t" "$seeds" > "$log" 2>&1
  fi
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1)
  if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|ERROR: libFuzzer' "$log"; then
    echo "FAIL fuzz_$t (exit $rc; log $log)"
    grep -E 'ERROR:|runtime error:|SUMMARY:|Test unit written' "$log" | head -20
    status=1
  elif [ "$secs" = replay ]; then
    echo "ok   fuzz_$t replayed $(ls "$seeds" | wc -l) seeds"
  else
    echo "ok   fuzz_$t ${secs}s: ${execs:-?} executions, ${corp:-corp: ?} (seeds $(ls "$seeds" | wc -l), corpus now $(ls "$build/corpus/$t" "$seeds" | grep -vc ':$'))"
  fi
done
exit $status
