-- spec/weights_spec.lua: tools/lunet-weights.py, PyTorch <-> lunet weights. With Debian's
-- python3-torch: a PyTorch model with Sequential/ModuleList children and batch norm is saved
-- as a .pth checkpoint, converted to safetensors with lunet's 1-based names, loaded into the
-- same model built in lunet (strict) whose forward matches PyTorch's; the U-Net twin of
-- bench/torch_unet.py converts with --model/--config metadata and loads with
-- lunet.predict.load_model; lunet's state dict converts back to a .pth PyTorch loads and
-- finds bit-equal. Without torch those cases are pending with the reason; `info` and the
-- exit statuses need only python3.
local lunet = require "lunet"
local nn = require "lunet.nn"
local predict = require "lunet.predict"

local root = os.getenv("PWD") or "."
if io.open(root .. "/tools/lunet-weights.py") == nil then root = "." end
local tool = root .. "/tools/lunet-weights.py"

local H = assert(loadfile(root .. "/spec/helpers.lua", "t", _ENV))()
local q, slurp, write = H.q, H.slurp, H.write

local tmp = H.tmpdir("lunet_weights")

-- Runs a shell command in tmp without the sanitizer preloads (python is not built with them);
-- returns exit status, stdout, stderr.
local function sh(cmd)
  local full = "cd " .. q(tmp) .. " && env -u LD_PRELOAD " .. cmd .. " >" .. q(tmp .. "/.out") .. " 2>" .. q(tmp .. "/.err")
  local _, _, code = os.execute(full)
  return code, slurp(tmp .. "/.out") or "", slurp(tmp .. "/.err") or ""
end

-- Debian's python3 (a pyenv or venv python3 earlier on PATH usually lacks python3-torch).
local python = io.open("/usr/bin/python3") and "/usr/bin/python3" or "python3"
local has_python = sh(python .. " -c 'import json, struct'") == 0
local has_torch = has_python and sh(python .. " -c 'import torch'") == 0
local function weights(args) return sh(python .. " " .. q(tool) .. " " .. args) end

-- The model both sides build: PyTorch names features.0.weight ... blocks.0.0.weight.
local Net = nn.Module:extend("Net")
function Net:__init()
  self.features = nn.Sequential(nn.Conv2d(1, 4, 3, { padding = 1 }), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1))
  self.blocks = nn.ModuleList()
  self.blocks:append(nn.Sequential(nn.Conv2d(4, 2, 1)))
end
function Net:forward(x) return self.blocks[1](self.features(x)) end

local GEN = [[
import sys, torch, torch.nn as nn
sys.path.insert(0, sys.argv[1])
from torch_unet import UNet
torch.manual_seed(0)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1))
        self.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(4, 2, 1))])
    def forward(self, x):
        return self.blocks[0](self.features(x))
net = Net()
net.train(); net(torch.randn(3, 1, 6, 6)); net(torch.randn(3, 1, 6, 6))   # running stats, 2 batches
net.eval()
x = torch.randn(2, 1, 7, 5)
torch.save({"state_dict": net.state_dict(), "epoch": 3}, "net.pth")
unet = UNet(cin=1, ncls=2, base=4, depth=2)
unet.train(); unet(torch.randn(2, 1, 8, 8))
unet.eval()
ux = torch.randn(1, 1, 8, 8)
torch.save(unet.state_dict(), "unet.pth")
with torch.no_grad():
    torch.save({"x": x, "y": net(x), "ux": ux, "uy": unet(ux)}, "io.pth")
]]

local CHECK = [[
import sys, torch, torch.nn as nn
want = torch.load("net.pth")["state_dict"]
got = torch.load(sys.argv[1])
if sorted(got.keys()) != sorted(want.keys()):   # lunet.save writes names sorted
    sys.exit("names differ: %s vs %s" % (sorted(got.keys()), sorted(want.keys())))
net = nn.Module()
net.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1))
net.blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(4, 2, 1))])
net.load_state_dict(got, strict=True)
for k in want:
    if got[k].dtype != want[k].dtype or not torch.equal(got[k], want[k]):
        sys.exit("%s differs: %s %s vs %s %s" % (k, got[k].dtype, got[k], want[k].dtype, want[k]))
print("ok", len(want))
]]

describe("lunet-weights.py", function()
  it("lists a lunet file without torch (info) and reports a bad file with status 1", function()
    if not has_python then pending("python3 is not installed") return end
    lunet.save(tmp .. "/plain.safetensors", { ["a.1.w"] = lunet.zeros(2, 3), b = lunet.ones({ 4 }, { dtype = "int32" }) },
               { note = "x" })
    local code, out, err = weights("info plain.safetensors")
    assert.are.equal(0, code, err)
    assert.truthy(out:find("metadata note = x", 1, true), out)
    assert.truthy(out:find("a.1.w%s+F32%s+%[2, 3%]"), out)
    assert.truthy(out:find("b%s+I32%s+%[4%]"), out)
    assert.truthy(out:find("2 tensors, 10 elements", 1, true), out)
    write(tmp .. "/junk.safetensors", "short")
    code, _, err = weights("info junk.safetensors")
    assert.are.equal(1, code)
    assert.are.equal("lunet-weights info: 'junk.safetensors' is not a safetensors file (5 bytes)\n", err)
    code, _, err = weights("info missing.safetensors")
    assert.are.equal(1, code)
    assert.are.equal("lunet-weights info: cannot read 'missing.safetensors': No such file or directory\n", err)
  end)

  it("exits with status 2 on a usage error", function()
    if not has_python then pending("python3 is not installed") return end
    local code, _, err = weights("")
    assert.are.equal(2, code)
    assert.truthy(err:find("lunet-weights: a command is required (to-lunet, to-torch, info)", 1, true), err)
    code, _, err = weights("to-lunet only-one-arg")
    assert.are.equal(2, code)
    assert.truthy(err:find("the following arguments are required: output", 1, true), err)
  end)

  describe("with PyTorch", function()
    if not has_torch then
      it("round-trips weights (skipped: " .. python .. " cannot import torch; apt-get install python3-torch)",
         function() pending(python .. " cannot import torch: apt-get install python3-torch") end)
      return
    end
    setup(function()
      write(tmp .. "/gen.py", GEN)
      write(tmp .. "/check.py", CHECK)
      local code, out, err = sh(python .. " gen.py " .. q(root .. "/bench"))
      assert(code == 0, "gen.py failed: " .. out .. err)
    end)

    it("converts a .pth checkpoint to lunet's names and dtypes", function()
      local code, out, err = weights("to-lunet net.pth net.safetensors")
      assert.are.equal(0, code, err)
      assert.are.equal("net.pth: 11 tensors (indices +1) -> net.safetensors\n", out)
      local sd, meta, names = lunet.load(tmp .. "/net.safetensors")
      assert.are.same({ "features.1.weight", "features.1.bias", "features.2.weight", "features.2.bias",
                        "features.2.running_mean", "features.2.running_var", "features.2.num_batches_tracked",
                        "features.4.weight", "features.4.bias", "blocks.1.1.weight", "blocks.1.1.bias" }, names)
      assert.are.equal("int32", sd["features.2.num_batches_tracked"]:dtype())   -- I64 in the file
      assert.are.equal(2, sd["features.2.num_batches_tracked"]:item())
      assert.are.equal("pt", meta.format)
    end)

    it("loads into the lunet model (strict) whose forward matches PyTorch's", function()
      assert.are.equal(0, (weights("to-lunet io.pth io.safetensors")))
      local io_t = lunet.load(tmp .. "/io.safetensors")
      local sd = lunet.load(tmp .. "/net.safetensors")
      local net = Net()
      net:load_state_dict(sd)
      net:eval()
      local y = lunet.no_grad(function() return net(io_t.x) end)
      assert.are.same(io_t.y:shape(), y:shape())
      assert.is_true((y - io_t.y):abs():max():item() < 1e-5)
    end)

    it("keeps PyTorch's names with --no-index-shift (load with index_base = 0)", function()
      assert.are.equal(0, (weights("to-lunet net.pth net0.safetensors --no-index-shift --key state_dict")))
      local sd = lunet.load(tmp .. "/net0.safetensors")
      assert.is_not_nil(sd["features.0.weight"])
      Net():load_state_dict(sd, { index_base = 0 })
    end)

    it("writes the metadata lunet.predict.load_model rebuilds a zoo model from", function()
      local code, _, err = weights("to-lunet unet.pth unet.safetensors --model unet " ..
        q("--config={in_channels = 1, num_classes = 2, base = 4, depth = 2, norm = \"batch\"}"))
      assert.are.equal(0, code, err)
      local model = predict.load_model(tmp .. "/unet.safetensors")
      local io_t = lunet.load(tmp .. "/io.safetensors")
      local y = lunet.no_grad(function() return model(io_t.ux) end)
      assert.is_true((y - io_t.uy):abs():max():item() < 1e-5)
    end)

    it("converts lunet's state dict back to a .pth PyTorch finds bit-equal", function()
      local net = Net()
      net:load_state_dict((lunet.load(tmp .. "/net.safetensors")))
      lunet.save(tmp .. "/back.safetensors", net:state_dict())
      local code, out, err = weights("to-torch back.safetensors back.pth")
      assert.are.equal(0, code, err)
      assert.are.equal("back.safetensors: 11 tensors (indices -1) -> back.pth\n", out)
      code, out, err = sh(python .. " check.py back.pth")
      assert.are.equal(0, code, err)
      assert.are.equal("ok 11\n", out)
    end)

    it("takes the model of a fit checkpoint (model.* names)", function()
      local sd = lunet.load(tmp .. "/net.safetensors")
      local ck = { ["optimizer.step"] = lunet.zeros(1), ["rng.default"] = lunet.zeros({ 8 }, { dtype = "int32" }) }
      for k, v in pairs(sd) do ck["model." .. k] = v end
      lunet.save(tmp .. "/fit.safetensors", ck)
      local code, out, err = weights("to-torch fit.safetensors fit.pth")
      assert.are.equal(0, code, err)
      assert.are.equal("fit.safetensors: 11 tensors (indices -1) -> fit.pth\n", out)
      code, out, err = sh(python .. " check.py fit.pth")
      assert.are.equal(0, code, err .. out)
    end)

    it("fails with status 1 naming the problem", function()
      local code, _, err = weights("to-lunet net.pth x.safetensors --key weights")
      assert.are.equal(1, code)
      assert.are.equal("lunet-weights to-lunet: the file has no entry 'weights' (top-level keys: state_dict, epoch)\n", err)
      code, _, err = weights("to-lunet net.pth x.safetensors --model unet")
      assert.are.equal(1, code)
      assert.are.equal("lunet-weights to-lunet: --model and --config go together (the model name and its options)\n", err)
      code, _, err = weights("to-torch net0.safetensors x.pth")
      assert.are.equal(1, code)
      assert.are.equal("lunet-weights to-torch: name 'features.0.weight' has index 0, below the first index: " ..
                       "is it already numbered from 0?\n", err)
    end)
  end)
end)
