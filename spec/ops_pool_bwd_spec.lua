-- max_pool2d's backward writing a fresh gradient (lt_max_pool2d_backward_set: each plane
-- zeroed and scattered into inside the parallel loop) against a scatter done element by
-- element in Lua, on random shapes and windows (overlapping ones repeat indices), 1 and 2
-- threads; and gradcheck through F.max_pool2d.
local lunet = require "lunet"
local core = require "lunet.core"
local F = require "lunet.nn".functional
local knn = core.nn

local function ref_backward(gy, idx, x)
  local gx = lunet.zeros(x:shape())
  local N, C, OH, OW = gy:size(1), gy:size(2), gy:size(3), gy:size(4)
  local W = x:size(4)
  for n = 1, N do
    for c = 1, C do
      for i = 1, OH do
        for j = 1, OW do
          local k = idx:get(n, c, i, j) - 1
          local h, w = k // W + 1, k % W + 1
          gx:set(gx:get(n, c, h, w) + gy:get(n, c, i, j), n, c, h, w)
        end
      end
    end
  end
  return gx
end

describe("max_pool2d backward into a fresh gradient", function()
  after_each(function() lunet.set_num_threads(2) end)

  it("equals the element-by-element scatter", function()
    local g = lunet.Generator(31)
    local cases = {
      { { 2, 3, 8, 10 }, { kernel = 2, stride = 2 } },
      { { 1, 2, 9, 7 }, { kernel = 3, stride = 1, padding = 1 } },
      { { 3, 1, 11, 6 }, { kernel = 3, stride = 2, ceil_mode = true } },
      { { 2, 2, 6, 6 }, { kernel = 2, stride = 1, dilation = 2 } },
      { { 4, 70, 16, 16 }, { kernel = 2, stride = 2 } },   -- 71680 elements: threaded
    }
    for ci, c in ipairs(cases) do
      local x = g:randn(c[1])
      for _, threads in ipairs { 1, 2 } do
        lunet.set_num_threads(threads)
        local y, idx = knn.max_pool2d(x, c[2], true)
        local gy = g:randn(y:shape())
        local gx = knn.max_pool2d_backward(gy, idx, x)
        local ref = ci < 5 and ref_backward(gy, idx, x) or nil
        if ref then
          assert.is_true((gx - ref):abs():max():item() < 1e-6, "case " .. ci .. " threads " .. threads)
        else   -- non-overlapping windows: each input cell gets one output's gradient or 0
          assert.are.equal(gy:numel(), gx:ne(0):sum():item())
          assert.is_true(math.abs(gx:sum():item() - gy:sum():item()) < 1e-2)
        end
      end
    end
  end)

  it("passes gradcheck through F.max_pool2d", function()
    local g = lunet.Generator(32)
    local x = g:randn(2, 2, 6, 7):requires_grad()
    local ok, msg = lunet.gradcheck(function(a) return F.max_pool2d(a, { kernel = 3, stride = 2, padding = 1 }) end, { x })
    assert.is_true(ok, msg)
  end)

  it("still reports an index outside the plane", function()
    local x = lunet.randn(1, 1, 4, 4)
    local idx = lunet.full({ 1, 1, 2, 2 }, 17, { dtype = "int32" })
    local ok, err = pcall(knn.max_pool2d_backward, lunet.ones(1, 1, 2, 2), idx, x)
    assert.is_false(ok)
    assert.matches("index 17 is outside %[1, 16%]", err)
  end)
end)
