-- Optimizers, schedulers and gradient clipping: parameter trajectories and lr sequences
-- against PyTorch 1.13 (spec/ref/optim.lua, from spec/ref/gen_optim.py), parameter groups,
-- state dicts (through lunet.save when available), and exact error messages.
local lunet = require "lunet"
local optim = require "lunet.optim"
local nn = require "lunet.nn"

local ref = dofile("spec/ref/optim.lua")

local function close(a, b, rtol, atol, what)
  local x = lunet.is_tensor(a) and a:tolist() or a
  assert.are.equal(#b, #x, what)
  for i = 1, #b do
    local d = math.abs(x[i] - b[i])
    if not (d <= atol + rtol * math.abs(b[i])) then
      error(("%s: element %d: got %.9g, expected %.9g"):format(what or "", i, x[i], b[i]), 2)
    end
  end
end

local function make_params()
  local ps = {}
  for i, shape in ipairs(ref.shapes) do
    ps[i] = lunet.tensor(ref.init[i], { shape = shape }):requires_grad(true)
  end
  return ps
end

-- Gradient of step k through autograd: d/dp sum(p * G) = G.
local function set_grads(ps, k)
  for i, p in ipairs(ps) do
    local g = lunet.tensor(ref.grads[k][i], { shape = ref.shapes[i] })
    p.grad = nil
    (p * g):sum():backward()
  end
end

local function build(case, ps)
  local params
  if #case.groups == 1 and next(case.groups[1].opts) == nil then
    params = ps
  else
    params = {}
    for gi, g in ipairs(case.groups) do
      local grp = { params = {} }
      for _, i in ipairs(g.params) do grp.params[#grp.params + 1] = ps[i] end
      for k, v in pairs(g.opts) do grp[k] = v end
      params[gi] = grp
    end
  end
  return optim[case.class](params, case.opts)
end

describe("optimizers match PyTorch 1.13", function()
  for _, case in ipairs(ref.optim) do
    it(case.name .. " over " .. #case.traj .. " steps", function()
      local ps = make_params()
      local opt = build(case, ps)
      for k = 1, #case.traj do
        set_grads(ps, k)
        opt:step()
        for i, p in ipairs(ps) do
          close(p, case.traj[k][i], 1e-5, 1e-6, case.name .. " step " .. k .. " param " .. i)
        end
      end
    end)
  end

  it("skips parameters without a gradient", function()
    local ps = make_params()
    local before = ps[2]:tolist()
    local opt = optim.SGD(ps, { lr = 0.1, momentum = 0.9 })
    ;(ps[1] * 2):sum():backward()
    opt:step()
    assert.are.same(before, ps[2]:tolist())
    assert.is_nil(opt.state[ps[2]])
  end)

  it("zero_grad clears gradients", function()
    local ps = make_params()
    local opt = optim.Adam(ps)
    set_grads(ps, 1)
    opt:zero_grad()
    assert.is_nil(ps[1].grad)
    assert.is_nil(ps[2].grad)
  end)

  it("takes a module's parameters and a closure", function()
    lunet.manual_seed(3)
    local m = nn.Linear(3, 2)
    local opt = optim.SGD(m, { lr = 0.5 })
    assert.are.equal(2, #opt.param_groups[1].params)
    local x = lunet.randn(4, 3)
    local loss = opt:step(function()
      local l = m(x):square():mean()
      l:backward()
      return l
    end)
    assert.is_true(lunet.is_tensor(loss))
    local after = m(x):square():mean():item()
    assert.is_true(after < loss:item())
  end)
end)

describe("optimizer state dicts", function()
  local cases = { "sgd_nesterov", "adam_amsgrad_wd", "adamw_default", "rmsprop_centered_momentum", "adam_groups" }
  for _, name in ipairs(cases) do
    it("resume " .. name .. " after 2 steps and continue identically", function()
      local case
      for _, c in ipairs(ref.optim) do if c.name == name then case = c end end
      local ps = make_params()
      local opt = build(case, ps)
      for k = 1, 2 do set_grads(ps, k); opt:step() end
      local sd = opt:state_dict()
      for k, v in pairs(sd) do assert.is_true(lunet.is_tensor(v), k) end
      -- a fresh optimizer over copies of the parameters
      local qs = {}
      for i, p in ipairs(ps) do qs[i] = p:detach():clone():requires_grad(true) end
      local opt2 = build(case, qs)
      opt2:load_state_dict(sd)
      for k = 3, #case.traj do
        set_grads(ps, k); opt:step()
        set_grads(qs, k); opt2:step()
        for i = 1, #ps do assert.are.same(ps[i]:tolist(), qs[i]:tolist()) end
        for i = 1, #ps do close(qs[i], case.traj[k][i], 1e-5, 1e-6, name) end
      end
    end)
  end

  it("stores scalars exactly as float32 {3} tensors", function()
    for _, x in ipairs({ 0.1, 1 / 3, 1e-8, 123456789.123, 0, -2.5e-5, 0.999 }) do
      local t = optim.Optimizer.encode_scalar(x)
      assert.are.same({ 3 }, t:shape())
      assert.are.equal(x, optim.Optimizer.decode_scalar(t))
    end
    assert.are.equal(math.huge, optim.Optimizer.decode_scalar(optim.Optimizer.encode_scalar(math.huge)))
  end)

  it("round-trips through lunet.save / lunet.load", function()
    if not package.searchpath("lunet.io", package.path) then
      pending("lunet.io (safetensors) is not in this tree yet")
      return
    end
    local ps = make_params()
    local opt = optim.Adam(ps, { lr = 0.01, amsgrad = true })
    set_grads(ps, 1); opt:step()
    local path = os.tmpname()
    lunet.save(path, opt:state_dict())
    local sd = lunet.load(path)
    os.remove(path)
    local opt2 = optim.Adam(ps, { lr = 0.5 })
    opt2:load_state_dict(sd)
    assert.are.equal(0.01, opt2.param_groups[1].lr)
    assert.is_true(opt2.param_groups[1].amsgrad)
    assert.are.equal(1, opt2.state[ps[1]].step)
    assert.are.same(opt.state[ps[1]].exp_avg:tolist(), opt2.state[ps[1]].exp_avg:tolist())
  end)

  it("rejects a state dict of another structure", function()
    local ps = make_params()
    local opt = optim.SGD(ps, { lr = 0.1, momentum = 0.9 })
    set_grads(ps, 1); opt:step()
    local sd = opt:state_dict()
    local two = optim.SGD({ { params = { ps[1] } }, { params = { ps[2] } } }, { lr = 0.1 })
    assert.has_error(function() two:load_state_dict(sd) end,
      "SGD:load_state_dict: the state dict has 1 parameter groups, the optimizer 2")
    local one = optim.SGD({ ps[1] }, { lr = 0.1 })
    assert.has_error(function() one:load_state_dict(sd) end,
      "SGD:load_state_dict: parameter group 1 has 1 parameters, the state dict's has 2")
    local other = optim.SGD({ ps[2], ps[1] }, { lr = 0.1 })
    assert.has_error(function() other:load_state_dict(sd) end,
      "SGD:load_state_dict: state.1.momentum_buffer has shape [3, 4], its parameter [5]")
  end)
end)

describe("optimizer misuse", function()
  local p = lunet.zeros(2):requires_grad(true)
  local cases = {
    { function() optim.SGD({ p }, { lr = -1 }) end, "SGD: lr must be a finite number >= 0, got -1" },
    { function() optim.SGD({ p }, {}) end, "SGD: lr is required" },
    { function() optim.SGD({ p }, { lr = 0.1, lrr = 1 }) end, "SGD: unknown option 'lrr' (did you mean 'lr'?)" },
    { function() optim.Adam({ p }, { lr = 0.1, betas = { 0.9, 1.5 } }) end,
      "Adam: betas must be a pair of numbers in [0, 1), got {0.9, 1.5}" },
    { function() optim.Adam({ p }, { eps = -1 }) end, "Adam: eps must be a finite number >= 0, got -1" },
    { function() optim.RMSprop({ p }, { momentum = -0.5 }) end, "RMSprop: momentum must be a finite number >= 0, got -0.5" },
    { function() optim.SGD({ p }, { lr = 0.1, nesterov = true }) end,
      "SGD: nesterov needs momentum > 0 and dampening = 0" },
    { function() optim.SGD(5, { lr = 0.1 }) end,
      "SGD: params must be a list of tensors or of parameter groups, got number" },
    { function() optim.SGD({ p, "x" }, { lr = 0.1 }) end, "SGD: params item 2 is a string, expected a tensor" },
    { function() optim.SGD({}, { lr = 0.1 }) end, "SGD: params is an empty list" },
    { function() optim.SGD({ p, p }, { lr = 0.1 }) end, "SGD: a parameter appears more than once" },
    { function() optim.AdamW({ { params = { p } }, { params = { p }, lr = 2 } }) end,
      "AdamW: a parameter appears more than once (parameter group 2)" },
    { function() optim.SGD({ { params = { p }, lr = -2 } }, { lr = 0.1 }) end,
      "SGD: lr must be a finite number >= 0, got -2" },
    { function() optim.Adam({ { params = { p }, momentum = 0.9 }, { params = { lunet.zeros(1) } } }) end,
      "Adam: unknown option 'momentum' (known options: amsgrad, betas, eps, lr, maximize, params, weight_decay) (parameter group 1)" },
    { function() optim.SGD({ lunet.zeros(2, { dtype = "int32" }) }, { lr = 0.1 }) end,
      "SGD: params item 1 is int32, expected a float32 tensor" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2], function() assert.has_error(c[1], c[2]) end)
  end
end)

describe("schedulers match PyTorch 1.13", function()
  local function make_opt(kind)
    local a, b = lunet.zeros(2):requires_grad(true), lunet.zeros(3):requires_grad(true)
    if kind == "SGD" then
      return optim.SGD({ { params = { a } }, { params = { b }, lr = 0.05 } }, { lr = 0.1, momentum = 0.9 })
    end
    return optim.Adam({ { params = { a } }, { params = { b }, lr = 0.05 } }, { lr = 0.1 })
  end
  local function lrs(opt)
    local out = {}
    for i, g in ipairs(opt.param_groups) do out[i] = g.lr end
    return out
  end
  local function moms(opt)
    local out = {}
    for i, g in ipairs(opt.param_groups) do out[i] = g.betas and g.betas[1] or g.momentum end
    return out
  end
  for _, case in ipairs(ref.sched) do
    it(case.name .. " (" .. case.class .. ")", function()
      local opt = make_opt(case.optim)
      local s = optim[case.class](opt, case.opts)
      close(lrs(opt), case.lr[1], 1e-12, 1e-15, case.name .. " lr at construction")
      for k = 1, #case.lr - 1 do
        opt:step()
        if case.metrics then s:step(case.metrics[k]) else s:step() end
        close(lrs(opt), case.lr[k + 1], 1e-12, 1e-15, case.name .. " lr after step " .. k)
        if case.momentum then
          close(moms(opt), case.momentum[k + 1], 1e-12, 1e-15, case.name .. " momentum after step " .. k)
        end
        assert.are.same(lrs(opt), s:get_last_lr())
      end
    end)
  end

  it("resumes from a state dict", function()
    local opt = make_opt("SGD")
    local s = optim.CosineAnnealingLR(opt, { T_max = 10 })
    for _ = 1, 4 do s:step() end
    local osd, ssd = opt:state_dict(), s:state_dict()
    local opt2 = make_opt("SGD")
    local s2 = optim.CosineAnnealingLR(opt2, { T_max = 10 })
    opt2:load_state_dict(osd)
    s2:load_state_dict(ssd)
    assert.are.same(lrs(opt), lrs(opt2))
    for _ = 1, 3 do s:step(); s2:step() end
    assert.are.same(lrs(opt), lrs(opt2))
    local p = make_opt("SGD")
    local r = optim.ReduceLROnPlateau(p, { patience = 0 })
    r:step(1); r:step(2)
    local r2 = optim.ReduceLROnPlateau(make_opt("SGD"), { patience = 0 })
    r2:load_state_dict(r:state_dict())
    assert.are.equal(1, r2.best)
    assert.are.equal(2, r2.last_epoch)
  end)

  it("OneCycleLR refuses to step past total_steps", function()
    local opt = make_opt("SGD")
    local s = optim.OneCycleLR(opt, { max_lr = 1, total_steps = 3 })
    for _ = 1, 3 do s:step() end
    assert.has_error(function() s:step() end, "OneCycleLR: tried to step 4 times, but total_steps is 3")
  end)

  local bad = {
    { function(o) optim.StepLR(o, {}) end, "StepLR: step_size is required" },
    { function(o) optim.StepLR(o, { step_size = 0 }) end, "StepLR: step_size must be a positive integer, got 0" },
    { function(o) optim.StepLR(o, { step_size = 2, gama = 0.1 }) end, "StepLR: unknown option 'gama' (did you mean 'gamma'?)" },
    { function(o) optim.MultiStepLR(o, { milestones = { 5, 2 } }) end,
      "MultiStepLR: milestones must be an increasing list of integers >= 0, got {5, 2}" },
    { function(o) optim.PolyLR(o, { total_iters = 10, power = -1 }) end, "PolyLR: power must be a finite number >= 0, got -1" },
    { function(o) optim.OneCycleLR(o, { max_lr = 1 }) end, "OneCycleLR: give total_steps, or epochs and steps_per_epoch" },
    { function(o) optim.OneCycleLR(o, { max_lr = { 1, 2, 3 }, total_steps = 5 }) end,
      "OneCycleLR: max_lr has 3 values for 2 parameter groups" },
    { function(o) optim.OneCycleLR(o, { max_lr = 1, total_steps = 5, anneal_strategy = "exp" }) end,
      "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got 'exp'" },
    { function(o) optim.ReduceLROnPlateau(o, { factor = 1 }) end, "ReduceLROnPlateau: factor must be a number in [0, 1), got 1" },
    { function(o) optim.ReduceLROnPlateau(o, { mode = "up" }) end, "ReduceLROnPlateau: mode must be 'min' or 'max', got 'up'" },
    { function() optim.StepLR({}, { step_size = 1 }) end, "StepLR: optimizer expected, got table" },
    { function(o) optim.StepLR(o, { step_size = 1 }):step(3) end,
      "StepLR:step: takes no argument (the epoch counter is internal)" },
  }
  for i, c in ipairs(bad) do
    it("error case " .. i .. ": " .. c[2], function()
      local o = make_opt("SGD")
      assert.has_error(function() c[1](o) end, c[2])
    end)
  end
end)

describe("clip_grad_norm", function()
  for _, c in ipairs(ref.clip) do
    it(("max_norm %g, norm_type %g matches PyTorch"):format(c.max_norm, c.norm_type), function()
      local ps = make_params()
      set_grads(ps, 1)
      local total = optim.clip_grad_norm(ps, c.max_norm, c.norm_type)
      assert.is_true(math.abs(total - c.total) <= 1e-5 * c.total, total .. " vs " .. c.total)
      for i, p in ipairs(ps) do close(p.grad, c.grads[i], 1e-5, 1e-7, "grad " .. i) end
    end)
  end
  it("skips parameters without grad and rejects bad arguments", function()
    local a, b = lunet.ones(2):requires_grad(true), lunet.ones(2):requires_grad(true)
    ;(a * 3):sum():backward()
    assert.is_true(math.abs(optim.clip_grad_norm({ a, b }, 1) - math.sqrt(18)) < 1e-5)
    assert.has_error(function() optim.clip_grad_norm({ a }, -1) end, "clip_grad_norm: max_norm must be a number >= 0, got -1")
    assert.has_error(function() optim.clip_grad_norm({ a, 3 }, 1) end, "clip_grad_norm: params item 2 is a number, expected a tensor")
    assert.has_error(function() optim.clip_grad_norm({ a }, 1, 0) end,
      "clip_grad_norm: norm_type must be a positive number or \"inf\", got 0")
  end)
  it("clip_grad_value clamps", function()
    local a = lunet.ones(3):requires_grad(true)
    ;(a * lunet.tensor({ -3, 0.5, 4 })):sum():backward()
    optim.clip_grad_value({ a }, 1)
    assert.are.same({ -1, 0.5, 1 }, a.grad:tolist())
  end)
end)

-- PyTorch's range checks (lr, eps, momentum, weight_decay, alpha >= 0; betas in [0, 1);
-- scheduler factors), with NaN and infinities refused as well.
describe("range checks", function()
  local nan, inf = 0 / 0, math.huge
  local function p() return lunet.zeros(2):requires_grad(true) end
  local function sgd() return optim.SGD({ p() }, { lr = 0.1, momentum = 0.9 }) end
  local cases = {
    { function() optim.SGD({ p() }, { lr = nan }) end, "SGD: lr must be a finite number >= 0, got nan" },
    { function() optim.SGD({ p() }, { lr = inf }) end, "SGD: lr must be a finite number >= 0, got inf" },
    { function() optim.SGD({ p() }, { lr = 0.1, momentum = -0.9 }) end,
      "SGD: momentum must be a finite number >= 0, got -0.9" },
    { function() optim.SGD({ p() }, { lr = 0.1, weight_decay = -1e-4 }) end,
      "SGD: weight_decay must be a finite number >= 0, got -0.0001" },
    { function() optim.SGD({ p() }, { lr = 0.1, dampening = 2 }) end,
      "SGD: dampening must be a finite number in [0, 1], got 2" },
    { function() optim.SGD({ p() }, { lr = 0.1, nesterov = 1 }) end, "SGD: nesterov must be a boolean, got 1" },
    { function() optim.Adam({ p() }, { lr = -1e-3 }) end, "Adam: lr must be a finite number >= 0, got -0.001" },
    { function() optim.Adam({ p() }, { betas = { 1, 0.999 } }) end,
      "Adam: betas must be a pair of numbers in [0, 1), got {1, 0.999}" },
    { function() optim.Adam({ p() }, { betas = { 0.9, nan } }) end,
      "Adam: betas must be a pair of numbers in [0, 1), got {0.9, nan}" },
    { function() optim.Adam({ p() }, { betas = 0.9 }) end, "Adam: betas must be a pair of numbers in [0, 1), got 0.9" },
    { function() optim.AdamW({ p() }, { eps = nan }) end, "AdamW: eps must be a finite number >= 0, got nan" },
    { function() optim.AdamW({ p() }, { weight_decay = -0.01 }) end,
      "AdamW: weight_decay must be a finite number >= 0, got -0.01" },
    { function() optim.RMSprop({ p() }, { alpha = 1.5 }) end, "RMSprop: alpha must be a finite number in [0, 1], got 1.5" },
    { function() optim.RMSprop({ p() }, { eps = -1 }) end, "RMSprop: eps must be a finite number >= 0, got -1" },
    { function() optim.SGD({ { params = { p() }, lr = nan } }, { lr = 0.1 }) end,
      "SGD: lr must be a finite number >= 0, got nan" },
    { function() optim.SGD({ { params = { p() } }, { params = { p() }, momentum = -1 } }, { lr = 0.1 }) end,
      "SGD: momentum must be a finite number >= 0, got -1 (parameter group 2)" },
    { function() sgd():add_param_group { params = { p() }, lr = -1 } end,
      "SGD: lr must be a finite number >= 0, got -1" },
    { function() optim.StepLR(sgd(), { step_size = 2, gamma = 0 }) end, "StepLR: gamma must be a finite number > 0, got 0" },
    { function() optim.StepLR(sgd(), { step_size = 2.5 }) end, "StepLR: step_size must be a positive integer, got 2.5" },
    { function() optim.MultiStepLR(sgd(), { milestones = { -1, 3 } }) end,
      "MultiStepLR: milestones must be an increasing list of integers >= 0, got {-1, 3}" },
    { function() optim.CosineAnnealingLR(sgd(), { T_max = nan }) end,
      "CosineAnnealingLR: T_max must be a finite number > 0, got nan" },
    { function() optim.CosineAnnealingLR(sgd(), { T_max = 10, eta_min = -1 }) end,
      "CosineAnnealingLR: eta_min must be a finite number >= 0, got -1" },
    { function() optim.PolyLR(sgd(), { total_iters = 0 }) end, "PolyLR: total_iters must be a positive integer, got 0" },
    { function() optim.LinearLR(sgd(), { start_factor = 0 }) end,
      "LinearLR: start_factor must be a number in (0, 1], got 0" },
    { function() optim.OneCycleLR(sgd(), { max_lr = 1, total_steps = 10, pct_start = 1.5 }) end,
      "OneCycleLR: pct_start must be a number in [0, 1], got 1.5" },
    { function() optim.OneCycleLR(sgd(), { max_lr = -1, total_steps = 10 }) end,
      "OneCycleLR: max_lr must be a finite number >= 0, got -1" },
    { function() optim.OneCycleLR(sgd(), { max_lr = 1, total_steps = 10, div_factor = 0 }) end,
      "OneCycleLR: div_factor must be a finite number > 0, got 0" },
    { function() optim.OneCycleLR(sgd(), { max_lr = 1, total_steps = 10, max_momentum = 1 }) end,
      "OneCycleLR: max_momentum must be a number in [0, 1), got 1" },
    { function() optim.OneCycleLR(sgd(), { max_lr = 1, epochs = 2 }) end,
      "OneCycleLR: give total_steps, or epochs and steps_per_epoch" },
    { function() optim.ReduceLROnPlateau(sgd(), { patience = -1 }) end,
      "ReduceLROnPlateau: patience must be an integer >= 0, got -1" },
    { function() optim.ReduceLROnPlateau(sgd(), { min_lr = nan }) end,
      "ReduceLROnPlateau: min_lr must be a finite number >= 0, got nan" },
    { function() optim.ReduceLROnPlateau(sgd(), {}):step(nan) end,
      "ReduceLROnPlateau:step: metric must be a number, got nan" },
    { function() optim.clip_grad_norm({ p() }, nan) end, "clip_grad_norm: max_norm must be a number >= 0, got nan" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2], function() assert.has_error(c[1], c[2]) end)
  end
end)
