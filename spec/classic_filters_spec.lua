-- lunet.classic, thresholds, edge filters, Canny, morphology and k-means against scikit-image
-- (spec/ref/gen_classic.py -> spec/ref/classic/filters_morph.lua), fast kernels against the
-- naive references on random inputs, and bad input.
local lunet = require "lunet"
local classic = require "lunet.classic"
local K = lunet.core.classic

local R = dofile("spec/ref/classic/filters_morph.lua")
local R0 = dofile("spec/ref/classic/label_edt_ws.lua")

local function T(r) return lunet.tensor(r.data, { dtype = r.dtype, shape = r.shape }) end
local function strip(msg) return (tostring(msg):gsub("^[^:\n]+:%d+: ", "")) end
local function err(f)
  local ok, e = pcall(f)
  assert.is_false(ok, "expected an error")
  return strip(e)
end

-- largest |a - b| / max(1, |b|)
local function max_rel_diff(a, b)
  local fa, fb, m = a:tolist(), b:tolist(), 0
  assert.are.equal(#fb, #fa)
  for i = 1, #fa do
    local d = math.abs(fa[i] - fb[i]) / math.max(1, math.abs(fb[i]))
    if fa[i] == fb[i] then d = 0 end
    if d ~= d then d = math.huge end
    if d > m then m = d end
  end
  return m
end

local function count_diff(a, b)
  local fa, fb, n = a:tolist(), b:tolist(), 0
  assert.are.equal(#fb, #fa)
  for i = 1, #fa do if fa[i] ~= fb[i] then n = n + 1 end end
  return n
end

local cam, coins, camf = T(R0.camera), T(R0.coins), T(R.camf)

describe("classic thresholds", function()
  it("threshold_otsu equals scikit-image within 1e-6 (uint8 and float32 images, nbins)", function()
    assert.near(R.otsu_u8, classic.threshold_otsu(cam), 1e-6)
    assert.near(R.otsu_coins, classic.threshold_otsu(coins), 1e-6)
    assert.near(R.otsu_f32, classic.threshold_otsu(camf), 1e-6)
    assert.near(R.otsu_f32_64, classic.threshold_otsu(camf, { nbins = 64 }), 1e-6)
  end)

  it("threshold_otsu of a constant image is its value", function()
    assert.are.equal(7, classic.threshold_otsu(lunet.full({ 3, 4 }, 7, { dtype = "uint8" })))
  end)

  it("threshold_multiotsu equals scikit-image within 1e-6", function()
    local function same(ref, got)
      assert.are.equal(#ref, #got)
      for i = 1, #ref do assert.near(ref[i], got[i], 1e-6) end
    end
    same(R.multiotsu_u8, classic.threshold_multiotsu(cam))
    same(R.multiotsu_coins4, classic.threshold_multiotsu(coins, { classes = 4 }))
    same(R.multiotsu_f32, classic.threshold_multiotsu(camf))
  end)

  it("threshold_niblack and threshold_sauvola equal scikit-image within 1e-6 (relative)", function()
    assert.is_true(max_rel_diff(classic.threshold_niblack(cam, { window_size = 15, k = 0.2 }), T(R.niblack_u8)) <= 1e-6)
    assert.is_true(max_rel_diff(classic.threshold_niblack(camf, { window_size = { 7, 11 }, k = -0.3 }), T(R.niblack_f32)) <= 1e-6)
    assert.is_true(max_rel_diff(classic.threshold_sauvola(coins, { window_size = 25 }), T(R.sauvola_u8)) <= 1e-6)
    assert.is_true(max_rel_diff(classic.threshold_sauvola(camf, { window_size = 9, k = 0.35, r = 0.4 }), T(R.sauvola_f32)) <= 1e-6)
  end)
end)

describe("classic local thresholds against direct window sums", function()
  it("equal the naive reference (uint8 and float32, windows larger than the image too)", function()
    for s = 1, 8 do
      local g = lunet.Generator(700 + s)
      local img = lunet.rand({ 7 + s, 11 + 2 * s }, { generator = g })
      if s % 2 == 0 then img = img:mul(255):floor():to("uint8") end
      local wy, wx = 2 * (s % 4) + 1, 2 * ((s * 3) % 11) + 3
      for _, sv in ipairs { false, true } do
        local a = K.local_threshold(img, wy, wx, 0.3, 0.7, sv, "t", false)
        local b = K.local_threshold(img, wy, wx, 0.3, 0.7, sv, "t", true)
        assert.is_true(max_rel_diff(a, b) <= 2e-5)
      end
    end
  end)
end)

describe("classic edge filters", function()
  local cases = {
    { "sobel of a uint8 image", function() return classic.sobel(cam) end, "sobel_u8" },
    { "sobel of a float32 image", function() return classic.sobel(camf) end, "sobel_f32" },
    { "sobel along rows", function() return classic.sobel(cam, { axis = 1 }) end, "sobel_axis0" },
    { "sobel along columns", function() return classic.sobel(camf, { axis = 2 }) end, "sobel_axis1" },
    { "scharr", function() return classic.scharr(cam) end, "scharr_u8" },
    { "prewitt", function() return classic.prewitt(camf) end, "prewitt_f32" },
    { "laplace", function() return classic.laplace(cam) end, "laplace_u8" },
    { "sobel with a mask", function() return classic.sobel(coins, { mask = T(R.fmask) }) end, "sobel_masked" },
    { "laplace with a mask", function() return classic.laplace(camf, { mask = T(R.fmask) }) end, "laplace_masked" },
  }
  for _, c in ipairs(cases) do
    it("equal scikit-image within 1e-6: " .. c[1], function()
      assert.is_true(max_rel_diff(c[2](), T(R[c[3]])) <= 1e-6)
    end)
  end
end)

describe("classic.canny", function()
  local cases = {
    { "defaults on a uint8 image", function() return classic.canny(cam) end, "canny_u8" },
    { "sigma 2 and thresholds in the uint8 scale", function()
      return classic.canny(coins, { sigma = 2, low_threshold = 10, high_threshold = 40 }) end, "canny_u8_s2" },
    { "quantile thresholds", function()
      return classic.canny(cam, { sigma = 1.5, low_threshold = 0.7, high_threshold = 0.9, use_quantiles = true }) end, "canny_q" },
    { "a mask", function() return classic.canny(coins, { mask = T(R.fmask) }) end, "canny_mask" },
    { "a float32 image", function()
      return classic.canny(camf, { sigma = 1.2, low_threshold = 0.05, high_threshold = 0.15 }) end, "canny_f32" },
  }
  for _, c in ipairs(cases) do
    it("equals scikit-image exactly: " .. c[1], function()
      local got = c[2]()
      assert.are.equal("uint8", got:dtype())
      assert.are.equal(0, count_diff(got, T(R[c[3]])))
    end)
  end
end)

describe("classic morphology", function()
  local m2 = cam:gt(100):to("uint8")
  local asym = T(R.asym)
  local cases = {
    { "binary erosion by disk(2)", function() return classic.erode(m2, classic.disk(2)) end, "bin_erode_disk2" },
    { "binary dilation by disk(3)", function() return classic.dilate(m2, classic.disk(3)) end, "bin_dilate_disk3" },
    { "binary opening by square(3)", function() return classic.opening(m2, classic.square(3)) end, "bin_open_sq3" },
    { "binary closing by disk(1)", function() return classic.closing(m2, classic.disk(1)) end, "bin_close_disk1" },
    { "binary dilation by an asymmetric footprint (reflected)", function() return classic.dilate(m2, asym) end, "bin_dilate_asym" },
    { "binary erosion by an asymmetric footprint", function() return classic.erode(m2, asym) end, "bin_erode_asym" },
    { "grayscale erosion by disk(2)", function() return classic.erode(camf, classic.disk(2)) end, "gray_erode_disk2" },
    { "grayscale dilation by square(5)", function() return classic.dilate(camf, classic.square(5)) end, "gray_dilate_sq5" },
    { "grayscale opening by disk(3)", function() return classic.opening(camf, classic.disk(3)) end, "gray_open_disk3" },
    { "grayscale closing by an asymmetric footprint", function() return classic.closing(camf, asym) end, "gray_close_asym" },
    { "grayscale dilation by an asymmetric footprint", function() return classic.dilate(camf, asym) end, "gray_dilate_asym" },
    { "grayscale erosion of a uint8 image (mode gray)", function() return classic.erode(cam, classic.disk(1), { mode = "gray" }) end, "gray_u8_erode" },
    { "3-D binary erosion by ball(1)", function() return classic.erode(T(R.mvol), classic.ball(1)) end, "bin3_erode_ball1" },
    { "3-D binary dilation by ball(2)", function() return classic.dilate(T(R.mvol), classic.ball(2)) end, "bin3_dilate_ball2" },
    { "3-D binary closing by cube(3)", function() return classic.closing(T(R.mvol), classic.cube(3)) end, "bin3_close_cube3" },
    { "3-D grayscale erosion by ball(1)", function() return classic.erode(T(R.gvol), classic.ball(1)) end, "gray3_erode_ball1" },
    { "3-D grayscale dilation by cube(3)", function() return classic.dilate(T(R.gvol), classic.cube(3)) end, "gray3_dilate_cube3" },
  }
  for _, c in ipairs(cases) do
    it("equals scikit-image exactly: " .. c[1], function()
      local got, ref = c[2](), T(R[c[3]])
      assert.are.equal(ref:dtype(), got:dtype())
      assert.are.equal(0, count_diff(got, ref))
    end)
  end

  it("builds disk, ball, square and cube as scikit-image", function()
    assert.are.same(T(R.disk5):tolist(), classic.disk(5):tolist())
    assert.are.same(T(R.ball3):tolist(), classic.ball(3):tolist())
    assert.are.same({ 3, 3 }, classic.square(3):shape())
    assert.are.same({ 3, 3, 3 }, classic.cube(3):shape())
  end)

  it("equals the direct reference on random images, volumes and footprints", function()
    for s = 1, 8 do
      local g = lunet.Generator(500 + s)
      local shape = s <= 5 and { 9 + s, 13 } or { 4, 6, 5 }
      local fshape = s <= 5 and { 2 * (s % 3) + 1, 2 * ((s + 1) % 3) + 1 } or { 3, 1, 5 }
      local fp = lunet.rand(fshape, { generator = g }):lt(0.6):to("uint8")
      local img = lunet.rand(shape, { generator = g })
      local bin = img:lt(0.7):to("uint8"):float()
      for _, op in ipairs { "erode", "dilate", "open", "close" } do
        for _, binary in ipairs { true, false } do
          local x = binary and bin or img
          local a = K.morph(x, fp, op, binary, false, "erode")
          local b = K.morph(x, fp, op, binary, true, "erode")
          assert.are.same(b:tolist(), a:tolist())
        end
      end
    end
  end)
end)

describe("classic.kmeans", function()
  it("recovers well-separated blobs, and its labels are the nearest centers", function()
    local g = lunet.Generator(3)
    local n = 300
    local x = lunet.randn({ n, 2 }, { generator = g }):mul(0.1)
    local offs = { { 0, 0 }, { 5, 5 }, { -5, 5 } }
    local xs = x:tolist()
    local t = {}
    for i = 1, n do
      local o = offs[(i - 1) % 3 + 1]
      t[#t + 1] = xs[2 * i - 1] + o[1]
      t[#t + 1] = xs[2 * i] + o[2]
    end
    local pts = lunet.tensor(t, { shape = { n, 2 } })
    local labels, centers, inertia, iters = classic.kmeans(pts, 3, { seed = 7 })
    assert.are.equal("int32", labels:dtype())
    assert.are.same({ 3, 2 }, centers:shape())
    assert.is_true(iters >= 1 and iters <= 300)
    assert.is_true(inertia < n * 0.1)
    local l = labels:tolist()
    for i = 4, n do assert.are.equal(l[(i - 1) % 3 + 1], l[i]) end   -- one label per blob
    assert.are_not.equal(l[1], l[2]); assert.are_not.equal(l[2], l[3]); assert.are_not.equal(l[1], l[3])
    -- same seed, same result with 1 or 2 threads
    local old = lunet.get_num_threads()
    lunet.set_num_threads(1)
    local l1, c1 = classic.kmeans(pts, 3, { seed = 7 })
    lunet.set_num_threads(old)
    assert.are.same(labels:tolist(), l1:tolist())
    assert.are.same(centers:tolist(), c1:tolist())
  end)

  it("is a fixed point of Lloyd's step on random data (centers = means, labels = nearest)", function()
    local g = lunet.Generator(9)
    local x = lunet.rand({ 200, 3 }, { generator = g })
    local labels, centers = classic.kmeans(x, 5, { seed = 1, tol = 0, iters = 1000, n_init = 3 })
    local xs, ls, cs = x:tolist(), labels:tolist(), centers:tolist()
    local sum, cnt = {}, {}
    for i = 1, 200 do
      local best, bl = math.huge, -1
      for c = 0, 4 do
        local d = 0
        for j = 1, 3 do d = d + (xs[(i - 1) * 3 + j] - cs[c * 3 + j]) ^ 2 end
        if d < best then best, bl = d, c end
      end
      assert.are.equal(bl, ls[i])
      cnt[bl] = (cnt[bl] or 0) + 1
      for j = 1, 3 do sum[bl * 3 + j] = (sum[bl * 3 + j] or 0) + xs[(i - 1) * 3 + j] end
    end
    for c = 0, 4 do
      for j = 1, 3 do assert.near(sum[c * 3 + j] / cnt[c], cs[c * 3 + j], 1e-5) end
    end
  end)

  it("clusters pixel_features of an image (colour + position)", function()
    local img = lunet.zeros({ 3, 8, 8 })
    img:narrow(3, 5, 4):fill_(1)
    local f = classic.pixel_features(img, { xy = 0.5 })
    assert.are.same({ 64, 5 }, f:shape())
    assert.near(0.5, f:tolist()[64 * 5], 1e-7)
    local labels = classic.kmeans(f, 2, { seed = 3 }):view(8, 8)
    local l = labels:tolist()
    for y = 0, 7 do
      for x = 0, 7 do assert.are.equal(l[x < 4 and 1 or 5], l[y * 8 + x + 1]) end
    end
  end)
end)

describe("lunet.classic rejects bad input (part 2 functions)", function()
  local img = lunet.rand({ 8, 8 })
  local cases = {
    { "an int32 image for otsu", function() classic.threshold_otsu(lunet.zeros({ 4, 4 }, { dtype = "int32" })) end,
      "threshold_otsu: image must be a uint8 or float32 gray image, got int32" },
    { "a NaN pixel", function() classic.threshold_otsu(lunet.tensor({ { 0 / 0, 1 }, { 2, 3 } })) end,
      "threshold_otsu: image holds a non-finite value (nan at flat index 1)" },
    { "too many classes for the values", function() classic.threshold_multiotsu(lunet.tensor({ { 0, 1 }, { 1, 0 } }), { classes = 3 }) end,
      "threshold_multiotsu: the image has fewer than 3 distinct values: it cannot be thresholded into 3 classes" },
    { "a multi-Otsu search too large to finish", function() classic.threshold_multiotsu(lunet.rand({ 8, 8 }), { classes = 6 }) end,
      "threshold_multiotsu: 6 classes over 256 histogram bins is a search of more than 2^31 threshold combinations: use fewer classes or nbins" },
    { "an even window", function() classic.threshold_sauvola(img, { window_size = 4 }) end,
      "threshold_sauvola: window_size must be odd, got 4" },
    { "a 3-D image for sobel", function() classic.sobel(lunet.zeros({ 2, 3, 4 })) end,
      "sobel: image must be H x W, got a tensor of shape [2, 3, 4]" },
    { "a negative sigma", function() classic.canny(img, { sigma = -1 }) end,
      "canny: sigma must be a number in [0, 100000], got -1" },
    { "low above high", function() classic.canny(img, { low_threshold = 0.5, high_threshold = 0.2 }) end,
      "canny: low_threshold (0.5) must not exceed high_threshold (0.2)" },
    { "a quantile above 1", function() classic.canny(img, { use_quantiles = true, high_threshold = 2 }) end,
      "canny: high_threshold must be a number in [0, 1], got 2" },
    { "an even footprint", function() classic.erode(img, classic.square(2)) end,
      "erode: footprint sizes must be odd (a centred footprint), got [2, 2]" },
    { "a footprint of the wrong rank", function() classic.dilate(img, classic.ball(1)) end,
      "dilate: footprint [3, 3, 3] must have as many dimensions as the image [8, 8]" },
    { "an unknown mode", function() classic.opening(img, classic.disk(1), { mode = "fuzzy" }) end,
      "opening: mode must be 'binary' or 'gray', got 'fuzzy'" },
    { "k above the point count", function() classic.kmeans(lunet.rand({ 5, 2 }), 6) end,
      "kmeans: k must be in 1..5 (the number of points), got 6" },
    { "k = 0", function() classic.kmeans(lunet.rand({ 5, 2 }), 0) end,
      "kmeans: k must be an integer >= 1, got 0" },
    { "a 1-D x for kmeans", function() classic.kmeans(lunet.rand({ 5 }), 2) end,
      "kmeans: x must be N x F (points x features), got a tensor of shape [5]" },
    { "a non-finite feature", function() classic.kmeans(lunet.tensor({ { 1, 0 / 0 }, { 0, 1 } }), 1) end,
      "kmeans: x holds a non-finite value (nan at flat index 2)" },
    { "a negative radius", function() classic.disk(-1) end, "disk: radius must be an integer in [0, 4096], got -1" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function() assert.are.equal(c[3], err(c[2])) end)
  end
end)
