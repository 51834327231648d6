-- bench/classic.lua SIZE REPS: seconds per call of each lunet.classic operation on a SIZE x SIZE
-- image (skimage's camera.png, 512 x 512, tiled for larger sizes), best of REPS calls; prints
-- "op wall cpu" lines (cpu = process CPU seconds, all threads). bench/classic_skimage.py does the
-- same with scikit-image / scipy; bench/bench_classic.sh runs both and prints the ratios.
local lunet = require "lunet"
local C = require "lunet.classic"

local size, reps = tonumber(arg[1] or "512"), tonumber(arg[2] or "3")
local only = arg[3]
local DATA = "/usr/lib/python3/dist-packages/skimage/data/"

local cam512 = lunet.image.load(DATA .. "camera.png"):select(1, 1):contiguous()
local cam = cam512
if size ~= 512 then
  assert(size % 512 == 0, "size must be a multiple of 512")
  cam = lunet.zeros({ size, size }, { dtype = "uint8" })
  for by = 0, size // 512 - 1 do
    for bx = 0, size // 512 - 1 do
      cam:narrow(1, by * 512 + 1, 512):narrow(2, bx * 512 + 1, 512):copy_(cam512)
    end
  end
end
local rgb512 = lunet.image.load(DATA .. "astronaut.png")
local rgb = rgb512
if size ~= 512 then
  rgb = lunet.zeros({ 3, size, size }, { dtype = "uint8" })
  for by = 0, size // 512 - 1 do
    for bx = 0, size // 512 - 1 do
      rgb:narrow(2, by * 512 + 1, 512):narrow(3, bx * 512 + 1, 512):copy_(rgb512)
    end
  end
end

local mask = cam:gt(100):to("uint8")
local camf = cam:float():div(255)
local elev = C.sobel(cam)
local markers = lunet.zeros({ size, size }, { dtype = "int32" })
markers = markers:add(cam:lt(30):int()):add(cam:gt(200):int():mul(2))
local disk3 = C.disk(3)
local feats = C.pixel_features(rgb)

local ops = {
  { "label", function() return C.label(mask) end },
  { "distance_transform_edt", function() return C.distance_transform_edt(mask) end },
  { "watershed", function() return C.watershed(elev, markers) end },
  { "threshold_otsu", function() return C.threshold_otsu(cam) end },
  { "threshold_multiotsu", function() return C.threshold_multiotsu(cam) end },
  { "threshold_sauvola", function() return C.threshold_sauvola(cam) end },
  { "threshold_niblack", function() return C.threshold_niblack(cam) end },
  { "sobel", function() return C.sobel(cam) end },
  { "scharr", function() return C.scharr(cam) end },
  { "prewitt", function() return C.prewitt(cam) end },
  { "laplace", function() return C.laplace(cam) end },
  { "canny", function() return C.canny(cam) end },
  { "binary_erosion_disk3", function() return C.erode(mask, disk3) end },
  { "binary_dilation_disk3", function() return C.dilate(mask, disk3) end },
  { "binary_opening_disk3", function() return C.opening(mask, disk3) end },
  { "binary_closing_disk3", function() return C.closing(mask, disk3) end },
  { "gray_erosion_disk3", function() return C.erode(camf, disk3) end },
  { "gray_dilation_disk3", function() return C.dilate(camf, disk3) end },
  { "kmeans_rgb_k4_20it", function() return C.kmeans(feats, 4, { iters = 20, tol = 0, seed = 0 }) end },
}

local clock, now = os.clock, lunet.core.now

for _, op in ipairs(ops) do
  if not only or op[1]:find(only, 1, true) then
    op[2]()   -- warm up
    local bw, bc = math.huge, math.huge
    for _ = 1, reps do
      collectgarbage()
      local w0, c0 = now(), clock()
      local r = op[2]()
      local w1, c1 = now(), clock()
      r = nil
      if w1 - w0 < bw then bw = w1 - w0 end
      if c1 - c0 < bc then bc = c1 - c0 end
    end
    io.write(("%s %.6f %.6f\n"):format(op[1], bw, bc))
  end
end
