-- volume.lua: volumetric segmentation end to end. A 3-D U-Net (lunet.models.unet3d) learns to
-- segment ellipsoids and tubes in synthetic noisy volumes with a smooth bias field and
-- varying contrast (lunet.data.volumes), with volume augmentation (lunet.transforms' 3-D
-- transforms), evaluates Dice / HD95 / surface Dice on held-out volumes by sliding-window
-- inference, and writes a prediction as NIfTI and a PNG montage of slices with the overlay.
--
--   eval "$(make -s env)"; lua5.4 examples/volume.lua [steps] [out_dir]
--   lua5.4 examples/volume.lua brain [steps] [out_dir]   -- the second task, on real data
--
-- The second task (Debian package mricron-data, 16 MB: `apt-get install mricron-data`) is
-- brain extraction on the Colin27 ("ch2") T1 MRI template: the label is the brain mask of
-- the package's skull-stripped ch2bet.nii.gz (ch2bet > 0), both read with load_nifti and
-- averaged to 2 mm (90 x 108 x 90). One subject only, so the split is spatial: training
-- patches come from the left hemisphere (W < 45, the i axis) and the Dice is measured on the
-- right one by sliding-window inference.
--
-- Defaults: 1800 steps of batch 4 patches of 16^3 (foreground-biased crops of 48 training
-- volumes of 24^3), evaluated on 8 test volumes of 24^3,
-- 2 threads. Prints the per-class test Dice and the time; exits with status 1 when the mean
-- foreground Dice is below 0.90.
local lunet = require "lunet"
local nn, optim, data, metrics, image = lunet.nn, lunet.optim, lunet.data, lunet.metrics, lunet.image
local T = require "lunet.transforms"
local P = require "lunet.predict"
local UNet3D = require "lunet.models.unet3d"
local wall = require("lunet.core").nn.wallclock

local brain, steps, out
do
  local o, args = require("lunet.cli").parse_args("volume", arg or {}, { optional_positional = 3 })
  if o.help then
    print("usage: lua5.4 examples/volume.lua [brain] [STEPS] [OUTDIR] (see the top of the file)")
    os.exit(0)
  end
  brain = args[1] == "brain"
  if brain then table.remove(args, 1) end
  if #args > 2 then error("volume: unexpected argument '" .. args[3] .. "'", 0) end
  steps = brain and 200 or 1800
  if args[1] then
    steps = math.tointeger(tonumber(args[1]))
    if not steps or steps < 1 then error("volume: STEPS must be a positive integer, got '" .. args[1] .. "'", 0) end
  end
  out = args[2] or (brain and "out/volume_brain" or "out/volume")
end
local SIZE, PATCH, BATCH = 24, 16, 4
local MAX_LR = 1e-2   -- OneCycle peak (6e-3 reached 0.885 mean Dice in 900 steps)
lunet.manual_seed(0)
lunet.set_num_threads(2)
os.execute("mkdir -p " .. out)
local t0 = wall()

if brain then
  local dir = "/usr/share/mricron/templates/"
  if not io.open(dir .. "ch2.nii.gz") then
    io.stderr:write("volume.lua brain: needs the Debian package mricron-data (apt-get install mricron-data)\n")
    os.exit(2)
  end
  local F = nn.functional
  local t1, hdr = image.load_nifti(dir .. "ch2.nii.gz")
  local bet = image.load_nifti(dir .. "ch2bet.nii.gz")
  local D, H, W = t1:size(1) // 2 * 2, t1:size(2) // 2 * 2, t1:size(3) // 2 * 2
  local function half(v) return F.avg_pool3d(v:narrow(1, 1, D):narrow(2, 1, H):narrow(3, 1, W):float():reshape(1, 1, D, H, W), { kernel = 2 }) end
  local x = half(t1)
  x = (x - x:mean():item()) / (x:pow(2):mean():item() - x:mean():item() ^ 2) ^ 0.5
  local y = half(bet:gt(0)):gt(0.5):to("int32"):reshape(D // 2, H // 2, W // 2)
  local w2 = (W // 2) // 2
  local train_img, train_mask = x:narrow(5, 1, w2):squeeze(1), y:narrow(3, 1, w2)
  local test_img, test_mask = x:narrow(5, w2 + 1, W // 2 - w2):squeeze(1), y:narrow(3, w2 + 1, W // 2 - w2)
  local model = UNet3D{ in_channels = 1, num_classes = 2, base = 8, depth = 3, norm = "batch" }
  local opt = optim.Adam(model:parameters(), { lr = 3e-3 })
  local sched = optim.OneCycleLR(opt, { max_lr = 6e-3, total_steps = steps })
  local loss_fn = nn.CrossEntropyLoss{} + nn.DiceLoss{ mode = "multiclass" }
  local aug = T.Compose{ T.RandomCropByPosNegLabel3d{ size = 24, pos = 1, neg = 1, num_samples = BATCH },
                         T.RandomScaleIntensity3d{ factors = 0.1 }, T.ShiftIntensity3d{ offsets = 0.1 }, seed = 5 }
  print(("volume brain: ch2 T1 at 2 mm %s, brain %.1f%% of voxels; training on W 1..%d, testing on W %d..%d")
    :format(table.concat(x:shape(), "x"), 100 * y:float():mean():item(), w2, w2 + 1, W // 2))
  model:train()
  for step = 1, steps do
    local list = aug{ image = train_img, mask = train_mask }
    local imgs, masks = {}, {}
    for b, one in ipairs(list) do imgs[b], masks[b] = one.image, one.mask end
    opt:zero_grad()
    local loss = loss_fn(model(lunet.stack(imgs)), lunet.stack(masks))
    loss:backward()
    opt:step()
    sched:step()
    if step % 50 == 0 or step == steps then
      print(("step %4d/%d  loss %.4f  %.0f s"):format(step, steps, loss:item(), wall() - t0))
    end
  end
  model:eval()
  local logits = P.sliding_window(model, test_img, { roi_size = { 32, 32, 24 }, overlap = 0.5, mode = "gaussian", sw_batch_size = 2 })
  local pred = F.labels(logits:unsqueeze(1)):squeeze(1)
  local dice = metrics.dice(pred, test_mask, { num_classes = 2, reduction = "none" })[2]
  local hd95 = metrics.hausdorff(pred, test_mask, { spacing = { 2, 2, 2 }, percentile = 95 })
  local nsd = metrics.surface_dice(pred, test_mask, { spacing = { 2, 2, 2 }, tolerance = 2 })
  print(("held-out hemisphere: brain Dice %.4f, HD95 %.2f mm, surface Dice (2 mm) %.4f (total %.0f s)")
    :format(dice, hd95, nsd, wall() - t0))
  image.save_nifti(out .. "/brain_pred.nii.gz", pred:to("uint8"), { spacing = { 2, 2, 2 }, xyz_units = "mm" })
  os.exit(0)
end

local train_ds = data.volumes{ n = 48, size = SIZE, seed = 1 }
local test_ds = data.volumes{ n = 8, size = SIZE, seed = 2 }
local C = #data.volumes_classes
local aug = T.Compose{ T.RandomCropByPosNegLabel3d{ size = PATCH, pos = 1, neg = 1 },
                       T.Flip3d{ axis = 1 }, T.Flip3d{ axis = 2 }, T.Flip3d{ axis = 3 },
                       T.RandomRotate90_3d{ plane = { 2, 3 } },
                       T.RandomScaleIntensity3d{ factors = 0.1 }, T.ShiftIntensity3d{ offsets = 0.1 },
                       seed = 3 }
local model = UNet3D{ in_channels = 1, num_classes = C, base = 8, depth = 3, norm = "batch" }
local opt = optim.Adam(model:parameters(), { lr = 3e-3 })
local sched = optim.OneCycleLR(opt, { max_lr = MAX_LR, total_steps = steps })
local loss_fn = nn.CrossEntropyLoss{} + nn.DiceLoss{ mode = "multiclass" }
local order = lunet.Generator(4)

print(("volume: %d training volumes of %d^3, %d test volumes, classes %s; unet3d base 8 depth 3 (%d parameters)")
  :format(train_ds:len(), SIZE, test_ds:len(), table.concat(data.volumes_classes, ", "), model:num_parameters()))
model:train()
local perm, pos = nil, math.huge
for step = 1, steps do
  local imgs, masks = {}, {}
  for b = 1, BATCH do
    if pos > train_ds:len() then perm, pos = lunet.randperm(train_ds:len(), { generator = order }):tolist(), 1 end
    local s = aug(train_ds:get(perm[pos]))
    pos = pos + 1
    imgs[b], masks[b] = s.image, s.mask
  end
  opt:zero_grad()
  local loss = loss_fn(model(lunet.stack(imgs)), lunet.stack(masks))
  loss:backward()
  opt:step()
  sched:step()
  if step % 40 == 0 or step == steps then
    print(("step %4d/%d  loss %.4f  %.0f s"):format(step, steps, loss:item(), wall() - t0))
  end
end
local t_train = wall() - t0

-- held-out evaluation: sliding-window inference (Gaussian blending) on each whole volume
model:eval()
local dice_sum, nsd_sum, hd_sum = {}, {}, {}
for c = 1, C - 1 do dice_sum[c], nsd_sum[c], hd_sum[c] = 0, 0, 0 end
local first_pred
for i = 1, test_ds:len() do
  local s = test_ds:get(i)
  local logits = P.sliding_window(model, s.image, { roi_size = { 16, 16, 16 }, overlap = 0.5, mode = "gaussian", sw_batch_size = 4 })
  local pred = nn.functional.labels(logits:unsqueeze(1)):squeeze(1)
  first_pred = first_pred or pred
  local d = metrics.dice(pred, s.mask, { num_classes = C, reduction = "none" })
  local nsd = metrics.surface_dice(pred, s.mask, { num_classes = C, spacing = { 1, 1, 1 }, tolerance = 1 })
  for c = 1, C - 1 do
    dice_sum[c] = dice_sum[c] + d[c + 1]
    nsd_sum[c] = nsd_sum[c] + nsd[c]
    local hd = metrics.hausdorff(pred:eq(c), s.mask:eq(c), { spacing = { 1, 1, 1 }, percentile = 95 })
    hd_sum[c] = hd_sum[c] + hd
  end
end
local n = test_ds:len()
local mean = 0
for c = 1, C - 1 do
  print(("test %-10s Dice %.4f  HD95 %.2f voxels  surface Dice (1 voxel) %.4f"):format(
    data.volumes_classes[c + 1], dice_sum[c] / n, hd_sum[c] / n, nsd_sum[c] / n))
  mean = mean + dice_sum[c] / n / (C - 1)
end
print(("mean foreground test Dice %.4f (training %.0f s, total %.0f s)"):format(mean, t_train, wall() - t0))

-- outputs: the first test volume's prediction as NIfTI, and a montage of 6 axial slices
-- (image gray, overlay of the prediction) above the same slices with the ground truth
local s = test_ds:get(1)
local hdr = { spacing = { 1, 1, 1 }, xyz_units = "mm", descrip = "lunet examples/volume.lua prediction" }
image.save_nifti(out .. "/pred.nii.gz", first_pred:to("uint8"), hdr)
image.save_nifti(out .. "/image.nii.gz", s.image:select(1, 1), hdr)
local vol = s.image:select(1, 1)
local lo, hi = vol:min():item(), vol:max():item()
local gray = ((vol - lo) / (hi - lo) * 255):clamp(0, 255):to("uint8")
local rows = {}
for r, labels in ipairs{ first_pred, s.mask } do
  local tiles = {}
  for k = 1, 6 do
    local z = math.floor((k - 0.5) * SIZE / 6) + 1
    tiles[k] = image.overlay(gray:select(1, z):unsqueeze(1), labels:select(1, z), { alpha = 0.45 })
  end
  rows[r] = lunet.cat(tiles, 3)
end
local montage = lunet.cat(rows, 2)   -- 3 x 48 x 144: enlarged 4x (nearest) to be seen
montage = nn.functional.interpolate(montage:float():unsqueeze(1), { scale_factor = 4, mode = "nearest" })
image.save(out .. "/montage.png", montage:squeeze(1):to("uint8"))
print(("wrote %s/pred.nii.gz, %s/image.nii.gz and %s/montage.png (top: prediction, bottom: truth)"):format(out, out, out))
if mean < 0.90 then os.exit(1) end
