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

function TensorDataset:len()
  need_self(self, TensorDataset, "len")
  return self.n
end
TensorDataset.__len = TensorDataset.len

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
                     mask_mode = true, mask_palette = true, mask_suffix = true, strict = true}

--- SegmentationFolder{images=dir, masks=dir, transform=, image_mode="rgb",
--- mask_mode="index", mask_palette=, mask_suffix="", strict=true}
--- Pairs image files (PNG or JPEG) with mask files (PNG or JPEG, normally PNG) by name:
--- images/x.jpg goes with masks/x<mask_suffix>.png. Names are sorted, so item order is
--- fixed. Unpaired files raise one error listing them by name (strict=false skips them
--- and lists them in ds.unpaired instead). Image and mask sizes are compared when an
--- item is loaded (the error names both files); ds:check() compares all of them at once.
--- Items: {image=uint8 C x H x W, mask=uint8 H x W (int32 for 16-bit), name=stem, index=i}.
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
  local imgs = list_images(fn, opts.images, "images")
  local masks = list_images(fn, opts.masks, "masks")
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

return M
