-- metrics.panoptic_quality: a hand-computed case, the IoU = 0.5 boundary, categories, batches,
-- references from an independent numpy implementation (spec/ref/gen_classic_seg.py), errors.
local lunet = require "lunet"
local metrics = require "lunet.metrics"
local R = dofile("spec/ref/classic_seg/ref.lua")

local function strip(msg) return (tostring(msg):gsub("^[^:\n]+:%d+: ", "")) end
local function ids(rows) return lunet.tensor(rows, { dtype = "int32" }) end
local function close(a, b) return math.abs(a - b) < 1e-12 end

describe("metrics.panoptic_quality", function()
  -- gt: 1 = columns 1-2 (8 px), 2 = rows 1-2 x columns 4-6 (6 px), 3 = one pixel (4, 3)
  -- pred: 5 = rows 1-3 x columns 1-2 (IoU 6/8 with gt 1), 9 = rows 1-2 x columns 5-6 (IoU 4/6
  -- with gt 2), 3 = row 4 x columns 4-6 (no partner). TP 2, FP 1, FN 1:
  -- PQ = (3/4 + 2/3) / (2 + 1/2 + 1/2) = 17/36, SQ = 17/24, RQ = 2/3.
  local gt = ids { { 1, 1, 0, 2, 2, 2 }, { 1, 1, 0, 2, 2, 2 }, { 1, 1, 0, 0, 0, 0 }, { 1, 1, 3, 0, 0, 0 } }
  local pred = ids { { 5, 5, 0, 0, 9, 9 }, { 5, 5, 0, 0, 9, 9 }, { 5, 5, 0, 0, 0, 0 }, { 0, 0, 0, 3, 3, 3 } }

  it("equals the hand-computed PQ, SQ and RQ", function()
    local pq, sq, rq, d = metrics.panoptic_quality(pred, gt)
    assert.is_true(close(pq, 17 / 36))
    assert.is_true(close(sq, 17 / 24))
    assert.is_true(close(rq, 2 / 3))
    assert.are.same({ 2, 1, 1 }, { d.tp, d.fp, d.fn })
    assert.is_true(close(d.iou_sum, 3 / 4 + 2 / 3))
  end)

  it("does not match at IoU exactly 0.5", function()
    local g = ids { { 1, 1 }, { 1, 1 } }
    local p = ids { { 2, 2 }, { 0, 0 } }
    local pq, sq, rq, d = metrics.panoptic_quality(p, g)
    assert.are.same({ 0, 0, 0, 0, 1, 1 }, { pq, sq, rq, d.tp, d.fp, d.fn })
    -- one more pixel: IoU 3/4
    pq, sq, rq = metrics.panoptic_quality(ids { { 2, 2 }, { 2, 0 } }, g)
    assert.are.same({ 0.75, 0.75, 1 }, { pq, sq, rq })
  end)

  it("is 1 for identical maps up to id renaming, NaN when both are empty", function()
    local pq, sq, rq = metrics.panoptic_quality(gt:mul(7):add(gt:gt(0):int():mul(2)), gt)
    assert.are.same({ 1, 1, 1 }, { pq, sq, rq })
    pq = metrics.panoptic_quality(lunet.zeros(3, 3):int(), lunet.zeros(3, 3):int())
    assert.is_true(pq ~= pq)
  end)

  it("matches only within a category and averages over the categories", function()
    -- pred 5 and gt 1 overlap but lie in different categories: FP + FN in each category
    local pq, sq, rq, d = metrics.panoptic_quality(pred, gt, {
      pred_categories = { [5] = 2, [9] = 1, [3] = 1 }, gt_categories = { [1] = 1, [2] = 1, [3] = 1 } })
    -- category 1: TP (9, 2) IoU 2/3, FP 3, FN 1 and 3 -> PQ (2/3) / (1 + 1/2 + 1) = 4/15, SQ 2/3, RQ 2/5
    -- category 2: FP 5 -> PQ 0, SQ 0, RQ 0
    assert.is_true(close(d.per_category[1].pq, 4 / 15))
    assert.are.same({ 0, 0, 0 }, { d.per_category[2].pq, d.per_category[2].sq, d.per_category[2].rq })
    assert.is_true(close(pq, 2 / 15))
    assert.is_true(close(sq, 1 / 3))
    assert.is_true(close(rq, 1 / 5))
    assert.are.same({ 1, 2, 2 }, { d.tp, d.fp, d.fn })
  end)

  for i, c in ipairs(R.pq) do
    it(("equals the numpy reference (case %d%s)"):format(i, c.gt_categories and ", categories" or ""), function()
      local p = lunet.tensor(c.pred, { dtype = "int32", shape = { c.h, c.w } })
      local g = lunet.tensor(c.gt, { dtype = "int32", shape = { c.h, c.w } })
      local pq, sq, rq, d = metrics.panoptic_quality(p, g, { pred_categories = c.pred_categories,
                                                               gt_categories = c.gt_categories })
      assert.is_true(close(pq, c.pq) and close(sq, c.sq) and close(rq, c.rq))
      if c.gt_categories then
        for cat, want in pairs(c.per_category) do
          local got = d.per_category[cat]
          assert.are.same({ want.tp, want.fp, want.fn }, { got.tp, got.fp, got.fn })
          assert.is_true(close(got.pq, want.pq))
        end
      end
    end)
  end

  it("takes N x H x W and returns one result per image", function()
    local p2 = lunet.stack({ pred, gt })
    local g2 = lunet.stack({ gt, gt })
    local pq, sq, rq, d = metrics.panoptic_quality(p2, g2)
    assert.is_true(close(pq[1], 17 / 36) and close(sq[1], 17 / 24) and close(rq[1], 2 / 3))
    assert.are.same({ 1, 1, 1 }, { pq[2], sq[2], rq[2] })
    assert.are.equal(3, d[2].tp)
  end)

  it("takes uint8 maps", function()
    local pq = metrics.panoptic_quality(pred:byte(), gt:byte())
    assert.is_true(close(pq, 17 / 36))
  end)

  local cases = {
    { function() return metrics.panoptic_quality(pred, gt, { pred_categorie = {} }) end,
      "panoptic_quality: unknown option 'pred_categorie' (did you mean 'pred_categories'?)" },
    { function() return metrics.panoptic_quality("x", gt) end, "panoptic_quality: pred_ids must be a tensor, got string" },
    { function() return metrics.panoptic_quality(pred, gt, { pred_categories = {} }) end,
      "panoptic_quality: pred_categories and gt_categories go together (got only pred_categories)" },
    { function() return metrics.panoptic_quality(pred, gt, { pred_categories = { [5] = 1, [9] = 1 }, gt_categories = { 1, 1, 1 } }) end,
      "panoptic_quality: pred_ids holds id 3, which pred_categories does not map to a category" },
    { function() return metrics.panoptic_quality(pred, gt, { pred_categories = { [3] = 1, [5] = 0.5, [9] = 1 }, gt_categories = { 1, 1, 1 } }) end,
      "panoptic_quality: pred_categories maps id 5 to 0.5; categories must be integers >= 1" },
    { function() return metrics.panoptic_quality(pred, gt, { pred_categories = 3, gt_categories = {} }) end,
      "panoptic_quality: pred_categories must be a table id -> category, got number" },
    { function() return metrics.panoptic_quality(pred, ids { { 1 } }) end,
      "panoptic_quality: pred_ids shape [4, 6] does not match gt_ids shape [1, 1]" },
    { function() return metrics.panoptic_quality(pred:float(), gt) end,
      "panoptic_quality: pred_ids must be an int32 or uint8 tensor, got float32" },
    { function() return metrics.panoptic_quality(pred:neg(), gt) end,
      "panoptic_quality: pred_ids holds a negative id (-9); ids are 0 (background) or positive" },
  }
  for i, c in ipairs(cases) do
    it(("raises (case %d): %s"):format(i, c[2]), function()
      local ok, e = pcall(c[1])
      assert.is_false(ok)
      assert.are.equal(c[2], strip(e))
    end)
  end
end)
