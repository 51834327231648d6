-- bench/pipeline_data.lua DIR [N]: the input-pipeline benchmark's data: N (default 256)
-- 256x256 Tux Paint photo composites (lunet.data.tuxpaint: photo cut-outs of Debian
-- tuxpaint-stamps-default on generated textures) as DIR/img/NNNN.jpg (JPEG, quality 90) with
-- DIR/mask/NNNN.png (8-bit gray, 0/1). image.save writes the JPEG when it can; otherwise it
-- writes a PNG that bench/pipeline_jpeg.py turns into a JPEG (python3-pil). Prints
-- "jpeg" or "png" (what image.save wrote).
local lunet = require "lunet"
local data = require "lunet.data"
local image = require "lunet.image"

local dir, n = arg[1], tonumber(arg[2] or "256")
assert(dir, "usage: lua5.4 bench/pipeline_data.lua DIR [N]")
os.execute("mkdir -p '" .. dir .. "/img' '" .. dir .. "/mask'")
local ds = data.tuxpaint { n = n, size = 256, seed = 5 }
local wrote = "jpeg"
for i = 1, n do
  local s = ds:get(i)
  local jpg = string.format("%s/img/%04d.jpg", dir, i)
  if not pcall(image.save, jpg, s.image, { quality = 90 }) then image.save(jpg, s.image) end
  local f = assert(io.open(jpg, "rb"))
  if f:read(2) ~= "\255\216" then wrote = "png" end
  f:close()
  image.save(string.format("%s/mask/%04d.png", dir, i), s.mask:to("uint8"))
end
print(wrote)
