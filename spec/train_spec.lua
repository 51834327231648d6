-- lunet.train: fit (history, CSV log, checkpoints, bit-identical resume, NaN stop, misuse),
-- evaluate, progress display.
local lunet = require "lunet"
local nn = require "lunet.nn"
local optim = require "lunet.optim"
local data = require "lunet.data"
local T = require "lunet.transforms"
local train = require "lunet.train"
local UNet = require "lunet.models.unet"

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function sink()
  local s = { parts = {} }
  function s:write(...)
    for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring((select(i, ...))) end
    return self
  end
  function s:text() return table.concat(self.parts) end
  return s
end

-- Everything a fresh process would build: seeded data, transform, loaders, model, optimizer,
-- scheduler (the model's dropout draws from the default generator).
local function setup()
  lunet.manual_seed(7)
  local g = lunet.Generator(1)
  local n, C = 24, 3
  local img = g:rand(n, 1, 8, 8)
  local mask = (img:select(2, 1) * C):to("int32"):clamp(0, C - 1)
  local ds = data.TensorDataset{ image = img, mask = mask,
                                 transform = T.Compose{ T.HorizontalFlip{}, T.VerticalFlip{}, seed = 5 } }
  local vds = data.TensorDataset{ image = img:narrow(1, 1, 8), mask = mask:narrow(1, 1, 8) }
  local model = UNet{ in_channels = 1, num_classes = C, base = 4, depth = 2, norm = "batch", dropout = 0.2 }
  local opt = optim.Adam(model:parameters(), { lr = 1e-2 })
  return {
    model = model, optimizer = opt, loss = nn.CrossEntropyLoss{},
    scheduler = optim.StepLR(opt, { step_size = 1, gamma = 0.7 }),
    train_loader = data.DataLoader(ds, { batch_size = 6, shuffle = true, seed = 3 }),
    val_loader = data.DataLoader(vds, { batch_size = 4 }),
  }
end

local function fit_with(s, extra)
  local o = { model = s.model, loss = s.loss, optimizer = s.optimizer, scheduler = s.scheduler,
              train_loader = s.train_loader, val_loader = s.val_loader, progress = false }
  for k, v in pairs(extra) do o[k] = v end
  return train.fit(o)
end

local function max_diff(a, b)
  local worst = 0
  local n = 0
  for k, t in pairs(a) do
    n = n + 1
    local u = b[k]
    assert(u, "missing " .. k)
    local d = (t:to("float32") - u:to("float32")):abs():max():item()
    if d > worst then worst = d end
  end
  return worst, n
end

describe("train.fit", function()
  it("returns the history with losses, metrics, lr and the best epoch", function()
    local s = setup()
    local h = fit_with(s, { epochs = 3 })
    assert.are.equal(3, #h)
    for e = 1, 3 do
      local x = h[e]
      assert.are.equal(e, x.epoch)
      for _, k in ipairs({ "train_loss", "val_loss", "miou", "pixel_accuracy", "dice", "lr", "seconds" }) do
        assert.is_number(x[k], k)
      end
      assert.is_true(x.miou >= 0 and x.miou <= 1)
    end
    assert.is_true(h[3].train_loss < h[1].train_loss)
    assert.are.equal("miou", h.monitor)
    local best = 1
    for e = 2, 3 do if h[e].miou > h[best].miou then best = e end end
    assert.are.equal(best, h.best_epoch)
    assert.are.equal(h[best].miou, h.best)
    assert.is_truthy(h.confusion)
    -- StepLR(gamma 0.7) stepped once per epoch: the lr recorded is the one used in the epoch
    assert.is_true(math.abs(h[2].lr - 0.007) < 1e-9)
  end)

  it("4 epochs straight equal 2 + 2 with a resume from fresh objects, bit for bit", function()
    local a = setup()
    local ha = fit_with(a, { epochs = 4 })
    local path, log = tmpname() .. ".safetensors", tmpname() .. ".csv"
    local b = setup()
    fit_with(b, { epochs = 2, checkpoint = path, log = log })
    local c = setup()          -- as a new process would build them
    local out = sink()
    local hc = fit_with(c, { epochs = 4, checkpoint = path, log = log, progress = "lines", output = out })
    assert.is_truthy(out:text():find("resumed from " .. path .. " at epoch 2", 1, true))
    local d, n = max_diff(a.model:state_dict(), c.model:state_dict())
    assert.is_true(n > 10)
    assert.are.equal(0, d)
    local d2 = max_diff(a.optimizer:state_dict(), c.optimizer:state_dict())
    assert.are.equal(0, d2)
    assert.are.equal(4, #hc)
    for e = 1, 4 do
      assert.are.equal(ha[e].train_loss, hc[e].train_loss)
      assert.are.equal(ha[e].miou, hc[e].miou)
    end
    -- the CSV holds the whole history, header first
    local lines = {}
    for line in io.lines(log) do lines[#lines + 1] = line end
    assert.are.equal(5, #lines)
    assert.are.equal("epoch,train_loss,val_loss,miou,pixel_accuracy,dice,lr,seconds", lines[1])
    assert.is_truthy(lines[5]:match("^4,"))
    -- best checkpoint beside the last one; both load into a bare model
    local bestp = train.best_checkpoint_path(path)
    assert.are.equal(path:gsub("%.safetensors$", ".best.safetensors"), bestp)
    local ck = train.load_checkpoint(path)
    assert.are.equal(4, ck.epoch)
    assert.are.equal("miou", ck.meta.monitor)
    local m = UNet{ in_channels = 1, num_classes = 3, base = 4, depth = 2, norm = "batch", dropout = 0.2 }
    train.load_model(m, path)
    assert.are.equal(0, (max_diff(m:state_dict(), c.model:state_dict())))
    train.load_model(m, bestp)
    -- a finished run resumes to nothing and returns its history
    local h2 = fit_with(setup(), { epochs = 4, checkpoint = path })
    assert.are.equal(4, #h2)
    os.remove(path); os.remove(bestp); os.remove(log)
  end)

  it("resume = false starts over and overwrites the checkpoint", function()
    local path = tmpname() .. ".safetensors"
    fit_with(setup(), { epochs = 2, checkpoint = path, metrics = {} })
    local h = fit_with(setup(), { epochs = 1, checkpoint = path, resume = false, metrics = {} })
    assert.are.equal(1, #h)
    assert.are.equal(1, train.load_checkpoint(path).epoch)
    os.remove(path); os.remove(train.best_checkpoint_path(path))
  end)

  it("stops on a NaN loss naming the epoch and the step", function()
    local s = setup()
    local calls = 0
    local function bad(logits, target)
      calls = calls + 1
      local l = s.loss(logits, target)
      if calls == 3 then return l * (0 / 0) end
      return l
    end
    local ok, err = pcall(fit_with, s, { epochs = 2, loss = bad })
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("fit: loss is nan at epoch 1, step 3 (of 4)", 1, true), err)
    calls = 0
    local ok2, err2 = pcall(fit_with, setup(), { epochs = 2, loss = function(l, t)
      calls = calls + 1
      local v = s.loss(l, t)
      if calls == 8 then return v + math.huge end   -- calls 5, 6 are validation batches
      return v
    end })
    assert.is_false(ok2)
    assert.is_truthy(tostring(err2):find("fit: loss is inf at epoch 2, step 2 (of 4)", 1, true), err2)
  end)

  it("prints one line per epoch when not on a terminal, a bar with \\r when asked", function()
    local out = sink()
    fit_with(setup(), { epochs = 2, progress = "lines", output = out })
    local text = out:text()
    assert.is_nil(text:find("\r", 1, true))
    local n = 0
    for line in text:gmatch("[^\n]+") do
      n = n + 1
      assert.is_truthy(line:match("^epoch %d/2  train_loss [%d.]+  val_loss [%d.]+  miou [%d.]+"), line)
    end
    assert.are.equal(2, n)
    local bar = sink()
    fit_with(setup(), { epochs = 1, progress = "bar", output = bar })
    local bt = bar:text()
    assert.is_truthy(bt:find("\r", 1, true))
    assert.is_truthy(bt:find("img/s ETA", 1, true))
    assert.is_truthy(bt:find("loss", 1, true))
    -- to another output object than io.stdout the automatic choice is lines
    local auto = sink()
    fit_with(setup(), { epochs = 1, output = auto })
    assert.is_nil(auto:text():find("\r", 1, true))
    local quiet = sink()
    fit_with(setup(), { epochs = 1, progress = false, output = quiet })
    assert.are.equal("", quiet:text())
  end)

  it("takes metric functions, monitors a loss, steps ReduceLROnPlateau with it", function()
    local s = setup()
    s.scheduler = optim.ReduceLROnPlateau(s.optimizer, { mode = "min", patience = 0, factor = 0.5 })
    local h = fit_with(s, { epochs = 2, monitor = "val_loss",
                            metrics = { "miou", bg_iou = function(cm) return cm:iou()[1] end } })
    assert.is_number(h[1].bg_iou)
    assert.are.equal("val_loss", h.monitor)
    local best = h[1].val_loss <= h[2].val_loss and 1 or 2
    if h[2].val_loss < h[1].val_loss then best = 2 else best = 1 end
    assert.are.equal(best, h.best_epoch)
  end)

  local s = setup()
  local base = { model = s.model, loss = s.loss, optimizer = s.optimizer, train_loader = s.train_loader, epochs = 1 }
  local function without(k, v)
    local o = {}
    for kk, vv in pairs(base) do o[kk] = vv end
    o[k] = v
    return o
  end
  local cases = {
    { "no table", nil, "fit: expects one table of options, got nil" },
    { "missing model", without("model", nil), "fit: missing option 'model'" },
    { "missing loss", without("loss", nil), "fit: missing option 'loss'" },
    { "missing optimizer", without("optimizer", nil), "fit: missing option 'optimizer'" },
    { "missing loader", without("train_loader", nil), "fit: missing option 'train_loader'" },
    { "missing epochs", without("epochs", nil), "fit: missing option 'epochs'" },
    { "epochs -1", without("epochs", -1), "fit: epochs must be an integer >= 0, got -1" },
    { "epochs 1.5", without("epochs", 1.5), "fit: epochs must be an integer >= 0, got 1.5" },
    { "epochs nan", without("epochs", 0 / 0), "fit: epochs must be an integer >= 0, got nan" },
    { "epochs string", without("epochs", "3"), "fit: epochs must be an integer >= 0, got '3'" },
    { "bad loader", without("train_loader", {}), "fit: train_loader must have an iter() method (a DataLoader), got table" },
    { "bad val loader", without("val_loader", 5), "fit: val_loader must have an iter() method (a DataLoader), got number" },
    { "bad optimizer", without("optimizer", 3), "fit: optimizer must have step() and zero_grad() (an lunet.optim optimizer), got number" },
    { "bad loss", without("loss", "ce"), "fit: loss must be callable (a loss module or a function), got string" },
    { "typo", without("epoch", 3), "fit: unknown option 'epoch' (did you mean 'epochs'?)" },
    { "typo ignore", without("ignore_idx", 255), "fit: unknown option 'ignore_idx' (did you mean 'ignore_index'?)" },
    { "options not a plain table", lunet.zeros(1), "fit: expects one table of options, got tensor" },
    { "metrics without val", without("metrics", { "miou" }), "fit: metrics need a val_loader" },
    { "unknown metric", without("metrics", { "mIoU" }),
      "fit: metrics[1]: unknown metric 'mIoU' (known: dice, mdice, mean_pixel_accuracy, miou, pixel_accuracy, or name = function(cm))" },
    { "bad monitor", without("monitor", "miou"),
      "fit: monitor 'miou' is neither a chosen metric nor train_loss (there is no val_loader)" },
    { "bad mode", without("mode", "maximum"), "fit: mode must be 'min' or 'max', got 'maximum'" },
    { "bad progress", without("progress", "fancy"), "fit: progress must be true, false, 'bar' or 'lines', got 'fancy'" },
    { "bad interval", without("scheduler_interval", "iter"), "fit: scheduler_interval must be 'epoch' or 'step', got 'iter'" },
    { "bad gc", without("gc", 0), "fit: gc must be a positive integer (steps between full collections) or false, got 0" },
    { "bad checkpoint", without("checkpoint", ""), "fit: checkpoint must be a file path, got ''" },
    { "bad resume", without("resume", "yes"), "fit: resume must be true or false, got 'yes'" },
    { "bad log", without("log", 3), "fit: log must be a file path, got 3" },
    { "grad_clip 0", without("grad_clip", 0), "fit: grad_clip must be a positive number, got 0" },
    { "grad_clip nan", without("grad_clip", 0 / 0), "fit: grad_clip must be a positive number, got nan" },
    { "num_classes 0", without("num_classes", 0), "fit: num_classes must be an integer >= 1, got 0" },
    { "ignore_index 2.5", without("ignore_index", 2.5), "fit: ignore_index must be an integer, got 2.5" },
    { "on_epoch_end", without("on_epoch_end", 1), "fit: on_epoch_end must be a function, got number" },
    { "output", without("output", 1), "fit: output must have a write method (a file), got number" },
    { "generators", without("generators", { a = 1 }), "fit: generators.a is not a Generator, got number" },
  }
  for _, c in ipairs(cases) do
    it("raises on misuse at the caller's line: " .. c[1], function()
      local ok, err = pcall(train.fit, c[2])
      assert.is_false(ok)
      local where, msg = tostring(err):match("^(spec/train_spec%.lua:%d+): (.*)$")
      assert.is_truthy(where, err)
      assert.are.equal(c[3], msg)
    end)
  end

  it("epochs = 0 trains nothing and returns the (resumed) history", function()
    local h = fit_with(setup(), { epochs = 0 })
    assert.are.equal(0, #h)
    local path = tmpname() .. ".safetensors"
    fit_with(setup(), { epochs = 1, checkpoint = path, metrics = {} })
    local h2 = fit_with(setup(), { epochs = 0, checkpoint = path, metrics = {} })
    assert.are.equal(1, #h2)
    os.remove(path); os.remove(train.best_checkpoint_path(path))
  end)

  it("refuses a file that is not a training checkpoint", function()
    local path = tmpname() .. ".safetensors"
    lunet.save(path, { x = lunet.zeros(2) })
    local ok, err = pcall(fit_with, setup(), { epochs = 1, checkpoint = path })
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("is not a lunet training checkpoint", 1, true))
    os.remove(path)
  end)
end)

-- VOC-like data: class ids 0..2 with a 255 "void" border around every mask.
local function voc_setup()
  local s = setup()
  lunet.manual_seed(7)
  local g = lunet.Generator(2)
  local img = g:rand(12, 1, 8, 8)
  local mask = (img:select(2, 1) * 3):to("int32"):clamp(0, 2)
  mask:narrow(2, 1, 1):fill_(255)
  mask:narrow(3, 8, 1):fill_(255)
  s.train_loader = data.DataLoader(data.TensorDataset{ image = img, mask = mask }, { batch_size = 6, shuffle = true, seed = 3 })
  s.val_mask = mask:narrow(1, 1, 4):clone()
  s.val_loader = data.DataLoader(data.TensorDataset{ image = img:narrow(1, 1, 4), mask = s.val_mask }, { batch_size = 4 })
  s.void = 4 * (8 + 7)       -- void pixels in the validation masks
  return s
end

-- pcall(fit_with, ...) -> the message without its "file:line: " (which must be this file's)
local function fit_error(s, extra)
  local ok, err = pcall(fit_with, s, extra)
  assert.is_false(ok, "expected an error")
  local where, msg = tostring(err):match("^(spec/train_spec%.lua:%d+): (.*)$")
  assert.is_truthy(where, err)
  return msg
end

describe("train.fit on masks with an ignored label (255)", function()
  it("takes ignore_index from a combined loss whose parts agree, for the validation metrics", function()
    local s = voc_setup()
    s.loss = nn.CrossEntropyLoss{ ignore_index = 255 } + 0.5 * nn.DiceLoss{ mode = "multiclass", ignore_index = 255 }
    local h = fit_with(s, { epochs = 2 })
    assert.are.equal(2, #h)
    assert.is_true(h[2].miou >= 0 and h[2].miou <= 1)
    assert.are.equal(255, h.confusion.ignore_index)
    assert.are.equal(4 * 64 - s.void, h.confusion:total())
  end)

  it("parts without ignore_index do not count; a single loss gives its own", function()
    local CE, Dice = nn.CrossEntropyLoss, nn.DiceLoss
    assert.are.equal(255, train.loss_ignore_index(CE{ ignore_index = 255 } + Dice{ mode = "multiclass" }))
    assert.are.equal(255, train.loss_ignore_index(0.3 * Dice{ mode = "multiclass" } + 2 * CE{ ignore_index = 255 }))
    assert.are.equal(255, train.loss_ignore_index(CE{ ignore_index = 255 } + (Dice{} + CE{ ignore_index = 255 })))
    assert.are.equal(-1, train.loss_ignore_index(CE{ ignore_index = -1 }))
    assert.is_nil(train.loss_ignore_index(CE{} + Dice{}))
    assert.is_nil(train.loss_ignore_index(function() end))
  end)

  it("raises naming fit's ignore_index option when the parts disagree; the option settles it", function()
    local s = voc_setup()
    s.loss = nn.CrossEntropyLoss{ ignore_index = 255 } + 0.5 * nn.DiceLoss{ mode = "multiclass", ignore_index = 0 }
    assert.are.equal("fit: the parts of the loss ignore different labels (CrossEntropyLoss{ignore_index=255} " ..
      "ignores 255, DiceLoss{ignore_index=0} ignores 0); set fit's ignore_index option to the label the " ..
      "validation metrics leave out", fit_error(s, { epochs = 1 }))
    s.loss = nn.CrossEntropyLoss{ ignore_index = 255 } + 0.5 * nn.DiceLoss{ mode = "multiclass", ignore_index = 255 }
    local h = fit_with(s, { epochs = 1, ignore_index = 255 })
    assert.are.equal(255, h.confusion.ignore_index)
  end)

  it("raises naming fit's ignore_index option when a validation label is neither a class nor ignored", function()
    local s = voc_setup()
    local ce = nn.CrossEntropyLoss{ ignore_index = 255 }
    local function loss(x, y) return ce(x, y) end      -- a function: fit cannot see its ignore_index
    assert.are.equal("fit: validation batch 1: the target holds label 255, outside the class ids 0..2 " ..
      "(num_classes = 3), and nothing ignores it; set fit's ignore_index option (ignore_index = 255) to leave " ..
      "those pixels out of the metrics, or num_classes to count them", fit_error(s, { epochs = 1, loss = loss }))
    local h = fit_with(voc_setup(), { epochs = 1, loss = loss, ignore_index = 255 })
    assert.are.equal(4 * 64 - voc_setup().void, h.confusion:total())
    -- the loss's ignore value does not cover another void label (254)
    local v = voc_setup()
    v.loss = ce
    v.val_mask:narrow(2, 1, 1):fill_(254)
    assert.are.equal("fit: validation batch 1: the target holds label 254, outside the class ids 0..2 " ..
      "(num_classes = 3), and the ignore_index 255 (from the loss) does not cover it; set fit's ignore_index " ..
      "option to the label to leave out, or num_classes to count it", fit_error(v, { epochs = 1 }))
    -- a negative label
    local n = voc_setup()
    n.val_mask:narrow(2, 1, 1):fill_(-1)
    n.loss = loss
    assert.are.equal("fit: validation batch 1: the target holds label -1, outside the class ids 0..2 " ..
      "(num_classes = 3), and the ignore_index 255 does not cover it; set fit's ignore_index option to the " ..
      "label to leave out, or num_classes to count it", fit_error(n, { epochs = 1, ignore_index = 255 }))
  end)

  it("evaluate names its own ignore_index option", function()
    local s = voc_setup()
    local ok, err = pcall(train.evaluate, s.model, s.val_loader)
    assert.is_false(ok)
    assert.are.equal("evaluate: validation batch 1: the target holds label 255, outside the class ids 0..2 " ..
      "(num_classes = 3), and nothing ignores it; set evaluate's ignore_index option (ignore_index = 255) to " ..
      "leave those pixels out of the metrics, or num_classes to count them",
      tostring(err):gsub("^spec/train_spec%.lua:%d+: ", ""))
    local cm = train.evaluate(s.model, s.val_loader, { ignore_index = 255 })
    assert.are.equal(4 * 64 - s.void, cm:total())
    local ok2, err2 = pcall(train.evaluate, s.model, s.val_loader, { ignore = 255 })
    assert.is_false(ok2)
    assert.is_truthy(tostring(err2):find("evaluate: unknown option 'ignore' (did you mean 'ignore_index'?)", 1, true), err2)
  end)
end)

describe("checkpoint writes", function()
  local ckpt = train.checkpoint
  local function touch(p) assert(io.open(p, "w")):close() end
  local function listing(dir)
    local names = assert(lunet.core.image.listdir(dir))
    table.sort(names)
    return names
  end
  -- start time (field 22) of a running process, as /proc shows it
  local function start_of(pid)
    local s = assert(io.open("/proc/" .. pid .. "/stat")):read("a")
    local rest = s:match("^%d+ %(.*%) (.*)$")
    local f = {}
    for w in rest:gmatch("%S+") do f[#f + 1] = w end
    return f[20]
  end

  it("the next save removes its stale temporary files, and only those", function()
    if not io.open("/proc/self/stat") then pending("no /proc: temporary files carry no writer") return end
    local dir = tmpname() .. "_ckpt"
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local me = ckpt.writer_tag()
    assert.is_truthy(me:match("^%d+%.%d+$"), me)
    local init = "1." .. start_of(1)                   -- a running writer (pid 1 outlives us)
    local dead = "4294967295.12345"                    -- above any pid_max: never runs
    local stale = {
      "ck.safetensors.tmp." .. dead,                   -- killed between its two renames
      "ck.safetensors.tmp." .. dead .. ".tmpAb12Cd",   -- killed while lunet.save wrote
      "ck.safetensors.tmp.1.1",                        -- pid 1, but started at another time
      "ck.safetensors.tmp." .. me,                     -- an earlier write of this process
      "ck.safetensors.tmp." .. me .. ".tmpZZ9zz9",
    }
    local kept = {
      "ck.safetensors.tmp." .. init,                   -- a write in progress elsewhere
      "ck.safetensors.tmp." .. init .. ".tmpQq1Qq1",
      "ck.safetensors.tmpXyZ123",                      -- lunet.save's own: whose, unknown
      "ck.safetensors.tmp." .. dead .. ".old",         -- not the naming scheme
      "ck.best.safetensors.tmp." .. dead,              -- another target
      "xck.safetensors.tmp." .. dead,
      "notes.txt",
    }
    for _, n in ipairs(stale) do touch(dir .. "/" .. n) end
    for _, n in ipairs(kept) do touch(dir .. "/" .. n) end
    local m = nn.Conv2d(1, 2, 3)
    ckpt.save(dir .. "/ck.safetensors", { model = m, meta = { epoch = 1 } })
    local want = { "ck.safetensors" }
    for _, n in ipairs(kept) do want[#want + 1] = n end
    table.sort(want)
    assert.are.same(want, listing(dir))
    assert.are.equal(1, ckpt.load(dir .. "/ck.safetensors").epoch)
    -- remove_stale_temps alone reports what it removed
    touch(dir .. "/ck.best.safetensors.tmp." .. me)
    local removed = { "ck.best.safetensors.tmp." .. dead, "ck.best.safetensors.tmp." .. me }
    table.sort(removed)
    assert.are.same(removed, ckpt.remove_stale_temps(dir .. "/ck.best.safetensors"))
    -- a relative path cleans the current directory's files of that name only
    assert.are.same({}, ckpt.remove_stale_temps("no_such_lunet_checkpoint.safetensors"))
    assert(os.execute("rm -rf '" .. dir .. "'"))
  end)

  it("fit leaves no temporary file behind, and checks the option tables of save and restore", function()
    local dir = tmpname() .. "_fit"
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    fit_with(setup(), { epochs = 2, checkpoint = dir .. "/run.safetensors", log = dir .. "/log.csv" })
    assert.are.same({ "log.csv", "run.best.safetensors", "run.safetensors" }, listing(dir))
    local ok, err = pcall(ckpt.save, dir .. "/x.safetensors", { modle = nn.Conv2d(1, 1, 1) })
    assert.is_false(ok)
    assert.are.equal("checkpoint.save: unknown option 'modle' (did you mean 'model'?)",
                     tostring(err):gsub("^spec/train_spec%.lua:%d+: ", ""))
    ok, err = pcall(ckpt.save, "", {})
    assert.is_false(ok)
    assert.are.equal("checkpoint.save: path must be a non-empty string, got ''", tostring(err):gsub("^spec/train_spec%.lua:%d+: ", ""))
    ok, err = pcall(ckpt.restore, ckpt.load(dir .. "/run.safetensors"), { optimiser = 1 })
    assert.is_false(ok)
    assert.are.equal("checkpoint.restore: unknown option 'optimiser' (did you mean 'optimizer'?)",
                     tostring(err):gsub("^spec/train_spec%.lua:%d+: ", ""))
    assert(os.execute("rm -rf '" .. dir .. "'"))
  end)
end)

describe("train.progress", function()
  local progress = require "lunet.train.progress"
  local function msg(f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok)
    return (tostring(err):gsub("^spec/train_spec%.lua:%d+: ", ""))
  end
  it("checks its options", function()
    assert.are.equal("progress.new: unknown option 'widht' (did you mean 'width'?)", msg(progress.new, { widht = 3 }))
    assert.are.equal("progress.new: mode must be 'bar', 'lines' or 'none', got 'fancy'", msg(progress.new, { mode = "fancy" }))
    assert.are.equal("progress.new: width must be an integer in [1, 1000], got 0", msg(progress.new, { width = 0 }))
    assert.are.equal("progress.new: out must have a write method (a file), got number", msg(progress.new, { out = 1 }))
  end)
  it("draws a bar of the given width and formats times", function()
    local out = sink()
    local p = progress.new{ mode = "bar", out = out, width = 10.0 }
    p:start(1, 2, 4)
    p:update(2, 8, 0.5, true)
    assert.is_truthy(out:text():find("[=====>    ] 2/4", 1, true), out:text())
    assert.are.equal("01:01", progress.hms(61))
    assert.are.equal("1:00:00", progress.hms(3600))
    assert.are.equal("--:--", progress.hms(0 / 0))
  end)
end)

describe("train.evaluate", function()
  it("accumulates a confusion matrix and the mean loss over a loader", function()
    local s = setup()
    local cm, l = train.evaluate(s.model, s.val_loader, { loss = s.loss })
    assert.are.equal(3, cm.num_classes)
    assert.are.equal(8 * 64, cm:total())
    assert.is_number(l)
  end)
end)
