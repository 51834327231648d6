-- model:predict / lunet.predict: overlap-tile inference equals whole-image inference for a
-- fully convolutional model (tiny U-Net, eval batch norm), input conversions, labels,
-- train/eval restoration, option errors; config literals and checkpoints with the model's name.
local lunet = require "lunet"
local nn = require "lunet.nn"
local predict = require "lunet.predict"
local UNet = require "lunet.models.unet"
local F = nn.functional

-- A depth-3 U-Net (receptive field radius 22 px) with non-trivial batch-norm statistics.
local function tiny_unet(seed, opts)
  lunet.manual_seed(seed)
  opts = opts or {}
  local m = UNet { in_channels = opts.in_channels or 3, num_classes = opts.num_classes or 3,
                   base = 4, depth = opts.depth or 3, norm = "batch" }
  lunet.no_grad(function()
    for _, mod in ipairs(m:modules()) do
      if mod.running_mean then
        local c = mod.running_mean:size(1)
        mod.running_mean:copy_(lunet.randn(c) * 0.1)
        mod.running_var:copy_(lunet.rand(c) + 0.5)
      end
    end
  end)
  return m
end

local function maxdiff(a, b) return (a - b):abs():max():item() end

local function shape(t) return table.concat(t:shape(), "x") end

-- err(fn) -> the error message (no position prefix expected)
-- The message of the error fn raises, without its "file:line: " position (lunet's errors
-- point at the caller: spec/caller_spec.lua checks that).
local function err(fn)
  local ok, msg = pcall(fn)
  assert.is_false(ok)
  return (tostring(msg):gsub("^[^:\n]+:%d+: ", ""))
end

describe("predict", function()
  local m = tiny_unet(1)
  lunet.manual_seed(7)
  local x = lunet.rand(2, 3, 70, 93)   -- not multiples of 4, larger than the tiles below
  local whole = lunet.no_grad(function() m:eval(); local y = m(x); m:train(); return y end)

  it("without tile is one eval-mode forward", function()
    local y = m:predict(x)
    assert.are.equal("2x3x70x93", shape(y))
    assert.is_true(maxdiff(y, whole) == 0)
    assert.is_true(maxdiff(m:predict(x, { batch_size = 1 }), whole) < 1e-5)
  end)

  it("tiled with crop blending matches whole-image inference (tile covers the receptive field)", function()
    for _, o in ipairs {
      { tile = 64, overlap = 44 },
      { tile = { 64, 56 }, overlap = { 48, 44 }, batch_size = 3 },
      { tile = 61, overlap = 45, batch_size = 16 },   -- rounded up to multiples of align 4
    } do
      local y = m:predict(x, o)
      assert.are.equal("2x3x70x93", shape(y))
      assert.is_true(maxdiff(y, whole) < 1e-4)
    end
  end)

  it("a tile larger than the image is one forward of the whole image", function()
    assert.is_true(maxdiff(m:predict(x, { tile = 512, overlap = 8 }), whole) < 1e-5)
  end)

  it("too little overlap shows seams, linear blending smooths but does not make them exact", function()
    local y = m:predict(x, { tile = 32, overlap = 4 })
    assert.is_true(maxdiff(y, whole) > 1e-3)
    local yl = m:predict(x, { tile = 64, overlap = 44, blend = "linear" })
    assert.is_true(maxdiff(yl, whole) < 0.05)
  end)

  it("blends and borders are exact for a pointwise model", function()
    lunet.manual_seed(3)
    local pw = nn.Sequential(nn.Conv2d(3, 5, 1), nn.ReLU(), nn.Conv2d(5, 2, 1))
    local img = lunet.rand(1, 3, 37, 41)
    local ref = lunet.no_grad(function() return pw(img) end)
    for _, o in ipairs {
      { tile = 16, overlap = 4 }, { tile = 16, overlap = 5, blend = "linear" },
      { tile = { 10, 20 }, overlap = 6, border = "reflect" },
      { tile = 9, overlap = 8, blend = "linear", border = "reflect", align = 3 },
    } do
      assert.is_true(maxdiff(pw:predict(img, o), ref) < 1e-5)
    end
    local gray = nn.Conv2d(1, 2, 1)                       -- H x W is one channel: K x H x W
    local g = lunet.rand(9, 13)
    local gy = gray:predict(g, { tile = 8, overlap = 2 })
    assert.are.equal("2x9x13", shape(gy))
    assert.is_true(maxdiff(gy, lunet.no_grad(function() return gray(g:view(1, 1, 9, 13)) end):select(1, 1)) < 1e-6)
  end)

  it("reflect border changes only pixels near the image edge", function()
    local y = m:predict(x, { tile = 64, overlap = 44, border = "reflect" })
    local inner = function(t) return t:narrow(3, 25, 70 - 48):narrow(4, 25, 93 - 48) end
    assert.is_true(maxdiff(inner(y), inner(whole)) < 1e-4)
    assert.is_true(maxdiff(y, whole) > 1e-4)
  end)

  it("takes C x H x W and uint8 images (divided by 255), returns K x H x W", function()
    local img8 = lunet.randint(0, 256, { 3, 41, 30 }):to("uint8")
    local y = m:predict(img8, { tile = 64, overlap = 44 })
    assert.are.equal("3x41x30", shape(y))
    local ref = m:predict(img8:to("float32"):div(255):unsqueeze(1))
    assert.is_true(maxdiff(y, ref:select(1, 1)) < 1e-4)
  end)

  it("normalize = {mean, std} is applied per channel after the scaling", function()
    local img8 = lunet.randint(0, 256, { 3, 12, 16 }):to("uint8")
    local nz = { mean = { 0.5, 0.4, 0.3 }, std = { 0.2, 0.25, 0.5 } }
    local y = m:predict(img8, { normalize = nz })
    local xf = img8:to("float32"):div(255)
    local ref = m:predict((xf - lunet.tensor({ 0.5, 0.4, 0.3 }, { shape = { 3, 1, 1 } }))
      / lunet.tensor({ 0.2, 0.25, 0.5 }, { shape = { 3, 1, 1 } }))
    assert.is_true(maxdiff(y, ref) < 1e-5)
    assert.are.equal("predict: normalize has 2 channels, the image 3",
      err(function() m:predict(img8, { normalize = { mean = { 0, 0 }, std = { 1, 1 } } }) end))
    assert.are.equal("predict: normalize must be {mean = {...}, std = {...}} with one value per channel",
      err(function() m:predict(img8, { normalize = { mean = { 0 } } }) end))
  end)

  it("output = \"labels\" gives int32 class ids 0..K-1 (argmax over classes)", function()
    local lab = m:predict(x, { tile = 64, overlap = 44, output = "labels" })
    assert.are.equal("int32", lab:dtype())
    assert.are.equal("2x70x93", shape(lab))
    assert.is_true(lab:eq(F.labels(whole)):to("int32"):sum():item() == 2 * 70 * 93)
    local one = m:predict(x:select(1, 1), { output = "labels", num_classes = 3 })
    assert.are.equal("70x93", shape(one))
    assert.is_true(lab:min():item() >= 0 and lab:max():item() <= 2)
  end)

  it("runs under no_grad and restores each module's train/eval flag", function()
    m:train()
    m.down[1]:eval()
    local y = m:predict(x, { tile = 64, overlap = 44 })
    assert.is_false(require("lunet.autograd").tracked(y))
    assert.is_true(m.training)
    assert.is_false(m.down[1].training)
    assert.is_true(m.dec[1].training)
    m:eval()
    m:predict(x)
    assert.is_false(m.training)
    m:train()
    assert.is_true(lunet.is_grad_enabled())
  end)

  it("restores the flags and grad mode when the model fails", function()
    local Bad = nn.Module:extend("Bad")
    function Bad:forward(t) return t:narrow(3, 1, 2) end
    local b = Bad()
    assert.are.equal("predict: the model returned [1, 3, 2, 8] for an input of [1, 3, 8, 8]; "
      .. "predict needs a fully convolutional model whose output is N x K x H x W with the "
      .. "input's N, H and W", err(function() b:predict(lunet.rand(3, 8, 8)) end))
    assert.is_true(b.training)
    assert.is_true(lunet.is_grad_enabled())
  end)

  it("rejects bad options and images with precise messages", function()
    local img = lunet.rand(3, 20, 20)
    local cases = {
      { { tile = 0 }, "predict: tile must be at least 1, got 0" },
      { { tile = -4 }, "predict: tile must be at least 1, got -4" },
      { { tile = 16, overlap = 16 }, "predict: overlap (16 x 16) must be smaller than tile (16 x 16)" },
      { { tile = 16, overlap = 20 }, "predict: overlap (20 x 20) must be smaller than tile (16 x 16)" },
      { { tile = { 16, 8 }, overlap = { 4, 8 } }, "predict: overlap (4 x 8) must be smaller than tile (16 x 8)" },
      { { tile = 16, overlap = -1 }, "predict: overlap must be at least 0, got -1" },
      { { tile = 2.5 }, "predict: tile must be an integer or {h, w} of integers, got 2.5" },
      { { tile = "big" }, "predict: tile must be an integer or {h, w} of integers, got 'big'" },
      { { tile = { 1, 2, 3 } }, "predict: tile must be a number or {h, w}, got a table of 3 values" },
      { { overlap = 4 }, "predict: overlap needs tile" },
      { { tile = 8, align = 0 }, "predict: align must be at least 1, got 0" },
      { { batch_size = 0 }, "predict: batch_size must be an integer >= 1, got 0" },
      { { blend = "max" }, "predict: blend must be 'crop' or 'linear', got 'max'" },
      { { border = "wrap" }, "predict: border must be 'zero' or 'reflect', got 'wrap'" },
      { { output = "probs" }, "predict: output must be 'logits' or 'labels', got 'probs'" },
      { { num_classes = 4 }, "predict: the model returned 3 classes, num_classes is 4" },
      { { tiles = 4 }, "predict: unknown option 'tiles' (did you mean 'tile'?)" },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], err(function() m:predict(img, c[1]) end))
    end
    assert.are.equal("predict: image must be a tensor, got table", err(function() m:predict({}) end))
    assert.are.equal("predict: image must be C x H x W or N x C x H x W (or H x W), got shape [1, 1, 1, 3, 8]",
      err(function() m:predict(lunet.rand(1, 1, 1, 3, 8)) end))
    assert.are.equal("predict: options must be a table, got number", err(function() m:predict(img, 5) end))
    assert.are.equal("UNet: input has 1 channels, the model expects 3",
      (err(function() m:predict(lunet.rand(1, 8, 8)) end):gsub("^.-:%d+: ", "")))
  end)
end)

describe("predict config literals", function()
  it("round-trip numbers, strings, booleans and nested tables", function()
    local cfg = { in_channels = 3, num_classes = 11, base = 16, norm = "batch", up = "transpose",
                  dropout = 0.25, flag = false, widths = { 18, 36 }, name = "a \"q\"\n\\" }
    local s = predict.encode_config(cfg)
    assert.are.equal('{base = 16, dropout = 0.25, flag = false, in_channels = 3, name = "a \\"q\\"\\n\\\\", '
      .. 'norm = "batch", num_classes = 11, up = "transpose", widths = {18, 36}}', s)
    assert.are.same(cfg, predict.decode_config(s))
    assert.are.equal("integer", math.type(predict.decode_config(s).base))
    assert.are.same({ a = -1.5e-3, b = 'x', 1, 2 }, predict.decode_config("{ 1; 2, a=-1.5e-3, b='x', }"))
  end)

  it("never runs code", function()
    for _, s in ipairs { "{os.exit(1)}", "{a = (function() end)}", "return {}", "{a = x}", "{a = 1" } do
      assert.is_truthy(err(function() predict.decode_config(s) end):find("^decode_config: "))
    end
    assert.are.equal("decode_config: unexpected 'o' at position 2 in \"{os.exit(1)}\"",
      err(function() predict.decode_config("{os.exit(1)}") end))
  end)
end)

describe("predict checkpoints", function()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("save_model + load_model rebuild the model from its name and options", function()
    local m = tiny_unet(5, { depth = 2, num_classes = 2 })
    local path = dir .. "/unet.safetensors"
    predict.save_model(path, m, { metadata = { epoch = 3 } })
    local sd, meta = lunet.load(path)
    assert.are.equal("unet", meta.model)
    assert.are.equal("3", meta.epoch)
    assert.are.same(m.config, predict.decode_config(meta.config))
    local m2 = predict.load_model(path)
    assert.is_false(m2.training)
    local x = lunet.rand(1, 3, 20, 28)
    assert.is_true(maxdiff(m2:predict(x), m:predict(x)) == 0)
    assert.is_truthy(sd["down.1.1.weight"])
  end)

  it("loads the model part of a train.fit checkpoint (\"model.<name>\" keys)", function()
    local m = tiny_unet(6, { depth = 2, num_classes = 2 })
    local t = {}
    for k, v in pairs(m:state_dict()) do t["model." .. k] = v end
    t["optimizer.state.1.exp_avg"] = lunet.zeros(3)
    local path = dir .. "/fit.safetensors"
    lunet.save(path, t, predict.checkpoint_metadata("unet", m.config))
    local m2 = predict.load_model(path)
    local x = lunet.rand(1, 3, 16, 16)
    assert.is_true(maxdiff(m2:predict(x), m:predict(x)) == 0)
  end)

  it("explains what is missing", function()
    local m = tiny_unet(6, { depth = 2, num_classes = 2 })
    local path = dir .. "/plain.safetensors"
    lunet.save(path, m:state_dict())
    assert.are.equal("load_model: '" .. path .. "' has no 'model' metadata (save it with "
      .. "predict.save_model, or pass {model = \"unet\", config = {...}})",
      err(function() predict.load_model(path) end))
    local m2 = predict.load_model(path, { model = "unet", config = m.config })
    local x = lunet.rand(1, 3, 8, 8)
    assert.is_true(maxdiff(m2:predict(x), m:predict(x)) == 0)
    assert.are.equal("load_model: unknown model 'nosuch' (no module lunet.models.nosuch)",
      err(function() predict.load_model(path, { model = "nosuch", config = {} }) end))
    assert.is_truthy(err(function()
      predict.load_model(path, { model = "unet", config = { in_channels = 3, num_classes = 5, base = 4, depth = 2, norm = "batch" } })
    end):find("^load_model: '.-': load_state_dict: size mismatch: "))
    assert.are.equal("load_model: cannot open '" .. dir .. "/missing.safetensors': No such file or directory",
      err(function() predict.load_model(dir .. "/missing.safetensors") end))
  end)
end)

describe("examples/predict.lua", function()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir .. "/in")
  teardown(function() os.execute("rm -rf " .. dir) end)
  local image = require "lunet.image"

  local function run(args)
    local p = io.popen("lua5.4 examples/predict.lua " .. args .. " 2>&1; echo \"rc=$?\"")
    local out = p:read("a")
    p:close()
    return out, tonumber(out:match("rc=(%d+)%s*$"))
  end

  it("writes palette masks and overlays for a folder of images", function()
    local m = tiny_unet(8, { depth = 2, num_classes = 3 })
    lunet.no_grad(function() m.head.bias:copy_(lunet.tensor { 0, 0.5, -0.5 }) end)
    local t = {}
    for k, v in pairs(m:state_dict()) do t["model." .. k] = v end
    lunet.save(dir .. "/fit.safetensors", t, predict.checkpoint_metadata("unet", m.config))
    local img = lunet.randint(0, 256, { 3, 30, 45 }):to("uint8")
    image.save(dir .. "/in/one.png", img)
    image.save(dir .. "/in/two.jpg.png", lunet.randint(0, 256, { 3, 12, 9 }):to("uint8"))
    local out, rc = run("--checkpoint " .. dir .. "/fit.safetensors --input " .. dir .. "/in --output "
      .. dir .. "/out --tile 16 --overlap 8")
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find("2 images segmented into", 1, true))
    local mask = image.load(dir .. "/out/one_mask.png", { mode = "index" })
    assert.are.equal("30x45", shape(mask))
    local ids = m:predict(img, { tile = 16, overlap = 8, output = "labels" })
    assert.is_true(mask:to("int32"):eq(ids):to("int32"):sum():item() == 30 * 45)
    assert.are.equal("3x30x45", shape(image.load(dir .. "/out/one_overlay.png")))
    assert.are.equal("3x12x9", shape(image.load(dir .. "/out/two.jpg_overlay.png")))
  end)

  it("fails with a clear message and status 1", function()
    local out, rc = run("--checkpoint " .. dir .. "/missing.safetensors --input " .. dir .. "/in --output " .. dir .. "/o")
    assert.are.equal(1, rc)
    assert.is_truthy(out:find("predict: load_model: cannot open '" .. dir .. "/missing.safetensors'", 1, true), out)
    out, rc = run("--input " .. dir)
    assert.are.equal(1, rc)
    assert.is_truthy(out:find("predict: --checkpoint is required", 1, true), out)
  end)
end)
