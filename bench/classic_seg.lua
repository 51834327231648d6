-- bench/classic_seg.lua: seconds of lunet.classic.slic, felzenszwalb and dense_crf on the
-- bench image (bench/bench_classic_seg.sh writes it: a Pascal VOC photo from Debian's
-- labelme-examples, resized to N x N). Prints one line per function:
-- "<name> <N> <best wall seconds> <CPU seconds of that run (all threads)> <segments>".
-- usage: lua5.4 bench/classic_seg.lua <png> <reps> <threads> [crf]
local lunet = require "lunet"
local classic = require "lunet.classic"
local F = require "lunet.nn.functional"

local path, reps, threads, with_crf = arg[1], tonumber(arg[2] or "3"), tonumber(arg[3] or "2"), arg[4] == "crf"
lunet.set_num_threads(threads)
local img = lunet.image.load(path)
local n = img:size(2)
local now = lunet.now

local function best(name, f)
  local bw, bc, extra = math.huge, 0, ""
  for _ = 1, reps do
    collectgarbage()
    local t0, c0 = now(), os.clock()
    extra = f()
    local w, c = now() - t0, os.clock() - c0
    if w < bw then bw, bc = w, c end
  end
  io.write(string.format("%s %d %.4f %.4f %s\n", name, n, bw, bc, tostring(extra)))
end

best("slic", function()
  local l = classic.slic(img, { n_segments = 400, compactness = 10 })
  return l:max():item()
end)
best("felzenszwalb", function()
  local _, count = classic.felzenszwalb(img, { scale = 100, sigma = 0.8, min_size = 50 })
  return count
end)
if with_crf then
  -- 21 classes (Pascal VOC), smooth random logits at 1/16 resolution upsampled: a stand-in for
  -- a network's softmax output
  local g = lunet.Generator(0)
  local logits = F.interpolate(lunet.randn(1, 21, n // 16, n // 16, { generator = g }):mul(3),
                               { size = { n, n }, mode = "bilinear" })
  local probs = F.softmax(logits, 2):squeeze(1):contiguous()
  best("dense_crf", function()
    local _, labels = classic.dense_crf(probs, img)
    return labels:max():item()
  end)
end
