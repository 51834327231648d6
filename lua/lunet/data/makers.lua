-- lunet.data dataset makers on real data shipped by Debian packages (no network). Each
-- maker installs nothing: when its files are missing it raises an error naming the exact
-- package to install (and accepts {root=} to point elsewhere).
local core = require "lunet.core"
local E = require "lunet.errors"
local image = require "lunet.image"
local dataset = require "lunet.data.dataset"

local cimg = core.image
local type, ipairs, tostring, getmetatable = type, ipairs, tostring, getmetatable
local fail = E.fail   -- errors at the user's line
local floor, min, max = math.floor, math.min, math.max
local fmt = string.format
local io_open, getenv = io.open, os.getenv

local M = {}

local lunet_mod
local function L()
  if not lunet_mod then lunet_mod = require "lunet" end
  return lunet_mod
end

local function exists(path)
  local f = io_open(path, "rb")
  if f then f:close() return true end
  return false
end

local function check_int(fn, name, v, lo, hi)
  return E.integer(fn, name, v, lo, hi)
end

local function check_transform(fn, tf)
  local mt = (type(tf) == "table" or type(tf) == "userdata") and getmetatable(tf)
  if tf ~= nil and type(tf) ~= "function" and not (type(mt) == "table" and mt.__call) then
    fail(fn, "transform must be callable, got %s", E.typename(tf))
  end
end

local function check_root(fn, root)
  if root ~= nil and type(root) ~= "string" then fail(fn, "root must be a directory path, got %s", E.show(root)) end
end

-- ---------------------------------------------------------------- Fashion-MNIST

M.FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
M.FASHION_MNIST_CLASSES = {"background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

--- fashion_mnist{split="train"|"test", threshold=10, limit=, root=, transform=}
--- Fashion-MNIST (Debian dataset-fashion-mnist, gzip IDX files read with zlib) as an
--- 11-class segmentation task: image uint8 N x 1 x 28 x 28, mask int32 N x 28 x 28 =
--- (pixel > threshold) * (item class + 1), so 0 is background and 1..10 are the ten
--- clothing classes (ds.classes). The whole split is held as tensors (TensorDataset);
--- ds.labels holds the int32 item classes 0..9. limit keeps the first `limit` items.
function M.fashion_mnist(opts)
  local fn = "data.fashion_mnist"
  opts = E.options(opts, fn, {"split", "threshold", "limit", "root", "transform"})
  local split = opts.split or "train"
  E.choice(fn, "split", split, {"train", "test"})
  local threshold = E.number(fn, "threshold", opts.threshold or 10, 0, 255)
  check_root(fn, opts.root)
  check_transform(fn, opts.transform)
  local root = opts.root or M.FASHION_MNIST_ROOT
  local prefix = split == "train" and "train" or "t10k"
  local ipath = fmt("%s/%s-images-idx3-ubyte.gz", root, prefix)
  local lpath = fmt("%s/%s-labels-idx1-ubyte.gz", root, prefix)
  for _, p in ipairs({ipath, lpath}) do
    if not exists(p) then
      fail(fn, "'%s' not found; install the Debian package dataset-fashion-mnist " ..
               "(apt-get install dataset-fashion-mnist) or pass {root=dir} holding the IDX .gz files", p)
    end
  end
  local images, msg = cimg.read_idx(ipath)
  if not images then fail(fn, "%s", msg) end
  local labels, lmsg = cimg.read_idx(lpath)
  if not labels then fail(fn, "%s", lmsg) end
  if images:dim() ~= 3 or labels:dim() ~= 1 or images:size(1) ~= labels:size(1) then
    fail(fn, "unexpected IDX shapes: images [%s], labels [%s]",
         table.concat(images:shape(), ", "), table.concat(labels:shape(), ", "))
  end
  local n = images:size(1)
  if opts.limit ~= nil then
    n = min(n, check_int(fn, "limit", opts.limit, 1))
    images = images:narrow(1, 1, n):contiguous()
    labels = labels:narrow(1, 1, n):contiguous()
  end
  labels = labels:to("int32")
  local h, w = images:size(2), images:size(3)
  local mask = cimg.label_masks(images, labels, threshold)   -- (pixel > threshold) * (label + 1)
  local ds = dataset.TensorDataset{image = images:view(n, 1, h, w), mask = mask, transform = opts.transform}
  ds.labels = labels
  ds.classes = M.FASHION_MNIST_CLASSES
  ds.num_classes = 11
  ds.name = "fashion_mnist/" .. split
  return ds
end

-- ---------------------------------------------------------------- Tux Paint cut-outs

M.TUXPAINT_ROOT = "/usr/share/tuxpaint/stamps"
-- tuxpaint{} holds n * size^2 pixels in memory (7 bytes each): at most 2^30 (7.5 GB).
M.TUXPAINT_MAX_PIXELS = 1 << 30

--- tuxpaint{n=256, size=128, seed=0, scale={0.35, 0.9}, root=, transform=}
--- A foreground/background task on real photographs: each of the n size x size images is
--- a procedural texture (smooth noise, stripes, checkerboard or gradient, with pixel
--- noise) with one photo cut-out from Debian tuxpaint-stamps-default pasted at a random
--- position, randomly mirrored, its longer side scaled to scale[1]..scale[2] of size. The
--- stamps come from a fixed sorted list of photographic RGBA stamps
--- (lunet.data.tuxpaint_stamps); mask = 1 where the resampled alpha > 127, else 0.
--- Everything is drawn from lunet.Generator(seed): the same seed gives the same data.
--- Returns a TensorDataset (image uint8 n x 3 x size x size, mask int32 n x size x size)
--- with ds.stamps[i] the stamp of item i and ds.classes = {"background", "foreground"}.
function M.tuxpaint(opts)
  local fn = "data.tuxpaint"
  opts = E.options(opts, fn, {"n", "size", "seed", "scale", "root", "transform"})
  local lunet = L()
  local n = check_int(fn, "n", opts.n or 256, 1)
  local size = check_int(fn, "size", opts.size or 128, 8, 4096)
  -- images (3 bytes) and masks (4 bytes) per pixel, all held in memory
  if n > M.TUXPAINT_MAX_PIXELS // (size * size) then
    fail(fn, "n = %d images of %dx%d would take %.1f GB (at most %d pixels in all, %.1f GB)", n, size, size,
         n * size * size * 7 / 1e9, M.TUXPAINT_MAX_PIXELS, M.TUXPAINT_MAX_PIXELS * 7 / 1e9)
  end
  local seed = check_int(fn, "seed", opts.seed or 0, 0)
  local scale = opts.scale or {0.35, 0.9}
  if type(scale) ~= "table" or type(scale[1]) ~= "number" or type(scale[2]) ~= "number" or
     not (scale[1] > 0 and scale[2] >= scale[1] and scale[2] <= 1) then
    fail(fn, "scale must be {lo, hi} with 0 < lo <= hi <= 1, got %s", E.show(scale))
  end
  check_root(fn, opts.root)
  check_transform(fn, opts.transform)
  local root = opts.root or M.TUXPAINT_ROOT
  local list = require "lunet.data.tuxpaint_stamps"
  local avail = {}
  for _, rel in ipairs(list) do
    if exists(root .. "/" .. rel) then avail[#avail + 1] = rel end
  end
  if #avail == 0 then
    fail(fn, "no stamp of the list found under '%s'; install the Debian package " ..
             "tuxpaint-stamps-default (apt-get install tuxpaint-stamps-default) or pass {root=dir}", root)
  end
  local g = lunet.Generator(seed)
  local images = lunet.zeros({n, 3, size, size}, {dtype = "uint8"})
  local masks = lunet.zeros({n, size, size}, {dtype = "int32"})
  local cache, stamps = {}, {}
  for i = 1, n do
    local u = g:rand(7):totable()
    local img, mask = images:select(1, i), masks:select(1, i)
    cimg.texture(img, min(3, floor(u[1] * 4)), {generator = g})
    local k = min(#avail, floor(u[2] * #avail) + 1)
    local st = cache[k]
    if not st then
      st = image.load(root .. "/" .. avail[k], {mode = "rgba"})
      cache[k] = st
    end
    if u[3] < 0.5 then st = st:flip(3) end
    local sh, sw = st:size(2), st:size(3)
    local long = max(2, floor(size * (scale[1] + (scale[2] - scale[1]) * u[4]) + 0.5))
    local dh, dw
    if sh >= sw then dh, dw = long, max(1, floor(long * sw / sh + 0.5))
    else dw, dh = long, max(1, floor(long * sh / sw + 0.5)) end
    local y0 = floor(u[5] * (size - dh + 1))
    local x0 = floor(u[6] * (size - dw + 1))
    cimg.composite(img, mask, st, y0, x0, dh, dw, 1)
    stamps[i] = avail[k]
  end
  local ds = dataset.TensorDataset{image = images, mask = masks, transform = opts.transform}
  ds.stamps = stamps
  ds.classes = {"background", "foreground"}
  ds.num_classes = 2
  ds.name = "tuxpaint"
  return ds
end

-- ---------------------------------------------------------------- labelme VOC examples

M.LABELME_VOC_DIR = "/usr/share/doc/labelme-examples/examples/semantic_segmentation/data_dataset_voc"

local function cache_base()
  local xdg = getenv("XDG_CACHE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/lunet/labelme-examples" end
  return (getenv("HOME") or "/tmp") .. "/.cache/lunet/labelme-examples"
end

--- labelme_voc{root=, transform=, image_mode="rgb"} -> SegmentationFolder over the VOC-format
--- semantic-segmentation examples of Debian labelme-examples: JPEGImages/*.jpg with
--- SegmentationClassPNG/*.png palette masks (class ids 0..20, 255 = void). ds.classes holds
--- the 21 names of class_names.txt, ds.num_classes = 21, ds.ignore_index = 255.
--- Looked up in opts.root, then /usr/share/doc/labelme-examples/..., then the cache
--- ~/.cache/lunet/labelme-examples/usr/share/doc/... (for systems whose dpkg excludes
--- /usr/share/doc: extract the package there with apt-get download + dpkg -x).
function M.labelme_voc(opts)
  local fn = "data.labelme_voc"
  opts = E.options(opts, fn, {"root", "transform", "image_mode"})
  check_root(fn, opts.root)
  check_transform(fn, opts.transform)
  if opts.image_mode ~= nil then E.choice(fn, "image_mode", opts.image_mode, dataset.IMAGE_MODES) end
  local cands = opts.root and {opts.root} or {M.LABELME_VOC_DIR, cache_base() .. M.LABELME_VOC_DIR}
  local root
  for _, c in ipairs(cands) do
    if cimg.listdir(c .. "/JPEGImages") and cimg.listdir(c .. "/SegmentationClassPNG") then
      root = c
      break
    end
  end
  if not root then
    if opts.root then
      fail(fn, "'%s' has no JPEGImages/ and SegmentationClassPNG/ directories", opts.root)
    end
    fail(fn, "the VOC examples were not found in '%s' nor in '%s'; install the Debian package " ..
             "labelme-examples (apt-get install labelme-examples). If it is installed but dpkg " ..
             "excludes /usr/share/doc (path-exclude, as in Docker images), extract it into the cache: " ..
             "apt-get download labelme-examples && dpkg -x labelme-examples_*.deb '%s'",
             cands[1], cands[2], cache_base())
  end
  local ds = dataset.SegmentationFolder{images = root .. "/JPEGImages", masks = root .. "/SegmentationClassPNG",
                                        transform = opts.transform, image_mode = opts.image_mode,
                                        mask_mode = "index"}
  local classes = {}
  local f = io_open(root .. "/class_names.txt", "r")
  if f then
    for line in f:lines() do
      if line ~= "" then classes[#classes + 1] = line end
    end
    f:close()
  end
  ds.classes = classes
  ds.num_classes = #classes > 0 and #classes or 21
  ds.ignore_index = 255
  ds.root = root
  ds.name = "labelme_voc"
  return ds
end

return M
