-- Strict option tables: every function of lunet.nn.functional that takes options, and every
-- raw kernel binding (core.nn, core.warp) that does, rejects an unknown key with
--   "fn: unknown option 'paddin' (did you mean 'padding'?)"
-- (or the list of known options when no name is close). The F table and the binding tables
-- are walked: a function that is neither given a case here nor listed as taking no options
-- fails the spec, so a new function cannot be forgotten.
local lunet = require "lunet"
local F = require "lunet.nn.functional"
local core = require "lunet.core"

local R, I = lunet.randn, function(t) return t:to("int32") end

-- "file:line: " prefixes come from the Lua-side checks (raised at the caller's line)
local function strip(msg) return (tostring(msg):gsub("^[^:]*:%d+: ", "")) end

local function merged(a, b)
  local t = {}
  for k, v in pairs(a) do t[k] = v end
  for k, v in pairs(b) do t[k] = v end
  return t
end

local x4 = R(2, 2, 6, 6)
local logits, labels = R(2, 3, 4, 4), I(lunet.randint(0, 3, { 2, 4, 4 }))
local pooled, pidx = F.max_pool2d(x4, { kernel = 2, return_indices = true })

-- name -> { call(opts), valid options, misspelled extra options, expected message }
local with_options = {
  conv2d = { function(o) return F.conv2d(x4, R(3, 2, 3, 3), nil, o) end, { padding = 1 },
    { paddin = 1 }, "conv2d: unknown option 'paddin' (did you mean 'padding'?)" },
  conv_transpose2d = { function(o) return F.conv_transpose2d(x4, R(2, 3, 3, 3), R(3), o) end,
    { stride = 2, output_padding = 1 }, { output_paddin = 1 },
    "conv_transpose2d: unknown option 'output_paddin' (did you mean 'output_padding'?)" },
  max_pool2d = { function(o) return F.max_pool2d(x4, o) end, { kernel = 2 }, { strid = 1 },
    "max_pool2d: unknown option 'strid' (did you mean 'stride'?)" },
  avg_pool2d = { function(o) return F.avg_pool2d(x4, o) end, { kernel = 2 },
    { count_include_pads = false },
    "avg_pool2d: unknown option 'count_include_pads' (did you mean 'count_include_pad'?)" },
  max_unpool2d = { function(o) return F.max_unpool2d(pooled, pidx, o) end, { kernel = 2 },
    { output_sze = { 6, 6 } }, "max_unpool2d: unknown option 'output_sze' (did you mean 'output_size'?)" },
  adaptive_max_pool2d = { function(o) return F.adaptive_max_pool2d(x4, 2, o) end,
    { return_indices = true }, { return_indice = true },
    "adaptive_max_pool2d: unknown option 'return_indice' (did you mean 'return_indices'?)" },
  interpolate = { function(o) return F.interpolate(x4, o) end, { scale_factor = 2 },
    { mod = "bilinear" }, "interpolate: unknown option 'mod' (did you mean 'mode'?)" },
  pad = { function(o) return F.pad(x4, { 1, 1, 1, 1 }, o) end, { mode = "reflect" },
    { mdoe = "reflect" }, "pad: unknown option 'mdoe' (did you mean 'mode'?)" },
  batch_norm = { function(o) return F.batch_norm(x4, lunet.zeros(2), lunet.ones(2), nil, nil, o) end,
    { training = true, momentum = 0.2 }, { momentun = 0.2 },
    "batch_norm: unknown option 'momentun' (did you mean 'momentum'?)" },
  group_norm = { function(o) return F.group_norm(x4, 2, nil, nil, o) end, { eps = 1e-3 },
    { esp = 1e-3 }, "group_norm: unknown option 'esp' (did you mean 'eps'?)" },
  dropout = { function(o) return F.dropout(x4, o) end, { p = 0.3 }, { prob = 0.3 },
    "dropout: unknown option 'prob' (known options: p, training, generator)" },
  dropout2d = { function(o) return F.dropout2d(x4, o) end, { p = 0.3, training = true },
    { trainig = true }, "dropout2d: unknown option 'trainig' (did you mean 'training'?)" },
  cross_entropy = { function(o) return F.cross_entropy(logits, labels, o) end,
    { ignore_index = 255, label_smoothing = 0.1 }, { ignore_idx = 255 },
    "cross_entropy: unknown option 'ignore_idx' (did you mean 'ignore_index'?)" },
  binary_cross_entropy_with_logits = {
    function(o) return F.binary_cross_entropy_with_logits(logits, lunet.rand(2, 3, 4, 4), o) end,
    { pos_weight = 2 }, { pos_wieght = 2 },
    "binary_cross_entropy_with_logits: unknown option 'pos_wieght' (did you mean 'pos_weight'?)" },
  dice_loss = { function(o) return F.dice_loss(logits, labels, o) end, { mode = "multiclass", smooth = 1 },
    { smoth = 1 }, "dice_loss: unknown option 'smoth' (did you mean 'smooth'?)" },
  jaccard_loss = { function(o) return F.jaccard_loss(logits, labels, o) end, { classes = { 0, 2 } },
    { clases = { 0, 2 } }, "jaccard_loss: unknown option 'clases' (did you mean 'classes'?)" },
  tversky_loss = { function(o) return F.tversky_loss(logits, labels, o) end, { alpha = 0.3, beta = 0.7 },
    { beat = 0.7 }, "tversky_loss: unknown option 'beat' (did you mean 'beta'?)" },
  focal_loss = { function(o) return F.focal_loss(logits, labels, o) end, { gamma = 1.5 },
    { gama = 1.5 }, "focal_loss: unknown option 'gama' (did you mean 'gamma'?)" },
  lovasz_loss = { function(o) return F.lovasz_loss(logits, labels, o) end, { per_image = true },
    { per_imag = true }, "lovasz_loss: unknown option 'per_imag' (did you mean 'per_image'?)" },
}

-- functions whose arguments are all positional
local no_options = {
  adaptive_avg_pool2d = true, relu = true, leaky_relu = true, sigmoid = true, tanh = true,
  softmax = true, log_softmax = true, labels = true,
}

-- the 3-D ops (spec/volume_kernels_spec.lua has their behaviour)
local x5 = R(2, 2, 4, 4, 4)
local pooled5, pidx5 = F.max_pool3d(x5, { kernel = 2, return_indices = true })
with_options.conv3d = { function(o) return F.conv3d(x5, R(3, 2, 3, 3, 3), nil, o) end, { padding = 1 },
  { paddin = 1 }, "conv3d: unknown option 'paddin' (did you mean 'padding'?)" }
with_options.conv_transpose3d = { function(o) return F.conv_transpose3d(x5, R(2, 3, 2, 2, 2), R(3), o) end,
  { stride = 2, output_padding = 1 }, { output_paddin = 1 },
  "conv_transpose3d: unknown option 'output_paddin' (did you mean 'output_padding'?)" }
with_options.max_pool3d = { function(o) return F.max_pool3d(x5, o) end, { kernel = 2 }, { strid = 1 },
  "max_pool3d: unknown option 'strid' (did you mean 'stride'?)" }
with_options.avg_pool3d = { function(o) return F.avg_pool3d(x5, o) end, { kernel = 2 },
  { count_include_pads = false },
  "avg_pool3d: unknown option 'count_include_pads' (did you mean 'count_include_pad'?)" }
with_options.max_unpool3d = { function(o) return F.max_unpool3d(pooled5, pidx5, o) end, { kernel = 2 },
  { output_sze = { 4, 4, 4 } }, "max_unpool3d: unknown option 'output_sze' (did you mean 'output_size'?)" }
with_options.instance_norm = { function(o) return F.instance_norm(x5, o) end, { eps = 1e-3 },
  { esp = 1e-3 }, "instance_norm: unknown option 'esp' (did you mean 'eps'?)" }
no_options.adaptive_avg_pool3d = true
no_options.prelu = true

describe("lunet.nn.functional option tables", function()
  it("every function is either given a case here or listed as taking no options", function()
    local missing = {}
    for name, v in pairs(F) do
      if type(v) == "function" and not with_options[name] and not no_options[name] then
        missing[#missing + 1] = name
      end
    end
    table.sort(missing)
    assert.are.same({}, missing)
    for name in pairs(with_options) do assert.is_function(F[name], name) end
    for name in pairs(no_options) do assert.is_function(F[name], name) end
  end)

  for name, c in pairs(with_options) do
    local call, valid, typo, want = c[1], c[2], c[3], c[4]
    it(name .. " runs with its valid options", function()
      assert.is_truthy(call(valid))
    end)
    it(name .. " rejects a misspelled option", function()
      local ok, err = pcall(call, merged(valid, typo))
      assert.is_false(ok)
      assert.are.equal(want, strip(err))
    end)
    it(name .. " rejects options that are not a table", function()
      local ok, err = pcall(call, 5)
      assert.is_false(ok)
      assert.are.equal(name .. ": options must be a table, got number", strip(err))
    end)
  end
end)

-- The raw bindings (core.nn: the kernels F records on the tape; core.warp: the transforms'
-- kernels) check their option keys too, including the internal ones (fn, naive).
local nn, W = core.nn, core.warp
local img = lunet.randint(0, 255, { 3, 8, 8 }):to("uint8")
local map = lunet.zeros(8, 8)
local gy_conv = R(2, 3, 6, 6)

-- qualified name -> { call(opts), valid options, misspelled key, expected message }
local raw = {
  ["nn.conv2d_forward"] = { function(o) return nn.conv2d_forward(x4, R(3, 2, 3, 3), nil, o) end,
    { padding = 1 }, { dilaton = 1 }, "conv2d: unknown option 'dilaton' (did you mean 'dilation'?)" },
  ["nn.conv2d_backward"] = { function(o) return nn.conv2d_backward(gy_conv, x4, R(3, 2, 3, 3), o) end,
    { padding = 1 }, { groupz = 1 }, "conv2d_backward: unknown option 'groupz' (did you mean 'groups'?)" },
  ["nn.conv2d_forward_naive"] = { function(o) return nn.conv2d_forward_naive(x4, R(3, 2, 3, 3), nil, o) end,
    { padding = 1 }, { pading = 1 }, "conv2d_naive: unknown option 'pading' (did you mean 'padding'?)" },
  ["nn.conv2d_backward_naive"] = { function(o) return nn.conv2d_backward_naive(gy_conv, x4, R(3, 2, 3, 3), o) end,
    { padding = 1 }, { pading = 1 }, "conv2d_backward_naive: unknown option 'pading' (did you mean 'padding'?)" },
  ["nn.conv_transpose2d_forward"] = { function(o) return nn.conv_transpose2d_forward(x4, R(2, 3, 3, 3), nil, o) end,
    { padding = 1 }, { output_padding = 0, strde = 1 },
    "conv_transpose2d: unknown option 'strde' (did you mean 'stride'?)" },
  ["nn.conv_transpose2d_backward"] = {
    function(o) return nn.conv_transpose2d_backward(R(2, 3, 6, 6), x4, R(2, 3, 3, 3), o) end,
    { padding = 1 }, { bias = true },
    "conv_transpose2d_backward: unknown option 'bias' (known options: stride, padding, output_padding, dilation, groups)" },
  ["nn.conv_transpose2d_forward_naive"] = {
    function(o) return nn.conv_transpose2d_forward_naive(x4, R(2, 3, 3, 3), nil, o) end,
    { padding = 1 }, { pading = 1 }, "conv_transpose2d_naive: unknown option 'pading' (did you mean 'padding'?)" },
  ["nn.conv_transpose2d_backward_naive"] = {
    function(o) return nn.conv_transpose2d_backward_naive(R(2, 3, 6, 6), x4, R(2, 3, 3, 3), o) end,
    { padding = 1 }, { pading = 1 },
    "conv_transpose2d_backward_naive: unknown option 'pading' (did you mean 'padding'?)" },
  ["nn.max_pool2d"] = { function(o) return nn.max_pool2d(x4, o) end, { kernel = 2 }, { kernal = 2 },
    "max_pool2d: unknown option 'kernal' (did you mean 'kernel'?)" },
  ["nn.max_pool2d_naive"] = { function(o) return nn.max_pool2d_naive(x4, o) end, { kernel = 2 },
    { ceil = true }, "max_pool2d: unknown option 'ceil' (did you mean 'ceil_mode'?)" },
  ["nn.avg_pool2d"] = { function(o) return nn.avg_pool2d(x4, o) end, { kernel = 2 },
    { divisor = 2 }, "avg_pool2d: unknown option 'divisor' (did you mean 'divisor_override'?)" },
  ["nn.avg_pool2d_backward"] = { function(o) return nn.avg_pool2d_backward(R(2, 2, 3, 3), x4, o) end,
    { kernel = 2 }, { dilation = 1 },
    "avg_pool2d: unknown option 'dilation' (known options: kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)" },
  ["nn.max_unpool2d"] = { function(o) return nn.max_unpool2d(pooled, pidx, o) end, { kernel = 2 },
    { stide = 2 }, "max_unpool2d: unknown option 'stide' (did you mean 'stride'?)" },
  ["nn.interpolate"] = { function(o) return nn.interpolate(x4, o) end, { size = 3 },
    { align_corner = true }, "interpolate: unknown option 'align_corner' (did you mean 'align_corners'?)" },
  ["nn.interpolate_naive"] = { function(o) return nn.interpolate_naive(x4, o) end, { size = 3 },
    { sizes = 3 }, "interpolate: unknown option 'sizes' (did you mean 'size'?)" },
  ["nn.interpolate_backward"] = { function(o) return nn.interpolate_backward(R(2, 2, 3, 3), x4, o) end,
    { size = 3 }, { scale = 2 }, "interpolate: unknown option 'scale' (did you mean 'scale_factor'?)" },
  ["nn.pad"] = { function(o) return nn.pad(x4, { 1, 1 }, o) end, { value = 2 }, { valu = 2 },
    "pad: unknown option 'valu' (did you mean 'value'?)" },
  ["nn.pad_backward"] = { function(o) return nn.pad_backward(R(2, 2, 6, 8), x4, { 1, 1 }, o) end,
    { mode = "constant" }, { mod = "constant" }, "pad: unknown option 'mod' (did you mean 'mode'?)" },
  ["nn.batch_norm_forward"] = {
    function(o) return nn.batch_norm_forward(x4, lunet.zeros(2), lunet.ones(2), nil, nil, o) end,
    { eps = 1e-3 }, { epsilon = 1e-3 }, "batch_norm: unknown option 'epsilon' (did you mean 'eps'?)" },
  ["nn.batch_norm_forward_naive"] = {
    function(o) return nn.batch_norm_forward_naive(x4, lunet.zeros(2), lunet.ones(2), nil, nil, o) end,
    { eps = 1e-3 }, { trainng = false }, "batch_norm: unknown option 'trainng' (did you mean 'training'?)" },
  ["nn.batch_norm_relu_forward"] = {
    function(o) return nn.batch_norm_relu_forward(x4, lunet.zeros(2), lunet.ones(2), nil, nil, o) end,
    { eps = 1e-3 }, { epsilon = 1e-3 }, "batch_norm: unknown option 'epsilon' (did you mean 'eps'?)" },
  ["nn.batch_norm_relu_forward_naive"] = {
    function(o) return nn.batch_norm_relu_forward_naive(x4, lunet.zeros(2), lunet.ones(2), nil, nil, o) end,
    { eps = 1e-3 }, { trainng = false }, "batch_norm: unknown option 'trainng' (did you mean 'training'?)" },
  ["nn.adam_step"] = {
    function(o) return nn.adam_step({ lunet.zeros(2) }, { lunet.ones(2) }, { lunet.zeros(2) }, { lunet.zeros(2) }, nil, { 1 }, o) end,
    { lr = 0.1 }, { betas = { 0.9, 0.99 } }, "adam_step: unknown option 'betas' (did you mean 'beta1'?)" },
  ["nn.group_norm_forward"] = { function(o) return nn.group_norm_forward(x4, 2, nil, nil, o) end,
    { eps = 1e-3 }, { affine = true }, "group_norm: unknown option 'affine' (known options: eps)" },
  ["nn.group_norm_forward_naive"] = { function(o) return nn.group_norm_forward_naive(x4, 2, nil, nil, o) end,
    { eps = 1e-3 }, { ep = 1e-3 }, "group_norm: unknown option 'ep' (did you mean 'eps'?)" },
  ["nn.dropout_forward"] = { function(o) return nn.dropout_forward(x4, o) end, { p = 0.1 },
    { generater = lunet.Generator(1) }, "dropout: unknown option 'generater' (did you mean 'generator'?)" },
  ["nn.dropout2d_forward"] = { function(o) return nn.dropout2d_forward(x4, o) end, { p = 0.1 },
    { inplace = true }, "dropout2d: unknown option 'inplace' (known options: p, training, generator)" },
  ["nn.cross_entropy_forward"] = { function(o) return nn.cross_entropy_forward(logits, labels, o) end,
    { reduction = "sum" }, { reduce = "sum" },
    "cross_entropy: unknown option 'reduce' (known options: fn, weight, ignore_index, label_smoothing, reduction, naive, grad)" },
  ["nn.cross_entropy_backward"] = {
    function(o) return nn.cross_entropy_backward(lunet.tensor(1), logits, labels, o) end,
    { weight = lunet.ones(3) }, { weights = lunet.ones(3) },
    "cross_entropy_backward: unknown option 'weights' (did you mean 'weight'?)" },
  ["nn.bce_with_logits_forward"] = {
    function(o) return nn.bce_with_logits_forward(logits, lunet.rand(2, 3, 4, 4), nil, nil, o) end,
    { fn = "binary_cross_entropy_with_logits" }, { reduction = "mean" },
    "binary_cross_entropy_with_logits: unknown option 'reduction' (known options: fn)" },
  ["nn.loss_one_hot"] = { function(o) return nn.loss_one_hot(labels, 3, o) end, { ignore_index = 255 },
    { per_image = true }, "one_hot: unknown option 'per_image' (known options: fn, ignore_index)" },
  ["nn.lovasz_softmax_weights"] = {
    function(o) return nn.lovasz_softmax_weights(logits:abs(), labels, o) end, { per_image = true },
    { ignore = 255 }, "lovasz_softmax: unknown option 'ignore' (did you mean 'ignore_index'?)" },
  ["nn.lovasz_hinge_weights"] = {
    function(o) return nn.lovasz_hinge_weights(R(2, 16), lunet.zeros(2, 16), o) end, { per_image = true },
    { per_img = true }, "lovasz_hinge: unknown option 'per_img' (did you mean 'per_image'?)" },
  ["warp.warp_affine"] = { function(o) return W.warp_affine(img, { 1, 0, 1, 0, 1, 0 }, o) end,
    { border = "reflect" }, { boarder = "reflect" }, "warp_affine: unknown option 'boarder' (did you mean 'border'?)" },
  ["warp.remap"] = { function(o) return W.remap(img, map, map, o) end, { fill = 3 }, { fil = 3 },
    "remap: unknown option 'fil' (did you mean 'fill'?)" },
  ["warp.resize"] = { function(o) return W.resize(img, 4, 5, o) end, { interpolation = "area" },
    { interp = "area" }, "resize: unknown option 'interp' (did you mean 'interpolation'?)" },
  ["warp.crop_pad"] = { function(o) return W.crop_pad(img, -1, -1, 10, 10, o) end, { border = "replicate" },
    { border_mode = "replicate" }, "crop_pad: unknown option 'border_mode' (did you mean 'border'?)" },
  ["warp.gaussian_blur"] = { function(o) return W.gaussian_blur(img, 3, 3, 1, 1, o) end, { naive = true },
    { naiv = true }, "gaussian_blur: unknown option 'naiv' (did you mean 'naive'?)" },
  ["warp.gauss_noise"] = { function(o) return W.gauss_noise(img, 0, 5, false, o) end,
    { generator = lunet.Generator(2) }, { gen = 1 }, "gauss_noise: unknown option 'gen' (did you mean 'generator'?)" },
  ["warp.uniform"] = { function(o) return W.uniform(o) end, { generator = lunet.Generator(3) },
    { seed = 3 }, "uniform: unknown option 'seed' (known options: generator)" },
  ["warp.randint"] = { function(o) return W.randint(1, 6, o) end, { generator = lunet.Generator(4) },
    { generators = 1 }, "randint: unknown option 'generators' (did you mean 'generator'?)" },
  ["warp.elastic_maps"] = { function(o) return W.elastic_maps(8, 8, 2, 3, 5, o) end, {},
    { generato = 1 }, "elastic_maps: unknown option 'generato' (did you mean 'generator'?)" },
}

-- raw bindings whose arguments are all positional (or that take no arguments)
local raw_positional = {
  "nn.max_pool2d_backward", "nn.max_unpool2d_backward", "nn.adaptive_avg_pool2d",
  "nn.adaptive_avg_pool2d_backward", "nn.adaptive_max_pool2d", "nn.batch_norm_backward",
  "nn.batch_norm_backward_naive", "nn.batch_norm_relu_backward", "nn.batch_norm_relu_backward_naive", "nn.group_norm_backward", "nn.group_norm_backward_naive",
  "nn.dropout_backward", "nn.relu_forward", "nn.relu_backward", "nn.leaky_relu_forward",
  "nn.leaky_relu_backward", "nn.sigmoid_forward", "nn.sigmoid_backward", "nn.tanh_forward",
  "nn.tanh_backward", "nn.softmax_forward", "nn.softmax_forward_naive", "nn.log_softmax_forward",
  "nn.log_softmax_forward_naive", "nn.softmax_backward", "nn.softmax_backward_naive",
  "nn.log_softmax_backward", "nn.log_softmax_backward_naive", "nn.labels", "nn.labels_naive",
  "nn.bce_with_logits_backward", "nn.loss_log_softmax_forward", "nn.loss_log_softmax_backward",
  "nn.conv_set_algo", "nn.conv_set_isa", "nn.conv_isa_supported", "nn.wallclock",
  "warp.flip", "warp.rot90", "warp.pixel_affine", "warp.pixel_gamma", "warp.hsv_shift",
  "warp.normalize", "warp.fill_rect", "warp.grid_maps", "warp.now",
  "metrics.confusion", "metrics.confusion_naive", "metrics.edt", "metrics.edt_naive",
  "metrics.boundary", "metrics.hausdorff", "metrics.hausdorff_naive", "metrics.mae",
  "metrics.fmeasure", "metrics.s_measure", "metrics.e_measure", "metrics.match_instances",
  "metrics.match_instances_naive",
  "metrics.edt3", "metrics.boundary6", "metrics.surface",   -- v3d: positional, no option table
}

-- the 3-D kernels (csrc/lua_vol.c)
do
  local w5, wt5, gy5 = R(3, 2, 3, 3, 3), R(2, 3, 2, 2, 2), R(2, 3, 4, 4, 4)
  local function conv(name, f, args, fn)
    raw["nn." .. name] = { function(o) return f(table.unpack(args(o))) end, { padding = 1 }, { paddng = 1 },
      fn .. ": unknown option 'paddng' (did you mean 'padding'?)" }
  end
  conv("conv3d_forward", nn.conv3d_forward, function(o) return { x5, w5, nil, o } end, "conv3d")
  conv("conv3d_forward_naive", nn.conv3d_forward_naive, function(o) return { x5, w5, nil, o } end, "conv3d_naive")
  conv("conv3d_backward", nn.conv3d_backward, function(o) return { gy5, x5, w5, o } end, "conv3d_backward")
  conv("conv3d_backward_naive", nn.conv3d_backward_naive, function(o) return { gy5, x5, w5, o } end,
    "conv3d_backward_naive")
  local function convt(name, f, args, fn)
    raw["nn." .. name] = { function(o) return f(table.unpack(args(o))) end, { stride = 2 }, { strid = 2 },
      fn .. ": unknown option 'strid' (did you mean 'stride'?)" }
  end
  local gyt = R(2, 3, 8, 8, 8)
  convt("conv_transpose3d_forward", nn.conv_transpose3d_forward, function(o) return { x5, wt5, nil, o } end,
    "conv_transpose3d")
  convt("conv_transpose3d_forward_naive", nn.conv_transpose3d_forward_naive,
    function(o) return { x5, wt5, nil, o } end, "conv_transpose3d_naive")
  convt("conv_transpose3d_backward", nn.conv_transpose3d_backward, function(o) return { gyt, x5, wt5, o } end,
    "conv_transpose3d_backward")
  convt("conv_transpose3d_backward_naive", nn.conv_transpose3d_backward_naive,
    function(o) return { gyt, x5, wt5, o } end, "conv_transpose3d_backward_naive")
  raw["nn.max_pool3d"] = { function(o) return nn.max_pool3d(x5, o) end, { kernel = 2 }, { kernal = 2 },
    "max_pool3d: unknown option 'kernal' (did you mean 'kernel'?)" }
  raw["nn.max_pool3d_naive"] = { function(o) return nn.max_pool3d_naive(x5, o) end, { kernel = 2 },
    { ceil = true }, "max_pool3d: unknown option 'ceil' (did you mean 'ceil_mode'?)" }
  raw["nn.avg_pool3d"] = { function(o) return nn.avg_pool3d(x5, o) end, { kernel = 2 },
    { divisor = 2 }, "avg_pool3d: unknown option 'divisor' (did you mean 'divisor_override'?)" }
  raw["nn.avg_pool3d_naive"] = { function(o) return nn.avg_pool3d_naive(x5, o) end, { kernel = 2 },
    { paddin = 0 }, "avg_pool3d: unknown option 'paddin' (did you mean 'padding'?)" }
  raw["nn.avg_pool3d_backward"] = { function(o) return nn.avg_pool3d_backward(R(2, 2, 2, 2, 2), x5, o) end,
    { kernel = 2 }, { dilation = 1 },
    "avg_pool3d: unknown option 'dilation' (known options: kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)" }
  raw["nn.max_unpool3d"] = { function(o) return nn.max_unpool3d(pooled5, pidx5, o) end, { kernel = 2 },
    { stide = 2 }, "max_unpool3d: unknown option 'stide' (did you mean 'stride'?)" }
  raw["nn.interpolate3d"] = { function(o) return nn.interpolate3d(x5, o) end, { size = 3 },
    { align_corner = true }, "interpolate: unknown option 'align_corner' (did you mean 'align_corners'?)" }
  raw["nn.interpolate3d_naive"] = { function(o) return nn.interpolate3d_naive(x5, o) end, { size = 3 },
    { sizes = 3 }, "interpolate: unknown option 'sizes' (did you mean 'size'?)" }
  raw["nn.interpolate3d_backward"] = { function(o) return nn.interpolate3d_backward(R(2, 2, 3, 3, 3), x5, o) end,
    { size = 3 }, { scale = 2 }, "interpolate: unknown option 'scale' (did you mean 'scale_factor'?)" }
  for _, name in ipairs { "nn.max_pool3d_backward", "nn.max_unpool3d_backward", "nn.adaptive_avg_pool3d",
                          "nn.adaptive_avg_pool3d_naive", "nn.adaptive_avg_pool3d_backward" } do
    raw_positional[#raw_positional + 1] = name
  end
end

describe("raw kernel bindings option tables", function()
  it("every binding of core.nn, core.warp and core.metrics is classified", function()
    local known = {}
    for name in pairs(raw) do known[name] = true end
    for _, name in ipairs(raw_positional) do known[name] = true end
    local missing = {}
    for _, part in ipairs({ "nn", "warp", "metrics" }) do
      for name, v in pairs(core[part]) do
        if type(v) == "function" and not known[part .. "." .. name] then
          missing[#missing + 1] = part .. "." .. name
        end
      end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  for name, c in pairs(raw) do
    local call, valid, typo, want = c[1], c[2], c[3], c[4]
    it(name .. " runs with its valid options and rejects a misspelled one", function()
      assert.is_truthy(call(valid))
      local ok, err = pcall(call, merged(valid, typo))
      assert.is_false(ok)
      assert.are.equal(want, strip(err))
    end)
  end
end)
