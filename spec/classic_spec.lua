-- lunet.classic, part 1: connected components, region statistics, the Euclidean distance
-- transform and the watershed against scikit-image / scipy reference results
-- (spec/ref/gen_classic.py -> spec/ref/classic/*.lua), the fast kernels against the naive
-- references (core.classic.*) on random inputs, big inputs without recursion, and bad input.
local lunet = require "lunet"
local classic = require "lunet.classic"
local K = lunet.core.classic

local R = dofile("spec/ref/classic/label_edt_ws.lua")

local function T(r) return lunet.tensor(r.data, { dtype = r.dtype, shape = r.shape }) end
local function strip(msg) return (tostring(msg):gsub("^[^:\n]+:%d+: ", "")) end
local function err(f)
  local ok, e = pcall(f)
  assert.is_false(ok, "expected an error")
  return strip(e)
end

-- a and b are label images equal up to a relabelling (a bijection between the nonzero ids
-- that keeps 0 at 0).
local function same_partition(a, b)
  local fa, fb = a:tolist(), b:tolist()
  assert.are.equal(#fa, #fb)
  local ab, ba = {}, {}
  for i = 1, #fa do
    local x, y = fa[i], fb[i]
    if (x == 0) ~= (y == 0) then return false, ("pixel %d: %d vs %d"):format(i, x, y) end
    if ab[x] == nil then ab[x] = y elseif ab[x] ~= y then return false, "not a function at " .. i end
    if ba[y] == nil then ba[y] = x elseif ba[y] ~= x then return false, "not injective at " .. i end
  end
  return true
end

local function count_diff(a, b)
  local fa, fb, n = a:tolist(), b:tolist(), 0
  for i = 1, #fa do if fa[i] ~= fb[i] then n = n + 1 end end
  return n
end

local function max_abs_diff(a, b)
  local fa, fb, m = a:tolist(), b:tolist(), 0
  assert.are.equal(#fa, #fb)
  for i = 1, #fa do
    local d
    if fa[i] == fb[i] then d = 0 else d = math.abs(fa[i] - fb[i]) end
    if d ~= d then d = math.huge end
    if d > m then m = d end
  end
  return m
end

-- random 0/1 uint8 image with density p
local function rand_mask(shape, p, seed)
  local g = lunet.Generator(seed)
  return lunet.rand(shape, { generator = g }):lt(p):to("uint8")
end

describe("classic.label", function()
  it("equals scikit-image's measure.label (ids included) on a camera crop, 4- and 8-connected", function()
    local m = T(R.mask2)
    local a, n1 = classic.label(m, { connectivity = 1 })
    assert.are.same(T(R.label2_c1):tolist(), a:tolist())
    assert.are.equal(T(R.label2_c1):max():item(), n1)
    local b, n2 = classic.label(m)
    assert.are.same(T(R.label2_c2):tolist(), b:tolist())
    assert.are.equal(T(R.label2_c2):max():item(), n2)
    assert.are.equal("int32", b:dtype())
  end)

  it("keeps touching regions of different values apart (label images)", function()
    local m = T(R.multi)
    assert.are.same(T(R.label_multi_c1):tolist(), classic.label(m, { connectivity = 1 }):tolist())
    assert.are.same(T(R.label_multi_c2):tolist(), classic.label(m:float(), { connectivity = 2 }):tolist())
  end)

  it("labels volumes with 6-, 18- and 26-connectivity as scikit-image", function()
    local v = T(R.vol)
    for k = 1, 3 do
      local ids, n = classic.label(v, { connectivity = k })
      assert.are.same(T(R["label3_c" .. k]):tolist(), ids:tolist())
      assert.are.equal(T(R["label3_c" .. k]):max():item(), n)
    end
  end)

  it("equals the flood-fill reference on random images and volumes (masks and label images)", function()
    for s = 1, 12 do
      local shape = s <= 8 and { 17 + s, 23 + 2 * s } or { s - 3, 9, 11 }
      local m = rand_mask(shape, 0.3 + 0.1 * (s % 3), s)
      if s % 4 == 0 then m = lunet.rand(shape, { generator = lunet.Generator(s) }):mul(3):floor():int() end
      if s == 6 then m = lunet.rand(shape, { generator = lunet.Generator(s) }):mul(2):floor() end
      for c = 1, #shape do
        local a, na = K.label(m, c, false, "label")
        local b, nb = K.label(m, c, true, "label")
        assert.are.equal(nb, na)
        assert.are.same(b:tolist(), a:tolist())
      end
    end
  end)

  it("labels a 4096 x 4096 spiral (one region of 8 million pixels) without recursion", function()
    local n = 4096
    local m = lunet.zeros({ n, n }, { dtype = "uint8" })
    -- a square spiral of 1-pixel walls with 1-pixel gaps, drawn from the outside in
    local top, left, bottom, right = 1, 1, n, n
    while top <= bottom and left <= right do
      m:narrow(1, top, 1):narrow(2, left, right - left + 1):fill_(1)
      m:narrow(2, right, 1):narrow(1, top, bottom - top + 1):fill_(1)
      m:narrow(1, bottom, 1):narrow(2, left, right - left + 1):fill_(1)
      if top + 2 <= bottom then m:narrow(2, left, 1):narrow(1, top + 2, bottom - top - 1):fill_(1) end
      top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
      if top <= bottom then m:narrow(2, left - 1, 1):narrow(1, top, 1):fill_(1) end
    end
    local ids, count = classic.label(m, { connectivity = 1 })
    assert.are.equal(1, count)
    assert.are.equal(m:int():sum():item(), ids:sum():item())
    local d = classic.distance_transform_edt(m)   -- wall pixels: 1, or sqrt(2) at outer corners
    assert.is_true(math.abs(d:max():item() - math.sqrt(2)) < 1e-6)
  end)
end)

describe("classic.regionprops", function()
  it("gives the area, bounding box and centroid of each label", function()
    local ids = lunet.tensor({ { 1, 1, 0, 0 }, { 0, 1, 0, 3 }, { 0, 0, 0, 3 } }, { dtype = "int32" })
    local p = classic.regionprops(ids)
    assert.are.equal(2, #p)
    assert.are.same({ label = 1, area = 3, bbox = { 1, 1, 2, 2 } }, { label = p[1].label, area = p[1].area, bbox = p[1].bbox })
    assert.near(4 / 3, p[1].centroid[1], 1e-12)
    assert.near(5 / 3, p[1].centroid[2], 1e-12)
    assert.are.same({ label = 3, area = 2, bbox = { 2, 4, 3, 4 }, centroid = { 2.5, 4 } }, p[2])
  end)

  it("agrees with the label count and pixel sums on the camera crop", function()
    local ids, n = classic.label(T(R.mask2))
    local p = classic.regionprops(ids)
    assert.are.equal(n, #p)
    local total = 0
    for _, r in ipairs(p) do total = total + r.area end
    assert.are.equal(T(R.mask2):int():sum():item(), total)
  end)
end)

describe("classic.distance_transform_edt", function()
  it("matches scipy within 1e-5 (2-D, with and without spacing; 3-D with spacing)", function()
    local m = T(R.mask2)
    assert.is_true(max_abs_diff(T(R.edt2), classic.distance_transform_edt(m)) <= 1e-5)
    assert.is_true(max_abs_diff(T(R.edt2_sp), classic.distance_transform_edt(m, { spacing = { 2.0, 0.5 } })) <= 1e-5)
    assert.is_true(max_abs_diff(T(R.edt3_sp),
      classic.distance_transform_edt(T(R.vol), { spacing = { 1.5, 1.0, 0.7 } })) <= 1e-5)
  end)

  it("equals the brute-force reference on random images and volumes, indices included", function()
    for s = 1, 8 do
      local shape = s <= 4 and { 9 + 3 * s, 21 } or { 3 + s, 7, 10 }
      local m = rand_mask(shape, s % 2 == 0 and 0.9 or 0.6, 100 + s)
      local sp = {}
      for i = 1, #shape do sp[i] = 0.5 + 0.3 * i * (s % 3) end
      local d1, i1 = K.edt(m, sp, true, false, "edt")
      local d2 = K.edt(m, sp, false, true, "edt")
      assert.is_true(max_abs_diff(d1, d2) <= 1e-5)
      -- the index of each pixel points to a zero at exactly that distance
      local fm, fd, fi = m:tolist(), d1:tolist(), i1:tolist()
      local np, strides = #fm, {}
      local stride = 1
      for a = #shape, 1, -1 do strides[a] = stride; stride = stride * shape[a] end
      for p = 1, np do
        local q, dd = 0, 0
        local rem = p - 1
        for a = 1, #shape do
          local c = rem // strides[a]; rem = rem % strides[a]
          local z = fi[(a - 1) * np + p] - 1
          q = q + z * strides[a]
          dd = dd + ((c - z) * sp[a]) ^ 2
        end
        assert.are.equal(0, fm[q + 1])
        assert.is_true(math.abs(math.sqrt(dd) - fd[p]) <= 1e-4)
      end
    end
  end)

  it("gives 0 on zeros and inf (indices 0) when there is no zero at all", function()
    local d, i = classic.distance_transform_edt(lunet.ones({ 2, 3 }), { return_indices = true })
    assert.are.equal(math.huge, d:min():item())
    assert.are.equal(0, i:abs():max():item())
    assert.are.equal(0, classic.distance_transform_edt(lunet.zeros({ 3, 3 })):max():item())
    assert.are.same({ 2, 2, 3 }, classic.distance_transform_edt(lunet.ones({ 2, 3 }), { return_indices = true }) and
      select(2, classic.distance_transform_edt(lunet.ones({ 2, 3 }), { return_indices = true })):shape())
  end)
end)

describe("classic.watershed", function()
  local function ws_case(name, out, opts, elev, markers)
    it("equals scikit-image's watershed exactly: " .. name, function()
      local got = classic.watershed(T(R[elev or "ws_elev"]), T(R[markers or "ws_markers"]), opts)
      assert.are.equal(0, count_diff(T(R[out]), got))
    end)
  end
  ws_case("gradient of coins, 4-connected", "ws_c1")
  ws_case("gradient of coins, 8-connected", "ws_c2", { connectivity = 2 })
  ws_case("with a mask", "ws_masked", { mask = T(R.ws_mask) })
  ws_case("compact watershed (compactness 0.01)", "ws_compact", { compactness = 0.01 })
  ws_case("quantised uint8 elevation (plateaus: the age tie-break decides)", "ws_quant_out", nil, "ws_quant")
  it("equals scikit-image's watershed exactly: splitting by the distance transform", function()
    local got = classic.watershed(T(R.edt2):neg(), T(R.ws_dist_markers), { mask = T(R.mask2) })
    assert.are.equal(0, count_diff(T(R.ws_dist), got))
  end)
  it("equals scikit-image's watershed exactly on a volume (6- and 26-connected)", function()
    for _, k in ipairs { 1, 3 } do
      local got = classic.watershed(T(R.ws3_dist):neg(), T(R.ws3_markers), { mask = T(R.vol), connectivity = k })
      assert.are.equal(0, count_diff(T(R["ws3_c" .. k]), got))
    end
  end)

  it("equals the linear-scan reference on random elevations (plain and compact)", function()
    for s = 1, 6 do
      local shape = s <= 4 and { 12 + s, 15 } or { 4, 6, 7 }
      local g = lunet.Generator(200 + s)
      local elev = lunet.rand(shape, { generator = g })
      local markers = lunet.zeros(shape, { dtype = "int32" })
      local flat = markers:view(-1)
      for j = 1, 5 do flat:set(lunet.randint(1, markers:numel() + 1, { 1 }, { generator = g }):item(), j) end
      local mask = rand_mask(shape, 0.85, 300 + s)
      for _, c in ipairs { 0, 0.05 } do
        for conn = 1, #shape do
          local a = K.watershed(elev, markers, s % 2 == 0 and mask or nil, conn, c, false, "watershed")
          local b = K.watershed(elev, markers, s % 2 == 0 and mask or nil, conn, c, true, "watershed")
          assert.are.same(b:tolist(), a:tolist())
        end
      end
    end
  end)
end)

describe("classic.watershed fast path", function()
  it("equals scikit-image's heap item by item on tie-heavy random elevations (plateaus, -0, masks, 3-D)", function()
    for s = 1, 40 do
      local g = lunet.Generator(900 + s)
      local shape = s % 5 == 0 and { 3, 9 + s % 7, 11 } or { 12 + s % 13, 9 + s % 17 }
      local e = lunet.rand(shape, { generator = g }):mul(1 + s % 4):floor()
      if s % 3 == 0 then e = e:neg() end          -- -0 among the zeros
      local markers = lunet.zeros(shape, { dtype = "int32" })
      local flat = markers:view(-1)
      for j = 1, 2 + s % 8 do flat:set(lunet.randint(1, markers:numel() + 1, { 1 }, { generator = g }):item(), 1 + j % 4) end
      local mask = s % 2 == 0 and rand_mask(shape, 0.9, 950 + s) or nil
      for conn = 1, #shape do
        local a = K.watershed(e, markers, mask, conn, 0, false, "watershed")
        local b = K.watershed(e, markers, mask, conn, 0, "general", "watershed")
        assert.are.equal(0, count_diff(a, b))
      end
    end
  end)
end)

describe("lunet.classic rejects bad input", function()
  local m = lunet.zeros({ 4, 5 }, { dtype = "uint8" })
  local cases = {
    { "a 1-D mask", function() classic.label(lunet.zeros({ 5 })) end,
      "label: mask must be H x W or D x H x W, got a tensor of shape [5]" },
    { "an empty image", function() classic.label(lunet.zeros({ 0, 5 })) end,
      "label: mask is empty (shape [0, 5])" },
    { "connectivity 3 on a 2-D image", function() classic.label(m, { connectivity = 3 }) end,
      "label: connectivity must be an integer in [1, 2], got 3" },
    { "a non-tensor", function() classic.label({ 1, 2 }) end, "label: mask must be a tensor, got table" },
    { "a misspelled option", function() classic.label(m, { conectivity = 1 }) end,
      "label: unknown option 'conectivity' (did you mean 'connectivity'?)" },
    { "negative labels in regionprops", function()
      classic.regionprops(lunet.tensor({ { -1, 0 } }, { dtype = "int32" })) end,
      "regionprops: labels must be >= 0 (0 is background), got -1" },
    { "float labels in regionprops", function() classic.regionprops(lunet.zeros({ 2, 2 })) end,
      "regionprops: labels must be an int32 or uint8 tensor, got float32" },
    { "a negative spacing", function() classic.distance_transform_edt(m, { spacing = { 1, -2 } }) end,
      "distance_transform_edt: spacing[2] must be a number >= 0, got -2" },
    { "a zero spacing", function() classic.distance_transform_edt(m, { spacing = 0 }) end,
      "distance_transform_edt: spacing[1] must be a finite number > 0, got 0" },
    { "a spacing of the wrong length", function() classic.distance_transform_edt(m, { spacing = { 1, 2, 3 } }) end,
      "distance_transform_edt: spacing must have one entry per axis of mask (2), got 3" },
    { "markers of the wrong shape", function() classic.watershed(lunet.zeros({ 4, 5 }), lunet.zeros({ 5, 4 }, { dtype = "int32" })) end,
      "watershed: markers has shape [5, 4], elevation has shape [4, 5] (they must be equal)" },
    { "float markers", function() classic.watershed(lunet.zeros({ 4, 5 }), lunet.zeros({ 4, 5 })) end,
      "watershed: markers must be an int32 or uint8 label tensor, got float32" },
    { "a mask of the wrong shape", function()
      classic.watershed(lunet.zeros({ 4, 5 }), m, { mask = lunet.zeros({ 4, 4 }) }) end,
      "watershed: mask has shape [4, 4], elevation has shape [4, 5] (they must be equal)" },
    { "a negative compactness", function() classic.watershed(lunet.zeros({ 4, 5 }), m, { compactness = -1 }) end,
      "watershed: compactness must be a number >= 0, got -1" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function() assert.are.equal(c[3], err(c[2])) end)
  end

  it("reports the caller's line", function()
    local ok, e = pcall(function() classic.label(lunet.zeros({ 5 })) end)
    assert.is_false(ok)
    assert.truthy(tostring(e):match("classic_spec%.lua:%d+: label:"))
  end)
end)

describe("lunet.classic part-2 submodules", function()
  -- loads a fresh lunet.classic with a temporary lunet/classic/superpixels.lua on package.path
  local function with_sub(src, fn)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/lunet/classic"))
    local f = assert(io.open(dir .. "/lunet/classic/superpixels.lua", "w"))
    f:write(src)
    f:close()
    local saved_path, saved = package.path, package.loaded["lunet.classic"]
    package.path = dir .. "/?.lua;" .. package.path
    package.loaded["lunet.classic"], package.loaded["lunet.classic.superpixels"] = nil, nil
    local ok, r = pcall(require, "lunet.classic")
    package.path, package.loaded["lunet.classic"] = saved_path, saved
    package.loaded["lunet.classic.superpixels"] = nil
    os.execute("rm -rf " .. dir)
    fn(ok, r)
  end

  it("merges the functions of lunet.classic.superpixels when its file exists", function()
    with_sub("return { slic = function() return 42 end, note = 'not a function' }", function(ok, m)
      assert.is_true(ok, tostring(m))
      assert.are.equal(42, m.slic())
      assert.is_nil(m.note)
      assert.is_function(m.watershed)
    end)
  end)

  it("raises on a name clash instead of overwriting", function()
    with_sub("return { label = function() end }", function(ok, e)
      assert.is_false(ok)
      assert.truthy(tostring(e):find("lunet.classic: lunet.classic.superpixels defines 'label', which lunet.classic already has", 1, true))
    end)
  end)
end)
