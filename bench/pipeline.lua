-- bench/pipeline.lua DIR WORKERS [EPOCHS]: images/s of lunet's whole input pipeline:
-- SegmentationFolder over DIR/img/*.jpg (JPEG decode, libjpeg-turbo) + DIR/mask/*.png, then
-- HorizontalFlip, Rotate (+-30 degrees, bilinear image, nearest mask), RandomCrop 224,
-- RandomBrightnessContrast, Normalize (every p = 1, so the work per image is fixed), and a
-- DataLoader (batch 16, shuffled) with WORKERS worker processes (0: in this process).
-- bench/pipeline_torch.py runs the same pipeline with PIL + numpy in torch's DataLoader.
-- Prints "lunet <workers> <images/s> <images per CPU second>" over EPOCHS epochs (default
-- 3; CPU time of this process and its workers, user + system), worker start-up
-- included; workers are persistent (persistent_workers = true on both sides: the usual
-- setting for speed, and what a fork per epoch costs is then paid once per run).
local lunet = require "lunet"
local data = require "lunet.data"
local T = require "lunet.transforms"

local dir, workers, epochs = arg[1], tonumber(arg[2] or "0"), tonumber(arg[3] or "3")
local tf = T.Compose {
  T.HorizontalFlip { p = 1 },
  T.Rotate { p = 1, limit = 30, border_mode = "constant" },
  T.RandomCrop { 224, 224 },
  T.RandomBrightnessContrast { p = 1 },
  T.Normalize {},
  ignore_index = 255,
}
local ds = data.SegmentationFolder { images = dir .. "/img", masks = dir .. "/mask", transform = tf }
local loader = data.DataLoader(ds, { batch_size = 16, shuffle = true, seed = 1, num_workers = workers,
                                         persistent_workers = workers > 0 })
local now = lunet.now or require("lunet.core").workers.now
-- CPU seconds of this process and of its reaped children
local function cpu()
  local self, children = require("lunet.core").workers.cputime()
  return self + children
end
local n, t0, c0 = 0, now(), cpu()
for _ = 1, epochs do
  for b in loader:iter() do
    assert(b.image:size(3) == 224 and b.mask:size(2) == 224)
    n = n + b.image:size(1)
  end
end
local wall = now() - t0
loader:shutdown_workers()             -- reaps the workers, so their CPU time counts
io.write(string.format("lunet %d %.1f %.1f\n", workers, n / wall, n / (cpu() - c0)))
