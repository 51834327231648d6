-- lunet.data.tuxpaint_instances: an instance-segmentation task on real photographs: several
-- Tux Paint photo cut-outs (Debian tuxpaint-stamps-default) per image, overlapping and
-- touching, with exact instance ids from their alpha channels.
local core = require "lunet.core"
local E = require "lunet.errors"
local image = require "lunet.image"
local dataset = require "lunet.data.dataset"

local cimg = core.image
local type, ipairs = type, ipairs
local floor, min, max = math.floor, math.min, math.max

local M = {}

M.ROOT = "/usr/share/tuxpaint/stamps"
M.MAX_PIXELS = 1 << 30

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function pair(fn, name, v, lo, hi, int)
  if type(v) ~= "table" or type(v[1]) ~= "number" or type(v[2]) ~= "number" or not (v[1] >= lo and v[2] >= v[1] and v[2] <= hi)
     or (int and (math.type(v[1]) ~= "integer" or math.type(v[2]) ~= "integer")) then
    E.fail(fn, "%s must be {lo, hi} with %s <= lo <= hi <= %s%s, got %s", name, E.show(lo), E.show(hi),
           int and " (integers)" or "", E.show(v))
  end
  return v[1], v[2]
end

--- tuxpaint_instances{n=256, size=64, seed=0, stamps={2, 4}, scale={0.3, 0.55},
--- max_overlap=0.25, root=, transform=}: n size x size composites, each a procedural texture
--- (as data.tuxpaint's) with stamps[1]..stamps[2] photo cut-outs of Debian
--- tuxpaint-stamps-default pasted one after another (randomly mirrored, longer side
--- scale[1]..scale[2] of size, at random positions). A stamp covers the earlier ones where its
--- alpha > 127; the mask (int32 size x size) holds instance ids 1..k in pasting order (0
--- background), exact from the alpha channels. A placement is redrawn (up to 50 times, then
--- the image keeps fewer stamps) when more than max_overlap of the new stamp lies on earlier
--- ones or when it would hide more than half of an earlier stamp, so objects overlap and
--- touch but stay mostly visible. Everything is drawn from lunet.Generator(seed). Returns a
--- TensorDataset (image uint8 n x 3 x size x size, mask int32 n x size x size) with
--- ds.counts[i] the number of instances of item i and ds.stamps[i] their stamp files.
function M.tuxpaint_instances(opts)
  local fn = "data.tuxpaint_instances"
  opts = E.options(opts, fn, { "n", "size", "seed", "stamps", "scale", "max_overlap", "root", "transform" })
  local lunet = require "lunet"
  local n = E.integer(fn, "n", opts.n or 256, 1)
  local size = E.integer(fn, "size", opts.size or 64, 16, 4096)
  if n > M.MAX_PIXELS // (size * size) then
    E.fail(fn, "n = %d images of %dx%d exceed %d pixels in all", n, size, size, M.MAX_PIXELS)
  end
  local seed = E.integer(fn, "seed", opts.seed or 0, 0)
  local kmin, kmax = pair(fn, "stamps", opts.stamps or { 2, 4 }, 1, 64, true)
  local slo, shi = pair(fn, "scale", opts.scale or { 0.3, 0.55 }, 1e-9, 1, false)
  local maxov = opts.max_overlap == nil and 0.25 or E.number(fn, "max_overlap", opts.max_overlap, 0, 1)
  if opts.root ~= nil and type(opts.root) ~= "string" then
    E.fail(fn, "root must be a directory path, got %s", E.show(opts.root))
  end
  local tf = opts.transform
  local mt = (type(tf) == "table" or type(tf) == "userdata") and getmetatable(tf)
  if tf ~= nil and type(tf) ~= "function" and not (type(mt) == "table" and mt.__call) then
    E.fail(fn, "transform must be callable, got %s", E.typename(tf))
  end
  local root = opts.root or M.ROOT
  local avail = {}
  for _, rel in ipairs(require "lunet.data.tuxpaint_stamps") do
    if exists(root .. "/" .. rel) then avail[#avail + 1] = rel end
  end
  if #avail == 0 then
    E.fail(fn, "no stamp of the list found under '%s'; install the Debian package " ..
               "tuxpaint-stamps-default (apt-get install tuxpaint-stamps-default) or pass {root=dir}", root)
  end
  local g = lunet.Generator(seed)
  local images = lunet.zeros({ n, 3, size, size }, { dtype = "uint8" })
  local masks = lunet.zeros({ n, size, size }, { dtype = "int32" })
  local scratch_img = lunet.zeros({ 3, size, size }, { dtype = "uint8" })
  local scratch = lunet.zeros({ size, size }, { dtype = "int32" })
  local cache, counts, stamps = {}, {}, {}
  for i = 1, n do
    local img, mask = images:select(1, i), masks:select(1, i)
    local u0 = g:rand(2):totable()
    cimg.texture(img, min(3, floor(u0[1] * 4)), { generator = g })
    local want = kmin + min(kmax - kmin, floor(u0[2] * (kmax - kmin + 1)))
    local areas, k, names = {}, 0, {}
    for _ = 1, want do
      for _ = 1, 50 do
        local u = g:rand(5):totable()
        local s = min(#avail, floor(u[1] * #avail) + 1)
        local st = cache[s]
        if not st then
          st = image.load(root .. "/" .. avail[s], { mode = "rgba" })
          cache[s] = st
        end
        if u[2] < 0.5 then st = st:flip(3) end
        local sh, sw = st:size(2), st:size(3)
        local long = max(2, floor(size * (slo + (shi - slo) * u[3]) + 0.5))
        local dh, dw
        if sh >= sw then dh, dw = long, max(1, floor(long * sw / sh + 0.5))
        else dw, dh = long, max(1, floor(long * sh / sw + 0.5)) end
        local y0 = floor(u[4] * (size - dh + 1))
        local x0 = floor(u[5] * (size - dw + 1))
        scratch:zero_()
        cimg.composite(scratch_img, scratch, st, y0, x0, dh, dw, 1)
        local new = scratch:eq(1)
        local area = new:sum():item()
        local ok = area > 0
        if ok and k > 0 then
          local covered = mask:mul(new:int())
          ok = covered:gt(0):sum():item() <= maxov * area
          if ok then
            local flat = covered:reshape(size * size):add(1)
            local lost = lunet.zeros(k + 1):index_add_(1, flat, lunet.ones(size * size)):totable()
            for id = 1, k do
              if lost[id + 1] > 0.5 * areas[id] then ok = false end
            end
          end
        end
        if ok then
          k = k + 1
          cimg.composite(img, mask, st, y0, x0, dh, dw, k)
          -- the visible areas after this stamp covered part of the earlier ones
          local flat = mask:reshape(size * size):add(1)
          local cnt = lunet.zeros(k + 1):index_add_(1, flat, lunet.ones(size * size)):totable()
          for id = 1, k do areas[id] = id == k and area or cnt[id + 1] end
          names[k] = avail[s]
          break
        end
      end
    end
    counts[i], stamps[i] = k, names
  end
  local ds = dataset.TensorDataset { image = images, mask = masks, transform = tf }
  ds.counts, ds.stamps = counts, stamps
  ds.name = "tuxpaint_instances"
  return ds
end

return M
