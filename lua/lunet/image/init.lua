-- lunet.image: PNG and JPEG files to tensors and back, palettes and overlays.
--
--   local image = require "lunet.image"
--   local img  = image.load("photo.jpg")                   -- uint8 3 x H x W
--   local mask = image.load("mask.png", {mode = "index"})  -- uint8 H x W class ids (255 stays)
--   image.save("pred.png", labels, {palette = "voc"})     -- palette PNG of class ids
--   image.save("vis.png", image.overlay(img, mask))
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
-- Errors: a missing, unreadable, empty, truncated, corrupt or non-image file raises a Lua
-- error naming the function and the file ("image.load: cannot decode 'a.png': file is
-- truncated"); catch it with pcall if a script should skip bad files. Nothing leaks.
local core = require "lunet.core"

local cimg = core.image
local type, error, pairs, ipairs, tostring = type, error, pairs, ipairs, tostring
local fmt = string.format
local io_open, os_remove, os_rename = io.open, os.remove, os.rename
local floor = math.floor

local M = {}

local lunet_mod
local function L()   -- lunet is loaded lazily: lunet/init.lua may require this module
  if not lunet_mod then lunet_mod = require "lunet" end
  return lunet_mod
end

local is_tensor = core.is_tensor

-- level: error level of the public function's caller, counted from here
local function check_opts(fn, opts, allowed, level)
  level = level or 3
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(fmt("%s: options must be a table, got %s", fn, type(opts)), level)
  end
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for a in pairs(allowed) do names[#names + 1] = a end
      table.sort(names)
      error(fmt("%s: unknown option '%s' (allowed: %s)", fn, tostring(k), table.concat(names, ", ")), level)
    end
  end
  return opts
end

local function shape_str(t)
  return "[" .. table.concat(t:shape(), ", ") .. "]"
end

--- Reads a whole file; raises "fn: cannot open 'path': reason".
local function read_file(fn, path)
  if type(path) ~= "string" then
    error(fmt("%s: path must be a string, got %s", fn, type(path)), 3)
  end
  local f, msg = io_open(path, "rb")
  if not f then
    msg = tostring(msg):gsub("^.-: ([^:]+)$", "%1")
    error(fmt("%s: cannot open '%s': %s", fn, path, msg), 3)
  end
  local data, rmsg = f:read("a")
  f:close()
  if not data then
    error(fmt("%s: cannot read '%s': %s", fn, path, tostring(rmsg):gsub("^.-: ([^:]+)$", "%1")), 3)
  end
  return data
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
  local lunet = L()
  if spec == "voc" then
    return lunet.tensor(voc_colormap(), {dtype = "uint8", shape = {256, 3}})
  elseif type(spec) == "table" then
    local n = #spec
    if n < 1 or n > 256 then
      error(fmt("image.palette: a palette has 1 to 256 colours, got %d", n), 2)
    end
    local flat = {}
    for i, c in ipairs(spec) do
      if type(c) ~= "table" or #c ~= 3 then
        error(fmt("image.palette: colour %d must be {r, g, b}", i), 2)
      end
      for k = 1, 3 do
        local v = c[k]
        if type(v) ~= "number" or v < 0 or v > 255 or v ~= floor(v) then
          error(fmt("image.palette: colour %d has component %s outside 0..255", i, tostring(v)), 2)
        end
        flat[#flat + 1] = v
      end
    end
    return lunet.tensor(flat, {dtype = "uint8", shape = {n, 3}})
  elseif is_tensor(spec) then
    if spec:dim() ~= 2 or spec:size(2) ~= 3 or spec:size(1) < 1 or spec:size(1) > 256 then
      error(fmt("image.palette: a palette tensor must be K x 3 with 1 <= K <= 256, got %s", shape_str(spec)), 2)
    end
    if spec:dtype() == "uint8" then return spec end
    local lo, hi = spec:min():item(), spec:max():item()
    if lo < 0 or hi > 255 then
      error(fmt("image.palette: palette values must be in 0..255, got %g..%g", lo, hi), 2)
    end
    return spec:to("uint8")
  end
  error(fmt("image.palette: expected \"voc\", a list of {r, g, b} or a K x 3 tensor, got %s",
            type(spec) == "string" and fmt("%q", spec) or type(spec)), 2)
end

local function as_palette(fn, p, level)
  if p == nil then return nil end
  local ok, res = pcall(M.palette, p)
  if not ok then error((tostring(res):gsub("^.-image%.palette:", fn .. ": palette:")), level or 3) end
  return res
end

-- ---------------------------------------------------------------- decode / load

--- info(path) -> {format="png"|"jpeg", width, height, bit_depth, color, palette_size,
--- transparency, interlaced}; reads the whole file but decodes only the header.
function M.info(path)
  local data = read_file("image.info", path)
  local t, msg = cimg.info(data)
  if not t then error(fmt("image.info: cannot decode '%s': %s", path, msg), 2) end
  return t
end

local load_opts = {mode = true, palette = true}
local modes = {rgb = true, gray = true, rgba = true, index = true, unchanged = true}

-- "index" mode on an RGB(A) image with opts.palette: colour -> position in the palette.
local function colours_to_ids(fn, name, bytes, pal)
  local lunet = L()
  local rgb, msg = cimg.decode(bytes, "rgb")
  if not rgb then error(fmt("%s: cannot decode %s: %s", fn, name, msg), 4) end
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
        error(fmt("%s: %s has colour (%d, %d, %d) at (%d, %d) that is not in the palette", fn, name,
                  rgb:get(1, y, x), rgb:get(2, y, x), rgb:get(3, y, x), y, x), 4)
      end
    end
  end
  return ids:to("uint8")
end

local function decode_impl(fn, bytes, opts, name)
  opts = check_opts(fn, opts, load_opts, 4)
  local mode = opts.mode or "rgb"
  if not modes[mode] then
    error(fmt("%s: mode must be \"rgb\", \"gray\", \"rgba\", \"index\" or \"unchanged\", got %s", fn,
              type(mode) == "string" and fmt("%q", mode) or tostring(mode)), 3)
  end
  local pal = as_palette(fn, opts.palette, 4)
  if pal and mode ~= "index" then
    error(fmt("%s: option palette is only used with mode \"index\"", fn), 3)
  end
  local t, msg = cimg.decode(bytes, mode)
  if not t then
    if pal and msg:find("mode 'index' needs", 1, true) then
      local ids = colours_to_ids(fn, name, bytes, pal)
      return ids
    end
    if msg:find("PNG, this is an RGB", 1, true) then
      msg = msg .. " (pass {palette=...} to map its colours to class ids)"
    end
    error(fmt("%s: cannot decode %s: %s", fn, name, msg), 3)
  end
  return t
end

--- load(path, {mode=, palette=}) -> uint8 (or int32 for 16-bit) C x H x W, or H x W for
--- mode "index". With mode "index" and a palette (see image.palette), RGB(A) masks are
--- mapped colour -> class id (an unknown colour raises, naming its position).
function M.load(path, opts)
  local data = read_file("image.load", path)
  local t = decode_impl("image.load", data, opts, fmt("'%s'", path))
  return t   -- not a tail call: error levels in decode_impl count this frame
end

--- decode(bytes, opts): like load, on the contents of a file held in a Lua string.
function M.decode(bytes, opts)
  if type(bytes) ~= "string" then
    error(fmt("image.decode: bytes must be a string, got %s", type(bytes)), 2)
  end
  local t = decode_impl("image.decode", bytes, opts, "the bytes")
  return t
end

-- ---------------------------------------------------------------- encode / save

local save_opts = {palette = true}

local function encode_impl(fn, t, opts)
  opts = check_opts(fn, opts, save_opts, 4)
  if not is_tensor(t) then error(fmt("%s: t must be a tensor, got %s", fn, type(t)), 3) end
  local pal = as_palette(fn, opts.palette, 4)
  if pal and t:dim() == 3 and t:size(1) == 1 then t = t:select(1, 1) end
  local ok, res = pcall(cimg.encode_png, t, pal)
  if not ok then error((tostring(res):gsub("^image%.save:", fn .. ":")), 3) end
  return res
end

--- encode(t, {palette=}) -> PNG file contents as a string (see save).
function M.encode(t, opts)
  local s = encode_impl("image.encode", t, opts)
  return s
end

--- save(path, t, {palette=}) writes a PNG: t uint8 1 x H x W or H x W (gray), 2 x H x W
--- (gray+alpha), 3 x H x W (RGB), 4 x H x W (RGBA); int32 values 0..65535 give a 16-bit
--- PNG. With palette ("voc", a list of colours or a K x 3 tensor) t holds class ids
--- (H x W or 1 x H x W, uint8 or int32 < K) and an 8-bit palette PNG is written, which
--- load(path, {mode="index"}) reads back as the same ids. The file is written to a
--- temporary name and renamed, so a failed save leaves no partial file.
function M.save(path, t, opts)
  if type(path) ~= "string" then
    error(fmt("image.save: path must be a string, got %s", type(path)), 2)
  end
  local bytes = encode_impl("image.save", t, opts)
  local tmp = path .. ".tmp"
  local f, msg = io_open(tmp, "wb")
  if not f then
    error(fmt("image.save: cannot write '%s': %s", path, tostring(msg):gsub("^.-: ([^:]+)$", "%1")), 2)
  end
  local ok, wmsg = f:write(bytes)
  local cok, cmsg = f:close()
  if not ok or not cok then
    os_remove(tmp)
    error(fmt("image.save: cannot write '%s': %s", path, tostring(wmsg or cmsg)), 2)
  end
  local rok, rmsg = os_rename(tmp, path)
  if not rok then
    os_remove(tmp)
    error(fmt("image.save: cannot write '%s': %s", path, tostring(rmsg)), 2)
  end
  return path
end

-- ---------------------------------------------------------------- conversions

--- to_float(t) -> float32 in [0, 1]: uint8 / 255, int32 (16-bit) / 65535; float32 as is.
function M.to_float(t)
  if not is_tensor(t) then error(fmt("image.to_float: t must be a tensor, got %s", type(t)), 2) end
  local dt = t:dtype()
  if dt == "float32" then return t end
  return t:to("float32"):div(dt == "uint8" and 255 or 65535)
end

--- from_float(t) -> uint8: float values in [0, 1] scaled by 255, rounded, clamped.
function M.from_float(t)
  if not is_tensor(t) then error(fmt("image.from_float: t must be a tensor, got %s", type(t)), 2) end
  local dt = t:dtype()
  if dt == "uint8" then return t end
  if dt ~= "float32" then
    error(fmt("image.from_float: t must be float32 (values in [0, 1]), got %s", dt), 2)
  end
  return t:mul(255):add(0.5):clamp(0, 255):to("uint8")   -- to() truncates: rounds here
end

-- ---------------------------------------------------------------- overlay

local overlay_opts = {alpha = true, palette = true, background = true}

--- overlay(img, mask, {alpha=0.5, palette="voc", background=0}) -> uint8 3 x H x W.
--- Blends palette colours over img: out = (1 - alpha) img + alpha colour[mask] on every
--- pixel whose class id is not `background` (background=false colours every pixel).
--- img: uint8 3 x H x W, 1 x H x W (gray), 4 x H x W (alpha ignored) or H x W; float32
--- images are taken as [0, 1]. mask: H x W (or 1 x H x W) class ids, int32 or uint8, each
--- < #palette (the VOC palette also colours 255 void as (224, 224, 192)).
function M.overlay(img, mask, opts)
  local fn = "image.overlay"
  opts = check_opts(fn, opts, overlay_opts)
  if not is_tensor(img) then error(fmt("%s: img must be a tensor, got %s", fn, type(img)), 2) end
  if not is_tensor(mask) then error(fmt("%s: mask must be a tensor, got %s", fn, type(mask)), 2) end
  if img:dtype() == "float32" then img = M.from_float(img) end
  if img:dtype() ~= "uint8" then
    error(fmt("%s: img must be uint8 or float32, got %s", fn, img:dtype()), 2)
  end
  if img:dim() == 2 then img = img:unsqueeze(1) end
  if img:dim() == 3 and img:size(1) == 4 then img = img:narrow(1, 1, 3) end
  if mask:dim() == 3 and mask:size(1) == 1 then mask = mask:select(1, 1) end
  local alpha = opts.alpha
  if alpha == nil then alpha = 0.5 end
  if type(alpha) ~= "number" then error(fmt("%s: alpha must be a number, got %s", fn, type(alpha)), 2) end
  local bg = opts.background
  if bg == nil then bg = 0 elseif bg == false then bg = -1 end
  if type(bg) ~= "number" then
    error(fmt("%s: background must be a class id or false, got %s", fn, type(bg)), 2)
  end
  local pal = as_palette(fn, opts.palette or "voc")
  local ok, res = pcall(cimg.overlay, img, mask, pal, alpha, bg)
  if not ok then error(res, 2) end
  return res
end

return M
