-- examples/embed: the C host embedding Lua 5.4 + lunet is built with cc and pkg-config,
-- segments a PNG with a tiny saved U-Net (mask = model:predict labels, with the checkpoint's
-- normalize metadata), and fails cleanly.
local lunet = require "lunet"
local image = require "lunet.image"
local predict = require "lunet.predict"
local UNet = require "lunet.models.unet"

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- runs a shell command, returns its output (stdout + stderr) and exit status
local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), rc
end

describe("examples/embed", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. sh_quote(dir)))
  teardown(function() os.execute("rm -rf " .. sh_quote(dir)) end)
  local exe = dir .. "/embed"
  -- under `make asan` the child inherits LD_PRELOAD=libasan; its leak report is not ours
  local env = os.getenv("LUNET_ASAN") and "ASAN_OPTIONS=detect_leaks=0 " or ""

  lunet.manual_seed(11)
  local model = UNet { in_channels = 3, num_classes = 3, base = 4, depth = 2, norm = "batch" }
  lunet.no_grad(function() model.head.bias:copy_(lunet.tensor { 0.0, 0.02, -0.02 }) end)
  model:eval()
  local img = lunet.randint(0, 256, { 3, 21, 34 }):to("uint8")
  local nz = { mean = { 0.9, 0.1, 0.5 }, std = { 0.1, 0.3, 0.2 } }

  it("builds with cc and pkg-config lua5.4", function()
    local out, rc = run("env -u LD_PRELOAD cc -std=c11 -Wall -Wextra -o " .. sh_quote(exe) .. " examples/embed/embed.c "
      .. "$(pkg-config --cflags --libs lua5.4)")
    assert.are.equal(0, rc, out)
    assert.are.equal("", out)   -- no warnings
  end)

  it("segments a PNG with a saved U-Net and writes the mask PNG", function()
    predict.save_model(dir .. "/unet.safetensors", model,
      { metadata = { normalize = predict.encode_config(nz) } })
    image.save(dir .. "/in.png", img)
    -- lunet found through LUA_PATH/LUA_CPATH (the spec runner's in-tree paths)
    local out, rc = run(env .. sh_quote(exe) .. " " .. sh_quote(dir .. "/unet.safetensors") .. " "
      .. sh_quote(dir .. "/in.png") .. " " .. sh_quote(dir .. "/mask.png") .. " --tile 16 --overlap 8")
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find("21 x 34 mask written to", 1, true), out)
    local mask = image.load(dir .. "/mask.png", { mode = "index" })
    assert.are.same({ 21, 34 }, mask:shape())
    assert.is_true(mask:max():item() <= 2)
    local ids = model:predict(img, { tile = 16, overlap = 8, output = "labels", normalize = nz })
    local plain = model:predict(img, { tile = 16, overlap = 8, output = "labels" })
    assert.is_true(plain:ne(ids):to("int32"):sum():item() > 0)   -- normalize mattered
    assert.are.equal(21 * 34, mask:to("int32"):eq(ids):to("int32"):sum():item())
  end)

  it("finds lunet through LUNET_ROOT alone", function()
    if os.getenv("LUNET_ASAN") then return end   -- build/ may not exist in a sanitizer run
    local f = io.open("build/lunet/core.so", "rb")
    if not f then return end
    f:close()
    local cwd = io.popen("pwd"):read("l")
    local out, rc = run("env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 LUNET_ROOT="
      .. sh_quote(cwd) .. " " .. sh_quote(exe) .. " " .. sh_quote(dir .. "/unet.safetensors") .. " "
      .. sh_quote(dir .. "/in.png") .. " " .. sh_quote(dir .. "/mask2.png"))
    assert.are.equal(0, rc, out)
    local a = image.load(dir .. "/mask2.png", { mode = "index" })
    assert.are.same({ 21, 34 }, a:shape())
  end)

  it("fails with a clear message and exit status 1 (missing file), 2 (usage)", function()
    local out, rc = run(env .. sh_quote(exe) .. " " .. sh_quote(dir .. "/unet.safetensors") .. " "
      .. sh_quote(dir .. "/nope.png") .. " " .. sh_quote(dir .. "/m.png"))
    assert.are.equal(1, rc)
    assert.are.equal("embed: image.load: cannot open '" .. dir .. "/nope.png': No such file or directory\n", out)
    out, rc = run(env .. sh_quote(exe) .. " " .. sh_quote(dir .. "/none.safetensors") .. " "
      .. sh_quote(dir .. "/in.png") .. " " .. sh_quote(dir .. "/m.png"))
    assert.are.equal(1, rc)
    assert.are.equal("embed: load_model: cannot open '" .. dir .. "/none.safetensors': No such file or directory\n", out)
    out, rc = run(env .. sh_quote(exe) .. " only-one")
    assert.are.equal(2, rc)
    assert.is_truthy(out:find("embed: expected CHECKPOINT INPUT_IMAGE OUTPUT_MASK, got 1 argument\n", 1, true), out)
    local f = io.open(dir .. "/m.png", "rb")
    assert.is_nil(f)
  end)
end)

-- examples/embed/threads: a C host running lunet in two Lua states on two threads at once
-- (each state owns its core context), built against lunet's C API (csrc/) and core.so. It
-- exits 0 only when two concurrent trainings equal a sequential one bit for bit and a
-- storage made in one state was used and released in another after the first closed.
describe("examples/embed/threads", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. sh_quote(dir)))
  teardown(function() os.execute("rm -rf " .. sh_quote(dir)) end)
  local exe = dir .. "/threads"
  local cwd = io.popen("pwd"):read("l")
  local build = cwd .. "/" .. (os.getenv("LUNET_ASAN") and "build-asan" or "build")
  local core_so = build .. "/lunet/core.so"
  local function have_core()
    local f = io.open(core_so, "rb")
    if f then f:close() end
    return f ~= nil
  end

  it("builds with cc, -I csrc and the core.so require loads", function()
    if not have_core() then
      pending(core_so .. " is not built")
      return
    end
    local out, rc = run("env -u LD_PRELOAD cc -std=c11 -D_POSIX_C_SOURCE=200809L -pthread -Wall -Wextra "
      .. "-Wshadow -Wconversion -Wno-sign-conversion -I" .. sh_quote(cwd .. "/csrc")
      .. " $(pkg-config --cflags lua5.4) -DLUNET_ROOT='\"" .. cwd .. "\"' -DLUNET_BUILD='\"" .. build
      .. "\"' -o " .. sh_quote(exe) .. " examples/embed/threads.c " .. sh_quote(core_so)
      .. " $(pkg-config --libs lua5.4)")
    assert.are.equal(0, rc, out)
    -- no warnings (under make asan, ld warns about libasan's own tmpnam: not ours)
    assert.are.equal("", (out:gsub("[^\n]*libasan%.so[^\n]*: warning: [^\n]*\n", "")))
  end)

  it("trains in two states on two threads bit for bit like one state, and shares a storage", function()
    if not have_core() then
      pending(core_so .. " is not built")
      return
    end
    local f = io.open(exe, "rb")
    assert.is_not_nil(f, "the previous case did not build " .. exe)
    f:close()
    -- under make asan, core.so is instrumented and libasan preloaded: check leaks too (the
    -- context of the closed state must be freed by the release in the other state)
    local env = os.getenv("LUNET_ASAN") and "ASAN_OPTIONS=detect_leaks=1 " or ""
    local out, rc = run(env .. sh_quote(exe))
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find("2 runs in one state and 2 concurrent runs in 2 states give the same", 1, true), out)
    assert.is_truthy(out:find("a storage made in state A was used in state B and released there after A closed",
      1, true), out)
  end)
end)
