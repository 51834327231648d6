-- The second part of the model zoo (U^2-Net, SegNet, FCN, PSPNet, UNet++, Attention U-Net,
-- stacked hourglass): exact parameter counts of the published configurations (as the
-- reference PyTorch code counts them), state-dict names in the reference's order, outputs
-- equal to PyTorch twins on small configurations (spec/ref/gen_models_more.py), odd input
-- sizes, gradients, the several-outputs convention and option errors.
local lunet = require "lunet"
local models = lunet.models
local shared = require "lunet.models.shared"

local torch_counts = dofile("spec/ref/models_more_torch.lua")

local function fnv1a(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end

-- State-dict keys in order, PyTorch's 0-based numbering.
local function keys(model)
  local list = {}
  for k in pairs(model:state_dict { index_base = 0 }) do list[#list + 1] = k end
  return list
end

-- The published configurations: {key in models_more_torch.lua, model, options, parameters}.
local published = {
  { "u2net_full", "u2net", { variant = "full" }, 44009869 },
  { "u2net_small", "u2net", { variant = "small" }, 1131181 },
  { "segnet", "segnet", { in_channels = 3, num_classes = 11 }, 29449355 },
  { "fcn32s", "fcn", { variant = 32, num_classes = 21 }, 136152917 },
  { "fcn16s", "fcn", { variant = 16, num_classes = 21 }, 134815994 },
  { "fcn8s", "fcn", { variant = 8, num_classes = 21 }, 134489759 },
  { "pspnet", "pspnet", { num_classes = 21 }, 46716373 },
  { "pspnet_aux", "pspnet", { num_classes = 21, aux = true }, 49081578 },
  { "unetpp", "unetpp", { num_classes = 1 }, 9163329 },
  { "unetpp_ds", "unetpp", { num_classes = 1, deep_supervision = true }, 9163428 },
  { "attention_unet", "attention_unet", { in_channels = 3, num_classes = 1 }, 34878573 },
  { "hourglass1", "hourglass", { stacks = 1, num_classes = 16 }, 3586960 },
  { "hourglass2", "hourglass", { stacks = 2, num_classes = 16 }, 6730912 },
}

-- Options that shrink a model's widths without changing its structure (names and order).
local narrow = {
  u2net = function(o) if o.variant == "small" then return { mid_channels = 2, out_channels = 4 } end return { base = 1 } end,
  segnet = function() return { base = 2 } end,
  fcn = function() return { base = 2, fc_channels = 8 } end,
  pspnet = function() return { encoder_width = 2, head_channels = 8, aux_channels = 4 } end,
  unetpp = function() return { base = 2 } end,
  attention_unet = function() return { base = 2 } end,
  hourglass = function() return { features = 4 } end,
}

local function with(a, b)
  local o = {}
  for k, v in pairs(a) do o[k] = v end
  for k, v in pairs(b or {}) do o[k] = v end
  return o
end

describe("parameter counts of the published configurations", function()
  for _, c in ipairs(published) do
    local key, name, opts, n = c[1], c[2], c[3], c[4]
    it(key .. ": " .. n .. " parameters, as the PyTorch reference counts them", function()
      assert.are.equal(n, torch_counts[key])
      local cls = models[name]
      assert.are.equal(n, cls.count_parameters(opts))
      -- the count function agrees with the built model on a narrow configuration
      local small = with(opts, narrow[name](opts))
      assert.are.equal(cls.count_parameters(small), cls(small):num_parameters())
    end)
  end

  it("the built models have those counts (all but the 135M-parameter FCNs, counted above)", function()
    for _, c in ipairs(published) do
      if c[2] ~= "fcn" then
        local m = models[c[2]](c[3])
        assert.are.equal(c[4], m:num_parameters(), c[1])
        m = nil
        collectgarbage()
      end
    end
  end)

  it("count_parameters agrees with the built model on other configurations", function()
    local cases = {
      { "u2net", { variant = "full", base = 2, in_channels = 1, num_classes = 3 } },
      { "u2net", { variant = "small", mid_channels = 3, out_channels = 5, num_classes = 2 } },
      { "segnet", { base = 3, in_channels = 1, num_classes = 4 } },
      { "fcn", { variant = 16, base = 3, fc_channels = 5, in_channels = 1, num_classes = 4 } },
      { "pspnet", { backbone = "resnet18", encoder_width = 3, bins = { 1, 4 }, head_channels = 6, num_classes = 2,
                    aux = true, aux_channels = 5 } },
      { "pspnet", { backbone = "resnet34", encoder_width = 2, head_channels = 6, num_classes = 2 } },
      { "unetpp", { base = 3, in_channels = 1, num_classes = 3, deep_supervision = true } },
      { "attention_unet", { base = 6, in_channels = 1, num_classes = 3 } },
      { "hourglass", { features = 6, blocks = 2, stacks = 3, in_channels = 1, num_classes = 5, depth = 2 } },
    }
    for _, c in ipairs(cases) do
      local cls = models[c[1]]
      assert.are.equal(cls.count_parameters(c[2]), cls(c[2]):num_parameters(), c[1])
    end
  end)
end)

describe("state-dict names", function()
  it("are the reference code's, in its order (digest of the PyTorch keys of each published configuration)", function()
    for _, c in ipairs(published) do
      local key, name, opts = c[1], c[2], c[3]
      local m = models[name](with(opts, narrow[name](opts)))   -- same names at any width
      assert.are.equal(torch_counts.digests[key], fnv1a(table.concat(keys(m), ",")), key .. " names differ")
    end
  end)

  it("include the reference's landmarks", function()
    local function has(model, names)
      local sd = model:state_dict { index_base = 0 }
      for _, k in ipairs(names) do assert.is_not_nil(sd[k], k) end
    end
    has(models.u2net { variant = "small", mid_channels = 2, out_channels = 4 }, {
      "stage1.rebnconvin.conv_s1.weight", "stage1.rebnconv7.bn_s1.running_var", "stage5.rebnconv4.conv_s1.bias",
      "stage1d.rebnconv1d.bn_s1.weight", "side6.weight", "outconv.bias" })
    has(models.segnet { num_classes = 11, base = 2 }, { "conv11.weight", "bn53.running_mean", "conv53d.weight",
      "bn12d.bias", "conv11d.bias" })
    has(models.fcn { variant = 8, num_classes = 21, base = 2, fc_channels = 8 }, { "conv1_1.weight", "conv5_3.bias",
      "fc6.weight", "fc7.bias", "score_fr.weight", "score_pool3.bias", "upscore2.weight", "upscore8.weight",
      "upscore_pool4.weight" })
    has(models.pspnet { num_classes = 21, encoder_width = 2, aux = true }, { "layer0.0.weight", "layer0.1.running_mean",
      "layer0.3.weight", "layer0.7.bias", "layer1.0.downsample.0.weight", "layer4.2.conv3.weight",
      "ppm.features.3.1.weight", "ppm.features.0.2.bias", "cls.0.weight", "cls.4.bias", "aux.4.weight" })
    has(models.unetpp { num_classes = 1, base = 2, deep_supervision = true }, { "conv0_0.conv1.weight",
      "conv4_0.bn2.running_var", "conv0_4.conv2.bias", "final1.weight", "final4.bias" })
    has(models.attention_unet { num_classes = 1, base = 2 }, { "Conv1.conv.0.weight", "Conv5.conv.4.running_var",
      "Up5.up.1.weight", "Up5.up.2.bias", "Att5.W_g.0.weight", "Att2.psi.1.running_mean", "Up_conv2.conv.3.weight",
      "Conv_1x1.bias" })
    has(models.hourglass { num_classes = 16, features = 4 }, { "conv1.weight", "layer1.0.downsample.0.weight",
      "hg.0.hg.0.3.0.bn1.weight", "hg.1.hg.3.2.0.conv3.bias", "res.1.0.conv2.weight", "fc.0.0.weight",
      "fc.1.1.running_var", "score.1.bias", "fc_.0.weight", "score_.0.bias" })
  end)
end)

describe("PyTorch twins (spec/ref/gen_models_more.py)", function()
  -- The small configurations of gen_models_more.py's small().
  local twins = {
    { "u2net_small", "u2net", { variant = "small", mid_channels = 2, out_channels = 4, num_classes = 2 } },
    { "segnet", "segnet", { num_classes = 3, base = 2 } },
    { "fcn32s", "fcn", { variant = 32, num_classes = 3, base = 2, fc_channels = 8 } },
    { "fcn16s", "fcn", { variant = 16, num_classes = 3, base = 2, fc_channels = 8 } },
    { "fcn8s", "fcn", { variant = 8, num_classes = 3, base = 2, fc_channels = 8 } },
    { "pspnet", "pspnet", { num_classes = 3, encoder_width = 2, head_channels = 8, aux = true, aux_channels = 4 } },
    { "unetpp", "unetpp", { num_classes = 2, base = 2, deep_supervision = true } },
    { "attention_unet", "attention_unet", { num_classes = 2, base = 2 } },
    { "hourglass", "hourglass", { stacks = 2, num_classes = 3, features = 4 } },
  }
  for _, c in ipairs(twins) do
    local key, name, opts = c[1], c[2], c[3]
    it(key .. ": same names and order, and every output equal within 1e-4 (relative) from the same weights", function()
      local t, meta = lunet.load("spec/ref/more_" .. key .. ".safetensors")
      local model = models[name](opts)
      local got = table.concat(keys(model), ",")
      assert.is_true(meta.keys == got, key .. ": state-dict keys or their order differ from PyTorch's")
      local x = t["test.input"]
      local ys = {}
      for i = 1, 16 do
        ys[i] = t["test.output." .. i]
        t["test.output." .. i] = nil
      end
      t["test.input"] = nil
      model:load_state_dict(t, { index_base = 0 })
      model:eval()
      local outs = lunet.no_grad(function()
        if model.forward_all then return model:forward_all(x) end
        return { model(x) }
      end)
      assert.are.equal(#ys, #outs)
      for i, y in ipairs(ys) do
        assert.are.same(y:shape(), outs[i]:shape())
        local scale = y:abs():max():item()
        local diff = (outs[i] - y):abs():max():item()
        assert.is_true(diff <= 1e-4 * scale, ("%s output %d: max |diff| %g, max |y| %g"):format(key, i, diff, scale))
      end
      -- eval-mode forward is the main output
      local main = lunet.no_grad(function() return model(x) end)
      assert.is_true(lunet.is_tensor(main))
      assert.is_true(lunet.allclose(main, shared.main_output(outs), 0, 0))
    end)
  end
end)

-- Small widths, odd sizes: logits at the input size (the hourglass: 1/4, or the input size with
-- upsample = true) and a gradient for every parameter.
local odd = {
  { "u2net", { variant = "full", base = 1 }, 1 },
  { "u2net", { variant = "small", mid_channels = 2, out_channels = 3, num_classes = 2 }, 2 },
  { "segnet", { num_classes = 3, base = 2 }, 3 },
  { "fcn", { variant = 32, num_classes = 3, base = 2, fc_channels = 4 }, 3 },
  { "fcn", { variant = 16, num_classes = 3, base = 2, fc_channels = 4 }, 3 },
  { "fcn", { variant = 8, num_classes = 3, base = 2, fc_channels = 4 }, 3 },
  { "pspnet", { num_classes = 3, encoder_width = 2, head_channels = 4, aux = true, aux_channels = 4 }, 3 },
  { "pspnet", { num_classes = 3, backbone = "resnet18", output_stride = 16, encoder_width = 2, head_channels = 4,
                bins = { 1, 3 } }, 3 },
  { "unetpp", { num_classes = 2, base = 2, deep_supervision = true }, 2 },
  { "unetpp", { num_classes = 3, base = 2 }, 3 },
  { "attention_unet", { num_classes = 2, base = 2 }, 2 },
  { "hourglass", { num_classes = 3, features = 4, upsample = true }, 3 },
}

describe("forward and backward at odd input sizes", function()
  for _, c in ipairs(odd) do
    local name, opts, C = c[1], c[2], c[3]
    it(name .. " " .. (opts.variant and tostring(opts.variant) or "") .. " gives N x C x H x W and every gradient", function()
      lunet.manual_seed(1)
      local model = models[name](opts)
      local x = lunet.randn(2, 3, 37, 29)
      local out = model(x)
      local list = lunet.is_tensor(out) and { out } or out
      local loss
      for _, y in ipairs(list) do
        assert.are.same({ 2, C, 37, 29 }, y:shape())
        local l = (y * y):mean()
        loss = loss and loss + l or l
      end
      loss:backward()
      for pname, p in model:named_parameters() do
        assert.is_not_nil(p.grad, pname .. " got no gradient")
      end
      model:eval()
      for _, s in ipairs { { 1, 1 }, { 16, 21 }, { 5, 40 } } do
        local y = lunet.no_grad(function() return model(lunet.randn(1, 3, s[1], s[2])) end)
        assert.are.same({ 1, C, s[1], s[2] }, y:shape(), name .. " at " .. s[1] .. "x" .. s[2])
      end
    end)
  end

  it("the hourglass gives 1/4-resolution heatmaps by default (ceil(H / 4) x ceil(W / 4))", function()
    local model = models.hourglass { num_classes = 5, features = 4 }
    model:eval()
    for _, s in ipairs { { 64, 64, 16, 16 }, { 37, 29, 10, 8 }, { 1, 1, 1, 1 } } do
      local y = lunet.no_grad(function() return model(lunet.randn(1, 3, s[1], s[2])) end)
      assert.are.same({ 1, 5, s[3], s[4] }, y:shape())
    end
  end)
end)

describe("gradients", function()
  it("match finite differences w.r.t. the input (eval mode, tiny configurations)", function()
    local cases = {
      { "u2net", { variant = "small", mid_channels = 1, out_channels = 2 }, 9, 7 },
      { "segnet", { num_classes = 2, base = 1 }, 9, 7 },
      { "fcn", { variant = 8, num_classes = 2, base = 1, fc_channels = 2 }, 5, 4 },
      { "pspnet", { num_classes = 2, backbone = "resnet18", encoder_width = 1, head_channels = 2, bins = { 1, 2 } }, 9, 7 },
      { "unetpp", { num_classes = 2, base = 1, deep_supervision = true }, 9, 7 },
      { "attention_unet", { num_classes = 2, base = 2 }, 9, 7 },
      { "hourglass", { num_classes = 2, features = 2, depth = 1, upsample = true }, 9, 7 },
    }
    for _, c in ipairs(cases) do
      lunet.manual_seed(5)
      local model = models[c[1]](c[2])
      model:eval()
      local x = lunet.randn(1, 3, c[3], c[4]):requires_grad(true)
      local ok, msg = lunet.gradcheck(function(t) return model(t) end, { x }, { eps = 1e-3, atol = 2e-3, rtol = 1e-2 })
      assert.is_true(ok, c[1] .. ": " .. tostring(msg))
    end
  end)

  it("match finite differences through every side output of a deeply supervised model", function()
    lunet.manual_seed(6)
    local model = models.unetpp { num_classes = 1, base = 1, deep_supervision = true }
    model:eval()
    local x = lunet.randn(1, 3, 8, 9):requires_grad(true)
    local ok, msg = lunet.gradcheck(function(t)
      local o = model:forward_all(t)
      return lunet.cat({ o[1], o[2], o[3], o[4] }, 2)
    end, { x }, { eps = 1e-3, atol = 2e-3, rtol = 1e-2 })
    assert.is_true(ok, tostring(msg))
  end)
end)

describe("several outputs (models/shared.lua)", function()
  local cases = {
    { "u2net", { variant = "small", mid_channels = 2, out_channels = 2 }, 7, 1 },
    { "unetpp", { num_classes = 1, base = 2, deep_supervision = true }, 4, 4 },
    { "hourglass", { num_classes = 2, features = 4, stacks = 3 }, 3, 3 },
    { "pspnet", { num_classes = 2, encoder_width = 2, head_channels = 4, aux = true, aux_channels = 2 }, 2, 1 },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. ": a list with .main in training, the main output alone in eval", function()
      lunet.manual_seed(2)
      local model = models[c[1]](c[2])
      local x = lunet.randn(2, 3, 32, 32)
      local out = model(x)
      assert.is_false(lunet.is_tensor(out))
      assert.are.equal(c[3], #out)
      assert.are.equal(out[c[4]], out.main)
      model:eval()
      local y = lunet.no_grad(function() return model(x) end)
      assert.is_true(lunet.is_tensor(y))
      local all = lunet.no_grad(function() return model:forward_all(x) end)
      assert.are.equal(c[3], #all)
      assert.is_true(lunet.allclose(all.main, y, 0, 0))
    end)
  end

  it("single-output settings return one tensor in training too", function()
    lunet.manual_seed(2)
    local x = lunet.randn(2, 3, 32, 32)
    assert.is_true(lunet.is_tensor(models.u2net { variant = "small", mid_channels = 2, out_channels = 2,
                                                   side_outputs = false }(x)))
    assert.is_true(lunet.is_tensor(models.unetpp { num_classes = 1, base = 2 }(x)))
    assert.is_true(lunet.is_tensor(models.hourglass { num_classes = 2, features = 4, stacks = 1 }(x)))
    assert.is_true(lunet.is_tensor(models.pspnet { num_classes = 2, encoder_width = 2, head_channels = 4 }(x)))
  end)
end)

describe("checkpoints with the model's name (lunet.predict)", function()
  it("save_model / load_model rebuild each model from its lunet.models name and options", function()
    local predict = require "lunet.predict"
    local cases = {
      { "u2net", { variant = "small", mid_channels = 2, out_channels = 2 } },
      { "unetpp", { num_classes = 2, base = 2, deep_supervision = true } },
      { "attention_unet", { num_classes = 2, base = 2 } },
      { "hourglass", { num_classes = 2, features = 4, upsample = true } },
      { "segnet", { num_classes = 2, base = 1 } },
      { "pspnet", { num_classes = 2, encoder_width = 1, head_channels = 2, aux = true, aux_channels = 2 } },
      { "fcn", { variant = 16, num_classes = 2, base = 1, fc_channels = 2 } },
    }
    local path = os.tmpname()
    for _, c in ipairs(cases) do
      lunet.manual_seed(9)
      local m = models[c[1]](c[2])
      predict.save_model(path, m)
      local m2 = predict.load_model(path)
      assert.are.equal(getmetatable(m).__class, getmetatable(m2).__class, c[1])
      m:eval()
      local x = lunet.randn(1, 3, 20, 20)
      assert.is_true(lunet.allclose(lunet.no_grad(function() return m(x) end),
                                    lunet.no_grad(function() return m2(x) end), 0, 0), c[1])
    end
    os.remove(path)
  end)
end)

describe("FCN initialisation", function()
  it("starts the score layers at zero and the upsampling at bilinear kernels", function()
    local m = models.fcn { variant = 8, num_classes = 2, base = 1, fc_channels = 2 }
    assert.are.equal(0, m.score_fr.weight:abs():max():item())
    assert.are.equal(0, m.score_pool3.weight:abs():max():item())
    local w = m.upscore2.weight            -- 2 x 2 x 4 x 4: bilinear on the diagonal, zero elsewhere
    assert.are.same({ 0.0625, 0.1875, 0.1875, 0.0625 }, w:select(1, 1):select(1, 1):select(1, 1):totable())
    assert.are.equal(0, w:select(1, 1):select(1, 2):abs():max():item())
  end)
end)

describe("option and input errors", function()
  local function msg(f)
    local ok, err = pcall(f)
    assert.is_false(ok)
    err = tostring(err)
    assert.is_truthy(err:find("zoo_more_spec.lua:", 1, true), "raised inside lunet: " .. err)
    return (err:gsub("^[^\n]-:%d+: ", ""))
  end
  local cases = {
    { function() models.u2net { variant = "medium" } end,
      "U2Net: variant must be 'full' or 'small', got 'medium'" },
    { function() models.u2net { varient = "small" } end, "U2Net: unknown option 'varient' (did you mean 'variant'?)" },
    { function() models.u2net { variant = "full", mid_channels = 4 } end,
      "U2Net: mid_channels and out_channels are options of variant \"small\"; the full variant's widths are "
      .. "multiples of base (got variant \"full\")" },
    { function() models.u2net { side_outputs = 1 } end, "U2Net: side_outputs must be a boolean, got 1" },
    { function() models.segnet {} end, "SegNet: num_classes must be an integer >= 1, got nil" },
    { function() models.segnet { num_classes = 0 } end, "SegNet: num_classes must be an integer >= 1, got 0" },
    { function() models.fcn { variant = 4, num_classes = 2 } end, "FCN: variant must be 8, 16 or 32, got 4" },
    { function() models.fcn { num_classes = 2, dropout = 1 } end, "FCN: dropout must be a number in [0, 1), got 1" },
    { function() models.pspnet { num_classes = 2, bins = {} } end,
      "PSPNet: bins must be a list of 1 to 16 bin sizes, got a list of 0" },
    { function() models.pspnet { num_classes = 2, output_stride = 32 } end,
      "PSPNet: output_stride must be 8 or 16, got 32" },
    { function() models.unetpp { num_classes = 2, deep_supervision = "yes" } end,
      "NestedUNet: deep_supervision must be a boolean, got 'yes'" },
    { function() models.attention_unet { num_classes = 2, base = 1 } end,
      "AttU_Net: base must be an integer >= 2, got 1" },
    { function() models.attention_unet { num_classes = 2, bsae = 2 } end,
      "AttU_Net: unknown option 'bsae' (did you mean 'base'?)" },
    { function() models.hourglass { num_classes = 2, features = 5 } end,
      "HourglassNet: features must be even (the stem has features / 2 channels), got 5" },
    { function() models.hourglass { num_classes = 2, depth = 11 } end, "HourglassNet: depth must be an integer in [1, 10], got 11" },
    { function() models.segnet { num_classes = 2, base = 100000 } end,
      "SegNet: base 100000 gives 71,820,041,700,002 parameters (287280.2 GB of float32 weights), more than the "
      .. "limit of 1,000,000,000" },
    { function() models.segnet { num_classes = 2, base = 1 }(lunet.randn(1, 4, 8, 8)) end,
      "SegNet: input has 4 channels, the model expects 3 (input [1, 4, 8, 8])" },
    { function() models.unetpp { num_classes = 2, base = 1 }(lunet.randn(3, 8, 8)) end,
      "NestedUNet: input must be a 4-d tensor (N, C, H, W), got [3, 8, 8]" },
    { function() models.u2net { variant = "small", mid_channels = 1, out_channels = 1 }(lunet.zeros(1, 3, 8, 8, { dtype = "uint8" })) end,
      "U2Net: input must be float32, got uint8 (divide uint8 images by 255, or use :to(\"float32\"))" },
    { function() models.pspnet { num_classes = 2, encoder_width = 1, head_channels = 2 }(lunet.randn(1, 3, 16, 16)) end,
      "PSPNet: training needs a batch of 2 or more images, got 1: batch norm in the pyramid pooling's 1x1 bin sees "
      .. "one value per channel per image (use model:eval() for single images)" },
    { function() models.u2net { variant = "small", mid_channels = 1, out_channels = 1 }(lunet.randn(1, 3, 20, 30)) end,
      "U2Net: input 20x30 is too small to train with a batch of 1: batch norm at stage6 (1/32 of the input, here "
      .. "1x1) needs more than one value per channel, so H or W must be at least 33 (or use a batch of 2 or more, "
      .. "or model:eval())" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2]:sub(1, 60), function()
      assert.are.equal(c[2], msg(c[1]))
    end)
  end
end)
