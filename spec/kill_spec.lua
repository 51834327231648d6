-- spec/kill_spec.lua: kill -9 a training run at random moments. A child process runs
-- train.fit with a checkpoint (and a CSV log) written after every epoch; `timeout -s KILL`
-- ends it with SIGKILL after a delay drawn from a fixed seed. Each time, the checkpoint on
-- disk (if one was written yet) loads, a resume in a new process continues from it and
-- completes, its weights equal those of a run never interrupted (bit for bit), and no
-- temporary file is left beside the checkpoint.
local lunet = require "lunet"
local train = require "lunet.train"

local TRIALS = 12
local EPOCHS = 30

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true end

-- The child: a small U-Net on data made here, one thread, checkpoint + log every epoch.
local CHILD = [[
local dir, epochs = arg[1], tonumber(arg[2])
local lunet = require "lunet"
local nn, data, optim = lunet.nn, lunet.data, lunet.optim
lunet.set_num_threads(1)
lunet.manual_seed(11)
local g = lunet.Generator(5)
local img = g:rand(16, 1, 8, 8)
local mask = (img:select(2, 1) * 3):to("int32"):clamp(0, 2)
mask:narrow(2, 1, 1):fill_(255)                       -- a VOC-like void row
local train_ds = data.TensorDataset{ image = img, mask = mask,
                                     transform = lunet.transforms.Compose{ lunet.transforms.HorizontalFlip{}, seed = 3 } }
local val_ds = data.TensorDataset{ image = img:narrow(1, 1, 4), mask = mask:narrow(1, 1, 4) }
local model = lunet.models.unet{ in_channels = 1, num_classes = 3, base = 4, depth = 2, norm = "batch" }
local opt = optim.Adam(model:parameters(), { lr = 1e-2 })
local h = lunet.train.fit{
  model = model, optimizer = opt, scheduler = optim.StepLR(opt, { step_size = 2, gamma = 0.5 }),
  loss = nn.CrossEntropyLoss{ ignore_index = 255 } + 0.5 * nn.DiceLoss{ mode = "multiclass", ignore_index = 255 },
  train_loader = data.DataLoader(train_ds, { batch_size = 4, shuffle = true, seed = 1 }),
  val_loader = data.DataLoader(val_ds, { batch_size = 4 }),
  epochs = epochs, checkpoint = dir .. "/ck.safetensors", log = dir .. "/log.csv", progress = "lines",
}
print("done " .. #h)
]]

local function tmpdir(tag)
  local p = os.tmpname()
  os.remove(p)
  p = p .. "_lunet_kill_" .. tag
  assert(os.execute("mkdir -p " .. sh_quote(p)))
  return p
end

local function listing(dir)
  local names = assert(lunet.core.image.listdir(dir))
  table.sort(names)
  return names
end

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

local function same_weights(a, b)
  local n = 0
  for k, t in pairs(a) do
    local u = b[k]
    if not u then return false, "missing " .. k end
    if not lunet.allclose(t:to("float32"), u:to("float32"), 0, 0) then return false, "differs: " .. k end
    n = n + 1
  end
  for k in pairs(b) do if not a[k] then return false, "extra " .. k end end
  return n > 0, "no tensors"
end

local runnable = have("timeout")
local describe_or_skip = runnable and describe or pending

describe_or_skip("fit killed with SIGKILL at random moments", function()
  local root = tmpdir("root")
  local script = root .. "/child.lua"
  local f = assert(io.open(script, "w"))
  f:write(CHILD)
  f:close()
  teardown(function() os.execute("rm -rf " .. sh_quote(root)) end)

  -- Runs the child in dir; with a delay, `timeout -s KILL` kills it then. Returns the exit
  -- code (137 when killed) and its output.
  local function run(dir, delay)
    local out = dir .. "/out.txt"
    local cmd = string.format("%s lua5.4 %s %s %d > %s 2>&1",
      delay and string.format("timeout -s KILL %.3f", delay) or "timeout -s KILL 300",
      sh_quote(script), sh_quote(dir), EPOCHS, sh_quote(out))
    local ok, how, code = os.execute(cmd)
    local fo = io.open(out, "r")
    local text = fo and fo:read("a") or ""
    if fo then fo:close() end
    os.remove(out)
    if ok then return 0, text end
    return how == "signal" and 128 + code or code, text
  end

  it("kill at random moments, then resume: the checkpoint loads, the run completes, bit-identical", function()
    local clock = lunet.core.nn.wallclock
    local refdir = root .. "/ref"
    assert(os.execute("mkdir -p " .. sh_quote(refdir)))
    local t0 = clock()
    local rc, text = run(refdir)
    local span = clock() - t0
    assert.are.equal(0, rc, text)
    assert.is_truthy(text:find("epoch " .. EPOCHS .. "/" .. EPOCHS .. " .*\ndone " .. EPOCHS .. "\n$"), text)
    local ref = train.load_checkpoint(refdir .. "/ck.safetensors")
    assert.are.equal(EPOCHS, ref.epoch)

    math.randomseed(20240611)           -- the kill moments: reproducible
    local killed, with_ckpt, in_write = 0, 0, 0
    for trial = 1, TRIALS do
      local dir = root .. "/t" .. trial
      assert(os.execute("mkdir -p " .. sh_quote(dir)))
      local delay = math.random() * span * 0.95
      local krc, ktext = run(dir, delay)
      assert.is_true(krc == 137 or krc == 0, string.format("trial %d: exit %d: %s", trial, krc, ktext))
      if krc == 137 then killed = killed + 1 end
      for _, name in ipairs(listing(dir)) do        -- a kill during a write leaves its temporary file
        if name:find(".tmp", 1, true) then in_write = in_write + 1 break end
      end
      local path = dir .. "/ck.safetensors"
      local at = 0
      if exists(path) then
        with_ckpt = with_ckpt + 1
        local ok, c = pcall(train.load_checkpoint, path)
        assert.is_true(ok, string.format("trial %d (killed after %.3f s): %s", trial, delay, tostring(c)))
        assert.is_true(c.epoch >= 1 and c.epoch <= EPOCHS)
        assert.are.equal(c.epoch, #c.history)
        at = c.epoch
      end
      local best = train.best_checkpoint_path(path)
      if exists(best) then
        local ok, c = pcall(train.load_checkpoint, best)
        assert.is_true(ok, string.format("trial %d: best checkpoint: %s", trial, tostring(c)))
      end
      -- resume in a new process: continues from the checkpoint's epoch and completes
      local rrc, rtext = run(dir)
      assert.are.equal(0, rrc, rtext)
      if at > 0 then
        assert.is_truthy(rtext:find("resumed from " .. path .. " at epoch " .. at, 1, true), rtext)
      end
      assert.is_truthy(rtext:find("done " .. EPOCHS .. "\n", 1, true), rtext)
      local c = train.load_checkpoint(path)
      assert.are.equal(EPOCHS, c.epoch)
      assert.are.equal(EPOCHS, #c.history)
      -- the best checkpoint is the one the history names
      assert.are.equal(c.best_epoch, train.load_checkpoint(train.best_checkpoint_path(path)).epoch)
      local same, why = same_weights(ref.model, c.model)
      assert.is_true(same, string.format("trial %d (killed after %.3f s, checkpoint at epoch %d): %s", trial, delay, at, why))
      -- the CSV log holds every epoch once; no temporary file is left
      local lines = 0
      for _ in io.lines(dir .. "/log.csv") do lines = lines + 1 end
      assert.are.equal(EPOCHS + 1, lines)
      assert.are.same({ "ck.best.safetensors", "ck.safetensors", "log.csv" }, listing(dir))
    end
    assert.is_true(killed >= 1, "no trial was killed before the end")
    print(string.format("\n# kill_spec: %d trials, %d killed mid-run, %d with a checkpoint on disk, %d during a write " ..
                        "(run %.2f s)", TRIALS, killed, with_ckpt, in_write, span))
  end)
end)
