-- lunet.image: PNG and JPEG files to tensors and back, palettes and overlays.
--
--   local image = require "lunet.image"
--   local img  = image.load("photo.jpg")                   -- uint8 3 x H x W
--   local mask = image.load("mask.png", {mode = "index"})  -- uint8 H x W class ids (255 stays)
--   image.save("pred.png", labels, {palette = "voc"})     -- palette PNG of class ids
--   image.save("vis.jpg", image.overlay(img, mask), {quality = 90})
--
-- Modes of load/decode (default "rgb"):
--   "rgb"       3 x H x W; gray is replicated, a palette is expanded, alpha is dropped
--   "gray"      1 x H x W; colour is converted with PIL's luma (299 R + 587 G + 114 B) / 1000
--   "rgba"      4 x H x W; alpha is 255 (65535 for 16-bit) where the file has none
--   "index"     H x W raw palette indices of a palette PNG, or raw gray values of a gray PNG
--               (VOC masks: class ids, 255 = void stays 255). RGB/RGBA PNGs and JPEGs are
--               refused unless opts.palette maps colours to ids.
--   "unchanged" the stored channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (palette expanded)
-- 16-bit PNGs load as int32 (0..65535), everything else as uint8. JPEGs go through
-- libjpeg-turbo, PNGs through libpng (1/2/4-bit, interlaced, tRNS handled).
--
-- Decompression bombs: a few hundred bytes of PNG or JPEG can claim a 65000 x 65000 image.
-- load and decode compare the size the header claims with a pixel limit before allocating
-- anything, and raise above it, naming the file, the claimed size and the limit. The
-- default is PIL's Image.MAX_IMAGE_PIXELS, 89,478,485 pixels (about 9500 x 9500; PIL warns
-- above it and raises above twice it, lunet raises above it). Change it for the process with
-- image.set_max_pixels(n) (returns the previous limit; nil or math.huge disables the check),
-- read it with image.get_max_pixels() (math.huge when disabled), or per call with the option
-- max_pixels = n (math.huge or false: no limit). JPEGs with more than 500 scans are refused too
-- (each scan is a pass over the whole image; real files have about ten).
--
-- Errors: a missing, unreadable, empty, truncated, corrupt or non-image file raises a Lua
-- error naming the function and the file ("image.load: cannot decode 'a.png': file is
-- truncated"); catch it with pcall if a script should skip bad files. Only regular files are
-- read: a directory, FIFO or device raises at once ("image.load: cannot open 'p': it is a FIFO
-- (named pipe), not a regular file") instead of blocking. Nothing leaks.
local core = require "lunet.core"
local E = require "lunet.errors"

local cimg = core.image
local type, ipairs, tostring, pcall = type, ipairs, tostring, pcall
local fmt = string.format
local io_open, os_remove, os_rename = io.open, os.remove, os.rename
local floor, huge, tointeger = math.floor, math.huge, math.tointeger

local M = {}

local lunet_mod
local function L()   -- lunet is loaded lazily: lunet/init.lua may require this module
  if not lunet_mod then lunet_mod = require "lunet" end
  return lunet_mod
end

local is_tensor = core.is_tensor

local function shape_str(t)
  return "[" .. table.concat(t:shape(), ", ") .. "]"
end

-- Re-raises an error of the C binding (already "fn: ...", no position) at the user's level.
local function reraise(msg)
  E.raise(tostring(msg))
end

--- Reads a whole regular file; raises "fn: cannot open 'path': reason".
local function read_file(fn, path)
  if type(path) ~= "string" then
    E.fail(fn, "path must be a string, got %s", E.typename(path))
  end
  local data, msg = cimg.read_file(path)
  if not data then E.fail(fn, "%s", msg) end
  return data
end

-- ---------------------------------------------------------------- pixel limit

M.DEFAULT_MAX_PIXELS = 89478485   -- PIL's Image.MAX_IMAGE_PIXELS
local max_pixels = M.DEFAULT_MAX_PIXELS

--- set_max_pixels(n) -> the previous limit. n: an integer >= 1, or nil / math.huge to disable
--- the decompression-bomb check. Applies to image.load and image.decode in this process.
function M.set_max_pixels(n)
  local old = max_pixels
  if n == nil or n == huge then
    max_pixels = huge
  else
    max_pixels = E.integer("image.set_max_pixels", "n", n, 1)
  end
  return old
end

--- get_max_pixels() -> the limit (math.huge when disabled).
function M.get_max_pixels() return max_pixels end

-- The limit of one call, as the C decoder takes it (-1: none).
local function limit_of(fn, opts)
  local n = opts.max_pixels
  if n == nil then n = max_pixels end
  if n == false or n == huge then return -1 end
  return E.integer(fn, "option max_pixels", n, 1)
end

-- ---------------------------------------------------------------- palettes

local function voc_colormap()
  local flat = {}
  for i = 0, 255 do
    local r, g, b, c = 0, 0, 0, i
    for j = 0, 7 do
      r = r | ((c & 1) << (7 - j))
      g = g | (((c >> 1) & 1) << (7 - j))
      b = b | (((c >> 2) & 1) << (7 - j))
      c = c >> 3
    end
    flat[#flat + 1] = r; flat[#flat + 1] = g; flat[#flat + 1] = b
  end
  return flat
end

--- palette("voc") -> uint8 256 x 3, the PASCAL VOC colormap (0 black, 1 (128, 0, 0), ...,
--- 255 (224, 224, 192) for void). palette({{r, g, b}, ...}) or palette(tensor K x 3) ->
--- uint8 K x 3 (1 <= K <= 256, values 0..255). Row i+1 is the colour of class id i.
function M.palette(spec)
  local fn = "image.palette"
  local lunet = L()
  if spec == "voc" then
    return lunet.tensor(voc_colormap(), {dtype = "uint8", shape = {256, 3}})
  elseif type(spec) == "table" then
    local n = #spec
    if n < 1 or n > 256 then
      E.fail(fn, "a palette has 1 to 256 colours, got %d", n)
    end
    local flat = {}
    for i, c in ipairs(spec) do
      if type(c) ~= "table" or #c ~= 3 then
        E.fail(fn, "colour %d must be {r, g, b}", i)
      end
      for k = 1, 3 do
        local v = c[k]
        if type(v) ~= "number" or v < 0 or v > 255 or v ~= floor(v) then
          E.fail(fn, "colour %d has component %s outside 0..255", i, E.show(v))
        end
        flat[#flat + 1] = v
      end
    end
    return lunet.tensor(flat, {dtype = "uint8", shape = {n, 3}})
  elseif is_tensor(spec) then
    if spec:dim() ~= 2 or spec:size(2) ~= 3 or spec:size(1) < 1 or spec:size(1) > 256 then
      E.fail(fn, "a palette tensor must be K x 3 with 1 <= K <= 256, got %s", shape_str(spec))
    end
    if spec:dtype() == "uint8" then return spec end
    local lo, hi = spec:min():item(), spec:max():item()
    if not (lo >= 0 and hi <= 255) then
      E.fail(fn, "palette values must be in 0..255, got %s..%s", E.show(lo), E.show(hi))
    end
    return spec:to("uint8")
  end
  E.fail(fn, "expected \"voc\", a list of {r, g, b} or a K x 3 tensor, got %s",
         type(spec) == "string" and fmt("%q", spec) or E.typename(spec))
end

local function as_palette(fn, p)
  if p == nil then return nil end
  local ok, res = pcall(M.palette, p)
  if not ok then E.raise((tostring(res):gsub("^.-image%.palette:", fn .. ": palette:"))) end
  return res
end

-- ---------------------------------------------------------------- decode / load

--- info(path) -> {format="png"|"jpeg", width, height, bit_depth, color, palette_size,
--- transparency, interlaced}; reads the whole file but decodes only the header (so it
--- reports a bomb's claimed size without applying the pixel limit).
function M.info(path)
  local data = read_file("image.info", path)
  local t, msg = cimg.info(data)
  if not t then E.fail("image.info", "cannot decode '%s': %s", path, msg) end
  return t
end

local load_opts = {"mode", "palette", "max_pixels"}
local modes = {"rgb", "gray", "rgba", "index", "unchanged"}

-- cimg.decode with the pixel limit's message completed by the way to change it.
local function decode_checked(fn, name, bytes, mode, limit)
  local t, msg, kind = cimg.decode(bytes, mode, limit)
  if not t and kind == "max_pixels" then
    E.fail(fn, "cannot decode %s: %s (a decompression bomb?); raise the limit with " ..
           "image.set_max_pixels(n) or the option max_pixels = n (math.huge: no limit)", name, msg)
  end
  return t, msg
end

-- "index" mode on an RGB(A) image with opts.palette: colour -> position in the palette.
local function colours_to_ids(fn, name, bytes, pal, limit)
  local lunet = L()
  local rgb, msg = decode_checked(fn, name, bytes, "rgb", limit)
  if not rgb then E.fail(fn, "cannot decode %s: %s", name, msg) end
  local _, h, w = rgb:size(1), rgb:size(2), rgb:size(3)
  local r, g, b = rgb:select(1, 1):to("int32"), rgb:select(1, 2):to("int32"), rgb:select(1, 3):to("int32")
  local key = (r * 65536 + g * 256 + b)
  local ids = lunet.full({h, w}, -1, {dtype = "int32"})
  local pt = pal:to("int32"):totable()
  for i = #pt, 1, -1 do   -- first palette entry wins for duplicated colours
    local c = pt[i]
    local k = c[1] * 65536 + c[2] * 256 + c[3]
    ids = lunet.where(key:eq(k), lunet.full({h, w}, i - 1, {dtype = "int32"}), ids)
  end
  local unknown = ids:lt(0)
  if unknown:sum():item() > 0 then
    local flat = unknown:view(-1):totable()
    for i, v in ipairs(flat) do
      if v ~= 0 then
        local y, x = (i - 1) // w + 1, (i - 1) % w + 1
        E.fail(fn, "%s has colour (%d, %d, %d) at (%d, %d) that is not in the palette", name,
               rgb:get(1, y, x), rgb:get(2, y, x), rgb:get(3, y, x), y, x)
      end
    end
  end
  return ids:to("uint8")
end

local function decode_impl(fn, bytes, opts, name)
  opts = E.options(opts, fn, load_opts)
  local mode = opts.mode or "rgb"
  E.choice(fn, "mode", mode, modes)
  local limit = limit_of(fn, opts)
  local pal = as_palette(fn, opts.palette)
  if pal and mode ~= "index" then
    E.fail(fn, "option palette is only used with mode \"index\"")
  end
  local t, msg = decode_checked(fn, name, bytes, mode, limit)
  if not t then
    if pal and msg:find("mode 'index' needs", 1, true) then
      return colours_to_ids(fn, name, bytes, pal, limit)
    end
    if msg:find("PNG, this is an RGB", 1, true) then
      msg = msg .. " (pass {palette=...} to map its colours to class ids)"
    end
    E.fail(fn, "cannot decode %s: %s", name, msg)
  end
  return t
end

--- load(path, {mode=, palette=, max_pixels=}) -> uint8 (or int32 for 16-bit) C x H x W, or
--- H x W for mode "index". With mode "index" and a palette (see image.palette), RGB(A) masks
--- are mapped colour -> class id (an unknown colour raises, naming its position).
--- max_pixels overrides the pixel limit for this call (see the top of this file).
function M.load(path, opts)
  local data = read_file("image.load", path)
  return decode_impl("image.load", data, opts, fmt("'%s'", path))
end

--- decode(bytes, opts): like load, on the contents of a file held in a Lua string.
function M.decode(bytes, opts)
  if type(bytes) ~= "string" then
    E.fail("image.decode", "bytes must be a string, got %s", E.typename(bytes))
  end
  return decode_impl("image.decode", bytes, opts, "the bytes")
end

-- ---------------------------------------------------------------- encode / save

M.DEFAULT_JPEG_QUALITY = 95
local formats = {"png", "jpeg", "jpg"}

-- format: "png" or "jpeg". opts already checked.
local function encode_impl(fn, t, opts, format)
  if not is_tensor(t) then E.fail(fn, "t must be a tensor, got %s", E.typename(t)) end
  local ok, res
  if format == "jpeg" then
    if opts.palette ~= nil then
      E.fail(fn, "option palette needs PNG: JPEG has no palette, and its lossy compression would change class ids")
    end
    local q = M.DEFAULT_JPEG_QUALITY
    if opts.quality ~= nil then q = E.integer(fn, "option quality", opts.quality, 1, 100) end
    local prog = opts.progressive
    if prog ~= nil and type(prog) ~= "boolean" then
      E.fail(fn, "option progressive must be true or false, got %s", E.show(prog))
    end
    ok, res = pcall(cimg.encode_jpeg, t, q, fn, prog)
  else
    for _, k in ipairs({"quality", "progressive"}) do
      if opts[k] ~= nil then E.fail(fn, "option %s only applies to JPEG (PNG is lossless)", k) end
    end
    local pal = as_palette(fn, opts.palette)
    if pal and t:dim() == 3 and t:size(1) == 1 then t = t:select(1, 1) end
    ok, res = pcall(cimg.encode_png, t, pal, fn)
  end
  if not ok then reraise(res) end
  return res
end

--- encode(t, {format = "png"|"jpeg", palette=, quality=, progressive=}) -> the file contents
--- as a string (see save; format defaults to "png", "jpg" is accepted for "jpeg").
function M.encode(t, opts)
  local fn = "image.encode"
  opts = E.options(opts, fn, {"format", "palette", "quality", "progressive"})
  local format = opts.format or "png"
  E.choice(fn, "format", format, formats)
  return encode_impl(fn, t, opts, format == "jpg" and "jpeg" or format)
end

-- The format a path's extension names: "png" or "jpeg" (case-insensitive).
local function format_of(fn, path)
  local ext = path:match("%.([^%./\\]*)$")
  local e = ext and ext:lower()
  if e == "png" then return "png" end
  if e == "jpg" or e == "jpeg" then return "jpeg" end
  if not ext then
    E.fail(fn, "cannot tell the format of '%s': it has no extension (supported: .png, .jpg, .jpeg)", path)
  end
  E.fail(fn, "cannot tell the format of '%s' from its extension '.%s' (supported: .png, .jpg, .jpeg)", path, ext)
end

--- save(path, t, {palette=, quality=, progressive=}) writes the format the extension names
--- (any case):
---   .png          t uint8 1 x H x W or H x W (gray), 2 x H x W (gray+alpha), 3 x H x W (RGB),
---                 4 x H x W (RGBA); int32 values 0..65535 give a 16-bit PNG. With palette
---                 ("voc", a list of colours or a K x 3 tensor) t holds class ids (H x W or
---                 1 x H x W, uint8 or int32 < K) and an 8-bit palette PNG is written, which
---                 load(path, {mode="index"}) reads back as the same ids.
---   .jpg, .jpeg   t uint8 1 x H x W or H x W (gray) or 3 x H x W (RGB), through libjpeg-turbo
---                 with 4:2:0 chroma; quality 1..100, default 95 (OpenCV's default; PIL's is
---                 75); progressive = true writes a progressive JPEG (PIL's option of that
---                 name). JPEG is lossy: never store masks in it (palette raises).
--- Any other extension raises. The file is written to a temporary name and renamed, so a
--- failed save leaves no partial file.
function M.save(path, t, opts)
  local fn = "image.save"
  if type(path) ~= "string" then
    E.fail(fn, "path must be a string, got %s", E.typename(path))
  end
  opts = E.options(opts, fn, {"palette", "quality", "progressive"})
  local bytes = encode_impl(fn, t, opts, format_of(fn, path))
  local tmp = path .. ".tmp"
  local f, msg = io_open(tmp, "wb")
  if not f then
    E.fail(fn, "cannot write '%s': %s", path, (tostring(msg):gsub("^.-: ([^:]+)$", "%1")))
  end
  local ok, wmsg = f:write(bytes)
  local cok, cmsg = f:close()
  if not ok or not cok then
    os_remove(tmp)
    E.fail(fn, "cannot write '%s': %s", path, tostring(wmsg or cmsg))
  end
  local rok, rmsg = os_rename(tmp, path)
  if not rok then
    os_remove(tmp)
    E.fail(fn, "cannot write '%s': %s", path, tostring(rmsg))
  end
  return path
end

-- ---------------------------------------------------------------- conversions

--- to_float(t) -> float32 in [0, 1]: uint8 / 255, int32 (16-bit) / 65535; float32 as is.
function M.to_float(t)
  if not is_tensor(t) then E.fail("image.to_float", "t must be a tensor, got %s", E.typename(t)) end
  local dt = t:dtype()
  if dt == "float32" then return t end
  return t:to("float32"):div(dt == "uint8" and 255 or 65535)
end

--- from_float(t) -> uint8: float values in [0, 1] scaled by 255, rounded, clamped.
function M.from_float(t)
  local fn = "image.from_float"
  if not is_tensor(t) then E.fail(fn, "t must be a tensor, got %s", E.typename(t)) end
  local dt = t:dtype()
  if dt == "uint8" then return t end
  if dt ~= "float32" then
    E.fail(fn, "t must be float32 (values in [0, 1]), got %s", dt)
  end
  return t:mul(255):add(0.5):clamp(0, 255):to("uint8")   -- to() truncates: rounds here
end

-- ---------------------------------------------------------------- overlay

local overlay_opts = {"alpha", "palette", "background"}

--- overlay(img, mask, {alpha=0.5, palette="voc", background=0}) -> uint8 3 x H x W.
--- Blends palette colours over img: out = (1 - alpha) img + alpha colour[mask] on every
--- pixel whose class id is not `background` (background=false colours every pixel).
--- img: uint8 3 x H x W, 1 x H x W (gray), 4 x H x W (alpha ignored) or H x W; float32
--- images are taken as [0, 1]. mask: H x W (or 1 x H x W) class ids, int32 or uint8, each
--- < #palette (the VOC palette also colours 255 void as (224, 224, 192)).
function M.overlay(img, mask, opts)
  local fn = "image.overlay"
  opts = E.options(opts, fn, overlay_opts)
  if not is_tensor(img) then E.fail(fn, "img must be a tensor, got %s", E.typename(img)) end
  if not is_tensor(mask) then E.fail(fn, "mask must be a tensor, got %s", E.typename(mask)) end
  if img:dtype() == "float32" then img = M.from_float(img) end
  if img:dtype() ~= "uint8" then
    E.fail(fn, "img must be uint8 or float32, got %s", img:dtype())
  end
  if img:dim() == 2 then img = img:unsqueeze(1) end
  if img:dim() == 3 and img:size(1) == 4 then img = img:narrow(1, 1, 3) end
  if mask:dim() == 3 and mask:size(1) == 1 then mask = mask:select(1, 1) end
  local alpha = opts.alpha
  if alpha == nil then alpha = 0.5 end
  if type(alpha) ~= "number" then E.fail(fn, "alpha must be a number, got %s", E.typename(alpha)) end
  local bg = opts.background
  if bg == nil then bg = 0 elseif bg == false then bg = -1 end
  if not (type(bg) == "number" and tointeger(bg)) then
    E.fail(fn, "background must be a class id or false, got %s", E.show(bg))
  end
  local pal = as_palette(fn, opts.palette or "voc")
  local ok, res = pcall(cimg.overlay, img, mask, pal, alpha, bg)
  if not ok then reraise(res) end
  return res
end

-- ---------------------------------------------------------------- NIfTI volumes

local XYZ_UNITS = {[0] = "unknown", [1] = "meter", [2] = "mm", [3] = "micron"}
local TIME_UNITS = {[0] = "unknown", [8] = "sec", [16] = "msec", [24] = "usec", [32] = "hz",
                    [40] = "ppm", [48] = "rads"}
local function code_of(names, name)
  for k, v in pairs(names) do if v == name then return k end end
end

local function mat_copy(m)
  local r = {}
  for i = 1, 4 do r[i] = {m[i][1], m[i][2], m[i][3], m[i][4]} end
  return r
end

-- nibabel's base affine (AnalyzeHeader.get_base_affine): x flipped, origin at the centre.
local function base_affine(dim, pixdim)
  local a = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}
  for i = 1, 3 do
    local n = dim[i] or 1
    local z = dim[i] and pixdim[i + 1] or 1
    if i == 1 then z = -z end
    a[i][i] = z
    a[i][4] = -((n - 1) / 2) * z
  end
  return a
end

--- load_nifti(path, {max_voxels}) -> tensor, header: a NIfTI-1 volume (.nii or .nii.gz, plain
--- or gzip detected from the bytes) read through the NIfTI C library (niftiio/znzlib).
--- The tensor is D x H x W (1- to 3-D files) or C x D x H x W (4-D files: C = nt; 5-D with
--- nt = 1: C = nu) in the file's voxel order, fastest axis last: element [k+1][j+1][i+1] is
--- NIfTI voxel (i, j, k), i.e. nibabel's get_fdata() transposed (W = dim[1] = i, H = dim[2],
--- D = dim[3]). dtype: uint8 files load as uint8, int8/int16/uint16/int32 as int32,
--- float32/float64 as float32; files with scl_slope (finite, nonzero; not 1 with intercept
--- 0) load as float32 slope * stored + inter, as nibabel's get_fdata. header: spacing =
--- {sd, sh, sw} (pixdim[3], pixdim[2], pixdim[1]), affine (4 x 4 rows mapping 0-based (i, j, k,
--- 1) to world, nibabel's choice: sform if sform_code > 0, else qform if qform_code > 0, else
--- nibabel's base affine), qform, sform (4 x 4), qform_code, sform_code, dtype (stored:
--- "uint8", "int16", ...), scl_slope, scl_inter (nil when unscaled), dim, pixdim (8 numbers,
--- pixdim[1] is qfac), quatern, qoffset, qfac, xyz_units ("mm", "meter", "micron",
--- "unknown"), time_units, time_step (pixdim[5]), descrip, intent_code, cal_min, cal_max,
--- vox_offset, gzip, byteorder ("little"/"big"). max_voxels (default image.get_max_pixels())
--- refuses headers claiming more voxels before anything is allocated. Missing, truncated,
--- corrupt, NIfTI-2, ANALYZE and .hdr/.img files raise "image.load_nifti: ..." naming the file.
function M.load_nifti(path, opts)
  local fn = "image.load_nifti"
  if type(path) ~= "string" then
    E.fail(fn, "path must be a string, got %s", E.typename(path))
  end
  opts = E.options(opts, fn, {"max_voxels"})
  local n = opts.max_voxels
  if n == nil then n = max_pixels end
  local limit = (n == false or n == huge) and -1 or E.integer(fn, "option max_voxels", n, 1)
  local t, h = core.nifti.read(path, limit)
  if not t then E.fail(fn, "%s", h) end
  local pd = h.pixdim
  local header = {
    spacing = {pd[4], pd[3], pd[2]},
    qform = h.qform, sform = h.sform, qform_code = h.qform_code, sform_code = h.sform_code,
    dtype = h.dtype, dim = h.dim, pixdim = pd, quatern = h.quatern, qoffset = h.qoffset,
    qfac = h.qfac, xyz_units = XYZ_UNITS[h.xyz_units] or "unknown",
    time_units = TIME_UNITS[h.time_units] or "unknown", time_step = pd[5],
    descrip = h.descrip, intent_code = h.intent_code, intent_name = h.intent_name,
    cal_min = h.cal_min, cal_max = h.cal_max, vox_offset = h.vox_offset, gzip = h.gzip,
    byteorder = (h.swapped == (string.pack("=i2", 1) == "\1\0")) and "big" or "little",
  }
  if h.scaled then header.scl_slope, header.scl_inter = h.scl_slope, h.scl_inter end
  if h.sform_code > 0 then header.affine = mat_copy(h.sform)
  elseif h.qform_code > 0 then header.affine = mat_copy(h.qform)
  else header.affine = base_affine(h.dim, pd) end
  return t, header
end

local function check_mat(fn, what, m)
  if type(m) ~= "table" or #m ~= 4 then
    E.fail(fn, "header.%s must be a 4 x 4 table of numbers, got %s", what, E.show(m))
  end
  for i = 1, 4 do
    local row = m[i]
    if type(row) ~= "table" or #row ~= 4 then
      E.fail(fn, "header.%s must be a 4 x 4 table of numbers, row %d is %s", what, i, E.show(row))
    end
    for j = 1, 4 do
      local v = row[j]
      if type(v) ~= "number" or v ~= v or v == huge or v == -huge then
        E.fail(fn, "header.%s[%d][%d] must be a finite number, got %s", what, i, j, E.show(v))
      end
    end
  end
  return m
end

local nifti_header_keys = {"spacing", "affine", "qform", "sform", "qform_code", "sform_code",
  "dtype", "scl_slope", "scl_inter", "xyz_units", "time_units", "time_step", "descrip",
  "intent_code", "intent_name", "cal_min", "cal_max", "dim", "pixdim", "quatern", "qoffset",
  "qfac", "vox_offset", "gzip", "byteorder"}

--- save_nifti(path, t, header) -> path: writes t as a NIfTI-1 file through the NIfTI C library,
--- gzipped when path ends in .nii.gz (.nii: plain; other names raise). t: D x H x W (or H x W,
--- or C x D x H x W written as a 4-D file with nt = C), the inverse of load_nifti's axis order.
--- header (all optional; load_nifti's table is accepted as is, its read-only fields are
--- ignored): spacing = {sd, sh, sw} (default: the column norms of affine, else 1), affine
--- (4 x 4; default diag(sw, sh, sd, 1)), qform / sform (default: affine), qform_code (default
--- 0), sform_code (default 2 "aligned" when an affine is given, else 0) - nibabel's defaults
--- for Nifti1Image(data, affine); dtype of the file ("uint8", "int8", "int16", "uint16",
--- "int32", "float32", "float64"; default t's dtype), scl_slope / scl_inter (stored values are
--- (v - inter) / slope), xyz_units ("mm", ...), time_units, time_step, descrip (up to 79
--- bytes), intent_code, cal_min, cal_max. Values that do not fit an integer dtype (not
--- integral or out of range) raise, naming the value. Written to a temporary name and
--- renamed: a failed save leaves no partial file.
function M.save_nifti(path, t, header)
  local fn = "image.save_nifti"
  if type(path) ~= "string" then
    E.fail(fn, "path must be a string, got %s", E.typename(path))
  end
  local gz
  if path:match("%.nii%.gz$") then gz = true
  elseif path:match("%.nii$") then gz = false
  else E.fail(fn, "path must end in .nii or .nii.gz, got '%s'", path) end
  if not is_tensor(t) then E.fail(fn, "t must be a tensor, got %s", E.typename(t)) end
  if t:dim() < 2 or t:dim() > 4 then
    E.fail(fn, "t must be D x H x W, H x W or C x D x H x W, got %s", shape_str(t))
  end
  if t:numel() == 0 then E.fail(fn, "cannot save an empty volume %s", shape_str(t)) end
  header = E.options(header, fn, nifti_header_keys)
  local affine = header.affine and check_mat(fn, "affine", header.affine)
  local qform = header.qform and check_mat(fn, "qform", header.qform) or affine
  local sform = header.sform and check_mat(fn, "sform", header.sform) or affine
  local spacing = header.spacing
  if spacing ~= nil then
    if type(spacing) ~= "table" or #spacing ~= 3 then
      E.fail(fn, "header.spacing must be {sd, sh, sw}, got %s", type(spacing) == "table" and ("a table of " .. #spacing .. " values") or E.show(spacing))
    end
    for i = 1, 3 do
      E.number(fn, "header.spacing[" .. i .. "]", spacing[i], 0, huge)
      if not (spacing[i] > 0 and spacing[i] < huge) then
        E.fail(fn, "header.spacing[%d] must be finite and > 0, got %s", i, E.show(spacing[i]))
      end
    end
  else
    local m = qform or sform
    if m then
      local s = {}
      for c = 1, 3 do s[4 - c] = math.sqrt(m[1][c] ^ 2 + m[2][c] ^ 2 + m[3][c] ^ 2) end
      spacing = s
    else
      spacing = {1, 1, 1}
    end
  end
  local qcode = header.qform_code ~= nil and E.integer(fn, "header.qform_code", header.qform_code, 0, 4) or 0
  local scode = header.sform_code ~= nil and E.integer(fn, "header.sform_code", header.sform_code, 0, 4)
    or ((header.affine or header.sform) and 2 or 0)
  if qcode > 0 and not qform then E.fail(fn, "header.qform_code is %d but no qform or affine is given", qcode) end
  if scode > 0 and not sform then E.fail(fn, "header.sform_code is %d but no sform or affine is given", scode) end
  if qcode > 0 then   -- the qform's scaling is pixdim: they must agree
    for c = 1, 3 do
      local norm = math.sqrt(qform[1][c] ^ 2 + qform[2][c] ^ 2 + qform[3][c] ^ 2)
      local sp = spacing[4 - c]
      if math.abs(norm - sp) > 1e-5 * math.max(1, sp) then
        E.fail(fn, "header.spacing {%s, %s, %s} does not match the qform's column norms (column %d has %s)",
          E.show(spacing[1]), E.show(spacing[2]), E.show(spacing[3]), c, E.show(norm))
      end
    end
  end
  local dtype = header.dtype or ({uint8 = "uint8", int32 = "int32", float32 = "float32"})[t:dtype()]
  E.choice(fn, "header.dtype", dtype, {"uint8", "int8", "int16", "uint16", "int32", "float32", "float64"})
  local slope, inter = header.scl_slope, header.scl_inter
  if slope ~= nil or inter ~= nil then
    slope = slope == nil and 1 or slope
    inter = inter == nil and 0 or inter
    E.number(fn, "header.scl_slope", slope, -huge, huge)
    E.number(fn, "header.scl_inter", inter, -huge, huge)
    if slope == 0 or slope == huge or slope == -huge or inter == huge or inter == -huge then
      E.fail(fn, "header.scl_slope must be finite and nonzero and scl_inter finite, got %s and %s",
        E.show(slope), E.show(inter))
    end
  end
  local xu = header.xyz_units or "unknown"
  local xcode = code_of(XYZ_UNITS, xu)
  if not xcode then E.fail(fn, "header.xyz_units must be \"mm\", \"meter\", \"micron\" or \"unknown\", got %s", E.show(xu)) end
  local tu = header.time_units or "unknown"
  local tcode = code_of(TIME_UNITS, tu)
  if not tcode then E.fail(fn, "header.time_units must be one of sec, msec, usec, hz, ppm, rads, unknown, got %s", E.show(tu)) end
  local descrip = header.descrip or ""
  if type(descrip) ~= "string" or #descrip > 79 then
    E.fail(fn, "header.descrip must be a string of at most 79 bytes, got %s", E.show(descrip))
  end
  local step = header.time_step or 1
  E.number(fn, "header.time_step", step, 0, huge)
  if step == huge then E.fail(fn, "header.time_step must be finite, got inf") end
  for _, k in ipairs {"cal_min", "cal_max"} do
    local c = header[k]
    if c ~= nil and (type(c) ~= "number" or c ~= c or c == huge or c == -huge) then
      E.fail(fn, "header.%s must be a finite number, got %s", k, E.show(c))
    end
  end
  local qfac = 1
  if qform then   -- the sign of the determinant decides qfac (the library does the rest)
    local m = qform
    local det = m[1][1] * (m[2][2] * m[3][3] - m[2][3] * m[3][2])
      - m[1][2] * (m[2][1] * m[3][3] - m[2][3] * m[3][1]) + m[1][3] * (m[2][1] * m[3][2] - m[2][2] * m[3][1])
    if det < 0 then qfac = -1 end
  end
  local fields = {
    datatype = dtype, gzip = gz,
    pixdim = {qfac, spacing[3], spacing[2], spacing[1], step, 1, 1, 1},
    qform = qform, sform = sform, qform_code = qcode, sform_code = scode,
    scl_slope = slope, scl_inter = inter, xyz_units = xcode, time_units = tcode,
    descrip = descrip, intent_code = header.intent_code and E.integer(fn, "header.intent_code", header.intent_code, 0, 32767),
    cal_min = header.cal_min, cal_max = header.cal_max,
  }
  local tmp = path:gsub("(%.nii[%.gz]*)$", ".tmp%1")
  local pok, ok, msg = pcall(core.nifti.write, tmp, t, fields)
  if not pok then   -- a value that does not fit the dtype: raised by the binding, without a position
    os_remove(tmp)
    E.raise(tostring(ok))
  end
  if not ok then
    os_remove(tmp)
    local a, b = msg:find(tmp, 1, true)   -- name the user's path, not the temporary one
    if a then msg = msg:sub(1, a - 1) .. path .. msg:sub(b + 1) end
    E.fail(fn, "%s", msg)
  end
  local rok, rmsg = os_rename(tmp, path)
  if not rok then
    os_remove(tmp)
    E.fail(fn, "cannot write '%s': %s", path, tostring(rmsg))
  end
  return path
end

return M
