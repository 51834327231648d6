-- nn.Module: subclassing, registration by field assignment, dotted names in PyTorch order,
-- state dicts (strict loading with precise errors), train/eval, printing.
local lunet = require "lunet"
local nn = require "lunet.nn"

-- A leaf with one parameter and one buffer, independent of the functional kernels.
local Scale = nn.Module:extend("Scale")
function Scale:__init(n)
  self.weight = lunet.ones(n):requires_grad(true)
  self:register_buffer("calls", lunet.zeros(1))
end
function Scale:forward(x)
  self.calls:fill_(self.calls:item() + 1)
  return x * self.weight
end
function Scale:extra_repr() return tostring(self.weight:numel()) end

local Block = nn.Module:extend("Block")
function Block:__init(n)
  self.conv1 = nn.Linear(n, n)
  self.act = nn.Identity()
  self.conv2 = nn.Linear(n, n, { bias = false })
end
function Block:forward(x) return self.conv2(self.act(self.conv1(x))) end

local Net = nn.Module:extend("Net")
function Net:__init(opts)
  self.n = opts.n
  self.stem = Scale(opts.n)
  self.down = nn.ModuleList()
  for _ = 1, 2 do self.down:append(Block(opts.n)) end
  self.gain = lunet.full({ 1 }, 2):requires_grad(true)
  self.head = nn.Sequential(nn.Linear(opts.n, 1))
end
function Net:forward(x)
  x = self.stem(x)
  for _, b in ipairs(self.down) do x = b(x) end
  return self.head(x) * self.gain
end

local function names(iter)
  local out = {}
  for name in iter do out[#out + 1] = name end
  return out
end

describe("nn.Module classes", function()
  it("constructs with M(opts) and calls forward with m(x)", function()
    lunet.manual_seed(1)
    local m = Net { n = 3 }
    assert.are.equal("Net", m.__name)
    assert.are.equal(3, m.n)
    local y = m(lunet.randn(4, 3))
    assert.are.same({ 4, 1 }, y:shape())
    assert.are.equal(1, m.stem.calls:item())
    assert.is_true(m:is_instance_of(Net))
    assert.is_true(m:is_instance_of(nn.Module))
    assert.is_false(m:is_instance_of(Block))
  end)

  it("subclasses of subclasses inherit and override", function()
    local Scale2 = Scale:extend("Scale2")
    function Scale2:forward(x) return Scale.forward(self, x) * 2 end
    local s = Scale2(2)
    assert.are.same({ 2, 2 }, s(lunet.ones(2)):tolist())
    assert.is_true(s:is_instance_of(Scale))
    assert.are.same({ "weight" }, names(s:named_parameters()))
  end)

  it("raises on an abstract forward", function()
    local M = nn.Module:extend("Empty")
    assert.has_error(function() M()(lunet.ones(1)) end,
      "Empty: no forward method defined (define function Empty:forward(...))")
    assert.has_error(function() nn.Module:extend(3) end,
      "Module:extend: name must be a non-empty string, got number")
  end)
end)

describe("registration", function()
  it("names parameters in PyTorch order with 1-based container indices", function()
    local m = Net { n = 2 }
    assert.are.same({ "gain", "stem.weight", "down.1.conv1.weight", "down.1.conv1.bias",
      "down.1.conv2.weight", "down.2.conv1.weight", "down.2.conv1.bias", "down.2.conv2.weight",
      "head.1.weight", "head.1.bias" }, names(m:named_parameters()))
    assert.are.equal(10, #m:parameters())
    assert.are.same({ "stem.calls" }, names(m:named_buffers()))
  end)

  it("gives the state dict in PyTorch order (parameters, then buffers, per module)", function()
    local m = Net { n = 2 }
    local sd = m:state_dict()
    local keys = {}
    for k, v in pairs(sd) do
      keys[#keys + 1] = k
      assert.is_true(lunet.is_tensor(v))
    end
    assert.are.same({ "gain", "stem.weight", "stem.calls", "down.1.conv1.weight", "down.1.conv1.bias",
      "down.1.conv2.weight", "down.2.conv1.weight", "down.2.conv1.bias", "down.2.conv2.weight",
      "head.1.weight", "head.1.bias" }, keys)
    -- detached views share storage with the parameters
    assert.is_true(sd["gain"]:shares_storage(m.gain))
    assert.is_false(sd["gain"]:needs_grad())
  end)

  it("keeps plain values, tensors without grad and plain tables out of the state", function()
    local M = nn.Module:extend("Plain")
    function M:__init()
      self.k = 3
      self.t = lunet.zeros(2)
      self.list = { nn.Linear(1, 1) }
      self.w = lunet.zeros(2):requires_grad(true)
    end
    local m = M()
    assert.are.same({ "w" }, names(m:named_parameters()))
    assert.are.equal(3, m.k)
    assert.is_true(lunet.is_tensor(m.t))
  end)

  it("unregisters on nil, re-registers on reassignment, keeps kinds on replacement", function()
    local m = Net { n = 2 }
    m.gain = nil
    assert.is_nil(m.gain)
    assert.are.equal("stem.weight", names(m:named_parameters())[1])
    m.gain = lunet.ones(1):requires_grad(true)
    assert.are.equal("gain", names(m:named_parameters())[1])   -- own parameters come first
    m.gain2 = lunet.ones(1):requires_grad(true)
    assert.are.same({ "gain", "gain2", "stem.weight" }, { table.unpack(names(m:named_parameters()), 1, 3) })
    m.gain = nil
    m.gain = lunet.ones(1):requires_grad(true)
    assert.are.same({ "gain2", "gain", "stem.weight" }, { table.unpack(names(m:named_parameters()), 1, 3) })
    -- a buffer replaced by a tensor stays a buffer
    m.stem.calls = lunet.full({ 1 }, 7)
    assert.are.equal(7, m:state_dict()["stem.calls"]:item())
    -- a module slot can become a plain value and back
    m.head = false
    assert.are.equal(false, m.head)
    m.head = nn.Identity()
    assert.are.same({ "stem", "down", "head" }, names(m:named_children()))
    -- register_parameter marks requires_grad
    local t = lunet.zeros(3)
    m:register_parameter("extra", t)
    assert.is_true(t:needs_grad())
  end)

  it("supports non-persistent buffers; shared modules count once in parameters", function()
    local M = nn.Module:extend("Shared")
    function M:__init()
      local l = nn.Linear(2, 2)
      self.a = l
      self.b = l
      self:register_buffer("tmp", lunet.zeros(1), { persistent = false })
    end
    local m = M()
    assert.are.same({ "a.weight", "a.bias" }, names(m:named_parameters()))
    assert.are.equal(6, m:num_parameters())
    -- the state dict names tied weights under every path, as PyTorch's
    local keys = {}
    for k in pairs(m:state_dict()) do keys[#keys + 1] = k end
    assert.are.same({ "a.weight", "a.bias", "b.weight", "b.bias" }, keys)
    m:load_state_dict(m:state_dict())
    assert.are.same({ "tmp" }, names(m:named_buffers()))
  end)

  it("lists children and modules, applies functions", function()
    local m = Net { n = 2 }
    assert.are.same({ "stem", "down", "head" }, names(m:named_children()))
    assert.are.equal(3, #m:children())
    local mods = names(m:named_modules())
    assert.are.same({ "", "stem", "down", "down.1", "down.1.conv1", "down.1.act", "down.1.conv2",
      "down.2", "down.2.conv1", "down.2.act", "down.2.conv2", "head", "head.1" }, mods)
    assert.are.equal(13, #m:modules())
    local visited = {}
    m:apply(function(x) visited[#visited + 1] = x.__name end)
    assert.are.equal("Net", visited[#visited])
    assert.are.equal("Scale", visited[1])
    assert.are.equal(2, #m.down)
    assert.are.equal("Block", m.down[2].__name)
  end)

  it("rejects bad registrations", function()
    local m = Net { n = 2 }
    assert.has_error(function() m:register_buffer("b", 3) end,
      "register_buffer: buffer 'b' must be a tensor or nil, got number")
    assert.has_error(function() m:register_buffer("a.b", lunet.zeros(1)) end,
      "register_buffer: invalid name 'a.b' (empty or containing '.')")
    assert.has_error(function() m:add_module("x", {}) end, "add_module: 'x' must be a module, got table")
    assert.has_error(function() m:register_buffer("b", lunet.zeros(1), { persist = false }) end,
      "register_buffer: unknown option 'persist' (did you mean 'persistent'?)")
  end)
end)

describe("train, eval, zero_grad, num_parameters", function()
  it("switches training recursively", function()
    local m = Net { n = 2 }
    assert.is_true(m.down[1].conv1.training)
    assert.are.equal(m, m:eval())
    for _, x in ipairs(m:modules()) do assert.is_false(x.training) end
    m:train()
    for _, x in ipairs(m:modules()) do assert.is_true(x.training) end
    m:train(false)
    assert.is_false(m.head[1].training)
    assert.has_error(function() m:train(1) end, "train: mode must be a boolean, got number")
  end)

  it("zero_grad clears every gradient", function()
    local m = Net { n = 2 }
    m(lunet.randn(3, 2)):sum():backward()
    assert.is_not_nil(m.down[2].conv2.weight.grad)
    m:zero_grad()
    for _, p in ipairs(m:parameters()) do assert.is_nil(p.grad) end
  end)

  it("freezes and unfreezes with requires_grad_", function()
    local m = Net { n = 2 }
    assert.are.equal(m.down, m.down:requires_grad_(false))
    assert.are.equal(6, m:num_parameters({ trainable = true }))
    assert.are.equal(10, #m:parameters())
    m(lunet.randn(3, 2)):sum():backward()
    assert.is_nil(m.down[1].conv1.weight.grad)
    assert.is_not_nil(m.head[1].weight.grad)
    m:requires_grad_()
    assert.are.equal(26, m:num_parameters({ trainable = true }))
    assert.has_error(function() m:requires_grad_(0) end, "requires_grad_: flag must be a boolean, got number")
  end)

  it("counts parameters, all or trainable", function()
    local m = Net { n = 2 }
    -- gain 1, stem 2, each block 4+2+4, head 2+1
    assert.are.equal(1 + 2 + 2 * 10 + 3, m:num_parameters())
    m.head[1].weight:requires_grad(false)
    assert.are.equal(24, m:num_parameters({ trainable = true }))
    assert.are.equal(26, m:num_parameters())
  end)
end)

describe("load_state_dict", function()
  it("copies values in place and round-trips", function()
    lunet.manual_seed(5)
    local a, b = Net { n = 2 }, Net { n = 2 }
    local w = b.down[1].conv1.weight
    local missing, unexpected = b:load_state_dict(a:state_dict())
    assert.are.same({}, missing)
    assert.are.same({}, unexpected)
    assert.are.equal(w, b.down[1].conv1.weight)   -- same tensor object, new values
    assert.are.same(a.down[1].conv1.weight:tolist(), w:tolist())
    local x = lunet.randn(3, 2)
    assert.are.same(a(x):tolist(), b(x):tolist())
  end)

  it("reports missing keys, unexpected keys and shape mismatches by name", function()
    local m = Net { n = 2 }
    local sd = m:state_dict()
    sd["down.2.conv1.bias"] = nil
    sd["head.1.bias"] = nil
    sd["down.3.conv1.weight"] = lunet.zeros(2, 2)
    sd["gain"] = lunet.zeros(2)
    sd["stem.calls"] = 4
    assert.has_error(function() m:load_state_dict(sd) end,
      "load_state_dict: missing keys: down.2.conv1.bias, head.1.bias; unexpected keys: "
      .. "down.3.conv1.weight; size mismatch: gain has shape [1] in the model, [2] in the state dict; "
      .. "stem.calls is a number, expected a tensor")
  end)

  it("changes nothing when it raises", function()
    local m = Net { n = 2 }
    local before = m.stem.weight:tolist()
    local sd = { ["stem.weight"] = lunet.full({ 2 }, 9) }
    assert.has_error(function() m:load_state_dict(sd) end)
    assert.are.same(before, m.stem.weight:tolist())
  end)

  it("with strict=false returns missing and unexpected keys", function()
    local m = Net { n = 2 }
    local missing, unexpected = m:load_state_dict({ ["stem.weight"] = lunet.full({ 2 }, 9),
      ["foo.bar"] = lunet.zeros(1) }, { strict = false })
    assert.are.same({ 9, 9 }, m.stem.weight:tolist())
    assert.are.equal(10, #missing)
    assert.are.same({ "foo.bar" }, unexpected)
    assert.has_error(function()
      m:load_state_dict({ ["stem.weight"] = lunet.zeros(3) }, { strict = false })
    end, "load_state_dict: size mismatch: stem.weight has shape [2] in the model, [3] in the state dict")
  end)

  it("reads and writes PyTorch's 0-based container indices on request", function()
    local m = Net { n = 2 }
    local sd = m:state_dict({ index_base = 0 })
    assert.is_not_nil(sd["down.0.conv1.weight"])
    assert.is_not_nil(sd["head.0.bias"])
    assert.is_nil(sd["down.2.conv1.weight"])
    local m2 = Net { n = 2 }
    m2:load_state_dict(sd, { index_base = 0 })
    assert.are.same(m.down[2].conv2.weight:tolist(), m2.down[2].conv2.weight:tolist())
    assert.has_error(function() m2:load_state_dict(sd) end)
  end)

  it("rejects bad arguments", function()
    local m = Net { n = 2 }
    assert.has_error(function() m:load_state_dict(3) end,
      "load_state_dict: state dict must be a table of tensors, got number")
    assert.has_error(function() m:load_state_dict({}, { strict = true, strcit = false }) end,
      "load_state_dict: unknown option 'strcit' (did you mean 'strict'?)")
    assert.has_error(function() m:state_dict({ index_base = 2 }) end,
      "state_dict: index_base must be 0 or 1, got 2")
  end)

  it("round-trips through lunet.save / lunet.load", function()
    if not package.searchpath("lunet.io", package.path) then
      pending("lunet.io (safetensors) is not in this tree yet")
      return
    end
    local m, m2 = Net { n = 2 }, Net { n = 2 }
    local path = os.tmpname()
    lunet.save(path, m:state_dict())
    m2:load_state_dict(lunet.load(path))
    os.remove(path)
    assert.are.same(m.down[1].conv1.weight:tolist(), m2.down[1].conv1.weight:tolist())
  end)
end)

describe("tostring", function()
  it("prints the module tree with parameter counts", function()
    local m = Net { n = 2 }
    assert.are.equal([[
Net(  -- 26 parameters
  (stem): Scale(2)  -- 2 parameters
  (down): ModuleList(  -- 20 parameters
    (1): Block(  -- 10 parameters
      (conv1): Linear(2, 2)  -- 6 parameters
      (act): Identity()
      (conv2): Linear(2, 2, bias=false)  -- 4 parameters
    )
    (2): Block(  -- 10 parameters
      (conv1): Linear(2, 2)  -- 6 parameters
      (act): Identity()
      (conv2): Linear(2, 2, bias=false)  -- 4 parameters
    )
  )
  (head): Sequential(  -- 3 parameters
    (1): Linear(2, 1)  -- 3 parameters
  )
)]], tostring(m))
    assert.are.equal("class Net", tostring(Net))
  end)
end)

describe("PyTorch interchange (spec/ref/modules.safetensors from gen_modules.py)", function()
  -- The same architecture as gen_modules.py, written as lunet Modules.
  local TBlock = nn.Module:extend("TBlock")
  function TBlock:__init(cin, cout)
    self.conv1 = nn.Conv2d(cin, cout, 3, { padding = 1 })
    self.bn = nn.BatchNorm2d(cout)
    self.conv2 = nn.Conv2d(cout, cout, 3, { padding = 1, bias = false })
  end
  function TBlock:forward(x)
    return self.conv2(nn.functional.relu(self.bn(self.conv1(x))))
  end
  local TNet = nn.Module:extend("TNet")
  function TNet:__init()
    self.down = nn.ModuleList { TBlock(3, 4), TBlock(4, 4) }
    self.pool = nn.MaxPool2d(2)
    self.up = nn.ConvTranspose2d(4, 4, 2, { stride = 2 })
    self.gn = nn.GroupNorm(2, 4)
    self.head = nn.Sequential(nn.Conv2d(4, 3, 1), nn.LeakyReLU(0.1))
  end
  function TNet:forward(x)
    for _, b in ipairs(self.down) do x = b(x) end
    return self.head(self.gn(self.up(self.pool(x))))
  end

  local function available()
    local F = nn.functional
    if not package.searchpath("lunet.io", package.path) then
      pending("lunet.io (safetensors) is not in this tree yet")
      return false
    end
    for _, f in ipairs({ "conv2d", "conv_transpose2d", "batch_norm", "group_norm", "max_pool2d", "relu", "leaky_relu" }) do
      if not F[f] then
        pending("nn.functional." .. f .. " is not in this tree yet")
        return false
      end
    end
    return true
  end

  it("names every tensor as PyTorch does (index_base = 0) and in PyTorch's order", function()
    if not available() then return end
    local _, meta = lunet.load("spec/ref/modules.safetensors")
    local keys = {}
    for k in pairs(TNet():state_dict({ index_base = 0 })) do keys[#keys + 1] = k end
    assert.are.equal(meta.keys, table.concat(keys, ","))
  end)

  it("loads a PyTorch state dict and reproduces its eval output", function()
    if not available() then return end
    local t = lunet.load("spec/ref/modules.safetensors")
    local x, y = t["test.input"], t["test.output"]
    t["test.input"], t["test.output"] = nil, nil
    local m = TNet()
    m:load_state_dict(t, { index_base = 0 })
    assert.are.equal(2, m.down[1].bn.num_batches_tracked:item())
    m:eval()
    local out = lunet.no_grad(function() return m(x) end)
    assert.are.same(y:shape(), out:shape())
    assert.is_true(lunet.allclose(out, y, 1e-4, 1e-5))
    -- and back: save with PyTorch names, reload into a fresh model
    local path = os.tmpname()
    lunet.save(path, m:state_dict({ index_base = 0 }))
    local m2 = TNet()
    m2:load_state_dict(lunet.load(path), { index_base = 0 })
    os.remove(path)
    m2:eval()
    assert.are.same(out:tolist(), lunet.no_grad(function() return m2(x) end):tolist())
  end)
end)
