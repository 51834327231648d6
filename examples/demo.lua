-- The main job (make demo): trains two U-Nets on real data with lunet.train.fit and scores
-- them on held-out data.
--   1. Fashion-MNIST as 11-class segmentation (Debian dataset-fashion-mnist): mask =
--      (pixel > 10) * (item class + 1); 3-level U-Net, base 16, batch norm (PyTorch recipe
--      of bench/fashion_torch.py), Adam with a one-cycle schedule (max lr 6e-3),
--      batch 64, 2 epochs over 48,000 images (2,000 others held out for per-epoch validation;
--      36,000 reached 0.81 in 2/3 of its steps; 58,000 reached 0.84 with 1.2x the steps);
--      scored on the 10,000 test images (bar: mIoU >= 0.80).
--   2. Tux Paint photo composites (Debian tuxpaint-stamps-default): a photo cut-out pasted on
--      a procedural texture, 48 x 48, foreground vs background; 4-level U-Net, base 16,
--      cross-entropy + Dice loss, Adam one-cycle (max lr 6e-3), batch 8, 16 epochs over 1,024
--      composites with flips and quarter turns; scored on 256 composites drawn with another
--      seed (bar: foreground IoU >= 0.85).
-- Writes to out/ (or --out DIR): <task>_log.csv (per-epoch history), <task>_overlay.png
-- (test images with the predicted mask blended in), <task>_curve.png (loss and metric
-- curves, drawn by gnuplot when it is installed: Debian gnuplot-nox), <task>.safetensors
-- (last checkpoint; a rerun resumes from it unless --fresh is given) and the best one.
--
--   make demo                              # or, in-tree:
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;" \
--   LUA_CPATH="$PWD/build/?.so;;" lua5.4 examples/demo.lua [--quick] [--fresh] [--only fashion|tuxpaint]
--     [--threads N] [--out DIR] [--fashion-epochs N] [--fashion-train N] [--tux-epochs N] [--tux-train N]
--     [--workers N | --fashion-workers N | --tux-workers N]
-- --quick runs a tiny version of both tasks (seconds) to check the plumbing; the bars are
-- only meaningful with the defaults.
-- --workers N (or --fashion-workers / --tux-workers) loads the training batches in N
-- persistent DataLoader worker processes; the same seed gives the same batches, so the
-- results are identical. Both tasks default to 0: their inputs cost well under 1% of a step
-- (Fashion-MNIST batches are index_selects of tensors in memory, the Tux Paint flips and
-- quarter turns act on 48 x 48 images), so a worker has nothing to take off the training
-- thread, while the training already uses both cores.

local lunet = require "lunet"
local nn = require "lunet.nn"
local optim = require "lunet.optim"
local data = require "lunet.data"
local image = require "lunet.image"
local train = require "lunet.train"
local T = require "lunet.transforms"
local UNet = require "lunet.models.unet"

local fmt = string.format
local clock = require("lunet.train.progress").clock

-- ------------------------------------------------------------------------------ options
local cfg = {
  out = "out", threads = nil, fresh = false, only = nil,
  fashion_epochs = 2, fashion_train = 48000, fashion_val = 2000, fashion_lr = 6e-3,
  tux_epochs = 16, tux_train = 1024, tux_val = 128, tux_test = 256, tux_size = 48, tux_lr = 6e-3, tux_batch = 8,
  fashion_workers = 0, tux_workers = 0,
}
do
  local int, num = "int", "num"
  local o = require("lunet.cli").parse_args("demo", arg or {}, { flags = {
    quick = "bool", fresh = "bool", only = "str", out = "str", threads = int,
    workers = int, ["fashion-workers"] = int, ["tux-workers"] = int,
    ["fashion-epochs"] = int, ["fashion-train"] = int, ["fashion-lr"] = num,
    ["tux-epochs"] = int, ["tux-train"] = int, ["tux-batch"] = int, ["tux-lr"] = num, ["tux-size"] = int,
  } })
  if o.help then
    print("usage: lua5.4 examples/demo.lua [--quick] [--fresh] [--only fashion|tuxpaint] [--threads N] [--out DIR]\n" ..
          "  [--fashion-epochs N] [--fashion-train N] [--fashion-lr X] [--tux-epochs N] [--tux-train N]\n" ..
          "  [--tux-batch N] [--tux-lr X] [--tux-size N] [--workers N | --fashion-workers N | --tux-workers N]\n" ..
          "(see the top of examples/demo.lua)")
    os.exit(0)
  end
  if o.only ~= nil and o.only ~= "fashion" and o.only ~= "tuxpaint" then
    error(fmt("demo: --only must be 'fashion' or 'tuxpaint', got '%s'", o.only), 0)
  end
  if o.quick then
    cfg.fashion_epochs, cfg.fashion_train, cfg.fashion_val = 1, 2048, 256
    cfg.tux_epochs, cfg.tux_train, cfg.tux_val, cfg.tux_test = 1, 64, 16, 32
  end
  if o.workers then cfg.fashion_workers, cfg.tux_workers = o.workers, o.workers end
  o.workers = nil
  for k, v in pairs(o) do cfg[k] = v end -- explicit flags win over --quick and --workers
end
if cfg.threads then lunet.set_num_threads(cfg.threads) end
os.execute("mkdir -p '" .. cfg.out .. "'")

local function path(name) return cfg.out .. "/" .. name end

local function have(cmd)
  return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true
end

-- A subset [first, first + n) of a TensorDataset, as a new TensorDataset (views).
local function subset(ds, first, n, transform)
  local t = {}
  for k, v in pairs(ds.tensors) do t[k] = v:narrow(1, first, n) end
  t.transform = transform
  return data.TensorDataset(t)
end

-- Per-class IoU / Dice table with class names, then the means.
local function report(title, cm, names)
  local iou, dice = cm:iou(), cm:dice()
  print(("\n%s"):format(title))
  print(fmt("  %-3s %-12s %7s %7s", "id", "class", "IoU", "Dice"))
  for k = 1, cm.num_classes do
    print(fmt("  %-3d %-12s %7.4f %7.4f", k - 1, names[k] or "", iou[k], dice[k]))
  end
  print(fmt("  mIoU %.4f   mean Dice %.4f   pixel accuracy %.4f", cm:miou(), cm:mdice(), cm:pixel_accuracy()))
end

-- Loss and metric curves from the CSV log, drawn by gnuplot when present.
local function curves(csv, png, title, metric)
  if not have("gnuplot") then
    print("  (gnuplot not found: install gnuplot-nox for " .. png .. "; the CSV log is " .. csv .. ")")
    return
  end
  local script = png .. ".gp"
  local f = assert(io.open(script, "w"))
  f:write(fmt([[
set terminal png size 900,380 noenhanced
set output '%s'
set datafile separator ','
set key autotitle columnhead
set multiplot layout 1,2 title '%s'
set xlabel 'epoch'
set title 'loss'
plot '%s' using 1:2 with linespoints title 'train loss', '' using 1:3 with linespoints title 'val loss'
set title '%s'
set yrange [*:1]
plot '%s' using 1:'%s' with linespoints title 'val %s'
unset multiplot
]], png, title, csv, metric, csv, metric, metric))
  f:close()
  if os.execute("gnuplot '" .. script .. "' 2>/dev/null") == true then
    print("  wrote " .. png)
  else
    print("  gnuplot failed on " .. script)
  end
  os.remove(script)
end

-- A grid (rows x cols) of images with their predicted masks blended in, as one PNG.
local function overlay_grid(model, ds, n, cols, scale, file, palette)
  local b = ds:get_batch((function() local t = {} for i = 1, n do t[i] = i end return t end)())
  local img = b.image
  if img:dtype() == "uint8" then img = img:to("float32"):div(255) end
  if img:dim() == 3 then img = img:unsqueeze(2) end
  model:eval()
  local pred = lunet.no_grad(function() return nn.functional.labels(model(img)) end)
  local C, H, W = 3, img:size(3) * scale, img:size(4) * scale
  local rows = (n + cols - 1) // cols
  local canvas = lunet.zeros({ C, rows * (H + 2), cols * (W + 2) }, { dtype = "uint8" })
  for i = 1, n do
    local x = img:narrow(1, i, 1)
    local m = pred:narrow(1, i, 1):unsqueeze(2):to("float32")
    if scale > 1 then
      x = nn.functional.interpolate(x, { scale_factor = scale, mode = "nearest" })
      m = nn.functional.interpolate(m, { scale_factor = scale, mode = "nearest" })
    end
    if x:size(2) == 1 then x = x:expand(1, 3, H, W) end
    local o = image.overlay(x:select(1, 1):contiguous(), m:select(1, 1):select(1, 1):to("int32"), { alpha = 0.45, palette = palette })
    local r, c = (i - 1) // cols, (i - 1) % cols
    canvas:narrow(2, r * (H + 2) + 2, H):narrow(3, c * (W + 2) + 2, W):copy_(o)
  end
  image.save(file, canvas)
  print("  wrote " .. file)
end

local function fit_task(name, o)
  local ck = path(name .. ".safetensors")
  if cfg.fresh then
    os.remove(ck); os.remove(train.best_checkpoint_path(ck))
  end
  o.checkpoint, o.log = ck, path(name .. "_log.csv")
  local t0, c0 = clock(), os.clock()
  local h = train.fit(o)
  print(fmt("  trained in %.1f s wall, %.1f s CPU (%s; last checkpoint %s)", clock() - t0, os.clock() - c0, o.log, ck))
  return h
end

local results = {}
local t_start = clock()

-- ------------------------------------------------------------------------ Fashion-MNIST
if cfg.only == nil or cfg.only == "fashion" then
  print("== Fashion-MNIST, 11-class segmentation (background + 10 clothing classes)")
  lunet.manual_seed(0)
  local full = data.fashion_mnist{ split = "train" }
  local test = data.fashion_mnist{ split = "test" }
  local ntr = math.min(cfg.fashion_train, full:len() - cfg.fashion_val)
  local tr = subset(full, 1, ntr)
  local va = subset(full, full:len() - cfg.fashion_val + 1, cfg.fashion_val)
  local bs = 64
  local loader = data.DataLoader(tr, { batch_size = bs, shuffle = true, drop_last = true, seed = 1,
                                       num_workers = cfg.fashion_workers, persistent_workers = cfg.fashion_workers > 0 })
  local val_loader = data.DataLoader(va, { batch_size = 500 })
  local model = UNet{ in_channels = 1, num_classes = 11, base = 16, depth = 3, norm = "batch" }
  local opt = optim.Adam(model:parameters(), { lr = cfg.fashion_lr })
  local sched = optim.OneCycleLR(opt, { max_lr = cfg.fashion_lr, total_steps = cfg.fashion_epochs * loader:len() })
  print(fmt("  %d training images (%d held out for validation), %d test images; %s parameters; %d epochs of %d steps",
            ntr, cfg.fashion_val, test:len(), model:num_parameters(), cfg.fashion_epochs, loader:len()))
  fit_task("fashion", {
    model = model, loss = nn.CrossEntropyLoss{}, optimizer = opt, scheduler = sched, scheduler_interval = "step",
    train_loader = loader, val_loader = val_loader, epochs = cfg.fashion_epochs,
    metrics = { "miou", "pixel_accuracy", "dice" },
  })
  local tl = data.DataLoader(test, { batch_size = 500 })
  model:eval():fuse()   -- BatchNorm folded into the convolutions for the test pass (checkpoint already written)
  local t0 = clock()
  local cm = train.evaluate(model, tl, { num_classes = 11 })
  report(fmt("Fashion-MNIST test set (%d images, %.1f s):", test:len(), clock() - t0), cm, test.classes)
  results.fashion = cm:miou()
  overlay_grid(model, test, 32, 8, 4, path("fashion_overlay.png"))
  curves(path("fashion_log.csv"), path("fashion_curve.png"), "Fashion-MNIST U-Net", "miou")
end

-- ------------------------------------------------------------------------- Tux Paint
if cfg.only == nil or cfg.only == "tuxpaint" then
  print("\n== Tux Paint photo composites, foreground vs background")
  lunet.manual_seed(0)
  local S = cfg.tux_size
  local t0 = clock()
  local all = data.tuxpaint{ n = cfg.tux_train + cfg.tux_val, size = S, seed = 0 }
  local test = data.tuxpaint{ n = cfg.tux_test, size = S, seed = 1 }   -- held out: another seed
  print(fmt("  made %d + %d composites of %dx%d in %.1f s", all:len(), test:len(), S, S, clock() - t0))
  local aug = T.Compose{ T.HorizontalFlip{}, T.RandomRotate90{}, seed = 2 }
  local tr = subset(all, 1, cfg.tux_train, aug)
  local va = subset(all, cfg.tux_train + 1, cfg.tux_val)
  local loader = data.DataLoader(tr, { batch_size = cfg.tux_batch, shuffle = true, drop_last = true, seed = 1,
                                       num_workers = cfg.tux_workers, persistent_workers = cfg.tux_workers > 0 })
  local val_loader = data.DataLoader(va, { batch_size = 64 })
  local model = UNet{ in_channels = 3, num_classes = 2, base = 16, depth = 4, norm = "batch" }
  local opt = optim.Adam(model:parameters(), { lr = cfg.tux_lr })
  local sched = optim.OneCycleLR(opt, { max_lr = cfg.tux_lr, total_steps = cfg.tux_epochs * loader:len() })
  print(fmt("  %d training composites (flips, quarter turns), %d validation, %d test; %s parameters; %d epochs",
            cfg.tux_train, cfg.tux_val, cfg.tux_test, model:num_parameters(), cfg.tux_epochs))
  fit_task("tuxpaint", {
    model = model, loss = nn.CrossEntropyLoss{} + nn.DiceLoss{ mode = "multiclass" }, optimizer = opt,
    scheduler = sched, scheduler_interval = "step",
    train_loader = loader, val_loader = val_loader, epochs = cfg.tux_epochs,
    metrics = { "miou", "pixel_accuracy", "dice", fg_iou = function(cm) return cm:iou()[2] end },
    monitor = "fg_iou",
  })
  model:eval():fuse()
  local cm = train.evaluate(model, data.DataLoader(test, { batch_size = 64 }), { num_classes = 2 })
  report(fmt("Tux Paint held-out composites (%d images, seed 1):", test:len()), cm, test.classes)
  results.tuxpaint = cm:iou()[2]
  overlay_grid(model, test, 16, 8, 2, path("tuxpaint_overlay.png"), { { 0, 0, 0 }, { 0, 255, 64 } })
  curves(path("tuxpaint_log.csv"), path("tuxpaint_curve.png"), "Tux Paint U-Net", "fg_iou")
end

-- ------------------------------------------------------------------------------ summary
print(fmt("\n== summary (%.1f s in all, %.1f s CPU time)", clock() - t_start, os.clock()))
local function bar(name, v, goal, what)
  if v == nil then return end
  local ok = v >= goal
  print(fmt("  %-22s %s %.4f  (bar >= %.2f: %s)%s", name, what, v, goal, ok and "reached" or "NOT reached",
            cfg.quick and " [--quick run: bars not meaningful]" or ""))
end
bar("Fashion-MNIST test", results.fashion, 0.80, "mIoU")
bar("Tux Paint held-out", results.tuxpaint, 0.85, "foreground IoU")
