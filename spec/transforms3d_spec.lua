-- transforms3d_spec.lua: the volume transforms of lunet.transforms (volume.lua): image and
-- label volume moved together, label values preserved, seeded determinism, the 3-D
-- resampling kernel against scipy.ndimage.affine_transform (spec/ref/gen_transforms3d.py)
-- and against its naive twin, foreground-biased patch sampling, intensity transforms, errors.
local lunet = require "lunet"
local T = require "lunet.transforms"
local REF = dofile("spec/ref/transforms3d.lua")

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:\n]*:%d+: ", ""))
end

local function max_abs(a, list)
  local v, m = a:tolist(), 0
  assert.are.equal(#list, #v)
  for i = 1, #v do m = math.max(m, math.abs(v[i] - list[i])) end
  return m
end

-- a volume whose labels are a function of the image (label = floor(image) for image in
-- [0, 4)): a transform that moves both together keeps label == floor(image) exactly when
-- the image is resampled with nearest
local function paired(D, H, W, seed)
  local g = lunet.Generator(seed or 1)
  local img = lunet.randint(0, 4, {1, D, H, W}, {generator = g}):float() + 0.5
  local mask = img:select(1, 1):floor():to("int32")
  return img, mask
end
local function consistent(s)
  local f = s.image:select(1, 1):floor():to("int32")
  return lunet.allclose(f:float(), s.mask:float(), 0, 0)
end

describe("volume transforms move image and mask together", function()
  it("Flip3d flips the chosen axis of both", function()
    local img, mask = paired(3, 4, 5)
    for axis = 1, 3 do
      local s = T.Flip3d{axis = axis, p = 1}{image = img, mask = mask}
      assert.is_true(lunet.allclose(s.image, img:flip(axis + 1), 0, 0))
      assert.is_true(lunet.allclose(s.mask:float(), mask:flip(axis):float(), 0, 0))
    end
    local s = T.Flip3d{axis = "w", p = 1}{image = img, mask = mask}
    assert.is_true(lunet.allclose(s.image, img:flip(4), 0, 0))
  end)

  it("RandomRotate90_3d turns like numpy.rot90 in the chosen plane", function()
    local img, mask = paired(2, 3, 4)
    local seen = {}
    for seed = 1, 12 do
      local s = T.Compose{T.RandomRotate90_3d{plane = {2, 3}, p = 1}, seed = seed}{image = img, mask = mask}
      assert.is_true(consistent(s))
      local sh = s.mask:shape()
      seen[table.concat(sh, "x")] = true
      -- numpy.rot90(m, 1, axes=(1, 2)) of a 2 x 3 x 4 volume is 2 x 4 x 3 with
      -- out[d][i][j] = m[d][j][W - 1 - i] (0-based)
      if sh[2] == 4 then
        local a = s.mask:get(1, 1, 1)
        local k1 = mask:get(1, 1, 4) == a   -- k = 1
        local k3 = mask:get(1, 3, 1) == a   -- k = 3
        assert.is_true(k1 or k3)
      end
    end
    assert.is_true(seen["2x3x4"] and seen["2x4x3"])
    local s = T.RandomRotate90_3d{plane = {1, 3}, p = 1}{image = img, mask = mask}
    assert.is_true(consistent(s))
  end)

  it("Affine3d rotates and scales both; nearest-resampled images keep label == floor(image)", function()
    local img, mask = paired(9, 10, 11, 4)
    for seed = 1, 6 do
      local tf = T.Compose{T.Affine3d{rotate = 30, scale = {0.8, 1.2}, translate = 1, p = 1,
                                      interpolation = "nearest", fill = 0.5, fill_mask = 0}, seed = seed}
      local s = tf{image = img, mask = mask}
      assert.are.same(mask:shape(), s.mask:shape())
      assert.is_true(consistent(s), "seed " .. seed)
    end
  end)

  it("Affine3d with trilinear images keeps label values (nearest masks, explicit fill)", function()
    local img, mask = paired(8, 8, 8, 5)
    local s = T.Compose{T.Affine3d{rotate = {10, {20, 40}, 0}, scale = 1.1, p = 1, fill_mask = 255}, seed = 2}{image = img, mask = mask}
    local allowed = {[0] = true, [1] = true, [2] = true, [3] = true, [255] = true}
    local saw_fill = false
    for _, v in ipairs(s.mask:tolist()) do
      assert.is_true(allowed[v], "label " .. v)
      saw_fill = saw_fill or v == 255
    end
    assert.is_true(saw_fill)
    assert.are.equal("float32", s.image:dtype())
  end)

  it("RandomCropPad3d crops a block of the volume and pads small axes with the fills", function()
    local D, H, W = 6, 7, 8
    local img = lunet.arange(0, D * H * W):float():reshape(1, D, H, W)
    local mask = lunet.arange(0, D * H * W, 1, {dtype = "int32"}):reshape(D, H, W)
    local s = T.Compose{T.RandomCropPad3d{size = {4, 10, 5}, fill = -1, fill_mask = -7}, seed = 9}{image = img, mask = mask}
    assert.are.same({1, 4, 10, 5}, s.image:shape())
    assert.are.same({4, 10, 5}, s.mask:shape())
    -- H is padded symmetrically: 10 - 7 = 3 -> 1 row before, 2 after
    assert.are.equal(-1, s.image:get(1, 1, 1, 1))
    assert.are.equal(-7, s.mask:get(1, 1, 1))
    assert.are.equal(-7, s.mask:get(1, 10, 1))
    local v0 = s.mask:get(1, 2, 1)
    local z0, y0, x0 = v0 // (H * W), (v0 // W) % H, v0 % W
    assert.are.equal(0, y0)
    for z = 1, 4 do for y = 2, 8 do for x = 1, 5 do
      local want = (z0 + z - 1) * H * W + (y0 + y - 2) * W + (x0 + x - 1)
      assert.are.equal(want, s.mask:get(z, y, x))
      assert.are.equal(want, s.image:get(1, z, y, x))
    end end end
  end)

  it("RandomCropByPosNegLabel3d centres positive patches on foreground voxels", function()
    local D, H, W = 12, 12, 12
    local img = lunet.zeros(1, D, H, W)
    local mask = lunet.zeros({D, H, W}, {dtype = "int32"})
    mask:narrow(1, 6, 1):narrow(2, 7, 1):narrow(3, 5, 1):fill_(2)   -- one voxel at (5, 6, 4) 0-based
    local tf = T.Compose{T.RandomCropByPosNegLabel3d{size = {3, 3, 3}, pos = 1, neg = 0, num_samples = 4}, seed = 1}
    local list = tf{image = img, mask = mask}
    assert.are.equal(4, #list)
    for _, s in ipairs(list) do
      assert.are.same({1, 3, 3, 3}, s.image:shape())
      assert.are.equal(2, s.mask:get(2, 2, 2))   -- the centre of the patch
    end
    -- negative patches avoid it (with 1727 background voxels a hit is unlikely but allowed:
    -- check the centres instead)
    local neg = T.Compose{T.RandomCropByPosNegLabel3d{size = {3, 3, 3}, pos = 0, neg = 1, num_samples = 8}, seed = 2}{image = img, mask = mask}
    for _, s in ipairs(neg) do assert.are.equal(0, s.mask:get(2, 2, 2)) end
    -- near the border the patch is moved inside; a volume smaller than the patch is padded
    mask:fill_(0)
    mask:narrow(1, 1, 1):narrow(2, 1, 1):narrow(3, 1, 1):fill_(1)
    local s = T.Compose{T.RandomCropByPosNegLabel3d{size = {4, 4, 4}, pos = 1, neg = 0}, seed = 3}{image = img, mask = mask}
    assert.are.equal(1, s.mask:get(1, 1, 1))
    local small = T.RandomCropByPosNegLabel3d{size = {14, 4, 4}, fill_mask = 9}{image = img, mask = mask}
    assert.are.same({14, 4, 4}, small.mask:shape())
    assert.are.equal(9, small.mask:get(1, 1, 1))
    -- a pos:neg ratio of 1:1 gives both kinds over many draws
    local mixed = T.Compose{T.RandomCropByPosNegLabel3d{size = {1, 1, 1}, num_samples = 40}, seed = 4}{image = img, mask = mask}
    local pos = 0
    for _, one in ipairs(mixed) do pos = pos + one.mask:get(1, 1, 1) end
    assert.is_true(pos > 5 and pos < 35, "positives " .. pos)
  end)

  it("is deterministic for a seed and differs between seeds", function()
    local img, mask = paired(8, 9, 10, 7)
    local function run(seed)
      return T.Compose{T.RandomCropPad3d{size = {6, 6, 6}}, T.Flip3d{axis = 2}, T.RandomRotate90_3d{},
        T.Affine3d{rotate = 15, scale = {0.9, 1.1}}, T.RandomGamma3d{}, T.GaussNoise3d{std = 0.2},
        T.ShiftIntensity3d{}, T.RandomScaleIntensity3d{}, seed = seed}{image = img, mask = mask}
    end
    local a, b, c = run(5), run(5), run(6)
    assert.is_true(lunet.allclose(a.image, b.image, 0, 0))
    assert.is_true(lunet.allclose(a.mask:float(), b.mask:float(), 0, 0))
    assert.is_false(a.image:shape()[2] == c.image:shape()[2] and lunet.allclose(a.image, c.image, 0, 0))
  end)
end)

describe("intensity transforms", function()
  local img = lunet.randn(2, 3, 4, 5) * 3 + 1
  local mask = lunet.ones({3, 4, 5}, {dtype = "uint8"})
  it("ScaleIntensity3d maps min..max to minv..maxv", function()
    local s = T.ScaleIntensity3d{minv = -1, maxv = 2}{image = img, mask = mask}
    assert.is_true(math.abs(s.image:min():item() + 1) < 1e-6 and math.abs(s.image:max():item() - 2) < 1e-6)
    assert.are.equal(mask, s.mask)
  end)
  it("ShiftIntensity3d and RandomScaleIntensity3d shift and scale by one drawn value", function()
    local s = T.ShiftIntensity3d{offsets = {0.5, 0.5}, p = 1}{image = img}
    assert.is_true(lunet.allclose(s.image, img + 0.5, 1e-6, 1e-6))
    local r = T.RandomScaleIntensity3d{factors = {0.25, 0.25}, p = 1}{image = img}
    assert.is_true(lunet.allclose(r.image, img * 1.25, 1e-6, 1e-6))
  end)
  it("RandomGamma3d keeps the minimum and maximum", function()
    local s = T.Compose{T.RandomGamma3d{gamma = {2, 2}, p = 1}, seed = 1}{image = img, mask = mask}
    assert.is_true(math.abs(s.image:min():item() - img:min():item()) < 1e-5)
    assert.is_true(math.abs(s.image:max():item() - img:max():item()) < 1e-4)
    local lo, hi = img:min():item(), img:max():item()
    local want = ((img - lo) / (hi - lo + 1e-7)):pow(2) * (hi - lo) + lo
    assert.is_true(lunet.allclose(s.image, want, 1e-5, 1e-5))
  end)
  it("GaussNoise3d adds seeded noise of at most std", function()
    local a = T.Compose{T.GaussNoise3d{std = 0.5, p = 1}, seed = 3}{image = img, mask = mask}
    local b = T.Compose{T.GaussNoise3d{std = 0.5, p = 1}, seed = 3}{image = img, mask = mask}
    assert.is_true(lunet.allclose(a.image, b.image, 0, 0))
    local d = a.image - img
    local rms = d:pow(2):mean():item() ^ 0.5
    assert.is_true(rms > 0 and rms < 0.7)
    assert.are.equal(mask, a.mask)
  end)
end)

describe("vol_affine (csrc/lt_vol_warp.c)", function()
  it("matches scipy.ndimage.affine_transform (order 1 grid-constant, order 0)", function()
    for i, c in ipairs(REF) do
      local x = lunet.tensor(c.x, {shape = {1, c.shape[1], c.shape[2], c.shape[3]}})
      local lin = T.vol_affine(x, c.m, {size = c.out_shape, fill = c.fill})
      assert(max_abs(lin, c.linear) < 1e-5, "trilinear case " .. i .. ": " .. max_abs(lin, c.linear))
      local near = T.vol_affine(x, c.m, {size = c.out_shape, fill = c.fill, interpolation = "nearest"})
      assert(max_abs(near, c.nearest) == 0, "nearest case " .. i)
    end
  end)

  it("equals its naive twin on random shapes, dtypes and maps, for any thread count", function()
    local g = lunet.Generator(11)
    for trial = 1, 10 do
      local C, D, H, W = 1 + trial % 2, 2 + trial % 4, 3 + trial % 3, 2 + trial % 5
      local x = lunet.randn({C, D, H, W}, {generator = g})
      local m = {}
      for k = 1, 12 do m[k] = (lunet.rand({1}, {generator = g}):item() - 0.5) * (k % 4 == 0 and 6 or 2) end
      local size = {D + trial % 2, H, W + 1}
      for _, interp in ipairs{"trilinear", "nearest"} do
        local a = T.vol_affine(x, m, {size = size, interpolation = interp, fill = 0.25})
        local b = T.vol_affine(x, m, {size = size, interpolation = interp, fill = 0.25, naive = true})
        assert.is_true(lunet.allclose(a, b, 0, 0), interp .. " trial " .. trial)
      end
      local xi = lunet.randint(0, 9, {C, D, H, W}, {generator = g})
      local a = T.vol_affine(xi, m, {size = size, interpolation = "nearest", fill = 7})
      local b = T.vol_affine(xi, m, {size = size, interpolation = "nearest", fill = 7, naive = true})
      assert.are.equal("int32", a:dtype())
      assert.is_true(lunet.allclose(a:float(), b:float(), 0, 0))
    end
    local big = lunet.randn({2, 20, 30, 40}, {generator = g})
    local m = {0.9, 0.1, 0, 1, -0.1, 0.9, 0.05, 2, 0, 0, 1.1, -1}
    local old = lunet.get_num_threads()
    lunet.set_num_threads(1)
    local one = T.vol_affine(big, m)
    lunet.set_num_threads(2)
    local two = T.vol_affine(big, m)
    lunet.set_num_threads(old)
    assert.is_true(lunet.allclose(one, two, 0, 0))
    assert.is_true(lunet.allclose(one, T.vol_affine(big, m, {naive = true}), 0, 0))
  end)

  it("is the identity for the identity map and shifts by integer offsets", function()
    local x = lunet.randn(1, 3, 4, 5)
    local id = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}
    assert.is_true(lunet.allclose(T.vol_affine(x, id), x, 0, 0))
    local sh = T.vol_affine(x, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1})   -- reads x at w + 1
    assert.is_true(lunet.allclose(sh:narrow(4, 1, 4), x:narrow(4, 2, 4), 0, 0))
    assert.are.equal(0, sh:narrow(4, 5, 1):abs():max():item())
    local u8 = lunet.randint(0, 256, {1, 3, 4, 5}):to("uint8")
    assert.are.same(u8:tolist(), T.vol_affine(u8, id):tolist())
  end)
end)

describe("volume transform errors", function()
  local img, mask = lunet.zeros(1, 2, 3, 4), lunet.zeros({2, 3, 4}, {dtype = "int32"})
  local cases = {
    {"a 2-D mask", function() T.Flip3d{p = 1}{image = img, mask = lunet.zeros({3, 4}, {dtype = "int32"})} end,
      "Flip3d: mask must be a 3-D (D, H, W) int32 or uint8 tensor, got int32 [3, 4]"},
    {"a 3-D image", function() T.Flip3d{}{image = lunet.zeros(2, 3, 4)} end,
      "Flip3d: image must be a 4-D (C, D, H, W) uint8 or float32 tensor, got float32 [2, 3, 4]"},
    {"mismatched sizes", function() T.Flip3d{}{image = img, mask = lunet.zeros({2, 3, 5}, {dtype = "int32"})} end,
      "Flip3d: image is [1, 2, 3, 4] but mask is [2, 3, 5] (D x H x W must match)"},
    {"a bad axis", function() T.Flip3d{axis = 4} end, "Flip3d: axis must be 1, 2, 3 (or \"d\", \"h\", \"w\"), got 4"},
    {"a plane of one axis", function() T.RandomRotate90_3d{plane = {2, 2}} end,
      "RandomRotate90_3d: plane must name two different axes, got {2, 2}"},
    {"an unknown option", function() T.Affine3d{rotat = 3} end, "Affine3d: unknown option 'rotat' (did you mean 'rotate'?)"},
    {"a missing size", function() T.RandomCropPad3d{} end, "RandomCropPad3d: size is required ({d, h, w})"},
    {"no mask for pos/neg sampling", function() T.RandomCropByPosNegLabel3d{size = 2}{image = img} end,
      "RandomCropByPosNegLabel3d: needs a mask in the sample"},
    {"a uint8 image for noise", function() T.GaussNoise3d{p = 1}{image = img:to("uint8")} end,
      "GaussNoise3d: image must be float32, got uint8 (convert with :to(\"float32\") or image.to_float)"},
    {"a negative std", function() T.GaussNoise3d{std = -1} end, "GaussNoise3d: std must be a finite number >= 0, got -1"},
    {"a short map", function() T.vol_affine(img, {1, 2}) end, "vol_affine: m must be a table of 12 numbers, got {1, 2}"},
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function() assert.are.equal(c[3], err_of(c[2])) end)
  end
  it("leaves Compose's 2-D samples to the 2-D checks", function()
    assert.are.equal("Compose: mask must be a 2-D (H, W) int32 or uint8 tensor, got int32 [2, 3, 4]",
      err_of(function() T.Compose{T.HorizontalFlip{}}{image = lunet.zeros(1, 3, 4), mask = mask} end))
  end)
end)
