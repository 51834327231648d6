-- Autograd: every differentiable tensor op passes a finite-difference gradcheck; gradients
-- accumulate, flow through views and broadcasting, and the tape frees itself.
local lunet = require "lunet"

local function leaf(seed, ...)
  return lunet.Generator(seed):randn(...):requires_grad()
end

-- Values bounded away from 0 for log/sqrt/div and from kinks for abs/relu/max.
local function positive(seed, ...)
  local x = lunet.Generator(seed):rand(...) + 0.5
  return x:requires_grad()
end

local function away_from_zero(seed, ...)
  local g = lunet.Generator(seed)
  local x = g:rand(...) + 0.2
  local s = g:rand(...):gt(0.5):to("float32") * 2 - 1
  return (x * s):requires_grad()
end

local cases = {
  { "add broadcast", function(a, b) return a + b end, function() return { leaf(1, 2, 3), leaf(2, 3) } end },
  { "sub scalar", function(a) return 2 - a end, function() return { leaf(3, 4) } end },
  { "mul broadcast", function(a, b) return a * b end, function() return { leaf(4, 2, 1, 3), leaf(5, 4, 1) } end },
  { "div", function(a, b) return a / b end, function() return { leaf(6, 3, 2), positive(7, 3, 2) } end },
  { "pow scalar", function(a) return a:pow(3) end, function() return { leaf(8, 5) } end },
  { "pow tensor", function(a, b) return a:pow(b) end, function() return { positive(9, 4), leaf(10, 4) } end },
  { "maximum", function(a, b) return a:maximum(b) end, function() return { leaf(11, 6), leaf(12, 6) } end },
  { "minimum", function(a, b) return a:minimum(b) end, function() return { leaf(13, 6), leaf(14, 6) } end },
  { "neg", function(a) return -a end, function() return { leaf(15, 3) } end },
  { "exp", function(a) return a:exp() end, function() return { leaf(16, 3) } end },
  { "log", function(a) return a:log() end, function() return { positive(17, 3) } end },
  { "sqrt", function(a) return a:sqrt() end, function() return { positive(18, 3) } end },
  { "abs", function(a) return a:abs() end, function() return { away_from_zero(19, 5) } end },
  { "relu", function(a) return a:relu() end, function() return { away_from_zero(20, 5) } end },
  { "sigmoid", function(a) return a:sigmoid() end, function() return { leaf(21, 5) } end },
  { "tanh", function(a) return a:tanh() end, function() return { leaf(22, 5) } end },
  { "square", function(a) return a:square() end, function() return { leaf(23, 5) } end },
  { "reciprocal", function(a) return a:reciprocal() end, function() return { positive(24, 5) } end },
  { "sin cos", function(a) return a:sin() + a:cos() end, function() return { leaf(25, 5) } end },
  { "log1p expm1", function(a) return a:log1p() + a:expm1() end, function() return { positive(26, 5) } end },
  { "clamp", function(a) return a:clamp(-1, 1) end,
    function() return { lunet.tensor({ -1.5, -0.3, 0.2, 0.7, 1.4 }):requires_grad() } end },
  { "sum all", function(a) return a:sum() end, function() return { leaf(28, 2, 3) } end },
  { "sum dim", function(a) return a:sum(2) end, function() return { leaf(29, 2, 3, 2) } end },
  { "sum keepdim", function(a) return a:sum(-1, true) end, function() return { leaf(30, 2, 3) } end },
  { "mean dim", function(a) return a:mean(1) end, function() return { leaf(31, 3, 2) } end },
  { "prod dim", function(a) return a:prod(2) end, function() return { positive(32, 2, 3) } end },
  { "max dim", function(a) return (a:max(2)) end, function() return { leaf(33, 3, 4) } end },
  { "min dim keepdim", function(a) return (a:min(1, true)) end, function() return { leaf(34, 3, 4) } end },
  { "max all", function(a) return a:max() end, function() return { leaf(35, 3, 4) } end },
  { "0-d reductions along their dim", function(a) return (a:max(1)) * 2 + a:sum(-1) + a:mean(1, true) end,
    function() return { lunet.tensor(0.7):requires_grad() } end },
  { "reshape of a transposed view", function(a) return a:t():reshape(6) * lunet.arange(1, 7):to("float32") end,
    function() return { leaf(59, 2, 3) } end },
  { "view", function(a) return a:view(6):mul(lunet.arange(1, 7):to("float32")) end, function() return { leaf(36, 2, 3) } end },
  { "permute", function(a) return a:permute(3, 1, 2):contiguous() end, function() return { leaf(37, 2, 3, 2) } end },
  { "transpose", function(a) return a:transpose(1, 2) end, function() return { leaf(38, 2, 3) } end },
  { "narrow", function(a) return a:narrow(2, 2, 2) end, function() return { leaf(39, 2, 4) } end },
  { "select", function(a) return a:select(1, 2) end, function() return { leaf(40, 3, 2) } end },
  { "unsqueeze squeeze", function(a) return a:unsqueeze(2):squeeze(2) * 2 end, function() return { leaf(41, 3) } end },
  { "expand", function(a) return a:expand(3, 4) end, function() return { leaf(42, 3, 1) } end },
  { "flip", function(a) return a:flip(1, 2) end, function() return { leaf(43, 2, 3) } end },
  { "index_select", function(a)
      return a:index_select(2, lunet.tensor({ 3, 1, 3 }, { dtype = "int32" }))
    end, function() return { leaf(44, 2, 3) } end },
  { "gather", function(a)
      return a:gather(2, lunet.tensor({ { 1, 3 }, { 2, 2 } }, { dtype = "int32" }))
    end, function() return { leaf(45, 2, 3) } end },
  { "matmul 2d", function(a, b) return a:matmul(b) end, function() return { leaf(46, 3, 4), leaf(47, 4, 2) } end },
  { "matmul batched broadcast", function(a, b) return a:matmul(b) end, function() return { leaf(48, 2, 3, 4), leaf(49, 4, 2) } end },
  { "matmul vector", function(a, b) return a:matmul(b) end, function() return { leaf(50, 4), leaf(51, 4, 3) } end },
  { "cat", function(a, b) return lunet.cat({ a, b }, 2) end, function() return { leaf(52, 2, 2), leaf(53, 2, 3) } end },
  { "stack", function(a, b) return lunet.stack({ a, b }, 2) end, function() return { leaf(54, 2, 3), leaf(55, 2, 3) } end },
  { "split", function(a) local p = a:split(2, 1) return p[1] * p[2] end, function() return { leaf(56, 4, 2) } end },
  { "where", function(a, b) return lunet.where(a:gt(0), a, b) end, function() return { away_from_zero(57, 6), leaf(58, 6) } end },
}

describe("gradcheck", function()
  for _, c in ipairs(cases) do
    it("passes for " .. c[1], function()
      assert(lunet.gradcheck(c[2], c[3]()))
    end)
  end
  it("detects a wrong gradient", function()
    local ag = require "lunet.autograd"
    local function bad(x)
      local out = x:detach() * 2
      ag.record(out, { x }, function(g) return g * 3 end, "bad")
      return out
    end
    local ok, msg = lunet.gradcheck(bad, { leaf(59, 3) })
    assert.is_false(ok)
    assert.truthy(msg:find("analytic", 1, true))
  end)
end)

describe("backward", function()
  it("accumulates .grad across calls and through multiple uses", function()
    local x = lunet.tensor({ 1, 2, 3 }):requires_grad()
    local y = (x * x):sum() + x:sum()
    y:backward()
    assert.are.same({ 3, 5, 7 }, x.grad:totable())
    ;(x * 2):sum():backward()
    assert.are.same({ 5, 7, 9 }, x.grad:totable())
    x.grad = nil
    assert.is_nil(x.grad)
  end)
  it("sums gradients of broadcast operands back to their shapes", function()
    local b = lunet.tensor({ 1, 2, 3 }):requires_grad()
    local a = lunet.ones(4, 3)
    ;(a * b):sum():backward()
    assert.are.same({ 4, 4, 4 }, b.grad:totable())
  end)
  it("flows through views that share storage", function()
    local x = lunet.arange(1, 7):to("float32"):requires_grad()
    local v = x:view(2, 3):transpose(1, 2):narrow(1, 2, 2)
    v:sum():backward()
    assert.are.same({ 0, 1, 1, 0, 1, 1 }, x.grad:totable())
  end)
  it("does not record under no_grad and returns fn's results", function()
    local x = lunet.ones(2):requires_grad()
    local y, z = lunet.no_grad(function() return x * 2, 5 end)
    assert.is_false(y:needs_grad())
    assert.are.equal(5, z)
    assert.is_true(lunet.is_grad_enabled())
    assert.has_error(function() lunet.no_grad(function() error("boom", 0) end) end, "boom")
    assert.is_true(lunet.is_grad_enabled())
  end)
  it("detach cuts the graph but shares storage", function()
    local x = lunet.ones(2):requires_grad()
    local d = (x * 3):detach()
    assert.is_false(d:needs_grad())
    assert.is_true(d:is_leaf())
  end)
  it("refuses a second backward through a freed graph", function()
    local x = lunet.ones(2):requires_grad()
    local y = (x * x):sum()
    y:backward()
    assert.has_error(function() y:backward() end,
      "backward: the graph through 'sum' was already used by a backward and its saved tensors were freed; pass {retain_graph=true} to the first backward")
  end)
  it("allows a second backward with retain_graph", function()
    local x = lunet.ones(2):requires_grad()
    local y = (x * x):sum()
    y:backward(nil, { retain_graph = true })
    y:backward()
    assert.are.same({ 4, 4 }, x.grad:totable())
  end)
  it("takes an explicit output gradient", function()
    local x = lunet.tensor({ 1, 2 }):requires_grad()
    local y = x * x
    y:backward(lunet.tensor({ 1, 10 }))
    assert.are.same({ 2, 40 }, x.grad:totable())
  end)
  it("records nothing when contiguous() returns its own input", function()
    local x = lunet.ones(3):requires_grad()
    local y = x * 2
    local node = y._node
    assert.are.equal(y, y:contiguous())
    assert.are.equal(node, y._node)
    y:sum():backward()
    assert.are.same({ 2, 2, 2 }, x.grad:totable())
  end)
  it("releases the saved tensors once backward has used them", function()
    local x = lunet.ones(3):requires_grad()
    local y = (x:exp() * 2):sum()
    local node = y._node
    y:backward()
    assert.is_nil(node.backward)
    assert.is_nil(node.inputs)
  end)
end)
