-- Checked conversions: a value that does not fit int32 or uint8 (out of range, NaN or inf)
-- raises "value cannot be converted to type ... without overflow" as PyTorch does for scalars,
-- naming the value and, for tensors, its position; nothing is clamped silently. In-range
-- floats truncate toward zero as a C cast and PyTorch do. Integer arithmetic whose result
-- does not fit its dtype raises the same way instead of saturating or wrapping.
local lunet = require "lunet"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()

local T = lunet.tensor
local u8, i32 = { dtype = "uint8" }, { dtype = "int32" }
local nan, inf = 0 / 0, math.huge

describe("reported clamping reproducers", function()
  H.error_cases {
    { "tensor() of 300 into uint8 (gave 255)", function() return T({ 300, -1 }, u8) end,
      "tensor: value 300 at [1] cannot be converted to type uint8 without overflow" },
    { "tensor() of -1 into uint8 (gave 0)", function() return T({ 3, -1 }, u8) end,
      "tensor: value -1 at [2] cannot be converted to type uint8 without overflow" },
    { "full() of NaN into int32 (gave 0)", function() return lunet.full({ 2 }, nan, i32) end,
      "full: value nan cannot be converted to type int32 without overflow" },
    { "randint beyond int32 (gave 2147483647)", function() return lunet.randint(0, 2 ^ 40, { 3 }) end,
      "randint: range [0, 1099511627776) does not fit dtype int32 (pass dtype = \"float32\" for wider ranges)" },
    { "randint over the whole int64 range into int32",
      function() return lunet.randint(math.mininteger, math.maxinteger, { 3 }) end,
      "randint: range [-9223372036854775808, 9223372036854775807) does not fit dtype int32 (pass dtype = "
        .. "\"float32\" for wider ranges)" },
  }
  it("draws randint over the whole int64 range without overflow when the dtype holds it", function()
    local r = lunet.randint(math.mininteger, math.maxinteger, { 64 }, { dtype = "float32", generator = lunet.Generator(1) })
    local neg, pos = 0, 0
    for _, v in ipairs(r:tolist()) do
      assert.is_true(v >= -2 ^ 63 and v <= 2 ^ 63)
      if v < 0 then neg = neg + 1 else pos = pos + 1 end
    end
    assert.is_true(neg > 8 and pos > 8)   -- a wrapped span would put every draw on one side
    local g = lunet.Generator(2)
    for _ = 1, 50 do
      local v = g:random(math.mininteger, math.maxinteger)
      assert.are.equal("integer", math.type(v))
    end
    assert.are.equal(5, lunet.Generator(3):random(5, 5))
  end)
  it("keeps randint values inside [lo, hi) at the ends of int32 and uint8", function()
    local r = lunet.randint(2 ^ 31 - 3, 2 ^ 31, { 200 }, { generator = lunet.Generator(4) })
    assert.are.equal(2 ^ 31 - 3, r:min():item())
    assert.are.equal(2 ^ 31 - 1, r:max():item())
    local b = lunet.randint(250, 256, { 200 }, { dtype = "uint8", generator = lunet.Generator(5) })
    assert.are.equal(250, b:min():item())
    assert.are.equal(255, b:max():item())
    local n = lunet.randint(-2 ^ 31, -2 ^ 31 + 2, { 100 }, { generator = lunet.Generator(6) })
    assert.are.equal(-2 ^ 31, n:min():item())
  end)
end)

describe("scalars converted into integer tensors", function()
  H.error_cases {
    { "tensor() of a number", function() return T(2 ^ 40, i32) end,
      "tensor: value 1099511627776 cannot be converted to type int32 without overflow" },
    { "tensor() of a Lua integer beyond 2^53 (printed exactly)", function() return T((1 << 62) + 1, i32) end,
      "tensor: value 4611686018427387905 cannot be converted to type int32 without overflow" },
    { "tensor() of a nested table", function() return T({ { 1, 2 }, { 3, 256 } }, u8) end,
      "tensor: value 256 at [2, 2] cannot be converted to type uint8 without overflow" },
    { "tensor() of a flat table with a shape", function() return T({ 1, 2, 3, inf }, { dtype = "int32", shape = { 2, 2 } }) end,
      "tensor: value inf at [2, 2] cannot be converted to type int32 without overflow" },
    { "tensor() of a fractional value past the range", function() return T({ 255.5, 256.5 }, u8) end,
      "tensor: value 256.5 at [2] cannot be converted to type uint8 without overflow" },
    { "full() of -inf", function() return lunet.full({ 2, 2 }, -inf, u8) end,
      "full: value -inf cannot be converted to type uint8 without overflow" },
    { "full() past int32", function() return lunet.full({ 1 }, 2 ^ 31, i32) end,
      "full: value 2147483648 cannot be converted to type int32 without overflow" },
    { "fill_()", function() return lunet.zeros(3, u8):fill_(-1) end,
      "fill_: value -1 cannot be converted to type uint8 without overflow" },
    { "fill_() with NaN", function() return lunet.zeros(3, i32):fill_(nan) end,
      "fill_: value nan cannot be converted to type int32 without overflow" },
    { "set()", function() return lunet.zeros(3, u8):set(256, 2) end,
      "set: value 256 cannot be converted to type uint8 without overflow" },
    { "set() of a fraction past the range", function() return lunet.zeros(3, i32):set(2147483648.5, 1) end,
      "set: value 2147483648.5 cannot be converted to type int32 without overflow" },
    { "a scalar operand that does not fit the integer result", function() return T({ 1, 2 }, u8) + 300 end,
      "add: value 300 cannot be converted to type uint8 without overflow" },
    { "a negative scalar for uint8", function() return T({ 1, 2 }, u8) * -1 end,
      "mul: value -1 cannot be converted to type uint8 without overflow" },
    { "an int64 scalar for int32", function() return T({ 1 }, i32) + (1 << 40) end,
      "add: value 1099511627776 cannot be converted to type int32 without overflow" },
    { "an in-place scalar", function() return T({ 1 }, u8):add_(256) end,
      "add_: value 256 cannot be converted to type uint8 without overflow" },
    { "an in-place float scalar into int32", function() return T({ 1 }, i32):mul_(2.5) end,
      "mul_: the result is float32 and cannot be stored in self of type int32 (convert self with to(\"float32\") first)" },
    { "an in-place float tensor into uint8", function() return T({ 1 }, u8):add_(T({ 1 })) end,
      "add_: the result is float32 and cannot be stored in self of type uint8 (convert self with to(\"float32\") first)" },
    { "true division in place into int32", function() return T({ 4 }, i32):div_(2) end,
      "div_: the result is float32 and cannot be stored in self of type int32 (convert self with to(\"float32\") first)" },
  }
  it("accepts in-range values and truncates fractions toward zero", function()
    assert.are.same({ 0, 255, 2 }, T({ -0.9, 255.9, 2.5 }, u8):tolist())
    assert.are.same({ -2147483648, 2147483647, -2 }, T({ -2147483648.9, 2147483647.9, -2.5 }, i32):tolist())
    assert.are.same({ 7, 7 }, lunet.full({ 2 }, 7.9, u8):tolist())
    assert.are.same({ 1, 0 }, T({ true, false }, u8):tolist())
    assert.are.equal(255, lunet.zeros(1, u8):set(255, 1):item())
    assert.are.same({ 255, 255 }, lunet.zeros(2, u8):fill_(255):tolist())
    assert.are.same({ 301, 302 }, (T({ 1, 2 }, i32) + 300):tolist())
    assert.are.equal("float32", (T({ 1 }, u8) + 300.5):dtype())
  end)
end)

describe("tensor conversions scan their source", function()
  H.error_cases {
    { "to uint8 of a float above 255", function() return T({ 1.5, 300.7, 2 }):to("uint8") end,
      "to: value 300.7 at [2] cannot be converted to type uint8 without overflow" },
    { "to int32 of NaN", function() return T({ { 1.5, 2 }, { nan, 3 } }):to("int32") end,
      "to: value nan at [2, 1] cannot be converted to type int32 without overflow" },
    { "to int32 of 2^31", function() return T({ 2 ^ 31 }):to("int32") end,
      "to: value 2147483648 at [1] cannot be converted to type int32 without overflow" },
    { "to uint8 of an int32 out of range", function() return T({ 1, 300 }, i32):to("uint8") end,
      "to: value 300 at [2] cannot be converted to type uint8 without overflow" },
    { "to uint8 of a negative int32", function() return T({ { 0, 1 }, { 2, -1 } }, i32):to("uint8") end,
      "to: value -1 at [2, 2] cannot be converted to type uint8 without overflow" },
    { "byte() of a transposed view (position in the view)", function() return T({ { 1, 2 }, { 3, -4 } }):t():byte() end,
      "to: value -4 at [2, 2] cannot be converted to type uint8 without overflow" },
    { "copy_ into uint8", function() return lunet.zeros(2, 3, u8):copy_(T({ { 1, 2, 3 }, { 4, -5, 6 } })) end,
      "copy_: value -5 at [2, 2] cannot be converted to type uint8 without overflow" },
    { "copy_ of a broadcast source (position in self)", function() return lunet.zeros(2, 3, i32):copy_(T({ 1, 2, inf })) end,
      "copy_: value inf at [1, 3] cannot be converted to type int32 without overflow" },
    { "tensor() of a tensor", function() return T(T({ 256 }), u8) end,
      "tensor: value 256 at [1] cannot be converted to type uint8 without overflow" },
  }
  it("converts in-range values, truncating toward zero, and writes nothing on failure", function()
    assert.are.same({ 2, 0, 255 }, T({ 2.9, -0.9, 255.9 }):to("uint8"):tolist())
    assert.are.same({ -2147483648, -2 }, T({ -2147483648, -2.9 }):to("int32"):tolist())
    assert.are.same({ 0, 255 }, T({ 0, 255 }, i32):to("uint8"):tolist())
    local dst = lunet.full({ 3 }, 9, u8)
    assert.has_error(function() dst:copy_(T({ 1, 2, 300 })) end)
    assert.are.same({ 9, 9, 9 }, dst:tolist())
    -- widening and to-float conversions need no scan and always succeed
    assert.are.same({ 255 }, T({ 255 }, u8):to("int32"):tolist())
    assert.are.same({ 2147483520 }, T({ 2147483520 }, i32):to("float32"):to("int32"):tolist())
    -- int32's maximum rounds up to 2^31 in float32, which int32 cannot hold
    assert.has_error(function() return T({ 2147483647 }, i32):to("float32"):to("int32") end,
      "to: value 2147483648 at [1] cannot be converted to type int32 without overflow")
  end)
end)

describe("integer arithmetic checks its results", function()
  H.error_cases {
    { "uint8 + uint8 past 255", function() return T({ 1, 200 }, u8) + T({ 1, 100 }, u8) end,
      "add: result 300 at [2] cannot be converted to type uint8 without overflow" },
    { "uint8 - scalar below 0", function() return T({ 3 }, u8) - 5 end,
      "sub: result -2 at [1] cannot be converted to type uint8 without overflow" },
    { "int32 overflow", function() return T({ 0, 2147483647 }, i32) + 1 end,
      "add: result 2147483648 at [2] cannot be converted to type int32 without overflow" },
    { "int32 product", function() return T({ { 1, 65536 } }, i32) * T({ 65536 }, i32) end,
      "mul: result 4294967296 at [1, 2] cannot be converted to type int32 without overflow" },
    { "neg of the int32 minimum", function() return T({ -2147483648 }, i32):neg() end,
      "neg: result 2147483648 at [1] cannot be converted to type int32 without overflow" },
    { "square of uint8", function() return T({ 15, 16 }, u8):square() end,
      "square: result 256 at [2] cannot be converted to type uint8 without overflow" },
    { "an int32 sum", function() return T({ 2 ^ 30, 2 ^ 30 }, i32):sum() end,
      "sum: result 2147483648 cannot be converted to type int32 without overflow" },
    { "an int32 sum along a dim", function() return T({ { 1, 2 ^ 30 }, { 1, 2 ^ 30 } }, i32):sum(1) end,
      "sum: result 2147483648 at [2] cannot be converted to type int32 without overflow" },
    { "a uint8 clamp to a bound past the range", function() return T({ 1, 2 }, u8):clamp(5, 300):clamp(300) end,
      "clamp: result 300 at [1] cannot be converted to type uint8 without overflow" },
    { "where choosing an out-of-range scalar", function()
        return lunet.where(T({ 0, 1 }, u8), T({ 3, 4 }, u8), 300) end,
      "where: result 300 at [1] cannot be converted to type uint8 without overflow" },
    { "an int32 scatter_add_", function()
        return lunet.zeros(2, i32):scatter_add_(1, T({ 2, 2 }, i32), T({ 2147483647, 1 }, i32)) end,
      "scatter_add_: result 2147483648 at [2] cannot be converted to type int32 without overflow" },
  }
  it("leaves an integer tensor unchanged when an in-place update overflows", function()
    local u = T({ 250, 1 }, u8)
    assert.has_error(function() u:add_(10) end, "add_: result 260 at [1] cannot be converted to type uint8 without overflow")
    assert.are.same({ 250, 1 }, u:tolist())
    assert.has_error(function() u:add_(T({ 1, 255 }, u8)) end)
    assert.are.same({ 250, 1 }, u:tolist())
    assert.has_error(function() u:clamp_(0, 300):clamp_(256) end)
    assert.are.same({ 250, 1 }, u:tolist())
    local i = T({ 2147483647, 0 }, i32)
    assert.has_error(function() i:scatter_add_(1, T({ 1 }, i32), T({ 1 }, i32)) end)
    assert.are.same({ 2147483647, 0 }, i:tolist())
    u:sub_(T({ 250, 1 }, u8))
    assert.are.same({ 0, 0 }, u:tolist())
    i:add_(T({ -1, 1 }, i32), 2)
    assert.are.same({ 2147483645, 2 }, i:tolist())
  end)
  it("compares against out-of-range scalars exactly instead of converting them", function()
    assert.are.same({ 0, 0 }, T({ 44, 255 }, u8):eq(300):tolist())
    assert.are.same({ 1, 1 }, T({ 44, 255 }, u8):lt(300):tolist())
    assert.are.same({ 1 }, T({ 1 }, i32):gt(-(1 << 40)):tolist())
  end)
end)
