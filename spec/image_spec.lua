-- spec/image_spec.lua: lunet.image, PNG/JPEG decoding in every mode against PIL/OpenCV
-- reference values (spec/ref/gen_image.py), round trips, palettes, overlay, and clear
-- errors for missing, empty, truncated, corrupt and non-image files.
local lunet = require "lunet"
local image = require "lunet.image"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()  -- busted env: it, assert
local flat = H.flat

local ref = dofile("spec/ref/image.lua")
local R = "spec/ref/images/"

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
end

-- a private temporary directory for the files the specs create
local tmp = os.tmpname()
os.remove(tmp)
tmp = tmp .. "_lunet_image"
assert(os.execute("mkdir -p '" .. tmp .. "'"))
teardown(function() os.execute("rm -rf '" .. tmp .. "'") end)

-- the message without the position (errors point at the caller: here, this helper)
local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return (tostring(msg):gsub("^spec/image_spec%.lua:%d+: ", ""))
end

local function same(t, exp)
  assert.are.same(exp.shape, t:shape())
  assert.are.equal(exp.dtype, t:dtype())
  assert.are.same(exp.data, flat(t))
end

describe("image.load", function()
  it("decodes every PNG colour type and bit depth in every mode as PIL/OpenCV do", function()
    local n = 0
    for name, modes in pairs(ref.png) do
      for mode, exp in pairs(modes) do
        local t = image.load(R .. name .. ".png", {mode = mode})
        if mode == "index" then
          assert.are.same({exp.shape[1], exp.shape[2]}, t:shape())
          assert.are.equal(exp.dtype, t:dtype())
          assert.are.same(exp.data, flat(t))
        else
          same(t, exp)
        end
        n = n + 1
      end
    end
    assert.is_true(n >= 50)
  end)

  it("defaults to mode rgb", function()
    same(image.load(R .. "pal8.png"), ref.png.pal8.rgb)
    same(image.load(R .. "gray8.png"), ref.png.gray8.rgb)
  end)

  it("returns palette indices in index mode, 255 (void) stays 255", function()
    local t = image.load(R .. "pal8.png", {mode = "index"})
    assert.are.equal("uint8", t:dtype())
    assert.is_true(t:eq(255):sum():item() > 0)
    assert.are.equal(255, t:max():item())
  end)

  it("loads 16-bit PNGs as int32 0..65535", function()
    local t = image.load(R .. "rgb16.png")
    assert.are.equal("int32", t:dtype())
    assert.is_true(t:max():item() > 255)
    assert.are.equal("int32", image.load(R .. "gray16.png", {mode = "index"}):dtype())
  end)

  it("decodes JPEG like PIL (same libjpeg-turbo), in rgb and gray", function()
    for name, modes in pairs(ref.jpeg) do
      for mode, exp in pairs(modes) do
        local t = image.load(R .. name .. ".jpg", {mode = mode})
        assert.are.same(exp.shape, t:shape())
        assert.are.equal("uint8", t:dtype())
        local got = flat(t)
        local maxd = 0
        for i, v in ipairs(exp.data) do maxd = math.max(maxd, math.abs(v - got[i])) end
        assert.is_true(maxd <= 1, name .. " " .. mode .. " differs by " .. maxd)
      end
    end
    assert.are.same({4, 12, 16}, image.load(R .. "rgb.jpg", {mode = "rgba"}):shape())
    assert.are.same({1, 12, 16}, image.load(R .. "gray.jpg", {mode = "unchanged"}):shape())
  end)

  it("converts CMYK JPEGs (Adobe, inverted) to RGB", function()
    local t = image.load(R .. "cmyk.jpg")
    assert.are.same({3, 16, 16}, t:shape())
    assert.are.equal("CMYK", image.info(R .. "cmyk.jpg").color)
    assert.is_true(t:narrow(2, 1, 6):to("int32"):min():item() >= 250)    -- white half
    assert.is_true(t:narrow(2, 11, 6):to("int32"):max():item() <= 5)     -- black half
  end)

  it("reads headers with image.info", function()
    local i = image.info(R .. "pal4.png")
    assert.are.same({format = "png", width = 7, height = 5, bit_depth = 4, color = "palette",
                     palette_size = 16, transparency = false, interlaced = false}, i)
    assert.is_true(image.info(R .. "interlaced.png").interlaced)
    assert.are.equal("jpeg", image.info(R .. "rgb.jpg").format)
  end)

  it("maps the colours of an RGB mask to class ids with a palette", function()
    local ids = image.load(R .. "pal8.png", {mode = "index"})
    local rgb = image.load(R .. "pal8.png")                 -- the VOC colours of the ids
    local p = tmp .. "/rgbmask.png"
    image.save(p, rgb)
    assert.are.equal("RGB", image.info(p).color)
    assert.are.same(flat(ids), flat(image.load(p, {mode = "index", palette = "voc"})))
    assert.are.equal("image.load: '" .. p .. "' has colour (0, 64, 128) at (1, 1) that is not in the palette",
                     errmsg(image.load, p, {mode = "index", palette = {{0, 0, 0}, {128, 0, 0}}}))
  end)

  it("raises exact errors for misuse", function()
    local cases = {
      {{R .. "rgb.png", {mode = "index"}},
       "image.load: cannot decode 'spec/ref/images/rgb.png': mode 'index' needs a palette or grayscale PNG, this is an RGB PNG (pass {palette=...} to map its colours to class ids)"},
      {{R .. "rgba.png", {mode = "index"}},
       "image.load: cannot decode 'spec/ref/images/rgba.png': mode 'index' needs a palette or grayscale PNG, this is an RGBA PNG (pass {palette=...} to map its colours to class ids)"},
      {{R .. "rgb.jpg", {mode = "index"}},
       "image.load: cannot decode 'spec/ref/images/rgb.jpg': mode 'index' needs a palette or grayscale PNG, this is a JPEG (lossy)"},
      {{R .. "rgb.png", {mode = "bgr"}},
       "image.load: mode must be 'rgb', 'gray', 'rgba', 'index' or 'unchanged', got 'bgr'"},
      {{R .. "rgb.png", {mdoe = "rgb"}}, "image.load: unknown option 'mdoe' (did you mean 'mode'?)"},
      {{R .. "rgb.png", "rgb"}, "image.load: options must be a table, got string"},
      {{R .. "rgb.png", {palette = "voc"}}, "image.load: option palette is only used with mode \"index\""},
      {{42}, "image.load: path must be a string, got number"},
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], errmsg(image.load, table.unpack(c[1])))
    end
  end)
end)

describe("image.load on broken files", function()
  local png, jpg = read(R .. "rgb.png"), read(R .. "rgb.jpg")
  local function with_file(name, bytes)
    local p = tmp .. "/" .. name
    write(p, bytes)
    return p
  end
  local function corrupt(s, pos, byte)
    return s:sub(1, pos - 1) .. string.char(byte) .. s:sub(pos + 1)
  end
  local idat = png:find("IDAT", 1, true)
  local function crc32(str)
    local crc = 0xffffffff
    for i = 1, #str do
      crc = crc ~ str:byte(i)
      for _ = 1, 8 do crc = (crc >> 1) ~ (0xedb88320 & -(crc & 1)) end
    end
    return crc ~ 0xffffffff
  end
  -- rgb.png with its IHDR claiming 100000 x 100000 pixels (valid CRC): a forged header
  local ihdr = "IHDR" .. string.pack(">I4I4", 100000, 100000) .. png:sub(25, 29)
  local forged = png:sub(1, 12) .. ihdr .. string.pack(">I4", crc32(ihdr)) .. png:sub(34)
  local sos = jpg:find("\255\218", 1, true)
  local garbled = jpg:sub(1, sos + 13) .. ("\255\208"):rep(10) .. jpg:sub(sos + 34)

  it("raises one clear error per kind of damage", function()
    local cases = {
      {"missing.png", nil, "image.load: cannot open '%s': No such file or directory"},
      {"empty.png", "", "image.load: cannot decode '%s': file is empty"},
      {"text.png", "hello, I am not an image\n", "image.load: cannot decode '%s': not a PNG or JPEG file"},
      {"sig_only.png", png:sub(1, 8), "image.load: cannot decode '%s': file is truncated"},
      {"trunc_hdr.png", png:sub(1, 20), "image.load: cannot decode '%s': file is truncated"},
      {"trunc_idat.png", png:sub(1, idat + 20), "image.load: cannot decode '%s': file is truncated"},
      {"no_iend.png", png:sub(1, #png - 12), "image.load: cannot decode '%s': file is truncated"},
      {"bad_ihdr.png", corrupt(png, 17, 0xee), "image.load: cannot decode '%s': IHDR: CRC error"},
      {"forged.png", forged, "image.load: cannot decode '%s': file is truncated or corrupt (header claims 100000 x 100000 pixels, file has " .. #forged .. " bytes)"},
      {"bad_idat.png", corrupt(png, idat + 12, png:byte(idat + 12) ~ 0xff), "image.load: cannot decode '%s': IDAT: incorrect data check"},
      {"trunc.jpg", jpg:sub(1, 300), "image.load: cannot decode '%s': file is truncated (premature end of JPEG data)"},
      {"trunc_scan.jpg", jpg:sub(1, #jpg - 40), "image.load: cannot decode '%s': file is truncated (premature end of JPEG data)"},
      {"garbled.jpg", garbled, "image.load: cannot decode '%s': Corrupt JPEG data: premature end of data segment"},
    }
    for _, c in ipairs(cases) do
      local p = tmp .. "/" .. c[1]
      if c[2] then write(p, c[2]) end
      assert.are.equal(c[3]:format(p), errmsg(image.load, p))
    end
    assert.are.equal("image.load: cannot open '" .. tmp .. "': it is a directory, not a regular file", errmsg(image.load, tmp))
  end)

  it("keeps working after many failed decodes (nothing leaks or corrupts state)", function()
    local bad = {with_file("t1.png", png:sub(1, 60)), with_file("t2.jpg", jpg:sub(1, 400)),
                 with_file("t3.png", corrupt(png, idat + 12, 0))}
    for _ = 1, 100 do
      for _, p in ipairs(bad) do assert.is_false(pcall(image.load, p)) end
    end
    same(image.load(R .. "rgb.png"), ref.png.rgb.rgb)
  end)

  it("decodes from memory with image.decode and reports bad bytes", function()
    same(image.decode(png), ref.png.rgb.rgb)
    assert.are.equal("image.decode: cannot decode the bytes: file is truncated", errmsg(image.decode, png:sub(1, 50)))
    assert.are.equal("image.decode: bytes must be a string, got nil", errmsg(image.decode, nil))
  end)
end)

describe("image.save", function()
  local g = lunet.Generator(7)
  local function rand_u8(...) return g:randint(0, 256, {...}):to("uint8") end

  it("round-trips gray, gray+alpha, RGB and RGBA uint8 images", function()
    for c = 1, 4 do
      local t = rand_u8(c, 6, 9)
      local p = tmp .. "/rt" .. c .. ".png"
      image.save(p, t)
      assert.are.equal(({"gray", "gray+alpha", "RGB", "RGBA"})[c], image.info(p).color)
      local back = image.load(p, {mode = "unchanged"})
      assert.are.same(t:shape(), back:shape())
      assert.are.same(flat(t), flat(back))
    end
    local hw = rand_u8(4, 5)
    image.save(tmp .. "/hw.png", hw)
    assert.are.same(flat(hw), flat(image.load(tmp .. "/hw.png", {mode = "index"})))
  end)

  it("round-trips 16-bit images from int32", function()
    for _, c in ipairs({1, 2, 3, 4}) do
      local t = g:randint(0, 65536, {c, 4, 5})
      local p = tmp .. "/w" .. c .. ".png"
      image.save(p, t)
      assert.are.equal(16, image.info(p).bit_depth)
      local back = image.load(p, {mode = "unchanged"})
      assert.are.equal("int32", back:dtype())
      assert.are.same(flat(t), flat(back))
    end
  end)

  it("writes palette PNGs whose indices load back as the same class ids", function()
    local ids = g:randint(0, 21, {7, 6})
    ids:set(255, 1, 1)
    local p = tmp .. "/pal.png"
    image.save(p, ids, {palette = "voc"})
    local i = image.info(p)
    assert.are.equal("palette", i.color)
    assert.are.equal(256, i.palette_size)
    assert.are.same(flat(ids), flat(image.load(p, {mode = "index"})))
    -- colours come from the palette
    local rgb = image.load(p)
    assert.are.same({224, 224, 192}, {rgb:get(1, 1, 1), rgb:get(2, 1, 1), rgb:get(3, 1, 1)})
    -- custom palette, uint8 1 x H x W ids
    local pal = {{0, 0, 0}, {255, 0, 0}, {0, 0, 255}}
    local small = g:randint(0, 3, {1, 3, 4}):to("uint8")
    image.save(p, small, {palette = pal})
    assert.are.equal(3, image.info(p).palette_size)
    assert.are.same(flat(small), flat(image.load(p, {mode = "index"})))
    local px = image.load(p)
    local id = small:get(1, 2, 3)
    assert.are.same(pal[id + 1], {px:get(1, 2, 3), px:get(2, 2, 3), px:get(3, 2, 3)})
  end)

  it("encodes to a string with image.encode", function()
    local t = rand_u8(3, 3, 3)
    local s = image.encode(t)
    assert.are.equal("\137PNG", s:sub(1, 4))
    assert.are.same(flat(t), flat(image.decode(s)))
  end)

  it("raises exact errors for misuse", function()
    local p = tmp .. "/bad.png"
    local cases = {
      {{p, lunet.zeros(3, 4, 4)}, "image.save: t is float32; convert with image.from_float(t) (values in [0, 1]) or t:to(\"uint8\")"},
      {{p, rand_u8(5, 4, 4)}, "image.save: t must have 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels, got [5, 4, 4]"},
      {{p, rand_u8(1, 1, 4, 4)}, "image.save: t must be C x H x W or H x W, got [1, 1, 4, 4]"},
      {{p, rand_u8(3, 0, 4)}, "image.save: cannot save an empty image [3, 0, 4]"},
      {{p, rand_u8(3, 4, 4), {palette = "voc"}}, "image.save: a palette image must be H x W (class ids), got [3, 4, 4]"},
      {{p, lunet.full({2, 2}, 3, {dtype = "int32"}), {palette = {{0, 0, 0}, {1, 1, 1}}}},
       "image.save: value 3 is outside the palette (2 colours)"},
      {{p, lunet.full({1, 2, 2}, 70000, {dtype = "int32"})}, "image.save: int32 image value 70000 is outside 0..65535 (16-bit PNG)"},
      {{p, rand_u8(4, 4), {palette = "vco"}},
       "image.save: palette: expected \"voc\", a list of {r, g, b} or a K x 3 tensor, got \"vco\""},
      {{p, rand_u8(4, 4), {pallete = "voc"}}, "image.save: unknown option 'pallete' (did you mean 'palette'?)"},
      {{p, "img"}, "image.save: t must be a tensor, got string"},
      {{tmp .. "/no/such/dir/x.png", rand_u8(3, 2, 2)}, "image.save: cannot write '" .. tmp .. "/no/such/dir/x.png': No such file or directory"},
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], errmsg(image.save, table.unpack(c[1])))
    end
  end)
end)

describe("image errors", function()
  it("point at the caller's line", function()
    local calls = {
      function() image.load(R .. "rgb.png", {mode = "index"}) end,
      function() image.load(R .. "rgb.png", {mdoe = 1}) end,
      function() image.load(R .. "nope.png") end,
      function() image.load(R .. "rgb.png", {mode = "index", palette = {{0, 0, 0}}}) end,
      function() image.save(tmp .. "/x.png", "t") end,
      function() image.save(tmp .. "/x.png", lunet.zeros(2, 2)) end,
      function() image.save(tmp .. "/x.png", lunet.zeros({2, 2}, {dtype = "uint8"}), {palette = 3}) end,
      function() image.encode(lunet.zeros({2, 2}, {dtype = "uint8"}), {x = 1}) end,
      function() image.overlay(lunet.zeros({3, 2, 2}, {dtype = "uint8"}), lunet.zeros(2, 2)) end,
      function() image.palette({}) end,
    }
    for i, f in ipairs(calls) do
      local ok, msg = pcall(f)
      assert.is_false(ok)
      assert.is_truthy(msg:find("^spec/image_spec%.lua:%d+: image%."), "call " .. i .. ": " .. msg)
    end
  end)
end)

describe("image.palette", function()
  it("builds the 256-entry VOC colormap, 255 = (224, 224, 192)", function()
    local p = image.palette("voc")
    assert.are.same({256, 3}, p:shape())
    assert.are.equal("uint8", p:dtype())
    assert.are.same(ref.voc, flat(p))
    assert.are.same({128, 0, 0}, p:select(1, 2):totable())
    assert.are.same({224, 224, 192}, p:select(1, 256):totable())
  end)

  it("accepts colour lists and K x 3 tensors", function()
    local p = image.palette({{1, 2, 3}, {4, 5, 6}})
    assert.are.same({2, 3}, p:shape())
    assert.are.same({1, 2, 3, 4, 5, 6}, flat(p))
    assert.are.equal("uint8", image.palette(lunet.tensor({{9, 8, 7}}, {dtype = "int32"})):dtype())
  end)

  it("rejects bad palettes with exact messages", function()
    local cases = {
      {{}, "image.palette: a palette has 1 to 256 colours, got 0"},
      {{{1, 2}}, "image.palette: colour 1 must be {r, g, b}"},
      {{{1, 2, 300}}, "image.palette: colour 1 has component 300 outside 0..255"},
      {lunet.zeros(4, 2), "image.palette: a palette tensor must be K x 3 with 1 <= K <= 256, got [4, 2]"},
      {lunet.full({1, 3}, 256), "image.palette: palette values must be in 0..255, got 256..256"},
      {"cityscapes", "image.palette: expected \"voc\", a list of {r, g, b} or a K x 3 tensor, got \"cityscapes\""},
    }
    for _, c in ipairs(cases) do assert.are.equal(c[2], errmsg(image.palette, c[1])) end
  end)
end)

describe("image.overlay", function()
  local img = lunet.full({1, 2, 2}, 100, {dtype = "uint8"})
  local mask = lunet.tensor({{0, 1}, {2, 255}}, {dtype = "int32"})

  it("blends palette colours over non-background pixels", function()
    local o = image.overlay(img, mask)
    assert.are.same({3, 2, 2}, o:shape())
    assert.are.equal("uint8", o:dtype())
    -- 0 untouched; 1 (128,0,0), 2 (0,128,0), 255 (224,224,192) at alpha 0.5
    assert.are.same({{{100, 114}, {50, 162}}, {{100, 50}, {114, 162}}, {{100, 50}, {50, 146}}}, o:totable())
  end)

  it("colours every pixel with background=false, takes alpha and custom palettes", function()
    local o = image.overlay(img, mask:clamp(0, 1), {alpha = 1, background = false,
                                                  palette = {{10, 20, 30}, {40, 50, 60}}})
    assert.are.same({{{10, 40}, {40, 40}}, {{20, 50}, {50, 50}}, {{30, 60}, {60, 60}}}, o:totable())
    local f = image.overlay(lunet.full({3, 2, 2}, 0.5), mask:to("uint8"), {alpha = 0})
    assert.are.same({3, 2, 2}, f:shape())
    assert.are.equal(128, f:get(1, 1, 1))
  end)

  it("raises exact errors for misuse", function()
    local cases = {
      {{img, lunet.zeros({3, 3}, {dtype = "int32"})},
       "image.overlay: mask must be H x W matching img, got img [1, 2, 2], mask [3, 3]"},
      {{img, mask, {palette = {{0, 0, 0}, {1, 1, 1}}}}, "image.overlay: mask value 2 is outside the palette (2 colours)"},
      {{img, mask, {alpha = 2}}, "image.overlay: alpha must be in [0, 1], got 2.0"},
      {{img, lunet.zeros(2, 2)}, "image.overlay: mask must hold class ids (int32 or uint8), got float32"},
      {{img, mask, {colour = 1}}, "image.overlay: unknown option 'colour' (known options: alpha, background, palette)"},
    }
    for _, c in ipairs(cases) do assert.are.equal(c[2], errmsg(image.overlay, table.unpack(c[1]))) end
  end)
end)

describe("image.to_float / from_float", function()
  it("scales uint8 by 255 and int32 by 65535, and rounds back", function()
    local u = lunet.tensor({0, 128, 255}, {dtype = "uint8"})
    local f = image.to_float(u)
    assert.are.equal("float32", f:dtype())
    assert.is_true(math.abs(f:get(2) - 128 / 255) < 1e-6)
    assert.are.same({0, 128, 255}, image.from_float(f):totable())
    assert.are.same({0, 255, 128}, image.from_float(lunet.tensor({-0.5, 1.5, 0.5})):totable())
    assert.is_true(math.abs(image.to_float(lunet.tensor({65535}, {dtype = "int32"})):get(1) - 1) < 1e-6)
  end)
end)
