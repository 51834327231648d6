-- spec/data_more_spec.lua: data.Subset, data.random_split (seeded, torch's rules for counts
-- and fractions), SegmentationFolder{names=} / {split_file=}, ConfusionMatrix accessors by
-- class id (iou_of, dice_of, precision_of, recall_of, miou_fg, mdice_fg), fit's metric names
-- (miou_fg, dice_fg, iou_class, ...) and load_state_dict's index_base hint.
local lunet = require "lunet"
local nn = require "lunet.nn"
local data = require "lunet.data"
local image = require "lunet.image"
local metrics = require "lunet.metrics"
local train = require "lunet.train"
local optim = require "lunet.optim"

-- The message of the error f(...) raises, without its "file:line: " position.
local function errmsg(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return (tostring(msg):gsub("^[^:\n]+:%d+: ", ""))
end

local tmp = os.tmpname()
os.remove(tmp)
tmp = tmp .. "_lunet_data_more"
assert(os.execute("mkdir -p '" .. tmp .. "'"))
teardown(function() os.execute("rm -rf '" .. tmp .. "'") end)

-- items i = 1..n: image 1 x 2 x 2 filled with i, mask filled with i % 3
local function numbered(n)
  local img = lunet.zeros({ n, 1, 2, 2 }, { dtype = "uint8" })
  local mask = lunet.zeros({ n, 2, 2 }, { dtype = "int32" })
  for i = 1, n do
    img:select(1, i):fill_(i)
    mask:select(1, i):fill_(i % 3)
  end
  return data.TensorDataset{ image = img, mask = mask }
end

-- The first pixel of each item: which parent item it is.
local function ids(ds)
  local out = {}
  for i = 1, ds:len() do out[i] = ds:get(i).image:get(1, 1, 1) end
  return out
end

describe("data.Subset", function()
  it("picks the listed items, in order, with repeats", function()
    local s = data.Subset(numbered(6), { 5, 2, 2 })
    assert.are.equal(3, s:len())
    assert.are.equal(3, #s)
    assert.are.same({ 5, 2, 2 }, ids(s))
    assert.are.same({ 5, 2, 2 }, s.indices)
    assert.are.equal(5 % 3, s:get(1).mask:get(1, 1))
  end)

  it("takes an int32 tensor of indices and nests", function()
    local s = data.Subset(numbered(6), lunet.tensor({ 6, 4, 1 }, { dtype = "int32" }))
    assert.are.same({ 6, 4, 1 }, ids(s))
    assert.are.same({ 1, 6 }, ids(data.Subset(s, { 3, 1 })))
  end)

  it("batches through a DataLoader like the items it picks", function()
    local s = data.Subset(numbered(6), { 3, 1, 5 })
    local loader = data.DataLoader(s, { batch_size = 2 })
    local seen = {}
    for batch in loader:iter() do
      for i = 1, batch.image:size(1) do seen[#seen + 1] = math.floor(batch.image:get(i, 1, 1, 1) * 255 + 0.5) end
    end
    assert.are.same({ 3, 1, 5 }, seen)
  end)

  it("keeps the dataset's transform reachable for fit's checkpoints", function()
    local tf = function(s) return s end
    local ds = data.TensorDataset{ image = lunet.zeros(3, 1, 2, 2), transform = tf }
    assert.are.equal(tf, data.Subset(ds, { 1 }).transform)
  end)

  local ds = numbered(4)
  local cases = {
    { "an index past the end", function() return data.Subset(ds, { 1, 5 }) end,
      "Subset: indices[2] = 5 is outside 1..4 (the dataset has 4 items)" },
    { "index 0", function() return data.Subset(ds, { 0 }) end,
      "Subset: indices[1] = 0 is outside 1..4 (the dataset has 4 items)" },
    { "a fractional index", function() return data.Subset(ds, { 1.5 }) end,
      "Subset: indices[1] must be an integer, got 1.5" },
    { "a string index", function() return data.Subset(ds, { "2" }) end,
      "Subset: indices[1] must be an integer, got '2'" },
    { "a table with holes", function() return data.Subset(ds, { [1] = 1, [3] = 2 }) end,
      "Subset: indices must be a list (keys 1..n), got key 3" },
    { "a float tensor", function() return data.Subset(ds, lunet.zeros(2)) end,
      "Subset: indices must be a list of integers or a 1-d int32 tensor, got a float32 tensor of shape [2]" },
    { "indices that are not a table", function() return data.Subset(ds, 3) end,
      "Subset: indices must be a list of integers or a 1-d int32 tensor, got number" },
    { "a dataset without get", function() return data.Subset({}, { 1 }) end,
      "Subset: dataset must have a get(i) method, got table" },
    { "get past the end", function() return data.Subset(ds, { 1, 2 }):get(3) end,
      "Subset:get: index 3 is outside 1..2" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function() assert.are.equal(c[3], errmsg(c[2])) end)
  end
end)

describe("data.random_split", function()
  local function sorted(t)
    local c = {}
    for i, v in ipairs(t) do c[i] = v end
    table.sort(c)
    return c
  end

  it("splits by counts into a permutation of all items", function()
    local parts = data.random_split(numbered(10), { 7, 3 }, { seed = 1 })
    assert.are.equal(2, #parts)
    assert.are.equal(7, parts[1]:len())
    assert.are.equal(3, parts[2]:len())
    local all = {}
    for _, p in ipairs(parts) do for _, v in ipairs(p.indices) do all[#all + 1] = v end end
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, sorted(all))
  end)

  it("gives the same split for the same seed and another for another seed", function()
    local a = data.random_split(numbered(20), { 10, 10 }, { seed = 3 })
    local b = data.random_split(numbered(20), { 10, 10 }, { seed = 3 })
    local c = data.random_split(numbered(20), { 10, 10 }, { seed = 4 })
    assert.are.same(a[1].indices, b[1].indices)
    assert.are_not.same(a[1].indices, c[1].indices)
  end)

  it("draws from the default generator without a seed", function()
    lunet.manual_seed(5)
    local a = data.random_split(numbered(12), { 6, 6 })
    lunet.manual_seed(5)
    local b = data.random_split(numbered(12), { 6, 6 })
    assert.are.same(a[2].indices, b[2].indices)
  end)

  it("splits by fractions as torch does: floors, then one more to the first subsets", function()
    local parts = data.random_split(numbered(10), { 0.5, 0.3, 0.2 }, { seed = 2 })
    assert.are.same({ 5, 3, 2 }, { parts[1]:len(), parts[2]:len(), parts[3]:len() })
    parts = data.random_split(numbered(11), { 0.25, 0.25, 0.25, 0.25 }, { seed = 2 })
    -- floor(11 / 4) = 2 each, 3 left over: the first three subsets get one more
    assert.are.same({ 3, 3, 3, 2 }, { parts[1]:len(), parts[2]:len(), parts[3]:len(), parts[4]:len() })
  end)

  it("allows an empty subset", function()
    local parts = data.random_split(numbered(3), { 3, 0 }, { seed = 1 })
    assert.are.equal(0, parts[2]:len())
  end)

  local ds = numbered(10)
  local cases = {
    { "counts that do not sum to the length", function() return data.random_split(ds, { 6, 3 }) end,
      "random_split: lengths {6, 3} sum to 9, the dataset has 10 items (give counts summing to 10 or fractions summing to 1)" },
    { "fractions that do not sum to 1", function() return data.random_split(ds, { 0.5, 0.25 }) end,
      "random_split: lengths[1] = 0.5 is neither a count (an integer) nor part of fractions summing to 1 (they sum to 0.75)" },
    { "a negative length", function() return data.random_split(ds, { 11, -1 }) end,
      "random_split: lengths[2] must be a count or a fraction >= 0, got -1" },
    { "a NaN length", function() return data.random_split(ds, { 0 / 0 }) end,
      "random_split: lengths[1] must be a count or a fraction >= 0, got nan" },
    { "an empty list", function() return data.random_split(ds, {}) end,
      "random_split: lengths must be a non-empty list of counts or fractions, got an empty table" },
    { "a misspelt option", function() return data.random_split(ds, { 5, 5 }, { sed = 1 }) end,
      "random_split: unknown option 'sed' (did you mean 'seed'?)" },
    { "a fractional seed", function() return data.random_split(ds, { 5, 5 }, { seed = 1.5 }) end,
      "random_split: seed must be an integer, got 1.5" },
    { "a generator that is not one", function() return data.random_split(ds, { 5, 5 }, { generator = {} }) end,
      "random_split: generator must be a lunet.Generator, got table" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function() assert.are.equal(c[3], errmsg(c[2])) end)
  end
end)

describe("SegmentationFolder names and split_file", function()
  local root = tmp .. "/voc"
  local imgs, masks = root .. "/JPEGImages", root .. "/SegmentationClass"
  assert(os.execute("mkdir -p '" .. imgs .. "' '" .. masks .. "'"))
  -- a, b, c, d: 2 x 3 images filled with 10 * k, masks filled with k; e has no mask
  for k, stem in ipairs({ "a", "b", "c", "d", "e" }) do
    image.save(imgs .. "/" .. stem .. ".png", lunet.full({ 3, 2, 3 }, 10 * k, { dtype = "uint8" }))
    if stem ~= "e" then image.save(masks .. "/" .. stem .. ".png", lunet.full({ 2, 3 }, k, { dtype = "uint8" })) end
  end
  local split = root .. "/train.txt"
  local f = assert(io.open(split, "w"))
  f:write("c\n  a  \n\nd\n")
  f:close()

  local function names(ds)
    local out = {}
    for i = 1, ds:len() do out[i] = ds:get(i).name end
    return out
  end

  it("keeps the listed names in the order given", function()
    local ds = data.SegmentationFolder{ images = imgs, masks = masks, names = { "d", "b" } }
    assert.are.same({ "d", "b" }, names(ds))
    assert.are.equal(4, ds:get(1).mask:get(1, 1))
    assert.are.equal(20, ds:get(2).image:get(1, 1, 1))
  end)

  it("reads a VOC split file (blank lines and surrounding spaces skipped)", function()
    local ds = data.SegmentationFolder{ images = imgs, masks = masks, split_file = split }
    assert.are.same({ "c", "a", "d" }, names(ds))
  end)

  it("accepts a name with its image extension", function()
    local ds = data.SegmentationFolder{ images = imgs, masks = masks, names = { "b.png" } }
    assert.are.same({ "b" }, names(ds))
  end)

  it("ignores unlisted files that have no pair (e has no mask)", function()
    local ds = data.SegmentationFolder{ images = imgs, masks = masks, names = { "a" } }
    assert.are.equal(1, ds:len())
  end)

  local cases = {
    { "a listed name without an image", { names = { "a", "zz", "yy" } },
      "SegmentationFolder: 2 listed names without an image in '" .. imgs .. "': zz, yy (from names)" },
    { "a listed name without a mask", { names = { "e" } },
      "SegmentationFolder: 1 listed name without a mask in '" .. masks .. "': e (from names)" },
    { "a repeated name", { names = { "a", "b", "a" } },
      "SegmentationFolder: names names 'a' twice (entries 1 and 3)" },
    { "an empty list", { names = {} }, "SegmentationFolder: names is an empty list" },
    { "a name that is not a string", { names = { "a", 3 } },
      "SegmentationFolder: names[2] must be a non-empty string, got 3" },
    { "names and split_file together", { names = { "a" }, split_file = split },
      "SegmentationFolder: names and split_file are exclusive: give one list of names" },
    { "a missing split file", { split_file = root .. "/nope.txt" },
      "SegmentationFolder: cannot read split_file '" .. root .. "/nope.txt': " .. root .. "/nope.txt: No such file or directory" },
    { "a misspelt option", { split_fil = split },
      "SegmentationFolder: unknown option 'split_fil' (did you mean 'split_file'?)" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function()
      local o = { images = imgs, masks = masks }
      for k, v in pairs(c[2]) do o[k] = v end
      assert.are.equal(c[3], errmsg(data.SegmentationFolder, o))
    end)
  end

  it("rejects a split file that lists a missing name, naming the file", function()
    local p = root .. "/val.txt"
    local g = assert(io.open(p, "w"))
    g:write("a\nmissing\n")
    g:close()
    assert.are.equal("SegmentationFolder: 1 listed name without an image in '" .. imgs ..
                     "': missing (from split_file '" .. p .. "')",
                     errmsg(data.SegmentationFolder, { images = imgs, masks = masks, split_file = p }))
  end)
end)

describe("ConfusionMatrix accessors by class id", function()
  -- target / prediction over 8 pixels, 3 classes:
  --   class 0: tp 2, fn 1 (predicted 1), fp 0      iou 2/3   dice 4/5
  --   class 1: tp 2, fn 0, fp 1 (from class 0)     iou 2/3   dice 4/5
  --   class 2: tp 1, fn 1 (predicted 1), fp 0      iou 1/2   dice 2/3
  -- plus class 1 predicted for a class-2 pixel: class 1 fp 2 -> iou 2/4, dice 4/6
  local target = lunet.tensor({ 0, 0, 0, 1, 1, 2, 2, 2 }, { dtype = "int32" }):view(1, 8)
  local pred = lunet.tensor({ 0, 0, 1, 1, 1, 2, 1, 2 }, { dtype = "int32" }):view(1, 8)
  local cm = metrics.ConfusionMatrix(3):update(pred, target)

  it("agrees with the per-class tables at entry c + 1", function()
    local iou, dice, prec, rec = cm:iou(), cm:dice(), cm:precision(), cm:recall()
    for c = 0, 2 do
      assert.are.equal(iou[c + 1], cm:iou_of(c))
      assert.are.equal(dice[c + 1], cm:dice_of(c))
      assert.are.equal(prec[c + 1], cm:precision_of(c))
      assert.are.equal(rec[c + 1], cm:recall_of(c))
    end
    assert.are.equal(2 / 3, cm:iou_of(0))
    assert.are.equal(2 / 4, cm:iou_of(1))
    assert.are.equal(2 / 3, cm:iou_of(2))
    assert.are.equal(2 / 4, cm:precision_of(1))
    assert.are.equal(2 / 3, cm:recall_of(2))
  end)

  it("miou_fg and mdice_fg leave out class 0", function()
    assert.is_true(math.abs(cm:miou_fg() - (2 / 4 + 2 / 3) / 2) < 1e-12)
    assert.is_true(math.abs(cm:mdice_fg() - (cm:dice_of(1) + cm:dice_of(2)) / 2) < 1e-12)
    local one = metrics.ConfusionMatrix(1):update(lunet.zeros({ 1, 2 }, { dtype = "int32" }),
                                                 lunet.zeros({ 1, 2 }, { dtype = "int32" }))
    assert.is_true(one:miou_fg() ~= one:miou_fg())   -- no foreground class: NaN
  end)

  it("gives NaN for a class absent from prediction and target", function()
    local c4 = metrics.ConfusionMatrix(4):update(pred, target)
    assert.is_true(c4:iou_of(3) ~= c4:iou_of(3))
    assert.are.equal(c4:miou(), cm:miou())
  end)

  local cases = {
    { "class C", function() return cm:iou_of(3) end,
      "ConfusionMatrix:iou_of: class 3 is outside the class ids 0..2 (3 classes; ids are 0-based: cm:iou()[k] is class k-1)" },
    { "class -1", function() return cm:dice_of(-1) end,
      "ConfusionMatrix:dice_of: class -1 is outside the class ids 0..2 (3 classes; ids are 0-based: cm:iou()[k] is class k-1)" },
    { "a fractional class", function() return cm:precision_of(0.5) end,
      "ConfusionMatrix:precision_of: class must be an integer class id 0..2, got 0.5" },
    { "a missing class", function() return cm:recall_of() end,
      "ConfusionMatrix:recall_of: class must be an integer class id 0..2, got nil" },
    { "a dot call", function() return cm.iou_of(1) end,
      "ConfusionMatrix:iou_of: self must be a ConfusionMatrix, got number (call it with a colon: cm:iou_of(...))" },
  }
  for _, c in ipairs(cases) do
    it("rejects " .. c[1], function() assert.are.equal(c[3], errmsg(c[2])) end)
  end
end)

describe("fit metric names", function()
  local function run(metric_names, extra)
    lunet.manual_seed(3)
    local g = lunet.Generator(1)
    local img = g:rand(8, 1, 4, 4)
    local mask = (img:select(2, 1) * 3):to("int32"):clamp(0, 2)
    local ds = data.TensorDataset{ image = img, mask = mask }
    local model = nn.Conv2d(1, 3, 1)
    local o = {
      model = model, loss = nn.CrossEntropyLoss{}, optimizer = optim.SGD(model:parameters(), { lr = 0.1 }),
      train_loader = data.DataLoader(ds, { batch_size = 4 }), val_loader = data.DataLoader(ds, { batch_size = 4 }),
      epochs = 2, metrics = metric_names, progress = false,
    }
    for k, v in pairs(extra or {}) do o[k] = v end
    return train.fit(o)
  end

  it("computes miou_fg, dice_fg and per-class tables from the validation matrix", function()
    local log = tmp .. "/fit.csv"
    local h = run({ "miou", "miou_fg", "dice", "dice_fg", "iou_class" }, { log = log })
    local cm = h.confusion
    local e = h[2]
    assert.are.equal(cm:miou(), e.miou)
    assert.are.equal(cm:miou_fg(), e.miou_fg)
    assert.are.equal(cm:mdice(), e.dice)
    assert.are.equal(cm:mdice_fg(), e.dice_fg)
    assert.are.same(cm:iou(), e.iou_class)
    for c = 0, 2 do assert.are.equal(cm:iou_of(c), e["iou_class_" .. c]) end
    assert.are.equal("miou", h.monitor)
    local f = assert(io.open(log))
    local header = f:read("l")
    f:close()
    assert.are.equal("epoch,train_loss,val_loss,miou,miou_fg,dice,dice_fg,iou_class_0,iou_class_1,iou_class_2,lr,seconds", header)
  end)

  it("monitors the first number when a per-class table comes first", function()
    local h = run({ "iou_class", "dice_fg" })
    assert.are.equal("dice_fg", h.monitor)
  end)

  it("refuses a per-class table as the monitor", function()
    assert.are.equal("fit: monitor 'dice_class' is a per-class table; monitor a number (miou, miou_fg, dice, ..., or name = function(cm) returning one)",
                     errmsg(run, { "dice_class" }, { monitor = "dice_class" }))
  end)
end)

describe("load_state_dict index_base hint", function()
  local function net()
    lunet.manual_seed(1)
    local m = nn.Module:extend("Net")
    function m:__init()
      self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 1))
      self.head = nn.Conv2d(2, 1, 1)
    end
    return m()
  end

  it("says use index_base = 0 for PyTorch's 0-based names", function()
    local sd0 = net():state_dict{ index_base = 0 }
    local msg = errmsg(function() return net():load_state_dict(sd0) end)
    assert.are.equal("load_state_dict: missing keys: features.1.weight, features.1.bias, features.3.weight, " ..
                     "features.3.bias; unexpected keys: features.0.bias, features.0.weight, features.2.bias, " ..
                     "features.2.weight (the state dict numbers Sequential/ModuleList children from 0, as " ..
                     "PyTorch does: use index_base = 0)", msg)
    net():load_state_dict(sd0, { index_base = 0 })   -- and that works
  end)

  it("says drop index_base = 0 for lunet's own names read as 0-based", function()
    local sd1 = net():state_dict()
    local msg = errmsg(function() return net():load_state_dict(sd1, { index_base = 0 }) end)
    assert.truthy(msg:find("(the state dict numbers Sequential/ModuleList children from 1, as lunet does: drop index_base = 0)", 1, true), msg)
  end)

  it("gives no hint when the names are wrong either way", function()
    local sd = net():state_dict{ index_base = 0 }
    sd["extra.weight"] = lunet.zeros(1)
    local msg = errmsg(function() return net():load_state_dict(sd) end)
    assert.is_nil(msg:find("index_base", 1, true), msg)
  end)
end)
