-- lunet.instances: training targets from instance ids (hand case; scikit-image's
-- find_boundaries(mode="inner") and per-instance scipy EDT references from
-- spec/ref/gen_classic_seg.py), the dataset transform, relabel, watershed post-processing
-- recovering touching objects exactly from ideal network outputs, and errors.
local lunet = require "lunet"
local I = require "lunet.instances"
local metrics = require "lunet.metrics"
local R = dofile("spec/ref/classic_seg/ref.lua")

local function strip(msg) return (tostring(msg):gsub("^[^:\n]+:%d+: ", "")) end

-- Two touching rectangles: id 3 rows 2-5 x columns 2-5, id 7 rows 2-5 x columns 6-8.
local function two_boxes()
  local ids = lunet.zeros(8, 10):int()
  ids:narrow(1, 2, 4):narrow(2, 2, 4):fill_(3)
  ids:narrow(1, 2, 4):narrow(2, 6, 3):fill_(7)
  return ids
end

-- n random non-overlapping discs, several touching, on an h x w canvas.
local function discs(h, w, n, seed)
  local g = lunet.Generator(seed)
  local ids = lunet.zeros(h, w):int()
  local t = ids:totable()
  local placed = 0
  for _ = 1, 200 do
    if placed == n then break end
    local r = 3 + math.floor(lunet.rand(1, { generator = g }):item() * 4)
    local cy = r + 1 + math.floor(lunet.rand(1, { generator = g }):item() * (h - 2 * r - 1))
    local cx = r + 1 + math.floor(lunet.rand(1, { generator = g }):item() * (w - 2 * r - 1))
    local free, cells = true, {}
    for y = cy - r, cy + r do
      for x = cx - r, cx + r do
        if (y - cy) ^ 2 + (x - cx) ^ 2 <= r * r then
          if t[y][x] ~= 0 then free = false end
          cells[#cells + 1] = { y, x }
        end
      end
    end
    if free then
      placed = placed + 1
      for _, c in ipairs(cells) do t[c[1]][c[2]] = 10 * placed end
    end
  end
  return lunet.tensor(t, { dtype = "int32" })
end

describe("instances.targets", function()
  it("gives foreground, boundary, interior, classes and distance of two touching boxes", function()
    local t = I.targets(two_boxes())
    assert.are.same({
      { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
      { 0, 2, 2, 2, 2, 2, 2, 2, 0, 0 },
      { 0, 2, 1, 1, 2, 2, 1, 2, 0, 0 },
      { 0, 2, 1, 1, 2, 2, 1, 2, 0, 0 },
      { 0, 2, 2, 2, 2, 2, 2, 2, 0, 0 },
      { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
      { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
      { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } }, t.classes:totable())
    assert.are.equal("int32", t.classes:dtype())
    assert.are.equal(28, t.foreground:sum():item())
    assert.are.equal(6, t.interior:sum():item())
    assert.are.same({ 0, 0.5, 1, 1, 0.5, 0.5, 1, 0.5, 0, 0 }, t.distance:totable()[3])
  end)

  it("boundary = 'touching' marks only the contours where objects meet", function()
    local t = I.targets(two_boxes(), { boundary = "touching" })
    assert.are.same({ 0, 1, 1, 1, 2, 2, 1, 1, 0, 0 }, t.classes:totable()[2])
    assert.are.same({ 0, 1, 1, 1, 2, 2, 1, 1, 0, 0 }, t.classes:totable()[5])
    assert.are.equal(8, t.boundary:sum():item())
    -- a lone object has no boundary at all
    local one = two_boxes():eq(3):int()
    assert.are.equal(0, I.targets(one, { boundary = "touching" }).boundary:sum():item())
  end)

  it("boundary_width widens the boundary; distance=false and normalize=false", function()
    local t = I.targets(two_boxes(), { boundary_width = 2, distance = false })
    assert.are.equal(0, t.interior:sum():item())
    assert.is_nil(t.distance)
    local d = I.targets(two_boxes(), { normalize = false }).distance
    assert.are.same({ 0, 1, 2, 2, 1, 1, 2, 1, 0, 0 }, d:totable()[3])
  end)

  for i, c in ipairs(R.targets) do
    it(("equals scikit-image's find_boundaries(mode='inner') and scipy's per-instance EDT (case %d)"):format(i), function()
      local ids = lunet.tensor(c.ids, { dtype = "int32", shape = { c.h, c.w } })
      local t = I.targets(ids)
      assert.are.same(lunet.tensor(c.boundary, { dtype = "uint8", shape = { c.h, c.w } }):totable(), t.boundary:totable())
      local want = lunet.tensor(c.distance, { shape = { c.h, c.w } })
      assert.is_true(lunet.allclose(t.distance, want, 0, 1e-6))
    end)
  end

  it("an empty map gives empty targets", function()
    local t = I.targets(lunet.zeros(0, 5):int())
    assert.are.same({ 0, 5 }, t.classes:shape())
    t = I.targets(lunet.zeros(4, 5):byte())
    assert.are.equal(0, t.classes:sum():item())
  end)
end)

describe("instances.Targets (dataset transform)", function()
  it("replaces the mask by the classes and keeps the ids", function()
    local ids = two_boxes()
    local s = I.Targets { distance = true } { image = lunet.zeros(3, 8, 10), mask = ids:byte(), name = "a" }
    assert.are.same(I.targets(ids).classes:totable(), s.mask:totable())
    assert.are.same(ids:totable(), s.instances:totable())
    assert.are.equal("a", s.name)
    assert.is_truthy(s.distance)
    local batch = lunet.data.collate({ s, s })
    assert.are.same({ 2, 8, 10 }, batch.mask:shape())
  end)
end)

describe("instances.relabel", function()
  it("drops small objects and renumbers", function()
    local ids = lunet.tensor({ { 5, 5, 0, 9 }, { 5, 0, 0, 0 }, { 0, 2, 2, 0 } }, { dtype = "int32" })
    local out, n = I.relabel(ids, { min_size = 2 })
    assert.are.equal(2, n)
    assert.are.same({ { 2, 2, 0, 0 }, { 2, 0, 0, 0 }, { 0, 1, 1, 0 } }, out:totable())
  end)
end)

describe("instances.watershed / from_output", function()
  local function logits_of(classes, k)
    -- one-hot x 8: the output of a perfect 3-class network
    local oh = {}
    for c = 0, k - 1 do oh[c + 1] = classes:eq(c):float():mul(8) end
    return lunet.stack(oh)
  end

  for _, seed in ipairs { 1, 2, 3 } do
    it(("recovers every touching disc from ideal outputs (seed %d)"):format(seed), function()
      local ids = discs(48, 56, 9, seed)
      local t = I.targets(ids)
      for _, kind in ipairs { "classes", "distance", "boundary" } do
        local out
        if kind == "classes" then out = logits_of(t.classes, 3)
        elseif kind == "distance" then
          out = lunet.stack({ t.foreground:float():mul(16):sub(8), t.distance:mul(16):sub(8) })
        else
          out = lunet.stack({ t.foreground:float():mul(16):sub(8), t.boundary:float():mul(16):sub(8) })
        end
        local got, n = I.from_output(out, { kind = kind })
        local pq, sq, rq = metrics.panoptic_quality(got, ids)
        -- every object found once; the boundary pixels between touching objects are shared
        -- out by the flood, so a few may go to the neighbour (SQ just below 1)
        assert.is_true(rq == 1 and sq > 0.97, ("%s: pq %f sq %f rq %f"):format(kind, pq, sq, rq))
        local _, count = I.relabel(ids)
        assert.are.equal(count, n)
      end
    end)
  end

  it("separates two touching discs from the foreground alone (EDT maxima)", function()
    local ids = lunet.zeros(20, 30):int()
    local t = ids:totable()
    for y = 1, 20 do
      for x = 1, 30 do
        if (y - 10) ^ 2 + (x - 9) ^ 2 <= 36 then t[y][x] = 1 end
        if (y - 10) ^ 2 + (x - 20) ^ 2 <= 36 then t[y][x] = 2 end
      end
    end
    ids = lunet.tensor(t, { dtype = "int32" })
    local got, n = I.watershed(ids:gt(0):float(), nil, { min_distance = 3 })
    assert.are.equal(2, n)
    assert.are.equal(1, metrics.panoptic_quality(got, ids) > 0.9 and 1 or 0)
  end)

  it("takes a batch N x C x H x W", function()
    local ids = two_boxes()
    local out = logits_of(I.targets(ids).classes, 3)
    local all, counts = I.from_output(lunet.stack({ out, out }))
    assert.are.equal(2, #all)
    assert.are.same({ 2, 2 }, counts)
  end)

  it("min_marker_size drops small seeds: their pixels join the neighbour (min_size would delete them)", function()
    -- foreground rows 2-9 x columns 2-11; interior rows 3-8 x columns 3-8 and a one-pixel
    -- interior speck at row 5, column 10 (a spurious seed), boundary elsewhere
    local classes = lunet.zeros(10, 12):int()
    classes:narrow(1, 2, 8):narrow(2, 2, 10):fill_(2)
    classes:narrow(1, 3, 6):narrow(2, 3, 6):fill_(1)
    classes:narrow(1, 5, 1):narrow(2, 10, 1):fill_(1)
    local out = logits_of(classes, 3)
    local _, n0 = I.from_output(out)
    assert.are.equal(2, n0)
    local got, n = I.from_output(out, { min_marker_size = 2 })
    assert.are.equal(1, n)
    assert.are.equal(80, got:gt(0):sum():item())
    local got2, n2 = I.from_output(out, { min_size = 20 })
    assert.are.equal(1, n2)
    assert.is_true(got2:gt(0):sum():item() < 80)
    -- a seed exactly min_marker_size pixels large stays
    local _, n3 = I.from_output(out, { min_marker_size = 1 })
    assert.are.equal(2, n3)
    -- watershed takes it too; every seed dropped: no objects
    local p = lunet.nn.functional.softmax(out, 1)
    local _, n4 = I.watershed(p:select(1, 1):neg():add(1), p:select(1, 2), { kind = "interior", min_marker_size = 2 })
    assert.are.equal(1, n4)
    local ids5, n5 = I.watershed(p:select(1, 1):neg():add(1), p:select(1, 2), { kind = "interior", min_marker_size = 100 })
    assert.are.equal(0, n5)
    assert.are.equal(0, ids5:max():item())
  end)

  it("min_size drops small objects", function()
    local ids = two_boxes()
    local _, n = I.from_output(logits_of(I.targets(ids).classes, 3), { min_size = 13 })
    assert.are.equal(1, n)
  end)
end)

describe("instances errors", function()
  local ids = two_boxes()
  local p = lunet.zeros(8, 10)
  local cases = {
    { function() return I.targets(ids, { boundary_widht = 2 }) end,
      "targets: unknown option 'boundary_widht' (did you mean 'boundary_width'?)" },
    { function() return I.targets(ids:float()) end,
      "targets: ids must be an int32 or uint8 tensor of instance ids, got float32" },
    { function() return I.targets(ids:neg()) end,
      "targets: ids holds a negative id (-7); ids are 0 (background) or positive" },
    { function() return I.targets(ids:unsqueeze(1)) end, "targets: ids must be H x W, got [1, 8, 10]" },
    { function() return I.targets(ids, { boundary = "outer" }) end,
      "targets: boundary must be 'inner' or 'touching', got 'outer'" },
    { function() return I.targets(ids, { boundary_width = 0 }) end,
      "targets: boundary_width must be an integer in [1, 1000], got 0" },
    { function() return I.Targets { distanc = true } end,
      "Targets: unknown option 'distanc' (did you mean 'distance'?)" },
    { function() return I.Targets()({ image = p }) end,
      "Targets: the sample must be a table with a mask tensor of instance ids, got a table without mask" },
    { function() return I.watershed(p, p, { kind = "edges" }) end,
      "watershed: kind must be 'distance', 'boundary' or 'interior', got 'edges'" },
    { function() return I.watershed(p, lunet.zeros(8, 9)) end, "watershed: cue must be H x W = [8, 10], got [8, 9]" },
    { function() return I.watershed(p, nil, { kind = "boundary" }) end,
      "watershed: kind 'boundary' needs a cue map, got nil" },
    { function() return I.watershed(lunet.full({ 8, 10 }, 0 / 0), p) end, "watershed: prob_fg holds a non-finite value" },
    { function() return I.watershed(p, p, { kind = "boundary", markers = "core" }) end,
      "watershed: markers applies to kind 'distance' (kind 'boundary' seeds from its cue)" },
    { function() return I.from_output(lunet.zeros(2, 8, 10)) end,
      "from_output: kind 'classes' takes output 3 x H x W (or N x 3 x H x W), got [2, 8, 10]" },
    { function() return I.from_output(lunet.zeros(3, 8, 10), { treshold = 1 }) end,
      "from_output: unknown option 'treshold' (did you mean 'threshold'?)" },
    { function() return I.watershed(p, p, { min_marker_size = -1 }) end,
      "watershed: min_marker_size must be an integer >= 0, got -1" },
    { function() return I.from_output(lunet.zeros(3, 8, 10), { min_marker_size = 1.5 }) end,
      "from_output: min_marker_size must be an integer >= 0, got 1.5" },
    { function() return I.from_output(lunet.zeros(3, 8, 10), { min_size = -2 }) end,
      "from_output: min_size must be an integer >= 0, got -2" },
    { function() return I.relabel(ids, { min_size = -1 }) end,
      "relabel: min_size must be an integer >= 0, got -1" },
  }
  for i, c in ipairs(cases) do
    it(("case %d: %s"):format(i, c[2]), function()
      local ok, e = pcall(c[1])
      assert.is_false(ok)
      assert.are.equal(c[2], strip(e))
    end)
  end
end)
