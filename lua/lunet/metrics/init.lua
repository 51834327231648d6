-- lunet.metrics: evaluation metrics for segmentation. No autograd; label tensors in,
-- Lua numbers and tables out. Kernels live in csrc/lt_metrics.c (core.metrics.*).
--
--   local metrics = require "lunet.metrics"
--   local cm = metrics.ConfusionMatrix(21, {ignore_index = 255})
--   for batch in loader do cm:update(model(batch.image), batch.mask) end   -- logits or labels
--   print(cm)                       -- per-class IoU/Dice/recall/precision table and the means
--   print(cm:miou(), cm:pixel_accuracy())
--
-- Conventions (all functions):
--   * Class ids are data values 0..C-1. Per-class results are Lua tables indexed 1..C:
--     entry k is class k-1 (so `cm:iou()[1]` is the background class 0). The accessors
--     cm:iou_of(c), dice_of, precision_of, recall_of take the class id itself (0-based).
--   * Predictions are int32/uint8 label maps (H x W or N x H x W, same shape as the target)
--     or float32 logits N x C x H x W (C x H x W for one image), argmaxed over the class
--     dimension (dim 2; the first maximum wins). Targets must be int32/uint8 labels.
--   * ignore_index: target pixels equal to it are removed from prediction and target alike.
--     Any other label outside 0..C-1 raises an error (in pred or target).
--   * Counts are exact Lua integers (int64): no overflow on any realistic data set.
--   * A class absent from both prediction and target has NaN IoU, Dice, precision, recall
--     and F-beta, and the means skip NaN (so adding an unused class to C changes nothing).
--     Other undefined ratios follow scikit-learn's zero_division=0: the precision of a
--     class present in the target but never predicted is 0, the recall (= per-class pixel
--     accuracy) of a class predicted but absent from the target is 0.
--   * mean_pixel_accuracy averages the per-class recall over the classes present in the
--     target (Long et al. FCN "mean accuracy"; scikit-learn balanced_accuracy_score), so a
--     class that is only predicted lowers mIoU but not the mean pixel accuracy.
--   * Functions taking one H x W map (hausdorff, saliency, instances) also take N x H x W
--   * Volumes: iou / dice / pixel_accuracy take D x H x W label volumes, N x D x H x W labels
--     or N x C x D x H x W logits (voxel counts); hausdorff and surface_dice take D x H x W /
--     N x D x H x W masks with spacing = {sd, sh, sw} (6-connected boundaries, 3-D EDT).
--     and then return one list per result (entry n is image n).
local core = require "lunet.core"
local E = require "lunet.errors"

-- The raw kernels raise "fn: ..." without a position: re-raised at the user's line.
local K = setmetatable({}, { __index = function(t, k)
  local f = core.metrics[k]
  if type(f) ~= "function" then return f end
  local w = function(...) return E.call(f, ...) end
  rawset(t, k, w)
  return w
end })
local type, setmetatable, getmetatable, tostring = type, setmetatable, getmetatable, tostring
local ipairs, pairs, select, require, math = ipairs, pairs, select, require, math
local concat = table.concat
local fmt, rep = string.format, string.rep
local NaN = 0 / 0

local M = {}

-- ---------------------------------------------------------------------------------------
-- helpers

local function is_nan(x) return x ~= x end

local is_tensor = core.is_tensor

local function shape_str(t) return "[" .. concat(t:shape(), ", ") .. "]" end

-- Errors are raised at the user's line (lunet.errors).
local function fail(fn, msg) E.raise(fn .. ": " .. msg) end

-- Option tables: a table (or nil) whose keys are all in `allowed` (typos raise, with a
-- did-you-mean hint).
local function check_opts(fn, opts, allowed)
  return E.options(opts, fn, allowed)
end

local function check_tensor(fn, name, x)
  if not is_tensor(x) then fail(fn, name .. " must be a tensor, got " .. E.typename(x)) end
  return x
end

local function check_ignore(fn, v)
  if v ~= nil then return E.integer(fn, "ignore_index", v) end
  return v
end

-- The Lua-side scans (min / max) of a map: refused beyond 2^31 elements (an expanded view of
-- 2^60 elements would take hours; the kernels could not allocate its copy anyway).
local MAX_SCAN = 1 << 31
local function check_scan_size(fn, what, x)
  if x:numel() > MAX_SCAN then
    fail(fn, what .. " " .. shape_str(x) .. " has " .. x:numel() .. " elements, more than the limit of " .. MAX_SCAN)
  end
end

-- Instance id maps hold ids >= 0 (checked here so the message shows the id).
local function check_nonneg_ids(fn, what, x)
  if is_tensor(x) and (x:dtype() == "int32" or x:dtype() == "uint8") and x:numel() > 0 then
    check_scan_size(fn, what, x)
    local mn = x:min():item()
    if mn < 0 then fail(fn, what .. " holds a negative id (" .. mn .. "); ids are 0 (background) or positive") end
  end
end

-- A zero-size image or volume has no boundary to measure (an empty batch is fine).
local function check_has_pixels(fn, target, nsp)
  local d = target:dim()
  for i = math.max(d - nsp + 1, 1), d do
    if target:size(i) == 0 then
      fail(fn, "target " .. shape_str(target) .. " has a zero-size spatial dim: there is no boundary to measure")
    end
  end
end

local function finite(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

-- Largest number of classes: the counts are C x C Lua integers.
M.MAX_CLASSES = 65536

-- Validates (pred, target) for label metrics; returns the number of classes of the logits
-- (or nil for label predictions).
local function check_pred_target(fn, pred, target)
  check_tensor(fn, "pred", pred)
  check_tensor(fn, "target", target)
  local tdt = target:dtype()
  if tdt ~= "int32" and tdt ~= "uint8" then
    fail(fn, "target must hold int32 or uint8 class labels, got " .. tdt)
  end
  local nd = target:dim()
  if nd ~= 2 and nd ~= 3 then
    fail(fn, "target must be H x W or N x H x W, got " .. shape_str(target))
  end
  if pred:dtype() == "float32" then
    local cdim = nd == 3 and 2 or 1
    local ok = pred:dim() == nd + 1
    if ok then
      local ts, ps, e = target:shape(), pred:shape(), 1
      for d = 1, pred:dim() do
        if d ~= cdim then
          if ps[d] ~= ts[e] then ok = false end
          e = e + 1
        end
      end
    end
    if not ok then
      fail(fn, "logits " .. shape_str(pred) .. " do not fit target " .. shape_str(target) ..
        (nd == 3 and " (expected N x C x H x W with N, H, W of the target)"
                  or " (expected C x H x W with H, W of the target)"))
    end
    return pred:size(cdim)
  end
  local ps, ts = pred:shape(), target:shape()
  local same = #ps == #ts
  for d = 1, #ts do same = same and ps[d] == ts[d] end
  if not same then
    fail(fn, "pred shape " .. shape_str(pred) .. " does not match target shape " .. shape_str(target))
  end
  return nil
end

-- Volumes for the functional counting metrics (iou, dice, pixel_accuracy; ConfusionMatrix
-- keeps its 2-D contract): N x D x H x W labels (pred labels of that shape or logits
-- N x C x D x H x W) are counted as N images of D*H rows, and one D x H x W label volume with
-- C x D x H x W logits as one image; counts (and so every pooled score) are the same as
-- voxel-wise counting. Anything else passes through unchanged (and is checked as before).
local function as_images(pred, target)
  if not (is_tensor(pred) and is_tensor(target)) then return pred, target end
  local ts, ps = target:shape(), pred:shape()
  if #ts == 4 then
    local n, d, h, w = ts[1], ts[2], ts[3], ts[4]
    if #ps == 4 and ps[1] == n and ps[2] == d and ps[3] == h and ps[4] == w then
      return pred:reshape(n, d * h, w), target:reshape(n, d * h, w)
    elseif #ps == 5 and pred:dtype() == "float32" and ps[1] == n and ps[3] == d and ps[4] == h
        and ps[5] == w then
      return pred:reshape(n, ps[2], d * h, w), target:reshape(n, d * h, w)
    end
  elseif #ts == 3 and #ps == 4 and pred:dtype() == "float32" then
    local as_batch = ps[1] == ts[1] and ps[3] == ts[2] and ps[4] == ts[3]
    if not as_batch and ps[2] == ts[1] and ps[3] == ts[2] and ps[4] == ts[3] then
      return pred:reshape(1, ps[1], ts[1] * ts[2], ts[3]), target:reshape(1, ts[1] * ts[2], ts[3])
    end
  end
  return pred, target
end

local function nanmean(t, from, to)
  local s, n = 0, 0
  for k = from or 1, to or #t do
    local v = t[k]
    if not is_nan(v) then s = s + v; n = n + 1 end
  end
  return n > 0 and s / n or NaN
end

-- Per-class tp, fp, fn, target count from flat counts cm (row = target) of image n.
local function class_stats(cm, C, n)
  local base = (n or 0) * C * C
  local tp, fp, fn = {}, {}, {}
  for k = 1, C do tp[k], fp[k], fn[k] = 0, 0, 0 end
  for t = 1, C do
    local row = base + (t - 1) * C
    for p = 1, C do
      local v = cm[row + p]
      if v ~= 0 then
        if t == p then tp[t] = tp[t] + v
        else fn[t] = fn[t] + v; fp[p] = fp[p] + v end
      end
    end
  end
  return tp, fp, fn
end

-- Per-class scores with the module's NaN convention.
local function score_iou(tp, fp, fn)
  local d = tp + fp + fn
  return d == 0 and NaN or tp / d
end
local function score_dice(tp, fp, fn)
  local d = 2 * tp + fp + fn
  return d == 0 and NaN or 2 * tp / d
end
local function score_recall(tp, fp, fn)
  if tp + fp + fn == 0 then return NaN end
  return tp + fn == 0 and 0 or tp / (tp + fn)
end
local function score_precision(tp, fp, fn)
  if tp + fp + fn == 0 then return NaN end
  return tp + fp == 0 and 0 or tp / (tp + fp)
end
local function score_fbeta(b2)
  return function(tp, fp, fn)
    local d = (1 + b2) * tp + b2 * fn + fp
    return d == 0 and NaN or (1 + b2) * tp / d
  end
end

-- ---------------------------------------------------------------------------------------
-- ConfusionMatrix

local ConfusionMatrix = {}
ConfusionMatrix.__index = ConfusionMatrix
ConfusionMatrix.__name = "lunet.metrics.ConfusionMatrix"

--- ConfusionMatrix(num_classes, {ignore_index=}): counts accumulated over batches,
-- rows = target class, columns = predicted class.
function M.ConfusionMatrix(num_classes, opts)
  local fn = "ConfusionMatrix"
  opts = check_opts(fn, opts, { "ignore_index" })
  num_classes = E.integer(fn, "num_classes", num_classes, 1, M.MAX_CLASSES)
  local self = setmetatable({
    num_classes = num_classes,
    ignore_index = check_ignore(fn, opts.ignore_index),
    cells = {},   -- C*C exact integer counts, row-major (row = target class)
  }, ConfusionMatrix)
  self:reset()
  return self
end

-- Raises unless self is a ConfusionMatrix (cm.update(...) written for cm:update(...)).
local function need_self(self, fn)
  if getmetatable(self) ~= ConfusionMatrix then
    fail("ConfusionMatrix:" .. fn, "self must be a ConfusionMatrix, got " .. E.typename(self)
      .. " (call it with a colon: cm:" .. fn .. "(...))")
  end
end

--- cm:reset(): sets every count to 0 (start of a new evaluation); returns cm.
function ConfusionMatrix:reset()
  need_self(self, "reset")
  local c = self.cells
  for i = 1, self.num_classes * self.num_classes do c[i] = 0 end
  return self
end

--- cm:update(pred, target): pred labels (shape of target) or logits N x C x H x W.
function ConfusionMatrix:update(pred, target)
  local fn = "ConfusionMatrix:update"
  need_self(self, "update")
  local C = self.num_classes
  local lc = check_pred_target(fn, pred, target)
  if lc and lc ~= C then
    fail(fn, "logits have " .. lc .. " classes, the matrix has " .. C .. " (logits " ..
      shape_str(pred) .. ")")
  end
  local batch = K.confusion(pred, target, C, self.ignore_index, false, fn)
  local c = self.cells
  for i = 1, C * C do c[i] = c[i] + batch[i] end
  return self
end

--- cm:counts(): the counts as a Lua table of C rows of C exact integers.
function ConfusionMatrix:counts()
  need_self(self, "counts")
  local C, c, out = self.num_classes, self.cells, {}
  for t = 1, C do
    local row = {}
    for p = 1, C do row[p] = c[(t - 1) * C + p] end
    out[t] = row
  end
  return out
end

--- cm:matrix(): int32 C x C tensor of counts (raises if a count exceeds 2^31 - 1; use
-- cm:counts() for exact 64-bit values).
function ConfusionMatrix:matrix()
  need_self(self, "matrix")
  local c = self.cells
  for i = 1, #c do
    if c[i] > 2147483647 then
      fail("ConfusionMatrix:matrix", "count " .. c[i] .. " does not fit int32; use :counts()")
    end
  end
  local lunet = require "lunet"
  local flat = {}
  for i = 1, #c do flat[i] = c[i] end
  return lunet.tensor(flat, {dtype = "int32", shape = {self.num_classes, self.num_classes}})
end

--- Number of counted (non-ignored) pixels.
function ConfusionMatrix:total()
  need_self(self, "total")
  local s, c = 0, self.cells
  for i = 1, #c do s = s + c[i] end
  return s
end

local function per_class(self, score, fn)
  need_self(self, fn)
  local C = self.num_classes
  local tp, fp, fn = class_stats(self.cells, C)
  local out = {}
  for k = 1, C do out[k] = score(tp[k], fp[k], fn[k]) end
  return out, nanmean(out)
end

--- Fraction of counted pixels predicted correctly (NaN before any pixel was counted).
function ConfusionMatrix:pixel_accuracy()
  need_self(self, "pixel_accuracy")
  local C, c = self.num_classes, self.cells
  local correct, total = 0, 0
  for t = 1, C do
    for p = 1, C do
      local v = c[(t - 1) * C + p]
      total = total + v
      if t == p then correct = correct + v end
    end
  end
  return total == 0 and NaN or correct / total
end

--- Mean over classes present in the target of the per-class recall.
function ConfusionMatrix:mean_pixel_accuracy()
  need_self(self, "mean_pixel_accuracy")
  local C = self.num_classes
  local tp, _, fn = class_stats(self.cells, C)
  local s, n = 0, 0
  for k = 1, C do
    if tp[k] + fn[k] > 0 then s = s + tp[k] / (tp[k] + fn[k]); n = n + 1 end
  end
  return n > 0 and s / n or NaN
end

--- Per-class IoU table (entry k = class k-1) and, second, its NaN-skipping mean.
function ConfusionMatrix:iou() return per_class(self, score_iou, "iou") end
function ConfusionMatrix:miou() return select(2, per_class(self, score_iou, "miou")) end
function ConfusionMatrix:dice() return per_class(self, score_dice, "dice") end
function ConfusionMatrix:mdice() return select(2, per_class(self, score_dice, "mdice")) end
function ConfusionMatrix:precision() return per_class(self, score_precision, "precision") end
function ConfusionMatrix:recall() return per_class(self, score_recall, "recall") end
--- Mean IoU and mean Dice over the foreground classes 1..C-1 (class 0, the background, left
--- out; NaN-skipping as miou; NaN for C = 1). For C = 2 they are the IoU / Dice of class 1.
function ConfusionMatrix:miou_fg()
  local t = per_class(self, score_iou, "miou_fg")
  return nanmean(t, 2)
end
--- cm:mdice_fg(): mean Dice over the foreground classes 1..C-1 (as miou_fg).
function ConfusionMatrix:mdice_fg()
  local t = per_class(self, score_dice, "mdice_fg")
  return nanmean(t, 2)
end

-- A class id 0..C-1 (0-based, as in the data), checked for the *_of accessors.
local function class_id(self, fn, c)
  local C = self.num_classes
  local i = type(c) == "number" and math.tointeger(c)
  if not i then
    fail("ConfusionMatrix:" .. fn, "class must be an integer class id 0.." .. (C - 1) .. ", got " .. E.show(c))
  end
  if i < 0 or i >= C then
    fail("ConfusionMatrix:" .. fn, "class " .. i .. " is outside the class ids 0.." .. (C - 1) ..
      " (" .. C .. " classes; ids are 0-based: cm:iou()[k] is class k-1)")
  end
  return i
end

local function one_class(self, fn, c, score)
  need_self(self, fn)
  local k = class_id(self, fn, c) + 1
  local tp, fp, fnn = class_stats(self.cells, self.num_classes)
  return score(tp[k], fp[k], fnn[k])
end

--- cm:iou_of(c), cm:dice_of(c), cm:precision_of(c), cm:recall_of(c): the score of class id c
--- (0-based, 0..C-1: cm:iou_of(0) is cm:iou()[1]); NaN when c is absent from prediction and
--- target. A c outside 0..C-1 raises.
function ConfusionMatrix:iou_of(c) return one_class(self, "iou_of", c, score_iou) end
function ConfusionMatrix:dice_of(c) return one_class(self, "dice_of", c, score_dice) end
function ConfusionMatrix:precision_of(c) return one_class(self, "precision_of", c, score_precision) end
function ConfusionMatrix:recall_of(c) return one_class(self, "recall_of", c, score_recall) end

--- Per-class F-beta (default beta = 1: F1 = Dice) and its mean.
function ConfusionMatrix:fbeta(beta)
  need_self(self, "fbeta")
  if beta == nil then beta = 1 end
  if not finite(beta) or not (beta > 0) then
    fail("ConfusionMatrix:fbeta", "beta must be a finite number > 0, got " .. E.show(beta))
  end
  return per_class(self, score_fbeta(beta * beta), "fbeta")
end

local function fmt_score(v)
  if is_nan(v) then return "   nan" end
  return fmt("%6.4f", v)
end

function ConfusionMatrix:__tostring()
  local C = self.num_classes
  local tp, fp, fn = class_stats(self.cells, C)
  local lines = {
    fmt("ConfusionMatrix(%d classes%s, %d pixels)", C,
      self.ignore_index and (", ignore_index=" .. self.ignore_index) or "", self:total()),
    fmt("%6s  %6s  %6s  %6s  %9s  %12s  %12s", "class", "IoU", "Dice", "recall", "precision",
      "target px", "predicted px"),
  }
  for k = 1, C do
    lines[#lines + 1] = fmt("%6d  %s  %s  %s  %s%s  %12d  %12d", k - 1,
      fmt_score(score_iou(tp[k], fp[k], fn[k])), fmt_score(score_dice(tp[k], fp[k], fn[k])),
      fmt_score(score_recall(tp[k], fp[k], fn[k])), rep(" ", 3),
      fmt_score(score_precision(tp[k], fp[k], fn[k])), tp[k] + fn[k], tp[k] + fp[k])
  end
  lines[#lines + 1] = fmt("mIoU %s  mDice %s  pixel acc %s  mean pixel acc %s",
    fmt_score(self:miou()), fmt_score(self:mdice()), fmt_score(self:pixel_accuracy()),
    fmt_score(self:mean_pixel_accuracy()))
  return concat(lines, "\n")
end

M.ConfusionMatrixClass = ConfusionMatrix

-- ---------------------------------------------------------------------------------------
-- functional dice / iou / pixel_accuracy
--
-- f(pred, target, {num_classes=, ignore_index=, reduction="macro", per_image=false,
--                  classes=, zero_division=})
-- num_classes is required for label predictions (logits give it). Returns a number, or a
-- per-class table for reduction="none" (a list of them when per_image=true).
--
-- The same quantities under their names in segmentation_models_pytorch (tp, fp, fn, tn =
-- smp.metrics.get_stats(pred, target, mode="multiclass", num_classes=, ignore_index=), then
-- smp.metrics.iou_score / f1_score(tp, fp, fn, tn, reduction=...)) and torchmetrics
-- (MulticlassJaccardIndex for IoU, MulticlassF1Score for Dice, MulticlassAccuracy):
--
--   lunet                                smp reduction=        torchmetrics
--   reduction="micro"                    "micro"               average="micro"
--   reduction="macro"                    "macro"               average="macro"
--   reduction="none"                     "none" on tp.sum(0)   average="none"
--   reduction="micro", per_image=true    "micro-imagewise"     F1/Accuracy: average="micro",
--                                                              multidim_average="samplewise", .mean()
--   reduction="macro", per_image=true    "macro-imagewise"     F1/Accuracy: average="macro",
--                                                              multidim_average="samplewise", .mean()
--   reduction="none",  per_image=true    "none"                F1/Accuracy: average="none",
--                                                              multidim_average="samplewise"
--
-- "micro" pools tp, fp, fn over pixels and classes before dividing; "macro" computes one
-- score per class (on counts pooled over the batch, or per image) and averages the classes;
-- per_image=true scores every image on its own and averages the images (the usual
-- "per-image Dice" of medical papers), per_image=false treats the batch as one data set.
-- Undefined scores: a class absent from both prediction and target has a NaN score, which
-- "macro" and the per-image mean skip (torchmetrics' macro skips such classes too, and
-- returns zero_division=0 for them in "none"). smp replaces every 0/0 by its zero_division
-- argument (default 1.0) and keeps it in the means: pass zero_division=1 to get smp's
-- numbers (zero_division=0 for torchmetrics' "none"). A micro score is undefined only when
-- no pixel of the listed classes was counted.
-- With every class included, micro IoU = correct / (correct + 2 wrong) and micro Dice =
-- pixel accuracy (a wrong pixel is one FP of one class and one FN of another).
-- pixel_accuracy: "micro" = correct / counted pixels (torchmetrics MulticlassAccuracy
-- average="micro"); "macro" = mean over the classes present in the target of the
-- per-class recall, i.e. ConfusionMatrix:mean_pixel_accuracy (torchmetrics' macro counts a
-- class that is only predicted as 0 instead); "none" = per-class recall. smp's `accuracy`
-- is (tp+tn)/(tp+fp+fn+tn) per class, a different quantity.
-- classes: optional list of class ids (e.g. {1}: the foreground of a binary task) that
-- every reduction is restricted to; "none" then returns one entry per listed class.

local FUNCTIONAL_OPTS = { "num_classes", "ignore_index", "reduction", "per_image", "classes",
                          "zero_division" }

local function functional(fn, score, is_accuracy)
  return function(pred, target, opts)
    pred, target = as_images(pred, target)
    opts = check_opts(fn, opts, FUNCTIONAL_OPTS)
    local lc = check_pred_target(fn, pred, target)
    local C = opts.num_classes
    if C == nil then
      if not lc then fail(fn, "opts.num_classes is required for label predictions") end
      C = lc
    end
    C = E.integer(fn, "num_classes", C, 1, M.MAX_CLASSES)
    if lc and lc ~= C then
      fail(fn, "logits have " .. lc .. " classes, num_classes is " .. C)
    end
    local reduction = opts.reduction or "macro"
    E.choice(fn, "reduction", reduction, { "micro", "macro", "none" })
    local ignore = check_ignore(fn, opts.ignore_index)
    local zd = opts.zero_division
    if zd ~= nil and not finite(zd) then
      fail(fn, "zero_division must be a finite number, got " .. E.show(zd))
    end
    if opts.per_image ~= nil and type(opts.per_image) ~= "boolean" then
      fail(fn, "per_image must be a boolean, got " .. E.show(opts.per_image))
    end
    local classes = opts.classes
    if classes == nil then
      classes = {}
      for k = 0, C - 1 do classes[#classes + 1] = k end
    else
      if type(classes) ~= "table" or is_tensor(classes) or #classes == 0 then
        fail(fn, "classes must be a non-empty list of class ids, got " .. E.show(classes))
      end
      for _, k in ipairs(classes) do
        if math.type(k) ~= "integer" or k < 0 or k >= C then
          fail(fn, "classes holds " .. E.show(k) .. ", outside 0.." .. (C - 1))
        end
      end
    end
    local per_image = opts.per_image and true or false
    local cm, nimg = K.confusion(pred, target, C, ignore, per_image, fn)

    local function fix(v) if is_nan(v) and zd ~= nil then return zd end return v end
    local function one(n)   -- score of image n (or of the pooled counts, n = 0)
      local tp, fp, fnn = class_stats(cm, C, n)
      if reduction == "micro" then
        local a, b, c = 0, 0, 0
        for _, k in ipairs(classes) do
          a, b, c = a + tp[k + 1], b + fp[k + 1], c + fnn[k + 1]
        end
        if is_accuracy then return fix(a + c == 0 and NaN or a / (a + c)) end
        return fix(score(a, b, c))
      end
      local per = {}
      for i, k in ipairs(classes) do
        local t, p, f = tp[k + 1], fp[k + 1], fnn[k + 1]
        if is_accuracy and reduction == "macro" then
          per[i] = t + f > 0 and t / (t + f) or NaN       -- classes present in the target
        else
          per[i] = fix(score(t, p, f))
        end
      end
      if reduction == "none" then return per end
      return fix(nanmean(per))
    end

    if not per_image then return one(0) end
    local res = {}
    for n = 0, nimg - 1 do res[n + 1] = one(n) end
    if reduction == "none" then return res end
    return nanmean(res)
  end
end

M.iou = functional("iou", score_iou)
M.dice = functional("dice", score_dice)
M.pixel_accuracy = functional("pixel_accuracy", score_recall, true)

-- ---------------------------------------------------------------------------------------
-- Hausdorff

-- Spacing of a surface metric: nil, a number, {sy, sx} (images) or {sd, sh, sw} (volumes).
-- Volumes are D x H x W / N x D x H x W targets with a 3-value spacing, or any 4-D target.
-- Returns vol, sd, sh, sw.
local function surface_spacing(fn, sp, target)
  local vol = target:dim() == 4 or (type(sp) == "table" and not is_tensor(sp) and #sp == 3)
  local s = { 1, 1, 1 }
  if sp ~= nil then
    if type(sp) == "number" then s = { sp, sp, sp }
    elseif type(sp) == "table" and not is_tensor(sp) and #sp == 3 then s = { sp[1], sp[2], sp[3] }
    elseif type(sp) == "table" and not is_tensor(sp) and #sp == 2 and not vol then s = { 1, sp[1], sp[2] }
    else
      fail(fn, (vol and "spacing must be a number or {sd, sh, sw}" or
        "spacing must be a number, {sy, sx} or {sd, sh, sw}") .. ", got " ..
        (type(sp) == "table" and not is_tensor(sp) and ("a table of " .. #sp .. " values") or E.show(sp)))
    end
    local bad = false
    for i = vol and 1 or 2, 3 do bad = bad or not (finite(s[i]) and s[i] > 0) end
    if bad then
      fail(fn, "spacing must be finite and > 0, got {" .. (vol and (E.show(s[1]) .. ", ") or "") ..
        E.show(s[2]) .. ", " .. E.show(s[3]) .. "}")
    end
  end
  if vol and target:dim() ~= 3 and target:dim() ~= 4 then
    fail(fn, "with a 3-D spacing, target must be D x H x W or N x D x H x W, got " .. shape_str(target))
  end
  return vol, s[1], s[2], s[3]
end

--- hausdorff(pred, target, {percentile=nil, spacing={sy, sx}}): symmetric Hausdorff distance
-- between the boundaries (mask minus its 4-connected erosion; pixels outside the image are
-- background) of two binary masks (int32/uint8, nonzero = foreground), with exact Euclidean
-- distances scaled by spacing (row spacing sy, column spacing sx). percentile=nil: the larger
-- of the two directed maxima (classic HD); percentile=95: the larger of the two directed 95th
-- percentiles with numpy's linear interpolation (HD95 as MONAI computes it). One empty mask
-- gives math.huge (inf); both empty give NaN. H x W -> number; N x H x W -> list.
-- Volumes: spacing = {sd, sh, sw} (voxel spacing of D, H, W, e.g. load_nifti's
-- header.spacing) makes a D x H x W target one volume (-> number) and N x D x H x W a batch
-- (-> list; any 4-D target is a batch of volumes); boundaries are then the mask minus its
-- 6-connected erosion and distances come from an exact 3-D EDT (MONAI's
-- compute_hausdorff_distance on one class with that spacing).
function M.hausdorff(pred, target, opts)
  local fn = "hausdorff"
  opts = check_opts(fn, opts, { "percentile", "spacing" })
  check_tensor(fn, "pred", pred)
  check_tensor(fn, "target", target)
  local pct = opts.percentile
  if pct ~= nil then E.number(fn, "percentile", pct, 0, 100) end
  local vol, sd, sy, sx = surface_spacing(fn, opts.spacing, target)
  check_has_pixels(fn, target, vol and 3 or 2)
  if vol then
    local r = K.surface(pred, target, true, sd, sy, sx, pct, nil, fn)
    if target:dim() == 3 then return r[1] end
    return r
  end
  local r = K.hausdorff(pred, target, pct, sy, sx)
  if target:dim() == 2 then return r[1] end
  return r
end

--- surface_dice(pred, target, {tolerance, spacing, num_classes}): normalized surface distance
-- (surface Dice at a tolerance; MONAI's compute_surface_dice, Nikolov et al. 2018): the
-- boundary voxels of both masks that lie within `tolerance` (in spacing units, e.g. mm) of
-- the other mask's boundary, over all boundary voxels. Boundaries are the mask minus its
-- 6-connected erosion for volumes (spacing = {sd, sh, sw} or a 4-D target, as hausdorff) and
-- 4-connected erosion for images (H x W / N x H x W, spacing nil, a number or {sy, sx});
-- voxels outside the array are background. pred/target: int32/uint8 binary masks (nonzero =
-- on) -> a number per image/volume (N: a list). With num_classes = C they are label maps
-- (0..C-1): the result is a list over the foreground classes 1..C-1 (MONAI's
-- include_background=False) for a single image/volume. One boundary empty: 0; both empty:
-- NaN. tolerance is required (>= 0).
function M.surface_dice(pred, target, opts)
  local fn = "surface_dice"
  opts = check_opts(fn, opts, { "tolerance", "spacing", "num_classes" })
  check_tensor(fn, "pred", pred)
  check_tensor(fn, "target", target)
  if opts.tolerance == nil then fail(fn, "option tolerance is required (a distance >= 0 in spacing units)") end
  local tol = E.number(fn, "tolerance", opts.tolerance, 0, math.huge)
  if tol == math.huge then fail(fn, "tolerance must be finite, got inf") end
  local vol, sd, sy, sx = surface_spacing(fn, opts.spacing, target)
  check_has_pixels(fn, target, vol and 3 or 2)
  local C = opts.num_classes
  if C ~= nil then
    C = E.integer(fn, "num_classes", C, 2, M.MAX_CLASSES)
    if target:dim() ~= (vol and 3 or 2) then
      fail(fn, "with num_classes, target must be one " .. (vol and "D x H x W volume" or "H x W image") ..
        ", got " .. shape_str(target))
    end
    for _, a in ipairs { { "pred", pred }, { "target", target } } do
      local x = a[2]
      if x:numel() > 0 and (x:dtype() == "int32" or x:dtype() == "uint8") then
        check_scan_size(fn, a[1], x)
        local lo, hi = x:min():item(), x:max():item()
        if lo < 0 or hi >= C then
          fail(fn, a[1] .. " holds label " .. (lo < 0 and lo or hi) .. ", outside 0.." .. (C - 1) ..
            " (num_classes " .. C .. ")")
        end
      end
    end
    local res = {}
    for c = 1, C - 1 do
      local _, nsd = K.surface(pred:eq(c), target:eq(c), vol, sd, sy, sx, nil, tol, fn)
      res[c] = nsd[1]
    end
    return res
  end
  local _, nsd = K.surface(pred, target, vol, sd, sy, sx, nil, tol, fn)
  if target:dim() == (vol and 3 or 2) then return nsd[1] end
  return nsd
end

-- ---------------------------------------------------------------------------------------
-- saliency: sal float32 in [0, 1] (H x W or N x H x W), mask int32/uint8 (nonzero = fg)

--- Mean absolute error between the saliency map and the binary mask.
function M.mae(sal, mask)
  check_tensor("mae", "sal", sal)
  local r = K.mae(sal, mask)
  if sal:dim() == 2 then return r[1] end
  return r
end

--- fmeasure(sal, mask, {beta2=0.3}) -> adaptive F, max F.
-- Adaptive: threshold min(2 mean(sal), 1), foreground where sal >= threshold; F = 0 when no
-- true positive. Max: the best F over the 256 binarisations floor(255 sal) >= t, t = 0..255
-- (precision 0 when nothing is predicted). Threshold rule and beta^2 = 0.3 from Achanta et
-- al. (CVPR 2009); binarisations and edge cases as PySODMetrics Fmeasure.
function M.fmeasure(sal, mask, opts)
  opts = check_opts("fmeasure", opts, { "beta2" })
  check_tensor("fmeasure", "sal", sal)
  local beta2 = opts.beta2 or 0.3
  if not finite(beta2) or not (beta2 > 0) then
    fail("fmeasure", "beta2 must be a finite number > 0, got " .. E.show(beta2))
  end
  local a, m = K.fmeasure(sal, mask, beta2)
  if sal:dim() == 2 then return a[1], m[1] end
  return a, m
end

--- s_measure(sal, mask, {alpha=0.5}): structure measure of Fan et al. (ICCV 2017),
-- alpha * S_object + (1 - alpha) * S_region, clamped at 0; all-background mask: 1 - mean(sal);
-- all-foreground mask: mean(sal). Region split at the mask centroid (0-based mean position
-- rounded half to even, plus one), as PySODMetrics Smeasure.
function M.s_measure(sal, mask, opts)
  opts = check_opts("s_measure", opts, { "alpha" })
  check_tensor("s_measure", "sal", sal)
  local alpha = opts.alpha or 0.5
  E.number("s_measure", "alpha", alpha, 0, 1)
  local r = K.s_measure(sal, mask, alpha)
  if sal:dim() == 2 then return r[1] end
  return r
end

--- e_measure(sal, mask) -> mean E, adaptive E, max E: enhanced-alignment measure of Fan et
-- al. (IJCAI 2018) as PySODMetrics Emeasure. The first value (the one usually reported as
-- "mean E-measure") is the mean over the 256 binarisations floor(255 sal) >= t of the mean
-- enhanced alignment; the second binarises at the adaptive threshold min(2 mean(sal), 1)
-- (sal >= threshold); the third is the maximum over the 256 binarisations. Each E is
-- sum(enhanced alignment matrix) / (H W - 1 + eps), as the reference code.
function M.e_measure(sal, mask)
  check_tensor("e_measure", "sal", sal)
  local mean, adp, mx = K.e_measure(sal, mask)
  if sal:dim() == 2 then return mean[1], adp[1], mx[1] end
  return mean, adp, mx
end

-- ---------------------------------------------------------------------------------------
-- instances: id maps (int32/uint8), 0 = background, any positive id is one object

--- match_instances(pred_ids, gt_ids, {iou_threshold=0.5}) -> tp, fp, fn, mean matched IoU.
-- One-to-one matching, greedy by decreasing IoU among pairs with IoU >= iou_threshold (ties:
-- lower pred id, then lower gt id). Two objects can share a partner with IoU > 0.5 only if
-- they overlap each other, which label maps exclude, so at thresholds above 0.5 greedy,
-- Hungarian (StarDist) and any other one-to-one matching give the same pairs.
-- fp = unmatched predictions, fn = unmatched ground-truth objects; the mean matched IoU is
-- NaN when nothing matched.
function M.match_instances(pred_ids, gt_ids, opts)
  local fn = "match_instances"
  opts = check_opts(fn, opts, { "iou_threshold" })
  local thr = opts.iou_threshold or 0.5
  if type(thr) ~= "number" or not (thr > 0 and thr <= 1) then
    fail(fn, "iou_threshold must be in (0, 1], got " .. E.show(thr))
  end
  check_tensor(fn, "pred_ids", pred_ids)
  check_nonneg_ids(fn, "pred_ids", pred_ids)
  check_nonneg_ids(fn, "gt_ids", gt_ids)
  local r = K.match_instances(pred_ids, gt_ids, { thr }, fn)
  local tp, fp, fnn, mi = {}, {}, {}, {}
  for n, s in ipairs(r) do
    tp[n], fp[n], fnn[n] = s.tp[1], s.fp[1], s.fn[1]
    mi[n] = s.tp[1] > 0 and s.iou_sum[1] / s.tp[1] or NaN
  end
  if pred_ids:dim() == 2 then return tp[1], fp[1], fnn[1], mi[1] end
  return tp, fp, fnn, mi
end

M.AP_THRESHOLDS = { 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95 }

--- average_precision(pred_ids, gt_ids, {thresholds=M.AP_THRESHOLDS}) -> AP, per-threshold table.
-- AP as in the Data Science Bowl 2018 / StarDist convention: at each IoU threshold t,
-- TP / (TP + FP + FN) after one-to-one matching; AP is the mean over the thresholds
-- (0.5:0.05:0.95 by default). Both maps empty: NaN (nothing to score).
-- N x H x W -> a list of per-image AP values and a list of per-image tables.
function M.average_precision(pred_ids, gt_ids, opts)
  local fn = "average_precision"
  opts = check_opts(fn, opts, { "thresholds" })
  local thr = opts.thresholds or M.AP_THRESHOLDS
  if type(thr) ~= "table" or is_tensor(thr) or #thr == 0 then
    fail(fn, "thresholds must be a non-empty list, got " .. E.show(thr))
  end
  for _, t in ipairs(thr) do
    if type(t) ~= "number" or not (t > 0 and t <= 1) then
      fail(fn, "thresholds must lie in (0, 1], got " .. E.show(t))
    end
  end
  check_tensor(fn, "pred_ids", pred_ids)
  check_nonneg_ids(fn, "pred_ids", pred_ids)
  check_nonneg_ids(fn, "gt_ids", gt_ids)
  local r = K.match_instances(pred_ids, gt_ids, thr, fn)
  local aps, curves = {}, {}
  for n, s in ipairs(r) do
    local curve, sum = {}, 0
    for k = 1, #thr do
      local d = s.tp[k] + s.fp[k] + s.fn[k]
      curve[k] = d == 0 and NaN or s.tp[k] / d
      sum = sum + curve[k]
    end
    aps[n], curves[n] = sum / #thr, curve
  end
  if pred_ids:dim() == 2 then return aps[1], curves[1] end
  return aps, curves
end

-- panoptic quality (branch cls2) -------------------------------------------------------

-- Lookup: every id present in ids (an H x W / N x H x W int32 or uint8 map) -> its category
-- from map (a Lua table id -> integer category); returns the category map as an int32 tensor
-- of ids' shape (0 on the background) and the sorted list of categories present.
local function category_map(fn, what, ids, map, mapname)
  if type(map) ~= "table" or is_tensor(map) then
    fail(fn, mapname .. " must be a table id -> category, got " .. E.typename(map))
  end
  local lunet = require "lunet"
  local mx = ids:numel() > 0 and ids:max():item() or 0
  if mx > 16777215 then
    fail(fn, ("%s with %s holds id %d; ids up to 16777215 are supported"):format(what, mapname, mx))
  end
  local flat = ids:reshape(ids:numel()):int():add(1)
  local counts = lunet.zeros(mx + 1):index_add_(1, flat, lunet.ones(ids:numel())):totable()
  local lut, present, seen = {}, {}, {}
  for id = 0, mx do
    local c = 0
    if id > 0 and counts[id + 1] > 0 then
      c = map[id]
      if math.type(c) ~= "integer" or c < 1 then
        if c == nil then
          fail(fn, ("%s holds id %d, which %s does not map to a category"):format(what, id, mapname))
        end
        fail(fn, ("%s maps id %d to %s; categories must be integers >= 1"):format(mapname, id, E.show(c)))
      end
      if not seen[c] then seen[c], present[#present + 1] = true, c end
    end
    lut[id + 1] = c
  end
  table.sort(present)
  local cat = lunet.tensor(lut, { dtype = "int32" }):index_select(1, flat):view(ids:shape())
  return cat, present
end

-- tp, fp, fn, iou_sum per image (lists) of the class-agnostic matching at IoU > 0.5.
local PQ_THRESHOLD = 0.5 + 2 ^ -53   -- the next double above 0.5: IoU exactly 0.5 is no match
local function pq_counts(fn, pred_ids, gt_ids)
  local r = K.match_instances(pred_ids, gt_ids, { PQ_THRESHOLD }, fn)
  local out = {}
  for n, st in ipairs(r) do out[n] = { tp = st.tp[1], fp = st.fp[1], fn = st.fn[1], iou_sum = st.iou_sum[1] } end
  return out
end

local function pq_scores(c)
  local den = c.tp + 0.5 * c.fp + 0.5 * c.fn
  if den == 0 then return NaN, NaN, NaN end
  local sq = c.tp > 0 and c.iou_sum / c.tp or 0
  return c.iou_sum / den, sq, c.tp / den
end

--- panoptic_quality(pred_ids, gt_ids, {pred_categories=nil, gt_categories=nil}) -> pq, sq, rq,
--- details: panoptic quality of Kirillov et al. (CVPR 2019) for instance id maps (int32/uint8,
--- 0 = background / void, any positive id is one segment). A predicted and a ground-truth
--- segment match when their IoU is strictly above 0.5 (unique by construction); then
--- PQ = sum of matched IoUs / (TP + FP/2 + FN/2) = SQ x RQ with SQ = mean matched IoU (0 without
--- matches) and RQ = TP / (TP + FP/2 + FN/2). Class-agnostic by default. With category maps
--- (Lua tables id -> integer category >= 1, one for the predicted and one for the ground-truth
--- ids; every id present must be mapped) segments match only within a category, PQ, SQ and RQ
--- are computed per category and averaged over the categories present in prediction or ground
--- truth (panopticapi's average; a category with TP + FP + FN = 0 is absent). Nothing to score
--- (both maps empty) gives NaN. details = {tp, fp, fn, iou_sum, per_category = {[c] = {pq, sq,
--- rq, tp, fp, fn, iou_sum}}} (per_category only with category maps). N x H x W: one list per
--- result, entry n for image n (sum the details' counts for a data-set PQ).
function M.panoptic_quality(pred_ids, gt_ids, opts)
  local fn = "panoptic_quality"
  opts = check_opts(fn, opts, { "pred_categories", "gt_categories" })
  check_tensor(fn, "pred_ids", pred_ids)
  check_tensor(fn, "gt_ids", gt_ids)
  local pc, gc = opts.pred_categories, opts.gt_categories
  if (pc == nil) ~= (gc == nil) then
    fail(fn, "pred_categories and gt_categories go together (got only " ..
      (pc ~= nil and "pred_categories" or "gt_categories") .. ")")
  end
  local single = pred_ids:dim() == 2
  check_nonneg_ids(fn, "pred_ids", pred_ids)
  check_nonneg_ids(fn, "gt_ids", gt_ids)
  local base = pq_counts(fn, pred_ids, gt_ids)   -- also validates the maps
  local pqs, sqs, rqs, det = {}, {}, {}, {}
  if pc == nil then
    for n, c in ipairs(base) do
      pqs[n], sqs[n], rqs[n] = pq_scores(c)
      det[n] = c
    end
  else
    local pcat, plist = category_map(fn, "pred_ids", pred_ids, pc, "pred_categories")
    local gcat, glist = category_map(fn, "gt_ids", gt_ids, gc, "gt_categories")
    local cats, seen = {}, {}
    for _, l in ipairs { plist, glist } do
      for _, c in ipairs(l) do
        if not seen[c] then seen[c], cats[#cats + 1] = true, c end
      end
    end
    table.sort(cats)
    local per = {}
    for _, c in ipairs(cats) do
      local pm = pcat:eq(c):int()
      local gm = gcat:eq(c):int()
      per[c] = pq_counts(fn, pred_ids:int():mul(pm), gt_ids:int():mul(gm))
    end
    for n = 1, #base do
      local d = { tp = 0, fp = 0, fn = 0, iou_sum = 0, per_category = {} }
      local spq, ssq, srq, m = 0, 0, 0, 0
      for _, c in ipairs(cats) do
        local cnt = per[c][n]
        local p, s, r = pq_scores(cnt)
        d.tp, d.fp, d.fn, d.iou_sum = d.tp + cnt.tp, d.fp + cnt.fp, d.fn + cnt.fn, d.iou_sum + cnt.iou_sum
        if p == p then
          d.per_category[c] = { pq = p, sq = s, rq = r, tp = cnt.tp, fp = cnt.fp, fn = cnt.fn, iou_sum = cnt.iou_sum }
          spq, ssq, srq, m = spq + p, ssq + s, srq + r, m + 1
        end
      end
      if m == 0 then pqs[n], sqs[n], rqs[n] = NaN, NaN, NaN
      else pqs[n], sqs[n], rqs[n] = spq / m, ssq / m, srq / m end
      det[n] = d
    end
  end
  if single then return pqs[1], sqs[1], rqs[1], det[1] end
  return pqs, sqs, rqs, det
end

return M
