-- Deep supervision: models that return several outputs in training mode (a list with a
-- `main` field: models/shared.lua) train on the weighted sum of the loss over the outputs
-- (lunet.train.fit's deep_supervision option, default model.deep_supervision_weights, else 1
-- each), while validation metrics, the validation loss and predict use the main output.
local lunet = require "lunet"
local nn = require "lunet.nn"
local F = nn.functional
local optim = require "lunet.optim"
local data = require "lunet.data"
local train = require "lunet.train"
local predict = require "lunet.predict"

local function bce(logits, mask)
  return F.binary_cross_entropy_with_logits(logits, mask:unsqueeze(2):to("float32"))
end

-- Two 1x1 heads on the input: out1 = a * x, out2 = b * x (+ bias); main is out2. The
-- outputs are known in closed form, so the expected losses are computable.
local TwoHeads = nn.Module:extend("TwoHeads")
function TwoHeads:__init(opts)
  opts = opts or {}
  self.a = nn.Conv2d(1, 1, 1)
  self.b = nn.Conv2d(1, 1, 1)
  self.list_in_eval = opts.list_in_eval
  self.deep_supervision_weights = opts.weights
end
function TwoHeads:forward(x)
  local o = { self.a(x), self.b(x) }
  o.main = o[2]
  if self.training or self.list_in_eval then return o end
  return o.main
end

local function setup(opts)
  lunet.manual_seed(3)
  local g = lunet.Generator(2)
  local img = g:randn(8, 1, 6, 5)
  local mask = img:select(2, 1):gt(0.2):to("int32")
  local ds = data.TensorDataset { image = img, mask = mask }
  local model = TwoHeads(opts)
  return model, data.DataLoader(ds, { batch_size = 8 }), img, mask
end

-- One epoch at lr = 0 (weights unchanged): fit's train_loss is the loss of the untouched model.
local function fit_loss(model, loader, extra)
  local o = { model = model, loss = bce, optimizer = optim.SGD(model:parameters(), { lr = 0 }),
              train_loader = loader, epochs = 1, progress = false }
  for k, v in pairs(extra or {}) do o[k] = v end
  return train.fit(o)
end

describe("deep_supervision_loss", function()
  it("is the weighted sum of the loss over the outputs", function()
    local model, _, img, mask = setup()
    local outs = model(img)
    local l1, l2 = bce(outs[1], mask):item(), bce(outs[2], mask):item()
    assert.is_true(math.abs(train.deep_supervision_loss(bce, outs, mask):item() - (l1 + l2)) < 1e-6)
    assert.is_true(math.abs(train.deep_supervision_loss(bce, outs, mask, { 0.5, 2 }):item() - (0.5 * l1 + 2 * l2)) < 1e-6)
    assert.is_true(math.abs(train.deep_supervision_loss(bce, outs, mask, { 0, 1 }):item() - l2) < 1e-6)
    assert.is_true(math.abs(train.deep_supervision_loss(bce, outs[1], mask):item() - l1) < 1e-6)
  end)

  it("backpropagates into every head with its weight", function()
    local model, _, img, mask = setup()
    local outs = model(img)
    train.deep_supervision_loss(bce, outs, mask, { 0, 1 }):backward()
    assert.is_nil(model.a.weight.grad)          -- weight 0: the head is left out
    assert.is_not_nil(model.b.weight.grad)
    model:zero_grad()
    local g1 = (function()
      train.deep_supervision_loss(bce, model(img), mask, { 1, 1 }):backward()
      return model.a.weight.grad:item()
    end)()
    model:zero_grad()
    train.deep_supervision_loss(bce, model(img), mask, { 3, 1 }):backward()
    assert.is_true(math.abs(model.a.weight.grad:item() - 3 * g1) < 1e-5 * math.max(1, math.abs(g1)))
  end)
end)

describe("fit with a model of several outputs", function()
  it("sums the loss over the outputs by default (weights 1)", function()
    local model, loader, img, mask = setup()
    local outs = model(img)
    local want = bce(outs[1], mask):item() + bce(outs[2], mask):item()
    local h = fit_loss(model, loader)
    assert.is_true(math.abs(h[1].train_loss - want) < 1e-5, h[1].train_loss .. " vs " .. want)
  end)

  it("uses the model's deep_supervision_weights, and the option over them", function()
    local model, loader, img, mask = setup { weights = { 0.25, 4 } }
    local outs = model(img)
    local l1, l2 = bce(outs[1], mask):item(), bce(outs[2], mask):item()
    assert.is_true(math.abs(fit_loss(model, loader)[1].train_loss - (0.25 * l1 + 4 * l2)) < 1e-5)
    local h = fit_loss(model, loader, { deep_supervision = { weights = { 1, 0.4 } } })
    assert.is_true(math.abs(h[1].train_loss - (l1 + 0.4 * l2)) < 1e-5)
    h = fit_loss(model, loader, { deep_supervision = false })   -- the main output alone
    assert.is_true(math.abs(h[1].train_loss - l2) < 1e-5)
  end)

  it("validates on the main output (loss and metrics), also when the model returns a list in eval mode", function()
    local model, loader, img, mask = setup { list_in_eval = true }
    model:eval()
    local main = lunet.no_grad(function() return model(img).main end)
    local cm = lunet.metrics.ConfusionMatrix(2)
    cm:update(main:select(2, 1):gt(0):to("int32"), mask)
    local want_loss = bce(main, mask):item()
    local h = fit_loss(model, loader, { val_loader = loader, metrics = { "miou" }, num_classes = 2 })
    assert.is_true(math.abs(h[1].val_loss - want_loss) < 1e-5)
    assert.is_true(math.abs(h[1].miou - cm:miou()) < 1e-9)
    local ecm = train.evaluate(model, loader, { num_classes = 2 })
    assert.is_true(math.abs(ecm:miou() - cm:miou()) < 1e-9)
  end)

  it("trains U^2-Net (seven outputs) and UNet++ with deep supervision end to end", function()
    local cases = {
      lunet.models.u2net { variant = "small", mid_channels = 2, out_channels = 4 },
      lunet.models.unetpp { num_classes = 1, base = 2, deep_supervision = true },
    }
    for _, model in ipairs(cases) do
      lunet.manual_seed(4)
      local img = lunet.rand(4, 3, 32, 32)
      local mask = img:select(2, 1):gt(0.5):to("int32")
      local loader = data.DataLoader(data.TensorDataset { image = img, mask = mask }, { batch_size = 2 })
      local h = train.fit { model = model, loss = bce, optimizer = optim.Adam(model:parameters(), { lr = 1e-2 }),
                            train_loader = loader, val_loader = loader, epochs = 2, progress = false,
                            metrics = { "miou" }, num_classes = 2 }
      assert.are.equal(2, #h)
      assert.is_true(h[2].train_loss < h[1].train_loss, model.__name .. ": the loss did not go down")
      assert.is_true(h[2].miou == h[2].miou)
    end
  end)

  local errs = {
    { { deep_supervision = { weights = { 1, 1, 1 } } },
      "fit: deep_supervision.weights has 3 weights, the model returned 2 outputs" },
    { { deep_supervision = { weights = { 1, -1 } } }, "fit: deep_supervision.weights[2] must be a number >= 0, got -1" },
    { { deep_supervision = { weigths = { 1, 1 } } }, "fit: deep_supervision: unknown option 'weigths' (did you mean 'weights'?)" },
    { { deep_supervision = true }, "fit: deep_supervision must be {weights = {...}} or false, got true" },
    { { deep_supervision = { weights = { 0, 0 } } }, "fit: deep_supervision.weights are all 0" },
  }
  for i, c in ipairs(errs) do
    it("rejects bad deep_supervision options (" .. i .. ")", function()
      local model, loader = setup()
      local ok, err = pcall(fit_loss, model, loader, c[1])
      assert.is_false(ok)
      assert.are.equal(c[2], (tostring(err):gsub("^[^\n]-:%d+: ", "")))
    end)
  end
end)

describe("predict with a model of several outputs", function()
  it("uses the main output", function()
    local model, _, img = setup { list_in_eval = true }
    local y = predict.predict(model, img:select(1, 1))
    model:eval()
    local want = lunet.no_grad(function() return model(img:narrow(1, 1, 1)).main end)
    assert.is_true(lunet.allclose(y, want:select(1, 1), 1e-6, 1e-6))
    -- and the zoo's U^2-Net predicts its fused d0
    local u = lunet.models.u2net { variant = "small", mid_channels = 2, out_channels = 2 }
    local x = lunet.rand(3, 20, 24)
    local p = u:predict(x)
    assert.are.same({ 1, 20, 24 }, p:shape())
    u:eval()
    local d0 = lunet.no_grad(function() return u:forward_all(x:unsqueeze(1))[1] end)
    assert.is_true(lunet.allclose(p, d0:select(1, 1), 1e-5, 1e-5))
  end)
end)
