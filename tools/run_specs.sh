#!/bin/sh
# Runs each busted spec file in its own process (a crash in one cannot hide the others),
# then prints the summary line "N passed, M failed".
# usage: run_specs.sh LUA SPEC_DIR_OR_FILES...
lua="$1"; shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
files=""
for a in "$@"; do
  if [ -d "$a" ]; then files="$files $(ls "$a"/*_spec.lua | sort | tr '\n' ' ')"; else files="$files $a"; fi
done
passed=0; failed=0
for f in $files; do
  name=$(basename "$f" .lua)
  busted --lua="$lua" -o TAP "$f" > "$out/$name.tap" 2>&1
  rc=$?
  p=$(grep -c '^ok ' "$out/$name.tap")
  n=$(grep -c '^not ok ' "$out/$name.tap")
  if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then n=1; fi   # crashed or failed to load
  passed=$((passed + p)); failed=$((failed + n))
  if [ "$n" -gt 0 ]; then
    echo "FAIL $f ($p passed, $n failed)"
    grep -v '^ok ' "$out/$name.tap" | head -60
  else
    echo "ok   $f ($p passed)"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
