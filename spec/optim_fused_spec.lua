-- The fused Adam / AdamW update (core.nn.adam_step, csrc/lt_optim.c) against the
-- per-parameter Lua update it replaces (opt._update_group = false), over several steps and
-- every option, and the fast C loop against its naive twin.
local lunet = require "lunet"
local core = require "lunet.core"
local optim = lunet.optim

-- max |a - b| <= tol * max(1, max |b|)
local function assert_close(a, b, what, tol)
  assert.are.same(a:shape(), b:shape(), what .. ": shapes differ")
  local d = (a - b):abs():max():item()
  local m = b:abs():max():item()
  assert(d <= tol * math.max(1, m), string.format("%s: max difference %g (max |ref| %g)", what, d, m))
end

-- Parameters of several shapes (one large enough for the threaded loop), and their clones.
local function make_params(seed)
  local g = lunet.Generator(seed)
  local shapes = { { 3, 4 }, { 7 }, { 2, 3, 3, 3 }, { 1 }, { 300, 300 } }
  local a, b = {}, {}
  for i, sh in ipairs(shapes) do
    a[i] = g:randn(sh):requires_grad(true)
    b[i] = a[i]:detach():clone():requires_grad(true)
  end
  return a, b, g
end

local configs = {
  { "Adam", {} },
  { "Adam", { weight_decay = 0.1 } },
  { "Adam", { amsgrad = true, betas = { 0.8, 0.9 } } },
  { "Adam", { maximize = true, weight_decay = 0.05, amsgrad = true } },
  { "AdamW", {} },
  { "AdamW", { weight_decay = 0.3, amsgrad = true, maximize = true, eps = 1e-3 } },
}

describe("fused Adam / AdamW (core.nn.adam_step)", function()
  for _, c in ipairs(configs) do
    local name, o = c[1], c[2]
    local shown = {}
    for k, v in pairs(o) do shown[#shown + 1] = k .. "=" .. (type(v) == "table" and "{..}" or tostring(v)) end
    table.sort(shown)
    it(string.format("%s {%s} matches the Lua update within 1e-6 over 6 steps", name, table.concat(shown, ", ")), function()
      local pa, pb, g = make_params(41)
      local opts = { lr = 0.05 }
      for k, v in pairs(o) do opts[k] = v end
      local fa = optim[name](pa, opts)
      local fb = optim[name](pb, opts)
      fb._update_group = false   -- the reference: one Lua update per parameter
      assert.is_truthy(fa._update_group)
      for step = 1, 6 do
        for i = 1, #pa do
          -- parameter 2 has no gradient on even steps (its step count lags); parameter 3's
          -- gradient is not contiguous
          if not (i == 2 and step % 2 == 0) then
            local gr = g:randn(pa[i]:shape())
            if i == 3 then gr = g:randn({ 3, 3, 3, 2 }):permute(4, 1, 2, 3) end
            pa[i].grad, pb[i].grad = gr, gr:clone()
          else
            pa[i].grad, pb[i].grad = nil, nil
          end
        end
        fa:step()
        fb:step()
        for i = 1, #pa do
          assert_close(pa[i]:detach(), pb[i]:detach(), string.format("step %d parameter %d", step, i), 1e-6)
        end
      end
      local sa, sb = fa:state_dict(), fb:state_dict()
      for k, v in pairs(sb) do assert_close(sa[k], v, "state " .. k, 1e-6) end
      assert.are.equal(3, fa.state[pa[2]].step)
      assert.are.equal(6, fa.state[pa[1]].step)
    end)
  end

  it("leaves a parameter the C update cannot take to the Lua update, with its behaviour", function()
    -- a non-contiguous parameter: the Lua update's own error, from either optimizer
    local p = lunet.randn(4, 6):t():requires_grad(true)
    local q = p:detach():t():clone():t():requires_grad(true)
    local a, b = optim.Adam({ p }, { lr = 0.1 }), optim.Adam({ q }, { lr = 0.1 })
    b._update_group = false
    p.grad, q.grad = lunet.randn(6, 4), lunet.randn(6, 4)
    local ok1, e1 = pcall(a.step, a)
    local ok2, e2 = pcall(b.step, b)
    assert.is_false(ok1)
    assert.is_false(ok2)
    assert.are.equal(tostring(e2):match("addcdiv_:.*"), tostring(e1):match("addcdiv_:.*"))
  end)

  it("fast and naive C loops give identical values", function()
    local g = lunet.Generator(42)
    for _, o in ipairs { {}, { amsgrad = true, weight_decay = 0.2 }, { decoupled = true, weight_decay = 0.2, maximize = true } } do
      local n = 70000   -- above the threading threshold
      local p1, gr = g:randn({ n }), g:randn({ n })
      local m1, v1, w1 = g:randn({ n }), g:rand({ n }), g:rand({ n })
      local p2, m2, v2, w2 = p1:clone(), m1:clone(), v1:clone(), w1:clone()
      local base = { lr = 0.01, beta1 = 0.9, beta2 = 0.99, eps = 1e-8 }
      for k, v in pairs(o) do base[k] = v end
      local nv = {}
      for k, v in pairs(base) do nv[k] = v end
      nv.naive = true
      for s = 1, 3 do
        core.nn.adam_step({ p1 }, { gr }, { m1 }, { v1 }, o.amsgrad and { w1 } or nil, { s }, base)
        core.nn.adam_step({ p2 }, { gr }, { m2 }, { v2 }, o.amsgrad and { w2 } or nil, { s }, nv)
      end
      for _, pair in ipairs { { p1, p2, "p" }, { m1, m2, "m" }, { v1, v2, "v" }, { w1, w2, "vmax" } } do
        assert.are.equal(0, (pair[1] - pair[2]):abs():max():item(), pair[3])
      end
    end
  end)

  it("checks every list before updating anything", function()
    local p, g, m, v = lunet.zeros(3), lunet.ones(3), lunet.zeros(3), lunet.zeros(3)
    local p2 = lunet.zeros(3)
    assert.has_error(function() core.nn.adam_step({ p, p2 }, { g, g }, { m, m }, { v, lunet.zeros(4) }, nil, { 1, 1 }, {}) end,
      "adam_step: exp_avg_sqs[2] has 4 elements, params[2] has 3")
    assert.are.equal(0, p:abs():max():item())
    assert.has_error(function() core.nn.adam_step({ p }, { g }, { m }, {}, nil, { 1 }, {}) end,
      "adam_step: exp_avg_sqs has 0 entries, params has 1")
    assert.has_error(function() core.nn.adam_step({ p }, { g }, { m }, { v }, nil, { 0 }, {}) end,
      "adam_step: steps[1] must be an integer >= 1")
    assert.has_error(function() core.nn.adam_step({ p }, { g }, { m }, { v }, nil, { 1 }, { amsgrad = true }) end,
      "adam_step: max_exp_avg_sqs must be a list of tensors, got nil")
    assert.has_error(function() core.nn.adam_step({ p }, { 5 }, { m }, { v }, nil, { 1 }, {}) end,
      "adam_step: grads[1] must be a tensor, got number")
    assert.has_error(function() core.nn.adam_step({ p }, { g }, { m }, { v }, nil, { 1 }, { lr = 1, betas1 = 0.5 }) end,
      "adam_step: unknown option 'betas1' (did you mean 'beta1'?)")
    assert.has_error(function() core.nn.adam_step({ lunet.zeros(2, 3):t() }, { g }, { m }, { v }, nil, { 1 }, {}) end,
      "adam_step: params[1] must be a contiguous float32 tensor, got float32 [3, 2] (not contiguous)")
  end)
end)
