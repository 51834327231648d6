-- Specs of lunet.transforms and the core.warp kernels: OpenCV reference cases
-- (spec/ref/transforms.lua from spec/ref/gen_transforms.py), fast kernels against naive
-- twins, joint image/mask movement, mask labels preserved, seeding, exact error messages.
local lunet = require "lunet"
local core = require "lunet.core"
local T = require "lunet.transforms"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat = H.flat

local W = core.warp
local ref = dofile("spec/ref/transforms.lua")

local function tensor_of(data, shape, dtype)
  return lunet.tensor(data, { shape = shape, dtype = dtype })
end

-- Largest absolute difference between a tensor and a flat table (or another tensor).
local function maxdiff(a, b)
  local x = flat(a)
  local y = type(b) == "table" and b or flat(b)
  assert.are.equal(#y, #x)
  local m = 0
  for i = 1, #x do
    local d = math.abs(x[i] - y[i])
    if d > m then m = d end
  end
  return m
end

local function same_shape(t, shape)
  assert.are.same(shape, t:shape())
end

local function rand_image(c, h, w, dtype, gen)
  local x = gen:randint(0, 256, { c, h, w })
  if dtype == "uint8" then return x:to("uint8") end
  return x:to("float32") / 255
end

-- A mask with labels drawn from `labels`.
local function rand_mask(h, w, labels, dtype, gen)
  local idx = flat(gen:randint(1, #labels + 1, { h, w }))
  local data = {}
  for i, k in ipairs(idx) do data[i] = labels[k] end
  return tensor_of(data, { h, w }, dtype)
end

local function value_set(t)
  local s = {}
  for _, v in ipairs(flat(t)) do s[v] = true end
  return s
end

describe("core.warp against OpenCV reference cases", function()
  local tol = {
    warp_affine = { uint8 = 0, float32 = 1e-5 },
    remap = { uint8 = 0, float32 = 1e-5 },
    resize = { uint8 = 1, float32 = 1e-4 },
  }
  local function input(cs) return tensor_of(cs.input, cs.input_shape, cs.dtype) end

  it("has reference cases for every operation", function()
    local ops = {}
    for _, cs in ipairs(ref.cases) do ops[cs.op] = true end
    for _, op in ipairs { "warp_affine", "remap", "resize", "pad", "crop", "rot90", "hflip", "vflip", "hsv" } do
      assert.is_true(ops[op], op)
    end
  end)

  it("warp_affine is bit-exact for uint8 and within 1e-5 for float32 (cv2.warpAffine)", function()
    for _, cs in ipairs(ref.cases) do
      if cs.op == "warp_affine" then
        local out = W.warp_affine(input(cs), cs.matrix, { height = cs.height, width = cs.width,
          interpolation = cs.interpolation, border = cs.border, fill = cs.fill })
        same_shape(out, cs.expected_shape)
        assert.is_true(maxdiff(out, cs.expected) <= tol.warp_affine[cs.dtype],
          cs.interpolation .. " " .. cs.border .. " " .. cs.dtype)
      end
    end
  end)

  it("Rotate's matrix is cv2.getRotationMatrix2D about ((W-1)/2, (H-1)/2)", function()
    local n = 0
    for _, cs in ipairs(ref.cases) do
      if cs.op == "warp_affine" and cs.rotation then
        local h, w = cs.input_shape[2], cs.input_shape[3]
        local m = T.rotation_matrix((w - 1) / 2, (h - 1) / 2, cs.angle, 1)
        for i = 1, 6 do assert.is_true(math.abs(m[i] - cs.matrix[i]) < 1e-6) end
        local out = W.warp_affine(input(cs), m, { interpolation = cs.interpolation,
          border = cs.border, fill = cs.fill })
        assert.is_true(maxdiff(out, cs.expected) <= tol.warp_affine[cs.dtype])
        n = n + 1
      end
    end
    assert.is_true(n >= 4)
  end)

  it("remap matches cv2.remap", function()
    for _, cs in ipairs(ref.cases) do
      if cs.op == "remap" then
        local shp = { cs.expected_shape[2], cs.expected_shape[3] }
        local out = W.remap(input(cs), tensor_of(cs.mapx, shp, "float32"), tensor_of(cs.mapy, shp, "float32"),
          { interpolation = cs.interpolation, border = cs.border, fill = cs.fill })
        assert.is_true(maxdiff(out, cs.expected) <= tol.remap[cs.dtype], cs.border)
      end
    end
  end)

  it("resize matches cv2.resize (uint8 within 1, nearest exact, float32 within 1e-4)", function()
    for _, cs in ipairs(ref.cases) do
      if cs.op == "resize" then
        local out = W.resize(input(cs), cs.height, cs.width, { interpolation = cs.interpolation })
        same_shape(out, cs.expected_shape)
        local t = tol.resize[cs.dtype]
        if cs.interpolation == "nearest" then t = cs.dtype == "uint8" and 0 or 1e-7 end
        assert.is_true(maxdiff(out, cs.expected) <= t, cs.interpolation .. " " .. cs.dtype)
      end
    end
  end)

  it("pads as cv2.copyMakeBorder, crops as slices, flips and rot90 as numpy", function()
    for _, cs in ipairs(ref.cases) do
      local x, out = input(cs), nil
      local e = cs.expected_shape
      if cs.op == "pad" then
        out = W.crop_pad(x, -cs.top, -cs.left, e[2], e[3], { border = cs.border, fill = cs.fill })
      elseif cs.op == "crop" then
        out = W.crop_pad(x, cs.top, cs.left, e[2], e[3])
      elseif cs.op == "rot90" then
        out = W.rot90(x, cs.k)
      elseif cs.op == "hflip" then
        out = W.flip(x, true)
      elseif cs.op == "vflip" then
        out = W.flip(x, false)
      end
      if out then
        same_shape(out, e)
        assert.are.equal(0, maxdiff(out, cs.expected))
      end
    end
  end)

  it("hsv_shift matches OpenCV's HSV round trip within 1", function()
    for _, cs in ipairs(ref.cases) do
      if cs.op == "hsv" then
        local out = W.hsv_shift(input(cs), cs.hue, cs.sat, cs.val)
        assert.is_true(maxdiff(out, cs.expected) <= 1)
      end
    end
  end)
end)

describe("core.warp fast kernels against their naive twins", function()
  local gen = lunet.Generator(7)
  it("warp_affine: identical on random shapes, matrices, borders and dtypes", function()
    for trial = 1, 12 do
      local dtype = trial % 3 == 0 and "float32" or "uint8"
      local c, h, w = gen:random(1, 3), gen:random(1, 20), gen:random(1, 20)
      local x = rand_image(c, h, w, dtype, gen)
      local ang = (core.warp.uniform({ generator = gen }) - 0.5) * 360
      local m = T.rotation_matrix(gen:random(0, w), gen:random(0, h), ang, 0.5 + core.warp.uniform({ generator = gen }))
      m[3] = m[3] + gen:random(-4, 4)
      for _, border in ipairs { "constant", "reflect", "replicate" } do
        for _, interp in ipairs { "bilinear", "nearest" } do
          local o = { height = gen:random(1, 20), width = gen:random(1, 300), interpolation = interp,
                      border = border, fill = 5 }
          local fast = W.warp_affine(x, m, o)
          o.naive = true
          local slow = W.warp_affine(x, m, o)
          assert.is_true(maxdiff(fast, slow) <= (dtype == "uint8" and 0 or 1e-5))
        end
      end
    end
  end)

  it("resize: identical for bilinear and nearest, area within rounding", function()
    for trial = 1, 12 do
      local dtype = trial % 3 == 0 and "float32" or "uint8"
      local x = rand_image(gen:random(1, 3), gen:random(1, 24), gen:random(1, 24), dtype, gen)
      local h, w = gen:random(1, 30), gen:random(1, 30)
      for _, interp in ipairs { "bilinear", "nearest", "area" } do
        local fast = W.resize(x, h, w, { interpolation = interp })
        local slow = W.resize(x, h, w, { interpolation = interp, naive = true })
        local t = interp == "area" and (dtype == "uint8" and 1 or 1e-4) or (dtype == "uint8" and 0 or 1e-6)
        assert.is_true(maxdiff(fast, slow) <= t, interp .. " " .. dtype)
      end
    end
  end)

  it("gaussian_blur: separable float passes match the 2-D double sum", function()
    for trial = 1, 8 do
      local dtype = trial % 2 == 0 and "float32" or "uint8"
      local x = rand_image(gen:random(1, 3), gen:random(1, 20), gen:random(1, 20), dtype, gen)
      local kx, ky = 2 * gen:random(0, 5) + 1, 2 * gen:random(0, 5) + 1
      local sx = trial % 3 == 0 and 0 or 0.5 + 2 * core.warp.uniform({ generator = gen })
      local fast = W.gaussian_blur(x, kx, ky, sx, sx)
      local slow = W.gaussian_blur(x, kx, ky, sx, sx, { naive = true })
      assert.is_true(maxdiff(fast, slow) <= (dtype == "uint8" and 1 or 1e-5))
    end
  end)

  it("results do not depend on the thread count", function()
    -- large enough (> 2 x 128K element-operations) for the kernels to use 2 threads
    local x = rand_image(3, 320, 300, "uint8", gen)
    local xf = x:to("float32")
    local m = T.rotation_matrix(150, 160, 33, 1.1)
    local function run()
      return { W.warp_affine(x, m, {}), W.warp_affine(xf, m, { border = "reflect" }),
               W.resize(x, 330, 310, {}), W.resize(x, 161, 77, { interpolation = "area" }),
               W.gaussian_blur(x, 7, 5), W.hsv_shift(x, 10, 5, -5), W.normalize(x, 1, 2),
               W.crop_pad(x, -5, -7, 330, 320, { border = "reflect" }) }
    end
    local n0 = lunet.get_num_threads()
    lunet.set_num_threads(1)
    local a = run()
    lunet.set_num_threads(2)
    local b = run()
    lunet.set_num_threads(n0)
    for i = 1, #a do assert.are.equal(0, maxdiff(a[i], b[i]), "output " .. i) end
  end)

  it("hsv_shift of float32 images: zero shifts give the image back", function()
    local x = rand_image(3, 6, 9, "float32", gen)
    assert.is_true(maxdiff(W.hsv_shift(x, 0, 0, 0), x) < 1e-5)
    local out = T.HueSaturationValue { p = 1 } { image = x }.image
    assert.are.equal("float32", out:dtype())
  end)

  it("nearest warps copy int32 masks exactly (large labels survive)", function()
    local m = tensor_of({ 100000, -3, 7, 2147483647 }, { 2, 2 }, "int32")
    local out = W.warp_affine(m, { 1, 0, 0, 0, 1, 0 }, { interpolation = "nearest" })
    assert.are.same({ 100000, -3, 7, 2147483647 }, flat(out))
  end)
end)

describe("transforms move image and mask together", function()
  -- The image's first channel carries the mask labels; with nearest interpolation for the
  -- image too, both must stay equal after any spatial transform.
  local spatial = {
    T.HorizontalFlip { p = 1 }, T.VerticalFlip { p = 1 }, T.RandomRotate90 { p = 1 },
    T.Rotate { p = 1, limit = 180, interpolation = "nearest", fill = 9, fill_mask = 9 },
    T.Rotate { p = 1, interpolation = "nearest", border_mode = "reflect" },
    T.Affine { p = 1, scale = { 0.7, 1.3 }, rotate = { -40, 40 }, shear = { -10, 10 },
               translate_percent = { -0.2, 0.2 }, interpolation = "nearest", fill = 9, fill_mask = 9 },
    T.RandomCrop { 11, 13 }, T.CenterCrop { 9, 10 },
    T.RandomResizedCrop { size = { 20, 18 }, interpolation = "nearest" },
    T.Resize { 23, 31, interpolation = "nearest" },
    T.PadIfNeeded { min_height = 25, min_width = 30, fill = 9, fill_mask = 9 },
    T.PadIfNeeded { min_height = 25, min_width = 30, border_mode = "reflect" },
    T.ElasticTransform { p = 1, alpha = 30, sigma = 3, interpolation = "nearest", border_mode = "replicate" },
    T.GridDistortion { p = 1, num_steps = 4, distort_limit = 0.4, interpolation = "nearest",
                       border_mode = "constant", fill = 9, fill_mask = 9 },
  }
  for _, tf in ipairs(spatial) do
    it(tostring(tf), function()
      local gen = lunet.Generator(3)
      local mask = rand_mask(17, 21, { 0, 1, 4, 6 }, "uint8", gen)
      local img = lunet.cat({ mask:view(1, 17, 21), rand_image(2, 17, 21, "uint8", gen) }, 1)
      local out = T.Compose { tf, seed = 11 } { image = img, mask = mask }
      assert.are.equal(out.image:size(2), out.mask:size(1))
      assert.are.equal(out.image:size(3), out.mask:size(2))
      assert.are.same(flat(out.mask), flat(out.image:narrow(1, 1, 1)))
    end)
  end
end)

describe("mask labels are preserved", function()
  local labels = { 0, 3, 7, 12 }
  local makers = {
    function(b) return T.Rotate { p = 1, limit = 180, border_mode = b } end,
    function(b) return T.Affine { p = 1, scale = { 0.5, 1.5 }, rotate = { -90, 90 }, shear = { -20, 20 },
                                  translate_percent = { -0.3, 0.3 }, border_mode = b } end,
    function(b) return T.ElasticTransform { p = 1, alpha = 40, sigma = 4, border_mode = b } end,
    function(b) return T.GridDistortion { p = 1, num_steps = 3, distort_limit = 0.5, border_mode = b } end,
    function(b) return T.PadIfNeeded { min_height = 30, min_width = 30, border_mode = b } end,
  }
  for _, border in ipairs { "constant", "reflect", "replicate" } do
    for _, dtype in ipairs { "uint8", "int32" } do
      it(border .. " border, " .. dtype .. " masks, bilinear images: only labels and the fill", function()
        local gen = lunet.Generator(99)
        for _, make in ipairs(makers) do
          for trial = 1, 3 do
            local mask = rand_mask(19, 23, labels, dtype, gen)
            local img = rand_image(3, 19, 23, trial == 2 and "float32" or "uint8", gen)
            local out = T.Compose { make(border), seed = trial, ignore_index = 255 } { image = img, mask = mask }
            assert.are.equal(dtype, out.mask:dtype())
            local allowed = { [0] = true, [3] = true, [7] = true, [12] = true, [255] = true }
            for v in pairs(value_set(out.mask)) do
              assert.is_true(allowed[v] == true, "label " .. v .. " from " .. tostring(make(border)))
            end
          end
        end
      end)
    end
  end

  it("fill_mask defaults to ignore_index, else 0; fill_mask wins", function()
    local gen = lunet.Generator(5)
    local img = rand_image(3, 16, 16, "uint8", gen)
    local mask = lunet.full({ 16, 16 }, 1, { dtype = "int32" })
    local rot = { p = 1, limit = { 45, 45 } }
    local function corner(tf, opts)
      return T.Compose { tf, seed = 1, ignore_index = opts and opts.ignore }{ image = img, mask = mask }.mask:get(1, 1)
    end
    assert.are.equal(0, corner(T.Rotate(rot)))
    assert.are.equal(255, corner(T.Rotate(rot), { ignore = 255 }))
    assert.are.equal(250, corner(T.Rotate { p = 1, limit = { 45, 45 }, ignore_index = 250 }))
    assert.are.equal(3, corner(T.Rotate { p = 1, limit = { 45, 45 }, fill_mask = 3 }, { ignore = 255 }))
    local padded = T.Compose { T.PadIfNeeded { min_height = 20, min_width = 20 }, ignore_index = 255 } { image = img, mask = mask }
    assert.are.equal(255, padded.mask:get(1, 1))
    assert.are.equal(0, padded.image:get(1, 1, 1))
    assert.are.same({ 3, 20, 20 }, padded.image:shape())
  end)
end)

describe("pixel transforms", function()
  local pixel = {
    T.RandomBrightnessContrast { p = 1 }, T.RandomGamma { p = 1 }, T.GaussNoise { p = 1 },
    T.GaussianBlur { p = 1 }, T.HueSaturationValue { p = 1 }, T.CoarseDropout { p = 1 },
    T.Normalize {}, T.ToFloat {},
  }
  for _, tf in ipairs(pixel) do
    it(tostring(tf) .. " changes the image, never the mask", function()
      local gen = lunet.Generator(4)
      for _, dtype in ipairs { "uint8", "float32" } do
        local img = rand_image(3, 12, 14, dtype, gen)
        local mask = rand_mask(12, 14, { 0, 1, 2, 255 }, "int32", gen)
        local before = flat(mask)
        local out = T.Compose { tf, seed = 2 } { image = img, mask = mask }
        assert.are.same(before, flat(out.mask))
        assert.are.same(img:shape(), out.image:shape())
        if not (tf.name == "ToFloat" and dtype == "float32") then   -- ToFloat of float32: / 1
          assert.is_true(maxdiff(out.image:to("float32"), img:to("float32")) > 0)
        end
      end
    end)
  end

  it("RandomBrightnessContrast computes img * alpha + beta * 255, rounded and saturated", function()
    local img = tensor_of({ 0, 11, 100, 200, 250, 255 }, { 1, 2, 3 }, "uint8")
    local tf = T.RandomBrightnessContrast { p = 1, brightness_limit = { 0.1, 0.1 }, contrast_limit = { 0.5, 0.5 } }
    local out = tf { image = img }
    assert.are.same({ 26, 42, 176, 255, 255, 255 }, flat(out.image))
  end)

  it("Normalize and ToFloat give float32 (x - mean * max) / (std * max)", function()
    local img = tensor_of({ 0, 51, 255, 102 }, { 2, 1, 2 }, "uint8")
    local out = T.Normalize { mean = { 0.2, 0.4 }, std = { 0.5, 0.2 } } { image = img }.image
    assert.are.equal("float32", out:dtype())
    local e = { -0.4, 0, 3, 0 }
    assert.is_true(maxdiff(out, e) < 1e-6)
    local f = T.ToFloat {} { image = img }.image
    assert.is_true(maxdiff(f, { 0, 0.2, 1, 0.4 }) < 1e-7)
  end)

  it("identity settings leave the image unchanged", function()
    local gen = lunet.Generator(8)
    local img = rand_image(3, 9, 11, "uint8", gen)
    for _, tf in ipairs {
      T.RandomGamma { p = 1, gamma_limit = { 100, 100 } },
      T.GaussNoise { p = 1, var_limit = { 0, 0 } },
      T.RandomBrightnessContrast { p = 1, brightness_limit = 0, contrast_limit = 0 },
      T.CoarseDropout { p = 1, max_holes = 0 },
    } do
      local out = tf { image = img }
      assert.are.equal(0, maxdiff(out.image, img), tf.name)
    end
  end)

  it("CoarseDropout fills the mask only with fill_mask", function()
    local img = lunet.full({ 1, 8, 8 }, 50, { dtype = "uint8" })
    local mask = lunet.full({ 8, 8 }, 1, { dtype = "int32" })
    local out = T.CoarseDropout { p = 1, max_holes = 1, max_height = 8, max_width = 8, fill = 3, fill_mask = 255 } { image = img, mask = mask }
    assert.are.same(value_set(out.image), { [3] = true })
    assert.are.same(value_set(out.mask), { [255] = true })
  end)
end)

describe("Compose and seeding", function()
  local function pipeline(opts)
    local t = { T.HorizontalFlip {}, T.RandomRotate90 {}, T.Rotate { limit = 30 }, T.RandomCrop { 20, 20 },
                T.RandomBrightnessContrast {}, T.GaussNoise {}, T.ElasticTransform { alpha = 10, sigma = 3 },
                T.Normalize {} }
    for k, v in pairs(opts) do t[k] = v end
    return T.Compose(t)
  end
  local gen = lunet.Generator(12)
  local img = rand_image(3, 28, 30, "uint8", gen)
  local mask = rand_mask(28, 30, { 0, 1, 2 }, "int32", gen)

  it("the same seed gives the same outputs, call after call", function()
    local a, b = pipeline { seed = 42 }, pipeline { seed = 42 }
    for _ = 1, 3 do
      local x, y = a { image = img, mask = mask }, b { image = img, mask = mask }
      assert.are.equal(0, maxdiff(x.image, y.image))
      assert.are.same(flat(x.mask), flat(y.mask))
    end
  end)

  it("generator= drives the draws; another seed gives another output", function()
    local x = pipeline { generator = lunet.Generator(42) } { image = img, mask = mask }
    local y = pipeline { seed = 42 } { image = img, mask = mask }
    local z = pipeline { seed = 43 } { image = img, mask = mask }
    assert.are.equal(0, maxdiff(x.image, y.image))
    assert.is_true(maxdiff(x.image, z.image) > 0)
  end)

  it("the default generator follows lunet.manual_seed", function()
    local tf = pipeline {}
    lunet.manual_seed(5)
    local x = tf { image = img, mask = mask }
    lunet.manual_seed(5)
    local y = tf { image = img, mask = mask }
    assert.are.equal(0, maxdiff(x.image, y.image))
  end)

  it("returns a new table, keeps other keys, does not modify the input", function()
    local before = flat(img)
    local s = { image = img, mask = mask, name = "a.png" }
    local out = pipeline { seed = 1 } (s)
    assert.are_not.equal(s, out)
    assert.are.equal("a.png", out.name)
    assert.are.equal(img, s.image)
    assert.are.same(before, flat(img))
    local same = T.Compose { T.HorizontalFlip { p = 0 }, seed = 1 } { image = img }
    assert.are.equal(img, same.image)
    assert.is_nil(same.mask)
  end)

  it("OneOf applies exactly one of its transforms", function()
    local m = tensor_of({ 1, 2, 3, 4 }, { 2, 2 }, "int32")
    local im = lunet.zeros({ 1, 2, 2 }, { dtype = "uint8" })
    local seen = {}
    local tf = T.Compose { T.OneOf { T.HorizontalFlip { p = 1 }, T.VerticalFlip { p = 1 }, p = 1 }, seed = 3 }
    for _ = 1, 20 do
      local key = table.concat(flat(tf { image = im, mask = m }.mask), ",")
      seen[key] = true
    end
    assert.are.same({ ["2,1,4,3"] = true, ["3,4,1,2"] = true }, seen)
  end)

  it("RandomResizedCrop and Resize give the requested size", function()
    local out = T.Compose { T.RandomResizedCrop { size = { 13, 17 } }, seed = 2 } { image = img, mask = mask }
    assert.are.same({ 3, 13, 17 }, out.image:shape())
    assert.are.same({ 13, 17 }, out.mask:shape())
    out = T.Resize { 40, 10, interpolation = "area" } { image = img, mask = mask }
    assert.are.same({ 3, 40, 10 }, out.image:shape())
  end)
end)

describe("errors", function()
  local img = lunet.zeros({ 3, 32, 32 }, { dtype = "uint8" })
  local mask16 = lunet.zeros({ 16, 16 }, { dtype = "int32" })
  local cases = {
    { function() T.RandomCrop { 300, 300 } { image = img } end,
      "RandomCrop: crop 300x300 is larger than the image 32x32" },
    { function() T.CenterCrop { height = 33, width = 8 } { image = img } end,
      "CenterCrop: crop 33x8 is larger than the image 32x32" },
    { function() T.Compose { T.HorizontalFlip {} } { image = img, mask = mask16 } end,
      "Compose: image is 32x32 but mask is 16x16" },
    { function() T.HorizontalFlip { p = 1.5 } end, "HorizontalFlip: p must be a number in [0, 1], got 1.5" },
    { function() T.Rotate { p = "often" } end, "Rotate: p must be a number in [0, 1], got 'often'" },
    { function() T.Rotate { limt = 10 } end, "Rotate: unknown option 'limt' (did you mean 'limit'?)" },
    { function() T.Compose { T.HorizontalFlip {}, sed = 1 } end, "Compose: unknown option 'sed' (did you mean 'seed'?)" },
    { function() T.Compose { 42 } end, "Compose: element 1 is not a transform (got number)" },
    { function() T.RandomCrop {} end, "RandomCrop: height and width are required" },
    { function() T.HorizontalFlip { 1 } end, "HorizontalFlip: unexpected positional option 1" },
    { function() T.Rotate { interpolation = "cubic" } end,
      "Rotate: interpolation must be 'bilinear' or 'nearest', got 'cubic'" },
    { function() T.Affine { border_mode = "wrap" } end,
      "Affine: border_mode must be 'constant', 'reflect' or 'replicate', got 'wrap'" },
    { function() T.Rotate { limit = "ten" } end,
      "Rotate: limit must be a number >= 0 or a range {lo, hi} with lo <= hi, got 'ten'" },
    { function() T.Rotate { limit = { 10, -10 } } end,
      "Rotate: limit must be a number >= 0 or a range {lo, hi} with lo <= hi, got {10, -10}" },
    { function() T.Compose { T.HorizontalFlip {} } { image = lunet.zeros({ 3, 4, 4 }, { dtype = "int32" }) } end,
      "Compose: image must be a 3-D (C, H, W) uint8 or float32 tensor, got int32 [3, 4, 4]" },
    { function() T.Compose { T.HorizontalFlip {} } { image = lunet.zeros({ 4, 4 }) } end,
      "Compose: image must be a 3-D (C, H, W) uint8 or float32 tensor, got float32 [4, 4]" },
    { function() T.Compose { T.HorizontalFlip {} } { image = img, mask = lunet.zeros({ 32, 32 }) } end,
      "Compose: mask must be a 2-D (H, W) int32 or uint8 tensor, got float32 [32, 32]" },
    { function() T.Compose { T.HorizontalFlip {} } (img) end,
      "Compose: sample must be a table {image=, mask=}, got tensor" },
    { function() T.HueSaturationValue { p = 1 } { image = lunet.zeros({ 1, 4, 4 }, { dtype = "uint8" }) } end,
      "HueSaturationValue: image must have 3 channels (RGB), got 1" },
    { function() T.Normalize {} { image = lunet.zeros({ 2, 4, 4 }, { dtype = "uint8" }) } end,
      "Normalize: mean has 3 values, image has 2 channels" },
    { function() T.Compose { T.HorizontalFlip {}, seed = 1, generator = lunet.Generator(1) } end,
      "Compose: give seed or generator, not both" },
    { function() W.warp_affine(img, { 1, 0, 0 }) end, "warp_affine: matrix must be a table of 6 numbers" },
    { function() W.warp_affine(mask16, { 1, 0, 0, 0, 1, 0 }) end,
      "warp_affine: bilinear interpolation needs a uint8 or float32 image, got int32" },
    { function() W.resize(img, 0, 4) end, "resize: height must be a positive size, got 0" },
    { function() W.gaussian_blur(img, 4, 3) end, "gaussian_blur: kernel size must be odd and positive, got 4x3" },
  }
  for i, cs in ipairs(cases) do
    it("case " .. i .. ": " .. cs[2], function()
      assert.has_error(cs[1], cs[2])
    end)
  end
end)

-- Values that make no sense are refused when the transform is built (or applied, for what
-- depends on the image), with the value printed in full.
describe("range checks", function()
  local img = lunet.zeros({ 3, 8, 8 }, { dtype = "uint8" })
  local nan, inf = 0 / 0, math.huge
  local cases = {
    { function() T.Normalize { std = { 0, 0, 0 } } end, "Normalize: std[1] must be > 0, got 0" },
    { function() T.Normalize { std = { 0.2, -0.1, 0.2 } } end, "Normalize: std[2] must be > 0, got -0.1" },
    { function() T.Normalize { std = nan } end,
      "Normalize: std must be a number or a list of numbers (one per channel), got nan" },
    { function() T.Normalize { mean = { 0.5, inf, 0.5 } } end, "Normalize: mean[2] must be a finite number, got inf" },
    { function() T.Normalize { mean = {} } end,
      "Normalize: mean must be a number or a list of numbers (one per channel), got {}" },
    { function() T.Normalize { max_pixel_value = 0 } end, "Normalize: max_pixel_value must be > 0, got 0" },
    { function() T.ToFloat { max_value = 0 } end, "ToFloat: max_value must be > 0, got 0" },
    { function() T.CoarseDropout { max_holes = 1e9 } end,
      "CoarseDropout: max_holes must be an integer in [0, 10000], got 1000000000" },
    { function() T.CoarseDropout { max_height = 1e300 } end,
      "CoarseDropout: max_height must be a finite number in [0, 65536], got 1e+300" },
    { function() T.CoarseDropout { max_holes = 2, min_holes = 3 } end,
      "CoarseDropout: min_holes (3) must not exceed max_holes (2)" },
    { function() T.CoarseDropout { fill_mask = 0.5 } end, "CoarseDropout: fill_mask must be an integer, got 0.5" },
    { function() T.HorizontalFlip { p = -0.1 } end, "HorizontalFlip: p must be a number in [0, 1], got -0.1" },
    { function() T.VerticalFlip { p = nan } end, "VerticalFlip: p must be a number in [0, 1], got nan" },
    { function() T.Rotate { limit = -10 } end,
      "Rotate: limit must be a number >= 0 or a range {lo, hi} with lo <= hi, got -10" },
    { function() T.Rotate { limit = nan } end,
      "Rotate: limit must be a number >= 0 or a range {lo, hi} with lo <= hi, got nan" },
    { function() T.Rotate { limit = { -inf, 10 } } end,
      "Rotate: limit must be a number >= 0 or a range {lo, hi} with lo <= hi, got {-inf, 10}" },
    { function() T.Rotate { fill = nan } end, "Rotate: fill must be a finite number, got nan" },
    { function() T.Rotate { ignore_index = 2.5 } end, "Rotate: ignore_index must be an integer, got 2.5" },
    { function() T.Affine { scale = 0 } end, "Affine: scale must be > 0, got 0" },
    { function() T.Affine { shear = { -10, 90 } } end,
      "Affine: shear must lie strictly between -90 and 90 degrees, got {-10, 90}" },
    { function() T.Affine { translate_px = { x = nan } } end,
      "Affine: translate_px.x must be a number or a range {lo, hi} with lo <= hi, got nan" },
    { function() T.GaussNoise { var_limit = { -5, 10 } } end, "GaussNoise: var_limit must be >= 0, got {-5, 10}" },
    { function() T.GaussNoise { mean = inf } end, "GaussNoise: mean must be a finite number, got inf" },
    { function() T.RandomGamma { gamma_limit = { 0, 120 } } end, "RandomGamma: gamma_limit must be > 0, got {0, 120}" },
    { function() T.GaussianBlur { blur_limit = { 3, 1e9 } } end,
      "GaussianBlur: blur_limit must be within [0, 4095], got {3, 1000000000}" },
    { function() T.GaussianBlur { sigma_limit = -1 } end, "GaussianBlur: sigma_limit must be >= 0, got -1" },
    { function() T.ElasticTransform { sigma = 0 } end, "ElasticTransform: sigma must be > 0, got 0" },
    { function() T.ElasticTransform { alpha = nan } end, "ElasticTransform: alpha must be a finite number, got nan" },
    { function() T.GridDistortion { num_steps = 1e6 } end,
      "GridDistortion: num_steps must be an integer in [1, 1024], got 1000000" },
    { function() T.GridDistortion { distort_limit = 2 } end,
      "GridDistortion: distort_limit must be within [-1, 1], got 2" },
    { function() T.RandomResizedCrop { size = 4, scale = { 0.5, 2 } } end,
      "RandomResizedCrop: scale must be within [0, 1], got {0.5, 2}" },
    { function() T.RandomResizedCrop { size = 4, ratio = { 0, 1 } } end, "RandomResizedCrop: ratio must be > 0, got {0, 1}" },
    { function() T.Resize { 1e6, 4 } end, "Resize: height must be an integer in [1, 65536], got 1000000" },
    { function() T.PadIfNeeded { min_height = 0 } end, "PadIfNeeded: min_height must be an integer in [1, 65536], got 0" },
    { function() T.PadIfNeeded { position = "middle" } end,
      "PadIfNeeded: position must be 'center', 'top_left', 'top_right', 'bottom_left' or 'bottom_right', got 'middle'" },
    { function() T.RandomBrightnessContrast { contrast_limit = { 0.3, 0.1 } } end,
      "RandomBrightnessContrast: contrast_limit must be a number >= 0 or a range {lo, hi} with lo <= hi, got {0.3, 0.1}" },
    { function() T.Compose { T.HorizontalFlip {}, seed = -1 } end, "Compose: seed must be an integer >= 0, got -1" },
    { function() T.Compose { T.HorizontalFlip {}, generator = 3 } end,
      "Compose: generator must be a lunet.Generator, got number" },
    { function() T.Normalize { mean = { 0.5, 0.5 }, std = { 0.2, 0.2 } } { image = img } end,
      "Normalize: mean has 2 values, image has 3 channels" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2], function() assert.has_error(c[1], c[2]) end)
  end

  it("CoarseDropout at its maximum holes and sizes covers exactly the image", function()
    local tf = T.Compose { T.CoarseDropout { max_holes = 10000, max_height = 65536, max_width = 65536, p = 1, fill = 7 },
                           seed = 1 }
    local out = tf { image = img }
    assert.are.equal(7 * 3 * 64, out.image:to("int32"):sum():item())
  end)
end)
