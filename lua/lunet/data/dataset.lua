-- lunet.data datasets: TensorDataset (tensors in memory) and SegmentationFolder (image and
-- mask files paired by name). A dataset is anything with :len() (or __len) and :get(i)
-- (1-based) returning {image=, mask=}; :get applies ds.transform, called as
-- transform{image=, mask=} and returning a new {image=, mask=}, when one is set.
local core = require "lunet.core"
local E = require "lunet.errors"
local image = require "lunet.image"

local cimg = core.image
local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local setmetatable, getmetatable, pcall = setmetatable, getmetatable, pcall
local fmt, concat, sort = string.format, table.concat, table.sort
local fail = E.fail   -- errors at the user's line

local M = {}

-- Options of a dataset constructor: a table (not nil: the directories are required) whose
-- keys are known (unknown ones raise with a did-you-mean hint).
local function check_opts(fn, opts, allowed)
  if type(opts) ~= "table" or core.is_tensor(opts) then
    fail(fn, "expects an option table, got %s", E.typename(opts))
  end
  E.options(opts, fn, allowed)
end

-- The image modes of lunet.image.load, checked when a dataset is built (not at its first item).
local IMAGE_MODES = { "rgb", "gray", "rgba", "index", "unchanged" }
M.IMAGE_MODES = IMAGE_MODES

local function callable(v)
  if type(v) == "function" then return true end
  local mt = (type(v) == "table" or type(v) == "userdata") and getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

local function shape_str(t)
  return "[" .. concat(t:shape(), ", ") .. "]"
end

local function apply_transform(ds, sample)
  local tf = ds.transform
  if tf == nil then return sample end
  local out = tf(sample)
  if type(out) ~= "table" or out.image == nil then
    fail(ds.kind, "transform must return a table {image=, mask=}, got %s", E.typename(out))
  end
  for k, v in pairs(sample) do
    if out[k] == nil then out[k] = v end   -- keep name/index fields the transform dropped
  end
  return out
end

-- ---------------------------------------------------------------- TensorDataset

local TensorDataset = {}
TensorDataset.__index = TensorDataset
TensorDataset.__name = "lunet.data.TensorDataset"

--- TensorDataset{image=N x C x H x W, mask=N x H x W, transform=}: item i is
--- {image=image[i], mask=mask[i], index=i} (views, no copy). Either tensor may be missing;
--- other tensors with N rows can be passed too (e.g. label=) and are sliced the same way.
function M.TensorDataset(opts)
  local fn = "TensorDataset"
  if type(opts) ~= "table" or core.is_tensor(opts) then
    fail(fn, "expects a table {image=, mask=}, got %s", E.typename(opts))
  end
  local ds = setmetatable({kind = fn, tensors = {}, transform = opts.transform}, TensorDataset)
  local keys = {}
  for k in pairs(opts) do
    if k ~= "transform" then
      if type(k) ~= "string" or not core.is_tensor(opts[k]) then
        -- the only option is transform: a near miss of it is a typo, anything else a field
        local typo = type(k) == "string" and core.check_options({[k] = true}, fn, {"transform"})
        if typo and typo:find("did you mean", 1, true) then E.raise(typo) end
        fail(fn, "field %s must be a tensor, got %s", E.show(k), E.typename(opts[k]))
      end
      keys[#keys + 1] = k
    end
  end
  sort(keys)   -- a fixed order, so the length error names the same tensors every run
  local n, first
  for _, k in ipairs(keys) do
    local v = opts[k]
    if v:dim() < 1 then fail(fn, "tensor '%s' has no first dimension", k) end
    if n == nil then
      n, first = v:size(1), k
    elseif v:size(1) ~= n then
      fail(fn, "tensors differ in length: '%s' has %d items, '%s' has %d (shapes %s, %s)",
           first, n, k, v:size(1), shape_str(opts[first]), shape_str(v))
    end
    ds.tensors[k] = v
  end
  if n == nil then fail(fn, "needs at least one tensor (image=, mask=)") end
  if opts.transform ~= nil and not callable(opts.transform) then
    fail(fn, "transform must be callable, got %s", E.typename(opts.transform))
  end
  ds.n = n
  return ds
end

-- Raises unless self is the dataset kind cls (ds.get(i) written for ds:get(i)).
local function need_self(self, cls, fn)
  if getmetatable(self) ~= cls then
    fail(cls.__name:match("[^.]+$") .. ":" .. fn, "self must be a dataset, got %s (call it with a colon: ds:%s(...))",
      E.typename(self), fn)
  end
end

--- Number of items (the first dimension of the tensors).
function TensorDataset:len()
  need_self(self, TensorDataset, "len")
  return self.n
end
TensorDataset.__len = TensorDataset.len

--- Item i: {image = image[i], mask = mask[i], index = i, ...} (views), through ds.transform.
function TensorDataset:get(i)
  need_self(self, TensorDataset, "get")
  if math.type(i) ~= "integer" and not (type(i) == "number" and i % 1 == 0) or i < 1 or i > self.n then
    fail("TensorDataset:get", "index %s is outside 1..%d", E.show(i), self.n)
  end
  i = math.tointeger(i)
  local s = {index = i}
  for k, v in pairs(self.tensors) do s[k] = v:select(1, i) end
  return apply_transform(self, s)
end

--- get_batch(indices) -> {image=, mask=, ...} as the DataLoader collates them, without the
--- per-item round trip (only when there is no transform; the loader checks has_batch()).
function TensorDataset:has_batch() return self.transform == nil end

function TensorDataset:get_batch(indices)
  local lunet = require "lunet"
  local idx = lunet.tensor(indices, {dtype = "int32"})
  local b = {index = indices}
  for k, v in pairs(self.tensors) do b[k] = v:index_select(1, idx) end
  return b
end

function TensorDataset:__tostring()
  local parts = {}
  for k, v in pairs(self.tensors) do parts[#parts + 1] = k .. "=" .. shape_str(v) .. " " .. v:dtype() end
  sort(parts)
  return fmt("TensorDataset(%d items: %s)", self.n, concat(parts, ", "))
end

-- ---------------------------------------------------------------- SegmentationFolder

local SegmentationFolder = {}
SegmentationFolder.__index = SegmentationFolder
SegmentationFolder.__name = "lunet.data.SegmentationFolder"

local image_exts = {png = true, jpg = true, jpeg = true}

local function split_name(name)
  local stem, ext = name:match("^(.+)%.([^.]+)$")
  if not stem then return name, "" end
  return stem, ext:lower()
end

local function list_images(fn, dir, what)
  if type(dir) ~= "string" then
    fail(fn, "%s must be a directory path, got %s", what, E.typename(dir))
  end
  local names, msg = cimg.listdir(dir)
  if not names then fail(fn, "cannot list %s directory '%s': %s", what, dir, msg) end
  sort(names)
  local by_stem, dups = {}, {}
  for _, name in ipairs(names) do
    local stem, ext = split_name(name)
    if image_exts[ext] and name:sub(1, 1) ~= "." then
      if by_stem[stem] then
        dups[#dups + 1] = fmt("%s and %s", by_stem[stem], name)
      else
        by_stem[stem] = name
      end
    end
  end
  if #dups > 0 then
    fail(fn, "%s directory '%s' has several files with the same name: %s", what, dir, concat(dups, "; "))
  end
  return by_stem
end

local function name_list(t)
  local n = #t
  if n <= 10 then return concat(t, ", ") end
  local head = {}
  for i = 1, 10 do head[i] = t[i] end
  return concat(head, ", ") .. fmt(" and %d more", n - 10)
end

local folder_opts = {images = true, masks = true, transform = true, image_mode = true,
                     mask_mode = true, mask_palette = true, mask_suffix = true, strict = true,
                     names = true, split_file = true}

-- The stems a split file lists: one per line (VOC's ImageSets/Segmentation/train.txt),
-- surrounding blanks trimmed, empty lines skipped.
local function read_split_file(fn, path)
  if type(path) ~= "string" or path == "" then
    fail(fn, "split_file must be a file path, got %s", E.show(path))
  end
  local f, msg = io.open(path, "r")
  if not f then fail(fn, "cannot read split_file '%s': %s", path, tostring(msg)) end
  local list = {}
  for line in f:lines() do
    local stem = line:match("^%s*(.-)%s*$")
    if stem ~= "" then list[#list + 1] = stem end
  end
  f:close()
  if #list == 0 then fail(fn, "split_file '%s' lists no names", path) end
  return list, fmt("split_file '%s'", path)
end

-- The chosen stems (names = list or split_file = path), checked: strings, no repeats, and a
-- name may carry its image extension ("2007_000032.jpg" is the stem "2007_000032").
local function chosen_names(fn, opts)
  if opts.names ~= nil and opts.split_file ~= nil then
    fail(fn, "names and split_file are exclusive: give one list of names")
  end
  local list, from
  if opts.split_file ~= nil then
    list, from = read_split_file(fn, opts.split_file)
  else
    list, from = opts.names, "names"
    if type(list) ~= "table" or core.is_tensor(list) then
      fail(fn, "names must be a list of file names (without extension), got %s", E.typename(list))
    end
    if #list == 0 then fail(fn, "names is an empty list") end
    for k in pairs(list) do
      if math.type(k) ~= "integer" or k < 1 or k > #list then
        fail(fn, "names must be a list (keys 1..n), got key %s", E.show(k))
      end
    end
  end
  local seen, out = {}, {}
  for i, name in ipairs(list) do
    if type(name) ~= "string" or name == "" then
      fail(fn, "names[%d] must be a non-empty string, got %s", i, E.show(name))
    end
    if seen[name] then
      fail(fn, "%s names '%s' twice (entries %d and %d)", from, name, seen[name], i)
    end
    seen[name] = i
    out[i] = name
  end
  return out, from
end

--- SegmentationFolder{images=dir, masks=dir, transform=, image_mode="rgb",
--- mask_mode="index", mask_palette=, mask_suffix="", strict=true}
--- Pairs image files (PNG or JPEG) with mask files (PNG or JPEG, normally PNG) by name:
--- images/x.jpg goes with masks/x<mask_suffix>.png. Names are sorted, so item order is
--- fixed. Unpaired files raise one error listing them by name (strict=false skips them
--- and lists them in ds.unpaired instead). Image and mask sizes are compared when an
--- item is loaded (the error names both files); ds:check() compares all of them at once.
--- Items: {image=uint8 C x H x W, mask=uint8 H x W (int32 for 16-bit), name=stem, index=i}.
--- names = {"a", "b"} or split_file = "ImageSets/Segmentation/train.txt" (one name per
--- line, VOC's split files) keeps only those pairs, in the order given: a listed name
--- without its image or mask raises (listing every such name), and files that are not
--- listed are ignored (strict does not apply to them). A name may carry its image
--- extension ("x.jpg" is x).
function M.SegmentationFolder(opts)
  local fn = "SegmentationFolder"
  check_opts(fn, opts, folder_opts)
  local suffix = opts.mask_suffix or ""
  if type(suffix) ~= "string" then fail(fn, "mask_suffix must be a string, got %s", E.show(suffix)) end
  if opts.strict ~= nil and type(opts.strict) ~= "boolean" then
    fail(fn, "strict must be a boolean, got %s", E.show(opts.strict))
  end
  if opts.image_mode ~= nil then E.choice(fn, "image_mode", opts.image_mode, IMAGE_MODES) end
  if opts.mask_mode ~= nil then E.choice(fn, "mask_mode", opts.mask_mode, IMAGE_MODES) end
  if opts.transform ~= nil and not callable(opts.transform) then
    fail(fn, "transform must be callable, got %s", E.typename(opts.transform))
  end
  local chosen, chosen_from
  if opts.names ~= nil or opts.split_file ~= nil then chosen, chosen_from = chosen_names(fn, opts) end
  local imgs = list_images(fn, opts.images, "images")
  local masks = list_images(fn, opts.masks, "masks")
  if chosen then
    local files, no_image, no_mask = {}, {}, {}
    for i, name in ipairs(chosen) do
      local stem = name
      if imgs[stem] == nil then
        local s2, ext = split_name(name)
        if image_exts[ext] and imgs[s2] then stem = s2 end
      end
      local m = masks[stem .. suffix]
      if imgs[stem] == nil then
        no_image[#no_image + 1] = name
      elseif m == nil then
        no_mask[#no_mask + 1] = name
      else
        files[i] = {name = stem, image = opts.images .. "/" .. imgs[stem], mask = opts.masks .. "/" .. m}
      end
    end
    local parts = {}
    if #no_image > 0 then
      parts[#parts + 1] = fmt("%d listed name%s without an image in '%s': %s", #no_image,
                              #no_image == 1 and "" or "s", opts.images, name_list(no_image))
    end
    if #no_mask > 0 then
      parts[#parts + 1] = fmt("%d listed name%s without a mask%s in '%s': %s", #no_mask,
                              #no_mask == 1 and "" or "s",
                              suffix ~= "" and fmt(" (mask_suffix \"%s\")", suffix) or "", opts.masks,
                              name_list(no_mask))
    end
    if #parts > 0 then fail(fn, "%s (from %s)", concat(parts, "; "), chosen_from) end
    local seen_stem = {}
    for i, f in ipairs(files) do
      if seen_stem[f.name] then
        fail(fn, "%s names the image '%s' twice (entries %d and %d)", chosen_from, f.name, seen_stem[f.name], i)
      end
      seen_stem[f.name] = i
    end
    return setmetatable({
      kind = fn, files = files, unpaired = {}, transform = opts.transform,
      image_mode = opts.image_mode or "rgb", mask_mode = opts.mask_mode or "index",
      mask_palette = opts.mask_palette,
    }, SegmentationFolder)
  end
  local stems = {}
  for stem in pairs(imgs) do stems[#stems + 1] = stem end
  sort(stems)
  if #stems == 0 then
    fail(fn, "no PNG or JPEG images in '%s'", opts.images)
  end
  local files, no_mask, no_image, used = {}, {}, {}, {}
  for _, stem in ipairs(stems) do
    local m = masks[stem .. suffix]
    if m then
      used[stem .. suffix] = true
      files[#files + 1] = {name = stem, image = opts.images .. "/" .. imgs[stem], mask = opts.masks .. "/" .. m}
    else
      no_mask[#no_mask + 1] = imgs[stem]
    end
  end
  local mstems = {}
  for stem in pairs(masks) do if not used[stem] then mstems[#mstems + 1] = stem end end
  sort(mstems)
  for _, stem in ipairs(mstems) do no_image[#no_image + 1] = masks[stem] end
  local strict = opts.strict
  if strict == nil then strict = true end
  if strict and (#no_mask > 0 or #no_image > 0) then
    local parts = {}
    if #no_mask > 0 then
      parts[#parts + 1] = fmt("%d image%s without a mask%s in '%s': %s", #no_mask, #no_mask == 1 and "" or "s",
                              suffix ~= "" and fmt(" (mask_suffix \"%s\")", suffix) or "", opts.masks, name_list(no_mask))
    end
    if #no_image > 0 then
      parts[#parts + 1] = fmt("%d mask%s without an image in '%s': %s", #no_image, #no_image == 1 and "" or "s",
                              opts.images, name_list(no_image))
    end
    fail(fn, "%s", concat(parts, "; "))
  end
  if #files == 0 then
    fail(fn, "no image in '%s' has a mask in '%s'", opts.images, opts.masks)
  end
  local unpaired = {}
  for _, v in ipairs(no_mask) do unpaired[#unpaired + 1] = opts.images .. "/" .. v end
  for _, v in ipairs(no_image) do unpaired[#unpaired + 1] = opts.masks .. "/" .. v end
  return setmetatable({
    kind = fn, files = files, unpaired = unpaired, transform = opts.transform,
    image_mode = opts.image_mode or "rgb", mask_mode = opts.mask_mode or "index",
    mask_palette = opts.mask_palette,
  }, SegmentationFolder)
end

--- Number of image/mask pairs.
function SegmentationFolder:len()
  need_self(self, SegmentationFolder, "len")
  return #self.files
end
SegmentationFolder.__len = SegmentationFolder.len

local function hw(t)
  local d = t:dim()
  return t:size(d - 1), t:size(d)
end

--- Loads item i without the transform: {image=, mask=, name=, index=}.
function SegmentationFolder:load(i)
  need_self(self, SegmentationFolder, "load")
  local f = type(i) == "number" and self.files[i] or nil
  if f == nil then
    fail("SegmentationFolder:get", "index %s is outside 1..%d", E.show(i), #self.files)
  end
  local img = image.load(f.image, {mode = self.image_mode})
  local mask = image.load(f.mask, {mode = self.mask_mode, palette = self.mask_palette})
  local ih, iw = hw(img)
  local mh, mw = hw(mask)
  if ih ~= mh or iw ~= mw then
    fail("SegmentationFolder", "image '%s' is %dx%d (HxW) but its mask '%s' is %dx%d", f.image, ih, iw, f.mask, mh, mw)
  end
  return {image = img, mask = mask, name = f.name, index = i}
end

--- Item i: {image=, mask=, name=, index=} loaded (sizes compared) and passed through ds.transform.
function SegmentationFolder:get(i)
  need_self(self, SegmentationFolder, "get")
  return apply_transform(self, self:load(i))
end

--- check() reads every pair's header and raises one error listing every size mismatch
--- (and every unreadable file); returns the dataset.
function SegmentationFolder:check()
  need_self(self, SegmentationFolder, "check")
  local bad = {}
  for _, f in ipairs(self.files) do
    local ok1, a = pcall(image.info, f.image)
    local ok2, b = pcall(image.info, f.mask)
    if not ok1 then bad[#bad + 1] = (tostring(a):gsub("^[^\n:]+:%d+: ", ""))
    elseif not ok2 then bad[#bad + 1] = (tostring(b):gsub("^[^\n:]+:%d+: ", ""))
    elseif a.width ~= b.width or a.height ~= b.height then
      bad[#bad + 1] = fmt("image '%s' is %dx%d (HxW) but its mask '%s' is %dx%d", f.image,
                          a.height, a.width, f.mask, b.height, b.width)
    end
  end
  if #bad > 0 then
    fail("SegmentationFolder:check", "%d bad pair%s: %s", #bad, #bad == 1 and "" or "s", concat(bad, "; "))
  end
  return self
end

function SegmentationFolder:__tostring()
  return fmt("SegmentationFolder(%d pairs, image_mode=%s, mask_mode=%s)", #self.files, self.image_mode, self.mask_mode)
end

-- ---------------------------------------------------------------- Subset, random_split

-- Length of any dataset: ds:len() or #ds (checked).
local function ds_len(fn, ds)
  if type(ds) ~= "table" and type(ds) ~= "userdata" then
    fail(fn, "dataset must have len() and get(i) methods, got %s", E.typename(ds))
  end
  local ok, get = pcall(function() return ds.get end)
  if not ok or not callable(get) then
    fail(fn, "dataset must have a get(i) method, got %s", E.typename(ds))
  end
  local n
  local okl, lenf = pcall(function() return ds.len end)
  if okl and callable(lenf) then
    n = ds:len()
  else
    local mt = getmetatable(ds)
    if type(mt) == "table" and mt.__len then n = #ds end
  end
  if math.type(n) ~= "integer" and not (type(n) == "number" and n >= 0 and n % 1 == 0) then
    fail(fn, "dataset length must be a non-negative integer, got %s", E.show(n))
  end
  return math.tointeger(n)
end

local Subset = {}
Subset.__index = Subset
Subset.__name = "lunet.data.Subset"

--- Subset(dataset, indices): the items dataset:get(indices[1]), dataset:get(indices[2]), ...
--- (as torch.utils.data.Subset). indices is a list of 1-based positions or a 1-d int32
--- tensor; repeats are allowed, every index must lie in 1..#dataset. Items are the
--- dataset's own (its transform applies; their index field stays the dataset's).
--- Fields: dataset, indices (a Lua list), transform (the dataset's, for fit's checkpoints).
function M.Subset(ds, indices)
  local fn = "Subset"
  local n = ds_len(fn, ds)
  if core.is_tensor(indices) then
    if indices:dim() ~= 1 or (indices:dtype() ~= "int32" and indices:dtype() ~= "uint8") then
      fail(fn, "indices must be a list of integers or a 1-d int32 tensor, got a %s tensor of shape %s",
           indices:dtype(), shape_str(indices))
    end
    indices = indices:totable()
  elseif type(indices) ~= "table" then
    fail(fn, "indices must be a list of integers or a 1-d int32 tensor, got %s", E.typename(indices))
  end
  local list = {}
  local count = #indices
  for k in pairs(indices) do
    if math.type(k) ~= "integer" or k < 1 or k > count then
      fail(fn, "indices must be a list (keys 1..n), got key %s", E.show(k))
    end
  end
  for i = 1, count do
    local v = indices[i]
    local iv = type(v) == "number" and math.tointeger(v)
    if not iv then fail(fn, "indices[%d] must be an integer, got %s", i, E.show(v)) end
    if iv < 1 or iv > n then
      fail(fn, "indices[%d] = %d is outside 1..%d (the dataset has %d items)", i, iv, n, n)
    end
    list[i] = iv
  end
  local tf = nil
  if type(ds) == "table" then tf = rawget(ds, "transform") end
  return setmetatable({kind = fn, dataset = ds, indices = list, transform = tf}, Subset)
end

--- Number of items (#subset.indices).
function Subset:len()
  need_self(self, Subset, "len")
  return #self.indices
end
Subset.__len = Subset.len

--- Item i of the subset: dataset:get(indices[i]).
function Subset:get(i)
  need_self(self, Subset, "get")
  local j = type(i) == "number" and math.tointeger(i)
  if not j or j < 1 or j > #self.indices then
    fail("Subset:get", "index %s is outside 1..%d", E.show(i), #self.indices)
  end
  return self.dataset:get(self.indices[j])
end

-- Batched reads pass through to a dataset that has them (TensorDataset without transform).
function Subset:has_batch()
  local ds = self.dataset
  if type(ds) ~= "table" or type(ds.get_batch) ~= "function" then return false end
  return type(ds.has_batch) ~= "function" or ds:has_batch()
end

-- The collated batch of subset positions idx (the dataset's get_batch on the mapped indices).
function Subset:get_batch(idx)
  local map = {}
  for k, i in ipairs(idx) do map[k] = self.indices[i] end
  local b = self.dataset:get_batch(map)
  b.index = map
  return b
end

function Subset:__tostring()
  return fmt("Subset(%d of %d items of %s)", #self.indices, ds_len("Subset", self.dataset), tostring(self.dataset))
end

--- random_split(dataset, lengths, {seed=, generator=}) -> list of Subsets, as
--- torch.utils.data.random_split: lengths are item counts summing to #dataset, or
--- fractions summing to 1 (each subset gets floor(n * fraction) items, and the remaining
--- items go one each to the first subsets, in order). The items are a random permutation of
--- 1..#dataset drawn from lunet.Generator(seed), else generator, else the default generator
--- (lunet.manual_seed): the same seed gives the same split on every machine.
function M.random_split(ds, lengths, opts)
  local fn = "random_split"
  opts = E.options(opts, fn, { "seed", "generator" })
  local n = ds_len(fn, ds)
  if type(lengths) ~= "table" or core.is_tensor(lengths) or #lengths == 0 then
    fail(fn, "lengths must be a non-empty list of counts or fractions, got %s",
         type(lengths) == "table" and not core.is_tensor(lengths) and "an empty table" or E.typename(lengths))
  end
  local sum = 0
  for i = 1, #lengths do
    local v = lengths[i]
    if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
      fail(fn, "lengths[%d] must be a count or a fraction >= 0, got %s", i, E.show(v))
    end
    sum = sum + v
  end
  local counts = {}
  if math.abs(sum - 1) < 1e-9 then
    local used = 0
    for i = 1, #lengths do
      counts[i] = math.floor(n * lengths[i])
      used = used + counts[i]
    end
    for i = 0, n - used - 1 do
      local k = i % #lengths + 1
      counts[k] = counts[k] + 1
    end
  else
    local show = {}
    for i = 1, #lengths do
      local v = math.tointeger(lengths[i])
      if not v then
        fail(fn, "lengths[%d] = %s is neither a count (an integer) nor part of fractions summing to 1 " ..
                 "(they sum to %s)", i, E.show(lengths[i]), E.show(sum))
      end
      counts[i] = v
      show[i] = tostring(v)
    end
    if sum ~= n then
      fail(fn, "lengths {%s} sum to %s, the dataset has %d items (give counts summing to %d or fractions summing to 1)",
           concat(show, ", "), E.show(sum), n, n)
    end
  end
  local g = opts.generator
  if opts.seed ~= nil then
    g = require("lunet").Generator(E.integer(fn, "seed", opts.seed))
  elseif g ~= nil then
    local ok, rp = pcall(function() return g.randperm end)
    if not ok or type(rp) ~= "function" then
      fail(fn, "generator must be a lunet.Generator, got %s", E.typename(g))
    end
  end
  local perm = (g and g:randperm(n) or require("lunet").randperm(n)):totable()
  local out, at = {}, 0
  for i = 1, #counts do
    local idx = {}
    for k = 1, counts[i] do idx[k] = perm[at + k] end
    at = at + counts[i]
    out[i] = M.Subset(ds, idx)
  end
  return out
end

-- The method tables (for docs/gen_api.lua and for type checks: getmetatable(ds) == classes.Subset).
M.classes = { TensorDataset = TensorDataset, SegmentationFolder = SegmentationFolder, Subset = Subset }

return M
