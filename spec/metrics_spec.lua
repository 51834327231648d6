-- metrics_spec.lua: lunet.metrics against scikit-learn / scipy / numpy references
-- (spec/ref/gen_metrics.py -> spec/ref/metrics.lua), fast kernels against naive ones,
-- the classic traps of issue 5 and exact error messages.
local lunet = require "lunet"
local metrics = require "lunet.metrics"
local core = require "lunet.core"
local REF = dofile("spec/ref/metrics.lua")

local function is_nan(x) return x ~= x end

local function near(a, b, tol, what)
  tol = tol or 1e-9
  if is_nan(b) then
    assert(is_nan(a), (what or "") .. ": expected NaN, got " .. tostring(a))
  elseif b == math.huge or b == -math.huge then
    assert(a == b, (what or "") .. ": expected " .. tostring(b) .. ", got " .. tostring(a))
  else
    assert(type(a) == "number" and math.abs(a - b) <= tol * math.max(1, math.abs(b)),
      string.format("%s: expected %.12g, got %s", what or "", b, tostring(a)))
  end
end

local function near_list(a, b, tol, what)
  assert.are.equal(#b, #a, (what or "") .. ": length")
  for i = 1, #b do near(a[i], b[i], tol, (what or "") .. "[" .. i .. "]") end
end

local function T(flat, shape, dtype)
  return lunet.tensor(flat, { shape = shape, dtype = dtype or "int32" })
end

-- The message of the error f(...) raises, without its "file:line: " position (which points
-- at this spec: spec/caller_spec.lua checks positions).
local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:\n]*:%d+: ", ""))
end

-- random label map in 0..hi-1 as int32
local function rand_labels(g, shape, hi)
  return g:rand(shape):mul(hi):to("int32")
end

describe("ConfusionMatrix", function()
  for _, case in ipairs(REF.confusion) do
    it("matches scikit-learn: " .. case.name, function()
      local target = T(case.target, case.shape, case.dtype)
      local pred = case.logits and T(case.logits, case.logits_shape, "float32")
                   or T(case.pred, case.shape, case.dtype)
      local cm = metrics.ConfusionMatrix(case.C, { ignore_index = case.ignore })
      cm:update(pred, target)
      local r = case.ref
      local m = cm:matrix()
      assert.are.equal("int32", m:dtype())
      assert.are.same({ case.C, case.C }, m:shape())
      local flat = {}
      for i, row in ipairs(m:totable()) do
        for j, v in ipairs(row) do flat[(i - 1) * case.C + j] = v end
      end
      assert.are.same(r.matrix, flat)
      assert.are.equal(r.total, cm:total())
      near_list(cm:iou(), r.iou, 1e-12, "iou")
      near_list(cm:dice(), r.dice, 1e-12, "dice")
      near_list(cm:fbeta(2), r.f2, 1e-12, "f2")
      near_list(cm:precision(), r.precision, 1e-12, "precision")
      near_list(cm:recall(), r.recall, 1e-12, "recall")
      near(cm:miou(), r.miou, 1e-12, "miou")
      near(cm:mdice(), r.mdice, 1e-12, "mdice")
      near(select(2, cm:fbeta(1)), r.mdice, 1e-12, "mean F1")
      near(cm:pixel_accuracy(), r.pa, 1e-12, "pa")
      near(cm:mean_pixel_accuracy(), r.mpa, 1e-12, "mpa")
    end)
  end

  it("accumulates over batches exactly like one update, and reset clears it", function()
    local case = REF.confusion[1]
    local N, H, W = case.shape[1], case.shape[2], case.shape[3]
    local target = T(case.target, case.shape)
    local pred = T(case.pred, case.shape)
    local whole = metrics.ConfusionMatrix(case.C, { ignore_index = 255 }):update(pred, target)
    local parts = metrics.ConfusionMatrix(case.C, { ignore_index = 255 })
    for n = 1, N do
      parts:update(pred:narrow(1, n, 1), target:narrow(1, n, 1))   -- non-contiguous-safe views
    end
    assert.are.same(whole:counts(), parts:counts())
    parts:update(pred:select(1, 1), target:select(1, 1))            -- H x W
    assert.are_not.same(whole:counts(), parts:counts())
    parts:reset()
    assert.are.equal(0, parts:total())
    assert.is_true(is_nan(parts:miou()) and is_nan(parts:pixel_accuracy()))
    local ignored = 0
    for _, v in ipairs(case.target) do if v == 255 then ignored = ignored + 1 end end
    assert.are.equal(N * H * W - ignored, whole:total())
  end)

  it("counts with exact 64-bit integers", function()
    local cm = metrics.ConfusionMatrix(2)
    cm.cells[1] = math.tointeger(2 ^ 53) + 1        -- beyond float precision
    cm:update(T({ 0, 0 }, { 1, 2 }), T({ 0, 0 }, { 1, 2 }))
    assert.are.equal(math.tointeger(2 ^ 53) + 3, cm:counts()[1][1])
    local e = err_of(cm.matrix, cm)
    assert.are.equal("ConfusionMatrix:matrix: count 9007199254740995 does not fit int32; use :counts()", e)
  end)

  it("gives NaN for a class absent from both and skips it in the means", function()
    local t = T({ 0, 0, 1, 1 }, { 2, 2 })
    local p = T({ 0, 1, 1, 1 }, { 2, 2 })
    local a = metrics.ConfusionMatrix(2):update(p, t)
    local b = metrics.ConfusionMatrix(5):update(p, t)
    assert.is_true(is_nan(b:iou()[3]) and is_nan(b:dice()[5]) and is_nan(b:recall()[4]))
    near(b:miou(), a:miou(), 0, "miou")
    near(b:mdice(), a:mdice(), 0, "mdice")
    near(b:mean_pixel_accuracy(), a:mean_pixel_accuracy(), 0, "mpa")
    near(a:iou()[1], 0.5, 0, "iou0")
    near(a:iou()[2], 2 / 3, 1e-15, "iou1")
  end)

  it("prints a readable per-class table", function()
    local cm = metrics.ConfusionMatrix(3, { ignore_index = 255 })
    cm:update(T({ 0, 1, 1, 2 }, { 2, 2 }), T({ 0, 1, 2, 255 }, { 2, 2 }))
    local s = tostring(cm)
    assert.truthy(s:find("ConfusionMatrix(3 classes, ignore_index=255, 3 pixels)", 1, true))
    assert.truthy(s:find("class", 1, true) and s:find("IoU", 1, true))
    assert.truthy(s:find("\n     1  0.5000  0.6667", 1, true))
    assert.truthy(s:find("mIoU 0.5000", 1, true))
  end)

  it("fast and naive confusion kernels agree on random shapes and threads", function()
    local g = lunet.Generator(7)
    for trial = 1, 6 do
      local C = 2 + trial
      local N, H, W = trial % 3 + 1, 40 + trial * 7, 33 + trial * 11
      local t = rand_labels(g, { N, H, W }, C)
      local p = rand_labels(g, { N, H, W }, C)
      for _, per_image in ipairs({ false, true }) do
        for _, nt in ipairs({ 1, 2 }) do
          lunet.set_num_threads(nt)
          local a = core.metrics.confusion(p, t, C, nil, per_image)
          local b = core.metrics.confusion_naive(p, t, C, nil, per_image)
          assert.are.same(b, a)
        end
      end
      local logits = g:randn(N, C, H, W)
      assert.are.same((core.metrics.confusion_naive(logits, t, C)), (core.metrics.confusion(logits, t, C)))
    end
    lunet.set_num_threads(2)
    -- 300k pixels exercise the threaded path
    local t = rand_labels(g, { 3, 250, 400 }, 5)
    local p = rand_labels(g, { 3, 250, 400 }, 5)
    assert.are.same((core.metrics.confusion_naive(p, t, 5, nil, false)), (core.metrics.confusion(p, t, 5, nil, false)))
    assert.are.same((core.metrics.confusion_naive(p, t, 5, nil, true)), (core.metrics.confusion(p, t, 5, nil, true)))
    local logits = g:randn(3, 5, 250, 400)
    for _, per_image in ipairs({ false, true }) do
      assert.are.same((core.metrics.confusion_naive(logits, t, 5, nil, per_image)),
        (core.metrics.confusion(logits, t, 5, nil, per_image)))
    end
  end)
end)

describe("functional iou / dice / pixel_accuracy", function()
  local F = REF.functional
  local t = T(F.target, F.shape)
  local p = T(F.pred, F.shape)
  local base = { num_classes = F.C, ignore_index = F.ignore }
  local function o(extra)
    local r = {}
    for k, v in pairs(base) do r[k] = v end
    for k, v in pairs(extra) do r[k] = v end
    return r
  end
  for _, name in ipairs({ "iou", "dice" }) do
    local f, e = metrics[name], F.expect[name]
    it(name .. " matches the reference reductions (smp micro/none, NaN-skipping macro)", function()
      near(f(p, t, o { reduction = "micro" }), e.micro, 1e-12, "micro")
      near(f(p, t, o { reduction = "macro" }), e.macro, 1e-12, "macro")
      near(f(p, t, o {}), e.macro, 1e-12, "default macro")
      near_list(f(p, t, o { reduction = "none" }), e.none, 1e-12, "none")
      near(f(p, t, o { reduction = "micro", per_image = true }), e.micro_image, 1e-12, "micro per image")
      near(f(p, t, o { reduction = "macro", per_image = true }), e.macro_image, 1e-12, "macro per image")
      local per = f(p, t, o { reduction = "none", per_image = true })
      assert.are.equal(F.shape[1], #per)
      for n = 1, #per do near_list(per[n], e.none_image[n], 1e-12, "none per image") end
      near(f(p, t, o { reduction = "micro", classes = { 1, 2, 3 } }), e.fg_micro, 1e-12, "classes")
    end)
    it(name .. " with zero_division = 1 reproduces smp's defaults", function()
      near(f(p, t, o { reduction = "macro", zero_division = 1 }), e.smp_macro, 1e-12, "macro")
      near(f(p, t, o { reduction = "macro", per_image = true, zero_division = 1 }),
        e.smp_macro_image, 1e-12, "macro-imagewise")
      near(f(p, t, o { reduction = "micro", per_image = true, zero_division = 1 }),
        e.smp_micro_image, 1e-12, "micro-imagewise")
    end)
  end
  it("pixel_accuracy matches scikit-learn accuracy and balanced accuracy", function()
    local e = F.expect.pixel_accuracy
    near(metrics.pixel_accuracy(p, t, o { reduction = "micro" }), e.micro, 1e-12, "micro")
    near(metrics.pixel_accuracy(p, t, o { reduction = "macro" }), e.macro, 1e-12, "macro")
    near(metrics.pixel_accuracy(p, t, o { reduction = "micro", per_image = true }), e.micro_image,
      1e-12, "per image")
    local cm = metrics.ConfusionMatrix(F.C, { ignore_index = F.ignore }):update(p, t)
    near_list(metrics.pixel_accuracy(p, t, o { reduction = "none" }), (cm:recall()), 0, "none = recall")
    near(metrics.iou(p, t, o { reduction = "macro" }), cm:miou(), 1e-15, "macro iou = miou")
  end)
  it("takes logits and infers num_classes", function()
    local g = lunet.Generator(3)
    local logits = g:randn(2, 3, 5, 6)
    local labels = logits:argmax(2):add(-1):view(2, 5, 6):to("int32")
    local tt = rand_labels(g, { 2, 5, 6 }, 3)
    near(metrics.dice(logits, tt), metrics.dice(labels, tt, { num_classes = 3 }), 0, "dice")
  end)
end)

describe("hausdorff", function()
  for i, case in ipairs(REF.hausdorff) do
    it("matches scipy distance_transform_edt (case " .. i .. ")", function()
      local p, t = T(case.pred, case.shape), T(case.target, case.shape)
      local sp = { spacing = case.spacing }
      near(metrics.hausdorff(p, t, sp), case.hd, 1e-12, "hd")
      near(metrics.hausdorff(p, t, { spacing = case.spacing, percentile = 95 }), case.hd95, 1e-12, "hd95")
      near(metrics.hausdorff(p, t, { spacing = case.spacing, percentile = 50 }), case.hd50, 1e-12, "hd50")
      near(metrics.hausdorff(t, p, { spacing = case.spacing, percentile = 95 }), case.hd95, 1e-12, "symmetric")
    end)
  end
  it("gives inf for one empty mask and NaN for two, and a list for N x H x W", function()
    local z = lunet.zeros({ 6, 7 }, { dtype = "int32" })
    local m = lunet.zeros({ 6, 7 }, { dtype = "int32" })
    m:set(1, 3, 4)
    assert.are.equal(math.huge, metrics.hausdorff(m, z))
    assert.are.equal(math.huge, metrics.hausdorff(z, m, { percentile = 95 }))
    assert.is_true(is_nan(metrics.hausdorff(z, z)))
    assert.are.equal(0, metrics.hausdorff(m, m))
    local b = lunet.stack({ m, z, m }, 1)
    local r = metrics.hausdorff(b, lunet.stack({ m, m, z }, 1))
    assert.are.equal(3, #r)
    assert.are.equal(0, r[1]); assert.are.equal(math.huge, r[2]); assert.are.equal(math.huge, r[3])
  end)
  it("fast (EDT) and naive (all pairs) agree on random masks with spacing", function()
    local g = lunet.Generator(11)
    for trial = 1, 8 do
      local H, W = 5 + trial * 3, 4 + trial * 4
      local p = g:rand(2, H, W):gt(0.7):to("int32")
      local t = g:rand(2, H, W):gt(0.6):to("uint8")
      local sy, sx = 0.5 + trial * 0.25, 1.5 - trial * 0.1
      for _, pct in ipairs({ false, 95, 0, 100, 37.5 }) do
        local a = core.metrics.hausdorff(p, t, pct or nil, sy, sx)
        local b = core.metrics.hausdorff_naive(p, t, pct or nil, sy, sx)
        near_list(a, b, 1e-12, "trial " .. trial)
      end
    end
  end)
  it("boundary is the mask minus its 4-connected erosion", function()
    local m = lunet.ones({ 5, 6 }, { dtype = "int32" })
    m:set(0, 3, 3)
    m:set(0, 1, 6)
    local b = core.metrics.boundary(m)
    assert.are.same({
      { 1, 1, 1, 1, 1, 0 }, { 1, 0, 1, 0, 0, 1 }, { 1, 1, 0, 1, 0, 1 }, { 1, 0, 1, 0, 0, 1 },
      { 1, 1, 1, 1, 1, 1 },
    }, b:totable())
  end)
  it("edt equals brute force on random seeds", function()
    local g = lunet.Generator(5)
    for trial = 1, 10 do
      local s = g:rand(3 + trial, 2 + 2 * trial):gt(0.85):to("uint8")
      local sy, sx = 1 + (trial % 3) * 0.5, 0.75
      assert.is_true(lunet.allclose(core.metrics.edt(s, sy, sx), core.metrics.edt_naive(s, sy, sx), 1e-6, 1e-6))
    end
  end)
end)

describe("saliency", function()
  for i, case in ipairs(REF.saliency) do
    it("mae, F, S and E measures match the reference (case " .. i .. ")", function()
      local sal = T(case.sal, case.shape, "float32")
      local mask = T(case.mask, case.shape, "uint8")
      near(metrics.mae(sal, mask), case.mae, 1e-9, "mae")
      local fa, fm = metrics.fmeasure(sal, mask)
      near(fa, case.f_adaptive, 1e-12, "adaptive F")
      near(fm, case.f_max, 1e-12, "max F")
      near(metrics.s_measure(sal, mask), case.s, 1e-9, "S")
      local em, ea, ex = metrics.e_measure(sal, mask)
      near(em, case.e_mean, 1e-10, "mean E")
      near(ea, case.e_adaptive, 1e-10, "adaptive E")
      near(ex, case.e_max, 1e-10, "max E")
    end)
  end
  it("returns lists for N x H x W", function()
    local a, b = REF.saliency[4], REF.saliency[5]
    local sal = lunet.stack({ T(a.sal, a.shape, "float32"), T(b.sal, b.shape, "float32") }, 1)
    local mask = lunet.stack({ T(a.mask, a.shape), T(b.mask, b.shape) }, 1)
    local s = metrics.s_measure(sal, mask)
    near(s[1], a.s, 1e-9, "S1"); near(s[2], b.s, 1e-9, "S2")
    local fa, fm = metrics.fmeasure(sal, mask)
    near(fa[2], b.f_adaptive, 1e-12, "F1"); near(fm[1], a.f_max, 1e-12, "F2")
  end)
end)

describe("instances", function()
  for i, case in ipairs(REF.instances) do
    it("match_instances and average_precision match Hungarian matching (case " .. i .. ")", function()
      local p, g = T(case.pred, case.shape), T(case.gt, case.shape)
      local tp, fp, fn, miou = metrics.match_instances(p, g)
      assert.are.same({ case.tp, case.fp, case.fn }, { tp, fp, fn })
      near(miou, case.mean_iou, 1e-12, "mean matched IoU")
      local ap, curve = metrics.average_precision(p, g)
      near(ap, case.ap, 1e-12, "AP")
      near_list(curve, case.ap_curve, 1e-12, "AP curve")
    end)
  end
  it("fast and naive matching agree on random id maps, including low thresholds", function()
    local gen = lunet.Generator(9)
    local thr = { 0.1, 0.3, 0.5, 0.75, 0.9 }
    for trial = 1, 6 do
      local p = rand_labels(gen, { 2, 9, 11 }, 4 + trial)
      local g = rand_labels(gen, { 2, 9, 11 }, 3 + trial)
      local a = core.metrics.match_instances(p, g, thr)
      local b = core.metrics.match_instances_naive(p, g, thr)
      assert.are.same(b, a)
    end
  end)
  it("handles empty maps", function()
    local z = lunet.zeros({ 4, 4 }, { dtype = "int32" })
    local m = lunet.zeros({ 4, 4 }, { dtype = "int32" })
    m:set(5, 2, 2)
    local tp0, fp0, fn0, mi0 = metrics.match_instances(z, m)
    assert.are.same({ 0, 0, 1 }, { tp0, fp0, fn0 })
    assert.is_true(is_nan(mi0))
    local tp, fp, fn, mi = metrics.match_instances(m, m)
    assert.are.same({ 1, 0, 0, 1.0 }, { tp, fp, fn, mi })
    assert.is_true(is_nan(metrics.average_precision(z, z)))
    assert.are.equal(0, metrics.average_precision(m, z))
  end)
end)

describe("classic traps (issue 5 item 6)", function()
  it("95% pixel accuracy but 47.5% mIoU for an empty prediction of 5% foreground", function()
    local t = lunet.zeros({ 20, 20 }, { dtype = "int32" })
    for i = 1, 20 do t:set(1, i, 1) end                      -- 20 of 400 pixels = 5%
    local p = lunet.zeros({ 20, 20 }, { dtype = "int32" })
    local cm = metrics.ConfusionMatrix(2):update(p, t)
    near(cm:pixel_accuracy(), 0.95, 1e-15, "pa")
    near(cm:miou(), 0.475, 1e-15, "miou")
  end)
  it("one correct pixel plus one false pixel: Dice 2/3, IoU 1/2", function()
    local t = T({ 1, 0, 0, 0 }, { 2, 2 })
    local p = T({ 1, 1, 0, 0 }, { 2, 2 })
    local o = { num_classes = 2, classes = { 1 } }
    near(metrics.dice(p, t, o), 2 / 3, 1e-15, "dice")
    near(metrics.iou(p, t, o), 1 / 2, 1e-15, "iou")
  end)
  it("Dice/2 <= IoU <= Dice and IoU = Dice/(2-Dice) per image on random masks", function()
    local g = lunet.Generator(1)
    for _ = 1, 20 do
      local t = g:rand(8, 8):gt(0.5):to("int32")
      local p = g:rand(8, 8):gt(0.4):to("int32")
      local o = { num_classes = 2, classes = { 1 } }
      local d, j = metrics.dice(p, t, o), metrics.iou(p, t, o)
      assert.is_true(d / 2 <= j + 1e-15 and j <= d + 1e-15)
      near(j, d / (2 - d), 1e-12, "iou from dice")
    end
  end)
end)

describe("errors", function()
  local t = T({ 0, 1, 2, 255 }, { 2, 2 })
  local p = T({ 0, 1, 2, 1 }, { 2, 2 })
  local cases = {
    { "C < 1", function() metrics.ConfusionMatrix(0) end,
      "ConfusionMatrix: num_classes must be an integer in [1, 65536], got 0" },
    { "unknown option", function() metrics.ConfusionMatrix(3, { ignore = 255 }) end,
      "ConfusionMatrix: unknown option 'ignore' (did you mean 'ignore_index'?)" },
    { "functional unknown option", function() metrics.iou(p, p, { num_classes = 3, reduce = "micro" }) end,
      "iou: unknown option 'reduce' (known options: classes, ignore_index, num_classes, per_image, "
        .. "reduction, zero_division)" },
    { "saliency map not a tensor", function() metrics.e_measure(nil, p) end,
      "e_measure: sal must be a tensor, got nil" },
    { "C not an integer", function() metrics.ConfusionMatrix(2.5) end,
      "ConfusionMatrix: num_classes must be an integer in [1, 65536], got 2.5" },
    { "shape mismatch", function()
        metrics.ConfusionMatrix(3):update(T({ 0, 1, 2 }, { 1, 3 }), T({ 0, 1, 2, 1 }, { 2, 2 }))
      end, "ConfusionMatrix:update: pred shape [1, 3] does not match target shape [2, 2]" },
    { "label >= C without ignore_index", function() metrics.ConfusionMatrix(3):update(p, t) end,
      "ConfusionMatrix:update: target has label 255, outside 0..2" },
    { "label >= C that is not the ignore value", function()
        metrics.ConfusionMatrix(3, { ignore_index = 255 }):update(p, T({ 0, 1, 7, 255 }, { 2, 2 }))
      end, "ConfusionMatrix:update: target has label 7, outside 0..2 and not the ignore_index (255)" },
    { "pred label >= C", function()
        metrics.ConfusionMatrix(3, { ignore_index = 255 }):update(T({ 0, 5, 2, 1 }, { 2, 2 }), t)
      end, "ConfusionMatrix:update: pred has label 5, outside 0..2" },
    { "negative label", function()
        metrics.ConfusionMatrix(3):update(p, T({ 0, -1, 2, 1 }, { 2, 2 }))
      end, "ConfusionMatrix:update: target has label -1, outside 0..2" },
    { "float target", function()
        metrics.ConfusionMatrix(3):update(p, lunet.zeros(2, 2))
      end, "ConfusionMatrix:update: target must hold int32 or uint8 class labels, got float32" },
    { "target not a tensor", function() metrics.ConfusionMatrix(3):update(p, 3) end,
      "ConfusionMatrix:update: target must be a tensor, got number" },
    { "logits of the wrong class count", function()
        metrics.ConfusionMatrix(3):update(lunet.zeros(1, 4, 2, 2), T({ 0, 1, 2, 1 }, { 1, 2, 2 }))
      end, "ConfusionMatrix:update: logits have 4 classes, the matrix has 3 (logits [1, 4, 2, 2])" },
    { "logits that do not fit the target", function()
        metrics.ConfusionMatrix(3):update(lunet.zeros(1, 3, 2, 3), T({ 0, 1, 2, 1 }, { 1, 2, 2 }))
      end, "ConfusionMatrix:update: logits [1, 3, 2, 3] do not fit target [1, 2, 2] "
        .. "(expected N x C x H x W with N, H, W of the target)" },
    { "target of 4 dims", function()
        metrics.ConfusionMatrix(3):update(T({ 0 }, { 1, 1, 1, 1 }), T({ 0 }, { 1, 1, 1, 1 }))
      end, "ConfusionMatrix:update: target must be H x W or N x H x W, got [1, 1, 1, 1]" },
    { "functional without num_classes", function() metrics.iou(p, t) end,
      "iou: opts.num_classes is required for label predictions" },
    { "functional bad reduction", function() metrics.dice(p, p, { num_classes = 3, reduction = "mean" }) end,
      "dice: reduction must be 'micro', 'macro' or 'none', got 'mean'" },
    { "functional float target", function()
        metrics.pixel_accuracy(p, lunet.zeros(2, 2), { num_classes = 3 })
      end, "pixel_accuracy: target must hold int32 or uint8 class labels, got float32" },
    { "functional label >= C", function() metrics.dice(p, t, { num_classes = 3 }) end,
      "dice: target has label 255, outside 0..2" },
    { "functional shape mismatch", function()
        metrics.iou(T({ 0, 1 }, { 1, 2 }), T({ 0, 1 }, { 2, 1 }), { num_classes = 2 })
      end, "iou: pred shape [1, 2] does not match target shape [2, 1]" },
    { "hausdorff shape mismatch", function()
        metrics.hausdorff(T({ 0, 1 }, { 1, 2 }), T({ 0, 1 }, { 2, 1 }))
      end, "hausdorff: pred shape [1, 2] does not match target shape [2, 1]" },
    { "hausdorff float mask", function() metrics.hausdorff(lunet.zeros(2, 2), p) end,
      "hausdorff: pred must be an int32 or uint8 tensor, got float32" },
    { "hausdorff bad percentile", function() metrics.hausdorff(p, p, { percentile = 101 }) end,
      "hausdorff: percentile must be a number in [0, 100], got 101" },
    { "saliency map out of range", function() metrics.mae(lunet.full({ 2, 2 }, 2), p) end,
      "mae: sal values must lie in [0, 1], found 2.0" },
    { "saliency float mask", function() metrics.fmeasure(lunet.zeros(2, 2), lunet.zeros(2, 2)) end,
      "fmeasure: mask must be an int32 or uint8 tensor (nonzero = foreground), got float32" },
    { "saliency shape mismatch", function() metrics.s_measure(lunet.zeros(2, 3), p) end,
      "s_measure: sal shape [2, 3] does not match mask shape [2, 2]" },
    { "instance ids negative", function() metrics.match_instances(T({ -1, 0 }, { 1, 2 }), T({ 0, 1 }, { 1, 2 })) end,
      "match_instances: pred_ids holds a negative id (-1); ids are 0 (background) or positive" },
    { "instance float ids", function() metrics.average_precision(lunet.zeros(2, 2), p) end,
      "average_precision: pred_ids must be an int32 or uint8 tensor, got float32" },
    { "instance shape mismatch", function() metrics.average_precision(p, T({ 0, 1 }, { 1, 2 })) end,
      "average_precision: pred_ids shape [2, 2] does not match gt_ids shape [1, 2]" },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      assert.are.equal(c[3], err_of(c[2]))
    end)
  end
end)

describe("range checks", function()
  local p = T({ 0, 1, 1, 0 }, { 2, 2 })
  local nan, inf = 0 / 0, math.huge
  local cases = {
    { function() metrics.ConfusionMatrix(70000) end,
      "ConfusionMatrix: num_classes must be an integer in [1, 65536], got 70000" },
    { function() metrics.ConfusionMatrix(2, { ignore_index = 2.5 }) end,
      "ConfusionMatrix: ignore_index must be an integer, got 2.5" },
    { function() metrics.ConfusionMatrix(2):fbeta(0) end, "ConfusionMatrix:fbeta: beta must be a finite number > 0, got 0" },
    { function() metrics.ConfusionMatrix(2):fbeta(nan) end,
      "ConfusionMatrix:fbeta: beta must be a finite number > 0, got nan" },
    { function() metrics.ConfusionMatrix(2).miou() end,
      "ConfusionMatrix:miou: self must be a ConfusionMatrix, got nil (call it with a colon: cm:miou(...))" },
    { function() metrics.iou(p, p, { num_classes = 0 }) end, "iou: num_classes must be an integer in [1, 65536], got 0" },
    { function() metrics.dice(p, p, { num_classes = 2, zero_division = nan }) end,
      "dice: zero_division must be a finite number, got nan" },
    { function() metrics.dice(p, p, { num_classes = 2, per_image = 1 }) end, "dice: per_image must be a boolean, got 1" },
    { function() metrics.iou(p, p, { num_classes = 2, classes = { 2 } }) end, "iou: classes holds 2, outside 0..1" },
    { function() metrics.hausdorff(p, p, { percentile = -1 }) end,
      "hausdorff: percentile must be a number in [0, 100], got -1" },
    { function() metrics.hausdorff(p, p, { percentile = nan }) end,
      "hausdorff: percentile must be a number in [0, 100], got nan" },
    { function() metrics.hausdorff(p, p, { spacing = { 1, 0 } }) end,
      "hausdorff: spacing must be finite and > 0, got {1, 0}" },
    { function() metrics.hausdorff(p, p, { spacing = inf }) end,
      "hausdorff: spacing must be finite and > 0, got {inf, inf}" },
    { function() metrics.fmeasure(lunet.zeros(2, 2), p, { beta2 = 0 }) end,
      "fmeasure: beta2 must be a finite number > 0, got 0" },
    { function() metrics.s_measure(lunet.zeros(2, 2), p, { alpha = 2 }) end,
      "s_measure: alpha must be a number in [0, 1], got 2" },
    { function() metrics.match_instances(p, p, { iou_threshold = 0 }) end,
      "match_instances: iou_threshold must be in (0, 1], got 0" },
    { function() metrics.average_precision(p, p, { thresholds = { 0.5, 1.5 } }) end,
      "average_precision: thresholds must lie in (0, 1], got 1.5" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2], function() assert.are.equal(c[2], err_of(c[1])) end)
  end
end)
