-- Errors at the caller's level: a misuse in a user's script reports that script's file and
-- line, never a path inside lua/lunet or models/. Each case is a small script written to a
-- temporary file and run with loadfile + pcall; the message must be exactly
-- "<script>:<line of the misuse>: <message>".
local lunet = require "lunet"

local PRELUDE = {
  'local lunet = require "lunet"',
  'local nn, optim, T, metrics = lunet.nn, require "lunet.optim", require "lunet.transforms", require "lunet.metrics"',
  'local data, models, predict = require "lunet.data", lunet.models, require "lunet.predict"',
}

-- Runs PRELUDE .. lines as a script file; returns the error and the file's path.
local function run(lines)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(table.concat(PRELUDE, "\n"), "\n", table.concat(lines, "\n"), "\n")
  f:close()
  local chunk = assert(loadfile(path))
  local ok, err = pcall(chunk)
  os.remove(path)
  assert.is_false(ok, "the script ran without error")
  return tostring(err), path
end

-- { what, script lines, index of the failing line in them, message }
local cases = {
  { "a misspelled module option",
    { "local conv = nn.Conv2d(3, 8, 3, { paddin = 1 })" }, 1,
    "Conv2d: unknown option 'paddin' (did you mean 'padding'?)" },
  { "a bad layer value",
    { "local up = nn.Upsample { scale_factor = 0 / 0 }" }, 1,
    "Upsample: scale_factor must be a positive finite number or a pair of them, got nan" },
  { "a bad optimizer lr",
    { "local p = lunet.zeros(3):requires_grad(true)", "local opt = optim.Adam({ p }, { lr = -0.01 })" }, 2,
    "Adam: lr must be a finite number >= 0, got -0.01" },
  { "a bad scheduler argument",
    { "local opt = optim.SGD({ lunet.zeros(3):requires_grad(true) }, { lr = 0.1 })",
      "local s = optim.StepLR(opt, { step_size = 0 })" }, 2,
    "StepLR: step_size must be a positive integer, got 0" },
  { "an optimizer method called with a dot",
    { "local opt = optim.SGD({ lunet.zeros(3):requires_grad(true) }, { lr = 0.1 })", "opt.step()" }, 2,
    "step: self must be an optimizer, got nil (call it with a colon: opt:step(...))" },
  { "a bad transform option",
    { "local tf = T.Normalize { std = { 0, 0, 0 } }" }, 1, "Normalize: std[1] must be > 0, got 0" },
  { "a bad sample given to a transform",
    { "local tf = T.Compose { T.HorizontalFlip {} }", "local out = tf { image = lunet.zeros(4, 4) }" }, 2,
    "Compose: image must be a 3-D (C, H, W) uint8 or float32 tensor, got float32 [4, 4]" },
  { "a crop larger than the image",
    { "local tf = T.RandomCrop { 8, 8 }", "local out = tf { image = lunet.zeros(3, 4, 4) }" }, 2,
    "RandomCrop: crop 8x8 is larger than the image 4x4" },
  { "a wrong target tensor into a loss module",
    { "local loss = nn.DiceLoss {}", "local l = loss(lunet.randn(2, 3, 4, 4), lunet.zeros(2, 4, 4))" }, 2,
    "dice_loss: target must hold int32 class ids, got float32 (target [2, 4, 4])" },
  { "a wrong target shape into a combined loss",
    { "local loss = nn.CrossEntropyLoss {} + 0.5 * nn.DiceLoss {}",
      "local l = loss(lunet.randn(2, 3, 4, 4), lunet.zeros({ 2, 4 }, { dtype = 'int32' }))" }, 2,
    "cross_entropy: target [2, 4] does not match logits [2, 3, 4, 4] (expected N x d1 x ... without the class dimension)" },
  { "a bad loss option",
    { "local loss = nn.FocalLoss { gamma = -1 }" }, 1, "FocalLoss: gamma must be a finite number >= 0, got -1" },
  { "a model built with a bad option",
    { "local m = models.unet { in_channels = 3, num_classes = 2, depth = 40 }" }, 1,
    "UNet: depth must be an integer in [2, 13], got 40" },
  { "a model too large to build",
    { "local m = models.hrnet { num_classes = 2, width = 4096 }" }, 1,
    "HRNet: width 4096 with stem_channels 64 and stage1_planes 64 gives 474,126,362,050 parameters "
      .. "(1896.5 GB of float32 weights), more than the limit of 1,000,000,000" },
  { "a model given the wrong channel count",
    { "local m = models.unet { in_channels = 3, num_classes = 2, base = 2, depth = 2 }",
      "local y = m(lunet.zeros(1, 1, 4, 4))" }, 2, "UNet: input has 1 channels, the model expects 3" },
  { "a model trained on an input too small for batch norm",
    { "local m = models.unet { in_channels = 1, num_classes = 2, base = 2, depth = 5, norm = 'batch' }",
      "local y = m(lunet.zeros(1, 1, 8, 8))" }, 2,
    "UNet: input 8x8 is too small to train with a batch of 1: batch norm at the bottleneck (1/16 of the "
      .. "input, here 1x1) needs more than one value per channel, so H or W must be at least 17 (or use a "
      .. "batch of 2 or more, or model:eval())" },
  { "a bad metric call",
    { "local cm = metrics.ConfusionMatrix(3)", "cm:update(lunet.zeros({ 1, 3 }, { dtype = 'int32' }), lunet.zeros({ 2, 2 }, { dtype = 'int32' }))" }, 2,
    "ConfusionMatrix:update: pred shape [1, 3] does not match target shape [2, 2]" },
  { "a bad metric option value",
    { "local d = metrics.hausdorff(lunet.zeros({ 2, 2 }, { dtype = 'int32' }), lunet.zeros({ 2, 2 }, { dtype = 'int32' }), { percentile = 101 })" }, 1,
    "hausdorff: percentile must be a number in [0, 100], got 101" },
  { "model:predict with a bad option",
    { "local m = nn.Sequential(nn.Conv2d(3, 2, 1))", "local y = m:predict(lunet.zeros(3, 8, 8), { tile = 0 })" }, 2,
    "predict: tile must be at least 1, got 0" },
  { "model.predict called with a dot",
    { "local m = nn.Sequential(nn.Conv2d(3, 2, 1))", "local y = m.predict(lunet.zeros(3, 8, 8))" }, 2,
    "predict: self must be a module, got tensor (call it with a colon: m:predict(...))" },
  { "model:predict on a model that fails inside",
    { "local m = nn.Sequential(nn.Conv2d(3, 2, 1))", "local y = m:predict(lunet.zeros(4, 8, 8))" }, 2,
    "conv2d: input has 4 channels, weight expects 3 (input [1, 4, 8, 8], weight [2, 3, 1, 1])" },
  { "a module without a forward",
    { "local M = nn.Module:extend('Net')", "local y = M()(lunet.zeros(1))" }, 2,
    "Net: no forward method defined (define function Net:forward(...))" },
  { "a module method called with a dot",
    { "local m = nn.Linear(3, 2)", "local ps = m.parameters()" }, 2,
    "parameters: self must be a module, got nil (call it with a colon: m:parameters(...))" },
  { "a Linear given the wrong features",
    { "local m = nn.Linear(3, 2)", "local y = m(lunet.zeros(2, 4))" }, 2,
    "Linear: input has 4 features, expected 3 (input [2, 4])" },
  { "a shape error in a Sequential forward (a C error)",
    { "local m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(4, 2, 1))",
      "local y = m(lunet.zeros(1, 3, 8, 8))" }, 2,
    "conv2d: input has 8 channels, weight expects 4 (input [1, 8, 6, 6], weight [2, 4, 1, 1])" },
  { "a dataset index out of range",
    { "local ds = data.TensorDataset { image = lunet.zeros(2, 1, 2, 2) }", "local s = ds:get(3)" }, 2,
    "TensorDataset:get: index 3 is outside 1..2" },
  { "a dataset maker with a bad option",
    { "local ds = data.tuxpaint { n = 100000, size = 256 }" }, 1,
    "data.tuxpaint: n = 100000 images of 256x256 would take 45.9 GB (at most 1073741824 pixels in all, 7.5 GB)" },
  { "a checkpoint that does not exist",
    { "local m = predict.load_model('/nonexistent/model.safetensors')" }, 1,
    "load_model: cannot open '/nonexistent/model.safetensors': No such file or directory" },
}

describe("errors point at the user's line", function()
  for _, c in ipairs(cases) do
    it(c[1], function()
      local err, path = run(c[2])
      assert.are.equal(path .. ":" .. (#PRELUDE + c[3]) .. ": " .. c[4], err)
      assert.is_nil(err:find("lunet/", 1, true), err)
      assert.is_nil(err:find("models/", 1, true), err)
    end)
  end

  it("inside the user's own module, at the line of the user's forward", function()
    local err, path = run {
      "local Net = nn.Module:extend('Net')",
      "function Net:__init() self.fc = nn.Linear(3, 2) end",
      "function Net:forward(x)",
      "  local y = self.fc(x)",
      "  return y",
      "end",
      "local out = Net()(lunet.zeros(1, 5))",
    }
    assert.are.equal(path .. ":" .. (#PRELUDE + 4) .. ": Linear: input has 5 features, expected 3 (input [1, 5])", err)
  end)
end)

-- lunet's files under a path long enough that Lua shortens it in messages ("...t/lua/lunet/
-- nn/functional/conv.lua:25:"): the position is still recognised as lunet's and replaced.
describe("errors under a long installation path", function()
  it("still point at the user's line", function()
    local root = os.getenv("PWD") or "."
    local base = os.tmpname()
    os.remove(base)
    local long = base .. "/" .. string.rep("d", 60)
    assert.is_true(os.execute("mkdir -p '" .. long .. "' && ln -s '" .. root .. "' '" .. long .. "/wt'"))
    local wt = long .. "/wt"
    local script = base .. "/user.lua"
    local f = assert(io.open(script, "w"))
    f:write('local lunet = require "lunet"\n',
            'local conv = lunet.nn.Conv2d(3, 8, 3)\n',
            'local ok, err = pcall(function()\n',
            '  local y = conv(lunet.zeros(1, 4, 8, 8))\n',
            'end)\n',
            'io.write(err)\n')
    f:close()
    local lua_path = ("%s/lua/?.lua;%s/lua/?/init.lua;%s/build/lua/?.lua;%s/build/lua/?/init.lua;;"):format(wt, wt, wt, wt)
    local cpath = wt .. "/build/?.so;;"
    local p = assert(io.popen(("LUA_PATH='%s' LUA_CPATH='%s' lua5.4 '%s' 2>&1"):format(lua_path, cpath, script)))
    local out = p:read("a")
    p:close()
    os.execute("rm -rf '" .. base .. "'")
    assert.are.equal(script .. ":4: conv2d: input has 4 channels, weight expects 3 (input [1, 4, 8, 8], "
      .. "weight [8, 3, 3, 3])", out)
  end)
end)
