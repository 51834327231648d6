-- segserve: the request handler of the lighttpd segmentation endpoint (examples/serve).
--
-- lighttpd's mod_magnet runs the generated entry script (entry.lua.in) on every request, in
-- one Lua state per script per lighttpd process (each worker of server.max-worker has its
-- own). The entry script sets package.path / package.cpath and calls
-- require("segserve").handle(lighty.r, settings): `require` runs this file once per state, so
-- the model, the page and the counters below live as long as the worker; the entry script's
-- own globals do not (mod_magnet gives every request a fresh global table that reads through
-- to _G).
--
-- Routes:
--   GET  /                  the page (index.html): pick an image, see the overlay and areas
--   GET  /info              JSON: model name and options, class names and colours, limits,
--                           the worker's pid and how many requests it answered
--   GET  /healthz           "ok" (loads the model first: a launcher waits on it)
--   POST /segment           body: a PNG or JPEG (Content-Type image/png or image/jpeg);
--                           answers the class-id mask as an 8-bit palette PNG (class id k is
--                           palette index k: lunet.image.decode(body, {mode = "index"}) gives
--                           the ids back); the per-class pixel counts are in the header
--                           X-Class-Pixels ("0:1834,1:470") and the size in X-Image-Size
--   POST /segment?overlay=1 the classes blended over the image (RGB PNG) instead
--   POST /segment?format=json  {"width":, "height":, "classes": [{"id":, "name":, "pixels":,
--                           "fraction":}], "ms":} instead of an image
-- Errors answer 4xx/5xx with a one-line text/plain reason:
--   400 a body that is not a PNG/JPEG, or corrupt or truncated; an empty body; a bad query
--   404 an unknown path; 405 a wrong method (with Allow)
--   413 a body over settings.max_body bytes, or an image over settings.max_pixels pixels
--       (decided from the header, before anything is allocated: decompression bombs)
--   415 a Content-Type other than image/png / image/jpeg, or one that does not match the bytes
--   500 anything else (a Lua error inside the handler: caught, logged to lighttpd's stderr
--       with a traceback; the worker keeps serving)
local lunet = require "lunet"
local image = require "lunet.image"
local predict = require "lunet.predict"
local core = require "lunet.core"

local fmt, concat = string.format, table.concat
local type, tostring, pcall, xpcall = type, tostring, pcall, xpcall

local M = {}

-- Worker state: set once per Lua state (process).
local state = nil     -- {model, meta, mode, classes, palette, settings, ...}
local served = 0      -- requests answered by this worker

M.DEFAULTS = {
  threads = 1,              -- lunet.set_num_threads per worker (workers x threads <= cores)
  max_body = 8 * 1024 * 1024,   -- bytes of a POST body
  max_pixels = 4 * 1024 * 1024, -- pixels of a decoded image (header checked before decoding)
  alpha = 0.5,              -- overlay opacity
  fuse = true,              -- model:fuse() after loading (BatchNorm folded into the convs)
  gc = "full",              -- after each request: "full" collectgarbage(), "step", or "none"
  testing = false,          -- enables GET /_error (raises a Lua error: for the specs)
}

-- An error the handler raises on purpose: answered with its status and one-line reason.
local HttpError = {}
HttpError.__index = HttpError
local function http_error(status, reason, headers)
  error(setmetatable({status = status, reason = reason, headers = headers}, HttpError), 0)
end

-- A Lua error message without its "file:line: " prefix, on one line.
local function one_line(msg)
  msg = tostring(msg):gsub("^[^\n]-:%d+: ", "")
  return (msg:gsub("[\r\n]+", " "))
end

-- ------------------------------------------------------------------ JSON (numbers, strings)

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local m = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}
    return m[c] or fmt("\\u%04x", c:byte())
  end) .. '"'
end

local function json(v)
  local t = type(v)
  if t == "string" then return json_string(v)
  elseif t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return fmt("%.17g", v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "nil" then return "null"
  elseif t == "table" then
    local out = {}
    if #v > 0 or next(v) == nil then
      for i = 1, #v do out[i] = json(v[i]) end
      return "[" .. concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for i, k in ipairs(keys) do out[i] = json_string(k) .. ":" .. json(v[k]) end
    return "{" .. concat(out, ",") .. "}"
  end
  error("json: cannot encode a " .. t)
end
M.json = json

-- ------------------------------------------------------------------ model

local MODES = {[1] = "gray", [3] = "rgb", [4] = "rgba"}

--- load(path, {fuse = true}) -> model, metadata, image mode: the model as the server runs it
--- (predict.load_model, eval mode, BatchNorm fused when fuse is not false). A client that
--- wants the server's exact masks runs model:predict(img, {output = "labels"}) on this model.
function M.load(path, opts)
  opts = opts or {}
  local model, meta = predict.load_model(path)
  if opts.fuse ~= false then model:fuse() end
  local cfg = model.config or {}
  local mode = MODES[cfg.in_channels or 3]
  if not mode then
    error(fmt("segserve: cannot feed images to a model with %s input channels", tostring(cfg.in_channels)), 0)
  end
  return model, meta, mode
end

-- Class names: metadata.classes ("background,foreground") or settings.classes, else "class k".
local function class_names(meta, settings, k)
  local names = {}
  local src = settings.classes or (meta and meta.classes)
  if type(src) == "string" then
    for name in src:gmatch("[^,]+") do names[#names + 1] = name end
  elseif type(src) == "table" then
    for i, name in ipairs(src) do names[i] = tostring(name) end
  end
  for i = 1, k do names[i] = names[i] or ("class " .. (i - 1)) end
  for i = k + 1, #names do names[i] = nil end
  return names
end

local function read_all(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

-- Loads everything once per worker (first request).
local function init(settings)
  if state then return state end
  local s = {}
  for k, v in pairs(M.DEFAULTS) do s[k] = v end
  for k, v in pairs(settings) do s[k] = v end
  if not s.model then error("segserve: settings.model (the checkpoint path) is missing", 0) end
  lunet.set_num_threads(s.threads)
  image.set_max_pixels(s.max_pixels)
  local model, meta, mode = M.load(s.model, {fuse = s.fuse})
  local k = (model.config or {}).num_classes or 2
  local pal = image.palette(s.palette or "voc")
  if pal:size(1) < k then
    error(fmt("segserve: the palette has %d colours, the model %d classes", pal:size(1), k), 0)
  end
  local page = s.index and read_all(s.index) or nil
  state = {
    model = model, meta = meta, mode = mode, k = k, palette = pal,
    colours = pal:narrow(1, 1, k):to("int32"):totable(),
    classes = class_names(meta, s, k), settings = s, page = page,
    popts = {output = "labels", tile = s.tile, overlap = s.overlap},
  }
  return state
end

-- ------------------------------------------------------------------ requests

local function parse_query(q)
  local t = {}
  if q == nil or q == "" then return t end
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    t[k] = v
  end
  return t
end

local QUERY_KEYS = {overlay = true, format = true}

local function check_query(q)
  for k in pairs(q) do
    if not QUERY_KEYS[k] then
      http_error(400, fmt("unknown query parameter '%s' (known: format, overlay)", k))
    end
  end
  local overlay = q.overlay
  if overlay ~= nil and overlay ~= "0" and overlay ~= "1" then
    http_error(400, fmt("overlay must be 0 or 1, got '%s'", overlay))
  end
  local format = q.format or "png"
  if format ~= "png" and format ~= "json" then
    http_error(400, fmt("format must be png or json, got '%s'", format))
  end
  if overlay == "1" and format == "json" then
    http_error(400, "overlay=1 and format=json exclude each other")
  end
  return overlay == "1", format
end

local ACCEPTED = {["image/png"] = "png", ["image/jpeg"] = "jpeg", ["image/jpg"] = "jpeg"}

local function sniff(body)
  if body:sub(1, 8) == "\137PNG\r\n\26\n" then return "png" end
  if body:sub(1, 3) == "\255\216\255" then return "jpeg" end
  return nil
end

-- The content type named by the request, or an HttpError (415).
local function check_content_type(r)
  local ct = r.req_header["Content-Type"]
  if ct == nil then
    http_error(415, "Content-Type is missing (send image/png or image/jpeg)")
  end
  local base = ct:match("^%s*([^;%s]*)"):lower()
  local kind = ACCEPTED[base]
  if not kind then
    http_error(415, fmt("Content-Type '%s' is not supported (send image/png or image/jpeg)", base))
  end
  return kind
end

-- The collected request body. lighttpd 1.4.69's r.req_body.get returns the wrong bytes when
-- the body arrived in the same read as the headers (a small body): the string starts at the
-- request line, not at the body. Appending one byte (r.req_body.add) makes lighttpd copy the
-- queue into one new buffer, whose last len + 1 bytes are the body and that byte on every
-- version, so the body is taken from the end.
local function read_body(r)
  local len = r.req_body.len
  local add = r.req_body.add
  if not (len and add) then http_error(400, "the request body could not be read") end
  add("\0")
  local all = r.req_body.get
  if all == nil or #all < len + 1 then http_error(400, "the request body could not be read") end
  return all:sub(#all - len, #all - 1)
end

-- Segments the body; returns status, body, headers.
local function segment(r, st, q)
  local s = st.settings
  local want_overlay, format = check_query(q)
  local kind = check_content_type(r)
  local body = read_body(r)
  if #body == 0 then http_error(400, "the request body is empty (send a PNG or JPEG)") end
  if #body > s.max_body then
    http_error(413, fmt("the body has %d bytes, over the limit of %d bytes", #body, s.max_body))
  end
  local got = sniff(body)
  if got == nil then
    local head = body:sub(1, 8):gsub("[^%g ]", "."):gsub("'", ".")
    http_error(400, fmt("the body is not a PNG or JPEG file (it starts with '%s')", head))
  end
  if got ~= kind then
    http_error(415, fmt("Content-Type says %s but the body is a %s file", kind == "png" and "image/png" or "image/jpeg",
                        got == "png" and "PNG" or "JPEG"))
  end
  -- The header's claimed size, checked before decoding allocates anything.
  local info, msg = core.image.info(body)
  if not info then http_error(400, "cannot decode the image: " .. one_line(msg)) end
  local px = info.width * info.height
  if px > s.max_pixels then
    http_error(413, fmt("the image is %d x %d = %d pixels, over the limit of %d pixels (a decompression bomb?)",
                        info.width, info.height, px, s.max_pixels))
  end
  local ok, img = pcall(image.decode, body, {mode = st.mode, max_pixels = s.max_pixels})
  if not ok then
    local m = one_line(img):gsub("^image%.decode: cannot decode the bytes: ", "")
    http_error(400, "cannot decode the image: " .. m)
  end
  local t0 = lunet.now and lunet.now() or os.clock()
  local ids = st.model:predict(img, st.popts)          -- H x W int32 class ids
  local ms = ((lunet.now and lunet.now() or os.clock()) - t0) * 1000
  local h, w = ids:size(1), ids:size(2)
  local counts, parts = {}, {}
  for c = 0, st.k - 1 do
    local n = ids:eq(c):to("int32"):sum():item()
    counts[c + 1] = n
    parts[#parts + 1] = c .. ":" .. n
  end
  local headers = {
    ["X-Class-Pixels"] = concat(parts, ","),
    ["X-Image-Size"] = w .. "x" .. h,
    ["X-Inference-Ms"] = fmt("%.1f", ms),
  }
  if format == "json" then
    local classes = {}
    for c = 0, st.k - 1 do
      classes[c + 1] = {id = c, name = st.classes[c + 1], pixels = counts[c + 1],
                        fraction = counts[c + 1] / (h * w)}
    end
    headers["Content-Type"] = "application/json"
    return 200, json({width = w, height = h, classes = classes, ms = ms}) .. "\n", headers
  end
  local png
  if want_overlay then
    local rgb = img
    if rgb:size(1) == 4 then rgb = rgb:narrow(1, 1, 3) end
    if rgb:dtype() == "int32" then rgb = image.to_float(rgb) end   -- 16-bit PNG: overlay takes [0, 1]
    png = image.encode(image.overlay(rgb, ids, {alpha = s.alpha, palette = st.palette}))
  else
    png = image.encode(ids, {palette = st.palette})
  end
  headers["Content-Type"] = "image/png"
  return 200, png, headers
end

local function info_json(st)
  local s = st.settings
  local colours = {}
  for i = 1, st.k do colours[i] = st.colours[i] end
  return json({
    model = st.meta and st.meta.model or "?", config = st.meta and st.meta.config or "",
    classes = st.classes, colours = colours, in_mode = st.mode,
    max_body = s.max_body, max_pixels = s.max_pixels, threads = lunet.get_num_threads(),
    pid = M.pid(), served = served, lunet = lunet._VERSION or "",
  }) .. "\n"
end

local pid_cache
--- pid() -> this process's id (read from /proc/self/stat).
function M.pid()
  if not pid_cache then
    local s = read_all("/proc/self/stat")
    pid_cache = s and tonumber(s:match("^(%d+)")) or -1
  end
  return pid_cache
end

-- Routes one request; returns status, body, headers (or 0 to let lighttpd collect the body).
local function dispatch(r, settings)
  local method = r.req_attr["request.method"]
  local path = r.req_attr["uri.path"]
  local q = parse_query(r.req_attr["uri.query"])
  if path == "/segment" then
    if method ~= "POST" then
      http_error(405, "use POST /segment with a PNG or JPEG body", {Allow = "POST"})
    end
    local st = init(settings)
    -- refuse early, before lighttpd buffers the body
    check_query(q)
    check_content_type(r)
    local len = r.req_body.len
    if len and len > st.settings.max_body then
      http_error(413, fmt("the body has %d bytes, over the limit of %d bytes", len, st.settings.max_body))
    end
    if not r.req_body.collect then return 0 end   -- called again once the body is in
    return segment(r, st, q)
  end
  if method ~= "GET" and method ~= "HEAD" then
    http_error(405, fmt("%s is not allowed on %s (use GET)", method, path), {Allow = "GET, HEAD"})
  end
  if next(q) ~= nil and path ~= "/" then
    http_error(400, fmt("%s takes no query parameters", path))
  end
  if path == "/" or path == "/index.html" then
    local st = init(settings)
    if not st.page then http_error(404, "no page configured (settings.index)") end
    return 200, st.page, {["Content-Type"] = "text/html; charset=utf-8"}
  elseif path == "/info" then
    return 200, info_json(init(settings)), {["Content-Type"] = "application/json"}
  elseif path == "/healthz" then
    init(settings)
    return 200, "ok\n", {["Content-Type"] = "text/plain"}
  elseif path == "/_error" and settings.testing then
    local t = nil
    return 200, t.field   -- a genuine Lua error (indexing nil), caught by handle
  end
  http_error(404, fmt("no such page: %s (try GET / or POST /segment)", path))
end

local function traceback(e)
  if getmetatable(e) == HttpError then return e end
  return {lua_error = tostring(e), trace = debug.traceback(tostring(e), 2)}
end

local function respond(r, status, body, headers)
  for k, v in pairs(headers or {}) do r.resp_header[k] = v end
  r.resp_body.set({body})
  return status
end

--- handle(r, settings) -> HTTP status for mod_magnet: routes lighty.r, answers it, and never
--- raises (an error becomes a 4xx/5xx with a one-line text reason).
function M.handle(r, settings)
  local ok, status, body, headers = xpcall(dispatch, traceback, r, settings)
  if ok and status == 0 then return 0 end   -- body still being collected
  local res
  if ok then
    served = served + 1
    res = respond(r, status, body, headers)
  else
    local e = status
    served = served + 1
    if getmetatable(e) == HttpError then
      local h = {["Content-Type"] = "text/plain; charset=utf-8"}
      for k, v in pairs(e.headers or {}) do h[k] = v end
      res = respond(r, e.status, fmt("%d %s\n", e.status, e.reason), h)
    else
      io.stderr:write("segserve: internal error: ", e.trace, "\n")
      io.stderr:flush()
      res = respond(r, 500, "500 internal error: " .. one_line(e.lua_error) .. "\n",
                    {["Content-Type"] = "text/plain; charset=utf-8"})
    end
  end
  local gc = state and state.settings.gc or M.DEFAULTS.gc
  if gc == "full" then collectgarbage("collect") elseif gc == "step" then collectgarbage("step") end
  return res
end

return M
