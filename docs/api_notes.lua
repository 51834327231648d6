-- docs/api_notes.lua: documentation of the public functions whose source carries no doc
-- comment (mostly C functions of the binding and methods made by factories in
-- lua/lunet/tensor.lua). docs/gen_api.lua merges it into docs/api.md; a function documented
-- in its source needs no entry here. Name -> text, with the names api.md uses
-- (lunet.zeros, x:add for tensor methods, g:rand for Generator methods, m:eval, ...).
-- Dimensions are 1-based and negative ones count from the end (docs/conventions.md).
return {
  -- ---------------------------------------------------------------- creation
  ["lunet.zeros"] = "zeros(shape... | {shape} [, {dtype = \"float32\"|\"int32\"|\"uint8\"}]) -> a tensor of zeros.\n" ..
    "Errors: a negative size or one that does not fit in memory (zeros: negative size -1 in shape [2, -1]).",
  ["lunet.ones"] = "ones(shape... | {shape} [, {dtype=}]) -> a tensor of ones.",
  ["lunet.full"] = "full(shape, value [, {dtype=}]) -> a tensor filled with value (shape: numbers or one table).",
  ["lunet.empty"] = "empty(shape... [, {dtype=}]) -> an uninitialised tensor, as torch.empty (fill it before reading).",
  ["lunet.zeros_like"] = "zeros_like(t [, {dtype=}]) -> zeros of t's shape and dtype.",
  ["lunet.ones_like"] = "ones_like(t [, {dtype=}]) -> ones of t's shape and dtype.",
  ["lunet.full_like"] = "full_like(t, value [, {dtype=}]) -> a tensor of t's shape and dtype filled with value.",
  ["lunet.rand"] = "rand(shape... [, {generator=, dtype=}]) -> uniform [0, 1) float32 from the default generator " ..
    "(lunet.manual_seed) or the given one.",
  ["lunet.randn"] = "randn(shape... [, {generator=}]) -> standard normal float32 (Box-Muller), seeded as rand.",
  ["lunet.randperm"] = "randperm(n [, {generator=}]) -> int32 permutation of 1..n (1-based positions).",
  ["lunet.Generator"] = "Generator([seed]) -> a random stream of its own (xoshiro256** seeded through splitmix64); " ..
    "the methods are listed under Generator methods. The same seed gives the same draws on every machine.",
  ["lunet.default_generator"] = "default_generator() -> the Generator that lunet.manual_seed seeds and that every " ..
    "function without a generator option draws from.",
  ["lunet.is_tensor"] = "is_tensor(v) -> true when v is a lunet tensor.",
  ["lunet.get_num_threads"] = "get_num_threads() -> the thread budget of lunet's OpenMP loops (and of OpenBLAS at the " ..
    "generic ISA level, the only one whose GEMMs are OpenBLAS's).",
  ["lunet.set_num_threads"] = "set_num_threads(n): sets the thread budget (n >= 1) of lunet's own loops (and of OpenBLAS " ..
    "at the generic ISA level); the default is all cores. Small operations stay on one thread.",
  ["lunet.cat"] = "cat(list, d) -> the tensors of list joined along dimension d (default 1); every other dimension must " ..
    "match (cat: tensors[2] has shape [3, 2], tensors[1] has [2, 3] (mismatch at dimension 2)). Differentiable.",
  ["lunet.stack"] = "stack(list, d) -> the tensors of list (all of one shape) stacked along a new dimension d " ..
    "(default 1). Differentiable.",
  ["lunet.where"] = "where(cond, a, b) -> elements of a where cond (uint8) is nonzero, else of b; a and b may be " ..
    "numbers; shapes broadcast. Differentiable in a and b.",
  ["lunet.is_grad_enabled"] = "is_grad_enabled() -> false inside lunet.no_grad, true otherwise.",

  -- ---------------------------------------------------------------- tensor methods: inspection
  ["x:dim"] = "x:dim() -> the number of dimensions.",
  ["x:shape"] = "x:shape() -> the sizes as a Lua list ({N, C, H, W}).",
  ["x:size"] = "x:size([d]) -> the size of dimension d (1-based, negative from the end), or the shape list without d.",
  ["x:numel"] = "x:numel() -> the number of elements.",
  ["x:dtype"] = "x:dtype() -> \"float32\", \"int32\" or \"uint8\".",
  ["x:stride"] = "x:stride([d]) -> the stride (in elements) of dimension d, or the list of strides.",
  ["x:is_contiguous"] = "x:is_contiguous() -> true when the elements are stored row-major without gaps.",
  ["x:is_freed"] = "x:is_freed() -> true after x:free() (or a <close>) released the storage; a freed tensor raises " ..
    "when used.",
  ["x:item"] = "x:item() -> the value of a one-element tensor as a Lua number (item: tensor of shape [2, 3] has 6 " ..
    "elements, expected exactly 1).",
  ["x:get"] = "x:get(i, j, ...) -> one element by 1-based indices (one per dimension).",
  ["x:set"] = "x:set(v, i, j, ...): writes one element by 1-based indices; returns x (not recorded by autograd).",
  ["x:totable"] = "x:totable() -> nested Lua tables of the values (a number for a 0-d tensor).",
  ["x:grad_fn"] = "x:grad_fn() -> the name of the operation that produced x when autograd recorded one, else nil.",
  ["x:is_leaf"] = "x:is_leaf() -> true when x was not produced by a recorded operation.",

  -- ---------------------------------------------------------------- views and copies
  ["x:view"] = "x:view(shape...) -> a view with a new shape (one size may be -1); raises when the strides do not " ..
    "allow a view (then use reshape).",
  ["x:view_as"] = "x:view_as(y) -> x:view(y:shape()).",
  ["x:reshape"] = "x:reshape(shape...) -> a view when the strides allow it, else a contiguous copy.",
  ["x:permute"] = "x:permute(d1, d2, ...) -> a view with the dimensions reordered.",
  ["x:transpose"] = "x:transpose(d1, d2) -> a view with two dimensions swapped.",
  ["x:t"] = "x:t() -> x:transpose(1, 2).",
  ["x:narrow"] = "x:narrow(d, start, length) -> a view of `length` positions of dimension d from 1-based start.",
  ["x:select"] = "x:select(d, i) -> a view of position i of dimension d, with that dimension removed.",
  ["x:unsqueeze"] = "x:unsqueeze(d) -> a view with a new dimension of size 1 at position d.",
  ["x:squeeze"] = "x:squeeze([d]) -> a view without dimension d (when its size is 1), or without every size-1 " ..
    "dimension.",
  ["x:expand"] = "x:expand(shape...) -> a broadcast view (size-1 dimensions repeated with stride 0; -1 keeps a size).",
  ["x:expand_as"] = "x:expand_as(y) -> x:expand(y:shape()).",
  ["x:contiguous"] = "x:contiguous() -> x when contiguous, else a row-major copy.",
  ["x:clone"] = "x:clone() -> a contiguous copy (recorded by autograd).",
  ["x:flip"] = "x:flip(d...) -> a copy reversed along the given dimensions.",
  ["x:index_select"] = "x:index_select(d, idx) -> the positions idx (int32/uint8, 1-based) of dimension d.",
  ["x:gather"] = "x:gather(d, idx) -> out[i][j]... = x[...][idx[i][j]...][...] along d, as torch.gather with 1-based " ..
    "idx of x's number of dimensions.",
  ["x:to"] = "x:to(dtype) -> a copy converted to \"float32\", \"int32\" or \"uint8\" (x itself when the dtype is the " ..
    "same). Float to int truncates toward zero; to uint8 wraps as C does.",
  ["x:float"] = "x:float() -> x:to(\"float32\").",
  ["x:int"] = "x:int() -> x:to(\"int32\").",
  ["x:byte"] = "x:byte() -> x:to(\"uint8\").",

  -- ---------------------------------------------------------------- math
  ["x:add"] = "x:add(y) -> x + y (y a tensor or a number; shapes broadcast; dtypes promote as PyTorch's). " ..
    "Differentiable; the operator + is the same.",
  ["x:sub"] = "x:sub(y) -> x - y (broadcast). Differentiable; operator -.",
  ["x:mul"] = "x:mul(y) -> x * y elementwise (broadcast). Differentiable; operator *.",
  ["x:div"] = "x:div(y) -> x / y, true division (int32 / int32 is float32). Differentiable; operator /.",
  ["x:pow"] = "x:pow(y) -> x ^ y (y a number or a tensor). Differentiable; operator ^.",
  ["x:neg"] = "x:neg() -> -x. Differentiable; unary operator -.",
  ["x:abs"] = "x:abs() -> |x|. Differentiable (gradient 0 at 0).",
  ["x:exp"] = "x:exp() -> e^x. Differentiable.",
  ["x:expm1"] = "x:expm1() -> e^x - 1, accurate near 0. Differentiable.",
  ["x:log"] = "x:log() -> natural logarithm. Differentiable.",
  ["x:log1p"] = "x:log1p() -> log(1 + x), accurate near 0. Differentiable.",
  ["x:sqrt"] = "x:sqrt() -> square root. Differentiable.",
  ["x:square"] = "x:square() -> x * x. Differentiable.",
  ["x:reciprocal"] = "x:reciprocal() -> 1 / x. Differentiable.",
  ["x:sin"] = "x:sin() -> sine. Differentiable.",
  ["x:cos"] = "x:cos() -> cosine. Differentiable.",
  ["x:tanh"] = "x:tanh() -> hyperbolic tangent. Differentiable.",
  ["x:sigmoid"] = "x:sigmoid() -> 1 / (1 + e^-x). Differentiable.",
  ["x:relu"] = "x:relu() -> max(x, 0). Differentiable.",
  ["x:sign"] = "x:sign() -> -1, 0 or 1 (gradient 0).",
  ["x:floor"] = "x:floor() -> rounded down (gradient 0).",
  ["x:ceil"] = "x:ceil() -> rounded up (gradient 0).",
  ["x:round"] = "x:round() -> rounded to the nearest integer, halves to even as torch.round (gradient 0).",
  ["x:clamp"] = "x:clamp(lo, hi) -> x limited to [lo, hi] (either may be nil). Differentiable (gradient 0 where clamped).",
  ["x:maximum"] = "x:maximum(y) -> elementwise max of x and y (broadcast); ties split the gradient evenly.",
  ["x:minimum"] = "x:minimum(y) -> elementwise min of x and y (broadcast); ties split the gradient evenly.",
  ["x:matmul"] = "x:matmul(y) -> matrix product on OpenBLAS (1-d, 2-d, batched with broadcast batch dimensions), " ..
    "float32. Differentiable.",
  ["x:sum"] = "x:sum([d [, keepdim]]) -> the sum of all elements (0-d tensor), or along dimension d. Differentiable.",
  ["x:mean"] = "x:mean([d [, keepdim]]) -> the mean of all elements or along d. Differentiable.",
  ["x:prod"] = "x:prod([d [, keepdim]]) -> the product of all elements or along d. Differentiable.",
  ["x:max"] = "x:max([d [, keepdim]]) -> the maximum (0-d tensor), or along d: values, 1-based indices (first " ..
    "maximum). Differentiable in the values.",
  ["x:min"] = "x:min([d [, keepdim]]) -> as max, for the minimum.",
  ["x:argmax"] = "x:argmax([d [, keepdim]]) -> int32 1-based positions of the maximum (the first one). Positions, " ..
    "not class ids: F.labels(logits) gives class ids 0..C-1.",
  ["x:argmin"] = "x:argmin([d [, keepdim]]) -> int32 1-based positions of the minimum.",
  ["x:eq"] = "x:eq(y) -> uint8 1 where x == y (broadcast), else 0.",
  ["x:ne"] = "x:ne(y) -> uint8 1 where x ~= y.",
  ["x:lt"] = "x:lt(y) -> uint8 1 where x < y.",
  ["x:le"] = "x:le(y) -> uint8 1 where x <= y.",
  ["x:gt"] = "x:gt(y) -> uint8 1 where x > y.",
  ["x:ge"] = "x:ge(y) -> uint8 1 where x >= y.",
  ["x:where"] = "cond:where(a, b) -> lunet.where(cond, a, b).",

  -- ---------------------------------------------------------------- in place (not recorded)
  ["x:add_"] = "x:add_(y): x = x + y in place (y broadcast to x's shape); returns x. Not recorded by autograd: " ..
    "refuses a tensor autograd tracks unless run under no_grad.",
  ["x:sub_"] = "x:sub_(y): x = x - y in place; returns x (as add_).",
  ["x:mul_"] = "x:mul_(y): x = x * y in place; returns x (as add_).",
  ["x:div_"] = "x:div_(y): x = x / y in place; returns x (as add_).",
  ["x:pow_"] = "x:pow_(y): x = x ^ y in place; returns x (as add_).",
  ["x:clamp_"] = "x:clamp_(lo, hi): clamps in place; returns x (as add_).",
  ["x:addcmul_"] = "x:addcmul_(t1, t2 [, value = 1]): x = x + value * t1 * t2 in place (the optimizers' update); " ..
    "returns x.",
  ["x:addcdiv_"] = "x:addcdiv_(t1, t2 [, value = 1]): x = x + value * t1 / t2 in place; returns x.",
  ["x:fill_"] = "x:fill_(v): every element set to v; returns x.",
  ["x:zero_"] = "x:zero_(): every element set to 0; returns x.",
  ["x:copy_"] = "x:copy_(src): copies src (broadcast to x's shape, dtype converted) into x; returns x.",
  ["x:index_add_"] = "x:index_add_(d, idx, src): adds slices of src into the positions idx (1-based) of dimension " ..
    "d of x, in place; returns x.",
  ["x:scatter_add_"] = "x:scatter_add_(d, idx, src): x[...idx[i]...] += src[...i...] along d (1-based idx), in " ..
    "place; returns x.",

  -- ---------------------------------------------------------------- Generator methods
  ["g:rand"] = "g:rand(shape...) -> uniform [0, 1) float32 from this generator.",
  ["g:randn"] = "g:randn(shape...) -> standard normal float32 from this generator.",
  ["g:randperm"] = "g:randperm(n) -> int32 permutation of 1..n from this generator.",
  ["g:random"] = "g:random(n) -> an integer in 1..n; g:random(lo, hi) -> an integer in lo..hi.",
  ["g:normal"] = "g:normal([mean = 0, std = 1]) -> one normal draw as a Lua number.",
  ["g:seed"] = "g:seed(n) (also g:manual_seed(n)): reseeds the generator; returns g.",
  ["g:set_state"] = "g:set_state(t): restores a state from g:get_state() (an int32 tensor); the stream continues " ..
    "exactly from there.",
  ["g:clone"] = "g:clone() -> a new generator with the same state (the two streams then run independently).",

  -- ---------------------------------------------------------------- nn
  ["nn.Sigmoid"] = "Sigmoid(): the module of F.sigmoid.",
  ["nn.Tanh"] = "Tanh(): the module of F.tanh.",
  ["m:add_module"] = "m:add_module(name, child): registers child under name (as assigning m[name] = child); returns " ..
    "child.",
  ["m:buffers"] = "m:buffers() -> the list of buffers (running statistics, ...) of m and its children.",
  ["m:named_buffers"] = "m:named_buffers() -> list of {name, tensor} of the buffers, dotted names as in state_dict.",
  ["m:modules"] = "m:modules() -> m and every submodule, depth first.",
  ["m:eval"] = "m:eval(): m:train(false): evaluation mode for m and its children (dropout off, batch norm uses its " ..
    "running statistics); returns m.",
  ["m:is_module"] = "Module.is_module(v) -> true when v is a module instance or class.",
  ["nn.init.normal_"] = "normal_(t, mean = 0, std = 1): fills t with normal draws in place (no autograd); returns t.",
  ["nn.init.ones_"] = "ones_(t): fills t with 1 in place; returns t.",
  ["nn.init.zeros_"] = "zeros_(t): fills t with 0 in place; returns t.",

  -- ---------------------------------------------------------------- optim (for subclasses)
  ["opt:new"] = "Optimizer.new(cls, params, opts, defaults) -> the optimizer object a subclass constructor builds " ..
    "(params: tensors, a module or groups; defaults: the option table with REQUIRED entries).",
  ["opt:check_bool"] = "Optimizer helper for subclasses: raises unless an option value is a boolean.",
  ["opt:finite"] = "Optimizer helper for subclasses: raises unless an option value is a finite number.",
  ["opt:encode_scalar"] = "Optimizer helper for state_dict: a Lua number as a 0-d float32 tensor (restored exactly).",

  ["OneCycleLR:step"] = "sched:step(): advances one optimizer step (OneCycleLR counts steps, not epochs) and sets " ..
    "the learning rate (and momentum, when cycled) of every group; stepping past total_steps raises.",
  ["ReduceLROnPlateau:step"] = "sched:step(value): once per epoch with the monitored value (a number); lowers the " ..
    "learning rates by factor after patience epochs without improvement (mode, threshold, cooldown, min_lr).",
  ["ReduceLROnPlateau:is_better"] = "sched:is_better(a, best) -> whether a improves on best under mode and threshold.",
  ["ReduceLROnPlateau:load_state_dict"] = "sched:load_state_dict(sd): restores what state_dict() saved.",

  -- ---------------------------------------------------------------- data, transforms, metrics
  ["T.HorizontalFlip"] = "HorizontalFlip{p = 0.5}: mirrors image and mask left-right.",
  ["T.VerticalFlip"] = "VerticalFlip{p = 0.5}: mirrors image and mask top-bottom.",
  ["metrics.dice"] = "dice(pred, target, {num_classes=, ignore_index=, reduction = \"micro\"|\"macro\"|\"none\", " ..
    "per_image=, classes=, zero_division=}) -> Dice (F1) from pred labels or logits, with the same options and " ..
    "reductions as metrics.iou.",

  -- ---------------------------------------------------------------- train, autograd, models
  ["train.checkpoint.decode_history"] = "decode_history(text) -> the history list encode_history wrote.",
  ["train.checkpoint.num_str"] = "num_str(v) -> v as text that reads back exactly (%.17g, nan, inf).",
  ["train.checkpoint.str_num"] = "str_num(s) -> the number num_str wrote.",
  ["autograd.is_enabled"] = "is_enabled() -> false inside no_grad (lunet.is_grad_enabled).",
  ["resnet.count_layer"] = "count_layer(block, inplanes, planes, blocks) -> parameters of one ResNet stage without " ..
    "building it (the models' size checks).",
}
