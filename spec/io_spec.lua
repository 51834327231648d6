-- safetensors checkpoints: a file written by Python loads with the right names and values,
-- lunet -> file -> lunet round trips, atomic writes, and every kind of malformed file
-- (truncated, lying header, huge header length, non-JSON, unsupported dtype) raises a
-- clear error without crashing.
local lunet = require "lunet"
local REF = dofile("spec/ref/io.lua")
local TORCH_FILE = "spec/ref/torch_state.safetensors"

local function errmsg(fn, ...)
  local ok, msg = pcall(fn, ...)
  assert(not ok, "expected an error")
  return (tostring(msg):gsub("^[^:]*:%d+: ", ""))
end

local tmpdir
local function tmp(name) return tmpdir .. "/" .. name end

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function listdir(dir)
  local p = io.popen("ls -A '" .. dir .. "'")
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  table.sort(names)
  return names
end

-- A safetensors file from a header string and data bytes.
local function st(header, data)
  return string.pack("<I8", #header) .. header .. (data or "")
end

setup(function()
  local p = io.popen("mktemp -d")
  tmpdir = p:read("l")
  p:close()
end)

teardown(function()
  if tmpdir then os.execute("rm -rf '" .. tmpdir .. "'") end
end)

describe("lunet.load", function()
  it("reads a file written by Python with the right names, dtypes, shapes and values", function()
    local sd, meta, order = lunet.load(TORCH_FILE)
    assert.are.same(REF.metadata, meta)
    assert.are.same(REF.order, order)
    local n = 0
    for name, e in pairs(REF.tensors) do
      n = n + 1
      local t = sd[name]
      assert.is_not_nil(t, name)
      assert.are.equal(e.dtype, t:dtype(), name)
      assert.are.same(e.shape, t:shape(), name)
      -- %.9g round-trips float32 exactly: compare after rounding the reference to float32
      local expected = #e.values > 0 and lunet.tensor(e.values, { dtype = e.dtype }):tolist() or {}
      assert.are.same(expected, t:contiguous():view(-1):tolist(), name)
    end
    for _ in pairs(sd) do n = n - 1 end
    assert.are.equal(0, n)
  end)

  it("converts I64 to int32 when the values fit (num_batches_tracked)", function()
    local sd = lunet.load(TORCH_FILE)
    assert.are.equal("int32", sd["bn.num_batches_tracked"]:dtype())
    assert.are.equal(7, sd["bn.num_batches_tracked"]:item())
  end)
end)

describe("lunet.save", function()
  it("round-trips float32, int32 and uint8 tensors, views, 0-d and empty tensors", function()
    local g = lunet.Generator(5)
    local t = {
      ["enc.1.weight"] = g:randn(3, 2, 3, 3),
      ["enc.1.bias"] = g:randn(3),
      ["labels"] = g:randint(-1000, 1000, { 4, 5 }):to("int32"),
      ["mask"] = g:randint(0, 256, { 2, 3 }):to("uint8"),
      ["scalar"] = lunet.tensor(2.5),
      ["empty"] = lunet.zeros(0, 4),
      ["permuted"] = g:randn(2, 3, 4):permute(3, 1, 2),
      ["narrowed"] = g:randn(6, 5):narrow(2, 2, 3),
      ['odd "name"\\/é'] = lunet.tensor({ 1, 2 }),
    }
    local path = tmp("round.safetensors")
    lunet.save(path, t, { epoch = 3, note = "hello" })
    local back, meta, order = lunet.load(path)
    assert.are.same({ epoch = "3", note = "hello" }, meta)
    local names = {}
    for k in pairs(t) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same(names, order)          -- stored in name order
    for k, v in pairs(t) do
      assert.are.equal(v:dtype(), back[k]:dtype(), k)
      assert.are.same(v:shape(), back[k]:shape(), k)
      assert.are.same(v:contiguous():view(-1):tolist(), back[k]:contiguous():view(-1):tolist(), k)
    end
    -- header padded to 8 bytes, as the reference implementation writes it
    local bytes = read(path)
    assert.are.equal(0, string.unpack("<I8", bytes) % 8)
  end)

  it("round-trips the Python file byte-for-byte in values", function()
    local sd, meta = lunet.load(TORCH_FILE)
    local path = tmp("again.safetensors")
    lunet.save(path, sd, meta)
    local sd2, meta2 = lunet.load(path)
    assert.are.same(meta, meta2)
    for k, v in pairs(sd) do
      assert.are.same(v:contiguous():view(-1):tolist(), sd2[k]:contiguous():view(-1):tolist(), k)
    end
  end)

  it("writes atomically: replaces the file and leaves no temporary file", function()
    local dir = tmp("atomic")
    os.execute("mkdir -p '" .. dir .. "'")
    local path = dir .. "/ckpt.safetensors"
    lunet.save(path, { a = lunet.ones(3) })
    lunet.save(path, { a = lunet.full({ 3 }, 2) })
    assert.are.same({ "ckpt.safetensors" }, listdir(dir))
    assert.are.same({ 2, 2, 2 }, lunet.load(path).a:tolist())
    -- a failed save leaves the old file intact
    assert.has_error(function() lunet.save(path, { a = 1 }) end)
    assert.are.same({ 2, 2, 2 }, lunet.load(path).a:tolist())
    assert.are.same({ "ckpt.safetensors" }, listdir(dir))
  end)

  local cases = {
    { function() lunet.save(tmp("x"), { a = 1 }) end, "save: 'a' is not a tensor (number)" },
    { function() lunet.save(tmp("x"), { lunet.ones(1) }) end, "save: tensor names must be strings, got number 1" },
    { function() lunet.save(tmp("x"), { __metadata__ = lunet.ones(1) }) end,
      "save: '__metadata__' cannot be a tensor name" },
    { function() lunet.save(tmp("x"), "nope") end, "save: tensors must be a table of name = tensor, got string" },
    { function() lunet.save("", {}) end, "save: path must be a non-empty string, got string" },
    { function() lunet.save(tmp("x"), {}, { k = {} }) end,
      "save: metadata must map strings to strings or numbers (key k)" },
    { function() lunet.save(tmpdir .. "/no/such/dir/x.safetensors", { a = lunet.ones(1) }) end,
      "save: cannot create a temporary file next to '" .. tmpdir .. "/no/such/dir/x.safetensors': No such file or directory" },
  }
  for i, c in ipairs(cases) do
    it("rejects bad arguments (case " .. i .. ")", function()
      local expected = c[2]
      if type(expected) == "function" then expected = expected() end
      assert.are.equal(expected, errmsg(c[1]))
    end)
  end
end)

describe("lunet.load on malformed files", function()
  local f32x4 = string.pack("<ffff", 1, 2, 3, 4)
  local function hdr(json) return json end
  local cases = {
    { "missing file", nil, function(p) return "load: cannot open '" .. p .. "': No such file or directory" end },
    { "shorter than the length field", "abc", function(p)
      return "load: '" .. p .. "' is 3 bytes, too short for a safetensors header length" end },
    { "huge header length", string.pack("<I8", 1 << 40) .. "{}", function(p)
      return "load: '" .. p .. "': header length 1099511627776 exceeds the 2 bytes after it (or the 100 MB limit)" end },
    { "header cut short", st('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'):sub(1, 30), function(p)
      return "load: '" .. p .. "': header length 55 exceeds the 22 bytes after it" end },
    { "non-JSON header", st("this is not json"), function(p)
      return "load: '" .. p .. "': header is not valid JSON (at byte 0 of 16)" end },
    { "JSON that is not an object", st("[1, 2, 3]"), function(p)
      return "load: '" .. p .. "': header is not a JSON object" end },
    { "trailing bytes after the JSON", st('{} xx'), function(p)
      return "load: '" .. p .. "': header has trailing bytes after the JSON object (at byte 3)" end },
    { "data beyond the end of the file", st(hdr('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'), f32x4:sub(1, 8)),
      function(p) return "load: '" .. p .. "': tensor 'a': data_offsets [0, 16] go beyond the end of the file (data region has 8 bytes)" end },
    { "size that does not match the shape", st('{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', f32x4),
      function(p) return "load: '" .. p .. "': tensor 'a': data_offsets [0, 12] hold 12 bytes but shape [2, 2] of F32 needs 16" end },
    { "overlapping tensors", st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', f32x4),
      function(p) return "load: '" .. p .. "': tensors 'a' and 'b' overlap (data_offsets [0, 8] and [4, 12])" end },
    { "offsets that end before they begin", st('{"a":{"dtype":"U8","shape":[0],"data_offsets":[8,4]}}', f32x4),
      function(p) return "load: '" .. p .. "': tensor 'a': data_offsets [8, 4] end before they begin" end },
    { "a negative shape", st('{"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}', f32x4),
      function(p) return "load: '" .. p .. "': tensor 'a': shape entry 1 is not a non-negative integer" end },
    { "a missing dtype", st('{"a":{"shape":[4],"data_offsets":[0,16]}}', f32x4),
      function(p) return "load: '" .. p .. "': tensor 'a': missing or non-string \"dtype\"" end },
    { "a duplicated name", st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', f32x4),
      function(p) return "load: '" .. p .. "': header names tensor 'a' twice" end },
    { "an F16 tensor", st('{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', f32x4:sub(1, 4)),
      function(p) return "load: '" .. p .. "': tensor 'h' has dtype F16, which lunet cannot load (F32, I32, U8, BOOL, and I64 when its values fit in int32)" end },
    { "a BF16 tensor", st('{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}', f32x4:sub(1, 4)),
      function(p) return "load: '" .. p .. "': tensor 'h' has dtype BF16, which lunet cannot load (F32, I32, U8, BOOL, and I64 when its values fit in int32)" end },
    { "an I64 value beyond int32", st('{"big":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}', string.pack("<i8i8", 5, 1 << 32)),
      function(p) return "load: '" .. p .. "': tensor 'big': I64 value 4294967296 at element 2 does not fit in int32" end },
    { "non-string metadata", st('{"__metadata__":{"epoch":3}}'),
      function(p) return "load: '" .. p .. "': \"__metadata__\" value of 'epoch' is not a string" end },
    { "too many dimensions", st('{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}', "x"),
      function(p) return "load: '" .. p .. "': tensor 'a': 9 dimensions (lunet allows 8)" end },
  }
  for i, c in ipairs(cases) do
    it("raises a clear error for " .. c[1], function()
      local path = tmp("bad" .. i .. ".safetensors")
      if c[2] then write(path, c[2]) end
      assert.are.equal(c[3](path), errmsg(lunet.load, path))
    end)
  end

  it("never crashes on any truncation of a valid file", function()
    local bytes = read(TORCH_FILE)
    local path = tmp("cut.safetensors")
    for n = 0, #bytes - 1, 2 do
      write(path, bytes:sub(1, n))
      local ok, msg = pcall(lunet.load, path)
      assert(not ok, "truncated to " .. n .. " bytes but loaded")
      assert.is_truthy(tostring(msg):find("load: ", 1, true))
    end
  end)

  it("never crashes when header bytes are corrupted", function()
    local bytes = read(TORCH_FILE)
    local hlen = string.unpack("<I8", bytes)
    local path = tmp("flip.safetensors")
    local loaded, failed = 0, 0
    for pos = 1, 8 + hlen, 7 do
      for _, b in ipairs { 0, 0x22, 0x7b, 0x39, 0xff } do
        write(path, bytes:sub(1, pos - 1) .. string.char(b) .. bytes:sub(pos + 1))
        local ok, msg = pcall(lunet.load, path)
        if ok then loaded = loaded + 1 else
          failed = failed + 1
          assert.is_truthy(tostring(msg):find("load: ", 1, true), tostring(msg))
        end
      end
    end
    assert.is_true(failed > 0)
  end)
end)
