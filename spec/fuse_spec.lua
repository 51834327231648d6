-- model:fuse(): BatchNorm2d folded into the preceding Conv2d for inference (traced pairs).
local lunet = require "lunet"
local nn = require "lunet.nn"
local models = lunet.models

-- Random, non-trivial BatchNorm statistics and affine parameters everywhere.
local function randomize_bn(model, seed)
  local g = lunet.Generator(seed)
  lunet.no_grad(function()
    for _, m in model:named_modules() do
      if m:is_instance_of(nn.BatchNorm2d) then
        local c = m.num_features
        m.running_mean:copy_(g:randn({ c }) * 0.5)
        m.running_var:copy_(g:rand({ c }) * 2 + 0.25)
        if m.weight ~= nil then
          m.weight:copy_(g:rand({ c }) + 0.5)
          m.bias:copy_(g:randn({ c }) * 0.3)
        end
      end
    end
  end)
  return model
end

local function count(model, cls)
  local n = 0
  for _, m in model:named_modules() do if m:is_instance_of(cls) then n = n + 1 end end
  return n
end

local function rel_err(a, b)
  return (a - b):abs():max():item() / b:abs():max():item()
end

describe("fuse", function()
  local cases = {
    { "U-Net (batch norm)", function() return models.unet { in_channels = 3, num_classes = 2, base = 8, depth = 3, norm = "batch" } end, 3, 48 },
    { "Tiramisu", function() return models.tiramisu { num_classes = 3, growth = 4, first_conv = 8, down_blocks = { 2, 2 }, up_blocks = { 2, 2 }, bottleneck = 2 } end, 3, 32 },
    { "HRNet small", function() return models.hrnet { width = 4, small = true, num_classes = 2 } end, 3, 64 },
    { "DeepLabv3+ resnet18", function() return models.deeplabv3plus { backbone = "resnet18", num_classes = 3, encoder_width = 4, aspp_channels = 8 } end, 3, 64 },
  }
  for _, c in ipairs(cases) do
    it("matches the unfused model within 1e-5 on " .. c[1], function()
      lunet.manual_seed(1)
      local model = randomize_bn(c[2](), 7):eval()
      local x = lunet.Generator(3):randn({ 2, c[3], c[4], c[4] + 8 })
      local y0 = lunet.no_grad(function() return model(x) end)
      local nbn = count(model, nn.BatchNorm2d)
      assert.are.equal(model, model:fuse())
      local y1 = lunet.no_grad(function() return model(x) end)
      assert.is_true(rel_err(y1, y0) <= 1e-5, c[1] .. ": relative error " .. rel_err(y1, y0))
      local nf = #model.fused_pairs
      if c[1] ~= "Tiramisu" then  -- Tiramisu is pre-activation (BN before conv): nothing to fold
        assert.is_true(nf > 0, c[1] .. ": no pair fused")
      end
      assert.are.equal(nbn - nf, count(model, nn.BatchNorm2d))
      for _, p in ipairs(model.fused_pairs) do
        local conv, id = model, model
        for part in p[1]:gmatch("[^.]+") do conv = conv[math.tointeger(tonumber(part)) or part] end
        for part in p[2]:gmatch("[^.]+") do id = id[math.tointeger(tonumber(part)) or part] end
        assert.are.equal("Conv2d", conv.__name)
        assert.are.equal("Identity", id.__name)
      end
      -- predict works on the fused model and gives the same labels
      local l0 = y0:select(1, 1):argmax(1)
      local l1 = model:predict(x:select(1, 1)):argmax(1)
      assert.is_true(lunet.allclose(l0:to("float32"), l1:to("float32")))
    end)
  end

  it("folds conv + bn in a Sequential, with and without conv bias, and keeps ReLU", function()
    lunet.manual_seed(2)
    local m = nn.Sequential(nn.Conv2d(3, 4, 3, { padding = 1, bias = false }), nn.BatchNorm2d(4), nn.ReLU(),
      nn.Conv2d(4, 5, 1), nn.BatchNorm2d(5, { affine = false }))
    randomize_bn(m, 1):eval()
    local x = lunet.randn(2, 3, 9, 7)
    local y0 = lunet.no_grad(function() return m(x) end)
    m:fuse()
    assert.are.same({ { "1", "2" }, { "4", "5" } }, m.fused_pairs)
    assert.are.equal("Identity", m[2].__name)
    assert.are.equal("ReLU", m[3].__name)
    assert.are.equal("Identity", m[5].__name)
    assert.is_not_nil(m[1].bias)
    local y1 = lunet.no_grad(function() return m(x) end)
    assert.is_true(rel_err(y1, y0) <= 1e-5)
    local sd = m:state_dict()
    assert.is_nil(sd["2.running_mean"])
    assert.is_not_nil(sd["1.bias"])
  end)

  it("refuses pairs whose conv output is also used elsewhere", function()
    lunet.manual_seed(3)
    local Net = nn.Module:extend("SkipNet")
    function Net:__init()
      self.conv = nn.Conv2d(2, 3, 3, { padding = 1 })
      self.bn = nn.BatchNorm2d(3)
      self.conv2 = nn.Conv2d(2, 3, 1)
      self.bn2 = nn.BatchNorm2d(3)
      self.other = nn.BatchNorm2d(3)
    end
    function Net:forward(x)
      local a = self.conv(x)
      local b = self.conv2(x)
      return self.bn(a) + a + self.bn2(b)      -- a is read twice: conv/bn must not fold
    end
    local m = randomize_bn(Net(), 5):eval()
    local x = lunet.randn(1, 2, 8, 8)
    local y0 = lunet.no_grad(function() return m(x) end)
    m:fuse()
    assert.are.same({ { "conv2", "bn2" } }, m.fused_pairs)
    assert.are.equal("BatchNorm2d", m.bn.__name)
    assert.are.equal("Identity", m.bn2.__name)
    assert.is_true(rel_err(lunet.no_grad(function() return m(x) end), y0) <= 1e-5)
  end)

  it("refuses a BN fed by a view of the conv output, a shared conv, and a BN in training mode", function()
    local Net = nn.Module:extend("ViewNet")
    function Net:__init()
      self.conv = nn.Conv2d(2, 3, 1)
      self.bn = nn.BatchNorm2d(3)
      self.shared = nn.Conv2d(3, 3, 1)
      self.bn2 = nn.BatchNorm2d(3)
    end
    function Net:forward(x)
      local a = self.bn(self.conv(x):narrow(3, 1, 4))
      return self.bn2(self.shared(self.shared(a)))
    end
    local m = randomize_bn(Net(), 6):eval()
    m:fuse()
    assert.are.same({}, m.fused_pairs)
    assert.are.equal("BatchNorm2d", m.bn.__name)

    local s = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    assert.has_error(function() s:fuse() end,
      "fuse: the model must be in eval mode (call model:eval() first); module '(root)' (Sequential) is in training mode")
    s:eval(); s[2]:train()
    assert.has_error(function() s:fuse() end,
      "fuse: the model must be in eval mode (call model:eval() first); module '2' (BatchNorm2d) is in training mode")
  end)

  it("raises on train() after fuse, and on bad options", function()
    local s = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)):eval():fuse()
    assert.has_error(function() s:train() end,
      "train: this model was fused for inference (model:fuse() folded BatchNorm2d into its convolutions); "
      .. "it cannot train: train an unfused copy (build the model again and load its unfused state dict)")
    assert.has_error(function() s[1]:train() end,
      "train: this model was fused for inference (model:fuse() folded BatchNorm2d into this Conv2d); "
      .. "it cannot train: train an unfused copy (build the model again and load its unfused state dict)")
    s:eval()   -- eval stays allowed
    local t = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)):eval()
    assert.has_error(function() t:fuse{ input_shap = { 1, 1, 4, 4 } } end,
      "fuse: unknown option 'input_shap' (did you mean 'input_shape'?)")
    assert.has_error(function() t:fuse{ input_shape = { 1, 1, 4 } } end,
      "fuse: input_shape must be {N, C, H, W}, got {1, 1, 4}")
    assert.has_error(function() t:fuse{ input = 3 } end, "fuse: input must be a tensor, got number")
  end)
end)
