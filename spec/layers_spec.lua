-- nn layers: the constructor rule (positional, named, mixed), parameter shapes and PyTorch
-- default initialisation, nn.init, forward wiring to nn.functional, containers, printing,
-- and exact error messages.
local lunet = require "lunet"
local nn = require "lunet.nn"
local F = nn.functional

-- Layers whose forward needs functional kernels from other files: pending until present.
local function needs(...)
  for _, name in ipairs({ ... }) do
    if F[name] == nil then
      pending("nn.functional." .. name .. " is not in this tree yet")
      return false
    end
  end
  return true
end

local function stats(t)
  local v = t:contiguous():view(-1):tolist()
  local n, s, s2, mx = #v, 0, 0, 0
  for _, x in ipairs(v) do s = s + x; s2 = s2 + x * x; mx = math.max(mx, math.abs(x)) end
  local mean = s / n
  return mean, math.sqrt(s2 / n - mean * mean), mx
end

local function same_values(a, b)
  assert.are.same(a:shape(), b:shape())
  assert.is_true(lunet.allclose(a, b, 1e-6, 1e-7))
end

describe("constructor rule", function()
  it("accepts positional, named and mixed forms of the same layer", function()
    lunet.manual_seed(7)
    local a = nn.Conv2d(3, 16, 3, { padding = 1 })
    lunet.manual_seed(7)
    local b = nn.Conv2d { in_channels = 3, out_channels = 16, kernel_size = 3, padding = 1 }
    lunet.manual_seed(7)
    local c = nn.Conv2d { 3, 16, 3, padding = 1 }
    for _, m in ipairs({ b, c }) do
      assert.are.same(a.padding, m.padding)
      assert.are.same(a.kernel_size, m.kernel_size)
      assert.are.same(a.weight:tolist(), m.weight:tolist())
      assert.are.same(a.bias:tolist(), m.bias:tolist())
    end
    assert.are.same({ 16, 3, 3, 3 }, a.weight:shape())
  end)

  it("takes pairs for sizes, and a trailing list as a value", function()
    local m = nn.Conv2d(3, 4, { 3, 5 }, { stride = { 1, 2 }, padding = { 1, 2 }, bias = false })
    assert.are.same({ 4, 3, 3, 5 }, m.weight:shape())
    assert.is_nil(m.bias)
    assert.are.same({ 1, 2 }, m.stride)
    local p = nn.MaxPool2d { 3, 2 }               -- array part: kernel_size 3, stride 2
    assert.are.same({ 3, 3 }, p.kernel_size)
    assert.are.same({ 2, 2 }, p.stride)
    local q = nn.MaxPool2d { kernel_size = { 3, 2 } }
    assert.are.same({ 3, 2 }, q.kernel_size)
    assert.are.same({ 3, 2 }, q.stride)
    assert.are.equal(0.2, nn.LeakyReLU(0.2).negative_slope)
    assert.are.equal(0.3, nn.Dropout { p = 0.3 }.p)
    assert.are.equal(2, nn.Softmax(2).dim)
  end)

  local errors = {
    { function() nn.Conv2d(3, 16, 3, { paddin = 1 }) end, "Conv2d: unknown option 'paddin' (did you mean 'padding'?)" },
    { function() nn.Conv2d(3, 16) end, "Conv2d: kernel_size is required" },
    { function() nn.Conv2d(3, 16, 3, 1, 1) end,
      "Conv2d: too many positional arguments (5 given, at most 3: in_channels, out_channels, kernel_size)" },
    { function() nn.Conv2d(3, 16, 3, { in_channels = 3 }) end, "Conv2d: in_channels given both positionally and by name" },
    { function() nn.Conv2d(0, 16, 3) end, "Conv2d: in_channels must be an integer >= 1, got 0" },
    { function() nn.Conv2d(3, 16, 3, { padding = -1 }) end,
      "Conv2d: padding must be an integer >= 0 or a pair of them, got -1" },
    { function() nn.Conv2d(3, 16, { 3, 0 }) end,
      "Conv2d: kernel_size must be an integer >= 1 or a pair of them, got {3, 0}" },
    { function() nn.Conv2d(3, 16, 3, { groups = 2 }) end, "Conv2d: in_channels (3) must be divisible by groups (2)" },
    { function() nn.Conv2d(4, 6, 3, { groups = 4 }) end, "Conv2d: out_channels (6) must be divisible by groups (4)" },
    { function() nn.Conv2d(3, 16, 3, { bias = 1 }) end, "Conv2d: bias must be a boolean, got 1" },
    { function() nn.ConvTranspose2d(3, 16, 2, { output_padding = -1 }) end,
      "ConvTranspose2d: output_padding must be an integer >= 0 or a pair of them, got -1" },
    { function() nn.BatchNorm2d() end, "BatchNorm2d: num_features is required" },
    { function() nn.BatchNorm2d(4, { momentum = 2 }) end, "BatchNorm2d: momentum must be a number in [0, 1], got 2" },
    { function() nn.GroupNorm(3, 8) end, "GroupNorm: num_channels (8) must be divisible by num_groups (3)" },
    { function() nn.Dropout(1.5) end, "Dropout: p must be a number in [0, 1], got 1.5" },
    { function() nn.Upsample { mode = "bilinear" } end, "Upsample: give exactly one of size and scale_factor" },
    { function() nn.Upsample { scale_factor = 2, mode = "bicubic" } end,
      "Upsample: mode must be 'nearest' or 'bilinear', got 'bicubic'" },
    { function() nn.Upsample { scale_factor = 2, align_corners = true } end,
      "Upsample: align_corners only applies to mode \"bilinear\"" },
    { function() nn.Softmax() end, "Softmax: dim is required" },
    { function() nn.Softmax(0) end, "Softmax: dim must be a non-zero integer (1-based, negative from the end), got 0" },
    { function() nn.ReLU(true, 1) end, "ReLU: too many positional arguments (2 given, at most 1: inplace)" },
    { function() nn.Identity(3) end, "Identity: takes only an option table, got 1 positional argument" },
    { function() nn.Sigmoid { foo = 1 } end, "Sigmoid: unknown option 'foo' (it takes no options)" },
    { function() nn.Linear(3) end, "Linear: out_features is required" },
    { function() nn.Linear(3, 2)(lunet.zeros(2, 4)) end, "Linear: input has 4 features, expected 3 (input [2, 4])" },
    { function() nn.BatchNorm2d(3)(lunet.zeros(2, 3)) end,
      "BatchNorm2d: expected a 4-D input (N, C, H, W), got [2, 3]" },
    { function() nn.BatchNorm2d(3)(lunet.zeros(2, 4, 2, 2)) end,
      "BatchNorm2d: input has 4 channels, expected 3 (input [2, 4, 2, 2])" },
    { function() nn.Sequential(nn.ReLU(), 3) end, "Sequential: item 2 is not a module (number)" },
    { function() nn.ModuleList { nn.ReLU(), lunet.zeros(1) } end, "ModuleList: item 2 is not a module (tensor)" },
    { function() nn.ModuleList():append({}) end, "ModuleList:append: expects a module, got table" },
    { function() nn.ModuleList { nn.ReLU() }(lunet.zeros(1)) end,
      "ModuleList: has no forward; call its modules (list[i](x), or ipairs(list))" },
  }
  for i, c in ipairs(errors) do
    it("error " .. i .. ": " .. c[2], function() assert.has_error(c[1], c[2]) end)
  end
end)

describe("parameters and default initialisation (PyTorch's)", function()
  it("Conv2d: weight (out, in/groups, kh, kw), kaiming_uniform(a=sqrt 5) and bias bound 1/sqrt(fan_in)", function()
    lunet.manual_seed(1)
    local m = nn.Conv2d(16, 32, 3, { groups = 2 })
    assert.are.same({ 32, 8, 3, 3 }, m.weight:shape())
    assert.are.same({ 32 }, m.bias:shape())
    local bound = 1 / math.sqrt(8 * 9)
    local mean, std, mx = stats(m.weight)
    assert.is_true(mx <= bound)
    assert.is_true(mx > 0.97 * bound)
    assert.is_true(math.abs(std - bound / math.sqrt(3)) < 0.05 * bound)
    assert.is_true(math.abs(mean) < 0.05 * bound)
    local _, _, bmx = stats(m.bias)
    assert.is_true(bmx <= bound)
    assert.is_true(m.weight:needs_grad() and m.bias:needs_grad())
  end)

  it("ConvTranspose2d: weight (in, out/groups, kh, kw), fan_in from dim 2", function()
    local m = nn.ConvTranspose2d(8, 6, 4, { groups = 2, stride = 2 })
    assert.are.same({ 8, 3, 4, 4 }, m.weight:shape())
    local bound = 1 / math.sqrt(3 * 16)
    local _, _, mx = stats(m.weight)
    assert.is_true(mx <= bound and mx > 0.9 * bound)
    local _, _, bmx = stats(m.bias)
    assert.is_true(bmx <= bound)
  end)

  it("Linear: weight (out, in), bounds 1/sqrt(in)", function()
    local m = nn.Linear(50, 40)
    assert.are.same({ 40, 50 }, m.weight:shape())
    local _, _, mx = stats(m.weight)
    assert.is_true(mx <= 1 / math.sqrt(50) and mx > 0.95 / math.sqrt(50))
  end)

  it("BatchNorm2d and GroupNorm: ones, zeros, running statistics", function()
    local bn = nn.BatchNorm2d(3)
    assert.are.same({ 1, 1, 1 }, bn.weight:tolist())
    assert.are.same({ 0, 0, 0 }, bn.bias:tolist())
    assert.are.same({ 0, 0, 0 }, bn.running_mean:tolist())
    assert.are.same({ 1, 1, 1 }, bn.running_var:tolist())
    assert.are.equal(0, bn.num_batches_tracked:item())
    assert.are.equal("int32", bn.num_batches_tracked:dtype())
    local keys = {}
    for k in pairs(bn:state_dict()) do keys[#keys + 1] = k end
    assert.are.same({ "weight", "bias", "running_mean", "running_var", "num_batches_tracked" }, keys)
    local plain = nn.BatchNorm2d(3, { affine = false, track_running_stats = false })
    assert.is_nil(next(plain:state_dict()))
    local gn = nn.GroupNorm(2, 4)
    assert.are.same({ 1, 1, 1, 1 }, gn.weight:tolist())
    assert.are.equal(8, gn:num_parameters())
  end)

  it("is reproducible under manual_seed", function()
    lunet.manual_seed(42)
    local a = nn.Conv2d(2, 3, 3)
    lunet.manual_seed(42)
    local b = nn.Conv2d(2, 3, 3)
    assert.are.same(a.weight:tolist(), b.weight:tolist())
  end)
end)

describe("nn.init", function()
  local init = nn.init
  it("kaiming_normal_ and kaiming_uniform_ use gain / sqrt(fan)", function()
    lunet.manual_seed(3)
    local w = lunet.zeros(64, 32, 3, 3)
    init.kaiming_normal_(w, { mode = "fan_out", nonlinearity = "relu" })
    local mean, std = stats(w)
    local want = math.sqrt(2) / math.sqrt(64 * 9)
    assert.is_true(math.abs(std - want) < 0.03 * want, std .. " vs " .. want)
    assert.is_true(math.abs(mean) < 0.03 * want)
    init.kaiming_uniform_(w)   -- a=0, fan_in, leaky_relu: gain sqrt(2)
    local _, _, mx = stats(w)
    local bound = math.sqrt(2) * math.sqrt(3 / (32 * 9))
    assert.is_true(mx <= bound and mx > 0.99 * bound)
    init.kaiming_uniform_(w, 0.2, "fan_in", "leaky_relu")   -- positional form
    _, _, mx = stats(w)
    bound = math.sqrt(2 / 1.04) * math.sqrt(3 / (32 * 9))
    assert.is_true(mx <= bound and mx > 0.99 * bound)
  end)

  it("xavier_uniform_ and xavier_normal_ use gain * sqrt(2 / (fan_in + fan_out))", function()
    local w = lunet.zeros(100, 200)
    init.xavier_uniform_(w, { gain = 2 })
    local _, _, mx = stats(w)
    local bound = 2 * math.sqrt(6 / 300)
    assert.is_true(mx <= bound and mx > 0.99 * bound)
    init.xavier_normal_(w)
    local _, std = stats(w)
    assert.is_true(math.abs(std - math.sqrt(2 / 300)) < 0.03 * math.sqrt(2 / 300))
  end)

  it("normal_, uniform_, constant_, zeros_, ones_", function()
    local w = lunet.zeros(100, 100)
    init.normal_(w, 2, 0.5)
    local mean, std = stats(w)
    assert.is_true(math.abs(mean - 2) < 0.02 and math.abs(std - 0.5) < 0.02)
    init.uniform_(w, { a = -1, b = 3 })
    local v = w:view(-1):tolist()
    local lo, hi = math.huge, -math.huge
    for _, x in ipairs(v) do lo = math.min(lo, x); hi = math.max(hi, x) end
    assert.is_true(lo >= -1 and lo < -0.99 and hi < 3 and hi > 2.99)
    init.constant_(w, 0.25)
    assert.are.equal(0.25, w:get(7, 9))
    init.ones_(w); assert.are.equal(1, w:get(1, 1))
    init.zeros_(w); assert.are.equal(0, w:get(100, 100))
  end)

  it("works on parameters (no autograd recording) and draws from opts.generator", function()
    local p = lunet.zeros(4, 4):requires_grad(true)
    local a = init.normal_(p, { generator = lunet.Generator(9) }):tolist()
    local b = init.normal_(p, { generator = lunet.Generator(9) }):tolist()
    assert.are.same(a, b)
    assert.is_true(p:is_leaf())
  end)

  it("calculate_gain matches PyTorch", function()
    assert.are.equal(1, init.calculate_gain("linear"))
    assert.are.equal(1, init.calculate_gain("sigmoid"))
    assert.are.equal(5 / 3, init.calculate_gain("tanh"))
    assert.are.equal(math.sqrt(2), init.calculate_gain("relu"))
    assert.are.equal(math.sqrt(2 / (1 + 0.01 ^ 2)), init.calculate_gain("leaky_relu"))
    assert.are.equal(math.sqrt(2 / (1 + 0.2 ^ 2)), init.calculate_gain("leaky_relu", 0.2))
    assert.are.equal(0.75, init.calculate_gain("selu"))
  end)

  local errors = {
    { function() init.kaiming_normal_(lunet.zeros(5)) end,
      "kaiming_normal_: fan in and fan out need a tensor of at least 2 dimensions, got [5]" },
    { function() init.kaiming_uniform_(lunet.zeros(2, 2), { mode = "fan" }) end,
      "kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got 'fan'" },
    { function() init.kaiming_uniform_(lunet.zeros(2, 2), { nonlinearity = "swish" }) end,
      "kaiming_uniform_: unsupported nonlinearity 'swish'" },
    { function() init.xavier_uniform_(lunet.zeros(2, 2), { gian = 1 }) end, "xavier_uniform_: unknown option 'gian' (did you mean 'gain'?)" },
    { function() init.normal_({}) end, "normal_: tensor expected, got table" },
    { function() init.zeros_(lunet.zeros(2, { dtype = "int32" })) end, "zeros_: tensor must be float32, got int32" },
    { function() init.uniform_(lunet.zeros(2), 1, 0) end, "uniform_: a (1) must not exceed b (0)" },
    { function() init.constant_(lunet.zeros(2)) end, "constant_: val is required" },
  }
  for i, c in ipairs(errors) do
    it("error " .. i .. ": " .. c[2], function() assert.has_error(c[1], c[2]) end)
  end
end)

describe("forward wiring", function()
  it("Conv2d and ConvTranspose2d call F with their options", function()
    if not needs("conv2d", "conv_transpose2d") then return end
    lunet.manual_seed(11)
    local x = lunet.randn(2, 4, 7, 6)
    local c = nn.Conv2d(4, 6, { 3, 2 }, { stride = 2, padding = { 1, 0 }, dilation = { 1, 2 }, groups = 2 })
    same_values(c(x), F.conv2d(x, c.weight, c.bias, { stride = 2, padding = { 1, 0 }, dilation = { 1, 2 }, groups = 2 }))
    local t = nn.ConvTranspose2d(4, 2, 2, { stride = 2, output_padding = 1, bias = false })
    local y = t(x)
    assert.are.same({ 2, 2, 15, 13 }, y:shape())
    same_values(y, F.conv_transpose2d(x, t.weight, nil, { stride = 2, output_padding = 1 }))
    y:sum():backward()
    assert.are.same(t.weight:shape(), t.weight.grad:shape())
  end)

  it("Linear computes x W^T + b with gradients", function()
    local m = nn.Linear(3, 2)
    local x = lunet.randn(4, 3)
    same_values(m(x), x:matmul(m.weight:transpose(1, 2)) + m.bias)
    m(x):sum():backward()
    assert.are.same({ 2, 3 }, m.weight.grad:shape())
    assert.is_true(lunet.allclose(m.bias.grad, lunet.full({ 2 }, 4)))
  end)

  it("BatchNorm2d uses batch statistics in training (updating the running ones) and running ones in eval", function()
    if not needs("batch_norm") then return end
    lunet.manual_seed(2)
    local bn = nn.BatchNorm2d(3, { momentum = 0.5 })
    local x = lunet.randn(4, 3, 2, 2) * 2 + 1
    local y = bn(x)
    local mean = x:mean(1, true):mean(3, true):mean(4, true):view(3)
    same_values(bn.running_mean, mean * 0.5)
    assert.are.equal(1, bn.num_batches_tracked:item())
    same_values(y, F.batch_norm(x, nil, nil, bn.weight, bn.bias, { training = true }))
    bn:eval()
    local rm, rv = bn.running_mean:clone(), bn.running_var:clone()
    local z = bn(x)
    same_values(z, F.batch_norm(x, rm, rv, bn.weight, bn.bias, { training = false }))
    same_values(bn.running_mean, rm)
    assert.are.equal(1, bn.num_batches_tracked:item())
    local free = nn.BatchNorm2d(3, { track_running_stats = false }):eval()
    same_values(free(x), y)
  end)

  it("GroupNorm calls F.group_norm", function()
    if not needs("group_norm") then return end
    local gn = nn.GroupNorm(2, 4, { eps = 1e-3 })
    local x = lunet.randn(2, 4, 3, 3)
    same_values(gn(x), F.group_norm(x, 2, gn.weight, gn.bias, { eps = 1e-3 }))
  end)

  it("pooling, unpooling and Upsample", function()
    if not needs("max_pool2d", "avg_pool2d", "max_unpool2d", "interpolate", "adaptive_avg_pool2d") then return end
    local x = lunet.randn(1, 2, 6, 6)
    local pool = nn.MaxPool2d(2, { return_indices = true })
    local y, idx = pool(x)
    assert.are.same({ 1, 2, 3, 3 }, y:shape())
    local up = nn.MaxUnpool2d(2)(y, idx)
    assert.are.same({ 1, 2, 6, 6 }, up:shape())
    same_values(nn.MaxPool2d(3, { stride = 2, padding = 1 })(x), F.max_pool2d(x, { kernel = 3, stride = 2, padding = 1 }))
    same_values(nn.AvgPool2d(2)(x), F.avg_pool2d(x, { kernel = 2 }))
    same_values(nn.Upsample { scale_factor = 2, mode = "bilinear", align_corners = false }(x),
      F.interpolate(x, { scale_factor = 2, mode = "bilinear", align_corners = false }))
    assert.are.same({ 1, 2, 4, 5 }, nn.Upsample { size = { 4, 5 } }(x):shape())
    assert.are.same({ 1, 2, 1, 1 }, nn.AdaptiveAvgPool2d(1)(x):shape())
  end)

  it("dropout is active in training only", function()
    if not needs("dropout", "dropout2d") then return end
    lunet.manual_seed(4)
    local x = lunet.ones(2, 8, 4, 4)
    local d = nn.Dropout(0.5)
    local y = d(x)
    local zeros = y:eq(0):to("int32"):sum():item()
    assert.is_true(zeros > 0 and zeros < x:numel())
    assert.are.equal(2, y:max():item())
    d:eval()
    same_values(d(x), x)
    local d2 = nn.Dropout2d(0.5)
    local z = d2(x)
    -- whole channels are zero or scaled
    for n = 1, 2 do
      for c = 1, 8 do
        local plane = z:select(1, n):select(1, c)
        local s = plane:sum():item()
        assert.is_true(s == 0 or s == 32)
      end
    end
    d2:eval()
    same_values(d2(x), x)
  end)

  it("activations, softmax, identity and Sequential", function()
    if not needs("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax") then return end
    local x = lunet.randn(2, 3, 2, 2)
    same_values(nn.ReLU()(x), F.relu(x))
    same_values(nn.LeakyReLU(0.2)(x), F.leaky_relu(x, 0.2))
    same_values(nn.Sigmoid()(x), F.sigmoid(x))
    same_values(nn.Tanh()(x), F.tanh(x))
    same_values(nn.Softmax(2)(x):sum(2), lunet.ones(2, 2, 2))
    same_values(nn.LogSoftmax(2)(x), F.log_softmax(x, 2))
    assert.are.equal(x, nn.Identity()(x))
    local seq = nn.Sequential { nn.ReLU(), nn.Sigmoid() }
    same_values(seq(x), F.sigmoid(F.relu(x)))
  end)
end)

describe("gradients through layers reach their parameters (gradcheck)", function()
  local function check(m, x)
    x:requires_grad(true)
    local inputs = { x }
    for _, p in ipairs(m:parameters()) do inputs[#inputs + 1] = p end
    assert(lunet.gradcheck(function(xx) return m(xx) end, inputs, { eps = 1e-2, atol = 2e-3, rtol = 2e-2 }))
  end
  it("Linear", function()
    lunet.manual_seed(8)
    check(nn.Linear(3, 2), lunet.randn(4, 3))
  end)
  it("Conv2d, ConvTranspose2d, BatchNorm2d (training), GroupNorm", function()
    if not needs("conv2d", "conv_transpose2d", "batch_norm", "group_norm") then return end
    lunet.manual_seed(9)
    check(nn.Conv2d(2, 3, 3, { padding = 1, stride = 2 }), lunet.randn(2, 2, 5, 5))
    check(nn.ConvTranspose2d(2, 2, 2, { stride = 2 }), lunet.randn(1, 2, 3, 3))
    check(nn.Sequential(nn.Conv2d(2, 4, 1), nn.BatchNorm2d(4)), lunet.randn(3, 2, 3, 3))
    check(nn.GroupNorm(2, 4), lunet.randn(2, 4, 3, 3))
  end)
end)

describe("containers", function()
  it("Sequential from arguments or a list, indexable, appendable, named 1..n", function()
    local a = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    local b = nn.Sequential { nn.Linear(2, 3), nn.Linear(3, 1) }
    assert.are.equal(2, #a)
    assert.are.equal(#a, #b)
    assert.are.equal("Linear", b[2].__name)
    a:append(nn.Identity())
    assert.are.equal(3, #a)
    local names = {}
    for name in a:named_parameters() do names[#names + 1] = name end
    assert.are.same({ "1.weight", "1.bias", "2.weight", "2.bias" }, names)
    local x = lunet.randn(5, 2)
    same_values(a(x), a[2](a[1](x)))
    local empty = nn.Sequential()
    assert.are.equal(x, empty(x))
  end)

  it("ModuleList iterates with ipairs and registers appended modules", function()
    local l = nn.ModuleList { nn.Linear(1, 1) }
    l:append(nn.Linear(1, 2))
    local n = 0
    for i, m in ipairs(l) do n = n + 1; assert.are.equal(l[i], m) end
    assert.are.equal(2, n)
    assert.are.equal(6, l:num_parameters())
  end)
end)

describe("printing", function()
  it("shows options that differ from the defaults", function()
    local cases = {
      { nn.Conv2d(3, 16, 3, { padding = 1 }), "Conv2d(3, 16, kernel_size=3, padding=1)" },
      { nn.Conv2d(3, 16, { 3, 1 }, { stride = 2, groups = 1, bias = false }), "Conv2d(3, 16, kernel_size=(3, 1), stride=2, bias=false)" },
      { nn.ConvTranspose2d(4, 2, 2, { stride = 2 }), "ConvTranspose2d(4, 2, kernel_size=2, stride=2)" },
      { nn.BatchNorm2d(8), "BatchNorm2d(8)" },
      { nn.GroupNorm(2, 8, { affine = false }), "GroupNorm(2, 8, affine=false)" },
      { nn.MaxPool2d(2), "MaxPool2d(kernel_size=2)" },
      { nn.AvgPool2d(3, { stride = 1, padding = 1 }), "AvgPool2d(kernel_size=3, stride=1, padding=1)" },
      { nn.Upsample { scale_factor = 2, mode = "bilinear", align_corners = true },
        "Upsample(scale_factor=2, mode=\"bilinear\", align_corners=true)" },
      { nn.Dropout2d(0.1), "Dropout2d(p=0.1)" },
      { nn.ReLU(), "ReLU()" },
      { nn.Softmax(2), "Softmax(dim=2)" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], (tostring(c[1]):gsub("  %-%- .*$", "")))
    end
    assert.are.equal("Linear(2, 3)  -- 9 parameters", tostring(nn.Linear(2, 3)))
  end)
end)

describe("normalisation modules name themselves in option errors", function()
  for _, c in ipairs {
    { "BatchNorm2d", "BatchNorm2d: eps must be a number >= 0, got -1" },
    { "BatchNorm3d", "BatchNorm3d: eps must be a number >= 0, got -1" },
    { "InstanceNorm3d", "InstanceNorm3d: eps must be a number >= 0, got -1" },
  } do
    it(c[1], function()
      local ok, e = pcall(nn[c[1]], 4, { eps = -1 })
      assert.is_false(ok)
      assert.are.equal(c[2], (tostring(e):gsub("^[^:]*:%d+: ", "")))
    end)
  end
  it("keeps PyTorch's defaults (BatchNorm: affine + running stats, InstanceNorm3d: neither)", function()
    local b, i = nn.BatchNorm3d(4), nn.InstanceNorm3d(4)
    assert.is_true(b.affine and b.track_running_stats)
    assert.is_false(i.affine or i.track_running_stats)
    assert.are.equal(8, b:num_parameters())
    assert.are.equal(0, i:num_parameters())
  end)
end)
