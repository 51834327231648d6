-- Overflow-safe shapes: every size, element count, stride, offset and byte count of the core
-- is computed with overflow checks, so a shape whose count wraps int64 is an error naming the
-- function and the shape, never a wrapped count, a heap overflow or a silent wrong result.
local lunet = require "lunet"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()

local u8 = { dtype = "uint8" }
local function idx(t) return lunet.tensor(t, { dtype = "int32" }) end

describe("reported overflow reproducers", function()
  H.error_cases {
    { "a view whose size product wraps to the element count (heap overflow before)",
      function() return lunet.randn(2, 3, 4):view((1 << 61) + 3, 8):select(1, 1000000):fill_(1) end,
      "view: cannot view a tensor of shape [2, 3, 4] (24 elements) as [2305843009213693955, 8] (the element "
        .. "count overflows int64)" },
    { "an expand whose element count wraps (numel() and sum() gave 0 before)",
      function() return lunet.ones(1, 1):expand(2 ^ 40, 2 ^ 40):sum() end,
      "expand: shape [1099511627776, 1099511627776] is too large (its element count or byte size overflows int64)" },
    { "numel of that expand",
      function() return lunet.ones(1, 1):expand(2 ^ 40, 2 ^ 40):numel() end,
      "expand: shape [1099511627776, 1099511627776] is too large (its element count or byte size overflows int64)" },
    { "an empty shape whose strides overflow (signed overflow before)",
      function() return lunet.zeros(0, 2 ^ 62, 2 ^ 62) end,
      "zeros: shape [0, 4611686018427387904, 4611686018427387904] is too large (its element count or byte size "
        .. "overflows int64)" },
  }
end)

describe("every tensor that exists has a representable element count and byte size", function()
  it("keeps large but representable expanded views, with exact counts", function()
    local v = lunet.ones(1, 1, u8):expand(2 ^ 31, 2 ^ 31)   -- 2^62 one-byte elements
    assert.are.equal(1 << 62, v:numel())
    assert.are.same({ 0, 0 }, v:stride())
    local f = lunet.ones(1, 1):expand(2 ^ 30, 2 ^ 30)        -- 2^60 floats: 2^62 bytes
    assert.are.equal(1 << 60, f:numel())
    assert.are.equal(1, f:get(2 ^ 30, 2 ^ 30))
  end)
  it("rejects a float32 view whose byte size would overflow even when its count fits", function()
    assert.has_error(function() return lunet.ones(1, 1):expand(2 ^ 31, 2 ^ 31) end,
      "expand: shape [2147483648, 2147483648] is too large (its element count or byte size overflows int64)")
  end)
  it("gives empty tensors with huge other dims valid strides when they fit", function()
    local e = lunet.zeros(0, 2 ^ 20, 2 ^ 20, u8)
    assert.are.equal(0, e:numel())
    assert.are.same({ 1 << 40, 1 << 20, 1 }, e:stride())
    assert.are.same({ 2 ^ 20, 0 }, { e:view(-1, 2 ^ 20):size(2), e:view(-1, 2 ^ 20):size(1) })
  end)
end)

describe("shape arithmetic raises instead of wrapping", function()
  H.error_cases {
    { "a creation shape past int64",
      function() return lunet.empty(2 ^ 32, 2 ^ 32) end,
      "empty: shape [4294967296, 4294967296] is too large (its element count or byte size overflows int64)" },
    { "a shape given as a table",
      function() return lunet.ones({ 2 ^ 31, 2 ^ 31, 4 }, u8) end,
      "ones: shape [2147483648, 2147483648, 4] is too large (its element count or byte size overflows int64)" },
    { "tensor() with a shape option past int64",
      function() return lunet.tensor({ 1 }, { shape = { 2 ^ 40, 2 ^ 40 } }) end,
      "tensor: shape [1099511627776, 1099511627776] is too large (its element count or byte size overflows int64)" },
    { "a random tensor",
      function() return lunet.rand(2 ^ 40, 2 ^ 40) end,
      "rand: shape [1099511627776, 1099511627776] is too large (its element count or byte size overflows int64)" },
    { "an expand with a new leading dimension",
      function() return lunet.zeros(3):expand(2 ^ 61, 4, 3) end,
      "expand: shape [2305843009213693952, 4, 3] is too large (its element count or byte size overflows int64)" },
    { "a broadcast of two valid views",
      function() return lunet.ones(1, 1):expand(2 ^ 40, 1) + lunet.ones(1, 1):expand(1, 2 ^ 40) end,
      "add: the broadcast shape [1099511627776, 1099511627776] of [1099511627776, 1] and [1, 1099511627776] is "
        .. "too large (its element count overflows int64)" },
    { "a broadcast in where",
      function() return lunet.where(lunet.ones(1, 1, u8):expand(2 ^ 40, 1), 1, lunet.ones(1, 1):expand(1, 2 ^ 40)) end,
      "where: the broadcast shape [1099511627776, 1099511627776] of [1099511627776, 1] and [1, 1099511627776] is "
        .. "too large (its element count overflows int64)" },
    { "a view size product that wraps to a small count",
      function() return lunet.zeros(4):view(2 ^ 62, 4) end,
      "view: cannot view a tensor of shape [4] (4 elements) as [4611686018427387904, 4] (the element count "
        .. "overflows int64)" },
    { "a view with -1 and a product that wraps",
      function() return lunet.zeros(4):view(2 ^ 62, 4, -1) end,
      "view: cannot view a tensor of shape [4] (4 elements) as [4611686018427387904, 4, -1]" },
    { "a reshape whose size product wraps",
      function() return lunet.zeros(2, 3):t():reshape((1 << 62) + 3, 2) end,
      "reshape: cannot view a tensor of shape [3, 2] (6 elements) as [4611686018427387907, 2] (the element "
        .. "count overflows int64)" },
    { "a concatenated size past int64",
      function() return lunet.cat({ lunet.ones(1, u8):expand(2 ^ 62), lunet.ones(1, u8):expand(2 ^ 62) }) end,
      "cat: the total size along dimension 1 overflows int64 at tensors[2] of shape [4611686018427387904]" },
    { "a narrow whose end overflows",
      function() return lunet.ones(2, 3):narrow(2, 2, math.maxinteger) end,
      "narrow: start 2 and length 9223372036854775807 out of range for dimension 2 of size 3" },
    { "a narrow from math.mininteger",
      function() return lunet.ones(2, 3):narrow(2, math.mininteger, 1) end,
      "narrow: start -9223372036854775808 and length 1 out of range for dimension 2 of size 3" },
    { "arange with more elements than int64 counts",
      function() return lunet.arange(math.mininteger, math.maxinteger) end,
      "arange: start -9223372036854775808, end 9223372036854775807 and step 1 give too many elements "
        .. "(18446744073709551615)" },
    { "arange with an infinite element count",
      function() return lunet.arange(0, 1e300, 1e-300) end,
      "arange: start 0, end 1e+300 and step 1e-300 give too many elements (inf)" },
    { "arange whose count overflows the byte size",
      function() return lunet.arange(0, 2 ^ 62, 1) end,
      "arange: shape [4611686018427387904] is too large (its element count or byte size overflows int64)" },
    { "randperm beyond int32 positions",
      function() return lunet.randperm(2 ^ 40) end,
      "randperm: n must be in [0, 2147483647] (int32 positions), got 1099511627776" },
    { "matmul beyond BLAS's int sizes",
      function() return lunet.ones(2, 2):matmul(lunet.ones(1, 1):expand(2, 2 ^ 31)) end,
      "matmul: shapes [2, 2] and [2, 2147483648] have matrix sizes beyond BLAS's int range (2147483647)" },
    { "argmax over more positions than int32 holds",
      function() return lunet.ones(1, u8):expand(2 ^ 32):argmax() end,
      "argmax: tensor has 4294967296 elements; int32 positions cannot index it" },
    { "max along a dimension longer than int32 positions",
      function() return lunet.ones(1, 1, u8):expand(1, 2 ^ 32):max(2) end,
      "max: dimension 2 has 4294967296 elements; int32 positions cannot index it" },
  }
end)

describe("messages print 64-bit values in full", function()
  H.error_cases {
    { "select", function() return lunet.zeros(2, 3):select(1, 2 ^ 32 + 1) end,
      "select: index 4294967297 out of range for dimension 1 of size 2" },
    { "get", function() return lunet.zeros(2, 3):get(2 ^ 40, 1) end,
      "get: index 1099511627776 out of range for dimension 1 of size 2" },
    { "a dimension", function() return lunet.zeros(2, 3):sum(2 ^ 40) end,
      "sum: dimension 1099511627776 out of range for a 2-d tensor (use 1..2 or -2..-1)" },
    { "narrow", function() return lunet.zeros(2, 3):narrow(1, 2 ^ 33, 1) end,
      "narrow: start 8589934592 and length 1 out of range for dimension 1 of size 2" },
    { "index_select", function() return lunet.zeros(3):index_select(1, idx({ 2 ^ 31 - 1 })) end,
      "index_select: index 2147483647 out of range 1..3" },
    { "randint's range", function() return lunet.randint(2 ^ 40, 2 ^ 40, { 2 }) end,
      "randint: empty range [1099511627776, 1099511627776)" },
    { "randperm", function() return lunet.randperm(-(2 ^ 40)) end,
      "randperm: n must be in [0, 2147483647] (int32 positions), got -1099511627776" },
    { "a shape entry count", function() return lunet.zeros({ 1, 1, 1, 1, 1, 1, 1, 1, 1 }) end,
      "zeros: shape has 9 dimensions (at most 8)" },
    { "Generator:random", function() return lunet.Generator(1):random(2 ^ 40, 2 ^ 39) end,
      "Generator:random: empty range [1099511627776, 549755813888]" },
    { "permute", function() return lunet.zeros(2, 3):permute({ 1, 2, 3 }) end,
      "permute: 3 dims given for a 2-d tensor" },
  }
end)

describe("index operations validate dims, dtypes and 1-based ranges", function()
  local t = lunet.tensor({ { 1, 2, 3 }, { 4, 5, 6 } })
  H.error_cases {
    { "a 2-D index_select index", function() return t:index_select(2, idx({ { 1 } })) end,
      "index_select: index must be 1-D, got shape [1, 1]" },
    { "index 0", function() return t:index_select(2, idx({ 0 })) end,
      "index_select: index 0 out of range 1..3" },
    { "a negative index beyond the size", function() return t:index_select(2, idx({ -4 })) end,
      "index_select: index -4 out of range 1..3" },
    { "a 0-d self", function() return lunet.tensor(3):index_select(1, idx({ 1 })) end,
      "index_select: self is a 0-d tensor (it has no dimension to index)" },
    { "a float gather index", function() return t:gather(2, lunet.ones(2, 3)) end,
      "gather: index must be int32 or uint8, got float32" },
    { "a gather dimension out of range", function() return t:gather(3, idx({ { 1 } })) end,
      "gather: dimension 3 out of range for a 2-d tensor (use 1..2 or -2..-1)" },
    { "a gather index out of range", function() return t:gather(2, idx({ { 4 } })) end,
      "gather: index 4 out of range 1..3" },
    { "a gather index larger than the input", function() return t:gather(2, idx({ { 1 }, { 1 }, { 1 } })) end,
      "gather: index shape [3, 1] does not fit input shape [2, 3] at dimension 1" },
    { "a scatter_add_ src smaller than the index",
      function() return lunet.zeros(2, 3):scatter_add_(2, idx({ { 1, 2 } }), lunet.ones(2)) end,
      "scatter_add_: src of shape [2] is smaller than index [1, 2]" },
    { "an index_add_ src of the wrong shape",
      function() return lunet.zeros(2, 3):index_add_(2, idx({ 1, 2 }), lunet.ones(3, 2)) end,
      "index_add_: src of shape [3, 2] does not match self [2, 3] with index [2] along dimension 2" },
    { "a repeated flip dimension", function() return lunet.zeros(2, 3):flip(2, 2) end,
      "flip: dimension 2 repeated" },
  }
  it("accepts negative positions and uint8 indices", function()
    assert.are.same({ { 3, 1 }, { 6, 4 } }, t:index_select(2, idx({ -1, 1 })):totable())
    local big = lunet.arange(0, 300):view(1, 300)
    assert.are.same({ { 299 } }, big:index_select(2, idx({ -1 })):totable())
    assert.are.same({ { 2 }, { 4 } }, t:gather(2, lunet.tensor({ { 2 }, { 1 } }, u8)):totable())
  end)
end)
