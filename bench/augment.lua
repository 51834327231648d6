-- bench/augment.lua: images/s of a typical lunet.transforms pipeline on 256x256 RGB uint8
-- images with uint8 masks: HorizontalFlip, Rotate(±30, bilinear image, nearest mask),
-- RandomCrop 224, RandomBrightnessContrast, Normalize, every p = 1 so the work per image is
-- fixed (bench/augment_cv.py runs the same steps with OpenCV). Prints "lunet <img/s by
-- wall clock> <img/s by process CPU time>".
-- usage: lua5.4 bench/augment.lua [threads] [seconds]
local lunet = require "lunet"
local core = require "lunet.core"
local T = require "lunet.transforms"

local threads, seconds = tonumber(arg[1] or "1"), tonumber(arg[2] or "2")
lunet.set_num_threads(threads)

local gen = lunet.Generator(1)
local samples = {}
for i = 1, 8 do
  samples[i] = { image = gen:randint(0, 256, { 3, 256, 256 }):to("uint8"),
                 mask = gen:randint(0, 21, { 256, 256 }):to("uint8") }
end
local tf = T.Compose {
  T.HorizontalFlip { p = 1 },
  T.Rotate { p = 1, limit = 30, border_mode = "constant" },
  T.RandomCrop { 224, 224 },
  T.RandomBrightnessContrast { p = 1 },
  T.Normalize {},
  seed = 0, ignore_index = 255,
}

for i = 1, 20 do tf(samples[(i - 1) % #samples + 1]) end    -- warm-up
collectgarbage()
local now = core.warp.now
local n, t0, c0 = 0, now(), os.clock()
repeat
  for _ = 1, 10 do
    n = n + 1
    local out = tf(samples[(n - 1) % #samples + 1])
    assert(out.image:size(2) == 224 and out.mask:size(1) == 224)
  end
until now() - t0 >= seconds
io.write(string.format("lunet %.1f %.1f\n", n / (now() - t0), n / (os.clock() - c0)))
