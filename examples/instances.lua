-- Instance segmentation with a semantic network on real photographs: Tux Paint composites
-- with several photo cut-outs per image, overlapping and touching (lunet.data.tuxpaint_instances,
-- instance ids exact from the stamps' alpha channels). A U-Net from the zoo learns the 3-class
-- target of lunet.instances (background, interior, boundary; boundary = "touching": the
-- contours where objects meet, so thin objects keep an interior); lunet.instances.from_output
-- turns its output into instance ids (interior regions as seeds, watershed inside the
-- foreground; seeds below min_marker_size pixels are dropped so that their pixels join a
-- neighbour instead of becoming fragments). Its settings (threshold, marker_threshold,
-- min_marker_size, min_size) are chosen on 256 validation composites by AP50 (a coarse grid,
-- then a finer coordinate search around its best), then the held-out composites are scored once. The softmax is averaged over the 8 flips / quarter
-- turns (test-time augmentation; --no-tta: off).
-- Scored on held-out composites (another seed) with AP50, AP@[.5:.95] (TP / (TP + FP + FN)
-- after one-to-one matching, summed over the data set, as StarDist's matching_dataset) and PQ
-- (Kirillov et al.); writes an overlay PNG with one colour per predicted instance.
--
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;" \
--   LUA_CPATH="$PWD/build/?.so;;" lua5.4 examples/instances.lua [--quick] [--epochs N] [--train N] [--val N]
--     [--threads N] [--out DIR] [--eval] [--coarse] [--no-tta] [--boundary-width N] [--seed N] [--data-seed N]
-- --seed: the model-initialisation seed (default 0); --data-seed: the seed of the training and
-- validation composites (default 0; not 1, the held-out set's): to measure the spread of a recipe.
-- --coarse: choose the post-processing settings on the coarse grid only (no finer search).
-- --eval: skip training, load the weights of a previous run (DIR/instances.safetensors).
-- --boundary-width N: width of the touching boundaries in the targets (default 2).
-- --quick: a tiny run (seconds) that checks the plumbing; the bar is for the defaults (exit
-- status 1 below it). --boundary-weight X: cross-entropy weight of the boundary class (1).

local lunet = require "lunet"
local nn = require "lunet.nn"
local optim = require "lunet.optim"
local data = require "lunet.data"
local image = require "lunet.image"
local train = require "lunet.train"
local metrics = require "lunet.metrics"
local T = require "lunet.transforms"
local I = require "lunet.instances"
local UNet = require "lunet.models.unet"

local fmt = string.format
local clock = require("lunet.train.progress").clock

local cfg = { out = "out", epochs = 24, ntrain = 2048, nval = 256, ntest = 128, size = 64, batch = 8, lr = 6e-3, tta = true,
              bweight = 1 }
do
  local o = require("lunet.cli").parse_args("instances", arg or {}, { flags = {
    quick = "bool", epochs = "int", train = "int", val = "int", threads = "int", out = "str",
    eval = "bool", coarse = "bool", ["no-tta"] = "bool", ["boundary-width"] = "int", ["boundary-weight"] = "num",
    seed = "int", ["data-seed"] = "int",
  } })
  if o.help then
    print("usage: lua5.4 examples/instances.lua [--quick] [--epochs N] [--train N] [--val N] [--threads N]\n" ..
          "  [--out DIR] [--eval] [--coarse] [--no-tta] [--boundary-width N] [--seed N] [--data-seed N] (see the top of the file)")
    os.exit(0)
  end
  if o.quick then cfg.epochs, cfg.ntrain, cfg.nval, cfg.ntest, cfg.quick = 1, 32, 8, 16, true end
  cfg.epochs = o.epochs or cfg.epochs
  cfg.ntrain, cfg.nval = o.train or cfg.ntrain, o.val or cfg.nval
  cfg.out, cfg.eval_only, cfg.bw = o.out or cfg.out, o.eval, o.boundary_width
  if o.no_tta then cfg.tta = false end
  cfg.coarse = o.coarse
  cfg.seed, cfg.data_seed = o.seed or 0, o.data_seed or 0
  cfg.bweight = o.boundary_weight or cfg.bweight
  if cfg.data_seed == 1 then error("instances: --data-seed 1 is the held-out set's seed: choose another", 0) end
  if o.threads then lunet.set_num_threads(o.threads) end
end
os.execute("mkdir -p '" .. cfg.out .. "'")
local t_start = clock()
lunet.manual_seed(cfg.seed)

-- data: the training composites move ids with the flips / quarter turns, then become targets
local S = cfg.size
local t0 = clock()
local all = data.tuxpaint_instances { n = cfg.ntrain + cfg.nval, size = S, seed = cfg.data_seed }
local test = data.tuxpaint_instances { n = cfg.ntest, size = S, seed = 1 }   -- held out
local ninst = 0
for _, c in ipairs(test.counts) do ninst = ninst + c end
print(fmt("made %d + %d composites of %dx%d (%d test instances) in %.1f s", all:len(), test:len(), S, S, ninst,
          clock() - t0))
local aug = T.Compose { T.HorizontalFlip {}, T.RandomRotate90 {}, seed = 2 }
local targets = I.Targets { boundary = "touching", boundary_width = cfg.bw or 2 }
local function subset(ds, first, n, tf)
  local t = {}
  for k, v in pairs(ds.tensors) do t[k] = v:narrow(1, first, n) end
  t.transform = tf
  return data.TensorDataset(t)
end
local tr = subset(all, 1, cfg.ntrain, function(s) return targets(aug(s)) end)
local va = subset(all, cfg.ntrain + 1, cfg.nval, targets)
local loader = data.DataLoader(tr, { batch_size = cfg.batch, shuffle = true, drop_last = true, seed = 1 })
local val_loader = data.DataLoader(va, { batch_size = 64 })

local model = UNet { in_channels = 3, num_classes = 3, base = 16, depth = 4, norm = "batch" }
local opt = optim.Adam(model:parameters(), { lr = cfg.lr })
local sched = optim.OneCycleLR(opt, { max_lr = cfg.lr, total_steps = cfg.epochs * loader:len() })
print(fmt("U-Net (base 16, depth 4), %d parameters; %d epochs of %d steps", model:num_parameters(), cfg.epochs,
          loader:len()))
local ck = cfg.out .. "/instances.safetensors"
if cfg.eval_only then
  train.checkpoint.load_model(model, ck)
  print("weights of " .. ck)
else
  train.fit {
    model = model, loss = nn.CrossEntropyLoss { weight = { 1, 1, cfg.bweight } } + nn.DiceLoss { mode = "multiclass" }, optimizer = opt,
    scheduler = sched, scheduler_interval = "step", train_loader = loader, val_loader = val_loader,
    epochs = cfg.epochs, metrics = { "miou", boundary_iou = function(cm) return cm:iou()[3] end },
    monitor = "miou", checkpoint = ck,
  }
end
local t_train = clock() - t_start
model:eval()

-- network output for a whole data set; with test-time augmentation (default; --no-tta: off)
-- the log-softmax is averaged over the 8 flips / quarter turns the training saw (dihedral
-- group: transpose then flip, undone by flip then transpose)
local F = nn.functional
local function outputs(ds)
  local idx = {}
  for i = 1, ds:len() do idx[i] = i end
  local b = ds:get_batch(idx)
  local x = b.image:float():div(255)
  local out = lunet.no_grad(function()
    if not cfg.tta then return model(x) end
    local sum
    for tr = 0, 1 do
      for _, dims in ipairs { {}, { 4 }, { 3 }, { 3, 4 } } do
        local xi = tr == 1 and x:transpose(3, 4):contiguous() or x
        if #dims > 0 then xi = xi:flip(table.unpack(dims)) end
        local y = F.log_softmax(model(xi), 2)
        if #dims > 0 then y = y:flip(table.unpack(dims)) end
        if tr == 1 then y = y:transpose(3, 4):contiguous() end
        sum = sum and sum:add(y) or y
      end
    end
    return sum:div(8)
  end)
  return { batch = b, logits = out }
end

-- AP at the thresholds (data-set level: TP, FP, FN summed over the images) and PQ
local function score(o, pp)
  local b = o.batch
  local preds = I.from_output(o.logits, pp)
  local pred, gt = lunet.stack(preds), b.mask
  local ap, mean = {}, 0
  for k, t in ipairs(metrics.AP_THRESHOLDS) do
    local tp, fp, fnn = metrics.match_instances(pred, gt, { iou_threshold = t })
    local s = { 0, 0, 0 }
    for n = 1, #tp do s[1], s[2], s[3] = s[1] + tp[n], s[2] + fp[n], s[3] + fnn[n] end
    ap[k] = s[1] / (s[1] + s[2] + s[3])
    mean = mean + ap[k] / #metrics.AP_THRESHOLDS
  end
  local _, _, _, det = metrics.panoptic_quality(pred, gt)
  local c = { tp = 0, fp = 0, fn = 0, iou = 0 }
  for _, d in ipairs(det) do c.tp, c.fp, c.fn, c.iou = c.tp + d.tp, c.fp + d.fp, c.fn + d.fn, c.iou + d.iou_sum end
  local den = c.tp + 0.5 * c.fp + 0.5 * c.fn
  return { ap = ap, ap_mean = mean, pq = c.iou / den, sq = c.tp > 0 and c.iou / c.tp or 0, rq = c.tp / den,
           tp = c.tp, fp = c.fp, fn = c.fn, preds = preds, batch = b }
end

-- post-processing settings chosen on the validation composites by AP50: a coarse grid, then
-- (unless --coarse) a coordinate search around its best (each setting in turn moved by one or
-- two finer steps, kept when the validation AP50 rises; at most 3 passes). The probabilities
-- are computed once: from_output(logits, pp) is watershed(1 - p(background), p(interior),
-- {kind = "interior", ...}) of the softmax.
local vo = outputs(va)
local t1 = clock()
local vp = F.softmax(vo.logits, 2)
local v_fg, v_int = vp:select(2, 1):neg():add(1):contiguous(), vp:select(2, 2):contiguous()
local v_gt = vo.batch.mask
local nsel = 0
local function val_ap50(pp)
  nsel = nsel + 1
  local w = { kind = "interior", threshold = pp.threshold, marker_threshold = pp.marker_threshold,
              min_marker_size = pp.min_marker_size, min_size = pp.min_size }
  local preds = {}
  for i = 1, v_fg:size(1) do preds[i] = I.watershed(v_fg:select(1, i), v_int:select(1, i), w) end
  local tp, fp, fnn = metrics.match_instances(lunet.stack(preds), v_gt, { iou_threshold = 0.5 })
  local s = { 0, 0, 0 }
  for n = 1, #tp do s[1], s[2], s[3] = s[1] + tp[n], s[2] + fp[n], s[3] + fnn[n] end
  return s[1] / (s[1] + s[2] + s[3])
end
local best, best_pp = -1, nil
for _, th in ipairs { 0.4, 0.5 } do
  for _, mt in ipairs { 0.7, 0.8, 0.9 } do
    for _, mms in ipairs { 0, 16, 32, 48 } do
      for _, ms in ipairs { 16, 40 } do
        local pp = { threshold = th, marker_threshold = mt, min_marker_size = mms, min_size = ms }
        local a = val_ap50(pp)
        if a > best then best, best_pp = a, pp end
      end
    end
  end
end
local coarse = best
if not cfg.coarse then
  local steps = { threshold = { 0.05, 0.3, 0.7 }, marker_threshold = { 0.05, 0.5, 0.97 },
                  min_marker_size = { 8, 0, 96 }, min_size = { 8, 0, 80 } }
  for _ = 1, 3 do
    local moved = false
    for _, k in ipairs { "threshold", "marker_threshold", "min_marker_size", "min_size" } do
      local st, lo, hi = steps[k][1], steps[k][2], steps[k][3]
      local base = best_pp[k]
      for _, d in ipairs { -2, -1, 1, 2 } do
        local v = base + d * st
        if v >= lo - 1e-9 and v <= hi + 1e-9 then
          local pp = {}
          for kk, vv in pairs(best_pp) do pp[kk] = vv end
          pp[k] = v
          local a = val_ap50(pp)
          if a > best then best, best_pp, moved = a, pp, true end
        end
      end
    end
    if not moved then break end
  end
end
print(fmt("post-processing chosen on the %d validation composites%s: threshold %.2f, marker_threshold %.2f, "
          .. "min_marker_size %d, min_size %d (AP50 %.4f; coarse grid %.4f; %d settings tried, %.1f s)", va:len(),
          cfg.tta and " (8-fold test-time flips)" or "", best_pp.threshold, best_pp.marker_threshold,
          best_pp.min_marker_size, best_pp.min_size, best, coarse, nsel, clock() - t1))

t1 = clock()
local r = score(outputs(test), best_pp)
local ap, ap_mean, preds, batch, gt = r.ap, r.ap_mean, r.preds, r.batch, r.batch.mask
print(fmt("\nheld-out composites (%d images, %d instances, seed 1), inference + post-processing %.1f s:", test:len(),
          ninst, clock() - t1))
print(fmt("  AP50 %.4f   AP75 %.4f   AP@[.5:.95] %.4f", ap[1], ap[6], ap_mean))
print(fmt("  PQ %.4f = SQ %.4f x RQ %.4f   (TP %d, FP %d, FN %d at IoU > 0.5)", r.pq, r.sq, r.rq, r.tp, r.fp, r.fn))

-- overlay: 16 test images, one colour per predicted instance (left) and per true instance (right)
local pal = { { 0, 0, 0 } }
for i = 1, 63 do
  local h = (i * 0.618034) % 1
  local function ch(o) return math.floor(255 * math.max(0, math.min(1, math.abs((h * 6 + o) % 6 - 3) - 1)) + 0.5) end
  pal[i + 1] = { ch(0), ch(4), ch(2) }
end
local rows = {}
for r = 0, 3 do
  local cols = {}
  for c = 1, 4 do
    local i = r * 4 + c
    if i > test:len() then break end
    local img = batch.image:select(1, i)
    local p = preds[i]:clamp(0, 63)
    local g = gt:select(1, i):clamp(0, 63)
    cols[#cols + 1] = image.overlay(img, p, { palette = pal, alpha = 0.55 })
    cols[#cols + 1] = image.overlay(img, g, { palette = pal, alpha = 0.55 })
    cols[#cols + 1] = lunet.full({ 3, S, 2 }, 255):byte()
  end
  rows[#rows + 1] = lunet.cat(cols, 3)
  rows[#rows + 1] = lunet.full({ 3, 2, rows[#rows]:size(3) }, 255):byte()
end
local grid = lunet.cat(rows, 2)
grid = lunet.nn.functional.interpolate(grid:float():unsqueeze(1), { scale_factor = 2, mode = "nearest" })
  :squeeze(1):byte()
local png = cfg.out .. "/instances_overlay.png"
image.save(png, grid)
print("  wrote " .. png .. " (pairs: prediction | ground truth, one colour per instance)")
print(fmt("\ntraining %.1f s, all %.1f s (CPU %.1f s); bar AP50 >= 0.80: %s%s", t_train, clock() - t_start, os.clock(),
          ap[1] >= 0.80 and "reached" or "NOT reached", cfg.quick and " [--quick: not meaningful]" or ""))
if not cfg.quick and ap[1] < 0.80 then os.exit(1) end
