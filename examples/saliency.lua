-- Salient-object detection with U^2-Net (small variant, U2NETP: 1,131,181 parameters) on
-- Tux Paint photo composites (Debian tuxpaint-stamps-default, lunet.data.tuxpaint): the
-- pasted photo cut-out is the salient object, its alpha mask the ground truth.
--   training   --train composites (seed 0) of --size x --size (default 1,024 of 32 x 32, 16
--              epochs) with flips and quarter turns; U^2-Net's recipe of deep supervision: the
--              same loss on the fused output and the six side outputs, summed (lunet.train.fit,
--              model.deep_supervision_weights); the loss is BCE + IoU (soft Jaccard, as
--              BASNet's hybrid loss) by default, --loss bce for the paper's BCE alone (in the
--              same budget it reached MAE 0.047 and max F 0.877 here, short of the F bar);
--              Adam with a one-cycle schedule (max lr 1e-2)
--   testing    --test composites drawn with another seed (held out); saliency = sigmoid of
--              the fused output d0 (model:predict uses it); reports MAE, max F-beta (beta^2 =
--              0.3; over 256 thresholds, of the mean precision-recall curve as Qin's evaluation
--              code for the U^2-Net paper; also the PySODMetrics convention, the maximum of the
--              mean per-image F, and the mean of per-image max F of lunet.metrics.fmeasure), the
--              adaptive F, S-measure (alpha 0.5) and mean E-measure (lunet.metrics), and
--              checks the bars MAE <= 0.05 and max F >= 0.90 (the paper's convention)
-- Writes to out/saliency (or --out DIR): saliency_pr.png (precision-recall curve over the 256
-- thresholds, drawn by gnuplot: Debian gnuplot-nox), saliency_pr.csv (its data),
-- saliency_maps.png (rows of image | ground truth | saliency map, held-out images),
-- saliency_log.csv (per-epoch history) and u2netp.safetensors (the trained model, with its
-- name and options for lunet.predict.load_model).
--
--   LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;$PWD/build/lua/?.lua;$PWD/build/lua/?/init.lua;;" \
--   LUA_CPATH="$PWD/build/?.so;;" lua5.4 examples/saliency.lua [--quick] [--size N] [--epochs N]
--     [--train N] [--test N] [--batch N] [--lr X] [--threads N] [--out DIR] [--seed N] [--data-seed N]
-- --seed: the model-initialisation seed (default 0); --data-seed: the seed of the training
-- composites (default 0; not 1, the held-out set's): to measure the spread of the recipe.
-- --quick: a tiny run (seconds) that checks the plumbing; the bars mean something only with
-- the defaults.

local lunet = require "lunet"
local nn = require "lunet.nn"
local optim = require "lunet.optim"
local data = require "lunet.data"
local image = require "lunet.image"
local metrics = require "lunet.metrics"
local train = require "lunet.train"
local predict = require "lunet.predict"
local T = require "lunet.transforms"
local U2Net = require "lunet.models.u2net"

local F = nn.functional
local fmt = string.format
local clock = require("lunet.train.progress").clock
local t_start = clock()

local cfg = { size = 32, epochs = 16, train = 1024, test = 256, batch = 16, lr = 1e-2, out = "out/saliency",
              loss = "bce+iou" }
do
  local o = require("lunet.cli").parse_args("saliency", arg or {}, { flags = {
    quick = "bool", size = "int", epochs = "int", train = "int", test = "int", batch = "int", lr = "num",
    threads = "int", out = "str", loss = "str", seed = "int", ["data-seed"] = "int",
  } })
  if o.help then
    print("usage: lua5.4 examples/saliency.lua [--quick] [--size N] [--epochs N] [--train N] [--test N]\n" ..
          "  [--batch N] [--lr X] [--threads N] [--out DIR] [--loss bce|bce+iou] [--seed N] [--data-seed N]\n" ..
          "  (see the top of the file)")
    os.exit(0)
  end
  if o.quick then cfg.epochs, cfg.train, cfg.test = 1, 64, 32 end
  for k, v in pairs(o) do cfg[k] = v end -- explicit flags win over --quick
end
cfg.seed, cfg.data_seed = cfg.seed or 0, cfg.data_seed or 0
if cfg.data_seed == 1 then error("saliency: --data-seed 1 is the held-out set's seed: choose another", 0) end
if cfg.threads then lunet.set_num_threads(cfg.threads) end
os.execute("mkdir -p '" .. cfg.out .. "'")
local function path(name) return cfg.out .. "/" .. name end

-- ------------------------------------------------------------------------------ data
lunet.manual_seed(cfg.seed)
local S = cfg.size
local t0 = clock()
local aug = T.Compose { T.HorizontalFlip {}, T.RandomRotate90 {}, seed = 2 }
local train_ds = data.tuxpaint { n = cfg.train, size = S, seed = cfg.data_seed, transform = aug }
local test_ds = data.tuxpaint { n = cfg.test, size = S, seed = 1 }      -- held out: another seed
print(fmt("made %d training and %d held-out composites of %dx%d in %.1f s", cfg.train, cfg.test, S, S, clock() - t0))

-- ------------------------------------------------------------------------------ model, training
local model = U2Net { variant = "small" }
print(fmt("U^2-Net small (U2NETP): %s parameters; %d epochs, batch %d, one-cycle Adam (max lr %g)",
  model:num_parameters(), cfg.epochs, cfg.batch, cfg.lr))
local loader = data.DataLoader(train_ds, { batch_size = cfg.batch, shuffle = true, drop_last = true, seed = 1 })
local opt = optim.Adam(model:parameters(), { lr = cfg.lr })
local sched = optim.OneCycleLR(opt, { max_lr = cfg.lr, total_steps = cfg.epochs * loader:len() })

-- BCE on logits N x 1 x H x W against the 0/1 mask N x H x W; fit applies it to each of the
-- seven outputs and sums (U2Net.deep_supervision_weights).
local function bce(logits, mask)
  return F.binary_cross_entropy_with_logits(logits, mask:unsqueeze(2):to("float32"))
end
local loss = bce
if cfg.loss == "bce+iou" then
  local iou = nn.JaccardLoss { mode = "binary" }
  loss = function(logits, mask) return bce(logits, mask) + iou(logits, mask) end
elseif cfg.loss ~= "bce" then
  error("saliency: --loss must be bce or bce+iou, got " .. tostring(cfg.loss), 0)
end
local history = train.fit {
  model = model, loss = loss, optimizer = opt, scheduler = sched, scheduler_interval = "step",
  train_loader = loader, epochs = cfg.epochs, log = path("saliency_log.csv"),
}
local train_s = clock() - t0
predict.save_model(path("u2netp.safetensors"), model, { model = "u2net" })

-- ------------------------------------------------------------------------------ evaluation
-- Saliency maps of the held-out composites: sigmoid of the fused output d0.
local imgs = test_ds.tensors.image:to("float32"):div(255)
local masks = test_ds.tensors.mask
model:eval()
local sal = lunet.no_grad(function()
  local parts = {}
  for s = 1, cfg.test, 64 do
    local n = math.min(64, cfg.test - s + 1)
    parts[#parts + 1] = F.sigmoid(model(imgs:narrow(1, s, n))):select(2, 1)
  end
  return lunet.cat(parts, 1)
end)

local function mean(list)
  local s = 0
  for _, v in ipairs(list) do s = s + v end
  return s / #list
end
local mae = mean(metrics.mae(sal, masks))
local adp_list, maxf_list = metrics.fmeasure(sal, masks, { beta2 = 0.3 })
local adp_f, per_image_max_f = mean(adp_list), mean(maxf_list)
local s_m = mean(metrics.s_measure(sal, masks))
local e_mean = mean((metrics.e_measure(sal, masks)))

-- Precision and recall per image at the 256 binarisations floor(255 sal) >= t (t = 0..255),
-- averaged over the images; F-beta per image then averaged; max F = the best threshold.
local beta2 = 0.3
local P, R, Fc = {}, {}, {}
for t = 0, 255 do P[t], R[t], Fc[t] = 0, 0, 0 end
local bins = (sal * 255):floor():to("int32")
for i = 1, cfg.test do
  local b, m = bins:select(1, i):reshape(-1):totable(), masks:select(1, i):reshape(-1):totable()
  local fg, bg, nfg = {}, {}, 0
  for t = 0, 255 do fg[t], bg[t] = 0, 0 end
  for k = 1, #b do
    if m[k] ~= 0 then fg[b[k]] = fg[b[k]] + 1; nfg = nfg + 1 else bg[b[k]] = bg[b[k]] + 1 end
  end
  local tp, fp = 0, 0
  for t = 255, 0, -1 do
    tp, fp = tp + fg[t], fp + bg[t]
    local p = (tp + fp) > 0 and tp / (tp + fp) or 0
    local r = nfg > 0 and tp / nfg or 0
    P[t], R[t] = P[t] + p, R[t] + r
    local f = (p + r) > 0 and (1 + beta2) * p * r / (beta2 * p + r) or 0
    Fc[t] = Fc[t] + f
  end
end
-- max F, two conventions: of the mean precision-recall curve (Qin's evaluation code, with which
-- the U^2-Net paper reports its max F: the bar uses this one), and the maximum of the mean of
-- the per-image F curves (PySODMetrics).
local max_f, best_t, max_f_img, best_t_img = -1, 0, -1, 0
for t = 0, 255 do
  P[t], R[t], Fc[t] = P[t] / cfg.test, R[t] / cfg.test, Fc[t] / cfg.test
  local f = (P[t] + R[t]) > 0 and (1 + beta2) * P[t] * R[t] / (beta2 * P[t] + R[t]) or 0
  if f > max_f then max_f, best_t = f, t end
  if Fc[t] > max_f_img then max_f_img, best_t_img = Fc[t], t end
end

-- ------------------------------------------------------------------------------ figures
local csv = path("saliency_pr.csv")
do
  local f = assert(io.open(csv, "w"))
  f:write("threshold,precision,recall,f_beta\n")
  for t = 0, 255 do f:write(fmt("%d,%.6f,%.6f,%.6f\n", t, P[t], R[t], Fc[t])) end
  f:close()
end
local png = path("saliency_pr.png")
if os.execute("command -v gnuplot >/dev/null 2>&1") == true then
  local script = png .. ".gp"
  local f = assert(io.open(script, "w"))
  f:write(fmt([[
set terminal png size 900,420 noenhanced
set output '%s'
set datafile separator ','
set multiplot layout 1,2 title 'U^2-Net small on held-out Tux Paint composites (%d images, %dx%d)'
set title 'precision-recall (256 thresholds)'
set xlabel 'recall'
set ylabel 'precision'
set xrange [0:1]
set yrange [0:1.02]
set grid
plot '%s' every ::1 using 3:2 with lines lw 2 title 'U^2-Net small'
set title 'F-beta (beta^2 = 0.3) by threshold: max %.3f at %d'
set xlabel 'threshold (of 255)'
set ylabel 'F-beta'
set xrange [0:255]
b2 = 0.3
fpr(p, r) = (p + r > 0) ? (1 + b2) * p * r / (b2 * p + r) : 0
plot '%s' every ::1 using 1:(fpr($2, $3)) with lines lw 2 title 'F of mean P, R', \
     '' every ::1 using 1:4 with lines lw 1 title 'mean per-image F'
unset multiplot
]], png, cfg.test, S, S, csv, max_f, best_t, csv))
  f:close()
  if os.execute("gnuplot '" .. script .. "' 2>/dev/null") == true then print("wrote " .. png)
  else print("gnuplot failed on " .. script) end
  os.remove(script)
else
  print("(gnuplot not found: install gnuplot-nox for " .. png .. "; the curve's data is in " .. csv .. ")")
end

-- Rows of [image | ground truth | saliency map], 2x nearest upscaling, 2 rows of 8 triples.
do
  local n, cols, scale = math.min(16, cfg.test), 4, 2
  local H, W = S * scale, S * scale
  local rows = (n + cols - 1) // cols
  local canvas = lunet.full({ 3, rows * (H + 4), cols * (3 * W + 8) }, 255, { dtype = "uint8" })
  local function up(x) return F.interpolate(x:unsqueeze(1), { scale_factor = scale, mode = "nearest" }):select(1, 1) end
  for i = 1, n do
    local r, c = (i - 1) // cols, (i - 1) % cols
    local y0, x0 = r * (H + 4) + 3, c * (3 * W + 8) + 3
    local gt = masks:select(1, i):to("float32"):unsqueeze(1):expand(3, S, S)
    local sm = sal:select(1, i):unsqueeze(1):expand(3, S, S)
    for j, t in ipairs { imgs:select(1, i), gt, sm } do
      local u8 = (up(t:contiguous()) * 255):clamp(0, 255):to("uint8")
      canvas:narrow(2, y0, H):narrow(3, x0 + (j - 1) * W, W):copy_(u8)
    end
  end
  image.save(path("saliency_maps.png"), canvas)
  print("wrote " .. path("saliency_maps.png"))
end

local total_s = clock() - t_start
print(fmt("\nheld-out composites (%d images, seed 1), saliency = sigmoid(d0):", cfg.test))
print(fmt("  MAE            %.4f   (bar <= 0.05)", mae))
print(fmt("  max F-beta     %.4f   (bar >= 0.90; beta^2 = 0.3, of the mean PR curve as the U^2-Net paper, threshold %d/255)",
  max_f, best_t))
print(fmt("                 %.4f   (max of the mean per-image F curve, as PySODMetrics, threshold %d/255)", max_f_img,
  best_t_img))
print(fmt("                 %.4f   (mean of each image's own max F, lunet.metrics.fmeasure)", per_image_max_f))
print(fmt("  adaptive F     %.4f", adp_f))
print(fmt("  S-measure      %.4f", s_m))
print(fmt("  mean E-measure %.4f", e_mean))
print(fmt("  final train loss (summed over the 7 outputs) %.4f; training %.0f s, total %.0f s", history[#history].train_loss,
  train_s, total_s))
if not cfg.quick then
  local ok = mae <= 0.05 and max_f >= 0.90
  print(ok and "bars met" or "BARS NOT MET")
  if not ok then os.exit(1) end
end
