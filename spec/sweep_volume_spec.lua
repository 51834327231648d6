-- Bad-input sweep of lunet.instances, metrics.panoptic_quality / hausdorff / surface_dice,
-- predict.sliding_window / importance_map, image.load_nifti / save_nifti, the volume
-- transforms (transforms/volume.lua), data.volumes, data.tuxpaint_instances and
-- lunet.summary: for each argument values of the wrong type, tensors of other dtypes / ranks,
-- non-contiguous views (same result as contiguous), empty and size-1 tensors, NaN / inf, and
-- NaN / strings / functions / tables as option values. Each call either succeeds or raises
-- "<name>: ..." at this file's line. Then the regressions of the defects the sweep found.
local lunet = require "lunet"
local I = require "lunet.instances"
local M = require "lunet.metrics"
local P = require "lunet.predict"
local image = require "lunet.image"
local V = require "lunet.transforms.volume"
local data = require "lunet.data"
local summary = require "lunet.summary"
local classic = require "lunet.classic"
local S = assert(loadfile("spec/sweep_lib.lua", "t", _ENV))()
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()

local SPEC = "spec/sweep_volume_spec.lua"
local function invoke(f, ...)
  local r = table.pack(f(...))
  return table.unpack(r, 1, r.n)
end

lunet.manual_seed(5)
local p2 = lunet.rand(12, 10):gt(0.5):to("int32")
local t2 = lunet.rand(12, 10):gt(0.5):to("int32")
local p3 = lunet.rand(4, 6, 5):gt(0.5):to("int32")
local t3 = lunet.rand(4, 6, 5):gt(0.5):to("int32")
local ids = classic.label(p2)
local gids = classic.label(t2)
local prob = lunet.rand(12, 10)
local out3 = lunet.rand(3, 12, 10)
local pointwise = function(x) return x:sum(2):unsqueeze(2) end
local vol = lunet.rand(1, 1, 6, 7, 8)
local I32 = function(s) return lunet.zeros(s, { dtype = "int32" }) end

-- { name, function, valid args, kinds, option keys (NaN / strings / functions / tables refused) }
local API = {
  { "hausdorff", M.hausdorff, { p2, t2 }, { "tensor", "tensor", "opts" }, { "percentile", "spacing" } },
  { "hausdorff", M.hausdorff, { p3, t3, { spacing = { 1, 2, 3 } } }, { "tensor", "tensor", "opts" }, { "percentile", "spacing" } },
  { "surface_dice", M.surface_dice, { p2, t2, { tolerance = 1 } }, { "tensor", "tensor", "opts" },
    { "tolerance", "spacing", "num_classes" } },
  { "surface_dice", M.surface_dice, { p3, t3, { tolerance = 1, spacing = { 1, 1, 2 } } }, { "tensor", "tensor", "opts" },
    { "tolerance", "spacing", "num_classes" } },
  { "panoptic_quality", M.panoptic_quality, { ids, gids }, { "tensor", "tensor", "opts" }, { "pred_categories" } },
  { "targets", I.targets, { ids }, { "tensor", "opts" }, { "boundary_width", "boundary", "distance", "normalize" } },
  { "relabel", I.relabel, { ids }, { "tensor", "opts" }, { "min_size" } },
  { "watershed", I.watershed, { prob, prob }, { "tensor", "tensor?", "opts" },
    { "kind", "threshold", "markers", "marker_threshold", "min_distance", "min_marker_size", "min_size", "connectivity" } },
  { "from_output", I.from_output, { out3 }, { "tensor", "opts" },
    { "kind", "threshold", "markers", "marker_threshold", "min_distance", "min_marker_size", "min_size", "connectivity" } },
  { "Targets", I.Targets, {}, { "opts" }, { "boundary_width", "boundary", "distance" } },
  { "sliding_window", P.sliding_window, { pointwise, vol, { roi_size = { 4, 4, 4 } } }, { "model", "tensor", "opts" },
    { "roi_size", "sw_batch_size", "overlap", "mode", "sigma_scale", "cval", "num_classes", "output" } },
  { "importance_map", P.importance_map, { { 4, 4 } }, { "roi", "opts" }, { "mode", "sigma_scale" } },
  { "vol_affine", V.vol_affine, { lunet.rand(2, 4, 5, 6), { 1, 0, 0, 0.5, 0, 1, 0, 0, 0, 0, 1, -0.25 } },
    { "tensor", "m", "opts" }, { "size", "interpolation", "fill", "naive" } },
  { "data.volumes", data.volumes, { { n = 1, size = 8 } }, { "opts" },
    { "n", "size", "seed", "ellipsoids", "tubes", "ellipsoid_radius", "tube_radius", "contrast", "noise", "bias",
      "transform" } },
  { "summary", summary.summary, { require("lunet.models.unet") { in_channels = 1, num_classes = 2, base = 2, depth = 2 },
      { 1, 1, 16, 16 } }, { "model", "shape", "opts" }, { "depth", "print", "output" } },
}

local BAD_OPTION_VALUES = S.BAD_OPTION_VALUES
-- option values that are valid for some keys
local ALLOWED = {
  ["watershed.markers=a string"] = false, ["from_output.markers=a string"] = false,
  ["data.volumes.transform=a function"] = true,
}

S.sweep(SPEC, API, invoke, { prefix = "", allowed = ALLOWED })

-- the volume transforms: bad option values at construction, bad samples at call time
local VOL_TF = {
  { "Flip3d", { axis = 1, p = 1 }, { "axis", "p" } },
  { "RandomRotate90_3d", { p = 1 }, { "plane", "p" } },
  { "RandomCropPad3d", { size = { 3, 3, 3 } }, { "size", "fill", "fill_mask", "p" } },
  { "RandomCropByPosNegLabel3d", { size = { 3, 3, 3 } }, { "size", "pos", "neg", "num_samples", "fill", "fill_mask", "p" } },
  { "Affine3d", { rotate = 10, p = 1 }, { "rotate", "scale", "translate", "interpolation", "fill", "fill_mask", "p" } },
  { "ScaleIntensity3d", {}, { "minv", "maxv", "p" } },
  { "ShiftIntensity3d", { p = 1 }, { "offsets", "p" } },
  { "RandomScaleIntensity3d", { p = 1 }, { "factors", "p" } },
  { "RandomGamma3d", { p = 1 }, { "gamma", "p" } },
  { "GaussNoise3d", { p = 1 }, { "mean", "std", "p" } },
}
describe("volume transforms", function()
  local sample = { image = lunet.rand(1, 4, 5, 6), mask = lunet.rand(4, 5, 6):gt(0.5):int() }
  for _, v in ipairs(VOL_TF) do
    local name, o, keys = v[1], v[2], v[3]
    it(name .. " rejects bad option values", function()
      for _, k in ipairs(keys) do
        for _, bv in ipairs(BAD_OPTION_VALUES) do
          local oo = {}
          for kk, vv in pairs(o) do oo[kk] = vv end
          oo[k] = bv[2]
          local ok, e = pcall(invoke, V[name], oo)
          S.check_error(SPEC, name, ok, e, { k }, ("%s option %s = %s"):format(name, k, bv[1]))
        end
      end
    end)
    it(name .. " rejects bad samples and takes empty, size-1, NaN and strided volumes", function()
      local tf = V[name](o)
      local bad = {
        { "nil", nil }, { "a string", "x" }, { "an empty table", {} },
        { "a 3-D image", { image = lunet.rand(4, 5, 6) } },
        { "an int32 image", { image = lunet.rand(1, 4, 5, 6):int() } },
        { "a float mask", { image = lunet.rand(1, 4, 5, 6), mask = lunet.rand(4, 5, 6) } },
        { "a mask of another size", { image = lunet.rand(1, 4, 5, 6), mask = I32({ 4, 5, 7 }) } },
      }
      for _, b in ipairs(bad) do
        local ok, e = pcall(invoke, tf, b[2])
        S.check_error(SPEC, name, ok, e, nil, name .. " on " .. b[1])
      end
      local fine = {
        { image = lunet.rand(1, 0, 5, 6), mask = I32({ 0, 5, 6 }) },
        { image = lunet.rand(1, 1, 1, 1), mask = lunet.ones({ 1, 1, 1 }, { dtype = "int32" }) },
        { image = lunet.full({ 1, 2, 2, 2 }, 0 / 0) },
        { image = lunet.rand(1, 6, 5, 4):transpose(2, 4), mask = lunet.rand(6, 5, 4):gt(0.5):int():transpose(1, 3) },
        sample,
      }
      for k, s in ipairs(fine) do
        if name == "RandomCropByPosNegLabel3d" and not s.mask then s = { image = s.image, mask = I32(s.image:shape()):select(1, 1) } end
        local ok, r = pcall(invoke, tf, s)
        assert.is_true(ok, name .. " on valid sample " .. k .. ": " .. tostring(r))
      end
    end)
  end
end)

describe("NIfTI", function()
  local dir = H.tmpdir("sweep_nifti")
  local v = lunet.rand(3, 4, 5)
  it("save_nifti rejects bad arguments at the caller's line", function()
    local cases = {
      { function() return image.save_nifti(nil, v) end, { "path must be a string, got nil" } },
      { function() return image.save_nifti(dir .. "/x.nii", "x") end, { "t must be a tensor, got string" } },
      { function() return image.save_nifti(dir .. "/x.nii", lunet.ones(3)) end, { "got [3]" } },
      { function() return image.save_nifti(dir .. "/x.nii", lunet.ones(0, 3, 3)) end, { "empty volume [0, 3, 3]" } },
      { function() return image.save_nifti(dir .. "/x.png", v) end, { "must end in .nii or .nii.gz" } },
      { function() return image.save_nifti(dir .. "/x.nii", v, { spacing = { 1, 1 } }) end, { "a table of 2 values" } },
      -- regressions: spacing 0 / inf, time_step inf, cal_min of any type were written as is
      { function() return image.save_nifti(dir .. "/x.nii", v, { spacing = { 0, 1, 1 } }) end,
        { "header.spacing[1] must be finite and > 0, got 0" } },
      { function() return image.save_nifti(dir .. "/x.nii", v, { spacing = { 1, math.huge, 1 } }) end,
        { "header.spacing[2] must be finite and > 0, got inf" } },
      { function() return image.save_nifti(dir .. "/x.nii", v, { time_step = math.huge }) end,
        { "header.time_step must be finite, got inf" } },
      { function() return image.save_nifti(dir .. "/x.nii", v, { cal_min = "x" }) end,
        { "header.cal_min must be a finite number, got 'x'" } },
      { function() return image.save_nifti(dir .. "/x.nii", v, { cal_max = 0 / 0 }) end,
        { "header.cal_max must be a finite number, got nan" } },
      -- regression: raised by the binding without a position
      { function() return image.save_nifti(dir .. "/x.nii", v:mul(300), { dtype = "uint8" }) end,
        { "at flat index 1 does not fit dtype uint8" } },
      { function() return image.save_nifti(dir .. "/x.nii", lunet.full({ 2, 2, 2 }, 200):int(), { dtype = "int8" }) end,
        { "value 200 at flat index 1 does not fit dtype int8" } },
      { function() return image.save_nifti(dir .. "/x.nii", v, { affine = { { 0 / 0, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } } }) end,
        { "header.affine[1][1] must be a finite number, got nan" } },
    }
    for i, c in ipairs(cases) do
      local ok, e = pcall(c[1])
      S.check_error(SPEC, "image.save_nifti", ok, e, c[2], "save_nifti case " .. i)
    end
    assert.is_nil(io.open(dir .. "/x.nii", "rb"), "a failed save left a file")
  end)
  it("load_nifti rejects bad files and options at the caller's line", function()
    local p = dir .. "/a.nii"
    image.save_nifti(p, v)
    local f = assert(io.open(p, "rb"))
    local bytes = f:read("a")
    f:close()
    local function w(name, s) H.write(dir .. "/" .. name, s) return dir .. "/" .. name end
    local function patch(off, fmt, ...)
      local b = string.pack(fmt, ...)
      return bytes:sub(1, off) .. b .. bytes:sub(off + #b + 1)
    end
    local cases = {
      { function() return image.load_nifti(nil) end, { "path must be a string" } },
      { function() return image.load_nifti(p, "x") end, { "options must be a table" } },
      { function() return image.load_nifti(p, { max_voxels = 0 }) end, { "max_voxels", "got 0" } },
      { function() return image.load_nifti(p, { max_voxels = 0.5 }) end, { "got 0.5" } },
      { function() return image.load_nifti(p, { max_voxels = 10 }) end, { "claims 60 voxels, more than the limit of 10" } },
      { function() return image.load_nifti(dir .. "/missing.nii") end, { "cannot open" } },
      { function() return image.load_nifti(dir) end, { "it is a directory" } },
      { function() return image.load_nifti(w("e.nii", "")) end, { "the header ends after 0 of 348 bytes" } },
      { function() return image.load_nifti(w("t.nii", bytes:sub(1, 300))) end, { "after 300 of 348 bytes" } },
      { function() return image.load_nifti(w("g.nii", string.rep("x", 400))) end, { "is not a NIfTI-1 file" } },
      { function() return image.load_nifti(w("h.nii", patch(40, "<i2i2i2i2", 3, 32767, 32767, 32767))) end,
        { "claims 35181150961663 voxels" } },
      { function() return image.load_nifti(w("h2.nii", patch(40, "<i2i2i2i2", 3, 32767, 32767, 32767)), { max_voxels = false }) end,
        { "is truncated" } },
      { function() return image.load_nifti(w("n.nii", patch(40, "<i2i2i2i2", 3, -4, 4, 5))) end, { "got -4" } },
      { function() return image.load_nifti(w("z.nii", patch(40, "<i2", 9))) end, { "dim[0] must be 1..7, got 9" } },
      { function() return image.load_nifti(w("vo.nii", patch(108, "<f", 1e30))) end, { "vox_offset" } },
      { function() return image.load_nifti(w("dt.nii", patch(70, "<i2", 12345))) end, { "datatype 12345 is not supported" } },
    }
    for i, c in ipairs(cases) do
      local ok, e = pcall(c[1])
      S.check_error(SPEC, "image.load_nifti", ok, e, c[2], "load_nifti case " .. i)
    end
  end)
  it("round-trips strided, size-1 and NaN volumes", function()
    local nc = lunet.rand(5, 4, 3):transpose(1, 3)
    image.save_nifti(dir .. "/nc.nii.gz", nc)
    S.same(nc:contiguous(), (image.load_nifti(dir .. "/nc.nii.gz")), "strided volume")
    image.save_nifti(dir .. "/one.nii", lunet.ones(1, 1))
    assert.are.same({ 1, 1, 1 }, (image.load_nifti(dir .. "/one.nii")):shape())
    local x = v:clone()
    x:set(0 / 0, 2, 3, 4)
    image.save_nifti(dir .. "/nan.nii", x)
    S.same(x, (image.load_nifti(dir .. "/nan.nii")), "NaN volume")
  end)
end)

describe("regressions found by the sweep", function()
  local function bad(label, fn, f, frags)
    it(label, function()
      local ok, e = pcall(f)
      S.check_error(SPEC, fn, ok, e, frags, label)
    end)
  end
  -- metrics: the kernels' errors had no position; empty images gave "invalid argument"
  bad("hausdorff: a 5-D target", "hausdorff", function() return M.hausdorff(I32({ 1, 1, 3, 3, 3 }), I32({ 1, 1, 3, 3, 3 })) end,
    { "pred must be H x W or N x H x W, got [1, 1, 3, 3, 3]" })
  bad("hausdorff: mismatched shapes", "hausdorff", function() return M.hausdorff(I32({ 3, 3 }), I32({ 4, 3 })) end,
    { "pred shape [3, 3] does not match target shape [4, 3]" })
  bad("hausdorff: zero-size images", "hausdorff", function() return M.hausdorff(I32({ 4, 0 }), I32({ 4, 0 })) end,
    { "target [4, 0] has a zero-size spatial dim" })
  bad("surface_dice: zero-size volumes", "surface_dice", function()
    return M.surface_dice(I32({ 2, 0, 3 }), I32({ 2, 0, 3 }), { tolerance = 1, spacing = { 1, 1, 1 } })
  end, { "target [2, 0, 3] has a zero-size spatial dim" })
  bad("hausdorff: spacing of 4 values", "hausdorff", function() return M.hausdorff(p3, t3, { spacing = { 1, 1, 1, 1 } }) end,
    { "a table of 4 values" })
  bad("hausdorff: spacing 0", "hausdorff", function() return M.hausdorff(p3, t3, { spacing = { 1, 0, 1 } }) end,
    { "spacing must be finite and > 0, got {1, 0, 1}" })
  bad("surface_dice: negative spacing", "surface_dice", function() return M.surface_dice(p2, t2, { tolerance = 1, spacing = { -1, 1 } }) end,
    { "got {-1, 1}" })
  -- surface_dice with num_classes gave NaN for labels outside 0..C-1
  bad("surface_dice: a label above num_classes - 1", "surface_dice", function()
    local a = I32({ 3, 3 })
    a:set(7, 2, 2)
    return M.surface_dice(a, I32({ 3, 3 }), { tolerance = 1, num_classes = 3 })
  end, { "pred holds label 7, outside 0..2 (num_classes 3)" })
  bad("surface_dice: a negative label", "surface_dice", function()
    local a = I32({ 3, 3 })
    a:set(-1, 1, 1)
    return M.surface_dice(I32({ 3, 3 }), a, { tolerance = 1, num_classes = 3 })
  end, { "target holds label -1" })
  -- panoptic_quality: the negative id is named
  bad("panoptic_quality: a negative id", "panoptic_quality", function()
    local a = I32({ 3, 3 })
    a:set(-2, 1, 1)
    return M.panoptic_quality(I32({ 3, 3 }), a)
  end, { "gt_ids holds a negative id (-2)" })
  bad("panoptic_quality: categories given for one side", "panoptic_quality", function()
    return M.panoptic_quality(ids, gids, { pred_categories = {} })
  end, { "go together" })
  -- instances: relabel/targets named regionprops on sparse ids; from_output named watershed
  it("relabel and targets take sparse ids (above the pixel count)", function()
    local x = lunet.tensor({ { 0, 2147483647, 5 }, { 5, 0, 1000 } }, { dtype = "int32" })
    local r, n = I.relabel(x)
    assert.are.equal(3, n)
    assert.are.same({ 0, 3, 1, 1, 0, 2 }, r:tolist())
    local r2, n2 = I.relabel(x, { min_size = 2 })
    assert.are.equal(1, n2)
    assert.are.same({ 0, 0, 1, 1, 0, 0 }, r2:tolist())
    local t = I.targets(x)
    S.same(I.targets(r).classes, t.classes, "targets of sparse ids")
  end)
  bad("from_output: NaN logits", "from_output", function() return I.from_output(lunet.full({ 3, 4, 4 }, 0 / 0)) end,
    { "output holds a non-finite value (nan)" })
  bad("targets: normalize must be a boolean", "targets", function() return I.targets(ids, { normalize = 1 }) end,
    { "normalize must be a boolean, got 1" })
  bad("targets: a negative id", "targets", function()
    local a = I32({ 3, 3 })
    a:set(-2, 1, 1)
    return I.targets(a)
  end, { "negative id (-2)" })
  bad("watershed: a cue of another shape", "watershed", function() return I.watershed(lunet.rand(3, 3), lunet.rand(4, 3)) end,
    { "cue must be H x W = [3, 3], got [4, 3]" })
  -- predict: importance_map's errors inside sliding_window; a roi too large to allocate
  bad("sliding_window: sigma_scale -1", "sliding_window", function()
    return P.sliding_window(pointwise, vol, { roi_size = { 2, 2, 2 }, mode = "gaussian", sigma_scale = -1 })
  end, { "sigma_scale", "got -1" })
  bad("sliding_window: a roi of 2^36 voxels", "sliding_window", function()
    return P.sliding_window(pointwise, vol, { roi_size = { 4096, 4096, 4096 } })
  end, { "roi_size {4096, 4096, 4096} has 68719476736 voxels, more than the limit of 2147483648" })
  -- an expanded view of 2^60 voxels: a Lua "not enough memory" (or an OOM kill) before
  bad("sliding_window: a volume of 2^60 voxels (an expanded view)", "sliding_window", function()
    return P.sliding_window(pointwise, lunet.zeros(1, 1, 1, 1, 1):expand(1, 1, 2 ^ 20, 2 ^ 20, 2 ^ 20), { roi_size = { 2, 2, 2 } })
  end, { "has 1152921504606846976 voxels per channel, more than the limit of 2147483648" })
  bad("sliding_window: 1e9 windows", "sliding_window", function()
    return P.sliding_window(pointwise, lunet.zeros(1, 1, 1, 1, 1):expand(1, 1, 1024, 1024, 1024), { roi_size = { 2, 2, 2 }, overlap = 0.9 })
  end, { "gives 1070599167 windows, more than the limit of 16777216" })
  -- Lua-side scans (min / max) of an expanded view of 2^60 pixels ran for hours
  do
    local tdir = H.tmpdir("sweep_big")
    local bigi = lunet.zeros({ 1, 1 }, { dtype = "int32" }):expand(2 ^ 30, 2 ^ 30)
    local bigf = lunet.zeros({ 1, 1 }):expand(2 ^ 30, 2 ^ 30)
    bad("panoptic_quality on 2^60 pixels", "panoptic_quality", function() return M.panoptic_quality(bigi, bigi) end,
      { "has 1152921504606846976 elements, more than the limit of 2147483648" })
    bad("surface_dice with num_classes on 2^60 pixels", "surface_dice", function()
      return M.surface_dice(bigi, bigi, { tolerance = 1, num_classes = 3 })
    end, { "more than the limit" })
    bad("targets on 2^60 pixels", "targets", function() return I.targets(bigi) end, { "more than the limit of 2147483647" })
    bad("relabel on 2^60 pixels", "relabel", function() return I.relabel(bigi) end, { "more than the limit" })
    bad("watershed on 2^60 pixels", "watershed", function() return I.watershed(bigf, bigf) end, { "more than the limit" })
    bad("from_output on 2^59 pixels", "from_output", function()
      return I.from_output(lunet.zeros(1, 1, 1):expand(3, 2 ^ 29, 2 ^ 29))
    end, { "more than the limit" })
    bad("hausdorff on 2^60 pixels", "hausdorff", function() return M.hausdorff(bigi, bigi) end, { "cannot allocate" })
    bad("label on 2^62 pixels", "label", function()
      return classic.label(lunet.zeros({ 1, 1 }, { dtype = "uint8" }):expand(2 ^ 31, 2 ^ 31))
    end, { "more than the 2147483646 int32 ids allow" })
    bad("Flip3d on 2^60 voxels", "Flip3d", function()
      return V.Flip3d { p = 1 } { image = lunet.zeros(1, 1, 1, 1):expand(1, 2 ^ 20, 2 ^ 20, 2 ^ 20) }
    end, { "cannot allocate" })
    bad("save_nifti of 2^60 voxels", "image.save_nifti", function()
      return image.save_nifti(tdir .. "/big.nii", lunet.zeros(1, 1, 1):expand(2 ^ 20, 2 ^ 20, 2 ^ 20))
    end, { "cannot allocate" })
  end
  -- the Targets transform reported its ids errors as "targets"
  bad("Targets: a float mask", "Targets", function() return I.Targets {} { mask = lunet.zeros(4, 4) } end,
    { "ids must be an int32 or uint8 tensor of instance ids, got float32" })
  bad("Targets: a 2 x H x W mask", "Targets", function() return I.Targets {} { mask = I32({ 2, 4, 4 }) } end,
    { "ids must be H x W, got [2, 4, 4]" })
  -- lunet.save / lunet.load: file errors had no position
  do
    local sdir = H.tmpdir("sweep_io")
    bad("lunet.save into a missing directory", "save", function()
      return lunet.save(sdir .. "/no/such/x.safetensors", { a = lunet.ones(1) })
    end, { "cannot create a temporary file next to" })
    bad("lunet.load of a missing file", "load", function() return lunet.load(sdir .. "/missing.safetensors") end,
      { "cannot open", "No such file or directory" })
    bad("lunet.load of a directory", "load", function() return lunet.load(sdir) end, { "it is a directory" })
    bad("lunet.load of a header claiming 1e15 bytes", "load", function()
      H.write(sdir .. "/h.safetensors", string.pack("<I8", 1e15) .. "{}")
      return lunet.load(sdir .. "/h.safetensors")
    end, { "header length 1000000000000000 exceeds the 2 bytes after it" })
  end
  bad("importance_map: a bad sigma_scale in constant mode", "importance_map", function()
    return P.importance_map({ 2, 2 }, { mode = "constant", sigma_scale = "x" })
  end, { "sigma_scale", "'x'" })
  bad("sliding_window: a model returning the wrong shape", "sliding_window", function()
    return P.sliding_window(function(x) return x:sum(3) end, vol, { roi_size = { 2, 2, 2 } })
  end, { "the model returned [1, 1, 2, 2] for windows of [1, 1, 2, 2, 2]" })
  bad("sliding_window: an int32 volume", "sliding_window", function()
    return P.sliding_window(pointwise, vol:int(), { roi_size = { 2, 2, 2 } })
  end, { "volume must be float32, got int32" })
  -- volume transforms: kernel / constructor errors named vol.affine / full / min
  bad("vol_affine: a string fill", "vol_affine", function()
    return V.vol_affine(lunet.rand(1, 2, 2, 2), { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0 }, { fill = "x" })
  end, { "fill", "'x'" })
  bad("vol_affine: naive must be a boolean", "vol_affine", function()
    return V.vol_affine(lunet.rand(1, 2, 2, 2), { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0 }, { naive = "x" })
  end, { "naive must be a boolean" })
  bad("vol_affine: a fill that does not fit uint8 (nearest)", "vol_affine", function()
    return V.vol_affine(lunet.zeros({ 1, 2, 2, 2 }, { dtype = "uint8" }), { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0 },
      { fill = 300, interpolation = "nearest" })
  end, { "fill 300 does not fit the uint8 tensor" })
  it("vol_affine on an empty volume gives the empty (or all-fill) result", function()
    local m = { 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0 }
    assert.are.same({ 2, 0, 5, 6 }, V.vol_affine(lunet.rand(2, 0, 5, 6), m):shape())
    S.same(lunet.full({ 2, 2, 2, 2 }, 7), V.vol_affine(lunet.rand(2, 0, 5, 6), m, { size = 2, fill = 7 }), "all fill")
  end)
  local s8 = { image = lunet.zeros({ 1, 2, 2, 2 }, { dtype = "uint8" }), mask = lunet.ones({ 2, 2, 2 }, { dtype = "uint8" }) }
  bad("RandomCropPad3d: fill_mask 300 for a uint8 mask", "RandomCropPad3d", function()
    return V.RandomCropPad3d { size = { 4, 4, 4 }, fill_mask = 300 } (s8)
  end, { "fill_mask 300 does not fit the uint8 mask" })
  bad("RandomCropPad3d: fill 1e18 for a uint8 image", "RandomCropPad3d", function()
    return V.RandomCropPad3d { size = { 4, 4, 4 }, fill = 1e18 } (s8)
  end, { "fill 1000000000000000000 does not fit the uint8 image" })
  bad("RandomCropByPosNegLabel3d: a patch of 2^36 voxels", "RandomCropByPosNegLabel3d", function()
    return V.RandomCropByPosNegLabel3d { size = { 4096, 4096, 4096 } }
  end, { "size {4096, 4096, 4096} has 68719476736 voxels" })
  bad("Affine3d: fill_mask 2^31 for an int32 mask", "Affine3d", function()
    return V.Affine3d { rotate = 30, fill_mask = 2 ^ 31, p = 1 } { image = lunet.rand(1, 2, 2, 2), mask = I32({ 2, 2, 2 }) }
  end, { "fill_mask 2147483648 does not fit the int32 mask" })
  it("the volume transforms inside Compose name themselves too", function()
    local T = require "lunet.transforms"
    local tf = T.Compose { V.RandomCropPad3d { size = { 4, 4, 4 }, fill_mask = 300 } }
    local ok, e = pcall(invoke, tf, s8)
    S.check_error(SPEC, "RandomCropPad3d", ok, e, { "fill_mask 300" }, "Compose")
  end)
  -- data: a transform that is not callable was named TensorDataset; the sizes were unbounded
  bad("data.volumes: a string transform", "data.volumes", function() return data.volumes { n = 1, size = 8, transform = "x" } end,
    { "transform must be callable, got string" })
  bad("data.volumes: 1024^3 voxels per volume", "data.volumes", function() return data.volumes { n = 1, size = 1024 } end,
    { "size {1024, 1024, 1024} has 1073741824 voxels, more than the limit of 33554432 per volume" })
  bad("data.volumes: 2.6e10 voxels in all", "data.volumes", function() return data.volumes { n = 100000, size = 64 } end,
    { "n = 100000 volumes of 64 x 64 x 64 are 26214400000 voxels, more than the limit of 268435456" })
  bad("data.volumes: size 0", "data.volumes", function() return data.volumes { n = 1, size = { 0, 8, 8 } } end,
    { "size[1]", "got 0" })
  bad("data.tuxpaint_instances: n images over the pixel budget", "data.tuxpaint_instances",
    function() return data.tuxpaint_instances { n = 2 ^ 31, size = 32 } end, { "n = 2147483648 images of 32x32" })
  bad("data.tuxpaint_instances: a missing root", "data.tuxpaint_instances",
    function() return data.tuxpaint_instances { n = 1, size = 32, root = "/nonexistent" } end, { "'/nonexistent'" })
  bad("data.tuxpaint_instances: inverted stamps", "data.tuxpaint_instances",
    function() return data.tuxpaint_instances { n = 1, size = 32, stamps = { 4, 2 } } end, { "stamps" })
  -- summary
  bad("summary.count_str: nil", "count_str", function() return summary.count_str(nil) end, { "got nil" })
  it("summary.count_str: signs and separators", function()
    assert.are.equal("-123", summary.count_str(-123))
    assert.are.equal("-1,234", summary.count_str(-1234))
    assert.are.equal("1,944,049", summary.count_str(1944049))
  end)
  bad("summary: a huge input shape", "summary", function()
    return summary.summary(require("lunet.models.unet") { in_channels = 1, num_classes = 2, base = 2, depth = 2 },
      { 1, 1, 1e9, 1e9 })
  end, { "elements, more than 2^31" })
end)
