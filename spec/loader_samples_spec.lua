-- spec/loader_samples_spec.lua: what the DataLoader says about bad samples and bad options:
-- the dataset index at fault (dataset:get(i)), the shapes and dtypes, raised at the line of
-- the script that built or iterated the loader.
local lunet = require "lunet"
local data = require "lunet.data"

local THIS = "spec/loader_samples_spec.lua"

-- A dataset of n items; item i is make(i) (default: a 1 x 4 x 4 float image, 4 x 4 int32 mask).
local function dataset(n, make)
  return {
    len = function() return n end,
    get = function(_, i)
      if make then
        local s, done = make(i)
        if done then return s end
        if s ~= nil then return s end
      end
      return { image = lunet.zeros(1, 4, 4), mask = lunet.zeros({ 4, 4 }, { dtype = "int32" }) }
    end,
  }
end

-- One epoch over a loader (the error surfaces at the for loop, in this file).
local function epoch(loader)
  for _ in loader:iter() do end
end

-- The message of the error fn raises, checked to come with this file's name and a line.
local function message(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  local where, msg = tostring(err):match("^(.-:%d+): (.*)$")
  assert.are.equal(THIS, where and where:match("^(.-):%d+$"), err)
  return msg
end

local function img(h, w, dtype) return lunet.zeros({ 1, h, w }, { dtype = dtype or "float32" }) end
local function msk(h, w, dtype) return lunet.zeros({ h, w }, { dtype = dtype or "int32" }) end

describe("DataLoader sample checks", function()
  local cases = {
    { "get returning nil",
      function() epoch(data.DataLoader(dataset(4, function(i) if i == 3 then return nil, true end end), { batch_size = 2 })) end,
      "DataLoader: dataset:get(3) returned nil, expected a table {image=, mask=} (the dataset has 4 items)" },
    { "get returning nil, with a collate of one's own",
      function()
        epoch(data.DataLoader(dataset(2, function(i) if i == 2 then return nil, true end end),
                              { collate = function(s) return s end }))
      end,
      "DataLoader: dataset:get(2) returned nil, expected a table {image=, mask=} (the dataset has 2 items)" },
    { "get returning a number",
      function() epoch(data.DataLoader(dataset(3, function(i) if i == 2 then return 7, true end end), { batch_size = 3 })) end,
      "DataLoader: dataset:get(2) returned a number, expected a table {image=, mask=}" },
    { "a sample without image",
      function() epoch(data.DataLoader(dataset(2, function(i) if i == 2 then return { mask = msk(4, 4), name = "b" } end end),
                                       { batch_size = 2 })) end,
      "DataLoader: item 2 has no image (dataset:get(2) gave a table with fields: mask, name)" },
    { "an empty sample",
      function() epoch(data.DataLoader(dataset(1, function() return {} end))) end,
      "DataLoader: item 1 has no image (dataset:get(1) gave a table with fields: none)" },
    { "an image that is no tensor",
      function() epoch(data.DataLoader(dataset(1, function() return { image = "x.png" } end))) end,
      "DataLoader: item 1: image is not a tensor, got string" },
    { "a 4-d image",
      function() epoch(data.DataLoader(dataset(1, function() return { image = lunet.zeros(1, 1, 4, 4) } end))) end,
      "DataLoader: item 1: image must be C x H x W (or H x W), got [1, 1, 4, 4]" },
    { "images of different sizes (named by dataset index)",
      function() epoch(data.DataLoader(dataset(4, function(i) if i == 4 then return { image = img(4, 5), mask = msk(4, 5) } end end),
                                       { batch_size = 2 })) end,
      "DataLoader: images in a batch differ: item 3 is [1, 4, 4] float32, item 4 is [1, 4, 5] float32 (resize or crop them to one size)" },
    { "images of different dtypes",
      function() epoch(data.DataLoader(dataset(4, function(i) if i == 4 then return { image = img(4, 4, "uint8"), mask = msk(4, 4) } end end),
                                       { batch_size = 2 })) end,
      "DataLoader: images in a batch differ: item 3 is [1, 4, 4] float32, item 4 is [1, 4, 4] uint8 (resize or crop them to one size)" },
    { "images of different channel counts",
      function() epoch(data.DataLoader(dataset(2, function(i) if i == 1 then return { image = lunet.zeros(3, 4, 4), mask = msk(4, 4) } end end),
                                       { batch_size = 2 })) end,
      "DataLoader: images in a batch differ: item 1 is [3, 4, 4] float32, item 2 is [1, 4, 4] float32 (resize or crop them to one size)" },
    { "masks of different sizes",
      function() epoch(data.DataLoader(dataset(4, function(i) if i == 4 then return { image = img(4, 4), mask = msk(4, 5) } end end),
                                       { batch_size = 2 })) end,
      "DataLoader: masks in a batch differ: item 3 is [4, 4] int32, item 4 is [4, 5] int32 (resize or crop them to one size)" },
    { "masks of different dtypes",
      function() epoch(data.DataLoader(dataset(2, function(i) if i == 2 then return { image = img(4, 4), mask = msk(4, 4, "uint8") } end end),
                                       { batch_size = 2 })) end,
      "DataLoader: masks in a batch differ: item 1 is [4, 4] int32, item 2 is [4, 4] uint8 (resize or crop them to one size)" },
    { "a mask on some items only",
      function() epoch(data.DataLoader(dataset(4, function(i) if i == 4 then return { image = img(4, 4) } end end),
                                       { batch_size = 2 })) end,
      "DataLoader: item 4 has no mask but item 3 has one (all items of a batch need one, or none)" },
    { "a float mask",
      function() epoch(data.DataLoader(dataset(2, function(i) if i == 2 then return { image = img(4, 4), mask = lunet.zeros(4, 4) } end end),
                                       { batch_size = 2 })) end,
      "DataLoader: item 2: mask must hold class ids (int32 or uint8), got float32" },
    { "a 3-d mask with 2 channels",
      function() epoch(data.DataLoader(dataset(1, function() return { image = img(4, 4), mask = lunet.zeros({ 2, 4, 4 }, { dtype = "int32" }) } end))) end,
      "DataLoader: item 1: mask must be H x W (or 1 x H x W), got [2, 4, 4]" },
    { "a mask that is no tensor",
      function() epoch(data.DataLoader(dataset(1, function() return { image = img(4, 4), mask = {} } end))) end,
      "DataLoader: item 1: mask is not a tensor, got table" },
  }
  for _, c in ipairs(cases) do
    it("names the item: " .. c[1], function()
      assert.are.equal(c[3], message(c[2]))
    end)
  end

  it("names the dataset index under shuffling too", function()
    -- item 5 is the odd one; whichever batch holds it, the message names item 5
    local ds = dataset(6, function(i) if i == 5 then return { image = img(4, 6), mask = msk(4, 6) } end end)
    local msg = message(function() epoch(data.DataLoader(ds, { batch_size = 6, shuffle = true, seed = 3 })) end)
    assert.is_truthy(msg:find("item 5 is [1, 4, 6] float32", 1, true), msg)
  end)

  it("collate called directly names items by position", function()
    local msg = message(function() data.collate({ { image = img(4, 4) }, { image = img(5, 4) } }) end)
    assert.are.equal("DataLoader: images in a batch differ: item 1 is [1, 4, 4] float32, item 2 is [1, 5, 4] float32 " ..
                     "(resize or crop them to one size)", msg)
    assert.are.equal("DataLoader: dataset:get(2) returned nil, expected a table {image=, mask=}",
                     message(function() data.collate({ { image = img(4, 4) } }, { 1, 2 }) end))
  end)

  it("still batches good samples, with or without masks, and keeps extra fields", function()
    local b = data.DataLoader(dataset(3, function(i) return { image = img(4, 4), name = "s" .. i } end),
                              { batch_size = 3 }):iter()()
    assert.are.same({ 3, 1, 4, 4 }, b.image:shape())
    assert.is_nil(b.mask)
    assert.are.same({ "s1", "s2", "s3" }, b.name)
    assert.are.same({ 1, 2, 3 }, b.index)
    local b2 = data.DataLoader(dataset(2), { batch_size = 2 }):iter()()
    assert.are.same({ 2, 4, 4 }, b2.mask:shape())
  end)
end)

describe("DataLoader options", function()
  local ds = dataset(3)
  local cases = {
    { { batchsize = 2 }, "DataLoader: unknown option 'batchsize' (did you mean 'batch_size'?)" },
    { { suffle = true }, "DataLoader: unknown option 'suffle' (did you mean 'shuffle'?)" },
    { 5, "DataLoader: options must be a table, got number" },
    { { batch_size = 0 }, "DataLoader: batch_size must be an integer >= 1, got 0" },
    { { batch_size = 2.5 }, "DataLoader: batch_size must be an integer >= 1, got 2.5" },
    { { batch_size = 0 / 0 }, "DataLoader: batch_size must be an integer >= 1, got nan" },
    { { batch_size = "4" }, "DataLoader: batch_size must be an integer >= 1, got '4'" },
    { { shuffle = "yes" }, "DataLoader: shuffle must be true or false, got 'yes'" },
    { { drop_last = 1 }, "DataLoader: drop_last must be true or false, got 1" },
    { { seed = 1.5 }, "DataLoader: seed must be an integer, got 1.5" },
    { { seed = "a" }, "DataLoader: seed must be an integer, got 'a'" },
    { { generator = 5 }, "DataLoader: generator must be a lunet.Generator, got number" },
    { { collate = 1 }, "DataLoader: collate must be a function, got number" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. (type(c[1]) == "table" and next(c[1]) or tostring(c[1])) .. ": " .. c[2], function()
      assert.are.equal(c[2], message(function() return data.DataLoader(ds, c[1]) end))
    end)
  end

  it("rejects a dataset without get, and a bad length", function()
    assert.are.equal("DataLoader: dataset must have a get(i) method, got number",
                     message(function() return data.DataLoader(3) end))
    assert.are.equal("DataLoader: dataset length must be a non-negative integer, got -1",
                     message(function() return data.DataLoader({ len = function() return -1 end, get = function() end }) end))
  end)

  it("accepts integral floats and booleans", function()
    local l = data.DataLoader(ds, { batch_size = 2.0, shuffle = false, drop_last = true, seed = 4.0 })
    assert.are.equal(1, #l)
    assert.are.equal(2, l.batch_size)
    assert.are.equal("integer", math.type(l.batch_size))
  end)
end)
