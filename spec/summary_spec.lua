-- lunet.summary: per-layer rows (name, type, output shape, parameters, multiply-adds), totals
-- (parameters equal to num_parameters, mult-adds by torchinfo's formulas) and the activation
-- memory of a forward pass; no side effects on the model.
local lunet = require "lunet"
local nn = require "lunet.nn"

local function sink()
  local s = { parts = {} }
  function s:write(...)
    for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring((select(i, ...))) end
    return self
  end
  return s
end

-- conv 3 -> 8 (3x3, pad 1), ReLU, conv 8 -> 4 (1x1, stride 2), transposed conv 4 -> 2 (2x2, stride 2)
local function small()
  lunet.manual_seed(1)
  return nn.Sequential(nn.Conv2d(3, 8, 3, { padding = 1 }), nn.ReLU(), nn.Conv2d(8, 4, 1, { stride = 2 }),
                       nn.ConvTranspose2d(4, 2, 2, { stride = 2 }))
end

describe("summary", function()
  it("is lunet.summary, callable, and require 'lunet.summary'.summary", function()
    local s = require "lunet.summary"
    assert.are.equal(s, lunet.summary)
    local m = small()
    local a = lunet.summary(m, { 1, 3, 4, 4 })
    local b = s.summary(m, { 1, 3, 4, 4 })
    assert.are.equal(a, b)
  end)

  it("counts convolution multiply-adds as (weight + bias) x N x H_out x W_out (transposed: x H_in x W_in)", function()
    local m = small()
    local text, rows, totals = lunet.summary(m, { 2, 3, 10, 10 })
    assert.are.equal(5, #rows)
    local want = {
      { "", "Sequential", { 2, 2, 10, 10 }, 0, 0 },
      { "1", "Conv2d", { 2, 8, 10, 10 }, 224, 224 * 2 * 10 * 10 },
      { "2", "ReLU", { 2, 8, 10, 10 }, 0, 0 },
      { "3", "Conv2d", { 2, 4, 5, 5 }, 36, 36 * 2 * 5 * 5 },
      { "4", "ConvTranspose2d", { 2, 2, 10, 10 }, 34, 34 * 2 * 5 * 5 },
    }
    for i, w in ipairs(want) do
      local r = rows[i]
      assert.are.equal(w[1], r.name)
      assert.are.equal(w[2], r.type)
      assert.are.same(w[3], r.output_shape)
      assert.are.equal(w[4], r.params)
      assert.are.equal(w[5], r.flops, r.name)
    end
    assert.are.equal(44800 + 1800 + 1700, totals.flops)
    assert.are.equal(m:num_parameters(), totals.params)
    -- leaf outputs: 1600 + 1600 + 200 + 400 floats
    assert.are.equal((1600 + 1600 + 200 + 400) * 4, totals.activation_bytes)
    assert.are.equal(600 * 4, totals.input_bytes)
    assert.are.equal(294 * 4, totals.param_bytes)
    assert.is_truthy(text:find("Total params: 294\n", 1, true))
    assert.is_truthy(text:find("Total mult-adds: 48,300 (0.00 G)", 1, true))
    assert.is_truthy(text:find("1: Conv2d%s+%[2, 8, 10, 10%]%s+224%s+44,800"))
  end)

  it("counts Linear as (weight + bias) x rows and batch norm as N x its parameters", function()
    local m = nn.Sequential(nn.Linear(10, 3))
    local _, rows = lunet.summary(m, { 6, 10 })
    assert.are.equal(33 * 6, rows[2].flops)
    local bn = nn.Sequential(nn.BatchNorm2d(5))
    _, rows = lunet.summary(bn, { 4, 5, 3, 3 })
    assert.are.equal(4 * 10, rows[2].flops)
  end)

  it("totals the parameters of the zoo's models as num_parameters", function()
    local cases = {
      lunet.models.unet { in_channels = 3, num_classes = 2, base = 4, depth = 3, norm = "batch" },
      lunet.models.u2net { variant = "small", mid_channels = 2, out_channels = 4 },
      lunet.models.unetpp { num_classes = 1, base = 2, deep_supervision = true },
      lunet.models.hourglass { num_classes = 3, features = 4 },
      lunet.models.deeplabv3plus { num_classes = 3, encoder_width = 2, aspp_channels = 4, low_level_channels = 2,
                                   decoder_channels = 4 },
    }
    for _, m in ipairs(cases) do
      local _, rows, totals = lunet.summary(m, { 1, 3, 64, 64 })
      assert.are.equal(m:num_parameters(), totals.params)
      -- every module runs in these models, so the rows' own parameters add up to the total
      local s = 0
      for _, r in ipairs(rows) do s = s + r.params end
      assert.are.equal(m:num_parameters(), s)
      assert.is_true(totals.flops > 0)
    end
  end)

  it("hides rows deeper than depth, prints when asked, and leaves the model as it was", function()
    local m = lunet.models.unet { in_channels = 3, num_classes = 2, base = 4, depth = 3, norm = "batch" }
    m:train()
    local before = m.down[1][2].running_mean:clone()
    local out = sink()
    local text, rows = lunet.summary(m, { 2, 3, 16, 16 }, { depth = 2, output = out })
    assert.are.equal(text .. "\n", table.concat(out.parts))
    assert.is_falsy(text:find("down.1.1: Conv2d", 1, true))
    assert.is_truthy(text:find("head: Conv2d", 1, true))
    -- a row whose children are hidden shows their parameters: down.1 is conv + BN + conv + BN
    local n1 = m.down[1]:num_parameters()
    assert.is_truthy(text:find("down.1: Sequential%s+%[2, 4, 16, 16%]%s+" .. n1 .. "%s"), text)
    local deep = 0
    for _, r in ipairs(rows) do if r.depth > 2 then deep = deep + 1 end end
    assert.is_true(deep > 0)                                   -- rows keeps every call
    -- depth 0: one row with every parameter and mult-add
    local t0, _, tot = lunet.summary(m, { 2, 3, 16, 16 }, { depth = 0 })
    assert.is_truthy(t0:find("UNet%s+%[2, 2, 16, 16%]%s+7,634%s+" .. lunet.summary.count_str(tot.flops)), t0)
    assert.is_true(m.training and m.down[1][2].training)       -- modes restored
    assert.is_true(lunet.allclose(before, m.down[1][2].running_mean, 0, 0))   -- eval: no BN update
    assert.are.equal(nn.Conv2d.forward, m.head.forward)        -- the wrappers are gone
  end)

  it("shows every output of a module that returns several", function()
    local m = lunet.models.unetpp { num_classes = 1, base = 2, deep_supervision = true }
    local _, rows = lunet.summary(m, lunet.randn(1, 3, 16, 16))
    assert.are.equal("NestedUNet", rows[1].type)
    assert.are.same({ 1, 1, 16, 16 }, rows[1].output_shape)   -- eval mode: the main output
  end)

  local errs = {
    { function() lunet.summary({}, { 1, 3, 8, 8 }) end, "summary: model must be an nn.Module, got table" },
    { function() lunet.summary(small(), "x") end, "summary: input must be a shape {N, C, H, W} or a tensor, got string" },
    { function() lunet.summary(small(), { 1, 0, 8 }) end, "summary: input_shape[2] must be an integer in [1, 2147483648], got 0" },
    { function() lunet.summary(small(), { 1, 3, 8, 8 }, { dpeth = 1 }) end,
      "summary: unknown option 'dpeth' (did you mean 'depth'?)" },
    { function() lunet.summary(small(), { 1, 4, 8, 8 }) end,
      "summary: the forward of Sequential on [1, 4, 8, 8] failed: conv2d: input has 4 channels, weight expects 3 "
      .. "(input [1, 4, 8, 8], weight [8, 3, 3, 3])" },
  }
  for i, c in ipairs(errs) do
    it("rejects bad arguments (" .. i .. ")", function()
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.are.equal(c[2], (tostring(err):gsub("^[^\n]-:%d+: ", "")))
    end)
  end

  it("restores the model after a failed forward", function()
    local m = small()
    pcall(lunet.summary, m, { 1, 4, 8, 8 })
    assert.is_true(m.training)
    assert.are.equal(nn.Conv2d.forward, m[1].forward)
  end)
end)
