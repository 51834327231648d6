-- The volumetric models (models/unet3d.lua, models/vnet.lua): parameter counts of the papers'
-- configurations (pinned, and equal to their PyTorch twins' in spec/ref/gen_volume_models.py),
-- the same eval output as the twins from the same weights, training steps at small widths,
-- and option / input-size errors with the sizes that work.
local lunet = require "lunet"
local nn = require "lunet.nn"
local models = lunet.models

local torch_counts = dofile("spec/ref/volume_models_torch.lua")

local function strip(msg) return (tostring(msg):gsub("^[^:]*:%d+: ", "")) end
local function errmsg(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  return strip(err)
end

describe("parameter counts of the papers' configurations", function()
  it("3-D U-Net (Çiçek et al.: 3 -> 3 classes, base 32, depth 4, BN): 19,075,523", function()
    -- the paper reports 19,069,955: without the BN affine parameters (4,672) and the
    -- up-convolution biases (896)
    assert.are.equal(19075523, torch_counts.unet3d_paper)
    assert.are.equal(19075523, models.unet3d.count_parameters {})
    assert.are.equal(19069955, 19075523 - 4672 - 896)
  end)
  it("3-D U-Net of the benchmark (1 -> 2, base 16, depth 4): 4,770,658", function()
    assert.are.equal(torch_counts.unet3d_bench,
      models.unet3d { in_channels = 1, num_classes = 2, base = 16 }:num_parameters())
  end)
  it("V-Net (Milletari et al.: 1 -> 2 classes, base 16, depth 5): 65,191,134", function()
    assert.are.equal(65191134, torch_counts.vnet_paper)
    assert.are.equal(65191134, models.vnet.count_parameters {})
  end)
  it("count_parameters agrees with the built models for other configurations", function()
    for _, o in ipairs {
      { in_channels = 2, num_classes = 4, base = 4, depth = 3, norm = "group", groups = 2 },
      { in_channels = 1, num_classes = 2, base = 2, depth = 2, norm = "none" },
      { in_channels = 1, num_classes = 3, base = 4, depth = 5, norm = "instance" },
    } do
      assert.are.equal(models.unet3d.count_parameters(o), models.unet3d(o):num_parameters())
      o.groups = o.groups or 8
      assert.are.equal(models.vnet.count_parameters(o), models.vnet(o):num_parameters())
    end
  end)
end)

describe("the PyTorch twins", function()
  local twins = {
    unet3d = { "unet3d", { in_channels = 2, num_classes = 3, base = 2, depth = 3 } },
    unet3d_instance = { "unet3d", { in_channels = 1, num_classes = 2, base = 2, depth = 2, norm = "instance" } },
    vnet = { "vnet", { in_channels = 1, num_classes = 2, base = 2, depth = 3 } },
  }
  for _, key in ipairs { "unet3d", "unet3d_instance", "vnet" } do
    it(key .. ": same state-dict names and order, same eval output from the same weights", function()
      local t, meta = lunet.load("spec/ref/volume_" .. key .. ".safetensors")
      local c = twins[key]
      local model = models[c[1]](c[2])
      local names = {}
      for k in pairs(model:state_dict { index_base = 0 }) do names[#names + 1] = k end
      assert.are.equal(meta.keys, table.concat(names, ","))
      local x, y = t["test.input"], t["test.output"]
      t["test.input"], t["test.output"] = nil, nil
      model:load_state_dict(t, { index_base = 0 })
      model:eval()
      local out = lunet.no_grad(function() return model(x) end)
      assert.are.same(y:shape(), out:shape())
      assert.is_true(lunet.allclose(out, y, 1e-4, 1e-5), key .. ": outputs differ")
    end)
  end
end)

describe("training", function()
  for _, c in ipairs {
    { "unet3d", { in_channels = 1, num_classes = 3, base = 2, depth = 3 }, { 2, 1, 8, 4, 8 } },
    { "unet3d", { in_channels = 2, num_classes = 2, base = 2, depth = 2, norm = "group", groups = 2 }, { 1, 2, 4, 6, 2 } },
    { "vnet", { in_channels = 1, num_classes = 2, base = 2, depth = 3 }, { 2, 1, 4, 8, 4 } },
    { "vnet", { in_channels = 2, num_classes = 3, base = 4, depth = 2, norm = "instance" }, { 1, 2, 4, 2, 6 } },
  } do
    it(c[1] .. " lowers the loss of a fixed batch in a few Adam steps", function()
      lunet.manual_seed(3)
      local model = models[c[1]](c[2])
      local x = lunet.randn(table.unpack(c[3]))
      local shape = { c[3][1], c[3][3], c[3][4], c[3][5] }
      local target = lunet.randint(0, c[2].num_classes, shape):to("int32")
      local opt = lunet.optim.Adam(model:parameters(), { lr = 1e-2 })
      local first, last
      for _ = 1, 8 do
        opt:zero_grad()
        local out = model(x)
        assert.are.same({ c[3][1], c[2].num_classes, c[3][3], c[3][4], c[3][5] }, out:shape())
        local loss = nn.functional.cross_entropy(out, target)
        loss:backward()
        opt:step()
        first = first or loss:item()
        last = loss:item()
      end
      assert.is_true(last < first, string.format("loss %g -> %g", first, last))
    end)
  end
end)

describe("options and input sizes", function()
  it("reject bad options with lunet.errors messages", function()
    assert.are.equal("UNet3D: unknown option 'bsae' (did you mean 'base'?)",
      errmsg(models.unet3d, { bsae = 2 }))
    assert.are.equal("UNet3D: norm must be 'batch', 'group', 'instance' or 'none', got 'layer'",
      errmsg(models.unet3d, { norm = "layer" }))
    assert.are.equal('VNet: norm "group" with groups 4 cannot split 6 channels (min(groups, channels) '
      .. "must divide every normalised channel count)",
      errmsg(models.vnet, { base = 6, norm = "group", groups = 4 }))
    assert.are.equal("VNet: depth must be an integer in [2, 8], got 9", errmsg(models.vnet, { depth = 9 }))
    assert.are.equal("VNet: base (16) must be a multiple of in_channels (3): the input stage adds the "
      .. "input repeated to base channels", errmsg(models.vnet, { in_channels = 3 }))
  end)
  it("refuse sizes that do not pool evenly, naming the sizes that work", function()
    local u = models.unet3d { in_channels = 1, num_classes = 2, base = 2, depth = 3 }
    assert.are.equal("UNet3D: input size 9x8x13 (D x H x W) must be a multiple of 4 in each dim "
      .. "(depth 3 pools 2 times); pad or crop it, e.g. to 8x8x12", errmsg(u, lunet.randn(1, 1, 9, 8, 13)))
    local v = models.vnet { base = 2, depth = 3 }
    assert.are.equal("VNet: input size 4x4x3 (D x H x W) must be a multiple of 4 in each dim "
      .. "(depth 3 pools 2 times); pad or crop it, e.g. to 4x4x4", errmsg(v, lunet.randn(1, 1, 4, 4, 3)))
    assert.are.equal("VNet: input must be a 5-d tensor (N, C, D, H, W), got [1, 4, 4, 4]",
      errmsg(v, lunet.randn(1, 4, 4, 4)))
    assert.are.equal("UNet3D: input has 2 channels, the model expects 1", errmsg(u, lunet.randn(1, 2, 4, 4, 4)))
  end)
  it("refuse a single bottleneck voxel with batch norm in training, not in eval", function()
    local u = models.unet3d { in_channels = 1, num_classes = 2, base = 2, depth = 3 }
    assert.are.equal("UNet3D: input 4x4x4 is too small to train with a batch of 1: batch norm at the "
      .. "bottleneck (1/4 of the input, here 1x1x1) needs more than one value per channel (use a "
      .. "larger input, a batch of 2 or more, or model:eval())", errmsg(u, lunet.randn(1, 1, 4, 4, 4)))
    u:eval()
    assert.are.same({ 1, 2, 4, 4, 4 }, u(lunet.randn(1, 1, 4, 4, 4)):shape())
  end)
end)
