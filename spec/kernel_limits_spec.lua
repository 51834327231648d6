-- Sizes at the edge of int64 and values outside the meaningful ranges, for every nn kernel
-- binding: output sizes, windows and scratch buffers are computed with overflow checks, so a
-- huge stride / padding / dilation / kernel / size / scale_factor either works (when the
-- result is representable) or raises a clear error naming the function and the values;
-- never undefined behaviour, a crash or a hang. Range checks follow PyTorch where it has
-- them and reject what only produces garbage where it does not (momentum, eps, gamma, ...).
local lunet = require "lunet"
local F = require "lunet.nn.functional"
local core = require "lunet.core"
local H = assert(loadfile("spec/helpers.lua", "t", _ENV))()

local R = lunet.randn
local BIG = 1 << 62          -- 4611686018427387904
local T40 = 1 << 40          -- 1099511627776
local nan, inf = 0 / 0, math.huge

local function strip(msg) return (tostring(msg):gsub("^[^:]*:%d+: ", "")) end

-- { name, fn, exact message }
local function cases(list)
  for _, c in ipairs(list) do
    it("rejects " .. c[1], function()
      local ok, err = pcall(c[2])
      assert.is_false(ok)
      assert.are.equal(c[3], strip(err))
    end)
  end
end

local function same(a, b, tol)
  assert.are.same(a:shape(), b:shape())
  local fa, fb = H.flat(a), H.flat(b)
  for i = 1, #fa do
    assert(math.abs(fa[i] - fb[i]) <= (tol or 1e-5), ("element %d: %.9g vs %.9g"):format(i, fa[i], fb[i]))
  end
end

local x = R(1, 2, 8, 8)
local w, wt = R(3, 2, 3, 3), R(2, 3, 3, 3)

describe("conv2d / conv_transpose2d size arithmetic", function()
  cases({
    { "padding = 2^40 (the output cannot be counted)", function() return F.conv2d(x, w, nil, { padding = 2 ^ 40 }) end,
      "conv2d: output [1, 3, 2199023255558, 2199023255558] is too large (its element count overflows int64) " ..
      "(input [1, 2, 8, 8], weight [3, 2, 3, 3], stride (1, 1), padding (1099511627776, 1099511627776), dilation (1, 1))" },
    { "padding = 2^62 (the padded input overflows)", function() return F.conv2d(x, w, nil, { padding = BIG }) end,
      "conv2d: padding (4611686018427387904, 4611686018427387904) overflows int64 (input [1, 2, 8, 8], weight [3, 2, 3, 3])" },
    { "dilation = 2^62 (the dilated kernel overflows)", function() return F.conv2d(x, w, nil, { dilation = { 1, BIG } }) end,
      "conv2d: kernel (3, 3) with dilation (1, 4611686018427387904) overflows int64 (input [1, 2, 8, 8], weight [3, 2, 3, 3])" },
    { "dilation = 2^40 (larger than the input)", function() return F.conv2d(x, w, nil, { dilation = T40 }) end,
      "conv2d: kernel (3, 3) with dilation (1099511627776, 1099511627776) is larger than the padded input (8, 8) " ..
      "(input [1, 2, 8, 8], padding (0, 0))" },
    { "planes too large for the BLAS kernels", function() return F.conv2d(x, w, nil, { padding = 1 << 20 }) end,
      "conv2d: sizes too large for the BLAS kernels (at most 2147483647 elements per plane, per weight row and " ..
      "channels; got planes 8x8 and 2097158x2097158, weight rows of 18, 3 channels) (input [1, 2, 8, 8], " ..
      "weight [3, 2, 3, 3], stride (1, 1), padding (1048576, 1048576), dilation (1, 1))" },
    { "a transposed conv with stride 2^62", function() return F.conv_transpose2d(x, wt, nil, { stride = BIG }) end,
      "conv_transpose2d: output size overflows int64 (input [1, 2, 8, 8], weight [2, 3, 3, 3], " ..
      "stride (4611686018427387904, 4611686018427387904), padding (0, 0), dilation (1, 1))" },
    { "a transposed conv with stride 2^40", function() return F.conv_transpose2d(x, wt, nil, { stride = T40 }) end,
      "conv_transpose2d: output [1, 3, 7696581394435, 7696581394435] is too large (its element count overflows " ..
      "int64) (input [1, 2, 8, 8], weight [2, 3, 3, 3], stride (1099511627776, 1099511627776), padding (0, 0), " ..
      "dilation (1, 1))" },
    { "a transposed conv with padding 2^62", function() return F.conv_transpose2d(x, wt, nil, { padding = BIG }) end,
      "conv_transpose2d: output size overflows int64 (input [1, 2, 8, 8], weight [2, 3, 3, 3], stride (1, 1), " ..
      "padding (4611686018427387904, 4611686018427387904), dilation (1, 1))" },
    { "output_padding not smaller than stride or dilation",
      function() return F.conv_transpose2d(x, wt, nil, { stride = 2, output_padding = { 2, 0 } }) end,
      "conv_transpose2d: output_padding (2, 0) must be smaller than stride (2, 2) or dilation (1, 1)" },
    { "an empty kernel", function() return F.conv2d(x, R(3, 2, 0, 3)) end,
      "conv2d: empty input or weight (input [1, 2, 8, 8], weight [3, 2, 0, 3])" },
    { "an input without channels", function() return F.conv2d(lunet.zeros(1, 0, 4, 4), lunet.zeros(3, 0, 3, 3)) end,
      "conv2d: empty input or weight (input [1, 0, 4, 4], weight [3, 0, 3, 3])" },
    { "groups not dividing the channels", function() return F.conv2d(x, R(3, 1, 3, 3), nil, { groups = 3 }) end,
      "conv2d: groups 3 does not divide input channels 2 (input [1, 2, 8, 8])" },
    { "a fractional stride", function() return F.conv2d(x, w, nil, { stride = 1.5 }) end,
      "conv2d: option stride must be an integer or a pair {h, w}, got 1.5" },
  })

  it("runs a stride of 2^62 (one output row) like any stride past the input", function()
    same(F.conv2d(x, w, nil, { stride = { BIG, 1 } }), F.conv2d(x, w, nil, { stride = { 100, 1 } }))
  end)

  it("takes the largest stride with a padding near int64's end (windows entirely in the padding)", function()
    local M = math.maxinteger
    local y = F.conv2d(x, w, nil, { stride = M, padding = BIG - 8 })
    assert.are.same({ 1, 3, 1, 1 }, y:shape())
    assert.are.same({ 0, 0, 0 }, H.flat(y))
    local x1 = R(1, 2, 1, 1)   -- one input pixel: the stride plays no part
    same(F.conv_transpose2d(x1, wt, nil, { stride = M, padding = 1 }), F.conv_transpose2d(x1, wt, nil, { padding = 1 }))
  end)
end)

describe("pooling size arithmetic", function()
  local ones = lunet.ones({ 1, 1, 2, 2 }, { dtype = "int32" })
  cases({
    { "a kernel of 2^62 without padding", function() return F.max_pool2d(x, { kernel = BIG }) end,
      "max_pool2d: kernel 4611686018427387904x4611686018427387904 (dilation 1x1) is larger than the padded " ..
      "input 8x8 (input [1, 2, 8, 8], padding 0x0)" },
    { "a dilation of 2^62", function() return F.max_pool2d(x, { kernel = 3, dilation = BIG }) end,
      "max_pool2d: kernel 3x3 with stride 3x3, padding 0x0 and dilation 4611686018427387904x4611686018427387904 " ..
      "overflows int64 (input [1, 2, 8, 8])" },
    { "padding beyond half the kernel", function() return F.avg_pool2d(x, { kernel = BIG, padding = BIG }) end,
      "avg_pool2d: padding 4611686018427387904x4611686018427387904 must be at most half the kernel " ..
      "4611686018427387904x4611686018427387904" },
    { "an empty plane", function() return F.max_pool2d(lunet.zeros(1, 1, 0, 4), { kernel = 2, padding = 1 }) end,
      "max_pool2d: x must have non-empty planes (H and W at least 1), got [1, 1, 0, 4]" },
    { "an unpooling stride of 2^62", function() return F.max_unpool2d(R(1, 1, 2, 2), ones, { kernel = 2, stride = BIG }) end,
      "max_unpool2d: output size overflows int64 (input [1, 1, 2, 2], kernel 2x2, " ..
      "stride 4611686018427387904x4611686018427387904, padding 0x0)" },
    { "an unpooling stride of 2^40", function() return F.max_unpool2d(R(1, 1, 2, 2), ones, { kernel = 2, stride = T40 }) end,
      "max_unpool2d: output planes of 1099511627778x1099511627778 are too large for int32 indices (input [1, 1, 2, 2])" },
    { "an output_size of 2^62", function()
      return F.max_unpool2d(R(1, 1, 2, 2), ones, { kernel = 2, output_size = { BIG, 4 } })
    end, "max_unpool2d: output_size height 4611686018427387904 must be strictly between 2 and 6" },
    { "an adaptive size of 2^40 x 2^40", function() return F.adaptive_avg_pool2d(x, { T40, T40 }) end,
      "adaptive_avg_pool2d: output [1, 2, 1099511627776, 1099511627776] is too large (its element count " ..
      "overflows int64) (x [1, 2, 8, 8])" },
    { "an adaptive size whose window arithmetic overflows", function() return F.adaptive_max_pool2d(x, { 1 << 61, 1 }) end,
      "adaptive_max_pool2d: output size 2305843009213693952x1 overflows int64 in the window arithmetic (x [1, 2, 8, 8])" },
    { "adaptive pooling of an empty plane", function() return F.adaptive_avg_pool2d(lunet.zeros(1, 1, 3, 0), 2) end,
      "adaptive_avg_pool2d: x must have non-empty planes (H and W at least 1), got [1, 1, 3, 0]" },
  })

  it("pools a 2^62 kernel with 2^61 padding over the whole plane", function()
    same(F.max_pool2d(x, { kernel = BIG, padding = 1 << 61 }), F.adaptive_max_pool2d(x, 1))
    same(F.avg_pool2d(x, { kernel = BIG, padding = 1 << 61, count_include_pad = false }), F.adaptive_avg_pool2d(x, 1))
    -- counting the padding divides by (2^62)^2: the average vanishes
    local tiny = F.avg_pool2d(x, { kernel = BIG, padding = 1 << 61 })
    assert.are.same({ 1, 2, 1, 1 }, tiny:shape())
    for _, v in ipairs(H.flat(tiny)) do assert(math.abs(v) < 1e-30, v) end
  end)

  it("ignores the dilation of a one-tap kernel, even the largest", function()
    same(F.max_pool2d(x, { kernel = 1, dilation = math.maxinteger }), x)
    same(F.max_pool2d(x, { kernel = { 1, 2 }, dilation = { math.maxinteger, 1 }, stride = 2 }),
      F.max_pool2d(x, { kernel = { 1, 2 }, stride = 2 }))
  end)

  it("takes a stride of 2^62 (one window) with and without ceil_mode", function()
    local y = F.max_pool2d(x, { kernel = 2, stride = BIG })
    same(y, F.max_pool2d(x, { kernel = 2, stride = 100 }))
    same(F.max_pool2d(x, { kernel = 2, stride = BIG, ceil_mode = true }), y)
  end)
end)

describe("interpolate sizes and scale factors", function()
  cases({
    { "a size of 2^40 x 2^40", function() return F.interpolate(x, { size = { T40, T40 } }) end,
      "interpolate: output [1, 2, 1099511627776, 1099511627776] is too large (its element count overflows int64) " ..
      "(x [1, 2, 8, 8])" },
    { "a scale_factor whose output overflows", function() return F.interpolate(x, { scale_factor = 1e300 }) end,
      "interpolate: scale_factor 1e+300x1e+300 makes an output of 8e+300x8e+300 from input 8x8, which overflows int64" },
    { "a NaN scale_factor", function() return F.interpolate(x, { scale_factor = nan }) end,
      "interpolate: scale_factor must be a positive finite number, got nanxnan" },
    { "an infinite scale_factor", function() return F.interpolate(x, { scale_factor = { 2, -inf } }) end,
      "interpolate: scale_factor must be a positive finite number, got 2x-inf" },
    { "a zero scale_factor", function() return F.interpolate(x, { scale_factor = 0 }) end,
      "interpolate: scale_factor must be a positive finite number, got 0x0" },
    { "both size and scale_factor", function() return F.interpolate(x, { size = 4, scale_factor = 2 }) end,
      "interpolate: give exactly one of size and scale_factor" },
    { "neither size nor scale_factor", function() return F.interpolate(x, { mode = "bilinear" }) end,
      "interpolate: give exactly one of size and scale_factor" },
    { "an unknown mode", function() return F.interpolate(x, { size = 4, mode = "bicubic" }) end,
      "interpolate: mode must be \"nearest\" or \"bilinear\", got \"bicubic\"" },
    { "an empty plane", function() return F.interpolate(lunet.zeros(1, 1, 0, 4), { size = 3 }) end,
      "interpolate: x must have non-empty planes (H and W at least 1), got [1, 1, 0, 4]" },
  })
end)

describe("pad", function()
  local e = lunet.zeros(2, 0, 3)
  cases({
    { "paddings whose sum overflows", function() return F.pad(x, { BIG, BIG }) end,
      "pad: padding {4611686018427387904, 4611686018427387904, 0, 0} overflows int64 (input [1, 2, 8, 8])" },
    { "a crop and a padding that cancel out near int64's end",
      function() return F.pad(x, { -math.maxinteger, math.maxinteger }) end,
      "pad: padding {-9223372036854775807, 9223372036854775807, 0, 0} overflows int64 (input [1, 2, 8, 8])" },
    { "a crop of 2^62", function() return F.pad(x, { -BIG, 0 }) end,
      "pad: padding {-4611686018427387904, 0, 0, 0} leaves an empty output from input [1, 2, 8, 8]" },
    { "replicate padding of an empty plane", function() return F.pad(e, { 1, 1, 1, 1 }, { mode = "replicate" }) end,
      "pad: replicate padding needs non-empty planes (H and W at least 1), got x [2, 0, 3]" },
    { "reflect padding of an empty plane", function() return F.pad(e, { 0, 0 }, { mode = "reflect" }) end,
      "pad: reflect padding needs non-empty planes (H and W at least 1), got x [2, 0, 3]" },
    { "circular padding of an empty plane", function() return F.pad(e, { 1, 1 }, { mode = "circular" }) end,
      "pad: circular padding needs non-empty planes (H and W at least 1), got x [2, 0, 3]" },
    { "reflect padding as large as the dimension", function() return F.pad(x, { 0, 0, 8, 0 }, { mode = "reflect" }) end,
      "pad: reflect padding 8 must be less than the input size 8 (dimension 3 of [1, 2, 8, 8])" },
    { "a circular padding of 2^62", function() return F.pad(x, { BIG, 0 }, { mode = "circular" }) end,
      "pad: circular padding 4611686018427387904 must be at most the input size 8 (dimension 4 of [1, 2, 8, 8])" },
    { "a value float32 cannot hold", function() return F.pad(x, { 1, 1 }, { value = -1e300 }) end,
      "pad: value -1e+300 cannot be converted to float32 without overflow" },
    { "a fractional padding", function() return F.pad(x, { 1, 0.5 }) end,
      "pad: padding sizes must be integers, got 0.5 at position 2" },
    { "a mode that is not a string", function() return F.pad(x, { 1, 1 }, { mode = 1 }) end,
      "pad: mode must be \"constant\", \"reflect\", \"replicate\" or \"circular\", got number" },
  })

  it("pads an empty plane with the constant, and takes an infinite value", function()
    local y = F.pad(e, { 1, 1, 1, 0 }, { value = 7 })
    assert.are.same({ 2, 1, 5 }, y:shape())
    for _, v in ipairs(H.flat(y)) do assert.are.equal(7, v) end
    local z = F.pad(lunet.zeros(1, 1), { 1, 0 }, { value = -inf })
    assert.are.same({ -inf, 0 }, H.flat(z))
  end)
end)

describe("normalisation, dropout and labels ranges", function()
  local rm, rv = lunet.zeros(2), lunet.ones(2)
  cases({
    { "momentum = nan", function() return F.batch_norm(x, rm, rv, nil, nil, { training = true, momentum = nan }) end,
      "batch_norm: momentum must be in [0, 1], got nan" },
    { "momentum = 5", function() return F.batch_norm(x, rm, rv, nil, nil, { training = true, momentum = 5 }) end,
      "batch_norm: momentum must be in [0, 1], got 5" },
    { "a string momentum", function() return F.batch_norm(x, rm, rv, nil, nil, { momentum = "0.1" }) end,
      "batch_norm: momentum must be a number, got string" },
    { "eps = 0", function() return F.batch_norm(x, rm, rv, nil, nil, { eps = 0 }) end,
      "batch_norm: eps must be a positive finite number, got 0" },
    { "eps = -1", function() return F.batch_norm(x, rm, rv, nil, nil, { eps = -1 }) end,
      "batch_norm: eps must be a positive finite number, got -1" },
    { "eps = nan", function() return F.batch_norm(x, rm, rv, nil, nil, { eps = nan }) end,
      "batch_norm: eps must be a positive finite number, got nan" },
    { "group_norm eps = inf", function() return F.group_norm(x, 2, nil, nil, { eps = inf }) end,
      "group_norm: eps must be a positive finite number, got inf" },
    { "group_norm eps = 0", function() return F.group_norm(x, 2, nil, nil, { eps = 0 }) end,
      "group_norm: eps must be a positive finite number, got 0" },
    { "dropout p = nan", function() return F.dropout(x, { p = nan }) end, "dropout: p must be in [0, 1], got nan" },
    { "dropout2d p = -0.5", function() return F.dropout2d(x, { p = -0.5 }) end,
      "dropout2d: p must be in [0, 1], got -0.5" },
    { "labels of logits without classes", function() return F.labels(lunet.zeros(2, 0, 3)) end,
      "labels: logits have no classes (logits [2, 0, 3])" },
  })
end)

describe("loss option ranges", function()
  local logits = R(2, 3, 4, 4)
  local target = lunet.randint(0, 3, { 2, 4, 4 }):to("int32")
  cases({
    { "label_smoothing = nan", function() return F.cross_entropy(logits, target, { label_smoothing = nan }) end,
      "cross_entropy: label_smoothing must be in [0, 1], got nan" },
    { "label_smoothing = -0.1", function() return F.cross_entropy(logits, target, { label_smoothing = -0.1 }) end,
      "cross_entropy: label_smoothing must be in [0, 1], got -0.1" },
    { "label_smoothing = 1.5 in the kernel", function()
      return core.nn.cross_entropy_forward(logits, target, { label_smoothing = 1.5 })
    end, "cross_entropy: label_smoothing must be in [0, 1], got 1.5" },
    { "an infinite ignore_index", function() return F.cross_entropy(logits, target, { ignore_index = inf }) end,
      "cross_entropy: ignore_index must be an integer, got inf" },
    { "focal gamma = nan", function() return F.focal_loss(logits, target, { gamma = nan }) end,
      "focal_loss: gamma must be a finite number >= 0, got nan" },
    { "focal gamma = -1", function() return F.focal_loss(logits, target, { gamma = -1 }) end,
      "focal_loss: gamma must be a finite number >= 0, got -1" },
    { "focal gamma = inf", function() return F.focal_loss(logits, target, { gamma = inf }) end,
      "focal_loss: gamma must be a finite number >= 0, got inf" },
    { "a binary focal alpha above 1", function()
      return F.focal_loss(R(2, 1, 4, 4), lunet.rand(2, 1, 4, 4), { mode = "binary", alpha = 2 })
    end, "focal_loss: alpha must be in [0, 1] with mode=\"binary\", got 2" },
    { "dice smooth = nan", function() return F.dice_loss(logits, target, { smooth = nan }) end,
      "dice_loss: smooth must be a finite number >= 0, got nan" },
    { "jaccard eps = -1", function() return F.jaccard_loss(logits, target, { eps = -1 }) end,
      "jaccard_loss: eps must be a finite number >= 0, got -1" },
    { "tversky alpha = -1", function() return F.tversky_loss(logits, target, { alpha = -1 }) end,
      "tversky_loss: alpha must be a finite number >= 0, got -1" },
    { "a non-boolean log_loss", function() return F.dice_loss(logits, target, { log_loss = 1 }) end,
      "dice_loss: log_loss must be a boolean, got 1" },
    { "a non-boolean per_image", function() return F.lovasz_loss(logits, target, { per_image = "yes" }) end,
      "lovasz_loss: per_image must be a boolean, got 'yes'" },
    { "a one_hot class count of 0", function() return core.nn.loss_one_hot(target, 0) end,
      "one_hot: the class count must be positive, got 0 (target [2, 4, 4])" },
  })
end)

describe("warp and metric kernel ranges", function()
  local W, M = core.warp, core.metrics
  local img = lunet.randint(0, 255, { 3, 8, 8 }):to("uint8")
  local lab = lunet.zeros({ 8, 8 }, { dtype = "int32" })
  cases({
    { "a NaN fill", function() return W.warp_affine(img, { 1, 0, 0, 0, 1, 0 }, { fill = nan }) end,
      "warp_affine: fill must be a finite number, got nan" },
    { "an infinite matrix entry", function() return W.warp_affine(img, { 1, 0, inf, 0, 1, 0 }) end,
      "warp_affine: matrix entry 3 must be finite, got inf" },
    { "an output height of 2^40", function() return W.warp_affine(img, { 1, 0, 0, 0, 1, 0 }, { height = T40 }) end,
      "warp_affine: output size must be in 1..1073741824, got 1099511627776x8" },
    { "crop offsets near int64's end", function() return W.crop_pad(img, BIG, 0, 4, 4) end,
      "crop_pad: offsets must be in -1099511627776..1099511627776, got top 4611686018427387904, left 0" },
    { "a size of 2^40", function() return W.resize(img, T40, 4) end,
      "resize: height must be a positive size, got 1099511627776" },
    { "an infinite hue shift", function() return W.hsv_shift(img, inf, 0, 0) end,
      "hsv_shift: hue must be a finite number, got inf" },
    { "a NaN gamma", function() return W.pixel_gamma(img, nan, 255) end,
      "pixel_gamma: gamma must be a finite number, got nan" },
    { "a negative noise std", function() return W.gauss_noise(img, 0, -1, false) end,
      "gauss_noise: std must be a finite number >= 0, got -1" },
    { "a rectangle whose end overflows", function() return W.fill_rect(img, BIG, 0, BIG, 1, 0) end,
      "fill_rect: rectangle top 4611686018427387904 + height 4611686018427387904 or left 0 + width 1 overflows int64" },
    { "a randint range wider than int64", function() return W.randint(math.mininteger, math.maxinteger) end,
      "randint: range [-9223372036854775808, 9223372036854775807] has more values than int64 can count" },
    { "a NaN sigma", function() return W.elastic_maps(8, 8, 1, nan, 5) end,
      "elastic_maps: sigma must be a positive finite number, got nan" },
    { "a NaN normalize mean", function() return W.normalize(img, nan, 1) end,
      "normalize: mean must hold finite numbers, got nan for channel 1" },
    { "a huge class count", function() return M.confusion(lab, lab, 1 << 40) end,
      "confusion: num_classes must be in 1..65536, got 1099511627776" },
    { "a huge ignore_index", function()
      return M.confusion(lab + 5, lab, 3, 1 << 40)
    end, "confusion: pred has label 5, outside 0..2" },
    { "an infinite spacing", function() return M.hausdorff(lab, lab, nil, inf, 1) end,
      "hausdorff: spacing must be positive finite numbers, got {inf, 1}" },
    { "a threshold above 1", function() return M.match_instances(lab, lab, { 0.5, 2 }) end,
      "match_instances: threshold 2 must be in [0, 1], got 2" },
  })

  it("keeps the uint8 hue shift modulo 180 for any finite shift", function()
    assert.are.same(H.flat(W.hsv_shift(img, 30, 0, 0)), H.flat(W.hsv_shift(img, 30 + 180 * 1e9, 0, 0)))
    assert.are.same(H.flat(W.hsv_shift(img, 0, 255, -255)), H.flat(W.hsv_shift(img, 0, 1e12, -1e12)))
  end)
end)
