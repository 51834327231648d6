#!/bin/sh
# The benchmark U-Net training step and eval forward, lunet beside PyTorch in one run, on
# the same shapes and thread budget (THREADS, default 2; STEPS, default 10). OpenBLAS's
# core-type override is unset for both, as the machine's notes say for benchmarks. PyTorch
# runs with its best setting (../shared/bench/torch_unet.py header: OPENBLAS_NUM_THREADS=1).
cd "$(dirname "$0")/.." || exit 1
T=${THREADS:-2}
S=${STEPS:-10}
TORCH=../shared/bench/torch_unet.py
lua_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE lua5.4 bench/unet.lua --threads "$T" --steps "$S") || exit 1
echo "lunet:   $lua_out"
if [ -f "$TORCH" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
  torch_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$TORCH" "$T" 8 128 "$S") || exit 1
  echo "pytorch: $torch_out"
  lua5.4 - "$lua_out" "$torch_out" <<'LUA'
local function field(s, k) return tonumber(s:match('"' .. k .. '": ([%d.]+)')) end
for _, k in ipairs { "train_step_ms", "eval_fwd_ms", "maxrss_mb" } do
  local a, b = field(arg[1], k), field(arg[2], k)
  print(string.format("%-14s lunet %8.1f  pytorch %8.1f  ratio %.2f", k, a, b, a / b))
end
LUA
else
  echo "pytorch: not measured (needs ../shared/bench/torch_unet.py and python3-torch)"
fi
