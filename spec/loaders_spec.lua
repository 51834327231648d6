-- spec/loaders_spec.lua: the hardened loaders. Decompression bombs are refused before any
-- allocation (pixel limit, scan limit, IDX claims against the file size); non-regular files
-- (FIFO, directory, device) raise at once instead of blocking; image.save writes the format
-- its extension names; NUL in safetensors names raises on save and load; messages print
-- values in full; the committed fuzz corpora replay without a crash (under ASan in make asan);
-- and each defect the fuzzers found stays fixed.
local lunet = require "lunet"
local image = require "lunet.image"
local ckpt = require "lunet.train.checkpoint"
local core = require "lunet.core"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local jpeg_scans = assert(loadfile("fuzz/jpeg_scans.lua"))()
local read_idx = core.image.read_idx

local R = "spec/ref/images/"
local DEFAULT = 89478485

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
  return path
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local tmp = os.tmpname()
os.remove(tmp)
tmp = tmp .. "_lunet_loaders"
assert(os.execute("mkdir -p '" .. tmp .. "'"))
teardown(function() os.execute("rm -rf '" .. tmp .. "'") end)

-- the message of the error f raises, without the position
local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return (tostring(msg):gsub("^[^:]*:%d+: ", ""))
end

local function crc32(str)
  local crc = 0xffffffff
  for i = 1, #str do
    crc = crc ~ str:byte(i)
    for _ = 1, 8 do crc = (crc >> 1) ~ (0xedb88320 & -(crc & 1)) end
  end
  return crc ~ 0xffffffff
end

-- rgb.jpg (681 bytes) with its SOF0 frame header claiming h x w pixels
local function jpeg_claiming(h, w)
  local jpg = read(R .. "rgb.jpg")
  local sof = assert(jpg:find("\255\192", 1, true))
  return jpg:sub(1, sof + 4) .. string.pack(">I2I2", h, w) .. jpg:sub(sof + 9)
end

-- a PNG whose IHDR claims w x h 1-bit gray pixels, padded after IEND so that the file is
-- large enough for that claim to pass the deflate-ratio check: only the pixel limit stops it
local function png_claiming(w, h, pad)
  local png = read(R .. "gray1.png")
  local ihdr = "IHDR" .. string.pack(">I4I4BBBBB", w, h, 1, 0, 0, 0, 0)
  return png:sub(1, 12) .. ihdr .. string.pack(">I4", crc32(ihdr)) .. png:sub(34) .. string.rep("\0", pad)
end

local function smooth(h, w)
  local y = lunet.arange(0, h):view(h, 1):expand(h, w)
  local x = lunet.arange(0, w):view(1, w):expand(h, w)
  return lunet.stack({y * (255 / h), x * (255 / w), (x + y) * (127 / (h + w))}, 1):to("uint8")
end

local function maxdiff(a, b)
  return (a:to("int32") - b:to("int32")):abs():max():item()
end

local function meandiff(a, b)
  return (a:to("int32") - b:to("int32")):abs():to("float32"):mean():item()
end

local function hint(claim, limit)
  return claim .. ", more than the limit of " .. limit .. " pixels (a decompression bomb?); raise the limit " ..
         "with image.set_max_pixels(n) or the option max_pixels = n (math.huge: no limit)"
end

describe("decompression bombs", function()
  after_each(function() image.set_max_pixels(DEFAULT) end)

  it("refuses a 681-byte JPEG claiming 30000 x 30000 pixels before decoding it", function()
    local p = write(tmp .. "/bomb.jpg", jpeg_claiming(30000, 30000))
    assert.are.equal(681, #read(p))
    assert.are.equal("image.load: cannot decode '" .. p .. "': " ..
                     hint("image claims 30000 x 30000 = 900000000 pixels", DEFAULT), errmsg(image.load, p))
    -- 65000 x 65000 (12.7 GB as RGB): the count beyond 2^31 printed in full
    local q = write(tmp .. "/bomb65k.jpg", jpeg_claiming(65000, 65000))
    assert.are.equal("image.load: cannot decode '" .. q .. "': " ..
                     hint("image claims 65000 x 65000 = 4225000000 pixels", DEFAULT), errmsg(image.load, q))
    assert.are.equal("image.decode: cannot decode the bytes: " ..
                     hint("image claims 30000 x 30000 = 900000000 pixels", DEFAULT),
                     errmsg(image.decode, jpeg_claiming(30000, 30000), {mode = "gray"}))
    -- info reads the header only: it reports the claim
    local i = image.info(p)
    assert.are.same({30000, 30000}, {i.width, i.height})
  end)

  it("refuses a PNG that passes the deflate-ratio check but claims more than the limit", function()
    local p = write(tmp .. "/bomb.png", png_claiming(10000, 8948, 12000))
    assert.are.equal("image.load: cannot decode '" .. p .. "': " ..
                     hint("image claims 10000 x 8948 = 89480000 pixels", DEFAULT),
                     errmsg(image.load, p, {mode = "index"}))
    -- below the limit the same forgery gets as far as the (missing) pixel data
    local q = write(tmp .. "/below.png", png_claiming(10000, 8947, 12000))
    assert.is_falsy(errmsg(image.load, q):find("limit", 1, true))
  end)

  it("compares width x height with the limit, the limit itself included", function()
    local p = R .. "rgb.png"                                     -- 7 x 5 = 35 pixels
    assert.are.same({3, 5, 7}, image.load(p, {max_pixels = 35}):shape())
    assert.are.equal("image.load: cannot decode '" .. p .. "': " .. hint("image claims 7 x 5 = 35 pixels", 34),
                     errmsg(image.load, p, {max_pixels = 34}))
    -- the palette path (RGB mask mapped to ids) decodes under the same limit
    assert.are.equal("image.load: cannot decode '" .. p .. "': " .. hint("image claims 7 x 5 = 35 pixels", 34),
                     errmsg(image.load, p, {mode = "index", palette = "voc", max_pixels = 34}))
  end)

  it("has a settable process-wide limit: set_max_pixels returns the previous one, nil or math.huge disables", function()
    assert.are.equal(DEFAULT, image.get_max_pixels())
    assert.are.equal(DEFAULT, image.DEFAULT_MAX_PIXELS)
    assert.are.equal(DEFAULT, image.set_max_pixels(100))
    assert.are.equal(100, image.get_max_pixels())
    local p = R .. "rgb.jpg"                                     -- 16 x 12 = 192 pixels
    assert.are.equal("image.load: cannot decode '" .. p .. "': " .. hint("image claims 16 x 12 = 192 pixels", 100),
                     errmsg(image.load, p))
    assert.are.same({3, 12, 16}, image.load(p, {max_pixels = 192}):shape())     -- per call wins
    assert.are.same({3, 12, 16}, image.load(p, {max_pixels = math.huge}):shape())
    assert.are.same({3, 12, 16}, image.load(p, {max_pixels = false}):shape())
    assert.are.equal(100, image.set_max_pixels(nil))
    assert.are.equal(math.huge, image.get_max_pixels())
    assert.are.same({3, 12, 16}, image.load(p):shape())
    assert.are.equal(math.huge, image.set_max_pixels(math.huge))
    assert.are.equal(math.huge, image.set_max_pixels(192.0))
    assert.are.equal(192, image.get_max_pixels())
    assert.are.same({1, 12, 16}, image.load(p, {mode = "gray"}):shape())
  end)

  H.error_cases({
    {"a zero limit", function() image.set_max_pixels(0) end, "image.set_max_pixels: n must be an integer >= 1, got 0"},
    {"a fractional limit", function() image.set_max_pixels(1.5) end, "image.set_max_pixels: n must be an integer >= 1, got 1.5"},
    {"a NaN limit", function() image.set_max_pixels(0 / 0) end, "image.set_max_pixels: n must be an integer >= 1, got nan"},
    {"a string limit", function() image.set_max_pixels("1e6") end, "image.set_max_pixels: n must be an integer >= 1, got '1e6'"},
    {"a negative max_pixels", function() image.load(R .. "rgb.png", {max_pixels = -1}) end,
     "image.load: option max_pixels must be an integer >= 1, got -1"},
    {"max_pixels = true", function() image.decode(read(R .. "rgb.png"), {max_pixels = true}) end,
     "image.decode: option max_pixels must be an integer >= 1, got boolean"},
    {"a misspelt max_pixels", function() image.load(R .. "rgb.png", {max_pixel = 10}) end,
     "image.load: unknown option 'max_pixel' (did you mean 'max_pixels'?)"},
  })

  it("refuses JPEGs with more than 500 scans, and decodes 500", function()
    local ok = image.decode(jpeg_scans.gray8x8(500), {mode = "gray"})
    assert.are.same({1, 8, 8}, ok:shape())
    assert.are.equal(128, ok:min():item())
    assert.are.equal(128, ok:max():item())
    assert.are.equal("image.decode: cannot decode the bytes: JPEG has more than 500 scans (a denial-of-service file?)",
                     errmsg(image.decode, jpeg_scans.gray8x8(501)))
    assert.are.equal("image.decode: cannot decode the bytes: JPEG has more than 500 scans (a denial-of-service file?)",
                     errmsg(image.decode, jpeg_scans.gray8x8(883), {mode = "rgb"}))
  end)
end)

describe("IDX headers against the file size", function()
  local function idx(code, dims, payload)
    local h = string.pack(">BBBB", 0, 0, code, #dims)
    for _, d in ipairs(dims) do h = h .. string.pack(">I4", d) end
    return h .. payload
  end
  local function gzip(path, bytes)
    write(path .. ".raw", bytes)
    assert(os.execute("gzip -n -c '" .. path .. ".raw' > '" .. path .. "'"))
    return path
  end

  it("refuses claims the file cannot hold, before allocating them", function()
    local cases = {
      {write(tmp .. "/mnist_claim.idx", idx(8, {60000, 28, 28}, "abc")), "'%s' is truncated (expected 47039997 more bytes)"},
      {gzip(tmp .. "/claim.idx.gz", idx(8, {4096, 4096, 4096}, "abc")),
       "'%s' is truncated or corrupt: header claims dimensions [4096, 4096, 4096] (68719476736 bytes of data), more than a %d-byte gzip file can hold"},
      {write(tmp .. "/overflow.idx", idx(14, {4000000000, 4000000000, 4000000000}, "")),
       "'%s' is corrupt: header claims dimensions [4000000000, 4000000000, 4000000000], more than 2^63 bytes"},
      {write(tmp .. "/f64.idx", idx(14, {2}, string.pack(">d", 1))), "'%s' is truncated (expected 8 more bytes)"},
    }
    for _, c in ipairs(cases) do
      local t, msg = read_idx(c[1])
      assert.is_nil(t)
      assert.are.equal(c[2]:format(c[1], #read(c[1])), msg)
    end
  end)

  it("still reads what the file holds, plain and gzip", function()
    local bytes = idx(9, {2, 2}, "\1\255\127\128")
    assert.are.same({{1, -1}, {127, -128}}, read_idx(write(tmp .. "/i8.idx", bytes)):totable())
    assert.are.same({{1, -1}, {127, -128}}, read_idx(gzip(tmp .. "/i8.idx.gz", bytes)):totable())
    assert.are.same({0, 5}, read_idx(write(tmp .. "/empty.idx", idx(8, {0, 5}, ""))):shape())
  end)
end)

describe("non-regular files", function()
  local dir = tmp .. "/a_dir"
  local fifo = tmp .. "/a_fifo"
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  assert(os.execute("rm -f '" .. fifo .. "' && mkfifo '" .. fifo .. "'"))

  -- Each loader on path, one message per line: raised errors without their position,
  -- read_idx's returned message.
  local probe = [[
    local lunet = require "lunet"
    local image = require "lunet.image"
    local ckpt = require "lunet.train.checkpoint"
    local read_idx = require("lunet.core").image.read_idx
    local path = ...
    local function msg(f, ...)
      local ok, m = pcall(f, ...)
      return ok and "no error" or (tostring(m):gsub("^[^:]*:%d+: ", ""))
    end
    print(msg(image.load, path))
    print(msg(image.info, path))
    print(msg(lunet.load, path))
    print(msg(ckpt.load, path))
    print(msg(lunet.train.load_model, lunet.nn.Identity(), path))
    print(select(2, read_idx(path)))
  ]]
  local function expected(path, what)
    local why = "cannot open '" .. path .. "': it is " .. what .. ", not a regular file"
    return {"image.load: " .. why, "image.info: " .. why, "load: " .. why, "load: " .. why, "load: " .. why, why}
  end
  local function first6(lines) return {table.unpack(lines, 1, 6)} end

  -- runs the probe in another process, so that a loader that blocks fails the spec (timeout)
  -- instead of hanging it
  local function run_probe(path)
    local script = write(tmp .. "/probe.lua", probe)
    local p = assert(io.popen("timeout 120 lua5.4 '" .. script .. "' '" .. path .. "' 2>&1; echo \"exit $?\""))
    local lines = {}
    for l in p:lines() do lines[#lines + 1] = l end
    p:close()
    return lines
  end

  it("raise at once on a FIFO instead of blocking on it", function()
    local lines = run_probe(fifo)
    assert.are.equal("exit 0", lines[#lines], "the probe blocked or crashed: " .. table.concat(lines, "\n"))
    assert.are.same(expected(fifo, "a FIFO (named pipe)"), first6(lines))
  end)

  it("raise on a directory and a device", function()
    local function msg(f, ...)
      return errmsg(f, ...)
    end
    for _, c in ipairs({{dir, "a directory"}, {"/dev/null", "a character device"}}) do
      local path, what = c[1], c[2]
      local got = {msg(image.load, path), msg(image.info, path), msg(lunet.load, path), msg(ckpt.load, path),
                   msg(lunet.train.load_model, lunet.nn.Identity(), path), select(2, read_idx(path))}
      assert.are.same(expected(path, what), got)
    end
  end)
end)

describe("image.save writes the format its extension names", function()
  local img = smooth(32, 48)

  it("writes JPEG for .jpg and .jpeg (any case), close to the image at the default quality 95", function()
    for _, name in ipairs({"a.jpg", "b.jpeg", "c.JPG", "d.JpEg"}) do
      local p = tmp .. "/" .. name
      image.save(p, img)
      local bytes = read(p)
      assert.are.equal("\255\216\255", bytes:sub(1, 3), name)
      assert.are.same({format = "jpeg", color = "RGB"}, {format = image.info(p).format, color = image.info(p).color})
      local back = image.load(p)
      assert.are.same({3, 32, 48}, back:shape())
      assert.is_true(maxdiff(back, img) <= 8, name .. " differs by " .. maxdiff(back, img))
      assert.is_true(meandiff(back, img) <= 1.5, name .. " mean difference " .. meandiff(back, img))
    end
    assert.are.equal(read(tmp .. "/a.jpg"), image.encode(img, {format = "jpeg", quality = 95}))
  end)

  it("writes gray JPEGs from 1 x H x W and H x W", function()
    local g = img:select(1, 1)
    for _, t in ipairs({g, g:unsqueeze(1)}) do
      local p = image.save(tmp .. "/gray.jpg", t)
      assert.are.equal("gray", image.info(p).color)
      local back = image.load(p, {mode = "gray"})
      assert.are.same({1, 32, 48}, back:shape())
      assert.is_true(maxdiff(back:select(1, 1), g) <= 3)
    end
  end)

  it("applies the quality and the progressive option", function()
    local q10 = image.encode(img, {format = "jpeg", quality = 10})
    local q100 = image.encode(img, {format = "jpg", quality = 100})
    assert.is_true(#q10 < #q100)
    assert.is_true(meandiff(image.decode(q10), img) > meandiff(image.decode(q100), img))
    local p = image.save(tmp .. "/prog.jpg", img, {progressive = true})
    local bytes = read(p)
    assert.is_truthy(bytes:find("\255\194", 1, true))                 -- SOF2
    assert.is_falsy(read(tmp .. "/a.jpg"):find("\255\194", 1, true))
    assert.is_true(maxdiff(image.load(p), img) <= 8)
  end)

  it("writes PNG for .png (any case), exactly", function()
    for _, name in ipairs({"e.png", "f.PNG"}) do
      local p = image.save(tmp .. "/" .. name, img)
      assert.are.equal("\137PNG", read(p):sub(1, 4))
      assert.are.same(img:tolist(), image.load(p):tolist())
    end
  end)

  local t = lunet.zeros({3, 2, 2}, {dtype = "uint8"})
  local p = tmp .. "/x.jpg"
  H.error_cases({
    {"an unknown extension", function() image.save(tmp .. "/x.bmp", t) end,
     "image.save: cannot tell the format of '" .. tmp .. "/x.bmp' from its extension '.bmp' (supported: .png, .jpg, .jpeg)"},
    {"a path without extension", function() image.save(tmp .. "/x", t) end,
     "image.save: cannot tell the format of '" .. tmp .. "/x': it has no extension (supported: .png, .jpg, .jpeg)"},
    {"a dot in a directory name only", function() image.save(tmp .. "/d.png/x", t) end,
     "image.save: cannot tell the format of '" .. tmp .. "/d.png/x': it has no extension (supported: .png, .jpg, .jpeg)"},
    {"quality 0", function() image.save(p, t, {quality = 0}) end, "image.save: option quality must be an integer in [1, 100], got 0"},
    {"quality 101", function() image.save(p, t, {quality = 101}) end, "image.save: option quality must be an integer in [1, 100], got 101"},
    {"quality 50.5", function() image.save(p, t, {quality = 50.5}) end, "image.save: option quality must be an integer in [1, 100], got 50.5"},
    {"quality 'high'", function() image.save(p, t, {quality = "high"}) end, "image.save: option quality must be an integer in [1, 100], got 'high'"},
    {"a misspelt quality", function() image.save(p, t, {qualty = 90}) end, "image.save: unknown option 'qualty' (did you mean 'quality'?)"},
    {"quality for a PNG", function() image.save(tmp .. "/x.png", t, {quality = 90}) end,
     "image.save: option quality only applies to JPEG (PNG is lossless)"},
    {"progressive for a PNG", function() image.save(tmp .. "/x.png", t, {progressive = true}) end,
     "image.save: option progressive only applies to JPEG (PNG is lossless)"},
    {"progressive = 1", function() image.save(p, t, {progressive = 1}) end, "image.save: option progressive must be true or false, got 1"},
    {"a palette for a JPEG", function() image.save(p, lunet.zeros({2, 2}, {dtype = "uint8"}), {palette = "voc"}) end,
     "image.save: option palette needs PNG: JPEG has no palette, and its lossy compression would change class ids"},
    {"an RGBA JPEG", function() image.save(p, lunet.zeros({4, 2, 2}, {dtype = "uint8"})) end,
     "image.save: JPEG holds 1 (gray) or 3 (RGB) channels, got [4, 2, 2] (JPEG has no alpha: save as .png, or keep RGB with t:narrow(1, 1, 3))"},
    {"a gray+alpha JPEG", function() image.save(p, lunet.zeros({2, 2, 2}, {dtype = "uint8"})) end,
     "image.save: JPEG holds 1 (gray) or 3 (RGB) channels, got [2, 2, 2] (JPEG has no alpha: save as .png, or keep RGB with t:narrow(1, 1, 3))"},
    {"an int32 JPEG", function() image.save(p, lunet.zeros({3, 2, 2}, {dtype = "int32"})) end,
     "image.save: JPEG holds 8-bit samples, t is int32 (convert with t:to(\"uint8\"), or save a 16-bit image as .png)"},
    {"a float32 JPEG", function() image.save(p, lunet.zeros(3, 2, 2)) end,
     "image.save: t is float32; convert with image.from_float(t) (values in [0, 1]) or t:to(\"uint8\")"},
    {"a JPEG wider than 65500", function() image.save(p, lunet.zeros({1, 1, 65501}, {dtype = "uint8"})) end,
     "image.save: JPEG allows at most 65500 pixels per side, got [1, 1, 65501]"},
    {"an empty JPEG", function() image.save(p, lunet.zeros({3, 0, 2}, {dtype = "uint8"})) end,
     "image.save: cannot save an empty image [3, 0, 2]"},
    {"an unknown encode format", function() image.encode(t, {format = "bmp"}) end,
     "image.encode: format must be 'png', 'jpeg' or 'jpg', got 'bmp'"},
    {"a misspelt encode option", function() image.encode(t, {fromat = "png"}) end,
     "image.encode: unknown option 'fromat' (did you mean 'format'?)"},
  })

  it("leaves no file behind when it refuses", function()
    pcall(image.save, tmp .. "/refused.jpg", t, {quality = 0})
    pcall(image.save, tmp .. "/refused.bmp", t)
    assert.is_false(exists(tmp .. "/refused.jpg"))
    assert.is_false(exists(tmp .. "/refused.jpg.tmp"))
    assert.is_false(exists(tmp .. "/refused.bmp"))
  end)
end)

describe("NUL in safetensors names and metadata", function()
  local one = lunet.ones(1)
  local p = tmp .. "/nul.safetensors"
  H.error_cases({
    {"a tensor name with NUL on save", function() lunet.save(p, {["a\0b"] = one}) end,
     "save: tensor name \"a\\0b\" holds a NUL byte (at byte 2): it cannot be stored"},
    {"a metadata key with NUL on save", function() lunet.save(p, {a = one}, {["k\0"] = "v"}) end,
     "save: metadata key \"k\\0\" holds a NUL byte (at byte 2): it cannot be stored"},
    {"a metadata value with NUL on save", function() lunet.save(p, {a = one}, {k = "\0v"}) end,
     "save: metadata value \"\\0v\" of key \"k\" holds a NUL byte (at byte 1): it cannot be stored"},
    {"a NUL name given to the binding", function() core.io.save(p, {"x\0"}, {one}, {}) end,
     "save: tensor name 1 holds a NUL byte (at byte 2): names with NUL cannot be stored"},
    {"a NUL metadata value given to the binding", function() core.io.save(p, {"x"}, {one}, {"k", "v\0"}) end,
     "save: metadata value 1 holds a NUL byte (at byte 2): it cannot be stored"},
  })

  it("never writes a file with NUL", function()
    pcall(lunet.save, p, {["a\0b"] = one})
    assert.is_false(exists(p))
  end)

  local function st(header, data) return string.pack("<I8", #header) .. header .. (data or "") end
  it("raises on load for \\u0000 and raw NUL bytes in names and metadata", function()
    local cases = {
      {'{"a\\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', "header has a NUL character (\\u0000) at byte 3"},
      {'{"__metadata__":{"k\\u0000":"v"}}', "header has a NUL character (\\u0000) at byte 19"},
      {'{"__metadata__":{"k":"\\u0000"}}', "header has a NUL character (\\u0000) at byte 22"},
      {'{"a\0":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', "header has a NUL byte at byte 3"},
    }
    for i, c in ipairs(cases) do
      local path = write(tmp .. "/nul" .. i .. ".safetensors", st(c[1], "z"))
      assert.are.equal("load: '" .. path .. "': " .. c[2] .. " (tensor names and metadata cannot hold NUL)",
                       errmsg(lunet.load, path))
    end
  end)

  it("round-trips names that only spell \\u0000 (an escaped backslash)", function()
    local name = "a\\u0000b"
    lunet.save(p, {[name] = one}, {[name] = name})
    local sd, meta, order = lunet.load(p)
    assert.are.same({name}, order)
    assert.are.same({1}, sd[name]:tolist())
    assert.are.equal(name, meta[name])
  end)
end)

describe("safetensors headers with many entries", function()
  local function st(header) return string.pack("<I8", #header) .. header end
  local function header(n, dup)
    local parts = {}
    for i = 1, n do
      parts[i] = string.format('"t%06d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}', i)
    end
    if dup then parts[#parts + 1] = string.format('"t%06d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}', dup) end
    return "{" .. table.concat(parts, ",") .. "}"
  end

  it("load 50000 names and find a duplicate among them (names are compared sorted, not pairwise)", function()
    local p = write(tmp .. "/many.safetensors", st(header(50000)))
    local sd, _, order = lunet.load(p)
    assert.are.equal(50000, #order)
    assert.are.same({0}, sd.t049999:shape())
    local q = write(tmp .. "/dup.safetensors", st(header(50000, 31337)))
    assert.are.equal("load: '" .. q .. "': header names tensor 't031337' twice", errmsg(lunet.load, q))
  end)
end)

describe("loader messages print values in full", function()
  local img = lunet.zeros({3, 4, 4}, {dtype = "uint8"})
  local mask = lunet.zeros({4, 4}, {dtype = "int32"})
  local rgba = lunet.zeros({4, 2, 2}, {dtype = "uint8"})
  local function st(header, data) return string.pack("<I8", #header) .. header .. (data or "") end
  local big = write(tmp .. "/big_shape.safetensors",
                    st('{"a":{"dtype":"U8","shape":[0,9007199254740992,9007199254740992],"data_offsets":[0,0]}}'))
  H.error_cases({
    {"a texture kind beyond int", function() core.image.texture(img, 1 << 40) end, "image.texture: kind must be 0..3, got 1099511627776"},
    {"a misspelt texture option", function() core.image.texture(img, 1, {generater = 1}) end,
     "image.texture: unknown option 'generater' (did you mean 'generator'?)"},
    {"a huge composite size", function() core.image.composite(img, mask, rgba, 0, 0, 1, 1 << 40) end,
     "image.composite: bad placement (y0 0, x0 0, size 1 x 1099511627776; sizes 1..2^20, positions within +-2^20)"},
    {"an int32 id beyond the palette", function()
       image.save(tmp .. "/p.png", lunet.full({2, 2}, 3000000000 // 2, {dtype = "int32"}), {palette = {{0, 0, 0}}}) end,
     "image.save: value 1500000000 is outside the palette (1 colours)"},
    {"names and tensors of different counts", function() core.io.save(tmp .. "/c.safetensors", {"a", "b"}, {lunet.ones(1)}, {}) end,
     "save: 2 names but 1 tensors"},
    {"a shape whose strides overflow", function() lunet.load(big) end,
     "load: '" .. big .. "': tensor 'a': shape [0, 9007199254740992, 9007199254740992] has too many elements (the product of its sizes exceeds 2^63)"},
    {"an unknown dtype of any length", function()
       lunet.load(write(tmp .. "/dt.safetensors", st('{"a":{"dtype":"' .. string.rep("X", 40) .. '","shape":[0],"data_offsets":[0,0]}}'))) end,
     "load: '" .. tmp .. "/dt.safetensors': tensor 'a' has dtype " .. string.rep("X", 40) ..
     ", which lunet cannot load (F32, I32, U8, BOOL, and I64 when its values fit in int32)"},
    {"an image claiming zero rows", function() image.decode(jpeg_claiming(0, 16)) end,
     "image.decode: cannot decode the bytes: Empty JPEG image (DNL not supported)"},
  })
end)

describe("the committed fuzz corpora", function()
  local function files(dir)
    local p = io.popen("ls '" .. dir .. "'")
    local out = {}
    for l in p:lines() do out[#out + 1] = dir .. "/" .. l end
    p:close()
    assert.is_true(#out >= 5, dir .. " holds " .. #out .. " seeds")
    return out
  end
  -- every seed either loads or raises the loader's own message; both kinds must occur
  local function replay(dir, run, prefix)
    local ok_n, err_n = 0, 0
    for _, path in ipairs(files(dir)) do
      local ok, msg = pcall(run, path)
      if ok then ok_n = ok_n + 1 else
        err_n = err_n + 1
        msg = tostring(msg):gsub("^[^:]*:%d+: ", "")
        assert.are.equal(prefix, msg:sub(1, #prefix), path .. ": " .. msg)
      end
    end
    assert.is_true(ok_n > 0 and err_n > 0, dir .. ": " .. ok_n .. " loaded, " .. err_n .. " refused")
  end

  it("replay through image.decode in every mode (PNG, JPEG)", function()
    for _, fmt in ipairs({"png", "jpeg"}) do
      replay("fuzz/corpus/" .. fmt, function(path)
        local bytes = read(path)
        local decoded = 0
        for _, mode in ipairs({"rgb", "gray", "rgba", "index", "unchanged"}) do
          local ok, t = pcall(image.decode, bytes, {mode = mode, max_pixels = 1 << 20})
          if ok then
            decoded = decoded + 1
            if t:dtype() == "uint8" and (t:dim() == 2 or t:size(1) == 1 or t:size(1) == 3) then
              image.decode(image.encode(t, {format = "jpeg", quality = 50}))
            end
            image.decode(image.encode(t))
          end
        end
        if decoded == 0 then image.decode(bytes, {max_pixels = 1 << 20}) end   -- raises its message
      end, "image.decode: ")
    end
  end)

  it("replay through lunet.load (safetensors)", function()
    replay("fuzz/corpus/safetensors", lunet.load, "load: ")
  end)

  it("replay through the IDX reader", function()
    replay("fuzz/corpus/idx", function(path)
      local t, msg = read_idx(path)
      if not t then error("read_idx: " .. msg, 0) end
    end, "read_idx: ")
  end)

  it("replay through checkpoint loading, restore and a training step", function()
    local restored = 0
    replay("fuzz/corpus/checkpoint", function(path)
      local c = ckpt.load(path)
      local g = lunet.Generator(1)
      local nn = lunet.nn
      local m = nn.Sequential(nn.Conv2d(1, 2, 3, {padding = 1}), nn.BatchNorm2d(2))
      local opt = lunet.optim.Adam(m:parameters(), {lr = 1e-3})
      local sched = lunet.optim.StepLR(opt, {step_size = 1})
      if pcall(ckpt.restore, c, {model = m, optimizer = opt, scheduler = sched, generators = {default = g}}) then
        restored = restored + 1
        opt:zero_grad()
        m(g:randn(1, 1, 4, 4)):sum():backward()
        opt:step()
        sched:step()
      end
    end, "load")
    assert.is_true(restored > 0)
  end)
end)
