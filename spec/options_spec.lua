-- One option checker: every public function and constructor of the Lua layer that takes an
-- option table (nn modules and losses, nn.init, Module methods, optimizers and schedulers,
-- transforms, metrics, datasets and makers, predict, the model zoo) rejects a misspelled
-- key with lunet.errors' message "fn: unknown option 'paddin' (did you mean 'padding'?)".
-- The public tables are walked: an entry without a case here (and not listed as taking no
-- option table) fails, so a new class cannot skip the check.
local lunet = require "lunet"
local nn = require "lunet.nn"
local optim = require "lunet.optim"
local T = require "lunet.transforms"
local metrics = require "lunet.metrics"
local data = require "lunet.data"
local predict = require "lunet.predict"
local core = require "lunet.core"

local function strip(msg) return (tostring(msg):gsub("^[^:\n]+:%d+: ", "")) end

local function typo(fn, bad, good)
  if good == nil then return ("%s: unknown option '%s' (it takes no options)"):format(fn, bad) end
  return ("%s: unknown option '%s' (did you mean '%s'?)"):format(fn, bad, good)
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

-- cases: name -> { call(opts), fn, bad key, suggested key (nil: takes no options) }; the
-- call gets the option table { [bad] = 1 }. skip: name -> why it takes no option table.
local function walk(label, tbl, cases, skip)
  describe(label, function()
    local names = {}
    for k, v in pairs(tbl) do
      if type(k) == "string" and callable(v) then names[#names + 1] = k end
    end
    table.sort(names)
    for _, k in ipairs(names) do
      local c = cases[k]
      if c then
        it(("%s.%s rejects '%s'"):format(label, k, c[3]), function()
          local ok, e = pcall(c[1], { [c[3]] = 1 })
          assert.is_false(ok, label .. "." .. k .. " accepted an unknown option")
          assert.are.equal(typo(c[2], c[3], c[4]), strip(e))
        end)
      else
        it(("%s.%s takes no option table"):format(label, k), function()
          assert.is_string(skip[k], label .. "." .. k .. " has no case in spec/options_spec.lua: add one "
            .. "(or list it among the entries that take no option table)")
        end)
      end
    end
    it("has no case for a missing entry of " .. label, function()
      for k in pairs(cases) do assert.is_truthy(tbl[k], label .. "." .. k .. " does not exist") end
      for k in pairs(skip) do assert.is_truthy(tbl[k], label .. "." .. k .. " does not exist") end
    end)
  end)
end

local x4 = lunet.zeros(1, 3, 4, 4)

walk("lunet.nn", nn, {
  Conv2d = { function(o) return nn.Conv2d(3, 8, 3, o) end, "Conv2d", "paddin", "padding" },
  ConvTranspose2d = { function(o) return nn.ConvTranspose2d(3, 8, 2, o) end, "ConvTranspose2d",
                      "output_paddin", "output_padding" },
  Linear = { function(o) return nn.Linear(3, 2, o) end, "Linear", "bais", "bias" },
  BatchNorm2d = { function(o) return nn.BatchNorm2d(3, o) end, "BatchNorm2d", "momentun", "momentum" },
  GroupNorm = { function(o) return nn.GroupNorm(2, 4, o) end, "GroupNorm", "affin", "affine" },
  MaxPool2d = { function(o) return nn.MaxPool2d(2, o) end, "MaxPool2d", "ceil_mod", "ceil_mode" },
  AvgPool2d = { function(o) return nn.AvgPool2d(2, o) end, "AvgPool2d", "count_include_pads", "count_include_pad" },
  MaxUnpool2d = { function(o) return nn.MaxUnpool2d(2, o) end, "MaxUnpool2d", "strid", "stride" },
  AdaptiveAvgPool2d = { function(o) o.output_size = 2 return nn.AdaptiveAvgPool2d(o) end, "AdaptiveAvgPool2d",
                        "output_sise", "output_size" },
  Upsample = { function(o) o.scale_factor = 2 return nn.Upsample(o) end, "Upsample", "align_corner", "align_corners" },
  Dropout = { function(o) return nn.Dropout(o) end, "Dropout", "inplac", "inplace" },
  Dropout2d = { function(o) return nn.Dropout2d(o) end, "Dropout2d", "pp", "p" },
  ReLU = { function(o) return nn.ReLU(o) end, "ReLU", "in_place", "inplace" },
  LeakyReLU = { function(o) return nn.LeakyReLU(o) end, "LeakyReLU", "negative_slop", "negative_slope" },
  Sigmoid = { function(o) return nn.Sigmoid(o) end, "Sigmoid", "dim" },
  Tanh = { function(o) return nn.Tanh(o) end, "Tanh", "dim" },
  Identity = { function(o) return nn.Identity(o) end, "Identity", "foo" },
  Softmax = { function(o) return nn.Softmax(2, o) end, "Softmax", "dims", "dim" },
  LogSoftmax = { function(o) return nn.LogSoftmax(2, o) end, "LogSoftmax", "dimm", "dim" },
  CrossEntropyLoss = { nn.CrossEntropyLoss, "CrossEntropyLoss", "ignore_idx", "ignore_index" },
  BCEWithLogitsLoss = { nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", "pos_weights", "pos_weight" },
  DiceLoss = { nn.DiceLoss, "DiceLoss", "smoth", "smooth" },
  JaccardLoss = { nn.JaccardLoss, "JaccardLoss", "log_los", "log_loss" },
  TverskyLoss = { nn.TverskyLoss, "TverskyLoss", "betta", "beta" },
  FocalLoss = { nn.FocalLoss, "FocalLoss", "gama", "gamma" },
  LovaszLoss = { nn.LovaszLoss, "LovaszLoss", "per_imag", "per_image" },
  -- the 3-D layers and PReLU (spec/volume_kernels_spec.lua)
  Conv3d = { function(o) return nn.Conv3d(3, 8, 3, o) end, "Conv3d", "paddin", "padding" },
  ConvTranspose3d = { function(o) return nn.ConvTranspose3d(3, 8, 2, o) end, "ConvTranspose3d",
                      "output_paddin", "output_padding" },
  MaxPool3d = { function(o) return nn.MaxPool3d(2, o) end, "MaxPool3d", "ceil_mod", "ceil_mode" },
  AvgPool3d = { function(o) return nn.AvgPool3d(2, o) end, "AvgPool3d", "divisor_overide", "divisor_override" },
  MaxUnpool3d = { function(o) return nn.MaxUnpool3d(2, o) end, "MaxUnpool3d", "strid", "stride" },
  AdaptiveAvgPool3d = { function(o) o.output_size = 2 return nn.AdaptiveAvgPool3d(o) end, "AdaptiveAvgPool3d",
                        "output_sizes", "output_size" },
  BatchNorm3d = { function(o) return nn.BatchNorm3d(3, o) end, "BatchNorm3d", "momentun", "momentum" },
  InstanceNorm3d = { function(o) return nn.InstanceNorm3d(3, o) end, "InstanceNorm3d", "afine", "affine" },
  PReLU = { function(o) return nn.PReLU(o) end, "PReLU", "num_parameter", "num_parameters" },
}, {
  Module = "the base class: its subclasses' __init take their own options",
  Sequential = "takes modules",
  ModuleList = "takes modules",
})

walk("lunet.nn.init", nn.init, {
  uniform_ = { function(o) return nn.init.uniform_(lunet.zeros(2, 2), o) end, "uniform_", "bb", "b" },
  normal_ = { function(o) return nn.init.normal_(lunet.zeros(2, 2), o) end, "normal_", "sdt", "std" },
  constant_ = { function(o) return nn.init.constant_(lunet.zeros(2, 2), o) end, "constant_", "value", "val" },
  kaiming_uniform_ = { function(o) return nn.init.kaiming_uniform_(lunet.zeros(2, 2), o) end, "kaiming_uniform_",
                       "nonlinarity", "nonlinearity" },
  kaiming_normal_ = { function(o) return nn.init.kaiming_normal_(lunet.zeros(2, 2), o) end, "kaiming_normal_",
                      "mod", "mode" },
  xavier_uniform_ = { function(o) return nn.init.xavier_uniform_(lunet.zeros(2, 2), o) end, "xavier_uniform_",
                      "gian", "gain" },
  xavier_normal_ = { function(o) return nn.init.xavier_normal_(lunet.zeros(2, 2), o) end, "xavier_normal_",
                     "generater", "generator" },
}, {
  zeros_ = "takes only the tensor",
  ones_ = "takes only the tensor",
  calculate_gain = "positional (nonlinearity, param)",
  calculate_fan_in_and_fan_out = "takes only the tensor",
})

local net = nn.Sequential(nn.Conv2d(3, 2, 1))
walk("nn.Module methods", nn.Module, {
  register_buffer = { function(o) return nn.Module():register_buffer("b", lunet.zeros(1), o) end,
                      "register_buffer", "persistant", "persistent" },
  num_parameters = { function(o) return net:num_parameters(o) end, "num_parameters", "trainabel", "trainable" },
  state_dict = { function(o) return net:state_dict(o) end, "state_dict", "index_bas", "index_base" },
  load_state_dict = { function(o) return net:load_state_dict(net:state_dict(), o) end, "load_state_dict",
                      "strcit", "strict" },
  predict = { function(o) return net:predict(x4, o) end, "predict", "tiles", "tile" },
  fuse = { function(o) return net:fuse(o) end, "fuse", "input_shap", "input_shape" },
}, {
  extend = "positional (the class name)", is_module = "a predicate", is_instance_of = "a predicate",
  __init = "the subclass's constructor", forward = "the module's own arguments", __tostring = "printing",
  extra_repr = "printing", add_module = "positional (name, module)", register_parameter = "positional (name, tensor)",
  apply = "takes a function", buffers = "no arguments", children = "no arguments", modules = "no arguments",
  named_buffers = "no arguments", named_children = "no arguments", named_modules = "no arguments",
  named_parameters = "no arguments", parameters = "no arguments", eval = "no arguments",
  train = "takes a boolean", zero_grad = "no arguments", requires_grad_ = "takes a boolean",
})

local function sgd() return optim.SGD({ lunet.zeros(2):requires_grad(true) }, { lr = 0.1, momentum = 0.9 }) end
walk("lunet.optim", optim, {
  SGD = { function(o) o.lr = 0.1 return optim.SGD({ lunet.zeros(2):requires_grad(true) }, o) end, "SGD",
          "nesterow", "nesterov" },
  Adam = { function(o) return optim.Adam({ lunet.zeros(2):requires_grad(true) }, o) end, "Adam", "beta", "betas" },
  AdamW = { function(o) return optim.AdamW({ lunet.zeros(2):requires_grad(true) }, o) end, "AdamW",
            "weight_decy", "weight_decay" },
  RMSprop = { function(o) return optim.RMSprop({ lunet.zeros(2):requires_grad(true) }, o) end, "RMSprop",
              "centred", "centered" },
  StepLR = { function(o) o.step_size = 2 return optim.StepLR(sgd(), o) end, "StepLR", "gama", "gamma" },
  MultiStepLR = { function(o) o.milestones = { 2 } return optim.MultiStepLR(sgd(), o) end, "MultiStepLR",
                  "milestone", "milestones" },
  CosineAnnealingLR = { function(o) o.T_max = 5 return optim.CosineAnnealingLR(sgd(), o) end, "CosineAnnealingLR",
                        "eta_mn", "eta_min" },
  PolyLR = { function(o) o.total_iters = 5 return optim.PolyLR(sgd(), o) end, "PolyLR", "powr", "power" },
  LinearLR = { function(o) return optim.LinearLR(sgd(), o) end, "LinearLR", "start_factr", "start_factor" },
  OneCycleLR = { function(o) o.max_lr = 1; o.total_steps = 5 return optim.OneCycleLR(sgd(), o) end, "OneCycleLR",
                 "pct_star", "pct_start" },
  ReduceLROnPlateau = { function(o) return optim.ReduceLROnPlateau(sgd(), o) end, "ReduceLROnPlateau",
                        "patiense", "patience" },
}, {
  Optimizer = "the base class (its subclasses are built as Name(params, opts))",
  clip_grad_norm = "positional (params, max_norm, norm_type)",
  clip_grad_value = "positional (params, clip_value)",
})

walk("optim.Optimizer methods", optim.Optimizer, {
  add_param_group = { function(o) o.params = { lunet.zeros(3):requires_grad(true) } return sgd():add_param_group(o) end,
                      "SGD:add_param_group", "momentun", "momentum" },
  new = { function(o) return optim.Optimizer.new(optim.Adam, { lunet.zeros(2):requires_grad(true) }, o) end,
          "Adam", "epss", "eps" },
}, {
  class = "defines an optimizer class", step = "takes a closure", zero_grad = "no arguments",
  state_dict = "no arguments", load_state_dict = "takes a state dict", __tostring = "printing",
  encode_scalar = "takes a number", decode_scalar = "positional", check_number = "a value check",
  check_bool = "a value check", need_self = "a self check", finite = "a predicate",
})

walk("lunet.transforms", T, {
  Compose = { function(o) o[1] = T.HorizontalFlip {} return T.Compose(o) end, "Compose", "sed", "seed" },
  OneOf = { function(o) o[1] = T.HorizontalFlip {} return T.OneOf(o) end, "OneOf", "pp", "p" },
  HorizontalFlip = { T.HorizontalFlip, "HorizontalFlip", "P", "p" },
  VerticalFlip = { T.VerticalFlip, "VerticalFlip", "pp", "p" },
  RandomRotate90 = { T.RandomRotate90, "RandomRotate90", "pp", "p" },
  Rotate = { T.Rotate, "Rotate", "limt", "limit" },
  Affine = { T.Affine, "Affine", "rotat", "rotate" },
  RandomCrop = { function(o) o.height, o.width = 2, 2 return T.RandomCrop(o) end, "RandomCrop", "hieght", "height" },
  CenterCrop = { function(o) o.height, o.width = 2, 2 return T.CenterCrop(o) end, "CenterCrop", "widht", "width" },
  RandomResizedCrop = { function(o) o.size = 4 return T.RandomResizedCrop(o) end, "RandomResizedCrop",
                        "ratios", "ratio" },
  Resize = { function(o) o.height, o.width = 2, 2 return T.Resize(o) end, "Resize", "interpolaton", "interpolation" },
  PadIfNeeded = { T.PadIfNeeded, "PadIfNeeded", "min_heigth", "min_height" },
  ElasticTransform = { T.ElasticTransform, "ElasticTransform", "sigm", "sigma" },
  GridDistortion = { T.GridDistortion, "GridDistortion", "num_step", "num_steps" },
  RandomBrightnessContrast = { T.RandomBrightnessContrast, "RandomBrightnessContrast", "brightness_limt",
                               "brightness_limit" },
  RandomGamma = { T.RandomGamma, "RandomGamma", "gamma_limits", "gamma_limit" },
  GaussNoise = { T.GaussNoise, "GaussNoise", "var_limits", "var_limit" },
  GaussianBlur = { T.GaussianBlur, "GaussianBlur", "blur_limits", "blur_limit" },
  HueSaturationValue = { T.HueSaturationValue, "HueSaturationValue", "hue_shift", "hue_shift_limit" },
  CoarseDropout = { T.CoarseDropout, "CoarseDropout", "max_hole", "max_holes" },
  Normalize = { T.Normalize, "Normalize", "sdt", "std" },
  ToFloat = { T.ToFloat, "ToFloat", "max_val", "max_value" },
  -- volumes (v3d)
  Flip3d = { T.Flip3d, "Flip3d", "axes", "axis" },
  RandomRotate90_3d = { T.RandomRotate90_3d, "RandomRotate90_3d", "plan", "plane" },
  RandomCropPad3d = { T.RandomCropPad3d, "RandomCropPad3d", "sise", "size" },
  RandomCropByPosNegLabel3d = { T.RandomCropByPosNegLabel3d, "RandomCropByPosNegLabel3d", "num_sample", "num_samples" },
  Affine3d = { T.Affine3d, "Affine3d", "scal", "scale" },
  ScaleIntensity3d = { T.ScaleIntensity3d, "ScaleIntensity3d", "minval", "minv" },
  ShiftIntensity3d = { T.ShiftIntensity3d, "ShiftIntensity3d", "offset", "offsets" },
  RandomScaleIntensity3d = { T.RandomScaleIntensity3d, "RandomScaleIntensity3d", "factor", "factors" },
  RandomGamma3d = { T.RandomGamma3d, "RandomGamma3d", "gama", "gamma" },
  GaussNoise3d = { T.GaussNoise3d, "GaussNoise3d", "sdt", "std" },
  vol_affine = { function(o) return T.vol_affine(lunet.zeros(1, 2, 2, 2), {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, o) end,
                 "vol_affine", "interp", "interpolation" },
}, {
  rotation_matrix = "positional (cx, cy, angle, scale)",
})

local lab = lunet.tensor({ 0, 1, 1, 0 }, { shape = { 2, 2 }, dtype = "int32" })
walk("lunet.metrics", metrics, {
  ConfusionMatrix = { function(o) return metrics.ConfusionMatrix(2, o) end, "ConfusionMatrix", "ignore", "ignore_index" },
  iou = { function(o) return metrics.iou(lab, lab, o) end, "iou", "num_class", "num_classes" },
  dice = { function(o) return metrics.dice(lab, lab, o) end, "dice", "per_imag", "per_image" },
  pixel_accuracy = { function(o) return metrics.pixel_accuracy(lab, lab, o) end, "pixel_accuracy",
                     "zero_divison", "zero_division" },
  hausdorff = { function(o) return metrics.hausdorff(lab, lab, o) end, "hausdorff", "percentil", "percentile" },
  surface_dice = { function(o) return metrics.surface_dice(lab, lab, o) end, "surface_dice", "tolerence", "tolerance" },
  fmeasure = { function(o) return metrics.fmeasure(lunet.zeros(2, 2), lab, o) end, "fmeasure", "beta", "beta2" },
  s_measure = { function(o) return metrics.s_measure(lunet.zeros(2, 2), lab, o) end, "s_measure", "alpah", "alpha" },
  match_instances = { function(o) return metrics.match_instances(lab, lab, o) end, "match_instances",
                      "iou_treshold", "iou_threshold" },
  average_precision = { function(o) return metrics.average_precision(lab, lab, o) end, "average_precision",
                        "threshold", "thresholds" },
  panoptic_quality = { function(o) return metrics.panoptic_quality(lab, lab, o) end, "panoptic_quality",
                       "gt_categorie", "gt_categories" },
}, {
  mae = "positional (sal, mask)",
  e_measure = "positional (sal, mask)",
})

walk("lunet.data", data, {
  TensorDataset = { function(o) o.image = lunet.zeros(2, 1, 2, 2) return data.TensorDataset(o) end, "TensorDataset",
                    "transfrom", "transform" },
  SegmentationFolder = { function(o) o.images, o.masks = ".", "." return data.SegmentationFolder(o) end,
                         "SegmentationFolder", "mask_sufix", "mask_suffix" },
  fashion_mnist = { data.fashion_mnist, "data.fashion_mnist", "splt", "split" },
  tuxpaint = { data.tuxpaint, "data.tuxpaint", "sizee", "size" },
  labelme_voc = { data.labelme_voc, "data.labelme_voc", "image_mod", "image_mode" },
  volumes = { data.volumes, "data.volumes", "sise", "size" },
  tuxpaint_instances = { data.tuxpaint_instances, "data.tuxpaint_instances", "stamp", "stamps" },
  random_split = { function(o) return data.random_split(data.TensorDataset{ image = lunet.zeros(2, 1) }, { 1, 1 }, o) end,
                   "random_split", "sed", "seed" },
}, {
  Subset = "positional (dataset, indices)",
  DataLoader = "lua/lunet/data/loader.lua (checked by its owner's spec)",
  collate = "positional (list of samples)",
  get_worker_info = "no arguments (spec/workers_spec.lua)",
})

walk("lunet.predict", predict, {
  predict = { function(o) return predict.predict(net, x4, o) end, "predict", "overlapp", "overlap" },
  save_model = { function(o) return predict.save_model("unused.safetensors", net, o) end, "save_model", "confg", "config" },
  load_model = { function(o) return predict.load_model("x.safetensors", o) end, "load_model", "strickt", "strict" },
  sliding_window = { function(o) return predict.sliding_window(net, x4, o) end, "sliding_window", "roi_sise", "roi_size" },
  importance_map = { function(o) return predict.importance_map({4, 4}, o) end, "importance_map", "sigma_scal", "sigma_scale" },
}, {
  encode_config = "takes a table of values", decode_config = "takes a string",
  checkpoint_metadata = "positional (name, config)",
})

-- lunet.classic (part 1: spec/classic_spec.lua, spec/classic_filters_spec.lua)
local classic = require "lunet.classic"
local g8 = lunet.rand({ 8, 8 })
local m8 = g8:gt(0.5):to("uint8")
walk("lunet.classic", classic, {
  label = { function(o) return classic.label(m8, o) end, "label", "conectivity", "connectivity" },
  distance_transform_edt = { function(o) return classic.distance_transform_edt(m8, o) end,
                             "distance_transform_edt", "spacng", "spacing" },
  watershed = { function(o) return classic.watershed(g8, m8, o) end, "watershed", "compactnes", "compactness" },
  threshold_otsu = { function(o) return classic.threshold_otsu(g8, o) end, "threshold_otsu", "nbin", "nbins" },
  threshold_multiotsu = { function(o) return classic.threshold_multiotsu(g8, o) end, "threshold_multiotsu",
                          "clases", "classes" },
  threshold_niblack = { function(o) return classic.threshold_niblack(g8, o) end, "threshold_niblack",
                        "window_sise", "window_size" },
  threshold_sauvola = { function(o) return classic.threshold_sauvola(g8, o) end, "threshold_sauvola", "rr", "r" },
  sobel = { function(o) return classic.sobel(g8, o) end, "sobel", "axes", "axis" },
  scharr = { function(o) return classic.scharr(g8, o) end, "scharr", "mask_", "mask" },
  prewitt = { function(o) return classic.prewitt(g8, o) end, "prewitt", "axs", "axis" },
  laplace = { function(o) return classic.laplace(g8, o) end, "laplace", "mak", "mask" },
  canny = { function(o) return classic.canny(g8, o) end, "canny", "sigm", "sigma" },
  erode = { function(o) return classic.erode(m8, nil, o) end, "erode", "mod", "mode" },
  dilate = { function(o) return classic.dilate(m8, nil, o) end, "dilate", "mde", "mode" },
  opening = { function(o) return classic.opening(g8, nil, o) end, "opening", "modes", "mode" },
  closing = { function(o) return classic.closing(g8, nil, o) end, "closing", "mode_", "mode" },
  kmeans = { function(o) return classic.kmeans(g8, 2, o) end, "kmeans", "sed", "seed" },
  pixel_features = { function(o) return classic.pixel_features(g8, o) end, "pixel_features", "yx", "xy" },
  -- part 2 (spec/classic_sp_spec.lua, spec/classic_crf_spec.lua)
  slic = { function(o) return classic.slic(g8, o) end, "slic", "n_segment", "n_segments" },
  felzenszwalb = { function(o) return classic.felzenszwalb(g8, o) end, "felzenszwalb", "min_sise", "min_size" },
  dense_crf = { function(o) return classic.dense_crf(lunet.full({ 2, 8, 8 }, 0.5), lunet.zeros(3, 8, 8), o) end,
                "dense_crf", "bi_xy_sdt", "bi_xy_std" },
}, {
  regionprops = "takes only the label image", disk = "takes a radius", square = "takes a width",
  ball = "takes a radius", cube = "takes a width",
})

-- lunet.instances (spec/instances_spec.lua)
local instances = require "lunet.instances"
local ids8 = m8:int()
walk("lunet.instances", instances, {
  targets = { function(o) return instances.targets(ids8, o) end, "targets", "normalise", "normalize" },
  Targets = { function(o) return instances.Targets(o) end, "Targets", "boundary_widht", "boundary_width" },
  relabel = { function(o) return instances.relabel(ids8, o) end, "relabel", "minsize", "min_size" },
  watershed = { function(o) return instances.watershed(g8, g8, o) end, "watershed", "kinds", "kind" },
  from_output = { function(o) return instances.from_output(lunet.zeros(3, 8, 8), o) end, "from_output",
                  "min_distanse", "min_distance" },
}, {})

-- The zoo: every file of models/ (walked on disk) is a model class, or resnet's module of
-- building blocks, or the shared checks.
describe("lunet.models", function()
  local dir = package.searchpath("lunet.models.unet", package.path):match("^(.*[/\\])unet%.lua$")
  local names = assert(core.image.listdir(dir))
  local cases = {
    unet = { "UNet", "num_clases", "num_classes" },
    tiramisu = { "Tiramisu", "varient", "variant" },
    hrnet = { "HRNet", "widht", "width" },
    deeplabv3plus = { "DeepLabV3Plus", "output_strid", "output_stride" },
    u2net = { "U2Net", "varient", "variant" },
    segnet = { "SegNet", "bsae", "base" },
    fcn = { "FCN", "fc_channel", "fc_channels" },
    pspnet = { "PSPNet", "bnis", "bins" },
    unetpp = { "NestedUNet", "deep_supervison", "deep_supervision" },
    attention_unet = { "AttU_Net", "in_channel", "in_channels" },
    hourglass = { "HourglassNet", "stakcs", "stacks" },
    unet3d = { "UNet3D", "bsae", "base" },
    vnet = { "VNet", "dpeth", "depth" },
  }
  local resnet_cases = {
    ResNet = { function(o) return require("lunet.models.resnet").ResNet(o) end, "ResNet", "deph", "depth" },
    BasicBlock = { function(o) return require("lunet.models.resnet").BasicBlock(4, 4, o) end, "BasicBlock",
                   "dilaton", "dilation" },
    Bottleneck = { function(o) return require("lunet.models.resnet").Bottleneck(4, 1, o) end, "Bottleneck",
                   "downsampel", "downsample" },
    make_layer = { function(o)
      local r = require("lunet.models.resnet")
      return r.make_layer(r.BasicBlock, 4, 4, 1, o)
    end, "make_layer", "stide", "stride" },
  }
  local seen = {}
  for _, file in ipairs(names) do
    local name = file:match("^(.+)%.lua$")
    -- common, shared (checks) and vgg (a backbone built into SegNet / FCN) are no models
    if name and name ~= "init" and name ~= "common" and name ~= "shared" and name ~= "vgg" then
      seen[name] = true
      if name == "resnet" then
        walk("lunet.models.resnet", require "lunet.models.resnet", resnet_cases, {
          count_layer = "positional (block, inplanes, planes, n, stride)",
          count_resnet = "positional (depth, in_channels, width)",
        })
      else
        it(name .. " rejects a misspelled option, when built and in count_parameters", function()
          local c = cases[name]
          assert.is_table(c, "models/" .. file .. " has no case in spec/options_spec.lua")
          local cls = require("lunet.models." .. name)
          for _, f in ipairs { cls, cls.count_parameters } do
            local ok, e = pcall(f, { num_classes = 2, [c[2]] = 1 })
            assert.is_false(ok)
            assert.are.equal(typo(c[1], c[2], c[3]), strip(e))
          end
        end)
      end
    end
  end
  it("has a model file for every case", function()
    for name in pairs(cases) do assert.is_true(seen[name], name) end
  end)
end)

describe("the option table itself", function()
  local cases = {
    { function() return nn.Conv2d(3, 8, 3, { [true] = 1 }) end, "Conv2d: option names must be strings, got true" },
    { function() return nn.DiceLoss(5) end, "DiceLoss: options must be a table, got number" },
    { function() return optim.Adam({ lunet.zeros(1):requires_grad(true) }, "fast") end,
      "Adam: options must be a table, got string" },
    { function() return T.Rotate(lunet.zeros(1)) end, "Rotate: options must be a table, got tensor" },
    { function() return metrics.ConfusionMatrix(2, 255) end, "ConfusionMatrix: options must be a table, got number" },
    { function() return lunet.models.unet(3) end, "UNet: options must be a table, got number" },
    { function() return predict.predict(net, x4, true) end, "predict: options must be a table, got boolean" },
    { function() return data.SegmentationFolder("dir") end, "SegmentationFolder: expects an option table, got string" },
    { function() return T.HorizontalFlip { 1 } end, "HorizontalFlip: unexpected positional option 1" },
    { function() return T.Rotate { [2.5] = 1 } end, "Rotate: unknown option [2.5] (options are named: "
      .. "border_mode, fill, fill_mask, ignore_index, interpolation, limit, p)" },
  }
  for i, c in ipairs(cases) do
    it(("case %d: %s"):format(i, c[2]), function()
      local ok, e = pcall(c[1])
      assert.is_false(ok)
      assert.are.equal(c[2], strip(e))
    end)
  end
end)
