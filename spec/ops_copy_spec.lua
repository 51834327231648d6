-- lt_copy's strided path (lunet.cat, contiguous(), copy_ of views) after its dims are
-- coalesced into long runs: every result equals an element-by-element reference made with
-- x:get over the same views, on random shapes, views (narrow, transpose, permute, select,
-- steps of 1-sized dims) and dtypes.
local lunet = require "lunet"

local function ref_equal(a, b)
  -- a, b: same shape; compares every element through get (no copy involved)
  local shape = a:shape()
  local n = a:numel()
  local idx = {}
  for i = 1, #shape do idx[i] = 1 end
  for _ = 1, n do
    local va, vb = a:get(table.unpack(idx)), b:get(table.unpack(idx))
    if va ~= vb then return false, table.concat(idx, ",") .. ": " .. tostring(va) .. " vs " .. tostring(vb) end
    for d = #shape, 1, -1 do
      idx[d] = idx[d] + 1
      if idx[d] <= shape[d] then break end
      idx[d] = 1
    end
  end
  return true
end

describe("copy of strided views (coalesced runs)", function()
  it("contiguous() of narrowed, transposed and permuted views equals the view element by element", function()
    local g = lunet.Generator(7)
    for trial = 1, 40 do
      local nd = 1 + trial % 4
      local shape = {}
      for d = 1, nd do shape[d] = g:randint(1, 6, {}):item() end
      local x = g:randn(shape)
      local v = x
      -- a random chain of views
      for _ = 1, 3 do
        local d = g:randint(1, nd + 1, {}):item()
        local k = g:randint(0, 3, {}):item()
        local sz = v:size(d)
        if k == 0 and sz > 1 then
          local start = g:randint(1, sz + 1, {}):item()
          local len = g:randint(1, sz - start + 2, {}):item()
          v = v:narrow(d, start, len)
        elseif k == 1 and nd > 1 then
          local e = d % nd + 1
          v = v:transpose(d, e)
        elseif k == 2 then
          local perm = {}
          for i = 1, nd do perm[i] = nd + 1 - i end
          v = v:permute(perm)
        end
      end
      local c = v:contiguous()
      assert.is_true(c:is_contiguous())
      local ok, where = ref_equal(c, v)
      assert.is_true(ok, "trial " .. trial .. " at " .. tostring(where))
      -- copy_ into a strided destination (a narrowed block of a bigger tensor)
      local big = lunet.zeros(v:shape())
      local dst = big:transpose(1, nd > 1 and 2 or 1)
      dst:copy_(v:transpose(1, nd > 1 and 2 or 1))
      ok, where = ref_equal(big, v)
      assert.is_true(ok, "copy_ trial " .. trial .. " at " .. tostring(where))
    end
  end)

  it("cat along every dim equals the parts, for float32 and int32, and its gradient splits back", function()
    local g = lunet.Generator(8)
    for _, dt in ipairs { "float32", "int32" } do
      for d = 1, 4 do
        local a = (g:randn(2, 3, 4, 5) * 10):to(dt)
        local sb = { 2, 3, 4, 5 }
        sb[d] = 1 + d
        local b = (g:randn(sb) * 10):to(dt)
        local c = lunet.cat({ a, b }, d)
        assert.is_true(ref_equal(c:narrow(d, 1, a:size(d)), a))
        assert.is_true(ref_equal(c:narrow(d, a:size(d) + 1, b:size(d)), b))
      end
    end
    local a = g:randn(2, 3, 4, 5):requires_grad()
    local b = g:randn(2, 6, 4, 5):requires_grad()
    local w = g:randn(2, 9, 4, 5)
    local loss = (lunet.cat({ a, b }, 2) * w):sum()
    loss:backward()
    assert.is_true(ref_equal(a.grad, w:narrow(2, 1, 3)))
    assert.is_true(ref_equal(b.grad, w:narrow(2, 4, 6)))
  end)

  it("size-1 and zero-stride (expanded) dims keep their values", function()
    local x = lunet.arange(1, 7):reshape(1, 2, 1, 3)
    local e = x:expand(4, 2, 5, 3)
    local c = e:contiguous()
    assert.is_true(ref_equal(c, e))
    assert.are.same({ 4, 2, 5, 3 }, c:shape())
  end)
end)
