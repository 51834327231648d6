-- data_volumes_spec.lua: lunet.data.volumes, the synthetic volumetric task of
-- examples/volume.lua: shapes, classes, determinism for a seed, the options' checks.
local lunet = require "lunet"
local data = lunet.data

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:\n]*:%d+: ", ""))
end

describe("data.volumes", function()
  it("makes n volumes with the three classes, the same for a seed", function()
    local a = data.volumes{ n = 3, size = {16, 20, 24}, seed = 5 }
    local b = data.volumes{ n = 3, size = {16, 20, 24}, seed = 5 }
    local c = data.volumes{ n = 3, size = {16, 20, 24}, seed = 6 }
    assert.are.equal(3, a:len())
    local s = a:get(2)
    assert.are.same({1, 16, 20, 24}, s.image:shape())
    assert.are.same({16, 20, 24}, s.mask:shape())
    assert.are.equal("float32", s.image:dtype())
    assert.are.equal("int32", s.mask:dtype())
    assert.is_true(lunet.allclose(s.image, b:get(2).image, 0, 0))
    assert.is_false(lunet.allclose(s.image, c:get(2).image, 0, 0))
    local seen = {}
    for i = 1, 3 do
      for _, v in ipairs(a:get(i).mask:tolist()) do seen[v] = true end
    end
    assert.is_true(seen[0] and seen[1] and seen[2])
    assert.is_nil(seen[3])
    assert.are.same({"background", "ellipsoid", "tube"}, data.volumes_classes)
  end)

  it("draws class brightness from one range, so intensity alone does not separate them", function()
    local ds = data.volumes{ n = 12, size = 16, seed = 1, noise = 0, bias = 0 }
    local brighter = 0
    for i = 1, 12 do
      local s = ds:get(i)
      local m, img = s.mask, s.image:select(1, 1)
      local e, t = m:eq(1):float(), m:eq(2):float()
      if e:sum():item() > 0 and t:sum():item() > 0 then
        local me = (img * e):sum():item() / e:sum():item()
        local mt = (img * t):sum():item() / t:sum():item()
        if me > mt then brighter = brighter + 1 end
      end
    end
    assert.is_true(brighter > 0 and brighter < 12)
  end)

  it("checks its options", function()
    assert.are.equal("data.volumes: unknown option 'sise' (did you mean 'size'?)", err_of(data.volumes, { sise = 3 }))
    assert.are.equal("data.volumes: size[1] must be an integer in [8, 1024], got 4",
      err_of(data.volumes, { size = {4, 8, 8} }))
    assert.are.equal("data.volumes: noise must have lo <= hi, got {0.5, 0.1}", err_of(data.volumes, { noise = {0.5, 0.1} }))
  end)
end)
