-- spec/data_spec.lua: lunet.data: TensorDataset, SegmentationFolder pairing and errors,
-- DataLoader batching / shuffle / drop_last / seed reproducibility, and the dataset makers
-- on the real Debian packages (pending with a clear message when a package is absent).
local lunet = require "lunet"
local image = require "lunet.image"
local data = require "lunet.data"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat = H.flat

-- The message of the error f(...) raises, without its "file:line: " position (lunet's
-- errors point at the caller: spec/caller_spec.lua checks that).
local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return (tostring(msg):gsub("^[^:\n]+:%d+: ", ""))
end

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

local tmp = os.tmpname()
os.remove(tmp)
tmp = tmp .. "_lunet_data"
assert(os.execute("mkdir -p '" .. tmp .. "'"))
teardown(function() os.execute("rm -rf '" .. tmp .. "'") end)

local function mkdir(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

-- items i = 1..n: image 1 x 2 x 2 filled with i, mask 2 x 2 filled with i % 3
local function numbered(n)
  local img = lunet.zeros({n, 1, 2, 2}, {dtype = "uint8"})
  local mask = lunet.zeros({n, 2, 2}, {dtype = "int32"})
  for i = 1, n do
    img:select(1, i):fill_(i)
    mask:select(1, i):fill_(i % 3)
  end
  return data.TensorDataset{image = img, mask = mask}
end

local function ids_of(batch)
  local out = {}
  for i = 1, batch.image:size(1) do out[i] = math.floor(batch.image:get(i, 1, 1, 1) * 255 + 0.5) end
  return out
end

local function epoch(loader)
  local order = {}
  for b in loader:iter() do
    for _, id in ipairs(ids_of(b)) do order[#order + 1] = id end
  end
  return order
end

describe("TensorDataset", function()
  it("slices every tensor along dim 1 and applies the transform", function()
    local ds = numbered(5)
    assert.are.equal(5, ds:len())
    assert.are.equal(5, #ds)
    local s = ds:get(3)
    assert.are.same({1, 2, 2}, s.image:shape())
    assert.are.equal(3, s.image:get(1, 1, 1))
    assert.are.equal(0, s.mask:get(1, 1))
    assert.are.equal(3, s.index)
    local tf = data.TensorDataset{image = ds.tensors.image, mask = ds.tensors.mask,
                                  transform = function(x) return {image = x.image:flip(3), mask = x.mask + 1} end}
    local t = tf:get(2)
    assert.are.equal(3, t.mask:get(1, 1))
    assert.are.equal(2, t.index)
  end)

  it("raises exact errors", function()
    assert.are.equal("TensorDataset: tensors differ in length: 'image' has 3 items, 'mask' has 4 (shapes [3, 1, 2, 2], [4, 2, 2])",
      errmsg(data.TensorDataset, {image = lunet.zeros(3, 1, 2, 2), mask = lunet.zeros(4, 2, 2)}))
    assert.are.equal("TensorDataset: field 'mask' must be a tensor, got table",
      errmsg(data.TensorDataset, {image = lunet.zeros(3, 1, 2, 2), mask = {}}))
    assert.are.equal("TensorDataset:get: index 4 is outside 1..3", errmsg(numbered(3).get, numbered(3), 4))
  end)
end)

describe("DataLoader", function()
  it("batches in order, converting uint8 images to float32 / 255 and masks to int32", function()
    local loader = data.DataLoader(numbered(10), {batch_size = 4})
    assert.are.equal(3, #loader)
    local sizes, seen = {}, {}
    for batch, i in loader:iter() do
      sizes[i] = batch.image:size(1)
      assert.are.equal("float32", batch.image:dtype())
      assert.are.equal("int32", batch.mask:dtype())
      assert.are.equal(4, batch.image:dim())
      assert.are.equal(3, batch.mask:dim())
      for _, id in ipairs(ids_of(batch)) do seen[#seen + 1] = id end
      assert.are.equal(batch.index[1] % 3, batch.mask:get(1, 1, 1))
    end
    assert.are.same({4, 4, 2}, sizes)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, seen)
  end)

  it("drops the last incomplete batch with drop_last", function()
    local loader = data.DataLoader(numbered(10), {batch_size = 4, drop_last = true})
    assert.are.equal(2, #loader)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8}, epoch(loader))
    assert.are.equal(0, #data.DataLoader(numbered(3), {batch_size = 4, drop_last = true}))
  end)

  it("shuffles reproducibly: same seed, same epochs; each epoch a new permutation", function()
    local a = data.DataLoader(numbered(12), {batch_size = 5, shuffle = true, seed = 42})
    local b = data.DataLoader(numbered(12), {batch_size = 5, shuffle = true, seed = 42})
    local a1, a2 = epoch(a), epoch(a)
    assert.are.same(a1, epoch(b))
    assert.are.same(a2, epoch(b))
    assert.are_not.same(a1, a2)
    local sorted = {table.unpack(a1)}
    table.sort(sorted)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, sorted)
    local c = data.DataLoader(numbered(12), {batch_size = 5, shuffle = true, seed = 43})
    assert.are_not.same(a1, epoch(c))
  end)

  it("uses the default generator without a seed, and opts.generator when given", function()
    local l = data.DataLoader(numbered(12), {batch_size = 12, shuffle = true})
    lunet.manual_seed(5)
    local o1 = epoch(l)
    lunet.manual_seed(5)
    assert.are.same(o1, epoch(l))
    local g1, g2 = lunet.Generator(9), lunet.Generator(9)
    assert.are.same(epoch(data.DataLoader(numbered(12), {shuffle = true, generator = g1})),
                    epoch(data.DataLoader(numbered(12), {shuffle = true, generator = g2})))
  end)

  it("collates per item (with a transform) exactly like the batched fast path", function()
    local fast = numbered(7)
    local slow = data.TensorDataset{image = fast.tensors.image, mask = fast.tensors.mask,
                                    transform = function(s) return {image = s.image, mask = s.mask} end}
    local bf, bs = {}, {}
    for b in data.DataLoader(fast, {batch_size = 3, shuffle = true, seed = 1}):iter() do bf[#bf + 1] = b end
    for b in data.DataLoader(slow, {batch_size = 3, shuffle = true, seed = 1}):iter() do bs[#bs + 1] = b end
    assert.are.equal(#bf, #bs)
    for i = 1, #bf do
      assert.are.same(flat(bf[i].image), flat(bs[i].image))
      assert.are.same(flat(bf[i].mask), flat(bs[i].mask))
      assert.are.same(bf[i].index, bs[i].index)
      assert.are.same(bf[i].image:shape(), bs[i].image:shape())
    end
  end)

  it("accepts any table with __len and get, and keeps extra fields as lists", function()
    local ds = setmetatable({}, {__len = function() return 3 end})
    function ds.get(_, i)
      return {image = lunet.full({2, 2}, i / 10), mask = lunet.full({1, 2, 2}, i, {dtype = "uint8"}), name = "item" .. i}
    end
    local loader = data.DataLoader(ds, {batch_size = 2})
    local b = loader:iter()()
    assert.are.same({2, 1, 2, 2}, b.image:shape())
    assert.is_true(math.abs(b.image:get(2, 1, 1, 1) - 0.2) < 1e-6)
    assert.are.same({2, 2, 2}, b.mask:shape())
    assert.are.equal("int32", b.mask:dtype())
    assert.are.same({"item1", "item2"}, b.name)
    assert.are.same({1, 2}, b.index)
  end)

  it("raises exact errors", function()
    local ragged = setmetatable({}, {__len = function() return 2 end})
    function ragged.get(_, i) return {image = lunet.zeros({1, 4, 3 + i}, {dtype = "uint8"}), mask = lunet.zeros({4, 3 + i}, {dtype = "int32"})} end
    local fmask = {len = function() return 1 end, get = function() return {image = lunet.zeros(1, 2, 2), mask = lunet.zeros(2, 2)} end}
    local cases = {
      {function() data.DataLoader(numbered(3), {batch_size = 0}) end, "DataLoader: batch_size must be an integer >= 1, got 0"},
      {function() data.DataLoader(numbered(3), {batchsize = 2}) end,
       "DataLoader: unknown option 'batchsize' (did you mean 'batch_size'?)"},
      {function() data.DataLoader({}, {}) end, "DataLoader: dataset must have a get(i) method, got table"},
      {function() data.DataLoader(numbered(3), {seed = 1.5}) end, "DataLoader: seed must be an integer, got 1.5"},
      {function() for _ in data.DataLoader(ragged, {batch_size = 2}):iter() do end end,
       "DataLoader: images in a batch differ: item 1 is [1, 4, 4] uint8, item 2 is [1, 4, 5] uint8 (resize or crop them to one size)"},
      {function() for _ in data.DataLoader(fmask):iter() do end end,
       "DataLoader: item 1: mask must hold class ids (int32 or uint8), got float32"},
    }
    for _, c in ipairs(cases) do
      local msg = errmsg(c[1])
      assert.are.equal(c[2], (msg:gsub("^[^:]+:%d+: ", "")))
    end
  end)
end)

describe("SegmentationFolder", function()
  local root = mkdir(tmp .. "/folder")
  local g = lunet.Generator(3)
  local function img(h, w) return g:randint(0, 256, {3, h, w}):to("uint8") end
  local function msk(h, w) return g:randint(0, 4, {h, w}):to("uint8") end

  local function make(name, files)
    local d = mkdir(root .. "/" .. name)
    mkdir(d .. "/images")
    mkdir(d .. "/masks")
    for f, t in pairs(files) do image.save(d .. "/" .. f, t) end
    return d
  end

  it("pairs images and masks by name, sorted, JPEG or PNG images", function()
    local d = make("ok", {["images/b.png"] = img(4, 5), ["masks/b.png"] = msk(4, 5),
                          ["images/a.png"] = img(6, 5), ["masks/a.png"] = msk(6, 5)})
    -- a JPEG image too (converted from a PNG written by the test: no encoder needed)
    local j = io.open("spec/ref/images/rgb.jpg", "rb"):read("a")
    local f = assert(io.open(d .. "/images/c.jpg", "wb")); f:write(j); f:close()
    image.save(d .. "/masks/c.png", msk(12, 16), {palette = "voc"})
    local ds = data.SegmentationFolder{images = d .. "/images", masks = d .. "/masks"}
    assert.are.equal(3, #ds)
    assert.are.same({"a", "b", "c"}, {ds.files[1].name, ds.files[2].name, ds.files[3].name})
    local s = ds:get(3)
    assert.are.same({3, 12, 16}, s.image:shape())
    assert.are.same({12, 16}, s.mask:shape())
    assert.are.equal("c", s.name)
    assert.are.equal(ds, ds:check())
    local gray = data.SegmentationFolder{images = d .. "/images", masks = d .. "/masks", image_mode = "gray"}
    assert.are.same({1, 6, 5}, gray:get(1).image:shape())
  end)

  it("reports images without masks and masks without images by name", function()
    local d = make("missing", {["images/a.png"] = img(2, 2), ["masks/a.png"] = msk(2, 2),
                               ["images/b.png"] = img(2, 2), ["images/c.png"] = img(2, 2),
                               ["masks/z.png"] = msk(2, 2)})
    assert.are.equal(("SegmentationFolder: 2 images without a mask in '%s/masks': b.png, c.png; " ..
                      "1 mask without an image in '%s/images': z.png"):format(d, d),
                     errmsg(data.SegmentationFolder, {images = d .. "/images", masks = d .. "/masks"}))
    local ds = data.SegmentationFolder{images = d .. "/images", masks = d .. "/masks", strict = false}
    assert.are.equal(1, #ds)
    assert.are.same({d .. "/images/b.png", d .. "/images/c.png", d .. "/masks/z.png"}, ds.unpaired)
  end)

  it("reports size mismatches by file name, on get and all at once with check()", function()
    local d = make("sizes", {["images/a.png"] = img(4, 5), ["masks/a.png"] = msk(4, 6),
                             ["images/b.png"] = img(3, 3), ["masks/b.png"] = msk(3, 3),
                             ["images/c.png"] = img(7, 2), ["masks/c.png"] = msk(2, 7)})
    local ds = data.SegmentationFolder{images = d .. "/images", masks = d .. "/masks"}
    assert.are.same({3, 3}, ds:get(2).mask:shape())
    local msg = errmsg(ds.get, ds, 1)
    assert.are.equal(("SegmentationFolder: image '%s/images/a.png' is 4x5 (HxW) but its mask '%s/masks/a.png' is 4x6"):format(d, d),
                     (msg:gsub("^[^:]+:%d+: ", "")))
    assert.are.equal(("SegmentationFolder:check: 2 bad pairs: image '%s/images/a.png' is 4x5 (HxW) but its mask '%s/masks/a.png' is 4x6; " ..
                      "image '%s/images/c.png' is 7x2 (HxW) but its mask '%s/masks/c.png' is 2x7"):format(d, d, d, d),
                     errmsg(ds.check, ds))
  end)

  it("supports mask_suffix, transforms, and loads through a DataLoader", function()
    local d = make("suffix", {["images/a.png"] = img(4, 4), ["masks/a_mask.png"] = msk(4, 4),
                              ["images/b.png"] = img(4, 4), ["masks/b_mask.png"] = msk(4, 4)})
    local calls = 0
    local ds = data.SegmentationFolder{images = d .. "/images", masks = d .. "/masks", mask_suffix = "_mask",
                                       transform = function(s) calls = calls + 1; return {image = s.image, mask = s.mask:to("int32")} end}
    assert.are.equal(2, #ds)
    local b = data.DataLoader(ds, {batch_size = 2}):iter()()
    assert.are.same({2, 3, 4, 4}, b.image:shape())
    assert.are.same({2, 4, 4}, b.mask:shape())
    assert.are.same({"a", "b"}, b.name)
    assert.are.equal(2, calls)
  end)

  it("raises exact errors for bad folders", function()
    local d = make("dups", {["images/a.png"] = img(2, 2), ["masks/a.png"] = msk(2, 2)})
    local j = io.open("spec/ref/images/rgb.jpg", "rb"):read("a")
    local f = assert(io.open(d .. "/images/a.jpg", "wb")); f:write(j); f:close()
    local e = make("empty", {})
    local cases = {
      {{images = d .. "/images", masks = d .. "/masks"},
       ("SegmentationFolder: images directory '%s/images' has several files with the same name: a.jpg and a.png"):format(d)},
      {{images = e .. "/images", masks = e .. "/masks"}, ("SegmentationFolder: no PNG or JPEG images in '%s/images'"):format(e)},
      {{images = root .. "/nope", masks = e .. "/masks"},
       ("SegmentationFolder: cannot list images directory '%s/nope': No such file or directory"):format(root)},
      {{images = e .. "/images"}, "SegmentationFolder: masks must be a directory path, got nil"},
      {{images = e .. "/images", masks = e .. "/masks", maskss = 1},
       "SegmentationFolder: unknown option 'maskss' (did you mean 'masks'?)"},
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], errmsg(data.SegmentationFolder, c[1]))
    end
  end)
end)

describe("dataset makers", function()
  local fm_root = "/usr/share/datasets/fashion-mnist"
  if exists(fm_root .. "/t10k-images-idx3-ubyte.gz") then
    it("fashion_mnist: 11-class masks = (pixel > threshold) * (class + 1)", function()
      local ds = data.fashion_mnist{split = "test", limit = 50}
      assert.are.equal(50, #ds)
      assert.are.same({50, 1, 28, 28}, ds.tensors.image:shape())
      assert.are.equal("uint8", ds.tensors.image:dtype())
      assert.are.same({50, 28, 28}, ds.tensors.mask:shape())
      assert.are.equal("int32", ds.tensors.mask:dtype())
      assert.are.same({9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, flat(ds.labels:narrow(1, 1, 10)))
      assert.are.equal(11, ds.num_classes)
      assert.are.equal("Ankle boot", ds.classes[11])   -- classes[id + 1]
      assert.are.equal(33456, ds.tensors.image:select(1, 1):to("int32"):sum():item())
      assert.are.equal(17391, ds.tensors.mask:gt(0):to("int32"):sum():item())
      for i = 1, 50 do
        local m, lbl = ds.tensors.mask:select(1, i), ds.labels:get(i)
        local fg = ds.tensors.image:select(1, i):select(1, 1):gt(10):to("int32")
        assert.are.same(flat(fg:mul(lbl + 1)), flat(m))
      end
      local t0 = data.fashion_mnist{split = "test", limit = 5, threshold = 0}
      assert.is_true(t0.tensors.mask:gt(0):to("int32"):sum():item() >=
                     ds.tensors.mask:narrow(1, 1, 5):gt(0):to("int32"):sum():item())
      local b = data.DataLoader(ds, {batch_size = 16, shuffle = true, seed = 1}):iter()()
      assert.are.same({16, 1, 28, 28}, b.image:shape())
      assert.is_true(b.image:max():item() <= 1)
      assert.are.equal(60000, #data.fashion_mnist{split = "train"})
    end)
  else
    pending("fashion_mnist: Debian package dataset-fashion-mnist is not installed")
  end

  it("fashion_mnist names the package when files are missing", function()
    assert.are.equal("data.fashion_mnist: '" .. tmp .. "/t10k-images-idx3-ubyte.gz' not found; install the Debian package " ..
                     "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass {root=dir} holding the IDX .gz files",
                     errmsg(data.fashion_mnist, {split = "test", root = tmp}))
    assert.are.equal("data.fashion_mnist: split must be 'train' or 'test', got 'val'", errmsg(data.fashion_mnist, {split = "val"}))
  end)

  it("fashion_mnist reports corrupt IDX files", function()
    local d = mkdir(tmp .. "/fm")
    local f = assert(io.open(d .. "/t10k-images-idx3-ubyte.gz", "wb")); f:write("\0\0\8\3\0\0\0\2\0\0\0\28"); f:close()
    f = assert(io.open(d .. "/t10k-labels-idx1-ubyte.gz", "wb")); f:write("junk"); f:close()
    assert.are.equal("data.fashion_mnist: '" .. d .. "/t10k-images-idx3-ubyte.gz' is truncated (expected 4 more bytes)",
                     errmsg(data.fashion_mnist, {split = "test", root = d}))
  end)

  it("reads IDX files of every element type, gzip or plain, and reports damage", function()
    local read_idx = require("lunet.core").image.read_idx
    local function w(name, s)
      local p = tmp .. "/" .. name
      local f = assert(io.open(p, "wb")); f:write(s); f:close()
      return p
    end
    local t = read_idx(w("i32.idx", "\0\0\12\2" .. string.pack(">I4I4", 2, 3) .. string.pack(">i4i4i4i4i4i4", 1, -2, 3, 70000, -5, 6)))
    assert.are.equal("int32", t:dtype())
    assert.are.same({{1, -2, 3}, {70000, -5, 6}}, t:totable())
    t = read_idx(w("f32.idx", "\0\0\13\1" .. string.pack(">I4", 2) .. string.pack(">ff", 1.5, -2.25)))
    assert.are.same({1.5, -2.25}, t:totable())
    t = read_idx(w("i16.idx", "\0\0\11\1" .. string.pack(">I4", 2) .. string.pack(">i2i2", -300, 7)))
    assert.are.same({-300, 7}, t:totable())
    local cases = {
      {w("bad.gz", "\31\139\8\0\0\0\0\0\0\3" .. string.rep("\255\1\2", 20)), "'%s' is corrupt: invalid block type"},
      {w("magic.idx", "\1\2\3\4\5\6\7\8"), "'%s' is not an IDX file (bad magic 01 02 03 04)"},
      {w("short.idx", "\0\0\8\1" .. string.pack(">I4", 5) .. "ab"), "'%s' is truncated (expected 3 more bytes)"},
      {tmp .. "/none.idx", "cannot open '%s': No such file or directory"},
    }
    for _, c in ipairs(cases) do
      local v, msg = read_idx(c[1])
      assert.is_nil(v)
      assert.are.equal(c[2]:format(c[1]), msg)
    end
  end)

  if exists("/usr/share/tuxpaint/stamps/animals/amphibians/frog.png") then
    it("tuxpaint: seeded photo cut-outs on textures, mask = alpha > 127", function()
      local a = data.tuxpaint{n = 6, size = 48, seed = 3}
      assert.are.equal(6, #a)
      assert.are.same({6, 3, 48, 48}, a.tensors.image:shape())
      assert.are.same({6, 48, 48}, a.tensors.mask:shape())
      assert.are.equal(1, a.tensors.mask:max():item())
      assert.are.equal(0, a.tensors.mask:min():item())
      for i = 1, 6 do
        local frac = a.tensors.mask:select(1, i):to("float32"):mean():item()
        assert.is_true(frac > 0.01 and frac < 0.95, "foreground fraction " .. frac)
        assert.is_string(a.stamps[i])
      end
      local b = data.tuxpaint{n = 6, size = 48, seed = 3}
      assert.are.same(flat(a.tensors.image), flat(b.tensors.image))
      assert.are.same(flat(a.tensors.mask), flat(b.tensors.mask))
      assert.are.same(a.stamps, b.stamps)
      local c = data.tuxpaint{n = 6, size = 48, seed = 4}
      assert.are_not.same(flat(a.tensors.mask), flat(c.tensors.mask))
      local batch = data.DataLoader(a, {batch_size = 4}):iter()()
      assert.are.same({4, 3, 48, 48}, batch.image:shape())
    end)
  else
    pending("tuxpaint: Debian package tuxpaint-stamps-default is not installed")
  end

  it("tuxpaint names the package when stamps are missing", function()
    assert.are.equal("data.tuxpaint: no stamp of the list found under '" .. tmp .. "'; install the Debian package " ..
                     "tuxpaint-stamps-default (apt-get install tuxpaint-stamps-default) or pass {root=dir}",
                     errmsg(data.tuxpaint, {n = 2, root = tmp}))
    assert.are.equal("data.tuxpaint: size must be an integer in [8, 4096], got 4", errmsg(data.tuxpaint, {size = 4}))
  end)

  local voc = "/usr/share/doc/labelme-examples/examples/semantic_segmentation/data_dataset_voc"
  if exists(voc .. "/SegmentationClassPNG/2011_000003.png") then
    it("labelme_voc: JPEG images with palette masks, 255 = void", function()
      local ds = data.labelme_voc()
      assert.are.equal(3, #ds)
      assert.are.equal(21, ds.num_classes)
      assert.are.equal(255, ds.ignore_index)
      assert.are.equal("person", ds.classes[16])
      local expect = {
        {name = "2011_000003", h = 338, counts = {[0] = 125767, [5] = 873, [15] = 32900, [255] = 9460}, sum = 46380993},
        {name = "2011_000006", h = 375, counts = {[0] = 93492, [9] = 44306, [15] = 34792, [18] = 14001, [255] = 909}, sum = 33615985},
        {name = "2011_000025", h = 375, counts = {[0] = 62022, [6] = 118222, [7] = 7256}, sum = 57047160},
      }
      for i, e in ipairs(expect) do
        local s = ds:get(i)
        assert.are.equal(e.name, s.name)
        assert.are.same({3, e.h, 500}, s.image:shape())
        assert.are.same({e.h, 500}, s.mask:shape())
        local m = s.mask:to("int32")
        for id, cnt in pairs(e.counts) do assert.are.equal(cnt, m:eq(id):to("int32"):sum():item()) end
        assert.are.equal(e.sum, s.image:to("int32"):sum():item())   -- pixels as PIL decodes them
      end
      local b = data.DataLoader(ds, {batch_size = 1}):iter()()
      assert.are.same({1, 3, 338, 500}, b.image:shape())
      assert.are.equal(255, b.mask:max():item())
    end)
  else
    pending("labelme_voc: Debian package labelme-examples is not installed (or /usr/share/doc is excluded by dpkg)")
  end

  it("labelme_voc explains where the files are expected", function()
    assert.are.equal("data.labelme_voc: '" .. tmp .. "' has no JPEGImages/ and SegmentationClassPNG/ directories",
                     errmsg(data.labelme_voc, {root = tmp}))
  end)
end)
