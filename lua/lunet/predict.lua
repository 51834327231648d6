-- lunet.predict: inference on whole images or by overlapping tiles (model:predict), and
-- checkpoints that carry the model's name and options so a script can rebuild the model.
--
--   local predict = require "lunet.predict"
--   local logits = predict.predict(model, img, {tile = 256, overlap = 32})  -- K x H x W
--   local ids = model:predict(img, {tile = 256, output = "labels"})       -- H x W int32
--   predict.save_model("unet.safetensors", model)          -- state + {model=, config=}
--   local model2 = predict.load_model("unet.safetensors")  -- rebuilt, weights loaded, eval
--
-- Speed: call model:eval():fuse() once first (BatchNorm folded into the convolutions; fuse
-- rewrites the model in place, so predict never does it by itself); tiles run batch_size at a
-- time through one forward, on lunet.set_num_threads threads. For a depth-5 U-Net a few large
-- tiles (e.g. 544 with overlap 32 on 2048 x 2048: 4 x 4 tiles, 13% recomputed) are faster
-- than many small ones (256: 9 x 9 tiles, 26% recomputed); bench/bench_predict.sh measures.
--
-- predict(model, image, opts) runs the model in eval mode under no_grad (each module's
-- train/eval flag is restored afterwards, also on error) and returns logits
-- N x K x H x W for an N x C x H x W image, K x H x W for C x H x W (and H x W, taken as one
-- channel). uint8 images are divided by 255 and int32 (16-bit) images by 65535, as the
-- DataLoader does; float32 is used as is. Options:
--   tile        nil (default: the whole image in one forward) or a size: n or {h, w}
--   overlap     pixels shared by neighbouring tiles: n or {h, w}; default tile // 4
--   batch_size  tiles (or images, without tile) per forward; default 4
--   blend       "crop" (default) or "linear"
--   border      "zero" (default) or "reflect"
--   align       tile origins and sizes are multiples of this: n or {h, w}; default
--               model.tile_align if set, 2^(depth - 1) when model.config.depth is an
--               integer (the U-Net's pooling factor), else 1
--   num_classes expected K: the model's output must have it (checked)
--   output      "logits" (default) or "labels": class ids 0..K-1 (argmax over classes) as
--               int32 N x H x W (or H x W)
--   normalize   {mean = {...}, std = {...}} per channel, applied after the scaling to [0, 1]
--               (as transforms.Normalize when the model was trained with it)
--
-- Tiling. Per axis, tiles of size `tile` start at 0, tile - overlap, ... and the last one
-- ends at the (padded) image edge, so every tile lies inside the image; when the tile is
-- larger than the image the whole axis is one tile. tile and overlap are first rounded up to
-- multiples of `align` (and the tile grown to at least overlap + align), and the image is
-- zero-padded at the bottom/right to a multiple of `align` (what the U-Net does itself).
-- blend = "crop" is the overlap-tile rule of Ronneberger et al.: each output pixel comes
-- from exactly one tile, the one whose part it is when every overlap is cut in the middle,
-- so a pixel is at least overlap/2 pixels away from any tile edge that is not an image edge.
-- For a fully convolutional model whose receptive field reaches at most overlap/2 pixels
-- from a pixel (a depth-3 U-Net reaches 22 px, so overlap >= 44 gives the exact result), with
-- align a multiple of its total stride and eval-mode batch norm, the result equals
-- whole-image inference up to float rounding (the spec checks 1e-4). blend = "linear"
-- instead averages all tiles covering a pixel with weights that ramp linearly from the
-- interior tile edges across the overlap (1 inside, and at image edges): smoother for models
-- that are not translation-equivariant, not bit-equal to whole-image inference.
-- border = "zero" keeps the model's own zero padding at the image edges (as whole-image
-- inference); border = "reflect" first mirrors the image by ceil(overlap / 2) pixels on
-- every side (rounded up to a multiple of align, at most size - 1), so that pixels at the
-- image edge get mirrored context as in the U-Net paper, and crops the result back.
--
-- Checkpoints. save_model(path, model, {model=, config=, metadata=}) writes the state dict
-- with lunet.save and the metadata keys model = "unet" (the name under lunet.models; default
-- the lower-cased class name) and config = the option table as a Lua table literal
-- (encode_config; default model.config), plus any extra metadata. load_model(path, {model=,
-- config=, strict=}) reads it back: the state is the whole file, or, for a checkpoint
-- written by lunet.train.fit, the tensors named "model.<name>" with that prefix removed.
-- decode_config parses a literal made of tables, numbers, strings and booleans, never runs
-- code.
local lunet = require "lunet"
local E = require "lunet.errors"

local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local pcall, require = pcall, require
local setmetatable, tonumber, schar = setmetatable, tonumber, string.char
local mtype, floor, ceil, min, max = math.type, math.floor, math.ceil, math.min, math.max
local huge, tointeger = math.huge, math.tointeger
local fmt, concat, sort = string.format, table.concat, table.sort

local M = {}

-- Errors are raised at the user's line (lunet.errors).
local raise = E.raise

-- A message without the "file:line: " a nested call put in front of it.
local function bare(msg) return (tostring(msg):gsub("^[^\n:]+:%d+: ", "")) end

local util_cache
local function util()
  if not util_cache then util_cache = require("lunet.nn.module").util end
  return util_cache
end

local MAX_SIDE = 65536   -- tile, overlap and align are at most this many pixels

local function shape_str(t) return "[" .. concat(t:shape(), ", ") .. "]" end

local F_cache
local function F()
  if not F_cache then F_cache = require("lunet.nn").functional end
  return F_cache
end

---------------------------------------------------------------------------------------------
-- options
---------------------------------------------------------------------------------------------
local known = { "tile", "overlap", "batch_size", "blend", "border", "align", "num_classes", "output",
                "normalize" }

-- n or {h, w} of integers >= lo -> h, w
local function pair(v, name, lo)
  local h, w
  if type(v) == "table" and not lunet.is_tensor(v) then
    if #v ~= 2 then
      raise(fmt("predict: %s must be a number or {h, w}, got a table of %d values", name, #v))
    end
    h, w = v[1], v[2]
  else
    h, w = v, v
  end
  local out = {}
  for i, x in ipairs({ h, w }) do
    local xi = type(x) == "number" and tointeger(x)
    if not xi then
      raise(fmt("predict: %s must be an integer or {h, w} of integers, got %s", name, E.show(x)))
    end
    if xi < lo then raise(fmt("predict: %s must be at least %d, got %d", name, lo, xi)) end
    if xi > MAX_SIDE then raise(fmt("predict: %s must be at most %d, got %d", name, MAX_SIDE, xi)) end
    out[i] = xi
  end
  return out[1], out[2]
end

local function default_align(model)
  local a = model.tile_align
  if a ~= nil then return a end
  local cfg = model.config
  if type(cfg) == "table" and mtype(cfg.depth) == "integer" and cfg.depth >= 1 then
    return 1 << (cfg.depth - 1)
  end
  return 1
end

local function check_opts(model, opts)
  opts = E.options(opts, "predict", known)
  local o = {}
  if opts.tile ~= nil then
    o.th, o.tw = pair(opts.tile, "tile", 1)
    if opts.overlap ~= nil then
      o.oh, o.ow = pair(opts.overlap, "overlap", 0)
    else
      o.oh, o.ow = o.th // 4, o.tw // 4
    end
    if o.oh >= o.th or o.ow >= o.tw then
      raise(fmt("predict: overlap (%d x %d) must be smaller than tile (%d x %d)", o.oh, o.ow, o.th, o.tw))
    end
  elseif opts.overlap ~= nil then
    raise("predict: overlap needs tile")
  end
  o.ah, o.aw = pair(opts.align ~= nil and opts.align or default_align(model), "align", 1)
  o.batch_size = E.integer("predict", "batch_size", opts.batch_size or 4, 1)
  o.blend = E.choice("predict", "blend", opts.blend or "crop", { "crop", "linear" })
  o.border = E.choice("predict", "border", opts.border or "zero", { "zero", "reflect" })
  o.output = E.choice("predict", "output", opts.output or "logits", { "logits", "labels" })
  if opts.num_classes ~= nil then o.num_classes = E.integer("predict", "num_classes", opts.num_classes, 1) end
  local nz = opts.normalize
  if nz ~= nil then
    E.options(nz, "predict: normalize", { "mean", "std" })
    if type(nz.mean) ~= "table" or type(nz.std) ~= "table" or #nz.mean ~= #nz.std or #nz.mean == 0 then
      raise("predict: normalize must be {mean = {...}, std = {...}} with one value per channel")
    end
    for i = 1, #nz.std do
      local m, sd = nz.mean[i], nz.std[i]
      if type(m) ~= "number" or m ~= m or m == huge or m == -huge then
        raise(fmt("predict: normalize.mean[%d] must be a finite number, got %s", i, E.show(m)))
      end
      if type(sd) ~= "number" or not (sd > 0 and sd < huge) then
        raise(fmt("predict: normalize.std[%d] must be a finite number > 0, got %s", i, E.show(sd)))
      end
    end
    o.normalize = nz
  end
  return o
end

local function as_batch(image)
  if not lunet.is_tensor(image) then
    raise("predict: image must be a tensor, got " .. E.typename(image))
  end
  local d = image:dim()
  local x = image
  if d == 2 then x = x:unsqueeze(1):unsqueeze(1)
  elseif d == 3 then x = x:unsqueeze(1)
  elseif d ~= 4 then
    raise(fmt("predict: image must be C x H x W or N x C x H x W (or H x W), got shape %s", shape_str(image)))
  end
  local dt = x:dtype()
  if dt == "uint8" then x = x:to("float32"):div(255)
  elseif dt == "int32" then x = x:to("float32"):div(65535) end
  return x, d == 4
end

---------------------------------------------------------------------------------------------
-- tiling
---------------------------------------------------------------------------------------------
local function roundup(v, a) return ceil(v / a) * a end

-- One axis: padded length Lp (multiple of a) -> list of {start, tile_len} (0-based starts),
-- the cut points between consecutive tiles, and the effective overlap.
local function axis_plan(Lp, t, o, a)
  local oe = roundup(o, a)
  local te = max(roundup(t, a), oe + a)
  if te >= Lp then return { 0 }, Lp, { 0, Lp }, 0 end
  local step = te - oe
  local starts = {}
  local s = 0
  while true do
    if s + te >= Lp then s = Lp - te end
    starts[#starts + 1] = s
    if s + te >= Lp then break end
    s = s + step
  end
  local cuts = { 0 }
  for i = 1, #starts - 1 do
    cuts[i + 1] = (starts[i + 1] + starts[i] + te) // 2
  end
  cuts[#starts + 1] = Lp
  return starts, te, cuts, oe
end

-- Linear weights along one axis for a tile [s, s + te) of an axis of length Lp, as a flat
-- table: ramps of length ov from edges that are not image edges.
local function ramp(s, te, Lp, ov)
  local w = {}
  for i = 0, te - 1 do
    local v = 1
    if ov > 0 then
      if s > 0 then v = min(v, (i + 0.5) / ov) end
      if s + te < Lp then v = min(v, (te - i - 0.5) / ov) end
    end
    w[i + 1] = v
  end
  return w
end

-- Runs model on a batch (NB x C x h x w) and checks the output's shape. A model that returns
-- several outputs (a list: deep supervision, see models/shared.lua) is read through its main
-- output: list.main, else list[1].
local function forward(model, xb, o)
  local y = model(xb)
  if type(y) == "table" and not lunet.is_tensor(y) then y = y.main or y[1] end
  if not lunet.is_tensor(y) or y:dim() ~= 4 or y:size(1) ~= xb:size(1)
     or y:size(3) ~= xb:size(3) or y:size(4) ~= xb:size(4) then
    raise(fmt("predict: the model returned %s for an input of %s; predict needs a fully "
      .. "convolutional model whose output is N x K x H x W with the input's N, H and W",
      lunet.is_tensor(y) and shape_str(y) or type(y), shape_str(xb)))
  end
  if o.num_classes and y:size(2) ~= o.num_classes then
    raise(fmt("predict: the model returned %d classes, num_classes is %d", y:size(2), o.num_classes))
  end
  return y
end

local function run_whole(model, x, o)
  local N = x:size(1)
  if N <= o.batch_size then return forward(model, x, o) end
  local parts = {}
  for n = 1, N, o.batch_size do
    parts[#parts + 1] = forward(model, x:narrow(1, n, min(o.batch_size, N - n + 1)), o)
  end
  return lunet.cat(parts, 1)
end

local function run_tiled(model, x, o)
  local N, H, W = x:size(1), x:size(3), x:size(4)
  -- reflect border: mirror by ceil(overlap / 2), at most size - 1
  local rh, rw = 0, 0
  if o.border == "reflect" then
    -- multiples of align keep the tile grid on the model's pooling grid
    rh = min(roundup(ceil(o.oh / 2), o.ah), (H - 1) // o.ah * o.ah)
    rw = min(roundup(ceil(o.ow / 2), o.aw), (W - 1) // o.aw * o.aw)
    if rh > 0 or rw > 0 then x = F().pad(x, { rw, rw, rh, rh }, { mode = "reflect" }) end
  end
  local Hr, Wr = H + 2 * rh, W + 2 * rw
  local Hp, Wp = roundup(Hr, o.ah), roundup(Wr, o.aw)
  if Hp > Hr or Wp > Wr then x = F().pad(x, { 0, Wp - Wr, 0, Hp - Hr }) end
  local ys, th, ycuts, ovh = axis_plan(Hp, o.th, o.oh, o.ah)
  local xs, tw, xcuts, ovw = axis_plan(Wp, o.tw, o.ow, o.aw)

  local jobs = {}
  for n = 1, N do
    for i = 1, #ys do
      for j = 1, #xs do jobs[#jobs + 1] = { n, i, j } end
    end
  end
  local out, wsum          -- N x K x H x W, and for linear blending 1 x 1 x H x W
  local wrow, wcol = {}, {}
  if o.blend == "linear" then
    for i, s in ipairs(ys) do
      wrow[i] = lunet.tensor(ramp(s, th, Hp, ovh), { shape = { 1, 1, th, 1 } })
    end
    for j, s in ipairs(xs) do
      wcol[j] = lunet.tensor(ramp(s, tw, Wp, ovw), { shape = { 1, 1, 1, tw } })
    end
  end

  -- the part [a, b) of an axis of the padded frame that lands in the output, and where
  local function clip(a, b, r, L)
    a, b = max(a, r), min(b, r + L)
    return a, b - a
  end

  for first = 1, #jobs, o.batch_size do
    local last = min(first + o.batch_size - 1, #jobs)
    local tiles = {}
    for k = first, last do
      local n, i, j = jobs[k][1], jobs[k][2], jobs[k][3]
      tiles[#tiles + 1] = x:narrow(1, n, 1):narrow(3, ys[i] + 1, th):narrow(4, xs[j] + 1, tw)
    end
    local y = forward(model, #tiles == 1 and tiles[1] or lunet.cat(tiles, 1), o)
    if not out then
      out = lunet.zeros(N, y:size(2), H, W)
      if o.blend == "linear" then wsum = lunet.zeros(1, 1, H, W) end
    end
    for k = first, last do
      local n, i, j = jobs[k][1], jobs[k][2], jobs[k][3]
      local yk = y:narrow(1, k - first + 1, 1)
      if o.blend == "crop" then
        local a, hh = clip(ycuts[i], ycuts[i + 1], rh, H)
        local b, ww = clip(xcuts[j], xcuts[j + 1], rw, W)
        if hh > 0 and ww > 0 then
          out:narrow(1, n, 1):narrow(3, a - rh + 1, hh):narrow(4, b - rw + 1, ww)
            :copy_(yk:narrow(3, a - ys[i] + 1, hh):narrow(4, b - xs[j] + 1, ww))
        end
      else
        local a, hh = clip(ys[i], ys[i] + th, rh, H)
        local b, ww = clip(xs[j], xs[j] + tw, rw, W)
        if hh > 0 and ww > 0 then
          local w = (wrow[i] * wcol[j]):narrow(3, a - ys[i] + 1, hh):narrow(4, b - xs[j] + 1, ww)
          local part = yk:narrow(3, a - ys[i] + 1, hh):narrow(4, b - xs[j] + 1, ww)
          local dst = out:narrow(1, n, 1):narrow(3, a - rh + 1, hh):narrow(4, b - rw + 1, ww)
          dst:copy_(dst + part * w)
          if n == 1 then
            local ws = wsum:narrow(3, a - rh + 1, hh):narrow(4, b - rw + 1, ww)
            ws:copy_(ws + w)
          end
        end
      end
    end
  end
  if wsum then out = out / wsum end
  return out
end

--- predict(model, image, opts) -> logits (N x K x H x W or K x H x W), or int32 labels with
--- output = "labels". See the file header.
function M.predict(model, image, opts)
  if type(model) ~= "table" or type(model.forward) ~= "function" then
    raise("predict: model must be an nn.Module, got " .. E.typename(model))
  end
  local o = check_opts(model, opts)
  local x, batched = as_batch(image)
  if o.normalize then
    local C = #o.normalize.mean
    if x:size(2) ~= C then
      raise(fmt("predict: normalize has %d channels, the image %d", C, x:size(2)))
    end
    x = (x - lunet.tensor(o.normalize.mean, { shape = { 1, C, 1, 1 } }))
      / lunet.tensor(o.normalize.std, { shape = { 1, C, 1, 1 } })
  end
  local modes = {}
  local mods = type(model.modules) == "function" and model:modules() or { model }
  for _, m in ipairs(mods) do modes[m] = m.training end
  if type(model.eval) == "function" then model:eval() end
  local ok, res = pcall(lunet.no_grad, function()
    local y
    if o.th then y = run_tiled(model, x, o) else y = run_whole(model, x, o) end
    if o.output == "labels" then y = F().labels(y) end
    return y
  end)
  for m, t in pairs(modes) do m.training = t end
  if not ok then util().rethrow(res) end
  if not batched then res = res:select(1, 1) end
  return res
end

---------------------------------------------------------------------------------------------
-- sliding-window inference for volumes (MONAI's sliding_window_inference)
---------------------------------------------------------------------------------------------

-- Spatial sizes: n (a cube of nsp sides) or a table of nsp integers; entries <= 0 take the
-- input's size (MONAI's fall_back_tuple). Returns the list.
local function sizes_of(fn, what, v, nsp)
  local out = {}
  if type(v) == "number" then
    for i = 1, nsp do out[i] = v end
  elseif type(v) == "table" and not lunet.is_tensor(v) and #v == nsp then
    for i = 1, nsp do out[i] = v[i] end
  else
    E.fail(fn, "%s must be a number or a table of %d sizes, got %s", what, nsp,
      type(v) == "table" and not lunet.is_tensor(v) and ("a table of " .. #v .. " values") or E.show(v))
  end
  for i = 1, nsp do
    if mtype(out[i]) ~= "integer" and not (type(out[i]) == "number" and tointeger(out[i])) then
      E.fail(fn, "%s[%d] must be an integer, got %s", what, i, E.show(out[i]))
    end
    out[i] = tointeger(out[i])
    if out[i] > MAX_SIDE then E.fail(fn, "%s[%d] must be at most %d, got %d", what, i, MAX_SIDE, out[i]) end
  end
  return out
end

-- The largest roi (voxels) of importance_map and sliding_window: its float32 weight map is
-- 8 GiB, and the windows batch holds several rois.
M.MAX_ROI_VOXELS = 1 << 31
-- The most windows sliding_window runs (a Lua table of their offsets is built first).
M.MAX_WINDOWS = 1 << 24

-- Checks the roi (sizes >= 1, at most MAX_ROI_VOXELS in all) and sigma_scale (a number or one
-- per axis, finite and > 0; checked in "constant" mode too) for fn; returns the scales.
local function check_roi_sigma(fn, roi, ss)
  local nsp, vox = #roi, 1
  for i = 1, nsp do vox = vox * roi[i] end
  if vox > M.MAX_ROI_VOXELS then
    E.fail(fn, "roi_size {%s} has %.0f voxels, more than the limit of %d", table.concat(roi, ", "), vox,
      M.MAX_ROI_VOXELS)
  end
  ss = ss == nil and 0.125 or ss
  if type(ss) == "table" and not lunet.is_tensor(ss) and #ss ~= nsp then
    E.fail(fn, "sigma_scale must be a number or a table of %d numbers, got a table of %d values", nsp, #ss)
  end
  local scales = {}
  for i = 1, nsp do
    local v = type(ss) == "table" and not lunet.is_tensor(ss) and ss[i] or ss
    scales[i] = E.number(fn, "sigma_scale", v, 0, huge)
    if not (scales[i] > 0 and scales[i] < huge) then
      E.fail(fn, "sigma_scale must be finite and > 0, got %s", E.show(scales[i]))
    end
  end
  return scales
end

--- importance_map(roi_size, {mode="gaussian", sigma_scale=0.125}) -> float32 tensor of the roi's
--- shape: the blending weights of sliding_window. "constant": ones. "gaussian" (MONAI >= 1.0
--- compute_importance_map): the product over axes of exp(-x^2 / (2 sigma^2)) with x from
--- -(n - 1)/2 to (n - 1)/2 and sigma = n * sigma_scale (a number or one per axis), clamped
--- below at max(its minimum, 1e-3). roi_size: a table of sizes (2 or 3 axes), at most
--- predict.MAX_ROI_VOXELS (2^31) voxels in all.
function M.importance_map(roi_size, opts)
  local fn = "importance_map"
  opts = E.options(opts, fn, { "mode", "sigma_scale" })
  if type(roi_size) ~= "table" or lunet.is_tensor(roi_size) or #roi_size < 1 or #roi_size > 3 then
    E.fail(fn, "roi_size must be a table of 1 to 3 sizes, got %s", E.show(roi_size))
  end
  local nsp = #roi_size
  local roi = sizes_of(fn, "roi_size", roi_size, nsp)
  for i = 1, nsp do
    if roi[i] < 1 then E.fail(fn, "roi_size[%d] must be at least 1, got %d", i, roi[i]) end
  end
  local mode = opts.mode or "gaussian"
  E.choice(fn, "mode", mode, { "constant", "gaussian" })
  local scales = check_roi_sigma(fn, roi, opts.sigma_scale)
  if mode == "constant" then return lunet.ones(roi) end
  local map
  for i = 1, nsp do
    local n, sigma = roi[i], roi[i] * scales[i]
    local g = {}
    for k = 0, n - 1 do
      local x = k - (n - 1) / 2
      g[k + 1] = math.exp(x * x / (-2 * sigma * sigma))
    end
    local shape = {}
    for j = 1, nsp do shape[j] = j == i and n or 1 end
    local t = lunet.tensor(g, { shape = shape })
    map = map and map * t or t
  end
  local lo = max(map:min():item(), 1e-3)
  return map:clamp(lo, huge):contiguous()
end

local sw_known = { "roi_size", "sw_batch_size", "overlap", "mode", "sigma_scale", "cval",
                   "num_classes", "output" }

--- sliding_window(model, volume, {roi_size, sw_batch_size=1, overlap=0.25, mode="constant",
--- sigma_scale=0.125, cval=0, num_classes, output="logits"}) -> N x K x D x H x W (K x D x H x
--- W for one C x D x H x W volume): MONAI's sliding_window_inference. model: an nn.Module (run
--- in eval mode under no_grad, its modes restored afterwards) or a function of an n x C x
--- roi patch batch returning n x K x roi. roi_size {d, h, w} (or {h, w} for N x C x H x W
--- images; a number is a cube; entries <= 0 take the input's size). Per axis the input is
--- first padded symmetrically with cval to at least the roi (diff // 2 before, the rest
--- after); windows start every floor(roi * (1 - overlap)) voxels (the roi itself when it
--- equals the size; at least 1) and the last one is moved back to end at the edge
--- (dense_patch_slices). sw_batch_size windows run per forward. Each window's output is
--- weighted by importance_map(roi, {mode, sigma_scale}) ("constant": plain average,
--- "gaussian": centre-weighted) and the sum divided by the summed weights; the padding is
--- cropped off. For a pointwise model, or one whose receptive field fits inside the windows'
--- overlap with constant weights, the result equals whole-volume inference. output =
--- "labels" gives int32 class ids (argmax over K). Limits (checked before anything is
--- allocated): predict.MAX_ROI_VOXELS (2^31) voxels per channel in the volume and in the roi,
--- predict.MAX_WINDOWS (2^24) windows.
function M.sliding_window(model, volume, opts)
  local fn = "sliding_window"
  opts = E.options(opts, fn, sw_known)
  local is_mod = type(model) == "table" and type(model.forward) == "function"
  if not is_mod and type(model) ~= "function" then
    E.fail(fn, "model must be an nn.Module or a function, got %s", E.typename(model))
  end
  if not lunet.is_tensor(volume) then E.fail(fn, "volume must be a tensor, got %s", E.typename(volume)) end
  if opts.roi_size == nil then E.fail(fn, "option roi_size is required ({d, h, w})") end
  local rs = opts.roi_size
  local nsp = (type(rs) == "table" and not lunet.is_tensor(rs)) and #rs or 3
  if nsp ~= 2 and nsp ~= 3 then
    E.fail(fn, "roi_size must be a number, {d, h, w} or {h, w}, got a table of %d values", nsp)
  end
  local nd = volume:dim()
  if nd ~= nsp + 1 and nd ~= nsp + 2 then
    E.fail(fn, "volume must be %s, got %s", nsp == 3 and "N x C x D x H x W or C x D x H x W"
      or "N x C x H x W or C x H x W", shape_str(volume))
  end
  if volume:dtype() ~= "float32" then
    E.fail(fn, "volume must be float32, got %s", volume:dtype())
  end
  local batched = nd == nsp + 2
  local x = batched and volume or volume:unsqueeze(1)
  local N, C = x:size(1), x:size(2)
  local size = {}
  for i = 1, nsp do size[i] = x:size(i + 2) end
  if x:numel() == 0 then E.fail(fn, "volume is empty: %s", shape_str(volume)) end
  do   -- the padded input and the N x K x size accumulators are built in memory
    local vox = N
    for i = 1, nsp do vox = vox * size[i] end
    if vox > M.MAX_ROI_VOXELS then
      E.fail(fn, "volume %s has %d voxels per channel, more than the limit of %d", shape_str(volume), vox,
        M.MAX_ROI_VOXELS)
    end
  end
  local roi = sizes_of(fn, "roi_size", rs, nsp)
  for i = 1, nsp do if roi[i] <= 0 then roi[i] = size[i] end end
  local swb = opts.sw_batch_size == nil and 1 or E.integer(fn, "sw_batch_size", opts.sw_batch_size, 1, 4096)
  local overlap = opts.overlap == nil and 0.25 or E.number(fn, "overlap", opts.overlap, 0, 1)
  if overlap >= 1 then E.fail(fn, "overlap must be in [0, 1), got %s", E.show(overlap)) end
  local mode = opts.mode or "constant"
  E.choice(fn, "mode", mode, { "constant", "gaussian" })
  local cval = opts.cval == nil and 0 or E.number(fn, "cval", opts.cval, -huge, huge)
  local output = opts.output or "logits"
  E.choice(fn, "output", output, { "logits", "labels" })
  local K = opts.num_classes and E.integer(fn, "num_classes", opts.num_classes, 1, 1 << 20)
  check_roi_sigma(fn, roi, opts.sigma_scale)   -- errors name sliding_window
  local weight = M.importance_map(roi, { mode = mode, sigma_scale = opts.sigma_scale })

  -- symmetric padding to at least the roi
  local padded, before = {}, {}
  local need_pad = false
  for i = 1, nsp do
    local diff = max(roi[i] - size[i], 0)
    before[i] = diff // 2
    padded[i] = size[i] + diff
    need_pad = need_pad or diff > 0
  end
  -- window starts per axis (MONAI's _get_scan_interval + dense_patch_slices)
  local starts = {}
  for i = 1, nsp do
    local interval = roi[i] == padded[i] and roi[i] or floor(roi[i] * (1 - overlap))
    if interval < 1 then interval = 1 end
    local st = {}
    local idx = 0
    while true do
      local s0 = idx * interval
      if s0 + roi[i] >= padded[i] then
        st[#st + 1] = padded[i] - roi[i]
        break
      end
      st[#st + 1] = s0
      idx = idx + 1
    end
    starts[i] = st
  end
  local nwin = 1
  for i = 1, nsp do nwin = nwin * #starts[i] end
  if nwin > M.MAX_WINDOWS then
    E.fail(fn, "roi_size {%s} with overlap %s gives %d windows, more than the limit of %d", table.concat(roi, ", "),
      E.show(overlap), nwin, M.MAX_WINDOWS)
  end
  local windows = {}
  if nsp == 3 then
    for _, a in ipairs(starts[1]) do for _, b in ipairs(starts[2]) do for _, c in ipairs(starts[3]) do
      windows[#windows + 1] = { a, b, c }
    end end end
  else
    for _, a in ipairs(starts[1]) do for _, b in ipairs(starts[2]) do windows[#windows + 1] = { a, b } end end
  end

  local function run()
    local xp = x
    if need_pad then
      local shp = { N, C }
      for i = 1, nsp do shp[i + 2] = padded[i] end
      xp = lunet.full(shp, cval)
      local v = xp
      for i = 1, nsp do v = v:narrow(i + 2, before[i] + 1, size[i]) end
      v:copy_(x)
    end
    local wshape = { 1, 1 }
    for i = 1, nsp do wshape[i + 2] = roi[i] end
    local w = weight:reshape(wshape)
    local out, count
    local function view(t, win, first_dim)
      local v = t
      for i = 1, nsp do v = v:narrow(i + first_dim, win[i] + 1, roi[i]) end
      return v
    end
    for n = 1, N do
      local xn = xp:narrow(1, n, 1)
      for k = 1, #windows, swb do
        local last = min(k + swb - 1, #windows)
        local parts = {}
        for j = k, last do parts[#parts + 1] = view(xn, windows[j], 2) end
        local xb = #parts == 1 and parts[1]:contiguous() or lunet.cat(parts, 1)
        local y = model(xb)
        if type(y) == "table" and not lunet.is_tensor(y) then y = y.main or y[1] end
        local ok = lunet.is_tensor(y) and y:dim() == nsp + 2 and y:size(1) == #parts
        for i = 1, nsp do ok = ok and y:size(i + 2) == roi[i] end
        if not ok then
          E.fail(fn, "the model returned %s for windows of %s; it must return n x K x %s",
            lunet.is_tensor(y) and shape_str(y) or type(y), shape_str(xb), concat(roi, " x "))
        end
        if K and y:size(2) ~= K then
          E.fail(fn, "the model returned %d classes, num_classes is %d", y:size(2), K)
        end
        if y:dtype() ~= "float32" then y = y:to("float32") end
        if not out then
          local oshape = { N, y:size(2) }
          for i = 1, nsp do oshape[i + 2] = padded[i] end
          out = lunet.zeros(oshape)
          count = lunet.zeros({ 1, 1, table.unpack(padded) })
        elseif y:size(2) ~= out:size(2) then
          E.fail(fn, "the model returned %d classes for one window and %d for another", out:size(2), y:size(2))
        end
        for j = k, last do
          local yj = y:narrow(1, j - k + 1, 1)
          view(out:narrow(1, n, 1), windows[j], 2):add_(yj * w)
          if n == 1 then view(count, windows[j], 2):add_(w) end
        end
      end
    end
    out = out / count
    if need_pad then
      for i = 1, nsp do out = out:narrow(i + 2, before[i] + 1, size[i]) end
      out = out:contiguous()
    end
    if output == "labels" then out = F().labels(out) end
    return out
  end

  local modes = {}
  if is_mod then
    local mods = type(model.modules) == "function" and model:modules() or { model }
    for _, m in ipairs(mods) do modes[m] = m.training end
    if type(model.eval) == "function" then model:eval() end
  end
  local ok, res = pcall(lunet.no_grad, run)
  for m, t in pairs(modes) do m.training = t end
  if not ok then util().rethrow(res) end
  if not batched then res = res:select(1, 1) end
  return res
end

---------------------------------------------------------------------------------------------
-- config literals
---------------------------------------------------------------------------------------------
local function encode(v, out, depth)
  local tv = type(v)
  if tv == "number" then
    if mtype(v) == "integer" then out[#out + 1] = fmt("%d", v)
    elseif v ~= v or v == huge or v == -huge then
      raise("encode_config: cannot encode " .. E.show(v))
    else out[#out + 1] = fmt("%.17g", v) end
  elseif tv == "string" then out[#out + 1] = fmt("%q", v):gsub("\\\n", "\\n")
  elseif tv == "boolean" then out[#out + 1] = tostring(v)
  elseif tv == "table" then
    if depth > 16 then raise("encode_config: tables nested too deeply") end
    local n = #v
    local keys = {}
    for k in pairs(v) do
      if mtype(k) == "integer" and k >= 1 and k <= n then -- list part
      elseif type(k) == "string" and k:match("^[%a_][%w_]*$") then keys[#keys + 1] = k
      else raise("encode_config: keys must be identifiers or list positions, got " .. tostring(k)) end
    end
    sort(keys)
    out[#out + 1] = "{"
    local first = true
    for i = 1, n do
      if not first then out[#out + 1] = ", " end
      first = false
      encode(v[i], out, depth + 1)
    end
    for _, k in ipairs(keys) do
      if not first then out[#out + 1] = ", " end
      first = false
      out[#out + 1] = k .. " = "
      encode(v[k], out, depth + 1)
    end
    out[#out + 1] = "}"
  else
    raise("encode_config: cannot encode a " .. tv)
  end
end

--- encode_config(t) -> a Lua table literal ("{base = 16, depth = 3, norm = \"batch\"}"), keys
--- sorted; values: numbers, strings, booleans, tables of those.
function M.encode_config(t)
  if type(t) ~= "table" then raise("encode_config: config must be a table, got " .. E.typename(t)) end
  local out = {}
  encode(t, out, 0)
  return concat(out)
end

local escapes = { n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ['"'] = '"', ["'"] = "'" }

--- decode_config(s) -> table: parses what encode_config writes (a table literal of numbers,
--- strings, booleans and tables; identifier keys or positional values). Runs no code.
function M.decode_config(s)
  if type(s) ~= "string" then raise("decode_config: expected a string, got " .. E.typename(s)) end
  local pos = 1
  local function fail(what)
    raise(fmt("decode_config: %s at position %d in %q", what, pos, #s > 80 and s:sub(1, 80) .. "..." or s))
  end
  local function skip() pos = s:find("[^%s]", pos) or #s + 1 end
  local value
  local function str()
    local q = s:sub(pos, pos)
    pos = pos + 1
    local buf = {}
    while true do
      local c = s:sub(pos, pos)
      if c == "" then fail("unfinished string") end
      pos = pos + 1
      if c == q then break end
      if c == "\\" then
        local e = s:sub(pos, pos)
        pos = pos + 1
        if escapes[e] then buf[#buf + 1] = escapes[e]
        elseif e:match("%d") then
          local d = s:match("^%d%d?%d?", pos - 1)
          pos = pos - 1 + #d
          local code = tonumber(d)
          if code > 255 then fail("bad escape") end
          buf[#buf + 1] = schar(code)
        else fail("bad escape") end
      else
        buf[#buf + 1] = c
      end
    end
    return concat(buf)
  end
  local function tbl(depth)
    if depth > 16 then fail("tables nested too deeply") end
    pos = pos + 1
    local t, n = {}, 0
    while true do
      skip()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      local key = s:match("^([%a_][%w_]*)%s*=", pos)
      if key and key ~= "true" and key ~= "false" then
        pos = s:find("=", pos, true) + 1
        skip()
        t[key] = value(depth)
      else
        n = n + 1
        t[n] = value(depth)
      end
      skip()
      local c = s:sub(pos, pos)
      if c == "," or c == ";" then pos = pos + 1
      elseif c ~= "}" then fail("expected ',' or '}'") end
    end
  end
  value = function(depth)
    skip()
    local c = s:sub(pos, pos)
    if c == "{" then return tbl(depth + 1) end
    if c == '"' or c == "'" then return str() end
    if s:find("^true", pos) then pos = pos + 4; return true end
    if s:find("^false", pos) then pos = pos + 5; return false end
    local num = s:match("^-?%d+%.?%d*[eE][-+]?%d+", pos) or s:match("^-?%d+%.?%d*", pos)
      or s:match("^-?%.%d+", pos)
    if num then
      pos = pos + #num
      return tointeger(tonumber(num)) or tonumber(num)
    end
    fail("unexpected " .. (c == "" and "end" or ("'" .. c .. "'")))
  end
  skip()
  if s:sub(pos, pos) ~= "{" then fail("expected '{'") end
  local t = tbl(1)
  skip()
  if pos <= #s then fail("unexpected text after the table") end
  return t
end

---------------------------------------------------------------------------------------------
-- checkpoints
---------------------------------------------------------------------------------------------
local function check_model_name(fn, name)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then
    raise(fmt("%s: model name must be an identifier under lunet.models, got %s", fn, E.show(name)))
  end
end

--- checkpoint_metadata(name, config) -> {model = name, config = encode_config(config)}: the
--- two metadata keys load_model reads, to merge into any checkpoint's metadata.
function M.checkpoint_metadata(name, config)
  check_model_name("checkpoint_metadata", name)
  if type(config) ~= "table" then
    raise("checkpoint_metadata: config must be a table, got " .. E.typename(config))
  end
  return { model = name, config = M.encode_config(config) }
end

--- save_model(path, model, {model=, config=, metadata=}): the state dict and the metadata
--- model = name, config = encode_config(config) (see the file header).
function M.save_model(path, model, opts)
  opts = E.options(opts, "save_model", { "model", "config", "metadata" })
  if type(path) ~= "string" then raise("save_model: path must be a string, got " .. E.typename(path)) end
  if opts.metadata ~= nil and type(opts.metadata) ~= "table" then
    raise("save_model: metadata must be a table, got " .. E.typename(opts.metadata))
  end
  if type(model) ~= "table" or type(model.state_dict) ~= "function" then
    raise("save_model: model must be an nn.Module, got " .. E.typename(model))
  end
  -- a zoo model whose class name is not its lunet.models name says so in zoo_name
  local name = opts.model or (type(model.zoo_name) == "string" and model.zoo_name)
      or (type(model.__name) == "string" and model.__name:lower())
  check_model_name("save_model", name)
  local config = opts.config or model.config
  if type(config) ~= "table" then
    raise("save_model: config must be a table (model.config or opts.config), got " .. E.typename(config))
  end
  local meta = {}
  for k, v in pairs(opts.metadata or {}) do meta[k] = v end
  meta.model, meta.config = name, M.encode_config(config)
  local sd = {}
  for k, v in pairs(model:state_dict()) do sd[k] = v end
  lunet.save(path, sd, meta)
  return path
end

--- load_model(path, {model=, config=, strict=true}) -> model (eval mode), metadata.
--- The name and options come from the checkpoint's metadata unless given.
function M.load_model(path, opts)
  opts = E.options(opts, "load_model", { "model", "config", "strict" })
  if type(path) ~= "string" then raise("load_model: path must be a string, got " .. E.typename(path)) end
  if opts.strict ~= nil and type(opts.strict) ~= "boolean" then
    raise("load_model: strict must be a boolean, got " .. E.show(opts.strict))
  end
  if opts.config ~= nil and type(opts.config) ~= "table" then
    raise("load_model: config must be a table, got " .. E.typename(opts.config))
  end
  local lok0, sd, meta = pcall(lunet.load, path)
  if not lok0 then   -- "load: cannot open 'x': ..." (with a position prefix from lunet.io)
    raise("load_model: " .. bare(sd):gsub("^load: ", ""))
  end
  meta = meta or {}
  local name = opts.model or meta.model
  if name == nil then
    raise(fmt("load_model: '%s' has no 'model' metadata (save it with predict.save_model, or pass "
      .. "{model = \"unet\", config = {...}})", path))
  end
  check_model_name("load_model", name)
  local config = opts.config
  if config == nil then
    if meta.config == nil then
      raise(fmt("load_model: '%s' has no 'config' metadata (pass {config = {...}})", path))
    end
    config = M.decode_config(meta.config)
  end
  local ok, ctor = pcall(require, "lunet.models." .. name)
  if not ok then raise(fmt("load_model: unknown model '%s' (no module lunet.models.%s)", name, name)) end
  local model = ctor(config)
  -- train.fit checkpoints hold "model.<name>" (plus optimizer, scheduler, ... entries)
  -- (used when the model's own names are not all in the file but "model."-names are)
  local state, plain, prefixed = {}, true, false
  for k in pairs(model:state_dict()) do
    if sd[k] == nil then plain = false end
    if sd["model." .. k] ~= nil then prefixed = true end
  end
  if not plain and prefixed then
    for k, v in pairs(sd) do
      if k:sub(1, 6) == "model." then state[k:sub(7)] = v end
    end
  else
    state = sd
  end
  local lok, err = pcall(model.load_state_dict, model, state, { strict = opts.strict ~= false })
  if not lok then raise(fmt("load_model: '%s': %s", path, bare(err))) end
  model:eval()
  return model, meta
end

return setmetatable(M, { __call = function(_, ...) return M.predict(...) end })
