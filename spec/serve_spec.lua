-- examples/serve: the segmentation endpoint inside lighttpd (mod_magnet). Starts lighttpd on a
-- free loopback port with a small random U-Net saved by predict.save_model, posts PNG and
-- JPEG images with curl and checks every returned mask against model:predict in this process
-- bit for bit, sends bad inputs (corrupt, truncated, a decompression bomb, wrong content
-- types, oversized bodies, a Lua error inside the handler) and checks that each gets its 4xx
-- or 5xx with a one-line reason while the same worker keeps answering; always stops the
-- server. Skipped (with the reason) when lighttpd or mod_magnet or curl is not installed.
local lunet = require "lunet"
local image = require "lunet.image"
local predict = require "lunet.predict"
local UNet = require "lunet.models.unet"

local fmt = string.format

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return (out:gsub("rc=%d+%s*$", "")), rc
end

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("a")
  f:close()
  return not s:match("^%d+ %b() Z")
end

local missing
if not (exists("/usr/sbin/lighttpd") or exists("/usr/bin/lighttpd")) then
  missing = "lighttpd"
elseif not exists("/usr/lib/lighttpd/mod_magnet.so") then
  missing = "lighttpd-modules-lua (mod_magnet)"
elseif select(2, run("command -v curl")) ~= 0 then
  missing = "curl"
end

describe("examples/serve (lighttpd + mod_magnet)", function()
  if missing then
    pending(missing .. " is not installed: apt-get install lighttpd lighttpd-modules-lua curl")
    return
  end

  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. sh_quote(dir)))
  local pid, url
  -- always stop the server and remove the files, also when a test failed
  teardown(function()
    if pid and alive(pid) then
      os.execute("kill " .. pid)
      for _ = 1, 50 do
        if not alive(pid) then break end
        os.execute("sleep 0.1")
      end
      if alive(pid) then os.execute("kill -9 " .. pid) end
    end
    os.execute("rm -rf " .. sh_quote(dir))
  end)

  local MAX_BODY, MAX_PIXELS = 200000, 250000
  lunet.manual_seed(5)
  local model = UNet { in_channels = 3, num_classes = 3, base = 4, depth = 2, norm = "batch" }
  lunet.no_grad(function() model.head.bias:copy_(lunet.tensor { 0.0, 0.05, -0.05 }) end)
  local mpath = dir .. "/model.safetensors"
  predict.save_model(mpath, model, { metadata = { classes = "sky,road,car" } })
  -- the model exactly as the server runs it: loaded from the file, fused, 1 thread
  package.path = "examples/serve/?.lua;" .. package.path
  local segserve = require "segserve"
  local served_model = segserve.load(mpath)
  lunet.set_num_threads(1)

  -- a few images, PNG and JPEG, odd sizes
  local images = {}
  for i, hw in ipairs { { 17, 23 }, { 32, 32 }, { 9, 40 }, { 48, 31 } } do
    local img = lunet.randint(0, 256, { 3, hw[1], hw[2] }):to("uint8")
    local smooth = img:to("float32"):mul(0.3):add(100):to("uint8")   -- some structure for JPEG
    local t = (i % 2 == 0) and smooth or img
    local png = image.encode(t)
    local jpg = image.encode(t, { format = "jpeg", quality = 90 })
    images[#images + 1] = { name = fmt("img%d.png", i), bytes = png, ct = "image/png" }
    images[#images + 1] = { name = fmt("img%d.jpg", i), bytes = jpg, ct = "image/jpeg" }
  end
  -- a 16-bit PNG (decoded as int32, scaled by 1/65535) and a gray one (replicated to RGB)
  images[#images + 1] = { name = "deep.png", bytes = image.encode(lunet.randint(0, 65536, { 3, 19, 26 }):to("int32")), ct = "image/png" }
  images[#images + 1] = { name = "gray.png", bytes = image.encode(lunet.randint(0, 256, { 1, 25, 18 }):to("uint8")), ct = "image/png" }
  for _, im in ipairs(images) do write(dir .. "/" .. im.name, im.bytes) end

  -- one curl request; returns status, body, headers (lower-case names)
  local n_req = 0
  -- (curl without LD_PRELOAD: under make asan only lighttpd needs the sanitizer runtime)
  local function request(path, opts)
    opts = opts or {}
    n_req = n_req + 1
    local out, hdr = fmt("%s/out%d", dir, n_req), fmt("%s/hdr%d", dir, n_req)
    local cmd = fmt("env -u LD_PRELOAD curl -s -m 60 -o %s -D %s -w '%%{http_code}'", sh_quote(out), sh_quote(hdr))
    if opts.file then cmd = cmd .. " --data-binary @" .. sh_quote(opts.file) end
    if opts.method then cmd = cmd .. " -X " .. opts.method end
    if opts.ct then cmd = cmd .. " -H " .. sh_quote("Content-Type: " .. opts.ct) end
    if opts.extra then cmd = cmd .. " " .. opts.extra end
    local code = run(cmd .. " " .. sh_quote(url .. path:gsub("^/", "")))
    local headers = {}
    for line in (exists(hdr) and read(hdr) or ""):gmatch("[^\r\n]+") do
      local k, v = line:match("^([^:]+):%s*(.*)$")
      if k then headers[k:lower()] = v end
    end
    return tonumber(code), exists(out) and read(out) or "", headers
  end

  local function labels_of(bytes)
    local img = image.decode(bytes, { mode = "rgb" })
    return img, served_model:predict(img, { output = "labels" })
  end

  local function assert_same(expected, got, what)
    assert.are.same(expected:shape(), got:shape(), what)
    local diff = expected:to("int32"):sub(got:to("int32")):abs():max():item()
    assert.are.equal(0, diff, what .. ": mask differs from model:predict")
  end

  local worker_pid
  local function info()
    local code, body = request("/info")
    assert.are.equal(200, code, body)
    return body
  end

  it("starts with the launcher on a free loopback port", function()
    local out, rc = run(fmt("lua5.4 examples/serve/launch.lua --model %s --port 0 --background --testing "
      .. "--max-body %d --max-pixels %d --run-dir %s", sh_quote(mpath), MAX_BODY, MAX_PIXELS, sh_quote(dir .. "/run")))
    pid = tonumber(out:match("pid=(%d+)"))
    url = out:match("url=(%S+)")
    assert.are.equal(0, rc, out)
    assert.truthy(pid and url, out)
    assert.truthy(url:match("^http://127%.0%.0%.1:%d+/$"), url)
    local body = info()
    worker_pid = tonumber(body:match('"pid":(%d+)'))
    assert.are.equal(pid, worker_pid)   -- server.max-worker = 0: lighttpd answers itself
    assert.truthy(body:find('"classes":["sky","road","car"]', 1, true), body)
  end)

  it("answers every image with the mask model:predict gives, bit for bit", function()
    for _, im in ipairs(images) do
      local code, body, h = request("/segment", { file = dir .. "/" .. im.name, ct = im.ct })
      assert.are.equal(200, code, im.name .. ": " .. body)
      assert.are.equal("image/png", h["content-type"])
      local _, want = labels_of(im.bytes)
      local got = image.decode(body, { mode = "index" })
      assert_same(want, got, im.name)
      assert.are.equal(fmt("%dx%d", want:size(2), want:size(1)), h["x-image-size"])
      local parts = {}
      for c = 0, 2 do parts[#parts + 1] = c .. ":" .. want:eq(c):to("int32"):sum():item() end
      assert.are.equal(table.concat(parts, ","), h["x-class-pixels"])
    end
  end)

  it("answers several images on one keep-alive connection", function()
    local args = {}
    for i, im in ipairs(images) do
      if i > 1 then args[#args + 1] = "--next" end
      args[#args + 1] = fmt("-s -m 60 -w '%%{num_connects} ' -o %s -H %s --data-binary @%s %s", sh_quote(dir .. "/ka" .. i),
        sh_quote("Content-Type: " .. im.ct), sh_quote(dir .. "/" .. im.name), sh_quote(url .. "segment"))
    end
    local out, rc = run("env -u LD_PRELOAD curl " .. table.concat(args, " "))
    assert.are.equal(0, rc, out)
    -- one new connection, then reused (curl prints 1 then 0s)
    assert.truthy(out:match("^1 0 0"), out)
    for i, im in ipairs(images) do
      local _, want = labels_of(im.bytes)
      assert_same(want, image.decode(read(dir .. "/ka" .. i), { mode = "index" }), im.name .. " (keep-alive)")
    end
  end)

  it("?overlay=1 answers the blended overlay and ?format=json the areas", function()
    for _, k in ipairs { 3, 2, #images - 1 } do   -- PNG, JPEG, 16-bit PNG
      local o = images[k]
      local code, body = request("/segment?overlay=1", { file = dir .. "/" .. o.name, ct = o.ct })
      assert.are.equal(200, code, body)
      local img, want = labels_of(o.bytes)
      if img:dtype() == "int32" then img = image.to_float(img) end
      local expect = image.overlay(img, want, { alpha = 0.5, palette = "voc" })
      assert_same(expect, image.decode(body, { mode = "rgb" }), "overlay of " .. o.name)
    end
    local im = images[3]
    local code, body
    local _, want = labels_of(im.bytes)
    code, body = request("/segment?format=json", { file = dir .. "/" .. im.name, ct = im.ct })
    assert.are.equal(200, code, body)
    local h, w = want:size(1), want:size(2)
    assert.truthy(body:find(fmt('"height":%d', h), 1, true), body)
    assert.truthy(body:find(fmt('"width":%d', w), 1, true), body)
    for c, name in ipairs { "sky", "road", "car" } do
      local n = want:eq(c - 1):to("int32"):sum():item()
      assert.truthy(body:find(fmt('"id":%d,"name":"%s","pixels":%d', c - 1, name, n), 1, true), body)
    end
  end)

  it("refuses bad input with a one-line 4xx and keeps serving", function()
    local png, jpg = images[3].bytes, images[4].bytes
    local corrupt = png:sub(1, 60) .. string.rep("\0", 8) .. png:sub(69)   -- zeroed IDAT bytes: CRC fails
    write(dir .. "/trunc.png", png:sub(1, #png // 2))
    write(dir .. "/trunc.jpg", jpg:sub(1, #jpg // 2))
    write(dir .. "/corrupt.png", corrupt)
    write(dir .. "/noise.bin", string.rep("not an image ", 100))
    write(dir .. "/empty", "")
    -- a decompression bomb: 1000 x 1000 pixels in a few kB (the server allows 250,000)
    write(dir .. "/bomb.png", image.encode(lunet.zeros({ 1000, 1000 }, { dtype = "uint8" })))
    write(dir .. "/big.png", png .. string.rep("\0", MAX_BODY + 20000 - #png))   -- over max_body
    write(dir .. "/huge.png", png .. string.rep("\0", MAX_BODY + 200000))       -- over lighttpd's limit too
    local cases = {
      { "truncated PNG", "/segment", { file = dir .. "/trunc.png", ct = "image/png" }, 400, "^400 cannot decode the image: .*truncated" },
      { "truncated JPEG", "/segment", { file = dir .. "/trunc.jpg", ct = "image/jpeg" }, 400, "^400 cannot decode the image: " },
      { "corrupt PNG", "/segment", { file = dir .. "/corrupt.png", ct = "image/png" }, 400, "^400 cannot decode the image: " },
      { "not an image", "/segment", { file = dir .. "/noise.bin", ct = "image/png" }, 400, "^400 the body is not a PNG or JPEG file %(it starts with 'not an i'%)\n$" },
      { "empty body", "/segment", { file = dir .. "/empty", ct = "image/png" }, 400, "^400 the request body is empty" },
      { "decompression bomb", "/segment", { file = dir .. "/bomb.png", ct = "image/png" }, 413,
        "^413 the image is 1000 x 1000 = 1000000 pixels, over the limit of 250000 pixels" },
      { "text/plain", "/segment", { file = dir .. "/img1.png", ct = "text/plain" }, 415, "^415 Content%-Type 'text/plain' is not supported" },
      { "no content type", "/segment", { file = dir .. "/img1.png", ct = "", extra = "-H 'Content-Type:'" }, 415, "^415 Content%-Type is missing" },
      { "JPEG sent as PNG", "/segment", { file = dir .. "/img1.jpg", ct = "image/png" }, 415, "^415 Content%-Type says image/png but the body is a JPEG file\n$" },
      { "body over max_body", "/segment", { file = dir .. "/big.png", ct = "image/png" }, 413,
        fmt("^413 the body has %d bytes, over the limit of %d bytes\n$", MAX_BODY + 20000, MAX_BODY) },
      { "body over server.max-request-size", "/segment", { file = dir .. "/huge.png", ct = "image/png" }, 413,
        "^413 the request is over the server's size limit" },
      { "unknown query parameter", "/segment?overlya=1", { file = dir .. "/img1.png", ct = "image/png" }, 400,
        "^400 unknown query parameter 'overlya'" },
      { "GET /segment", "/segment", {}, 405, "^405 use POST /segment" },
      { "unknown path", "/nope", {}, 404, "^404 no such page: /nope" },
      { "Lua error in the handler", "/_error", {}, 500, "^500 internal error: .*attempt to index a nil value" },
    }
    local good = images[1]
    local _, want = labels_of(good.bytes)
    for _, c in ipairs(cases) do
      local name, path, opts, status, pattern = c[1], c[2], c[3], c[4], c[5]
      if opts.ct == "" then opts.ct = nil end
      local code, body = request(path, opts)
      assert.are.equal(status, code, name .. ": " .. body)
      assert.truthy(body:match(pattern), name .. ": " .. body)
      assert.truthy(body:match("^[^\n]*\n$"), name .. ": not one line: " .. body)
      -- the next good request is answered normally, by the same process
      local gcode, gbody = request("/segment", { file = dir .. "/" .. good.name, ct = good.ct })
      assert.are.equal(200, gcode, name .. " then a good image: " .. gbody)
      assert_same(want, image.decode(gbody, { mode = "index" }), "after " .. name)
      assert.truthy(alive(pid), name .. ": lighttpd died")
    end
    assert.are.equal(worker_pid, tonumber(info():match('"pid":(%d+)')))
    -- the handler's traceback went to lighttpd's stderr
    assert.truthy(read(dir .. "/run/stderr.log"):find("segserve: internal error:", 1, true))
  end)

  it("the launcher stops and says why when the model cannot be loaded", function()
    write(dir .. "/bad.safetensors", "junk")
    local out, rc = run(fmt("lua5.4 examples/serve/launch.lua --model %s --port 0 --background --run-dir %s",
      sh_quote(dir .. "/bad.safetensors"), sh_quote(dir .. "/badrun")))
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("healthz with 500 internal error: load_model: '" .. dir .. "/bad.safetensors' is 4 bytes", 1, true), out)
    local pidfile = io.open(dir .. "/badrun/lighttpd.pid")
    local bad_pid = pidfile and tonumber(pidfile:read("a"))
    if pidfile then pidfile:close() end
    for _ = 1, 50 do
      if not (bad_pid and alive(bad_pid)) then break end
      os.execute("sleep 0.1")
    end
    assert.is_false(bad_pid ~= nil and alive(bad_pid), "the failed server still runs")
  end)

  it("serves the page", function()
    local code, body, h = request("/")
    assert.are.equal(200, code)
    assert.truthy(h["content-type"]:match("^text/html"))
    assert.truthy(body:find('<input type="file"', 1, true))
  end)

  it("stops with kill and leaves no process behind", function()
    assert.truthy(alive(pid))
    os.execute("kill " .. pid)
    for _ = 1, 50 do
      if not alive(pid) then break end
      os.execute("sleep 0.1")
    end
    assert.is_false(alive(pid))
    -- no lighttpd left that runs this spec's configuration
    local conf = dir .. "/run/lighttpd.conf"
    local ls = io.popen("ls /proc")
    for name in ls:lines() do
      if name:match("^%d+$") and alive(name) then
        local f = io.open("/proc/" .. name .. "/cmdline", "rb")
        local cmd = f and f:read("a") or ""
        if f then f:close() end
        assert.is_nil(cmd:match("^[^%z]*lighttpd%z.*" .. conf:gsub("%p", "%%%0")), "stray lighttpd pid " .. name)
      end
    end
    ls:close()
  end)
end)
