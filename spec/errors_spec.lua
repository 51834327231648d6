-- Bad inputs to the tensor core: each raises a Lua error whose message names the function
-- and the shapes or values at fault. None crashes. (The "file:line:" prefix is stripped.)
local lunet = require "lunet"
local T = lunet.tensor

local a23, a32 = lunet.zeros(2, 3), lunet.zeros(3, 2)
local i3 = T({ 1, 2, 3 }, { dtype = "int32" })

local cases = {
  -- mismatched shapes for every binary op
  { function() return a23 + a32 end, "add: shapes [2, 3] and [3, 2] cannot be broadcast together" },
  { function() return a23 - lunet.zeros(4) end, "sub: shapes [2, 3] and [4] cannot be broadcast together" },
  { function() return a23 * lunet.zeros(2, 2) end, "mul: shapes [2, 3] and [2, 2] cannot be broadcast together" },
  { function() return a23 / lunet.zeros(3, 3) end, "div: shapes [2, 3] and [3, 3] cannot be broadcast together" },
  { function() return a23:pow(lunet.zeros(5)) end, "pow: shapes [2, 3] and [5] cannot be broadcast together" },
  { function() return a23:maximum(lunet.zeros(4)) end, "maximum: shapes [2, 3] and [4] cannot be broadcast together" },
  { function() return a23:minimum(lunet.zeros(4)) end, "minimum: shapes [2, 3] and [4] cannot be broadcast together" },
  { function() return a23:eq(lunet.zeros(2, 2)) end, "eq: shapes [2, 3] and [2, 2] cannot be broadcast together" },
  { function() return a23:lt(lunet.zeros(2, 2)) end, "lt: shapes [2, 3] and [2, 2] cannot be broadcast together" },
  { function() return lunet.where(a23:gt(0), a23, lunet.zeros(4)) end, "where: shapes [2, 3] and [4] cannot be broadcast together" },
  { function() return a23:matmul(a23) end, "matmul: shapes [2, 3] and [2, 3] are not aligned (3 vs 2)" },
  { function() return lunet.cat({ a23, a32 }, 1) end, "cat: tensors[2] has shape [3, 2], tensors[1] has [2, 3] (mismatch at dimension 2)" },
  { function() return lunet.stack({ a23, a32 }) end, "stack: tensors[2] has shape [3, 2], tensors[1] has [2, 3]" },
  { function() return a23:copy_(lunet.zeros(4)) end, "copy_: source of shape [4] cannot be copied into shape [2, 3]" },
  { function() return a23:addcmul_(a32, a32) end, "addcmul_: self [2, 3], tensor1 [3, 2] and tensor2 [3, 2] must have the same shape" },
  { function() return a23:add_(lunet.zeros(3, 3)) end, "add_: other of shape [3, 3] cannot be broadcast to self shape [2, 3]" },
  -- wrong dtypes
  { function() return i3:matmul(i3) end, "matmul: self must be float32, got int32" },
  { function() return i3:requires_grad() end, "requires_grad: only float32 tensors can require gradients, got int32" },
  { function() return a23:index_select(2, T({ 1 })) end, "index_select: index must be int32 or uint8, got float32" },
  { function() return lunet.tensor({ 1, 2 }, { dtype = "float64" }) end, "tensor: unknown dtype 'float64' (expected float32, int32 or uint8)" },
  -- out-of-range dims and indices
  { function() return a23:sum(3) end, "sum: dimension 3 out of range for a 2-d tensor (use 1..2 or -2..-1)" },
  { function() return a23:sum(0) end, "sum: dimension 0 out of range for a 2-d tensor (use 1..2 or -2..-1)" },
  { function() return a23:transpose(1, -3) end, "transpose: dimension -3 out of range for a 2-d tensor (use 1..2 or -2..-1)" },
  { function() return a23:unsqueeze(4) end, "unsqueeze: dimension 4 out of range for a 3-d tensor (use 1..3 or -3..-1)" },
  { function() return a23:narrow(2, 3, 2) end, "narrow: start 3 and length 2 out of range for dimension 2 of size 3" },
  { function() return a23:select(1, 3) end, "select: index 3 out of range for dimension 1 of size 2" },
  { function() return a23:get(3, 1) end, "get: index 3 out of range for dimension 1 of size 2" },
  { function() return a23:get(1) end, "get: 1 indices given for a tensor of shape [2, 3]" },
  { function() return a23:index_select(2, T({ 4 }, { dtype = "int32" })) end, "index_select: index 4 out of range 1..3" },
  { function() return a23:gather(2, T({ 1, 2 }, { dtype = "int32" }):view(1, 2, 1)) end, "gather: index has 3 dims, input has 2 (index [1, 2, 1], input [2, 3])" },
  { function() return a23:permute(1, 1) end, "permute: dimension 1 repeated" },
  { function() return a23[1] end, "tensor: numeric indexing is not supported; use x:get(i, ...) or x:select(d, i)" },
  -- shapes that do not fit
  { function() return a23:view(4, 2) end, "view: cannot view a tensor of shape [2, 3] (6 elements) as [4, 2] (8 elements)" },
  { function() return a23:view(-1, -1) end, "view: only one dimension can be -1" },
  { function() return a23:expand(4, 3) end, "expand: cannot expand shape [2, 3] to [4, 3]" },
  { function() return a23:item() end, "item: tensor of shape [2, 3] has 6 elements, expected exactly 1" },
  { function() return lunet.tensor({ { 1, 2 }, { 3 } }) end, "tensor: ragged nested table: expected 2 entries at depth 2, got 1" },
  -- negative and huge sizes
  { function() return lunet.zeros(2, -1) end, "zeros: negative size -1 in shape [2, -1]" },
  { function() return lunet.zeros(100000, 100000, 100000) end, "zeros: cannot allocate a float32 tensor of shape [100000, 100000, 100000] (4000000.0 GB)" },
  { function() return lunet.ones(4000000, 1000000) end, "ones: cannot allocate a float32 tensor of shape [4000000, 1000000] (16000.0 GB)" },
  { function() return lunet.randint(3, 3, { 2 }) end, "randint: empty range [3, 3)" },
  { function() return lunet.arange(1, 5, 0) end, "arange: step must be nonzero" },
  -- wrong argument types
  { function() return lunet.zeros({ 2, "x" }) end, "zeros: shape entry 2 must be an integer, got string" },
  { function() return lunet.tensor("abc") end, "tensor: data must be a number or a table, got string" },
  { function() return a23 + "x" end, "operator +: operands must be tensors or numbers, got userdata and string" },
  { function() return a23:add({}) end, "add: other must be a tensor or a number, got table" },
  { function() return lunet.randn(2, { generator = 5 }) end, "randn: option generator must be a lunet.Generator, got number" },
  { function() return lunet.no_grad(5) end, "no_grad: expected a function, got number" },
  { function() return a23:split(0) end, "split: size must be a positive integer, got 0" },
  { function() return lunet.set_num_threads(0) end, "set_num_threads: n must be an integer in [1, 1024], got 0" },
  { function() return a23:clamp(2, 1) end, "clamp: min 2.0 is greater than max 1.0" },
  -- autograd misuse
  { function() return (lunet.ones(2):requires_grad() * 2):backward() end, "backward: grad can be omitted only for a one-element output, got shape [2]" },
  { function() return lunet.ones(2):backward() end, "backward: tensor does not require grad (no graph was recorded: mark an input with requires_grad() and compute outside no_grad)" },
  { function() return lunet.ones(2):requires_grad():add_(1) end, "add_: in-place operation on a tensor that requires grad (wrap it in lunet.no_grad or use detach())" },
  { function() return (lunet.ones(2):requires_grad() * 2):requires_grad(false) end, "requires_grad: only leaf tensors can change requires_grad (this tensor is the output of 'mul'; use detach())" },
  { function() local x = lunet.ones(2):requires_grad() return (x * 2):sum():backward(lunet.ones(2)) end, "backward: grad has shape [2], output has []" },
  -- released storage
  { function() local t = lunet.ones(3) t:free() return t + 1 end, "add: self was released with free()" },
  { function() local t = lunet.ones(3) local v = t:view(3) t:free() return v:sum() end, "sum: self was released with free()" },
}

local function strip(msg) return (tostring(msg):gsub("^[^:]*:%d+: ", "")) end

describe("bad inputs raise clear errors", function()
  for i, c in ipairs(cases) do
    it(("case %d: %s"):format(i, c[2]), function()
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.are.equal(c[2], strip(err))
    end)
  end
end)

describe("released tensors", function()
  it("free() and <close> release storage at once", function()
    local t = lunet.ones(1000)
    assert.are.equal(4000, t:storage_bytes())
    t:free()
    assert.is_true(t:is_freed())
    assert.are.equal("tensor(<freed>)", tostring(t))
    local closed
    do
      local c <close> = lunet.ones(10)
      closed = c
    end
    assert.is_true(closed:is_freed())
  end)
end)
