#!/bin/sh
# The 3-D U-Net (models/unet3d.lua: 1 input channel, 64^3 patches, base 16, 4 levels, batch
# 2) beside PyTorch 1.13 (bench/torch_unet3d.py, oneDNN 3-D convolutions): every layer shape
# forward + backward, the whole training step (cross entropy, Adam) and the peak RSS of a
# process that runs only the step. Same shapes and thread budget (THREADS, default 2), with
# OpenBLAS's core-type override unset for both; the sides alternate RUNS times (default 2)
# and each keeps its best figures; wall and CPU milliseconds both, and the load average beside
# every run (on a shared machine CPU time is the steadier comparison). ONLY="bota,botb" keeps
# the layers named by their first word; STEP=0 skips the whole-step runs (layers only); each
# side runs one untimed pass of its first layer before timing.
cd "$(dirname "$0")/.." || exit 1
T=${THREADS:-2}
R=${RUNS:-2}
REPS=${REPS:-2}
STEPS=${STEPS:-2}
TORCH=bench/torch_unet3d.py
have_torch=0
if [ -f "$TORCH" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then have_torch=1; fi
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null; }
LUNET="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE lua5.4 bench/unet3d.lua"
PYT="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 $TORCH"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
run=1
while [ "$run" -le "$R" ]; do
  echo "run $run: lunet layers (load $(load))"
  $LUNET layers --threads "$T" --reps "$REPS" >> "$tmp/lunet_layers" || exit 1
  if [ "${STEP:-1}" != 0 ]; then
    echo "run $run: lunet step   (load $(load))"
    $LUNET step --threads "$T" --steps "$STEPS" | tee -a "$tmp/lunet_step" || exit 1
  fi
  if [ $have_torch = 1 ]; then
    echo "run $run: pytorch layers (load $(load))"
    $PYT layers "$T" "$REPS" >> "$tmp/torch_layers" || exit 1
    if [ "${STEP:-1}" != 0 ]; then
      echo "run $run: pytorch step   (load $(load))"
      $PYT step "$T" "$STEPS" | tee -a "$tmp/torch_step" || exit 1
    fi
  fi
  run=$((run + 1))
done
if [ $have_torch = 0 ]; then
  echo "pytorch: not measured (needs bench/torch_unet3d.py and python3-torch)"
  cat "$tmp/lunet_layers"
  exit 0
fi
lua5.4 - "$tmp" <<'LUA'
local dir = arg[1]
local function layers(file)
  local t, order = {}, {}
  for line in io.lines(dir .. "/" .. file) do
    local name, fw, bw, fc, bc, gf = line:match("^(.-)%s+([%d.]+)%s+([%d.]+)%s+([%d.]+)%s+([%d.]+)%s+([%d.]+)$")
    if name then
      local w, c = tonumber(fw) + tonumber(bw), tonumber(fc) + tonumber(bc)
      if not t[name] then order[#order + 1] = name; t[name] = { w = w, c = c, gf = tonumber(gf) }
      else
        if w < t[name].w then t[name].w = w end
        if c < t[name].c then t[name].c = c end
      end
    end
  end
  return t, order
end
local a, order = layers("lunet_layers")
local b = layers("torch_layers")
print(string.format("%-24s %10s %10s %6s   %10s %10s %6s", "layer (fwd + bwd, best)", "lunet ms", "torch ms",
  "ratio", "lunet cpu", "torch cpu", "ratio"))
local worst, worst_cpu = 0, 0
for _, n in ipairs(order) do
  local x, y = a[n], b[n]
  print(string.format("%-24s %10.1f %10.1f %6.2f   %10.1f %10.1f %6.2f", n, x.w, y.w, x.w / y.w, x.c, y.c, x.c / y.c))
  worst, worst_cpu = math.max(worst, x.w / y.w), math.max(worst_cpu, x.c / y.c)
end
print(string.format("worst layer ratio: wall %.2f, cpu %.2f", worst, worst_cpu))
local function best(file, k)
  local m
  for line in io.lines(dir .. "/" .. file) do
    local v = tonumber(line:match('"' .. k .. '": ([%d.]+)'))
    if v and (not m or v < m) then m = v end
  end
  return m
end
local f = io.open(dir .. "/lunet_step")
if not f then return end
f:close()
for _, k in ipairs { "train_step_ms", "train_step_cpu_ms", "maxrss_mb" } do
  local x, y = best("lunet_step", k), best("torch_step", k)
  print(string.format("%-18s lunet %9.1f  pytorch %9.1f  ratio %.2f", k, x, y, x / y))
end
LUA
