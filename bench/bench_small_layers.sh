#!/bin/sh
# Forward, input gradient and weight gradient of the small-map convolutions timed one by one
# (bench/small_layers.lua and its PyTorch twin bench/small_layers_torch.py: the Fashion-MNIST
# U-Net's 28x28 / 14x14 / 7x7 layers at batch 64, the benchmark U-Net's 8x8 to 32x32 layers
# and the Tux Paint net's at batch 8), the two sides alternating RUNS times (default 3), the
# best time of each kept per layer and kernel, load average printed beside every run.
# THREADS (default 2) threads; CLOCK=cpu times process CPU time (with THREADS=1 the figure a
# loaded machine disturbs least); ALGO forces lunet's algorithm (auto, gemm, direct, batched,
# winograd, plane); FILTER is a Lua pattern / Python regex on the layer names (e.g. ^f).
cd "$(dirname "$0")/.." || exit 1
T=${THREADS:-2}
R=${RUNS:-3}
A=${ALGO:-auto}
F=${FILTER:-}
REPS=${REPS:-10}
LP="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;"
have_torch=0
if /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=1; fi
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
run=1
while [ "$run" -le "$R" ]; do
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LUA_PATH="$LP" LUA_CPATH="$PWD/build/?.so;;" \
    lua5.4 bench/small_layers.lua "$T" "$REPS" "$A" "$F" > "$tmp/lunet.$run" || exit 1
  echo "lunet run $run done (load $(load))"
  if [ $have_torch = 1 ]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
      /usr/bin/python3 bench/small_layers_torch.py "$T" "$REPS" "$F" > "$tmp/torch.$run" || exit 1
    echo "pytorch run $run done (load $(load))"
  fi
  run=$((run + 1))
done
[ $have_torch = 1 ] || echo "pytorch: not measured (needs python3-torch)"
lua5.4 - "$tmp" "$R" "$T" "$A" <<'LUA'
local dir, runs = arg[1], tonumber(arg[2])
local function read(side)
  local t, order = {}, {}
  for r = 1, runs do
    local f = io.open(dir .. "/" .. side .. "." .. r)
    if f then
      for line in f:lines() do
        local name, kind, ms, gf = line:match("^(%S+)%s+(%S+)%s+(%S+)%s+(%S+)")
        if name then
          local key = name .. " " .. kind
          ms, gf = tonumber(ms), tonumber(gf)
          if not t[key] then order[#order + 1] = key; t[key] = { ms, gf }
          elseif ms < t[key][1] then t[key] = { ms, gf } end
        end
      end
      f:close()
    end
  end
  return t, order
end
local l, order = read("lunet")
local p = read("torch")
print(string.format("best of %d runs, %s threads, lunet algo %s (ms, GFLOP/s):", runs, arg[3], arg[4]))
print(string.format("%-16s %9s %7s %9s %7s %7s", "layer kernel", "lunet", "GF/s", "pytorch", "GF/s", "ratio"))
local sl, sp = 0, 0
for _, key in ipairs(order) do
  local a, b = l[key], p[key]
  sl = sl + a[1]
  if b then
    sp = sp + b[1]
    print(string.format("%-16s %9.3f %7.1f %9.3f %7.1f %7.2f", key, a[1], a[2], b[1], b[2], a[1] / b[1]))
  else
    print(string.format("%-16s %9.3f %7.1f", key, a[1], a[2]))
  end
end
if sp > 0 then print(string.format("%-16s %9.3f %7s %9.3f %7s %7.2f", "sum", sl, "", sp, "", sl / sp)) end
LUA
