-- Tensor core: creation, dtypes, views sharing storage, broadcasting math, reductions,
-- matmul, comparisons, cat/stack/split, printing.
local lunet = require "lunet"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()

local function same(t, expected, tol)
  local a = t:tolist()
  assert.are.equal(#expected, #a)
  for i = 1, #a do
    assert(math.abs(a[i] - expected[i]) <= (tol or 1e-6),
      ("element %d: %s vs %s"):format(i, tostring(a[i]), tostring(expected[i])))
  end
end

describe("tensor creation", function()
  it("builds from nested tables with inferred shape and dtype", function()
    local t = lunet.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.same({ 2, 3 }, t:shape())
    assert.are.equal("float32", t:dtype())
    assert.are.equal(6, t:get(2, 3))
    assert.are.equal(4, t:get(-1, 1))
    local i = lunet.tensor({ 1, 2 }, { dtype = "int32" })
    assert.are.equal("int32", i:dtype())
    assert.are.equal(math.type(i:get(1)), "integer")
  end)
  it("builds from a flat table with a shape", function()
    local t = lunet.tensor({ 1, 2, 3, 4, 5, 6 }, { shape = { 3, 2 } })
    assert.are.same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, t:totable())
  end)
  it("has zeros, ones, full, arange, empty with shapes as numbers or a table", function()
    assert.are.same({ 2, 3 }, lunet.zeros(2, 3):shape())
    assert.are.same({ 2, 3 }, lunet.ones({ 2, 3 }):shape())
    same(lunet.full({ 2 }, 7), { 7, 7 })
    same(lunet.arange(1, 4), { 1, 2, 3 })
    same(lunet.arange(0, 1, 0.25), { 0, 0.25, 0.5, 0.75 })
    assert.are.equal("int32", lunet.arange(5):dtype())
    assert.are.equal("uint8", lunet.zeros(3, { dtype = "uint8" }):dtype())
    assert.are.equal(0, lunet.empty(0):numel())
  end)
  it("supports 0-d tensors", function()
    local s = lunet.tensor(3.5)
    assert.are.equal(0, s:dim())
    assert.are.equal(3.5, s:item())
    assert.are.equal(3.5, s:totable())
  end)
end)

describe("views", function()
  it("share storage and see each other's writes", function()
    local t = lunet.arange(0, 12):to("float32"):view(3, 4)
    local tr = t:transpose(1, 2)
    assert.are.same({ 4, 3 }, tr:shape())
    assert.is_false(tr:is_contiguous())
    tr:set(100, 2, 1)
    assert.are.equal(100, t:get(1, 2))
    local n = t:narrow(2, 2, 2)
    assert.are.same({ { 100, 2 }, { 5, 6 }, { 9, 10 } }, n:totable())
    assert.is_true(n:shares_storage(t))
    local s = t:select(1, 3)
    assert.are.same({ 8, 9, 10, 11 }, s:totable())
    local u = s:unsqueeze(1)
    assert.are.same({ 1, 4 }, u:shape())
    assert.are.same({ 4 }, u:squeeze():shape())
    assert.are.same({ 4, 1, 3 }, t:unsqueeze(2):permute(3, 2, 1):shape())
  end)
  it("expand uses zero strides and contiguous copies on demand", function()
    local c = lunet.tensor({ 1, 2, 3 }):view(3, 1):expand(3, 4)
    assert.are.same({ 3, 4 }, c:shape())
    assert.are.same({ 1, 0 }, c:stride())
    local cc = c:contiguous()
    assert.is_true(cc:is_contiguous())
    assert.are.same({ 2, 2, 2, 2 }, cc:select(1, 2):totable())
  end)
  it("view infers -1 and reshape copies non-contiguous input", function()
    local t = lunet.arange(0, 6):view(2, -1)
    assert.are.same({ 2, 3 }, t:shape())
    local r = t:t():reshape(6)
    assert.are.same({ 0, 3, 1, 4, 2, 5 }, r:totable())
  end)
  it("view never copies: it raises where the strides do not allow a view", function()
    local b = lunet.zeros(2, 3)
    local ok, err = pcall(function() b:t():view(6):fill_(7) end)
    assert.is_false(ok)
    assert.are.equal("view: cannot view a tensor of shape [3, 2] and strides [1, 3] as [6] without copying "
      .. "(a dimension spans non-contiguous memory); use reshape, which copies then",
      (tostring(err):gsub("^[^:]*:%d+: ", "")))
    assert.are.same({ 0, 0, 0, 0, 0, 0 }, b:tolist())          -- nothing was written anywhere
    -- views of views that keep merged dims contiguous are allowed and share storage
    local v = b:t():view(3, 2, 1)
    assert.is_true(v:shares_storage(b))
    local n = lunet.zeros(4, 6):narrow(2, 2, 4):view(2, 2, 4)  -- rows keep their own stride
    assert.are.same({ 12, 6, 1 }, n:stride())
    n:fill_(5)
    local e = lunet.zeros(3, 1):expand(3, 4):view(3, 2, 2)     -- expanded dims split into zero strides
    assert.are.same({ 1, 0, 0 }, e:stride())
  end)
  it("reshape is a view when the strides allow and copies only otherwise", function()
    local b = lunet.zeros(2, 3)
    b:reshape(3, 2):fill_(1)                                   -- contiguous: a view, writes land in b
    assert.are.same({ 1, 1, 1, 1, 1, 1 }, b:tolist())
    local tr = b:t()
    local r = tr:reshape(6)                                    -- transposed: a copy
    assert.is_false(r:shares_storage(b))
    r:fill_(7)
    assert.are.same({ 1, 1, 1, 1, 1, 1 }, b:tolist())
    assert.is_true(tr:reshape(3, 2, 1):shares_storage(b))
    local x = lunet.arange(0, 6):view(2, 3)
    assert.are.same({ 0, 3, 1, 4, 2, 5 }, x:t():reshape(-1):totable())
    assert.are.same({ 0, 3, 1, 4, 2, 5 }, x:t():flatten():totable())
    assert.are.same({ 6 }, x:flatten():shape())
    assert.is_true(x:flatten():shares_storage(x))
  end)
  it("view and reshape record gradients through views and copies", function()
    local a = lunet.Generator(1):randn(2, 3):requires_grad()
    assert(lunet.gradcheck(function(x) return x:t():reshape(6) * lunet.arange(1, 7):to("float32") end, { a }))
    assert(lunet.gradcheck(function(x) return x:reshape(3, 2):t():contiguous():view(6) end, { a }))
  end)
  it("flip, index_select and gather copy with 1-based positions", function()
    local t = lunet.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    assert.are.same({ { 3, 2, 1 }, { 6, 5, 4 } }, t:flip(2):totable())
    local idx = lunet.tensor({ 3, 1 }, { dtype = "int32" })
    assert.are.same({ { 3, 1 }, { 6, 4 } }, t:index_select(2, idx):totable())
    local g = lunet.tensor({ { 1 }, { 3 } }, { dtype = "int32" })
    assert.are.same({ { 1 }, { 6 } }, t:gather(2, g):totable())
  end)
end)

describe("math", function()
  it("broadcasts elementwise ops and operators", function()
    local a = lunet.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
    local b = lunet.tensor({ 10, 20, 30 })
    assert.are.same({ { 11, 22, 33 }, { 14, 25, 36 } }, (a + b):totable())
    assert.are.same({ { 9, 18, 27 }, { 6, 15, 24 } }, (b - a):totable())
    assert.are.same({ { 2, 4, 6 }, { 8, 10, 12 } }, (2 * a):totable())
    assert.are.same({ { -1, -2, -3 }, { -4, -5, -6 } }, (-a):totable())
    same(a / 2, { 0.5, 1, 1.5, 2, 2.5, 3 })
    same(a:pow(2), { 1, 4, 9, 16, 25, 36 })
    local col = lunet.tensor({ { 1 }, { 2 } })
    assert.are.same({ 2, 3 }, (col * b):shape())
  end)
  it("promotes dtypes like PyTorch", function()
    local i = lunet.tensor({ 1, 2 }, { dtype = "int32" })
    assert.are.equal("int32", (i + 1):dtype())
    assert.are.equal("float32", (i + 0.5):dtype())
    assert.are.equal("float32", (i / 2):dtype())
    assert.are.equal("float32", (i + lunet.tensor({ 1, 1 })):dtype())
    assert.are.equal("uint8", i:gt(1):dtype())
  end)
  it("has unary functions", function()
    local x = lunet.tensor({ -1, 0, 2 })
    same(x:abs(), { 1, 0, 2 })
    same(x:relu(), { 0, 0, 2 })
    same(x:exp(), { math.exp(-1), 1, math.exp(2) }, 1e-6)
    same(x:sigmoid(), { 1 / (1 + math.exp(1)), 0.5, 1 / (1 + math.exp(-2)) }, 1e-6)
    same(x:clamp(-0.5, 1), { -0.5, 0, 1 })
    same(lunet.tensor({ 4, 9 }):sqrt(), { 2, 3 })
    same(lunet.tensor({ 1, math.exp(1) }):log(), { 0, 1 }, 1e-6)
  end)
  it("reduces along a dimension with keepdim, and over everything", function()
    local a = lunet.tensor({ { 1, 5, 3 }, { 4, 2, 6 } })
    same(a:sum(1), { 5, 7, 9 })
    assert.are.same({ 2, 1 }, a:sum(2, true):shape())
    same(a:mean(-1), { 3, 4 })
    assert.are.equal(21, a:sum():item())
    local v, i = a:max(2)
    same(v, { 5, 6 })
    assert.are.same({ 2, 3 }, i:totable())
    assert.are.same({ 2, 1, 2 }, a:argmax(1):totable())
    local mn, mi = a:min(1)
    same(mn, { 1, 2, 3 })
    assert.are.same({ 1, 2, 1 }, mi:totable())
    assert.are.equal(6, a:max():item())
  end)
  it("multiplies matrices, batched and broadcast", function()
    local a = lunet.tensor({ { 1, 2 }, { 3, 4 } })
    local b = lunet.tensor({ { 5, 6 }, { 7, 8 } })
    assert.are.same({ { 19, 22 }, { 43, 50 } }, a:matmul(b):totable())
    assert.are.same({ { 23, 31 }, { 34, 46 } }, a:t():matmul(b:t()):totable())
    local batch = lunet.stack({ a, b })
    local r = batch:matmul(a)
    assert.are.same({ 2, 2, 2 }, r:shape())
    assert.are.same({ { 23, 34 }, { 31, 46 } }, r:select(1, 2):totable())
    same(a:matmul(lunet.tensor({ 1, 1 })), { 3, 7 })
  end)
  it("compares, selects with where, and concatenates", function()
    local a = lunet.tensor({ 1, 5, 3 })
    assert.are.same({ 0, 1, 0 }, a:gt(3):totable())
    assert.are.same({ 1, 0, 1 }, a:le(3):totable())
    same(lunet.where(a:gt(2), a, 0), { 0, 5, 3 })
    local c = lunet.cat({ a:view(1, 3), a:view(1, 3) * 2 }, 1)
    assert.are.same({ 2, 3 }, c:shape())
    local parts = lunet.arange(0, 7):split(3)
    assert.are.equal(3, #parts)
    assert.are.same({ 6 }, parts[3]:totable())
    assert.is_true(lunet.allclose(a, a + 1e-7))
    assert.is_false(lunet.allclose(a, a + 1))
  end)
  it("runs in-place ops used by optimizers", function()
    local p = lunet.tensor({ 1, 2 })
    p:add_(lunet.tensor({ 1, 1 }), 0.5)
    same(p, { 1.5, 2.5 })
    p:mul_(2)
    same(p, { 3, 5 })
    p:addcmul_(lunet.tensor({ 1, 2 }), lunet.tensor({ 3, 4 }), 0.5)
    same(p, { 4.5, 9 })
    p:addcdiv_(lunet.tensor({ 1, 2 }), lunet.tensor({ 2, 4 }), 2)
    same(p, { 5.5, 10 })
  end)
end)

describe("printing", function()
  it("shows values, shape and dtype", function()
    local s = tostring(lunet.tensor({ { 1.5, -2 }, { 3, 4 } }))
    assert.are.equal("tensor([[ 1.5000, -2.0000],\n        [ 3.0000,  4.0000]], shape=[2, 2])", s)
    assert.are.equal("tensor([1, 2], shape=[2], dtype=int32)", tostring(lunet.tensor({ 1, 2 }, { dtype = "int32" })))
  end)
  it("truncates big tensors", function()
    local s = tostring(lunet.zeros(100, 100))
    assert.truthy(s:find("...", 1, true))
    assert.truthy(#s < 2000)
  end)
end)

describe("random numbers", function()
  it("repeat for the same seed and differ between seeds", function()
    lunet.manual_seed(7)
    local a = lunet.randn(5):tolist()
    lunet.manual_seed(7)
    local b = lunet.randn(5):tolist()
    assert.are.same(a, b)
    local g1, g2 = lunet.Generator(1), lunet.Generator(2)
    assert.are_not.same(g1:rand(4):tolist(), g2:rand(4):tolist())
  end)
  it("are identical across machines (fixed stream)", function()
    local g = lunet.Generator(42)
    local u = g:rand(3):tolist()
    -- xoshiro256** seeded by splitmix64(42): the stream is part of the contract
    assert.are.same(u, lunet.Generator(42):rand(3):tolist())
    local p = lunet.randperm(10, { generator = lunet.Generator(3) }):totable()
    table.sort(p)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, p)
    local r = lunet.randint(0, 3, { 1000 }, { generator = lunet.Generator(5) })
    assert.are.equal(0, r:min():item())
    assert.are.equal(2, r:max():item())
  end)
  it("has normal samples with the right moments", function()
    local x = lunet.Generator(9):randn(20000)
    assert.is_true(math.abs(x:mean():item()) < 0.03)
    assert.is_true(math.abs((x * x):mean():item() - 1) < 0.05)
  end)
  it("saves and restores generator state", function()
    local g = lunet.Generator(11)
    g:rand(3)
    local st = g:get_state()
    local a = g:rand(4):tolist()
    g:set_state(st)
    assert.are.same(a, g:rand(4):tolist())
  end)
end)

describe("threads", function()
  it("sets and gets the thread budget", function()
    local n = lunet.get_num_threads()
    assert.is_true(n >= 1)
    lunet.set_num_threads(1)
    assert.are.equal(1, lunet.get_num_threads())
    lunet.set_num_threads(n)
  end)
  it("bounds the thread budget to [1, 1024] integers", function()
    local n = lunet.get_num_threads()
    for _, c in ipairs {
      { 1e9, "set_num_threads: n must be an integer in [1, 1024], got 1000000000" },
      { 1025, "set_num_threads: n must be an integer in [1, 1024], got 1025" },
      { -1, "set_num_threads: n must be an integer in [1, 1024], got -1" },
      { 2.5, "set_num_threads: n must be an integer in [1, 1024], got 2.5" },
      { "4", "set_num_threads: n must be an integer in [1, 1024], got string" },
    } do
      assert.has_error(function() lunet.set_num_threads(c[1]) end, c[2])
      assert.are.equal(n, lunet.get_num_threads())
    end
    H.with_threads(2.0, function() assert.are.equal(2, lunet.get_num_threads()) end)
  end)
end)

describe("validated arguments", function()
  it("arange follows PyTorch on steps, bounds and counts", function()
    assert.are.same({ 10, 8, 6, 4, 2 }, lunet.arange(10, 0, -2):totable())
    assert.are.same({}, lunet.arange(3, 3):totable())
    assert.are.same({}, lunet.arange(3, 3, -1):totable())
    assert.are.same({ 0, 3, 6, 9 }, lunet.arange(0, 10, 3):totable())
    assert.are.equal(3, lunet.arange(0, 1, 0.4):numel())
    assert.are.same({ 1 << 30 }, lunet.arange(1 << 30, (1 << 30) + 1):totable())
    assert.are.same({ -3, -2 }, lunet.arange(-3, -1, { dtype = "float32" }):totable())
  end)
  H.error_cases {
    { "arange stepping away from the end (returned [] before)", function() return lunet.arange(0, 10, -1) end,
      "arange: step -1 goes away from end 10 (start 0): the bounds are inconsistent with the step sign" },
    { "arange stepping away downwards", function() return lunet.arange(5, 1, 0.5) end,
      "arange: step 0.5 goes away from end 1 (start 5): the bounds are inconsistent with the step sign" },
    { "arange with an infinite end", function() return lunet.arange(0, math.huge) end,
      "arange: end must be finite, got inf" },
    { "arange with a NaN step", function() return lunet.arange(0, 1, 0 / 0) end,
      "arange: step must be finite, got nan" },
    { "arange with a zero float step", function() return lunet.arange(0, 1, 0.0) end,
      "arange: step must be nonzero" },
    { "arange values beyond int32", function() return lunet.arange(2 ^ 31 - 1, 2 ^ 31 + 1, { dtype = "int32" }) end,
      "arange: value 2147483648 at [2] cannot be converted to type int32 without overflow" },
    { "arange's unknown option", function() return lunet.arange(3, { dtyp = "int32" }) end,
      "arange: unknown option 'dtyp' (did you mean 'dtype'?)" },
    { "chunk(-1) (returned 5 parts before)", function() return lunet.zeros(5):chunk(-1) end,
      "chunk: chunks must be a positive integer, got -1" },
    { "chunk(2.5) (returned 3 parts before)", function() return lunet.zeros(5):chunk(2.5) end,
      "chunk: chunks must be a positive integer, got 2.5" },
    { "chunk(0)", function() return lunet.zeros(5):chunk(0) end,
      "chunk: chunks must be a positive integer, got 0" },
    { "split(1.5)", function() return lunet.zeros(5):split(1.5) end,
      "split: size must be a positive integer, got 1.5" },
    { "split on a dimension out of range", function() return lunet.zeros(5):split(2, 2) end,
      "split: dimension 2 out of range for a 1-d tensor (use 1..1 or -1..-1)" },
    { "chunk of a 0-d tensor", function() return lunet.tensor(1):chunk(2) end,
      "chunk: cannot split a 0-d tensor" },
    { "randint with a fractional bound", function() return lunet.randint(0, 2.5, { 2 }) end,
      "randint: hi must be an integer, got 2.5" },
    { "randint into uint8 beyond 255", function() return lunet.randint(0, 257, { 2 }, { dtype = "uint8" }) end,
      "randint: range [0, 257) does not fit dtype uint8 (pass dtype = \"float32\" for wider ranges)" },
    { "randint's unknown option", function() return lunet.randint(0, 2, { 2 }, { generater = 1 }) end,
      "randint: unknown option 'generater' (did you mean 'generator'?)" },
    { "rand with an integer dtype", function() return lunet.rand(2, { dtype = "int32" }) end,
      "rand: only dtype float32 is supported (use randint for integers)" },
    { "randperm of a fraction", function() return lunet.randperm(2.5) end,
      "randperm: n must be an integer, got 2.5" },
    { "an expand size that is not an integer", function() return lunet.zeros(1):expand(2.5) end,
      "expand: size 2.5 is not an integer" },
    { "tensor() of a number with a shape (ignored before)", function() return lunet.tensor(3, { shape = { 1 } }) end,
      "tensor: option shape applies to a flat table of values, not to a number (use view)" },
    { "zeros with a dtype option typo", function() return lunet.zeros(2, { dtpye = "int32" }) end,
      "zeros: unknown option 'dtpye' (did you mean 'dtype'?)" },
    { "clamp with a NaN bound", function() return lunet.zeros(2):clamp(0 / 0) end,
      "clamp: min must not be nan" },
    { "clamp_ with crossed bounds", function() return lunet.zeros(2):clamp_(2, 1) end,
      "clamp_: min 2.0 is greater than max 1.0" },
    { "backward with a non-float32 grad", function()
        return (lunet.ones(2):requires_grad() * 2):backward(lunet.ones(2, { dtype = "int32" })) end,
      "backward: grad must be float32, got int32" },
    { "backward with an option typo", function()
        return (lunet.ones(2):requires_grad() * 2):sum():backward(nil, { retain_grph = true }) end,
      "backward: unknown option 'retain_grph' (did you mean 'retain_graph'?)" },
  }
  it("chunk and split give PyTorch's parts", function()
    local x = lunet.arange(0, 5)
    local function sizes(parts)
      local r = {}
      for i, p in ipairs(parts) do r[i] = p:numel() end
      return r
    end
    assert.are.same({ 2, 2, 1 }, sizes(x:chunk(3)))
    assert.are.same({ 1, 1, 1, 1, 1 }, sizes(x:chunk(7)))
    assert.are.same({ 2, 2, 1 }, sizes(x:split(2)))
    assert.are.same({ 6, 6 }, sizes(lunet.zeros(3, 4):chunk(2, -1)))
    assert.are.same({ 0 }, sizes(lunet.zeros(0):chunk(3)))   -- one empty part, as PyTorch
    assert.is_true(x:chunk(2)[2]:shares_storage(x))
  end)
end)

describe("empty and strided operands", function()
  it("handles empty tensors in every elementwise path", function()
    local e = lunet.zeros(0, 3)
    assert.are.same({ 0, 3 }, (e + 1):shape())
    assert.are.same({ 0, 3 }, (e + lunet.ones(3)):shape())
    assert.are.same({ 0, 3 }, e:exp():shape())
    assert.are.same({ 0, 3 }, e:clamp(0, 1):shape())
    assert.are.same({ 0, 3 }, lunet.where(e:gt(0), e, 1):shape())
    assert.are.same({ 3 }, e:sum(1):shape())
    assert.are.equal(0, e:sum():item())
    local i = lunet.zeros({ 0 }, { dtype = "int32" })
    assert.are.equal(0, (i * 2):numel())
  end)
  it("gives the same results on permuted, expanded and mixed-dtype operands", function()
    local g = lunet.Generator(3)
    local a = g:randn(4, 5, 6)
    local b = g:randn(6, 5):t()                   -- (5, 6), non-contiguous
    local ap = a:permute(3, 1, 2):contiguous():permute(2, 3, 1)   -- same values, odd strides
    assert.is_true(lunet.allclose(a * b, ap * b:contiguous(), 0, 0))
    local ai = (a * 10):to("int32")
    local bi = (b * 10):to("int32")
    local sum = (ai + bi):to("float32")
    assert.is_true(lunet.allclose(sum, ai:to("float32") + bi:to("float32"), 0, 0))
    local u = (a:gt(0)):to("uint8")
    assert.are.equal(u:sum():item(), a:gt(0):sum():item())
    assert.is_true(lunet.allclose(lunet.where(u, a, b), lunet.where(a:gt(0), a, b:expand(4, 5, 6)), 0, 0))
    assert.is_true(lunet.allclose((ap:sum_to({ 5, 6 })), a:sum(1), 1e-5, 1e-5))
  end)
end)
