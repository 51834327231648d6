-- Classical segmentation beside a U-Net, on one picture: a real photograph from Debian's
-- tuxpaint-stamps-default (a photo cut-out, pasted by lunet.data.tuxpaint on a procedural
-- background, so the foreground mask is known exactly) segmented by
--   1 the input            2 Otsu's threshold      3 k-means (colour + position, k = 3)
--   4 Canny edges          5 SLIC superpixels      6 Felzenszwalb's segments
--   7 watershed of the Sobel gradient from low-gradient seeds
--   8 the demo U-Net (make demo's Tux Paint checkpoint out/tuxpaint[.best].safetensors when
--     present, else a small one trained here in about a minute)
--   9 the same U-Net refined by the fully connected CRF (lunet.classic.dense_crf, DeepLab's
--     parameters)
-- Label maps are drawn with one colour per label, region methods also with their borders;
-- foreground methods print their IoU against the exact mask. Writes
-- examples/figures/classic.png (or --out FILE).
--
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;" \
--   LUA_CPATH="$PWD/build/?.so;;" lua5.4 examples/classic.lua [--checkpoint FILE] [--seed N] [--out FILE]

local lunet = require "lunet"
local nn = require "lunet.nn"
local F = require "lunet.nn.functional"
local optim = require "lunet.optim"
local data = require "lunet.data"
local image = require "lunet.image"
local train = require "lunet.train"
local T = require "lunet.transforms"
local classic = require "lunet.classic"
local UNet = require "lunet.models.unet"

local fmt = string.format
local clock = require("lunet.train.progress").clock

local cfg = { out = "examples/figures/classic.png", seed = 11, checkpoint = nil, size = 192 }
do
  local o = require("lunet.cli").parse_args("classic", arg or {},
    { flags = { out = "str", seed = "int", checkpoint = "str" } })
  if o.help then
    print("usage: lua5.4 examples/classic.lua [--out FILE.png] [--seed N] [--checkpoint FILE] (see the top of the file)")
    os.exit(0)
  end
  for k, v in pairs(o) do cfg[k] = v end
end
local t_start = clock()
local S = cfg.size

-- the picture: one composite of data.tuxpaint at S x S (the stamp's longer side 0.6..0.8 of S)
local ds = data.tuxpaint { n = 1, size = S, seed = cfg.seed, scale = { 0.6, 0.8 } }
local rgb = ds.tensors.image:select(1, 1):contiguous()        -- uint8 3 x S x S
local truth = ds.tensors.mask:select(1, 1):contiguous()       -- int32 0/1
print(fmt("picture: %s (tuxpaint-stamps-default) on a procedural background, %dx%d", ds.stamps[1], S, S))
local gray = rgb:float():mul(lunet.tensor({ 0.299, 0.587, 0.114 }):view(3, 1, 1)):sum(1):squeeze(1)
  :round():clamp(0, 255):byte()

local function iou(mask)
  local m, t = mask:gt(0), truth:gt(0)
  local inter = m:mul(t):sum():item()
  return inter / (m:sum():item() + t:sum():item() - inter)
end

-- drawing helpers: colours per label, borders between labels
local pal = { { 0, 0, 0 } }
for i = 1, 255 do
  local h = (i * 0.618034) % 1
  local function ch(o) return math.floor(255 * math.max(0, math.min(1, math.abs((h * 6 + o) % 6 - 3) - 1)) + 0.5) end
  pal[i + 1] = { ch(0), ch(4), ch(2) }
end
local function borders(labels)
  local f = labels:float():unsqueeze(1):unsqueeze(1)
  local mx = F.max_pool2d(f, { kernel = 3, stride = 1, padding = 1 })
  local mn = F.max_pool2d(f:neg(), { kernel = 3, stride = 1, padding = 1 }):neg()
  return mx:ne(mn):squeeze(1):squeeze(1)
end
local function paint(img, mask, colour)   -- img uint8 3 x H x W, mask uint8 H x W
  local c = lunet.tensor(colour):view(3, 1, 1):expand(3, S, S):byte()
  return lunet.where(mask:unsqueeze(1):expand(3, S, S), c, img)
end
local function regions(labels, with_borders)
  local l = labels:int()
  local wrapped = l:sub(l:sub(1):float():div(255):floor():mul(255):int())   -- 1..255 (0 stays 0)
  local out = image.overlay(rgb, wrapped, { palette = pal, alpha = 0.45, background = false })
  if with_borders then out = paint(out, borders(l), { 255, 255, 255 }) end
  return out
end
local function foreground(mask)
  return image.overlay(rgb, mask:int(), { palette = { { 0, 0, 0 }, { 0, 230, 64 } }, alpha = 0.5 })
end

local panels, notes = { rgb }, { "input" }
local function add(name, img, note, secs)
  panels[#panels + 1] = img
  notes[#notes + 1] = fmt("%s%s (%.2f s)", name, note and ", " .. note or "", secs)
end
local function timed(f) local t0 = clock(); local a, b, c = f(); return clock() - t0, a, b, c end

-- 2 Otsu: the stamp may be the darker or the brighter side; keep the better polarity
local dt, thr = timed(function() return classic.threshold_otsu(gray) end)
local hi, lo = gray:gt(thr), gray:le(thr)
local otsu = iou(hi) >= iou(lo) and hi or lo
add("Otsu", foreground(otsu), fmt("threshold %.0f, IoU %.3f", thr, iou(otsu)), dt)

-- 3 k-means on colour + position
local dt2, km = timed(function()
  local x = classic.pixel_features(rgb, { xy = 0.5 })
  return classic.kmeans(x, 3, { seed = 0 })
end)
add("k-means", regions(km:view(S, S):add(1), true), "k = 3 on RGB + 0.5 xy", dt2)

-- 4 Canny
local dt3, edges = timed(function() return classic.canny(gray, { sigma = 1.5 }) end)
add("Canny", paint(rgb:float():mul(0.4):byte(), edges, { 255, 255, 255 }), "sigma 1.5", dt3)

-- 5 SLIC, 6 Felzenszwalb
local dt4, sp = timed(function() return classic.slic(rgb, { n_segments = 150, compactness = 10 }) end)
add("SLIC", regions(sp, true), fmt("%d superpixels", sp:max():item()), dt4)
local dt5, fz, nfz = timed(function() return classic.felzenszwalb(rgb, { scale = 200, sigma = 0.8, min_size = 80 }) end)
add("Felzenszwalb", regions(fz:add(1), true), fmt("%d segments", nfz), dt5)

-- 7 watershed of the gradient from the regions of low gradient
local dt6, ws, nseeds = timed(function()
  local grad = classic.sobel(gray:float():div(255))
  local seeds, n = classic.label(grad:lt(0.02), { connectivity = 1 })
  seeds = require("lunet.instances").relabel(seeds, { min_size = 30 })
  return classic.watershed(grad, seeds), n
end)
add("watershed", regions(ws, true), "Sobel gradient, seeds: gradient < 0.02", dt6)

-- 8 the U-Net of make demo (Tux Paint foreground, trained on 48 x 48 composites)
local model = UNet { in_channels = 3, num_classes = 2, base = 16, depth = 4, norm = "batch" }
local ck = cfg.checkpoint
for _, p in ipairs { "out/tuxpaint.best.safetensors", "out/tuxpaint.safetensors" } do
  if not ck and io.open(p, "rb") then ck = p end
end
if ck then
  train.checkpoint.load_model(model, ck)
  print("U-Net: weights of " .. ck)
else
  local t0 = clock()
  lunet.manual_seed(0)
  local tr = data.tuxpaint { n = 512, size = 48, seed = 0 }
  tr.transform = T.Compose { T.HorizontalFlip {}, T.RandomRotate90 {}, seed = 2 }
  local loader = data.DataLoader(tr, { batch_size = 8, shuffle = true, drop_last = true, seed = 1 })
  local epochs = 6
  local opt = optim.Adam(model:parameters(), { lr = 6e-3 })
  train.fit { model = model, loss = nn.CrossEntropyLoss {} + nn.DiceLoss { mode = "multiclass" }, optimizer = opt,
              scheduler = optim.OneCycleLR(opt, { max_lr = 6e-3, total_steps = epochs * loader:len() }),
              scheduler_interval = "step", train_loader = loader, epochs = epochs, progress = false }
  print(fmt("U-Net: no make demo checkpoint (out/tuxpaint.safetensors): trained one here on 512 composites, " ..
            "%d epochs, %.1f s", epochs, clock() - t0))
end
model:eval()
local dt7, probs = timed(function()
  -- the network sees the picture at its training scale (48 x 48); probabilities back at S x S
  local x = F.interpolate(rgb:float():div(255):unsqueeze(1), { size = { 48, 48 }, mode = "bilinear" })
  local logits = lunet.no_grad(function() return model(x) end)
  logits = F.interpolate(logits, { size = { S, S }, mode = "bilinear" })
  return F.softmax(logits, 2):squeeze(1):contiguous()
end)
local unet = probs:argmax(1):sub(1)
add("U-Net", foreground(unet), fmt("IoU %.3f", iou(unet)), dt7)

-- 9 U-Net + dense CRF
local dt8, _, crf = timed(function() return classic.dense_crf(probs, rgb) end)
add("U-Net + CRF", foreground(crf), fmt("IoU %.3f", iou(crf)), dt8)

-- the 3 x 3 grid with white gutters
local gut = 4
local rows = {}
for r = 0, 2 do
  local cols = {}
  for c = 1, 3 do
    cols[#cols + 1] = panels[r * 3 + c]
    if c < 3 then cols[#cols + 1] = lunet.full({ 3, S, gut }, 255):byte() end
  end
  rows[#rows + 1] = lunet.cat(cols, 3)
  if r < 2 then rows[#rows + 1] = lunet.full({ 3, gut, rows[#rows]:size(3) }, 255):byte() end
end
image.save(cfg.out, lunet.cat(rows, 2))
print("panels (left to right, top to bottom):")
for i, n in ipairs(notes) do print(fmt("  %d %s", i, n)) end
print(fmt("wrote %s (%.1f s in all)", cfg.out, clock() - t_start))
