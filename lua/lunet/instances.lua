-- lunet.instances: instance segmentation with a semantic network. Training targets from an
-- instance-id mask (H x W int32/uint8, 0 = background, each positive id one object) and the
-- post-processing that turns the network's output back into instance ids (markers + the
-- marker-controlled watershed of lunet.classic).
--
--   local I = require "lunet.instances"
--   local t = I.targets(ids)              -- foreground, interior, boundary, classes, distance
--   ds = data.Dataset{..., transform = I.Targets()}   -- mask -> 3 classes, ids kept
--   ...train a 3-class U-Net (background, interior, boundary) with cross-entropy...
--   local ids = I.from_output(model(x)[1])             -- int32 H x W, 1..n
--   local pq = metrics.panoptic_quality(ids, gt_ids)
local core = require "lunet.core"
local E = require "lunet.errors"

local type, pairs, ipairs, tostring, setmetatable = type, pairs, ipairs, tostring, setmetatable
local is_tensor = core.is_tensor

local M = {}

local lunet_mod, classic_mod, F_mod
local function L() lunet_mod = lunet_mod or require "lunet"; return lunet_mod end
local function C() classic_mod = classic_mod or require "lunet.classic"; return classic_mod end
local function F() F_mod = F_mod or require "lunet.nn.functional"; return F_mod end

local function lunet_where(c, a, b) return L().where(c, a, b) end

local function shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

-- Images of more pixels are refused before any scan or copy (ids are int32; an expanded view
-- of 2^60 pixels would otherwise be scanned for hours).
local MAX_PIXELS = (1 << 31) - 1

-- An instance-id map: an int32/uint8 H x W tensor with ids >= 0.
local function check_ids(fn, what, ids)
  if not is_tensor(ids) then E.fail(fn, "%s must be a tensor, got %s", what, E.typename(ids)) end
  if ids:dtype() ~= "int32" and ids:dtype() ~= "uint8" then
    E.fail(fn, "%s must be an int32 or uint8 tensor of instance ids, got %s", what, ids:dtype())
  end
  if ids:dim() ~= 2 then E.fail(fn, "%s must be H x W, got %s", what, shape_str(ids)) end
  if ids:numel() > MAX_PIXELS then
    E.fail(fn, "%s %s has %d pixels, more than the limit of %d", what, shape_str(ids), ids:numel(), MAX_PIXELS)
  end
  if ids:numel() > 0 and ids:min():item() < 0 then
    E.fail(fn, "%s holds a negative id (%d); ids are 0 (background) or positive", what, ids:min():item())
  end
  return ids:int()
end

-- ids (int32, H x W, >= 0) renumbered 1..K in the order of their values when the largest id
-- exceeds the pixel count (regionprops and the relabel table need ids up to it); else ids.
local function compact(ids)
  if ids:numel() == 0 or ids:max():item() <= ids:numel() then return ids end
  local vals = ids:reshape(ids:numel()):tolist()
  local seen, list = {}, {}
  for _, v in ipairs(vals) do
    if v > 0 and not seen[v] then
      seen[v] = true
      list[#list + 1] = v
    end
  end
  table.sort(list)
  local rank = {}
  for i, v in ipairs(list) do rank[v] = i end
  for i, v in ipairs(vals) do vals[i] = v > 0 and rank[v] or 0 end
  return L().tensor(vals, { dtype = "int32" }):view(ids:shape())
end

local function boolean(fn, what, v)
  if v ~= nil and type(v) ~= "boolean" then E.fail(fn, "%s must be a boolean, got %s", what, E.show(v)) end
  return v
end

local function check_map(fn, what, x, h, w)
  if not is_tensor(x) then E.fail(fn, "%s must be a tensor, got %s", what, E.typename(x)) end
  if x:dim() ~= 2 or x:size(1) ~= h or x:size(2) ~= w then
    E.fail(fn, "%s must be H x W = [%d, %d], got %s", what, h, w, shape_str(x))
  end
  if x:numel() > MAX_PIXELS then
    E.fail(fn, "%s %s has %d pixels, more than the limit of %d", what, shape_str(x), x:numel(), MAX_PIXELS)
  end
  x = x:float()
  if x:numel() > 0 and (x:ne(x):sum():item() > 0 or x:abs():max():item() == math.huge) then
    E.fail(fn, "%s holds a non-finite value", what)
  end
  return x
end

-- Pixels of an instance whose (2 width + 1)^2 neighbourhood holds another id (another instance
-- or the background): scikit-image's find_boundaries(mode="inner") for width 1 with
-- 8-connectivity. touching: only another instance counts (the background does not). The
-- image border is not a boundary. uint8 H x W.
local function inner_boundary(ids, width, touching)
  local f = ids:float():unsqueeze(1):unsqueeze(1)
  local k = 2 * width + 1
  local fg = f:gt(0)
  local mx = F().max_pool2d(f, { kernel = k, stride = 1, padding = width })
  local b
  if touching then
    -- the smallest nonzero id around: the background counts as +2^25 (ids are < 2^24)
    local g = lunet_where(fg, f, 33554432)
    local mn = F().max_pool2d(g:neg(), { kernel = k, stride = 1, padding = width }):neg()
    b = mx:gt(f):add(mn:lt(f)):gt(0):mul(fg)
  else
    local mn = F().max_pool2d(f:neg(), { kernel = k, stride = 1, padding = width }):neg()
    b = mx:ne(f):add(mn:ne(f)):gt(0):mul(fg)
  end
  return b:squeeze(1):squeeze(1)
end

-- Per-instance Euclidean distance to the nearest pixel outside the instance, divided by the
-- instance's largest distance (1 at its centre) when normalize. float32 H x W.
local BOUNDARY_MODES = { "inner", "touching" }

local function instance_distance(ids, normalize)
  local lunet = L()
  local h, w = ids:size(1), ids:size(2)
  local out = lunet.zeros(h, w)
  for _, r in ipairs(C().regionprops(ids)) do
    local b = r.bbox -- 1-based inclusive {r0, c0, r1, c1}
    local r0, c0 = math.max(b[1] - 1, 1), math.max(b[2] - 1, 1)
    local r1, c1 = math.min(b[3] + 1, h), math.min(b[4] + 1, w)
    local sub = ids:narrow(1, r0, r1 - r0 + 1):narrow(2, c0, c1 - c0 + 1)
    local m = sub:eq(r.label)
    local d = C().distance_transform_edt(m)
    if normalize then
      local mx = d:max():item()
      if mx > 0 and mx < math.huge then d = d:div(mx) end
    end
    local view = out:narrow(1, r0, r1 - r0 + 1):narrow(2, c0, c1 - c0 + 1)
    view:copy_(lunet.where(m, d, view))
  end
  return out
end

--- targets(ids, {boundary_width=1, boundary="inner", distance=true, normalize=true}) ->
--- {foreground, interior, boundary, classes, distance}: training targets of an instance-id
--- mask (H x W int32/uint8, 0 = background, each positive id one object; touching objects have
--- different ids). foreground: uint8 ids > 0. boundary: uint8, the instance pixels within
--- boundary_width pixels (chessboard distance) of another id or the background, like
--- scikit-image's find_boundaries(mode="inner") for width 1 (boundary="inner"), or only of
--- another instance (boundary="touching": the contours where objects meet, so thin objects
--- keep their interior); the image border is no boundary. interior:
--- foreground minus boundary. classes: int32 0 = background, 1 = interior, 2 = boundary (the
--- 3-class target of a semantic network whose interiors separate touching objects). distance:
--- float32, each pixel's Euclidean distance to the nearest pixel outside its own instance
--- (another instance or the background; per instance, exact), divided by that instance's
--- largest distance when normalize (1 at the centre); omitted when distance=false.
function M.targets(ids, opts)
  local fn = "targets"
  opts = E.options(opts, fn, { "boundary_width", "boundary", "distance", "normalize" })
  local width = opts.boundary_width == nil and 1 or E.integer(fn, "boundary_width", opts.boundary_width, 1, 1000)
  local touching = opts.boundary ~= nil and E.choice(fn, "boundary", opts.boundary, BOUNDARY_MODES) == "touching"
  boolean(fn, "distance", opts.distance)
  boolean(fn, "normalize", opts.normalize)
  ids = check_ids(fn, "ids", ids)
  local fg = ids:gt(0)
  local t = { foreground = fg }
  if ids:numel() == 0 then
    t.boundary, t.interior, t.classes = fg:clone(), fg:clone(), ids:clone()
    if opts.distance ~= false then t.distance = ids:float() end
    return t
  end
  ids = compact(ids)   -- order-preserving: the same boundaries and distances
  if ids:max():item() >= 16777216 then
    E.fail(fn, "ids holds id %d; ids up to 16777215 are supported", ids:max():item())
  end
  t.boundary = inner_boundary(ids, width, touching)
  t.interior = fg:sub(t.boundary)
  t.classes = t.interior:int():add(t.boundary:int():mul(2))
  if opts.distance ~= false then t.distance = instance_distance(ids, opts.normalize ~= false) end
  return t
end

local Targets = {}
Targets.__index = Targets
Targets.__call = function(self, sample)
  local fn = "Targets"
  if type(sample) ~= "table" or not is_tensor(sample.mask) then
    E.fail(fn, "the sample must be a table with a mask tensor of instance ids, got %s",
           type(sample) == "table" and "a table without mask" or E.typename(sample))
  end
  local ids = sample.mask
  if ids:dim() == 3 and ids:size(1) == 1 then ids = ids:select(1, 1) end
  local ok, t = pcall(M.targets, ids, { boundary_width = self.boundary_width, boundary = self.boundary,
                                       distance = self.distance })
  if not ok then   -- raised at the caller's line, naming targets: name the transform
    error((tostring(t):gsub("^(.-:%d+: )targets: ", "%1Targets: "):gsub("^targets: ", "Targets: ")), 0)
  end
  local out = {}
  for k, v in pairs(sample) do out[k] = v end
  out.instances = ids:int()
  out.mask = t.classes
  out.foreground, out.boundary = t.foreground, t.boundary
  if t.distance then out.distance = t.distance end
  return out
end
Targets.__tostring = function(self)
  return ("Targets(boundary_width=%d, boundary=%s, distance=%s)"):format(self.boundary_width, self.boundary,
                                                                       tostring(self.distance))
end

--- Targets({boundary_width=1, boundary="inner", distance=false}): a dataset transform (callable on a sample
--- {image, mask = instance ids, ...}) that replaces mask with the 3-class target of targets()
--- (0 background, 1 interior, 2 boundary; collated as the usual N x H x W int32 mask) and adds
--- instances (the int32 ids), foreground and boundary (and distance when distance=true) to the
--- sample. Put it after the spatial augmentations (they move the ids with nearest
--- interpolation).
function M.Targets(opts)
  local fn = "Targets"
  opts = E.options(opts, fn, { "boundary_width", "boundary", "distance" })
  local width = opts.boundary_width == nil and 1 or E.integer(fn, "boundary_width", opts.boundary_width, 1, 1000)
  local mode = opts.boundary == nil and "inner" or E.choice(fn, "boundary", opts.boundary, BOUNDARY_MODES)
  if opts.distance ~= nil and type(opts.distance) ~= "boolean" then
    E.fail(fn, "distance must be a boolean, got %s", E.typename(opts.distance))
  end
  return setmetatable({ boundary_width = width, boundary = mode, distance = opts.distance == true }, Targets)
end

--- relabel(ids, {min_size=0}) -> ids, count: removes the objects of fewer than min_size pixels
--- (set to 0) and renumbers the others 1..count in the order of their ids.
function M.relabel(ids, opts)
  local fn = "relabel"
  opts = E.options(opts, fn, { "min_size" })
  local min_size = opts.min_size == nil and 0 or E.integer(fn, "min_size", opts.min_size, 0)
  ids = check_ids(fn, "ids", ids)
  local lunet = L()
  if ids:numel() == 0 then return ids:clone(), 0 end
  ids = compact(ids)
  local mx = ids:max():item()
  local props = C().regionprops(ids)
  local lut, n = {}, 0
  for i = 1, mx + 1 do lut[i] = 0 end
  for _, r in ipairs(props) do
    if r.area >= min_size then
      n = n + 1
      lut[r.label + 1] = n
    end
  end
  local flat = ids:reshape(ids:numel()):add(1)
  return lunet.tensor(lut, { dtype = "int32" }):index_select(1, flat):view(ids:shape()), n
end

local KINDS = { "distance", "boundary", "interior" }
local MARKERS = { "core", "maxima" }

--- watershed(prob_fg, cue, {kind="distance", threshold=0.5, markers=, marker_threshold=0.5,
--- min_distance=2, min_marker_size=0, min_size=0, connectivity=1}) -> ids, count: instance
--- ids (int32 H x W, 1..count) from a foreground probability map and a cue separating
--- touching objects: foreground = prob_fg > threshold; markers (seeds) are labelled, seeds
--- below min_marker_size pixels are dropped (their pixels then join a neighbouring object in
--- the watershed instead of becoming a fragment of their own), the seeds are grown by
--- lunet.classic.watershed inside the foreground, and objects below min_size pixels are
--- dropped (ids renumbered). kind "distance": cue is a distance map (e.g. the network's
--- normalised per-instance distance, or nil for the Euclidean distance transform of the
--- foreground); elevation -cue; markers "core" (default for a given cue): the connected
--- regions of cue > marker_threshold, or "maxima" (default for cue = nil): local maxima of
--- cue within a (2 min_distance + 1)^2 window, above marker_threshold (plateaus one seed).
--- Seeds are 8-connected regions (the interiors of targets() never touch diagonally).
--- kind "boundary": cue is a boundary probability; elevation cue; markers the regions of
--- foreground with cue < marker_threshold. kind "interior": cue is an interior probability;
--- elevation -cue; markers the regions of cue > marker_threshold. prob_fg, cue: H x W,
--- float32 (or any dtype, read as float32).
function M.watershed(prob_fg, cue, opts)
  local fn = "watershed"
  opts = E.options(opts, fn, { "kind", "threshold", "markers", "marker_threshold", "min_distance",
                               "min_marker_size", "min_size", "connectivity" })
  local kind = opts.kind == nil and "distance" or E.choice(fn, "kind", opts.kind, KINDS)
  local thr = opts.threshold == nil and 0.5 or E.number(fn, "threshold", opts.threshold)
  local mthr = opts.marker_threshold == nil and 0.5 or E.number(fn, "marker_threshold", opts.marker_threshold)
  local md = opts.min_distance == nil and 2 or E.integer(fn, "min_distance", opts.min_distance, 0, 10000)
  local min_size = opts.min_size == nil and 0 or E.integer(fn, "min_size", opts.min_size, 0)
  local min_msize = opts.min_marker_size == nil and 0 or E.integer(fn, "min_marker_size", opts.min_marker_size, 0)
  local conn = opts.connectivity == nil and 1 or E.integer(fn, "connectivity", opts.connectivity, 1, 2)
  local mk = opts.markers and E.choice(fn, "markers", opts.markers, MARKERS)
  if not is_tensor(prob_fg) then E.fail(fn, "prob_fg must be a tensor, got %s", E.typename(prob_fg)) end
  if prob_fg:dim() ~= 2 then E.fail(fn, "prob_fg must be H x W, got %s", shape_str(prob_fg)) end
  local h, w = prob_fg:size(1), prob_fg:size(2)
  prob_fg = check_map(fn, "prob_fg", prob_fg, h, w)
  if cue == nil and kind ~= "distance" then E.fail(fn, "kind '%s' needs a cue map, got nil", kind) end
  if cue ~= nil then cue = check_map(fn, "cue", cue, h, w) end
  if mk and kind ~= "distance" then
    E.fail(fn, "markers applies to kind 'distance' (kind '%s' seeds from its cue)", kind)
  end
  local lunet, classic = L(), C()
  local fg = prob_fg:gt(thr)
  if h * w == 0 then return lunet.zeros(h, w):int(), 0 end
  local elevation, seeds
  if kind == "distance" then
    if cue == nil then
      cue = classic.distance_transform_edt(fg)
      mk = mk or "maxima"
      if opts.marker_threshold == nil then mthr = 0 end
    end
    mk = mk or "core"
    elevation = cue:neg()
    if mk == "core" then
      seeds = cue:gt(mthr):mul(fg)
    else
      local x = cue:unsqueeze(1):unsqueeze(1)
      local pooled = F().max_pool2d(x, { kernel = 2 * md + 1, stride = 1, padding = md }):squeeze(1):squeeze(1)
      seeds = cue:ge(pooled):mul(cue:gt(mthr)):mul(fg)
    end
  elseif kind == "boundary" then
    elevation = cue
    seeds = cue:lt(mthr):mul(fg)
  else
    elevation = cue:neg()
    seeds = cue:gt(mthr):mul(fg)
  end
  local markers = classic.label(seeds, { connectivity = 2 })
  if min_msize > 0 then markers = M.relabel(markers, { min_size = min_msize }) end
  local ids = classic.watershed(elevation, markers, { mask = fg, connectivity = conn })
  return M.relabel(ids, { min_size = min_size })
end

local OUTPUT_KINDS = { "classes", "distance", "boundary" }

--- from_output(output, {kind="classes", threshold=0.5, marker_threshold=0.5,
--- min_marker_size=0, min_size=0, ...}) -> ids, count: instance ids from a network's raw output C x H x W (or N x C x H x W:
--- lists). kind "classes": 3 channels of logits for background, interior, boundary (the
--- targets' classes; softmax): foreground 1 - p(background), cue p(interior) (watershed
--- kind "interior"). kind "distance": channel 1 the foreground logit, channel 2 the logit of
--- the normalised distance (sigmoid). kind "boundary": channel 1 the foreground logit, channel
--- 2 the boundary logit (sigmoid). The other options go to watershed.
function M.from_output(output, opts)
  local fn = "from_output"
  opts = E.options(opts, fn, { "kind", "threshold", "markers", "marker_threshold", "min_distance",
                               "min_marker_size", "min_size", "connectivity" })
  local kind = opts.kind == nil and "classes" or E.choice(fn, "kind", opts.kind, OUTPUT_KINDS)
  -- the options passed on to watershed, checked here so that errors name from_output
  for _, k in ipairs { "threshold", "marker_threshold" } do
    if opts[k] ~= nil then E.number(fn, k, opts[k]) end
  end
  if opts.min_distance ~= nil then E.integer(fn, "min_distance", opts.min_distance, 0, 10000) end
  if opts.min_marker_size ~= nil then E.integer(fn, "min_marker_size", opts.min_marker_size, 0) end
  if opts.min_size ~= nil then E.integer(fn, "min_size", opts.min_size, 0) end
  if opts.connectivity ~= nil then E.integer(fn, "connectivity", opts.connectivity, 1, 2) end
  if opts.markers ~= nil then E.choice(fn, "markers", opts.markers, MARKERS) end
  if not is_tensor(output) then E.fail(fn, "output must be a tensor, got %s", E.typename(output)) end
  if output:dim() == 4 then
    local all, counts = {}, {}
    for n = 1, output:size(1) do all[n], counts[n] = M.from_output(output:select(1, n), opts) end
    return all, counts
  end
  local need = kind == "classes" and 3 or 2
  if output:dim() ~= 3 or output:size(1) ~= need then
    E.fail(fn, "kind '%s' takes output %d x H x W (or N x %d x H x W), got %s", kind, need, need, shape_str(output))
  end
  if output:numel() > 3 * MAX_PIXELS then
    E.fail(fn, "output %s has %d elements, more than the limit of %d", shape_str(output), output:numel(), 3 * MAX_PIXELS)
  end
  output = output:float()
  if output:numel() > 0 and (output:ne(output):sum():item() > 0 or output:abs():max():item() == math.huge) then
    E.fail(fn, "output holds a non-finite value (%s)", output:ne(output):sum():item() > 0 and "nan" or "inf")
  end
  local wopts = {}
  for k, v in pairs(opts) do if k ~= "kind" then wopts[k] = v end end
  if kind == "classes" then
    local p = F().softmax(output, 1)
    wopts.kind = "interior"
    return M.watershed(p:select(1, 1):neg():add(1), p:select(1, 2), wopts)
  end
  local s = output:sigmoid()
  wopts.kind = kind
  return M.watershed(s:select(1, 1), s:select(1, 2), wopts)
end

return M
