-- Overlap-tile prediction of a large image with the benchmark U-Net of bench/torch_unet.py
-- (3 -> 1 class, base 16, depth 5, conv-BN-ReLU blocks), random weights, eval mode, fused.
--   lua5.4 bench/predict.lua [--threads 2] [--size 2048] [--tile 544] [--overlap 32]
--     [--batch 4] [--runs 3] [--nofuse]
-- Prints JSON: best-of-runs wall ms of model:predict (and the CPU seconds of the process).
local lunet = require "lunet"
local UNet = require "lunet.models.unet"
local o = { threads = 2, size = 2048, tile = 544, overlap = 32, batch = 4, runs = 3, fuse = true }
local i = 1
while arg[i] do
  local a = arg[i]
  if a == "--nofuse" then o.fuse = false; i = i + 1
  else o[a:sub(3)] = tonumber(arg[i + 1]); i = i + 2 end
end
lunet.set_num_threads(o.threads)
lunet.manual_seed(0)
local model = UNet { in_channels = 3, num_classes = 1, base = 16, depth = 5, norm = "batch" }
model:eval()
if o.fuse then model:fuse() end
local img = lunet.rand(3, o.size, o.size)
local now = require("lunet.train.progress").clock
local opts = { tile = o.tile, overlap = o.overlap, batch_size = o.batch }
if o.tile == 0 then opts = { batch_size = 1 } end
model:predict(lunet.rand(3, 256, 256), opts)     -- warm-up (caches, scratch)
local best = math.huge
for _ = 1, o.runs do
  local t0 = now()
  local y = model:predict(img, opts)
  local dt = now() - t0
  assert(y:size(2) == o.size)
  if dt < best then best = dt end
  y = nil
  collectgarbage()
end
print(string.format('{"lunet_predict_ms": %.1f, "size": %d, "tile": %d, "overlap": %d, "batch": %d, "fused": %s, "threads": %d, "cpu_s": %.1f}',
  best * 1e3, o.size, o.tile, o.overlap, o.batch, tostring(o.fuse), o.threads, os.clock()))
