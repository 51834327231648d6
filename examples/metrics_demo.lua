-- metrics_demo.lua: the classic traps of segmentation metrics, reproduced on concrete masks.
--   make && LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/?.so;;" \
--     lua5.4 examples/metrics_demo.lua
local lunet = require "lunet"
local metrics = require "lunet.metrics"

local function pct(x) return string.format("%.1f%%", 100 * x) end
local function section(s) print("\n== " .. s) end

-- 1. Pixel accuracy rewards the majority class --------------------------------------------
section("1. an empty prediction of an image with 5% foreground")
local H, W = 20, 20
local target = lunet.zeros({ H, W }, { dtype = "int32" })
for x = 1, W do target:set(1, 1, x) end                -- 20 of 400 pixels are foreground
local empty = lunet.zeros({ H, W }, { dtype = "int32" })
local cm = metrics.ConfusionMatrix(2):update(empty, target)
print(string.format("pixel accuracy %s, mIoU %s (background IoU %s, foreground IoU %s)",
  pct(cm:pixel_accuracy()), pct(cm:miou()), pct(cm:iou()[1]), pct(cm:iou()[2])))
print(cm)

-- 2. Dice and IoU of the same prediction -------------------------------------------------
section("2. one correct pixel plus one false pixel")
local t = lunet.tensor({ 1, 0, 0, 0 }, { shape = { 2, 2 }, dtype = "int32" })
local p = lunet.tensor({ 1, 1, 0, 0 }, { shape = { 2, 2 }, dtype = "int32" })
local fg = { num_classes = 2, classes = { 1 } }        -- score the foreground class only
print(string.format("Dice %.4f (= 2/3), IoU %.4f (= 1/2)", metrics.dice(p, t, fg), metrics.iou(p, t, fg)))

-- 3. IoU = Dice / (2 - Dice) per image, but not for averages over a set ------------------
section("3. Dice/2 <= IoU <= Dice on random masks")
local g = lunet.Generator(2026)
local sum_d, sum_j, ok = 0, 0, true
local n = 8
for i = 1, n do
  local tm = g:rand(16, 16):gt(0.3 + 0.05 * i):to("int32")
  local pm = g:rand(16, 16):gt(0.5):to("int32")
  local d, j = metrics.dice(pm, tm, fg), metrics.iou(pm, tm, fg)
  ok = ok and d / 2 <= j + 1e-12 and j <= d + 1e-12 and math.abs(j - d / (2 - d)) < 1e-12
  print(string.format("  image %d: Dice %.4f  IoU %.4f  Dice/(2-Dice) %.4f", i, d, j, d / (2 - d)))
  sum_d, sum_j = sum_d + d, sum_j + j
end
local md, mj = sum_d / n, sum_j / n
print(string.format("bounds hold on every image: %s", tostring(ok)))
print(string.format("mean Dice %.4f, mean IoU %.4f, but mean Dice/(2 - mean Dice) = %.4f", md, mj, md / (2 - md)))

-- 4. Absent classes and void pixels --------------------------------------------------------
section("4. a class absent from prediction and target, and VOC void pixels (255)")
local tv = lunet.tensor({ 0, 0, 1, 255, 1, 0 }, { shape = { 2, 3 }, dtype = "int32" })
local pv = lunet.tensor({ 0, 1, 1, 2, 1, 0 }, { shape = { 2, 3 }, dtype = "int32" })
local c3 = metrics.ConfusionMatrix(3, { ignore_index = 255 }):update(pv, tv)
local iou = c3:iou()
print(string.format("per-class IoU: class 0 %.4f, class 1 %.4f, class 2 %s (absent from both: NaN)",
  iou[1], iou[2], iou[3] ~= iou[3] and "nan" or tostring(iou[3])))
print(string.format("mIoU skips the absent class: %.4f; the void pixel (predicted 2) is not counted",
  c3:miou()))
print(string.format("smp-style macro with zero_division=1 counts it as 1: %.4f",
  metrics.iou(pv, tv, { num_classes = 3, ignore_index = 255, zero_division = 1 })))

-- 5. micro vs macro ------------------------------------------------------------------------
section("5. micro vs macro, pooled vs per image (IoU over foreground classes 1 and 2)")
local tb = lunet.zeros({ 2, 10, 10 }, { dtype = "int32" })
local pb = lunet.zeros({ 2, 10, 10 }, { dtype = "int32" })
tb:set(1, 1, 1, 1); tb:set(1, 1, 1, 2); pb:set(1, 1, 1, 1)      -- image 1: tiny class 1, half found
for x = 1, 10 do tb:set(2, 2, 5, x); pb:set(2, 2, 5, x) end      -- image 2: class 2 found exactly
tb:set(1, 2, 9, 9)                                               -- ... and one missed class-1 pixel
for _, r in ipairs({ "micro", "macro" }) do
  for _, per_image in ipairs({ false, true }) do
    print(string.format("  IoU reduction=%-5s per_image=%-5s -> %.4f", r, tostring(per_image),
      metrics.iou(pb, tb, { num_classes = 3, classes = { 1, 2 }, reduction = r, per_image = per_image })))
  end
end

-- 6. Boundary and instance metrics -------------------------------------------------------
section("6. HD95 is robust to one stray pixel; HD is not")
local a = lunet.zeros({ 64, 64 }, { dtype = "int32" })
for y = 10, 40 do for x = 10, 40 do a:set(1, y, x) end end
local b = a:clone()
b:set(1, 60, 60)
print(string.format("  HD %.3f  HD95 %.3f  (empty vs mask: %s)", metrics.hausdorff(b, a),
  metrics.hausdorff(b, a, { percentile = 95 }), tostring(metrics.hausdorff(lunet.zeros({ 64, 64 },
  { dtype = "int32" }), a))))
local tp, fpos, fneg, miou = metrics.match_instances(b, a)
print(string.format("  instances: tp %d fp %d fn %d, mean matched IoU %.4f, AP(0.5:0.95) %.4f",
  tp, fpos, fneg, miou, (metrics.average_precision(b, a))))
