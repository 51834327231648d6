-- fuzz/make_corpus.lua: writes the seed corpora fuzz/corpus/<target>/ with lunet itself (a few
-- small valid files of each kind and a few broken ones). Deterministic: rerunning it rewrites
-- the same bytes. Run from the repository root after `make`:
--   make -f fuzz/fuzz.mk corpus
local lunet = require "lunet"
local image = require "lunet.image"
local ckpt = require "lunet.train.checkpoint"
local jpegs = require "fuzz.jpeg_scans"

local ROOT = "fuzz/corpus/"
local REF = "spec/ref/images/"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(target, name, bytes)
  local f = assert(io.open(ROOT .. target .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
end

local function gzip(bytes)   -- gzip -n: no name or time stamp, so the output is reproducible
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "wb"))
  f:write(bytes)
  f:close()
  local p = assert(io.popen("gzip -n -9 -c '" .. tmp .. "'", "r"))
  local out = p:read("a")
  p:close()
  os.remove(tmp)
  return out
end

local function corrupt(s, pos, byte)
  return s:sub(1, pos - 1) .. string.char(byte) .. s:sub(pos + 1)
end

for _, t in ipairs({"png", "jpeg", "safetensors", "idx", "checkpoint"}) do
  os.execute("mkdir -p '" .. ROOT .. t .. "'")
  os.execute("rm -f '" .. ROOT .. t .. "'/*")
end

local g = lunet.Generator(2024)
local function u8(...) return g:randint(0, 256, {...}):to("uint8") end
-- a smooth RGB image (compresses like a photo)
local function smooth(h, w)
  local y = lunet.arange(0, h):view(h, 1):expand(h, w)
  local x = lunet.arange(0, w):view(1, w):expand(h, w)
  return lunet.stack({(y * (255 / h)), (x * (255 / w)), ((x + y) * (127 / (h + w)))}, 1):to("uint8")
end

-- ---------------------------------------------------------------- PNG
for _, n in ipairs({"gray1", "gray8", "gray16", "gray_alpha", "interlaced", "pal4", "pal_trns",
                    "rgb", "rgb16", "rgba"}) do
  write("png", n .. ".png", read(REF .. n .. ".png"))
end
write("png", "gen_gray_alpha.png", image.encode(u8(2, 5, 3)))
write("png", "gen_rgba.png", image.encode(u8(4, 3, 6)))
write("png", "gen_rgb16.png", image.encode(g:randint(0, 65536, {3, 3, 2})))
write("png", "gen_palette.png", image.encode(g:randint(0, 21, {4, 5}), {palette = "voc"}))
write("png", "gen_smooth.png", image.encode(smooth(16, 24)))
local png = read(REF .. "rgb.png")
write("png", "broken_truncated.png", png:sub(1, #png - 20))
write("png", "broken_idat.png", corrupt(png, png:find("IDAT", 1, true) + 10, 0x55))
write("png", "broken_signature_only.png", png:sub(1, 8))

-- ---------------------------------------------------------------- JPEG
for _, n in ipairs({"rgb", "gray", "cmyk"}) do write("jpeg", n .. ".jpg", read(REF .. n .. ".jpg")) end
write("jpeg", "gen_q90.jpg", image.encode(smooth(16, 24), {format = "jpeg", quality = 90}))
write("jpeg", "gen_q20_gray.jpg", image.encode(u8(1, 9, 7), {format = "jpeg", quality = 20}))
write("jpeg", "gen_progressive.jpg", image.encode(smooth(17, 23), {format = "jpeg", progressive = true}))
write("jpeg", "gen_scans_40.jpg", jpegs.gray8x8(40))
local jpg = read(REF .. "rgb.jpg")
write("jpeg", "broken_truncated.jpg", jpg:sub(1, 400))
local sos = jpg:find("\255\218", 1, true)
write("jpeg", "broken_garbled.jpg", jpg:sub(1, sos + 13) .. ("\255\208"):rep(4) .. jpg:sub(sos + 22))

-- ---------------------------------------------------------------- safetensors
local function st(header, data) return string.pack("<I8", #header) .. header .. (data or "") end
local tmp = os.tmpname()
local function saved(tensors, meta)
  lunet.save(tmp, tensors, meta)
  return read(tmp)
end
write("safetensors", "mixed.safetensors", saved({
  w = g:randn(2, 3), i = g:randint(-5, 5, {4}):to("int32"), m = u8(2, 2),
  s = lunet.tensor(1.5), e = lunet.zeros(0, 3)}, {epoch = "3", note = "x"}))
write("safetensors", "empty.safetensors", saved({}))
write("safetensors", "i64_bool.safetensors",
  st('{"n":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"BOOL","shape":[2],"data_offsets":[16,18]}}',
     string.pack("<i8i8", 7, -1) .. "\1\0"))
write("safetensors", "f16.safetensors", st('{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', "\0\60\0\60"))
write("safetensors", "broken_offsets.safetensors",
  st('{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', string.rep("\0", 16)))
write("safetensors", "broken_overlap.safetensors",
  st('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}', "abcdef"))
write("safetensors", "broken_nul.safetensors",
  st('{"a\\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', "z"))
local mixed = read(ROOT .. "safetensors/mixed.safetensors")
write("safetensors", "broken_truncated.safetensors", mixed:sub(1, #mixed - 7))

-- ---------------------------------------------------------------- IDX
local function idx(code, dims, payload)
  local h = string.pack(">BBBB", 0, 0, code, #dims)
  for _, d in ipairs(dims) do h = h .. string.pack(">I4", d) end
  return h .. payload
end
local u8_img = idx(8, {2, 3, 4}, read(REF .. "pal8.png"):sub(1, 24))
write("idx", "u8.idx", u8_img)
write("idx", "u8.idx.gz", gzip(u8_img))
write("idx", "i8.idx", idx(9, {5}, "\1\255\127\128\0"))
write("idx", "i16.idx", idx(11, {2, 2}, string.pack(">i2i2i2i2", -300, 7, 32767, -32768)))
write("idx", "i32.idx.gz", gzip(idx(12, {3}, string.pack(">i4i4i4", 1, -2, 70000))))
write("idx", "f32.idx", idx(13, {2}, string.pack(">ff", 1.5, -2.25)))
write("idx", "f64.idx", idx(14, {1, 2}, string.pack(">dd", 1e300, -0.5)))
write("idx", "broken_truncated.idx", idx(8, {4, 4}, "abc"))
write("idx", "broken_magic.idx", "\1\2\3\4\5\6\7\8")
write("idx", "broken_claim.idx.gz", gzip(idx(8, {60000, 28, 28}, "abc")))

-- ---------------------------------------------------------------- checkpoints
-- the model, optimizer, scheduler and generator of fuzz/fuzz_checkpoint.c, so that restore
-- and the training step after it run on the valid seeds
local nn = lunet.nn
local m = nn.Sequential(nn.Conv2d(1, 2, 3, {padding = 1}), nn.BatchNorm2d(2))
local opt = lunet.optim.Adam(m:parameters(), {lr = 1e-3})
local sched = lunet.optim.StepLR(opt, {step_size = 1})
local gen = lunet.Generator(1)
local x = gen:randn(1, 1, 4, 4)
opt:zero_grad()
m(x):sum():backward()
opt:step()
sched:step()
ckpt.save(tmp, {model = m, optimizer = opt, scheduler = sched, generators = {default = gen},
                meta = {epoch = 1, best = 0.5, best_epoch = 1}, history = {{loss = 1.25, miou = 0.5}}})
local full = read(tmp)
write("checkpoint", "full.safetensors", full)
ckpt.save(tmp, {model = m, meta = {epoch = 2}})
write("checkpoint", "model_only.safetensors", read(tmp))
lunet.save(tmp, m:state_dict())
write("checkpoint", "state_dict.safetensors", read(tmp))
lunet.save(tmp, {["model.1.weight"] = lunet.ones(3), ["rng.default"] = lunet.zeros({3}, {dtype = "int32"})},
           {format = ckpt.FORMAT, epoch = "x", history = "a=1;b\nc=;=2"})
write("checkpoint", "wrong_shapes.safetensors", read(tmp))
write("checkpoint", "broken_truncated.safetensors", full:sub(1, #full // 2))
os.remove(tmp)
print("wrote the seed corpora under " .. ROOT)
