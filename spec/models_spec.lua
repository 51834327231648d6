-- The model zoo (models/*.lua): parameter counts of the published configurations (counted as
-- PyTorch counts them: parameters, not BN statistics), forward + backward at small widths and
-- odd input sizes, stable state-dict names (spec/ref/model_names.lua, written by
-- spec/ref/gen_model_names.lua), printed trees and option errors.
local lunet = require "lunet"
local models = lunet.models

local ref_names = dofile("spec/ref/model_names.lua")
local name_configs = dofile("spec/ref/model_names_configs.lua")

local function within(n, target, rel)
  return math.abs(n - target) <= rel * target
end

local function sorted_names(model)
  local list = {}
  for k in pairs(model:state_dict()) do list[#list + 1] = k end
  table.sort(list)
  return list
end

local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end

local function errmsg(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  return tostring(err)
end

describe("parameter counts of the published configurations", function()
  it("U-Net base 64, depth 5, 1 -> 2 classes, no norm: 31,030,658", function()
    assert.are.equal(31030658, models.unet { in_channels = 1, num_classes = 2 }:num_parameters())
  end)

  it("Tiramisu 56 / 67 / 103 for 11 classes: about 1.38M / 3.46M / 9.32M", function()
    local cases = {
      { 56, 1.38e6, 1376795 }, { 67, 3.46e6, 3463243 }, { 103, 9.32e6, 9322091 },
    }
    for _, c in ipairs(cases) do
      local n = models.tiramisu { variant = c[1], in_channels = 3, num_classes = 11 }:num_parameters()
      assert.is_true(within(n, c[2], 0.02), ("Tiramisu %d: %d parameters"):format(c[1], n))
      assert.are.equal(c[3], n)
    end
  end)

  it("HRNetV2 W18 / W32 / W48 for 19 classes: 9.64M / 29.55M / 65.86M", function()
    local cases = {
      { 18, 9.64e6, 9641119 }, { 32, 29.55e6, 29546515 }, { 48, 65.86e6, 65859379 },
    }
    for _, c in ipairs(cases) do
      local n = models.hrnet { width = c[1], num_classes = 19 }:num_parameters()
      assert.is_true(within(n, c[2], 0.01), ("HRNet W%d: %d parameters"):format(c[1], n))
      assert.are.equal(c[3], n)
    end
  end)

  it("HRNet small variants as the reference's w18_small_v1 (width 16) / v2 configs", function()
    assert.are.equal(1540819, models.hrnet { width = 16, small = "v1", num_classes = 19 }:num_parameters())
    assert.are.equal(1540819, models.hrnet { width = 16, small = true, num_classes = 19 }:num_parameters())
    assert.are.equal(3939579, models.hrnet { width = 18, small = "v2", num_classes = 19 }:num_parameters())
  end)

  it("DeepLabv3+ on ResNet-18 / 34 / 50 for 21 classes; the encoder is torchvision's ResNet", function()
    local cases = { { "resnet18", 12334437, 11176512 }, { "resnet34", 22442597, 21284672 },
                    { "resnet50", 26682725, 23508032 } }
    for _, c in ipairs(cases) do
      local m = models.deeplabv3plus { backbone = c[1], num_classes = 21 }
      assert.are.equal(c[2], m:num_parameters())
      assert.are.equal(c[3], m.encoder:num_parameters())   -- torchvision's count minus fc
    end
    -- the output stride changes dilations, not shapes
    assert.are.equal(12334437, models.deeplabv3plus { num_classes = 21, output_stride = 8 }:num_parameters())
  end)
end)

-- Small widths, odd sizes: every model must give N x classes x H x W and gradients for
-- every parameter.
local small = {
  { "unet", { in_channels = 3, num_classes = 3, base = 4, depth = 3, norm = "batch" } },
  { "unet", { in_channels = 3, num_classes = 3, base = 4, depth = 4, up = "bilinear", norm = "group", groups = 2 } },
  { "tiramisu", { variant = 56, in_channels = 3, num_classes = 3, growth = 3, first_conv = 6,
                  down_blocks = { 2, 2, 2 }, bottleneck = 2 } },
  { "tiramisu", { variant = 103, in_channels = 3, num_classes = 3, growth = 2, first_conv = 4 } },
  { "hrnet", { width = 4, small = true, num_classes = 3 } },
  { "hrnet", { width = 2, num_classes = 3, align_corners = true } },
  { "deeplabv3plus", { num_classes = 3, encoder_width = 4, aspp_channels = 8,
                       low_level_channels = 4, decoder_channels = 8 } },
  { "deeplabv3plus", { num_classes = 3, backbone = "resnet50", output_stride = 8, encoder_width = 2,
                       aspp_channels = 8, low_level_channels = 4, decoder_channels = 8, separable = false } },
}

describe("forward and backward at odd input sizes", function()
  for _, c in ipairs(small) do
    local name, opts = c[1], c[2]
    local label = name .. " " .. (opts.variant and ("variant " .. opts.variant) or "")
        .. (opts.backbone or "") .. (opts.small and " small" or "") .. (opts.up or "")
    it(label .. " gives N x classes x H x W and a gradient for every parameter", function()
      lunet.manual_seed(1)
      local model = models[name](opts)
      local x = lunet.randn(2, 3, 37, 29)
      local y = model(x)
      assert.are.same({ 2, 3, 37, 29 }, y:shape())
      local target = lunet.randint(0, 3, { 2, 37, 29 }):to("int32")
      local loss = lunet.nn.functional.cross_entropy(y, target)
      assert.is_true(loss:item() == loss:item() and loss:item() < 1e3)
      loss:backward()
      for pname, p in model:named_parameters() do
        assert.is_not_nil(p.grad, pname .. " got no gradient")
        assert.are.same(p:shape(), p.grad:shape())
      end
      -- eval mode (running BN statistics, no dropout) is deterministic
      model:eval()
      local a = lunet.no_grad(function() return model(x) end)
      local b = lunet.no_grad(function() return model(x) end)
      assert.is_true(lunet.allclose(a, b, 0, 0))
      -- other sizes, including a single pixel row for the deep models
      assert.are.same({ 1, 3, 16, 21 }, lunet.no_grad(function()
        return model(lunet.randn(1, 3, 16, 21)) end):shape())
    end)
  end
end)

describe("gradients", function()
  it("match finite differences w.r.t. the input through every layer type (eval mode, tiny models)", function()
    local cases = {
      { "hrnet", { width = 2, num_classes = 2, stem_channels = 4, stage1_blocks = 1, stage1_planes = 2,
                   modules = { 1, 1, 1 }, blocks = 1 } },
      { "tiramisu", { variant = 56, num_classes = 2, down_blocks = { 1, 1 }, bottleneck = 1, growth = 2,
                      first_conv = 3 } },
      { "deeplabv3plus", { num_classes = 2, encoder_width = 2, aspp_channels = 3, low_level_channels = 2,
                           decoder_channels = 3 } },
    }
    for _, c in ipairs(cases) do
      lunet.manual_seed(5)
      local model = models[c[1]](c[2])
      model:eval()
      local x = lunet.randn(1, 3, 9, 7):requires_grad(true)
      local ok, msg = lunet.gradcheck(function(t) return model(t) end, { x }, { eps = 1e-3, atol = 2e-3, rtol = 1e-2 })
      assert.is_true(ok, c[1] .. ": " .. tostring(msg))
    end
  end)
end)

describe("state-dict names", function()
  it("match spec/ref/model_names.lua (regenerate it only for an intended rename)", function()
    for _, c in ipairs(name_configs) do
      local expected = ref_names[c.key]
      assert.is_not_nil(expected, c.key)
      local list = sorted_names(models[c.model](c.opts))
      local set = {}
      for _, k in ipairs(list) do set[k] = true end
      for _, k in ipairs(expected.some) do
        assert.is_true(set[k] == true, c.key .. ": missing " .. k)
      end
      assert.are.equal(expected.count, #list, c.key)
      assert.are.equal(expected.digest, fnv1a(table.concat(list, "\n")), c.key .. " names changed")
    end
  end)

  it("follow the reference implementations (PyTorch names with 1-based indices)", function()
    local function has(model, names)
      local sd = model:state_dict()
      for _, k in ipairs(names) do assert.is_not_nil(sd[k], k) end
    end
    has(models.tiramisu { variant = 103, num_classes = 11, growth = 2, first_conv = 4 }, {
      "firstconv.weight", "denseBlocksDown.1.layers.1.norm.running_var",
      "denseBlocksDown.5.layers.12.conv.weight", "transDownBlocks.5.conv.bias",
      "bottleneck.bottleneck.layers.15.conv.weight", "transUpBlocks.1.convTrans.weight",
      "denseBlocksUp.5.layers.4.conv.bias", "finalConv.weight" })
    has(models.hrnet { width = 2, num_classes = 19 }, {
      "conv1.weight", "bn2.num_batches_tracked", "layer1.1.downsample.1.weight", "layer1.4.conv3.weight",
      "transition1.1.1.weight", "transition1.2.1.1.weight", "transition2.3.1.1.weight",
      "transition3.4.1.1.weight", "stage2.1.branches.2.4.bn2.bias",
      "stage3.4.fuse_layers.3.1.2.1.weight", "stage4.3.fuse_layers.1.4.2.running_mean",
      "last_layer.1.weight", "last_layer.1.bias", "last_layer.2.weight", "last_layer.4.bias" })
    has(models.deeplabv3plus { num_classes = 21, encoder_width = 2, aspp_channels = 4,
                               low_level_channels = 2, decoder_channels = 4 }, {
      "encoder.conv1.weight", "encoder.layer1.2.bn2.running_var", "encoder.layer4.1.downsample.1.weight",
      "aspp.convs.1.1.weight", "aspp.convs.2.1.depthwise.weight", "aspp.convs.4.1.pointwise.weight",
      "aspp.convs.5.conv.1.weight", "aspp.project.2.bias", "decoder.low.1.weight",
      "decoder.fuse.2.1.pointwise.weight", "classifier.bias" })
  end)

  it("round-trip through state_dict / load_state_dict", function()
    lunet.manual_seed(3)
    local a = models.hrnet { width = 2, small = true, num_classes = 2 }
    lunet.manual_seed(4)
    local b = models.hrnet { width = 2, small = true, num_classes = 2 }
    b:load_state_dict(a:state_dict())
    a:eval(); b:eval()
    local x = lunet.randn(1, 3, 9, 7)
    assert.is_true(lunet.allclose(lunet.no_grad(function() return a(x) end),
                                  lunet.no_grad(function() return b(x) end), 0, 0))
  end)
end)

describe("PyTorch twins (spec/ref/gen_models.py)", function()
  local torch_counts = dofile("spec/ref/models_torch.lua")

  it("count parameters as the PyTorch models do", function()
    local cases = {
      tiramisu56 = { "tiramisu", { variant = 56, num_classes = 11 } },
      tiramisu67 = { "tiramisu", { variant = 67, num_classes = 11 } },
      tiramisu103 = { "tiramisu", { variant = 103, num_classes = 11 } },
      hrnet_w18 = { "hrnet", { width = 18, num_classes = 19 } },
      hrnet_w16_small_v1 = { "hrnet", { width = 16, small = "v1", num_classes = 19 } },
      hrnet_w18_small_v2 = { "hrnet", { width = 18, small = "v2", num_classes = 19 } },
      deeplabv3plus_resnet34 = { "deeplabv3plus", { backbone = "resnet34", num_classes = 21 } },
    }
    for key, c in pairs(cases) do
      assert.are.equal(torch_counts[key], models[c[1]](c[2]):num_parameters(), key)
    end
  end)

  -- Tiny configurations, the same as gen_models.py's.
  local twins = {
    tiramisu = { "tiramisu", { variant = 56, num_classes = 3, down_blocks = { 2, 3 }, bottleneck = 2,
                               growth = 3, first_conv = 4 } },
    hrnet = { "hrnet", { width = 2, num_classes = 3, stem_channels = 4, stage1_blocks = 2, stage1_planes = 2,
                         modules = { 1, 2, 1 }, blocks = 2 } },
    hrnet_ac = { "hrnet", { width = 2, num_classes = 3, stem_channels = 4, stage1_blocks = 1, stage1_planes = 2,
                            modules = { 1, 1, 1 }, blocks = 1, align_corners = true } },
    deeplab = { "deeplabv3plus", { num_classes = 3, encoder_width = 2, aspp_channels = 4, low_level_channels = 3,
                                   decoder_channels = 4 } },
    deeplab_os8 = { "deeplabv3plus", { num_classes = 3, backbone = "resnet50", output_stride = 8, encoder_width = 2,
                                       aspp_channels = 4, low_level_channels = 3, decoder_channels = 4,
                                       separable = false } },
  }
  for _, key in ipairs { "tiramisu", "hrnet", "hrnet_ac", "deeplab", "deeplab_os8" } do
    it(key .. ": same state-dict names and order, same eval output from the same weights", function()
      local t, meta = lunet.load("spec/ref/models_" .. key .. ".safetensors")
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
      assert.is_true(lunet.allclose(out, y, 1e-3, 1e-4), key .. ": outputs differ")
    end)
  end
end)

describe("printing", function()
  it("tostring(model) is a readable tree with parameter counts", function()
    local s = tostring(models.tiramisu { variant = 56, num_classes = 11 })
    assert.is_truthy(s:find("FCDenseNet(variant=56, growth=12, in_channels=3, num_classes=11  -- 1,376,795 parameters", 1, true))
    assert.is_truthy(s:find("\n  (denseBlocksDown): ModuleList(", 1, true))
    assert.is_truthy(s:find("(norm): BatchNorm2d(48)", 1, true))
    s = tostring(models.hrnet { width = 18, small = true, num_classes = 19 })
    assert.is_truthy(s:find("HRNet(width=18, small=true, in_channels=3, num_classes=19", 1, true))
    assert.is_truthy(s:find("(stage4): Stage(", 1, true))
    assert.is_truthy(s:find("HighResolutionModule(4 branches", 1, true))
    s = tostring(models.deeplabv3plus { num_classes = 21 })
    assert.is_truthy(s:find("DeepLabV3Plus(backbone=resnet18, output_stride=16", 1, true))
    assert.is_truthy(s:find("(encoder): ResNet(depth=18, output_stride=16", 1, true))
    assert.is_truthy(s:find("ASPP(rates={6, 12, 18}", 1, true))
    assert.is_truthy(s:find("Conv2d(512, 512, kernel_size=3, padding=18, dilation=18, groups=512, bias=false)", 1, true))
  end)
end)

describe("options", function()
  it("follow the papers' knobs", function()
    local m = models.deeplabv3plus { num_classes = 2, output_stride = 8, encoder_width = 2, aspp_channels = 4 }
    assert.are.same({ 12, 24, 36 }, m.config.aspp_rates)
    assert.are.same({ 4, 4 }, m.encoder.layer4[1].conv1.dilation)
    assert.are.same({ 2, 2 }, m.encoder.layer3[1].conv1.dilation)
    assert.are.same({ 1, 1 }, m.encoder.layer3[1].conv1.stride)
    local t = models.tiramisu { variant = 67, num_classes = 2, dropout = 0 }
    assert.are.equal(16, t.config.growth)
    assert.are.equal(0, t.denseBlocksDown[1].layers[1].drop.p)
    local h = models.hrnet { width = 4, small = "v2", num_classes = 2 }
    assert.are.equal(2, #h.layer1)
    assert.are.equal(3, #h.stage3)
    assert.are.equal(2, #h.stage4)
  end)

  local cases = {
    { "tiramisu", { num_classes = 2, variant = 57 }, "Tiramisu: variant must be 56, 67 or 103, got 57" },
    { "tiramisu", { num_classes = 2, growth = 0 }, "Tiramisu: growth must be an integer >= 1, got 0" },
    { "tiramisu", { num_classes = 2, colour = 1 }, "Tiramisu: unknown option 'colour' (known options: bottleneck, down_blocks, dropout, first_conv, growth, in_channels, num_classes, up_blocks, variant)" },
    { "tiramisu", { variant = 56 }, "Tiramisu: num_classes must be an integer >= 1, got nil" },
    { "tiramisu", { num_classes = 2, down_blocks = { 2, 2 }, up_blocks = { 2 } },
      "Tiramisu: up_blocks has 1 entries, down_blocks 2" },
    { "tiramisu", { num_classes = 2, dropout = 1 }, "Tiramisu: dropout must be a number in [0, 1), got 1" },
    { "hrnet", { num_classes = 2, small = "v3" }, "HRNet: small must be false, true, 'v1' or 'v2', got 'v3'" },
    { "hrnet", { num_classes = 2, width = 0 }, "HRNet: width must be an integer >= 1, got 0" },
    { "hrnet", { num_classes = 2, final_kernel = 2 }, "HRNet: final_kernel must be 1 or 3, got 2" },
    { "hrnet", { num_classes = 2, modules = { 1, 1 } },
      "HRNet: modules must be a list of 3 module counts (stages 2, 3, 4)" },
    { "hrnet", { width = 18 }, "HRNet: num_classes must be an integer >= 1, got nil" },
    { "deeplabv3plus", { num_classes = 2, output_stride = 32 }, "DeepLabV3Plus: output_stride must be 8 or 16, got 32" },
    { "deeplabv3plus", { num_classes = 2, backbone = "vgg16" },
      "DeepLabV3Plus: backbone must be 'resnet18', 'resnet34' or 'resnet50', got 'vgg16'" },
    { "deeplabv3plus", { num_classes = 2, aspp_rates = {} },
      "DeepLabV3Plus: aspp_rates must be a list of 1 to 16 dilation rates, got a list of 0" },
    { "deeplabv3plus", { num_classes = 2, depth = 18 }, "DeepLabV3Plus: unknown option 'depth' (known options: align_corners, aspp_channels, aspp_dropout, aspp_rates, backbone, decoder_channels, encoder_width, in_channels, low_level_channels, num_classes, output_stride, separable)" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[3], function()
      local msg = errmsg(models[c[1]], c[2])
      assert.is_truthy(msg:find(c[3], 1, true), msg)
    end)
  end

  it("rejects inputs of the wrong rank or channel count", function()
    local cases = {
      { models.tiramisu { num_classes = 2, growth = 2, first_conv = 4, down_blocks = { 1 }, bottleneck = 1 },
        "Tiramisu: input has 1 channels, the model expects 3" },
      { models.hrnet { width = 2, small = true, num_classes = 2 }, "HRNet: input has 1 channels, the model expects 3" },
      { models.deeplabv3plus { num_classes = 2, encoder_width = 2, aspp_channels = 4 },
        "DeepLabV3Plus: input has 1 channels, the model expects 3" },
    }
    for _, c in ipairs(cases) do
      local msg = errmsg(c[1], lunet.randn(1, 1, 8, 8))
      assert.is_truthy(msg:find(c[2], 1, true), msg)
      msg = errmsg(c[1], lunet.randn(3, 8, 8))
      assert.is_truthy(msg:find("input must be a 4-d tensor (N, C, H, W)", 1, true), msg)
    end
  end)
end)

-- Absurd configurations are refused before anything is allocated: bounded depths and
-- repeats, and a parameter budget (models/common.lua, 1e9) computed by count_parameters,
-- which the spec checks against the built models.
describe("size limits", function()
  local common = require "lunet.models.common"

  it("count_parameters gives num_parameters without building", function()
    local configs = {
      { "unet", { in_channels = 1, num_classes = 2 } },
      { "unet", { in_channels = 3, num_classes = 3, base = 4, depth = 4, up = "bilinear", norm = "group", groups = 2 } },
      { "tiramisu", { variant = 67, num_classes = 11 } },
      { "tiramisu", { variant = 56, num_classes = 3, down_blocks = { 2, 3 }, up_blocks = { 1, 4 }, bottleneck = 2,
                      growth = 3, first_conv = 4 } },
      { "hrnet", { width = 32, num_classes = 19 } },
      { "hrnet", { width = 2, num_classes = 3, stem_channels = 4, stage1_blocks = 2, stage1_planes = 2,
                   modules = { 1, 2, 1 }, blocks = 2, final_kernel = 3 } },
      { "deeplabv3plus", { backbone = "resnet50", num_classes = 21 } },
      { "deeplabv3plus", { num_classes = 3, backbone = "resnet34", encoder_width = 2, aspp_channels = 4,
                           aspp_rates = { 1, 2 }, low_level_channels = 3, decoder_channels = 4, separable = false } },
    }
    for _, c in ipairs(configs) do
      local cls = models[c[1]]
      assert.are.equal(cls(c[2]):num_parameters(), cls.count_parameters(c[2]), c[1])
    end
    local resnet = require "lunet.models.resnet"
    assert.are.equal(resnet.ResNet { depth = 34, width = 8 }:num_parameters(), (resnet.count_resnet(34, 3, 8)))
  end)

  local cases = {
    { "unet", { in_channels = 1, num_classes = 2, depth = 40 }, "UNet: depth must be an integer in [2, 13], got 40" },
    { "unet", { in_channels = 1, num_classes = 2, depth = 9 },
      "UNet: base 64 with depth 9 gives 7,963,615,618 parameters (31.9 GB of float32 weights), more than the "
        .. "limit of 1,000,000,000" },
    { "unet", { in_channels = 1, num_classes = 2, base = 1e6 },
      "UNet: base 1000000 with depth 5 gives 7,574,000,118,000,002 parameters (30296000.5 GB of float32 weights), "
        .. "more than the limit of 1,000,000,000" },
    { "unet", { in_channels = 1, num_classes = 2, dropout = 1 }, "UNet: dropout must be a number in [0, 1), got 1" },
    { "unet", { in_channels = 1.5, num_classes = 2 }, "UNet: in_channels must be an integer >= 1, got 1.5" },
    { "tiramisu", { num_classes = 2, down_blocks = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 } },
      "Tiramisu: down_blocks must be a list of 1 to 12 layer counts, got a list of 13" },
    { "tiramisu", { num_classes = 2, bottleneck = 1e6 }, "Tiramisu: bottleneck must be an integer in [1, 256], got 1000000" },
    { "tiramisu", { num_classes = 2, growth = 4096 },
      "Tiramisu: growth 4096 with first_conv 48 and 5 down blocks gives 552,528,652,178 parameters "
        .. "(2210.1 GB of float32 weights), more than the limit of 1,000,000,000" },
    { "hrnet", { num_classes = 2, blocks = 1000 }, "HRNet: blocks must be an integer in [1, 64], got 1000" },
    { "hrnet", { num_classes = 2, modules = { 1, 1e9, 1 } }, "HRNet: modules[2] must be an integer in [1, 64], got 1000000000" },
    { "deeplabv3plus", { num_classes = 2, aspp_rates = { 6, 1e9 } },
      "DeepLabV3Plus: aspp_rates[2] must be an integer in [1, 4096], got 1000000000" },
    { "deeplabv3plus", { num_classes = 2, encoder_width = 2048 },
      "DeepLabV3Plus: resnet18 with encoder_width 2048, aspp_channels 256 and decoder_channels 256 gives "
        .. "11,447,885,330 parameters (45.8 GB of float32 weights), more than the limit of 1,000,000,000" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[3], function()
      assert.are.equal(c[3], (errmsg(models[c[1]], c[2]):gsub("^[^:\n]+:%d+: ", "")))
    end)
  end

  it("name the smallest input that trains with batch norm", function()
    local function msg(model, x) return (errmsg(model, x):gsub("^[^:\n]+:%d+: ", "")) end
    local t = models.tiramisu { num_classes = 2, growth = 2, first_conv = 4, down_blocks = { 1, 1 }, bottleneck = 1 }
    assert.are.equal("Tiramisu: input 4x3 is too small to train with a batch of 1: batch norm at the bottleneck "
      .. "(1/4 of the input, here 1x1) needs more than one value per channel, so H or W must be at least 5 (or use "
      .. "a batch of 2 or more, or model:eval())", msg(t, lunet.randn(1, 3, 4, 3)))
    assert.are.same({ 1, 2, 5, 3 }, t(lunet.randn(1, 3, 5, 3)):shape())
    assert.are.same({ 2, 2, 4, 3 }, t(lunet.randn(2, 3, 4, 3)):shape())
    t:eval()
    assert.are.same({ 1, 2, 4, 3 }, t(lunet.randn(1, 3, 4, 3)):shape())
    local h = models.hrnet { width = 2, small = true, num_classes = 2, stem_channels = 4, stage1_planes = 2 }
    assert.are.equal("HRNet: input 32x20 is too small to train with a batch of 1: batch norm at the "
      .. "lowest-resolution branch (1/32 of the input, here 1x1) needs more than one value per channel, so H or W "
      .. "must be at least 33 (or use a batch of 2 or more, or model:eval())", msg(h, lunet.randn(1, 3, 32, 20)))
    assert.are.same({ 1, 2, 33, 20 }, h(lunet.randn(1, 3, 33, 20)):shape())
    local d = models.deeplabv3plus { num_classes = 2, encoder_width = 2, aspp_channels = 4, low_level_channels = 2,
                                     decoder_channels = 4 }
    assert.are.equal("DeepLabV3Plus: training needs a batch of 2 or more images, got 1: batch norm in the ASPP "
      .. "image-pooling branch sees one value per channel per image (use model:eval() for single images)",
      msg(d, lunet.randn(1, 3, 16, 16)))
    local r = require("lunet.models.resnet").ResNet { width = 2 }
    assert.are.equal("ResNet: input 16x16 is too small to train with a batch of 1: batch norm at layer4 (1/32 of "
      .. "the input, here 1x1) needs more than one value per channel, so H or W must be at least 33 (or use a "
      .. "batch of 2 or more, or model:eval())", msg(r, lunet.randn(1, 3, 16, 16)))
    assert.are.equal(1000000000, common.MAX_PARAMETERS)
  end)
end)
