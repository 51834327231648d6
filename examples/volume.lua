-- volume.lua: volumetric segmentation end to end. A 3-D U-Net (lunet.models.unet3d) learns to
-- segment ellipsoids and tubes in synthetic noisy volumes with a smooth bias field and
-- varying contrast (lunet.data.volumes), with volume augmentation (lunet.transforms' 3-D
-- transforms), evaluates Dice / HD95 / surface Dice on held-out volumes by sliding-window
-- inference, and writes a prediction as NIfTI and a PNG montage of slices with the overlay.
--
--   eval "$(make -s env)"; lua5.4 examples/volume.lua [steps] [out_dir]
--
-- Defaults: 240 steps of batch 4 patches of 16^3 (foreground-biased crops of 48 training
-- volumes of 24^3), evaluated on 8 test volumes of 24^3,
-- 2 threads. Prints the per-class test Dice and the time; exits with status 1 when the mean
-- foreground Dice is below 0.90.
local lunet = require "lunet"
local nn, optim, data, metrics, image = lunet.nn, lunet.optim, lunet.data, lunet.metrics, lunet.image
local T = require "lunet.transforms"
local P = require "lunet.predict"
local UNet3D = require "lunet.models.unet3d"
local wall = require("lunet.core").nn.wallclock

local steps = math.tointeger(tonumber(arg[1] or "")) or 240
local out = arg[2] or "out/volume"
local SIZE, PATCH, BATCH = 24, 16, 4
lunet.manual_seed(0)
lunet.set_num_threads(2)
os.execute("mkdir -p " .. out)
local t0 = wall()

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
local sched = optim.OneCycleLR(opt, { max_lr = 6e-3, total_steps = steps })
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
local montage = lunet.cat(rows, 2)
image.save(out .. "/montage.png", montage)
print(("wrote %s/pred.nii.gz, %s/image.nii.gz and %s/montage.png (top: prediction, bottom: truth)"):format(out, out, out))
if mean < 0.90 then os.exit(1) end
