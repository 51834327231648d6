#!/bin/sh
# Loopback load test of the lighttpd segmentation endpoint (examples/serve): N requests
# (default 2,000) POST /segment of a 64 x 64 PNG, C at a time (default 4), sent by one curl
# (--parallel, keep-alive), against lighttpd with W workers x 1 thread (default 2 workers: the
# machine's 2 cores). Reports throughput, p50/p99 latency (curl's time_total per request) and
# the workers' CPU time per request (/proc/<pid>/stat: independent of other load), and
# each worker's VmRSS (/proc/<pid>/status) after a warm-up of 200 requests and after the run;
# fails when a request is not answered 200 or a worker's RSS grew by more than 10%.
# Model: out/serve/tuxpaint_serve.safetensors (make serve writes it) or else the same U-Net
# (depth 4, base 16, 3 -> 2 classes) with random weights (same cost).
#   sh bench/bench_serve.sh [N] [C] [W]
cd "$(dirname "$0")/.." || exit 1
N=${1:-2000}; C=${2:-4}; W=${3:-2}
eval "$(make -s env)"
if [ ! -x /usr/sbin/lighttpd ] || [ ! -f /usr/lib/lighttpd/mod_magnet.so ] || ! command -v curl >/dev/null; then
  echo "bench_serve: lighttpd, lighttpd-modules-lua or curl missing (apt-get install lighttpd lighttpd-modules-lua curl): skipped"
  exit 0
fi
dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; sleep 0.3; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
model=out/serve/tuxpaint_serve.safetensors
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE lua5.4 - "$dir" "$model" <<'EOF' || exit 1
local dir, model = arg[1], arg[2]
local lunet = require "lunet"
local image = require "lunet.image"
local f = io.open(model, "rb")
if f then f:close() else
  lunet.manual_seed(0)
  local UNet = require "lunet.models.unet"
  model = dir .. "/model.safetensors"
  require("lunet.predict").save_model(model, UNet{in_channels = 3, num_classes = 2, base = 16, depth = 4, norm = "batch"})
end
local ok, ds = pcall(function() return require("lunet.data").tuxpaint{n = 1, size = 64, seed = 7} end)
local img = ok and ds:get(1).image or lunet.randint(0, 256, {3, 64, 64}):to("uint8")
image.save(dir .. "/img.png", img)
io.open(dir .. "/model_path", "w"):write(model):close()
EOF
model=$(cat "$dir/model_path")
out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE lua5.4 examples/serve/launch.lua --model "$model" --port 0 \
      --background --workers "$W" --threads 1 --run-dir "$dir/run") || { echo "$out"; exit 1; }
pid=$(echo "$out" | sed -n 's/^pid=\([0-9]*\).*/\1/p')
url=$(echo "$out" | sed -n 's/.*url=\(.*\)$/\1/p')

# a curl config with n transfers of the image
config() {
  i=0
  while [ "$i" -lt "$1" ]; do
    [ "$i" -gt 0 ] && printf 'next\n'
    printf 'url = "%ssegment"\ndata-binary = "@%s/img.png"\nheader = "Content-Type: image/png"\noutput = "/dev/null"\nwrite-out = "%%{http_code} %%{time_total}\\n"\n' "$url" "$dir"
    i=$((i + 1))
  done
}
workers() {   # the lighttpd processes that answer requests: the children, or the server itself
  kids=$(for s in /proc/[0-9]*/stat; do awk -v p="$pid" '$4 == p {print $1}' "$s" 2>/dev/null; done)
  [ -n "$kids" ] && echo "$kids" || echo "$pid"
}
rss() { for w in $(workers); do printf '%s:%s ' "$w" "$(awk '/^VmRSS/ {print $2}' /proc/"$w"/status)"; done; }
cpu() { for w in $(workers); do sed 's/^.*) //' /proc/"$w"/stat | awk '{s += $12 + $13} END {printf "%d ", s}'; done; }   # utime + stime, ticks

config 200 > "$dir/warm.cfg"
config "$N" > "$dir/run.cfg"
curl -s --parallel --parallel-max "$C" -K "$dir/warm.cfg" > "$dir/warm.txt" 2>"$dir/curl.err"
before=$(rss)
cpu0=$(cpu)
load=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s.%N)
curl -s --parallel --parallel-max "$C" -K "$dir/run.cfg" > "$dir/run.txt" 2>>"$dir/curl.err"
t1=$(date +%s.%N)
after=$(rss)
cpu1=$(cpu)
lua5.4 - "$dir/run.txt" "$N" "$C" "$W" "$t0" "$t1" "$before" "$after" "$load" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" <<'EOF'
local file, n, c, w, t0, t1, before, after, load, cpu0, cpu1, hz = table.unpack(arg)
local lat, bad = {}, 0
for line in io.lines(file) do
  local code, t = line:match("^(%d+) ([%d.]+)")
  if code ~= "200" then bad = bad + 1 end
  lat[#lat + 1] = tonumber(t) * 1000
end
table.sort(lat)
local function q(p) return lat[math.max(1, math.ceil(p * #lat))] end
local wall = tonumber(t1) - tonumber(t0)
print(string.format("serve: %d requests (64x64 PNG, U-Net depth 4), %d concurrent, %d workers x 1 thread, load average %s",
  #lat, c, w, load))
print(string.format("serve: %.1f requests/s, latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d not 200",
  #lat / wall, q(0.5), q(0.99), lat[#lat], bad))
local ticks = 0
for v in cpu1:gmatch("%d+") do ticks = ticks + tonumber(v) end
for v in cpu0:gmatch("%d+") do ticks = ticks - tonumber(v) end
print(string.format("serve: the workers used %.1f s of CPU: %.1f ms per request (decode, predict, encode, lighttpd)",
  ticks / tonumber(hz), 1000 * ticks / tonumber(hz) / #lat))
local ok = bad == 0 and #lat == tonumber(n)
local b, a = {}, {}
for p, kb in before:gmatch("(%d+):(%d+)") do b[p] = tonumber(kb) end
for p, kb in after:gmatch("(%d+):(%d+)") do a[p] = tonumber(kb) end
for p, kb in pairs(b) do
  local k2 = a[p]
  local growth = k2 and (k2 - kb) / kb or math.huge
  print(string.format("serve: worker %s VmRSS %d kB after warm-up, %s kB after the run (%+.1f%%)", p, kb,
    tostring(k2), 100 * growth))
  if not (math.abs(growth) <= 0.10) then ok = false end
end
print("serve: " .. (ok and "ok (all 200, RSS within 10%)" or "FAILED"))
os.exit(ok and 0 or 1)
EOF
