-- Bad-input sweep of lunet.classic: every public function gets, for each argument, values of
-- the wrong type, tensors of the wrong dtype / rank, non-contiguous views (which must give the
-- contiguous result), empty and 1 x 1 tensors, NaN / inf, and for each option NaN, a string, a
-- table and a function. Each call either succeeds or raises "<name>: ..." at this file's line
-- (never a crash, a lunet position or a message naming another function). Then the
-- regressions of the defects the sweep found (each case names the message it must give).
local lunet = require "lunet"
local C = require "lunet.classic"
local S = assert(loadfile("spec/sweep_lib.lua", "t", _ENV))()

local SPEC = "spec/sweep_classic_spec.lua"
local function invoke(f, ...)
  local r = table.pack(f(...))
  return table.unpack(r, 1, r.n)
end

lunet.manual_seed(11)
local g = lunet.rand(12, 10)
local m = g:gt(0.5):to("uint8")
local ids = C.label(m)
local rgb = lunet.rand(3, 12, 10)
local probs = lunet.rand(2, 12, 10)
probs = probs:div(probs:sum(1):unsqueeze(1))

-- { name, function, valid args, kind of each arg ("tensor", "int", "opts", "tensor?"), option keys }
local API = {
  { "label", C.label, { m }, { "tensor", "opts" }, { "connectivity" } },
  { "regionprops", C.regionprops, { ids }, { "tensor" } },
  { "distance_transform_edt", C.distance_transform_edt, { m }, { "tensor", "opts" }, { "spacing", "return_indices" } },
  { "watershed", C.watershed, { g, ids }, { "tensor", "tensor", "opts" }, { "mask", "connectivity", "compactness" } },
  { "threshold_otsu", C.threshold_otsu, { g }, { "tensor", "opts" }, { "nbins" } },
  { "threshold_multiotsu", C.threshold_multiotsu, { g }, { "tensor", "opts" }, { "classes", "nbins" } },
  { "threshold_niblack", C.threshold_niblack, { g }, { "tensor", "opts" }, { "window_size", "k" } },
  { "threshold_sauvola", C.threshold_sauvola, { g }, { "tensor", "opts" }, { "window_size", "k", "r" } },
  { "sobel", C.sobel, { g }, { "tensor", "opts" }, { "mask", "axis" } },
  { "scharr", C.scharr, { g }, { "tensor", "opts" }, { "mask", "axis" } },
  { "prewitt", C.prewitt, { g }, { "tensor", "opts" }, { "mask", "axis" } },
  { "laplace", C.laplace, { g }, { "tensor", "opts" }, { "mask" } },
  { "canny", C.canny, { g }, { "tensor", "opts" },
    { "sigma", "low_threshold", "high_threshold", "use_quantiles", "mask" } },
  { "disk", C.disk, { 2 }, { "int" } },
  { "square", C.square, { 2 }, { "int" } },
  { "ball", C.ball, { 2 }, { "int" } },
  { "cube", C.cube, { 2 }, { "int" } },
  { "erode", C.erode, { m, C.disk(1) }, { "tensor", "tensor?", "opts" }, { "mode" } },
  { "dilate", C.dilate, { g, C.disk(1) }, { "tensor", "tensor?", "opts" }, { "mode" } },
  { "opening", C.opening, { m, C.square(3) }, { "tensor", "tensor?", "opts" }, { "mode" } },
  { "closing", C.closing, { g, C.disk(1) }, { "tensor", "tensor?", "opts" }, { "mode" } },
  { "kmeans", C.kmeans, { lunet.rand(20, 3), 3 }, { "tensor", "int", "opts" }, { "seed", "iters", "tol", "n_init" } },
  { "pixel_features", C.pixel_features, { rgb }, { "tensor", "opts" }, { "xy" } },
  { "slic", C.slic, { rgb, { n_segments = 6 } }, { "tensor", "opts" },
    { "n_segments", "compactness", "max_num_iter", "sigma", "start_label", "enforce_connectivity",
      "convert2lab", "min_size_factor", "max_size_factor" } },
  { "felzenszwalb", C.felzenszwalb, { rgb }, { "tensor", "opts" }, { "scale", "sigma", "min_size" } },
  { "dense_crf", C.dense_crf, { probs, rgb, { iterations = 2 } }, { "tensor", "tensor", "opts" },
    { "iterations", "pos_w", "pos_xy_std", "bi_w", "bi_xy_std", "bi_rgb_std", "eps" } },
}


S.sweep(SPEC, API, invoke, { prefix = "classic.", option_frags = true })

describe("classic regressions found by the sweep", function()
  local function bad(label, fn, f, frags)
    it(label, function()
      local ok, e = pcall(f)
      S.check_error(SPEC, fn, ok, e, frags, label)
    end)
  end
  -- dense_crf: a tiny std made the lattice's int32 coordinates overflow (bus error / NaN q)
  bad("dense_crf: a tiny bi_xy_std", "dense_crf", function()
    return C.dense_crf(probs, rgb, { bi_xy_std = 1e-300, iterations = 1 })
  end, { "option bi_xy_std 1e-300 is too small for a 12 x 10 image", "bi_xy_std must be >= 1.1e-05" })
  bad("dense_crf: a tiny pos_xy_std", "dense_crf", function()
    return C.dense_crf(probs, rgb, { pos_xy_std = 1e-10, iterations = 1 })
  end, { "option pos_xy_std 1e-10 is too small for a 12 x 10 image" })
  bad("dense_crf: a tiny bi_rgb_std", "dense_crf", function()
    return C.dense_crf(probs, rgb, { bi_rgb_std = 1e-30, iterations = 1 })
  end, { "option bi_rgb_std 1e-30 is too small for colours up to" })
  bad("dense_crf: huge float colours with the default bi_rgb_std", "dense_crf", function()
    return C.dense_crf(probs, rgb:mul(1e6), { iterations = 1 })
  end, { "option bi_rgb_std 5 is too small" })
  it("dense_crf: the smallest allowed std still gives probabilities", function()
    local q = C.dense_crf(probs, rgb, { bi_xy_std = 1.1e-5, pos_xy_std = 1.1e-5, iterations = 2 })
    local sums = q:sum(1)
    assert.is_true(sums:sub(1):abs():max():item() < 1e-4)
  end)
  -- 1-based flat indices, as every lunet position
  bad("slic: NaN position is 1-based", "slic", function()
    local x = rgb:clone()
    x:set(0 / 0, 1, 1, 2)
    return C.slic(x)
  end, { "nan at flat index 2" })
  bad("dense_crf: a negative probability at a 1-based flat index", "dense_crf", function()
    local p = probs:clone()
    p:set(-1, 1, 1, 3)
    return C.dense_crf(p, rgb)
  end, { "got -1 at flat index 3" })
  -- booleans were read by truthiness: "x", 0 and {} meant true
  bad("distance_transform_edt: return_indices must be a boolean", "distance_transform_edt",
    function() return C.distance_transform_edt(m, { return_indices = 0 }) end, { "return_indices must be a boolean, got 0" })
  bad("canny: use_quantiles must be a boolean", "canny",
    function() return C.canny(g, { use_quantiles = "yes" }) end, { "use_quantiles must be a boolean, got 'yes'" })
  -- k = inf gave an all-inf threshold image
  bad("threshold_niblack: k = inf", "threshold_niblack",
    function() return C.threshold_niblack(g, { k = math.huge }) end, { "k must be finite, got inf" })
  bad("threshold_sauvola: k = -inf", "threshold_sauvola",
    function() return C.threshold_sauvola(g, { k = -math.huge }) end, { "k must be finite, got -inf" })
  -- a huge window padded the image to terabytes ("out of memory", or an OOM kill when it fit)
  bad("threshold_niblack: window_size 40001", "threshold_niblack",
    function() return C.threshold_niblack(g, { window_size = 40001 }) end,
    { "window_size {40001, 40001} is too large for a 12 x 10 image", "more than the limit of 268435456" })
  bad("threshold_sauvola: window_size 2^31 + 1", "threshold_sauvola",
    function() return C.threshold_sauvola(g, { window_size = 2 ^ 31 + 1 }) end, { "is too large for a 12 x 10 image" })
  it("threshold_niblack: a window larger than the image (reflected) still works", function()
    local t = C.threshold_niblack(g, { window_size = 31 })
    assert.are.same({ 12, 10 }, t:shape())
  end)
  -- mismatched shapes and out-of-range labels
  bad("watershed: a mask of another shape", "watershed",
    function() return C.watershed(g, ids, { mask = lunet.ones(3, 3) }) end, { "mask has shape [3, 3]", "[12, 10]" })
  bad("watershed: markers of another shape", "watershed",
    function() return C.watershed(g, ids:narrow(1, 1, 5)) end, { "markers has shape [5, 10]", "[12, 10]" })
  bad("regionprops: a label above the pixel count", "regionprops", function()
    local x = ids:clone()
    x:set(2147483647, 1, 1)
    return C.regionprops(x)
  end, { "2147483647", "120" })
  bad("regionprops: a negative label", "regionprops", function()
    local x = ids:clone()
    x:set(-5, 2, 2)
    return C.regionprops(x)
  end, { "-5" })
  bad("distance_transform_edt: spacing of the wrong length", "distance_transform_edt",
    function() return C.distance_transform_edt(m, { spacing = { 1, 2, 3 } }) end, { "(2), got 3" })
  bad("distance_transform_edt: spacing 0", "distance_transform_edt",
    function() return C.distance_transform_edt(m, { spacing = { 1, 0 } }) end, { "spacing[2]", "got 0" })
  bad("sobel: a mask of another shape", "sobel",
    function() return C.sobel(g, { mask = lunet.ones({ 3, 3 }, { dtype = "uint8" }) }) end, { "[3, 3]", "[12, 10]" })
  bad("dense_crf: rgb of another size", "dense_crf",
    function() return C.dense_crf(probs, lunet.rand(3, 5, 5)) end, { "[3, 5, 5]", "[2, 12, 10]" })
  bad("kmeans: k above the number of points", "kmeans",
    function() return C.kmeans(lunet.rand(5, 2), 6) end, { "6" })
  bad("cube: a width whose volume is too large", "cube", function() return C.cube(2048) end, { "2048" })
  bad("ball: a radius above 256", "ball", function() return C.ball(300) end, { "300" })
  it("valid edge cases give the right result", function()
    assert.are.same({ 1, 1 }, C.disk(0):shape())
    assert.are.same({ 1 }, C.disk(0):tolist())   -- tolist is flat, row-major
    local lab, count = C.label(lunet.ones({ 1, 1 }, { dtype = "uint8" }))
    assert.are.same({ 1 }, lab:tolist())
    assert.are.equal(1, count)
    assert.are.same({}, C.regionprops(lunet.zeros({ 4, 4 }, { dtype = "int32" })))
    local d = C.distance_transform_edt(lunet.ones({ 1, 1 }, { dtype = "uint8" }))
    assert.are.equal(math.huge, d:item())
  end)
end)
