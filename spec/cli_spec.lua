-- spec/cli_spec.lua: the `lunet` command (bin/lunet -> lunet.cli) run as a process on tiny
-- inputs: train from a config file (and its resume), predict (folder, single file, tiles, a
-- corrupt image), eval (numbers equal to an in-process ConfusionMatrix), info, --help for
-- each, exit codes 0 / 1 / 2, the progress bar on a terminal, and ./lunet in the source tree.
local lunet = require "lunet"
local image = require "lunet.image"
local predict = require "lunet.predict"
local metrics = require "lunet.metrics"

local root = os.getenv("PWD") or "."
if io.open(root .. "/bin/lunet") == nil then root = "." end
local bin = root .. "/bin/lunet"

local H = assert(loadfile(root .. "/spec/helpers.lua", "t", _ENV))()
local q, slurp, write = H.q, H.slurp, H.write

local tmp = H.tmpdir("lunet_cli")

-- Runs `lunet args...` in dir (default tmp); returns exit status, stdout, stderr.
local function run(args, dir, launcher)
  local cmd = "cd " .. q(dir or tmp) .. " && " .. (launcher or ("lua5.4 " .. q(bin))) .. " " .. args ..
              " >" .. q(tmp .. "/.out") .. " 2>" .. q(tmp .. "/.err")
  local _, _, code = os.execute(cmd)
  return code, slurp(tmp .. "/.out"), slurp(tmp .. "/.err")
end

-- Tiny data: 6 RGB 12 x 12 images, bright where the mask (0/1) is 1.
local g = lunet.Generator(1)
assert(os.execute("mkdir -p " .. q(tmp .. "/data/images") .. " " .. q(tmp .. "/data/masks")))
for i = 1, 6 do
  local m = (g:rand(12, 12) * 2):to("int32"):clamp(0, 1):to("uint8")
  local img = (m:to("float32") * 200 + 20):to("uint8"):unsqueeze(1):expand(3, 12, 12):contiguous()
  image.save(("%s/data/images/im%d.png"):format(tmp, i), img)
  image.save(("%s/data/masks/im%d.png"):format(tmp, i), m)
end
write(tmp .. "/cfg.lua", [[
return {
  model = { name = "unet", in_channels = 3, num_classes = 2, base = 4, depth = 2 },
  train = { images = "data/images", masks = "data/masks" },
  val_split = 0.34, epochs = 2, batch_size = 2, lr = 1e-2, out = "run",
  metrics = { "miou", "miou_fg", "iou_class" },
}
]])

describe("lunet command", function()
  it("prints its usage with --help (status 0) and without a command (status 2)", function()
    local code, out = run("--help")
    assert.are.equal(0, code)
    assert.truthy(out:find("usage: lunet COMMAND", 1, true))
    local code2, out2, err2 = run("")
    assert.are.equal(2, code2)
    assert.are.equal("", out2)
    assert.truthy(err2:find("usage: lunet COMMAND", 1, true))
  end)

  for _, cmd in ipairs({ "train", "predict", "eval", "info" }) do
    it("prints the usage of " .. cmd .. " with --help", function()
      local code, out = run(cmd .. " --help")
      assert.are.equal(0, code)
      assert.are.equal("usage: lunet " .. cmd, out:sub(1, #("usage: lunet " .. cmd)))
      local code2, out2 = run("help " .. cmd)
      assert.are.equal(0, code2)
      assert.are.equal(out, out2)
    end)
  end

  local usage = {
    { "an unknown command", "trian x", "lunet: unknown command 'trian'\n" },
    { "a misspelt flag", "predict m i o --tiel 8",
      "lunet predict: unknown option '--tiel' (did you mean '--tile'?)\n(see lunet predict --help)\n" },
    { "a missing argument", "eval model.safetensors images",
      "lunet eval: missing MASKS\n(see lunet eval --help)\n" },
    { "an extra argument", "train a.lua b.lua", "lunet train: unexpected argument 'b.lua'\n(see lunet train --help)\n" },
    { "a flag without its value", "predict m i o --tile",
      "lunet predict: --tile needs a value\n(see lunet predict --help)\n" },
    { "a non-integer value", "train cfg.lua --epochs two",
      "lunet train: --epochs must be an integer, got 'two'\n(see lunet train --help)\n" },
    { "--overlap without --tile", "predict run/none.safetensors data/images out --overlap 4",
      "lunet predict: --overlap needs --tile\n(see lunet predict --help)\n" },
  }
  for _, c in ipairs(usage) do
    it("exits with status 2 on " .. c[1], function()
      local code, _, err = run(c[2])
      assert.are.equal(2, code)
      assert.are.equal(c[3], err:sub(1, #c[3]))
    end)
  end

  it("exits with status 1 on a config it cannot use, naming the problem", function()
    write(tmp .. "/bad.lua", "return { modle = {} }")
    local code, _, err = run("train bad.lua")
    assert.are.equal(1, code)
    assert.are.equal("lunet train: config: unknown option 'modle' (did you mean 'mode'?)\n", err)
    code, _, err = run("train missing.lua")
    assert.are.equal(1, code)
    assert.are.equal("lunet train: cannot read the config file 'missing.lua'\n", err)
    write(tmp .. "/notable.lua", "return 3")
    code, _, err = run("train notable.lua")
    assert.are.equal(1, code)
    assert.are.equal("lunet train: config 'notable.lua' must return a table of options, got number\n", err)
  end)

  describe("train, predict, eval, info", function()
    local model_path = tmp .. "/run/model.safetensors"

    it("trains from a config file and writes the run directory", function()
      local code, out, err = run("train cfg.lua")
      assert.are.equal(0, code, err)
      assert.truthy(out:find("epoch 1/2", 1, true), out)
      assert.truthy(out:find("2 epochs, train_loss ", 1, true), out)
      for _, f in ipairs({ "checkpoint.safetensors", "checkpoint.best.safetensors", "log.csv", "model.safetensors" }) do
        assert.truthy(slurp(tmp .. "/run/" .. f), f)
      end
      local csv = slurp(tmp .. "/run/log.csv")
      assert.are.equal("epoch,train_loss,val_loss,miou,miou_fg,iou_class_0,iou_class_1,lr,seconds",
                       csv:match("^[^\n]*"))
      local _, rows = csv:gsub("\n", "")
      assert.are.equal(3, rows)
      local _, meta = lunet.load(model_path)
      assert.are.equal("unet", meta.model)
    end)

    it("resumes a rerun from the checkpoint, and --epochs trains on", function()
      local code, out = run("train cfg.lua --epochs 3 --quiet")
      assert.are.equal(0, code)
      assert.truthy(out:find("3 epochs", 1, true), out)
      assert.is_nil(out:find("epoch 1/", 1, true), out)
      local _, rows = slurp(tmp .. "/run/log.csv"):gsub("\n", "")
      assert.are.equal(4, rows)
    end)

    it("predicts a folder: one palette mask (and overlay) per image", function()
      local code, out, err = run("predict run/model.safetensors data/images pred --tile 8 --overlap 4")
      assert.are.equal(0, code, err)
      assert.truthy(out:find("6 images segmented into pred", 1, true), out)
      local model = predict.load_model(model_path)
      for i = 1, 6 do
        local ids = image.load(("%s/pred/im%d_mask.png"):format(tmp, i), { mode = "index" })
        assert.are.same({ 12, 12 }, ids:shape())
        local img = image.load(("%s/data/images/im%d.png"):format(tmp, i))
        local want = model:predict(img, { output = "labels", tile = 8, overlap = 4 })
        assert.are.equal(0, (ids:to("int32") - want):abs():sum():item())
        assert.truthy(slurp(("%s/pred/im%d_overlay.png"):format(tmp, i)))
      end
    end)

    it("predicts a single file, and --no-overlay writes only the mask", function()
      local code = run("predict run/model.safetensors data/images/im2.png one --no-overlay --quiet")
      assert.are.equal(0, code)
      assert.truthy(slurp(tmp .. "/one/im2_mask.png"))
      assert.is_nil(slurp(tmp .. "/one/im2_overlay.png"))
    end)

    it("reports a corrupt image, writes the others and exits with status 1", function()
      assert(os.execute("mkdir -p " .. q(tmp .. "/mixed") .. " && cp " .. q(tmp .. "/data/images/im1.png") .. " " .. q(tmp .. "/mixed/")))
      write(tmp .. "/mixed/broken.png", "not a png")
      local code, out, err = run("predict run/model.safetensors mixed mixed_out")
      assert.are.equal(1, code)
      assert.truthy(err:find("lunet predict: broken.png: ", 1, true), err)
      assert.truthy(out:find("1 image segmented into mixed_out (1 failed)", 1, true), out)
      assert.truthy(slurp(tmp .. "/mixed_out/im1_mask.png"))
    end)

    it("fails with status 1 on a missing model file", function()
      local code, _, err = run("predict run/none.safetensors data/images out")
      assert.are.equal(1, code)
      assert.are.equal("lunet predict: load_model: ", err:sub(1, 27))
    end)

    it("evaluates with the numbers of an in-process ConfusionMatrix", function()
      local code, out, err = run("eval run/model.safetensors data/images data/masks --csv eval.csv")
      assert.are.equal(0, code, err)
      local model = predict.load_model(model_path)
      local cm = metrics.ConfusionMatrix(2)
      for i = 1, 6 do
        local img = image.load(("%s/data/images/im%d.png"):format(tmp, i))
        local mask = image.load(("%s/data/masks/im%d.png"):format(tmp, i), { mode = "index" })
        cm:update(model:predict(img, { output = "labels" }), mask)
      end
      local function f6(v) return v ~= v and "nan" or string.format("%.6f", v) end
      local line = ("6 images: mIoU %s  mIoU (classes 1..1) %s  mDice %s  pixel accuracy %s"):format(
        f6(cm:miou()), f6(cm:miou_fg()), f6(cm:mdice()), f6(cm:pixel_accuracy()))
      assert.truthy(out:find(line, 1, true), out)
      assert.truthy(out:find("ConfusionMatrix(2 classes, 864 pixels)", 1, true), out)
      local csv = slurp(tmp .. "/eval.csv")
      assert.are.equal("class,iou,dice,precision,recall\n0," .. f6(cm:iou_of(0)) .. "," .. f6(cm:dice_of(0)) ..
                       "," .. f6(cm:precision_of(0)) .. "," .. f6(cm:recall_of(0)) .. "\n1," .. f6(cm:iou_of(1)) ..
                       "," .. f6(cm:dice_of(1)) .. "," .. f6(cm:precision_of(1)) .. "," .. f6(cm:recall_of(1)) .. "\n", csv)
    end)

    it("eval names a mask label outside the classes and suggests --ignore-index", function()
      assert(os.execute("mkdir -p " .. q(tmp .. "/void/images") .. " " .. q(tmp .. "/void/masks")))
      image.save(tmp .. "/void/images/a.png", lunet.zeros({ 3, 4, 4 }, { dtype = "uint8" }))
      image.save(tmp .. "/void/masks/a.png", lunet.full({ 4, 4 }, 255, { dtype = "uint8" }))
      local code, _, err = run("eval run/model.safetensors void/images void/masks")
      assert.are.equal(1, code)
      assert.truthy(err:find("void/masks/a.png: ", 1, true), err)
      assert.truthy(err:find("(set --ignore-index to leave a void label out)", 1, true), err)
      code = run("eval run/model.safetensors void/images void/masks --ignore-index 255 --quiet")
      assert.are.equal(0, code)
    end)

    it("describes lunet's setup, a model file and a config", function()
      local code, out = run("info")
      assert.are.equal(0, code)
      assert.truthy(out:find("lunet.core: ", 1, true), out)
      assert.truthy(out:find("^lunet 0%.%d+%.%d+ on Lua 5%.4"), out)
      code, out = run("info run/model.safetensors")
      assert.are.equal(0, code)
      local n = predict.load_model(model_path):num_parameters()
      assert.truthy(out:find("model: unet, " .. tostring(n):reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "") ..
                             " parameters", 1, true), out)
      assert.truthy(out:find("(head): Conv2d(4, 2, kernel_size=1)", 1, true), out)
      code, out = run("info cfg.lua")
      assert.are.equal(0, code)
      assert.truthy(out:find("train: 4 items", 1, true), out)
      assert.truthy(out:find("val: 2 items", 1, true), out)
      code = run("info nothing.safetensors")
      assert.are.equal(1, code)
    end)

    it("draws a progress bar on a terminal", function()
      local code = os.execute("command -v script >/dev/null 2>&1")
      if not code then
        pending("util-linux script is missing: no terminal to test the bar on")
        return
      end
      -- script itself runs without the sanitizer preloads of make asan (it leaks by design);
      -- the lunet process under it gets them back
      local pre = os.getenv("LD_PRELOAD")
      local child = (pre and ("env LD_PRELOAD=" .. q(pre) .. " ") or "") .. "lua5.4 " .. q(bin) ..
                    " predict run/model.safetensors data/images tty_out"
      local _, _, rc = os.execute("cd " .. q(tmp) .. " && env -u LD_PRELOAD TERM=xterm script -qec " .. q(child) ..
        " /dev/null > " .. q(tmp .. "/.tty") .. " 2>&1")
      local s = slurp(tmp .. "/.tty")
      assert.are.equal(0, rc, s)
      assert.truthy(s:find("\r[", 1, true), s)
      assert.truthy(s:find("6/6 img", 1, true), s)
      assert.truthy(s:find("6 images segmented into tty_out", 1, true), s)
      assert.is_nil(s:find("classes 0:", 1, true), s)   -- no per-image lines under the bar
    end)
  end)

  it("./lunet runs from the source tree without LUA_PATH", function()
    if not io.open(root .. "/build/lunet/core.so") then
      pending("build/lunet/core.so is missing (run make): ./lunet needs the in-tree build")
      return
    end
    local code, out, err = run("--version", tmp, "env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 " ..
                               q(root .. "/lunet"))
    assert.are.equal(0, code, err)
    assert.truthy(out:match("^lunet %d+%.%d+%.%d+\n$"), out)
    code, out = run("info", tmp, "env -u LUA_PATH -u LUA_CPATH " .. q(root .. "/lunet"))
    assert.are.equal(0, code)
    assert.truthy(out:find("lunet:      " .. root .. "/lua/lunet/init.lua", 1, true), out)
  end)
end)

describe("cli.parse_args (the examples' command lines)", function()
  local cli = require "lunet.cli"
  local spec = { flags = { epochs = "int", lr = "num", quick = "bool", out = "str", ["tux-size"] = "int" },
                 positional = { "IN" }, optional_positional = 1 }
  local here = "spec/cli_spec.lua:%d+: "

  it("parses --k v, --k=v, bool flags, dashes to underscores and positional arguments", function()
    local o, args = cli.parse_args("demo", { "--epochs", "3", "--lr=0.5", "in.png", "--quick", "--tux-size", "48",
                                             "--out", "--x", "--", "--y" }, spec)
    assert.are.same({ epochs = 3, lr = 0.5, quick = true, tux_size = 48, out = "--x" }, o)
    assert.are.same({ "in.png", "--y" }, args)
    assert.are.equal("integer", math.type(o.epochs))
    o, args = cli.parse_args("demo", { "-h" }, spec)
    assert.is_true(o.help)
    assert.are.same({}, args)
  end)

  it("names the program, the flag and the value of a bad command line, at the caller's line", function()
    local cases = {
      { { "--epoch", "3", "a" }, "demo: unknown option '--epoch' (did you mean '--epochs'?)" },
      { { "--epochs", "2.5", "a" }, "demo: --epochs must be an integer, got '2.5'" },
      { { "--lr", "fast", "a" }, "demo: --lr must be a number, got 'fast'" },
      { { "--lr", "nan", "a" }, "demo: --lr must be a number, got 'nan'" },
      { { "a", "--epochs" }, "demo: --epochs needs a value" },
      { { "--quick=yes", "a" }, "demo: --quick takes no value" },
      { { "-x", "a" }, "demo: unknown option '-x'" },
      { {}, "demo: missing IN" },
      { { "a", "b", "c" }, "demo: unexpected argument 'c'" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(cli.parse_args, "demo", c[1], spec)
      assert.is_false(ok)
      assert.truthy(err:find(here .. c[2]:gsub("%p", "%%%0") .. "$"), err)
    end
  end)

  it("rejects a bad spec or argv naming cli.parse_args", function()
    local cases = {
      { { 1, {}, {} }, "prog must be a string, got number" },
      { { "p", "x", {} }, "argv must be a table of strings, got string" },
      { { "p", { "a", 2 }, {} }, "argv%[2%] must be a string, got number" },
      { { "p", {}, { flag = {} } }, "unknown option 'flag' %(did you mean 'flags'%?%)" },
      { { "p", {}, { flags = { n = "float" } } }, "spec.flags%['n'%] must be 'int', 'num', 'str' or 'bool', got 'float'" },
      { { "p", {}, { flags = { ["--n"] = "int" } } }, "spec.flags: flag names are words without the leading '%-%-', got '%-%-n'" },
      { { "p", {}, { positional = { 3 } } }, "spec.positional%[1%] must be a string, got 3" },
      { { "p", {}, { optional_positional = -1 } }, "spec.optional_positional must be an integer >= 0, got %-1" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(cli.parse_args, table.unpack(c[1], 1, 3))
      assert.is_false(ok)
      assert.truthy(err:find(here .. "cli.parse_args: " .. c[2]), err)
    end
  end)
end)
